"""List resolution: slot spans rescored by the CTC head against the phrase list."""

import dataclasses
import math
from typing import Any, Dict, List, Optional

import pytest
import torch
from builders import TEXTS, FrameModel  # tests/ is on sys.path
from torch import Tensor

from catt.context.phrases import Phrase
from catt.decode.options import DecodingOptions, InvalidOptionError
from catt.decode.resolve import (
    RESCORE_PRUNE_RANGE,
    RESCORED,
    TOO_LONG,
    SlotTokens,
    char_head_scorer,
    ctc_scores,
    floor_log_probs,
    resolve_spans,
    slot_regions,
    summed,
)
from catt.decode.transcriber import Transcriber
from catt.model import ModelConfig, build_model
from catt.text.tokenizer import Tokenizer, train_tokenizer

V = 16
BLANK, OPEN, CLOSE, DUR_OPEN, DUR_CLOSE = 0, 1, 2, 3, 4  # ids 5.. are words
DEV_OPEN, DEV_CLOSE, INTENT, PIECE = 12, 13, 14, 15  # PIECE continues a word
TAGS = SlotTokens(
    pairs=((OPEN, CLOSE),),
    is_tag=[i in (OPEN, CLOSE, DUR_OPEN, DUR_CLOSE, DEV_OPEN, DEV_CLOSE, INTENT) for i in range(V)],
    starts_word=[i not in (BLANK, PIECE) for i in range(V)],
    chars=[{8: 5, 9: 3}.get(i, 2) if i not in (BLANK, OPEN, CLOSE) else 0 for i in range(V)],
)
TWO_TYPES = dataclasses.replace(TAGS, pairs=TAGS.pairs + ((DEV_OPEN, DEV_CLOSE),))


def frames(ids: List[int], vocab: int = V, sharpness: float = 6.0) -> Tensor:
    """[T, V] CTC log-probs that spell ``ids``, a blank frame after each token."""
    seq = [x for i in ids for x in (i, BLANK)]
    return torch.log_softmax(sharpness * torch.eye(vocab)[seq], dim=-1)


def test_span_replaced_by_the_phrase_the_frames_spell() -> None:
    logp = frames([5, OPEN, 8, 9, CLOSE, 6])
    hyp = [5, OPEN, 7, CLOSE, 6]  # the search heard 7 where the audio says 8 9
    out = resolve_spans(hyp, logp, [[10], [8, 9], [8]], TAGS, blank_id=BLANK, bonus=0.0)
    assert out == [5, OPEN, 8, 9, CLOSE, 6]


def test_a_list_slot_always_gets_a_list_phrase() -> None:
    # The frames spell the search's own value 7, which is not on the list: the slot still gets
    # the list phrase closest to it, since a contact holds a name from the user's list.
    logp = frames([5, OPEN, 7, CLOSE])
    hyp = [5, OPEN, 7, CLOSE]
    out = resolve_spans(hyp, logp, [[8, 9, 10], [8]], TAGS, blank_id=BLANK, bonus=0.0)
    assert out == [5, OPEN, 8, CLOSE]
    # ... unless no phrase fits in the frames
    assert resolve_spans(hyp, logp, [[8] * 9], TAGS, blank_id=BLANK, bonus=0.0) == hyp


def test_other_slots_untouched() -> None:
    logp = frames([DUR_OPEN, 8, DUR_CLOSE, 5])
    hyp = [DUR_OPEN, 7, DUR_CLOSE, 5]  # a duration slot is not a list slot
    assert resolve_spans(hyp, logp, [[8], [9]], TAGS, blank_id=BLANK, bonus=0.0) == hyp
    assert slot_regions(hyp, TAGS) == []


def test_a_slot_left_open_gets_its_end_from_the_frames() -> None:
    logp = frames([INTENT, 5, OPEN, 8, 9, CLOSE, 6])
    hyp = [INTENT, 5, OPEN, 7, 6]  # no closing tag: "6" may or may not be part of the name
    out = resolve_spans(hyp, logp, [[8, 9], [10]], TAGS, blank_id=BLANK, bonus=0.0)
    assert out == [INTENT, 5, OPEN, 8, 9, CLOSE, 6]
    ends = [b for _, b, _ in slot_regions(hyp, TAGS)[0]]
    assert ends == [3, 4, 5]  # after the tag, after 7, after 6


def test_a_lone_closing_tag_gets_its_start_from_the_frames() -> None:
    # "giveh </contact> a call": the name ran into the word before and lost its opening tag.
    logp = frames([INTENT, 5, OPEN, 8, 9, CLOSE, 6])
    hyp = [INTENT, 5, 7, PIECE, CLOSE, 6]
    out = resolve_spans(hyp, logp, [[8, 9], [10]], TAGS, blank_id=BLANK, bonus=0.0)
    assert out == [INTENT, 5, OPEN, 8, 9, CLOSE, 6]
    # starts at word boundaries only (not inside 7 PIECE), never before the intent tag
    assert [a for a, _, _ in slot_regions(hyp, TAGS)[0]] == [1, 2, 4]
    assert [a for a, _, _ in slot_regions(hyp, TAGS, max_words=1)[0]] == [2, 4]


def test_tags_that_disagree_let_the_frames_pick_the_type() -> None:
    logp = frames([5, DEV_OPEN, 8, DEV_CLOSE])
    hyp = [5, OPEN, 7, DEV_CLOSE]  # <contact> 7 </device>
    (region,) = slot_regions(hyp, TWO_TYPES)
    assert region == [(1, 4, TWO_TYPES.pairs)]
    out = resolve_spans(hyp, logp, [[8], [9]], TWO_TYPES, blank_id=BLANK, bonus=0.0)
    assert out == [5, DEV_OPEN, 8, DEV_CLOSE]
    # a whole slot keeps the type the search gave it
    assert slot_regions([OPEN, 7, CLOSE], TWO_TYPES) == [[(0, 3, ((OPEN, CLOSE),))]]


def test_a_typed_phrase_goes_in_with_its_own_tags() -> None:
    # The search wrote a contact slot where the audio says the device 8, and a device slot where
    # it says the device 10 11.
    logp = frames([DEV_OPEN, 8, DEV_CLOSE, 5, DEV_OPEN, 10, 11, DEV_CLOSE])
    hyp = [OPEN, 7, CLOSE, 5, DEV_OPEN, 7, DEV_CLOSE]
    phrases = [[8], [9], [10, 11]]
    untyped = resolve_spans(hyp, logp, phrases, TWO_TYPES, blank_id=BLANK, bonus=0.0)
    assert untyped == [OPEN, 8, CLOSE, 5, DEV_OPEN, 10, 11, DEV_CLOSE]  # a device, as a contact
    kinds = [DEV_OPEN, OPEN, DEV_OPEN]  # 8 and 10 11 are device names, 9 a contact
    typed = resolve_spans(hyp, logp, phrases, TWO_TYPES, blank_id=BLANK, bonus=0.0, openings=kinds)
    assert typed == [DEV_OPEN, 8, DEV_CLOSE, 5, DEV_OPEN, 10, 11, DEV_CLOSE]
    # the contact 9 never goes in device tags, and an untyped phrase takes the slot's own tags
    only_9 = resolve_spans(hyp, logp, [[9]], TWO_TYPES, blank_id=BLANK, bonus=0.0, openings=[OPEN])
    assert only_9 == [OPEN, 9, CLOSE, 5, OPEN, 9, CLOSE]
    untyped_9 = resolve_spans(
        hyp, logp, [[9]], TWO_TYPES, blank_id=BLANK, bonus=0.0, openings=[None]
    )
    assert untyped_9 == [OPEN, 9, CLOSE, 5, DEV_OPEN, 9, DEV_CLOSE]


def test_tags_that_disagree_take_the_type_of_the_phrase() -> None:
    logp = frames([5, OPEN, 8, DEV_CLOSE])
    hyp = [5, OPEN, 7, DEV_CLOSE]  # <contact> 7 </device>; 8 is a device name
    kinds = [DEV_OPEN, OPEN]
    out = resolve_spans(hyp, logp, [[8], [9]], TWO_TYPES, blank_id=BLANK, bonus=0.0, openings=kinds)
    assert out == [5, DEV_OPEN, 8, DEV_CLOSE]


def test_every_slot_resolved() -> None:
    logp = frames([OPEN, 8, CLOSE, 5, OPEN, 10, 11, CLOSE])
    hyp = [OPEN, 7, CLOSE, 5, OPEN, 7, CLOSE]
    out = resolve_spans(hyp, logp, [[8], [10, 11], [9]], TAGS, blank_id=BLANK, bonus=0.0)
    assert out == [OPEN, 8, CLOSE, 5, OPEN, 10, 11, CLOSE]


def test_no_list_changes_nothing() -> None:
    hyp = [OPEN, 7, CLOSE]
    assert resolve_spans(hyp, frames(hyp), [], TAGS, blank_id=BLANK, bonus=4.0) == hyp


def test_bonus_per_token_and_infeasible_sequences() -> None:
    logp = frames([5, 6])  # 4 frames
    plain = ctc_scores(logp, [[5, 6], [5]], blank_id=BLANK, bonus=0.0)
    more = ctc_scores(logp, [[5, 6], [5]], blank_id=BLANK, bonus=1.5)
    assert torch.allclose(more - plain, torch.tensor([3.0, 1.5]))
    too_long = ctc_scores(logp, [[5, 5, 5]], blank_id=BLANK, bonus=0.0)  # needs 5 frames
    assert math.isinf(float(too_long[0])) and float(too_long[0]) < 0


def test_scores_do_not_depend_on_the_chunk_size() -> None:
    torch.manual_seed(0)
    logp = torch.log_softmax(torch.randn(20, V), dim=-1)
    seqs = [[int(x) for x in torch.randint(1, V, (n,))] for n in (1, 3, 5, 2, 4, 6, 1)]
    one = ctc_scores(logp, seqs, blank_id=BLANK, bonus=2.0)
    chunked = ctc_scores(logp, seqs, blank_id=BLANK, bonus=2.0, chunk_size=3)
    assert torch.allclose(one, chunked)


def test_the_bonus_lets_a_longer_name_win() -> None:
    # The audio says 8 9 but 9 is heard faintly: without a bonus the one-token phrase wins.
    logp = frames([OPEN, 8, 9, CLOSE])
    logp[4] = torch.log_softmax(torch.tensor([2.0] + [0.0] * 8 + [1.0] + [0.0] * (V - 10)), dim=-1)
    hyp = [OPEN, 7, CLOSE]
    phrases = [[8], [8, 9]]
    assert resolve_spans(hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=0.0) == [OPEN, 8, CLOSE]
    out = resolve_spans(hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=3.0)
    assert out == [OPEN, 8, 9, CLOSE]


def test_the_bonus_per_character_does_not_favour_a_name_cut_in_many_pieces() -> None:
    # The head cannot tell 8 from 9 at the name's frame. Phrase [8] is one piece of 5
    # characters, [9, PIECE] two pieces of 3 + 2, whose second the frames do not say.
    logp = frames([OPEN, 8, CLOSE])
    logits = torch.zeros(V)
    logits[[8, 9]] = 6.0
    logp[2] = torch.log_softmax(logits, dim=-1)
    hyp, phrases = [OPEN, 7, CLOSE], [[8], [9, PIECE]]
    # Both bonuses give [8] the same credit, 10.5; per token alone [9, PIECE] gets twice that.
    per_token = resolve_spans(hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=10.5)
    assert per_token == [OPEN, 9, PIECE, CLOSE]
    out = resolve_spans(hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=3.0, char_bonus=1.5)
    assert out == [OPEN, 8, CLOSE]


def test_the_floor_bounds_a_tokens_cost_and_keeps_a_distribution() -> None:
    torch.manual_seed(0)
    logp = torch.log_softmax(20 * torch.randn(7, V), dim=-1)
    floored = floor_log_probs(logp, 0.01)
    assert torch.allclose(floored.exp().sum(-1), torch.ones(7))
    assert float(floored.min()) >= math.log(0.01 / V) - 1e-6
    assert float(logp.min()) < math.log(0.01 / V) - 10  # some token was far below the floor
    assert floor_log_probs(logp, 0.0) is logp


def test_the_floor_lets_a_name_spelt_another_way_win() -> None:
    # The audio says 8 9 10; the user's list spells the name 8 11 10, a token the head gives
    # almost nothing (a spelling it never learned), beside a wrong name 8 6 7 whose two tokens
    # the head finds merely unlikely.
    logp = frames([OPEN, 8, 9, 10, CLOSE], sharpness=12.0)
    logits = torch.zeros(V)
    logits[[9, 6, 11]] = torch.tensor([10.0, 2.0, -20.0])
    logp[4] = torch.log_softmax(logits, dim=-1)
    logits = torch.zeros(V)
    logits[[10, 7]] = torch.tensor([10.0, 2.0])
    logp[6] = torch.log_softmax(logits, dim=-1)
    hyp, phrases = [OPEN, 9, CLOSE], [[8, 11, 10], [8, 6, 7]]
    assert resolve_spans(hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=0.0) == [
        OPEN,
        8,
        6,
        7,
        CLOSE,
    ]
    floored = floor_log_probs(logp, 0.001)
    out = resolve_spans(hyp, floored, phrases, TAGS, blank_id=BLANK, bonus=0.0)
    assert out == [OPEN, 8, 11, 10, CLOSE]


def test_what_the_head_heard_lets_a_name_spelt_another_way_win() -> None:
    # The CTC head prefers the wrong name 6 7 over the said one 8 11, which the head spells
    # another way; counted in edits against what it heard, the said one is nearer.
    logp = frames([OPEN, 8, 9, CLOSE])
    for frame, tokens in ((2, [8, 6]), (4, [9, 7])):  # a frame the head hears two ways
        logp[frame] = torch.log_softmax(torch.zeros(V).index_fill(0, torch.tensor(tokens), 5.0), -1)
    hyp, phrases = [OPEN, 9, CLOSE], [[8, 11], [6, 7]]
    edits = {8: 0, 11: 1, 6: 2, 7: 1}  # each token's distance from what the head heard

    def heard(sequences: List[List[int]]) -> Tensor:
        return -3.0 * torch.tensor([float(sum(edits.get(t, 0) for t in s)) for s in sequences])

    def run(**kwargs: Any) -> List[int]:
        return resolve_spans(hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=0.0, **kwargs)

    assert run() == [OPEN, 6, 7, CLOSE]
    assert run(heard=heard) == [OPEN, 8, 11, CLOSE]


def test_the_transducer_rescores_the_best_ctc_candidates() -> None:
    logp = frames([OPEN, 8, CLOSE])  # the CTC head hears phrase [8]
    hyp = [OPEN, 7, CLOSE]
    phrases = [[8], [9]] + [[x] for x in range(5, 12) if x not in (8, 9)] + [[10, 11]] * 4
    seen: List[List[List[int]]] = []

    def rescore(sequences: List[List[int]]) -> Tensor:
        seen.append(sequences)
        return torch.tensor([0.0 if 9 in s else -50.0 for s in sequences])  # it prefers [9]

    def run(weight: float) -> List[int]:
        return resolve_spans(
            hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=0.0, rescore=rescore,
            transducer_weight=weight,
        )  # fmt: skip

    assert run(0.0) == [OPEN, 8, CLOSE] and not seen  # the CTC head alone: no rescoring
    assert run(1.0) == [OPEN, 9, CLOSE]  # the transducer alone, among the CTC head's best
    assert len(seen[0]) == RESCORED < len(phrases)
    assert [OPEN, 8, CLOSE] in seen[0]


def test_weights_sharing_a_memo_resolve_as_each_alone() -> None:
    # Two slots; the CTC head hears [8] then [10], the transducer prefers [9] and [11].
    logp = frames([OPEN, 8, CLOSE, 5, OPEN, 10, CLOSE])
    hyp = [OPEN, 7, CLOSE, 5, OPEN, 7, CLOSE]
    phrases = [[x] for x in range(5, 12)]
    calls: List[int] = []

    def rescore(sequences: List[List[int]]) -> Tensor:
        calls.append(len(sequences))
        return torch.tensor([-20.0 * ((s[1] != 9) + (s[-2] != 11)) for s in sequences])

    def run(weight: float, memo: Optional[Dict[Any, Tensor]]) -> List[int]:
        return resolve_spans(
            hyp, logp, phrases, TAGS, blank_id=BLANK, bonus=0.0, rescore=rescore,
            transducer_weight=weight, memo=memo,
        )  # fmt: skip

    weights = [0.0, 0.25, 0.5, 1.0]
    alone = [run(w, None) for w in weights]
    assert alone[0] == [OPEN, 8, CLOSE, 5, OPEN, 10, CLOSE]  # the weights disagree
    assert alone[-1] == [OPEN, 9, CLOSE, 5, OPEN, 11, CLOSE]
    rescored_alone = len(calls)
    memo: Dict[Any, Tensor] = {}
    assert [run(w, memo) for w in weights] == alone
    # the last slot's candidates are rescored once for the three weights above 0, the first
    # slot's once for each different resolution of the last
    shared = len(calls) - rescored_alone
    assert shared < rescored_alone
    assert shared == 1 + len({tuple(a[3:]) for a, w in zip(alone, weights) if w > 0})


@pytest.mark.parametrize("value", [-0.1, 1.5, math.nan, True])
def test_bad_resolve_transducer(value) -> None:
    with pytest.raises(InvalidOptionError, match="resolve_transducer"):
        DecodingOptions(resolve_transducer=value)


@pytest.mark.parametrize("value", [math.inf, "4", True])
def test_bad_resolve_bonus(value) -> None:
    with pytest.raises(InvalidOptionError, match="resolve_bonus"):
        DecodingOptions(resolve_bonus=value)


@pytest.mark.parametrize("value", [math.nan, "1.5", False])
def test_bad_resolve_char_bonus(value) -> None:
    with pytest.raises(InvalidOptionError, match="resolve_char_bonus"):
        DecodingOptions(resolve_char_bonus=value)


@pytest.mark.parametrize("value", [-1.0, math.inf, "2", True])
def test_bad_resolve_heard(value) -> None:
    with pytest.raises(InvalidOptionError, match="resolve_heard"):
        DecodingOptions(resolve_heard=value)


@pytest.mark.parametrize("value", [-0.1, 1.0, math.nan, "0.1", True])
def test_bad_resolve_floor(value) -> None:
    with pytest.raises(InvalidOptionError, match="resolve_floor"):
        DecodingOptions(resolve_floor=value)


class CtcFrameModel(FrameModel):
    """The stand-in with a CTC head that hears ``self.heard`` (token ids) whatever the search
    heard."""

    def __init__(self, vocab: int, heard: List[int]) -> None:
        super().__init__(vocab)
        self.ctc_proj = torch.nn.Identity()
        self.heard = heard

    def ctc_log_probs(self, h: Tensor) -> Tensor:
        logp = frames(self.heard, self.vocab)
        assert h.size(1) >= logp.size(0)
        pad = torch.full((h.size(1) - logp.size(0), self.vocab), -1e4)
        pad[:, BLANK] = 0.0
        return torch.cat([logp, pad]).unsqueeze(0).expand(h.size(0), -1, -1)


class CharFrameModel(CtcFrameModel):
    """The stand-in with a character head too, which hears the characters ``chars``."""

    def __init__(self, vocab: int, heard: List[int], chars: List[int]) -> None:
        super().__init__(vocab, heard)
        self.chars = chars
        self.char_head = torch.nn.Identity()  # not None: the model has the head

    def char_log_probs(self, h: Tensor, h_lens: Tensor) -> Tensor:
        logp = frames(self.chars, max(self.chars) + 1)
        assert h.size(1) >= logp.size(0)
        pad = torch.full((h.size(1) - logp.size(0), logp.size(1)), -1e4)
        pad[:, 0] = 0.0
        return torch.cat([logp, pad]).unsqueeze(0).expand(h.size(0), -1, -1)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    return train_tokenizer(TEXTS, tmp_path_factory.mktemp("lang") / "bpe.model", 30)


def spelled(tok: Tokenizer, tagged: str, frames_count: int) -> Tensor:
    """[T, 80] features that make the stand-in's search spell ``tagged``, one token a frame."""
    ids = tok.encode(tagged)
    feats = torch.zeros(frames_count, 80)
    feats[:, 0] = 5.0  # blank after the tokens
    for t, token in enumerate(ids):
        feats[t, 0] = -1e4
        feats[t, token] = 5.0
    return feats


def test_slot_tokens_of_a_real_tokenizer(tokenizer: Tokenizer) -> None:
    toks = SlotTokens.from_tokenizer(tokenizer)
    assert {tokenizer.decode([a]) for a, _ in toks.pairs} == {"<contact>", "<device>"}
    ids = tokenizer.encode("<intent:call_contact> call <contact> stephen fitzgerald </contact>")
    starts = [k for k, i in enumerate(ids) if toks.starts_word[i]]
    words = [tokenizer.decode(ids[a:b]) for a, b in zip(starts, starts[1:] + [len(ids)])]
    assert words == ["<intent:call_contact>", "call", "<contact>", "stephen", "fitzgerald"] + [
        "</contact>"
    ]
    # a half slot's boundary is looked for between words, never inside one
    half = tokenizer.encode("<intent:call_contact> call stephen fitzgerald </contact>")
    taken = [tokenizer.decode(half[a:-1]) for a, _, _ in slot_regions(half, toks)[0]]
    assert taken == ["call stephen fitzgerald", "stephen fitzgerald", "fitzgerald", ""]


def test_transcriber_resolves_with_the_list(tokenizer: Tokenizer) -> None:
    said = "<intent:call_contact> call <contact> steven lee </contact>"
    heard = "<intent:call_contact> call <contact> stephen </contact>"
    model = CtcFrameModel(tokenizer.vocab_size, tokenizer.encode(said))
    t = Transcriber(model, tokenizer)
    feats = [spelled(tokenizer, heard, 2 * len(tokenizer.encode(said)) + 2)]
    opts = DecodingOptions(beam=1, max_symbols=1)
    phrases = ["stephen fitzgerald", "steven lee", "noodle lamp"]
    assert t.decode_features(feats, phrases, opts)[0].slots[0].value == "stephen"
    # the CTC head alone: the stand-in has no transducer likelihood to rescore with
    resolved = DecodingOptions(beam=1, max_symbols=1, resolve=True, resolve_transducer=0.0)
    out = t.decode_features(feats, phrases, resolved)[0]
    assert out.slots[0].value == "steven lee" and out.text == "call steven lee"
    # no list: nothing to resolve against
    assert t.decode_features(feats, None, resolved)[0].slots[0].value == "stephen"
    # a device name the audio says turns the contact slot into a device slot
    typed = [Phrase("steven lee", slot="device"), Phrase("stephen fitzgerald", slot="contact")]
    out = t.decode_features(feats, typed, resolved)[0]
    assert (out.slots[0].type, out.slots[0].value) == ("device", "steven lee")


def test_transcriber_scores_edits_from_the_ctc_heads_best_path(tokenizer: Tokenizer) -> None:
    said = "<intent:call_contact> call <contact> steven lee </contact>"
    model = CtcFrameModel(tokenizer.vocab_size, tokenizer.encode(said))
    t = Transcriber(model, tokenizer)
    logp = model.ctc_log_probs(torch.zeros(1, 40, 8))[0]
    candidates = [
        said,
        "<intent:call_contact> call <contact> stephen lee </contact>",  # ph for v: 2 edits
        "<intent:call_contact> <contact> steven lee </contact>",  # 'call ' left out: 5
    ]
    heard = t._added(logp, None, DecodingOptions(resolve_heard=2.0))
    assert t._added(logp, None, DecodingOptions(resolve_heard=0.0)) is None
    assert heard is not None
    scores = heard([tokenizer.encode(c) for c in candidates])
    assert scores.tolist() == [0.0, -4.0, -10.0]


def test_the_character_head_scores_candidates_and_hears_for_the_edits(
    tokenizer: Tokenizer,
) -> None:
    # The BPE head hears "steven lee", the character head "stephen fitzgerald".
    bpe = "<intent:call_contact> call <contact> steven lee </contact>"
    said = "<intent:call_contact> call <contact> stephen fitzgerald </contact>"
    chars = tokenizer.encode_chars("call stephen fitzgerald")
    model = CharFrameModel(tokenizer.vocab_size, tokenizer.encode(bpe), chars)
    t = Transcriber(model, tokenizer)
    logp = model.ctc_log_probs(torch.zeros(1, 60, 8))[0]
    char_logp = model.char_log_probs(torch.zeros(1, 60, 8), torch.tensor([60]))[0]
    candidates = [tokenizer.encode(bpe), tokenizer.encode(said)]
    # the edits are counted from what the character head heard, not the BPE head
    edits = t._added(logp, char_logp, DecodingOptions(resolve_heard=1.0, resolve_char_head=0.0))
    assert edits is not None and edits(candidates).tolist() == [-11.0, 0.0]
    assert t._added(logp, None, DecodingOptions(resolve_heard=1.0))(candidates).tolist() == [
        0.0,
        -11.0,
    ]
    # and its score, at its weight and bonus per character, is added to them
    added = t._added(logp, char_logp, DecodingOptions(resolve_heard=1.0, resolve_char_head=0.5))
    alone = char_head_scorer(char_logp, t._words, tokenizer.encode_chars, weight=0.5, bonus=6.0)(
        candidates
    )
    assert torch.allclose(added(candidates), alone + torch.tensor([-11.0, 0.0]))
    assert alone[1] > alone[0]
    # A whole decode: the search writes "stephen"; the BPE head alone resolves it to the
    # name it heard, the character head's scores to the one it heard.
    search = "<intent:call_contact> call <contact> stephen </contact>"
    feats = [spelled(tokenizer, search, 60)]
    phrases = ["stephen fitzgerald", "steven lee", "noodle lamp"]
    opts = DecodingOptions(beam=1, max_symbols=1, resolve=True, resolve_transducer=0.0)
    bpe_alone = dataclasses.replace(opts, resolve_heard=0.0, resolve_char_head=0.0)
    assert t.decode_features(feats, phrases, bpe_alone)[0].slots[0].value == "steven lee"
    assert t.decode_features(feats, phrases, opts)[0].slots[0].value == "stephen fitzgerald"


def test_char_head_scores_and_their_sum() -> None:
    lp = torch.log_softmax(5 * torch.eye(3)[[1, 0, 2, 0]], dim=-1)  # the frames: a, -, b, -
    encode = {"ab": [1, 2], "ba": [2, 1], "aaaaa": [1] * 5}.__getitem__
    score = char_head_scorer(lp, "".join, encode, weight=2.0, bonus=0.0)
    ab, ba, long = score([["ab"], ["ba"], ["aaaaa"]]).tolist()
    assert ab > ba and -0.1 < ab <= 0.0
    assert long == 2.0 * TOO_LONG  # too many characters for 4 frames: low, not -inf
    bonus = char_head_scorer(lp, "".join, encode, weight=2.0, bonus=1.5)([["ab"]])
    assert bonus.item() == pytest.approx(ab + 2.0 * 1.5 * 2)
    plus = summed(score, lambda seqs: torch.ones(len(seqs)), None)
    assert plus is not None and plus([["ab"]]).item() == pytest.approx(ab + 1.0)
    assert summed(None, None) is None and summed(score) is score


@pytest.mark.parametrize(
    "name, value",
    [("resolve_char_head", -0.5), ("resolve_char_head", math.inf), ("resolve_char_head", True)]
    + [("resolve_char_head_bonus", math.nan), ("resolve_char_head_bonus", "6")],
)
def test_bad_char_head_options(name: str, value: Any) -> None:
    with pytest.raises(InvalidOptionError, match=name):
        DecodingOptions(**{name: value})


def test_transcriber_without_ctc_head_says_so(tokenizer: Tokenizer) -> None:
    t = Transcriber(FrameModel(tokenizer.vocab_size), tokenizer)
    tagged = "<intent:time> what time is it"
    feats = [spelled(tokenizer, tagged, len(tokenizer.encode(tagged)) + 2)]
    with pytest.raises(InvalidOptionError, match="CTC head"):
        t.decode_features(feats, ["noodle lamp"], DecodingOptions(beam=1, resolve=True))


SPOTTING = {"pointer": True, "pointer_phrases": True, "pointer_spotting": True}


@pytest.mark.parametrize("biasing", [{"pointer": True}, SPOTTING], ids=["tokens", "spotting"])
def test_transcriber_rescores_with_the_list_the_search_used(
    tokenizer: Tokenizer, biasing: Dict[str, bool]
) -> None:
    torch.manual_seed(0)
    config = {"preset": "micro", "vocab_size": tokenizer.vocab_size, "ctc_weight": 0.3}
    model = build_model(ModelConfig.from_dict({**config, "biasing": biasing}))
    t = Transcriber(model, tokenizer)
    feats = torch.randn(1, 200, 80) * 3 + 5
    h, h_lens = model.encode(feats, torch.tensor([200]))
    said = ["steven lee", "stephen fitzgerald"]
    seqs = [tokenizer.encode(f"<intent:call_contact> call <contact> {n} </contact>") for n in said]
    opts = DecodingOptions(resolve=True)
    ours = t.prepare_phrases(["steven lee", "noodle lamp"])
    other = t.prepare_phrases(["stephen fitzgerald"])
    with torch.no_grad():
        a = t._rescorer(h, ours, opts)(seqs)
        b = t._rescorer(h, other, opts)(seqs)
        plain = t._rescorer(h, ours, dataclasses.replace(opts, deep_biasing=False))(seqs)
        no_list = model.make_context(None, None, 2)
        expected = model.sequence_log_likelihood(
            h.expand(2, -1, -1), h_lens.expand(2), seqs, no_list, None, RESCORE_PRUNE_RANGE
        )
    assert a.shape == (2,) and bool(torch.isfinite(a).all())
    assert not torch.allclose(a, b)  # the biasing layers and the pointer read the list
    assert torch.allclose(plain, expected)  # without deep biasing, the list stays out
    # and the whole path runs in decoding
    out = t.decode_features([feats[0]], ["steven lee", "noodle lamp"], opts)
    assert len(out) == 1
