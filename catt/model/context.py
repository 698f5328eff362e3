"""The phrase lists of a batch (:class:`ContextBatch`) and what biasing layers read
(:class:`BiasingContext`).

Shapes: B utterances, N phrases (the union of the batch's lists), L tokens in the longest
phrase, Dc context dimension.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Union

import torch
from torch import Tensor

__all__ = ["ContextBatch", "BiasingContext"]


@dataclass(frozen=True)
class ContextBatch:
    """Phrase lists of a batch, each distinct phrase encoded once.

    Attributes:
        tokens: LongTensor [N, L], phrase token ids padded with 0.
        lengths: LongTensor [N], tokens in each phrase (>= 1).
        mask: BoolTensor [B, N], True when phrase n is in utterance b's list.

    >>> cb = ContextBatch.from_lists([[[5, 6], [7]], [[7]]])
    >>> cb.tokens.tolist(), cb.lengths.tolist(), cb.mask.tolist()
    ([[5, 6], [7, 0]], [2, 1], [[True, True], [False, True]])
    """

    tokens: Tensor
    lengths: Tensor
    mask: Tensor

    def __post_init__(self) -> None:
        n = self.tokens.size(0)
        if self.tokens.dim() != 2 or self.lengths.shape != (n,) or self.mask.dim() != 2:
            raise ValueError(
                f"ContextBatch wants tokens [N, L], lengths [N], mask [B, N]; got "
                f"{tuple(self.tokens.shape)}, {tuple(self.lengths.shape)}, {tuple(self.mask.shape)}"
            )
        if self.mask.size(1) != n:
            raise ValueError(f"mask {tuple(self.mask.shape)} does not have N={n} columns")

    @property
    def num_phrases(self) -> int:
        return self.tokens.size(0)

    def to(self, device: Union[str, torch.device]) -> ContextBatch:
        """The same batch on ``device``."""
        return ContextBatch(self.tokens.to(device), self.lengths.to(device), self.mask.to(device))

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[Sequence[int]]]) -> ContextBatch:
        """Build from B lists of token-id phrases (duplicates across utterances encoded once)."""
        index: dict = {}
        rows: List[List[int]] = []
        for phrases in lists:
            row = []
            for p in phrases:
                if not p:
                    raise ValueError("a phrase has no tokens")
                row.append(index.setdefault(tuple(p), len(index)))
            rows.append(row)
        phrases_all = list(index)
        n = len(phrases_all)
        max_len = max((len(p) for p in phrases_all), default=1)
        tokens = torch.zeros(n, max_len, dtype=torch.long)
        for i, p in enumerate(phrases_all):
            tokens[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        lengths = torch.tensor([len(p) for p in phrases_all], dtype=torch.long)
        mask = torch.zeros(len(lists), n, dtype=torch.bool)
        for b, row in enumerate(rows):
            mask[b, row] = True
        return cls(tokens, lengths, mask)


@dataclass(frozen=True)
class BiasingContext:
    """What a biasing layer attends to: the no-bias vector first, then the phrase vectors.

    Attributes:
        embeddings: [B, N + 1, Dc].
        mask: BoolTensor [B, N + 1], True where present (column 0, the no-bias vector, always).
    """

    embeddings: Tensor
    mask: Tensor

    @property
    def batch_size(self) -> int:
        return self.embeddings.size(0)
