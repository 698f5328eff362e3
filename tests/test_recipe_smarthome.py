"""The smart-home recipe end to end on the micro size: every stage, then the report's shape."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from catt.decode.tune import tuned_decoding
from catt.model.checkpoint import read_model_file

REPO = Path(__file__).resolve().parents[1]
CONDITIONS = [
    "no-context",
    "deep",
    "deep+100",
    "boost",
    "deep+boost",
    "deep+boost+100",
    "deep+boost+resolve+10",
    "deep+boost+resolve+100",
    "deep+boost+resolve+1000",
]
METRICS = ["wer", "b_wer", "u_wer", "intent_acc", "slot_acc", "slot_f1", "slu_f1"]


@pytest.mark.slow
def test_micro_recipe_runs_every_stage(tmp_path: Path) -> None:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    run = [str(REPO / "recipes/smarthome/run.sh"), "--size", "micro"]
    done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    exp = tmp_path / "exp/smarthome-micro"
    report = json.loads((exp / "report.json").read_text())
    assert [c["name"] for c in report["conditions"]] == CONDITIONS
    for condition in report["conditions"]:
        assert condition["utterances"] > 0
        for metric in METRICS:
            assert 0.0 <= condition[metric] <= 100.0 or metric.endswith("wer"), (metric, condition)
        assert set(condition["by_language"]) == {"en", "es", "fr"}
        assert condition["resolve"] == ("resolve" in condition["name"])
    # Stage 3 tuned the boost and the transducer's weight on dev and decoded test with them.
    tuning = json.loads((exp / "tune/tuning.json").read_text())
    assert tuning["split"] == "dev" and tuning["boost"] in (0.5, 1.0, 1.5, 2.0)
    assert tuning["resolve_transducer"] in (0.0, 0.25, 0.5)
    assert tuning["boost_without_resolution"] in (0.5, 1.0, 1.5, 2.0)
    boosted = [c for c in report["conditions"] if "boost" in c["name"]]
    assert {c["boost"] for c in boosted if c["resolve"]} == {tuning["boost"]}
    assert {c["boost"] for c in boosted if not c["resolve"]} == {tuning["boost_without_resolution"]}
    # ... and stored them in the model file, as the defaults of `catt transcribe`.
    assert read_model_file(exp / "model.pt")["decoding"] == tuned_decoding(tuning)
    assert (exp / "distractors.png").stat().st_size > 1000
    assert (exp / "model.pt").is_file()
    assert "no-context" in (exp / "report.md").read_text()

    # A rerun skips every finished stage and leaves the results as they were.
    again = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((exp / "report.json").read_text()) == report

    # An ablation on the same data: --set reaches training, --exp-dir keeps it apart.
    ablation = tmp_path / "exp/ablation"
    run_ablation = run + ["--stage", "2", "--stop-stage", "2", "--exp-dir", str(ablation)]
    run_ablation += ["--set", "model.encoder.conv_kernel=3", "--set", "train.max_steps=2"]
    done = subprocess.run(run_ablation, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config = yaml.safe_load((ablation / "config.yaml").read_text())
    assert config["model"]["encoder"]["conv_kernel"] == 3
    assert config["train"]["max_steps"] == 2
    assert (ablation / "model.pt").is_file() and (exp / "model.pt").is_file()

    # The biasing stage (a model with the list pointer): the pointer goes on learning on the
    # adapt split, from the model stage 2 trained; then the character head stage trains the
    # head alone on the train split, from that model, and stages 3-4 write beside it.
    staged = tmp_path / "exp/pointer"
    run_biasing = run + ["--stage", "2", "--exp-dir", str(staged), "--biasing-stage"]
    run_biasing += ["--char-head"]
    run_biasing += ["--set", "model.biasing.pointer=true", "--set", "train.max_steps=3"]
    done = subprocess.run(run_biasing, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    config = yaml.safe_load((staged / "biasing/config.yaml").read_text())
    assert config["data"]["train_split"] == "adapt"
    assert config["train"]["trainable"] == ["joiner.pointer"]
    assert config["model"]["biasing"]["pointer_phrases"] is True
    assert config["model"]["biasing"]["pointer_spotting"] is True
    log = (staged / "biasing/train.log").read_text()
    assert f"initialized from {staged}/model.pt" in log and "(train.trainable)" in log
    # the phrase keys the stage adds, and the spotting weights (the pointer's own parameters)
    assert "start fresh (joiner.pointer, joiner.pointer.keys." in log
    chars = staged / "biasing/char-head"
    config = yaml.safe_load((chars / "config.yaml").read_text())
    assert config["data"]["train_split"] == "train"
    assert config["train"]["trainable"] == ["char_head"]
    assert config["model"]["biasing"]["pointer_spotting"] is True  # the model it starts from
    log = (chars / "train.log").read_text()
    assert f"initialized from {staged}/biasing/model.pt" in log
    assert "start fresh (char_head.out, char_head.rnn)" in log
    model = read_model_file(chars / "model.pt")
    assert model["config"]["char_head"]["num_chars"] > 20  # the letters of the tokenizer
    assert not (staged / "biasing/report.json").exists()
    report_b = json.loads((chars / "report.json").read_text())
    assert [c["name"] for c in report_b["conditions"]] == CONDITIONS
    assert json.loads((exp / "report.json").read_text()) == report  # the first run's, untouched

    # Stage 3 again with a boost fixed: the conditions decoded at another boost are decoded
    # again, not reported from the files of before.
    fixed = run + ["--stage", "3", "--boost", "2"]
    done = subprocess.run(fixed, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((exp / "report.json").read_text())
    assert {c["boost"] for c in report["conditions"] if "boost" in c["name"]} == {2.0}
    assert "no-context: decoded already with these settings" in done.stderr
