"""Model dimensions and choices: one frozen, validated dataclass saved inside every model file.

>>> cfg = ModelConfig.preset("micro", vocab_size=64)
>>> ModelConfig.from_dict(cfg.to_dict()) == cfg
True
>>> ModelConfig.from_dict({"preset": "tiny", "biasing": {"layer": "none"}}).biasing.layer
'none'
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional

from catt.errors import ConfigError

__all__ = [
    "ModelConfigError",
    "EncoderConfig",
    "PredictorConfig",
    "ContextEncoderConfig",
    "BiasingConfig",
    "CharHeadConfig",
    "ModelConfig",
    "PRESETS",
]

PREDICTORS = ("stateless", "transformer")
BIAS_ON = ("audio", "label", "both")
LOSSES = ("pruned", "full")


class ModelConfigError(ConfigError, ValueError):
    """A model config value is out of range or names a choice that does not exist."""


def _choice(name: str, value: Any, choices: Iterable[str]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ModelConfigError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def _positive(name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ModelConfigError(f"{name} must be a positive integer, got {value!r}")


def _divides(name: str, dim: int, heads_name: str, heads: int) -> None:
    if dim % heads:
        raise ModelConfigError(f"{name}={dim} is not divisible by {heads_name}={heads}")


def _dropout(name: str, value: Any) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < 1:
        raise ModelConfigError(f"{name} must be a number in [0, 1), got {value!r}")


@dataclass(frozen=True)
class EncoderConfig:
    """Audio encoder: conv subsampling x4 then a pre-norm transformer; ``conv_kernel`` > 0 (odd)
    adds a conformer convolution module of that kernel after each layer (0: none)."""

    d_model: int = 144
    num_layers: int = 4
    num_heads: int = 4
    ff_dim: int = 576
    dropout: float = 0.1
    subsampling: int = 4
    conv_channels: int = 32
    conv_kernel: int = 0

    def validate(self) -> None:
        for name in ("d_model", "num_layers", "num_heads", "ff_dim", "conv_channels"):
            _positive(f"encoder.{name}", getattr(self, name))
        k = self.conv_kernel
        if not isinstance(k, int) or isinstance(k, bool) or k < 0 or (k and k % 2 == 0):
            raise ModelConfigError(
                f"encoder.conv_kernel must be 0 or an odd positive integer, got {k!r}"
            )
        _divides("encoder.d_model", self.d_model, "encoder.num_heads", self.num_heads)
        _dropout("encoder.dropout", self.dropout)
        if self.subsampling != 4:
            raise ModelConfigError(
                f"encoder.subsampling must be 4 (the only one built), got {self.subsampling!r}"
            )


@dataclass(frozen=True)
class PredictorConfig:
    """Label encoder: ``stateless`` (embedding + causal conv over ``context_size`` tokens,
    icefall style) or ``transformer`` (causal self-attention over the whole history)."""

    type: str = "stateless"
    context_size: int = 2
    num_layers: int = 1

    def validate(self) -> None:
        _choice("predictor.type", self.type, PREDICTORS)
        _positive("predictor.context_size", self.context_size)
        _positive("predictor.num_layers", self.num_layers)


@dataclass(frozen=True)
class ContextEncoderConfig:
    """Phrase encoder: tokens of one phrase -> one vector of ``context_dim``."""

    type: str = "bilstm"
    context_dim: int = 144
    num_layers: int = 1
    num_heads: int = 4

    def validate(self) -> None:
        from catt.model.context_encoder import CONTEXT_ENCODERS

        _choice("context_encoder.type", self.type, CONTEXT_ENCODERS)
        for name in ("context_dim", "num_layers", "num_heads"):
            _positive(f"context_encoder.{name}", getattr(self, name))
        if self.type in ("bilstm", "bilstm_tokens") and self.context_dim % 2:
            raise ModelConfigError(
                f"context_encoder.context_dim={self.context_dim} must be even for bilstm"
            )
        if self.type == "transformer":
            _divides(
                "context_encoder.context_dim",
                self.context_dim,
                "context_encoder.num_heads",
                self.num_heads,
            )


@dataclass(frozen=True)
class BiasingConfig:
    """Which biasing layer (registry name), on which embeddings, with how many heads; whether
    the joiner has the list pointer (:mod:`catt.model.pointer`), whether that pointer scores
    whole phrases with keys of ``pointer_key_dim`` (``pointer_phrases``), and whether the CTC
    head's spotting scores weigh in (``pointer_spotting``; it needs ``ctc_weight`` > 0), with
    ``spot_token_bonus`` added per phrase token (:func:`~catt.model.spotting.spot_scores`)."""

    layer: str = "attention"
    bias_on: str = "both"
    num_heads: int = 4
    pointer: bool = False
    pointer_phrases: bool = False
    pointer_key_dim: int = 64
    pointer_spotting: bool = False
    spot_token_bonus: float = 0.0

    def validate(self) -> None:
        from catt.model.biasing import BIASING_LAYERS

        _choice("biasing.layer", self.layer, BIASING_LAYERS)
        _choice("biasing.bias_on", self.bias_on, BIAS_ON)
        _positive("biasing.num_heads", self.num_heads)
        for name in ("pointer", "pointer_phrases", "pointer_spotting"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ModelConfigError(f"biasing.{name} must be true or false, got {value!r}")
        if self.pointer_phrases and not self.pointer:
            raise ModelConfigError("biasing.pointer_phrases needs biasing.pointer: true")
        if self.pointer_spotting and not self.pointer_phrases:
            raise ModelConfigError("biasing.pointer_spotting needs biasing.pointer_phrases: true")
        bonus = self.spot_token_bonus
        if isinstance(bonus, bool) or not isinstance(bonus, (int, float)) or not bonus == bonus:
            raise ModelConfigError(f"biasing.spot_token_bonus must be a number, got {bonus!r}")
        if bonus and not self.pointer_spotting:
            raise ModelConfigError("biasing.spot_token_bonus needs biasing.pointer_spotting: true")
        _positive("biasing.pointer_key_dim", self.pointer_key_dim)
        if self.pointer and not BIASING_LAYERS[self.layer].uses_context:
            raise ModelConfigError(
                f"biasing.pointer needs a biasing layer that takes phrases, not {self.layer!r}"
            )


@dataclass(frozen=True)
class CharHeadConfig:
    """The character head (:mod:`catt.model.char_head`): a BiLSTM of ``hidden`` units a
    direction over the audio embeddings and a CTC output over ``num_chars`` (the tokenizer's
    characters and a blank; training fills it in). ``hidden`` 0: no head. Its CTC loss joins
    training with ``weight``. List resolution reads it; the search does not."""

    hidden: int = 0
    num_chars: int = 0
    weight: float = 1.0

    def validate(self) -> None:
        for name in ("hidden", "num_chars"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ModelConfigError(f"char_head.{name} must be an integer >= 0, got {value!r}")
        if self.hidden and self.num_chars < 2:
            raise ModelConfigError(
                f"char_head.num_chars must be >= 2 (a blank and a character), got {self.num_chars}"
            )
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0:
            raise ModelConfigError(f"char_head.weight must be a number >= 0, got {w!r}")

    @property
    def enabled(self) -> bool:
        return self.hidden > 0


_SECTIONS = {
    "encoder": EncoderConfig,
    "predictor": PredictorConfig,
    "context_encoder": ContextEncoderConfig,
    "biasing": BiasingConfig,
    "char_head": CharHeadConfig,
}


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a :class:`~catt.model.transducer.Transducer`.

    ``vocab_size`` and ``blank_id`` must match the tokenizer; ``loss`` is ``pruned`` (k2 pruned
    RNN-T, the default) or ``full`` (k2 full RNN-T, memory B*T*U*V). ``ctc_weight`` > 0 adds a
    CTC head on the audio embeddings whose loss joins the transducer loss with that weight during
    training (it makes the encoder learn the tokens sooner; decoding does not use it).
    """

    feature_dim: int = 80
    vocab_size: int = 256
    blank_id: int = 0
    joiner_dim: int = 256
    loss: str = "pruned"
    ctc_weight: float = 0.0
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    context_encoder: ContextEncoderConfig = field(default_factory=ContextEncoderConfig)
    biasing: BiasingConfig = field(default_factory=BiasingConfig)
    char_head: CharHeadConfig = field(default_factory=CharHeadConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ModelConfigError` naming the first bad value."""
        for name in ("feature_dim", "vocab_size", "joiner_dim"):
            _positive(name, getattr(self, name))
        if not isinstance(self.blank_id, int) or not 0 <= self.blank_id < self.vocab_size:
            raise ModelConfigError(
                f"blank_id must be in [0, vocab_size={self.vocab_size}), got {self.blank_id!r}"
            )
        _choice("loss", self.loss, LOSSES)
        if not isinstance(self.ctc_weight, (int, float)) or not self.ctc_weight >= 0:
            raise ModelConfigError(f"ctc_weight must be a number >= 0, got {self.ctc_weight!r}")
        for name, cls in _SECTIONS.items():
            section = getattr(self, name)
            if not isinstance(section, cls):
                raise ModelConfigError(f"{name} must be a {cls.__name__}, got {section!r}")
            section.validate()
        if self.biasing.layer != "none":
            _divides(
                "encoder.d_model", self.encoder.d_model, "biasing.num_heads", self.biasing.num_heads
            )
        if self.biasing.pointer_spotting and not self.ctc_weight > 0:
            raise ModelConfigError(
                "biasing.pointer_spotting spots phrases with the CTC head: it needs ctc_weight > 0"
            )
        if self.predictor.type == "transformer":
            _divides(
                "encoder.d_model", self.encoder.d_model, "encoder.num_heads", self.encoder.num_heads
            )

    @property
    def d_model(self) -> int:
        """Dimension D of audio and label embeddings."""
        return self.encoder.d_model

    @property
    def uses_context(self) -> bool:
        """False when the biasing layer is ``none``: no context parameters, phrases ignored."""
        return self.biasing.layer != "none"

    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dict (YAML/JSON/checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelConfig:
        """Build and validate from a nested dict; ``preset: NAME`` starts from a preset.

        Unknown keys raise :class:`ModelConfigError` naming the valid keys.
        """
        if not isinstance(d, Mapping):
            raise ModelConfigError(f"model config must be a mapping, got {type(d).__name__}")
        d = dict(d)
        preset = d.pop("preset", None)
        base = PRESETS[_preset_name(preset)].to_dict() if preset is not None else cls().to_dict()
        merged = _merge(base, d, "")
        sections = {name: sc(**merged.pop(name)) for name, sc in _SECTIONS.items()}
        return cls(**merged, **sections)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A preset (``micro``, ``tiny``, ``base``) with top-level fields replaced.

        >>> ModelConfig.preset("base", vocab_size=500).encoder.num_layers
        6
        """
        return dataclasses.replace(PRESETS[_preset_name(name)], **overrides)


def _preset_name(name: Optional[str]) -> str:
    _choice("model preset", name, PRESETS)
    return str(name)


def _merge(base: Dict[str, Any], new: Mapping[str, Any], prefix: str) -> Dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in new.items():
        if key not in out:
            where = f"model config key {(prefix + str(key))!r}"
            raise ModelConfigError(f"unknown {where}; valid keys: {', '.join(out)}")
        if isinstance(out[key], dict):
            if not isinstance(value, Mapping):
                raise ModelConfigError(f"model config {prefix}{key} must be a mapping")
            out[key] = _merge(out[key], value, f"{prefix}{key}.")
        else:
            out[key] = value
    return out


PRESETS: Dict[str, ModelConfig] = {
    # A few thousand parameters (plus vocabulary-sized tables): CI end-to-end runs.
    "micro": ModelConfig(
        joiner_dim=16,
        encoder=EncoderConfig(
            d_model=16, num_layers=1, num_heads=2, ff_dim=32, dropout=0.0, conv_channels=4
        ),
        predictor=PredictorConfig(context_size=2),
        context_encoder=ContextEncoderConfig(context_dim=16, num_heads=2),
        biasing=BiasingConfig(num_heads=2),
    ),
    # The demo: trains usefully in minutes on 2 CPU cores.
    "tiny": ModelConfig(
        joiner_dim=256,
        encoder=EncoderConfig(
            d_model=144, num_layers=4, num_heads=4, ff_dim=576, dropout=0.1, conv_channels=32
        ),
        predictor=PredictorConfig(context_size=2),
        context_encoder=ContextEncoderConfig(context_dim=144, num_heads=4),
        biasing=BiasingConfig(num_heads=4),
    ),
    # The benchmark model (a few million parameters).
    "base": ModelConfig(
        joiner_dim=320,
        encoder=EncoderConfig(
            d_model=256, num_layers=6, num_heads=4, ff_dim=1024, dropout=0.1, conv_channels=64
        ),
        predictor=PredictorConfig(context_size=2),
        context_encoder=ContextEncoderConfig(context_dim=256, num_heads=4),
        biasing=BiasingConfig(num_heads=4),
    ),
}
