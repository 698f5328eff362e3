"""A corpus directory, whatever corpus it holds: manifest names, splits and context lists.

Every recipe prepares the same layout (``docs/architecture.md``, "The corpus directory"), only
the manifest prefix changes (``smarthome``, ``librispeech``, ``fsc``)::

    DATA/corpus.json                             {"prefix": ..., "context_group": ..., ...}
    DATA/manifests/{prefix}_{kind}_{split}.jsonl.gz     kind: recordings, supervisions, cuts
    DATA/context/{name}.jsonl.gz                 list sets: a header line, then one group a line
    DATA/lang/bpe.model

A *context group* is the key that picks an utterance's phrase list: the household for the
smart-home corpus, the utterance itself for the LibriSpeech rare-word lists, none for Fluent
Speech Commands. It is ``supervision.custom["context_group"]`` (or, for the smart-home corpus,
``custom["household"]``). The list set ``own`` holds each group's own phrases (they define the
B-words of B-WER); other list sets (e.g. ``biasing_100``) hold fixed decoding lists that already
include their distractors. A smart-home corpus keeps its ``households/`` folders, which serve as
its ``own`` lists when ``context/own.jsonl.gz`` is absent.

>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> save_list_set(d, "own", {"u1": ["mated", "intermingled"]}).name
'own.jsonl.gz'
>>> write_corpus_info(d, prefix="librispeech", context_group="utterance")
>>> corpus = open_corpus(d)
>>> corpus.manifest("cuts", "test-clean").name
'librispeech_cuts_test-clean.jsonl.gz'
>>> [p.text for p in corpus.context_lists()["u1"]]
['mated', 'intermingled']
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from catt.context.phrases import Phrase, load_household, merge_phrases
from catt.errors import CattError
from catt.io import atomic_path, atomic_write_text

__all__ = [
    "CONTEXT_GROUP_KINDS",
    "Corpus",
    "ListSet",
    "context_group",
    "normalize_words",
    "open_corpus",
    "save_list_set",
    "write_corpus_info",
]

CONTEXT_GROUP_KINDS: Tuple[str, ...] = ("household", "utterance", "none")
"""What a context group is: a household (lists shared by its utterances), one utterance (its
own list holds words it says), or nothing (the corpus has no phrase lists)."""

_SPLIT_ORDER = ("train", "adapt", "dev", "valid", "test")
_MANIFEST = re.compile(
    r"^(?P<prefix>[a-z0-9]+)_(recordings|supervisions|cuts)_(?P<split>[A-Za-z0-9_.-]+)\.jsonl\.gz$"
)
DEFAULT_PREFIX = "smarthome"
"""The prefix of a directory with no manifests and no ``corpus.json`` (nothing prepared yet)."""

PathLike = Union[str, Path]


def normalize_words(text: str) -> str:
    """Lower-cased words without punctuation (apostrophes inside words kept).

    >>> normalize_words("Turn on the lights, in the KITCHEN!  It's late.")
    "turn on the lights in the kitchen it's late"
    """
    text = re.sub(r"[^\w' ]+", " ", text.lower())
    words = (w.strip("'") for w in text.split())
    return " ".join(w for w in words if w)


def context_group(supervision: Any) -> Optional[str]:
    """The context group of a supervision (``custom["context_group"]`` or its household)."""
    custom = getattr(supervision, "custom", None) or {}
    group = custom.get("context_group", custom.get("household"))
    return None if group is None else str(group)


@dataclass(frozen=True)
class ListSet:
    """One list set: a fixed phrase list per context group.

    Attributes:
        name: the file stem under ``DATA/context`` (``own``, ``biasing_100``, ...).
        distractors: how many phrases of each list are not the group's own (0 for ``own``).
        lists: ``{group: [Phrase, ...]}``.
    """

    name: str
    distractors: int
    lists: Mapping[str, Sequence[Phrase]]


def save_list_set(
    data_dir: PathLike,
    name: str,
    lists: Mapping[str, Iterable[str]],
    *,
    distractors: int = 0,
) -> Path:
    """Write ``DATA/context/{name}.jsonl.gz`` atomically; returns its path.

    The first line is ``{"list_set": name, "distractors": n}``, then one
    ``{"group": id, "phrases": [...]}`` per group.
    """
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise CattError(f"list set name {name!r}: use lower-case letters, digits and _")
    path = Path(data_dir) / "context" / f"{name}.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"list_set": name, "distractors": int(distractors)})]
    for group, phrases in lists.items():
        lines.append(json.dumps({"group": group, "phrases": list(phrases)}, ensure_ascii=False))
    with atomic_path(path) as tmp:
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return path


def _load_list_set(path: Path) -> ListSet:
    if not path.is_file():
        raise CattError(f"{path} is missing: no such list set (prepare the corpus first)")
    lists: Dict[str, List[Phrase]] = {}
    header: Dict[str, Any] = {}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                row = json.loads(line)
                if number == 1:
                    header = row
                    continue
                phrases = [Phrase(" ".join(str(p).lower().split())) for p in row["phrases"]]
                lists[str(row["group"])] = merge_phrases([p for p in phrases if p.text])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CattError(f"{path}: not a list set file ({type(e).__name__}: {e})") from None
    if "list_set" not in header:
        raise CattError(f"{path}:1: missing the list_set header line")
    return ListSet(str(header["list_set"]), int(header.get("distractors", 0)), lists)


def write_corpus_info(data_dir: PathLike, *, prefix: str, context_group: str, **extra: Any) -> None:
    """Write ``DATA/corpus.json`` (keys already there and not given are kept)."""
    if context_group not in CONTEXT_GROUP_KINDS:
        raise CattError(
            f"context_group must be one of {CONTEXT_GROUP_KINDS}, got {context_group!r}"
        )
    path = Path(data_dir) / "corpus.json"
    info = _read_info(path)
    info.update(extra, prefix=prefix, context_group=context_group)
    atomic_write_text(path, json.dumps(info, indent=2, ensure_ascii=False) + "\n")


def _read_info(path: Path) -> Dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CattError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(info, dict):
        raise CattError(f"{path}: expected a JSON object")
    return info


@dataclass(frozen=True)
class Corpus:
    """A prepared corpus directory (see the module docstring); build it with :func:`open_corpus`.

    Attributes:
        root: the directory.
        prefix: the manifest prefix, e.g. ``smarthome``.
        group_kind: one of :data:`CONTEXT_GROUP_KINDS`.
    """

    root: Path
    prefix: str
    group_kind: str

    def manifest(self, kind: str, split: str) -> Path:
        """``DATA/manifests/{prefix}_{kind}_{split}.jsonl.gz`` (it may not exist)."""
        return self.root / "manifests" / f"{self.prefix}_{kind}_{split}.jsonl.gz"

    def require(self, kind: str, split: str, hint: str) -> Path:
        """The manifest's path; a :class:`CattError` naming it and ``hint`` when it is missing."""
        path = self.manifest(kind, split)
        if not path.is_file():
            raise CattError(f"{path} is missing: {hint}")
        return path

    def splits(self, kind: str = "recordings") -> List[str]:
        """The splits with a ``kind`` manifest: train, adapt, dev, valid, test first, then by
        name."""
        found = []
        for path in (self.root / "manifests").glob(f"{self.prefix}_{kind}_*.jsonl.gz"):
            found.append(path.name[len(f"{self.prefix}_{kind}_") : -len(".jsonl.gz")])
        rank = {s: i for i, s in enumerate(_SPLIT_ORDER)}
        return sorted(found, key=lambda s: (rank.get(s, len(rank)), s))

    @property
    def per_utterance(self) -> bool:
        """True when each list holds the words its utterance says (all of them positives)."""
        return self.group_kind == "utterance"

    def list_set(self, name: str = "own") -> ListSet:
        """A list set; ``own`` falls back on the smart-home ``households/`` folders."""
        path = self.root / "context" / f"{name}.jsonl.gz"
        if name == "own" and not path.is_file() and (self.root / "households").is_dir():
            return ListSet("own", 0, self._household_lists())
        if name == "own" and self.group_kind == "none" and not path.is_file():
            return ListSet("own", 0, {})
        return _load_list_set(path)

    def context_lists(
        self, groups: Optional[Iterable[str]] = None, name: str = "own"
    ) -> Dict[str, List[Phrase]]:
        """``{group: [Phrase, ...]}`` of a list set, only ``groups`` (each must be there)."""
        lists = self.list_set(name).lists
        if groups is None:
            return {g: list(p) for g, p in sorted(lists.items())}
        wanted = sorted(set(groups))
        missing = [g for g in wanted if g not in lists]
        if missing:
            where = self.root / "context" / f"{name}.jsonl.gz"
            if name == "own" and (self.root / "households").is_dir():
                where = self.root / "households"
            raise CattError(f"{where}: no list for context group(s) {', '.join(missing[:5])}")
        return {g: list(lists[g]) for g in wanted}

    def _household_lists(self) -> Dict[str, List[Phrase]]:
        root = self.root / "households"
        lists = {}
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            lists[folder.name] = load_household(folder)
        return lists


def _manifest_prefixes(folder: Path) -> List[str]:
    """The prefixes of the ``{prefix}_{recordings,supervisions,cuts}_*.jsonl.gz`` in ``folder``."""
    if not folder.is_dir():
        return []
    matches = (_MANIFEST.match(p.name) for p in folder.glob("*.jsonl.gz"))
    return sorted({m.group("prefix") for m in matches if m})


def open_corpus(data_dir: PathLike) -> Corpus:
    """The corpus in ``data_dir``: prefix from ``corpus.json`` or from the manifests present.

    A directory with neither gets :data:`DEFAULT_PREFIX`, so that the first missing manifest
    is what an error names.

    Raises:
        CattError: manifests of several corpora and no ``corpus.json`` to choose, or a bad
            ``corpus.json``.
    """
    root = Path(data_dir)
    info = _read_info(root / "corpus.json")
    prefix = info.get("prefix")
    if not prefix:
        found = _manifest_prefixes(root / "manifests")
        if len(found) > 1:
            raise CattError(
                f"{root / 'manifests'} holds manifests of {', '.join(found)}: "
                'say which in corpus.json ("prefix")'
            )
        # Nothing prepared yet: the embedded corpus, so errors name the files to make.
        prefix = found[0] if found else DEFAULT_PREFIX
    kind = info.get("context_group")
    if kind is None:
        kind = "household" if (root / "households").is_dir() else "none"
    if kind not in CONTEXT_GROUP_KINDS:
        raise CattError(
            f"{root / 'corpus.json'}: context_group {kind!r} is not one of "
            f"{', '.join(CONTEXT_GROUP_KINDS)}"
        )
    return Corpus(root=root, prefix=str(prefix), group_kind=str(kind))
