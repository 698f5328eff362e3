"""The smart-home corpus plan: grammar, names, households, voices (no synthesis, fast)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Dict, List, Set

import pytest

from catt.data.smarthome import SIZES, SPLITS, plan_corpus
from catt.data.smarthome.grammar import ENTITY_SLOTS, GRAMMARS, INTENT_WEIGHTS, carrier_words
from catt.data.smarthome.names import _FIRST, build_inventories
from catt.data.smarthome.synthesis import HELDOUT_ACCENTS, HELDOUT_VARIANTS

LANGS = ["en", "es", "fr"]
ARTICLES = {"the", "a", "an", "el", "la", "los", "las", "un", "una", "le", "les", "une", "l"}
TEXT = re.compile(r"^[a-zà-ÿñ]+( [a-zà-ÿñ]+)*$")


@pytest.fixture(scope="module")
def tiny_plan():
    return plan_corpus("tiny", LANGS, seed=0)


def _contains(text: str, phrase: str) -> bool:
    return f" {phrase} " in f" {text} "


def test_every_grammar_has_the_intents_and_several_phrasings() -> None:
    no_entity = [
        i
        for i, alts in GRAMMARS["en"].templates.items()
        if not any("{contact}" in a or "{device}" in a for a in alts)
    ]
    assert len(no_entity) >= 5, no_entity
    for lang, grammar in GRAMMARS.items():
        assert set(grammar.templates) == set(INTENT_WEIGHTS), lang
        for intent, alts in grammar.templates.items():
            assert len(alts) >= 3, (lang, intent)
            assert len(set(alts)) == len(alts), (lang, intent)
        for intent in ("call_contact", "message_contact"):
            assert all("{contact}" in a for a in grammar.templates[intent]), (lang, intent)
        for intent in ("turn_on", "turn_off", "set_device"):
            assert all("{device}" in a for a in grammar.templates[intent]), (lang, intent)
        assert all("{number}" in a for a in grammar.templates["set_device"]), lang


def test_tiny_size_is_within_the_demo_budget() -> None:
    tiny, micro = SIZES["tiny"], SIZES["micro"]
    assert 2500 <= 3 * tiny.utterances["train"] <= 3500
    assert 120 <= 3 * tiny.utterances["dev"] <= 200 and 250 <= 3 * tiny.utterances["test"] <= 350
    assert 3 * micro.utterances["train"] <= 50 and 3 * micro.utterances["test"] <= 15
    assert SIZES["base"].contacts == (20, 300) and SIZES["base"].devices == (5, 40)


def test_texts_are_clean_and_slots_point_into_them(tiny_plan) -> None:
    lists = {h.id: h for split in SPLITS for h in tiny_plan.households[split]}
    intents: Set[str] = set()
    for split in SPLITS:
        for utt in tiny_plan.utterances[split]:
            assert TEXT.match(utt.text), utt.text
            intents.add(utt.intent)
            home = lists[utt.household]
            assert home.lang == utt.lang and utt.household.startswith(f"{utt.lang}-{split}-")
            for slot in utt.slots:
                assert utt.text[slot["start"] : slot["end"]] == slot["value"], utt
                if slot["type"] == "contact":
                    assert slot["value"] in home.contacts
                elif slot["type"] == "device":
                    assert slot["value"] in [d.name for d in home.devices]
            kinds = {s["type"] for s in utt.slots}
            assert bool(kinds & set(ENTITY_SLOTS)) == (
                utt.intent
                in {"call_contact", "message_contact", "turn_on", "turn_off", "set_device"}
            )
    assert intents == set(INTENT_WEIGHTS)


def test_households_have_sensible_lists(tiny_plan) -> None:
    spec = SIZES["tiny"]
    for split in SPLITS:
        homes = tiny_plan.households[split]
        assert len(homes) == 3 * spec.households[split]
        for home in homes:
            assert spec.contacts[0] <= len(home.contacts) <= spec.contacts[1], home.id
            assert spec.devices[0] <= len(home.devices) <= spec.devices[1], home.id
            names = list(home.contacts) + [d.name for d in home.devices]
            assert len(set(names)) == len(names), home.id
            for name in names:
                assert TEXT.match(name), name
            for device in home.devices:
                assert device.name.split()[0] not in ARTICLES, device
                assert device.gender in ("m", "f") if home.lang != "en" else device.gender == "-"


def test_heldout_names_never_occur_in_training_text(tiny_plan) -> None:
    train_texts = [u.text for u in tiny_plan.utterances["train"]]
    train_words = {w for t in train_texts for w in t.split()}
    train_phrases = {p for h in tiny_plan.households["train"] for p in h.contacts}
    checked = 0
    for split in ("dev", "test"):
        for home in tiny_plan.households[split]:
            for phrase in list(home.contacts) + [d.name for d in home.devices]:
                assert phrase not in train_phrases
                assert not any(_contains(t, phrase) for t in train_texts), phrase
                checked += 1
            for contact in home.contacts:  # every word of a held-out contact is new
                assert not set(contact.split()) & train_words, contact
    assert checked > 300


def test_adapt_names_are_new_to_every_other_split(tiny_plan) -> None:
    """The biasing stage trains on the adapt split's names: no other split may say or list one."""
    others = [u.text for s in ("train", "dev", "test") for u in tiny_plan.utterances[s]]
    other_words = {w for t in others for w in t.split()}
    other_words |= {
        w
        for s in ("train", "dev", "test")
        for h in tiny_plan.households[s]
        for phrase in list(h.contacts) + [d.name for d in h.devices]
        for w in phrase.split()
    }
    nouns = {
        w
        for inv in build_inventories(0).values()
        for n, _ in inv.nouns + inv.titles
        for w in n.split()
    }
    homes = tiny_plan.households["adapt"]
    assert len(homes) == 3 * SIZES["tiny"].households["adapt"]
    for home in homes:
        for phrase in list(home.contacts) + [d.name for d in home.devices]:
            assert not any(_contains(t, phrase) for t in others), phrase
            assert not (set(phrase.split()) - nouns) & other_words, phrase
    # Real names come respelled (``kaytlyn``), as test households hold unheard spellings.
    inv = build_inventories(seed=0, carrier_words=carrier_words())["en"]
    assert len(inv.adapt.first_names) > len(inv.seen.first_names) / 2
    assert not set(inv.adapt.first_names) & (
        set(inv.seen.first_names) | set(inv.heldout.first_names)
    )


def test_homophone_spellings_are_split_between_training_and_test() -> None:
    inv = build_inventories(seed=0, carrier_words=carrier_words())
    for lang in LANGS:
        seen, held = set(inv[lang].seen.first_names), set(inv[lang].heldout.first_names)
        assert not seen & held
        groups = [g.split() for g in _FIRST[lang].split("|") if len(g.split()) > 1]
        split_groups = [g for g in groups if set(g) & seen and set(g) & held]
        assert len(split_groups) >= len(groups) - 2, lang
    assert {"caitlin", "katelyn", "kaitlyn"} <= set(_FIRST["en"].split())


def test_voices_are_varied_and_some_held_out(tiny_plan) -> None:
    def variant(utt) -> str:
        return utt.voice.variant

    heldout_accents = {a for accents in HELDOUT_ACCENTS.values() for a in accents}
    for split in ("train", "adapt"):
        for utt in tiny_plan.utterances[split]:
            assert variant(utt) not in HELDOUT_VARIANTS and utt.voice.accent not in heldout_accents
    for split in ("dev", "test"):  # dev as test, so that tuning sees test's conditions
        utts = tiny_plan.utterances[split]
        share = sum(variant(u) in HELDOUT_VARIANTS for u in utts) / len(utts)
        assert 0.3 < share < 0.7, split
    train = tiny_plan.utterances["train"]
    assert len({u.voice.accent for u in train}) >= 9
    assert len({u.voice.variant for u in train}) >= 15
    assert len({u.voice.speed for u in train}) >= 5 and len({u.voice.pitch for u in train}) >= 5
    assert re.match(r"^[a-z0-9-]+\+\w+-s\d+-p\d+$", train[0].voice.id)


def test_plan_is_deterministic_and_per_language(tiny_plan) -> None:
    again = plan_corpus("tiny", LANGS, seed=0)
    assert again.utterances == tiny_plan.utterances and again.households == tiny_plan.households
    only_fr = plan_corpus("tiny", ["fr"], seed=0)
    fr = {s: [u for u in tiny_plan.utterances[s] if u.lang == "fr"] for s in SPLITS}
    assert only_fr.utterances == fr
    other = plan_corpus("tiny", ["fr"], seed=1)
    assert [u.text for u in other.utterances["train"]] != [u.text for u in fr["train"]]


def test_carrier_words_vary_per_intent(tiny_plan) -> None:
    per_intent: Dict[str, Set[str]] = {}
    for utt in tiny_plan.utterances["train"]:
        if utt.lang == "en":
            per_intent.setdefault(utt.intent, set()).add(utt.text.split()[0])
    assert len(per_intent["call_contact"]) >= 4 and len(per_intent["turn_on"]) >= 3


def test_spanish_and_french_articles_agree_with_the_device() -> None:
    plan = plan_corpus("tiny", ["es", "fr"], seed=0)
    homes = {h.id: h for s in SPLITS for h in plan.households[s]}
    seen: List[str] = []
    for utt in plan.utterances["train"]:
        for slot in utt.slots:
            if slot["type"] != "device":
                continue
            gender = next(d.gender for d in homes[utt.household].devices if d.name == slot["value"])
            article = utt.text[: slot["start"]].split()[-1]
            expected = {("es", "m"): "el", ("es", "f"): "la", ("fr", "m"): "le", ("fr", "f"): "la"}
            assert article == expected[(utt.lang, gender)], utt.text
            seen.append(article)
    assert {"el", "la", "le"} <= set(seen)


@pytest.mark.parametrize("size", ["micro", "tiny"])
def test_heldout_lists_use_only_characters_of_the_training_text(size: str) -> None:
    plan = plan_corpus(size, LANGS, seed=0)
    for lang in LANGS:
        chars = {c for u in plan.utterances["train"] if u.lang == lang for c in u.text}
        for split in ("adapt", "dev", "test"):
            for home in plan.households[split]:
                if home.lang == lang:
                    names = list(home.contacts) + [d.name for d in home.devices]
                    assert len(home.contacts) >= SIZES[size].contacts[0], home.id
                    assert len(home.devices) >= SIZES[size].devices[0], home.id
                    assert all(set(n) <= chars for n in names), home.id


def test_invented_names_look_like_names(tiny_plan) -> None:
    names = [c for h in tiny_plan.households["train"] for c in h.contacts]
    assert all(not re.search(r"(.)\1\1", n) for n in names)
    assert max(len(w) for n in names for w in n.split()) <= 14


def test_training_names_have_a_long_tail() -> None:
    """A fair share of the name words said in base training text is heard at most 5 times, so
    the model cannot learn every name by heart and has a reason to read the phrase list."""
    plan = plan_corpus("base", LANGS, seed=0)
    counts: Counter = Counter()
    for utt in plan.utterances["train"]:
        for slot in utt.slots:
            if slot["type"] in ("contact", "device"):
                counts.update(slot["value"].split())
    rare = sum(n for n in counts.values() if n <= 5)
    assert rare / sum(counts.values()) >= 0.15
