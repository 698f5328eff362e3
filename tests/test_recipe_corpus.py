"""The corpus-directory abstraction and the public-corpus preparers (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recipe_trees import build_biasing_lists, build_fsc_tree, build_librispeech_tree

from catt.context.sampling import ContextSampler, ContextSamplingOptions
from catt.data.corpus import (
    context_group,
    normalize_words,
    open_corpus,
    save_list_set,
    write_corpus_info,
)
from catt.data.fsc import frame_intent, prepare_fsc
from catt.data.librispeech import load_biasing_tsv, prepare_librispeech, rare_words
from catt.errors import CattError


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_prefix_and_splits_are_inferred_from_the_manifests(tmp_path: Path) -> None:
    for split in ("test", "train", "adapt", "dev"):
        _touch(tmp_path / f"manifests/smarthome_recordings_{split}.jsonl.gz")
    (tmp_path / "households/h1").mkdir(parents=True)
    (tmp_path / "households/h1/contacts.txt").write_text("Ann Lee\n")
    (tmp_path / "households/h1/devices.txt").write_text("noodle lamp\nann lee\n")
    corpus = open_corpus(tmp_path)
    assert (corpus.prefix, corpus.group_kind) == ("smarthome", "household")
    assert corpus.splits() == ["train", "adapt", "dev", "test"]
    # typed by their files, and "ann lee", in both, fits any slot
    phrases = corpus.context_lists(["h1"])["h1"]
    assert [(p.text, p.slot) for p in phrases] == [("ann lee", None), ("noodle lamp", "device")]
    with pytest.raises(CattError, match="households.*h9"):
        corpus.context_lists(["h9"])


def test_open_corpus_names_what_is_missing_or_ambiguous(tmp_path: Path) -> None:
    # Nothing prepared: errors then name the smart-home manifests to make.
    assert open_corpus(tmp_path / "nowhere").prefix == "smarthome"
    with pytest.raises(CattError, match="smarthome_cuts_test.jsonl.gz is missing: prepare"):
        open_corpus(tmp_path).require("cuts", "test", "prepare")
    _touch(tmp_path / "manifests/fsc_recordings_train.jsonl.gz")
    _touch(tmp_path / "manifests/smarthome_recordings_train.jsonl.gz")
    with pytest.raises(CattError, match="fsc, smarthome"):
        open_corpus(tmp_path)
    write_corpus_info(tmp_path, prefix="fsc", context_group="none")
    corpus = open_corpus(tmp_path)
    assert corpus.prefix == "fsc" and corpus.context_lists() == {}
    with pytest.raises(CattError, match="fsc_cuts_test.jsonl.gz is missing: do it"):
        corpus.require("cuts", "test", "do it")


def test_list_sets_round_trip_with_their_distractor_count(tmp_path: Path) -> None:
    save_list_set(tmp_path, "biasing_2", {"u1": ["Mated", "zorb", "quux"], "u2": []}, distractors=2)
    write_corpus_info(tmp_path, prefix="librispeech", context_group="utterance", extra_key=1)
    corpus = open_corpus(tmp_path)
    list_set = corpus.list_set("biasing_2")
    assert list_set.distractors == 2
    assert [p.text for p in list_set.lists["u1"]] == ["mated", "zorb", "quux"]
    assert list_set.lists["u2"] == []
    assert corpus.per_utterance
    assert json.loads((tmp_path / "corpus.json").read_text())["extra_key"] == 1
    with pytest.raises(CattError, match="biasing_9.jsonl.gz is missing"):
        corpus.list_set("biasing_9")


def test_context_group_prefers_the_explicit_key() -> None:
    class Sup:
        custom = {"household": "h1", "context_group": "u1"}

    assert context_group(Sup()) == "u1"
    Sup.custom = {"household": "h1"}
    assert context_group(Sup()) == "h1"
    Sup.custom = None
    assert context_group(Sup()) is None


def test_per_utterance_lists_are_all_positives() -> None:
    lists = {"u1": ["mated", "intermingled"], "u2": ["zephyr"], "u3": ["kelp"]}
    options = ContextSamplingOptions(max_distractors=0, drop_positive_prob=0.0)
    sampler = ContextSampler(lists, options, per_utterance=True)
    assert sorted(sampler.sample("u1", [], key="k", seed=0)) == ["intermingled", "mated"]
    household = ContextSampler(lists, options)
    assert household.sample("u1", [], key="k", seed=0) == []
    with_distractors = ContextSampler(
        lists, ContextSamplingOptions(max_distractors=2, drop_positive_prob=0.0), per_utterance=True
    )
    for key in "abcdef":
        phrases = with_distractors.sample("u2", [], key=key, seed=1)
        assert "zephyr" in phrases and len(phrases) <= 3


def test_text_helpers() -> None:
    assert normalize_words("Change language, to 'Chinese'!") == "change language to chinese"
    assert rare_words("a zorb a kelp zorb", {"a"}) == ["zorb", "kelp"]
    assert frame_intent(("increase", "volume", "none")) == "increase_volume_none"


def test_biasing_tsv_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "test-clean.biasing_100.tsv"
    path.write_text('u1\ta b\t["b"]\t["b", "c"]\nu2\ta\t["a"]\n')
    with pytest.raises(CattError, match="biasing_100.tsv:2: expected 4"):
        load_biasing_tsv(path)
    path.write_text("u1\ta b\tb\t[]\n")
    with pytest.raises(CattError, match="tsv:1: columns 3 and 4 must be JSON lists"):
        load_biasing_tsv(path)


def test_prepare_librispeech_writes_own_and_published_lists(tmp_path: Path) -> None:
    librispeech = build_librispeech_tree(tmp_path / "corpus")
    lists = build_biasing_lists(librispeech, tmp_path / "corpus", sizes=(100, 500))
    data = prepare_librispeech(tmp_path / "corpus", tmp_path / "data", biasing_dir=lists)
    corpus = open_corpus(data)
    assert corpus.splits() == ["train", "dev", "test-clean", "test-other"]
    assert corpus.splits("supervisions") == corpus.splits()
    info = json.loads((data / "corpus.json").read_text())
    assert info["biasing_sizes"] == [100, 500] and info["counts"]["train"] == 8
    own = corpus.list_set("own").lists
    big = corpus.list_set("biasing_500")
    assert big.distractors == 500
    for utt, phrases in big.lists.items():
        assert {p.text for p in own[utt]} <= {p.text for p in phrases}
        assert len(phrases) >= 400  # the distractors (random words may collide)
    test_utt = next(iter(big.lists))
    assert own[test_utt], "every fixture test utterance says a rare word"
    # Training lists: the words outside common_words_5k.txt.
    train_own = {u: [p.text for p in ps] for u, ps in own.items() if u.startswith("10")}
    assert train_own and all(w.isalpha() for ws in train_own.values() for w in ws)
    assert "the" not in {w for ws in train_own.values() for w in ws}


def test_prepare_librispeech_errors(tmp_path: Path) -> None:
    build_librispeech_tree(tmp_path / "corpus")
    with pytest.raises(CattError, match="train-other-500 is missing"):
        prepare_librispeech(tmp_path / "corpus", tmp_path / "d", train_parts=["train-other-500"])
    with pytest.raises(CattError, match="choose from"):
        prepare_librispeech(tmp_path / "corpus", tmp_path / "d", train_parts=["train-x"])
    with pytest.raises(CattError, match="no test-\\{clean,other\\}.biasing"):
        prepare_librispeech(tmp_path / "corpus", tmp_path / "d", biasing_dir=tmp_path)


def test_prepare_fsc_and_its_errors(tmp_path: Path) -> None:
    root = build_fsc_tree(tmp_path / "corpus")
    data = prepare_fsc(tmp_path / "corpus", tmp_path / "data")
    corpus = open_corpus(data)
    assert (corpus.prefix, corpus.group_kind) == ("fsc", "none")
    assert corpus.splits() == ["train", "dev", "test"]
    from lhotse import load_manifest

    sups = load_manifest(corpus.manifest("supervisions", "dev"))
    first = next(iter(sups))
    assert first.custom["intent"] == "activate_lights_kitchen"
    assert first.custom["frame"] == {
        "action": "activate",
        "object": "lights",
        "location": "kitchen",
    }
    assert first.speaker == "2BqVo8kVB2Skwgyb" and first.id == first.recording_id
    wav = next((root / "wavs/speakers").rglob("*.wav"))
    wav.unlink()
    with pytest.raises(CattError, match=f"{wav.name} is missing"):
        prepare_fsc(root, tmp_path / "data2")
    (root / "data/valid_data.csv").unlink()
    with pytest.raises(CattError, match="valid_data.csv is missing"):
        prepare_fsc(root, tmp_path / "data2")


def test_decode_with_a_list_set_refuses_extra_distractors(tmp_path: Path) -> None:
    from catt.decode.decode_set import decode_condition

    with pytest.raises(CattError, match="--distractors 5: the list set biasing_100 has its own"):
        decode_condition(
            model_path=tmp_path / "model.pt",
            data_dir=tmp_path,
            split="test-clean",
            out_path=tmp_path / "out.jsonl",
            distractors=5,
            context=True,
            deep_biasing=True,
            boost=0.0,
            beam=4,
            condition=None,
            seed=0,
            limit=None,
            lists="biasing_100",
        )
