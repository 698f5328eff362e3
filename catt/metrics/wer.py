"""Word error rate: corpus-level counts from jiwer's word alignment.

>>> counts = word_errors(["call kaitlyn now"], ["call caitlin now please"])
>>> counts
ErrorCounts(ref_words=3, substitutions=1, deletions=0, insertions=1)
>>> round(counts.rate, 2)
66.67
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import jiwer

__all__ = ["ErrorCounts", "WordAlignment", "align_words", "word_errors", "word_error_rate"]


@dataclass(frozen=True)
class ErrorCounts:
    """Edit counts against a number of reference words; ``rate`` is a percentage."""

    ref_words: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        """Substitutions + deletions + insertions."""
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> Optional[float]:
        """``100 * errors / ref_words``; None when there is no reference word."""
        if self.ref_words == 0:
            return None
        return 100.0 * self.errors / self.ref_words

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            ref_words=self.ref_words + other.ref_words,
            substitutions=self.substitutions + other.substitutions,
            deletions=self.deletions + other.deletions,
            insertions=self.insertions + other.insertions,
        )


@dataclass(frozen=True)
class WordAlignment:
    """One utterance aligned word by word (jiwer's minimum edit alignment).

    ``ops`` lists ``(op, ref_word, hyp_word)`` with op in ``equal``, ``substitute``, ``delete``
    (hyp_word None) and ``insert`` (ref_word None), in order.
    """

    ref: Tuple[str, ...]
    hyp: Tuple[str, ...]
    ops: Tuple[Tuple[str, Optional[str], Optional[str]], ...]


def _chunk_ops(
    chunk: jiwer.AlignmentChunk, ref: List[str], hyp: List[str]
) -> Iterator[Tuple[str, Optional[str], Optional[str]]]:
    """Expand one jiwer chunk into one operation per word."""
    refs = ref[chunk.ref_start_idx : chunk.ref_end_idx]
    hyps = hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
    if chunk.type == "insert":
        for w in hyps:
            yield "insert", None, w
    elif chunk.type == "delete":
        for w in refs:
            yield "delete", w, None
    else:  # equal / substitute chunks pair words one to one
        for r, h in zip(refs, hyps):
            yield chunk.type, r, h


def align_words(refs: Sequence[str], hyps: Sequence[str]) -> List[WordAlignment]:
    """Align each reference with its hypothesis (whitespace-separated words).

    Raises ValueError when the two sequences differ in length.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        return []
    out = jiwer.process_words(list(refs), list(hyps))
    return [
        WordAlignment(
            ref=tuple(r),
            hyp=tuple(h),
            ops=tuple(op for chunk in chunks for op in _chunk_ops(chunk, r, h)),
        )
        for r, h, chunks in zip(out.references, out.hypotheses, out.alignments)
    ]


def word_errors(refs: Sequence[str], hyps: Sequence[str]) -> ErrorCounts:
    """Corpus-level edit counts of ``hyps`` against ``refs`` (strings of words, no tags)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        return ErrorCounts()
    out = jiwer.process_words(list(refs), list(hyps))
    return ErrorCounts(
        ref_words=sum(len(r) for r in out.references),
        substitutions=out.substitutions,
        deletions=out.deletions,
        insertions=out.insertions,
    )


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> Optional[float]:
    """Corpus WER in percent (total errors / total reference words); None without words."""
    return word_errors(refs, hyps).rate
