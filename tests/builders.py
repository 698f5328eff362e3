"""Small builders shared by the tests: a synthetic corpus directory and a stand-in model.

``build_fake_corpus`` writes a corpus directory as docs/architecture.md describes it
(households, cut manifests with features, ``lang/bpe.model``) without speech synthesis: each
character of the transcript becomes a few frames of a fixed random pattern, so a model can
learn it fast. ``FrameModel`` is a transducer stand-in whose joiner output is the features
themselves, so a test decides exactly what the search sees.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
from lhotse import CutSet, Features, MonoCut, SupervisionSegment
from lhotse.features.io import NumpyFilesWriter
from torch import Tensor, nn

from catt.data.dataset import cut_tagged_text
from catt.text.tokenizer import train_tokenizer

CONTACTS = [
    "ann lee",
    "bob ray",
    "kim hart",
    "joe park",
    "eva moss",
    "max fox",
    "sue bell",
    "tom ash",
]
DEVICES = ["noodle lamp", "mister frosty", "red fan", "big tv"]
FRAMES_PER_CHAR = 8


def _households(split: str, count: int, rng: random.Random) -> Dict[str, Dict[str, List[str]]]:
    return {
        f"en-{split}-{i:03d}": {
            "contacts": rng.sample(CONTACTS, 3),
            "devices": rng.sample(DEVICES, 2),
        }
        for i in range(count)
    }


def _utterance(lists: Dict[str, List[str]], rng: random.Random) -> tuple:
    kind = rng.randrange(3)
    if kind == 0:
        value = rng.choice(lists["contacts"])
        return f"call {value}", "call_contact", "contact", value, 5
    if kind == 1:
        value = rng.choice(lists["devices"])
        return f"turn on {value}", "turn_on", "device", value, 8
    return "what time is it", "get_time", None, None, 0


def _features(text: str, table: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows = [table[ord(c) % len(table)] for c in text for _ in range(FRAMES_PER_CHAR)]
    feats = np.stack(rows).astype(np.float32)
    return feats + 0.1 * rng.standard_normal(feats.shape).astype(np.float32)


def build_fake_corpus(root: Path, *, num_train: int = 48, num_dev: int = 12) -> Path:
    """Write a tiny corpus directory (train and dev) under ``root``; return it."""
    rng = random.Random(0)
    nprng = np.random.default_rng(0)
    table = np.random.default_rng(1).standard_normal((64, 80)).astype(np.float32) * 2
    writer = NumpyFilesWriter(root / "fbank")
    texts = []
    for split, n_house, n_utt in (("train", 4, num_train), ("dev", 2, num_dev)):
        houses = _households(split, n_house, rng)
        for hid, lists in houses.items():
            for name, phrases in lists.items():
                path = root / "households" / hid / f"{name}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(phrases) + "\n", encoding="utf-8")
        cuts = []
        for i in range(n_utt):
            hid = sorted(houses)[i % n_house]
            text, intent, kind, value, start = _utterance(houses[hid], rng)
            slots = (
                []
                if kind is None
                else [{"type": kind, "value": value, "start": start, "end": start + len(value)}]
            )
            feats = _features(text, table, nprng)
            key = writer.write(f"{split}-{i:04d}", feats)
            duration = round(feats.shape[0] * 0.01, 2)
            cut_id = f"{split}-{i:04d}"
            sup = SupervisionSegment(
                id=cut_id,
                recording_id=cut_id,
                start=0.0,
                duration=duration,
                text=text,
                language="en",
                speaker="voice-0",
                custom={"intent": intent, "household": hid, "slots": slots},
            )
            features = Features(
                type="fbank",
                num_frames=feats.shape[0],
                num_features=80,
                frame_shift=0.01,
                sampling_rate=16000,
                start=0.0,
                duration=duration,
                storage_type=writer.name,
                storage_path=str(writer.storage_path),
                storage_key=key,
                recording_id=cut_id,
            )
            cuts.append(MonoCut(cut_id, 0.0, duration, 0, [sup], features))
            if split == "train":
                texts.append(cut_tagged_text(cuts[-1]))
        manifests = root / "manifests"
        manifests.mkdir(parents=True, exist_ok=True)
        CutSet.from_cuts(cuts).to_file(manifests / f"smarthome_cuts_{split}.jsonl.gz")
    train_tokenizer(texts, root / "lang" / "bpe.model", vocab_size=60)
    return root


TEXTS = [
    "<intent:call_contact> call <contact> stephen fitzgerald </contact> now",
    "<intent:call_contact> call <contact> steven lee </contact>",
    "<intent:turn_on> turn on the <device> noodle lamp </device>",
    "<intent:time> what time is it",
]


class FrameModel(nn.Module):
    """Joiner output = the first V feature dims (history ignored); counts phrase encodings."""

    blank_id = 0
    predictor_context_size = 1

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = vocab
        self.scale = nn.Parameter(torch.ones(()))
        self.phrase_calls = 0

    def encode(self, features: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        return features[..., : self.vocab] * self.scale, lens

    def encode_phrases(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        self.phrase_calls += 1
        return torch.zeros(tokens.size(0), 2)

    def prepare_phrases(self, phrase_emb: Tensor) -> Tensor:
        return phrase_emb

    def make_context(self, phrase_emb, mask, batch_size):
        return phrase_emb

    def bias_audio(self, h: Tensor, ctx) -> Tensor:
        return h

    def label_embeddings(self, y: Tensor, ctx) -> Tensor:
        return torch.zeros(y.size(0), y.size(1), self.vocab)

    def joiner(self, h: Tensor, g: Tensor) -> Tensor:
        return h + g
