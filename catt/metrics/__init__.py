"""Evaluation: WER, B-WER/U-WER, intent and slot scores, SLU-F1, and the report writer."""

from catt.metrics.biasing import BiasingErrors, biased_word_errors, biasing_words
from catt.metrics.report import build_report, score_utterances, write_report
from catt.metrics.results import UtteranceResult, load_results, read_results
from catt.metrics.slu import (
    SlotCounts,
    SlotScores,
    SluF1Scores,
    char_distance,
    intent_accuracy,
    slot_scores,
    slu_f1_scores,
    word_distance,
)
from catt.metrics.wer import ErrorCounts, align_words, word_error_rate, word_errors

__all__ = [
    "BiasingErrors",
    "ErrorCounts",
    "SlotCounts",
    "SlotScores",
    "SluF1Scores",
    "UtteranceResult",
    "align_words",
    "biased_word_errors",
    "biasing_words",
    "build_report",
    "char_distance",
    "intent_accuracy",
    "load_results",
    "read_results",
    "score_utterances",
    "slot_scores",
    "slu_f1_scores",
    "word_distance",
    "word_error_rate",
    "word_errors",
    "write_report",
]
