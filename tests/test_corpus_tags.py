"""Tagged transcripts of the corpus: build then parse gives back text, intent and slots."""

from __future__ import annotations

from pathlib import Path

from lhotse import load_manifest

from catt.data.smarthome import SPLITS, plan_corpus
from catt.text.tags import Interpretation, Slot, build_tagged, parse_tagged, strip_tags


def _expected(text: str, intent: str, slots) -> Interpretation:
    return Interpretation(text, intent, tuple(Slot(s["type"], s["value"]) for s in slots))


def test_round_trip_over_every_utterance_of_the_tiny_corpus() -> None:
    plan = plan_corpus("tiny", ["en", "es", "fr"], seed=0)
    count = 0
    for split in SPLITS:
        for utt in plan.utterances[split]:
            tagged = build_tagged(utt.text, utt.intent, utt.slots)
            assert parse_tagged(tagged) == _expected(utt.text, utt.intent, utt.slots), tagged
            assert strip_tags(tagged) == utt.text
            count += 1
    assert count == 3750  # 3 x (1,000 + 100 + 50 + 100)


def test_round_trip_from_the_micro_manifests(micro_corpus: Path) -> None:
    path = micro_corpus / "manifests" / "smarthome_supervisions_train.jsonl.gz"
    sups = load_manifest(path)
    tagged = [build_tagged(s.text, s.custom["intent"], s.custom["slots"]) for s in sups]
    assert any("<contact>" in t for t in tagged) and any("<device>" in t for t in tagged)
    for sup, t in zip(sups, tagged):
        assert t.startswith(f"<intent:{sup.custom['intent']}> ")
        assert parse_tagged(t) == _expected(sup.text, sup.custom["intent"], sup.custom["slots"])
