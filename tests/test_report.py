"""``catt report``: reading results files, report.json / report.md / distractors.png."""

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from catt.cli import main
from catt.errors import CattError
from catt.metrics.report import write_report
from catt.metrics.results import load_results

LIST = ["kaitlyn fitzgerald", "noodle lamp"]
METRICS = ("utterances", "wer", "b_wer", "u_wer", "intent_acc", "slot_acc", "slot_f1", "slu_f1")
CONDITIONS = [  # name, deep_biasing, boost, distractors
    ("no-context", False, 0.0, 0),
    ("deep", True, 0.0, 0),
    ("deep+boost", True, 2.0, 0),
    ("deep+boost+10", True, 2.0, 10),
    ("deep+boost+100", True, 2.0, 100),
]


def record(
    uid: str,
    condition: str = "deep+boost",
    *,
    deep: bool = True,
    boost: float = 2.0,
    distractors: int = 0,
    language: str = "en",
    ref: str = "call kaitlyn fitzgerald now",
    hyp: Optional[str] = None,
    hyp_intent: str = "call_contact",
) -> Dict[str, Any]:
    """One results line; the contact slot is read off the hypothesis words."""
    hyp = ref if hyp is None else hyp

    def slots(text: str) -> List[Dict[str, str]]:
        words = text.split()
        return [{"type": "contact", "value": " ".join(words[1:3])}] if len(words) > 3 else []

    return {
        "id": uid,
        "condition": condition,
        "distractors": distractors,
        "deep_biasing": deep,
        "boost": boost,
        "language": language,
        "household": "en-test-001",
        "biasing_list": LIST,
        "ref_tagged": "",
        "hyp_tagged": "",
        "ref": {"text": ref, "intent": "call_contact", "slots": slots(ref)},
        "hyp": {"text": hyp, "intent": hyp_intent, "slots": slots(hyp)},
    }


def write_lines(path: Path, lines: List[Any]) -> Path:
    text = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def results(tmp_path: Path) -> List[Path]:
    """One file per condition; en gets better with biasing, es stays the same."""
    paths = []
    for i, (name, deep, boost, distractors) in enumerate(CONDITIONS):
        settings = dict(condition=name, deep=deep, boost=boost, distractors=distractors)
        wrong = "call caitlin fitzgerald now"
        lines = [
            record("en-1", **settings, hyp=wrong if i == 0 else None),
            record("en-2", **settings, hyp=wrong if i < 2 else None),
            record("es-1", **settings, language="es", hyp=wrong, hyp_intent="turn_on"),
            record("es-2", **settings, language="es", ref="que hora es"),
        ]
        paths.append(write_lines(tmp_path / f"{name}.jsonl", lines))
    return paths


def test_report_json_has_every_condition_and_metric(results: List[Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    report_md = write_report(results, out)
    assert report_md == out / "report.md"
    report = json.loads((out / "report.json").read_text())
    names = [c["name"] for c in report["conditions"]]
    assert names == [name for name, *_ in CONDITIONS]  # first-seen order
    for cond, (_, deep, boost, distractors) in zip(report["conditions"], CONDITIONS):
        assert (cond["deep_biasing"], cond["boost"], cond["distractors"]) == (
            deep,
            boost,
            distractors,
        )
        assert set(METRICS) <= set(cond)
        assert sorted(cond["by_language"]) == ["en", "es"]
        for lang in ("en", "es"):
            assert set(METRICS) <= set(cond["by_language"][lang])
    no_context = report["conditions"][0]
    # 3 of the 4 utterances substitute "kaitlyn": 3 errors over 4+4+4+3 = 15 words;
    # B-words: kaitlyn fitzgerald in 3 utterances = 6, 3 wrong; U-words 9, none wrong.
    assert no_context["wer"] == pytest.approx(100 * 3 / 15)
    assert no_context["b_wer"] == pytest.approx(50.0)
    assert no_context["u_wer"] == pytest.approx(0.0)
    assert no_context["b_errors"] == {"substitutions": 3, "deletions": 0, "insertions": 0}
    assert no_context["u_errors"] == {"substitutions": 0, "deletions": 0, "insertions": 0}
    assert no_context["intent_acc"] == pytest.approx(75.0)
    assert no_context["slot_acc"] == pytest.approx(0.0)  # 3 reference slots, all wrong
    assert no_context["slot_f1"] == pytest.approx(0.0)
    assert 0 < no_context["slu_f1"] < 100  # right type, partly right values
    en, es = no_context["by_language"]["en"], no_context["by_language"]["es"]
    assert (en["utterances"], es["utterances"]) == (2, 2)
    assert en["b_wer"] == pytest.approx(50.0)
    assert es["intent_acc"] == pytest.approx(50.0)
    best = report["conditions"][2]["by_language"]["en"]
    assert (best["wer"], best["b_wer"], best["slot_acc"], best["slu_f1"]) == (0, 0, 100, 100)


def test_report_markdown_and_plot(results: List[Path], tmp_path: Path) -> None:
    out = tmp_path / "report"
    text = write_report(results, out).read_text()
    for name, *_ in CONDITIONS:
        assert f"| {name} |" in text
    assert "| WER | B-WER | U-WER | intent acc | slot acc | slot F1 | SLU-F1 |" in text
    assert "## Language: en" in text and "## Language: es" in text
    assert "| 20.0 | 50.0 | 0.0 | 75.0 | 0.0 | 0.0 |" in text  # no-context row, one decimal
    assert "## Legend" in text
    png = (out / "distractors.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["distractors.png", "report.json", "report.md"]


def test_report_markdown_compares_with_no_context(results: List[Path], tmp_path: Path) -> None:
    text = write_report(results, tmp_path / "report").read_text()
    # B-WER 50 % without context (en 50, es 50); deep: 2/6, en 1/4, es 1/2; U-WER 0: undefined
    header = "| condition | B-WER all | B-WER en | B-WER es | U-WER all | U-WER en | U-WER es |"
    assert header in text
    assert "| deep | -33.3 | -50.0 | +0.0 | - | - | - |" in text
    assert "| deep+boost | -66.7 | -100.0 | +0.0 | - | - | - |" in text
    assert "| no-context | -" not in text  # the reference is not compared with itself
    assert "| condition | contact en | contact es |" in text  # no device slot in the results
    assert "| no-context | 0.0 | 0.0 |" in text and "| deep+boost | 100.0 | 0.0 |" in text
    assert "| condition | B sub | B del | B ins | U sub | U del | U ins |" in text
    assert "| no-context | 3 | 0 | 0 | 0 | 0 | 0 |" in text  # kaitlyn -> caitlin, 3 times
    without = write_report(results[1:], tmp_path / "without").read_text()
    assert "## Change against no context" not in without
    assert "## List slot accuracy by language" in without


def test_undefined_metrics_are_null_and_dashed(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "r.jsonl",
        [record("a", "no-context", deep=False, boost=0.0, ref="que hora es", hyp="que hora")],
    )
    out = tmp_path / "out"
    text = write_report([path], out).read_text()
    cond = json.loads((out / "report.json").read_text())["conditions"][0]
    assert cond["b_wer"] is None and cond["slot_acc"] is None and cond["slot_f1"] is None
    assert cond["u_wer"] == pytest.approx(100 / 3)
    assert "| 33.3 | - | 33.3 | 100.0 | - | - | - |" in text
    assert (out / "distractors.png").exists()  # a plot with only the no-context lines


def bad_file(tmp_path: Path, bad: Any) -> Path:
    return write_lines(tmp_path / "bad.jsonl", [record("a"), record("b"), bad, record("c")])


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"id": "x", "condition": ', "malformed JSON"),
        ("[1, 2]", "line must be a JSON object"),
        ({k: v for k, v in record("x").items() if k != "hyp"}, "missing field 'hyp'"),
        ({**record("x"), "ref": {"intent": None, "slots": []}}, "missing field 'ref.text'"),
        ({**record("x"), "distractors": "ten"}, "field 'distractors' must be an integer"),
        (
            {**record("x"), "hyp": {"text": "", "intent": None, "slots": [{"type": "device"}]}},
            "missing field 'hyp.slots[0].value'",
        ),
    ],
    ids=["json", "not-object", "hyp", "ref.text", "distractors", "slot-value"],
)
def test_bad_line_names_file_and_line(tmp_path: Path, bad: Any, message: str) -> None:
    path = bad_file(tmp_path, bad)
    with pytest.raises(CattError) as err:
        load_results([path])
    assert str(err.value).startswith(f"{path}:3: ")
    assert message in str(err.value)


def test_cli_report_error_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = bad_file(tmp_path, {k: v for k, v in record("x").items() if k != "language"})
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"catt: error: {path}:3: missing field 'language'"
    assert not (tmp_path / "out" / "report.md").exists()


def test_cli_report_writes_the_report(
    results: List[Path], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    assert main(["report", *map(str, results), "--out", str(out)]) == 0
    assert "| deep+boost+100 |" in capsys.readouterr().out
    assert (out / "report.json").exists()


def test_missing_file_and_empty_results(tmp_path: Path) -> None:
    with pytest.raises(CattError, match="results file not found"):
        load_results([tmp_path / "nope.jsonl"])
    empty = write_lines(tmp_path / "empty.jsonl", [""])
    with pytest.raises(CattError, match="no utterance in"):
        load_results([empty])


def test_condition_with_mixed_settings_is_refused(tmp_path: Path) -> None:
    a = write_lines(tmp_path / "a.jsonl", [record("1", distractors=10)])
    b = write_lines(tmp_path / "b.jsonl", [record("2", distractors=100)])
    expected = (
        rf"{re.escape(str(b))}:1: .*distractors=100, but distractors=10 at {re.escape(str(a))}:1"
    )
    with pytest.raises(CattError, match=expected):
        load_results([a, b])


def test_duplicate_utterance_in_a_condition_is_refused(tmp_path: Path) -> None:
    a = write_lines(tmp_path / "a.jsonl", [record("1"), record("1", "deep", boost=0.0)])
    assert [len(v) for v in load_results([a]).values()] == [1, 1]  # same id, two conditions
    with pytest.raises(CattError, match=r"a.jsonl:1: utterance '1' .* already read at .*a.jsonl:1"):
        load_results([a, a])


def test_resolve_is_read_and_reported(tmp_path: Path) -> None:
    old = write_lines(tmp_path / "old.jsonl", [record("1")])  # written before "resolve" existed
    on = dict(record("1", "deep+boost+resolve"), resolve=True)
    new = write_lines(tmp_path / "new.jsonl", [on])
    groups = load_results([old, new])
    assert [g[0].resolve for g in groups.values()] == [False, True]
    text = write_report([old, new], tmp_path / "report").read_text()
    assert "| deep+boost+resolve | deep+boost (2)+resolve |" in text
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert [c["resolve"] for c in report["conditions"]] == [False, True]
    mixed = write_lines(tmp_path / "mixed.jsonl", [dict(on, id="2", resolve=False)])
    with pytest.raises(CattError, match="resolve=False, but resolve=True"):
        load_results([new, mixed])
    bad = write_lines(tmp_path / "bad.jsonl", [dict(on, resolve="yes")])
    with pytest.raises(CattError, match="bad.jsonl:1: .*resolve"):
        load_results([bad])
