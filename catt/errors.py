"""Errors a user can fix. The CLI prints their message on one line, without a traceback."""

from __future__ import annotations

__all__ = ["CattError", "ConfigError", "AudioError", "PhraseFileError", "CheckpointError"]


class CattError(Exception):
    """Base class: bad input or a missing prerequisite, explained in one line."""


class ConfigError(CattError):
    """A config file or option names something that does not exist."""


class AudioError(CattError):
    """An audio file is missing, empty or cannot be decoded."""


class PhraseFileError(CattError):
    """A phrase list file is missing, not UTF-8, or has a line the model cannot spell."""


class CheckpointError(CattError):
    """A checkpoint or model file is missing, truncated or not a catt file."""
