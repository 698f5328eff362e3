"""Reading results files: the JSON lines ``catt decode`` writes, one utterance each.

Every error names ``file:line`` and the field at fault (see docs/architecture.md, "Results file").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from catt.errors import CattError
from catt.text.tags import Interpretation, Slot

__all__ = [
    "UtteranceResult",
    "read_results",
    "load_results",
    "mode_name",
    "condition_mode",
    "NO_CONTEXT",
]

PathLike = Union[str, Path]


@dataclass(frozen=True)
class UtteranceResult:
    """One decoded utterance under one condition; ``source`` is ``file:line``."""

    id: str
    condition: str
    distractors: int
    deep_biasing: bool
    boost: float
    resolve: bool
    language: str
    biasing_list: Tuple[str, ...]
    ref: Interpretation
    hyp: Interpretation
    source: str


class _Fields:
    """Typed access to one JSON object's fields; errors name ``where`` and the dotted field."""

    def __init__(self, obj: Any, where: str, prefix: str = "") -> None:
        if not isinstance(obj, dict):
            name = f"field {prefix!r}" if prefix else "line"
            raise CattError(f"{where}: {name} must be a JSON object, got {type(obj).__name__}")
        self.obj, self.where, self.prefix = obj, where, prefix

    def _get(self, key: str) -> Any:
        if key not in self.obj:
            raise CattError(f"{self.where}: missing field {self.prefix + key!r}")
        return self.obj[key]

    def bad(self, key: str, expected: str) -> CattError:
        value = json.dumps(self.obj[key], ensure_ascii=False)[:60]
        return CattError(
            f"{self.where}: field {self.prefix + key!r} must be {expected}, got {value}"
        )

    def get_str(self, key: str) -> str:
        value = self._get(key)
        if isinstance(value, str):
            return value
        raise self.bad(key, "a string")

    def get_optional_str(self, key: str) -> Optional[str]:
        value = self._get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.bad(key, "a string or null")

    def get_bool(self, key: str) -> bool:
        value = self._get(key)
        if isinstance(value, bool):
            return value
        raise self.bad(key, "true or false")

    def get_int(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        raise self.bad(key, "an integer >= 0")

    def get_float(self, key: str) -> float:
        value = self._get(key)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and math.isfinite(value):
            return float(value)
        raise self.bad(key, "a finite number")

    def get_list(self, key: str) -> List[Any]:
        value = self._get(key)
        if isinstance(value, list):
            return value
        raise self.bad(key, "a list")

    def get_object(self, key: str) -> _Fields:
        return _Fields(self._get(key), self.where, f"{self.prefix}{key}.")


def _phrases(fields: _Fields) -> Tuple[str, ...]:
    phrases = fields.get_list("biasing_list")
    if not all(isinstance(p, str) for p in phrases):
        raise fields.bad("biasing_list", "a list of strings")
    return tuple(phrases)


def _interpretation(fields: _Fields) -> Interpretation:
    slots = []
    for i, item in enumerate(fields.get_list("slots")):
        slot = _Fields(item, fields.where, f"{fields.prefix}slots[{i}].")
        slots.append(Slot(type=slot.get_str("type"), value=slot.get_str("value")))
    return Interpretation(
        text=fields.get_str("text"), intent=fields.get_optional_str("intent"), slots=tuple(slots)
    )


def _parse_record(obj: Any, where: str) -> UtteranceResult:
    f = _Fields(obj, where)
    return UtteranceResult(
        id=f.get_str("id"),
        condition=f.get_str("condition"),
        distractors=f.get_int("distractors"),
        deep_biasing=f.get_bool("deep_biasing"),
        boost=f.get_float("boost"),
        resolve=f.get_bool("resolve") if "resolve" in obj else False,
        language=f.get_str("language"),
        biasing_list=_phrases(f),
        ref=_interpretation(f.get_object("ref")),
        hyp=_interpretation(f.get_object("hyp")),
        source=where,
    )


def read_results(path: PathLike) -> Iterator[UtteranceResult]:
    """Yield the utterances of one results file (blank lines are skipped).

    Raises CattError naming ``file:line`` for a missing file, malformed JSON, a missing field
    or a field of the wrong type.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise CattError(f"{path}: results file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CattError(f"{path}: cannot read results file ({e})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CattError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
        yield _parse_record(obj, where)


NO_CONTEXT = "no context"
"""The mode of a condition that uses no list."""


def mode_name(deep_biasing: bool, boost: float, resolve: bool = False) -> str:
    """A condition's biasing mode: ``no context``, or its parts joined by ``+`` (``deep``,
    ``boost``, ``resolve``).

    >>> mode_name(True, 2.0), mode_name(False, 0.0), mode_name(True, 2.0, resolve=True)
    ('deep+boost', 'no context', 'deep+boost+resolve')
    """
    modes = (("deep", deep_biasing), ("boost", boost > 0), ("resolve", resolve))
    return "+".join(p for p, on in modes if on) or NO_CONTEXT


def condition_mode(cond: Mapping[str, Any]) -> str:
    """The mode of a report.json condition entry (``resolve`` may be missing: off)."""
    return mode_name(cond["deep_biasing"], cond["boost"], cond.get("resolve", False))


def _check_condition(first: UtteranceResult, r: UtteranceResult) -> None:
    """Every utterance of a condition must carry the same settings."""
    for name in ("distractors", "deep_biasing", "boost", "resolve"):
        a, b = getattr(first, name), getattr(r, name)
        if a != b:
            raise CattError(
                f"{r.source}: condition {r.condition!r} has {name}={b}, "
                f"but {name}={a} at {first.source}"
            )


def load_results(paths: Sequence[PathLike]) -> Dict[str, List[UtteranceResult]]:
    """Read results files and group their utterances by condition, in first-seen order.

    Raises CattError when nothing was read, when a condition mixes settings, or when an
    utterance id appears twice in one condition.
    """
    groups: Dict[str, List[UtteranceResult]] = {}
    seen: Dict[Tuple[str, str], str] = {}
    for path in paths:
        for r in read_results(path):
            group = groups.setdefault(r.condition, [])
            if group:
                _check_condition(group[0], r)
            key = (r.condition, r.id)
            if key in seen:
                raise CattError(
                    f"{r.source}: utterance {r.id!r} of condition {r.condition!r} "
                    f"already read at {seen[key]}"
                )
            seen[key] = r.source
            group.append(r)
    if not groups:
        raise CattError(f"no utterance in {', '.join(str(p) for p in paths) or 'no file'}")
    return groups
