#!/usr/bin/env python
"""Contact and device slot accuracy of smart-home decodes, for training voices and held-out ones.

Half of the test utterances are spoken by espeak-ng variants that training never heard
(``HELDOUT_VARIANTS``). This splits each results file's list-slot accuracy (a reference slot is
right when the hypothesis has a slot of its type with its exact value) by that, per language;
``--by variant`` or ``--by accent`` splits it by the espeak-ng variant or accent instead.

python scripts/voice_breakdown.py data/smarthome-base/manifests/smarthome_cuts_test.jsonl.gz \\
    exp/smarthome-base/decode/deep+boost+resolve+100.jsonl [--by group|variant|accent]
"""

import argparse
import collections
import sys
from pathlib import Path
from typing import Callable, Counter, Dict, Iterable, List, Mapping, Tuple

from lhotse import load_manifest_lazy

from catt.context.sampling import BIASED_SLOT_TYPES
from catt.data.smarthome.synthesis import HELDOUT_VARIANTS
from catt.errors import CattError
from catt.metrics.results import UtteranceResult, read_results
from catt.metrics.slu import slot_scores

Key = Tuple[str, str, str]
"""(language, voice group, slot type)."""


def voice_accent(speaker: str) -> str:
    """The espeak-ng accent of a speaker id: ``en-us-nyc+zac-s180-p60`` -> ``en-us-nyc``."""
    return speaker.split("+", 1)[0]


def voice_variant(speaker: str) -> str:
    """The espeak-ng variant of a speaker id: ``en-us-nyc+zac-s180-p60`` -> ``zac``."""
    return speaker.split("+", 1)[1].rsplit("-s", 1)[0]


def voice_group(speaker: str) -> str:
    """``held-out`` for a speaker id whose espeak-ng variant training never used, else ``seen``.

    >>> voice_group("en-us-nyc+zac-s180-p60"), voice_group("fr-fr+m4-s150-p35")
    ('held-out', 'seen')
    """
    return "held-out" if voice_variant(speaker) in HELDOUT_VARIANTS else "seen"


GROUPINGS: Dict[str, Callable[[str], str]] = {
    "group": voice_group,
    "variant": voice_variant,
    "accent": voice_accent,
}
"""``--by``: how speaker ids are grouped."""


def slot_counts(
    results: Iterable[UtteranceResult], groups: Mapping[str, str]
) -> Tuple[Counter[Key], Counter[Key]]:
    """(right, all) list slots by (language, voice group, slot type), matched as the report
    matches them (:func:`catt.metrics.slu.slot_scores`)."""
    by_group: Dict[Tuple[str, str], List[UtteranceResult]] = collections.defaultdict(list)
    for r in results:
        by_group[(r.language, groups[r.id])].append(r)
    right: Counter[Key] = collections.Counter()
    total: Counter[Key] = collections.Counter()
    for (lang, group), rs in by_group.items():
        scores = slot_scores([r.ref.slots for r in rs], [r.hyp.slots for r in rs])
        for kind in BIASED_SLOT_TYPES:
            counts = scores.by_type.get(kind)
            if counts is not None and counts.tp + counts.fn > 0:
                right[(lang, group, kind)] = int(counts.tp)
                total[(lang, group, kind)] = int(counts.tp + counts.fn)
    return right, total


def format_table(name: str, right: Counter[Key], total: Counter[Key]) -> List[str]:
    """Markdown rows: one per language and voice group, accuracy (slots) per slot type."""
    lines = [f"{name}", "", "| language | voices | contact | device |", "|---|---|---|---|"]
    for lang, group in sorted({k[:2] for k in total}):
        cells = []
        for kind in ("contact", "device"):
            n = total[(lang, group, kind)]
            cells.append(f"{100 * right[(lang, group, kind)] / n:.1f} ({n})" if n else "-")
        lines.append(f"| {lang} | {group} | {' | '.join(cells)} |")
    return lines + [""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cuts", type=Path, help="the split's cut manifest (for the speakers)")
    parser.add_argument("results", type=Path, nargs="+", help="catt decode results files")
    parser.add_argument(
        "--by", choices=sorted(GROUPINGS), default="group", help="seen/held-out, variant or accent"
    )
    args = parser.parse_args()
    key = GROUPINGS[args.by]
    groups: Dict[str, str] = {
        cut.id: key(cut.supervisions[0].speaker) for cut in load_manifest_lazy(args.cuts)
    }
    for path in args.results:
        try:
            results = list(read_results(path))
        except CattError as e:
            print(f"voice_breakdown: {e}", file=sys.stderr)
            return 2
        missing = [r.id for r in results if r.id not in groups]
        if missing:
            print(f"voice_breakdown: {path}: {missing[0]} is not in {args.cuts}", file=sys.stderr)
            return 2
        print("\n".join(format_table(str(path), *slot_counts(results, groups))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
