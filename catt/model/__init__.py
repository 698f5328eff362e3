"""The CATT model: audio encoder, label encoder, context encoder, biasing layers, joiner.

>>> from catt.model import ModelConfig, build_model
>>> model = build_model(ModelConfig.preset("micro", vocab_size=32))
"""

from catt.model.biasing import BIASING_LAYERS, BiasingLayer, register_biasing_layer
from catt.model.checkpoint import average_state_dicts, load_model, save_model
from catt.model.config import PRESETS, ModelConfig, ModelConfigError
from catt.model.context import BiasingContext, ContextBatch, PhraseVectors
from catt.model.context_encoder import CONTEXT_ENCODERS, ContextEncoder, register_context_encoder
from catt.model.encoder import subsampled_lengths
from catt.model.transducer import Losses, Transducer, build_model

__all__ = [
    "ModelConfig",
    "ModelConfigError",
    "PRESETS",
    "Transducer",
    "Losses",
    "build_model",
    "save_model",
    "load_model",
    "average_state_dicts",
    "ContextBatch",
    "BiasingContext",
    "PhraseVectors",
    "BiasingLayer",
    "BIASING_LAYERS",
    "register_biasing_layer",
    "ContextEncoder",
    "CONTEXT_ENCODERS",
    "register_context_encoder",
    "subsampled_lengths",
]
