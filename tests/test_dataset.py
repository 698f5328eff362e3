"""Training-time phrase lists and the dataset's batches, on a small synthetic corpus."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from builders import build_fake_corpus  # tests/ is on sys.path
from lhotse import CutSet, MonoCut, load_manifest_lazy

from catt.context.history import wrong_name_history
from catt.context.sampling import (
    ContextSampler,
    ContextSamplingOptions,
    load_household_lists,
    positive_phrases,
)
from catt.data.corpus import context_group
from catt.data.dataset import (
    CattDataset,
    collate_features,
    cut_slots,
    cut_tagged_text,
    make_dataloader,
)
from catt.errors import CattError, ConfigError
from catt.text.tokenizer import Tokenizer


@pytest.fixture(scope="session")
def fake_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fake_corpus(tmp_path_factory.mktemp("fake_corpus"))


# ----------------------------------------------------------------------------- sampling


LISTS = {"h1": ["ann lee", "noodle lamp"], "h2": ["bob ray", "red fan"], "h3": ["kim hart"]}


def test_sampling_keeps_positives_and_draws_distractors_from_other_households() -> None:
    sampler = ContextSampler(LISTS, ContextSamplingOptions(max_distractors=3, drop_positive_prob=0))
    sizes = set()
    for i in range(50):
        phrases = sampler.sample("h1", ["ann lee"], key=f"cut-{i}", seed=0)
        assert "ann lee" in phrases
        assert "noodle lamp" not in phrases  # own household, not said: never a distractor
        assert len(phrases) == len(set(phrases))
        assert set(phrases) <= {"ann lee", "bob ray", "red fan", "kim hart"}
        sizes.add(len(phrases) - 1)
    assert sizes == {0, 1, 2, 3}


def test_sampling_is_a_function_of_seed_and_key() -> None:
    sampler = ContextSampler(LISTS, ContextSamplingOptions(max_distractors=3))
    draws = [sampler.sample("h1", ["ann lee"], key=f"k{i}", seed=7) for i in range(20)]
    again = [sampler.sample("h1", ["ann lee"], key=f"k{i}", seed=7) for i in range(20)]
    other = [sampler.sample("h1", ["ann lee"], key=f"k{i}", seed=8) for i in range(20)]
    assert draws == again
    assert draws != other


def test_positives_are_dropped_at_the_configured_rate() -> None:
    sampler = ContextSampler(
        LISTS, ContextSamplingOptions(max_distractors=0, drop_positive_prob=0.3)
    )
    kept = sum(
        "ann lee" in sampler.sample("h1", ["ann lee"], key=str(i), seed=0) for i in range(2000)
    )
    assert 0.65 < kept / 2000 < 0.75
    always = ContextSampler(LISTS, ContextSamplingOptions(max_distractors=0, drop_positive_prob=1))
    assert always.sample("h1", ["ann lee"], key="x", seed=0) == []
    off = ContextSampler(LISTS, ContextSamplingOptions(enabled=False))
    assert off.sample("h1", ["ann lee"], key="x", seed=0) == []


def test_shared_distractors_are_one_draw_a_batch_without_the_own_household() -> None:
    lists = {f"h{i}": [f"name {i} a", f"name {i} b"] for i in range(40)}
    opts = ContextSamplingOptions(max_distractors=30, drop_positive_prob=0, shared_distractors=True)
    sampler = ContextSampler(lists, opts)
    sizes = set()
    for i in range(30):
        shared = sampler.batch_distractors(key=f"0:cut-{i}", seed=0)
        assert shared == sampler.batch_distractors(key=f"0:cut-{i}", seed=0)
        assert len(shared) == len(set(shared)) <= 30
        sizes.add(len(shared))
        for h in ("h1", "h2"):
            said = lists[h][0]
            phrases = sampler.sample(h, [said], key=f"{h}-{i}", seed=0, distractors=shared)
            others = [p for p in shared if p not in lists[h]]
            assert sorted(phrases) == sorted([said, *others])  # all of the draw but its own
    assert min(sizes) < 10 and max(sizes) > 20  # 0..30, drawn anew for each batch
    per_utterance = ContextSampler(lists, ContextSamplingOptions(max_distractors=30))
    assert per_utterance.batch_distractors(key="0:cut-0", seed=0) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shared_distractors": "yes"}, "context.shared_distractors must be true or false"),
        ({"max_distractors": -1}, "context.max_distractors must be >= 0"),
        ({"max_distractors": 2.5}, "context.max_distractors must be an integer"),
        ({"drop_positive_prob": 1.5}, "context.drop_positive_prob must be in [0, 1]"),
        ({"wrong_name_prob": -0.1}, "context.wrong_name_prob must be in [0, 1]"),
    ],
)
def test_sampling_options_are_validated(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ContextSamplingOptions(**kwargs)


def test_positive_phrases_are_the_biased_slot_values() -> None:
    slots = [
        {"type": "contact", "value": "ann  lee"},
        {"type": "city", "value": "paris"},
        {"type": "device", "value": "red fan"},
        {"type": "contact", "value": "ann lee"},
    ]
    assert positive_phrases(slots) == ["ann lee", "red fan"]


def test_household_lists_are_read_from_the_corpus(fake_corpus: Path, tmp_path: Path) -> None:
    lists = load_household_lists(fake_corpus)
    assert sorted(lists) == ["en-dev-000", "en-dev-001"] + [f"en-train-00{i}" for i in range(4)]
    assert all(len(v) == 5 for v in lists.values())
    assert list(load_household_lists(fake_corpus, ["en-dev-001"])) == ["en-dev-001"]
    with pytest.raises(CattError, match="en-nowhere"):
        load_household_lists(fake_corpus, ["en-nowhere"])
    with pytest.raises(CattError, match="prepare the corpus"):
        load_household_lists(tmp_path)


# ----------------------------------------------------------------------------- dataset


def _dataset(corpus: Path, **kwargs) -> tuple:
    tokenizer = Tokenizer.load(corpus / "lang" / "bpe.model")
    lists = load_household_lists(corpus, [f"en-train-00{i}" for i in range(4)])
    sampler = ContextSampler(lists, ContextSamplingOptions(max_distractors=4, **kwargs))
    cuts = load_manifest_lazy(corpus / "manifests" / "smarthome_cuts_train.jsonl.gz")
    return CattDataset(tokenizer, context_sampler=sampler, seed=3), cuts, tokenizer


def test_shared_distractors_make_the_batch_encode_each_once(fake_corpus: Path) -> None:
    dataset, cuts, _ = _dataset(fake_corpus, drop_positive_prob=0.0, shared_distractors=True)
    subset = CutSet.from_cuts(list(cuts)[:8])
    lists = dataset.phrase_lists(subset)
    reverse = dataset.phrase_lists(CutSet.from_cuts(list(subset)[::-1]))
    assert [sorted(p) for p in lists] == [sorted(p) for p in reverse[::-1]]  # any cut order
    said = [set(positive_phrases(cut_slots(cut))) for cut in subset]
    drawn = [set(phrases) - own for phrases, own in zip(lists, said)]
    union = set().union(*drawn)
    groups = [context_group(cut.supervisions[0]) for cut in subset]
    household = load_household_lists(fake_corpus)
    for phrases, group in zip(drawn, groups):
        assert phrases == union - set(household[group])  # the batch's one draw, less its own
    draws = []
    for epoch in range(1, 6):
        dataset.set_epoch(epoch)
        draws.append(dataset.phrase_lists(subset))
    assert any(draw != lists for draw in draws)  # a new draw each epoch


def test_batch_has_the_contract_keys_and_shapes(fake_corpus: Path) -> None:
    dataset, cuts, tokenizer = _dataset(fake_corpus, drop_positive_prob=0.0)
    subset = CutSet.from_cuts(list(cuts)[:8])
    batch = dataset[subset]
    keys = {"features", "feature_lens", "tokens", "context", "pointer_lists", "history", "chars"}
    assert set(batch) == keys | {"cuts"}
    assert batch["pointer_lists"] is None  # the pointer sees the layers' lists
    assert batch["history"] is None  # the predictor reads the references
    feats, lens = batch["features"], batch["feature_lens"]
    ordered = list(batch["cuts"])
    assert feats.dtype == torch.float32 and feats.shape == (8, int(lens.max()), 80)
    assert lens.dtype == torch.long
    assert lens.tolist() == [c.num_frames for c in ordered]
    assert lens.tolist() == sorted(lens.tolist(), reverse=True)
    for cut, toks, chars in zip(ordered, batch["tokens"], batch["chars"]):
        assert tokenizer.decode(toks) == cut_tagged_text(cut)
        # the character head's targets: the words alone, letter by letter
        words = " ".join(w for w in cut_tagged_text(cut).split() if not w.startswith("<"))
        assert tokenizer.decode_chars(chars) == words and 0 not in chars
    ctx = batch["context"]
    n = ctx.tokens.size(0)
    assert ctx.mask.shape == (8, n) and ctx.lengths.shape == (n,)
    phrases = [tokenizer.decode(ctx.tokens[i, : ctx.lengths[i]].tolist()) for i in range(n)]
    assert len(set(phrases)) == n  # each phrase encoded once
    assert (ctx.tokens[torch.arange(n), ctx.lengths - 1] != 0).all()
    for b, cut in enumerate(ordered):
        listed = {phrases[i] for i in ctx.mask[b].nonzero().flatten().tolist()}
        for slot in cut.supervisions[0].custom["slots"]:
            assert slot["value"] in listed  # no drops here: every positive is in the list


def test_features_are_collated_as_lhotse_collates_them(fake_corpus: Path) -> None:
    from lhotse.dataset.collation import collate_features as lhotse_collate

    cuts = CutSet.from_cuts(
        list(load_manifest_lazy(fake_corpus / "manifests" / "smarthome_cuts_train.jsonl.gz"))[:6]
    )
    assert len({c.num_frames for c in cuts}) > 1  # some cuts are padded
    features, lens = collate_features(list(cuts))
    expected, expected_lens = lhotse_collate(cuts)
    assert features.dtype == expected.dtype and torch.equal(features, expected)
    assert torch.equal(lens, expected_lens)


def test_batches_are_deterministic_per_epoch(fake_corpus: Path) -> None:
    dataset, cuts, _ = _dataset(fake_corpus)
    subset = CutSet.from_cuts(list(cuts)[:8])
    first = dataset[subset]["context"]
    assert torch.equal(dataset[subset]["context"].mask, first.mask)
    dataset.set_epoch(1)
    second = dataset[subset]["context"]
    assert second.mask.shape != first.mask.shape or not torch.equal(second.mask, first.mask)


def test_no_sampler_or_empty_lists_give_no_context(fake_corpus: Path) -> None:
    dataset, cuts, _ = _dataset(fake_corpus, enabled=False)
    subset = CutSet.from_cuts(list(cuts)[:4])
    assert dataset[subset]["context"] is None
    plain = CattDataset(dataset.tokenizer)
    assert plain[subset]["context"] is None


def test_feature_transform_sees_each_utterance_length(fake_corpus: Path) -> None:
    seen = {}

    def transform(features: torch.Tensor, supervision_segments: torch.Tensor) -> torch.Tensor:
        seen["segments"] = supervision_segments.tolist()
        return features * 0

    dataset, cuts, _ = _dataset(fake_corpus)
    dataset.feature_transform = transform
    batch = dataset[CutSet.from_cuts(list(cuts)[:3])]
    lens = batch["feature_lens"].tolist()
    assert seen["segments"] == [[i, 0, n] for i, n in enumerate(lens)]
    assert float(batch["features"].abs().sum()) == 0.0


def test_dataloader_covers_every_cut_once_per_epoch(fake_corpus: Path) -> None:
    dataset, cuts, _ = _dataset(fake_corpus)
    loader, sampler = make_dataloader(cuts, dataset, max_duration=3.0, num_buckets=2, seed=1)
    ids = [c.id for batch in loader for c in batch["cuts"]]
    assert sorted(ids) == sorted(c.id for c in cuts)
    halves = []
    for rank in range(2):
        loader, _ = make_dataloader(
            cuts, dataset, max_duration=3.0, seed=1, world_size=2, rank=rank
        )
        halves.append({c.id for batch in loader for c in batch["cuts"]})
    assert not halves[0] & halves[1]
    assert halves[0] | halves[1] == {c.id for c in cuts}


def test_a_cut_without_one_supervision_is_an_error(fake_corpus: Path) -> None:
    dataset, cuts, _ = _dataset(fake_corpus)
    cut = next(iter(cuts))
    bare = MonoCut("bare", 0.0, cut.duration, 0, [], cut.features)
    with pytest.raises(CattError, match="cut bare has 0 supervisions"):
        dataset[CutSet.from_cuts([bare])]


def test_household_pointer_lists_hold_the_whole_household_but_dropped_positives(
    fake_corpus: Path,
) -> None:
    dataset, cuts, tokenizer = _dataset(
        fake_corpus, drop_positive_prob=0.5, pointer_list="household"
    )
    batch = dataset[CutSet.from_cuts(list(cuts)[:8])]
    sampler = dataset.context_sampler
    layer_lists = dataset.phrase_lists(batch["cuts"])
    for cut, phrases, pointer in zip(batch["cuts"], layer_lists, batch["pointer_lists"]):
        household = context_group(cut.supervisions[0])
        positives = positive_phrases(cut_slots(cut))
        want = sampler.pointer_list(household, phrases, positives)
        assert pointer == [tokenizer.encode(p) for p in want]
        dropped = set(positives) - set(phrases)
        assert not dropped & set(want)  # what the layers may not see, the pointer may not
        assert set(phrases) <= set(want)
        own = set(load_household_lists(fake_corpus, [household])[household])
        assert own - dropped <= set(want)


@pytest.mark.parametrize("pointer_list, least", [("sampled", 1), ("household", 4)])
def test_wrong_names_overwrite_list_slot_values_in_the_history_only(
    fake_corpus: Path, pointer_list: str, least: int
) -> None:
    dataset, cuts, tokenizer = _dataset(fake_corpus, pointer_list=pointer_list)
    dataset.wrong_name_prob = 1.0
    batch = dataset[CutSet.from_cuts(list(cuts)[:8])]
    pairs = tokenizer.slot_tag_pairs(["contact", "device"])
    changed = 0
    for tokens, history in zip(batch["tokens"], batch["history"]):
        assert len(history) == len(tokens)
        inside, diff = False, []
        for u, (t, h) in enumerate(zip(tokens, history)):
            if t != h:
                assert inside, "only slot values change"
                diff.append(u)
            if t in pairs:
                inside = True
            elif t in pairs.values():
                inside = False
        changed += bool(diff)
    # with the household's list most utterances that name a contact or a device have another
    # phrase to start it with; a sampled list may hold no other phrase
    assert changed >= least
    assert batch["tokens"] == [tokenizer.encode(cut_tagged_text(c)) for c in batch["cuts"]]
    assert dataset[CutSet.from_cuts(list(cuts)[:8])]["history"] == batch["history"]


def test_wrong_name_history_starts_the_value_with_another_phrase() -> None:
    tokens = [1, 9, 5, 6, 7, 10, 3, 9, 8, 10]  # <slot> 5 6 7 </slot> 3 <slot> 8 </slot>
    phrases = [[5, 6, 7], [5, 6, 2, 2], [4], [8]]
    first, second = set(), set()
    for seed in range(200):
        out = wrong_name_history(tokens, {9: 10}, phrases, random.Random(seed), prob=1.0)
        assert len(out) == len(tokens) and out[:2] == [1, 9] and out[5:8] == [10, 3, 9]
        first.add(tuple(out[2:5]))
        second.add(out[8])
    # a phrase's start, at least one token of it wrong, then the rest of the value
    assert first == {(5, 6, 2), (4, 6, 7), (8, 6, 7)}
    assert second == {4, 5}  # never the value itself
    kept = wrong_name_history(tokens, {9: 10}, phrases, random.Random(0), prob=0.0)
    assert kept == tokens
    assert wrong_name_history([9, 5, 6], {9: 10}, phrases, random.Random(0), prob=1) == [9, 5, 6]
