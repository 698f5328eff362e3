#!/usr/bin/env python
"""How much of a list's U-WER is words that no training transcript and no list phrase holds?

A list can make the search break a name into pieces (``switch on the thun he th`` for "thunder
heater"). The pieces are no word of the list, so they count as U-word insertions. This script
measures how much a word-level check could win back: for each results file (``catt decode``
output) it counts the hypothesis words that are *unknown* (in no transcript of the given
training splits and in no phrase of the utterance's list), the insertions among them, and the
U-WER with those unknown insertions dropped. That last figure is a ceiling: what a search that
never inserted an unknown word, and changed nothing else, would reach.

python scripts/unknown_words.py data/smarthome-base exp/smarthome-base/test-no-context.jsonl \\
    exp/smarthome-base/biasing/test-deep+100.jsonl
"""

import argparse
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Sequence, Set, Tuple

from lhotse import load_manifest_lazy

from catt.data.corpus import open_corpus
from catt.errors import CattError
from catt.metrics.biasing import biased_word_errors, biasing_words
from catt.metrics.results import UtteranceResult, read_results
from catt.metrics.wer import align_words


def known_words(data: Path, splits: Sequence[str]) -> Set[str]:
    """Every word of the transcripts of ``splits`` of a corpus directory (tags are not in them)."""
    corpus = open_corpus(data)
    words: Set[str] = set()
    for split in splits:
        path = corpus.require("supervisions", split, "prepare the corpus first")
        for sup in load_manifest_lazy(path):
            words.update(sup.text.split())
    return words


def drop_unknown_insertions(ref: str, hyp: str, known: Set[str]) -> Tuple[str, int]:
    """``hyp`` without its inserted words that are not in ``known``, and how many were dropped.

    >>> drop_unknown_insertions("turn on the lamp", "turn on the la lamp", {"turn", "on", "the"})
    ('turn on the lamp', 1)
    """
    kept: List[str] = []
    dropped = 0
    for op, _, word in align_words([ref], [hyp])[0].ops:
        if word is None:
            continue
        if op == "insert" and word not in known:
            dropped += 1
            continue
        kept.append(word)
    return " ".join(kept), dropped


def summary(results: Iterable[UtteranceResult], known: Set[str]) -> dict:
    """Unknown hypothesis words, unknown insertions, and U-WER with and without them."""
    refs, hyps, cleaned, lists = [], [], [], []
    unknown = dropped = 0
    vocabularies: Dict[Tuple[str, ...], Set[str]] = {}  # one per list, not per utterance
    for r in results:
        if r.biasing_list not in vocabularies:
            vocabularies[r.biasing_list] = known | biasing_words(r.biasing_list)
        vocabulary = vocabularies[r.biasing_list]
        unknown += sum(w not in vocabulary for w in r.hyp.text.split())
        text, n = drop_unknown_insertions(r.ref.text, r.hyp.text, vocabulary)
        dropped += n
        refs.append(r.ref.text)
        hyps.append(r.hyp.text)
        cleaned.append(text)
        lists.append(r.biasing_list)
    before = biased_word_errors(refs, hyps, lists)
    after = biased_word_errors(refs, cleaned, lists)
    return {
        "utterances": len(refs),
        "unknown": unknown,
        "insertions": before.overall.insertions,
        "unknown_insertions": dropped,
        "u_wer": before.u_wer,
        "u_wer_without": after.u_wer,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the corpus directory of the training splits")
    parser.add_argument("results", type=Path, nargs="+", help="catt decode results files")
    parser.add_argument("--splits", nargs="+", default=["train", "adapt"])
    args = parser.parse_args()
    try:
        known = known_words(args.data, args.splits)
        print(f"{len(known)} words in the transcripts of {', '.join(args.splits)}")
        print("| results | utts | unknown words | insertions | unknown | U-WER | without them |")
        print("|---|---|---|---|---|---|---|")
        for path in args.results:
            s = summary(read_results(path), known)
            print(
                f"| {path} | {s['utterances']} | {s['unknown']} | {s['insertions']} | "
                f"{s['unknown_insertions']} | {s['u_wer']:.2f} | {s['u_wer_without']:.2f} |"
            )
    except CattError as e:
        print(f"unknown_words: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
