"""The benchmark scripts still run: ``run_all.sh --quick`` into a temporary folder.

Asserts the structure of every results file and of the generated page, never a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    cmd = [
        "bash",
        str(REPO / "benchmarks" / "run_all.sh"),
        "--quick",
        "--results",
        str(out / "results"),
        "--doc",
        str(out / "doc" / "benchmarks.md"),
        "--img",
        str(out / "doc" / "img" / "decode.png"),
    ]
    env = {"PYTHON_BENCH": sys.executable, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _load(out: Path, name: str) -> dict:
    data = json.loads((out / "results" / f"{name}.json").read_text())
    assert data["benchmark"] == name and data["quick"] is True
    assert data["machine"]["nproc"] >= 1 and data["machine"]["torch"]
    assert data["command"].startswith(f"python benchmarks/bench_{name}.py --quick")
    return data


def test_train_results(quick_run: Path) -> None:
    data = _load(quick_run, "train")
    (config,) = data["configs"].values()
    assert config["config"].endswith("micro.yaml")
    assert config["batch_utterances"] > 1 and config["phrases_per_batch"] > 0
    assert config["step_s"] > 0 and config["audio_s_per_s"] > 0
    assert config["peak_mb"] >= 0


def test_loader_results(quick_run: Path) -> None:
    data = _load(quick_run, "loader")
    assert data["config"].endswith("base.yaml") and data["batches"] > 0
    assert data["cpu_ms_per_batch"] > 0 and data["wall_ms_per_batch"] > 0
    page = (quick_run / "doc" / "benchmarks.md").read_text()
    assert "## Loading a training batch" in page


def test_augment_results(quick_run: Path) -> None:
    data = _load(quick_run, "augment")
    assert set(data["cases"]) == {"vtlp", "spec_augment", "vtlp+spec_augment"}
    assert all(c["seconds"] > 0 and len(c["runs"]) == 2 for c in data["cases"].values())


def test_loss_results(quick_run: Path) -> None:
    data = _load(quick_run, "loss")
    assert set(data["cases"]) == {"pruned", "simple", "full"}
    assert all(c["seconds"] > 0 for c in data["cases"].values())
    assert isinstance(data["goal"]["met"], bool)
    assert data["memory_ratio"] == pytest.approx(
        data["cases"]["full"]["peak_mb"] / max(data["cases"]["pruned"]["peak_mb"], 1e-6)
    )


def test_decode_results(quick_run: Path) -> None:
    data = _load(quick_run, "decode")
    sizes = data["list_sizes"]
    keys = {(c["search"], c["mode"], c["phrases"]) for c in data["cases"]}
    expected = {(s, "none", 0) for s in ("greedy", "beam4")}
    modes = ("deep", "boost", "deep_tokens", "deep_pointer", "deep_phrase_pointer")
    expected |= {(s, m, n) for s in ("greedy", "beam4") for m in modes for n in sizes}
    assert keys == expected
    assert all(c["rtf"] > 0 and c["tokens"] > 0 for c in data["cases"])
    assert data["list_preparation"]["phrases"] == max(sizes)
    assert len(data["goals"]) == 5 and all(isinstance(g["met"], bool) for g in data["goals"])


def test_decode_jobs_results(quick_run: Path) -> None:
    data = _load(quick_run, "decode_jobs")
    assert [c["jobs"] for c in data["cases"]] == [1, 2]
    assert all(c["seconds"] > 0 and c["utterances_per_second"] > 0 for c in data["cases"])
    assert data["cases"][0]["speed_up"] == 1.0 and data["tokens_per_frame"] > 0


def test_resolve_results(quick_run: Path) -> None:
    data = _load(quick_run, "resolve")
    slots = [(c["phrases"], c["slot"]) for c in data["cases"]]
    assert slots == [(10, "whole"), (10, "half"), (10, "chars"), (10, "rescore")]
    assert all(c["seconds"] > 0 and c["peak_mb"] >= 0 for c in data["cases"])
    assert data["cases"][2]["candidates"] == data["cases"][0]["candidates"]  # a whole slot
    assert data["cases"][3]["candidates"] == data["shape"]["rescored"]
    page = (quick_run / "doc" / "benchmarks.md").read_text()
    assert "whole slot with a character head (ms, median)" in page


def test_model_results(quick_run: Path) -> None:
    data = _load(quick_run, "model")
    (size,) = data["sizes"]
    assert size["parameters"] == sum(size["parameters_by_part"].values())
    assert 0 < size["int8_file_mb"] and 0 < size["file_mb"]
    assert {(c["dtype"], c["search"]) for c in data["int8_speed"]} == {
        (d, s) for d in ("float32", "int8") for s in ("greedy", "beam4")
    }
    acc = data["int8_accuracy"]
    assert "skipped" in acc or {r["dtype"] for r in acc["rows"]} == {"float32", "int8"}


def test_page_and_plot(quick_run: Path) -> None:
    page = (quick_run / "doc" / "benchmarks.md").read_text()
    headings = ("## Goals", "## Training throughput", "## Feature aug", "## Loss", "## Decoding")
    for heading in (*headings, "## Decoding processes", "## List res", "## Model"):
        assert heading in page
    assert "](img/decode.png)" in page and "deep biasing, token vectors" in page
    assert "met" in page and "--quick" in page
    png = (quick_run / "doc" / "img" / "decode.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_train_pairs_runs_both_trees_in_turn(tmp_path: Path) -> None:
    out = tmp_path / "pairs.json"
    script = REPO / "benchmarks" / "bench_train_pairs.py"
    cmd = [sys.executable, str(script), "--quick", "--before", str(REPO), "--after", str(REPO)]
    proc = subprocess.run(
        [*cmd, "--cases", "micro", "--runs", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["benchmark"] == "train_pairs" and data["pairs"] == 3
    case = data["cases"]["micro"]
    assert len(case["before_runs"]) == len(case["after_runs"]) == 3
    assert case["before_step_s"] > 0 and case["after_peak_mb"] >= 0
    bad = subprocess.run(
        [*cmd[:3], "--before", str(tmp_path), "--after", str(REPO), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "not a catt tree" in bad.stderr
