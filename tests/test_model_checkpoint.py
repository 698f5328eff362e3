"""The self-contained model file: round trip, broken files, checkpoint averaging."""

from __future__ import annotations

import pytest
import torch

from catt.errors import CattError, CheckpointError
from catt.model import (
    ContextBatch,
    ModelConfig,
    average_state_dicts,
    build_model,
    load_model,
    save_model,
)
from catt.model.checkpoint import read_model_file, store_decoding
from catt.text.tokenizer import train_tokenizer

TEXTS = [
    "<intent:call_contact> call <contact> kaitlyn fitzgerald </contact> on her mobile",
    "<intent:turn_on> turn on <device> the noodle lamp </device>",
    "what time is it",
    "set a timer for ten minutes",
] * 5


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return train_tokenizer(TEXTS, tmp_path_factory.mktemp("bpe") / "bpe.model", 48)


def _model(tokenizer, seed: int = 0, **kw):
    torch.manual_seed(seed)
    cfg = ModelConfig.from_dict({"preset": "micro", "vocab_size": tokenizer.vocab_size, **kw})
    return build_model(cfg).eval()


def _outputs(model, tokenizer):
    torch.manual_seed(5)
    features, lens = torch.randn(2, 150, 80), torch.tensor([150, 140])
    context = ContextBatch.from_lists(
        [[tokenizer.encode_phrase("kaitlyn fitzgerald")], [tokenizer.encode_phrase("noodle lamp")]]
    )
    tokens = [tokenizer.encode(TEXTS[0]), tokenizer.encode(TEXTS[1])]
    with torch.no_grad():
        h, _ = model.encode(features, lens)
        return torch.stack(model(features, lens, tokens, context)), h


@pytest.mark.parametrize("kw", [{}, {"biasing": {"layer": "none"}, "loss": "full"}])
def test_save_load_round_trip_gives_identical_outputs(tmp_path, tokenizer, kw):
    model = _model(tokenizer, **kw)
    path = save_model(tmp_path / "model.pt", model, tokenizer)
    loaded, tok = load_model(path, device="cpu")
    assert loaded.config == model.config and not loaded.training
    assert tok.to_bytes() == tokenizer.to_bytes()
    (loss_a, h_a), (loss_b, h_b) = _outputs(model, tokenizer), _outputs(loaded, tok)
    assert torch.equal(loss_a, loss_b) and torch.equal(h_a, h_b)
    assert not list(tmp_path.glob(".tmp-*"))  # atomic write left nothing behind


def test_missing_truncated_garbage_and_foreign_files(tmp_path, tokenizer):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "nope.pt")
    path = save_model(tmp_path / "model.pt", _model(tokenizer), tokenizer)
    data = path.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.pt").write_bytes(b"this is not a model\n" * 50)
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    for name in ("cut.pt", "junk.pt", "other.pt"):
        with pytest.raises(CheckpointError) as info:
            load_model(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
        assert isinstance(info.value, CattError)


def test_tuned_decoding_is_stored_beside_the_weights(tmp_path, tokenizer):
    model = _model(tokenizer)
    path = save_model(tmp_path / "model.pt", model, tokenizer)
    assert "decoding" not in read_model_file(path)
    store_decoding(path, {"boost": 0.5, "resolve": True})
    store_decoding(path, {"boost": 1.0, "resolve_transducer": 0.25})  # replaces, not merges
    assert read_model_file(path)["decoding"] == {"boost": 1.0, "resolve_transducer": 0.25}
    loaded, _ = load_model(path)
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())
    assert not list(tmp_path.glob(".tmp-*"))
    obj = torch.load(path)
    obj["decoding"] = [("boost", 1.0)]
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="bad.pt is broken: its decoding settings"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        store_decoding(tmp_path / "nope.pt", {"boost": 1.0})


def test_wrong_state_dict_is_a_checkpoint_error(tmp_path, tokenizer):
    path = save_model(tmp_path / "model.pt", _model(tokenizer), tokenizer)
    obj = torch.load(path)
    obj["config"]["encoder"]["num_layers"] = 2  # dims no longer match the weights
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="broken"):
        load_model(tmp_path / "bad.pt")


def test_average_state_dicts(tmp_path, tokenizer):
    a, b = _model(tokenizer, seed=1), _model(tokenizer, seed=2)
    save_model(tmp_path / "a.pt", a, tokenizer)
    torch.save({"model": b.state_dict(), "step": 7}, tmp_path / "b.pt")
    avg = average_state_dicts([tmp_path / "a.pt", tmp_path / "b.pt"])
    sa, sb = a.state_dict(), b.state_dict()
    assert set(avg) == set(sa)
    for k in sa:
        assert avg[k].dtype == sa[k].dtype
        assert torch.allclose(avg[k], (sa[k] + sb[k]) / 2, atol=1e-6), k
    a.load_state_dict(avg)
    with pytest.raises(CheckpointError):
        average_state_dicts([])
