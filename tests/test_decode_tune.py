"""``catt tune``: the boost and the transducer weight chosen on dev, as the goals judge them."""

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

import catt.decode.tune as tune_module
from catt.cli import main
from catt.decode.tune import (
    TUNING_FILE,
    Trial,
    choose,
    render_tuning,
    tune_weights,
    tuned_decoding,
)
from catt.errors import CattError
from catt.text.tags import parse_tagged

REF_CALL = "<call_contact> call <contact> stephen fitzgerald </contact> now please"
REF_LIGHTS = "<dim> turn the lights down a bit"
LIST = ["stephen fitzgerald"]

# What the stand-in decoder hears for each setting (boost, transducer weight): (call, lights).
# No list: both B-words wrong, one U-word wrong. Boost 1 mends one B-word; boost 2 both, but it
# costs a U-word (U-WER 1/9 -> 2/9: over the +5 % allowed). At boost 1, the transducer weight 0.5
# mends the second B-word. Without resolution (weight None) boost 0.5 mends one B-word and boost 1
# none: the mode's own best boost is not the resolved mode's.
CALL_0 = "<call_contact> call <contact> steven fitzgeral </contact> now please"
CALL_1 = "<call_contact> call <contact> stephen fitzgeral </contact> now please"
LIGHTS_0 = "<dim> turn the light down a bit"
LIGHTS_2 = "<dim> turn the light down a bid"
# Each utterance is written this many times, so that one B-word mended is 20 errors fewer: more
# than one standard error (the boosts' ties, :func:`catt.decode.tune.choose`).
COPIES = 20
HEARD = {
    "no-context": (CALL_0, LIGHTS_0),
    (0.5, 0.25): (CALL_0, LIGHTS_0),
    (1.0, 0.25): (CALL_1, LIGHTS_0),
    (2.0, 0.25): (REF_CALL, LIGHTS_2),
    (1.0, 0.0): (CALL_0, LIGHTS_0),
    (1.0, 0.5): (REF_CALL, LIGHTS_0),
    (0.5, None): (CALL_1, LIGHTS_0),
    (1.0, None): (CALL_0, LIGHTS_0),
}


def _line(uid: str, ref: str, hyp: str, condition: str, **settings: Any) -> str:
    record = {
        "id": uid,
        "condition": condition,
        "distractors": settings["distractors"] if settings["context"] else 0,
        "deep_biasing": settings["context"],
        "boost": settings["boost"],
        "resolve": settings.get("resolve", False),
        "language": "en",
        "household": "h1",
        "biasing_list": LIST,
        "ref_tagged": ref,
        "hyp_tagged": hyp,
        "ref": parse_tagged(ref).to_dict(),
        "hyp": parse_tagged(hyp).to_dict(),
    }
    return json.dumps(record) + "\n"


@pytest.fixture()
def decodes(monkeypatch: pytest.MonkeyPatch) -> List[Dict[str, Any]]:
    """Replace the decoder by one that writes the HEARD hypotheses; record each call."""
    calls: List[Dict[str, Any]] = []

    def fake_decode(*, out_path: Path, condition: str, **settings: Any) -> Path:
        calls.append(settings)
        more = settings.get("more_weights", [])
        first = settings.get("resolve_transducer") if settings.get("resolve") else None
        for weight, path, name in [(first, out_path, condition), *more]:
            key = (settings["boost"], weight) if settings["context"] else "no-context"
            # a setting the story leaves out hears what the default weight does
            call, lights = HEARD.get(key) or HEARD[(settings["boost"], 0.25)]
            written = {**settings, "resolve": weight is not None}
            text = ""
            for k in range(COPIES):
                text += _line(f"u1-{k}", REF_CALL, call, name, **written)
                text += _line(f"u2-{k}", REF_LIGHTS, lights, name, **written)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
        return Path(out_path)

    monkeypatch.setattr(tune_module, "decode_condition", fake_decode)
    return calls


def _tune(out: Path, **kwargs: Any) -> Dict[str, Any]:
    return tune_weights(
        model_path="model.pt",
        data_dir="data",
        out_dir=out,
        boosts=kwargs.pop("boosts", (2.0, 0.5, 1.0)),
        transducer_weights=kwargs.pop("transducer_weights", (0.0, 0.25, 0.5)),
        **kwargs,
    )


def test_tune_keeps_the_boost_that_spares_u_wer_and_the_best_transducer_weight(
    tmp_path: Path, decodes: List[Dict[str, Any]]
) -> None:
    tuning = _tune(tmp_path / "tune")
    assert tuning["boost"] == 1.0  # boost 2 has a lower B-WER, but raises U-WER 11 -> 22 %
    assert tuning["resolve_transducer"] == 0.5
    assert tuning["boost_without_resolution"] == 0.5  # from the same searches, unresolved
    plain = tuning["boost_without_resolution_trials"]
    assert [(t["value"], t["b_wer"], t["u_wer_allowed"]) for t in plain] == [
        (0.5, 50.0, True),
        (1.0, 100.0, True),
        (2.0, 0.0, False),
    ]
    assert tuning["boost_trials_weight"] == 0.25
    assert [t["value"] for t in tuning["boost_trials"]] == [0.5, 1.0, 2.0]
    assert [t["u_wer_allowed"] for t in tuning["boost_trials"]] == [True, True, False]
    assert tuning["boost_trials"][2]["b_wer"] == 0.0
    assert [t["b_wer"] for t in tuning["resolve_transducer_trials"]] == [100.0, 50.0, 0.0]
    assert tuning["no_context"] == {"b_wer": 100.0, "u_wer": pytest.approx(100 / 9)}
    # Every decode with a list resolved, on dev, with the list + 100; each boost's search
    # resolved under the whole weight grid and kept unresolved, so the weight trials and the
    # mode without resolution need no search of their own.
    assert {(c["split"], c["distractors"]) for c in decodes if c["context"]} == {("dev", 100)}
    assert [c["boost"] for c in decodes[1:]] == [0.5, 1.0, 2.0]
    for c in decodes[1:]:
        assert c["resolve"] and c["resolve_transducer"] == 0.25
        assert [w for w, _, _ in c["more_weights"]] == [0.0, 0.5, None]
    assert (tmp_path / "tune" / "deep+boost-2+resolve-0.5+100.jsonl").is_file()
    assert (tmp_path / "tune" / "deep+boost-2+100.jsonl").is_file()
    assert json.loads((tmp_path / "tune" / TUNING_FILE).read_text()) == tuning
    text = render_tuning(tuning)
    assert "chosen: boost 1, transducer weight 0.5; without resolution, boost 0.5" in text
    assert "no weight keeps U-WER within" not in text


def test_save_to_model_stores_the_mode_and_weights_chosen(
    tmp_path: Path, decodes: List[Dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    stored: List[tuple] = []
    monkeypatch.setattr(tune_module, "store_decoding", lambda *args: stored.append(args))
    _tune(tmp_path / "plain")
    assert stored == []  # tuning alone leaves the model file as it is
    tuning = _tune(tmp_path / "tune", save_to_model=True)
    expected = {"deep_biasing": True, "boost": 1.0, "resolve": True, "resolve_transducer": 0.5}
    expected["boost_without_resolution"] = tuning["boost_without_resolution"]
    assert tuning["boost_without_resolution"] == 0.5  # not the resolved mode's boost
    assert stored == [("model.pt", expected)] and tuned_decoding(tuning) == expected


def test_tune_resumes_from_the_decodes_it_has(
    tmp_path: Path, decodes: List[Dict[str, Any]]
) -> None:
    first = _tune(tmp_path / "tune")
    assert len(decodes) == 4  # no list, then each boost (its search resolved at every weight)
    again = _tune(tmp_path / "tune")
    assert len(decodes) == 4 and again == first
    # a run stopped before a weight's file was written decodes that weight alone
    (tmp_path / "tune" / "deep+boost-1+resolve-0.5+100.jsonl").unlink()
    assert _tune(tmp_path / "tune") == first
    assert len(decodes) == 5 and decodes[-1]["resolve_transducer"] == 0.5
    assert decodes[-1]["more_weights"] == []
    # a tuning from before the mode without resolution was tuned decodes it alone, unresolved
    (tmp_path / "tune" / "deep+boost-2+100.jsonl").unlink()
    assert _tune(tmp_path / "tune") == first
    assert len(decodes) == 6 and not decodes[-1]["resolve"] and decodes[-1]["boost"] == 2.0
    assert decodes[-1]["more_weights"] == []


def test_a_looser_u_wer_bound_lets_the_stronger_boost_in(
    tmp_path: Path, decodes: List[Dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for weight in (0.0, 0.5):
        monkeypatch.setitem(HEARD, (2.0, weight), (REF_CALL, LIGHTS_2))
    assert _tune(tmp_path / "tune", max_u_wer_rise=100.0)["boost"] == 2.0


def test_choose_rebases_the_bound_on_the_least_harm_when_none_is_allowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    trials = [Trial(1.0, 5.0, 3.0), Trial(2.0, 2.0, 4.0)]
    assert choose(trials, base_u_wer=2.0, max_rise=5.0) == 1.0
    assert "every value raises dev U-WER" in caplog.text
    # a word more on dev (3.10 against 3.07, within 5 %) does not cost the lower B-WER
    trials = [Trial(0.0, 4.4, 3.07), Trial(0.25, 4.0, 3.10), Trial(0.5, 3.0, 3.3)]
    assert choose(trials, base_u_wer=2.9, max_rise=5.0) == 0.25


def test_the_gentlest_boost_within_one_standard_error_of_the_fewest_errors() -> None:
    # 29 errors at 1.5: 30 and 34 are within sqrt(29) = 5.4 of it, 35 is not
    trials = [Trial(0.5, 2.7, 2.7, 35), Trial(1.0, 2.4, 2.9, 34), Trial(1.5, 2.3, 2.8, 29)]
    assert choose(trials, 3.1, 5.0) == 1.5
    assert choose(trials, 3.1, 5.0, gentlest_within_noise=True) == 1.0
    # only among the values U-WER allows, and only where the errors were counted
    trials[1] = Trial(1.0, 2.4, 3.5, 30)
    assert choose(trials, 3.1, 5.0, gentlest_within_noise=True) == 1.5
    uncounted = [Trial(0.5, 2.4, 2.7), Trial(1.0, 2.3, 2.7)]
    assert choose(uncounted, 3.1, 5.0, gentlest_within_noise=True) == 1.0


def test_the_account_says_when_no_value_kept_u_wer_within_the_bound() -> None:
    def trial(value: float, b_wer: float, u_wer: float, allowed: bool) -> Dict[str, Any]:
        return {"value": value, "b_wer": b_wer, "u_wer": u_wer, "u_wer_allowed": allowed}

    tuning = {
        "split": "dev",
        "distractors": 100,
        "max_u_wer_rise": 5.0,
        "no_context": {"b_wer": 73.8, "u_wer": 2.9},
        "boost_trials_weight": 0.25,
        "boost_trials": [trial(0.5, 5.0, 2.95, True), trial(1.0, 4.0, 3.1, False)],
        "boost": 0.5,
        "resolve_transducer_trials": [trial(0.0, 4.4, 3.07, False), trial(0.25, 4.0, 3.1, False)],
        "resolve_transducer": 0.25,
        "boost_without_resolution_trials": [trial(0.5, 20.0, 4.0, False)],
        "boost_without_resolution": 0.5,
    }
    text = render_tuning(tuning)
    assert "no weight keeps U-WER within +5 %" in text and "no boost keeps" not in text
    assert "no boost without resolution keeps U-WER within +5 %" in text


def test_choose_skips_trials_with_nothing_to_score_and_breaks_ties_low() -> None:
    trials = [Trial(0.0, None, 1.0), Trial(0.5, 4.0, 1.0), Trial(0.25, 4.0, 1.0)]
    assert choose(trials, base_u_wer=None, max_rise=5.0) == 0.25


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"boosts": (1.0, -1.0)}, "boost must be a finite number >= 0"),
        ({"transducer_weights": (0.5, 1.5)}, "resolve_transducer must be in [0, 1]"),
        ({"boosts": ()}, "give at least one value"),
        ({"max_u_wer_rise": -1.0}, "U-WER rise allowed must be >= 0"),
    ],
)
def test_tune_rejects_a_bad_grid_before_decoding(
    tmp_path: Path, decodes: List[Dict[str, Any]], kwargs: Dict[str, Any], message: str
) -> None:
    with pytest.raises(CattError, match=message.replace("[", r"\[").replace("]", r"\]")):
        _tune(tmp_path / "tune", **kwargs)
    assert decodes == []


def test_cli_tune_prints_the_choice_and_fails_cleanly(
    tmp_path: Path, decodes: List[Dict[str, Any]], capsys: pytest.CaptureFixture
) -> None:
    args = ["tune", "--model", "m.pt", "--data", "d", "--out", str(tmp_path / "t")]
    assert main(args + ["--boosts", "0.5,1,2"]) == 0
    assert "chosen: boost 1, transducer weight 0.5" in capsys.readouterr().out
    assert main(args + ["--transducer-weights", "0,2"]) == 2
    assert "resolve_transducer must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(args + ["--boosts", "one,two"])
    assert exit_info.value.code == 2
    assert "expected numbers separated by commas" in capsys.readouterr().err
