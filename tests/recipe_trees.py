"""Fixture trees in the real layouts of the public corpora, with short generated audio.

- :func:`build_librispeech_tree`: ``LibriSpeech/{part}/SPK/CHAP/SPK-CHAP-UTT.flac`` and
  ``SPK-CHAP.trans.txt`` (upper-case transcripts, as published), for the parts the biasing
  recipe reads.
- :func:`build_biasing_lists`: ``is21_deep_bias/ref/test-{clean,other}.biasing_{N}.tsv`` (utterance
  id, text, JSON rare words, JSON biasing words) and ``words/common_words_5k.txt``.
- :func:`build_fsc_tree`: ``fluent_speech_commands_dataset/data/{train,valid,test}_data.csv``
  and ``wavs/speakers/SPK/*.wav``.

The audio is a few tones per word (16 kHz), enough for features, training steps and decoding.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16000
COMMON = (
    "the quick brown fox jumps over a lazy dog and she walked with him to "
    "village by river in morning"
).split()
RARE = ["zephyr", "quixotic", "marmalade", "obelisk", "juniper", "vexing", "kelp", "wyvern"]
LIBRI_PARTS = {
    "train-clean-100": (2, 4),  # speakers, utterances per speaker
    "dev-clean": (1, 2),
    "test-clean": (1, 3),
    "test-other": (1, 3),
}
FSC_FRAMES = [
    ("activate", "lights", "kitchen", "Turn on the lights in the kitchen"),
    ("deactivate", "lights", "none", "Switch off the lights."),
    ("increase", "volume", "none", "Turn up the volume"),
    ("change language", "Chinese", "none", "Change language to Chinese"),
    ("bring", "shoes", "none", "Bring my shoes"),
]


def _audio(words: int, rng: random.Random) -> np.ndarray:
    """About 0.3 s of tone per word, with a little noise."""
    pieces = []
    for _ in range(words):
        t = np.arange(int(0.3 * SAMPLE_RATE)) / SAMPLE_RATE
        pieces.append(0.3 * np.sin(2 * np.pi * rng.uniform(200, 900) * t))
    samples = np.concatenate(pieces)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.01, len(samples))
    return (samples + noise).astype(np.float32)


def _sentence(rng: random.Random, rare: int) -> List[str]:
    words = rng.sample(COMMON, 4) + rng.sample(RARE, rare)
    rng.shuffle(words)
    return words


def build_librispeech_tree(root: Path, *, seed: int = 0) -> Path:
    """``root/LibriSpeech`` with tiny train-clean-100, dev-clean, test-clean and test-other."""
    rng = random.Random(seed)
    top = root / "LibriSpeech"
    for p, (part, (speakers, utts)) in enumerate(LIBRI_PARTS.items()):
        for s in range(speakers):
            spk, chap = str(100 + 10 * p + s), str(2000 + p)
            folder = top / part / spk / chap
            folder.mkdir(parents=True)
            lines = []
            for u in range(utts):
                utt = f"{spk}-{chap}-{u:04d}"
                words = _sentence(rng, rare=1 + u % 2)
                if part == "train-clean-100" and u == 0:
                    words = COMMON + RARE  # every letter and every word appears in training
                lines.append(f"{utt} {' '.join(words).upper()}\n")
                sf.write(folder / f"{utt}.flac", _audio(len(words), rng), SAMPLE_RATE)
            (folder / f"{spk}-{chap}.trans.txt").write_text("".join(lines))
    return top


def _read_transcripts(part_dir: Path) -> List[Tuple[str, str]]:
    rows = []
    for trans in sorted(part_dir.glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, text = line.split(" ", 1)
            rows.append((utt, text.lower()))
    return rows


def _distractors(rng: random.Random, count: int) -> List[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 8))) for _ in range(count)]


def build_biasing_lists(
    librispeech: Path, root: Path, *, sizes: Sequence[int] = (100,), seed: int = 0
) -> Path:
    """``root/is21_deep_bias`` with biasing-list TSVs of the fixture's test parts."""
    rng = random.Random(seed)
    top = root / "is21_deep_bias"
    (top / "ref").mkdir(parents=True)
    (top / "words").mkdir()
    (top / "words" / "common_words_5k.txt").write_text("".join(w + "\n" for w in COMMON))
    for part in ("test-clean", "test-other"):
        rows = _read_transcripts(librispeech / part)
        for size in sizes:
            lines = []
            for utt, text in rows:
                rare = sorted({w for w in text.split() if w not in COMMON})
                biasing = sorted(set(rare) | set(_distractors(rng, size)))
                lines.append(f"{utt}\t{text}\t{json.dumps(rare)}\t{json.dumps(biasing)}\n")
            (top / "ref" / f"{part}.biasing_{size}.tsv").write_text("".join(lines))
    return top


def build_fsc_tree(root: Path, *, seed: int = 0) -> Path:
    """``root/fluent_speech_commands_dataset`` with a few commands per split."""
    rng = random.Random(seed)
    top = root / "fluent_speech_commands_dataset"
    (top / "data").mkdir(parents=True)
    counts: Dict[str, int] = {"train": 10, "valid": 3, "test": 5}
    speakers = ["2BqVo8kVB2Skwgyb", "4aGjX3AG5xcxeL7a", "52XVOeXMXYuaElyw"]
    n = 0
    for split, count in counts.items():
        with (top / "data" / f"{split}_data.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["", "path", "speakerId", "transcription", "action", "object", "location"]
            )
            for i in range(count):
                action, obj, location, text = FSC_FRAMES[i % len(FSC_FRAMES)]
                speaker = speakers[i % len(speakers)]
                rel = f"wavs/speakers/{speaker}/{seed:04x}{n:04x}-44a9-11e9-a9a5-5dbec3b8816a.wav"
                (top / rel).parent.mkdir(parents=True, exist_ok=True)
                sf.write(top / rel, _audio(len(text.split()), rng), SAMPLE_RATE, subtype="PCM_16")
                writer.writerow([i, rel, speaker, text, action, obj, location])
                n += 1
    return top
