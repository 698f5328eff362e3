"""Greedy and modified beam search on small stand-in models with the Transducer interface."""

import math
from typing import List, Optional, Tuple

import pytest
import torch
from torch import Tensor, nn

from catt.context.trie import ContextTrie
from catt.decode.options import DecodingOptions, InvalidOptionError
from catt.decode.search import (
    _Allowed,
    _expand,
    _Hyp,
    _Labels,
    encode_phrase_list,
    greedy_search,
    modified_beam_search,
)


class TinyTransducer(nn.Module):
    """A random transducer with the decoding interface of ``catt.model.Transducer``.

    Its predictor reads the last ``context_size`` tokens (zero padded on the left), or all of
    them (a running mean) when ``context_size`` is None; the biasing adds the mean of the
    unmasked context vectors to the audio and label embeddings.
    """

    blank_id = 0

    def __init__(self, vocab: int = 12, dim: int = 16, feat: int = 6, context_size=2) -> None:
        super().__init__()
        self.predictor_context_size = context_size
        self.enc = nn.Linear(feat, dim)
        self.emb = nn.Embedding(vocab, dim)
        self.ctx = nn.Embedding(vocab, dim)
        self.nobias = nn.Parameter(torch.zeros(1, dim))
        self.out = nn.Linear(dim, vocab)
        self.phrase_calls = 0

    def encode(self, features: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        return torch.tanh(self.enc(features)), lens

    def encode_phrases(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        self.phrase_calls += 1
        return self.ctx(tokens).sum(1) / lengths[:, None]

    def make_context(self, phrase_emb: Optional[Tensor], mask: Optional[Tensor], batch_size: int):
        emb = self.nobias if phrase_emb is None else torch.cat([self.nobias, phrase_emb])
        full = torch.ones(batch_size, emb.size(0), dtype=torch.bool)
        if mask is not None:
            full[:, 1:] = mask
        return emb.expand(batch_size, -1, -1), full

    def _bias(self, x: Tensor, ctx) -> Tensor:
        emb, mask = ctx
        mean = (emb * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
        return x + 0.5 * mean[:, None, :]

    def bias_audio(self, h: Tensor, ctx) -> Tensor:
        return self._bias(h, ctx)

    def label_embeddings(self, y: Tensor, ctx) -> Tensor:
        e = self.emb(y)
        if self.predictor_context_size is None:
            steps = torch.arange(1, y.size(1) + 1, dtype=e.dtype)[None, :, None]
            g = e.cumsum(1) / steps
        else:
            k = self.predictor_context_size
            padded = nn.functional.pad(e, (0, 0, k - 1, 0))
            g = sum(padded[:, i : i + y.size(1)] for i in range(k))
        return self._bias(torch.tanh(g), ctx)

    def joiner(self, h: Tensor, g: Tensor) -> Tensor:
        return self.out(torch.tanh(h + g))


class FrameModel(nn.Module):
    """Logits given frame by frame: the features are the joiner output (history ignored)."""

    blank_id = 0
    predictor_context_size = 1

    def encode(self, features: Tensor, lens: Tensor) -> Tuple[Tensor, Tensor]:
        return features, lens

    def encode_phrases(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        return tokens.float()

    def make_context(self, phrase_emb, mask, batch_size):
        return None

    def bias_audio(self, h: Tensor, ctx) -> Tensor:
        return h

    def label_embeddings(self, y: Tensor, ctx) -> Tensor:
        return torch.zeros(y.size(0), y.size(1), 1)

    def joiner(self, h: Tensor, g: Tensor) -> Tensor:
        return h


def frames(rows: List[dict], vocab: int = 10) -> Tensor:
    """[1, T, vocab] logits: each row maps token -> logit, the rest get 0 (blank gets -inf)."""
    out = torch.zeros(1, len(rows), vocab)
    out[..., 0] = -1e4
    for t, row in enumerate(rows):
        for token, logit in row.items():
            out[0, t, token] = logit
    return out


def random_batch(seed: int, batch: int = 3, feat: int = 6):
    g = torch.Generator().manual_seed(seed)
    lens = torch.randint(4, 15, (batch,), generator=g)
    x = torch.randn(batch, int(lens.max()), feat, generator=g) * 2
    return x, lens


@pytest.mark.parametrize("context_size", [1, 2, None])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_equals_beam_of_one(context_size, seed: int) -> None:
    torch.manual_seed(seed)
    model = TinyTransducer(context_size=context_size).eval()
    x, lens = random_batch(seed)
    phrase_emb = encode_phrase_list(model, [[1, 2], [3, 4, 5]])
    for emb in (None, phrase_emb):
        greedy = greedy_search(model, x, lens, phrase_emb=emb)
        beam1 = modified_beam_search(model, x, lens, beam=1, phrase_emb=emb)
        assert greedy == beam1
        assert any(greedy), "the random model should emit something"


def test_deep_biasing_changes_the_search() -> None:
    torch.manual_seed(0)
    model = TinyTransducer().eval()
    x, lens = random_batch(3, batch=4)
    plain = greedy_search(model, x, lens)
    biased = greedy_search(model, x, lens, phrase_emb=encode_phrase_list(model, [[7, 7, 7]]) * 20)
    assert plain != biased


def test_mask_selects_each_utterance_list() -> None:
    torch.manual_seed(0)
    model = TinyTransducer().eval()
    x, lens = random_batch(4, batch=2)
    emb = encode_phrase_list(model, [[1, 2], [9, 9, 9]]) * 20
    mask = torch.tensor([[True, False], [False, True]])
    both = modified_beam_search(model, x, lens, beam=3, phrase_emb=emb, mask=mask)
    first = modified_beam_search(model, x[:1, : lens[0]], lens[:1], beam=3, phrase_emb=emb[:1])
    second = modified_beam_search(model, x[1:, : lens[1]], lens[1:], beam=3, phrase_emb=emb[1:])
    assert both == [first[0], second[0]]


@pytest.mark.parametrize("context_size", [2, None])
def test_beam_search_batched_equals_one_by_one(context_size) -> None:
    torch.manual_seed(1)
    model = TinyTransducer(context_size=context_size).eval()
    x, lens = random_batch(5, batch=3)
    trie = ContextTrie([[1, 2, 3], [4, 5]], boost=0.5)
    batched = modified_beam_search(model, x, lens, beam=4, trie=trie)
    single = [
        modified_beam_search(model, x[i : i + 1, : lens[i]], lens[i : i + 1], beam=4, trie=trie)[0]
        for i in range(3)
    ]
    assert batched == single


def test_predictor_reads_only_its_context() -> None:
    model = TinyTransducer(context_size=2).eval()
    labels = _Labels(model, None, None)
    history = [0, 3, 4, 5, 6]
    with torch.no_grad():
        full = model.label_embeddings(torch.tensor([history]), model.make_context(None, None, 1))
        assert torch.allclose(labels([history], [0])[0], full[0, -1], atol=1e-6)
        assert torch.allclose(labels([[0]], [0])[0], full[0, 0], atol=1e-6)
    assert labels.key(history) == (5, 6)
    assert _Labels(TinyTransducer(context_size=None), None, None).key(history) == tuple(history)


# Frame logits for "3 6 5" where 4 is a near miss at the second frame: phrase [3 4 5].
NEAR_MISS = [{3: 5.0}, {6: 2.0, 4: 1.8}, {5: 5.0}]


@pytest.mark.parametrize("beam", [1, 4])
def test_boost_recovers_a_near_miss_phrase(beam: int) -> None:
    model = FrameModel()
    x = frames(NEAR_MISS)
    lens = torch.tensor([3])
    assert modified_beam_search(model, x, lens, beam=beam) == [[3, 6, 5]]
    off = ContextTrie([[3, 4, 5]], boost=0.0)
    assert modified_beam_search(model, x, lens, beam=beam, trie=off) == [[3, 6, 5]]
    on = ContextTrie([[3, 4, 5]], boost=1.0)
    assert modified_beam_search(model, x, lens, beam=beam, trie=on) == [[3, 4, 5]]


def test_boost_does_not_override_a_clear_acoustic_win() -> None:
    model = FrameModel()
    x = frames([{3: 5.0}, {6: 12.0, 4: 0.0}, {5: 5.0}])
    trie = ContextTrie([[3, 4, 5]], boost=1.0)
    assert modified_beam_search(model, x, torch.tensor([3]), beam=4, trie=trie) == [[3, 6, 5]]


def test_unfinished_match_is_taken_back_at_the_end() -> None:
    # Acoustics: "3 4" then silence, or "8 8" slightly less likely. Boosting [3 4 5] must not
    # prefer the unfinished "3 4" more than the acoustics do: its pending bonus is taken back.
    model = FrameModel()
    x = frames([{3: 2.0, 8: 1.9}, {4: 2.0, 8: 1.9}])
    plain = modified_beam_search(model, x, torch.tensor([2]), beam=4)
    trie = ContextTrie([[3, 4, 5]], boost=1.0)
    assert modified_beam_search(model, x, torch.tensor([2]), beam=4, trie=trie) == plain == [[3, 4]]
    x = frames([{3: 1.9, 8: 2.0}, {4: 1.9, 8: 2.0}])
    assert modified_beam_search(model, x, torch.tensor([2]), beam=4, trie=trie) == [[8, 8]]


def test_a_name_written_again_right_after_itself_earns_no_bonus() -> None:
    # Acoustics: the phrase "3 4", then "6 6" slightly more likely than "3 4" again. A bonus for
    # the second "3 4" would write the name twice; without back_to_back, it earns nothing.
    model = FrameModel()
    x = frames([{3: 5.0}, {4: 5.0}, {3: 1.0, 6: 1.2}, {4: 1.0, 6: 1.2}])
    lens = torch.tensor([4])
    again = ContextTrie([[3, 4]], boost=1.0)
    assert modified_beam_search(model, x, lens, beam=4, trie=again) == [[3, 4, 3, 4]]
    once = ContextTrie([[3, 4]], boost=1.0, back_to_back=False)
    assert modified_beam_search(model, x, lens, beam=4, trie=once) == [[3, 4, 6, 6]]
    assert not DecodingOptions().boost_back_to_back  # decoding's default
    with pytest.raises(InvalidOptionError, match="boost_back_to_back"):
        DecodingOptions(boost_back_to_back=1)


def test_closed_slots_prefers_a_hypothesis_that_closes_its_slot() -> None:
    # 3 opens a slot, 4 closes it, 5 and 6 are words. Best: 3 5 6 (the slot never closes);
    # next: 3 5 4. With the pairs the search returns the closed one; with none closed, the best.
    model = FrameModel()
    x = frames([{3: 5.0}, {5: 5.0}, {6: 1.2, 4: 1.0}])
    lens = torch.tensor([3])
    assert modified_beam_search(model, x, lens, beam=4) == [[3, 5, 6]]
    assert modified_beam_search(model, x, lens, beam=4, slot_pairs={3: 4}) == [[3, 5, 4]]
    unclosed = frames([{3: 5.0}, {5: 5.0}, {6: 1.2, 8: 1.1}])  # no closing tag in the beam
    assert modified_beam_search(model, unclosed, lens, beam=2, slot_pairs={3: 4}) == [[3, 5, 6]]
    assert modified_beam_search(model, x, lens, beam=1, slot_pairs={3: 4}) == [[3, 5, 6]]
    with pytest.raises(InvalidOptionError, match="closed_slots"):
        DecodingOptions(closed_slots="yes")
    assert DecodingOptions().closed_slots  # the default


def test_equal_token_sequences_are_merged_with_logadd() -> None:
    parent_a = _Hyp((0, 3), math.log(0.5), 0)
    parent_b = _Hyp((0,), math.log(0.25), 0)
    scores = torch.full((2, 5), -1e9)
    scores[0, 0] = math.log(0.5)  # a + blank -> (0, 3)
    scores[1, 3] = math.log(0.25)  # b + 3 -> (0, 3)
    scores[1, 0] = math.log(0.1)  # b + blank -> (0,)
    out = _expand(
        [parent_a, parent_b],
        scores,
        beam=3,
        blank=0,
        trie=None,
        allowed=_Allowed(None, None, torch.device("cpu")),
    )
    by_history = {h.history: h.score for h in out}
    assert set(by_history) == {(0, 3), (0,)}
    assert by_history[(0, 3)] == pytest.approx(math.log(0.75))


def test_zero_length_utterance_gives_nothing() -> None:
    model = TinyTransducer().eval()
    x, _ = random_batch(0, batch=2)
    lens = torch.tensor([x.size(1), 0])
    assert modified_beam_search(model, x, lens, beam=2)[1] == []
    assert greedy_search(model, x, lens)[1] == []


class ChainModel(FrameModel):
    """The next token depends on the last one only: 3 after the start, then 4, 5, then blank."""

    def label_embeddings(self, y: Tensor, ctx) -> Tensor:
        return nn.functional.one_hot(y, 10).float()

    def joiner(self, h: Tensor, g: Tensor) -> Tensor:
        table = torch.full((10, 10), -1e4)
        table[0, 3] = table[3, 4] = table[4, 5] = table[5, 0] = 0.0
        return g @ table


@pytest.mark.parametrize(
    "max_symbols, expected", [(1, [3]), (2, [3, 4]), (3, [3, 4, 5]), (9, [3, 4, 5])]
)
def test_greedy_emits_up_to_max_symbols_on_one_frame(max_symbols: int, expected: List[int]) -> None:
    one_frame = torch.zeros(1, 1, 10)
    out = greedy_search(ChainModel(), one_frame, torch.tensor([1]), max_symbols=max_symbols)
    assert out == [expected]
    # a padded frame emits nothing
    two = greedy_search(ChainModel(), torch.zeros(2, 2, 10), torch.tensor([2, 1]))
    assert two == [[3, 4], [3]]
    with pytest.raises(ValueError, match="max_symbols"):
        greedy_search(ChainModel(), one_frame, torch.tensor([1]), max_symbols=0)


@pytest.mark.parametrize("beam", [1, 4])
def test_beam_search_emits_up_to_max_symbols_on_one_frame(beam: int) -> None:
    one_frame = torch.zeros(1, 1, 10)
    for max_symbols, expected in [(1, [3]), (2, [3, 4]), (3, [3, 4, 5]), (9, [3, 4, 5])]:
        out = modified_beam_search(
            ChainModel(), one_frame, torch.tensor([1]), beam=beam, max_symbols=max_symbols
        )
        assert out == [expected]
    with pytest.raises(ValueError, match="max_symbols"):
        modified_beam_search(ChainModel(), one_frame, torch.tensor([1]), max_symbols=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_equals_beam_of_one_with_several_symbols_a_frame(seed: int) -> None:
    torch.manual_seed(seed)
    model = TinyTransducer().eval()
    x, lens = random_batch(seed)
    greedy = greedy_search(model, x, lens, max_symbols=3)
    assert greedy == modified_beam_search(model, x, lens, beam=1, max_symbols=3)
