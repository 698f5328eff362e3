"""``catt prepare smarthome``: plan the corpus, synthesize it and write its Lhotse manifests.

The plan (households, texts, intents, slots, voices) is a pure function of size, languages and
seed; synthesis then fills ``wav/{split}/`` and the manifests follow. A rerun skips what is done:
valid WAVs are kept, a split whose manifests exist is kept, and a finished corpus (``corpus.json``
written last) returns at once.

>>> plan = plan_corpus("micro", ["en"], seed=0)
>>> [len(plan.utterances[s]) for s in SPLITS]
[14, 4, 4, 4]
>>> plan.utterances["train"][0].id
'en-train-00000'
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from catt.data.smarthome.grammar import GRAMMARS, Grammar, carrier_words
from catt.data.smarthome.households import Household, make_households
from catt.data.smarthome.names import LANGUAGES, build_inventories
from catt.data.smarthome.synthesis import (
    SAMPLE_RATE,
    SynthesisJob,
    Voice,
    require_espeak,
    sample_voice,
    synthesize_all,
    wav_num_samples,
)
from catt.errors import CattError
from catt.io import atomic_write_text, save_manifest

__all__ = [
    "SIZES",
    "SPLITS",
    "SizeSpec",
    "Utterance",
    "CorpusPlan",
    "plan_corpus",
    "prepare_smarthome",
    "manifest_path",
]

logger = logging.getLogger(__name__)

SPLITS: Tuple[str, ...] = ("train", "adapt", "dev", "test")
"""``adapt``: households whose names no other split has, spoken by training voices, for the
biasing stage of training (docs/training.md)."""


@dataclass(frozen=True)
class SizeSpec:
    """Per language and split: utterances and households; per household: list size ranges."""

    utterances: Mapping[str, int]
    households: Mapping[str, int]
    contacts: Tuple[int, int]
    devices: Tuple[int, int]


# The one table of corpus sizes (counts are per language).
SIZES: Mapping[str, SizeSpec] = {
    "micro": SizeSpec(
        utterances={"train": 14, "adapt": 4, "dev": 4, "test": 4},
        households={"train": 2, "adapt": 1, "dev": 1, "test": 2},
        contacts=(5, 10),
        devices=(3, 6),
    ),
    "tiny": SizeSpec(
        utterances={"train": 1000, "adapt": 100, "dev": 50, "test": 100},
        households={"train": 15, "adapt": 5, "dev": 3, "test": 8},
        contacts=(20, 60),
        devices=(5, 20),
    ),
    "base": SizeSpec(
        utterances={"train": 8000, "adapt": 3000, "dev": 300, "test": 600},
        households={"train": 100, "adapt": 100, "dev": 10, "test": 20},
        contacts=(20, 300),
        devices=(5, 40),
    ),
}


@dataclass(frozen=True)
class Utterance:
    """One planned utterance: what is said, what it means, in which household, by which voice."""

    id: str
    lang: str
    split: str
    household: str
    text: str
    intent: str
    slots: Tuple[Mapping[str, Any], ...]
    voice: Voice

    def custom(self) -> Dict[str, Any]:
        """The supervision's custom fields."""
        return {"intent": self.intent, "household": self.household, "slots": list(self.slots)}


@dataclass(frozen=True)
class CorpusPlan:
    """Everything a corpus will hold, before synthesis."""

    size: str
    langs: Tuple[str, ...]
    seed: int
    households: Mapping[str, List[Household]]
    utterances: Mapping[str, List[Utterance]]


def manifest_path(data_dir: Path, kind: str, split: str) -> Path:
    """``DATA/manifests/smarthome_{kind}_{split}.jsonl.gz``."""
    return Path(data_dir) / "manifests" / f"smarthome_{kind}_{split}.jsonl.gz"


def _check_size(size: str) -> SizeSpec:
    if size not in SIZES:
        raise CattError(f"unknown corpus size {size!r}; choose one of {', '.join(SIZES)}")
    return SIZES[size]


def _check_langs(langs: Sequence[str]) -> Tuple[str, ...]:
    out = tuple(dict.fromkeys(lang.strip().lower() for lang in langs))
    if not out:
        raise CattError(f"no language given; choose among {', '.join(LANGUAGES)}")
    unknown = [lang for lang in out if lang not in LANGUAGES]
    if unknown:
        raise CattError(
            f"unknown language {unknown[0]!r}; the smarthome corpus has {', '.join(LANGUAGES)}"
        )
    return out


def _make_utterance(
    grammar: Grammar, household: Household, split: str, uid: str, rng: random.Random
) -> Utterance:
    intent = grammar.sample_intent(rng)
    template = rng.choice(grammar.templates[intent])
    fillers: Dict[str, str] = {}
    gender: Optional[str] = None
    for slot in grammar.slot_types(template):
        if slot == "contact":
            fillers[slot] = rng.choice(household.contacts)
        elif slot == "device":
            device = rng.choice(household.devices)
            fillers[slot], gender = device.name, device.gender
        else:
            fillers[slot] = grammar.sample_value(slot, rng)
    text, slots = grammar.render(template, fillers, gender)
    voice = sample_voice(grammar.lang, split, rng)
    return Utterance(uid, grammar.lang, split, household.id, text, intent, tuple(slots), voice)


def plan_corpus(size: str, langs: Sequence[str], seed: int) -> CorpusPlan:
    """The households and utterances of a corpus; the same arguments give the same plan.

    One language's part does not depend on which other languages are asked for. Dev and test
    households only use names spelled with characters of their language's training text, so a
    tokenizer trained on it can spell every phrase of their lists.
    """
    spec = _check_size(size)
    langs = _check_langs(langs)
    inventories = build_inventories(seed, carrier_words())
    households: Dict[str, List[Household]] = {split: [] for split in SPLITS}
    utterances: Dict[str, List[Utterance]] = {split: [] for split in SPLITS}
    for lang in langs:
        charset = None
        for split in SPLITS:
            homes = make_households(
                lang,
                split,
                spec.households[split],
                inventories[lang],
                contacts=spec.contacts,
                devices=spec.devices,
                seed=seed,
                charset=charset,
            )
            households[split].extend(homes)
            rng = random.Random(f"smarthome-utterances-{seed}-{lang}-{split}")
            for i in range(spec.utterances[split]):
                uid = f"{lang}-{split}-{i:05d}"
                home = rng.choice(homes)
                utterances[split].append(_make_utterance(GRAMMARS[lang], home, split, uid, rng))
            if split == "train":  # held-out names use only characters training text has
                charset = frozenset("".join(u.text for u in utterances[split] if u.lang == lang))
    return CorpusPlan(size, langs, seed, households, utterances)


def _ensure_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise CattError(f"cannot write to output directory {out_dir}: {e.strerror or e}") from e


def _check_params(out_dir: Path, params: Dict[str, Any]) -> None:
    """Stamp ``out_dir`` with the arguments; error when it holds a corpus made with others."""
    stamp = out_dir / ".smarthome_params.json"
    if stamp.is_file():
        old = json.loads(stamp.read_text(encoding="utf-8"))
        if old != params:
            raise CattError(
                f"{out_dir} holds a smarthome corpus prepared with size={old.get('size')} "
                f"langs={','.join(old.get('langs', []))} seed={old.get('seed')}; "
                "use another --out or delete it"
            )
    else:
        atomic_write_text(stamp, json.dumps(params) + "\n")


def _plan_digest(plan: CorpusPlan, split: str) -> str:
    """A digest of ``split``'s plan: its utterance ids, texts and voices."""
    rows = [f"{u.id}\t{u.text}\t{u.voice.id}" for u in plan.utterances[split]]
    return hashlib.sha1("\n".join(rows).encode("utf-8")).hexdigest()


def _finished(out_dir: Path, plan: CorpusPlan) -> bool:
    """True when ``corpus.json`` records every split made as ``plan`` has it. A corpus made
    before a split was added (adapt), resized, or planned otherwise (dev's voices) is not: a
    rerun then remakes the splits that differ (:func:`_stale`) and keeps the others."""
    info = out_dir / "corpus.json"
    if not info.is_file():
        return False
    have = json.loads(info.read_text(encoding="utf-8")).get("splits", {})
    return all(have.get(s, {}).get("plan") == _plan_digest(plan, s) for s in SPLITS)


def _stale(out_dir: Path, plan: CorpusPlan, split: str) -> bool:
    """True when ``split``'s manifests hold other utterances (ids, texts, voices) than its
    plan: the corpus was made by a catt whose plan of that split differs."""
    from lhotse import load_manifest

    path = manifest_path(out_dir, "supervisions", split)
    if not path.is_file():
        return False
    have = {s.id: (s.text, s.speaker) for s in load_manifest(path)}
    return have != {u.id: (u.text, u.voice.id) for u in plan.utterances[split]}


def _remove_split(out_dir: Path, split: str) -> None:
    """Delete what a split left: its audio, households, manifests and features."""
    for kind in ("recordings", "supervisions", "cuts"):
        manifest_path(out_dir, kind, split).unlink(missing_ok=True)
    for folder in [out_dir / "wav" / split, out_dir / "fbank" / split]:
        shutil.rmtree(folder, ignore_errors=True)
    for home in (out_dir / "households").glob(f"*-{split}-*"):
        shutil.rmtree(home)


def _build_manifests(utts: Sequence[Utterance], wavs: Sequence[Path], samples: Sequence[int]):
    from lhotse import AudioSource, Recording, RecordingSet, SupervisionSegment, SupervisionSet
    from lhotse.qa import validate_recordings_and_supervisions

    recordings, supervisions = [], []
    for utt, wav, n in zip(utts, wavs, samples):
        duration = n / SAMPLE_RATE
        source = AudioSource(type="file", channels=[0], source=str(wav.resolve()))
        recordings.append(Recording(utt.id, [source], SAMPLE_RATE, n, duration))
        supervisions.append(
            SupervisionSegment(
                id=utt.id,
                recording_id=utt.id,
                start=0.0,
                duration=duration,
                channel=0,
                text=utt.text,
                language=utt.lang,
                speaker=utt.voice.id,
                custom=utt.custom(),
            )
        )
    recs = RecordingSet.from_recordings(recordings)
    sups = SupervisionSet.from_segments(supervisions)
    validate_recordings_and_supervisions(recs, sups)
    return recs, sups


def _prepare_split(out_dir: Path, plan: CorpusPlan, split: str, num_jobs: int) -> None:
    rec_path = manifest_path(out_dir, "recordings", split)
    sup_path = manifest_path(out_dir, "supervisions", split)
    if rec_path.is_file() and sup_path.is_file():
        logger.info("%s: manifests exist, skipping", split)
        return
    utts = plan.utterances[split]
    wavs = [out_dir / "wav" / split / f"{u.id}.wav" for u in utts]
    samples = [wav_num_samples(w) for w in wavs]
    todo = [i for i, n in enumerate(samples) if n is None]
    logger.info("%s: %d utterances, %d to synthesize", split, len(utts), len(todo))
    jobs = [SynthesisJob(wavs[i], utts[i].text, utts[i].voice) for i in todo]
    for i, n in zip(todo, synthesize_all(jobs, num_jobs=num_jobs, desc=f"synthesize {split}")):
        samples[i] = n
    recs, sups = _build_manifests(utts, wavs, [int(n or 0) for n in samples])
    save_manifest(recs, rec_path)
    save_manifest(sups, sup_path)


def _summary(plan: CorpusPlan, out_dir: Path, seconds: float) -> Dict[str, Any]:
    from lhotse import load_manifest

    splits = {}
    for split in SPLITS:
        recs = load_manifest(manifest_path(out_dir, "recordings", split))
        splits[split] = {
            "utterances": len(recs),
            "hours": round(sum(r.duration for r in recs) / 3600, 4),
            "households": len(plan.households[split]),
            "plan": _plan_digest(plan, split),
        }
    return {
        "corpus": "smarthome",
        "size": plan.size,
        "langs": list(plan.langs),
        "seed": plan.seed,
        "sample_rate": SAMPLE_RATE,
        "splits": splits,
        "prepare_seconds": round(seconds, 1),
    }


def prepare_smarthome(
    out_dir: Path, *, size: str, langs: Sequence[str], seed: int, num_jobs: int
) -> None:
    """Synthesize the smart-home corpus into ``out_dir`` (layout: docs/architecture.md).

    Args:
        out_dir: the corpus directory (created when missing).
        size: ``micro``, ``tiny`` or ``base`` (see :data:`SIZES`).
        langs: languages among ``en``, ``es``, ``fr``.
        seed: the same seed gives the same texts, households and voices.
        num_jobs: synthesis processes.

    Raises:
        CattError: unknown size or language, espeak-ng missing, ``out_dir`` not writable, or
            ``out_dir`` holding a corpus prepared with other arguments.
    """
    start = time.time()
    _check_size(size)
    langs = _check_langs(langs)
    if num_jobs < 1:
        raise CattError(f"--jobs must be at least 1, got {num_jobs}")
    require_espeak()
    out_dir = Path(out_dir)
    _ensure_writable(out_dir)
    _check_params(out_dir, {"size": size, "langs": list(langs), "seed": seed})
    plan = plan_corpus(size, langs, seed)
    if _finished(out_dir, plan):
        logger.info("%s: corpus already prepared (corpus.json exists)", out_dir)
        return
    for split in SPLITS:
        if _stale(out_dir, plan, split):
            logger.warning("%s: this catt plans the split otherwise; making it anew", split)
            _remove_split(out_dir, split)
        for home in plan.households[split]:
            home.write(out_dir / "households")
        _prepare_split(out_dir, plan, split, num_jobs)
    summary = _summary(plan, out_dir, time.time() - start)
    atomic_write_text(out_dir / "corpus.json", json.dumps(summary, indent=2) + "\n")
    counts = {split: info["utterances"] for split, info in summary["splits"].items()}
    logger.info("%s: corpus ready (utterances: %s)", out_dir, counts)
