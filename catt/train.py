"""The training loop: one process or ``torchrun`` DDP, resumable, ends with an averaged model.

``train(config, exp_dir, resume=..., overrides=[...])`` reads a YAML config (sections ``data``,
``model``, ``context``, ``train``; see :class:`TrainConfig`), trains a transducer with the k2
pruned loss on ``DATA/manifests/{prefix}_cuts_train.jsonl.gz`` (or another split:
``data.train_split``; validation on the ``dev`` split when there is one; see
:mod:`catt.data.corpus`) and writes into ``exp_dir``::

    config.yaml                      the resolved config (overrides applied, vocab filled in)
    train.log                        the log of rank 0
    tensorboard/                     losses, learning rate, gradient norm, validation loss
    checkpoints/step-XXXXXXXX.pt     every ``checkpoint_every`` steps and at each epoch end
    model.pt                         the average of the last checkpoints (``load_model``)

Distributed: under ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK in the environment) each process
trains on its share of every batch draw; gradients are averaged with one all-reduce per step
(gloo on CPU, nccl on GPU). Only rank 0 writes files.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import logging
import math
import os
import random
import re
import sys
import time
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Deque,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np
import torch
import torch.distributed as dist
import yaml

from catt.context.sampling import ContextSampler, ContextSamplingOptions
from catt.data.corpus import context_group, open_corpus
from catt.errors import CattError, CheckpointError, ConfigError
from catt.io import atomic_torch_save, atomic_write_text
from catt.loss import loss_scales

if TYPE_CHECKING:
    from catt.model import Losses

__all__ = [
    "DataOptions",
    "TrainOptions",
    "TrainConfig",
    "load_train_config",
    "apply_overrides",
    "DistInfo",
    "init_distributed",
    "StepStats",
    "Trainer",
    "train",
    "lr_factor",
    "freeze_all_but",
    "set_train_mode",
    "list_checkpoints",
    "load_checkpoint",
    "export_model",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "catt-train-checkpoint-v1"
SKIP_WINDOW = 100
"""Training stops when more than half of the last this many steps were skipped (at least
``SKIP_WINDOW // 5`` of them seen): such a run learns nothing and should not burn hours."""
LR_DECAYS = ("rsqrt", "cosine")
"""The values of ``train.lr_decay`` (:func:`lr_factor`)."""
_CKPT_NAME = re.compile(r"^step-(\d+)\.pt$")
PathLike = Union[str, Path]


# ----------------------------------------------------------------------------- config


@dataclass(frozen=True)
class DataOptions:
    """The ``data:`` section.

    Attributes:
        dir: the corpus directory (manifests, households, ``lang/bpe.model``).
        max_duration: seconds of audio per batch and process.
        num_buckets: duration buckets of the dynamic bucketing sampler.
        train_split: the split trained on (``DATA/manifests/{prefix}_cuts_{train_split}``);
            the smart-home recipe's biasing stage trains on ``adapt``.
    """

    dir: str = ""
    max_duration: float = 60.0
    num_buckets: int = 10
    train_split: str = "train"

    def __post_init__(self) -> None:
        if not self.dir:
            raise ConfigError("data.dir is not set (in the config or with --set data.dir=DATA)")
        _check_positive("data.max_duration", self.max_duration)
        _check_positive("data.num_buckets", self.num_buckets)


@dataclass(frozen=True)
class TrainOptions:
    """The ``train:`` section.

    Attributes:
        epochs: passes over the training cuts.
        max_steps: stop after this many steps even if epochs remain (None: no limit).
        lr: peak learning rate of Adam.
        warmup_steps: linear warm-up to ``lr``, then the decay of ``lr_decay``.
        lr_decay: ``rsqrt``, inverse square-root decay (no end in view), or ``cosine``, a
            half cosine from ``lr`` to 0 at ``max_steps`` (which it needs): a run of a fixed
            length ends annealed.
        grad_clip: maximum gradient norm.
        log_every: log and write TensorBoard scalars every this many steps.
        valid_every: dev loss every this many steps (0: only at the end).
        checkpoint_every: checkpoint every this many steps (and at each epoch end).
        keep_last: checkpoints kept on disk.
        average_last: checkpoints averaged into the final model (<= keep_last).
        seed: seeds the model init, shuffling, phrase lists and SpecAugment.
        spec_augment: SpecAugment on the training features.
        vtlp: vocal tract length perturbation of the training features: each utterance's
            frequency axis is scaled by a factor drawn from ``[1 - vtlp, 1 + vtlp]`` (0: off;
            :class:`catt.data.augment.VocalTractWarp`).
        loss_warm_steps: the simple-loss scale goes 1.0 -> 0.5 and the pruned-loss scale
            0.1 -> 1.0 over these steps.
        prune_range, am_scale, lm_scale: k2 pruned-loss settings.
        context_start_step: steps trained without any phrase list (the plain transducer)
            before the context is switched on.
        trainable: the parameters trained, by name or name prefix at a dot (e.g.
            ``joiner.pointer``); the others stay frozen. None: all of them.
    """

    epochs: int = 10
    max_steps: Optional[int] = None
    lr: float = 1e-3
    warmup_steps: int = 500
    lr_decay: str = "rsqrt"
    grad_clip: float = 5.0
    log_every: int = 10
    valid_every: int = 500
    checkpoint_every: int = 500
    keep_last: int = 5
    average_last: int = 3
    seed: int = 42
    spec_augment: bool = True
    vtlp: float = 0.0
    loss_warm_steps: int = 500
    prune_range: int = 5
    am_scale: float = 0.0
    lm_scale: float = 0.25
    context_start_step: int = 0
    trainable: Optional[List[str]] = None

    def __post_init__(self) -> None:
        for name in ("epochs", "lr", "grad_clip", "log_every", "checkpoint_every", "keep_last"):
            _check_positive(f"train.{name}", getattr(self, name))
        for name in ("warmup_steps", "valid_every", "loss_warm_steps", "context_start_step"):
            _check_non_negative(f"train.{name}", getattr(self, name))
        for name in ("am_scale", "lm_scale"):
            _check_non_negative(f"train.{name}", getattr(self, name))
        if self.max_steps is not None:
            _check_positive("train.max_steps", self.max_steps)
        if self.lr_decay not in LR_DECAYS:
            raise ConfigError(
                f"train.lr_decay must be one of {', '.join(LR_DECAYS)}, got {self.lr_decay!r}"
            )
        if self.lr_decay == "cosine" and self.max_steps is None:
            raise ConfigError("train.lr_decay: cosine decays to 0 at train.max_steps: set it")
        if not 0.0 <= self.vtlp < 0.5:
            raise ConfigError(f"train.vtlp must be in [0, 0.5), got {self.vtlp}")
        _check_positive("train.prune_range", self.prune_range)
        names = self.trainable
        if names is not None and (
            not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names)
        ):
            raise ConfigError(
                f"train.trainable must be a non-empty list of parameter names, got {names!r}"
            )
        if not 1 <= self.average_last <= self.keep_last:
            raise ConfigError(
                f"train.average_last must be in [1, keep_last={self.keep_last}], "
                f"got {self.average_last}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """A training run: ``data``, ``model`` (ModelConfig fields), ``context`` and ``train``.

    The ``model`` mapping is validated by ``ModelConfig.from_dict`` once the tokenizer has
    filled in ``vocab_size`` and ``blank_id``.
    """

    data: DataOptions
    model: Mapping[str, Any] = field(default_factory=dict)
    context: ContextSamplingOptions = field(default_factory=ContextSamplingOptions)
    train: TrainOptions = field(default_factory=TrainOptions)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainConfig:
        """Build and validate; an unknown section or key is a ConfigError naming the valid ones."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"a training config is a mapping of sections, got {type(d).__name__}")
        _check_keys("config", d, [f.name for f in dataclasses.fields(cls)])
        model = d.get("model") or {}
        if not isinstance(model, Mapping):
            raise ConfigError(f"config section 'model' must be a mapping, got {model!r}")
        return cls(
            data=_build_section(DataOptions, d.get("data"), "data"),
            model=copy.deepcopy(dict(model)),
            context=_build_section(ContextSamplingOptions, d.get("context"), "context"),
            train=_build_section(TrainOptions, d.get("train"), "train"),
        )

    def to_dict(self) -> Dict[str, Any]:
        """Plain-YAML form; ``TrainConfig.from_dict(c.to_dict()) == c``."""
        return {
            "data": dataclasses.asdict(self.data),
            "model": copy.deepcopy(dict(self.model)),
            "context": dataclasses.asdict(self.context),
            "train": dataclasses.asdict(self.train),
        }


def _check_positive(name: str, value: Union[int, float]) -> None:
    if not value > 0:
        raise ConfigError(f"{name} must be > 0, got {value}")


def _check_non_negative(name: str, value: Union[int, float]) -> None:
    if not value >= 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")


def _check_keys(where: str, d: Mapping[str, Any], valid: Sequence[str]) -> None:
    unknown = [k for k in d if k not in valid]
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {where}; valid keys: {', '.join(sorted(valid))}"
        )


def _build_section(cls: type, d: Optional[Mapping[str, Any]], name: str) -> Any:
    """``cls(**d)`` with each value type-checked against ``cls``'s annotations."""
    d = {} if d is None else d
    if not isinstance(d, Mapping):
        raise ConfigError(f"config section {name!r} must be a mapping, got {d!r}")
    hints = typing.get_type_hints(cls)
    _check_keys(f"section {name!r}", d, [f.name for f in dataclasses.fields(cls)])
    values = {k: _coerce(f"{name}.{k}", v, hints[k]) for k, v in d.items()}
    return cls(**values)


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """Check ``value`` against a simple annotation (bool, int, float, str, Optional[...])."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is Union and type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float, str)) and not isinstance(value, bool),
        str: isinstance(value, (str, int, float)) and not isinstance(value, bool),
    }.get(hint, True)
    if not ok:
        raise ConfigError(f"{name} must be {getattr(hint, '__name__', hint)}, got {value!r}")
    if hint is float and isinstance(value, str):
        try:  # YAML 1.1 reads 2e-3 as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{name} must be float, got {value!r}") from None
    if hint is float:
        return float(value)
    if hint is str:
        return str(value)
    return value


def apply_overrides(d: Dict[str, Any], overrides: Sequence[str]) -> Dict[str, Any]:
    """Apply ``key.sub=value`` overrides (values parsed as YAML scalars) to a config dict.

    >>> apply_overrides({"train": {"lr": 0.1}}, ["train.lr=0.002", "data.dir=/tmp/x"])
    {'train': {'lr': 0.002}, 'data': {'dir': '/tmp/x'}}
    """
    d = copy.deepcopy(d)
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise ConfigError(f"override {item!r} is not KEY.SUB=VALUE")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        node = d
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
            node = child
        node[parts[-1]] = value
    return d


def load_train_config(
    path: Union[PathLike, Sequence[PathLike]], overrides: Sequence[str] = ()
) -> TrainConfig:
    """Read a YAML config, or several merged in order (a later file's keys win, section by
    section), apply ``--set`` overrides, validate."""
    paths = _config_paths(path)
    raw: Dict[str, Any] = {}
    for p in paths:
        raw = _merged(raw, _read_config(p))
    where = ", ".join(str(p) for p in paths)
    try:
        return TrainConfig.from_dict(apply_overrides(raw, overrides))
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _config_paths(path: Union[PathLike, Sequence[PathLike]]) -> List[Path]:
    return [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]


def _read_config(path: Path) -> Dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read the config: {_one_line(e)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of sections")
    return raw


def _merged(base: Mapping[str, Any], top: Mapping[str, Any]) -> Dict[str, Any]:
    """``top`` over ``base``, mappings merged key by key.

    >>> _merged({"train": {"lr": 1, "seed": 2}}, {"train": {"lr": 3}, "data": {"dir": "d"}})
    {'train': {'lr': 3, 'seed': 2}, 'data': {'dir': 'd'}}
    """
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# ----------------------------------------------------------------------------- schedules


def lr_factor(
    step: int, warmup_steps: int, decay: str = "rsqrt", total: Optional[int] = None
) -> float:
    """Learning-rate multiplier: linear warm-up to 1 at ``warmup_steps``, then 1/sqrt decay,
    or with ``decay="cosine"`` a half cosine to 0 at ``total`` steps.

    >>> [round(lr_factor(s, 4), 2) for s in (0, 1, 3, 15)]
    [0.25, 0.5, 1.0, 0.5]
    >>> [round(lr_factor(s, 4, "cosine", 12), 2) for s in (0, 3, 7, 11)]
    [0.25, 1.0, 0.5, 0.0]
    """
    n = step + 1
    warm = min(1.0, n / warmup_steps) if warmup_steps > 0 else 1.0
    if decay == "cosine":
        assert total is not None, "a cosine decay needs the total steps"
        done = min(1.0, max(0.0, (n - warmup_steps) / max(1, total - warmup_steps)))
        return warm * 0.5 * (1 + math.cos(math.pi * done))
    if warmup_steps <= 0:
        return 1.0
    return min(warm, math.sqrt(warmup_steps / n))


# ----------------------------------------------------------------------------- checkpoints


def freeze_all_but(model: torch.nn.Module, names: Sequence[str]) -> None:
    """Freeze every parameter of ``model`` but those named by ``names`` (names or prefixes).

    A name that matches nothing is skipped with a warning (one config serves models with and
    without, say, a list pointer).

    Raises:
        ConfigError: no name matches any parameter (the message lists the modules).
    """

    def matches(param: str, name: str) -> bool:
        return param == name or param.startswith(name + ".")

    params = dict(model.named_parameters())
    modules = ", ".join(sorted({p.split(".")[0] for p in params}))
    found = [n for n in names if any(matches(p, n) for p in params)]
    if not found:
        raise ConfigError(
            f"train.trainable: no parameter is named {', '.join(names)} or starts with it; "
            f"the model's modules: {modules}"
        )
    for name in sorted(set(names) - set(found)):
        logger.warning("train.trainable: this model has no parameter %s (skipped)", name)
    for param, value in params.items():
        value.requires_grad_(any(matches(param, name) for name in found))
    kept = sum(v.numel() for v in params.values() if v.requires_grad)
    total = sum(v.numel() for v in params.values())
    logger.info("training %d of %d parameters (train.trainable)", kept, total)


def set_train_mode(model: torch.nn.Module, trainable: Optional[Sequence[str]]) -> None:
    """``model.train()``, but with ``trainable`` names, every module outside them (and not
    holding one) in eval mode: a frozen encoder gives the trained part the embeddings decoding
    will give it, without dropout, and skips dropout's cost."""
    model.train()
    if trainable is None:
        return
    for name, module in model.named_modules():
        inside = any(name == n or name.startswith(n + ".") for n in trainable)
        holds = not name or any(n.startswith(name + ".") for n in trainable)
        if not (inside or holds):
            module.training = False


def list_checkpoints(exp_dir: PathLike) -> List[Path]:
    """``exp_dir/checkpoints/step-*.pt`` sorted by step."""
    return [p for _, p in _checkpoints_by_step(exp_dir)]


def _checkpoints_by_step(exp_dir: PathLike) -> List[Tuple[int, Path]]:
    """(step, path) of ``exp_dir/checkpoints/step-*.pt``, sorted by step."""
    ckpt_dir = Path(exp_dir) / "checkpoints"
    if not ckpt_dir.is_dir():
        return []
    return sorted(
        (int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _CKPT_NAME.match(p.name))
    )


def load_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Read a training checkpoint; a missing, truncated or foreign file is a CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        # Our own file (optimizer, sampler and RNG states are more than tensors).
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a corrupt file
        raise CheckpointError(f"{path}: corrupt checkpoint ({_one_line(e)})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: not a catt training checkpoint")
    return ckpt


def _rng_state() -> Dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed() -> DistInfo:
    """Join the ``torchrun`` process group when WORLD_SIZE > 1; pick cuda:LOCAL_RANK or cpu."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    owns = False
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo", init_method="env://")
        owns = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank, world_size, local_rank, device, owns)


# ----------------------------------------------------------------------------- trainer


@dataclass
class StepStats:
    """What one training step did (losses are per token, summed over this process's batch)."""

    loss: float
    simple_loss: float
    pruned_loss: float
    ctc_loss: float
    char_loss: float
    grad_norm: float
    num_tokens: int
    skipped: bool


class Trainer:
    """Owns the model, optimizer, data and state of one run; :func:`train` drives it.

    Args:
        config: the validated config.
        exp_dir: the experiment directory.
        dist_info: rank, world size and device (see :func:`init_distributed`).
    """

    def __init__(self, config: TrainConfig, exp_dir: PathLike, dist_info: DistInfo) -> None:
        from lhotse import load_manifest_lazy

        from catt.model import ModelConfig, build_model
        from catt.text.tokenizer import Tokenizer

        self.config = config
        self.opts = config.train
        self.exp_dir = Path(exp_dir)
        self.dist = dist_info
        self.device = dist_info.device
        self.data_dir = Path(config.data.dir)
        self.tokenizer = Tokenizer.load(self.data_dir / "lang" / "bpe.model")
        self.model_dict = {
            **config.model,
            "vocab_size": self.tokenizer.vocab_size,
            "blank_id": self.tokenizer.blank_id,
        }
        char_head = self.model_dict.get("char_head")
        if isinstance(char_head, Mapping) and char_head.get("hidden"):
            # The character head's outputs: the tokenizer's characters and a blank.
            chars = len(self.tokenizer.characters) + 1
            self.model_dict["char_head"] = {**char_head, "num_chars": chars}
        self.model_config = ModelConfig.from_dict(self.model_dict)
        _seed_everything(self.opts.seed)
        self.model = build_model(self.model_config).to(self.device)
        self._broadcast_parameters()
        if self.opts.trainable is not None:
            freeze_all_but(self.model, self.opts.trainable)
        trained = [p for p in self.model.parameters() if p.requires_grad]
        # Only the character head trained: the transducer's losses, which nothing trained
        # reads, are not computed (training or validation).
        self.trains_transducer = any(
            p.requires_grad
            for n, p in self.model.named_parameters()
            if not n.startswith("char_head.")
        )
        self.optimizer = torch.optim.Adam(trained, lr=self.opts.lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer,
            lambda s: lr_factor(s, self.opts.warmup_steps, self.opts.lr_decay, self.opts.max_steps),
        )
        self.corpus = open_corpus(self.data_dir)
        train_path = self.corpus.require(
            "cuts", config.data.train_split, "run `catt compute-fbank` first"
        )
        self.train_cuts = load_manifest_lazy(train_path)
        self.train_loader, self.train_sampler = self._loader(self.train_cuts, training=True)
        dev_path = self.corpus.manifest("cuts", "dev")
        self.valid_loader = None
        if dev_path.is_file():
            self.valid_loader, _ = self._loader(load_manifest_lazy(dev_path), training=False)
        else:
            logger.warning("%s is missing: no validation loss", dev_path)
        self.step = 0
        self.epoch = 0
        self.skipped = 0
        self._recent_skips: Deque[bool] = collections.deque(maxlen=SKIP_WINDOW)
        self._saved_step = -1
        self._validated_step = -1
        self.train_seconds = 0.0  # wall time of every pass of this run (carried by checkpoints)
        self._pass_start = time.time()
        self._resume_sampler: Optional[Dict[str, Any]] = None
        self.writer: Any = None

    # -- setup

    def _loader(self, cuts: Any, *, training: bool) -> Tuple[Any, Any]:
        from catt.data.augment import training_transform
        from catt.data.dataset import CattDataset, make_dataloader

        groups = sorted({_group(c) for c in cuts} - {None})
        lists = self.corpus.context_lists(groups) if self.config.context.enabled else {}
        sampler = ContextSampler(
            {g: [p.text for p in phrases] for g, phrases in lists.items()},
            self.config.context,
            per_utterance=self.corpus.per_utterance,
        )
        transform = None
        if training:
            transform = training_transform(
                vtlp=self.opts.vtlp, spec_augment_on=self.opts.spec_augment
            )
        dataset = CattDataset(
            self.tokenizer,
            context_sampler=sampler,
            seed=self.opts.seed,
            feature_transform=transform,
            wrong_name_prob=self.config.context.wrong_name_prob if training else 0.0,
        )
        loader, cut_sampler = make_dataloader(
            cuts,
            dataset,
            max_duration=self.config.data.max_duration,
            num_buckets=self.config.data.num_buckets,
            shuffle=training,
            seed=self.opts.seed,
            world_size=self.dist.world_size,
            rank=self.dist.rank,
        )
        cut_sampler.filter(functools.partial(self._fits, known={}))
        return loader, cut_sampler

    def _fits(self, cut: Any, known: Dict[str, bool]) -> bool:
        """The transducer loss needs at least as many encoder frames as tokens. ``known``: the
        loader's answers so far by cut id, so that a cut is tokenized once a run, not once an
        epoch."""
        from catt.data.dataset import cut_tagged_text
        from catt.model import subsampled_lengths

        fits = known.get(cut.id)
        if fits is not None:
            return fits
        frames = int(subsampled_lengths(torch.tensor([cut.num_frames]))[0])
        num_tokens = len(self.tokenizer.encode(cut_tagged_text(cut)))
        fits = known[cut.id] = frames >= num_tokens
        if not fits and self.dist.is_main:
            logger.warning(
                "cut %s left out: %d tokens for %d encoder frames", cut.id, num_tokens, frames
            )
        return fits

    def _broadcast_parameters(self) -> None:
        if self.dist.world_size > 1:
            for tensor in list(self.model.parameters()) + list(self.model.buffers()):
                dist.broadcast(tensor.data, src=0)

    # -- one step

    def train_step(self, batch: Mapping[str, Any]) -> StepStats:
        """Forward, backward, all-reduce, clip, update; a non-finite loss or norm is skipped."""
        set_train_mode(self.model, self.opts.trainable)
        self.optimizer.zero_grad(set_to_none=True)
        simple_scale, pruned_scale = loss_scales(self.step, self.opts.loss_warm_steps)
        if self.model_config.loss == "full":  # (full_loss, 0): no warm-up between two losses
            simple_scale, pruned_scale = 1.0, 0.0
        with_context = self.step >= self.opts.context_start_step
        simple, pruned, ctc, chars = self._forward(batch, with_context)
        num_tokens = sum(len(t) for t in batch["tokens"])
        ctc_weight = self.model_config.ctc_weight
        char_weight = self.model_config.char_head.weight
        loss = (
            simple_scale * simple + pruned_scale * pruned + ctc_weight * ctc + char_weight * chars
        ) / max(num_tokens, 1)
        finite = self._all_finite(loss)
        grad_norm = math.nan
        if finite:
            loss.backward()
            self._all_reduce_grads()
            grad_norm = float(
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.opts.grad_clip)
            )
        skipped = not (finite and math.isfinite(grad_norm))
        if skipped:
            self.skipped += 1
            self.optimizer.zero_grad(set_to_none=True)
            logger.warning(
                "step %d: non-finite %s, batch skipped (%s)",
                self.step,
                "gradient norm" if finite else "loss",
                _cut_ids(batch, 3),
            )
        else:
            self.optimizer.step()
        with warnings.catch_warnings():  # a skipped first batch is not a misuse of the scheduler
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler")
            self.scheduler.step()
        self.step += 1
        n = max(num_tokens, 1)
        return StepStats(
            loss=float(loss.detach()),
            simple_loss=float(simple.detach()) / n,
            pruned_loss=float(pruned.detach()) / n,
            ctc_loss=float(ctc.detach()) / n,
            char_loss=float(chars.detach()) / n,
            grad_norm=grad_norm,
            num_tokens=num_tokens,
            skipped=skipped,
        )

    def _forward(self, batch: Mapping[str, Any], with_context: bool) -> Losses:
        context = batch["context"] if with_context else None
        return self.model(
            batch["features"].to(self.device),
            batch["feature_lens"].to(self.device),
            batch["tokens"],
            context.to(self.device) if context is not None else None,
            prune_range=self.opts.prune_range,
            am_scale=self.opts.am_scale,
            lm_scale=self.opts.lm_scale,
            pointer_lists=batch.get("pointer_lists") if with_context else None,
            history=batch.get("history") if with_context else None,
            chars=batch.get("chars") if self.model.char_head is not None else None,
            transducer=self.trains_transducer,
        )

    def _all_finite(self, loss: torch.Tensor) -> bool:
        bad = torch.tensor([0.0 if torch.isfinite(loss.detach()).all() else 1.0])
        if self.dist.world_size > 1:
            bad = bad.to(self.device)
            dist.all_reduce(bad)
        return float(bad) == 0.0

    def _all_reduce_grads(self) -> None:
        """Average gradients over the processes in one flat all-reduce (absent grads are 0)."""
        if self.dist.world_size == 1:
            return
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= self.dist.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p))
            offset += n

    # -- validation

    @torch.no_grad()
    def validate(self) -> Optional[Dict[str, float]]:
        """Per-token dev losses over all ranks: simple, pruned, ctc, chars (the character
        head's), and ``loss``, the transducer loss after warm-up (0.5 simple + pruned; the full
        loss with ``loss: full``)."""
        if self.valid_loader is None:
            return None
        self.model.eval()
        totals = torch.zeros(5, dtype=torch.float64)
        with_context = self.step >= self.opts.context_start_step
        for batch in self.valid_loader:
            losses = self._forward(batch, with_context)
            num_tokens = sum(len(t) for t in batch["tokens"])
            totals += torch.tensor([*map(float, losses), num_tokens], dtype=torch.float64)
        if self.dist.world_size > 1:
            totals = totals.to(self.device)
            dist.all_reduce(totals)
            totals = totals.cpu()
        set_train_mode(self.model, self.opts.trainable)
        n = max(float(totals[4]), 1.0)
        simple, pruned, ctc, chars = (float(t) / n for t in totals[:4])
        loss = simple if self.model_config.loss == "full" else 0.5 * simple + pruned
        return {
            "loss": loss,
            "simple_loss": simple,
            "pruned_loss": pruned,
            "ctc_loss": ctc,
            "char_loss": chars,
        }

    # -- checkpoints

    def state_dict(self, *, epoch_done: bool) -> Dict[str, Any]:
        """Everything a resumed run needs; RNG states are gathered from every rank."""
        rng = [_rng_state()]
        if self.dist.world_size > 1:
            rng = [None] * self.dist.world_size
            dist.all_gather_object(rng, _rng_state())
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "epoch": self.epoch + 1 if epoch_done else self.epoch,
            "skipped": self.skipped,
            "world_size": self.dist.world_size,
            "seed": self.opts.seed,
            "model_config": self.model_dict,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "sampler": None if epoch_done else self.train_sampler.state_dict(),
            "rng": rng,
            "train_seconds": self._elapsed(),
        }

    def _elapsed(self) -> float:
        """Wall seconds of training so far: earlier passes (resumed runs) and this one."""
        return self.train_seconds + time.time() - self._pass_start

    def save_checkpoint(self, *, epoch_done: bool = False) -> Optional[Path]:
        """Write ``checkpoints/step-XXXXXXXX.pt`` (rank 0) and keep the last ``keep_last``."""
        state = self.state_dict(epoch_done=epoch_done)  # collective: every rank calls it
        self._saved_step = self.step
        if not self.dist.is_main:
            return None
        path = self.exp_dir / "checkpoints" / f"step-{self.step:08d}.pt"
        atomic_torch_save(state, path)
        for old in list_checkpoints(self.exp_dir)[: -self.opts.keep_last]:
            old.unlink()
        logger.info("checkpoint %s", path)
        return path

    def load_state(self, ckpt: Mapping[str, Any], path: Path) -> None:
        """Restore a checkpoint written by :meth:`save_checkpoint` (RNG last)."""
        if ckpt.get("model_config") != self.model_dict:
            key = _first_difference(ckpt.get("model_config") or {}, self.model_dict)
            raise ConfigError(f"{path}: the config's model differs from the checkpoint's ({key})")
        if ckpt["seed"] != self.opts.seed:
            raise ConfigError(
                f"{path}: train.seed is {self.opts.seed}, the checkpoint's is {ckpt['seed']}"
            )
        if ckpt["world_size"] != self.dist.world_size:
            raise CheckpointError(
                f"{path}: written by {ckpt['world_size']} processes, resumed with "
                f"{self.dist.world_size}; resume with the same number"
            )
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.scheduler.load_state_dict(ckpt["scheduler"])
        except (RuntimeError, KeyError, ValueError) as e:
            raise CheckpointError(f"{path}: does not fit the model ({_one_line(e)})") from None
        self.step, self.epoch, self.skipped = ckpt["step"], ckpt["epoch"], ckpt["skipped"]
        self._resume_sampler = ckpt["sampler"]
        self._saved_step = self.step
        self.train_seconds = float(ckpt.get("train_seconds", 0.0))  # 0: an older checkpoint
        rng = ckpt["rng"]
        _set_rng_state(rng[self.dist.rank] if self.dist.rank < len(rng) else rng[0])
        logger.info("resumed from %s (step %d, epoch %d)", path, self.step, self.epoch)

    def init_weights(self, path: Path) -> None:
        """Start from the weights of a model file or checkpoint (the optimizer, schedule and
        step start afresh). Its parameters must fit this config's model (same names, shapes),
        but for parameters the file lacks that this run trains (``train.trainable``): those
        keep their fresh initialization, so a run may add a module to a trained model and
        train it alone."""
        from catt.model.checkpoint import load_weights

        state, own = load_weights(path), self.model.state_dict()
        trained = {n for n, p in self.model.named_parameters() if p.requires_grad}
        added = [k for k in own if k not in state and k in trained] if self.opts.trainable else []
        problems = _misfits(state, {k: v for k, v in own.items() if k not in added})
        if problems:
            raise CheckpointError(
                f"{path}: does not fit the model of this config ({problems}; another vocabulary "
                "or model section?)"
            )
        self.model.load_state_dict(state, strict=not added)
        logger.info("initialized from %s", path)
        if added:
            logger.info(
                "%d trained parameters are not in %s and start fresh (%s)",
                len(added),
                path,
                ", ".join(sorted({k.rsplit(".", 1)[0] for k in added})),
            )

    # -- the loop

    def _done(self) -> bool:
        max_steps = self.opts.max_steps
        return self.epoch >= self.opts.epochs or (max_steps is not None and self.step >= max_steps)

    def run(self) -> None:
        """Train until ``epochs`` or ``max_steps``; checkpoint; validate at the end."""
        from tqdm import tqdm

        set_train_mode(self.model, self.opts.trainable)
        self._pass_start = time.time()
        bar = tqdm(
            total=self.opts.max_steps,
            initial=self.step,
            unit="step",
            disable=not self.dist.is_main or None,
            dynamic_ncols=True,
        )
        try:
            while not self._done():
                self._run_epoch(bar)
        finally:
            bar.close()
        if self._saved_step != self.step:
            self.save_checkpoint(epoch_done=False)
        if self._validated_step != self.step:  # not twice when valid_every divides the steps
            self._log_valid()
        if self.dist.is_main:
            logger.info(
                "trained to step %d in %.0f s of wall time (this pass: %.0f s)",
                self.step,
                self._elapsed(),
                time.time() - self._pass_start,
            )

    def _run_epoch(self, bar: Any) -> None:
        self.train_sampler.set_epoch(self.epoch)
        self.train_loader.dataset.set_epoch(self.epoch)
        if self._resume_sampler is not None:
            self.train_sampler.load_state_dict(copy.deepcopy(self._resume_sampler))
            self._resume_sampler = None
        tic, start = time.time(), self.step
        for batch in self.train_loader:
            stats = self.train_step(batch)
            bar.update(1)
            self._after_step(stats, batch, tic)
            if self.opts.max_steps is not None and self.step >= self.opts.max_steps:
                return
        # An empty epoch is fine only right after resuming at the end of one.
        if self.step == start and self._saved_step != self.step:
            raise CattError(
                f"no training batch in epoch {self.epoch}: no cut of {self.data_dir} fits the "
                "model (too many tokens for its frames?)"
            )
        logger.info("epoch %d done at step %d", self.epoch, self.step)
        self.save_checkpoint(epoch_done=True)
        self.epoch += 1

    def _after_step(self, stats: StepStats, batch: Mapping[str, Any], tic: float) -> None:
        o = self.opts
        self._recent_skips.append(stats.skipped)
        bad = sum(self._recent_skips)
        if len(self._recent_skips) >= SKIP_WINDOW // 5 and 2 * bad > len(self._recent_skips):
            raise CattError(
                f"{bad} of the last {len(self._recent_skips)} batches were skipped (step "
                f"{self.step}): the loss or its gradient is not finite, so the run is diverging "
                f"or a layer gives NaN; the checkpoints in {self.exp_dir / 'checkpoints'} are kept"
            )
        if self.dist.is_main and (self.step % o.log_every == 0 or stats.skipped):
            lr = self.scheduler.get_last_lr()[0]
            logger.info(
                "epoch %d step %d: loss %.4f (simple %.4f, pruned %.4f, ctc %.4f, chars %.4f) "
                "lr %.2e grad-norm %.2f batch %d utts, %.1f s into the epoch",
                self.epoch,
                self.step,
                stats.loss,
                stats.simple_loss,
                stats.pruned_loss,
                stats.ctc_loss,
                stats.char_loss,
                lr,
                stats.grad_norm,
                len(batch["tokens"]),
                time.time() - tic,
            )
            self._scalars(
                "train",
                {
                    "loss": stats.loss,
                    "simple_loss": stats.simple_loss,
                    "pruned_loss": stats.pruned_loss,
                    "ctc_loss": stats.ctc_loss,
                    "char_loss": stats.char_loss,
                    "lr": lr,
                    "grad_norm": stats.grad_norm,
                    "skipped_batches": self.skipped,
                },
            )
        if o.valid_every and self.step % o.valid_every == 0:
            self._log_valid()
        if self.step % o.checkpoint_every == 0:
            self.save_checkpoint(epoch_done=False)

    def _log_valid(self) -> None:
        self._validated_step = self.step
        losses = self.validate()
        if losses is not None and self.dist.is_main:
            logger.info(
                "step %d: dev loss %.4f (simple %.4f, pruned %.4f, ctc %.4f, chars %.4f)",
                self.step,
                losses["loss"],
                losses["simple_loss"],
                losses["pruned_loss"],
                losses["ctc_loss"],
                losses["char_loss"],
            )
            self._scalars("valid", losses)

    def _scalars(self, prefix: str, values: Mapping[str, float]) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            if math.isfinite(value):
                self.writer.add_scalar(f"{prefix}/{name}", value, self.step)
        self.writer.flush()

    # -- the end

    def write_final_model(self) -> Path:
        """Average the last ``average_last`` checkpoints into ``exp_dir/model.pt`` (rank 0)."""
        path = self.exp_dir / "model.pt"
        if not self.dist.is_main:
            return path
        chosen = list_checkpoints(self.exp_dir)[-self.opts.average_last :]
        return _write_averaged_model(chosen, self.tokenizer, path)


def _write_averaged_model(checkpoints: Sequence[Path], tokenizer: Any, out: PathLike) -> Path:
    """The mean of the checkpoints' weights, written as the model file ``out`` (the model config
    is the last checkpoint's; a run's checkpoints all share it, ``--resume`` checks)."""
    from catt.model import ModelConfig, average_state_dicts, build_model, save_model

    if not checkpoints:
        raise CheckpointError("no checkpoints to average")
    for p in checkpoints:
        last = load_checkpoint(p)  # a one-line CheckpointError if one is broken
    model = build_model(ModelConfig.from_dict(last["model_config"]))
    model.load_state_dict(average_state_dicts(checkpoints))
    save_model(out, model.eval(), tokenizer)
    logger.info("averaged %s -> %s", ", ".join(p.name for p in checkpoints), out)
    return Path(out)


def export_model(
    exp_dir: PathLike, out: PathLike, *, step: Optional[int] = None, avg: int = 1
) -> Path:
    """A model file from a run's checkpoints: the mean of the ``avg`` checkpoints ending at
    ``step`` (default: the latest), to decode a run at any point of its training.

    The tokenizer is the one of the run's corpus (``data.dir`` of ``exp_dir/config.yaml``).

    Raises:
        CheckpointError: no checkpoint at ``step``, fewer than ``avg`` up to it, or a broken one.
    """
    from catt.text.tokenizer import Tokenizer

    exp_dir = Path(exp_dir)
    by_step = dict(_checkpoints_by_step(exp_dir))
    if not by_step:
        raise CheckpointError(f"{exp_dir}: no checkpoints in {exp_dir / 'checkpoints'}")
    steps = list(by_step)
    step = steps[-1] if step is None else step
    if step not in by_step:
        have = ", ".join(str(s) for s in steps)
        raise CheckpointError(f"{exp_dir}: no checkpoint at step {step} (steps on disk: {have})")
    end = steps.index(step) + 1
    if not 1 <= avg <= end:
        raise CheckpointError(
            f"--avg {avg}: {end} checkpoint(s) on disk up to step {step}, so 1 to {end}"
        )
    config = load_train_config(exp_dir / "config.yaml")
    tokenizer = Tokenizer.load(Path(config.data.dir) / "lang" / "bpe.model")
    chosen = [by_step[s] for s in steps[end - avg : end]]
    return _write_averaged_model(chosen, tokenizer, out)


def _group(cut: Any) -> Optional[str]:
    return context_group(cut.supervisions[0]) if cut.supervisions else None


def _cut_ids(batch: Mapping[str, Any], n: int) -> str:
    ids = [c.id for c in batch["cuts"]]
    return ", ".join(ids[:n]) + (", ..." if len(ids) > n else "")


def _first_difference(a: Mapping[str, Any], b: Mapping[str, Any], prefix: str = "model") -> str:
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, Mapping) and isinstance(y, Mapping):
            if x != y:
                return _first_difference(x, y, f"{prefix}.{key}")
        elif x != y:
            return f"{prefix}.{key}: {x!r} in the checkpoint, {y!r} now"
    return prefix


# ----------------------------------------------------------------------------- entry point


def _setup_logging(exp_dir: Path, is_main: bool) -> Tuple[Optional[logging.Handler], int]:
    """Rank 0 logs INFO to ``exp_dir/train.log`` too; other ranks only warnings.

    Returns the file handler (or None) and the ``catt`` logger's previous level.
    """
    catt_logger = logging.getLogger("catt")
    old_level = catt_logger.level
    if not is_main:
        catt_logger.setLevel(logging.WARNING)
        return None, old_level
    handler = logging.FileHandler(exp_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    catt_logger.addHandler(handler)
    if catt_logger.getEffectiveLevel() > logging.INFO:
        catt_logger.setLevel(logging.INFO)
    return handler, old_level


def _misfits(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading into a model whose state dict is ``own`` ("" if
    nothing), one clause per kind, naming the first of each.

    >>> t = torch.zeros
    >>> _misfits({"a": t(2), "c": t(1)}, {"a": t(3), "b": t(1)})
    '1 of another shape (a: [2] in the file, [3] in the model), 1 missing (b), 1 unknown (c)'
    """
    shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    missing = [k for k in own if k not in state]
    unknown = [k for k in state if k not in own]
    out = []
    if shapes:
        k = shapes[0]
        out.append(
            f"{len(shapes)} of another shape ({k}: {list(state[k].shape)} in the file, "
            f"{list(own[k].shape)} in the model)"
        )
    if missing:
        out.append(f"{len(missing)} missing ({missing[0]})")
    if unknown:
        out.append(f"{len(unknown)} unknown ({unknown[0]})")
    return ", ".join(out)


def _start(trainer: Trainer, resume: bool, init_from: Optional[Path] = None) -> None:
    """Load the latest checkpoint when resuming; a fresh start needs an empty checkpoint dir and
    takes its first weights from ``init_from`` when given."""
    existing = list_checkpoints(trainer.exp_dir)
    if resume and existing:
        trainer.load_state(load_checkpoint(existing[-1]), existing[-1])
        if init_from is not None:
            logger.info("resuming %s: --init-from %s is not used", existing[-1], init_from)
        return
    if existing:
        raise CheckpointError(
            f"{trainer.exp_dir / 'checkpoints'} already has checkpoints: pass --resume to "
            "continue, or use a new --exp-dir"
        )
    if resume:
        logger.info("no checkpoint in %s: starting from scratch", trainer.exp_dir)
    if init_from is not None:
        trainer.init_weights(init_from)


def train(
    config_path: Union[PathLike, Sequence[PathLike]],
    exp_dir: Path,
    *,
    resume: bool,
    overrides: List[str],
    init_from: Optional[Path] = None,
) -> Path:
    """Train from a YAML config into ``exp_dir``; return the final model file ``exp_dir/model.pt``.

    Args:
        config_path: the YAML config (see :class:`TrainConfig`), or several merged in order.
        exp_dir: the experiment directory (created).
        resume: continue from the latest checkpoint in ``exp_dir`` (a fresh start if none).
        overrides: ``key.sub=value`` items applied over the config.
        init_from: a model file or checkpoint whose weights a fresh run starts from (fine-tuning;
            not used when resuming from a checkpoint of ``exp_dir``).
    """
    config = load_train_config(config_path, overrides)
    exp_dir = Path(exp_dir)
    info = init_distributed()
    handler, old_level = None, logging.getLogger("catt").level
    trainer: Optional[Trainer] = None
    try:
        if info.is_main:
            exp_dir.mkdir(parents=True, exist_ok=True)
        _barrier(info)
        handler, old_level = _setup_logging(exp_dir, info.is_main)
        trainer = Trainer(config, exp_dir, info)
        _start(trainer, resume, init_from)
        if info.is_main:
            resolved = config.to_dict()
            resolved["model"] = trainer.model_dict
            atomic_write_text(exp_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
            from torch.utils.tensorboard import SummaryWriter

            trainer.writer = SummaryWriter(str(exp_dir / "tensorboard"))
        logger.info(
            "training %s on %d process(es), device %s, %d parameters",
            " + ".join(map(str, _config_paths(config_path))),
            info.world_size,
            info.device,
            sum(p.numel() for p in trainer.model.parameters()),
        )
        trainer.run()
        path = trainer.write_final_model()
        _barrier(info)
        return path
    finally:
        if trainer is not None and trainer.writer is not None:
            trainer.writer.close()
        if handler is not None:
            logging.getLogger("catt").removeHandler(handler)
            handler.close()
        logging.getLogger("catt").setLevel(old_level)
        if info.owns_group and dist.is_initialized():
            dist.destroy_process_group()
        sys.stderr.flush()


def _barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()
