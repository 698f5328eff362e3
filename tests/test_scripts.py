"""Helpers of the analysis scripts under scripts/ (their entry points need a trained model)."""

import importlib.util
from pathlib import Path

import torch

from catt.metrics.results import UtteranceResult
from catt.text.tags import Interpretation, Slot

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_names_column_counts_aligned_hits_inside_contact_and_device_slots(capsys) -> None:
    script = _module("ctc_vs_transducer")
    refs = ["call ann lee now", "turn on the noodle lamp"]
    slots = [
        [{"type": "contact", "start": 5, "end": 12}],
        [{"type": "device", "start": 12, "end": 23}, {"type": "city", "start": 0, "end": 4}],
    ]
    names = [script.name_positions(r, s) for r, s in zip(refs, slots)]
    assert names == [{1, 2}, {3, 4}]
    # "lee" is substituted, "noodle" deleted; "turn" is right but not a name word
    script.score("probe", refs, ["call ann li now", "turn on the lamp"], names)
    row = capsys.readouterr().out.strip().strip("|").split("|")
    assert [c.strip() for c in row][-1] == "50.0"  # ann and lamp of ann, lee, noodle, lamp


def test_list_probe_distractors_are_other_names_drawn_the_same_way_each_time() -> None:
    script = _module("list_probe")
    pool = ["ann lee", "bob ray", "cy twain", "di fox", "ed moon"]
    own = ["bob ray"]
    drawn = script.with_distractors(own, pool, 3, "cut-7")
    assert drawn[0] == "bob ray" and len(drawn) == 4
    assert "bob ray" not in drawn[1:] and set(drawn[1:]) <= set(pool)
    assert drawn == script.with_distractors(own, pool, 3, "cut-7")
    assert len(script.with_distractors(own, pool, 50, "cut-7")) == 5  # the pool runs out
    assert script.with_distractors(own, pool, 0, "cut-7") == own


def test_pointer_trace_marks_blank_and_the_model_own_choice() -> None:
    script = _module("pointer_trace")
    steps = [(5, 5, 0.004, 40), (7, 6, 0.97, 3), (0, 0, 0.5, 3)]
    trace = script.format_trace(steps, lambda i: f"p{i}", blank_id=0)
    assert trace == "p5:0.00/40 p7[p6]:0.97/3 .:0.50/3"
    rows = [
        {"id": "a", "ref": {"text": "put the pumpkin lights on"}, "hyp": {"text": "put the pump"}},
        {"id": "b", "ref": {"text": "call ann lee"}, "hyp": {"text": "call ann"}},
        {"id": "c", "ref": {"text": "call ann lee now"}, "hyp": {"text": "call"}},
    ]
    assert script.truncated(rows) == ["a", "c"]  # b lost one word only


def test_voice_breakdown_splits_list_slots_by_voice_group() -> None:
    script = _module("voice_breakdown")
    assert script.voice_group("en-us-nyc+zac-s180-p60") == "held-out"
    assert script.voice_group("en-gb-x-rp+m4-s150-p35") == "seen"
    assert script.voice_variant("en-gb-x-rp+m4-s150-p35") == "m4"
    assert script.voice_accent("en-gb-x-rp+m4-s150-p35") == "en-gb-x-rp"

    def row(cut: str, ref: list, hyp: list) -> UtteranceResult:
        def meaning(slots: list) -> Interpretation:
            return Interpretation("", None, tuple(slots))

        return UtteranceResult(
            cut, "c", 0, True, 0.0, False, "en", (), meaning(ref), meaning(hyp), f"{cut}:1"
        )

    ann = Slot("contact", "ann lee")
    lamp = Slot("device", "noodle lamp")
    rows = [
        row("a", [ann, Slot("number", "ten")], [ann]),
        row("b", [ann], [Slot("device", "ann lee")]),  # right value, wrong type
        row("c", [lamp], [lamp]),
    ]
    right, total = script.slot_counts(rows, {"a": "seen", "b": "held-out", "c": "held-out"})
    assert total == {
        ("en", "seen", "contact"): 1,
        ("en", "held-out", "contact"): 1,
        ("en", "held-out", "device"): 1,
    }
    assert right[("en", "seen", "contact")] == 1 and right[("en", "held-out", "contact")] == 0
    table = script.format_table("r.jsonl", right, total)
    assert "| en | held-out | 0.0 (1) | 100.0 (1) |" in table
    assert "| en | seen | 100.0 (1) | - |" in table


def test_spot_probe_ranks_the_said_phrase_at_each_bonus() -> None:
    script = _module("spot_probe")
    scores = torch.tensor([-1.0, -4.0, -9.0])  # a short phrase fits best with no bonus
    lengths = [1, 3, 5]  # bonus 2: 1, 2, 1; bonus 3: 2, 5, 6
    assert script.said_ranks(scores, lengths, said=0, bonuses=[0, 2, 3]) == {0: 0, 2: 2, 3: 2}
    assert script.said_ranks(scores, lengths, said=2, bonuses=[0, 2, 3]) == {0: 2, 2: 2, 3: 0}


def test_unknown_words_drops_only_inserted_words_outside_training_and_list() -> None:
    script = _module("unknown_words")

    def row(ref: str, hyp: str, phrases: tuple) -> UtteranceResult:
        return UtteranceResult(
            "u", "c", 0, True, 0.0, False, "en", phrases,
            Interpretation(ref, "turn_on", []), Interpretation(hyp, "turn_on", []), "u:1",
        )  # fmt: skip

    known = {"switch", "on", "the", "heater"}
    rows = [
        # "thun" and "th" are inserted pieces of a name: unknown, dropped
        row("switch on the thunder heater", "switch on the thun thunder heater th", ("thunder",)),
        # "zap" stands for a reference word (a substitution), and "on" is known: both stay
        row("switch on the zappy", "switch on on the zap", ("zappy",)),
    ]
    s = script.summary(rows, known)
    assert (s["utterances"], s["insertions"], s["unknown_insertions"]) == (2, 3, 2)
    assert s["unknown"] == 3  # thun, th, zap; thunder is a list word
    # U-words: switch on the heater switch on the = 7; errors: thun, th, the extra "on"
    assert round(s["u_wer"], 4) == round(300 / 7, 4)
    assert round(s["u_wer_without"], 4) == round(100 / 7, 4)
