"""MaskDropout: nn.Dropout's behaviour with a mask drawn 16 bits at a time."""

import pytest
import torch
from torch import nn

from catt.model import ModelConfig, build_model
from catt.model.dropout import LEVELS, MaskDropout, keep_mask, use_mask_dropout
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
    assert use_mask_dropout(nn.Sequential(nn.Dropout(0.1)))[0].p == 0.1
