"""The LibriSpeech-biasing and Fluent Speech Commands recipes on fixture trees in the real layouts.

Each recipe runs end to end through its run.sh (preparation, speed-perturbed features, BPE, a
few training steps of a micro model, decoding, report); pointing a recipe at a directory that
is not the corpus ends in one line naming what is missing.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from recipe_trees import build_biasing_lists, build_fsc_tree, build_librispeech_tree

REPO = Path(__file__).resolve().parents[1]
# One thread per process: on 2 shared cores, torch's thread pool makes micro models much slower.
ENV = dict(
    os.environ,
    PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    OMP_NUM_THREADS="1",
)


def _run(args: List[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True)


def _count_lines(path: Path) -> int:
    with gzip.open(path, "rt") as f:
        return sum(1 for _ in f)


@pytest.mark.slow
def test_librispeech_biasing_recipe_runs_every_stage(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    librispeech = build_librispeech_tree(corpus)
    lists = build_biasing_lists(librispeech, corpus, sizes=(100,))
    run = [
        str(REPO / "recipes/librispeech_biasing/run.sh"),
        "--size", "fixture", "--corpus", str(corpus), "--biasing-dir", str(lists), "--jobs", "1",
    ]  # fmt: skip
    done = _run(run, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    data, exp = tmp_path / "data/librispeech-fixture", tmp_path / "exp/librispeech-fixture"
    # Speed perturbation triples the training cuts only.
    assert _count_lines(data / "manifests/librispeech_cuts_train.jsonl.gz") == 3 * 8
    assert _count_lines(data / "manifests/librispeech_cuts_test-clean.jsonl.gz") == 3
    report = json.loads((exp / "report.json").read_text())
    names = [c["name"] for c in report["conditions"]]
    per_set = ["no-context", "deep+100", "boost+100", "deep+boost+100"]
    assert names == [f"{t}/{n}" for t in ("test-clean", "test-other") for n in per_set]
    for condition in report["conditions"]:
        assert condition["utterances"] == 3
        assert condition["b_words"] > 0  # the rare words of the references
        assert condition["wer"] is not None and condition["b_wer"] is not None
        assert condition["intent_acc"] is None
    assert [c["distractors"] for c in report["conditions"][:4]] == [0, 100, 100, 100]
    results = (exp / "decode/test-clean/deep+100.jsonl").read_text().splitlines()
    first = json.loads(results[0])
    assert first["id"].startswith(first["household"])  # each utterance is its own group
    assert first["biasing_list"]
    assert set(first["biasing_list"]) <= set(first["ref"]["text"].split())


@pytest.mark.slow
def test_fsc_recipe_runs_every_stage(tmp_path: Path) -> None:
    build_fsc_tree(tmp_path / "corpus")
    run = [
        str(REPO / "recipes/fluent_speech_commands/run.sh"),
        "--size", "fixture", "--corpus", str(tmp_path / "corpus"), "--jobs", "1",
    ]  # fmt: skip
    done = _run(run, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    exp = tmp_path / "exp/fsc-fixture"
    report = json.loads((exp / "report.json").read_text())
    assert [c["name"] for c in report["conditions"]] == ["no-context"]
    condition = report["conditions"][0]
    assert condition["utterances"] == 5
    assert 0.0 <= condition["intent_acc"] <= 100.0
    line = json.loads((exp / "decode/no-context.jsonl").read_text().splitlines()[0])
    assert line["ref"]["intent"] == "activate_lights_kitchen"
    assert line["ref_tagged"].startswith("<intent:activate_lights_kitchen> turn on the lights")


@pytest.mark.parametrize(
    ("recipe", "missing"),
    [("librispeech_biasing", "train-clean-100 is missing"), ("fluent_speech_commands", "csv")],
)
def test_recipe_on_a_directory_that_is_not_the_corpus(
    tmp_path: Path, recipe: str, missing: str
) -> None:
    (tmp_path / "not-a-corpus").mkdir()
    run = [str(REPO / f"recipes/{recipe}/run.sh"), "--size", "fixture"]
    done = _run([*run, "--corpus", "not-a-corpus", "--stop-stage", "1"], tmp_path)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("catt: error:")]
    assert len(errors) == 1 and missing in errors[0] and "not-a-corpus" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
