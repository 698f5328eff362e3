"""The training dataset: features, tagged-transcript tokens and per-utterance phrase lists.

:class:`CattDataset` is a Lhotse map-style dataset: its ``__getitem__`` takes the CutSet of one
batch (chosen by a Lhotse sampler) and returns the batch dict. :func:`make_dataloader` wires it
to a :class:`~lhotse.dataset.DynamicBucketingSampler`.
"""

from __future__ import annotations

import random
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler
from lhotse.utils import LOG_EPSILON
from torch.utils.data import DataLoader

from catt.context.history import wrong_name_history
from catt.context.sampling import BIASED_SLOT_TYPES, ContextSampler, positive_phrases
from catt.data.corpus import context_group
from catt.errors import CattError
from catt.text.tags import build_tagged
from catt.text.tokenizer import Tokenizer

__all__ = [
    "CattDataset",
    "make_dataloader",
    "make_context_batch",
    "collate_features",
    "cut_slots",
    "cut_tagged_text",
]

FeatureTransform = Callable[..., torch.Tensor]


def cut_slots(cut: Any) -> List[Dict[str, Any]]:
    """The slots of a cut's supervision, each with its ``value`` (filled from the offsets)."""
    sup = _supervision(cut)
    custom = sup.custom or {}
    slots = []
    for slot in custom.get("slots", []) or []:
        slot = dict(slot)
        if not slot.get("value") and "start" in slot and "end" in slot:
            slot["value"] = sup.text[int(slot["start"]) : int(slot["end"])]
        slots.append(slot)
    return slots


def cut_tagged_text(cut: Any) -> str:
    """The tagged transcript of a cut: ``<intent:...> words <type> value </type> ...``."""
    sup = _supervision(cut)
    custom = sup.custom or {}
    try:
        return build_tagged(sup.text, custom.get("intent"), custom.get("slots", []) or [])
    except ValueError as e:
        raise CattError(f"cut {cut.id}: {e}") from None


def collate_features(cuts: Sequence[Any]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features [B, T, F] padded with ``LOG_EPSILON`` after each cut's frames, and lengths [B].

    The same tensor as Lhotse's ``collate_features``, which pads each shorter cut with a padding
    cut and reads it back through a ``MixedCut`` (a float64 copy a cut): a sixth of the time a
    base training batch took to load. Here each cut's matrix is copied into place once.
    """
    lens = [cut.num_frames for cut in cuts]
    features = torch.full((len(lens), max(lens), cuts[0].num_features), LOG_EPSILON)
    for i, cut in enumerate(cuts):
        features[i, : lens[i]] = torch.from_numpy(cut.load_features())
    return features, torch.tensor(lens, dtype=torch.int)


def _supervision(cut: Any) -> Any:
    if len(cut.supervisions) != 1:
        raise CattError(f"cut {cut.id} has {len(cut.supervisions)} supervisions, expected 1")
    return cut.supervisions[0]


class CattDataset(torch.utils.data.Dataset):
    """Batches of features, tagged-transcript tokens and phrase lists (``ContextBatch``).

    ``dataset[cuts]`` returns (cuts sorted by decreasing duration; B utterances, T frames,
    N distinct phrases in the batch, L tokens in the longest phrase)::

        {
            "features": FloatTensor [B, T, 80],  # padded Fbank, SpecAugment'ed when training
            "feature_lens": LongTensor [B],
            "tokens": list[list[int]],           # tokenizer.encode(build_tagged(...)) per cut
            "context": ContextBatch | None,      # None when no utterance has a phrase
            "pointer_lists": list | None,        # token-id phrase lists of the list pointer
            "history": list | None,              # the predictor's input tokens, if not "tokens"
            "chars": list[list[int]],            # tokenizer.encode_chars(text) per cut
            "cuts": CutSet,                      # the batch, in the order above
        }

    ``ContextBatch.tokens`` is LongTensor [N, L] (padded with 0), ``lengths`` LongTensor [N] and
    ``mask`` BoolTensor [B, N], True where phrase n is in utterance b's list; each phrase of the
    batch is encoded once. ``pointer_lists`` is None unless the sampler's ``pointer_list`` is
    ``household`` (:meth:`ContextSampler.pointer_list`). ``history`` is None unless
    ``wrong_name_prob`` > 0: then each cut's tokens with some contact and device values
    overwritten by the start of another phrase of the pointer's list
    (:func:`~catt.context.history.wrong_name_history`).

    Args:
        tokenizer: encodes transcripts and phrases.
        context_sampler: draws each utterance's phrase list; None gives ``context=None``.
        seed: with the epoch and the cut id, fixes every phrase list (see :meth:`set_epoch`).
        feature_transform: applied to the padded features, e.g. Lhotse's ``SpecAugment``;
            called as ``transform(features [B, T, F], supervision_segments [B, 3])``.
        wrong_name_prob: probability of overwriting each list-slot value in ``history`` (for
            training batches; 0 gives ``history=None``).
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        *,
        context_sampler: Optional[ContextSampler] = None,
        seed: int = 0,
        feature_transform: Optional[FeatureTransform] = None,
        wrong_name_prob: float = 0.0,
    ) -> None:
        super().__init__()
        self.tokenizer = tokenizer
        self.context_sampler = context_sampler
        self.seed = seed
        self.epoch = 0
        self.feature_transform = feature_transform
        self.wrong_name_prob = wrong_name_prob
        self._slot_pairs = tokenizer.slot_tag_pairs(BIASED_SLOT_TYPES)
        self._phrase_tokens: Dict[str, List[int]] = {}

    def set_epoch(self, epoch: int) -> None:
        """Draw new phrase lists: the lists are a function of (seed, epoch, cut id)."""
        self.epoch = epoch

    def __getitem__(self, cuts: CutSet) -> Dict[str, Any]:
        cuts = cuts.sort_by_duration(ascending=False)
        if len(cuts) == 0:
            raise CattError("empty batch: the sampler yielded no cuts")
        features, feature_lens = collate_features(list(cuts))
        feature_lens = feature_lens.long()
        if self.feature_transform is not None:
            segments = torch.stack(
                [torch.arange(len(cuts)), torch.zeros(len(cuts), dtype=torch.long), feature_lens],
                dim=1,
            ).int()
            features = self.feature_transform(features, supervision_segments=segments)
        tokens = [self.tokenizer.encode(cut_tagged_text(cut)) for cut in cuts]
        lists = self.phrase_lists(cuts)
        pointer = self._pointer_lists(cuts, lists)
        sampler = self.context_sampler
        household = sampler is not None and sampler.options.pointer_list == "household"
        return {
            "features": features,
            "feature_lens": feature_lens,
            "tokens": tokens,
            "context": make_context_batch(lists, self._encode_phrase),
            "pointer_lists": pointer if household else None,
            "history": self._histories(cuts, tokens, pointer),
            "chars": [self.tokenizer.encode_chars(_supervision(cut).text) for cut in cuts],
            "cuts": cuts,
        }

    def phrase_lists(self, cuts: CutSet) -> List[List[str]]:
        """Each cut's training phrase list (empty lists when there is no context sampler)."""
        sampler = self.context_sampler
        if sampler is None:
            return [[] for _ in cuts]
        first = min((cut.id for cut in cuts), default="")  # the batch's id, in any order
        shared = sampler.batch_distractors(key=f"{self.epoch}:{first}", seed=self.seed)
        return [
            sampler.sample(
                context_group(_supervision(cut)),
                positive_phrases(cut_slots(cut)),
                key=f"{self.epoch}:{cut.id}",
                seed=self.seed,
                distractors=shared,
            )
            for cut in cuts
        ]

    def _pointer_lists(
        self, cuts: CutSet, lists: List[List[str]]
    ) -> Optional[List[List[List[int]]]]:
        """Each cut's list-pointer phrases as token ids (:meth:`ContextSampler.pointer_list`),
        or None when nothing reads them (sampled pointer lists, no wrong names)."""
        sampler = self.context_sampler
        if sampler is None:
            return None
        if sampler.options.pointer_list == "sampled" and self.wrong_name_prob == 0:
            return None
        known, encode = self._phrase_tokens, self._encode_phrase
        out = []
        for cut, phrases in zip(cuts, lists):
            group, positives = context_group(_supervision(cut)), positive_phrases(cut_slots(cut))
            pointer = sampler.pointer_list(group, phrases, positives)
            # ~100 phrases (base: a household's 74 and the distractors), all but a few encoded
            # already (never to an empty list): one dict lookup each, a call only for a new one.
            out.append([known.get(p) or encode(p) for p in pointer])
        return out

    def _histories(
        self,
        cuts: CutSet,
        tokens: List[List[int]],
        pointer_lists: Optional[List[List[List[int]]]],
    ) -> Optional[List[List[int]]]:
        if self.wrong_name_prob == 0 or pointer_lists is None:
            return None
        return [
            wrong_name_history(
                ids,
                self._slot_pairs,
                phrases,
                random.Random(f"{self.seed}:wrong-name:{self.epoch}:{cut.id}"),
                prob=self.wrong_name_prob,
            )
            for cut, ids, phrases in zip(cuts, tokens, pointer_lists)
        ]

    def _encode_phrase(self, text: str) -> List[int]:
        ids = self._phrase_tokens.get(text)
        if ids is None:
            ids = self._phrase_tokens[text] = self.tokenizer.encode(text)
            if not ids:
                raise CattError(f"phrase {text!r} encodes to no tokens")
        return ids


def make_context_batch(
    lists: Sequence[Sequence[str]], encode: Callable[[str], List[int]]
) -> Optional[Any]:
    """``ContextBatch`` over the union of ``lists`` (first-appearance order), or None if empty.

    Args:
        lists: B phrase lists.
        encode: phrase text -> token ids.

    Returns:
        ``ContextBatch(tokens [N, L], lengths [N], mask [B, N])`` or None when N = 0.
    """
    from catt.model.context import ContextBatch

    if not any(lists):
        return None
    return ContextBatch.from_lists([[encode(p) for p in phrases] for phrases in lists])


def _identity_collate(batch: Any) -> Any:
    return batch


def make_dataloader(
    cuts: CutSet,
    dataset: CattDataset,
    *,
    max_duration: float,
    num_buckets: int = 10,
    shuffle: bool = True,
    seed: int = 0,
    world_size: int = 1,
    rank: int = 0,
    drop_last: bool = False,
) -> Tuple[DataLoader, DynamicBucketingSampler]:
    """A DataLoader over ``cuts`` with a DynamicBucketingSampler (batches of similar length).

    Data loading runs in the training process (``num_workers=0``), so the sampler's
    ``state_dict()`` is exactly the batches consumed and a resumed run gets the same next batch.

    Args:
        cuts: a (preferably lazy) CutSet with features.
        dataset: turns each sampled CutSet into a batch dict.
        max_duration: seconds of audio per batch (per process).
        num_buckets: duration buckets.
        shuffle: shuffle within the sampler's buffer (training); False for validation.
        seed: shuffling seed (mixed with the epoch by the sampler).
        world_size, rank: this process's share in distributed training.
        drop_last: drop incomplete batches.

    Returns:
        ``(dataloader, sampler)``; call ``sampler.set_epoch(e)`` and ``dataset.set_epoch(e)``.
    """
    sampler = DynamicBucketingSampler(
        cuts,
        max_duration=max_duration,
        num_buckets=num_buckets,
        shuffle=shuffle,
        drop_last=drop_last,
        seed=seed,
        world_size=world_size,
        rank=rank,
    )
    loader = DataLoader(
        dataset,
        sampler=sampler,
        batch_size=None,
        num_workers=0,
        collate_fn=_identity_collate,
        # Its own generator: starting an epoch must not draw from the global torch RNG, whose
        # state (SpecAugment, dropout) a checkpoint restores.
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler
