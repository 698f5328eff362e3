"""Search, ``catt.load`` and ``catt transcribe`` with a real (random, micro) Transducer."""

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from builders import TEXTS  # tests/ is on sys.path

from catt.decode.options import DecodingOptions
from catt.decode.search import encode_phrase_list, greedy_search, modified_beam_search
from catt.decode.transcriber import Transcriber, load
from catt.errors import CheckpointError
from catt.model import BiasingContext, ModelConfig, build_model, save_model
from catt.model.checkpoint import store_decoding
from catt.model.config import PredictorConfig
from catt.text.tags import strip_tags
from catt.text.tokenizer import Tokenizer, train_tokenizer

CATT = [sys.executable, "-m", "catt.cli", "transcribe"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    return train_tokenizer(TEXTS, tmp_path_factory.mktemp("lang") / "bpe.model", 30)


def micro(tokenizer: Tokenizer, predictor: str = "stateless", layer: str = "attention"):
    torch.manual_seed(0)
    config = ModelConfig.preset("micro", vocab_size=tokenizer.vocab_size)
    config = dataclasses.replace(
        config,
        predictor=PredictorConfig(type=predictor, context_size=2),
        biasing=dataclasses.replace(config.biasing, layer=layer),
    )
    model = build_model(config).eval()
    with torch.no_grad():  # a random model that emits symbols: lower the blank logit
        model.joiner.out.bias[tokenizer.blank_id] -= 3.0
    return model


@pytest.fixture(scope="module")
def model_file(tokenizer: Tokenizer, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exp") / "model.pt"
    save_model(path, micro(tokenizer), tokenizer)
    return path


def wav(path: Path, seconds: float = 0.6, rate: int = 16000, channels: int = 1) -> Path:
    rng = np.random.default_rng(1)
    soundfile.write(
        str(path), (0.2 * rng.standard_normal((int(seconds * rate), channels))).astype("f4"), rate
    )
    return path


@pytest.mark.parametrize("predictor", ["stateless", "transformer"])
def test_greedy_equals_beam_of_one(tokenizer: Tokenizer, predictor: str) -> None:
    model = micro(tokenizer, predictor)
    torch.manual_seed(1)
    x, lens = torch.randn(3, 60, 80), torch.tensor([60, 41, 23])
    phrases = [tokenizer.encode_phrase(p) for p in ["stephen fitzgerald", "noodle lamp"]]
    emb = encode_phrase_list(model, phrases)
    assert emb.shape == (2, model.context_dim)
    mask = torch.tensor([[True, False], [True, True], [False, False]])
    greedy = greedy_search(model, x, lens, phrase_emb=emb, mask=mask)
    assert greedy == modified_beam_search(model, x, lens, beam=1, phrase_emb=emb, mask=mask)
    assert any(greedy)
    assert all(0 < t < tokenizer.vocab_size for hyp in greedy for t in hyp)


def test_model_without_biasing_ignores_phrases(tokenizer: Tokenizer) -> None:
    model = micro(tokenizer, layer="none")
    transcriber = Transcriber(model, tokenizer)
    feats = torch.randn(40, 80)
    plain = transcriber.decode_features([feats], None, DecodingOptions(beam=2))
    listed = transcriber.decode_features([feats], ["noodle lamp"], DecodingOptions(beam=2))
    assert plain == listed
    assert isinstance(model.make_context(None, None, 1), BiasingContext)


def test_load_and_transcribe(model_file: Path, tmp_path: Path) -> None:
    transcriber = load(model_file, device="cpu")
    out = transcriber.transcribe(wav(tmp_path / "a.wav"), ["stephen fitzgerald"])
    assert out.text == strip_tags(out.tagged)
    boosted = transcriber.transcribe(
        wav(tmp_path / "a.wav"), ["stephen fitzgerald"], DecodingOptions(beam=3, boost=2.0)
    )
    assert boosted.text == strip_tags(boosted.tagged)


def test_load_starts_from_the_tuned_settings_of_the_model_file(
    tokenizer: Tokenizer, tmp_path: Path
) -> None:
    path = save_model(tmp_path / "model.pt", micro(tokenizer), tokenizer)
    assert load(path, device="cpu").options == DecodingOptions()
    store_decoding(path, {"boost": 1.5, "resolve": True, "resolve_transducer": 0.5})
    options = load(path, device="cpu").options
    assert (options.boost, options.resolve, options.resolve_transducer) == (1.5, True, 0.5)
    assert options.beam == DecodingOptions.beam  # what was not tuned keeps the library default
    for bad, message in [({"boost": -1.0}, "boost must be"), ({"bost": 1.0}, "bost")]:
        store_decoding(path, bad)
        with pytest.raises(CheckpointError, match="bad tuned decoding settings") as err:
            load(path, device="cpu")
        assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_subprocess_good_bad_and_stereo(model_file: Path, tmp_path: Path) -> None:
    good = wav(tmp_path / "good.wav")
    stereo = wav(tmp_path / "stereo.wav", rate=44100, channels=2)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage")
    contacts = tmp_path / "contacts.txt"
    contacts.write_text("stephen fitzgerald\nsteven lee\n", encoding="utf-8")
    args = ["--model", str(model_file), "--contacts", str(contacts), "--boost", "1.0"]
    done = subprocess.run(
        [*CATT, *args, str(good), str(corrupt), str(tmp_path / "missing.wav"), str(stereo)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [("error" in d) for d in lines] == [False, True, True, False]
    assert lines[1]["audio"] == str(corrupt) and "corrupt.wav" in lines[1]["error"]
    assert lines[3]["text"] == strip_tags(lines[3]["tagged"])


def test_cli_subprocess_bad_phrase_line_and_missing_model(model_file: Path, tmp_path: Path):
    contacts = tmp_path / "contacts.txt"
    contacts.write_text("stephen\nzoë\n", encoding="utf-8")
    good = str(wav(tmp_path / "good.wav"))
    done = subprocess.run(
        [*CATT, "--model", str(model_file), "--contacts", str(contacts), good],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"{contacts}:2" in done.stderr and done.stdout == ""
    done = subprocess.run(
        [*CATT, "--model", str(tmp_path / "nope.pt"), good], capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and "nope.pt" in done.stderr


def test_ten_thousand_phrases_with_deep_biasing(model_file: Path, tmp_path: Path) -> None:
    rng = random.Random(0)
    names = {
        "".join(rng.choice("acdefhilnopstv") for _ in range(rng.randint(4, 9)))
        for _ in range(11_000)
    }
    phrases = sorted(names)[:10_000]
    transcriber = load(model_file, device="cpu")
    opts = DecodingOptions(beam=2, boost=1.0)
    out = transcriber.transcribe(wav(tmp_path / "a.wav", seconds=0.4), phrases, opts)
    assert out.text == strip_tags(out.tagged)
    assert len(transcriber.prepare_phrases(phrases)) == 10_000


def test_transcriber_projects_a_list_once_across_batches(model_file: Path, monkeypatch) -> None:
    from catt.model.biasing import AttentionBiasing

    calls = []
    original = AttentionBiasing.precompute
    monkeypatch.setattr(
        AttentionBiasing, "precompute", lambda self, c: calls.append(1) or original(self, c)
    )
    transcriber = load(model_file, device="cpu")
    features = [torch.randn(40, 80) for _ in range(3)]
    opts = DecodingOptions(beam=2, boost=0.0, batch_size=1)
    first = transcriber.decode_features(features, ["ann lee", "noodle lamp"], opts)
    assert len(calls) == 2  # audio and label layers, once for three batches
    assert transcriber.decode_features(features, ["ann lee", "noodle lamp"], opts) == first
    assert len(calls) == 2  # the same list again: still prepared


def test_ctc_log_probs_and_resolution_with_a_real_model(tokenizer: Tokenizer) -> None:
    model = micro(tokenizer)
    x, lens = torch.randn(2, 40, 80), torch.tensor([40, 30])
    h, _ = model.encode(x, lens)
    with pytest.raises(ValueError, match="no CTC head"):
        model.ctc_log_probs(h)
    config = dataclasses.replace(model.config, ctc_weight=0.3)
    model = build_model(config).eval()
    logp = model.ctc_log_probs(model.encode(x, lens)[0])
    assert logp.shape == (2, h.size(1), tokenizer.vocab_size)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, h.size(1)))
    transcriber = Transcriber(model, tokenizer)
    phrases = ["stephen fitzgerald", "noodle lamp"]
    opts = DecodingOptions(beam=2, resolve=True)
    plain = transcriber.decode_features(list(x), phrases, dataclasses.replace(opts, resolve=False))
    resolved = transcriber.decode_features(list(x), phrases, opts)
    for a, b in zip(plain, resolved):  # only list-slot values may change, and only to a phrase
        assert [s.type for s in a.slots] == [s.type for s in b.slots]
        for sa, sb in zip(a.slots, b.slots):
            listed = sa.type in ("contact", "device") and sb.value in phrases
            assert sb.value == sa.value or listed


def test_pointer_switch_decides_what_a_pointer_model_copies(tokenizer: Tokenizer) -> None:
    """With the gate forced open the pointer spells only listed words; ``pointer=False`` turns
    it off, and without deep biasing (and boosting) the list changes nothing."""
    model = micro(tokenizer)
    pointer_model = build_model(
        dataclasses.replace(
            model.config, biasing=dataclasses.replace(model.config.biasing, pointer=True)
        )
    ).eval()
    pointer_model.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        pointer_model.joiner.pointer.gate.bias.fill_(50.0)
    transcriber = Transcriber(pointer_model, tokenizer)
    torch.manual_seed(2)
    feats = [torch.randn(60, 80) for _ in range(3)]
    phrases = ["stephen fitzgerald", "noodle lamp"]
    listed = {w for p in phrases for w in p.split()}
    options = DecodingOptions(beam=2)
    copied = transcriber.decode_features(feats, phrases, options)
    assert any(t.text for t in copied)
    for t in copied:  # whole words of listed phrases only (pieces may stop mid-phrase)
        assert all(any(w.startswith(x) or x.startswith(w) for x in listed) for w in t.text.split())
    plain = transcriber.decode_features(feats, None, options)
    no_pointer = dataclasses.replace(options, pointer=False)
    assert transcriber.decode_features(feats, phrases, no_pointer) != copied
    no_deep = dataclasses.replace(options, deep_biasing=False)  # boost 0: the list is unused
    assert transcriber.decode_features(feats, phrases, no_deep) == plain
