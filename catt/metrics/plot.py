"""distractors.png: B-WER and slot accuracy against the number of distractors, per mode.

A mode is (deep biasing, boosting, list resolution: each on or off) among the conditions that
decode with a list; conditions with none (no context) are drawn as horizontal reference lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

from catt.io import atomic_path
from catt.metrics.results import NO_CONTEXT, condition_mode

__all__ = ["plot_distractors"]

PathLike = Union[str, Path]

_PANELS = (("b_wer", "B-WER (%)"), ("slot_acc", "slot accuracy (%)"))
_MODE_STYLE = {  # mode: (legend label, color, marker)
    "deep": ("deep biasing", "tab:blue", "o"),
    "boost": ("boosting", "tab:orange", "s"),
    "deep+boost": ("deep biasing + boosting", "tab:green", "^"),
    "deep+boost+resolve": ("deep biasing + boosting + resolution", "tab:purple", "v"),
    "resolve": ("resolution", "tab:brown", "P"),
}


def _modes(conditions: Sequence[Mapping[str, Any]]) -> Dict[str, List[Mapping[str, Any]]]:
    """Conditions grouped by mode (no-context ones under ``no context``), sorted by distractors."""
    modes: Dict[str, List[Mapping[str, Any]]] = {}
    for cond in conditions:
        modes.setdefault(condition_mode(cond), []).append(cond)
    for conds in modes.values():
        conds.sort(key=lambda c: c["distractors"])
    return modes


def _points(conds: Sequence[Mapping[str, Any]], key: str) -> Tuple[List[int], List[float]]:
    pairs = [(c["distractors"], c[key]) for c in conds if c[key] is not None]
    return [x for x, _ in pairs], [y for _, y in pairs]


def _draw_panel(ax: Any, modes: Dict[str, List[Mapping[str, Any]]], key: str, label: str) -> None:
    from matplotlib.ticker import NullLocator

    xs = sorted({c["distractors"] for conds in modes.values() for c in conds} | {0})
    for mode, conds in modes.items():
        if mode == NO_CONTEXT:
            for cond in conds:
                if cond[key] is not None:
                    name = "no context" if len(conds) == 1 else f"no context ({cond['name']})"
                    ax.axhline(cond[key], color="0.35", linestyle="--", linewidth=1.2, label=name)
            continue
        x, y = _points(conds, key)
        name, color, marker = _MODE_STYLE.get(mode, (mode, "tab:red", "D"))
        ax.plot(x, y, color=color, marker=marker, markersize=7, linewidth=1.8, label=name)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1.0))
    ax.set_xlim(-0.6, max(xs) * 1.6 + 1)
    ax.set_xlabel("distractors added to the household list")
    ax.set_ylabel(label)
    ax.set_title(label.split(" (")[0] + " vs. distractors")
    ax.grid(True, alpha=0.3)


def plot_distractors(conditions: Sequence[Mapping[str, Any]], path: PathLike) -> None:
    """Draw B-WER and slot accuracy against the distractor count into ``path`` (PNG, atomic).

    ``conditions`` are report.json condition entries (name, distractors, deep_biasing, boost,
    resolve and the metrics ``b_wer``, ``slot_acc``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    modes = _modes(conditions)
    fig = Figure(figsize=(11, 4.4), dpi=110)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(_PANELS))
    for ax, (key, label) in zip(axes, _PANELS):
        _draw_panel(ax, modes, key, label)
    legend: Dict[str, Any] = {}
    for ax in axes:
        for handle, name in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(name, handle)
    order = ["no context", *(style[0] for style in _MODE_STYLE.values())]
    names = sorted(legend, key=lambda n: (order.index(n) if n in order else len(order), n))
    if names:
        handles = [legend[n] for n in names]
        fig.legend(handles, names, loc="lower center", ncol=len(names))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
