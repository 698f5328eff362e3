"""The list pointer: a distribution whatever the gate, the plain joiner without a list, the
allowed tokens read off the reference as search reads them off a hypothesis, the full and pruned
losses agreeing, and a search that copies the list when the gate is open; each for the pointer
that scores tokens, for the one that scores whole phrases (``pointer_phrases``) and for the one
that weighs the CTC head's spotting scores in too (``pointer_spotting``)."""

from __future__ import annotations

import random
from typing import List

import pytest
import torch

from catt.context.trie import ContextTrie
from catt.decode.search import encode_phrase_list, greedy_search, modified_beam_search
from catt.model import ContextBatch, ModelConfig, Transducer, build_model
from catt.model.config import ModelConfigError
from catt.model.pointer import (
    ListPointer,
    PhraseChoices,
    next_phrase_tokens,
    next_token_masks,
)

V = 24
PHRASES = [[3, 4], [12, 13, 14], [12, 15]]
KINDS = [{}, {"pointer_phrases": True}, {"pointer_phrases": True, "pointer_spotting": True}]
KIND_IDS = ["tokens", "phrases", "spotting"]


def _model(seed: int = 0, loss: str = "pruned", **biasing) -> Transducer:
    torch.manual_seed(seed)
    config = {
        "preset": "micro",
        "vocab_size": V,
        "loss": loss,
        "biasing": {"pointer": True, **biasing},
    }
    if biasing.get("pointer_spotting"):
        config["ctc_weight"] = 0.3  # spotting reads the CTC head
    return build_model(ModelConfig.from_dict(config))


def _batch():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 40, 80, generator=g) * 3 + 5
    feature_lens = torch.tensor([40, 33, 21])
    tokens = [[3, 4, 5, 6], [7, 12, 13, 14], [9, 10, 11]]
    context = ContextBatch.from_lists([PHRASES[:2], PHRASES[1:], []])
    return features, feature_lens, tokens, context


def test_mixture_is_a_distribution_and_keeps_blank():
    torch.manual_seed(0)
    pointer = ListPointer(joiner_dim=8, vocab_size=V, blank_id=0)
    with torch.no_grad():
        pointer.gate.bias.fill_(1.5)  # a gate well open
    hidden, logits = torch.randn(5, 8), torch.randn(5, V) * 3
    allowed = torch.rand(5, V) < 0.3
    allowed[:, 0] = False
    allowed[4] = False  # no allowed token: the plain joiner
    out = pointer(hidden, logits, allowed)
    plain = logits.log_softmax(-1)
    assert torch.allclose(out.logsumexp(-1), torch.zeros(5), atol=1e-5)
    assert torch.allclose(out[:, 0], plain[:, 0])
    assert torch.allclose(out[4], plain[4], atol=1e-6)
    gained = (out > plain + 1e-4)[:4]  # the pointer adds mass to allowed tokens only
    assert gained.any() and not (gained & ~allowed[:4]).any()


def test_allowed_tokens_follow_the_trie_along_the_reference():
    masks = next_token_masks([[12, 13, 14, 7], [5]], [PHRASES, []], V, torch.device("cpu"))
    assert masks.shape == (2, 5, V)
    trie = ContextTrie(PHRASES, boost=0.0)
    state = trie.root
    for u, token in enumerate([12, 13, 14, 7]):
        assert masks[0, u].nonzero().flatten().tolist() == trie.next_tokens(state)
        state = trie.step(state, token)[1]
    assert masks[0, 1].nonzero().flatten().tolist() == [3, 12, 13, 15]  # after 12: 13, 15, starts
    assert not masks[1].any()  # no list: nothing allowed, the plain joiner


def test_allowed_tokens_of_long_lists_are_those_of_the_whole_trie():
    """The masks build a trie over the phrases the reference can match only: same answer."""
    rng = random.Random(0)
    for _ in range(50):
        phrases = [[rng.randrange(8) for _ in range(rng.randint(1, 4))] for _ in range(20)]
        reference = [rng.randrange(8) for _ in range(rng.randint(0, 12))]
        masks = next_token_masks([reference], [phrases], 8, torch.device("cpu"))
        trie = ContextTrie(phrases, boost=0.0)
        state = trie.root
        for u in range(len(reference) + 1):
            assert masks[0, u].nonzero().flatten().tolist() == trie.next_tokens(state)
            if u < len(reference):
                state = trie.step(state, reference[u])[1]


def test_references_sharing_a_list_object_get_what_each_gets_alone():
    """Rescoring passes one list object for all of a slot's candidates, and the candidates
    share one trie: each gets what its own list would give it."""
    rng = random.Random(2)
    cpu = torch.device("cpu")
    for _ in range(30):
        phrases = [[rng.randrange(8) for _ in range(rng.randint(1, 4))] for _ in range(15)]
        references = [[rng.randrange(8) for _ in range(rng.randint(0, 10))] for _ in range(4)]
        copies = [[list(p) for p in phrases] for _ in references]
        shared = [phrases] * len(references)
        for table in (next_phrase_tokens, lambda r, ls, d: next_token_masks(r, ls, 8, d)):
            assert torch.equal(table(references, shared, cpu), table(references, copies, cpu))


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_no_list_leaves_the_plain_transducer(kind):
    model = _model(**kind).eval()
    features, feature_lens, tokens, _ = _batch()
    with torch.no_grad():
        with_pointer = model(features, feature_lens, tokens, None)
        model.joiner.pointer = None
        without = model(features, feature_lens, tokens, None)
    for a, b in zip(with_pointer, without):
        assert torch.allclose(a, b)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_full_and_pruned_losses_agree_with_the_pointer(kind):
    """With a prune range as long as the references the pruned loss is the full loss."""
    features, feature_lens, tokens, context = _batch()
    pruned_model = _model(**kind).eval()
    full_model = _model(loss="full", **kind).eval()
    full_model.load_state_dict(pruned_model.state_dict(), strict=False)  # no simple projections
    with torch.no_grad():
        for model in (pruned_model, full_model):
            model.joiner.pointer.gate.bias.fill_(0.5)
    pruned = pruned_model(features, feature_lens, tokens, context, prune_range=5).pruned
    full = full_model(features, feature_lens, tokens, context).simple
    assert torch.isfinite(full)
    assert torch.allclose(full, pruned, rtol=1e-4)
    # The pruned loss reads the pointer at two tokens of each cell (its output layer at the
    # tokens of the lists alone), the full loss reads its whole distribution: same gradients.
    pruned.backward()
    full.backward()
    for name, p in pruned_model.joiner.named_parameters():
        q = dict(full_model.joiner.named_parameters())[name]
        assert torch.allclose(p.grad, q.grad, rtol=1e-3, atol=1e-5), name


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_sequence_log_likelihood_is_the_full_loss_with_the_decoding_list(kind):
    """What list resolution rescores with: the full loss of each sequence, the list given as
    decoding gives it (one prepared list for the batch) instead of a training batch's lists."""
    features, feature_lens, tokens, _ = _batch()
    model = _model(loss="full", **kind).eval()
    with torch.no_grad():
        model.joiner.pointer.gate.bias.fill_(0.5)
        full = model(features, feature_lens, tokens, ContextBatch.from_lists([PHRASES] * 3))
        h, h_lens = model.encode(features, feature_lens)
        vectors = model.prepare_phrases(encode_phrase_list(model, PHRASES))
        ctx = model.make_context(vectors, None, 3)
        ours = model.sequence_log_likelihood(h, h_lens, tokens, ctx, [PHRASES] * 3)
        no_pointer = model.sequence_log_likelihood(h, h_lens, tokens, ctx)
    assert ours.shape == (3,) and bool((ours < 0).all())
    assert torch.allclose(-ours.sum(), full.simple, rtol=1e-4)
    assert not torch.allclose(ours, no_pointer)  # the pointer reads the list
    if model.joiner.pointer.spots:  # spotting scores the caller has are the ones it computes
        spots = model.phrase_spots(h, h_lens, [PHRASES] * 3)
        given = model.sequence_log_likelihood(h, h_lens, tokens, ctx, [PHRASES] * 3, spots=spots)
        assert torch.equal(given, ours)
        other = spots + torch.arange(float(spots.size(1)))  # not a shift of all alike
        shifted = model.sequence_log_likelihood(h, h_lens, tokens, ctx, [PHRASES] * 3, spots=other)
        assert not torch.allclose(shifted, ours)  # and they are read
    if model.joiner.pointer.scores_phrases:  # so are a prepared list's phrase keys
        keys = model.joiner.pointer.phrase_keys([PHRASES])  # [1, K, Dk], as PhraseList keeps
        given = model.sequence_log_likelihood(h, h_lens, tokens, ctx, [PHRASES] * 3, keys=keys)
        assert torch.allclose(given, ours, rtol=1e-6)
        other = model.sequence_log_likelihood(h, h_lens, tokens, ctx, [PHRASES] * 3, keys=-keys)
        assert not torch.allclose(other, ours)
    # a full-loss model has no simple joiner to prune with: every alignment, whatever asked
    pruned = model.sequence_log_likelihood(h, h_lens, tokens, ctx, [PHRASES] * 3, prune_range=2)
    assert torch.equal(pruned, ours)


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_pruned_sequence_log_likelihood_bounds_the_full_one(kind):
    model = _model(**kind).eval()
    features, feature_lens, tokens, _ = _batch()
    with torch.no_grad():
        h, h_lens = model.encode(features, feature_lens)
        ctx = model.make_context(model.prepare_phrases(encode_phrase_list(model, PHRASES)), None, 3)

        def score(prune_range):
            return model.sequence_log_likelihood(
                h, h_lens, tokens, ctx, [PHRASES] * 3, prune_range=prune_range
            )

        full, wide, narrow = score(None), score(5), score(2)
    assert torch.allclose(wide, full, rtol=1e-4)  # 5 labels cover every reference here (<= 4)
    assert bool((narrow < full - 1e-3).all())  # fewer alignments: less probability


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_a_history_changes_what_the_predictor_reads_not_the_targets(kind):
    model = _model(**kind).eval()
    features, feature_lens, tokens, context = _batch()
    with torch.no_grad():
        plain = model(features, feature_lens, tokens, context)
        same = model(features, feature_lens, tokens, context, history=tokens)
        wrong = [[3, 4, 5, 6], [7, 12, 15, 14], [9, 10, 11]]  # 12 13 14 read as 12 15 14
        other = model(features, feature_lens, tokens, context, history=wrong)
        full = model(features, feature_lens, wrong, context)
    assert all(torch.equal(a, b) for a, b in zip(plain, same))
    assert not torch.isclose(other.pruned, plain.pruned)
    assert torch.equal(other.ctc, plain.ctc)  # the CTC head scores the references
    assert not torch.isclose(other.pruned, full.pruned)  # the targets are still the references
    with pytest.raises(ValueError, match="as long as"):
        model(features, feature_lens, tokens, context, history=[[3], [7], [9]])


def test_pointer_learns_from_the_lists():
    model = _model()
    features, feature_lens, tokens, context = _batch()
    sum(model(features, feature_lens, tokens, context)).backward()
    assert model.joiner.pointer.gate.weight.grad.abs().sum() > 0
    assert model.joiner.pointer.out.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_an_open_gate_makes_the_search_spell_from_the_list(search: str, kind):
    model = _model(**kind).eval()
    with torch.no_grad():
        model.joiner.pointer.gate.bias.fill_(50.0)  # all non-blank mass to the pointer
    features, feature_lens, _, _ = _batch()
    emb = encode_phrase_list(model, PHRASES)
    trie = ContextTrie(PHRASES, boost=0.0)
    kwargs = dict(phrase_emb=emb, pointer=trie, max_symbols=2)
    if search == "greedy":
        out = greedy_search(model, features, feature_lens, **kwargs)
    else:
        out = modified_beam_search(model, features, feature_lens, beam=3, **kwargs)
    assert any(out)
    for tokens in out:
        state = trie.root
        for token in tokens:  # every token is one the list allowed at that point
            assert token in trie.next_tokens(state)
            state = trie.step(state, token)[1]


@pytest.mark.parametrize("kind", KINDS, ids=KIND_IDS)
def test_beam_one_is_greedy_with_the_pointer(kind):
    model = _model(seed=3, **kind).eval()
    with torch.no_grad():
        model.joiner.pointer.gate.bias.fill_(0.0)
    features, feature_lens, _, _ = _batch()
    emb = encode_phrase_list(model, PHRASES)
    trie = ContextTrie(PHRASES, boost=0.0)
    greedy: List[List[int]] = greedy_search(
        model, features, feature_lens, phrase_emb=emb, pointer=trie
    )
    beam = modified_beam_search(model, features, feature_lens, beam=1, phrase_emb=emb, pointer=trie)
    assert greedy == beam


def test_pointer_needs_a_layer_that_takes_phrases():
    with pytest.raises(ModelConfigError, match="biasing.pointer"):
        _model(layer="none")
    with pytest.raises(ModelConfigError, match="true or false"):
        _model(pointer="yes")
    with pytest.raises(ModelConfigError, match="pointer_phrases needs"):
        _model(pointer=False, pointer_phrases=True)
    with pytest.raises(ModelConfigError, match="pointer_key_dim"):
        _model(pointer_phrases=True, pointer_key_dim=0)


def test_phrase_next_tokens_follow_the_trie_along_the_reference():
    """Training reads each phrase's next token off the reference as search reads it off a
    hypothesis (a trie over the whole list); each is an allowed token."""
    rng = random.Random(1)
    for _ in range(50):
        phrases = [[rng.randrange(8) for _ in range(rng.randint(1, 4))] for _ in range(12)]
        reference = [rng.randrange(8) for _ in range(rng.randint(0, 12))]
        table = next_phrase_tokens([reference, [1]], [phrases, phrases[:2]], torch.device("cpu"))
        assert table.shape == (2, len(reference) + 1 if reference else 2, 12)
        trie = ContextTrie(phrases, boost=0.0)
        state = trie.root
        for u in range(len(reference) + 1):
            assert table[0, u].tolist() == trie.phrase_next(state)
            assert set(trie.phrase_next(state)) <= set(trie.next_tokens(state))
            if u < len(reference):
                state = trie.step(state, reference[u])[1]
        assert (table[0, len(reference) + 1 :] == -1).all()
        assert (table[1, :, 2:] == -1).all()  # past the second list's end


def _phrase_pointer() -> ListPointer:
    torch.manual_seed(0)
    return ListPointer(joiner_dim=8, vocab_size=V, blank_id=0, key_dim=6)


def test_phrase_scores_make_a_distribution_over_the_tokens_the_phrases_go_on_with():
    pointer = _phrase_pointer()
    with torch.no_grad():
        pointer.gate.bias.fill_(1.5)
    hidden, logits = torch.randn(5, 8), torch.randn(5, V) * 3
    keys = pointer.phrase_keys([PHRASES])  # [1, 3, 6]
    nxt = torch.tensor([[3, 12, 12], [4, 12, 12], [3, 13, 15], [-1, 14, 12], [-1, -1, -1]])
    out = pointer(hidden, logits, PhraseChoices(nxt, keys))
    plain = logits.log_softmax(-1)
    assert torch.allclose(out.logsumexp(-1), torch.zeros(5), atol=1e-5)
    assert torch.allclose(out[:, 0], plain[:, 0])
    assert torch.allclose(out[4], plain[4], atol=1e-6)  # no phrase: the plain joiner
    allowed = torch.zeros(5, V, dtype=torch.bool)
    for row, tokens in enumerate(nxt.tolist()):
        allowed[row, [t for t in tokens if t >= 0]] = True
    gained = out > plain + 1e-4
    assert gained[:4].any() and not (gained & ~allowed).any()


def test_the_best_matching_phrase_takes_the_pointer_mass():
    """Two phrases go on with 12; a key that matches the query makes its phrase win."""
    pointer = _phrase_pointer()
    hidden = torch.randn(1, 8)
    with torch.no_grad():
        pointer.gate.bias.fill_(50.0)  # all non-blank mass to the pointer
        pointer.out.weight.zero_()
        pointer.out.bias.zero_()
    query = pointer.query(hidden).detach()
    keys = torch.zeros(1, 3, 6)
    keys[0, 2] = 50 * query[0]  # phrase 2 matches the query
    logits = torch.zeros(1, V)
    logits[0, 0] = -5.0  # little blank
    for nxt, best in (([3, 12, 15], 15), ([3, 12, 12], 12)):
        out = pointer(hidden, logits, PhraseChoices(torch.tensor([nxt]), keys)).exp()
        assert out[0, best] > 0.99 * (1 - out[0, 0])


def test_phrase_keys_are_the_same_in_any_list_and_learn():
    model = _model(pointer_phrases=True)
    pointer = model.joiner.pointer
    keys = pointer.phrase_keys([PHRASES, PHRASES[1:], []])
    assert keys.shape == (3, 3, model.config.biasing.pointer_key_dim)
    assert torch.equal(keys[0, 1:], keys[1, :2])  # a phrase's key does not depend on its list
    assert not keys[1, 2].any() and not keys[2].any()  # zeros past a list's end
    features, feature_lens, tokens, context = _batch()
    sum(model(features, feature_lens, tokens, context)).backward()
    assert pointer.query.weight.grad.abs().sum() > 0
    assert pointer.keys.embedding.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no phrase keys"):
        _model().joiner.pointer.phrase_keys([PHRASES])


def test_phrase_keys_made_once_per_list_give_the_same_search():
    model = _model(seed=3, pointer_phrases=True).eval()
    with torch.no_grad():
        model.joiner.pointer.gate.bias.fill_(1.0)
        keys = model.joiner.pointer.phrase_keys([PHRASES])
    features, feature_lens, _, _ = _batch()
    emb = encode_phrase_list(model, PHRASES)
    trie = ContextTrie(PHRASES, boost=0.0)
    kwargs = dict(phrase_emb=emb, pointer=trie, max_symbols=2)
    for search in (greedy_search, modified_beam_search):
        inside = search(model, features, feature_lens, **kwargs)
        assert search(model, features, feature_lens, pointer_keys=keys, **kwargs) == inside
        other = torch.randn(keys.shape, generator=torch.Generator().manual_seed(0)) * 100
        assert search(model, features, feature_lens, pointer_keys=other, **kwargs) != inside


def test_int8_model_with_phrase_keys_searches_with_a_list():
    # dynamic int8 turns every nn.Linear's weight into a method: nothing may read .weight.device
    model = _model(seed=3, pointer_phrases=True).eval()
    model = torch.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    for module in model.modules():  # torch's fused encoder path needs float weights
        if isinstance(module, torch.nn.TransformerEncoderLayer):
            module.activation_relu_or_gelu = 0
    features, feature_lens, _, _ = _batch()
    emb = encode_phrase_list(model, PHRASES)
    trie = ContextTrie(PHRASES, boost=0.0)
    out = modified_beam_search(model, features, feature_lens, phrase_emb=emb, pointer=trie)
    assert len(out) == 3
