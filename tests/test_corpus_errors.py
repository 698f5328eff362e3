"""Bad input to ``catt prepare smarthome`` and ``catt compute-fbank``: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest

from catt.cli import main

CATT = Path(sys.executable).parent / "catt"


def _run_main(argv: List[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("catt: error: ") and err.count("\n") == 1, err
    return err


def test_unknown_language(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _run_main(
        ["prepare", "smarthome", "--out", str(tmp_path / "d"), "--langs", "en,de"], capsys
    )
    assert "'de'" in err and "en, es, fr" in err
    assert not (tmp_path / "d").exists()


def test_unknown_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _run_main(
        ["prepare", "smarthome", "--out", str(tmp_path / "d"), "--size", "huge"], capsys
    )
    assert "'huge'" in err and "micro, tiny, base" in err


def test_bad_jobs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _run_main(["prepare", "smarthome", "--out", str(tmp_path), "--jobs", "0"], capsys)
    assert "--jobs" in err


def test_output_directory_not_writable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    out = blocker / "corpus"
    err = _run_main(["prepare", "smarthome", "--out", str(out), "--size", "micro"], capsys)
    assert str(out) in err and "cannot write" in err


def test_other_corpus_in_the_output_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / ".smarthome_params.json").write_text('{"size": "tiny", "langs": ["en"], "seed": 3}')
    err = _run_main(["prepare", "smarthome", "--out", str(tmp_path), "--size", "micro"], capsys)
    assert "size=tiny" in err and "seed=3" in err


def test_compute_fbank_before_prepare(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    err = _run_main(["compute-fbank", str(tmp_path)], capsys)
    assert "prepare the corpus first" in err


def test_missing_espeak_through_the_console_script(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=str(tmp_path / "empty-bin"))
    cmd = [str(CATT), "prepare", "smarthome", "--out", str(tmp_path / "d"), "--size", "micro"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "espeak-ng is not installed" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "d").exists()
