"""The list pointer: the joiner may copy the next token of a listed phrase, spelled by the list.

The biasing layers add what they attend to to the embeddings, and the joiner must still spell a
name it has never written from that sum. The pointer spells it from the list itself, as TCPGen
does (Sun et al., SLT 2021): after the tokens emitted so far, the phrase list allows a set of
next tokens (those that extend a partial match of a phrase, and the first token of every
phrase: :meth:`ContextTrie.next_tokens`). A second output layer on the joiner's hidden state
gives a distribution over that set only, and a gate says how much of the non-blank probability
goes to it::

    p(blank) = p_model(blank)
    p(y)     = (1 - gate) p_model(y) + gate (1 - p_model(blank)) p_pointer(y)

so the result is a distribution whatever the gate. With no list (no allowed token) the gate is
0 and the model is the plain transducer. The set depends on the emitted tokens only, so training
reads it off the reference and search off each hypothesis; both walk the same trie (no
transparent tokens: a slot tag ends a partial match).

**Phrase scores** (``biasing.pointer_phrases``). Before a name starts, the list allows the first
token of every phrase: with a household's few hundred phrases that is most word-initial pieces,
and a distribution over tokens must choose among them by the first piece alone. With phrase
scores the pointer chooses among *phrases* and sums over those that go on with the same token::

    s_k          = out(hidden)[n_k] + query(hidden) . key_k / sqrt(Dk)
    p_pointer(y) = sum over k with n_k = y of softmax_k(s_k)

where n_k is the token with which phrase k goes on (:meth:`ContextTrie.phrase_next`) and key_k a
vector of the whole phrase (:class:`PhraseKeys`), so the rest of a name (its last name, the
second word of a device) weighs in the choice of its first piece.

**Spotting** (``biasing.pointer_spotting``). The keys must learn how a spelling sounds from the
few names of training. The CTC head already knows: its spotting score z_k
(:mod:`catt.model.spotting`, 0 when the audio says phrase k somewhere, lower the worse it fits)
joins each phrase's score, and the best z_k of the list joins the gate, both with learned
weights::

    s_k  += w_spot z_k
    gate += w_gate max_k z_k

Shapes: ``...`` any leading shape, J joiner dimension, V vocabulary, U tokens, K phrases, Dk key
dimension, B' 1 (one list for all) or the first dimension of ``...``.
"""

from __future__ import annotations

import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from catt.context.trie import ContextTrie, State
from catt.model.encoder import padding_mask
from catt.model.spotting import SPOT_FLOOR

__all__ = [
    "ListPointer",
    "PhraseKeys",
    "PhraseChoices",
    "NextTokens",
    "PhraseNext",
    "next_token_masks",
    "next_phrase_tokens",
    "nonempty_phrases",
    "log_softmax_at",
]

_MASKED = -1.0e4
"""Gate logit of a cell with no allowed token (finite: such a row stays finite)."""

OUTSIDE = 40.0
"""How far below the best allowed value (a logit, a phrase score) a value outside the allowed set
is put: e^-40 (4e-18) is nothing beside any allowed one. Not further: torch's CPU ``exp`` takes
a slow path below about -87 (30 to 100 times slower), and the log-softmax, softmax and
log-add-exp of the pointer take the exp of every value, forward and backward, most of them
outside the set; at -1e4 this cost a tenth of a base training step (docs/training.md)."""

GATE_INIT = -3.0
"""Initial gate logit: the pointer starts with about 5 % of the non-blank probability."""


MAX_KEY_POSITIONS = 16
"""Phrase tokens past this many share the last position embedding of :class:`PhraseKeys`."""


class PhraseChoices(NamedTuple):
    """What the phrase-scoring pointer reads at each joiner cell (the ``allowed`` of
    :meth:`ListPointer.forward`)."""

    next_tokens: Tensor
    """[..., K] long: the token with which each phrase goes on (-1: no phrase k there)."""
    keys: Tensor
    """[B', K, Dk]: the phrase keys (:meth:`ListPointer.phrase_keys`)."""
    spots: Optional[Tensor] = None
    """[..., K] float: each phrase's spotting score (:func:`~catt.model.spotting.spot_scores`),
    broadcast to ``next_tokens``; a pointer with ``spotting`` needs it."""


class PhraseKeys(nn.Module):
    """Token ids of phrases -> one key each: piece and position embeddings, a linear layer
    over each piece and its two neighbours (not ``Conv1d``: torch 1.13's CPU backward of it
    gave non-finite gradients now and then at these sizes), the mean over the phrase, a linear
    layer. Light on purpose: training keys a household list (some 200 phrases) for every
    utterance of a batch."""

    def __init__(self, *, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim)
        self.position = nn.Embedding(MAX_KEY_POSITIONS, dim)
        self.mix = nn.Linear(3 * dim, dim)  # each piece with its two neighbours
        self.out = nn.Linear(dim, dim)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [N, L] (padding anything), lengths [N] (>= 1) -> [N, Dk]."""
        pad = padding_mask(lengths, tokens.size(1)).unsqueeze(-1)  # [N, L, 1]
        positions = torch.arange(tokens.size(1), device=tokens.device)
        x = self.embedding(tokens) + self.position(positions.clamp(max=MAX_KEY_POSITIONS - 1))
        x = x.masked_fill(pad, 0.0)
        before = F.pad(x, (0, 0, 1, 0))[:, :-1]
        after = F.pad(x, (0, 0, 0, 1))[:, 1:]
        x = F.gelu(self.mix(torch.cat([before, x, after], dim=-1))).masked_fill(pad, 0.0)
        return self.out(x.sum(dim=1) / lengths.clamp(min=1).unsqueeze(-1).to(x.dtype))


class ListPointer(nn.Module):
    """Pointer distribution and gate over the joiner's hidden state (see the module docstring);
    with ``key_dim`` it scores whole phrases (``biasing.pointer_phrases``), with ``spotting``
    it weighs their spotting scores in too (``biasing.pointer_spotting``)."""

    def __init__(
        self,
        *,
        joiner_dim: int,
        vocab_size: int,
        blank_id: int,
        key_dim: Optional[int] = None,
        spotting: bool = False,
    ) -> None:
        super().__init__()
        self.blank_id = blank_id
        self.out = nn.Linear(joiner_dim, vocab_size)
        self.gate = nn.Linear(joiner_dim, 1)
        with torch.no_grad():
            self.gate.bias.fill_(GATE_INIT)
        self.keys: Optional[PhraseKeys] = None
        self.query: Optional[nn.Linear] = None
        if key_dim is not None:
            self.keys = PhraseKeys(vocab_size=vocab_size, dim=key_dim)
            self.query = nn.Linear(joiner_dim, key_dim)
        self.spot_weight: Optional[nn.Parameter] = None
        self.gate_spot_weight: Optional[nn.Parameter] = None
        if spotting:
            if key_dim is None:
                raise ValueError("a spotting pointer scores phrases: give it a key_dim")
            # The audio's fit first rules the choice among phrases; the gate learns its use.
            self.spot_weight = nn.Parameter(torch.tensor(1.0))
            self.gate_spot_weight = nn.Parameter(torch.tensor(0.0))
        is_blank = torch.zeros(vocab_size, dtype=torch.bool)
        is_blank[blank_id] = True
        self.register_buffer("is_blank", is_blank, persistent=False)  # not in model files

    @property
    def scores_phrases(self) -> bool:
        """True when the pointer chooses among phrases (it then takes :class:`PhraseChoices`)."""
        return self.keys is not None

    @property
    def spots(self) -> bool:
        """True when the pointer reads spotting scores (:class:`PhraseChoices` ``spots``)."""
        return self.spot_weight is not None

    def phrase_keys(self, lists: Sequence[Sequence[Sequence[int]]]) -> Tensor:
        """Keys of B' token-id phrase lists -> [B', K, Dk] (K: the longest list; zeros after a
        list's end). A phrase found in several lists is keyed once."""
        if self.keys is None:
            raise ValueError("this pointer scores tokens, not phrases: it has no phrase keys")
        device = self.is_blank.device  # a buffer: int8 (quantized) layers have no .weight tensor
        index: Dict[Tuple[int, ...], int] = {}
        rows = [
            [index.setdefault(tuple(int(t) for t in p), len(index)) for p in ps] for ps in lists
        ]
        width = max((len(r) for r in rows), default=0)
        out = torch.zeros(len(lists), width, self.keys.out.out_features, device=device)
        if not index:
            return out
        unique = list(index)
        lengths = torch.tensor([len(p) for p in unique], dtype=torch.long)
        longest = max(1, int(lengths.max()))
        tokens = torch.tensor([p + (0,) * (longest - len(p)) for p in unique], dtype=torch.long)
        keys = self.keys(tokens.to(device), lengths.to(device))
        for b, r in enumerate(rows):
            out[b, : len(r)] = keys[torch.tensor(r, dtype=torch.long, device=device)]
        return out

    def forward(
        self,
        hidden: Tensor,
        logits: Tensor,
        allowed: Union[Tensor, PhraseChoices],
        columns: Optional[Tensor] = None,
    ) -> Tensor:
        """Log-probabilities of the mixture.

        Args:
            hidden: [..., J] the joiner's hidden state (after tanh).
            logits: [..., V] the joiner's output.
            allowed: [..., V] bool, the tokens the list allows next (broadcast to ``logits``);
                for a pointer that scores phrases, :class:`PhraseChoices`.
            columns: [..., C] token ids: only their log-probabilities are mixed and returned
                (the pruned loss reads two columns of V); None: every token.

        Returns:
            [..., V] normalized log-probabilities (float32); [..., C] with ``columns``.
        """
        logits = logits.float()
        if columns is None:
            log_p = logits.log_softmax(dim=-1)
            blank = log_p[..., self.blank_id : self.blank_id + 1]
            is_blank: Tensor = self.is_blank
        else:
            blank_column = columns.new_full((*columns.shape[:-1], 1), self.blank_id)
            log_p = log_softmax_at(logits, torch.cat([columns, blank_column], dim=-1))
            log_p, blank = log_p[..., :-1], log_p[..., -1:]
            is_blank = columns == self.blank_id
        gate = self.gate(hidden).float()
        if isinstance(allowed, PhraseChoices):
            pointer, any_allowed, gate_spot = self._phrase_pointer(hidden, allowed, columns)
            gate = gate + gate_spot
        elif columns is None:
            allowed = allowed.expand_as(logits)
            pointer = _fill_outside(self.out(hidden).float(), allowed).log_softmax(dim=-1)
            any_allowed = allowed.any(dim=-1, keepdim=True)
        else:
            pointer, any_allowed = self._token_pointer_at(
                hidden, allowed.expand_as(logits), columns
            )
        gate = gate.masked_fill(~any_allowed, _MASKED)
        non_blank = torch.log1p(-blank.exp().clamp(max=1.0 - 1e-6))
        mixed = torch.logaddexp(
            F.logsigmoid(-gate) + log_p, F.logsigmoid(gate) + non_blank + pointer
        )
        return torch.where(is_blank, log_p, mixed)

    def _token_pointer_at(
        self, hidden: Tensor, allowed: Tensor, columns: Tensor
    ) -> Tuple[Tensor, Tensor]:
        """The token pointer's log-probabilities [B, ..., C] at ``columns`` and whether each
        cell allows any token ([B, ..., 1] bool), from hidden [B, ..., J] and allowed
        [B, ..., V].

        The same values as the log-softmax over V of :func:`_fill_outside`, but the output
        layer runs over the utterance's :class:`_Slots` only: every other token sits
        :data:`OUTSIDE` below its cell's best, whatever its logit, and joins the normalizer
        as such."""
        b, vocab = hidden.size(0), allowed.size(-1)
        slots = _Slots(allowed.reshape(b, -1, vocab).any(dim=1))
        values = slots.logits(self.out, hidden).float()  # [B, ..., A]
        in_slot = slots.take(allowed)
        floor = _outside_floor(values, in_slot)
        filled = torch.where(in_slot, values, floor)
        normalizer = filled.logsumexp(dim=-1, keepdim=True)
        if vocab > slots.width:  # the tokens in no slot, each at the floor
            normalizer = torch.logaddexp(normalizer, floor + math.log(vocab - slots.width))
        return slots.read(filled, columns, floor) - normalizer, in_slot.any(dim=-1, keepdim=True)

    def _phrase_pointer(
        self, hidden: Tensor, choices: PhraseChoices, columns: Optional[Tensor] = None
    ) -> Tuple[Tensor, Tensor, Union[Tensor, float]]:
        """The pointer's log-probabilities [..., V] from phrase scores ([..., C] at ``columns``),
        whether any phrase goes on at each cell ([..., 1] bool) and what spotting adds to the
        gate ([..., 1], or 0.0)."""
        if self.query is None:
            raise ValueError("this pointer scores tokens: give it an allowed-token mask")
        if self.spots and choices.spots is None:
            raise ValueError("this pointer reads spotting scores: give PhraseChoices spots")
        keys = choices.keys.float()
        shape = hidden.shape[:-1]
        nxt = choices.next_tokens.expand(*shape, keys.size(1))
        valid = nxt >= 0
        index = nxt.clamp(min=0)
        if columns is None:
            token_logits = self.out(hidden).float()  # [..., V]
        else:  # the output layer at the tokens the utterance's phrases go on with, alone
            b, vocab = hidden.size(0), self.out.out_features
            said = torch.zeros(b, vocab, device=index.device)
            said.scatter_add_(1, index.reshape(b, -1), valid.reshape(b, -1).float())
            slots = _Slots(said > 0)
            token_logits = slots.logits(self.out, hidden).float()  # [..., A]
            index = slots.slot_of.gather(1, index.reshape(b, -1)).reshape(index.shape)
            index = index.clamp(min=0)  # a phrase that does not go on: any slot (weight 0)
        query = self.query(hidden).float()
        match = query.reshape(keys.size(0), -1, keys.size(-1)) @ keys.transpose(1, 2)
        scores = token_logits.gather(-1, index) + match.reshape(*shape, -1) / math.sqrt(
            keys.size(-1)
        )
        gate_spot: Union[Tensor, float] = 0.0
        if self.spot_weight is not None and self.gate_spot_weight is not None:
            spots = choices.spots.float().expand_as(scores)
            scores = scores + self.spot_weight * spots
            fit = spots.masked_fill(~valid, SPOT_FLOOR).max(dim=-1, keepdim=True).values
            gate_spot = self.gate_spot_weight * fit
        # A cell with no phrase gets constant (finite) scores; `* valid` zeroes its weights.
        weights = _fill_outside(scores, valid).softmax(dim=-1) * valid
        mass = torch.zeros_like(token_logits).scatter_add(-1, index, weights)
        if columns is not None:
            mass = slots.read(mass, columns, mass.new_zeros(()))
        pointer = mass.clamp(min=math.exp(-OUTSIDE)).log()  # a token no phrase allows: -40
        return pointer, valid.any(dim=-1, keepdim=True), gate_spot


class _Slots:
    """Each utterance's few tokens of the vocabulary, to run the pointer's output layer on them
    alone (the pruned loss: a household's list allows about 60 of a base model's 500 tokens).

    Built from ``used`` [B, V] bool: ``tokens`` [B, A] holds each utterance's used tokens first
    (A: the most any utterance uses; the slots past them hold tokens it does not use), and
    ``slot_of`` [B, V] the slot of each token, -1 for none."""

    def __init__(self, used: Tensor) -> None:
        b, vocab = used.shape
        self.width = max(1, int(used.sum(dim=-1).max()))
        order = used.to(torch.uint8).argsort(dim=-1, descending=True, stable=True)
        self.tokens = order[:, : self.width]
        self.slot_of = torch.full((b, vocab), -1, dtype=torch.long, device=used.device)
        slots = torch.arange(self.width, device=used.device).expand(b, self.width)
        self.slot_of.scatter_(1, self.tokens, slots)

    def logits(self, layer: nn.Linear, hidden: Tensor) -> Tensor:
        """``layer(hidden)`` [B, ..., V] at the slots alone: [B, ..., A]."""
        b = hidden.size(0)
        out = torch.baddbmm(
            layer.bias[self.tokens].unsqueeze(1),
            hidden.reshape(b, -1, hidden.size(-1)),
            layer.weight[self.tokens].transpose(1, 2),
        )
        return out.reshape(*hidden.shape[:-1], self.width)

    def take(self, values: Tensor) -> Tensor:
        """[B, ..., V] -> [B, ..., A], the slots' columns."""
        cells = values.shape[:-1]
        index = self.tokens.reshape(cells[0], *[1] * (len(cells) - 1), self.width)
        return values.gather(-1, index.expand(*cells, self.width))

    def read(self, values: Tensor, columns: Tensor, default: Tensor) -> Tensor:
        """``values`` [B, ..., A] at the tokens ``columns`` [B, ..., C]; ``default`` (broadcast)
        where a column's token has no slot."""
        b = columns.size(0)
        where = self.slot_of.gather(1, columns.reshape(b, -1)).reshape(columns.shape)
        return torch.where(where >= 0, values.gather(-1, where.clamp(min=0)), default)


def log_softmax_at(values: Tensor, columns: Tensor) -> Tensor:
    """``values.log_softmax(-1).gather(-1, columns)`` without writing the log-softmax of every
    value: [..., N], [..., C] long -> [..., C]."""
    return values.gather(-1, columns) - values.logsumexp(dim=-1, keepdim=True)


def _fill_outside(values: Tensor, allowed: Tensor) -> Tensor:
    """``values`` [..., N] with those not ``allowed`` set to :func:`_outside_floor`."""
    return torch.where(allowed, values, _outside_floor(values, allowed))


def _outside_floor(values: Tensor, allowed: Tensor) -> Tensor:
    """[..., 1]: :data:`OUTSIDE` below the best allowed value of each row of ``values``
    [..., N] (no gradient); a row with none allowed gets a constant (finite)."""
    best = values.detach().masked_fill(~allowed, -math.inf).amax(dim=-1, keepdim=True)
    return best.clamp(min=_MASKED) - OUTSIDE


class _TrieRows:
    """A tensor per trie state, made on first use and kept."""

    def __init__(self, trie: ContextTrie, device: torch.device) -> None:
        self.trie = trie
        self.device = device
        self._cache: Dict[State, Tensor] = {}

    def __call__(self, state: State) -> Tensor:
        row = self._cache.get(state)
        if row is None:
            row = self._cache[state] = self._make(state).to(self.device)
        return row

    def _make(self, state: State) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class NextTokens(_TrieRows):
    """The allowed next tokens of a trie state as a cached [V] bool mask."""

    def __init__(self, trie: ContextTrie, vocab_size: int, device: torch.device) -> None:
        super().__init__(trie, device)
        self.vocab_size = vocab_size

    def _make(self, state: State) -> Tensor:
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        mask[[t for t in self.trie.next_tokens(state) if 0 <= t < self.vocab_size]] = True
        return mask


class PhraseNext(_TrieRows):
    """The token with which each phrase goes on from a trie state
    (:meth:`ContextTrie.phrase_next`) as a cached [K] long tensor: the first tokens, with the
    few phrases that the state's match has started set to their next token."""

    def __init__(self, trie: ContextTrie, device: torch.device) -> None:
        super().__init__(trie, device)
        self._firsts = torch.tensor(trie.phrase_next(trie.root), dtype=torch.long)

    def _make(self, state: State) -> Tensor:
        row = self._firsts.clone()
        started = self.trie.phrase_continuations(state)
        if started:
            row[list(started)] = torch.tensor(list(started.values()), dtype=torch.long)
        return row


def next_token_masks(
    symbols: Sequence[Sequence[int]],
    lists: Sequence[Sequence[Sequence[int]]],
    vocab_size: int,
    device: torch.device,
) -> Tensor:
    """Allowed next tokens after each prefix of each reference, for training.

    Args:
        symbols: B token-id lists (the references, no blank).
        lists: B phrase lists, each phrase a list of token ids.

    Returns:
        [B, U+1, V] bool (U: the longest reference): row u allows what the utterance's list
        allows after its first u tokens; rows past a reference's end are all False.

    >>> next_token_masks([[5, 6]], [[[5, 6], [7]]], 8, torch.device("cpu")).nonzero().tolist()
    [[0, 0, 5], [0, 0, 7], [0, 1, 5], [0, 1, 6], [0, 1, 7], [0, 2, 5], [0, 2, 7]]
    """
    longest = max((len(s) for s in symbols), default=0)
    masks = torch.zeros(len(symbols), longest + 1, vocab_size, dtype=torch.bool)
    cells: List[List[int]] = [[], [], []]  # (utterance, position, token) of every continuation
    lists = nonempty_phrases(lists)
    for b, (tokens, phrases, (trie, _)) in enumerate(
        zip(symbols, lists, _said_tries(symbols, lists))
    ):
        if not phrases:
            continue
        tokens = [int(t) for t in tokens]
        firsts = {int(p[0]) for p in phrases}
        masks[b, : len(tokens) + 1, sorted(t for t in firsts if t < vocab_size)] = True
        state = trie.root
        allowed: Dict[State, List[int]] = {trie.root: []}  # the first tokens are set already
        for u in range(len(tokens) + 1):
            if u:
                state = trie.step(state, tokens[u - 1])[1]
            if state not in allowed:
                allowed[state] = [t for t in trie.next_tokens(state) if t < vocab_size]
            _add_cells(cells, b, u, allowed[state])
    if cells[2]:
        masks[tuple(torch.tensor(c, dtype=torch.long) for c in cells)] = True
    return masks.to(device)


def nonempty_phrases(
    lists: Sequence[Sequence[Sequence[int]]],
) -> List[Sequence[Sequence[int]]]:
    """Each list without its empty phrases; lists that were one object are one object still (the
    pointer's tries are shared by list object).

    >>> shared = [[5], []]
    >>> a, b = nonempty_phrases([shared, shared])
    >>> a, a is b
    ([[5]], True)
    """
    kept: Dict[int, Sequence[Sequence[int]]] = {}
    for phrases in lists:
        if id(phrases) not in kept:
            kept[id(phrases)] = [p for p in phrases if len(p)]
    return [kept[id(phrases)] for phrases in lists]


def _said_tries(
    symbols: Sequence[Sequence[int]], lists: Sequence[Sequence[Sequence[int]]]
) -> List[Tuple[ContextTrie, List[int]]]:
    """For each reference, a trie of the phrases of its list (none empty) that can be matched
    along it, and their indices in the list.

    A partial match starts with a phrase's first token, so only the phrases whose first token
    the reference says can be matched along it: their trie reaches the same states as the whole
    list's (a household list has hundreds of phrases, a reference a few). References that share
    one list object (the candidates of one slot, when resolution rescores them) share one trie,
    of the phrases whose first token any of them says: the phrases the others add start with a
    token this reference never says, so they change none of its states.
    """
    said: Dict[int, set] = {}
    for tokens, phrases in zip(symbols, lists):
        said.setdefault(id(phrases), set()).update(int(t) for t in tokens)
    tries: Dict[int, Tuple[ContextTrie, List[int]]] = {}
    for phrases in lists:
        if id(phrases) not in tries:
            heard = said[id(phrases)]
            kept = [k for k, p in enumerate(phrases) if int(p[0]) in heard]
            trie = ContextTrie([[int(t) for t in phrases[k]] for k in kept], boost=0.0)
            tries[id(phrases)] = trie, kept
    return [tries[id(phrases)] for phrases in lists]


def _add_cells(cells: List[List[int]], b: int, u: int, values: Sequence[int]) -> None:
    """Append (b, u, value) for each of ``values`` to the three columns ``cells``."""
    cells[0] += [b] * len(values)
    cells[1] += [u] * len(values)
    cells[2] += values


def next_phrase_tokens(
    symbols: Sequence[Sequence[int]],
    lists: Sequence[Sequence[Sequence[int]]],
    device: torch.device,
) -> Tensor:
    """The token with which each phrase goes on after each prefix of each reference, for
    training the phrase-scoring pointer (search reads the same off :class:`PhraseNext`).

    Args:
        symbols: B token-id lists (the references, no blank).
        lists: B phrase lists, each phrase a non-empty list of token ids.

    Returns:
        [B, U+1, K] long (U: the longest reference, K: the longest list): row u holds
        :meth:`ContextTrie.phrase_next` of the utterance's list after its first u tokens; -1
        past a list's or a reference's end.

    >>> next_phrase_tokens([[5, 6]], [[[5, 6], [7]]], torch.device("cpu")).tolist()
    [[[5, 7], [6, 7], [5, 7]]]
    """
    longest = max((len(s) for s in symbols), default=0)
    width = max((len(p) for p in lists), default=0)
    out = torch.full((len(symbols), longest + 1, width), -1, dtype=torch.long)
    cells: List[List[int]] = [[], [], []]  # (utterance, position, phrase) of each continuation
    tokens_next: List[int] = []
    for b, (tokens, phrases, (trie, kept)) in enumerate(
        zip(symbols, lists, _said_tries(symbols, lists))
    ):
        if not phrases:
            continue
        tokens = [int(t) for t in tokens]
        out[b, : len(tokens) + 1, : len(phrases)] = torch.tensor([int(p[0]) for p in phrases])
        if not kept:
            continue
        state = trie.root
        for u in range(1, len(tokens) + 1):
            state = trie.step(state, tokens[u - 1])[1]
            started = trie.phrase_continuations(state)
            _add_cells(cells, b, u, [kept[k] for k in started])
            tokens_next += started.values()
    if tokens_next:
        out[tuple(torch.tensor(c, dtype=torch.long) for c in cells)] = torch.tensor(tokens_next)
    return out.to(device)
