"""The synthetic multilingual smart-home corpus (espeak-ng speech, Lhotse manifests)."""

from catt.data.smarthome.prepare import SIZES, SPLITS, CorpusPlan, plan_corpus, prepare_smarthome

__all__ = ["prepare_smarthome", "plan_corpus", "CorpusPlan", "SIZES", "SPLITS"]
