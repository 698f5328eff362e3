"""Phrase files: format, validation and merging."""

from pathlib import Path

import pytest

from catt.context.phrases import Phrase, load_household, load_phrases, merge_phrases
from catt.errors import PhraseFileError


def test_load_skips_blank_and_comment_lines(tmp_path: Path) -> None:
    path = tmp_path / "contacts.txt"
    path.write_text("\ufeffKaitlyn  Fitzgerald\n\n# family\n  Señor Frío\t2.5\r\nann\t\n", "utf-8")
    assert load_phrases(path) == [
        Phrase("kaitlyn fitzgerald"),
        Phrase("señor frío", 2.5),
        Phrase("ann"),
    ]


def test_empty_file_is_an_empty_list(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert load_phrases(path) == []


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"ann\n\xff\xfebob\n", r"empty\.txt:2: not UTF-8"),
        (b"ann\nbob\tlots\n", r"empty\.txt:2: weight 'lots'"),
        (b"ann\tnan\n", r"empty\.txt:1: weight"),
        (b"ann\t-1\n", r"empty\.txt:1: weight"),
        (b"\t2\n", r"empty\.txt:1: empty phrase"),
    ],
)
def test_bad_lines_are_named(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(PhraseFileError, match=match):
        load_phrases(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PhraseFileError, match="no such phrase file"):
        load_phrases(tmp_path / "nope.txt")


def test_merge_keeps_first_occurrence() -> None:
    merged = merge_phrases([Phrase("ann", 2.0), Phrase("bob")], [Phrase("ann"), Phrase("cy")])
    assert merged == [Phrase("ann", 2.0), Phrase("bob"), Phrase("cy")]


def test_merge_a_text_of_two_slot_types_fits_any_slot() -> None:
    merged = merge_phrases(
        [Phrase("ann", 2.0, slot="contact"), Phrase("bob", slot="contact")],
        [
            Phrase("ann", slot="device"),
            Phrase("bob", slot="contact"),
            Phrase("lamp", slot="device"),
        ],
    )
    assert merged == [
        Phrase("ann", 2.0),
        Phrase("bob", slot="contact"),
        Phrase("lamp", slot="device"),
    ]


def test_a_household_is_typed_by_its_files(tmp_path: Path) -> None:
    (tmp_path / "contacts.txt").write_text("Ann Lee\nbob\n", encoding="utf-8")
    (tmp_path / "devices.txt").write_text("noodle lamp\t2\n", encoding="utf-8")
    assert load_household(tmp_path) == [
        Phrase("ann lee", slot="contact"),
        Phrase("bob", slot="contact"),
        Phrase("noodle lamp", 2.0, slot="device"),
    ]
    (tmp_path / "devices.txt").unlink()  # either file may be missing
    assert [p.slot for p in load_household(tmp_path)] == ["contact", "contact"]
