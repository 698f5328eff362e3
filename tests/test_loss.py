"""k2 losses: full loss against torchaudio, pruned loss against the full loss."""

from __future__ import annotations

import pytest
import torch

from catt.loss import full_rnnt_loss, loss_scales, make_boundary, pruned_rnnt_loss
from catt.model.joiner import Joiner

B, T, U, V, J, D = 3, 12, 5, 10, 8, 6


@pytest.fixture()
def case():
    torch.manual_seed(0)
    joiner = Joiner(d_model=D, joiner_dim=J, vocab_size=V)
    h, g = torch.randn(B, T, D), torch.randn(B, U + 1, D)
    symbols = torch.randint(1, V, (B, U))
    h_lens, y_lens = torch.tensor([12, 9, 7]), torch.tensor([5, 3, 4])
    return joiner, h, g, symbols, h_lens, y_lens


def test_boundary_from_lengths():
    b = make_boundary(torch.tensor([7, 4]), torch.tensor([2, 3]))
    assert b.tolist() == [[0, 0, 2, 7], [0, 0, 3, 4]]
    assert b.dtype == torch.int64


def test_full_loss_matches_torchaudio(case):
    torchaudio = pytest.importorskip("torchaudio", reason="the independent check of the loss")
    joiner, h, g, symbols, h_lens, y_lens = case
    logits = joiner(h.unsqueeze(2), g.unsqueeze(1))  # [B, T, U+1, V]
    ours = full_rnnt_loss(logits, symbols, make_boundary(h_lens, y_lens), blank_id=0)
    ref = torchaudio.functional.rnnt_loss(
        logits, symbols.int(), h_lens.int(), y_lens.int(), blank=0, reduction="none"
    )
    assert ours.shape == (B,)  # one loss per sequence
    assert ours.tolist() == pytest.approx(ref.tolist(), abs=1e-3)
    # Sanity: the loss depends on the targets.
    other = full_rnnt_loss(logits, (symbols % (V - 1)) + 1, make_boundary(h_lens, y_lens), 0)
    assert (other - ours).abs().min().item() > 1e-2


def _pruned(case, prune_range: int):
    joiner, h, g, symbols, h_lens, y_lens = case
    torch.manual_seed(1)
    return pruned_rnnt_loss(
        am_simple=torch.randn(B, T, V),
        lm_simple=torch.randn(B, U + 1, V),
        am=joiner.enc_proj(h),
        lm=joiner.pred_proj(g),
        joint=lambda am, lm: joiner(am, lm, project_input=False),
        symbols=symbols,
        boundary=make_boundary(h_lens, y_lens),
        blank_id=0,
        prune_range=prune_range,
    )


def test_pruned_loss_equals_full_loss_when_nothing_is_pruned(case):
    joiner, h, g, symbols, h_lens, y_lens = case
    full = full_rnnt_loss(
        joiner(h.unsqueeze(2), g.unsqueeze(1)), symbols, make_boundary(h_lens, y_lens), 0
    ).sum()
    for prune_range in (U + 1, U + 3):  # every symbol position kept: must match to 1e-4 rel.
        simple, pruned = _pruned(case, prune_range)
        assert torch.isfinite(simple) and simple.item() > 0
        assert pruned.item() == pytest.approx(full.item(), rel=1e-4)


def test_pruned_loss_is_finite_and_an_upper_bound_when_pruning(case):
    joiner, h, g, symbols, h_lens, y_lens = case
    full = full_rnnt_loss(
        joiner(h.unsqueeze(2), g.unsqueeze(1)), symbols, make_boundary(h_lens, y_lens), 0
    ).sum()
    _, pruned = _pruned(case, 2)
    # Pruning removes paths, so -log P can only grow.
    assert torch.isfinite(pruned)
    assert pruned.item() >= full.item() - 1e-3


def test_pruned_loss_rejects_bad_range(case):
    with pytest.raises(ValueError, match="prune_range"):
        _pruned(case, 0)


def test_loss_scales_schedule():
    assert loss_scales(0, 100) == (1.0, 0.1)
    s, p = loss_scales(50, 100)
    assert s == pytest.approx(0.75) and p == pytest.approx(0.55)
    assert loss_scales(10_000, 100) == (0.5, 1.0)
    assert loss_scales(5, 0) == (0.5, 1.0)
