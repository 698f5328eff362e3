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

Shapes: ``...`` any leading shape, J joiner dimension, V vocabulary, U tokens.
"""

from __future__ import annotations

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from catt.context.trie import ContextTrie, State

__all__ = ["ListPointer", "NextTokens", "next_token_masks"]

_MASKED = -1.0e4
"""Logit of a token outside the allowed set (finite: a row with no allowed token stays finite)."""

GATE_INIT = -3.0
"""Initial gate logit: the pointer starts with about 5 % of the non-blank probability."""


class ListPointer(nn.Module):
    """Pointer distribution and gate over the joiner's hidden state (see the module docstring)."""

    def __init__(self, *, joiner_dim: int, vocab_size: int, blank_id: int) -> None:
        super().__init__()
        self.blank_id = blank_id
        self.out = nn.Linear(joiner_dim, vocab_size)
        self.gate = nn.Linear(joiner_dim, 1)
        with torch.no_grad():
            self.gate.bias.fill_(GATE_INIT)
        is_blank = torch.zeros(vocab_size, dtype=torch.bool)
        is_blank[blank_id] = True
        self.register_buffer("is_blank", is_blank, persistent=False)  # not in model files

    def forward(self, hidden: Tensor, logits: Tensor, allowed: Tensor) -> Tensor:
        """Log-probabilities of the mixture.

        Args:
            hidden: [..., J] the joiner's hidden state (after tanh).
            logits: [..., V] the joiner's output.
            allowed: [..., V] bool, the tokens the list allows next (broadcast to ``logits``).

        Returns:
            [..., V] normalized log-probabilities (float32).
        """
        log_p = logits.float().log_softmax(dim=-1)
        allowed = allowed.expand_as(log_p)
        pointer = self.out(hidden).float().masked_fill(~allowed, _MASKED).log_softmax(dim=-1)
        gate = self.gate(hidden).float().masked_fill(~allowed.any(dim=-1, keepdim=True), _MASKED)
        blank = log_p[..., self.blank_id : self.blank_id + 1]
        non_blank = torch.log1p(-blank.exp().clamp(max=1.0 - 1e-6))
        mixed = torch.logaddexp(
            F.logsigmoid(-gate) + log_p, F.logsigmoid(gate) + non_blank + pointer
        )
        return torch.where(self.is_blank, log_p, mixed)


class NextTokens:
    """The allowed next tokens of a trie state as a cached [V] bool mask."""

    def __init__(self, trie: ContextTrie, vocab_size: int, device: torch.device) -> None:
        self.trie = trie
        self.vocab_size = vocab_size
        self.device = device
        self._cache: Dict[State, Tensor] = {}

    def __call__(self, state: State) -> Tensor:
        mask = self._cache.get(state)
        if mask is None:
            mask = torch.zeros(self.vocab_size, dtype=torch.bool)
            tokens = [t for t in self.trie.next_tokens(state) if 0 <= t < self.vocab_size]
            mask[tokens] = True
            mask = self._cache[state] = mask.to(self.device)
        return mask


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
    for b, (tokens, phrases) in enumerate(zip(symbols, lists)):
        phrases = [[int(t) for t in p] for p in phrases if len(p)]
        if not phrases:
            continue
        tokens = [int(t) for t in tokens]
        firsts = sorted({p[0] for p in phrases if p[0] < vocab_size})
        masks[b, : len(tokens) + 1, firsts] = True
        # A partial match starts with a phrase's first token, so only the phrases whose first
        # token the reference says can be matched along it: their trie reaches the same states
        # as the whole list's (a household list has hundreds of phrases, a reference a few).
        said = set(tokens)
        trie = ContextTrie([p for p in phrases if p[0] in said], boost=0.0)
        state = trie.root
        allowed: Dict[State, List[int]] = {trie.root: []}  # the first tokens are set already
        for u in range(len(tokens) + 1):
            if u:
                state = trie.step(state, tokens[u - 1])[1]
            if state not in allowed:
                allowed[state] = [t for t in trie.next_tokens(state) if t < vocab_size]
            masks[b, u, allowed[state]] = True
    return masks.to(device)
