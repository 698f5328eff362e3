"""``catt decode``: decode a corpus split under one context condition, into a results file.

Each utterance is decoded with its context group's own list (a household's contacts + devices),
optionally padded with distractors drawn from the other groups of the same split, or with a
fixed list set that already holds its distractors (``lists="biasing_100"``: the LibriSpeech
rare-word lists), or with no list at all. The ``biasing_list`` of every results line is the
group's own list. The output is the JSON-lines results file of ``docs/architecture.md``
("Results file").
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import multiprocessing
import random
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch

from catt.context.phrases import Phrase, merge_phrases
from catt.cpu import keep_freed_memory
from catt.data.corpus import Corpus, context_group, open_corpus
from catt.decode.options import DecodingOptions
from catt.errors import CattError
from catt.io import atomic_path, atomic_write_text
from catt.metrics.results import NO_CONTEXT, mode_name
from catt.text.tags import build_tagged, parse_tagged

__all__ = [
    "Decoders",
    "Group",
    "decode_condition",
    "decode_conditions",
    "condition_name",
    "household_phrases",
    "draw_distractors",
]

logger = logging.getLogger(__name__)


def condition_name(
    *, context: bool, deep_biasing: bool, boost: float, distractors: int, resolve: bool = False
) -> str:
    """The default name of a condition, e.g. ``no-context``, ``deep+0``, ``deep+boost+100``.

    >>> condition_name(context=True, deep_biasing=True, boost=2.0, distractors=100)
    'deep+boost+100'
    >>> condition_name(context=True, deep_biasing=False, boost=0, distractors=10, resolve=True)
    'resolve+10'
    >>> condition_name(context=False, deep_biasing=True, boost=2.0, distractors=100)
    'no-context'
    """
    if not context:
        return "no-context"
    mode = mode_name(deep_biasing, boost, resolve)
    return f"{'list' if mode == NO_CONTEXT else mode}+{distractors}"


def household_phrases(data_dir: Path, household: str) -> List[Phrase]:
    """A context group's own phrase list (a household: its contacts then its devices)."""
    return open_corpus(data_dir).context_lists([household])[household]


def draw_distractors(
    own: Sequence[Phrase], others: Iterable[Phrase], count: int, *, seed: int, household: str
) -> List[Phrase]:
    """``count`` phrases drawn from ``others`` (not in ``own``), the same for the same seed.

    >>> own = [Phrase("ann")]
    >>> pool = [Phrase(t) for t in ["bob", "ann", "cy", "di"]]
    >>> draw_distractors(own, pool, 2, seed=0, household="h1") == draw_distractors(
    ...     own, pool, 2, seed=0, household="h1")
    True
    """
    taken = {p.text for p in own}
    pool = sorted({p.text: p for p in others if p.text not in taken}.values(), key=lambda p: p.text)
    if count > len(pool):
        logger.warning(
            "%s: %d distractors asked, only %d phrases in other households",
            household,
            count,
            len(pool),
        )
        count = len(pool)
    return random.Random(f"{seed}:{household}").sample(pool, count)


def _supervision_fields(cut: Any) -> Dict[str, Any]:
    sup = cut.supervisions[0]
    custom = sup.custom or {}
    return {
        "text": sup.text,
        "language": sup.language,
        "intent": custom.get("intent"),
        "household": context_group(sup),
        "slots": custom.get("slots", []),
    }


def _load_cuts(corpus: Corpus, split: str, limit: Optional[int]) -> List[Any]:
    from lhotse import load_manifest_lazy

    path = corpus.require("cuts", split, "prepare the corpus and compute features first")
    cuts = [c for c in load_manifest_lazy(path) if c.supervisions]
    return cuts if limit is None else cuts[:limit]


def decode_condition(
    *,
    model_path: Union[str, Path],
    data_dir: Union[str, Path],
    split: str,
    out_path: Union[str, Path],
    distractors: int,
    context: bool,
    deep_biasing: bool,
    boost: float,
    beam: int,
    condition: Optional[str],
    seed: int,
    limit: Optional[int],
    lists: Optional[str] = None,
    max_symbols: int = DecodingOptions.max_symbols,
    resolve: bool = False,
    resolve_bonus: float = DecodingOptions.resolve_bonus,
    resolve_char_bonus: float = DecodingOptions.resolve_char_bonus,
    resolve_floor: float = DecodingOptions.resolve_floor,
    resolve_heard: float = DecodingOptions.resolve_heard,
    resolve_char_head: float = DecodingOptions.resolve_char_head,
    resolve_char_head_bonus: float = DecodingOptions.resolve_char_head_bonus,
    resolve_transducer: float = DecodingOptions.resolve_transducer,
    pointer: bool = True,
    closed_slots: bool = DecodingOptions.closed_slots,
    boost_back_to_back: bool = DecodingOptions.boost_back_to_back,
    jobs: int = 1,
    more_weights: Sequence[Tuple[Optional[float], Union[str, Path], Optional[str]]] = (),
    decoders: Optional[Decoders] = None,
) -> Path:
    """Decode ``DATA/manifests/{prefix}_cuts_{split}.jsonl.gz`` under one condition.

    Utterances are decoded context group by group; the results file is written atomically.
    With ``jobs`` > 1, that many processes decode the groups side by side, each with its share
    of torch's threads: the search is a loop over small tensors that one thread runs nearly as
    fast as two, so two processes decode 1.67 times as many utterances a second on two cores
    (docs/benchmarks.md, "Decoding processes"). The results are those of one process.
    With ``lists`` (a list set of ``DATA/context``, e.g. ``biasing_100``), each group is
    decoded with that set's fixed list and ``distractors`` must be 0: the results record the
    set's own distractor count.

    ``more_weights``: (transducer weight, results file, condition name) of more list
    resolutions of the same search, each written like ``out_path``; the search runs once and
    the scores the weights share are computed once (``catt tune`` decodes its weight grid so).
    A weight of None writes the search's hypotheses unresolved, as the same condition without
    ``resolve`` would (``catt tune`` scores the modes without resolution so).

    ``decoders``: processes of the same model kept for several conditions (``jobs`` is then
    theirs); without it the call starts its own and stops them when it ends.

    Returns:
        ``out_path``.
    """
    from tqdm import tqdm

    if distractors < 0:
        raise CattError(f"--distractors must be >= 0, got {distractors}")
    if jobs < 1:
        raise CattError(f"--jobs must be >= 1, got {jobs}")
    options = DecodingOptions(
        beam=beam,
        boost=boost if context else 0.0,
        deep_biasing=deep_biasing,
        pointer=pointer,
        max_symbols=max_symbols,
        resolve=resolve and context,
        resolve_bonus=resolve_bonus,
        resolve_char_bonus=resolve_char_bonus,
        resolve_floor=resolve_floor,
        resolve_heard=resolve_heard,
        resolve_char_head=resolve_char_head,
        resolve_char_head_bonus=resolve_char_head_bonus,
        resolve_transducer=resolve_transducer,
        closed_slots=closed_slots,
        boost_back_to_back=boost_back_to_back,
    )
    for weight, _, _ in more_weights:
        if weight is not None:  # InvalidOptionError when bad
            dataclasses.replace(options, resolve_transducer=weight)
    if lists is not None and distractors:
        raise CattError(f"--distractors {distractors}: the list set {lists} has its own")
    data_dir, out_path = Path(data_dir), Path(out_path)
    corpus = open_corpus(data_dir)
    all_cuts = _load_cuts(corpus, split, None)
    cuts = all_cuts if limit is None else all_cuts[:limit]
    households = sorted({_supervision_fields(c)["household"] for c in all_cuts} - {None})
    own_lists = corpus.context_lists(households)
    fixed = None
    if lists is not None:
        list_set = corpus.list_set(lists)
        fixed, distractors = list_set.lists, list_set.distractors
    name = condition or condition_name(
        context=context,
        deep_biasing=deep_biasing,
        boost=boost,
        distractors=distractors,
        resolve=resolve,
    )
    by_household: Dict[Any, List[Any]] = {}
    for cut in cuts:
        by_household.setdefault(_supervision_fields(cut)["household"], []).append(cut)
    groups: List[Group] = []
    for household, group in by_household.items():
        own = own_lists.get(household, [])
        phrases: List[Phrase] = []
        if context and fixed is not None:
            phrases = merge_phrases(own, fixed.get(household, []))
        elif context:
            others = (p for h, ps in own_lists.items() if h != household for p in ps)
            extra = draw_distractors(own, others, distractors, seed=seed, household=str(household))
            phrases = merge_phrases(own, extra)
        groups.append(Group(group, own, phrases))
    outputs: List[Tuple[Optional[float], Path, str]] = [(resolve_transducer, out_path, name)]
    for w, path, cond in more_weights:
        default = f"{name}:{'unresolved' if w is None else f'{w:g}'}"
        outputs.append((w, Path(path), cond or default))
    weights = [w for w, _, _ in outputs]
    unresolved = dataclasses.replace(options, resolve=False)
    lines: List[Dict[str, str]] = [{} for _ in outputs]
    with contextlib.ExitStack() as stack:
        if decoders is None:  # no more processes than groups
            decoders = stack.enter_context(Decoders(model_path, max(1, min(jobs, len(groups)))))
        progress = stack.enter_context(tqdm(total=len(cuts), desc=f"decode {name}", unit="utt"))
        for group, tagged in decoders.decode(groups, options, weights):
            for (weight, _, cond), found, kept in zip(outputs, tagged, lines):
                opts = unresolved if weight is None else options
                for cut, hyp in zip(group.cuts, found):
                    record = _record(cut, hyp, group.own, cond, opts, context, distractors)
                    kept[cut.id] = json.dumps(record, ensure_ascii=False)
            progress.update(len(group.cuts))
    for (_, path, cond), kept in zip(outputs, lines):
        with atomic_path(path) as tmp:
            tmp.write_text("".join(kept[c.id] + "\n" for c in cuts), encoding="utf-8")
        logger.info("%s: %d utterances -> %s", cond, len(cuts), path)
    return out_path


def decode_conditions(
    conditions: Sequence[Tuple[str, Dict[str, Any]]],
    *,
    model_path: Union[str, Path],
    data_dir: Union[str, Path],
    split: str,
    out_dir: Union[str, Path],
    limit: Optional[int] = None,
    jobs: int = 1,
    prefix: str = "",
) -> List[Path]:
    """Decode each condition, (name, :func:`decode_condition`'s condition keyword arguments),
    into ``out_dir/NAME.jsonl``, all of them with one set of :class:`Decoders`. The results
    name the condition ``prefix + NAME`` (e.g. ``test-clean/deep+100``).

    Each condition's settings (its arguments, the model, corpus, split and limit) go to
    ``out_dir/NAME.settings.json`` when it is decoded. A condition whose results and settings
    are there already, the same, is skipped: a rerun decodes only what is missing or changed
    (a boost tuned again). The settings do not identify the model file's content: after
    training a model again at the same path, decode into a new directory.

    Returns:
        The results files, in the order of ``conditions``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    where = {"model": str(model_path), "data": str(data_dir), "split": split, "limit": limit}
    with Decoders(model_path, jobs) as decoders:
        for name, kwargs in conditions:
            out = out_dir / f"{name}.jsonl"
            settings_path = out_dir / f"{name}.settings.json"
            settings = {**where, "condition": prefix + name, **kwargs}
            settings = json.dumps(settings, sort_keys=True) + "\n"
            if out.is_file() and _read_or_none(settings_path) == settings:
                logger.info("%s: decoded already with these settings (%s)", name, out)
            else:
                decode_condition(
                    model_path=model_path,
                    data_dir=data_dir,
                    split=split,
                    out_path=out,
                    condition=prefix + name,
                    limit=limit,
                    jobs=jobs,
                    decoders=decoders,
                    **kwargs,
                )
                atomic_write_text(settings_path, settings)
            paths.append(out)
    return paths


def _read_or_none(path: Path) -> Optional[str]:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


class Group(NamedTuple):
    """A context group's cuts (anything with ``load_features()``: a [T, 80] array), its own
    list and the list they are decoded with."""

    cuts: List[Any]
    own: List[Phrase]
    phrases: List[Phrase]


_worker: Dict[str, Any] = {}
"""A decoding process's transcriber, loaded once by :func:`_start_worker`."""


def _start_worker(model_path: Union[str, Path], threads: int) -> None:
    from catt.decode.transcriber import load

    keep_freed_memory()  # as the catt command that started this process
    torch.set_num_threads(threads)
    _worker["transcriber"] = load(model_path)


def _decode_group(
    transcriber: Any,
    features: List[Any],
    phrases: List[Phrase],
    options: DecodingOptions,
    weights: Sequence[Optional[float]],
) -> List[List[str]]:
    """The tagged hypotheses of one group's utterances, for each transducer weight."""
    tensors = [torch.as_tensor(f) for f in features]
    found = transcriber.decode_features_weights(tensors, phrases, options, weights)
    return [[hyp.tagged for hyp in hyps] for hyps in found]


def _decode_task(
    task: Tuple[int, List[Any], List[Phrase], DecodingOptions, Sequence[Optional[float]]],
) -> Tuple[int, List[List[str]]]:
    index, features, phrases, options, weights = task
    return index, _decode_group(_worker["transcriber"], features, phrases, options, weights)


class Decoders:
    """The processes that decode context groups with one model, kept for several conditions:
    this process when ``jobs`` is 1, else ``jobs`` spawned processes, each with its share of
    torch's threads. They start at the first :meth:`decode` and stop with the ``with`` block
    (or :meth:`close`): each process imports torch and loads the model once, not once a
    condition."""

    def __init__(self, model_path: Union[str, Path], jobs: int = 1) -> None:
        if jobs < 1:
            raise CattError(f"--jobs must be >= 1, got {jobs}")
        self.model_path, self.jobs = model_path, jobs
        self._transcriber: Any = None
        self._pool: Any = None

    def __enter__(self) -> Decoders:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Stop the processes (any decode still running with them ends)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        self._transcriber = None

    def _start(self) -> None:
        from catt.decode.transcriber import load

        transcriber = load(self.model_path)  # here first: a bad model fails before any process
        if self.jobs == 1:
            self._transcriber = transcriber
            return
        threads = max(1, torch.get_num_threads() // self.jobs)
        spawn = multiprocessing.get_context("spawn")  # a fork would copy torch's thread pool
        self._pool = spawn.Pool(
            self.jobs, initializer=_start_worker, initargs=(self.model_path, threads)
        )

    def decode(
        self,
        groups: Sequence[Group],
        options: DecodingOptions,
        transducer_weights: Optional[Sequence[Optional[float]]] = None,
    ) -> Iterator[Tuple[Group, List[List[str]]]]:
        """Each group with its tagged hypotheses for each of ``transducer_weights`` (default:
        ``options.resolve_transducer`` alone; None: unresolved), as they are decoded: in order
        with one job, else in the order they finish."""
        weights = list(transducer_weights or [options.resolve_transducer])
        if self._transcriber is None and self._pool is None:
            self._start()
        if self._pool is None:
            for group in groups:
                features = [c.load_features() for c in group.cuts]
                yield (
                    group,
                    _decode_group(self._transcriber, features, group.phrases, options, weights),
                )
            return
        tasks = (
            (i, [c.load_features() for c in group.cuts], group.phrases, options, weights)
            for i, group in enumerate(groups)
        )
        for index, tagged in self._pool.imap_unordered(_decode_task, tasks):
            yield groups[index], tagged


def _record(
    cut: Any,
    hyp_tagged: str,
    own: Sequence[Phrase],
    name: str,
    options: DecodingOptions,
    context: bool,
    distractors: int,
) -> Dict[str, Any]:
    """One line of the results file."""
    sup = _supervision_fields(cut)
    ref_tagged = build_tagged(sup["text"], sup["intent"], sup["slots"])
    return {
        "id": cut.id,
        "condition": name,
        "distractors": distractors if context else 0,
        "deep_biasing": bool(context and options.deep_biasing),
        "boost": options.search_boost,
        "resolve": options.resolve,
        "language": sup["language"],
        "household": sup["household"],
        "biasing_list": [p.text for p in own],
        "ref_tagged": ref_tagged,
        "hyp_tagged": hyp_tagged,
        "ref": parse_tagged(ref_tagged).to_dict(),
        "hyp": parse_tagged(hyp_tagged).to_dict(),
    }
