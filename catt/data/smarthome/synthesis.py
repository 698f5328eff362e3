"""Speech synthesis with espeak-ng: voices, one utterance, and a parallel batch.

A voice is an accent (``en-gb-scotland``), a variant (``+f3``, ``+klatt2``), a speed (words per
minute) and a pitch (0-99); its id, e.g. ``en-us+f3-s160-p45``, is the supervision's speaker.
Some variants and accents are held out of training and dev: only test utterances use them.
espeak-ng writes 22.05 kHz audio; it is resampled to 16 kHz and written as 16-bit mono WAV,
atomically (a temporary file renamed into place), so an interrupted run leaves no half file.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from catt.errors import CattError
from catt.workers import process_pool

__all__ = [
    "SAMPLE_RATE",
    "Voice",
    "SynthesisJob",
    "ACCENTS",
    "HELDOUT_ACCENTS",
    "VARIANTS",
    "HELDOUT_VARIANTS",
    "sample_voice",
    "require_espeak",
    "synthesize",
    "synthesize_all",
    "wav_num_samples",
]

SAMPLE_RATE = 16000
_ESPEAK_RATE = 22050

ACCENTS: Dict[str, Tuple[str, ...]] = {
    "en": ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-us-nyc"),
    "es": ("es", "es-419"),
    "fr": ("fr-fr", "fr-be"),
}
HELDOUT_ACCENTS: Dict[str, Tuple[str, ...]] = {"en": ("en-029",), "es": (), "fr": ("fr-ch",)}

VARIANTS: Tuple[str, ...] = tuple(
    """f1 f2 f3 m1 m2 m3 m4 m5 m7 klatt klatt2 klatt4 Annie belinda david linda steph Andy max
    robert quincy Alicia""".split()
)
HELDOUT_VARIANTS: Tuple[str, ...] = tuple("f4 f5 m6 m8 klatt3 Andrea edward zac".split())

SPEEDS: Tuple[int, ...] = (130, 140, 150, 160, 170, 180, 190)
PITCHES: Tuple[int, ...] = (30, 35, 40, 45, 50, 55, 60, 65, 70)


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice: accent, variant, speed (words per minute) and pitch (0-99)."""

    accent: str
    variant: str
    speed: int
    pitch: int

    @property
    def id(self) -> str:
        """The speaker id, e.g. ``en-us+f3-s160-p45``."""
        return f"{self.accent}+{self.variant}-s{self.speed}-p{self.pitch}"

    def argv(self) -> List[str]:
        """espeak-ng arguments that select this voice."""
        return ["-v", f"{self.accent}+{self.variant}", "-s", str(self.speed), "-p", str(self.pitch)]


def sample_voice(lang: str, split: str, rng: random.Random) -> Voice:
    """A voice for an utterance of ``split``: dev and test utterances use held-out voices half
    the time, so that what ``catt tune`` chooses on dev is chosen under test's conditions."""
    heldout = split in ("dev", "test") and rng.random() < 0.5
    accents = ACCENTS[lang] + (HELDOUT_ACCENTS[lang] if heldout else ())
    variants = HELDOUT_VARIANTS if heldout else VARIANTS
    return Voice(rng.choice(accents), rng.choice(variants), rng.choice(SPEEDS), rng.choice(PITCHES))


@dataclass(frozen=True)
class SynthesisJob:
    """One utterance to synthesize into ``path``."""

    path: Path
    text: str
    voice: Voice


def require_espeak() -> str:
    """The path of ``espeak-ng``; a :class:`CattError` when it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise CattError(
            "espeak-ng is not installed (Debian/Ubuntu: apt-get install espeak-ng; "
            "macOS: brew install espeak-ng)"
        )
    return path


def wav_num_samples(path: Path) -> Optional[int]:
    """Samples of a finished 16 kHz mono 16-bit WAV, or None when missing or not one."""
    try:
        with wave.open(str(path), "rb") as w:
            ok = (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
            frames = w.getnframes()
    except (OSError, EOFError, wave.Error):
        return None
    return frames if ok and frames > 0 else None


def _resample(samples: np.ndarray) -> np.ndarray:
    """22.05 kHz -> 16 kHz (polyphase, 320/441)."""
    from scipy.signal import resample_poly

    return resample_poly(samples.astype(np.float32), 320, 441)


def _write_wav(path: Path, samples: np.ndarray) -> None:
    pcm = np.clip(np.round(samples), -32768, 32767).astype("<i2")
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with wave.open(str(tmp), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(SAMPLE_RATE)
            w.writeframes(pcm.tobytes())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def synthesize(job: SynthesisJob, espeak: str = "espeak-ng") -> int:
    """Synthesize ``job.text`` with ``job.voice`` into ``job.path``; return its sample count.

    The text goes to espeak-ng on stdin (no shell); the 22.05 kHz output is resampled to 16 kHz.
    """
    cmd = [espeak, *job.voice.argv(), "-b", "1", "--stdin", "--stdout"]
    # close_fds=False lets Python start espeak-ng with posix_spawn (given a path, as
    # synthesize_all gives it) instead of fork: the worker's pages are not copied for each
    # utterance (the parent's CPU a call 3.7 -> 1.1 ms). Python opens its files non-inheritable,
    # so espeak-ng still gets only the pipes.
    done = subprocess.run(
        cmd, input=job.text.encode("utf-8"), capture_output=True, check=False, close_fds=False
    )
    if done.returncode != 0 or len(done.stdout) <= 44:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CattError(
            f"espeak-ng failed on {job.path.name} (voice {job.voice.id}): "
            f"{err[-1] if err else 'no audio'}"
        )
    with wave.open(io.BytesIO(done.stdout), "rb") as w:
        rate = w.getframerate()
        raw = w.readframes(w.getnframes())
    samples = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
    if rate == _ESPEAK_RATE:
        samples = _resample(samples)
    elif rate != SAMPLE_RATE:
        raise CattError(f"espeak-ng wrote {rate} Hz audio for {job.path.name}; expected 22050")
    _write_wav(job.path, samples)
    return len(samples)


def _synthesize_chunk(args: Tuple[Sequence[SynthesisJob], str]) -> List[int]:
    jobs, espeak = args
    return [synthesize(job, espeak) for job in jobs]


def _chunks(jobs: Sequence[SynthesisJob], size: int) -> Iterator[Sequence[SynthesisJob]]:
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def synthesize_all(
    jobs: Sequence[SynthesisJob], *, num_jobs: int, desc: str = "synthesize"
) -> List[int]:
    """Synthesize every job over ``num_jobs`` processes with a progress bar; sample counts."""
    from tqdm.auto import tqdm

    espeak = require_espeak()
    for parent in {job.path.parent for job in jobs}:
        parent.mkdir(parents=True, exist_ok=True)
    chunks = [(chunk, espeak) for chunk in _chunks(jobs, 16)]
    with tqdm(total=len(jobs), desc=desc, unit="utt", mininterval=2.0) as bar:
        if num_jobs <= 1 or len(chunks) <= 1:
            return _collect(map(_synthesize_chunk, chunks), bar)
        with process_pool(num_jobs) as pool:
            return _collect(pool.map(_synthesize_chunk, chunks), bar)


def _collect(results: Iterable[List[int]], bar: Any) -> List[int]:
    out: List[int] = []
    for counts in results:
        out.extend(counts)
        bar.update(len(counts))
    return out
