"""Tagged transcripts and the tokenizer."""

from pathlib import Path

import pytest

from catt.errors import CattError, PhraseFileError
from catt.text.tags import Interpretation, Slot, build_tagged, parse_tagged, strip_tags
from catt.text.tokenizer import Tokenizer, train_tokenizer

TEXTS = [
    "<intent:call_contact> call <contact> kaitlyn fitzgerald </contact> on her mobile",
    "<intent:turn_on> allume <device> lampe nouille </device> s'il te plaît",
    "<intent:get_time> what time is it",
    "<intent:set_device> pon <device> señor frío </device> a <number> veinte </number> grados",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Tokenizer:
    path = tmp_path_factory.mktemp("bpe") / "bpe.model"
    return train_tokenizer(TEXTS * 10, path, vocab_size=120)


def test_build_and_parse_round_trip() -> None:
    text = "turn on noodle lamp and call ann"
    slots = [{"type": "contact", "start": 29, "end": 32}, {"type": "device", "start": 8, "end": 19}]
    tagged = build_tagged(text, "turn_on", slots)
    expected = "<intent:turn_on> turn on <device> noodle lamp </device> and call <contact> ann"
    assert tagged == expected + " </contact>"
    assert parse_tagged(tagged) == Interpretation(
        text, "turn_on", (Slot("device", "noodle lamp"), Slot("contact", "ann"))
    )
    assert strip_tags(tagged) == text


@pytest.mark.parametrize(
    "slots",
    [
        [{"type": "contact", "start": 2, "end": 7}],  # cuts a word
        [{"type": "contact", "start": 0, "end": 99}],  # out of range
        [{"type": "a", "start": 0, "end": 4}, {"type": "b", "start": 0, "end": 4}],  # overlap
    ],
)
def test_build_rejects_bad_spans(slots: list) -> None:
    with pytest.raises(ValueError):
        build_tagged("call ann now", "call_contact", slots)


@pytest.mark.parametrize(
    ("hyp", "expected"),
    [
        ("call <contact> ann", Interpretation("call ann", None, (Slot("contact", "ann"),))),
        ("call </contact> ann", Interpretation("call ann", None, ())),
        ("<contact> </contact> hi", Interpretation("hi", None, ())),
        (
            "<intent:a> <intent:b> <device> lamp <contact> bo </contact>",
            Interpretation("lamp bo", "a", (Slot("device", "lamp"), Slot("contact", "bo"))),
        ),
        ("ka<unk>lyn <unk>", Interpretation("ka<unk>lyn <unk>", None, ())),
    ],
)
def test_parse_tolerates_malformed_hypotheses(hyp: str, expected: Interpretation) -> None:
    assert parse_tagged(hyp) == expected


def test_tokenizer_keeps_tags_as_single_tokens(tokenizer: Tokenizer) -> None:
    assert tokenizer.blank_id == 0 and tokenizer.unk_id == 1
    for text in TEXTS:
        ids = tokenizer.encode(text)
        assert tokenizer.decode(ids) == text
        tags = [w for w in text.split() if w.startswith("<")]
        assert [tokenizer.decode([i]) for i in ids if tokenizer.is_tag_id(i)] == tags
    assert tokenizer.blank_id not in tokenizer.encode(TEXTS[0])


def test_slot_tag_pairs_map_each_opening_tag_to_its_closing_tag(tokenizer: Tokenizer) -> None:
    pairs = tokenizer.slot_tag_pairs()
    named = {tokenizer.piece(a): tokenizer.piece(b) for a, b in pairs.items()}
    assert named["<contact>"] == "</contact>" and named["<device>"] == "</device>"
    assert all(not k.startswith(("</", "<intent:")) for k in named)  # intents have no closer
    assert tokenizer.piece(tokenizer.encode("<contact>")[0]) == "<contact>"
    (only,) = tokenizer.slot_tag_pairs(["device"]).items()
    assert [tokenizer.piece(i) for i in only] == ["<device>", "</device>"]


def test_tokenizer_bytes_round_trip(tokenizer: Tokenizer, tmp_path: Path) -> None:
    again = Tokenizer.from_bytes(tokenizer.to_bytes())
    assert again.encode(TEXTS[3]) == tokenizer.encode(TEXTS[3])
    with pytest.raises(CattError):
        Tokenizer.from_bytes(b"not a model")
    with pytest.raises(CattError, match="does not exist"):
        Tokenizer.load(tmp_path / "missing.model")


def test_encode_phrase_names_unspellable_characters(tokenizer: Tokenizer) -> None:
    assert tokenizer.encode_phrase("Kaitlyn") == tokenizer.encode("kaitlyn")
    with pytest.raises(PhraseFileError, match="ß"):
        tokenizer.encode_phrase("kaitlyn weiß")


def test_characters_are_those_the_pieces_spell(tokenizer: Tokenizer) -> None:
    words = {c for text in TEXTS for w in text.split() if not w.startswith("<") for c in w}
    assert set(tokenizer.characters) == words | {" "}
    assert list(tokenizer.characters) == sorted(tokenizer.characters)
    for text in TEXTS:
        said = " ".join(w for w in text.split() if not w.startswith("<"))
        ids = tokenizer.encode_chars(said)
        assert len(ids) == len(said) and min(ids) >= 1  # 0 is a character head's blank
        assert tokenizer.decode_chars(ids) == said
    # normalized as transcripts are; a character no piece spells is left out
    assert tokenizer.decode_chars(tokenizer.encode_chars("Kaitlyn  WEIß")) == "kaitlyn wei"
    assert tokenizer.decode_chars([0, 3, 0, 0, 3]) == tokenizer.characters[2] * 2
