"""Transcription API: a loaded model plus phrase lists in, words, intent and slots out.

Example (see ``docs/usage.md``)::

    import catt
    t = catt.load("exp/model.pt")
    t.transcribe("call.wav", phrases=["kaitlyn fitzgerald"]).to_dict()

A phrase list is prepared once (token ids, phrase vectors for deep biasing, boosting trie) and
cached by its content, so the same list costs nothing on the next call, and a different list
changes the output without reloading the model.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from catt.audio import compute_features, load_audio
from catt.context.phrases import Phrase, load_phrases, merge_phrases, parse_phrases
from catt.context.trie import ContextTrie
from catt.decode.options import DecodingOptions, InvalidOptionError
from catt.decode.resolve import (
    RESCORE_PRUNE_RANGE,
    Rescorer,
    SlotTokens,
    best_path,
    char_head_scorer,
    floor_log_probs,
    heard_scorer,
    resolve_spans,
    summed,
)
from catt.decode.search import encode_phrase_list, greedy_search, modified_beam_search
from catt.errors import AudioError, CheckpointError, PhraseFileError
from catt.model.context import PhraseVectors
from catt.text.tags import Slot, parse_tagged
from catt.text.tokenizer import Tokenizer, normalize_text

__all__ = ["Transcript", "PhraseList", "Transcriber", "load", "transcribe_files"]

AudioInput = Union[str, Path, Tensor, np.ndarray]
PhrasesInput = Union[None, "PhraseList", Sequence[Union[str, Phrase]]]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    """What the model heard: the tagged output and its parse.

    >>> Transcript.from_tagged("<intent:call> call <contact> ann </contact>").to_dict()
    {'text': 'call ann', 'intent': 'call', 'slots': [{'type': 'contact', 'value': 'ann'}], 'tagged': '<intent:call> call <contact> ann </contact>'}
    """  # noqa: E501

    tagged: str
    text: str
    intent: Optional[str]
    slots: Tuple[Slot, ...]

    @classmethod
    def from_tagged(cls, tagged: str) -> Transcript:
        parsed = parse_tagged(tagged)
        return cls(tagged, parsed.text, parsed.intent, parsed.slots)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "slots": [s.to_dict() for s in self.slots],
            "tagged": self.tagged,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass
class PhraseList:
    """A phrase list prepared for one model: token ids, phrase vectors, boosting tries.

    Made by :meth:`Transcriber.prepare_phrases`; the vectors and tries are computed on first use.
    ``vectors`` holds the phrase vectors with the biasing layers' work on them, done once.
    ``openings``: each phrase's slot type as the id of its opening tag (None: any slot).
    """

    phrases: Tuple[Phrase, ...]
    token_ids: List[List[int]]
    openings: List[Optional[int]]
    vectors: Optional[PhraseVectors] = None
    tries: Dict[Tuple[float, bool], ContextTrie] = dataclasses.field(default_factory=dict)
    pointer: Optional[ContextTrie] = None
    pointer_keys: Optional[Tensor] = None  # [1, K, Dk], for a pointer that scores phrases

    def __len__(self) -> int:
        return len(self.phrases)


class Transcriber:
    """A model and its tokenizer, ready to transcribe with any phrase list.

    Args:
        model: a ``Transducer`` (put in eval mode here).
        tokenizer: the model's tokenizer.
        options: default decoding options (each call may override them).
        cache_size: how many prepared phrase lists to keep.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Tokenizer,
        *,
        options: Optional[DecodingOptions] = None,
        cache_size: int = 8,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.options = options if options is not None else DecodingOptions()
        self._cache: collections.OrderedDict = collections.OrderedDict()
        self._cache_size = cache_size
        self._slot_tokens = SlotTokens.from_tokenizer(tokenizer)
        self._tag_ids = frozenset(i for i, tag in enumerate(self._slot_tokens.is_tag) if tag)
        self._slot_pairs = tokenizer.slot_tag_pairs()

    @property
    def device(self) -> torch.device:
        try:
            return next(self.model.parameters()).device
        except StopIteration:
            return torch.device("cpu")

    def prepare_phrases(self, phrases: PhrasesInput) -> Optional[PhraseList]:
        """Tokenize a phrase list (cached by content); None for no list or an empty list.

        Raises:
            PhraseFileError: a phrase the tokenizer cannot spell (the message names it).
        """
        if phrases is None or isinstance(phrases, PhraseList):
            return phrases if phrases is None or len(phrases) else None
        items = merge_phrases(
            [p if isinstance(p, Phrase) else Phrase(normalize_text(str(p))) for p in phrases]
        )
        items = [p for p in items if p.text]
        if not items:
            return None
        key = tuple((p.text, p.weight, p.slot) for p in items)
        cached = self._cache.get(key)
        if cached is None:
            cached = PhraseList(
                tuple(items),
                [self.tokenizer.encode_phrase(p.text) for p in items],
                [self.tokenizer.tag_id(f"<{p.slot}>") if p.slot else None for p in items],
            )
            self._cache[key] = cached
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(key)
        return cached

    def _vectors(
        self, plist: Optional[PhraseList], options: DecodingOptions
    ) -> Optional[PhraseVectors]:
        if plist is None or not options.deep_biasing or not _uses_context(self.model):
            return None
        if plist.vectors is None:
            with torch.no_grad():
                emb = encode_phrase_list(self.model, plist.token_ids)
                plist.vectors = self.model.prepare_phrases(emb)
        return plist.vectors

    def _trie(self, plist: Optional[PhraseList], options: DecodingOptions) -> Optional[ContextTrie]:
        if plist is None or options.search_boost == 0.0:
            return None
        key = (options.search_boost, options.boost_back_to_back)
        trie = plist.tries.get(key)
        if trie is None:
            trie = ContextTrie(
                plist.token_ids,
                boost=options.search_boost,
                weights=[p.weight for p in plist.phrases],
                transparent_ids=self._tag_ids,
                back_to_back=options.boost_back_to_back,
            )
            plist.tries[key] = trie
        return trie

    def _pointer(
        self, plist: Optional[PhraseList], options: DecodingOptions
    ) -> Optional[ContextTrie]:
        """The list pointer's trie (:mod:`catt.model.pointer`): with deep biasing, for a model
        that has a pointer, unless ``options.pointer`` is False."""
        if plist is None or not (options.deep_biasing and options.pointer):
            return None
        if getattr(getattr(self.model, "joiner", None), "pointer", None) is None:
            return None
        if plist.pointer is None:
            plist.pointer = ContextTrie(plist.token_ids, boost=0.0)
            if self.model.joiner.pointer.scores_phrases:
                with torch.no_grad():
                    plist.pointer_keys = self.model.joiner.pointer.phrase_keys([plist.token_ids])
        return plist.pointer

    def decode_features(
        self,
        features: Sequence[Tensor],
        phrases: PhrasesInput = None,
        options: Optional[DecodingOptions] = None,
    ) -> List[Transcript]:
        """Transcribe utterances given as feature matrices, each [T, 80], in batches."""
        options = options if options is not None else self.options
        return self.decode_features_weights(
            features, phrases, options, [options.resolve_transducer]
        )[0]

    def decode_features_weights(
        self,
        features: Sequence[Tensor],
        phrases: PhrasesInput,
        options: DecodingOptions,
        transducer_weights: Sequence[Optional[float]],
    ) -> List[List[Transcript]]:
        """:meth:`decode_features` under each transducer weight of list resolution in turn
        (``options.resolve_transducer`` is not read): the transcripts of each weight.

        The search runs once and its hypotheses are resolved under each weight; the scores that
        the weights share are computed once. A weight of None stands for no resolution: the
        search's own transcripts (``catt tune`` scores both modes on one search). Without
        resolution, every weight gets the search's transcripts.
        """
        for weight in transducer_weights:
            if weight is not None:  # a bad weight fails here
                dataclasses.replace(options, resolve_transducer=weight)
        plist = self.prepare_phrases(phrases)
        phrase_emb = self._vectors(plist, options)
        trie = self._trie(plist, options)
        pointer = self._pointer(plist, options)
        pointer_keys = plist.pointer_keys if pointer is not None else None
        resolve = options.resolve and plist is not None
        if resolve and getattr(self.model, "ctc_proj", None) is None:
            raise InvalidOptionError(
                "list resolution needs a model with a CTC head; this one was trained without "
                "(model.ctc_weight: 0)"
            )
        out: List[List[Transcript]] = [[] for _ in transducer_weights]
        for start in range(0, len(features), options.batch_size):
            batch = features[start : start + options.batch_size]
            feats, lens = _pad(batch, self.device)
            encoded = self._encode(feats, lens) if resolve else None
            if options.greedy:
                tokens = greedy_search(
                    self.model,
                    feats,
                    lens,
                    phrase_emb=phrase_emb,
                    max_symbols=options.max_symbols,
                    encoded=encoded,
                    pointer=pointer,
                    pointer_keys=pointer_keys,
                )
            else:
                tokens = modified_beam_search(
                    self.model,
                    feats,
                    lens,
                    beam=options.beam,
                    phrase_emb=phrase_emb,
                    trie=trie,
                    max_symbols=options.max_symbols,
                    encoded=encoded,
                    pointer=pointer,
                    pointer_keys=pointer_keys,
                    slot_pairs=self._slot_pairs if options.closed_slots else None,
                )
            if encoded is None:
                found = [Transcript.from_tagged(self.tokenizer.decode(t)) for t in tokens]
                for transcripts in out:
                    transcripts += found
                continue
            resolved = self._resolve(tokens, encoded, plist, options, transducer_weights)
            for transcripts, hyps in zip(out, resolved):
                transcripts += [Transcript.from_tagged(self.tokenizer.decode(t)) for t in hyps]
        return out

    @torch.no_grad()
    def _encode(self, feats: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        return self.model.encode(feats, lens)

    @torch.no_grad()
    def _resolve(
        self,
        tokens: List[List[int]],
        encoded: Tuple[Tensor, Tensor],
        plist: PhraseList,
        options: DecodingOptions,
        transducer_weights: Sequence[Optional[float]],
    ) -> List[List[List[int]]]:
        """The batch's hypotheses with their list slots resolved (:mod:`catt.decode.resolve`)
        under each transducer weight (None: left as the search wrote them); ``encoded``: the
        audio embeddings the search used."""
        h, h_lens = encoded
        log_probs = floor_log_probs(self.model.ctc_log_probs(h), options.resolve_floor)
        char_log_probs = None
        reads_chars = options.resolve_heard > 0 or options.resolve_char_head > 0
        if reads_chars and getattr(self.model, "char_head", None) is not None:
            char_log_probs = floor_log_probs(
                self.model.char_log_probs(h, h_lens), options.resolve_floor
            )
        rescoring = any(w is not None and w > 0 for w in transducer_weights)
        out: List[List[List[int]]] = [[] for _ in transducer_weights]
        for i, t in enumerate(tokens):
            frames = int(h_lens[i])
            rescore = self._rescorer(h[i : i + 1, :frames], plist, options) if rescoring else None
            heard = self._added(
                log_probs[i, :frames],
                None if char_log_probs is None else char_log_probs[i, :frames],
                options,
            )
            memo: Dict[Any, Tensor] = {}  # the scores the weights share
            for hyps, weight in zip(out, transducer_weights):
                if weight is None:
                    hyps.append(t)
                    continue
                hyps.append(
                    resolve_spans(
                        t,
                        log_probs[i, :frames],
                        plist.token_ids,
                        self._slot_tokens,
                        blank_id=self.model.blank_id,
                        bonus=options.resolve_bonus,
                        char_bonus=options.resolve_char_bonus,
                        openings=plist.openings,
                        rescore=rescore,
                        transducer_weight=weight,
                        memo=memo,
                        heard=heard,
                    )
                )
        return out

    def _added(
        self, log_probs: Tensor, char_log_probs: Optional[Tensor], options: DecodingOptions
    ) -> Optional[Rescorer]:
        """What resolution adds to each candidate's scores for one utterance (None: nothing):
        the edits from what the model heard (:func:`~catt.decode.resolve.heard_scorer`, from
        the character head's best path, ``char_log_probs`` [T, C], when the model has one,
        else the CTC head's, ``log_probs`` [T, V]), and the character head's score
        (:func:`~catt.decode.resolve.char_head_scorer`)."""
        heard = chars = None
        known: Dict[Tuple[int, ...], str] = {}  # each candidate's words, read by both scorers

        def words(ids: Sequence[int]) -> str:
            key = tuple(ids)
            if key not in known:
                known[key] = self._words(key)
            return known[key]

        if options.resolve_heard > 0:
            if char_log_probs is None:
                said = self._words(best_path(log_probs, self.model.blank_id))
            else:
                said = self.tokenizer.decode_chars(best_path(char_log_probs, 0))
            heard = heard_scorer(said, words, options.resolve_heard)
        if char_log_probs is not None and options.resolve_char_head > 0:
            chars = char_head_scorer(
                char_log_probs,
                words,
                self.tokenizer.encode_chars,
                weight=options.resolve_char_head,
                bonus=options.resolve_char_head_bonus,
            )
        return summed(heard, chars)

    def _words(self, ids: Sequence[int]) -> str:
        """The words of token ids, tags left out."""
        return Transcript.from_tagged(self.tokenizer.decode(list(ids))).text

    def _rescorer(self, h: Tensor, plist: PhraseList, options: DecodingOptions) -> Rescorer:
        """The transducer's log-likelihood of whole sequences of one utterance, h [1, T', D],
        decoded with ``plist`` as the search decoded it."""
        vectors = self._vectors(plist, options)
        pointer = self._pointer(plist, options)
        h_len = torch.tensor([h.size(1)], device=h.device)
        # A pointer that spots reads the same spotting scores for every candidate: computed at
        # the first call (an utterance without a list slot never calls).
        spots: List[Tensor] = []

        def rescore(sequences: List[List[int]]) -> Tensor:
            n = len(sequences)
            if not spots and pointer is not None and self.model.joiner.pointer.spots:
                spots.append(self.model.phrase_spots(h, h_len, [plist.token_ids]))
            return self.model.sequence_log_likelihood(
                h.expand(n, -1, -1),
                h_len.expand(n),
                sequences,
                self.model.make_context(vectors, None, n),
                [plist.token_ids] * n if pointer is not None else None,
                prune_range=RESCORE_PRUNE_RANGE,
                spots=spots[0].expand(n, -1) if spots else None,
                keys=plist.pointer_keys,
            )

        return rescore

    def transcribe(
        self,
        audio: AudioInput,
        phrases: PhrasesInput = None,
        options: Optional[DecodingOptions] = None,
    ) -> Transcript:
        """Transcribe one utterance: a file path, or 16 kHz mono samples [num_samples].

        Args:
            phrases: phrase texts or :class:`Phrase` objects (or a prepared :class:`PhraseList`);
                None or empty: no context. A text takes the slot's type;
                ``Phrase(text, slot="contact")`` goes in contact tags.
            options: overrides the default options, e.g. ``DecodingOptions(beam=8, boost=2.0)``.

        Raises:
            AudioError: the file is missing or not audio.
            PhraseFileError: a phrase the model cannot spell.
        """
        if isinstance(audio, (str, Path)):
            samples = load_audio(audio)
        else:
            samples = torch.as_tensor(audio, dtype=torch.float32).reshape(-1)
            if samples.numel() == 0:
                raise AudioError("no audio samples")
        return self.decode_features([compute_features(samples)], phrases, options)[0]


def _changed(before: DecodingOptions, after: DecodingOptions) -> str:
    """The fields ``after`` changes, as ``name value`` pairs ("" when none).

    >>> _changed(DecodingOptions(), DecodingOptions(boost=0.5, resolve=True))
    'boost 0.5, resolve True'
    """
    fields = (f.name for f in dataclasses.fields(DecodingOptions))
    pairs = [(n, getattr(after, n)) for n in fields if getattr(after, n) != getattr(before, n)]
    return ", ".join(f"{n} {v}" for n, v in pairs)


def _uses_context(model: Any) -> bool:
    """False for a model without biasing layers (it has no phrase encoder)."""
    config = getattr(model, "config", None)
    return bool(getattr(config, "uses_context", True))


def _pad(features: Sequence[Tensor], device: torch.device) -> Tuple[Tensor, Tensor]:
    """Stack [T_i, F] matrices into [B, T, F] (zero padded) and lengths [B]."""
    lens = torch.tensor([f.size(0) for f in features], dtype=torch.long)
    out = torch.zeros(len(features), int(lens.max()), features[0].size(1))
    for i, f in enumerate(features):
        out[i, : f.size(0)] = f
    return out.to(device), lens.to(device)


def load(path: Union[str, Path], device: Union[None, str, torch.device] = None) -> Transcriber:
    """Load a model file (``catt train`` output) as a :class:`Transcriber`.

    Its default options are the library's, with the decoding settings tuned for the model
    (``catt tune --save-to-model``) over them when the file holds some.

    Args:
        device: e.g. ``"cpu"`` or ``"cuda:0"``; None picks CUDA when available, else the CPU.

    Raises:
        CheckpointError: the file is missing or broken, its tuned settings included.
    """
    from catt.model.checkpoint import model_from_file, read_model_file

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    obj = read_model_file(path)
    model, tokenizer = model_from_file(obj, path, torch.device(device))
    try:
        options = DecodingOptions(**obj.get("decoding", {}))
    except (TypeError, InvalidOptionError) as e:
        raise CheckpointError(f"model file {path}: bad tuned decoding settings: {e}") from None
    return Transcriber(model, tokenizer, options=options)


PhraseFiles = Sequence[Tuple[Union[str, Path], Optional[str]]]
"""Phrase files, each with the slot type of its phrases (None: any slot)."""


def check_phrase_files(tokenizer: Tokenizer, files: PhraseFiles) -> List[Phrase]:
    """Load and merge phrase files, checking that the model can spell every phrase.

    Raises:
        PhraseFileError: naming ``path:line`` of the first bad phrase.
    """
    lists = []
    for path, slot in files:
        phrases = load_phrases(path, slot)  # checks the encoding and the format
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
        for lineno, line in enumerate(lines, start=1):
            for phrase in parse_phrases([line], f"{path}:{lineno}"):
                try:
                    tokenizer.encode_phrase(phrase.text)
                except PhraseFileError as e:
                    raise PhraseFileError(f"{path}:{lineno}: {e}") from None
        lists.append(phrases)
    return merge_phrases(*lists)


def transcribe_files(
    *,
    model_path: Union[str, Path],
    audio_paths: Sequence[Union[str, Path]],
    phrase_files: PhraseFiles,
    **overrides: Any,
) -> int:
    """``catt transcribe``: print one JSON object per audio file on stdout.

    Each line is ``{"audio", "text", "intent", "slots", "tagged"}``, or ``{"audio", "error"}``
    for a file that cannot be read (the others are still transcribed).

    Args:
        overrides: :class:`DecodingOptions` fields (None: not given) over the model's defaults,
            which are its tuned settings when the model file holds some (:func:`load`).

    Returns:
        The exit code: 0, or 1 when some audio file failed.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    if "boost" in given:  # a boost given is the boost of either mode
        given.setdefault("boost_without_resolution", None)
    try:
        dataclasses.replace(DecodingOptions(), **given)  # bad values fail before any loading
    except TypeError as e:
        raise InvalidOptionError(str(e)) from None
    for path, slot in phrase_files:
        load_phrases(path, slot)  # bad phrase files fail before the model is loaded
    transcriber = load(model_path)
    tuned = _changed(DecodingOptions(), transcriber.options)
    if tuned:
        logger.info("%s: its tuned settings are the defaults: %s", model_path, tuned)
    options = dataclasses.replace(transcriber.options, **given)
    phrases = transcriber.prepare_phrases(check_phrase_files(transcriber.tokenizer, phrase_files))
    status = 0
    for path in audio_paths:
        try:
            result: Dict[str, Any] = {"audio": str(path)}
            result.update(transcriber.transcribe(path, phrases, options).to_dict())
        except AudioError as e:
            result, status = {"audio": str(path), "error": str(e)}, 1
        print(json.dumps(result, ensure_ascii=False), flush=True)
    return status
