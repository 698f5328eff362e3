"""``catt report``: score results files per condition and language; write md, json and a plot.

``write_report(paths, out_dir)`` writes, atomically:

- ``out_dir/report.json``: ``{"conditions": [{"name", "distractors", "deep_biasing", "boost",
  "resolve", "utterances", "wer", "b_wer", "u_wer", "intent_acc", "slot_acc", "slot_f1",
  "slu_f1", ..., "by_language": {"en": {same metrics}, ...}}]}``; rates in percent, null when
  undefined;
- ``out_dir/report.md``: one table over all languages, one per language, the change of B-WER and
  U-WER against no context, B- and U-word errors by kind, list-slot accuracy per language, slot F1
  by type, a legend;
- ``out_dir/distractors.png``: B-WER and slot accuracy against the number of distractors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from catt.context.sampling import BIASED_SLOT_TYPES
from catt.io import atomic_write_text
from catt.metrics.biasing import biased_word_errors
from catt.metrics.plot import plot_distractors
from catt.metrics.results import UtteranceResult, condition_mode, load_results
from catt.metrics.slu import intent_accuracy, slot_scores, slu_f1_scores
from catt.metrics.wer import ErrorCounts

__all__ = ["score_utterances", "build_report", "render_markdown", "write_report"]

PathLike = Union[str, Path]

# (json key, column title) of the main tables, in order.
_COLUMNS = (
    ("wer", "WER"),
    ("b_wer", "B-WER"),
    ("u_wer", "U-WER"),
    ("intent_acc", "intent acc"),
    ("slot_acc", "slot acc"),
    ("slot_f1", "slot F1"),
    ("slu_f1", "SLU-F1"),
)

_LEGEND = """\
- WER: word error rate on the words (tags removed), total errors / total reference words.
- B-WER / U-WER: word errors on the reference words that are / are not words of the
  household's own phrase list (Le et al. 2021); an inserted word counts toward B-WER when it is
  a list word. The B-words are the same in every condition, distractors never count.
- intent acc: utterances whose intent is right. slot acc: reference slots found with the same
  type and exactly the same value. slot F1: exact type+value match F1.
- SLU-F1: SLURP's span F1 where a slot of the right type with a wrong value earns partial
  credit from the word- and char-level distance of the values (see docs/metrics.md).
- Change against no context: (value - value without context) / value without context, in
  percent, per language and over all; negative is better.
- Word errors by kind: substitutions, deletions and insertions among the B- and U-word errors
  (counts, not percentages).
- All other numbers are percentages; "-" means undefined (no reference word or slot to score).
"""


def score_utterances(results: Sequence[UtteranceResult]) -> Dict[str, Any]:
    """Every metric over ``results`` (one condition, possibly one language): a JSON-ready dict."""
    refs = [r.ref for r in results]
    hyps = [r.hyp for r in results]
    words = biased_word_errors(
        [x.text for x in refs], [x.text for x in hyps], [r.biasing_list for r in results]
    )
    slots = slot_scores([x.slots for x in refs], [x.slots for x in hyps])
    slu = slu_f1_scores([x.slots for x in refs], [x.slots for x in hyps])
    return {
        "utterances": len(results),
        "wer": words.wer,
        "b_wer": words.b_wer,
        "u_wer": words.u_wer,
        "intent_acc": intent_accuracy([x.intent for x in refs], [x.intent for x in hyps]),
        "slot_acc": slots.accuracy,
        "slot_f1": slots.f1,
        "slu_f1": slu.slu_f1,
        "ref_words": words.overall.ref_words,
        "b_words": words.biased.ref_words,
        "b_errors": _kinds(words.biased),
        "u_errors": _kinds(words.unbiased),
        "slot_precision": slots.precision,
        "slot_recall": slots.recall,
        "slu_word_f1": slu.word_f1,
        "slu_char_f1": slu.char_f1,
        "slot_by_type": {
            t: {
                "ref": int(c.tp + c.fn),
                "hyp": int(c.tp + c.fp),
                "acc": c.recall,
                "precision": c.precision,
                "recall": c.recall,
                "f1": c.f1,
            }
            for t, c in slots.by_type.items()
        },
    }


def _kinds(counts: ErrorCounts) -> Dict[str, int]:
    """Word errors by kind."""
    return {
        "substitutions": counts.substitutions,
        "deletions": counts.deletions,
        "insertions": counts.insertions,
    }


def _score_condition(name: str, results: List[UtteranceResult]) -> Dict[str, Any]:
    first = results[0]
    languages = sorted({r.language for r in results})
    return {
        "name": name,
        "distractors": first.distractors,
        "deep_biasing": first.deep_biasing,
        "boost": first.boost,
        "resolve": first.resolve,
        **score_utterances(results),
        "by_language": {
            lang: score_utterances([r for r in results if r.language == lang]) for lang in languages
        },
    }


def build_report(groups: Dict[str, List[UtteranceResult]]) -> Dict[str, Any]:
    """The report.json content for results grouped by condition (first-seen order kept)."""
    return {"conditions": [_score_condition(n, rs) for n, rs in groups.items()]}


def _fmt(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.1f}"


def _table(rows: List[List[str]], header: List[str]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _context(cond: Dict[str, Any]) -> str:
    """The mode with the boost weight beside ``boost``: ``deep+boost (2)+resolve``."""
    mode = condition_mode(cond)
    return mode.replace("boost", f"boost ({cond['boost']:g})") if cond["boost"] > 0 else mode


def _metric_rows(conditions: List[Dict[str, Any]], language: Optional[str]) -> List[List[str]]:
    rows = []
    for cond in conditions:
        scores = cond if language is None else cond["by_language"].get(language)
        if scores is None:
            continue
        head = [cond["name"], _context(cond), str(cond["distractors"]), str(scores["utterances"])]
        rows.append(head + [_fmt(scores[key]) for key, _ in _COLUMNS])
    return rows


def _relative_change(value: Optional[float], base: Optional[float]) -> str:
    if value is None or not base:
        return "-"
    return f"{100.0 * (value - base) / base:+.1f}"


def _change_table(conditions: List[Dict[str, Any]], languages: List[str]) -> List[str]:
    """B-WER and U-WER of each condition relative to the first no-context condition."""
    base = next((c for c in conditions if condition_mode(c) == "no context"), None)
    if base is None:
        return []
    scopes = ["all", *languages]

    def scores(cond: Dict[str, Any], scope: str) -> Dict[str, Any]:
        return cond if scope == "all" else cond["by_language"].get(scope, {})

    rows = [
        [cond["name"]]
        + [
            _relative_change(scores(cond, s).get(key), scores(base, s).get(key))
            for key in ("b_wer", "u_wer")
            for s in scopes
        ]
        for cond in conditions
        if cond is not base
    ]
    header = ["condition", *[f"{m} {s}" for m in ("B-WER", "U-WER") for s in scopes]]
    return [
        "## Change against no context",
        "",
        f"Relative change in percent against `{base['name']}` (negative is better).",
        "",
        *_table(rows, header),
        "",
    ]


def _list_slot_table(conditions: List[Dict[str, Any]], languages: List[str]) -> List[str]:
    """Accuracy of the slots whose values come from the phrase lists, per language."""
    types = [t for t in BIASED_SLOT_TYPES if any(t in c["slot_by_type"] for c in conditions)]
    if not types:
        return []
    rows = [
        [cond["name"]]
        + [
            _fmt(cond["by_language"].get(lang, {}).get("slot_by_type", {}).get(t, {}).get("acc"))
            for t in types
            for lang in languages
        ]
        for cond in conditions
    ]
    header = ["condition", *[f"{t} {lang}" for t in types for lang in languages]]
    return ["## List slot accuracy by language", "", *_table(rows, header), ""]


def _error_kind_table(conditions: List[Dict[str, Any]]) -> List[str]:
    """B- and U-word errors by kind: counts, all languages."""
    kinds = ("substitutions", "deletions", "insertions")
    rows = [
        [c["name"]] + [str(c[key][k]) for key in ("b_errors", "u_errors") for k in kinds]
        for c in conditions
    ]
    header = ["condition", *[f"{side} {k[:3]}" for side in ("B", "U") for k in kinds]]
    return ["## Word errors by kind", "", *_table(rows, header), ""]


def _slot_type_table(conditions: List[Dict[str, Any]]) -> List[str]:
    types = sorted({t for c in conditions for t in c["slot_by_type"]})
    if not types:
        return []
    rows = [
        [c["name"]] + [_fmt(c["slot_by_type"].get(t, {}).get("f1")) for t in types]
        for c in conditions
    ]
    return ["## Slot F1 by slot type", "", *_table(rows, ["condition", *types]), ""]


def render_markdown(report: Dict[str, Any], sources: Sequence[PathLike] = ()) -> str:
    """report.md: a table over all languages and one per language, the change against no
    context, word errors by kind, list-slot accuracy per language, slot F1 by type, a legend."""
    conditions = report["conditions"]
    header = ["condition", "context", "distractors", "utts", *[t for _, t in _COLUMNS]]
    lines = ["# catt report", ""]
    if sources:
        lines += ["Results: " + ", ".join(f"`{p}`" for p in sources), ""]
    lines += ["## All languages", "", *_table(_metric_rows(conditions, None), header), ""]
    languages = sorted({lang for c in conditions for lang in c["by_language"]})
    for lang in languages:
        lines += [f"## Language: {lang}", "", *_table(_metric_rows(conditions, lang), header), ""]
    lines += _change_table(conditions, languages)
    lines += _error_kind_table(conditions)
    lines += _list_slot_table(conditions, languages)
    lines += _slot_type_table(conditions)
    lines += ["## Legend", "", _LEGEND]
    return "\n".join(lines)


def write_report(results_paths: Sequence[Path], out_dir: Path) -> Path:
    """Score results files (JSON lines of ``catt decode``) and write the report into ``out_dir``.

    Writes ``report.json``, ``distractors.png`` and ``report.md`` (atomically) and returns the
    path of ``report.md``. Raises CattError naming ``file:line`` for a bad results line.
    """
    out_dir = Path(out_dir)
    report = build_report(load_results(results_paths))
    atomic_write_text(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    plot_distractors(report["conditions"], out_dir / "distractors.png")
    report_md = out_dir / "report.md"
    atomic_write_text(report_md, render_markdown(report, results_paths))
    return report_md
