"""LibriSpeech with the rare-word biasing lists of Le et al. (2021), as a catt corpus directory.

``prepare_librispeech(CORPUS, DATA, biasing_dir=LISTS)`` runs Lhotse's ``prepare_librispeech`` on
the real layout (``LibriSpeech/{part}/SPK/CHAP/SPK-CHAP-UTT.flac`` + ``SPK-CHAP.trans.txt``) and
writes the splits ``train`` (the chosen training parts), ``dev`` (dev-clean), ``test-clean`` and
``test-other`` under the prefix ``librispeech``. Every utterance is its own context group:

- list set ``own``: the rare words of its transcript, i.e. words outside the 5,000 most common
  training words (``words/common_words_5k.txt`` of the published lists when given, else counted
  on the training transcripts). For the test sets, the published third column is used.
- list sets ``biasing_{N}`` (test sets only): the published biasing lists
  ``test-{clean,other}.biasing_{N}.tsv``; four tab-separated columns: utterance id, reference
  text, JSON list of the rare words of the reference, JSON list of the biasing words (a superset
  of the rare words, with N distractors).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

from catt.data.corpus import normalize_words, save_list_set, write_corpus_info
from catt.errors import CattError
from catt.io import save_manifest

__all__ = [
    "BIASING_SIZES",
    "COMMON_WORDS",
    "TEST_PARTS",
    "load_biasing_tsv",
    "prepare_librispeech",
    "rare_words",
]

logger = logging.getLogger(__name__)

TEST_PARTS = ("test-clean", "test-other")
DEV_PART = "dev-clean"
TRAIN_PARTS = ("train-clean-100", "train-clean-360", "train-other-500")
BIASING_SIZES = (100, 500, 1000, 2000)
COMMON_WORDS = 5000
"""Words outside the most common COMMON_WORDS of the training transcripts are rare."""

PathLike = Union[str, Path]
BiasingRow = Tuple[str, str, List[str], List[str]]


def rare_words(text: str, common: Set[str]) -> List[str]:
    """The words of ``text`` not in ``common``, in order of first appearance.

    >>> rare_words("the mated air and the mated earth", {"the", "air", "and", "earth"})
    ['mated']
    """
    return list(dict.fromkeys(w for w in text.split() if w not in common))


def load_biasing_tsv(path: Path) -> List[BiasingRow]:
    """Rows ``(utt_id, text, rare_words, biasing_words)`` of a published biasing-list TSV."""
    rows = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise CattError(f"{path}: cannot read ({e})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) != 4:
            raise CattError(f"{path}:{number}: expected 4 tab-separated columns, got {len(cols)}")
        try:
            rare, biasing = json.loads(cols[2]), json.loads(cols[3])
        except ValueError:
            raise CattError(f"{path}:{number}: columns 3 and 4 must be JSON lists") from None
        if not isinstance(rare, list) or not isinstance(biasing, list):
            raise CattError(f"{path}:{number}: columns 3 and 4 must be JSON lists")
        rows.append((cols[0], cols[1], [str(w) for w in rare], [str(w) for w in biasing]))
    return rows


def _find_librispeech(corpus_dir: Path, parts: Sequence[str]) -> Path:
    """The folder holding the parts (``corpus_dir`` or its ``LibriSpeech`` child)."""
    if not corpus_dir.is_dir():
        raise CattError(f"{corpus_dir}: no such directory (expected the LibriSpeech folder)")
    root = corpus_dir / "LibriSpeech" if (corpus_dir / "LibriSpeech").is_dir() else corpus_dir
    for part in parts:
        folder = root / part
        if not folder.is_dir():
            raise CattError(
                f"{folder} is missing: not a LibriSpeech folder "
                "(expected PART/SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt and *.flac)"
            )
        if next(folder.glob("*/*/*.trans.txt"), None) is None:
            raise CattError(f"{folder}: no SPEAKER/CHAPTER/*.trans.txt transcripts")
    return root


def _find_biasing(biasing_dir: Path) -> Tuple[Dict[Tuple[str, int], Path], Path]:
    """``{(test part, N): tsv}`` and the folder of the word lists."""
    if not biasing_dir.is_dir():
        raise CattError(f"{biasing_dir}: no such directory (the biasing lists, is21_deep_bias)")
    ref = biasing_dir / "ref" if (biasing_dir / "ref").is_dir() else biasing_dir
    found = {}
    for part in TEST_PARTS:
        for size in BIASING_SIZES:
            path = ref / f"{part}.biasing_{size}.tsv"
            if path.is_file():
                found[(part, size)] = path
    if not found:
        raise CattError(f"{ref}: no test-{{clean,other}}.biasing_{{N}}.tsv biasing lists")
    words = biasing_dir / "words" if (biasing_dir / "words").is_dir() else biasing_dir
    return found, words


def _normalized_supervisions(supervisions: Iterable[Any]) -> List[Any]:
    """Lower-cased text, language ``en``, each utterance its own context group."""
    from lhotse.utils import fastcopy

    return [
        fastcopy(s, text=normalize_words(s.text), language="en", custom={"context_group": s.id})
        for s in supervisions
    ]


def _common_words(train_texts: Iterable[str], words_dir: Optional[Path]) -> Set[str]:
    if words_dir is not None and (words_dir / "common_words_5k.txt").is_file():
        path = words_dir / "common_words_5k.txt"
        return {line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line}
    counts = Counter(w for t in train_texts for w in t.split())
    return {w for w, _ in counts.most_common(COMMON_WORDS)}


def prepare_librispeech(
    corpus_dir: PathLike,
    out_dir: PathLike,
    *,
    train_parts: Sequence[str] = ("train-clean-100",),
    biasing_dir: Optional[PathLike] = None,
    num_jobs: int = 1,
) -> Path:
    """Prepare LibriSpeech (and the biasing lists) as a catt corpus directory; returns it.

    Args:
        corpus_dir: the ``LibriSpeech`` folder (or its parent).
        out_dir: the corpus directory to write.
        train_parts: training parts, e.g. ``train-clean-100`` or all three for 960 h.
        biasing_dir: the published lists (``is21_deep_bias`` with ``ref/`` and ``words/``).
        num_jobs: threads of Lhotse's preparation.

    Raises:
        CattError: a part, a transcript or the biasing lists are missing or malformed.
    """
    from lhotse import RecordingSet, SupervisionSet
    from lhotse.recipes import prepare_librispeech as lhotse_prepare

    bad = [p for p in train_parts if p not in TRAIN_PARTS]
    if bad or not train_parts:
        raise CattError(f"train parts {bad or '(none)'}: choose from {', '.join(TRAIN_PARTS)}")
    parts = [*train_parts, DEV_PART, *TEST_PARTS]
    out = Path(out_dir)
    root = _find_librispeech(Path(corpus_dir), parts)
    tsvs, words_dir = _find_biasing(Path(biasing_dir)) if biasing_dir else ({}, None)
    manifests = lhotse_prepare(
        root, dataset_parts=parts, output_dir=out / "lhotse", num_jobs=num_jobs
    )
    splits = {"train": list(train_parts), "dev": [DEV_PART], **{p: [p] for p in TEST_PARTS}}
    texts: Dict[str, List[Any]] = {}
    for split, members in splits.items():
        recordings = RecordingSet.from_recordings(
            r for p in members for r in manifests[p]["recordings"]
        )
        sups = _normalized_supervisions(s for p in members for s in manifests[p]["supervisions"])
        texts[split] = sups
        save_manifest(recordings, out / "manifests" / f"librispeech_recordings_{split}.jsonl.gz")
        save_manifest(
            SupervisionSet.from_segments(sups),
            out / "manifests" / f"librispeech_supervisions_{split}.jsonl.gz",
        )
    common = _common_words((s.text for s in texts["train"]), words_dir)
    _write_lists(out, texts, common, tsvs)
    write_corpus_info(
        out,
        prefix="librispeech",
        context_group="utterance",
        train_parts=list(train_parts),
        biasing_sizes=sorted({n for _, n in tsvs}),
        counts={split: len(sups) for split, sups in texts.items()},
    )
    logger.info("LibriSpeech: %s", ", ".join(f"{s} {len(v)}" for s, v in texts.items()))
    return out


def _write_lists(
    out: Path,
    texts: Dict[str, List[Any]],
    common: Set[str],
    tsvs: Dict[Tuple[str, int], Path],
) -> None:
    """The ``own`` list set of every utterance and the ``biasing_N`` sets of the test parts."""
    own = {s.id: rare_words(s.text, common) for sups in texts.values() for s in sups}
    fixed: Dict[int, Dict[str, List[str]]] = {}
    for (part, size), path in sorted(tsvs.items()):
        ids = {s.id for s in texts[part]}
        rows = load_biasing_tsv(path)
        unknown = [r[0] for r in rows if r[0] not in ids]
        if len(unknown) == len(rows):
            raise CattError(f"{path}: none of its utterance ids is in {part} (wrong lists?)")
        if unknown:
            logger.warning("%s: %d utterance ids not in %s", path, len(unknown), part)
        for utt, _text, rare, biasing in rows:
            if utt in ids:
                own[utt] = rare
                fixed.setdefault(size, {})[utt] = biasing
    save_list_set(out, "own", own)
    for size, lists in sorted(fixed.items()):
        save_list_set(out, f"biasing_{size}", lists, distractors=size)
