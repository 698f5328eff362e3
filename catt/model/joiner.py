"""Joint network: project audio and label embeddings to J, add, tanh, linear to V.

Shapes: D model dimension, J joiner dimension, V vocabulary; ``...`` any leading shape that
broadcasts, e.g. [B, T, D] with [B, T, D] in search, [B, T, 1, D] with [B, 1, U+1, D] for the
full loss, or already projected [B, T, s_range, J] pairs for the pruned loss.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from catt.model.pointer import ListPointer, PhraseChoices, log_softmax_at

__all__ = ["Joiner"]


class Joiner(nn.Module):
    """``logits = out(tanh(enc_proj(h) + pred_proj(g)))``, and the list pointer when it has one
    (:mod:`catt.model.pointer`; with ``pointer_key_dim`` it scores whole phrases, with
    ``pointer_spotting`` their spotting scores weigh in)."""

    def __init__(
        self,
        *,
        d_model: int,
        joiner_dim: int,
        vocab_size: int,
        pointer: bool = False,
        blank_id: int = 0,
        pointer_key_dim: Optional[int] = None,
        pointer_spotting: bool = False,
    ) -> None:
        super().__init__()
        self.enc_proj = nn.Linear(d_model, joiner_dim)
        self.pred_proj = nn.Linear(d_model, joiner_dim)
        self.out = nn.Linear(joiner_dim, vocab_size)
        self.pointer: Optional[ListPointer] = None
        if pointer:
            self.pointer = ListPointer(
                joiner_dim=joiner_dim,
                vocab_size=vocab_size,
                blank_id=blank_id,
                key_dim=pointer_key_dim,
                spotting=pointer_spotting,
            )

    def forward(
        self,
        h: Tensor,
        g: Tensor,
        project_input: bool = True,
        allowed: Union[Tensor, PhraseChoices, None] = None,
        columns: Optional[Tensor] = None,
    ) -> Tensor:
        """Logits of the next token.

        Args:
            h: [..., D] audio embeddings ([..., J] when ``project_input`` is False).
            g: [..., D] label embeddings ([..., J] when ``project_input`` is False).
            project_input: False when h and g were already projected (pruned loss).
            allowed: [..., V] bool, the tokens the phrase list allows next; with a pointer, the
                result mixes in the pointer over them (None: the plain joiner). A pointer that
                scores phrases takes :class:`~catt.model.pointer.PhraseChoices` instead.
            columns: [..., C] token ids: return only their log-probabilities (the pruned loss
                reads blank and the target of each cell); None: the whole vocabulary.

        Returns:
            [..., V] unnormalized logits (normalized log-probabilities with the pointer);
            with ``columns``, [..., C] normalized log-probabilities (float32).
        """
        if project_input:
            h, g = self.enc_proj(h), self.pred_proj(g)
        hidden = torch.tanh(h + g)
        logits = self.out(hidden)
        if self.pointer is None or allowed is None:
            if columns is None:
                return logits
            return log_softmax_at(logits.float(), columns)
        return self.pointer(hidden, logits, allowed, columns)
