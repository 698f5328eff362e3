"""The training loop on a small synthetic corpus: learning, resuming, NaN skipping, DDP, errors."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import torch
import yaml
from builders import build_fake_corpus  # tests/ is on sys.path

from catt.cli import main as cli_main
from catt.errors import CattError, CheckpointError, ConfigError
from catt.model import Transducer, load_model
from catt.train import (
    DistInfo,
    TrainConfig,
    Trainer,
    _start,
    apply_overrides,
    list_checkpoints,
    load_train_config,
    loss_scales,
    lr_factor,
    train,
)

REPO = Path(__file__).resolve().parents[1]
EPOCH_STEPS = 12  # batches per epoch of the fake corpus at max_duration 6 s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fake_corpus(tmp_path_factory.mktemp("train_corpus"))


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_config(path: Path, corpus: Path, **train: Any) -> Path:
    """The micro recipe config pointed at ``corpus``, with ``train`` keys replaced."""
    config = yaml.safe_load((REPO / "recipes/smarthome/conf/micro.yaml").read_text())
    config["data"].update(dir=str(corpus), max_duration=6.0)
    config["train"].update(train)
    path.write_text(yaml.safe_dump(config))
    return path


def record_steps(monkeypatch: pytest.MonkeyPatch, kill_at: Optional[int] = None) -> List[tuple]:
    """Record (step, cut ids, loss) of every training step; raise when reaching ``kill_at``."""
    log: List[tuple] = []
    original = Trainer.train_step

    def wrapped(self: Trainer, batch: Dict[str, Any]) -> Any:
        if kill_at is not None and self.step == kill_at:
            raise RuntimeError("killed")
        stats = original(self, batch)
        log.append((self.step, [c.id for c in batch["cuts"]], stats.loss))
        return stats

    monkeypatch.setattr(Trainer, "train_step", wrapped)
    return log


# ----------------------------------------------------------------------------- schedules


def test_schedules() -> None:
    assert lr_factor(9, 10) == 1.0 and lr_factor(39, 10) == 0.5 and lr_factor(0, 0) == 1.0
    cosine = [lr_factor(s, 10, "cosine", 110) for s in range(110)]
    assert cosine[:10] == [lr_factor(s, 10) for s in range(10)]  # the same warm-up
    assert cosine[9] == 1.0 and cosine[59] == pytest.approx(0.5) and cosine[109] == 0.0
    assert all(a > b for a, b in zip(cosine[9:], cosine[10:]))
    assert lr_factor(0, 10) < lr_factor(5, 10) < lr_factor(9, 10)
    assert loss_scales(0, 10) == (1.0, 0.1)
    assert loss_scales(10, 10) == loss_scales(500, 10) == (0.5, 1.0)
    assert loss_scales(3, 0) == (0.5, 1.0)


# ----------------------------------------------------------------------------- training


def test_training_lowers_the_loss_and_writes_a_loadable_model(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = record_steps(monkeypatch)
    config = write_config(
        tmp_path / "c.yaml", corpus, max_steps=40, epochs=10, loss_warm_steps=0, spec_augment=False
    )
    exp = tmp_path / "exp"
    overrides = ["train.checkpoint_every=15", "train.valid_every=20"]
    model_path = train(config, exp, resume=False, overrides=overrides)
    assert model_path == exp / "model.pt"
    losses = [loss for _, _, loss in log]
    assert len(losses) == 40 and all(math.isfinite(x) for x in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, (first, last)

    model, tokenizer = load_model(model_path)
    assert isinstance(model, Transducer)
    assert tokenizer.vocab_size == model.config.vocab_size
    assert [p.name for p in list_checkpoints(exp)] == ["step-00000036.pt", "step-00000040.pt"]
    earlier = torch.load(list_checkpoints(exp)[0], weights_only=False)["model"]
    final = torch.load(list_checkpoints(exp)[1], weights_only=False)["model"]
    name = next(k for k, v in final.items() if v.is_floating_point() and v.numel() > 1)
    expected = (earlier[name].double() + final[name].double()) / 2
    assert torch.allclose(model.state_dict()[name].double(), expected, atol=1e-6)
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    assert saved["train"]["checkpoint_every"] == 15
    assert saved["model"]["vocab_size"] == tokenizer.vocab_size
    assert list((exp / "tensorboard").glob("events.out.tfevents.*"))
    log_text = (exp / "train.log").read_text()
    assert "step 20: dev loss" in log_text and "step 40" in log_text
    assert log_text.count("step 40: dev loss") == 1  # the last step's, not again at the end
    assert "trained to step 40 in" in log_text


def test_export_writes_any_step_of_a_run(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=9, keep_last=3, average_last=3)
    exp = tmp_path / "exp"
    train(config, exp, resume=False, overrides=["train.checkpoint_every=3"])
    steps = [torch.load(p, weights_only=False)["model"] for p in list_checkpoints(exp)]
    assert len(steps) == 3  # 3, 6, 9

    assert cli_main(["export", str(exp), "--step", "6", "--out", str(tmp_path / "six.pt")]) == 0
    six, _ = load_model(tmp_path / "six.pt")
    assert all(torch.equal(v, steps[1][k]) for k, v in six.state_dict().items())
    assert cli_main(["export", str(exp), "--avg", "3", "--out", str(tmp_path / "avg.pt")]) == 0
    averaged, final = load_model(tmp_path / "avg.pt")[0], load_model(exp / "model.pt")[0]
    assert all(torch.equal(v, final.state_dict()[k]) for k, v in averaged.state_dict().items())
    assert not all(torch.equal(v, steps[2][k]) for k, v in averaged.state_dict().items())

    capsys.readouterr()
    assert cli_main(["export", str(exp), "--step", "4", "--out", str(tmp_path / "x.pt")]) == 2
    assert "no checkpoint at step 4 (steps on disk: 3, 6, 9)" in capsys.readouterr().err
    assert (
        cli_main(["export", str(exp), "--step", "6", "--avg", "3", "--out", str(tmp_path / "x.pt")])
        == 2
    )
    assert "--avg 3: 2 checkpoint(s) on disk up to step 6" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


BASE_RECIPE = [  # what base.yaml adds to the micro model, the lists joining after the checkpoint
    "model.biasing.pointer=true",
    "context.pointer_list=household",
    "context.wrong_name_prob=0.5",
    "train.context_start_step=5",
    "model.encoder.dropout=0.1",
    "model.encoder.conv_kernel=3",
]


@pytest.mark.parametrize(
    "kill_at, checkpoint_every, overrides",
    [(6, 4, []), (14, 100, []), (6, 4, BASE_RECIPE)],
    ids=["mid-epoch", "epoch-end", "base-recipe"],
)
def test_resume_continues_with_the_same_next_batch(
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    kill_at: int,
    checkpoint_every: int,
    overrides: List[str],
) -> None:
    """Killed mid-epoch (resumes from step 4) or early in epoch 2 (resumes from the epoch-end
    checkpoint, step 12): the resumed run sees the batches and losses of an uninterrupted run,
    SpecAugment and phrase lists included, and ends with the same weights. The base recipe's
    training (pointer, household lists, wrong names, dropout, convolution) resumes exactly too,
    across the step where the lists join."""
    config = write_config(
        tmp_path / "c.yaml", corpus, max_steps=16, checkpoint_every=checkpoint_every
    )
    monkeypatch.setattr(Trainer, "validate", lambda self: None)  # faster; draws no randomness
    full = record_steps(monkeypatch)
    train(config, tmp_path / "full", resume=False, overrides=overrides)

    exp = tmp_path / "killed"
    monkeypatch.undo()
    monkeypatch.setattr(Trainer, "validate", lambda self: None)
    record_steps(monkeypatch, kill_at=kill_at)
    with pytest.raises(RuntimeError, match="killed"):
        train(config, exp, resume=False, overrides=overrides)
    assert not (exp / "model.pt").exists()
    start = int(list_checkpoints(exp)[-1].stem.split("-")[1])
    assert start == (4 if kill_at == 6 else EPOCH_STEPS)

    # The killed passes' wall time is carried on (stand-in: 1,000 s at the checkpoint).
    last = list_checkpoints(exp)[-1]
    state = torch.load(last, weights_only=False)
    assert state["train_seconds"] > 0
    torch.save({**state, "train_seconds": 1000.0}, last)

    monkeypatch.undo()
    monkeypatch.setattr(Trainer, "validate", lambda self: None)
    resumed = record_steps(monkeypatch)
    train(config, exp, resume=True, overrides=overrides)
    final_state = torch.load(list_checkpoints(exp)[-1], weights_only=False)
    assert 1000.0 < final_state["train_seconds"] < 1000.0 + 600
    assert [s for s, _, _ in resumed] == list(range(start + 1, 17))
    expected = full[start:]
    assert [ids for _, ids, _ in resumed] == [ids for _, ids, _ in expected]
    assert [loss for _, _, loss in resumed] == pytest.approx([x for _, _, x in expected], 1e-6)
    a = torch.load(list_checkpoints(tmp_path / "full")[-1], weights_only=False)["model"]
    b = torch.load(list_checkpoints(exp)[-1], weights_only=False)["model"]
    for name, value in a.items():
        assert torch.allclose(value, b[name], atol=1e-6), name


def test_resume_rejects_a_corrupt_checkpoint_and_fresh_runs_refuse_old_ones(
    corpus: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=2, checkpoint_every=1)
    exp = tmp_path / "exp"
    train(config, exp, resume=False, overrides=[])
    with pytest.raises(CheckpointError, match="pass --resume"):
        train(config, exp, resume=False, overrides=[])
    list_checkpoints(exp)[-1].write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"step-00000002\.pt: corrupt checkpoint") as err:
        train(config, exp, resume=True, overrides=["train.max_steps=3"])
    assert "\n" not in str(err.value)
    list_checkpoints(exp)[-1].unlink()
    with pytest.raises(ConfigError, match="model differs from the checkpoint's"):
        train(config, exp, resume=True, overrides=["model.joiner_dim=8", "train.max_steps=3"])
    with pytest.raises(ConfigError, match="train.seed is 1, the checkpoint's is 42"):
        train(config, exp, resume=True, overrides=["train.seed=1", "train.max_steps=3"])
    assert train(config, exp, resume=True, overrides=["train.max_steps=3"]).is_file()


def test_init_from_starts_a_fresh_run_from_a_model_or_checkpoint(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=2, checkpoint_every=1)
    source = train(config, tmp_path / "source", resume=False, overrides=[])
    checkpoint = list_checkpoints(tmp_path / "source")[-1]
    for path, weights in (
        (source, load_model(source)[0].state_dict()),
        (checkpoint, torch.load(checkpoint, weights_only=False)["model"]),
    ):
        fresh = Trainer(load_train_config(config), tmp_path / f"fine-{path.stem}", DistInfo())
        before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
        _start(fresh, False, path)
        state = fresh.model.state_dict()
        assert fresh.step == 0
        assert all(torch.equal(state[k], weights[k].to(state[k].dtype)) for k in state)
        assert any(not torch.equal(state[k], before[k]) for k in state)
    # A model of another shape, a missing file: one-line errors, exit code 2 from the CLI.
    other = Trainer(
        load_train_config(config, ["model.joiner_dim=8"]), tmp_path / "other", DistInfo()
    )
    with pytest.raises(CheckpointError, match="does not fit the model") as err:
        _start(other, False, source)
    assert "\n" not in str(err.value) and "joiner.enc_proj.weight" in str(err.value)
    # A module the file lacks: an error, unless the run trains it (it then starts fresh).
    pointer = ["model.biasing.pointer=true", "context.pointer_list=household"]
    untrained = Trainer(load_train_config(config, pointer), tmp_path / "added", DistInfo())
    with pytest.raises(CheckpointError, match="missing \\(joiner.pointer"):
        _start(untrained, False, source)
    pointer.append("train.trainable=[joiner.pointer]")
    added = Trainer(load_train_config(config, pointer), tmp_path / "added", DistInfo())
    before = {k: v.clone() for k, v in added.model.state_dict().items()}
    _start(added, False, source)
    state, weights = added.model.state_dict(), load_model(source)[0].state_dict()
    assert all(torch.equal(state[k], weights[k]) for k in weights)
    assert all(torch.equal(state[k], before[k]) for k in state if k not in weights)
    assert any(k.startswith("joiner.pointer.") for k in state if k not in weights)
    args = ["train", "--config", str(config), "--exp-dir", str(tmp_path / "x")]
    assert cli_main([*args, "--init-from", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    # Fine-tuning runs end to end from the CLI.
    assert cli_main([*args, "--init-from", str(source)]) == 0
    assert "initialized from" in (tmp_path / "x" / "train.log").read_text()


def test_the_character_head_stage_trains_the_head_alone(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe's conf/char_head.yaml over a trained model: the head learns, nothing else
    changes, and the transducer's losses are not computed."""
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=2)
    source = train(config, tmp_path / "source", resume=False, overrides=[])
    stage = load_train_config(
        [config, REPO / "recipes/smarthome/conf/char_head.yaml"],
        ["train.max_steps=3", "train.epochs=1", "data.max_duration=6.0"],
    )
    trainer = Trainer(stage, tmp_path / "chars", DistInfo())
    letters = len(trainer.tokenizer.characters)
    assert trainer.model_config.char_head.num_chars == letters + 1  # and a blank
    assert not trainer.trains_transducer
    calls: List[bool] = []
    original = Transducer.forward

    def forward(self: Transducer, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["transducer"])
        assert kwargs["chars"] is not None
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Transducer, "forward", forward)
    _start(trainer, False, source)
    trainer.run()
    model_file = trainer.write_final_model()
    assert calls and not any(calls)  # training and validation
    trained, before = load_model(model_file)[0].state_dict(), load_model(source)[0].state_dict()
    assert all(torch.equal(trained[k], before[k]) for k in before)
    assert {k.split(".")[0] for k in trained if k not in before} == {"char_head"}


def test_wrong_names_reach_the_training_forward_only(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    overrides = [
        "model.biasing.pointer=true",
        "context.pointer_list=household",
        "context.wrong_name_prob=1.0",
    ]
    config = load_train_config(write_config(tmp_path / "c.yaml", corpus), overrides)
    trainer = Trainer(config, tmp_path / "exp", DistInfo())
    seen: List[tuple] = []
    original = Transducer.forward

    def spy(self: Transducer, *args: Any, **kwargs: Any) -> Any:
        seen.append((self.training, args[2], kwargs.get("history")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Transducer, "forward", spy)
    trainer.train_step(next(iter(trainer.train_loader)))
    assert trainer.validate() is not None
    (training, tokens, history), *valid = seen
    assert training and history is not None and history != tokens
    assert valid and all(not t and h is None for t, _, h in valid)  # the dev loss reads references


def test_vtlp_warps_training_batches_and_never_dev_batches(corpus: Path, tmp_path: Path) -> None:
    config = load_train_config(
        write_config(tmp_path / "c.yaml", corpus, spec_augment=False), ["train.vtlp=0.1"]
    )
    trainer = Trainer(config, tmp_path / "exp", DistInfo())
    plain = Trainer(
        load_train_config(write_config(tmp_path / "p.yaml", corpus, spec_augment=False)),
        tmp_path / "plain",
        DistInfo(),
    )
    batch, reference = next(iter(trainer.train_loader)), next(iter(plain.train_loader))
    assert [c.id for c in batch["cuts"]] == [c.id for c in reference["cuts"]]
    assert batch["features"].shape == reference["features"].shape
    assert not torch.allclose(batch["features"], reference["features"], atol=1e-3)
    dev, dev_plain = next(iter(trainer.valid_loader)), next(iter(plain.valid_loader))
    assert torch.equal(dev["features"], dev_plain["features"])


# ----------------------------------------------------------------------------- non-finite


def _trainer(corpus: Path, tmp_path: Path) -> Trainer:
    config = load_train_config(write_config(tmp_path / "c.yaml", corpus, spec_augment=False))
    return Trainer(config, tmp_path / "exp", DistInfo())


def _snapshot(trainer: Trainer) -> Dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


@pytest.mark.parametrize("poison", ["loss", "grad"])
def test_a_non_finite_batch_is_skipped(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, poison: str
) -> None:
    trainer = _trainer(corpus, tmp_path)
    batch = next(iter(trainer.train_loader))
    original = Transducer.forward

    def poisoned(self: Transducer, *args: Any, **kwargs: Any) -> Any:
        losses = original(self, *args, **kwargs)
        if poison == "loss":
            return losses._replace(simple=losses.simple * float("nan"))
        weight = next(self.parameters())
        nan_grad = torch.sqrt(weight.abs() * 0).sum()  # finite loss, NaN gradient
        return losses._replace(simple=losses.simple + nan_grad)

    before = _snapshot(trainer)
    monkeypatch.setattr(Transducer, "forward", poisoned)
    stats = trainer.train_step(batch)
    assert stats.skipped and trainer.skipped == 1 and trainer.step == 1
    assert not trainer.optimizer.state  # Adam never stepped
    for name, value in trainer.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    monkeypatch.setattr(Transducer, "forward", original)
    stats = trainer.train_step(batch)
    assert not stats.skipped and math.isfinite(stats.grad_norm)
    changed = [k for k, v in trainer.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed


def test_a_nan_batch_in_a_run_is_logged_and_training_goes_on(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Transducer.forward
    calls = {"n": 0}

    def nan_on_third(self: Transducer, *args: Any, **kwargs: Any) -> Any:
        losses = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3 and self.training:
            return losses._replace(pruned=losses.pruned * float("nan"))
        return losses

    monkeypatch.setattr(Transducer, "forward", nan_on_third)
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=5, valid_every=0)
    exp = tmp_path / "exp"
    train(config, exp, resume=False, overrides=[])
    ckpt = torch.load(list_checkpoints(exp)[-1], weights_only=False)
    assert ckpt["skipped"] == 1 and ckpt["step"] == 5
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    assert "step 2: non-finite loss, batch skipped" in (exp / "train.log").read_text()


def test_a_run_that_skips_most_batches_stops_with_a_clear_error(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Transducer.forward
    calls = {"n": 0}

    def nan_but_every_third(self: Transducer, *args: Any, **kwargs: Any) -> Any:
        losses = original(self, *args, **kwargs)
        if not self.training:
            return losses
        calls["n"] += 1
        return losses._replace(pruned=losses.pruned * (1.0 if calls["n"] % 3 == 0 else math.nan))

    monkeypatch.setattr(Transducer, "forward", nan_but_every_third)
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=200, valid_every=0)
    with pytest.raises(CattError, match=r"14 of the last 20 batches were skipped \(step 20\)"):
        train(config, tmp_path / "exp", resume=False, overrides=[])


# ----------------------------------------------------------------------------- distributed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, config: str, exp: str, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world_size),
    )
    torch.set_num_threads(1)
    original = Trainer.run
    seen: List[str] = []
    original_step = Trainer.train_step

    def step(self: Trainer, batch: Dict[str, Any]) -> Any:
        seen.extend(c.id for c in batch["cuts"])
        return original_step(self, batch)

    def run(self: Trainer) -> None:
        original(self)
        torch.save({"state": self.model.state_dict(), "seen": seen}, f"{out}/rank{rank}.pt")

    Trainer.run = run  # type: ignore[method-assign]
    Trainer.train_step = step  # type: ignore[method-assign]
    train(Path(config), Path(exp), resume=False, overrides=[])


def test_two_process_gloo_run_keeps_ranks_identical(corpus: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=3, valid_every=2)
    exp = tmp_path / "exp"
    torch.multiprocessing.spawn(
        _ddp_worker,
        args=(2, _free_port(), str(config), str(exp), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2))
    assert set(r0["seen"]).isdisjoint(r1["seen"])  # each rank trained on its own share
    for name, value in r0["state"].items():
        assert torch.equal(value, r1["state"][name]), name
    model, _ = load_model(exp / "model.pt")
    assert (exp / "checkpoints" / "step-00000003.pt").is_file()
    assert (
        torch.load(exp / "checkpoints" / "step-00000003.pt", weights_only=False)["world_size"] == 2
    )
    assert model.config.vocab_size > 0


@pytest.mark.slow
def test_torchrun_cli_trains(corpus: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=2, valid_every=0)
    torchrun = Path(sys.executable).parent / "torchrun"
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(_free_port())]
    cmd += ["-m", "catt.cli", "train", "--config", str(config), "--exp-dir", str(tmp_path / "e")]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("model.pt")
    load_model(tmp_path / "e" / "model.pt")


# ----------------------------------------------------------------------------- config


def test_config_round_trip_and_overrides(corpus: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", corpus)
    config = load_train_config(path, ["train.lr=2e-3", "context.max_distractors=7"])
    assert config.train.lr == 0.002 and config.context.max_distractors == 7
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert apply_overrides({}, ["model.encoder.d_model=32"]) == {
        "model": {"encoder": {"d_model": 32}}
    }
    for name in ("micro", "tiny", "base"):
        conf = load_train_config(REPO / f"recipes/smarthome/conf/{name}.yaml")
        assert conf.train.average_last <= conf.train.keep_last


def test_a_later_config_file_overlays_the_earlier_ones(corpus: Path, tmp_path: Path) -> None:
    """The recipe's biasing stage: conf/SIZE.yaml, then conf/biasing.yaml over it."""
    base = write_config(tmp_path / "base.yaml", corpus)
    stage = tmp_path / "stage.yaml"
    stage.write_text("train:\n  lr: 0.5\n  trainable: [joiner]\ndata:\n  train_split: dev\n")
    config = load_train_config([base, stage], ["train.max_steps=3"])
    alone = load_train_config(base)
    assert (config.train.lr, config.train.trainable, config.train.max_steps) == (0.5, ["joiner"], 3)
    assert config.data.train_split == "dev" and config.data.dir == alone.data.dir
    assert config.train.seed == alone.train.seed and config.model == alone.model
    recipe = REPO / "recipes/smarthome/conf"
    for name in ("micro", "tiny", "base"):
        conf = load_train_config([recipe / f"{name}.yaml", recipe / "biasing.yaml"])
        assert conf.data.train_split == "adapt" and conf.train.trainable
    with pytest.raises(ConfigError, match=r"stage.yaml: .*unknown key 'lrr'"):
        stage.write_text("train:\n  lrr: 1\n")
        load_train_config([base, stage])


def test_the_train_split_and_trainable_parameters(
    corpus: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = load_train_config(
        write_config(tmp_path / "c.yaml", corpus),
        ["data.train_split=dev", "train.trainable=[joiner.out,context_encoder,joiner.pointer]"],
    )
    trainer = Trainer(config, tmp_path / "exp", DistInfo())
    assert {c.id.split("-")[0] for c in trainer.train_cuts} == {"dev"}
    assert "this model has no parameter joiner.pointer (skipped)" in caplog.text
    before = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
    trainer.train_step(next(iter(trainer.train_loader)))
    for name, value in trainer.model.named_parameters():
        trained = name.startswith(("joiner.out.", "context_encoder."))
        assert value.requires_grad == trained, name
        assert torch.equal(value, before[name]) != trained, name
    # Frozen modules run in eval mode (no dropout); the trained ones and those holding them train.
    modes = {name: m.training for name, m in trainer.model.named_modules()}
    assert modes[""] and modes["joiner"] and modes["joiner.out"] and modes["context_encoder"]
    assert not modes["encoder"] and not modes["predictor"]
    assert all(not on for name, on in modes.items() if name.startswith("encoder."))
    missing = load_train_config(
        write_config(tmp_path / "d.yaml", corpus), ["data.train_split=adapt"]
    )
    with pytest.raises(CattError, match=r"_cuts_adapt.jsonl.gz is missing"):
        Trainer(missing, tmp_path / "exp2", DistInfo())
    wrong = load_train_config(
        write_config(tmp_path / "e.yaml", corpus), ["train.trainable=[joiner.outt]"]
    )
    with pytest.raises(
        ConfigError, match=r"no parameter is named joiner.outt or .*modules: .*encoder"
    ):
        Trainer(wrong, tmp_path / "exp3", DistInfo())


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["train.trainable=[]"], r"train.trainable must be a non-empty list of parameter names"),
        (["train.lrr=1"], r"unknown key 'lrr' in section 'train'; valid keys: .*lr, "),
        (["trian.lr=1"], r"unknown key 'trian' in config; valid keys: context, data, model, train"),
        (["train.epochs=two"], r"train.epochs must be int, got 'two'"),
        (["train.lr=0"], r"train.lr must be > 0, got 0"),
        (["train.lr_decay=linear"], r"train.lr_decay must be one of rsqrt, cosine, got 'linear'"),
        (["train.lr_decay=cosine", "train.max_steps=null"], r"cosine decays to 0 at train.max_st"),
        (["train.average_last=9"], r"train.average_last must be in \[1, keep_last=2\], got 9"),
        (["train.spec_augment=maybe"], r"train.spec_augment must be bool"),
        (["context.drop_positive_prob=2"], r"context.drop_positive_prob must be in \[0, 1\]"),
        (["data.dir="], r"data.dir is not set"),
        (["train.lr"], r"override 'train.lr' is not KEY.SUB=VALUE"),
    ],
)
def test_config_errors_name_the_key_and_choices(
    corpus: Path, tmp_path: Path, overrides: List[str], message: str
) -> None:
    path = write_config(tmp_path / "c.yaml", corpus)
    with pytest.raises(ConfigError, match=message) as err:
        load_train_config(path, overrides)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)


def test_model_section_errors_come_from_the_model_config(corpus: Path, tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", corpus)
    with pytest.raises(ConfigError, match="preset"):
        train(path, tmp_path / "exp", resume=False, overrides=["model.preset=huge"])


def test_cli_reports_a_config_error_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = cli_main(["train", "--config", str(tmp_path / "none.yaml"), "--exp-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("catt: error:") and "none.yaml: no such config file" in err
    assert "\n" not in err


def test_a_cut_is_checked_against_its_encoder_frames_once(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    trainer = Trainer(
        load_train_config(write_config(tmp_path / "c.yaml", corpus)), tmp_path / "exp", DistInfo()
    )
    cut = next(iter(trainer.train_cuts))
    short = cut.truncate(duration=0.05)  # 5 frames: 1 encoder frame, fewer than its tokens
    texts: List[str] = []
    encode = trainer.tokenizer.encode
    monkeypatch.setattr(
        trainer.tokenizer, "encode", lambda text: texts.append(text) or encode(text)
    )
    known: Dict[str, bool] = {}
    for _ in range(2):  # two epochs
        assert trainer._fits(cut, known)
        assert not trainer._fits(short, known)
    assert len(texts) == 2 and known == {cut.id: True, short.id: False}
    assert sum("left out" in r.getMessage() for r in caplog.records) == 1


def test_a_corpus_with_no_usable_cut_is_an_error(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Trainer, "_fits", lambda self, cut, known: False)
    config = write_config(tmp_path / "c.yaml", corpus, max_steps=3)
    with pytest.raises(CattError, match="no training batch in epoch 0"):
        train(config, tmp_path / "exp", resume=False, overrides=[])
