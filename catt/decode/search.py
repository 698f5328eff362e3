"""Transducer search with phrase lists: greedy and modified beam search, batched over utterances.

Shapes: B utterances, T frames (after subsampling), H hypotheses, N phrases, L tokens in a
phrase, D model dimension, Dc context dimension, V vocabulary.

Both searches emit up to ``max_symbols`` symbols on one frame (1, the classic algorithms, by
default). Deep biasing: the phrase vectors
(:func:`encode_phrase_list`, computed once per list) go into ``model.make_context`` once per
batch; the audio side uses that context and the label side selects its rows per group of
hypotheses (``BiasingContext.select``), so the biasing layers' work on the phrase vectors (keys
and values) is done once per batch, not once per emitted token; given as
``model.prepare_phrases(vectors)``, once per list. Boosting: a
:class:`~catt.context.trie.ContextTrie` whose step score is part of every hypothesis score, and
is counted *before* the top-k selection, so a boosted token can enter the beam (even at beam 1).
List pointer (a model trained with ``biasing.pointer``): a second trie over the same list, with
no transparent tokens, whose state per hypothesis gives the tokens the pointer may copy next
(:mod:`catt.model.pointer`); it is part of deep biasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from catt.context.trie import ContextTrie, State
from catt.model.context import BiasingContext, PhraseVectors
from catt.model.pointer import NextTokens, PhraseChoices, PhraseNext

__all__ = ["greedy_search", "modified_beam_search", "encode_phrase_list", "slots_closed"]

Phrases = Union[Tensor, PhraseVectors, None]
"""Deep-biasing phrase vectors: [N, Dc], a list from ``model.prepare_phrases``, or None."""


def encode_phrase_list(
    model: Any, phrases: Sequence[Sequence[int]], *, chunk_size: int = 512
) -> Optional[Tensor]:
    """Phrase vectors of a list of token-id phrases, in chunks.

    Args:
        model: a ``Transducer``.
        phrases: N phrases, each a non-empty list of token ids.

    Returns:
        [N, Dc] on the model's device, or None for an empty list.
    """
    if not phrases:
        return None
    device = _device(model)
    out: List[Tensor] = []
    for start in range(0, len(phrases), chunk_size):
        part = phrases[start : start + chunk_size]
        lengths = torch.tensor([len(p) for p in part], dtype=torch.long)
        tokens = torch.zeros(len(part), int(lengths.max()), dtype=torch.long)
        for i, p in enumerate(part):
            tokens[i, : len(p)] = torch.tensor(list(p), dtype=torch.long)
        out.append(model.encode_phrases(tokens.to(device), lengths.to(device)))
    return torch.cat(out, dim=0)


def _blank_id(model: Any) -> int:
    """The model's blank id (``model.blank_id`` or ``model.config.blank_id``; 0 otherwise)."""
    blank = getattr(model, "blank_id", None)
    if blank is None:
        blank = getattr(getattr(model, "config", None), "blank_id", 0)
    return int(blank)


def _device(model: Any) -> torch.device:
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


class _Labels:
    """Label embeddings of hypotheses, with the deep-biasing context of their utterances.

    ``phrase_emb``: see :data:`Phrases`; ``mask`` [B, N] or None (every utterance sees every
    phrase); ``ctx``: ``model.make_context(phrase_emb, mask, B)`` of the batch, built once (None:
    a context per group of hypotheses).
    """

    def __init__(
        self,
        model: Any,
        phrase_emb: Phrases,
        mask: Optional[Tensor],
        ctx: Any = None,
    ) -> None:
        self.model = model
        self.ctx = ctx
        self.phrase_emb = phrase_emb
        self.mask = mask
        self.context_size: Optional[int] = model.predictor_context_size
        self.blank_id = _blank_id(model)
        self._cache: Dict[Tuple[int, Tuple[int, ...]], Tensor] = {}

    def key(self, history: Sequence[int]) -> Tuple[int, ...]:
        """The tokens the predictor reads: the last ``context_size`` of the history, or all."""
        k = self.context_size
        return tuple(history if k is None else history[-k:])

    def __call__(self, histories: Sequence[Sequence[int]], rows: Sequence[int]) -> Tensor:
        """Label embeddings after each history ``[blank, tokens...]``: [H, D]; rows: [H] utts."""
        keys = [
            (rows[i] if self.mask is not None else 0, self.key(h)) for i, h in enumerate(histories)
        ]
        missing = sorted({k for k in keys if k not in self._cache}, key=lambda k: len(k[1]))
        by_len: Dict[int, List[Tuple[int, Tuple[int, ...]]]] = {}
        for k in missing:
            by_len.setdefault(len(k[1]), []).append(k)
        for group in by_len.values():
            self._compute(group)
        return torch.stack([self._cache[k] for k in keys])

    def _context(self, rows: List[int]) -> Any:
        """The context of utterances ``rows``: rows of the batch's context when it is a
        ``BiasingContext``, else (another model) a new ``make_context``."""
        if isinstance(self.ctx, BiasingContext):
            return self.ctx.select(torch.tensor(rows, dtype=torch.long))
        mask = None
        if self.mask is not None:
            mask = self.mask[torch.tensor(rows, device=self.mask.device)]
        return self.model.make_context(self.phrase_emb, mask, len(rows))

    def _compute(self, group: List[Tuple[int, Tuple[int, ...]]]) -> None:
        device = _device(self.model)
        y = torch.tensor([k[1] for k in group], dtype=torch.long, device=device)
        ctx = self._context([k[0] for k in group])
        g = self.model.label_embeddings(y, ctx)[:, -1]  # [n, D]
        for k, row in zip(group, g):
            self._cache[k] = row


def _encode(
    model: Any, phrase_emb: Phrases, mask: Optional[Tensor], encoded: Tuple[Tensor, Tensor]
) -> Tuple[Tensor, List[int], _Labels]:
    """The audio embeddings ``encoded`` (``model.encode``) biased, their lengths, and the label
    side with the same context."""
    h, h_lens = encoded
    ctx = model.make_context(phrase_emb, mask, h.size(0))
    h = model.bias_audio(h, ctx)
    return h, [int(n) for n in h_lens], _Labels(model, phrase_emb, mask, ctx)


@torch.no_grad()
def greedy_search(
    model: Any,
    features: Tensor,
    feature_lens: Tensor,
    *,
    phrase_emb: Phrases = None,
    mask: Optional[Tensor] = None,
    max_symbols: int = 1,
    encoded: Optional[Tuple[Tensor, Tensor]] = None,
    pointer: Optional[ContextTrie] = None,
    pointer_keys: Optional[Tensor] = None,
) -> List[List[int]]:
    """The best token at every frame, then again on the same frame after each symbol emitted
    there, until blank or ``max_symbols`` symbols.

    Args:
        model: a ``Transducer`` in eval mode.
        features: [B, T, F]; feature_lens: [B].
        phrase_emb: [N, Dc] phrase vectors (deep biasing), the same made ready once per list
            (``model.prepare_phrases``), or None.
        mask: [B, N] (True: phrase n is in utterance b's list) or None (all phrases, all
            utterances).
        max_symbols: symbols emitted on one frame at most (>= 1).
        encoded: ``model.encode(features, feature_lens)`` when the caller has it already.
        pointer: the list pointer's trie (``ContextTrie(phrases, boost=0)``) for a model with a
            pointer, or None.
        pointer_keys: for a pointer that scores phrases, the list's keys
            (``model.joiner.pointer.phrase_keys([pointer.phrases])``, once per list); None:
            computed here.

    Returns:
        B lists of token ids (tags included, blanks removed).
    """
    if max_symbols < 1:
        raise ValueError(f"max_symbols must be >= 1, got {max_symbols}")
    if encoded is None:
        encoded = model.encode(features, feature_lens)
    h, h_lens, labels = _encode(model, phrase_emb, mask, encoded)
    blank = labels.blank_id
    batch = h.size(0)
    histories: List[List[int]] = [[blank] for _ in range(batch)]
    g = labels(histories, list(range(batch)))  # [B, D]
    allowed = _Allowed(model, pointer, encoded, pointer_keys)
    states: List[State] = [0] * batch
    for t in range(h.size(1)):
        active = [b for b in range(batch) if t < h_lens[b]]
        for _ in range(max_symbols):
            logits = allowed.joint(h[active, t], g[active], [states[b] for b in active], active)
            best = logits.argmax(dim=-1).tolist()
            emitted = [(b, y) for b, y in zip(active, best) if y != blank]
            if not emitted:
                break
            for b, y in emitted:
                histories[b].append(y)
                states[b] = allowed.step(states[b], y)
            active = [b for b, _ in emitted]
            g = g.clone()
            g[active] = labels([histories[b] for b in active], active)
    return [hist[1:] for hist in histories]


class _Allowed:
    """The joiner, with what the list pointer reads in each trie state when there is a pointer
    trie: the allowed next tokens, or each phrase's next token and the list's phrase keys (and,
    for a pointer that spots, each utterance's spotting scores of the list's phrases)."""

    def __init__(
        self,
        model: Any,
        pointer: Optional[ContextTrie],
        encoded: Tuple[Tensor, Tensor],
        keys: Optional[Tensor] = None,
    ) -> None:
        self.model = model
        self.pointer = pointer
        self._masks: Optional[NextTokens] = None
        self._next: Optional[PhraseNext] = None
        self._keys: Optional[Tensor] = None
        self._spots: Optional[Tensor] = None
        if pointer is None:
            return
        h, h_lens = encoded
        module = model.joiner.pointer
        if module is not None and module.scores_phrases:
            self._next = PhraseNext(pointer, h.device)
            self._keys = module.phrase_keys([pointer.phrases]) if keys is None else keys
            if module.spots:
                self._spots = model.phrase_spots(h, h_lens, [pointer.phrases] * h.size(0))
        else:
            self._masks = NextTokens(pointer, model.vocab_size, h.device)

    def joint(self, h: Tensor, g: Tensor, states: Sequence[State], rows: Sequence[int]) -> Tensor:
        """``model.joiner(h [H, D], g [H, D])`` -> [H, V], the pointer's trie in ``states``,
        hypothesis i of utterance ``rows[i]``."""
        if self._next is not None:
            nxt = torch.stack([self._next(s) for s in states])  # [H, K]
            spots = None if self._spots is None else self._spots[list(rows)]
            return self.model.joiner(h, g, allowed=PhraseChoices(nxt, self._keys, spots))
        if self._masks is not None:
            allowed = torch.stack([self._masks(s) for s in states])
            return self.model.joiner(h, g, allowed=allowed)
        return self.model.joiner(h, g)

    def step(self, state: State, token: int) -> State:
        """The pointer's trie state after ``token`` (0 without a pointer)."""
        return self.pointer.step(state, token)[1] if self.pointer is not None else state


@dataclass
class _Hyp:
    history: Tuple[int, ...]  # blank first, then the emitted tokens
    score: float  # log-probability plus boosting bonus so far
    state: State  # boosting trie state
    g: Optional[Tensor] = None  # [D] label embedding after ``history``
    pointer_state: State = 0  # the list pointer's trie state


class _Bonus:
    """Boosting scores of every token from a trie state, as a cached [V] tensor."""

    def __init__(self, trie: Optional[ContextTrie], vocab_size: int, blank_id: int) -> None:
        self.trie = trie
        self.vocab_size = vocab_size
        self.blank_id = blank_id
        self._cache: Dict[State, Tensor] = {}

    def __call__(self, state: State) -> Tensor:
        vector = self._cache.get(state)
        if vector is None:
            default, scores = self.trie.next_scores(state)
            vector = torch.full((self.vocab_size,), default)
            for token, score in scores.items():
                if 0 <= token < self.vocab_size:
                    vector[token] = score
            vector[self.blank_id] = 0.0
            self._cache[state] = vector
        return vector


@torch.no_grad()
def modified_beam_search(
    model: Any,
    features: Tensor,
    feature_lens: Tensor,
    *,
    beam: int = 4,
    phrase_emb: Phrases = None,
    mask: Optional[Tensor] = None,
    trie: Optional[ContextTrie] = None,
    max_symbols: int = 1,
    encoded: Optional[Tuple[Tensor, Tensor]] = None,
    pointer: Optional[ContextTrie] = None,
    pointer_keys: Optional[Tensor] = None,
    slot_pairs: Optional[Mapping[int, int]] = None,
) -> List[List[int]]:
    """Beam search with up to ``max_symbols`` symbols a frame; equal token sequences are merged.

    On each frame the hypotheses are extended in up to ``max_symbols`` rounds: the top ``beam``
    extensions of the open ones are kept, those ending in blank leave the frame, the others
    stay open for the next round; after the last round the open ones leave the frame as they
    are (with one round this is modified beam search). The best ``beam`` of those that left go
    on to the next frame.

    Args:
        model: a ``Transducer`` in eval mode.
        features: [B, T, F]; feature_lens: [B].
        beam: hypotheses kept per utterance (>= 1).
        phrase_emb: [N, Dc] phrase vectors (deep biasing), the same made ready once per list
            (``model.prepare_phrases``), or None.
        mask: [B, N] phrase membership per utterance, or None (all phrases, all utterances).
        trie: boosting trie shared by the batch, or None (no boosting).
        max_symbols: symbols emitted on one frame at most (>= 1).
        encoded: ``model.encode(features, feature_lens)`` when the caller has it already.
        pointer: the list pointer's trie for a model with a pointer, or None.
        pointer_keys: the list's phrase keys, as in :func:`greedy_search`.
        slot_pairs: closing tag id by opening tag id of each slot type: the result is the best
            final hypothesis whose slots are all closed (:func:`slots_closed`) when there is
            one. None: the best final hypothesis.

    Returns:
        B lists of token ids of the best hypothesis after :meth:`ContextTrie.finalize`.
    """
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    if max_symbols < 1:
        raise ValueError(f"max_symbols must be >= 1, got {max_symbols}")
    if encoded is None:
        encoded = model.encode(features, feature_lens)
    h, h_lens, labels = _encode(model, phrase_emb, mask, encoded)
    blank = labels.blank_id
    root = trie.root if trie is not None else 0
    beams: List[List[_Hyp]] = [[_Hyp((blank,), 0.0, root)] for _ in range(h.size(0))]
    bonus: Optional[_Bonus] = None
    allowed = _Allowed(model, pointer, encoded, pointer_keys)
    for t in range(h.size(1)):
        active = [b for b in range(h.size(0)) if t < h_lens[b]]
        if not active:
            break
        open_: Dict[int, List[_Hyp]] = {b: beams[b] for b in active}
        left: Dict[int, List[_Hyp]] = {b: [] for b in active}
        for _ in range(max_symbols):
            hyps = [hyp for b in open_ for hyp in open_[b]]
            rows = [b for b in open_ for _ in open_[b]]
            _fill_labels(labels, hyps, rows)
            g = torch.stack([hyp.g for hyp in hyps])
            logits = allowed.joint(h[rows, t], g, [hyp.pointer_state for hyp in hyps], rows)
            scores = logits.log_softmax(dim=-1)
            if trie is not None:
                if bonus is None:
                    bonus = _Bonus(trie, scores.size(-1), blank)
                scores = scores + torch.stack([bonus(hyp.state) for hyp in hyps]).to(scores.device)
            scores = (
                scores + torch.tensor([hyp.score for hyp in hyps], device=scores.device)[:, None]
            )
            start, still_open = 0, {}
            for b, mine in open_.items():
                new = _expand(mine, scores[start : start + len(mine)], beam, blank, trie, allowed)
                start += len(mine)
                left[b] += [hyp for hyp in new if hyp.g is not None]  # blank: same history
                emitted = [hyp for hyp in new if hyp.g is None]
                if emitted:
                    still_open[b] = emitted
            open_ = still_open
            if not open_:
                break
        for b in active:
            beams[b] = _prune(left[b] + open_.get(b, []), beam)
    return [_best(hyps, trie, slot_pairs)[1:] for hyps in beams]


def _prune(hyps: List[_Hyp], beam: int) -> List[_Hyp]:
    """The best ``beam`` of ``hyps``, equal token sequences merged."""
    return sorted(_merge(hyps), key=lambda hyp: hyp.score, reverse=True)[:beam]


def _merge(hyps: List[_Hyp]) -> List[_Hyp]:
    """``hyps`` in order, each token sequence once: the better hypothesis of equal ones is
    kept, with their scores log-added."""
    merged: Dict[Tuple[int, ...], _Hyp] = {}
    for hyp in hyps:
        old = merged.get(hyp.history)
        if old is None:
            merged[hyp.history] = hyp
            continue
        best = old if old.score >= hyp.score else hyp
        best.score = _logaddexp(old.score, hyp.score)
        merged[hyp.history] = best
    return list(merged.values())


def _fill_labels(labels: _Labels, hyps: List[_Hyp], rows: List[int]) -> None:
    todo = [i for i, hyp in enumerate(hyps) if hyp.g is None]
    if todo:
        g = labels([hyps[i].history for i in todo], [rows[i] for i in todo])
        for i, row in zip(todo, g):
            hyps[i].g = row


def _expand(
    hyps: List[_Hyp],
    scores: Tensor,
    beam: int,
    blank: int,
    trie: Optional[ContextTrie],
    allowed: _Allowed,
) -> List[_Hyp]:
    """The top ``beam`` one-symbol extensions of ``hyps`` (scores: [n, V] totals), merged."""
    vocab = scores.size(-1)
    top = scores.reshape(-1).topk(min(beam, scores.numel()))
    out: List[_Hyp] = []
    for value, index in zip(top.values.tolist(), top.indices.tolist()):
        parent, token = hyps[index // vocab], index % vocab
        if token == blank:
            out.append(_Hyp(parent.history, value, parent.state, parent.g, parent.pointer_state))
        else:
            state = trie.step(parent.state, token)[1] if trie is not None else parent.state
            pointer_state = allowed.step(parent.pointer_state, token)
            out.append(_Hyp(parent.history + (token,), value, state, None, pointer_state))
    return _merge(out)


def _logaddexp(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return hi + math.log1p(math.exp(lo - hi))


def _best(
    hyps: List[_Hyp], trie: Optional[ContextTrie], slot_pairs: Optional[Mapping[int, int]]
) -> List[int]:
    def final(hyp: _Hyp) -> float:
        return hyp.score + (trie.finalize(hyp.state) if trie is not None else 0.0)

    if slot_pairs:
        hyps = [hyp for hyp in hyps if slots_closed(hyp.history, slot_pairs)] or hyps
    return list(max(hyps, key=final).history)


def slots_closed(tokens: Sequence[int], slot_pairs: Mapping[int, int]) -> bool:
    """Whether every slot opened in ``tokens`` is closed by its own closing tag before the next
    slot tag, and no closing tag stands alone.

    >>> pairs = {3: 4, 5: 6}  # <a> </a>, <b> </b>
    >>> [slots_closed(t, pairs) for t in ([3, 9, 4, 9], [3, 9], [9, 4], [3, 9, 6], [3, 5, 6, 4])]
    [True, False, False, False, False]
    """
    closing = set(slot_pairs.values())
    expected: Optional[int] = None
    for token in tokens:
        if token in slot_pairs:
            if expected is not None:
                return False
            expected = slot_pairs[token]
        elif token in closing:
            if token != expected:
                return False
            expected = None
    return expected is None
