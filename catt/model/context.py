"""The phrase lists of a batch (:class:`ContextBatch`), a phrase list ready for decoding
(:class:`PhraseVectors`) and what biasing layers read (:class:`BiasingContext`).

Shapes: B utterances, N phrases (the union of the batch's lists), L tokens in the longest
phrase, Dc context dimension, B' 1 (vectors shared by the batch) or B.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Sequence, Union

import torch
from torch import Tensor

__all__ = ["ContextBatch", "PhraseVectors", "BiasingContext"]


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
        padded = [p + (0,) * (max_len - len(p)) for p in phrases_all]  # one tensor, not n rows
        tokens = torch.tensor(padded, dtype=torch.long).reshape(n, max_len)
        lengths = torch.tensor([len(p) for p in phrases_all], dtype=torch.long)
        mask = torch.zeros(len(lists), n, dtype=torch.bool)
        for b, row in enumerate(rows):
            mask[b, row] = True
        return cls(tokens, lengths, mask)


@dataclass(frozen=True)
class PhraseVectors:
    """One phrase list ready for biasing, made by ``Transducer.prepare_phrases``.

    Every context made from it (``Transducer.make_context``) shares its cache, so the biasing
    layers project the phrase vectors (keys, values) once per list, not once per batch. The
    cache holds results of the weights at the time: prepare the list again after training.

    Attributes:
        vectors: [1, N + 1, Dc], the no-bias vector first.
        cache: the biasing layers' ``precompute`` of ``vectors`` (see
            :meth:`BiasingContext.prepared`), filled on first use.
    """

    vectors: Tensor
    cache: Dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_phrases(self) -> int:
        """N, the phrases without the no-bias vector."""
        return self.vectors.size(1) - 1


@dataclass(frozen=True)
class BiasingContext:
    """What a biasing layer attends to: the no-bias vector first, then the phrase vectors.

    Attributes:
        embeddings: [B, N + 1, Dc]; usually a broadcast view (``expand``) of one [1, N + 1, Dc]
            row shared by the batch (the utterances differ by their mask only).
        mask: BoolTensor [B, N + 1], True where present (column 0, the no-bias vector, always).
        cache: what each layer's ``precompute`` returned for these vectors, by layer (filled on
            first use by :meth:`prepared`; shared with contexts made by :meth:`select`).
    """

    embeddings: Tensor
    mask: Tensor
    cache: Dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def batch_size(self) -> int:
        return self.embeddings.size(0)

    @property
    def shared(self) -> bool:
        """True when every utterance has the same vectors (one row, or a broadcast view)."""
        return self.embeddings.size(0) == 1 or self.embeddings.stride(0) == 0

    @property
    def vectors(self) -> Tensor:
        """The distinct vectors [B', N + 1, Dc]: [1, N + 1, Dc] when shared, else embeddings."""
        return self.embeddings[:1] if self.shared else self.embeddings

    def prepared(self, layer: Any) -> Any:
        """``layer.precompute(self.vectors)``, computed once per layer and grad mode, or None
        for a layer without ``precompute``."""
        precompute = getattr(layer, "precompute", None)
        if precompute is None:
            return None
        key = (id(layer), torch.is_grad_enabled())
        if key not in self.cache:
            self.cache[key] = (layer, precompute(self.vectors))  # keeps the layer alive
        return self.cache[key][1]

    def select(self, rows: Tensor) -> BiasingContext:
        """The context of utterances ``rows`` (LongTensor [B2]); the precomputed state of
        shared vectors is reused."""
        mask = self.mask[rows.to(self.mask.device)]
        if self.shared:
            emb = self.embeddings[:1].expand(mask.size(0), -1, -1)
            return BiasingContext(emb, mask, self.cache)
        return BiasingContext(self.embeddings[rows.to(self.embeddings.device)], mask)
