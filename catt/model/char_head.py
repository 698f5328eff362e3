"""The character head: a CTC output over characters, read by list resolution.

The BPE CTC head spells a name the way training cut it into pieces, so a name spelt another way
(``carl`` heard as ``karl``) holds a piece the head gives almost no probability. A head over
characters scores every spelling letter by letter: list resolution (:mod:`catt.decode.resolve`)
adds its CTC score of each candidate's words, and counts edits from the characters it heard.

A linear layer over the audio embeddings learns too little (41 % character error rate on the
smart-home base model's dev split against the BPE head's 11 % in tokens): the embeddings were
trained for BPE pieces, and one frame holds several characters. A BiLSTM of 192 units a
direction before the output reaches 14 to 16 % trained on the frozen encoder
(docs/results.md, "A character head for list resolution").

>>> import torch
>>> head = CharHead(d_model=16, hidden=8, num_chars=5)
>>> head(torch.zeros(2, 7, 16), torch.tensor([7, 3])).shape
torch.Size([2, 7, 5])
"""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["CharHead"]


class CharHead(nn.Module):
    """Audio embeddings [B, T', D] -> character logits [B, T', C] (C: characters and blank 0)."""

    def __init__(self, d_model: int, hidden: int, num_chars: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(d_model, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, num_chars)

    def forward(self, h: Tensor, h_lens: Tensor) -> Tensor:
        """Logits of h [B, T', D] with h_lens [B] valid frames each: each utterance's are
        what it would get alone (its padding is not read; the logits there are the bias)."""
        lengths = h_lens.cpu().clamp(min=1)  # packing takes no empty sequence
        packed = nn.utils.rnn.pack_padded_sequence(
            h, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.rnn(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=h.size(1))
        return self.out(out)
