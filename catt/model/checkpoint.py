"""The self-contained model file and checkpoint averaging.

A model file is one ``torch.save`` of::

    {"format": "catt-model-v1", "config": ModelConfig.to_dict(), "state_dict": ...,
     "tokenizer": Tokenizer.to_bytes(), "decoding": {...}}

so loading needs nothing else. ``decoding`` (optional) holds the decoding settings tuned for
the model (``catt tune --save-to-model``), e.g. ``{"boost": 0.5, "resolve": True,
"resolve_transducer": 0.25}``: ``catt transcribe`` and ``catt.load()`` start from them.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Mapping, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from catt.errors import CattError, CheckpointError
from catt.io import atomic_torch_save
from catt.model.config import ModelConfig
from catt.model.transducer import Transducer, build_model

__all__ = [
    "MODEL_FORMAT",
    "save_model",
    "load_model",
    "read_model_file",
    "model_from_file",
    "store_decoding",
    "load_weights",
    "average_state_dicts",
]

MODEL_FORMAT = "catt-model-v1"

PathLike = Union[str, Path]

_TORCH_MAJOR = int(torch.__version__.split(".")[0])


def _unwrap(model: nn.Module) -> Transducer:
    """The Transducer inside a DistributedDataParallel/DataParallel wrapper (or itself)."""
    inner = getattr(model, "module", model)
    if not isinstance(inner, Transducer):
        raise TypeError(f"expected a Transducer, got {type(inner).__name__}")
    return inner


def save_model(path: PathLike, model: nn.Module, tokenizer: Any) -> Path:
    """Write the model file ``path`` atomically; returns ``path``."""
    inner = _unwrap(model)
    state = {k: v.detach().cpu() for k, v in inner.state_dict().items()}
    obj = {
        "format": MODEL_FORMAT,
        "config": inner.config.to_dict(),
        "state_dict": state,
        "tokenizer": tokenizer.to_bytes(),
    }
    atomic_torch_save(obj, path)
    return Path(path)


def _read(path: PathLike, what: str, weights_only: bool) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{what} {path} does not exist")
    # torch 1.x's weights-only unpickler rejects floats and bytes, so only 2.x uses it.
    kwargs = {"weights_only": weights_only and _TORCH_MAJOR >= 2}
    try:
        return torch.load(path, map_location="cpu", **kwargs)
    except Exception as e:  # noqa: BLE001 - pickle/zip/EOF errors of any kind mean "corrupt"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{what} {path} is truncated or corrupt: {reason}") from None


def read_model_file(path: PathLike) -> Dict[str, Any]:
    """The content of a model file written by :func:`save_model`, its format checked.

    Raises:
        CheckpointError: missing, truncated, corrupt or not a catt model file.
    """
    obj = _read(path, "model file", weights_only=True)
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{path} is not a catt model file (format {MODEL_FORMAT} expected)")
    decoding = obj.get("decoding", {})
    if not isinstance(decoding, dict) or not all(isinstance(k, str) for k in decoding):
        raise CheckpointError(f"model file {path} is broken: its decoding settings are not a dict")
    return obj


def model_from_file(
    obj: Mapping[str, Any], path: PathLike, device: Union[str, torch.device] = "cpu"
) -> Tuple[Transducer, Any]:
    """The model and tokenizer of a model file's content (:func:`read_model_file` of ``path``).

    Returns:
        (model in eval mode on ``device``, Tokenizer).

    Raises:
        CheckpointError: the content does not build a model.
    """
    from catt.text.tokenizer import Tokenizer

    try:
        config = ModelConfig.from_dict(obj["config"])
        model = build_model(config)
        model.load_state_dict(obj["state_dict"])
        tokenizer = Tokenizer.from_bytes(obj["tokenizer"])
    except (CattError, KeyError, TypeError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"model file {path} is broken: {reason}") from None
    if tokenizer.vocab_size != config.vocab_size:
        raise CheckpointError(
            f"model file {path}: tokenizer has {tokenizer.vocab_size} tokens, "
            f"model {config.vocab_size}"
        )
    return model.to(device).eval(), tokenizer


def load_model(path: PathLike, device: Union[str, torch.device] = "cpu") -> Tuple[Transducer, Any]:
    """Load a model file written by :func:`save_model`.

    Returns:
        (model in eval mode on ``device``, Tokenizer).

    Raises:
        CheckpointError: missing, truncated, corrupt or not a catt model file.
    """
    return model_from_file(read_model_file(path), path, device)


def store_decoding(path: PathLike, decoding: Mapping[str, Any]) -> None:
    """Write ``decoding`` (tuned decoding settings) into the model file ``path``, atomically.

    The settings replace any stored before; the weights are left as they are.
    """
    obj = read_model_file(path)
    obj["decoding"] = dict(decoding)
    atomic_torch_save(obj, path)


def _state_dict_of(obj: Any, path: PathLike) -> Dict[str, Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), dict):
                return obj[key]
        if obj and all(isinstance(v, Tensor) for v in obj.values()):
            return obj
    raise CheckpointError(f"{path} holds no model state_dict")


def load_weights(path: PathLike) -> Dict[str, Tensor]:
    """The model state dict of a model file or a training checkpoint.

    Raises:
        CheckpointError: missing, truncated or corrupt, or holding no model state dict.
    """
    return _state_dict_of(_read(path, "model file or checkpoint", weights_only=False), path)


def average_state_dicts(paths: Sequence[PathLike]) -> Dict[str, Tensor]:
    """The parameter-wise mean of the model state dicts in ``paths``.

    Each file is a model file, a checkpoint with a ``state_dict`` or ``model`` entry, or a bare
    state dict. Floating-point tensors are averaged (in float64, cast back); integer buffers
    are taken from the last file.
    """
    if not paths:
        raise CheckpointError("no checkpoints to average")
    total: Dict[str, Tensor] = OrderedDict()
    last: Dict[str, Tensor] = {}
    for i, path in enumerate(paths):
        state = _state_dict_of(_read(path, "checkpoint", weights_only=False), path)
        if i and set(state) != set(total):
            raise CheckpointError(f"{path} does not have the parameters of {paths[0]}")
        for k, v in state.items():
            if v.is_floating_point():
                total[k] = total[k] + v.double() if i else v.double().clone()
            else:
                total[k] = v
        last = state
    return OrderedDict(
        (k, (v / len(paths)).to(last[k].dtype) if last[k].is_floating_point() else v)
        for k, v in total.items()
    )
