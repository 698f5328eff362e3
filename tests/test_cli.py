"""The `catt` command: usage errors and user errors end in one line and an exit code."""

import subprocess
import sys
from pathlib import Path

import pytest

from catt.cli import main
from catt.errors import CattError

CATT = [sys.executable, "-m", "catt.cli"]


def test_help_lists_every_subcommand() -> None:
    done = subprocess.run([*CATT, "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    for command in [
        "prepare",
        "compute-fbank",
        "train-bpe",
        "train",
        "decode",
        "transcribe",
        "report",
    ]:
        assert command in done.stdout


def test_unknown_subcommand_is_a_usage_error() -> None:
    done = subprocess.run([*CATT, "fly"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "Traceback" not in done.stderr


def test_catt_error_becomes_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def broken(*args, **kwargs):
        raise CattError("data/x: something a user can fix")

    monkeypatch.setattr("catt.text.tokenizer.train_corpus_tokenizer", broken)
    assert main(["train-bpe", "data/x"]) == 2
    err = capsys.readouterr().err
    assert err == "catt: error: data/x: something a user can fix\n"


def test_train_bpe_without_corpus(tmp_path: Path) -> None:
    done = subprocess.run([*CATT, "train-bpe", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "prepare the corpus first" in done.stderr and "Traceback" not in done.stderr
