"""``catt tune``: choose a model's decoding weights on a dev split, the way the goals judge them.

Two weights belong to a model, not to the toolkit: the boost of shallow fusion and the
transducer's weight in list resolution. docs/results.md measured a different best for each model
(the rescoring weight 0.5 for one run, 0.25 or 0 for three others). Both are chosen in the mode a
user runs, deep biasing + boosting + list resolution, with the list plus ``distractors``.
:func:`tune_weights` decodes the dev split

1. without a list: the reference U-WER;
2. at each boost of the grid, with the default transducer weight (0.25; the grid's first weight
   when 0.25 is not in it);
3. with the boost kept, at each transducer weight of the grid.

Step 2 resolves each boost's search under every weight of the grid at once (the search does not
depend on the weight), so step 3 finds its files decoded already: two fewer searches of the
split with the default grids. Step 2 also keeps each search unresolved, and a second boost is
chosen on those, for deep biasing + boosting without resolution: the best boost of one mode is
not that of the other (docs/results.md measured test B-WER -73 % at boost 0.5 and -26 % at 1.5
without resolution, where dev chose 1.5 for the mode with it).

In steps 2 and 3 the value kept is the one with the lowest B-WER among those whose U-WER stays
within ``max_u_wer_rise`` percent (relative) of (1), the goal's own bound. When none does, the
list raises U-WER whatever the value: the bound is then taken from the trial with the lowest
U-WER instead of (1), so that a difference of a word or two on dev does not cost the B-WER the
list is for. Ties go to the smaller value, the gentler setting. For the boosts a tie is wider:
a boost whose dev B errors exceed the fewest by at most their square root (one standard
error, counting errors as Poisson) is as good on dev, and the smallest such boost is kept, since
a larger boost biases unrelated words more. On the smart-home base model, dev's 29 B errors at
boost 1.5 against 30 at 1 and 32 at 0.5 chose 1.5, at which English U-WER rose 14 % over no
list on test, against 0 % at 0.5 (docs/results.md). Each decode is a
results file in ``out_dir`` and is reused when it exists, so an interrupted run resumes. The
choice and every trial's scores go to ``out_dir/tuning.json``; with ``save_to_model`` the mode
chosen (:func:`tuned_decoding`) also goes into the model file, where ``catt transcribe`` and
``catt.load()`` take it as their default.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from catt.decode.decode_set import Decoders, decode_condition
from catt.decode.options import DecodingOptions
from catt.errors import CattError
from catt.io import atomic_write_text
from catt.metrics.report import score_utterances
from catt.metrics.results import load_results
from catt.model.checkpoint import store_decoding

__all__ = [
    "TUNING_FILE",
    "Trial",
    "choose",
    "render_tuning",
    "tune_weights",
    "tuned_decoding",
    "u_wer_allowed",
]

logger = logging.getLogger(__name__)

TUNING_FILE = "tuning.json"
"""The file :func:`tune_weights` writes in its ``out_dir``."""


@dataclass(frozen=True)
class Trial:
    """One decoded setting and its dev scores (percent; None when there is nothing to score)."""

    value: float
    b_wer: Optional[float]
    u_wer: Optional[float]
    b_errors: Optional[int] = None


def _b_wer_key(trial: Trial) -> tuple:
    b_wer = math.inf if trial.b_wer is None else trial.b_wer
    return (b_wer, trial.value)


def u_wer_allowed(trial: Trial, base_u_wer: Optional[float], max_rise: float) -> bool:
    """True when the trial's U-WER is within ``max_rise`` percent (relative) of ``base_u_wer``.

    >>> u_wer_allowed(Trial(1.0, 5.0, 2.1), 2.0, 5.0), u_wer_allowed(Trial(2.0, 4.0, 2.2), 2.0, 5.0)
    (True, False)
    """
    if base_u_wer is None or trial.u_wer is None:
        return True
    return trial.u_wer <= base_u_wer * (1 + max_rise / 100) + 1e-9


def choose(
    trials: Sequence[Trial],
    base_u_wer: Optional[float],
    max_rise: float,
    *,
    gentlest_within_noise: bool = False,
) -> float:
    """The value with the lowest B-WER among those that keep U-WER within ``max_rise`` percent
    of ``base_u_wer``.

    When none does, among those within ``max_rise`` percent of the lowest U-WER of any trial,
    with a warning. With ``gentlest_within_noise``, the smallest value among those whose
    ``b_errors`` exceed the best trial's by at most their square root (one standard error).

    >>> trials = [Trial(0.5, 30.0, 2.0), Trial(1.0, 25.0, 2.05), Trial(2.0, 10.0, 3.0)]
    >>> choose(trials, base_u_wer=2.0, max_rise=5.0)
    1.0
    >>> choose([Trial(0.0, 1.5, 3.0), Trial(0.25, 1.4, 3.0)], base_u_wer=2.0, max_rise=5.0)
    0.25
    >>> choose([Trial(0.0, 4.4, 3.07), Trial(0.25, 4.0, 3.10), Trial(0.5, 3.0, 3.5)], 2.9, 5.0)
    0.25
    >>> boosts = [Trial(0.5, 2.6, 2.7, 32), Trial(1.0, 2.4, 2.9, 30), Trial(1.5, 2.3, 2.8, 29)]
    >>> choose(boosts, 3.1, 5.0), choose(boosts, 3.1, 5.0, gentlest_within_noise=True)
    (1.5, 0.5)
    """
    if not trials:
        raise CattError("no value to choose from")
    allowed = [t for t in trials if u_wer_allowed(t, base_u_wer, max_rise)]
    if allowed:
        return _best(allowed, gentlest_within_noise).value
    least = min(t.u_wer for t in trials if t.u_wer is not None)  # some is, or all were allowed
    kept = [t for t in trials if u_wer_allowed(t, least, max_rise)]
    best = _best(kept, gentlest_within_noise)
    logger.warning(
        "every value raises dev U-WER by more than %g %% over no list (%s %%); keeping %g, the "
        "lowest B-WER within %g %% of the least U-WER of any value (%s %%)",
        max_rise,
        base_u_wer,
        best.value,
        max_rise,
        least,
    )
    return best.value


def _best(trials: Sequence[Trial], gentlest_within_noise: bool) -> Trial:
    """The trial of the lowest B-WER; or the smallest value within one standard error of it."""
    best = min(trials, key=_b_wer_key)
    if not gentlest_within_noise or best.b_errors is None:
        return best
    bound = best.b_errors + math.sqrt(best.b_errors)
    near = [t for t in trials if t.b_errors is not None and t.b_errors <= bound]
    return min(near, key=lambda t: t.value)


def _check_grid(name: str, values: Sequence[float]) -> List[float]:
    """The grid sorted, each value validated as a :class:`DecodingOptions` field."""
    if not values:
        raise CattError(f"{name}: give at least one value")
    for v in values:
        DecodingOptions(**{name: v})  # raises InvalidOptionError, a CattError
    return sorted(set(float(v) for v in values))


def _rows(trials: Sequence[Trial], base_u_wer: Optional[float], max_rise: float) -> List[dict]:
    """The trials as JSON rows, each with whether its U-WER is within the bound."""
    return [{**asdict(t), "u_wer_allowed": u_wer_allowed(t, base_u_wer, max_rise)} for t in trials]


def _scores(path: Path) -> Dict[str, Any]:
    (results,) = load_results([path]).values()
    return score_utterances(results)


def tune_weights(
    *,
    model_path: Union[str, Path],
    data_dir: Union[str, Path],
    out_dir: Union[str, Path],
    split: str = "dev",
    boosts: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    transducer_weights: Sequence[float] = (0.0, 0.25, 0.5),
    distractors: int = 100,
    max_u_wer_rise: float = 5.0,
    limit: Optional[int] = None,
    save_to_model: bool = False,
    jobs: int = 1,
) -> Dict[str, Any]:
    """Decode ``split`` under every setting of the grids and choose the boost and the weight.

    Writes ``out_dir/tuning.json`` (atomically) and returns its content: ``boost``,
    ``resolve_transducer``, ``boost_without_resolution``, the no-list scores and every trial's
    ``b_wer``/``u_wer``. ``jobs``:
    the decoding processes (:class:`~catt.decode.decode_set.Decoders`), shared by every search.
    """
    boosts = _check_grid("boost", boosts)
    transducer_weights = _check_grid("resolve_transducer", transducer_weights)
    if not (math.isfinite(max_u_wer_rise) and max_u_wer_rise >= 0):
        raise CattError(f"tune: the U-WER rise allowed must be >= 0 %, got {max_u_wer_rise}")
    out_dir = Path(out_dir)
    decoders = Decoders(model_path, jobs)  # one set of processes for every search
    common = dict(
        model_path=model_path,
        data_dir=data_dir,
        split=split,
        beam=DecodingOptions.beam,
        seed=0,
        limit=limit,
        deep_biasing=True,
        jobs=jobs,
        decoders=decoders,
    )

    def path(name: str) -> Path:
        return out_dir / f"{name}.jsonl"

    def name(boost: float, weight: Optional[float]) -> str:
        if weight is None:
            return f"deep+boost-{boost:g}+{distractors}"
        return f"deep+boost-{boost:g}+resolve-{weight:g}+{distractors}"

    def search(boost: float, weights: Sequence[Optional[float]]) -> None:
        """One search at ``boost`` written under each of ``weights`` (None: unresolved) whose
        file is missing: a boost's search serves the whole weight grid and the mode without
        resolution, so step 3 finds its files decoded already."""
        missing = [w for w in weights if not path(name(boost, w)).is_file()]
        missing.sort(key=lambda w: w is None)  # a resolved output first: it turns resolution on
        if not missing:
            logger.info("%s: decoded already (%s)", name(boost, weights[0]), out_dir)
            return
        first, *more = missing
        decode_condition(
            out_path=path(name(boost, first)),
            condition=f"{split}:{name(boost, first)}",
            **common,
            context=True,
            distractors=distractors,
            boost=boost,
            resolve=first is not None,
            resolve_transducer=DecodingOptions.resolve_transducer if first is None else first,
            more_weights=[(w, path(name(boost, w)), f"{split}:{name(boost, w)}") for w in more],
        )

    def trial(value: float, boost: float, weight: Optional[float]) -> Trial:
        others = [w for w in transducer_weights if w != weight]
        search(boost, [weight, *others, None])
        s = _scores(path(name(boost, weight)))
        return Trial(value, s["b_wer"], s["u_wer"], sum(s["b_errors"].values()))

    with decoders:
        base_path = path("no-context")
        if base_path.is_file():
            logger.info("no-context: decoded already (%s)", base_path)
        else:
            decode_condition(
                out_path=base_path,
                condition=f"{split}:no-context",
                **common,
                context=False,
                distractors=0,
                boost=0.0,
            )
        base = _scores(base_path)
        first_weight = DecodingOptions.resolve_transducer
        if first_weight not in transducer_weights:
            first_weight = transducer_weights[0]
        boost_trials = [trial(boost, boost, first_weight) for boost in boosts]
        boost = choose(boost_trials, base["u_wer"], max_u_wer_rise, gentlest_within_noise=True)
        weight_trials = [trial(weight, boost, weight) for weight in transducer_weights]
        plain_trials = [trial(boost, boost, None) for boost in boosts]
    tuning = {
        "model": str(model_path),
        "split": split,
        "distractors": distractors,
        "max_u_wer_rise": max_u_wer_rise,
        "boost": boost,
        "resolve_transducer": choose(weight_trials, base["u_wer"], max_u_wer_rise),
        "boost_without_resolution": choose(
            plain_trials, base["u_wer"], max_u_wer_rise, gentlest_within_noise=True
        ),
        "no_context": {"b_wer": base["b_wer"], "u_wer": base["u_wer"]},
        "boost_trials_weight": first_weight,
        "boost_trials": _rows(boost_trials, base["u_wer"], max_u_wer_rise),
        "resolve_transducer_trials": _rows(weight_trials, base["u_wer"], max_u_wer_rise),
        "boost_without_resolution_trials": _rows(plain_trials, base["u_wer"], max_u_wer_rise),
    }
    atomic_write_text(out_dir / TUNING_FILE, json.dumps(tuning, indent=2) + "\n")
    if save_to_model:
        store_decoding(model_path, tuned_decoding(tuning))
        logger.info("%s: the tuned settings are its decoding defaults now", model_path)
    return tuning


def tuned_decoding(tuning: Dict[str, Any]) -> Dict[str, Any]:
    """The :class:`DecodingOptions` fields a tuning chose: the mode it tuned in, its weights,
    and the boost for the search without resolution (None from a tuning that has none).

    >>> tuned_decoding({"boost": 0.5, "resolve_transducer": 0.25, "boost_without_resolution": 1})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'deep_biasing': True, 'boost': 0.5, 'resolve': True, 'resolve_transducer': 0.25,
     'boost_without_resolution': 1}
    """
    return {
        "deep_biasing": True,
        "boost": tuning["boost"],
        "resolve": True,
        "resolve_transducer": tuning["resolve_transducer"],
        "boost_without_resolution": tuning.get("boost_without_resolution"),
    }


def render_tuning(tuning: Dict[str, Any]) -> str:
    """A short markdown account of a :func:`tune_weights` result."""

    def pct(v: Optional[float]) -> str:
        return "-" if v is None else f"{v:.2f}"

    def rows(trials: List[Dict[str, Any]]) -> List[str]:
        return [
            f"| {t['value']:g} | {pct(t['b_wer'])} | {t.get('b_errors', '-')} | "
            f"{pct(t['u_wer'])} | {'yes' if t['u_wer_allowed'] else 'no'} |"
            for t in trials
        ]

    n, base, bound = tuning["distractors"], tuning["no_context"], tuning["max_u_wer_rise"]
    mode = f"deep biasing + boosting + resolution, list + {n}"
    header = f"| B-WER | B errors | U-WER | U-WER within +{bound:g} % |"
    lines = [
        f"{tuning['split']}, no list: B-WER {pct(base['b_wer'])} %, U-WER {pct(base['u_wer'])} %",
        "",
        f"| boost ({mode}, transducer weight {tuning['boost_trials_weight']:g}) {header}",
        "|---|---|---|---|---|",
        *rows(tuning["boost_trials"]),
        "",
        f"| transducer weight ({mode}, boost {tuning['boost']:g}) {header}",
        "|---|---|---|---|---|",
        *rows(tuning["resolve_transducer_trials"]),
        "",
        f"| boost (deep biasing + boosting, list + {n}, no resolution) {header}",
        "|---|---|---|---|---|",
        *rows(tuning["boost_without_resolution_trials"]),
        "",
        f"chosen: boost {tuning['boost']:g}, transducer weight {tuning['resolve_transducer']:g}; "
        f"without resolution, boost {tuning['boost_without_resolution']:g} (of the boosts within "
        "one standard error, the square root, of the fewest B errors, the smallest)",
    ]
    tables = (
        ("boost_trials", "boost", ""),
        ("resolve_transducer_trials", "weight", ""),
        ("boost_without_resolution_trials", "boost", " without resolution"),
    )
    for name, what, mode in tables:
        if not any(t["u_wer_allowed"] for t in tuning[name]):
            lines.append(
                f"(no {what}{mode} keeps U-WER within +{bound:g} %: the {what} kept has the "
                f"lowest B-WER of those within +{bound:g} % of the lowest U-WER of its table)"
            )
    return "\n".join(lines)
