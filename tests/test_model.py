"""The CATT model: config, shapes, biasing, predictors, gradients, a short overfit."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from catt.errors import ConfigError
from catt.model import (
    BIASING_LAYERS,
    CONTEXT_ENCODERS,
    ContextBatch,
    ModelConfig,
    Transducer,
    build_model,
    subsampled_lengths,
)
from catt.model.encoder import normalize_features

V = 24


def _config(**sections) -> ModelConfig:
    d = {"preset": "micro", "vocab_size": V}
    d.update(sections)
    return ModelConfig.from_dict(d)


def _model(seed: int = 0, **sections) -> Transducer:
    torch.manual_seed(seed)
    return build_model(_config(**sections)).eval()


def _batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(3, 40, 80, generator=g) * 3 + 5
    feature_lens = torch.tensor([40, 33, 21])
    tokens = [[3, 4, 5, 6], [7, 8], [9, 10, 11]]
    context = ContextBatch.from_lists([[[3, 4], [12, 13, 14]], [[12, 13, 14]], []])
    return features, feature_lens, tokens, context


# ---- config -------------------------------------------------------------------------------


def test_config_round_trip_and_presets():
    for name in ("micro", "tiny", "base"):
        cfg = ModelConfig.preset(name, vocab_size=100)
        assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    cfg = ModelConfig.from_dict({"preset": "tiny", "encoder": {"num_layers": 2}})
    assert cfg.encoder.num_layers == 2 and cfg.encoder.d_model == 144
    assert dataclasses.replace(cfg, loss="full").loss == "full"


@pytest.mark.parametrize(
    "d, choices",
    [
        ({"biasing": {"layer": "gate"}}, list(BIASING_LAYERS)),
        ({"biasing": {"bias_on": "text"}}, ["audio", "label", "both"]),
        ({"context_encoder": {"type": "bert"}}, list(CONTEXT_ENCODERS)),
        ({"predictor": {"type": "lstm"}}, ["stateless", "transformer"]),
        ({"loss": "ctc"}, ["pruned", "full"]),
        ({"preset": "huge"}, ["micro", "tiny", "base"]),
    ],
)
def test_config_unknown_choice_lists_the_choices(d, choices):
    with pytest.raises(ConfigError) as info:
        ModelConfig.from_dict(d)
    assert isinstance(info.value, ValueError)
    for choice in choices:
        assert choice in str(info.value)


def test_config_bad_values_are_named():
    with pytest.raises(ConfigError, match="encoder.d_model=30 is not divisible"):
        ModelConfig.from_dict({"encoder": {"d_model": 30, "num_heads": 4}})
    with pytest.raises(ConfigError, match="unknown model config key 'encoder.depth'.*num_layers"):
        ModelConfig.from_dict({"encoder": {"depth": 3}})
    with pytest.raises(ConfigError, match="blank_id"):
        ModelConfig.from_dict({"vocab_size": 10, "blank_id": 10})
    with pytest.raises(ConfigError, match="encoder.dropout"):
        ModelConfig.from_dict({"encoder": {"dropout": 1.5}})
    for kernel in (4, -3, 1.5):
        with pytest.raises(ConfigError, match="encoder.conv_kernel must be 0 or an odd"):
            ModelConfig.from_dict({"encoder": {"conv_kernel": kernel}})


# ---- pieces -------------------------------------------------------------------------------


def test_feature_normalization_per_utterance():
    x = torch.randn(2, 10, 4) * 5 + 3
    lens = torch.tensor([10, 6])
    y = normalize_features(x, lens)
    assert torch.allclose(y[1, :6].mean(0), torch.zeros(4), atol=1e-5)
    assert torch.allclose(y[1, :6].var(0, unbiased=False), torch.ones(4), atol=1e-3)
    assert torch.all(y[1, 6:] == 0)


def test_shapes_of_every_method():
    model = _model()
    features, feature_lens, _, context = _batch()
    h, h_lens = model.encode(features, feature_lens)
    assert h.shape == (3, 9, 16) and h_lens.tolist() == [9, 7, 4]
    emb = model.encode_phrases(context.tokens, context.lengths)
    assert emb.shape == (2, 16)
    ctx = model.make_context(emb, context.mask, 3)
    assert ctx.embeddings.shape == (3, 3, 16) and ctx.mask.shape == (3, 3)
    assert ctx.mask[:, 0].all() and ctx.mask[2].tolist() == [True, False, False]
    assert torch.equal(ctx.embeddings[:, 0], model.no_bias.expand(3, -1))
    assert model.bias_audio(h, ctx).shape == h.shape
    g = model.label_embeddings(torch.tensor([[0, 3, 4], [0, 7, 8], [0, 9, 10]]), ctx)
    assert g.shape == (3, 3, 16)
    assert model.joiner(h[:, :1], g[:, :1]).shape == (3, 1, V)
    assert model.joiner(h.unsqueeze(2), g.unsqueeze(1)).shape == (3, 9, 3, V)
    alone = model.make_context(None, None, 2)
    assert alone.embeddings.shape == (2, 1, 16) and alone.mask.all()
    assert model.make_context(emb, None, 2).mask.all()


def test_too_few_frames_for_the_tokens_is_named():
    model = _model()
    with pytest.raises(ValueError, match="utterance 1 of the batch has 12 tokens but only 4"):
        model(torch.randn(2, 40, 80), torch.tensor([40, 21]), [[3], list(range(1, 13))])
    assert subsampled_lengths(torch.tensor([21, 40, 3])).tolist() == [4, 9, 1]


@pytest.mark.parametrize("conv_kernel", [0, 5])
def test_encode_ignores_padding(conv_kernel):
    model = _model(encoder={"conv_kernel": conv_kernel})
    features, feature_lens, _, _ = _batch()
    h, h_lens = model.encode(features, feature_lens)
    alone, alone_lens = model.encode(features[2:, :21], feature_lens[2:])
    assert alone_lens.tolist() == [h_lens[2].item()]
    assert torch.allclose(alone[0], h[2, : h_lens[2]], atol=1e-5)


def test_convolution_module_is_off_by_default_and_sees_neighbouring_frames():
    """A config without ``conv_kernel`` (every model saved before it existed) builds the plain
    transformer, with the same parameter names; with it, a frame's embedding depends on its
    neighbours through the depthwise conv even when self-attention is shut off."""
    plain = _model()
    assert not any("convs" in name for name in plain.state_dict())
    conformer = _model(encoder={"conv_kernel": 3})
    names = set(conformer.state_dict())
    assert set(plain.state_dict()) < names and any("convs.0.depthwise" in n for n in names)
    conv = conformer.encoder.convs[0].eval()
    x = torch.randn(1, 9, 16)
    pad = torch.zeros(1, 9, dtype=torch.bool)
    y = conv(x, pad)
    x2 = x.clone()
    x2[0, 4] += torch.randn(16)
    changed = (conv(x2, pad) - y).abs().sum(-1)[0] > 1e-6
    assert changed.tolist() == [False, False, False, True, True, True, False, False, False]


def test_masked_phrases_do_not_change_the_output():
    model = _model()
    features, feature_lens, _, _ = _batch()
    h, _ = model.encode(features, feature_lens)
    emb = torch.randn(4, 16)
    mask = torch.tensor([[True, False, True, False]] * 3)
    a = model.bias_audio(h, model.make_context(emb, mask, 3))
    emb2 = emb.clone()
    emb2[1] += 10
    emb2[3] -= 10
    b = model.bias_audio(h, model.make_context(emb2, mask, 3))
    assert torch.allclose(a, b, atol=1e-6)
    emb2[0] += 10  # a present phrase does change it
    assert not torch.allclose(a, model.bias_audio(h, model.make_context(emb2, mask, 3)))


@pytest.mark.parametrize("predictor", ["stateless", "transformer"])
def test_predictor_is_causal_and_matches_search_usage(predictor):
    model = _model(predictor={"type": predictor, "context_size": 2})
    ctx = model.make_context(torch.randn(2, 16), None, 1)
    y = torch.tensor([[0, 5, 6, 7, 8]])
    g = model.label_embeddings(y, ctx)
    k = model.predictor_context_size
    assert k == (2 if predictor == "stateless" else None)
    for u in range(y.size(1)):
        history = y[:, : u + 1] if k is None else y[:, max(0, u + 1 - k) : u + 1]
        assert torch.allclose(model.label_embeddings(history, ctx)[:, -1], g[:, u], atol=1e-5)


@pytest.mark.parametrize("encoder", ["bilstm", "transformer"])
def test_context_encoders_ignore_padding(encoder):
    model = _model(context_encoder={"type": encoder})
    tokens = torch.tensor([[3, 4, 0, 0], [5, 6, 7, 8]])
    emb = model.encode_phrases(tokens, torch.tensor([2, 4]))
    alone = model.encode_phrases(tokens[:1, :2], torch.tensor([2]))
    assert emb.shape == (2, 16)
    assert torch.allclose(emb[0], alone[0], atol=1e-5)


def test_context_batch():
    cb = ContextBatch.from_lists([[[5, 6], [7]], [[7]], []])
    assert cb.tokens.tolist() == [[5, 6], [7, 0]]
    assert cb.mask.tolist() == [[True, True], [False, True], [False, False]]
    assert cb.to("cpu").lengths.tolist() == [2, 1]
    with pytest.raises(ValueError, match="columns"):
        ContextBatch(cb.tokens, cb.lengths, torch.ones(3, 5, dtype=torch.bool))


# ---- none, gradients ----------------------------------------------------------------------


def test_none_layer_has_no_context_parameters_and_ignores_phrases():
    model = _model(biasing={"layer": "none"})
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if "context" in n or "bias_" in n.split(".")[0] or n == "no_bias"]
    assert model.context_encoder is None and model.audio_bias is None
    plain = _model(biasing={"layer": "none"}, context_encoder={"type": "transformer"})
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in model.parameters())
    features, feature_lens, tokens, context = _batch()
    with torch.no_grad():
        with_list = model(features, feature_lens, tokens, context)
        without = model(features, feature_lens, tokens, None)
    assert torch.equal(with_list[0], without[0]) and torch.equal(with_list[1], without[1])
    assert model.encode_phrases(context.tokens, context.lengths).shape == (2, 0)


@pytest.mark.parametrize("loss", ["pruned", "full"])
def test_gradients_reach_context_encoder_and_both_biasing_layers(loss):
    model = _model(loss=loss).train()
    features, feature_lens, tokens, context = _batch()
    simple, pruned, *_ = model(features, feature_lens, tokens, context, prune_range=3)
    assert torch.isfinite(simple) and torch.isfinite(pruned)
    (simple + pruned).backward()
    for part in ("context_encoder", "audio_bias", "label_bias"):
        grads = [p.grad for p in getattr(model, part).parameters()]
        assert all(g is not None for g in grads), part
        assert sum(g.abs().sum().item() for g in grads) > 0, part
    assert model.no_bias.grad is not None and model.no_bias.grad.abs().sum() > 0
    if loss == "full":
        assert pruned.item() == 0.0


@pytest.mark.parametrize("bias_on", ["audio", "label"])
def test_bias_on_one_side(bias_on):
    model = _model(biasing={"bias_on": bias_on})
    assert (model.audio_bias is not None) == (bias_on == "audio")
    assert (model.label_bias is not None) == (bias_on == "label")


def test_context_changes_the_loss():
    model = _model()
    features, feature_lens, tokens, context = _batch()
    with torch.no_grad():
        a = model(features, feature_lens, tokens, context)[1]
        b = model(features, feature_lens, tokens, None)[1]
    assert abs(a.item() - b.item()) > 1e-4


def _greedy(model: Transducer, features: torch.Tensor, feature_lens: torch.Tensor, context=None):
    """At most one symbol per frame (what decoding does, written out)."""
    with torch.no_grad():
        emb = mask = None
        if context is not None:
            emb = model.encode_phrases(context.tokens, context.lengths)
            mask = context.mask
        h, h_lens = model.encode(features, feature_lens)
        h = model.bias_audio(h, model.make_context(emb, mask, h.size(0)))
        out = []
        for b in range(h.size(0)):
            ctx = model.make_context(emb, None if mask is None else mask[b : b + 1], 1)
            hyp = [model.blank_id]
            for t in range(int(h_lens[b])):
                g = model.label_embeddings(torch.tensor([hyp[-2:]]), ctx)[:, -1]
                k = int(model.joiner(h[b : b + 1, t], g).argmax(-1))
                if k != model.blank_id:
                    hyp.append(k)
            out.append(hyp[1:])
    return out


def test_tiny_model_overfits_a_handful_of_utterances():
    """Random features, fixed targets, no phrase list: the audio alone must carry the tokens."""
    torch.set_num_threads(1)
    model = _model(seed=0, encoder={"dropout": 0.0}).train()
    features, feature_lens, tokens, _ = _batch(seed=3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for step in range(150):
        simple, pruned, *_ = model(features, feature_lens, tokens, None, prune_range=3)
        scale = min(1.0, step / 30)
        loss = (1 - 0.5 * scale) * simple + (0.1 + 0.9 * scale) * pruned
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(pruned.item() / sum(map(len, tokens)))
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    assert _greedy(model.eval(), features, feature_lens) == tokens


@pytest.mark.parametrize("bias_on", ["both", "audio", "label"])
def test_biasing_learns_to_read_the_phrase_list(bias_on):
    """Identical audio, different lists and targets: only the phrase list can tell them apart."""
    torch.set_num_threads(1)
    model = _model(seed=0, encoder={"dropout": 0.0}, biasing={"bias_on": bias_on}).train()
    features = torch.randn(1, 40, 80).expand(4, -1, -1)
    feature_lens = torch.full((4,), 40)
    tokens = [[3, 4, 5], [6, 7, 8], [9, 10, 11], [12, 13, 14]]
    context = ContextBatch.from_lists([[t] for t in tokens])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(200):
        simple, pruned, *_ = model(features, feature_lens, tokens, context, prune_range=3)
        scale = min(1.0, step / 30)
        loss = (1 - 0.5 * scale) * simple + (0.1 + 0.9 * scale) * pruned
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    swapped = ContextBatch(context.tokens, context.lengths, context.mask.roll(1, dims=0))
    with torch.no_grad():
        right = model(features, feature_lens, tokens, context)[1].item()
        wrong = model(features, feature_lens, tokens, swapped)[1].item()
    assert right < 0.1 * wrong, (right, wrong)
    if bias_on == "both":
        assert _greedy(model, features, feature_lens, context) == tokens


def test_ctc_head_adds_a_loss_that_trains_the_encoder_and_nothing_else():
    plain = _model()
    assert plain.ctc_proj is None
    features, feature_lens, tokens, context = _batch()
    assert plain(features, feature_lens, tokens, context).ctc.item() == 0.0
    model = _model(ctc_weight=0.3).train()
    losses = model(features, feature_lens, tokens, context, prune_range=3)
    assert losses.ctc.item() > 0 and torch.isfinite(losses.ctc)
    model.zero_grad()
    losses.ctc.backward()
    assert model.ctc_proj.weight.grad.abs().sum() > 0
    assert model.encoder.subsampling.out.weight.grad.abs().sum() > 0
    assert model.joiner.out.weight.grad is None and model.audio_bias.proj.weight.grad is None
    with pytest.raises(ConfigError, match="ctc_weight"):
        _config(ctc_weight=-1.0)


# ---- the character head -------------------------------------------------------------------

CHAR_HEAD = {"hidden": 6, "num_chars": 7}


def test_char_head_loss_reaches_the_head_and_encoder_alone_when_the_transducer_is_skipped():
    model = _model(char_head=CHAR_HEAD).train()
    features, feature_lens, tokens, _ = _batch()
    chars = [[1, 2, 3, 1], [4, 5], [6, 6, 2]]
    losses = model(features, feature_lens, tokens, chars=chars, transducer=False)
    assert losses.simple.item() == losses.pruned.item() == losses.ctc.item() == 0.0
    assert losses.chars.item() > 0 and torch.isfinite(losses.chars)
    losses.chars.backward()
    for name, p in model.named_parameters():
        has_grad = p.grad is not None and bool(p.grad.abs().sum() > 0)
        assert has_grad == name.startswith(("char_head.", "encoder.")), (
            name
        )  # the encoder under it, no other
    both = model(features, feature_lens, tokens, chars=chars)
    assert both.pruned.item() > 0 and both.chars.item() == pytest.approx(losses.chars.item())
    assert model(features, feature_lens, tokens).chars.item() == 0.0  # no targets, no loss
    assert _model()(features, feature_lens, tokens, chars=chars).chars.item() == 0.0  # no head


def test_char_head_reads_each_utterance_as_if_alone():
    model = _model(char_head=CHAR_HEAD)
    features, feature_lens, _, _ = _batch()
    with torch.no_grad():
        h, h_lens = model.encode(features, feature_lens)
        batch = model.char_log_probs(h, h_lens)
        n = int(h_lens[2])
        alone = model.char_log_probs(h[2:, :n], h_lens[2:])
    assert batch.shape == (3, h.size(1), 7)
    assert torch.allclose(batch[2, :n], alone[0], atol=1e-5)
    assert torch.allclose(batch.exp().sum(-1), torch.ones(3, h.size(1)))
    with pytest.raises(ValueError, match="no character head"):
        _model().char_log_probs(h, h_lens)


@pytest.mark.parametrize(
    "char_head, message",
    [
        ({"hidden": -1}, "char_head.hidden must be an integer >= 0"),
        ({"hidden": 8, "num_chars": 1}, "char_head.num_chars must be >= 2"),
        ({"hidden": 8, "num_chars": 5, "weight": -1}, "char_head.weight must be a number >= 0"),
        ({"hiden": 8}, "unknown model config key 'char_head.hiden'"),
    ],
)
def test_char_head_config_errors(char_head, message):
    with pytest.raises(ConfigError, match=message):
        _config(char_head=char_head)
