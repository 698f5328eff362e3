"""k2 losses: full loss against torchaudio, pruned loss against the full loss."""

from __future__ import annotations

import k2
import pytest
import torch

from catt.loss import (
    _prune_labels,
    _smoothed_lattice,
    full_rnnt_loss,
    loss_scales,
    make_boundary,
    pruned_rnnt_loss,
)
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
        joint=lambda am, lm, columns: joiner(am, lm, project_input=False, columns=columns),
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


@pytest.mark.parametrize("am_scale, lm_scale", [(0.0, 0.25), (0.1, 0.1), (0.0, 0.0)])
def test_smoothed_lattice_is_k2s(case, am_scale, lm_scale):
    """The simple loss's lattice, its loss, gradients and the px/py gradients that choose the
    prune ranges are k2.rnnt_loss_smoothed's, padded sequences included."""
    _, _, _, symbols, h_lens, y_lens = case
    torch.manual_seed(3)
    am0, lm0 = torch.randn(B, T, V) * 3, torch.randn(B, U + 1, V) * 3
    boundary = make_boundary(h_lens, y_lens)
    results = []
    for ours in (True, False):
        am, lm = am0.clone().requires_grad_(), lm0.clone().requires_grad_()
        if ours:
            px, py = _smoothed_lattice(am, lm, symbols, boundary, 0, am_scale, lm_scale)
            scores, px_py_grads = k2.mutual_information_recursion(
                px=px, py=py, boundary=boundary, return_grad=True
            )
            loss = -scores
        else:
            px, py = k2.get_rnnt_logprobs_smoothed(
                lm, am, symbols, 0, lm_scale, am_scale, boundary=boundary
            )
            loss, px_py_grads = k2.rnnt_loss_smoothed(
                lm=lm,
                am=am,
                symbols=symbols,
                termination_symbol=0,
                lm_only_scale=lm_scale,
                am_only_scale=am_scale,
                boundary=boundary,
                reduction="none",
                return_grad=True,
            )
        loss.sum().backward()
        results.append((px, py, loss, *px_py_grads, am.grad, lm.grad))
    for name, mine, ref in zip("px py loss px_grad py_grad am_grad lm_grad".split(), *results):
        assert mine.shape == ref.shape, name
        assert torch.equal(torch.isinf(mine), torch.isinf(ref)), name
        finite = torch.isfinite(ref)
        assert torch.allclose(mine[finite], ref[finite], rtol=1e-5, atol=1e-5), name
    assert (results[0][2] > 0).all()


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


@pytest.mark.parametrize("prune_range", [2, 4])
@pytest.mark.parametrize("pointer", [None, "dense", "sparse"])
def test_pruned_loss_reads_what_k2_reads_off_the_whole_vocabulary(case, prune_range, pointer):
    """The joint gives the loss blank's and the symbol's log-probabilities alone; k2's own
    rnnt_loss_pruned reads them off the joint's whole [B, T, S, V]: the same losses, and the
    same gradients for every parameter of the joiner (and its list pointer). The pointer's
    lists allow most of the vocabulary somewhere in each utterance (dense), or a few tokens, as
    a household's list does (sparse: the pointer's output layer then skips the others)."""
    _, h, g, symbols, h_lens, y_lens = case
    torch.manual_seed(2)
    joiner = Joiner(d_model=D, joiner_dim=J, vocab_size=V, pointer=pointer is not None)
    allowed = None
    if pointer is not None:  # as a phrase list's next tokens: never blank
        torch.nn.init.constant_(joiner.pointer.gate.bias, 0.5)  # the mixture matters
        if pointer == "dense":
            allowed = torch.rand(B, U + 1, V) < 0.4
        else:  # a few tokens everywhere (some of them said), now and then one more, or none
            allowed = torch.zeros(B, U + 1, V, dtype=torch.bool)
            allowed[0, :, [int(symbols[0, 0]), int(symbols[0, 2]), 5]] = True
            allowed[0, 3, int(symbols[0, 3])] = True
            allowed[1, 1:3, int(symbols[1, 1])] = True
        allowed[..., 0] = False
        assert (allowed.any(dim=1).sum(dim=-1) < V - 1).any() == (pointer == "sparse")
    am_simple, lm_simple = torch.randn(B, T, V), torch.randn(B, U + 1, V)
    boundary = make_boundary(h_lens, y_lens)

    def ours() -> torch.Tensor:
        return pruned_rnnt_loss(
            am_simple=am_simple,
            lm_simple=lm_simple,
            am=joiner.enc_proj(h),
            lm=joiner.pred_proj(g),
            joint=lambda am, lm, *x, columns: joiner(
                am, lm, project_input=False, allowed=x[0] if x else None, columns=columns
            ),
            symbols=symbols,
            boundary=boundary,
            blank_id=0,
            prune_range=prune_range,
            lm_extra=allowed,
            reduction="none",
        )[1]

    def k2_reads_all() -> torch.Tensor:
        _, (px_grad, py_grad) = k2.rnnt_loss_smoothed(
            lm=lm_simple,
            am=am_simple,
            symbols=symbols,
            termination_symbol=0,
            lm_only_scale=0.25,
            am_only_scale=0.0,
            boundary=boundary,
            reduction="none",
            return_grad=True,
        )
        ranges = k2.get_rnnt_prune_ranges(
            px_grad=px_grad, py_grad=py_grad, boundary=boundary, s_range=prune_range
        )
        am, lm = k2.do_rnnt_pruning(am=joiner.enc_proj(h), lm=joiner.pred_proj(g), ranges=ranges)
        extra = None if allowed is None else _prune_labels(allowed, ranges)
        logits = joiner(am, lm, project_input=False, allowed=extra)
        return k2.rnnt_loss_pruned(
            logits=logits,
            symbols=symbols,
            ranges=ranges,
            termination_symbol=0,
            boundary=boundary,
            reduction="none",
        )

    results = []
    for loss_fn in (ours, k2_reads_all):
        joiner.zero_grad()
        loss = loss_fn()
        loss.sum().backward()
        results.append((loss.detach(), [p.grad.clone() for p in joiner.parameters()]))
    (loss, grads), (ref, ref_grads) = results
    assert torch.isfinite(loss).all() and (loss > 0).all()
    assert torch.allclose(loss, ref, rtol=1e-5, atol=1e-5)
    for grad, ref_grad in zip(grads, ref_grads):
        assert torch.allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)
