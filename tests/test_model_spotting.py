"""Phrase spotting with the CTC head (:mod:`catt.model.spotting`) and the pointer that weighs it
in (``biasing.pointer_spotting``): the scores against a direct search over every stretch of
frames, and the pointer choosing the phrase the audio holds."""

from __future__ import annotations

import itertools
import random
from typing import List, Sequence

import pytest
import torch

from catt.model import ModelConfig, build_model
from catt.model.config import ModelConfigError
from catt.model.pointer import ListPointer, PhraseChoices
from catt.model.spotting import SPOT_FLOOR, spot_scores

V = 7


def _best_path(cost: List[List[float]], phrase: Sequence[int], blank: int) -> float:
    """The best CTC path of ``phrase`` through all the frames of ``cost`` [T][V]: every
    frame-by-frame label sequence that collapses to ``phrase``, tried one by one."""
    best = -float("inf")
    for path in itertools.product(range(V), repeat=len(cost)):
        collapsed = [y for k, y in enumerate(path) if y != blank and (k == 0 or path[k - 1] != y)]
        if collapsed == list(phrase):
            best = max(best, sum(cost[t][y] for t, y in enumerate(path)))
    return best


def _direct(log_probs: torch.Tensor, phrase: Sequence[int], blank: int) -> float:
    """The spotting score by its definition: the best stretch of frames for the phrase, each
    frame costing its label's log-probability below the frame's best."""
    cost = (log_probs - log_probs.max(dim=-1, keepdim=True).values).tolist()
    frames = len(cost)
    return max(
        _best_path(cost[a:b], phrase, blank)
        for a in range(frames)
        for b in range(a + 1, frames + 1)
    )


def test_scores_are_the_best_stretch_of_frames_for_each_phrase():
    rng = random.Random(0)
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        frames = rng.randint(3, 5)
        log_probs = (torch.randn(1, frames, V, generator=g) * 3).log_softmax(dim=-1)
        phrases = [[rng.randrange(1, V) for _ in range(rng.randint(1, 3))] for _ in range(4)]
        phrases.append([3, 3])  # a repeated label needs a blank between
        got = spot_scores(log_probs, torch.tensor([frames]), [phrases], blank_id=0)[0]
        want = [max(_direct(log_probs[0], p, 0), SPOT_FLOOR) for p in phrases]
        assert got.tolist() == pytest.approx(want, abs=1e-4)


def test_frames_past_a_length_and_phrases_past_a_list_do_not_count():
    said = torch.log_softmax(8 * torch.eye(V)[[0, 2, 3, 0, 0, 0]], dim=-1)  # "2 3" at the start
    late = torch.log_softmax(8 * torch.eye(V)[[0, 0, 0, 0, 2, 3]], dim=-1)  # at the end
    log_probs = torch.stack([said, late, late])
    lists = [[[2, 3], [4]], [[2, 3]], [[2, 3], [2, 3, 4, 5, 6, 2, 3]]]
    got = spot_scores(log_probs, torch.tensor([6, 4, 6]), lists, blank_id=0)
    assert got[0, 0] == pytest.approx(0.0, abs=1e-3) and got[0, 1] < -7
    assert got[1, 0] < -7  # said only in frames past the utterance's length
    assert got[1, 1] == SPOT_FLOOR  # past the list's end
    assert got[2, 0] == pytest.approx(0.0, abs=1e-3)
    assert got[2, 1] == SPOT_FLOOR  # 7 labels do not fit in 6 frames


def test_a_token_bonus_adds_per_token_of_each_phrase_that_fits():
    log_probs = torch.log_softmax(8 * torch.eye(V)[[0, 2, 3, 0, 0, 0]], dim=-1)[None]
    lists = [[[2, 3], [4], [5, 6, 2, 3, 4, 5, 6]]]  # said, not said, too long for 6 frames
    plain = spot_scores(log_probs, torch.tensor([6]), lists, blank_id=0)[0]
    got = spot_scores(log_probs, torch.tensor([6]), lists, blank_id=0, token_bonus=2.5)[0]
    assert got[:2].tolist() == pytest.approx([plain[0] + 5.0, plain[1] + 2.5], abs=1e-4)
    assert got[2] == SPOT_FLOOR == plain[2]


def test_the_phrase_the_audio_holds_takes_the_pointer_mass():
    """The keys and the token scores cannot tell three phrases apart; the spotting score can."""
    torch.manual_seed(0)
    pointer = ListPointer(joiner_dim=8, vocab_size=16, blank_id=0, key_dim=6, spotting=True)
    with torch.no_grad():
        pointer.gate.bias.fill_(50.0)  # all non-blank mass to the pointer
        pointer.out.weight.zero_()
        pointer.out.bias.zero_()
    hidden, keys = torch.randn(1, 8), torch.zeros(1, 3, 6)
    logits = torch.zeros(1, 16)
    logits[0, 0] = -5.0  # little blank
    nxt = torch.tensor([[3, 12, 15]])
    for spots, best in (([-9.0, -9.0, 0.0], 15), ([-9.0, 0.0, -9.0], 12), ([0.0, -9, -9], 3)):
        out = pointer(hidden, logits, PhraseChoices(nxt, keys, torch.tensor([spots]))).exp()
        assert out[0, best] > 0.99 * (1 - out[0, 0])
    with pytest.raises(ValueError, match="spotting scores"):
        pointer(hidden, logits, PhraseChoices(nxt, keys))


def test_the_spotting_weights_learn_and_need_the_phrase_pointer_and_a_ctc_head():
    def model(**changes):
        torch.manual_seed(0)
        biasing = {"pointer": True, "pointer_phrases": True, "pointer_spotting": True}
        config = {"preset": "micro", "vocab_size": 24, "ctc_weight": 0.3, "biasing": biasing}
        for key, value in changes.items():
            (biasing if key.startswith(("pointer", "spot")) else config)[key] = value
        return build_model(ModelConfig.from_dict(config))

    m = model()
    features = torch.randn(2, 40, 80, generator=torch.Generator().manual_seed(0)) * 3 + 5
    tokens = [[3, 4, 5], [12, 13, 14]]
    lists = [[[3, 4], [12, 13, 14]], [[12, 13, 14], [7]]]
    sum(m(features, torch.tensor([40, 31]), tokens, pointer_lists=lists)).backward()
    assert m.joiner.pointer.spot_weight.grad.abs() > 0
    assert m.joiner.pointer.gate_spot_weight.grad.abs() > 0
    assert m.ctc_proj.weight.grad is not None  # the CTC loss's own gradient only
    with pytest.raises(ModelConfigError, match="pointer_spotting needs biasing.pointer_phrases"):
        model(pointer_phrases=False)
    with pytest.raises(ModelConfigError, match="ctc_weight > 0"):
        model(ctc_weight=0.0)
    with pytest.raises(ModelConfigError, match="true or false"):
        model(pointer_spotting="yes")
    h, h_lens = m.encode(features, torch.tensor([40, 31]))
    bonus = model(spot_token_bonus=2.0).phrase_spots(h, h_lens, lists)
    plain = m.phrase_spots(h, h_lens, lists)  # the same weights: both seeded alike
    torch.testing.assert_close(bonus, plain + torch.tensor([[4.0, 6.0], [6.0, 2.0]]))
    with pytest.raises(ModelConfigError, match="must be a number"):
        model(spot_token_bonus="4")
    with pytest.raises(ModelConfigError, match="spot_token_bonus needs biasing.pointer_spotting"):
        model(spot_token_bonus=4.0, pointer_spotting=False)
