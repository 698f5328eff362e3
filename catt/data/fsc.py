"""Fluent Speech Commands as a catt corpus directory: the intent frame as the interpretation.

``prepare_fsc(CORPUS, DATA)`` runs Lhotse's ``prepare_slu`` on the real layout
(``fluent_speech_commands_dataset/data/{train,valid,test}_data.csv`` and
``wavs/speakers/SPEAKER/*.wav``) and writes the splits ``train``, ``dev`` (the ``valid`` CSV) and
``test`` under the prefix ``fsc``. The frame (action, object, location) becomes one intent,
``intent = action_object_location`` with each value lower-cased and spaces as ``_``
(``change language`` + ``Chinese`` + ``none`` -> ``change_language_chinese_none``), so the
tagged transcript is ``<intent:activate_lights_kitchen> turn on the lights in the kitchen`` and
intent accuracy is the full-frame accuracy of the FSC literature. The frame itself is kept in
``custom["frame"]``. There are no phrase lists (no context group).
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

from catt.data.corpus import normalize_words, write_corpus_info
from catt.errors import CattError
from catt.io import save_manifest

__all__ = ["FSC_SPLITS", "frame_intent", "prepare_fsc"]

logger = logging.getLogger(__name__)

FSC_SPLITS = {"train": "train", "valid": "dev", "test": "test"}
"""FSC's CSV names and the catt splits they become."""
_COLUMNS = ("path", "speakerId", "transcription", "action", "object", "location")

PathLike = Union[str, Path]


def frame_intent(frame: Sequence[str]) -> str:
    """The intent name of an (action, object, location) frame.

    >>> frame_intent(("change language", "Chinese", "none"))
    'change_language_chinese_none'
    """
    parts = [re.sub(r"[^a-z0-9]+", "_", str(v).strip().lower()).strip("_") for v in frame]
    return "_".join(p or "none" for p in parts)


def _find_fsc(corpus_dir: Path) -> Path:
    """The dataset folder (``corpus_dir`` or its ``fluent_speech_commands_dataset`` child)."""
    if not corpus_dir.is_dir():
        raise CattError(
            f"{corpus_dir}: no such directory (expected fluent_speech_commands_dataset)"
        )
    child = corpus_dir / "fluent_speech_commands_dataset"
    root = child if child.is_dir() else corpus_dir
    for name in FSC_SPLITS:
        path = root / "data" / f"{name}_data.csv"
        if not path.is_file():
            raise CattError(f"{path} is missing: not a Fluent Speech Commands folder")
        _check_csv(root, path)
    return root


def _check_csv(root: Path, path: Path) -> None:
    """The CSV has FSC's columns and every WAV it names exists."""
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CattError(f"{path}:1: missing column(s) {', '.join(missing)}")
        absent = [row["path"] for row in reader if not (root / row["path"]).is_file()]
    if absent:
        raise CattError(f"{root / absent[0]} is missing ({len(absent)} WAVs named in {path.name})")


def _supervisions(recordings: Any, supervisions: Any) -> List[Any]:
    """catt supervisions: id of the recording, normalized text, intent and frame, speaker."""
    from lhotse.utils import fastcopy

    out = []
    for sup in supervisions:
        frame = [str(v) for v in (sup.custom or {}).get("frames", ())]
        if len(frame) != 3:
            raise CattError(f"{sup.recording_id}: frame {frame} is not (action, object, location)")
        source = recordings[sup.recording_id].sources[0].source
        custom: Dict[str, Any] = {
            "intent": frame_intent(frame),
            "frame": dict(zip(("action", "object", "location"), frame)),
        }
        out.append(
            fastcopy(
                sup,
                id=sup.recording_id,
                text=normalize_words(sup.text),
                language="en",
                speaker=Path(source).parent.name,
                custom=custom,
            )
        )
    return out


def prepare_fsc(corpus_dir: PathLike, out_dir: PathLike) -> Path:
    """Prepare Fluent Speech Commands as a catt corpus directory; returns it.

    Args:
        corpus_dir: the ``fluent_speech_commands_dataset`` folder (or its parent).
        out_dir: the corpus directory to write.

    Raises:
        CattError: a CSV, a column or a WAV is missing, or pandas (which Lhotse's
            ``prepare_slu`` needs) is not installed.
    """
    from lhotse import SupervisionSet, load_manifest

    root = _find_fsc(Path(corpus_dir))
    try:
        import pandas  # noqa: F401  (lhotse's prepare_slu reads the CSVs with it)
    except ImportError:
        raise CattError("Lhotse's prepare_slu needs pandas: pip install pandas") from None
    from lhotse.recipes import prepare_slu

    out = Path(out_dir)
    lhotse_dir = out / "lhotse"
    prepare_slu(root, output_dir=lhotse_dir)  # returns nothing in some Lhotse versions
    counts = {}
    for name, split in FSC_SPLITS.items():
        recordings = load_manifest(lhotse_dir / f"slu_recordings_{name}.jsonl.gz")
        supervisions = load_manifest(lhotse_dir / f"slu_supervisions_{name}.jsonl.gz")
        sups = _supervisions(recordings, supervisions)
        counts[split] = len(sups)
        save_manifest(recordings, out / "manifests" / f"fsc_recordings_{split}.jsonl.gz")
        save_manifest(
            SupervisionSet.from_segments(sups),
            out / "manifests" / f"fsc_supervisions_{split}.jsonl.gz",
        )
    write_corpus_info(out, prefix="fsc", context_group="none", counts=counts)
    logger.info("Fluent Speech Commands: %s", counts)
    return out
