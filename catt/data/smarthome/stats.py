"""Figures of a prepared smart-home corpus, per split and language (docs/corpus.md's table).

A speaker is a full voice id (accent, variant, speed, pitch); a voice is accent and variant.

>>> print(format_stats([]))  # doctest: +NORMALIZE_WHITESPACE
| split | lang | utterances | hours | mean s | speakers | voices | households | contacts | devices |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

from catt.errors import CattError

__all__ = ["corpus_stats", "format_stats"]

_COLUMNS = (
    "split",
    "lang",
    "utterances",
    "hours",
    "mean s",
    "speakers",
    "voices",
    "households",
    "contacts",
    "devices",
)


def _lines(path: Path) -> List[str]:
    if not path.is_file():
        return []
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _row(split: str, lang: str, sups: Sequence[Any], households: Path) -> Dict[str, Any]:
    homes = sorted({s.custom["household"] for s in sups})
    contacts = {c for h in homes for c in _lines(households / h / "contacts.txt")}
    devices = {d for h in homes for d in _lines(households / h / "devices.txt")}
    seconds = sum(s.duration for s in sups)
    return {
        "split": split,
        "lang": lang,
        "utterances": len(sups),
        "hours": round(seconds / 3600, 3),
        "mean s": round(seconds / max(1, len(sups)), 2),
        "speakers": len({s.speaker for s in sups}),
        "voices": len({s.speaker.rsplit("-", 2)[0] for s in sups}),
        "households": len(homes),
        "contacts": len(contacts),
        "devices": len(devices),
    }


def corpus_stats(data_dir: Union[str, Path]) -> List[Dict[str, Any]]:
    """One row per split and language, then one ``all`` row per split.

    Households, contacts and devices count those the utterances refer to (distinct phrases).
    """
    from lhotse import load_manifest

    data_dir = Path(data_dir)
    meta_path = data_dir / "corpus.json"
    if not meta_path.is_file():
        raise CattError(f"{meta_path} is missing: prepare the corpus first")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    rows = []
    for split in meta["splits"]:
        path = data_dir / "manifests" / f"smarthome_supervisions_{split}.jsonl.gz"
        sups = list(load_manifest(path))
        by_lang: Dict[str, list] = defaultdict(list)
        for sup in sups:
            by_lang[sup.language].append(sup)
        for lang in meta["langs"]:
            rows.append(_row(split, lang, by_lang[lang], data_dir / "households"))
        rows.append(_row(split, "all", sups, data_dir / "households"))
    return rows


def format_stats(rows: Sequence[Dict[str, Any]]) -> str:
    """A Markdown table of :func:`corpus_stats` rows."""
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + " --- |" * len(_COLUMNS)]
    lines += ["| " + " | ".join(str(row[c]) for c in _COLUMNS) + " |" for row in rows]
    return "\n".join(lines)
