"""ContextTrie: Aho-Corasick boosting scores, take-backs and the pure step API."""

import itertools
import math
import random
from typing import List, Optional, Sequence

import pytest

from catt.context.trie import ContextTrie


def run(trie: ContextTrie, tokens: Sequence[int]):
    """Scores, states and matches of each step."""
    state, scores, matches = trie.root, [], []
    for token in tokens:
        score, state, matched = trie.step(state, token)
        scores.append(score)
        matches.append(matched)
    return scores, state, matches


def occurrences_bonus(phrases, weights, boost, tokens) -> float:
    """Reference: every occurrence of every phrase earns boost * weight * len."""
    total = 0.0
    for phrase, w in zip(phrases, weights):
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if list(tokens[i : i + n]) == list(phrase):
                total += boost * w * n
    return total


def test_pending_bonus_per_token_then_kept_on_completion() -> None:
    trie = ContextTrie([[1, 2, 3]], boost=2.0)
    scores, state, matches = run(trie, [1, 2, 3])
    assert scores == [2.0, 2.0, 2.0]
    assert matches == [None, None, 0]
    assert trie.finalize(state) == 0.0


def test_failed_partial_match_takes_its_bonus_back() -> None:
    trie = ContextTrie([[1, 2, 3]], boost=1.5)
    scores, state, _ = run(trie, [1, 2, 9])
    assert scores == [1.5, 1.5, -3.0]
    assert state == trie.root
    assert trie.finalize(state) == 0.0


def test_finalize_takes_back_an_unfinished_match() -> None:
    trie = ContextTrie([[1, 2, 3]], boost=1.0)
    scores, state, _ = run(trie, [7, 1, 2])
    assert sum(scores) == 2.0
    assert trie.finalize(state) == -2.0
    assert trie.score_sequence([7, 1, 2]) == 0.0


def test_failure_transition_keeps_the_suffix_that_is_a_prefix() -> None:
    # "1 2" fails as a prefix of [1 2 3], but "2" starts [2 4]: its bonus is kept.
    trie = ContextTrie([[1, 2, 3], [2, 4]], boost=1.0)
    scores, state, matches = run(trie, [1, 2, 4])
    assert scores[:2] == [1.0, 1.0]
    assert scores[2] == pytest.approx(0.0)  # lose "1", gain "4": 2 + 0 = 2 = bonus of [2 4]
    assert matches[2] == 1
    assert sum(scores) + trie.finalize(state) == pytest.approx(2.0)


def test_failure_into_a_partial_match_keeps_only_its_pending_bonus() -> None:
    trie = ContextTrie([[1, 2, 3], [2, 5, 6]], boost=1.0)
    scores, state, _ = run(trie, [1, 2, 5])
    # after 1 2 5: partial match [2 5] of phrase 1, pending 2
    assert sum(scores) == pytest.approx(2.0)
    assert trie.pending(state) == pytest.approx(2.0)
    assert trie.finalize(state) == pytest.approx(-2.0)


def test_overlapping_phrases_each_earn_their_bonus() -> None:
    # "the noodle lamp" (1 2 3) contains "noodle lamp" (2 3).
    trie = ContextTrie([[1, 2, 3, 4], [2, 3]], boost=1.0)
    _, state, matches = run(trie, [1, 2, 3, 9])
    assert matches[2] == 1  # found through the failure chain, inside the longer prefix
    assert trie.score_sequence([1, 2, 3, 9]) == pytest.approx(2.0)
    assert trie.score_sequence([1, 2, 3, 4]) == pytest.approx(6.0)


def test_completed_phrase_is_kept_when_a_longer_one_fails() -> None:
    trie = ContextTrie([[1, 2], [1, 2, 3, 4]], boost=1.0)
    scores, state, matches = run(trie, [1, 2, 3, 9])
    assert matches == [None, 0, None, None]
    assert scores == pytest.approx([1.0, 1.0, 1.0, -1.0])  # only the "3" is taken back
    assert trie.score_sequence([1, 2, 3, 9]) == pytest.approx(2.0)


def test_weights_scale_the_bonus() -> None:
    trie = ContextTrie([[1, 2], [5]], boost=1.0, weights=[3.0, 0.5])
    assert trie.score_sequence([1, 2]) == pytest.approx(6.0)
    assert trie.score_sequence([5]) == pytest.approx(0.5)


def test_transparent_tags_neither_reset_nor_score() -> None:
    tag_open, tag_close = 90, 91
    trie = ContextTrie([[1, 2]], boost=1.0, transparent_ids=[tag_open, tag_close])
    scores, state, matches = run(trie, [tag_open, 1, tag_close, 2])
    assert scores == [0.0, 1.0, 0.0, 1.0]
    assert matches[-1] == 0
    assert trie.step(state, tag_close) == (0.0, state, None)


def test_zero_boost_never_scores() -> None:
    trie = ContextTrie([[1, 2]], boost=0.0)
    assert run(trie, [1, 2, 1, 9])[0] == [0.0] * 4


def test_step_is_pure() -> None:
    trie = ContextTrie([[1, 2, 3]], boost=1.0)
    _, state, _ = trie.step(trie.root, 1)
    assert trie.step(state, 2) == trie.step(state, 2)
    assert trie.step(state, 9)[1] == trie.root
    assert trie.step(state, 2)[0] == 1.0  # unchanged by the failed step from the same state


def test_next_scores_agree_with_step() -> None:
    trie = ContextTrie([[1, 2, 3], [2, 4], [4, 4, 1]], boost=1.3, transparent_ids=[7])
    for state in range(trie.num_nodes):
        default, scores = trie.next_scores(state)
        for token in range(9):
            expected = trie.step(state, token)[0]
            assert scores.get(token, default) == pytest.approx(expected)


def test_a_match_back_to_back_with_a_phrase_earns_nothing_until_it_falls_to_the_root() -> None:
    tag = 90
    trie = ContextTrie([[1, 2], [3]], boost=1.0, transparent_ids=[tag], back_to_back=False)
    assert trie.score_sequence([1, 2, 1, 2]) == 2.0  # the name written again
    assert trie.score_sequence([1, 2, tag, 1, 2, 1]) == 2.0  # tags aside; the pending too
    assert trie.score_sequence([1, 2, 3]) == 2.0  # another phrase, back to back
    assert trie.score_sequence([1, 2, 9, 1, 2, 9, 3]) == 5.0  # a word between: each earns
    scores, state, matches = run(trie, [1, 2, 1, 2])
    assert scores == [1.0, 1.0, 0.0, 0.0] and matches == [None, 0, None, 0]
    assert trie.finalize(state) == 0.0 and trie.step(state, 9)[1] == trie.root
    # a partial match that fails into a restart takes its own pending bonus back
    trie = ContextTrie([[1, 2, 3], [2]], boost=1.0, back_to_back=False)
    assert run(trie, [1, 2, 2])[0] == [1.0, 2.0, -2.0]
    # the default: every occurrence earns
    assert ContextTrie([[1, 2]], boost=1.0).score_sequence([1, 2, 1, 2]) == 4.0


def test_next_scores_agree_with_step_back_to_back() -> None:
    trie = ContextTrie([[1, 2, 3], [2, 4], [4]], boost=1.3, transparent_ids=[7], back_to_back=False)
    states = {trie.root}
    for tokens in itertools.product(range(1, 5), repeat=3):
        states.add(run(trie, tokens)[1])
    assert any(s >= trie.num_nodes for s in states)  # some matches started back to back
    for state in states:
        default, scores = trie.next_scores(state)
        for token in range(9):
            assert scores.get(token, default) == pytest.approx(trie.step(state, token)[0])
        assert trie.next_tokens(state) == trie.next_tokens(state % trie.num_nodes)


@pytest.mark.parametrize("seed", range(5))
def test_total_is_the_sum_over_phrase_occurrences(seed: int) -> None:
    rng = random.Random(seed)
    phrases: List[List[int]] = [
        [rng.randrange(4) for _ in range(rng.randint(1, 4))] for _ in range(5)
    ]
    unique = {tuple(p): p for p in phrases}
    phrases = list(unique.values())
    weights = [rng.choice([0.5, 1.0, 2.0]) for _ in phrases]
    trie = ContextTrie(phrases, boost=0.7, weights=weights)
    for tokens in itertools.islice(itertools.product(range(4), repeat=6), 0, None, 37):
        expected = occurrences_bonus(phrases, weights, 0.7, tokens)
        assert trie.score_sequence(tokens) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"boost": -1.0}, "boost"),
        ({"boost": math.nan}, "boost"),
        ({"boost": 1.0, "weights": [1.0, 2.0]}, "2 weights for 1 phrases"),
        ({"boost": 1.0, "weights": [0.0]}, "weight"),
    ],
)
def test_bad_arguments(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ContextTrie([[1]], **kwargs)


def test_ten_thousand_phrases() -> None:
    rng = random.Random(0)
    phrases = [[rng.randrange(1, 200) for _ in range(rng.randint(2, 6))] for _ in range(10_000)]
    trie = ContextTrie(phrases, boost=1.0)
    assert trie.score_sequence(phrases[123]) >= 1.0 * len(phrases[123])
    matched: Optional[int] = run(trie, phrases[4567])[2][-1]
    assert matched is not None
