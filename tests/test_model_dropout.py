"""MaskDropout: nn.Dropout's behaviour with a mask drawn 16 bits at a time."""

import pytest
import torch
from torch import nn

from catt.model import ModelConfig, build_model
from catt.model.dropout import (
    LEVELS,
    MaskDropout,
    MaskDropoutAttention,
    keep_mask,
    use_mask_dropout,
)
from catt.model.transducer import Transducer


def test_mask_keeps_one_minus_p_and_scales_the_survivors() -> None:
    torch.manual_seed(0)
    x = torch.ones(1000, 1000)
    y = MaskDropout(0.1).train()(x)
    kept = float((y != 0).float().mean())
    assert abs(kept - 0.9) < 5 * (0.9 * 0.1 / x.numel()) ** 0.5  # five standard deviations
    assert torch.allclose(y[y != 0], torch.tensor(1 / 0.9), atol=1e-5)
    assert abs(float(y.mean()) - 1.0) < 0.005


def test_every_bit_pattern_is_drawn_alike() -> None:
    torch.manual_seed(1)
    draws = keep_mask(torch.Size([400_000]), 0.5, torch.device("cpu"))
    # p = 0.5: kept iff the 16-bit draw is >= 0, i.e. its sign bit clear; each of the four
    # draws of a 64-bit word (its sign bit included) must be fair.
    by_position = draws.view(-1, 4).float().mean(dim=0)
    assert torch.all((by_position - 0.5).abs() < 0.01), by_position


def test_eval_mode_zero_p_and_gradient() -> None:
    x = torch.randn(8, 16, requires_grad=True)
    drop = MaskDropout(0.3)
    assert drop.eval()(x) is x and MaskDropout(0.0).train()(x) is x
    torch.manual_seed(2)
    y = drop.train()(x)
    y.sum().backward()
    scale = 1 / (1 - round(0.3 * LEVELS) / LEVELS)
    assert torch.allclose(x.grad, (y != 0).float() * scale)
    with pytest.raises(ValueError, match="dropout probability"):
        MaskDropout(1.0)


def test_same_seed_same_mask() -> None:
    drop = MaskDropout(0.2).train()
    x = torch.ones(64, 64)
    torch.manual_seed(3)
    a = drop(x)
    torch.manual_seed(3)
    assert torch.equal(a, drop(x))


def test_build_model_swaps_every_dropout_module_and_keeps_the_weights() -> None:
    config = ModelConfig.preset("tiny", vocab_size=64)
    model = build_model(config)
    assert not [m for m in model.modules() if type(m) is nn.Dropout]
    swapped = [m for m in model.modules() if isinstance(m, MaskDropout)]
    assert swapped and {m.p for m in swapped} == {config.encoder.dropout}
    assert model.state_dict().keys() == Transducer(config).state_dict().keys()
    attentions = [m for m in model.modules() if isinstance(m, nn.MultiheadAttention)]
    assert attentions and all(type(m) is MaskDropoutAttention for m in attentions)
    assert use_mask_dropout(nn.Sequential(nn.Dropout(0.1)))[0].p == 0.1


def _attention(p: float) -> nn.MultiheadAttention:
    torch.manual_seed(4)
    return use_mask_dropout(nn.Sequential(nn.MultiheadAttention(16, 4, p, batch_first=True)))[0]


def test_attention_computes_what_torch_does_and_learns_the_same() -> None:
    # p below 1 / LEVELS keeps every weight: the training path is then plain attention.
    attention = _attention(1e-6)
    assert isinstance(attention, MaskDropoutAttention)
    x = torch.randn(3, 7, 16, requires_grad=True)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, 5:] = True
    pad[2, 2:] = True
    outputs = []
    for training in (True, False):  # ours, then nn.MultiheadAttention's own forward
        attention.train(training)
        x.grad = None
        attention.zero_grad()
        y = attention(x, x, x, key_padding_mask=pad, need_weights=False)[0]
        (y * torch.linspace(-1, 1, 16)).sum().backward()
        outputs.append([y.detach(), x.grad.clone(), attention.in_proj_weight.grad.clone()])
    for ours, torchs in zip(*outputs):
        assert torch.allclose(ours, torchs, atol=1e-5)


def test_attention_drops_weights_with_the_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    import catt.model.dropout as dropout_module

    shapes = []

    def spy(shape, p, device):
        shapes.append((tuple(shape), p))
        return keep_mask(shape, p, device)

    monkeypatch.setattr(dropout_module, "keep_mask", spy)
    attention = _attention(0.5).train()
    x = torch.randn(2, 9, 16)
    torch.manual_seed(5)
    first = attention(x, x, x, need_weights=False)[0]
    torch.manual_seed(5)
    assert torch.equal(first, attention(x, x, x, need_weights=False)[0])  # seeded
    assert shapes == [((2, 4, 9, 9), 0.5)] * 2
    assert not torch.allclose(first, attention.eval()(x, x, x, need_weights=False)[0])
    # cross-attention, or asking for the weights: nn.MultiheadAttention's own forward
    attention.train()(x, x[:, :4].clone(), x[:, :4].clone(), need_weights=False)
    attention(x, x, x)
    assert len(shapes) == 2
