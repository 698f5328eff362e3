"""The tagged transcript: words, intent and slot spans in one token stream.

The model reads and writes one sequence such as::

    <intent:call_contact> call <contact> kaitlyn fitzgerald </contact> on her mobile

The intent tag comes first; a slot is its words between ``<type>`` and ``</type>``. Each tag is a
single token of the tokenizer, so the transducer emits it like any word piece.

>>> t = build_tagged("call kaitlyn on her mobile", "call_contact",
...                  [{"type": "contact", "start": 5, "end": 12}])
>>> t
'<intent:call_contact> call <contact> kaitlyn </contact> on her mobile'
>>> parse_tagged(t)
Interpretation(text='call kaitlyn on her mobile', intent='call_contact', slots=(Slot(type='contact', value='kaitlyn'),))
>>> strip_tags(t)
'call kaitlyn on her mobile'
"""  # noqa: E501

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

__all__ = [
    "Slot",
    "Interpretation",
    "build_tagged",
    "parse_tagged",
    "strip_tags",
    "is_tag",
    "intent_tag",
]

_TAG = re.compile(r"^<(/?)([a-z0-9_]+)>$|^<intent:([a-z0-9_]+)>$")
_RESERVED = frozenset({"<blk>", "<unk>"})  # tokenizer symbols, not tags


@dataclass(frozen=True)
class Slot:
    """One slot of an interpretation: its type (``contact``, ``device``...) and its words."""

    type: str
    value: str

    def to_dict(self) -> Dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True)
class Interpretation:
    """What an utterance means: its words (no tags), its intent and its slots, in order."""

    text: str
    intent: Optional[str]
    slots: Tuple[Slot, ...] = field(default_factory=tuple)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "slots": [s.to_dict() for s in self.slots],
        }


def intent_tag(intent: str) -> str:
    """The token that carries ``intent``: ``<intent:NAME>``."""
    return f"<intent:{intent}>"


def is_tag(word: str) -> bool:
    """True for an intent tag or a slot open/close tag."""
    return word not in _RESERVED and _TAG.match(word) is not None


def build_tagged(text: str, intent: Optional[str], slots: Sequence[Mapping[str, Any]]) -> str:
    """Build the tagged transcript from words, intent and slots with character offsets.

    Args:
        text: the words, single-spaced.
        intent: the intent name, or None for no intent tag.
        slots: mappings with ``type``, ``start`` and ``end`` (offsets into ``text``); the span
            must cover whole words and spans must not overlap.

    Raises:
        ValueError: a span that is out of range, cuts a word, or overlaps another.
    """
    pieces: List[str] = [intent_tag(intent)] if intent else []
    pos = 0
    for slot in sorted(slots, key=lambda s: int(s["start"])):
        start, end, kind = int(slot["start"]), int(slot["end"]), str(slot["type"])
        if not (pos <= start < end <= len(text)):
            raise ValueError(
                f"slot {kind} [{start}, {end}) is out of range or overlaps in {text!r}"
            )
        cuts_word = (start > 0 and text[start - 1] != " ") or (end < len(text) and text[end] != " ")
        if cuts_word:
            raise ValueError(f"slot {kind} [{start}, {end}) cuts a word in {text!r}")
        pieces += text[pos:start].split()
        pieces += [f"<{kind}>", *text[start:end].split(), f"</{kind}>"]
        pos = end
    pieces += text[pos:].split()
    return " ".join(pieces)


def strip_tags(tagged: str) -> str:
    """The words of a tagged transcript, tags removed, single-spaced."""
    return " ".join(w for w in tagged.split() if not is_tag(w))


def parse_tagged(tagged: str) -> Interpretation:
    """Parse a tagged transcript (reference or hypothesis) back into an :class:`Interpretation`.

    Hypotheses may be malformed; this never raises. The first intent tag wins; a slot is the
    words between ``<type>`` and the next ``</type>`` of the same type; an unclosed slot runs to
    the next tag or the end; a stray closing tag is ignored; empty slots are dropped.
    """
    words: List[str] = []
    intent: Optional[str] = None
    slots: List[Slot] = []
    open_type: Optional[str] = None
    open_words: List[str] = []

    def close() -> None:
        if open_type is not None and open_words:
            slots.append(Slot(open_type, " ".join(open_words)))

    for token in tagged.split():
        m = None if token in _RESERVED else _TAG.match(token)
        if m is None:
            words.append(token)
            if open_type is not None:
                open_words.append(token)
            continue
        closing, kind, intent_name = m.groups()
        if intent_name is not None:
            intent = intent if intent is not None else intent_name
            continue
        if closing and kind != open_type:
            continue  # stray closing tag
        close()
        open_type, open_words = (None, []) if closing else (kind, [])
    close()
    return Interpretation(" ".join(words), intent, tuple(slots))
