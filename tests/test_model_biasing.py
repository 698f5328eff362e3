"""Deep biasing with precomputed keys/values: the same math as nn.MultiheadAttention, the same
training losses and gradients, keys/values projected once per phrase list, and third-party
layers without ``precompute`` still work."""

from __future__ import annotations

from typing import Dict, Iterator, List

import pytest
import torch
from torch import Tensor

from catt.decode.search import _Labels, encode_phrase_list, greedy_search, modified_beam_search
from catt.model import BIASING_LAYERS, ContextBatch, ModelConfig, Transducer, build_model
from catt.model.biasing import AttentionBiasing, BiasingLayer, register_biasing_layer
from catt.model.context import BiasingContext

V = 24


def _model(seed: int = 0, **sections) -> Transducer:
    torch.manual_seed(seed)
    return build_model(ModelConfig.from_dict({"preset": "micro", "vocab_size": V, **sections}))


def _batch():
    g = torch.Generator().manual_seed(0)
    features = torch.randn(3, 40, 80, generator=g) * 3 + 5
    feature_lens = torch.tensor([40, 33, 21])
    tokens = [[3, 4, 5, 6], [7, 8], [9, 10, 11]]
    context = ContextBatch.from_lists([[[3, 4], [12, 13, 14]], [[12, 13, 14]], []])
    return features, feature_lens, tokens, context


def _reference(layer: AttentionBiasing, query: Tensor, context: Tensor, mask: Tensor) -> Tensor:
    """The layer computed with the nn.MultiheadAttention call (keys projected on every call)."""
    attended, _ = layer.attention(
        query, context, context, key_padding_mask=~mask, need_weights=False
    )
    return layer.proj(torch.cat([query, layer.norm(attended)], dim=-1))


def _mask(b: int, n: int, seed: int) -> Tensor:
    mask = torch.rand(b, n, generator=torch.Generator().manual_seed(seed)) < 0.5
    mask[:, 0] = True
    return mask


@pytest.mark.parametrize("context_dim", [16, 24])  # packed in_proj_weight, and kdim != D
def test_attention_matches_multihead_attention(context_dim: int):
    torch.manual_seed(0)
    layer = AttentionBiasing(d_model=16, context_dim=context_dim, num_heads=4, dropout=0.1).eval()
    with torch.no_grad():  # a non-trivial projection, so that the attended half matters
        layer.proj.weight.normal_(0, 0.3)
    query = torch.randn(3, 5, 16)
    per_utt = torch.randn(3, 7, context_dim)
    shared = torch.randn(1, 7, context_dim).expand(3, -1, -1)
    mask = _mask(3, 7, seed=1)
    for context in (per_utt, shared):
        want = _reference(layer, query, context, mask)
        assert torch.allclose(layer(query, context, mask), want, atol=1e-5)
        state = layer.precompute(context[:1] if context.stride(0) == 0 else context)
        got = layer(query, context, mask, precomputed=state)
        assert torch.allclose(got, want, atol=1e-5)
    masked_out = per_utt.clone()
    masked_out[~mask] += 100.0  # absent phrases do not matter
    assert torch.allclose(layer(query, masked_out, mask), layer(query, per_utt, mask), atol=1e-5)


def test_attention_dropout_draws_like_multihead_attention():
    torch.manual_seed(0)
    layer = AttentionBiasing(d_model=16, context_dim=24, num_heads=4, dropout=0.5).train()
    query, context, mask = torch.randn(3, 5, 16), torch.randn(3, 7, 24), _mask(3, 7, seed=2)
    torch.manual_seed(9)
    want = _reference(layer, query, context, mask)
    torch.manual_seed(9)
    got = layer(query, context, mask)
    assert torch.allclose(got, want, atol=1e-5)
    torch.manual_seed(9)
    assert not torch.allclose(layer.eval()(query, context, mask), want, atol=1e-3)


def test_state_dict_names_are_those_of_multihead_attention():
    layer = AttentionBiasing(d_model=16, context_dim=24, num_heads=4, dropout=0.0)
    names = {k for k in layer.state_dict() if k.startswith("attention.")}
    assert names == {
        "attention.q_proj_weight",
        "attention.k_proj_weight",
        "attention.v_proj_weight",
        "attention.in_proj_bias",
        "attention.out_proj.weight",
        "attention.out_proj.bias",
    }


def _losses_and_grads(model: Transducer, reference: bool, monkeypatch) -> List[Tensor]:
    if reference:
        monkeypatch.setattr(
            AttentionBiasing,
            "forward",
            lambda self, q, c, m, precomputed=None: _reference(self, q, c, m),
        )
    features, feature_lens, tokens, context = _batch()
    model.zero_grad()
    torch.manual_seed(3)
    simple, pruned, *_ = model(features, feature_lens, tokens, context)
    (simple + pruned).backward()
    grads = [p.grad.clone() for p in model.context_encoder.parameters() if p.grad is not None]
    monkeypatch.undo()
    return [simple.detach(), pruned.detach()] + grads


def test_training_losses_and_context_gradients_are_unchanged(monkeypatch):
    """Train mode with dropout: the losses and the context encoder's gradients equal those of
    the nn.MultiheadAttention computation, on the same random draws."""
    model = _model(encoder={"dropout": 0.2}).train()
    with torch.no_grad():
        for layer in (model.audio_bias, model.label_bias):
            layer.proj.weight.normal_(0, 0.3)
    ours = _losses_and_grads(model, False, monkeypatch)
    ref = _losses_and_grads(model, True, monkeypatch)
    assert len(ours) == len(ref) > 2
    assert any(g.abs().sum() > 0 for g in ours[2:])
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_context_is_shared_and_selectable():
    model = _model().eval()
    emb = torch.randn(5, 16)
    mask = _mask(3, 5, seed=4)
    ctx = model.make_context(emb, mask, 3)
    assert ctx.shared and ctx.vectors.shape == (1, 6, 16)
    assert ctx.embeddings.shape == (3, 6, 16) and ctx.embeddings.stride(0) == 0
    with torch.no_grad():
        state = ctx.prepared(model.label_bias)
        assert ctx.prepared(model.label_bias) is state
        part = ctx.select(torch.tensor([2, 0]))
        assert part.mask.tolist() == [[True] + mask[2].tolist(), [True] + mask[0].tolist()]
        assert part.prepared(model.label_bias) is state
        y = torch.tensor([[0, 3, 4], [0, 5, 6]])
        fresh = model.make_context(emb, mask[[2, 0]], 2)
        assert torch.allclose(
            model.label_embeddings(y, part), model.label_embeddings(y, fresh), atol=1e-6
        )
    own = BiasingContext(torch.randn(2, 3, 16), torch.ones(2, 3, dtype=torch.bool))
    assert not own.shared and own.select(torch.tensor([1])).embeddings.shape == (1, 3, 16)


def _count_precompute(model: Transducer, monkeypatch) -> Dict[str, int]:
    calls = {"n": 0}
    original = AttentionBiasing.precompute

    def counted(self, context):
        calls["n"] += 1
        return original(self, context)

    monkeypatch.setattr(AttentionBiasing, "precompute", counted)
    return calls


def test_search_projects_keys_once_per_batch_or_per_prepared_list(monkeypatch):
    model = _model().eval()
    with torch.no_grad():
        model.joiner.out.bias[model.blank_id] -= 3.0  # emit many tokens
    features, feature_lens, _, _ = _batch()
    emb = torch.randn(6, 16)
    mask = _mask(3, 6, seed=5)
    calls = _count_precompute(model, monkeypatch)
    greedy = greedy_search(model, features, feature_lens, phrase_emb=emb, mask=mask)
    assert sum(map(len, greedy)) > 10
    assert calls["n"] == 2  # audio and label layers, once each for the whole batch
    beam = modified_beam_search(model, features, feature_lens, beam=3, phrase_emb=emb, mask=mask)
    assert calls["n"] == 4  # raw vectors: once per batch
    with torch.no_grad():
        ready = model.prepare_phrases(emb)
    assert ready.num_phrases == 6
    again = greedy_search(model, features, feature_lens, phrase_emb=ready, mask=mask)
    assert calls["n"] == 6 and again == greedy
    for b in range(3):  # utterance by utterance, the same prepared list: nothing projected again
        greedy_search(model, features[b : b + 1], feature_lens[b : b + 1], phrase_emb=ready)
    modified_beam_search(model, features, feature_lens, beam=3, phrase_emb=ready, mask=mask)
    assert calls["n"] == 6
    monkeypatch.undo()
    # The old way (a context made per group of hypotheses) gives the same label embeddings.
    h_ctx = model.make_context(emb, mask, 3)
    with torch.no_grad():
        shared = _Labels(model, emb, mask, h_ctx)
        per_group = _Labels(model, emb, mask)
        histories = [[0] + hyp for hyp in greedy] + [[0] + hyp[:1] for hyp in beam]
        rows = [0, 1, 2, 0, 1, 2]
        assert torch.allclose(shared(histories, rows), per_group(histories, rows), atol=1e-6)


class _MeanLayer(BiasingLayer):
    """A third-party layer written against the three-argument interface."""

    seen: List[tuple] = []

    def __init__(self, *, d_model: int, context_dim: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(context_dim, d_model)

    def forward(self, query: Tensor, context: Tensor, context_mask: Tensor) -> Tensor:
        self.seen.append((tuple(query.shape), tuple(context.shape), tuple(context_mask.shape)))
        weights = context_mask.float() / context_mask.sum(1, keepdim=True)
        mean = (weights.unsqueeze(-1) * context).sum(1)
        return query + self.proj(mean).unsqueeze(1)


@pytest.fixture()
def mean_layer() -> Iterator[str]:
    register_biasing_layer("test_mean")(_MeanLayer)
    _MeanLayer.seen.clear()
    yield "test_mean"
    BIASING_LAYERS.pop("test_mean")


def test_layer_without_precompute_still_works(mean_layer: str):
    model = _model(biasing={"layer": mean_layer}).train()
    features, feature_lens, tokens, context = _batch()
    simple, pruned, *_ = model(features, feature_lens, tokens, context)
    (simple + pruned).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.audio_bias.parameters())
    assert all(
        c[0][0] == c[1][0] == c[2][0] == 3 and c[1][1] == c[2][1] == 3 for c in _MeanLayer.seen
    )
    _MeanLayer.seen.clear()
    model.eval()
    out = greedy_search(model, features, feature_lens, phrase_emb=torch.randn(4, 16))
    assert len(out) == 3
    assert all(q[0] == c[0] == m[0] and c[1] == m[1] == 5 for q, c, m in _MeanLayer.seen)


def _union_context(model: Transducer, context: ContextBatch, batch_size: int):
    """The batch context as the union of the lists under a mask: the reference the gathered
    per-utterance context must equal."""
    emb = model.encode_phrases(context.tokens, context.lengths)
    return model.make_context(
        emb, context.mask[:, model.phrase_entries(context.lengths)], batch_size
    )


@pytest.mark.parametrize("encoder", ["bilstm", "bilstm_tokens"])
def test_each_utterance_attends_to_its_own_list_as_under_a_mask(encoder: str, monkeypatch):
    features, feature_lens, tokens, _ = _batch()
    lists = [[[3, 4], [12, 13, 14], [15]], [[12, 13, 14], [16, 17]], []]
    context = ContextBatch.from_lists(lists)
    model = _model(context_encoder={"type": encoder, "context_dim": 16, "num_heads": 2}).eval()
    with torch.no_grad():
        for layer in (model.audio_bias, model.label_bias):
            layer.proj.weight.normal_(0, 0.3)
    ours = model(features, feature_lens, tokens, context)
    empty = model(features, feature_lens, tokens, None)
    monkeypatch.setattr(Transducer, "_batch_context", _union_context)
    ref = model(features, feature_lens, tokens, context)
    assert not torch.allclose(ours.pruned, empty.pruned)  # the lists change the loss
    for a, b in zip(ours, ref):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-5)


def test_per_token_model_decodes_with_a_list_of_token_entries():
    model = _model(context_encoder={"type": "bilstm_tokens", "context_dim": 16, "num_heads": 2})
    model.eval()
    features, feature_lens, _, _ = _batch()
    emb = encode_phrase_list(model, [[3, 4], [12, 13, 14]])
    assert emb.shape == (5, 16)  # one vector per token
    prepared = model.prepare_phrases(emb)
    assert prepared.num_phrases == 5
    with_list = greedy_search(model, features, feature_lens, phrase_emb=prepared)
    beam = modified_beam_search(model, features, feature_lens, beam=2, phrase_emb=prepared)
    assert len(with_list) == len(beam) == 3


def test_per_token_encoder_gives_a_vector_per_phrase_token():
    model = _model(context_encoder={"type": "bilstm_tokens", "context_dim": 16, "num_heads": 2})
    tokens = torch.tensor([[3, 4, 5], [6, 0, 0]])
    lengths = torch.tensor([3, 1])
    emb = model.encode_phrases(tokens, lengths)
    assert emb.shape == (4, 16)
    assert model.phrase_entries(lengths).tolist() == [0, 0, 0, 1]
    # A bilstm model's weights load into the per-token encoder: same parameters.
    phrase_level = _model()
    model.load_state_dict(phrase_level.state_dict())
    summary = phrase_level.encode_phrases(tokens, lengths)
    half = 8  # the forward half ends at the last token, the backward half at the first
    assert torch.allclose(model.encode_phrases(tokens, lengths)[2, :half], summary[0, :half])
    assert torch.allclose(model.encode_phrases(tokens, lengths)[0, half:], summary[0, half:])
