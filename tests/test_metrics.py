"""WER, B-WER/U-WER, intent and slot scores, SLU-F1: hand-computed expectations."""

import jiwer
import pytest

from catt.metrics.biasing import biased_word_errors, biasing_words
from catt.metrics.slu import (
    char_distance,
    intent_accuracy,
    slot_scores,
    slu_f1_scores,
    word_distance,
)
from catt.metrics.wer import ErrorCounts, align_words, word_error_rate, word_errors
from catt.text.tags import Slot

LIST = ["kaitlyn fitzgerald", "noodle lamp"]


# ---------------------------------------------------------------------------- WER


def test_wer_agrees_with_jiwer() -> None:
    refs = ["call kaitlyn fitzgerald now", "turn off the noodle lamp", "what time is it"]
    hyps = ["call caitlin fitzgerald now", "turn the noodle lamp noodle please", ""]
    expected = 100 * jiwer.wer(refs, hyps)
    assert word_error_rate(refs, hyps) == pytest.approx(expected)
    # 1 sub + (1 del + 2 ins) + 4 del over 4 + 5 + 4 words
    assert word_errors(refs, hyps) == ErrorCounts(13, 1, 5, 2)
    assert word_error_rate(refs, hyps) == pytest.approx(100 * 8 / 13)


def test_wer_is_corpus_level_not_mean_of_utterances() -> None:
    refs, hyps = ["a b c d", "x"], ["a b c d", "y"]
    assert word_error_rate(refs, hyps) == pytest.approx(100 * 1 / 5)  # not (0 + 100) / 2


def test_wer_edge_cases() -> None:
    assert word_error_rate([], []) is None
    assert word_error_rate([""], ["hello"]) is None  # no reference word: undefined
    assert word_errors([""], ["hello"]).insertions == 1
    with pytest.raises(ValueError, match="2 references but 1 hypotheses"):
        word_errors(["a", "b"], ["a"])


def test_alignment_expands_jiwer_chunks_word_by_word() -> None:
    (al,) = align_words(["turn off the noodle lamp"], ["turn the noodle lamp noodle please"])
    assert al.ops == (
        ("equal", "turn", "turn"),
        ("delete", "off", None),
        ("equal", "the", "the"),
        ("equal", "noodle", "noodle"),
        ("equal", "lamp", "lamp"),
        ("insert", None, "noodle"),
        ("insert", None, "please"),
    )


# ---------------------------------------------------------------------------- B-WER / U-WER


def test_biasing_words_are_the_words_of_the_phrases() -> None:
    assert biasing_words(LIST) == {"kaitlyn", "fitzgerald", "noodle", "lamp"}


def test_b_wer_u_wer_substitution_on_a_biasing_word() -> None:
    e = biased_word_errors(["call kaitlyn fitzgerald now"], ["call caitlin fitzgerald now"], [LIST])
    # B-words: kaitlyn fitzgerald (2), one substituted; U-words: call now (2), none wrong.
    assert (e.biased.ref_words, e.biased.errors) == (2, 1)
    assert (e.unbiased.ref_words, e.unbiased.errors) == (2, 0)
    assert (e.b_wer, e.u_wer, e.wer) == (50.0, 0.0, 25.0)


def test_b_wer_u_wer_insertions_of_biasing_and_other_words() -> None:
    refs = ["call kaitlyn fitzgerald now", "turn off the noodle lamp"]
    hyps = ["call caitlin fitzgerald now", "turn the noodle lamp noodle please"]
    e = biased_word_errors(refs, hyps, [LIST, LIST])
    # utt 1: sub "kaitlyn" -> B.
    # utt 2: del "off" -> U (reference word), ins "noodle" -> B (a list word),
    #        ins "please" -> U (not a list word).
    # B: 2 errors / 4 B-words (kaitlyn fitzgerald noodle lamp) = 50 %
    # U: 2 errors / 5 U-words (call now turn off the) = 40 %
    assert e.biased == ErrorCounts(ref_words=4, substitutions=1, deletions=0, insertions=1)
    assert e.unbiased == ErrorCounts(ref_words=5, substitutions=0, deletions=1, insertions=1)
    assert e.b_wer == pytest.approx(50.0)
    assert e.u_wer == pytest.approx(40.0)
    assert e.wer == pytest.approx(100 * 4 / 9)
    assert e.wer == pytest.approx(word_error_rate(refs, hyps))


def test_b_wer_uses_each_utterances_own_list() -> None:
    # "lamp" is a B-word only for the utterance whose list has it.
    e = biased_word_errors(["the lamp", "the lamp"], ["the lump", "the lump"], [LIST, ["ann"]])
    assert (e.biased.ref_words, e.biased.errors) == (1, 1)
    assert (e.unbiased.ref_words, e.unbiased.errors) == (3, 1)


def test_b_wer_is_undefined_without_b_words_but_counts_inserted_ones() -> None:
    e = biased_word_errors(["what time is it"], ["what time is it noodle"], [LIST])
    assert e.b_wer is None
    assert e.biased.insertions == 1
    assert e.u_wer == 0.0


# ---------------------------------------------------------------------------- intent and slots


def test_intent_accuracy_skips_utterances_without_a_reference_intent() -> None:
    assert intent_accuracy(["call", "turn_on", None], ["call", "turn_off", "x"]) == 50.0
    assert intent_accuracy([None], ["x"]) is None


CONTACT = Slot("contact", "kaitlyn fitzgerald")
DEVICE = Slot("device", "noodle lamp")


@pytest.mark.parametrize(
    "hyp, acc, precision, recall, f1",
    [
        ([CONTACT, DEVICE], 100.0, 100.0, 100.0, 100.0),
        # missing slot: tp 1, fp 0, fn 1
        ([CONTACT], 50.0, 100.0, 50.0, 100 * 2 / 3),
        # wrong type (noodle lamp as contact): tp 1, fp 1, fn 1
        ([CONTACT, Slot("contact", "noodle lamp")], 50.0, 50.0, 50.0, 50.0),
        # wrong value: tp 1, fp 1, fn 1
        ([Slot("contact", "caitlin fitzgerald"), DEVICE], 50.0, 50.0, 50.0, 50.0),
        # extra slot: tp 2, fp 1, fn 0
        ([CONTACT, DEVICE, Slot("device", "mister frosty")], 100.0, 100 * 2 / 3, 100.0, 80.0),
        # nothing: tp 0, fp 0, fn 2
        ([], 0.0, None, 0.0, 0.0),
    ],
    ids=["exact", "missing", "wrong-type", "wrong-value", "extra", "none"],
)
def test_slot_scores(hyp, acc, precision, recall, f1) -> None:
    s = slot_scores([[CONTACT, DEVICE]], [hyp])
    assert s.accuracy == pytest.approx(acc)
    assert s.precision == pytest.approx(precision)
    assert s.recall == pytest.approx(recall)
    assert s.f1 == pytest.approx(f1)


def test_slot_scores_per_type() -> None:
    s = slot_scores([[CONTACT, DEVICE]], [[CONTACT, Slot("contact", "noodle lamp")]])
    assert (s.by_type["contact"].tp, s.by_type["contact"].fp, s.by_type["contact"].fn) == (1, 1, 0)
    assert s.by_type["contact"].f1 == pytest.approx(100 * 2 / 3)
    assert (s.by_type["device"].tp, s.by_type["device"].fn) == (0, 1)
    assert s.by_type["device"].f1 == 0.0
    assert s.by_type["device"].precision is None


def test_a_hypothesis_slot_matches_at_most_one_reference_slot() -> None:
    lamp = Slot("device", "lamp")
    assert slot_scores([[lamp, lamp]], [[lamp]]).accuracy == 50.0
    twice = slot_scores([[lamp]], [[lamp, lamp]])
    assert (twice.accuracy, twice.precision) == (100.0, 50.0)


def test_slot_scores_are_corpus_level() -> None:
    s = slot_scores([[CONTACT], [DEVICE], []], [[CONTACT], [], [DEVICE]])
    assert (s.total.tp, s.total.fp, s.total.fn) == (1, 1, 1)
    assert slot_scores([[]], [[]]).f1 is None


# ---------------------------------------------------------------------------- SLU-F1


def test_value_distances() -> None:
    assert word_distance("kaitlyn fitzgerald", "caitlin fitzgerald") == 0.5
    assert char_distance("kaitlyn fitzgerald", "caitlin fitzgerald") == pytest.approx(2 / 18)
    # The word distance is a WER, as in SLURP's scorer: not capped at 1.
    assert word_distance("lamp", "the big lamp") == 2.0
    # The char distance is divided by the longer value: always in [0, 1].
    assert char_distance("lamp", "the big lamp") == pytest.approx(8 / 12)
    assert char_distance("", "") == 0.0 and word_distance("", "") == 0.0
    assert word_distance("", "lamp") == 1.0


def test_slu_f1_worked_by_hand() -> None:
    ref = [[CONTACT, DEVICE]]
    hyp = [[Slot("contact", "caitlin fitzgerald"), Slot("city", "paris")]]
    s = slu_f1_scores(ref, hyp)
    # contact pairs with contact: tp += 1, fp += d, fn += d;
    # city has no reference of its type: fp += 1; device is never predicted: fn += 1.
    # word: d = WER(kaitlyn fitzgerald -> caitlin fitzgerald) = 1/2
    #       tp 1, fp 1.5, fn 1.5 -> F1 = 2*1 / (2*1 + 1.5 + 1.5) = 2/5 = 40 %
    # char: d = levenshtein / 18 = 2/18 = 1/9 (k->c, y->i)
    #       tp 1, fp 10/9, fn 10/9 -> F1 = 2 / (2 + 20/9) = 18/38 = 47.37 %
    # SLU-F1 sums the two confusion counts:
    #       tp 2, fp = fn = 1.5 + 10/9 = 47/18 -> F1 = 4 / (4 + 47/9) = 36/83 = 43.37 %
    assert s.word_f1 == pytest.approx(40.0)
    assert s.char_f1 == pytest.approx(100 * 18 / 38)
    assert s.slu_f1 == pytest.approx(100 * 36 / 83)


def test_slu_f1_pairs_with_the_closest_reference_of_the_type() -> None:
    ref = [[Slot("contact", "anna"), CONTACT]]
    hyp = [[Slot("contact", "caitlin fitzgerald")]]
    s = slu_f1_scores(ref, hyp)
    # word: pairs with "kaitlyn fitzgerald" (d = 1/2, not 1 for "anna"); "anna" is a fn.
    # tp 1, fp 0.5, fn 1.5 -> F1 = 2 / (2 + 2) = 50 %
    assert s.word["contact"].tp == 1
    assert s.word["contact"].fp == pytest.approx(0.5)
    assert s.word["contact"].fn == pytest.approx(1.5)
    assert s.word_f1 == pytest.approx(50.0)


def test_slu_f1_equals_span_f1_when_values_are_exact() -> None:
    ref = [[CONTACT, DEVICE], [DEVICE]]
    hyp = [[CONTACT, Slot("city", "paris")], [DEVICE]]
    assert slu_f1_scores(ref, hyp).slu_f1 == pytest.approx(slot_scores(ref, hyp).f1)
