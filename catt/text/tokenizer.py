"""Sentencepiece BPE units with the intent and slot tags as single tokens.

Id 0 is ``<blk>``, the transducer's blank; id 1 is ``<unk>``; every tag seen in the training
transcripts (``<intent:*>``, ``<type>``, ``</type>``) is a user-defined symbol, one token each.
"""

from __future__ import annotations

import io
import logging
import unicodedata
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Union

import sentencepiece as spm

from catt.errors import CattError, PhraseFileError
from catt.io import atomic_path, atomic_write_text
from catt.text.tags import build_tagged, is_tag

__all__ = ["Tokenizer", "train_tokenizer", "train_corpus_tokenizer", "normalize_text"]

logger = logging.getLogger(__name__)

BLANK = "<blk>"


def normalize_text(text: str) -> str:
    """Lower-case, NFC-compose accents and single-space ``text`` (what every transcript gets)."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


class Tokenizer:
    """A sentencepiece model that encodes tagged transcripts and phrases.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "bpe.model"
    >>> tok = train_tokenizer(["call <contact> ann </contact> now"], path, 40)
    >>> tok.decode(tok.encode("<intent:x> call <contact> ann </contact>"))
    '<unk> call <contact> ann </contact>'
    """

    def __init__(self, processor: spm.SentencePieceProcessor) -> None:
        self._sp = processor
        self.blank_id = processor.piece_to_id(BLANK)
        self.unk_id = processor.unk_id()
        if self.blank_id != 0:
            raise CattError("not a catt tokenizer: <blk> is not token 0")
        pieces = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        self._tag_ids = {p: i for i, p in enumerate(pieces) if is_tag(p)}
        self._is_tag = [is_tag(p) for p in pieces]
        self._starts_word = [t or p.startswith("\u2581") for t, p in zip(self._is_tag, pieces)]
        spelt = {c for p, t in zip(pieces[2:], self._is_tag[2:]) if not t for c in p}
        self._chars = "".join(sorted(spelt - {"\u2581"} | {" "}))
        self._char_ids = {c: i + 1 for i, c in enumerate(self._chars)}

    @classmethod
    def load(cls, path: Union[str, Path]) -> Tokenizer:
        """Load a ``.model`` file written by :func:`train_tokenizer`."""
        path = Path(path)
        if not path.is_file():
            raise CattError(f"tokenizer {path} does not exist (run `catt train-bpe` first)")
        return cls.from_bytes(path.read_bytes())

    @classmethod
    def from_bytes(cls, data: bytes) -> Tokenizer:
        """Rebuild a tokenizer from :meth:`to_bytes` (the model file embeds it)."""
        processor = spm.SentencePieceProcessor()
        try:
            processor.LoadFromSerializedProto(data)
        except (RuntimeError, OSError) as e:
            raise CattError(f"corrupt tokenizer: {e}") from None
        return cls(processor)

    def to_bytes(self) -> bytes:
        """The serialized sentencepiece model."""
        return self._sp.serialized_model_proto()

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    @property
    def tags(self) -> List[str]:
        """The tag symbols this tokenizer knows, in id order."""
        return sorted(self._tag_ids, key=self._tag_ids.__getitem__)

    def tag_id(self, tag: str) -> Optional[int]:
        """The id of a tag symbol such as ``<contact>``, or None when this tokenizer lacks it."""
        return self._tag_ids.get(tag)

    def slot_tag_pairs(self, types: Optional[Iterable[str]] = None) -> Dict[int, int]:
        """The id of each slot's closing tag, by the id of its opening tag (``<contact>``).

        Args:
            types: only these slot types (``contact``...); None: every slot this tokenizer knows.
        """
        wanted = None if types is None else {f"<{t}>" for t in types}
        pairs = {}
        for tag, opening in self._tag_ids.items():
            closing = self._tag_ids.get(f"</{tag[1:]}")
            if not tag.startswith("</") and closing is not None:
                if wanted is None or tag in wanted:
                    pairs[opening] = closing
        return pairs

    def is_tag_id(self, token_id: int) -> bool:
        """True when ``token_id`` is an intent or slot tag."""
        return self._is_tag[token_id]

    def piece(self, token_id: int) -> str:
        """The piece of ``token_id`` as the tokenizer writes it (``▁`` marks a word start)."""
        return self._sp.id_to_piece(int(token_id))

    def starts_word(self, token_id: int) -> bool:
        """True when ``token_id`` begins a word: a tag, or a piece after a space."""
        return self._starts_word[token_id]

    @property
    def characters(self) -> str:
        """The characters its pieces spell, the space included, in order: character ``n`` of
        this string is id ``n + 1`` of :meth:`encode_chars` (0 is a character head's blank)."""
        return self._chars

    def encode_chars(self, text: str) -> List[int]:
        """Character ids (1-based, :attr:`characters`) of the words of ``text``, normalized;
        a character the pieces never spell is left out (such a phrase fails
        :meth:`encode_phrase`).

        >>> import tempfile
        >>> tok = train_tokenizer(["call ann"], Path(tempfile.mkdtemp()) / "bpe.model", 20)
        >>> tok.characters, tok.encode_chars("Call  Nan!")
        (' acln', [3, 2, 4, 4, 1, 5, 2, 5])
        """
        known = self._char_ids
        return [known[c] for c in normalize_text(text) if c in known]

    def decode_chars(self, ids: Sequence[int]) -> str:
        """The text of character ids (0, a blank, skipped), single-spaced."""
        return " ".join("".join(self._chars[i - 1] for i in ids if i > 0).split())

    def encode(self, text: str) -> List[int]:
        """Token ids of a (tagged) transcript; an unknown tag becomes ``<unk>``."""
        ids: List[int] = []
        words: List[str] = []
        for token in normalize_text(text).split():
            if not is_tag(token):
                words.append(token)
                continue
            if words:
                ids += self._sp.encode(" ".join(words))
                words = []
            ids.append(self._tag_ids.get(token, self.unk_id))
        if words:
            ids += self._sp.encode(" ".join(words))
        return ids

    def encode_phrase(self, text: str) -> List[int]:
        """Token ids of a user phrase; raises when a character cannot be spelled by the model."""
        ids = self.encode(text)
        if not ids:
            raise PhraseFileError(f"phrase {text!r} is empty")
        if self.unk_id in ids:
            bad = sorted({c for c in normalize_text(text) if c != " " and self._unknown(c)})
            raise PhraseFileError(
                f"phrase {text!r} has characters the model cannot spell: {' '.join(bad) or '?'}"
            )
        return ids

    def _unknown(self, char: str) -> bool:
        return self.unk_id in self._sp.encode(char)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids (blanks skipped), tags separated by spaces."""
        out: List[str] = []
        for i in ids:
            i = int(i)
            if i == self.blank_id:
                continue
            piece = self.piece(i)
            out.append(f" {piece} " if self._is_tag[i] else piece.replace("\u2581", " "))
        return " ".join("".join(out).split())


def train_tokenizer(
    texts: Iterable[str], model_path: Union[str, Path], vocab_size: int
) -> Tokenizer:
    """Train BPE on tagged transcripts and write ``model_path`` atomically.

    Tags found in ``texts`` become user-defined symbols; the word pieces are learned from the
    words alone. ``vocab_size`` is an upper bound on a small corpus.
    """
    texts = [normalize_text(t) for t in texts]
    tags = sorted({w for t in texts for w in t.split() if is_tag(w)})
    words = [" ".join(w for w in t.split() if not is_tag(w)) for t in texts]
    words = [w for w in words if w]
    if not words:
        raise CattError("cannot train a tokenizer on no text")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(words),
        model_writer=model,
        model_type="bpe",
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        normalization_rule_name="identity",
        user_defined_symbols=[BLANK, *tags],
        unk_id=1,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        minloglevel=2,
        num_threads=1,
    )
    tokenizer = Tokenizer.from_bytes(model.getvalue())
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_path) as tmp:
        tmp.write_bytes(model.getvalue())
    return tokenizer


def train_corpus_tokenizer(data_dir: Union[str, Path], *, vocab_size: int) -> Tokenizer:
    """Train ``DATA/lang/bpe.model`` on the corpus's training transcripts (tags included).

    Skips the work when a model of the same requested size is already there.
    """
    from lhotse import load_manifest_lazy

    data_dir = Path(data_dir)
    model_path = data_dir / "lang" / "bpe.model"
    stamp = data_dir / "lang" / "vocab_size"
    if model_path.is_file() and stamp.is_file() and stamp.read_text().strip() == str(vocab_size):
        logger.info("tokenizer %s is up to date", model_path)
        return Tokenizer.load(model_path)
    from catt.data.corpus import open_corpus

    sups_path = open_corpus(data_dir).require("supervisions", "train", "prepare the corpus first")
    texts = [
        build_tagged(s.text, s.custom.get("intent"), s.custom.get("slots", []))
        for s in load_manifest_lazy(sups_path)
    ]
    tokenizer = train_tokenizer(texts, model_path, vocab_size)
    tokens = "".join(f"{tokenizer._sp.id_to_piece(i)} {i}\n" for i in range(tokenizer.vocab_size))
    atomic_write_text(data_dir / "lang" / "tokens.txt", tokens)
    atomic_write_text(stamp, f"{vocab_size}\n")
    logger.info(
        "tokenizer: %d tokens, %d tags -> %s", tokenizer.vocab_size, len(tokenizer.tags), model_path
    )
    return tokenizer
