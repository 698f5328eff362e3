"""Training-time phrase lists: the utterance's own phrases, random drops, and distractors.

At decode time a user gives the model their whole list (contacts, device names); most of its
phrases are not in the utterance, and an utterance may name nothing at all. Training mimics that:
each utterance gets the phrases of its household that it says (its ``contact``/``device`` slot
values), each dropped with probability ``drop_positive_prob`` so the model also learns when not to
bias, plus 0..``max_distractors`` phrases drawn from OTHER households' lists: a draw of their
own, or with ``shared_distractors`` one draw a batch that all its utterances share
(:meth:`ContextSampler.batch_distractors`), as each list then adds only its positives to the
phrases a batch encodes.

The list pointer (``biasing.pointer``) may instead see what it sees when decoding, the whole
household list (``pointer_list: household``): the household's phrases but the positives left out
of the layers' list, plus the same distractors (:meth:`ContextSampler.pointer_list`).

Sampling is a pure function of ``(seed, epoch, cut id)``, so a resumed run sees the same lists.

>>> lists = {"h1": ["ann lee", "noodle lamp"], "h2": ["bob ray"], "h3": ["mister frosty"]}
>>> sampler = ContextSampler(lists, ContextSamplingOptions(max_distractors=2, drop_positive_prob=0))
>>> phrases = sampler.sample("h1", ["ann lee"], key="cut-1", seed=0)
>>> "ann lee" in phrases and "noodle lamp" not in phrases
True
>>> phrases == sampler.sample("h1", ["ann lee"], key="cut-1", seed=0)
True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from catt.context.phrases import load_household
from catt.errors import CattError, ConfigError

__all__ = [
    "BIASED_SLOT_TYPES",
    "POINTER_LISTS",
    "ContextSamplingOptions",
    "ContextSampler",
    "load_household_lists",
    "positive_phrases",
]

BIASED_SLOT_TYPES: Tuple[str, ...] = ("contact", "device")
"""Slot types whose values come from the household's phrase list."""

POINTER_LISTS: Tuple[str, ...] = ("sampled", "household")
"""What the list pointer sees in training: the layers' list, or the whole household list."""


@dataclass(frozen=True)
class ContextSamplingOptions:
    """How training-time phrase lists are drawn.

    Attributes:
        max_distractors: each utterance gets a uniform 0..max_distractors phrases from other
            households' lists.
        drop_positive_prob: probability of leaving out each phrase the utterance says.
        enabled: False gives every utterance an empty list (the model sees no context).
        pointer_list: ``sampled`` (the list pointer sees the layers' list) or ``household``
            (the whole household list: :meth:`ContextSampler.pointer_list`).
        wrong_name_prob: probability that a contact or device value is overwritten, in the
            label history only, by the start of another phrase of the pointer's list
            (:mod:`catt.context.history`); training batches only.
        shared_distractors: one draw of 0..max_distractors distractors a batch, shared by its
            utterances (each leaves out its own household's phrases), not one draw each. A
            batch then encodes its distractors once, not once an utterance.
    """

    max_distractors: int = 20
    drop_positive_prob: float = 0.2
    enabled: bool = True
    pointer_list: str = "sampled"
    wrong_name_prob: float = 0.0
    shared_distractors: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.max_distractors, bool) or not isinstance(self.max_distractors, int):
            raise ConfigError(
                f"context.max_distractors must be an integer, got {self.max_distractors!r}"
            )
        if self.max_distractors < 0:
            raise ConfigError(f"context.max_distractors must be >= 0, got {self.max_distractors}")
        prob = self.drop_positive_prob
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise ConfigError(f"context.drop_positive_prob must be in [0, 1], got {prob!r}")
        for name in ("enabled", "shared_distractors"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"context.{name} must be true or false, got {getattr(self, name)!r}"
                )
        prob = self.wrong_name_prob
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise ConfigError(f"context.wrong_name_prob must be in [0, 1], got {prob!r}")
        if self.pointer_list not in POINTER_LISTS:
            raise ConfigError(
                f"context.pointer_list must be one of {', '.join(POINTER_LISTS)}, "
                f"got {self.pointer_list!r}"
            )


def load_household_lists(
    data_dir: Union[str, Path], households: Optional[Iterable[str]] = None
) -> Dict[str, List[str]]:
    """Phrase lists of ``DATA/households/*``: contacts then devices, first occurrence kept.

    Args:
        data_dir: the corpus directory.
        households: only these household ids (each must exist); None: every household.

    Returns:
        ``{household_id: [phrase text, ...]}`` sorted by household id.
    """
    root = Path(data_dir) / "households"
    if not root.is_dir():
        raise CattError(f"{root} is missing: prepare the corpus first")
    if households is None:
        ids = sorted(p.name for p in root.iterdir() if p.is_dir())
    else:
        ids = sorted(set(households))
        missing = [h for h in ids if not (root / h).is_dir()]
        if missing:
            raise CattError(f"{root}: no directory for household(s) {', '.join(missing[:5])}")
    lists: Dict[str, List[str]] = {}
    for household in ids:
        lists[household] = [p.text for p in load_household(root / household)]
    return lists


def positive_phrases(slots: Sequence[Mapping[str, Any]]) -> List[str]:
    """The biased slot values of an utterance (``contact``/``device``), in order, unique.

    >>> positive_phrases([{"type": "contact", "value": "ann"}, {"type": "city", "value": "rome"}])
    ['ann']
    """
    out: List[str] = []
    for slot in slots:
        value = " ".join(str(slot.get("value", "")).split())
        if slot.get("type") in BIASED_SLOT_TYPES and value and value not in out:
            out.append(value)
    return out


class ContextSampler:
    """Draws an utterance's training phrase list from its positives and other households' lists.

    Args:
        household_lists: ``{group_id: [phrase, ...]}`` (a group is a household, or one utterance
            for per-utterance lists); its phrases form the distractor pool.
        options: how many distractors, how often positives are dropped.
        per_utterance: each list holds exactly the phrases its utterance says (the LibriSpeech
            rare words): the whole list counts as positives, after the given ones.
    """

    def __init__(
        self,
        household_lists: Mapping[str, Sequence[str]],
        options: ContextSamplingOptions,
        *,
        per_utterance: bool = False,
    ) -> None:
        self.options = options
        self.per_utterance = per_utterance
        self._ordered = {h: list(p) for h, p in household_lists.items()}
        self._lists = {h: frozenset(p) for h, p in household_lists.items()}
        self._pool: List[str] = sorted({p for phrases in household_lists.values() for p in phrases})

    @property
    def pool_size(self) -> int:
        """Number of distinct phrases distractors are drawn from."""
        return len(self._pool)

    def sample(
        self,
        household: Optional[str],
        positives: Sequence[str],
        *,
        key: str,
        seed: int,
        distractors: Optional[Sequence[str]] = None,
    ) -> List[str]:
        """The phrase list of one utterance, in random order.

        Args:
            household: the utterance's household id (its phrases are never distractors).
            positives: the phrases the utterance says (see :func:`positive_phrases`).
            key: a stable id of the utterance (the cut id); with ``seed`` it fixes the draw.
            seed: the run's seed, mixed with the epoch by the caller to vary across epochs.
            distractors: the batch's shared draw (:meth:`batch_distractors`), of which the
                utterance keeps those not of its household; None: a draw of its own.
        """
        if not self.options.enabled:
            return []
        rng = random.Random(f"{seed}:{key}")
        if self.per_utterance:
            own_list = self._ordered.get(household or "", [])
            positives = list(dict.fromkeys([*positives, *own_list]))
        kept = [p for p in positives if rng.random() >= self.options.drop_positive_prob]
        own = self._lists.get(household or "", frozenset()) | set(positives)
        if distractors is None:
            phrases = kept + self._distractors(rng, own)
        else:
            phrases = kept + [p for p in distractors if p not in own]
        rng.shuffle(phrases)
        return phrases

    def batch_distractors(self, *, key: str, seed: int) -> Optional[List[str]]:
        """One draw of 0..max_distractors pool phrases for a whole batch, or None unless
        ``shared_distractors`` (each utterance then draws its own in :meth:`sample`).

        Args:
            key: a stable id of the batch (the epoch and its first cut id); with ``seed`` it
                fixes the draw.
            seed: the run's seed.

        >>> opts = ContextSamplingOptions(max_distractors=3, shared_distractors=True)
        >>> sampler = ContextSampler({"h1": ["ann"], "h2": ["bob", "cy", "dee", "eve"]}, opts)
        >>> shared = sampler.batch_distractors(key="0:cut-1", seed=0)
        >>> len(shared) <= 3 and shared == sampler.batch_distractors(key="0:cut-1", seed=0)
        True
        >>> "ann" in sampler.sample("h1", ["ann"], key="c", seed=0, distractors=["ann", "bob"])
        True
        """
        if not self.options.shared_distractors or not self.options.enabled:
            return None
        rng = random.Random(f"{seed}:batch:{key}")
        wanted = rng.randint(0, self.options.max_distractors)
        return rng.sample(self._pool, min(len(self._pool), wanted))

    def pointer_list(
        self, household: Optional[str], phrases: Sequence[str], positives: Sequence[str]
    ) -> List[str]:
        """The list pointer's training list for :meth:`sample`'s ``phrases``.

        ``sampled``: ``phrases`` themselves. ``household``: the household's whole list without
        the positives :meth:`sample` dropped, then the rest of ``phrases`` (its distractors).

        >>> lists = {"h1": ["ann lee", "noodle lamp", "bob ray"], "h2": ["cy"]}
        >>> opts = ContextSamplingOptions(pointer_list="household")
        >>> sampler = ContextSampler(lists, opts)
        >>> sampler.pointer_list("h1", ["cy", "ann lee"], ["ann lee", "bob ray"])  # bob dropped
        ['ann lee', 'noodle lamp', 'cy']
        """
        if self.options.pointer_list == "sampled" or not self.options.enabled:
            return list(phrases)
        dropped = set(positives) - set(phrases)
        own = [p for p in self._ordered.get(household or "", []) if p not in dropped]
        return list(dict.fromkeys([*own, *phrases]))

    def _distractors(self, rng: random.Random, exclude: frozenset) -> List[str]:
        wanted = rng.randint(0, self.options.max_distractors)
        if wanted == 0 or not self._pool:
            return []
        draw = rng.sample(self._pool, min(len(self._pool), wanted + len(exclude)))
        return [p for p in draw if p not in exclude][:wanted]
