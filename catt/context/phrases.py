"""User phrase lists: contacts, device names, any phrases to bias towards at decode time.

A phrase file is UTF-8 text with one phrase per line. Blank lines and lines starting with ``#``
are ignored. A line may end with a tab and a weight (a positive number) that scales the boosting
bonus of that phrase::

    kaitlyn fitzgerald
    # the kitchen
    noodle lamp\t2.0

A list read as contacts or device names (``catt transcribe --contacts``/``--devices``, a
household's ``contacts.txt``/``devices.txt``) gives its phrases a ``slot`` type: list resolution
puts a typed phrase between its own type's tags (``catt.decode.resolve``). A phrase of no type
takes the type of the slot it fills.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Union

from catt.errors import PhraseFileError
from catt.text.tokenizer import normalize_text

__all__ = [
    "HOUSEHOLD_FILES",
    "Phrase",
    "load_household",
    "load_phrases",
    "parse_phrases",
    "merge_phrases",
]

HOUSEHOLD_FILES: Dict[str, str] = {"contacts.txt": "contact", "devices.txt": "device"}
"""The phrase files of a household's folder, and the slot type of their phrases."""


@dataclass(frozen=True)
class Phrase:
    """One phrase of a list: its normalized text, its boosting weight and the slot type it
    names (``contact``, ``device``; None: any).

    >>> Phrase("noodle lamp", 2.0, slot="device")
    Phrase(text='noodle lamp', weight=2.0, slot='device')
    """

    text: str
    weight: float = 1.0
    slot: Optional[str] = None


def parse_phrases(
    lines: Iterable[str], source: str = "<phrases>", slot: Optional[str] = None
) -> List[Phrase]:
    """Phrases (of the slot type ``slot``) of the lines of a phrase file; errors name
    ``source:line``.

    >>> [p.text for p in parse_phrases(["Kaitlyn  Fitzgerald", "", "# comment", "lamp\\t2"])]
    ['kaitlyn fitzgerald', 'lamp']
    >>> parse_phrases(["noodle lamp\\t2"], slot="device")
    [Phrase(text='noodle lamp', weight=2.0, slot='device')]
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
        phrases.append(Phrase(text, weight, slot))
    return phrases


def load_phrases(path: Union[str, Path], slot: Optional[str] = None) -> List[Phrase]:
    """Read a phrase file (see the module docstring), its phrases of the slot type ``slot``.
    An empty file gives an empty list."""
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
    return parse_phrases(text.splitlines(), str(path), slot)


def merge_phrases(*lists: Iterable[Phrase]) -> List[Phrase]:
    """Concatenate phrase lists, keeping the first occurrence of each text; a text listed with
    two slot types fits any slot.

    >>> merge_phrases([Phrase("ann", slot="contact")], [Phrase("ann", 2.0, slot="device")])
    [Phrase(text='ann', weight=1.0, slot=None)]
    """
    merged: Dict[str, Phrase] = {}
    for phrases in lists:
        for phrase in phrases:
            first = merged.get(phrase.text)
            if first is None:
                merged[phrase.text] = phrase
            elif first.slot != phrase.slot:
                merged[phrase.text] = Phrase(first.text, first.weight)
    return list(merged.values())


def load_household(folder: Union[str, Path]) -> List[Phrase]:
    """A household folder's list: its contacts, then its device names (:data:`HOUSEHOLD_FILES`,
    each file optional), typed by their file."""
    folder = Path(folder)
    files = [(folder / name, slot) for name, slot in HOUSEHOLD_FILES.items()]
    return merge_phrases(*(load_phrases(f, slot) for f, slot in files if f.is_file()))
