"""Shared fixtures: a micro smart-home corpus, synthesized and with features, once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

MICRO_LANGS = ("en", "es", "fr")
MICRO_SEED = 0


@pytest.fixture(scope="session")
def micro_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``micro`` corpus (en, es, fr; seed 0) with Fbank features; treat it as read-only.

    Layout as in docs/architecture.md ("The corpus directory"), without ``lang/bpe.model``.
    About 66 utterances; a few seconds to build.
    """
    from catt.data.features import compute_fbank
    from catt.data.smarthome import prepare_smarthome

    out = tmp_path_factory.mktemp("micro_corpus") / "data"
    prepare_smarthome(out, size="micro", langs=MICRO_LANGS, seed=MICRO_SEED, num_jobs=1)
    compute_fbank(out, num_jobs=1)
    return out
