"""Synthetic households: each has its own contact list and device list.

Training households draw from the seen name pools, dev and test households from the held-out
pools, so a test household's contacts and devices never occur in training text; adapt
households from the adapt pools (seen names respelled, invented words of their own).

>>> from catt.data.smarthome.names import build_inventories
>>> inv = build_inventories(seed=0)["en"]
>>> h = make_households("en", "test", 1, inv, contacts=(5, 5), devices=(3, 3), seed=0)[0]
>>> h.id, len(h.contacts), len(h.devices)
('en-test-000', 5, 3)
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, FrozenSet, List, Optional, Tuple

from catt.data.smarthome.names import Device, LanguageInventory
from catt.io import atomic_write_text

__all__ = ["Household", "make_households", "household_id"]


def household_id(lang: str, split: str, index: int) -> str:
    """``en-train-003``."""
    return f"{lang}-{split}-{index:03d}"


@dataclass(frozen=True)
class Household:
    """A household: its id, language, contacts and devices (each list without repeats)."""

    id: str
    lang: str
    contacts: Tuple[str, ...]
    devices: Tuple[Device, ...]

    def write(self, households_dir: Path) -> None:
        """Write ``{households_dir}/{id}/contacts.txt`` and ``devices.txt`` (kept when equal)."""
        files = {
            "contacts.txt": "".join(f"{c}\n" for c in self.contacts),
            "devices.txt": "".join(f"{d.name}\n" for d in self.devices),
        }
        for name, text in files.items():
            path = households_dir / self.id / name
            if not (path.is_file() and path.read_text(encoding="utf-8") == text):
                atomic_write_text(path, text)


def _unique(
    make: Callable[[], Any], count: int, taken: set, charset: Optional[FrozenSet[str]]
) -> list:
    """Up to ``count`` items from ``make()``, each new to ``taken`` and spelled with ``charset``."""
    out = []
    for _ in range(count * 200):
        if len(out) == count:
            break
        item = make()
        key = item.name if isinstance(item, Device) else item
        if charset is not None and not set(key.replace(" ", "")) <= charset:
            continue
        if key not in taken:
            taken.add(key)
            out.append(item)
    return out


def make_households(
    lang: str,
    split: str,
    count: int,
    inventory: LanguageInventory,
    *,
    contacts: Tuple[int, int],
    devices: Tuple[int, int],
    seed: int,
    charset: Optional[FrozenSet[str]] = None,
) -> List[Household]:
    """``count`` households of one language and split, deterministic for ``seed``.

    Args:
        contacts: inclusive range of the number of contacts per household.
        devices: inclusive range of the number of devices per household.
        charset: when given, only names spelled with these characters (for held-out households:
            the characters of the training text, so a tokenizer trained on it spells them all).
    """
    rng = random.Random(f"smarthome-households-{seed}-{lang}-{split}")
    pools = {"train": inventory.seen, "adapt": inventory.adapt}.get(split, inventory.heldout)
    out = []
    for index in range(count):
        taken: set = set()
        people = _unique(
            lambda: inventory.make_contact(pools, rng), rng.randint(*contacts), taken, charset
        )
        things = _unique(
            lambda: inventory.make_device(pools, rng), rng.randint(*devices), taken, charset
        )
        out.append(Household(household_id(lang, split, index), lang, tuple(people), tuple(things)))
    return out
