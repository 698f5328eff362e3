"""Trace the list pointer along greedy search: where its gate opens, and what it spells.

    python scripts/pointer_trace.py MODEL RESULTS CUTS [--ids ID ...] [--truncated N]

MODEL is a model file with a list pointer (``biasing.pointer: true``), RESULTS a ``catt decode``
results file made with deep biasing (each utterance is traced with the phrase list it had
there), CUTS the split's Lhotse cuts (features). Each utterance prints its reference, the
decode's hypothesis, the greedy hypothesis with the same list, then one item per joiner call of
greedy search::

    piece[own]:gate/allowed

``piece`` is what the mixture chose (``.`` blank), ``[own]`` the model's own choice when it
differs, ``gate`` the pointer's share of the non-blank probability and ``allowed`` how many
tokens the list allowed next. ``--truncated N`` picks the first N utterances whose hypothesis
is two or more words shorter than the reference. The first line counts them in RESULTS; with
neither ``--ids`` nor ``--truncated`` that count is all it prints (no model is loaded).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple

Step = Tuple[int, int, float, int]
"""One joiner call: (mixture's token, model's own token, gate, allowed tokens)."""


def truncated(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Ids of the results whose hypothesis is two or more words shorter than the reference."""
    return [
        row["id"]
        for row in rows
        if len(row["hyp"]["text"].split()) <= len(row["ref"]["text"].split()) - 2
    ]


def format_trace(steps: Sequence[Step], piece: Callable[[int], str], blank_id: int) -> str:
    """``piece[own]:gate/allowed`` per step, blank as ``.``.

    >>> format_trace([(5, 5, 0.01, 40), (0, 7, 0.97, 3)], lambda i: f"p{i}", 0)
    'p5:0.01/40 .[p7]:0.97/3'
    """

    def name(token: int) -> str:
        return "." if token == blank_id else piece(token)

    items = []
    for chosen, own, gate, allowed in steps:
        mark = "" if chosen == own else f"[{name(own)}]"
        items.append(f"{name(chosen)}{mark}:{gate:.2f}/{allowed}")
    return " ".join(items)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("results", type=Path, help="catt decode results (.jsonl), with deep biasing")
    p.add_argument("cuts", type=Path, help="the split's cuts manifest")
    p.add_argument("--ids", nargs="+", default=[], help="utterance ids to trace")
    p.add_argument("--truncated", type=int, default=0, help="trace N truncated hypotheses")
    args = p.parse_args()

    rows = [json.loads(line) for line in args.results.open(encoding="utf-8")]
    by_id = {r["id"]: r for r in rows}
    short = truncated(rows)
    print(f"{len(short)} of {len(rows)} hypotheses are 2+ words shorter than the reference")
    ids = [*args.ids, *short[: args.truncated]]
    if not ids:
        return
    missing = [i for i in ids if i not in by_id]
    if missing:
        sys.exit(f"pointer_trace: not in {args.results}: {' '.join(missing)}")

    import torch
    from lhotse import load_manifest_lazy

    from catt.decode.options import DecodingOptions
    from catt.decode.transcriber import load

    transcriber = load(args.model)
    pointer = transcriber.model.joiner.pointer
    if pointer is None:
        sys.exit(f"pointer_trace: {args.model} has no list pointer")
    steps: List[Step] = []

    def record(module: Any, inputs: Tuple[Any, ...], mixed: Any) -> None:
        hidden, logits, allowed = inputs
        gate = torch.sigmoid(module.gate(hidden).float()).reshape(-1)
        count = allowed.expand_as(logits).reshape(-1, logits.size(-1)).sum(-1)
        chosen = mixed.reshape(-1, mixed.size(-1)).argmax(-1)
        own = logits.reshape(-1, logits.size(-1)).argmax(-1)
        for row in range(chosen.numel()):
            steps.append((int(chosen[row]), int(own[row]), float(gate[row]), int(count[row])))

    pointer.register_forward_hook(record)
    wanted = set(ids)
    cuts = {c.id: c for c in load_manifest_lazy(args.cuts) if c.id in wanted}
    options = DecodingOptions(beam=1, boost=0.0)
    tokenizer = transcriber.tokenizer
    for uid in ids:
        row = by_id[uid]
        if uid not in cuts:
            sys.exit(f"pointer_trace: {uid} is not in {args.cuts}")
        steps.clear()
        features = torch.from_numpy(cuts[uid].load_features())
        greedy = transcriber.decode_features([features], row["biasing_list"], options)[0]
        print(f"{uid}\n  ref:    {row['ref']['text']}\n  decode: {row['hyp']['text']}")
        print(f"  greedy: {greedy.text}")
        print("  " + format_trace(steps, tokenizer.piece, tokenizer.blank_id) + "\n")


if __name__ == "__main__":
    main()
