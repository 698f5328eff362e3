"""A shortlist for deep biasing: each utterance's biasing layers and list pointer read only the
list phrases the CTC head spots best (``DecodingOptions.shortlist``)."""

import dataclasses
from typing import List

import pytest
import torch
from builders import TEXTS  # tests/ is on sys.path
from torch import Tensor

from catt.context.phrases import Phrase
from catt.decode.options import DecodingOptions, InvalidOptionError
from catt.decode.transcriber import Transcriber
from catt.model import ModelConfig, build_model
from catt.text.tokenizer import Tokenizer, train_tokenizer

SPOTTING = {"pointer": True, "pointer_phrases": True, "pointer_spotting": True}
PHRASES = [
    "stephen fitzgerald",
    "steven lee",
    "noodle lamp",
    "stephen lee",
    "noodle",
    "steven fitzgerald now",
]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    return train_tokenizer(TEXTS, tmp_path_factory.mktemp("lang") / "bpe.model", 30)


def spotting_model(tokenizer: Tokenizer, ctc_weight: float = 0.3, **biasing: bool):
    """A random micro model with a CTC head and the spotting pointer, its gate half open."""
    torch.manual_seed(0)
    config = {"preset": "micro", "vocab_size": tokenizer.vocab_size, "ctc_weight": ctc_weight}
    model = build_model(ModelConfig.from_dict({**config, "biasing": {**SPOTTING, **biasing}}))
    with torch.no_grad():  # a random model that emits symbols
        model.joiner.out.bias[tokenizer.blank_id] -= 3.0
        model.joiner.pointer.gate.bias.fill_(0.0)
    return model.eval()


def utterances() -> List[Tensor]:
    torch.manual_seed(3)
    return [torch.randn(120, 80) * 2 for _ in range(4)]


def hear_a_phrase_each(model, tokenizer: Tokenizer) -> None:
    """Give the model a CTC head that hears in each utterance one of PHRASES, which one set by
    its first audio embedding (the same alone or in a batch)."""
    blank, vocab = tokenizer.blank_id, tokenizer.vocab_size

    def ctc_log_probs(h: Tensor) -> Tensor:
        rows = []
        for b in range(h.size(0)):
            k = int(h[b, 0, : len(PHRASES)].argmax())
            seq = [blank] + tokenizer.encode_phrase(PHRASES[k])
            seq += [blank] * (h.size(1) - len(seq))
            rows.append(torch.log_softmax(8.0 * torch.eye(vocab)[seq], dim=-1))
        return torch.stack(rows)

    model.ctc_log_probs = ctc_log_probs


def test_the_search_with_a_shortlist_is_the_search_with_those_phrases_alone(
    tokenizer: Tokenizer,
) -> None:
    model = spotting_model(tokenizer)
    hear_a_phrase_each(model, tokenizer)
    with torch.no_grad():  # the pointer chooses by its keys, not by what the head hears
        model.joiner.pointer.spot_weight.fill_(0.0)
    t = Transcriber(model, tokenizer)
    feats = utterances()
    options = DecodingOptions(beam=2, shortlist=2)
    plist = t.prepare_phrases(PHRASES)
    shortlisted = t.decode_features(feats, PHRASES, options)
    whole = t.decode_features(feats, PHRASES, dataclasses.replace(options, shortlist=None))
    assert shortlisted != whole  # the list the model reads changed
    kept = set()
    for f, out in zip(feats, shortlisted):
        with torch.no_grad():
            encoded = model.encode(f.unsqueeze(0), torch.tensor([f.size(0)]))
        keep = t._shortlist(plist, encoded, options)[0]
        assert int(keep.sum()) == 2
        mine = [p for p, k in zip(plist.phrases, keep.tolist()) if k]
        kept.add(tuple(p.text for p in mine))
        alone = t.decode_features([f], mine, dataclasses.replace(options, shortlist=None))
        assert alone == [out]
    assert len(kept) > 1  # each utterance has its own shortlist


def test_a_shortlist_as_long_as_the_list_changes_nothing(tokenizer: Tokenizer) -> None:
    t = Transcriber(spotting_model(tokenizer), tokenizer)
    feats = utterances()
    options = DecodingOptions(beam=2)
    whole = t.decode_features(feats, PHRASES, options)
    long = dataclasses.replace(options, shortlist=len(PHRASES))
    assert t.decode_features(feats, PHRASES, long) == whole


def test_the_shortlist_keeps_the_phrase_the_ctc_head_hears(tokenizer: Tokenizer) -> None:
    """With a bonus per token: without it a short phrase that fits a stretch would do as well."""
    model = spotting_model(tokenizer)
    t = Transcriber(model, tokenizer)
    heard = tokenizer.encode_phrase("steven lee")
    seq = [x for i in heard for x in (i, tokenizer.blank_id)]
    logp = torch.log_softmax(8.0 * torch.eye(tokenizer.vocab_size)[seq], dim=-1)
    model.ctc_log_probs = lambda h: logp.unsqueeze(0).expand(h.size(0), -1, -1)
    plist = t.prepare_phrases(PHRASES + ["lee"])
    h = torch.zeros(1, logp.size(0), 4)
    keep = t._shortlist(plist, (h, torch.tensor([logp.size(0)])), DecodingOptions(shortlist=1))
    assert [p.text for p, k in zip(plist.phrases, keep[0].tolist()) if k] == ["steven lee"]


def test_rescoring_reads_the_shortlist_the_search_read(tokenizer: Tokenizer) -> None:
    model = spotting_model(tokenizer)
    t = Transcriber(model, tokenizer)
    feats = utterances()[0].unsqueeze(0)
    with torch.no_grad():
        h, _ = model.encode(feats, torch.tensor([feats.size(1)]))
    options = DecodingOptions(resolve=True, shortlist=3)
    plist = t.prepare_phrases(PHRASES)
    keep = torch.tensor([True, False, True, False, False, True])
    mine = t.prepare_phrases([p for p, k in zip(plist.phrases, keep.tolist()) if k])
    seqs = [tokenizer.encode(f"call <contact> {n} </contact>") for n in PHRASES[:3]]
    with torch.no_grad():
        shortlisted = t._rescorer(h, plist, options, keep)(seqs)
        alone = t._rescorer(h, mine, options)(seqs)
        whole = t._rescorer(h, plist, options)(seqs)
    assert torch.allclose(shortlisted, alone, atol=1e-5)
    assert not torch.allclose(shortlisted, whole, atol=1e-5)
    # and the whole path runs: search, shortlist, resolution, rescoring
    out = t.decode_features([feats[0]], PHRASES, options)
    assert out[0].text is not None


def test_a_shortlist_needs_a_ctc_head(tokenizer: Tokenizer) -> None:
    t = Transcriber(spotting_model(tokenizer, ctc_weight=0.0, pointer_spotting=False), tokenizer)
    with pytest.raises(InvalidOptionError, match="CTC head"):
        t.decode_features(utterances(), PHRASES, DecodingOptions(shortlist=2))
    # a list no longer than the shortlist needs none
    assert len(t.decode_features(utterances(), PHRASES[:2], DecodingOptions(shortlist=2))) == 4


def test_a_shortlist_needs_a_pointer_that_scores_phrases(tokenizer: Tokenizer) -> None:
    model = spotting_model(tokenizer, pointer_phrases=False, pointer_spotting=False)
    t = Transcriber(model, tokenizer)
    with pytest.raises(InvalidOptionError, match="pointer_phrases"):
        t.decode_features(utterances(), PHRASES, DecodingOptions(shortlist=2))
    no_pointer = DecodingOptions(shortlist=2, pointer=False)
    assert len(t.decode_features(utterances(), [Phrase(p) for p in PHRASES], no_pointer)) == 4


@pytest.mark.parametrize("value", [0, -3, 2.5, "8", True])
def test_bad_shortlist(value) -> None:
    with pytest.raises(InvalidOptionError, match="shortlist"):
        DecodingOptions(shortlist=value)
