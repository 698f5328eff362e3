"""catt: context-aware transformer transducers, from speech to words, intent and slots.

>>> import catt
>>> catt.parse_tagged("<intent:call_contact> call <contact> ann </contact>").slots
(Slot(type='contact', value='ann'),)

The model and decoding modules import torch and k2; they load on first use of :func:`load`.
Importing catt sets MKL's AVX2 code path on AMD processors (:mod:`catt.cpu`) and turns off
tqdm's monitor thread, which can hang a process at exit (:mod:`catt.progress`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Union

from catt.context.phrases import Phrase, load_phrases
from catt.cpu import prefer_avx2_on_amd
from catt.errors import CattError
from catt.progress import disable_tqdm_monitor
from catt.text.tags import Interpretation, Slot, build_tagged, parse_tagged, strip_tags

prefer_avx2_on_amd()  # before torch's first matrix product: MKL reads the variable then
disable_tqdm_monitor()  # before any progress bar starts it

if TYPE_CHECKING:
    from catt.decode.transcriber import Transcriber

__version__ = "0.1.0"

__all__ = [
    "load",
    "Phrase",
    "load_phrases",
    "CattError",
    "Interpretation",
    "Slot",
    "build_tagged",
    "parse_tagged",
    "strip_tags",
    "__version__",
]


def load(path: Union[str, Path], device: Union[None, str] = None) -> Transcriber:
    """Load a model file written by training; returns a :class:`Transcriber`.

    ``transcriber.transcribe("command.wav", phrases=["kaitlyn fitzgerald"])`` gives the words,
    intent and slots; the phrase list can change from call to call.
    """
    from catt.decode.transcriber import load as _load

    return _load(path, device=device)
