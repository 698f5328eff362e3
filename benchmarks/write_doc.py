"""Write docs/benchmarks.md and the decoding-time plot from the benchmark results (JSON files).

    python benchmarks/write_doc.py --results benchmarks/results --doc docs/benchmarks.md \\
        --img docs/img/decode_time_vs_list.png
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from benchlib import REPO

from catt.io import atomic_path, atomic_write_text

NAMES = ("train", "augment", "loader", "loss", "decode", "decode_jobs", "resolve", "model")
MODES = {
    "none": "no list",
    "deep": "deep biasing",
    "boost": "boosting",
    "deep_tokens": "deep biasing, token vectors",
    "deep_pointer": "deep biasing, list pointer",
    "deep_phrase_pointer": "deep biasing, list pointer scoring phrases",
}
LIST_MODES = ("deep", "boost", "deep_tokens", "deep_pointer", "deep_phrase_pointer")
SEARCHES = {"greedy": "greedy", "beam4": "beam 4"}


def load_results(folder: Path) -> Dict[str, Dict[str, Any]]:
    """``{name: result}`` for each ``folder/{name}.json`` that exists."""
    out = {}
    for name in NAMES:
        path = folder / f"{name}.json"
        if path.is_file():
            out[name] = json.loads(path.read_text(encoding="utf-8"))
    return out


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> List[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _f(value: Optional[float], digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _met(met: bool) -> str:
    return "met" if met else "**not met**"


def machine_section(results: Dict[str, Dict[str, Any]]) -> List[str]:
    """The machine the figures come from."""
    if not results:
        return ["No results yet: run `make bench`.", ""]
    m = next(iter(results.values()))["machine"]
    quick = any(r.get("quick") for r in results.values())
    cpus = sorted({r["machine"]["cpu"] for r in results.values()})
    runs = ", ".join(
        f"{name} {r['machine']['date']} (load {r['machine'].get('loadavg_1min', 'n/a')}"
        + (f", `{r['machine']['cpu']}`" if len(cpus) > 1 else "")
        + ")"
        for name, r in results.items()
    )
    cpu = f"CPU `{m['cpu']}`" if len(cpus) == 1 else "CPU as given for each benchmark"
    lines = [
        f"Measured on {m['nproc']} cores (`nproc`), {cpu} (/proc/cpuinfo), "
        f"{m['mem_gb']} GB RAM, Python {m['python']}, torch {m['torch']}, k2 {m['k2']}. When "
        "each benchmark ended, and the one-minute load average then (other work on the machine "
        f"slows the figures down): {runs}.",
        "",
    ]
    if quick:
        lines += [
            "**These are `--quick` results (tiny sizes): they only show the scripts run.**",
            "",
        ]
    return lines


def goals_section(results: Dict[str, Dict[str, Any]]) -> List[str]:
    """Every goal of the issue, met or not, with its figure."""
    rows = []
    loss = results.get("loss")
    if loss:
        c = loss["cases"]
        figure = (
            f"{loss['memory_ratio']:.1f}x ({c['full']['peak_mb']:.0f} MB full, "
            f"{c['pruned']['peak_mb']:.0f} MB pruned)"
        )
        rows.append([loss["goal"]["text"], figure, _met(loss["goal"]["met"])])
    decode = results.get("decode")
    if decode:
        for g in decode["goals"]:
            if "adds" in g["text"]:
                figure = f"{g['value']:+.0f} %"
            elif "encoding" in g["text"]:
                figure = f"{g['value']:.2f} s"
            else:
                figure = f"RTF {g['value']:.4f}"
            rows.append([g["text"], figure, _met(g["met"])])
    if not rows:
        return ["No goal measured yet.", ""]
    return table(["goal", "figure", "status"], rows)


def train_section(r: Optional[Dict[str, Any]]) -> List[str]:
    """Training throughput table."""
    if r is None:
        return ["Not run.", ""]
    rows = []
    for c in r["configs"].values():
        rows.append(
            [
                f"`{c['config']}`" + "".join(f" `--set {o}`" for o in c.get("overrides", [])),
                f"{c['parameters']:,}",
                f"{c['batch_utterances']} utts, {c['batch_audio_s']:.0f} s, "
                f"{c['phrases_per_batch']} phrases",
                _f(c["step_s"], 2),
                _f(c["audio_s_per_s"], 1),
                f"{c['peak_mb']:.0f}",
                _duration(c["step_s"] * c["max_steps"]) if c.get("max_steps") else "n/a",
            ]
        )
    header = ["config", "parameters", "batch", "step (s)", "audio s / wall s", "peak MB"]
    lines = table([*header, "max_steps x step"], rows)
    return lines + [
        f"Threads: {r['threads']}. Step time: median of the timed steps. The last column is "
        "the model's share of a full run of the config (`train.max_steps` steps; data loading, "
        "validation and checkpoints come on top).",
        "",
    ]


def augment_section(r: Optional[Dict[str, Any]], train: Optional[Dict[str, Any]]) -> List[str]:
    """Feature augmentation: time per training batch, against the base config's step."""
    if r is None:
        return ["Not run.", ""]
    s = r["shape"]
    base = (train or {}).get("configs", {}).get("base+pointer+household")
    rows = []
    for name, c in r["cases"].items():
        share = f"{100 * c['seconds'] / base['step_s']:.1f} %" if base else "n/a"
        rows.append([f"`{name}`", _f(1000 * c["seconds"], 2), share])
    return [
        f"One base training batch ({s['B']} utterances x {s['T']} frames x {s['F']} bins), "
        f"{r['threads']} thread(s); `train.vtlp: {r['vtlp']}`. The transforms run in the data "
        "loader of the training process, so their time adds to every step's; the last column "
        "compares it with the `base+pointer+household` step above.",
        "",
        *table(["transform", "ms per batch (median)", "of a base step"], rows),
    ]


def loader_section(r: Optional[Dict[str, Any]], train: Optional[Dict[str, Any]]) -> List[str]:
    """Training-batch loading: time per batch, against the base config's step."""
    if r is None:
        return ["Not run.", ""]
    z = r["sizes"]
    base = (train or {}).get("configs", {}).get("base+pointer+household")
    share = f"{100 * r['cpu_ms_per_batch'] / 1000 / base['step_s']:.1f} %" if base else "n/a"
    rows = [[_f(r["cpu_ms_per_batch"], 1), _f(r["wall_ms_per_batch"], 1), share]]
    return [
        f"`catt train`'s data loader for `{r['config']}` ({r['max_duration']:.0f} s batches) "
        f"over a synthetic corpus of {z['utterances']:,} utterances and {z['households']} "
        f"households of {z['phrases']} phrases, {r['batches']} timed batches after the "
        "phrase-token cache is warm: features read and padded, phrase lists drawn, the list "
        "pointer's lists and the wrong-name histories built. It runs in the training process, "
        "so its time adds to every step's; the last column compares its CPU time with the "
        "`base+pointer+household` step above.",
        "",
        *table(["CPU ms per batch", "wall ms per batch", "of a base step"], rows),
    ]


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def loss_section(r: Optional[Dict[str, Any]]) -> List[str]:
    """Pruned against full loss table."""
    if r is None:
        return ["Not run.", ""]
    s = r["shape"]
    label = {
        "pruned": "pruned (`catt.loss.pruned_rnnt_loss`: simple + pruned)",
        "simple": "k2 simple loss alone (`k2.rnnt_loss_smoothed`)",
    }
    rows = [
        [label.get(k, "k2 full"), _f(c["seconds"], 2), f"{c['peak_mb']:.0f}"]
        for k, c in r["cases"].items()
    ]
    lines = [
        f"B={s['B']}, T={s['T']} frames after subsampling, U={s['U']}, V={s['V']}, "
        f"joiner D=J={s['D']}, prune range {s['prune_range']}, {r['threads']} thread(s); "
        "forward + backward including the joint network.",
        "",
        *table(["loss", "time (s, median)", "peak MB"], rows),
        f"Full / pruned: {r['memory_ratio']:.1f}x the memory, {r['speed_ratio']:.1f}x the time.",
        "",
    ]
    if not r["quick"]:
        lines += [LOSS_NOTE, ""]
    return lines


def _case(r: Dict[str, Any], search: str, mode: str, n: int) -> Optional[Dict[str, Any]]:
    for c in r["cases"]:
        if (c["search"], c["mode"], c["phrases"]) == (search, mode, n):
            return c
    return None


def _rtf_cell(case: Optional[Dict[str, Any]]) -> str:
    """The RTF of a case, with its number of runs when it is below the usual five."""
    if case is None:
        return "n/a"
    runs = len(case["runs"])
    return f"{case['rtf']:.4f}" + (f" ({runs} run{'s' if runs > 1 else ''})" if runs < 5 else "")


def decode_section(r: Optional[Dict[str, Any]], img: Optional[str]) -> List[str]:
    """RTF table against list size, list preparation, plot."""
    if r is None:
        return ["Not run.", ""]
    sizes = r["list_sizes"]
    header = ["search", "mode", "no list", *[f"{n:,}" for n in sizes]]
    rows = []
    for search, title in SEARCHES.items():
        none = _case(r, search, "none", 0)
        for mode in LIST_MODES:
            if not any(c["mode"] == mode for c in r["cases"]):
                continue  # a result file from before the mode existed
            cells = [_rtf_cell(none)] + [_rtf_cell(_case(r, search, mode, n)) for n in sizes]
            rows.append([title, MODES[mode], *cells])
    p = r["list_preparation"]
    lines = [
        f"Real-time factor (decoding time / audio time, lower is faster) of a `{r['preset']}` "
        f"model ({r['parameters']:,} parameters, vocabulary {r['vocab_size']}) on "
        f"{r['threads']} thread(s), {r['utterances']} utterances ({r['audio_seconds']:.1f} s of "
        f"audio) decoded one at a time; boost {r['boost']}.",
        "",
        *table(header, rows),
    ]
    rates = []
    for search, title in SEARCHES.items():
        per_frame = [c["tokens_per_frame"] for c in r["cases"] if c["search"] == search]
        rates.append(f"{title} {min(per_frame):.2f}-{max(per_frame):.2f}")
    lines += [
        f"Tokens emitted per encoder frame after the blank calibration (target "
        f"{r['target_tokens_per_frame']}): {', '.join(rates)}.",
        "",
    ]
    if img:
        lines += [f"![decoding time against list size]({img})", ""]
    deep_goal = [g for g in r["goals"] if g["text"].startswith("deep biasing adds")]
    if any(not g["met"] for g in deep_goal) and not r["quick"]:
        lines += [DEEP_NOTE, ""]
    lines += [
        f"Preparing a {p['phrases']:,}-phrase list once (medians): "
        f"tokenize {p['tokenize_s']:.3f} s, phrase vectors {p['encode_s']:.3f} s, "
        f"boosting trie {p['trie_s']:.3f} s.",
        "",
    ]
    return lines


def plot_decode(r: Dict[str, Any], path: Path) -> None:
    """RTF against list size (log x), one line per search and mode; no list dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = r["list_sizes"]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = {"greedy": "tab:blue", "beam4": "tab:orange"}
    for search, title in SEARCHES.items():
        styles = ("-o", "--s", "-^", "-.d", ":v")
        for mode, style in zip(LIST_MODES, styles):
            points = [(n, c["rtf"]) for n in sizes if (c := _case(r, search, mode, n))]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, style, color=colors[search], label=f"{title}, {MODES[mode]}")
        none = _case(r, search, "none", 0)
        if none:
            ax.axhline(none["rtf"], color=colors[search], linestyle=":", label=f"{title}, no list")
    ax.axhline(0.05, color="grey", linestyle="-.", linewidth=1, label="goal: greedy RTF 0.05")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("phrases in the list")
    ax.set_ylabel("real-time factor (1 thread)")
    ax.set_title(f"Decoding time against list size ({r['preset']} model)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def model_section(r: Optional[Dict[str, Any]]) -> List[str]:
    """Sizes, int8 speed and int8 accuracy."""
    if r is None:
        return ["Not run.", ""]
    rows = [
        [
            s["preset"],
            s["vocab_size"],
            f"{s['parameters']:,}",
            f"{s['parameters_by_part'].get('context', 0):,}",
            f"{s['file_mb']:.2f}",
            f"{s['int8_file_mb']:.2f}",
        ]
        for s in r["sizes"]
    ]
    header = ["preset", "vocab", "parameters", "of which context", "file MB", "int8 file MB"]
    lines = ["### Size", "", *table(header, rows)]
    speed = r["int8_speed"]
    srows = []
    for search, title in SEARCHES.items():
        for n in sorted({c["phrases"] for c in speed}):
            got = {
                c["dtype"]: c["rtf"] for c in speed if (c["search"], c["phrases"]) == (search, n)
            }
            if "float32" in got and "int8" in got:
                label = "no list" if n == 0 else f"{n:,} phrases, deep biasing"
                change = 100.0 * (got["int8"] / got["float32"] - 1.0)
                srows.append(
                    [title, label, _f(got["float32"], 4), _f(got["int8"], 4), f"{change:+.0f} %"]
                )
    lines += [
        "### int8: speed",
        "",
        *table(["search", "list", "float32 RTF", "int8 RTF", "change"], srows),
    ]
    lines += ["### int8: accuracy", ""]
    acc = r["int8_accuracy"]
    if "skipped" in acc:
        return lines + [f"Skipped: {acc['skipped']}.", ""]
    arows = [
        [
            a["dtype"],
            a["condition"],
            a["utterances"],
            _f(a["wer"], 1),
            _f(a["b_wer"], 1),
            _f(a["intent_acc"], 1),
            _f(a["slot_acc"], 1),
        ]
        for a in acc["rows"]
    ]
    header = ["model", "condition", "utts", "WER", "B-WER", "intent acc", "slot acc"]
    lines += [
        f"`{acc['model']}` on the test split of `{acc['data']}` (first {acc['limit']} "
        f"utterances), beam 4, the household's own list for `deep+boost` at the model's boost "
        f"({acc.get('boost', 2.0):g}); rates in percent.",
        "",
        *table(header, arows),
    ]
    wers = [a["wer"] for a in acc["rows"] if a["dtype"] == "float32" and a["wer"] is not None]
    if wers and min(wers) > 50.0:
        lines += [
            f"The float32 model itself is far from usable here (WER {min(wers):.0f} % at best), "
            "so this only shows that int8 does not change its behaviour much; rerun "
            "`make bench` after a better-trained `make demo` for a meaningful comparison.",
            "",
        ]
    return lines


def resolve_section(r: Optional[Dict[str, Any]]) -> List[str]:
    """List resolution: time and memory per slot against the list size."""
    if r is None:
        return ["Not run.", ""]
    s = r["shape"]
    by_size: Dict[int, Dict[str, Dict[str, Any]]] = {}
    for c in r["cases"]:
        by_size.setdefault(c["phrases"], {})[c["slot"]] = c
    kinds = ("whole", "half", "chars", "rescore")
    kinds = [k for k in kinds if any(c["slot"] == k for c in r["cases"])]
    rows = []
    for n, cases in by_size.items():
        times = [_f(1000 * cases[k]["seconds"], 1) for k in kinds]
        rows.append([f"{n:,}", *times, f"{max(c['peak_mb'] for c in cases.values()):.0f}"])
    half = next(c for c in r["cases"] if c["slot"] == "half")
    heads = {
        "whole": "whole slot (ms, median)",
        "half": "half slot (ms, median)",
        "chars": "whole slot with a character head (ms, median)",
        "rescore": "+ transducer rescoring (ms, median)",
    }
    rescoring = []
    if "chars" in kinds:
        rescoring = [
            "The column of the character head (`--resolve-char-head`, a model trained with "
            "one): the whole slot resolved with its scores too, random log-probabilities over "
            "the tokenizer's characters: its CTC score of each candidate's characters, and the "
            "edits counted from its best path instead of the BPE head's. It replaces the whole "
            "slot column for such a model; the head's own pass over the encoder output (a "
            "BiLSTM) is paid once per utterance.",
            "",
        ]
    if "rescore" in kinds:
        rescoring += [
            f"The last column is the transducer's part (`--resolve-transducer`, on by default): "
            f"the log-likelihood of the CTC head's {s['rescored']} best candidates of a "
            f"whole slot, with the list in the biasing layers and the list pointer, on a lattice "
            f"pruned to {s['prune_range']} labels a frame, by a "
            f"randomly initialised `{s['preset']}` model with the base recipe's "
            "convolution module and a pointer. It is paid on top of the CTC column.",
            "",
        ]
    return [
        f"One contact slot resolved against N invented names (`--resolve`): the candidate token "
        f"sequences scored by the CTC loss against T={s['T']} frames (3 s of audio) over "
        f"V={s['V']} tokens, and each one's character edits from the CTC head's best path "
        f"(`--resolve-heard`), {r['threads']} thread(s). A whole slot has N candidates; half a "
        "slot (a closing tag whose opening tag the search left out) has one per phrase, "
        f"possible start and slot type, here {half['candidates'] // half['phrases']} N. This is "
        "paid per slot the search wrote, on top of the search; the CTC log-probabilities reuse "
        "the search's encoder output.",
        "",
        *rescoring,
        *table(["phrases", *(heads[k] for k in kinds), "peak MB"], rows),
    ]


def decode_jobs_section(r: Optional[Dict[str, Any]]) -> List[str]:
    """Decoding throughput against the number of processes (``catt decode --jobs``)."""
    if r is None:
        return ["Not run.", ""]
    rows = [
        [
            c["jobs"],
            f"{c['seconds']:.1f}",
            f"{c['utterances_per_second']:.2f}",
            f"{c['speed_up']:.2f}",
        ]
        for c in r["cases"]
    ]
    utts = r["groups"] * r["utterances_per_group"]
    return [
        f"`catt decode --jobs N` and `catt tune --jobs N` (the recipes pass their `--jobs`): "
        f"{r['groups']} context groups of {r['utterances_per_group']} utterances "
        f"({r['audio_seconds']:.0f} s of audio in all), each with its own list of "
        f"{r['list_size']} invented names, decoded in the recipe's best mode (deep biasing "
        f"with the list pointer scoring phrases, boost {r['boost']:g}, beam 4) by a randomly "
        f"initialised `{r['preset']}` model with a pointer, on {r['threads']} torch threads in "
        "all: one process with all of them, or N processes sharing them. The pool's start "
        "(spawning, importing torch, loading the model) is part of the time.",
        "",
        *table(["processes", f"seconds for {utts} utterances", "utterances / s", "speed-up"], rows),
    ]


def commands_section(results: Dict[str, Dict[str, Any]]) -> List[str]:
    """The exact commands that produced the results."""
    cmds = [r["command"] for r in results.values() if "command" in r]
    return ["```", "make bench   # = bash benchmarks/run_all.sh, which runs:", *cmds, "```", ""]


def render(results: Dict[str, Dict[str, Any]], img: Optional[str]) -> str:
    """The whole page."""
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/write_doc.py from benchmarks/results/*.json "
        "(`make bench`); edit the generator, not this file. -->",
        "",
        "Is CATT cheap enough on a device? Training throughput, the memory of the k2 losses, "
        "decoding speed against the phrase-list size, model size and int8. Scripts in "
        "`benchmarks/`; each prints nothing but a results file, and this page is written from "
        "them. Times are medians of several runs.",
        "",
        *machine_section(results),
        "## Goals",
        "",
        *goals_section(results),
        "## Training throughput",
        "",
        *train_section(results.get("train")),
        "## Feature augmentation per training batch",
        "",
        *augment_section(results.get("augment"), results.get("train")),
        "## Loading a training batch",
        "",
        *loader_section(results.get("loader"), results.get("train")),
        "## Loss: pruned against full",
        "",
        *loss_section(results.get("loss")),
        "## Decoding speed against the phrase-list size",
        "",
        *decode_section(results.get("decode"), img),
        "## Decoding processes",
        "",
        *decode_jobs_section(results.get("decode_jobs")),
        "## List resolution against the list size",
        "",
        *resolve_section(results.get("resolve")),
        "## Model size and int8",
        "",
        *model_section(results.get("model")),
        "## Commands",
        "",
        *commands_section(results),
        "## Method",
        "",
        METHOD,
    ]
    return "\n".join(lines).rstrip() + "\n"


METHOD = """\
- **Peak memory** is measured in a fresh process per case: the growth of `ru_maxrss` (the
  process's peak resident set) from a baseline taken once the inputs and the model are built,
  to the end of the first run. It counts what torch, k2 and the allocator really touched.
- **Training** (`bench_train.py`): one step as `catt train` does it after the warm-ups (biasing
  layers on, pruned loss at its final scales): forward with per-utterance phrase lists, backward,
  gradient clipping, Adam. Batches of `data.max_duration` seconds of 2-3 s synthetic utterances
  with invented tagged transcripts and each utterance's phrase plus half of
  `context.max_distractors` distractors. Data loading and SpecAugment are not included.
  Whether a change shortens the step: `bench_train_pairs.py --before DIR --after DIR` builds
  a case with each tree's `catt` in its own process and runs their steps in turn, one of
  each (docs/training.md has a run of it).
- **Feature augmentation** (`bench_augment.py`): VTLP and Lhotse's SpecAugment, alone and
  chained as `catt train` chains them, on random features of a base batch's shape.
- **Loading** (`bench_loader.py`): the training loader of the base config, built as `catt train`
  builds it, over a synthetic corpus shaped like the base smart-home corpus (lilcom-stored
  random features, household lists of invented names). CPU time of the process, and wall time,
  over two epochs after three untimed ones.
- **Loss** (`bench_loss.py`): random audio and label embeddings through the project's joiner
  into `catt.loss.pruned_rnnt_loss` (the smoothed simple loss, prune ranges, pruned joint,
  pruned loss) or `catt.loss.full_rnnt_loss` (the joiner on every (t, u) pair, k2 full loss).
  The `simple` row is k2's smoothed simple loss alone (`k2.rnnt_loss_smoothed`; since
  `a30afd4` `pruned_rnnt_loss` lays out the same lattice itself and runs k2's recursion on it).
- **Decoding** (`bench_decode.py`): a randomly initialised model (speed barely depends on the
  weights) whose joiner gets a blank-logit offset, calibrated per case (list, mode and search),
  so that each search emits about one token per four encoder frames like a trained model (a
  random joiner would emit at nearly every frame). Synthetic 80-bin features; utterances decoded
  one at a time on one thread, one symbol a frame (the calibration needs it; the Transcriber
  allows 3). Greedy with boosting is the beam search at beam 1. Phrase lists are invented
  two-word names; their vectors and tries are built once per list, outside the timed decoding,
  and timed on their own ("encoding a list" = tokenizing plus the phrase vectors). "Token
  vectors" is the same model with `context_encoder.type: bilstm_tokens`: one entry per phrase
  token, so a list of N phrases is attended to as about 4 N entries.
- **List resolution** (`bench_resolve.py`): random CTC log-probabilities (the scoring cost
  does not depend on them), a tagged hypothesis of about 20 tokens with one contact slot, whole
  or half, and `catt.decode.resolve.resolve_spans` with the default bonus and edits from the
  best path (each candidate's words decoded by the tokenizer, `rapidfuzz`'s Levenshtein
  distance); the sequences are scored 256 at a time. The transducer rescoring times
  `Transducer.sequence_log_likelihood` on random audio embeddings (its cost depends on their
  length, not their values).
- **int8** (`bench_model.py`): `torch.quantization.quantize_dynamic` of the `nn.Linear` layers
  (attention output projections, LSTMs, convolutions, embeddings stay float). The int8 file size
  is the quantized state dict plus the tokenizer. The accuracy check reads the demo's trained
  tiny model (`make demo`), or the model and corpus given as `--model` and `--data`; without a
  model the page says it was skipped.
"""


LOSS_NOTE = """\
The `simple` row is k2's smoothed simple loss alone. In k2 1.23.4 its backward pass
materializes a [B, U, T, V] gradient (`torch.gather` on `am.unsqueeze(1).expand(B, U, T, V)`;
the gradient of a gather is as large as its expanded input), here 32 x 60 x 250 x 500 floats =
0.96 GB, and `k2.do_rnnt_pruning` does the same with the label projections, [B, T, U+1, J].
`catt.loss.pruned_rnnt_loss` does neither since `a30afd4`: it lays out the same simple-loss
lattice reading each symbol's score from `am` [B, T, V] itself (k2 runs the recursion) and
gathers the pruned label projections from `lm` itself. The pruned joint itself ([B, T, 5, V]) is
small. With k2's simple loss the pruned row took 2.49 s and 1,075 MB (2026-12-06, a faster day
of the same machine: the full loss took 18.93 s), 4.8x less memory than the full loss."""

DEEP_NOTE = """\
Where deep biasing's time goes: the keys and values of the phrase vectors depend on the list
alone, so they are projected once per list (`BiasingLayer.precompute`, cached on the list's
`PhraseVectors` from `Transducer.prepare_phrases`) and every query then costs O(N D): scores
against the N+1 keys and the weighted sum of the values. Before that cache the layers
re-projected the whole list on every call (2 N Dc D multiply-adds for the audio of each
utterance and for each new label embedding of each hypothesis), and a 1,000-phrase list
added +327 % to greedy and +1,048 % to beam-4 decoding. What is left at 1,000 and 10,000
phrases is the attention itself, which beam search pays once per new hypothesis."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--img", type=Path, default=REPO / "docs" / "img" / "decode_time_vs_list.png")
    args = p.parse_args()
    results = load_results(args.results)
    img_link = None
    if "decode" in results:
        plot_decode(results["decode"], args.img)
        img_link = os.path.relpath(args.img, args.doc.parent)
    atomic_write_text(args.doc, render(results, img_link))
    print(f"write_doc: wrote {args.doc}")


if __name__ == "__main__":
    main()
