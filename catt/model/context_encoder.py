"""Context (phrase) encoders: the tokens of each phrase -> one vector, with a registry by name.

Shapes: N phrases, L tokens in the longest phrase (padded with 0), V vocabulary, Dc context
dimension.

An encoder whose class sets ``per_token = True`` returns one vector per token instead,
``[N, L, Dc]`` (padding positions are dropped by the model): the biasing layers then attend to
the tokens of every phrase, not to one summary of it (see :class:`BiLSTMTokenEncoder`).

Every encoder has its own token embedding table (shared with nothing): the phrase vectors can be
trained, frozen or swapped without touching the predictor.

To add an encoder, subclass :class:`ContextEncoder` and register it::

    @register_context_encoder("mean")
    class MeanEncoder(ContextEncoder):
        def __init__(self, *, vocab_size, context_dim, num_layers, num_heads, dropout): ...
        def forward(self, tokens, lengths): ...  # [N, L], [N] -> [N, Dc]
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple, Type

import torch
from torch import Tensor, nn

from catt.model.encoder import padding_mask, sinusoidal_positions

__all__ = [
    "ContextEncoder",
    "BiLSTMContextEncoder",
    "BiLSTMTokenEncoder",
    "TransformerContextEncoder",
    "CONTEXT_ENCODERS",
    "register_context_encoder",
]


class ContextEncoder(nn.Module):
    """Interface: ``forward(tokens [N, L], lengths [N]) -> [N, Dc]``.

    Constructors are keyword-only: ``vocab_size``, ``context_dim``, ``num_layers``,
    ``num_heads``, ``dropout``.
    """

    per_token = False

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError


CONTEXT_ENCODERS: Dict[str, Type[ContextEncoder]] = {}


def register_context_encoder(
    name: str,
) -> Callable[[Type[ContextEncoder]], Type[ContextEncoder]]:
    """Class decorator: make an encoder available as ``context_encoder.type: <name>``."""

    def add(cls: Type[ContextEncoder]) -> Type[ContextEncoder]:
        CONTEXT_ENCODERS[name] = cls
        return cls

    return add


@register_context_encoder("bilstm")
class BiLSTMContextEncoder(ContextEncoder):
    """BiLSTM over the phrase tokens; the vector is [last forward state; last backward state]."""

    def __init__(
        self, *, vocab_size: int, context_dim: int, num_layers: int, num_heads: int, dropout: float
    ) -> None:
        super().__init__()
        del num_heads
        self.embedding = nn.Embedding(vocab_size, context_dim)
        self.lstm = nn.LSTM(
            context_dim,
            context_dim // 2,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [N, L], lengths [N] -> [N, Dc]."""
        _, (h_n, _) = self._run(tokens, lengths)  # h_n: [num_layers * 2, N, Dc / 2]
        return torch.cat([h_n[-2], h_n[-1]], dim=-1)

    def _run(self, tokens: Tensor, lengths: Tensor) -> Tuple[Any, Any]:
        """The LSTM over the packed phrases: (packed outputs, (h_n, c_n))."""
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(tokens),
            lengths.clamp(min=1).cpu(),
            batch_first=True,
            enforce_sorted=False,
        )
        return self.lstm(packed)


@register_context_encoder("bilstm_tokens")
class BiLSTMTokenEncoder(BiLSTMContextEncoder):
    """The BiLSTM of ``bilstm``, keeping its output at every token: [N, L, Dc].

    Each vector holds its token and both neighbourhoods of the phrase, so the label side can
    find where in a phrase the tokens it just emitted are, and read what comes next; the audio
    side can match a stretch of sound to a piece of a name rather than to the whole name. The
    parameters are those of ``bilstm`` (a model of one type can start from the other's).
    """

    per_token = True

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [N, L], lengths [N] -> [N, L, Dc] (padding positions are zeros)."""
        out, _ = self._run(tokens, lengths)
        out, _ = nn.utils.rnn.pad_packed_sequence(
            out, batch_first=True, total_length=tokens.size(1)
        )
        return out


@register_context_encoder("transformer")
class TransformerContextEncoder(ContextEncoder):
    """Small pre-norm transformer over the phrase tokens, mean-pooled over the valid tokens."""

    def __init__(
        self, *, vocab_size: int, context_dim: int, num_layers: int, num_heads: int, dropout: float
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, context_dim)
        layer = nn.TransformerEncoderLayer(
            context_dim,
            num_heads,
            4 * context_dim,
            dropout,
            batch_first=True,
            norm_first=True,
        )
        self.layers = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(context_dim)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """tokens [N, L], lengths [N] -> [N, Dc]."""
        n, length = tokens.shape
        pad = padding_mask(lengths.clamp(min=1), length)  # [N, L]
        x = self.embedding(tokens) + sinusoidal_positions(
            length, self.norm.normalized_shape[0], tokens.device
        )
        x = self.norm(self.layers(x, src_key_padding_mask=pad))
        keep = (~pad).unsqueeze(-1).to(x.dtype)
        return (x * keep).sum(dim=1) / keep.sum(dim=1)
