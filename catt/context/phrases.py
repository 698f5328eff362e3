"""User phrase lists: contacts, device names, any phrases to bias towards at decode time.

A phrase file is UTF-8 text with one phrase per line. Blank lines and lines starting with ``#``
are ignored. A line may end with a tab and a weight (a positive number) that scales the boosting
bonus of that phrase::

    kaitlyn fitzgerald
    # the kitchen
    noodle lamp\t2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Union

from catt.errors import PhraseFileError
from catt.text.tokenizer import normalize_text

__all__ = ["Phrase", "load_phrases", "parse_phrases", "merge_phrases"]


@dataclass(frozen=True)
class Phrase:
    """One phrase of a list: its normalized text and its boosting weight.

    >>> Phrase("noodle lamp", 2.0)
    Phrase(text='noodle lamp', weight=2.0)
    """

    text: str
    weight: float = 1.0


def parse_phrases(lines: Iterable[str], source: str = "<phrases>") -> List[Phrase]:
    """Phrases of the lines of a phrase file; errors name ``source:line``.

    >>> parse_phrases(["Kaitlyn  Fitzgerald", "", "# comment", "noodle lamp\\t2"])
    [Phrase(text='kaitlyn fitzgerald', weight=1.0), Phrase(text='noodle lamp', weight=2.0)]
    """
    phrases: List[Phrase] = []
    for lineno, line in enumerate(lines, start=1):
        line = line.rstrip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text, sep, weight_text = line.partition("\t")
        weight = 1.0
        if sep and weight_text.strip():
            try:
                weight = float(weight_text)
            except ValueError:
                weight = math.nan
            if not (math.isfinite(weight) and weight > 0):
                raise PhraseFileError(
                    f"{source}:{lineno}: weight {weight_text.strip()!r} is not a positive number"
                )
        text = normalize_text(text)
        if not text:
            raise PhraseFileError(f"{source}:{lineno}: empty phrase before the weight")
        phrases.append(Phrase(text, weight))
    return phrases


def load_phrases(path: Union[str, Path]) -> List[Phrase]:
    """Read a phrase file (see the module docstring). An empty file gives an empty list."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PhraseFileError(f"{path}: no such phrase file") from None
    except OSError as e:
        raise PhraseFileError(f"{path}: cannot read: {e.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        lineno = data[: e.start].count(b"\n") + 1
        raise PhraseFileError(f"{path}:{lineno}: not UTF-8 text (byte {e.start})") from None
    return parse_phrases(text.splitlines(), str(path))


def merge_phrases(*lists: Iterable[Phrase]) -> List[Phrase]:
    """Concatenate phrase lists, keeping the first occurrence of each text."""
    seen = set()
    merged: List[Phrase] = []
    for phrases in lists:
        for phrase in phrases:
            if phrase.text not in seen:
                seen.add(phrase.text)
                merged.append(phrase)
    return merged
