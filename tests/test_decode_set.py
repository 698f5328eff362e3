"""``catt decode``: household lists, distractors and the results file, on a two-household corpus."""

import json
from pathlib import Path
from typing import Any, List, Optional

import numpy as np
import pytest
import soundfile
import torch
from builders import TEXTS, FrameModel  # tests/ is on sys.path

import catt.decode.transcriber as transcriber_module
from catt.cli import main
from catt.context.phrases import Phrase
from catt.decode.decode_set import condition_name, decode_condition, draw_distractors
from catt.decode.transcriber import Transcriber
from catt.errors import CattError
from catt.text.tags import build_tagged
from catt.text.tokenizer import train_tokenizer

UTTERANCES = [
    ("en-test-000", "call stephen fitzgerald now", "call_contact", [("contact", 5, 23)]),
    ("en-test-000", "turn on the noodle lamp", "turn_on", [("device", 12, 23)]),
    ("en-test-001", "what time is it", "time", []),
]
LISTS = {
    "en-test-000": ("stephen fitzgerald\nsteven lee\n", "noodle lamp\n"),
    "en-test-001": ("ann lee\ndora fitz\n", "moon lamp\nfrost fan\n"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from lhotse import CutSet, Fbank, FbankConfig, Recording, SupervisionSegment
    from lhotse.cut import MonoCut

    data = tmp_path_factory.mktemp("data")
    for household, (contacts, devices) in LISTS.items():
        folder = data / "households" / household
        folder.mkdir(parents=True)
        (folder / "contacts.txt").write_text(contacts, encoding="utf-8")
        (folder / "devices.txt").write_text(devices, encoding="utf-8")
    cuts = []
    rng = np.random.default_rng(0)
    for i, (household, text, intent, slots) in enumerate(UTTERANCES):
        wav = data / "wav" / "test" / f"utt{i}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(wav), (0.1 * rng.standard_normal(4000)).astype("float32"), 16000)
        rec = Recording.from_file(wav, recording_id=f"utt{i}")
        sup = SupervisionSegment(
            id=f"utt{i}",
            recording_id=f"utt{i}",
            start=0.0,
            duration=rec.duration,
            text=text,
            language="en",
            custom={
                "intent": intent,
                "household": household,
                "slots": [
                    {"type": t, "value": text[s:e], "start": s, "end": e} for t, s, e in slots
                ],
            },
        )
        cuts.append(MonoCut(f"utt{i}", 0.0, rec.duration, 0, recording=rec, supervisions=[sup]))
    cuts = CutSet.from_cuts(cuts).compute_and_store_features(
        Fbank(FbankConfig(num_mel_bins=80)), storage_path=data / "fbank"
    )
    (data / "manifests").mkdir()
    cuts.to_file(data / "manifests" / "smarthome_cuts_test.jsonl.gz")
    return data


@pytest.fixture()
def stand_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FrameModel:
    tok = train_tokenizer(TEXTS, tmp_path / "bpe.model", 30)
    model = FrameModel(tok.vocab_size)
    transcriber = Transcriber(model, tok)
    monkeypatch.setattr(transcriber_module, "load", lambda path, device=None: transcriber)
    return model


def read(path: Path) -> List[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_results_file_fields(corpus: Path, stand_in, tmp_path: Path) -> None:
    out = decode_condition(
        model_path="m.pt", data_dir=corpus, split="test", out_path=tmp_path / "r.jsonl",
        distractors=2, context=True, deep_biasing=True, boost=1.5, beam=2, condition=None,
        seed=0, limit=None,
    )  # fmt: skip
    rows = read(out)
    assert [r["id"] for r in rows] == ["utt0", "utt1", "utt2"]
    first = rows[0]
    assert first["condition"] == "deep+boost+2"
    assert (first["distractors"], first["deep_biasing"], first["boost"]) == (2, True, 1.5)
    assert first["household"] == "en-test-000" and first["language"] == "en"
    assert first["biasing_list"] == ["stephen fitzgerald", "steven lee", "noodle lamp"]
    text, intent, slots = UTTERANCES[0][1:]
    assert first["ref_tagged"] == build_tagged(
        text, intent, [{"type": t, "start": s, "end": e} for t, s, e in slots]
    )
    assert first["ref"] == {
        "text": text,
        "intent": intent,
        "slots": [{"type": "contact", "value": "stephen fitzgerald"}],
    }
    assert set(first["hyp"]) == {"text", "intent", "slots"}
    assert rows[2]["biasing_list"] == ["ann lee", "dora fitz", "moon lamp", "frost fan"]
    # one phrase-vector computation per household list
    assert stand_in.phrase_calls == 2


def test_no_context_and_limit_through_the_cli(corpus: Path, stand_in, tmp_path: Path) -> None:
    out = tmp_path / "none.jsonl"
    args = ["decode", "--model", "m.pt", "--data", str(corpus), "--out", str(out)]
    assert main([*args, "--no-context", "--boost", "2", "--limit", "2"]) == 0
    rows = read(out)
    assert len(rows) == 2
    assert {r["condition"] for r in rows} == {"no-context"}
    assert all(r["boost"] == 0.0 and r["deep_biasing"] is False for r in rows)
    assert rows[0]["biasing_list"] == ["stephen fitzgerald", "steven lee", "noodle lamp"]
    assert stand_in.phrase_calls == 0
    assert all(r["resolve"] is False for r in rows)


def test_resolve_needs_a_ctc_head_one_line(corpus: Path, stand_in, tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.jsonl"
    args = ["decode", "--model", "m.pt", "--data", str(corpus), "--out", str(out), "--resolve"]
    assert main(args) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the progress bar
    assert last.startswith("catt: error:") and "CTC head" in last and "Traceback" not in err
    assert not out.exists()


def test_missing_manifest_is_one_line(tmp_path: Path, capsys) -> None:
    args = ["decode", "--model", "m.pt", "--data", str(tmp_path), "--out", str(tmp_path / "r")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "smarthome_cuts_test.jsonl.gz is missing" in err and "Traceback" not in err


def test_distractors_are_deterministic_and_foreign() -> None:
    own = [Phrase("ann"), Phrase("bob")]
    pool = [Phrase(f"p{i}") for i in range(50)] + own
    a = draw_distractors(own, pool, 10, seed=3, household="h")
    assert a == draw_distractors(own, list(reversed(pool)), 10, seed=3, household="h")
    assert a != draw_distractors(own, pool, 10, seed=4, household="h")
    assert len({p.text for p in a}) == 10 and not {"ann", "bob"} & {p.text for p in a}
    assert len(draw_distractors(own, pool, 1000, seed=0, household="h")) == 50


@pytest.mark.parametrize(
    ("context", "deep", "boost", "n", "name"),
    [
        (False, True, 2.0, 100, "no-context"),
        (True, True, 0.0, 0, "deep+0"),
        (True, False, 2.0, 10, "boost+10"),
        (True, True, 2.0, 1000, "deep+boost+1000"),
        (True, False, 0.0, 0, "list+0"),
    ],
)
def test_condition_names(context, deep, boost, n, name) -> None:
    assert condition_name(context=context, deep_biasing=deep, boost=boost, distractors=n) == name


def test_condition_names_with_resolution() -> None:
    def name(context: bool, deep: bool, boost: float) -> str:
        return condition_name(
            context=context, deep_biasing=deep, boost=boost, distractors=100, resolve=True
        )

    assert name(True, True, 2.0) == "deep+boost+resolve+100"
    assert name(True, False, 0.0) == "resolve+100"
    assert name(False, True, 2.0) == "no-context"


def test_features_match_compute_features(corpus: Path) -> None:
    """Inference features (catt.audio) are the ones the corpus stores for training."""
    from lhotse import load_manifest

    from catt.audio import compute_features, load_audio

    cut = load_manifest(corpus / "manifests" / "smarthome_cuts_test.jsonl.gz")[0]
    stored = torch.as_tensor(cut.load_features())
    fresh = compute_features(load_audio(corpus / "wav" / "test" / "utt0.wav"))
    assert stored.shape == fresh.shape
    assert torch.allclose(stored, fresh, atol=0.05)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """A random micro transducer with its tokenizer, in a model file a new process can load."""
    from catt.model import ModelConfig, build_model, save_model

    folder = tmp_path_factory.mktemp("exp")
    tok = train_tokenizer(TEXTS, folder / "bpe.model", 30)
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("micro", vocab_size=tok.vocab_size)).eval()
    with torch.no_grad():  # a random model that emits symbols: lower the blank logit
        model.joiner.out.bias[tok.blank_id] -= 3.0
    return save_model(folder / "model.pt", model, tok)


def test_two_processes_write_what_one_does(corpus: Path, model_file: Path, tmp_path: Path) -> None:
    def decode(jobs: int) -> str:
        out = decode_condition(
            model_path=model_file, data_dir=corpus, split="test",
            out_path=tmp_path / f"jobs{jobs}.jsonl", distractors=2, context=True,
            deep_biasing=True, boost=1.0, beam=2, condition=None, seed=0, limit=None, jobs=jobs,
        )  # fmt: skip
        return out.read_text(encoding="utf-8")

    one = decode(1)
    assert any(json.loads(line)["hyp_tagged"] for line in one.splitlines())  # it emits symbols
    assert decode(2) == one


def test_bad_model_or_jobs_fail_before_any_process(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    broken = tmp_path / "model.pt"
    broken.write_bytes(b"not a model")
    args = ["decode", "--model", str(broken), "--data", str(corpus), "--out", str(tmp_path / "r")]
    assert main([*args, "--jobs", "2"]) == 2
    err = capsys.readouterr().err
    assert "model.pt" in err and "Traceback" not in err
    assert main([*args, "--jobs", "0"]) == 2
    assert "--jobs must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_more_weights_write_what_separate_decodes_do(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from catt.model import ModelConfig, build_model, save_model

    tok = train_tokenizer(TEXTS, tmp_path / "bpe.model", 30)
    torch.manual_seed(0)
    config = {"preset": "micro", "vocab_size": tok.vocab_size, "ctc_weight": 0.3}
    model = build_model(ModelConfig.from_dict({**config, "biasing": {"pointer": True}})).eval()
    with torch.no_grad():
        model.joiner.out.bias[tok.blank_id] -= 3.0
    model_path = save_model(tmp_path / "model.pt", model, tok)

    def decode(weight: Optional[float], name: str, **more: Any) -> Path:
        return decode_condition(
            model_path=model_path, data_dir=corpus, split="test", out_path=tmp_path / name,
            distractors=2, context=True, deep_biasing=True, boost=1.0, beam=2, condition=name,
            seed=0, limit=None, resolve=weight is not None, resolve_transducer=weight or 0.0,
            **more,
        )  # fmt: skip

    more = [(0.0, tmp_path / "shared-0", None), (1.0, tmp_path / "shared-1", "shared-1")]
    decode(0.25, "shared", more_weights=[*more, (None, tmp_path / "shared-none", None)])
    names = {"": "shared", "-0": "shared:0", "-1": "shared-1", "-none": "shared:unresolved"}
    for weight, suffix in [(0.25, ""), (0.0, "-0"), (1.0, "-1"), (None, "-none")]:
        alone = decode(weight, f"alone{suffix}").read_text(encoding="utf-8").splitlines()
        shared = (tmp_path / f"shared{suffix}").read_text(encoding="utf-8").splitlines()
        assert len(shared) == len(alone) > 0
        for a, s in zip(alone, shared):
            a, s = json.loads(a), json.loads(s)
            assert s["condition"] == names[suffix]
            assert s["resolve"] is (weight is not None)
            assert {**s, "condition": None} == {**a, "condition": None}
    # resolution that empties every hypothesis leaves the unresolved output as the search wrote it
    monkeypatch.setattr(transcriber_module, "resolve_spans", lambda *args, **kwargs: [])
    decode(0.25, "emptied", more_weights=[(None, tmp_path / "emptied-none", None)])
    hyps = [json.loads(line)["hyp_tagged"] for line in (tmp_path / "emptied").open()]
    assert hyps and set(hyps) == {""}
    assert (tmp_path / "emptied-none").read_text(encoding="utf-8").replace(
        "emptied:unresolved", "alone-none"
    ) == (tmp_path / "alone-none").read_text(encoding="utf-8")
    with pytest.raises(CattError, match="resolve_transducer"):
        decode(0.25, "bad", more_weights=[(2.0, tmp_path / "bad-2", None)])
    assert not (tmp_path / "bad").exists()


def test_a_conditions_file_decodes_as_single_decodes_do_and_resumes(
    corpus: Path, model_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    conditions = tmp_path / "conditions.txt"
    conditions.write_text(
        "# name, then the flags of catt decode\n"
        "no-context --no-context\n\n"
        "deep+boost+2 --boost 1 --distractors 2  # beam 2 from the command line\n"
        "resolve --boost 1 --no-deep-biasing --beam 3\n",
        encoding="utf-8",
    )
    common = ["decode", "--model", str(model_file), "--data", str(corpus), "--beam", "2"]
    many = [*common, "--conditions", str(conditions), "--out-dir", str(tmp_path / "many")]
    assert main([*many, "--jobs", "2", "--prefix", "test/"]) == 0
    singles = {
        "no-context": ["--no-context"],
        "deep+boost+2": ["--boost", "1", "--distractors", "2"],
        "resolve": ["--boost", "1", "--no-deep-biasing", "--beam", "3"],
    }
    for name, flags in singles.items():
        alone = tmp_path / f"{name}.jsonl"
        assert main([*common, *flags, "--out", str(alone), "--condition", f"test/{name}"]) == 0
        assert (tmp_path / "many" / f"{name}.jsonl").read_text() == alone.read_text()
    assert read(tmp_path / "many" / "resolve.jsonl")[0]["boost"] == 1.0

    # A rerun decodes nothing; a changed line decodes that condition alone.
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "many").glob("*.jsonl")}
    conditions.write_text(
        conditions.read_text().replace("--no-deep-biasing --beam 3", "--beam 3"), encoding="utf-8"
    )
    with caplog.at_level("INFO"):
        assert main([*many, "--prefix", "test/"]) == 0
    assert "no-context: decoded already with these settings" in caplog.text
    again = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "many").glob("*.jsonl")}
    assert [n for n in stamps if again[n] != stamps[n]] == ["resolve.jsonl"]
    assert read(tmp_path / "many" / "resolve.jsonl")[0]["deep_biasing"] is True


@pytest.mark.parametrize(
    "text, flags, message",
    [
        (None, [], "cannot read it"),
        ("# nothing\n", [], "no condition in it"),
        ("a --boost 1\nb --boots 2\n", [], "line 2: unrecognized arguments: --boots 2"),
        ("a --boost one\n", [], "line 1: argument --boost: invalid float value: 'one'"),
        ("a --boost 1\na --boost 2\n", [], "line 2: condition a is named twice"),
        ("a/b --boost 1\n", [], "line 1: a condition name"),
        ("a 'open\n", [], "line 1: No closing quotation"),
        ("a --boost 1\n", ["--out", "x.jsonl"], "--conditions FILE takes --out-dir DIR"),
    ],
)
def test_a_bad_conditions_file_is_one_line(
    corpus: Path, tmp_path: Path, capsys, text: Optional[str], flags: List[str], message: str
) -> None:
    conditions = tmp_path / "conditions.txt"
    if text is not None:
        conditions.write_text(text, encoding="utf-8")
    args = ["decode", "--model", "m.pt", "--data", str(corpus), "--conditions", str(conditions)]
    assert main([*args, "--out-dir", str(tmp_path / "out"), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(tmp_path.glob("out/*.jsonl"))
