"""The prepared micro corpus on disk: layout, manifests, audio, features, reruns, determinism."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import wave
from pathlib import Path

import pytest
from lhotse import CutSet, load_manifest
from lhotse.dataset import K2SpeechRecognitionDataset, SimpleCutSampler
from lhotse.qa import validate, validate_recordings_and_supervisions

from catt.data.features import compute_fbank
from catt.data.smarthome import prepare as prepare_module
from catt.data.smarthome import prepare_smarthome
from catt.data.smarthome.prepare import SIZES, plan_corpus
from catt.data.smarthome.stats import corpus_stats, format_stats
from catt.data.smarthome.synthesis import SynthesisJob, Voice, synthesize, wav_num_samples

SPLITS = ("train", "adapt", "dev", "test")


def _manifest(data: Path, kind: str, split: str):
    return load_manifest(data / "manifests" / f"smarthome_{kind}_{split}.jsonl.gz")


def _lines(path: Path) -> list:
    return path.read_text(encoding="utf-8").splitlines()


def test_layout_and_corpus_json(micro_corpus: Path) -> None:
    meta = json.loads((micro_corpus / "corpus.json").read_text())
    assert meta["size"] == "micro" and meta["langs"] == ["en", "es", "fr"] and meta["seed"] == 0
    assert [meta["splits"][s]["utterances"] for s in SPLITS] == [42, 12, 12, 12]
    for split in SPLITS:
        wavs = sorted((micro_corpus / "wav" / split).glob("*.wav"))
        assert len(wavs) == meta["splits"][split]["utterances"]
        for kind in ("recordings", "supervisions", "cuts"):
            assert (micro_corpus / "manifests" / f"smarthome_{kind}_{split}.jsonl.gz").is_file()
    homes = sorted(p.name for p in (micro_corpus / "households").iterdir())
    assert "en-train-000" in homes and "fr-test-001" in homes and "es-adapt-000" in homes
    assert len(homes) == 18
    assert not list(micro_corpus.rglob(".tmp-*"))


def test_manifests_validate_and_carry_the_contract_fields(micro_corpus: Path) -> None:
    for split in SPLITS:
        recs = _manifest(micro_corpus, "recordings", split)
        sups = _manifest(micro_corpus, "supervisions", split)
        validate_recordings_and_supervisions(recs, sups)
        validate(_manifest(micro_corpus, "cuts", split), read_data=split == "dev")
        assert {r.sampling_rate for r in recs} == {16000}
        assert {s.language for s in sups} == {"en", "es", "fr"}
        for sup in sups:
            assert sup.id == sup.recording_id and sup.start == 0.0
            assert sup.duration == pytest.approx(recs[sup.recording_id].duration)
            assert sup.speaker.startswith(sup.language)
            custom = sup.custom
            assert set(custom) == {"intent", "household", "slots"}
            assert custom["household"].startswith(f"{sup.language}-{split}-")
            home = micro_corpus / "households" / custom["household"]
            lists = {
                "contact": _lines(home / "contacts.txt"),
                "device": _lines(home / "devices.txt"),
            }
            for slot in custom["slots"]:
                assert sup.text[slot["start"] : slot["end"]] == slot["value"]
                if slot["type"] in lists:
                    assert slot["value"] in lists[slot["type"]]


def test_heldout_household_phrases_never_occur_in_training_text(micro_corpus: Path) -> None:
    texts = [f" {s.text} " for s in _manifest(micro_corpus, "supervisions", "train")]
    phrases = []
    for home in (micro_corpus / "households").iterdir():
        if "-train-" not in home.name:
            phrases += _lines(home / "contacts.txt") + _lines(home / "devices.txt")
    assert len(phrases) > 20
    for phrase in phrases:
        assert not any(f" {phrase} " in t for t in texts), phrase


def test_features_load_as_a_batch(micro_corpus: Path) -> None:
    cuts = _manifest(micro_corpus, "cuts", "train")
    assert isinstance(cuts, CutSet) and len(cuts) == 42
    sampler = SimpleCutSampler(cuts, max_duration=20.0, shuffle=False)
    batch_cuts = next(iter(sampler))
    batch = K2SpeechRecognitionDataset(return_cuts=True)[batch_cuts]
    feats = batch["inputs"]
    assert feats.ndim == 3 and feats.shape[0] == len(batch_cuts) and feats.shape[2] == 80
    assert batch["supervisions"]["text"][0] == batch["supervisions"]["cut"][0].supervisions[0].text
    cut = cuts[0]
    assert cut.num_features == 80 and cut.features.frame_shift == 0.01
    assert abs(cut.num_frames - cut.duration * 100) <= 2
    assert float(cut.load_features().std()) > 0.5  # speech, not silence


def test_wav_is_16khz_with_the_length_espeak_made(tmp_path: Path) -> None:
    voice = Voice("en-us", "f3", 160, 45)
    text = "call kaitlyn fitzgerald on the mobile"
    samples = synthesize(SynthesisJob(tmp_path / "a.wav", text, voice))
    raw = tmp_path / "raw.wav"
    cmd = ["espeak-ng", *voice.argv(), "-w", str(raw), text]
    subprocess.run(cmd, check=True)
    with wave.open(str(raw)) as w:
        assert w.getframerate() == 22050
        espeak_seconds = w.getnframes() / 22050
    assert wav_num_samples(tmp_path / "a.wav") == samples
    assert samples / 16000 == pytest.approx(espeak_seconds, abs=0.01)
    assert 1.0 < espeak_seconds < 5.0
    (tmp_path / "broken.wav").write_bytes(b"RIFF")
    assert wav_num_samples(tmp_path / "broken.wav") is None


def test_rerun_skips_finished_work(micro_corpus: Path) -> None:
    wavs = sorted(micro_corpus.rglob("*.wav"))
    before = {p: p.stat().st_mtime_ns for p in wavs + sorted(micro_corpus.rglob("*.jsonl.gz"))}
    prepare_smarthome(micro_corpus, size="micro", langs=["en", "es", "fr"], seed=0, num_jobs=1)
    compute_fbank(micro_corpus, num_jobs=1)
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_interrupted_run_resumes_and_is_deterministic(
    micro_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "en"
    prepare_smarthome(out, size="micro", langs=["en"], seed=0, num_jobs=2)
    # Same seed: the English part equals the fixture's (which also has es and fr).
    mine = _manifest(out, "supervisions", "test")
    theirs = [s for s in _manifest(micro_corpus, "supervisions", "test") if s.language == "en"]
    assert [(s.id, s.text, s.speaker, s.custom) for s in mine] == [
        (s.id, s.text, s.speaker, s.custom) for s in theirs
    ]
    first = sorted((out / "wav" / "test").glob("*.wav"))[0]
    assert first.read_bytes() == (micro_corpus / "wav" / "test" / first.name).read_bytes()

    # Simulate an interruption during the test split: no corpus.json, no test manifests,
    # one WAV missing.
    (out / "corpus.json").unlink()
    for kind in ("recordings", "supervisions"):
        (out / "manifests" / f"smarthome_{kind}_test.jsonl.gz").unlink()
    first.unlink()
    kept = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    prepare_smarthome(out, size="micro", langs=["en"], seed=0, num_jobs=1)
    assert first.is_file() and (out / "corpus.json").is_file()
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    assert [(s.id, s.text) for s in _manifest(out, "supervisions", "test")] == [
        (s.id, s.text) for s in mine
    ]

    # A corpus finished before the adapt split existed gets it on a rerun, and only it.
    meta = json.loads((out / "corpus.json").read_text())
    del meta["splits"]["adapt"]
    (out / "corpus.json").write_text(json.dumps(meta))
    adapt = sorted((out / "manifests").glob("*_adapt.jsonl.gz"))
    for path in adapt:
        path.unlink()
    kept = {
        p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != "corpus.json"
    }
    prepare_smarthome(out, size="micro", langs=["en"], seed=0, num_jobs=1)
    assert (
        all(p.is_file() for p in adapt)
        and "adapt" in json.loads((out / "corpus.json").read_text())["splits"]
    )
    assert {p: p.stat().st_mtime_ns for p in kept} == kept

    # A catt that plans the adapt split otherwise (here: more utterances) makes it anew on a
    # rerun, features included, and leaves the other splits alone.
    others = {
        p: p.stat().st_mtime_ns
        for p in out.rglob("*")
        if p.is_file() and p.name != "corpus.json" and "adapt" not in str(p.relative_to(out))
    }
    (out / "manifests" / "smarthome_cuts_adapt.jsonl.gz").write_bytes(b"old features")
    micro = SIZES["micro"]
    bigger = dataclasses.replace(micro, utterances={**micro.utterances, "adapt": 6})
    monkeypatch.setitem(SIZES, "micro", bigger)
    prepare_smarthome(out, size="micro", langs=["en"], seed=0, num_jobs=1)
    texts = [(s.id, s.text) for s in _manifest(out, "supervisions", "adapt")]
    plan = plan_corpus("micro", ["en"], 0)
    assert texts == [(u.id, u.text) for u in plan.utterances["adapt"]] and len(texts) == 6
    assert len(list((out / "wav" / "adapt").glob("*.wav"))) == 6
    assert not (out / "manifests" / "smarthome_cuts_adapt.jsonl.gz").exists()
    assert json.loads((out / "corpus.json").read_text())["splits"]["adapt"]["utterances"] == 6
    assert {p: p.stat().st_mtime_ns for p in others} == others

    # A catt that gives the dev split other voices (same ids and counts) makes dev anew too.
    others = {
        p: p.stat().st_mtime_ns
        for p in out.rglob("*")
        if p.is_file() and p.name != "corpus.json" and "dev" not in str(p.relative_to(out))
    }
    voice = Voice("en-us", "f1", 130, 30)
    real = prepare_module.sample_voice
    monkeypatch.setattr(
        prepare_module,
        "sample_voice",
        lambda lang, split, rng: voice if split == "dev" else real(lang, split, rng),
    )
    prepare_smarthome(out, size="micro", langs=["en"], seed=0, num_jobs=1)
    assert {s.speaker for s in _manifest(out, "supervisions", "dev")} == {voice.id}
    assert {p: p.stat().st_mtime_ns for p in others} == others


def test_corpus_stats_table(micro_corpus: Path) -> None:
    rows = corpus_stats(micro_corpus)
    assert len(rows) == 4 * 4  # train, adapt, dev, test; en, es, fr and all
    train_all = next(r for r in rows if r["split"] == "train" and r["lang"] == "all")
    assert train_all["utterances"] == 42 and train_all["households"] <= 6
    assert train_all["contacts"] > 0 and 0 < train_all["hours"] < 0.1
    table = format_stats(rows)
    assert table.count("\n") == 1 + len(rows) and "| test | fr |" in table


def test_a_tokenizer_of_the_training_text_spells_every_heldout_phrase(
    micro_corpus: Path, tmp_path: Path
) -> None:
    from catt.text.tags import build_tagged
    from catt.text.tokenizer import train_tokenizer

    sups = _manifest(micro_corpus, "supervisions", "train")
    texts = [build_tagged(s.text, s.custom["intent"], s.custom["slots"]) for s in sups]
    tokenizer = train_tokenizer(texts, tmp_path / "bpe.model", vocab_size=64)
    for home in (micro_corpus / "households").iterdir():
        for phrase in _lines(home / "contacts.txt") + _lines(home / "devices.txt"):
            if "-train-" not in home.name:
                assert tokenizer.encode_phrase(phrase)
