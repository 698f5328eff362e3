#!/usr/bin/env python
"""Can the CTC head tell which list phrase an utterance says? The input of the spotting pointer.

For each utterance of a split that names a contact or device (the first ``--limit``), the
household's list plus ``--distractors`` phrases of other households (drawn as ``catt decode``
draws them) is scored by the model's CTC head in two ways, each plus a bonus per token:

- ``spot``: the spotting score (:mod:`catt.model.spotting`), the phrase anywhere in the audio,
  as the pointer with ``biasing.pointer_spotting`` reads it;
- ``slot``: the CTC log-likelihood of the reference with the said name replaced by the phrase
  (the carrier words given): what list resolution would score with perfect slot boundaries.

It prints the share of utterances whose said name is among the best ``--top`` phrases (1: the
best) for each bonus, then the CTC head's greedy output for the first ``--show`` utterances.
``--top 32 64 128`` measures what a shortlist of that many phrases ranked by ``spot`` would
keep (docs/results.md, "The recipe run whole at ``f44188f``"). Any model with a CTC head
(``model.ctc_weight`` > 0) will do, with or without the pointer.

python scripts/spot_probe.py exp/smarthome-base/model.pt data/smarthome-base --split dev \\
    --limit 150 --distractors 100 --bonuses 0 2 4 6 8
"""

import argparse
import itertools
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from lhotse import load_manifest_lazy

from catt.context.phrases import merge_phrases
from catt.context.sampling import positive_phrases
from catt.data.corpus import context_group, open_corpus
from catt.decode.decode_set import draw_distractors
from catt.decode.resolve import ctc_scores
from catt.decode.transcriber import load
from catt.errors import CattError
from catt.model.spotting import spot_scores
from catt.text.tags import build_tagged


def said_ranks(
    scores: torch.Tensor, lengths: Sequence[int], said: int, bonuses: Sequence[float]
) -> Dict[float, int]:
    """The rank of phrase ``said`` by ``score + bonus * length`` for each bonus (0: the best;
    a tie counts against it).

    >>> said_ranks(torch.tensor([-1.0, -4.0, -5.0]), [1, 3, 1], said=1, bonuses=[0, 2])
    {0: 1, 2: 0}
    """
    size = torch.tensor(list(lengths), dtype=scores.dtype)
    ranks = {}
    for b in bonuses:
        total = scores + b * size
        ranks[b] = int((total >= total[said]).sum()) - 1
    return ranks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("data", type=Path, help="a corpus directory (catt prepare)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=150, help="first N utterances with names")
    parser.add_argument("--distractors", type=int, default=100)
    parser.add_argument("--bonuses", type=float, nargs="+", default=[0, 2, 4, 6, 8])
    parser.add_argument("--top", type=int, nargs="+", default=[1], help="said name in the best N")
    parser.add_argument("--show", type=int, default=5, help="greedy CTC output of the first N")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        corpus = open_corpus(args.data)
        cuts = list(load_manifest_lazy(corpus.require("cuts", args.split, "compute features")))
        groups = sorted({context_group(c.supervisions[0]) for c in cuts} - {None})
        lists = corpus.context_lists(groups)
        transcriber = load(args.model)
        model, tokenizer = transcriber.model, transcriber.tokenizer
    except CattError as e:
        print(f"spot_probe: error: {e}", file=sys.stderr)
        return 2
    if getattr(model, "ctc_proj", None) is None:
        print(f"spot_probe: error: {args.model} has no CTC head (ctc_weight 0)", file=sys.stderr)
        return 2
    ranks: Dict[str, Dict[float, List[int]]] = {
        kind: {b: [] for b in args.bonuses} for kind in ("spot", "slot")
    }
    shown: List[str] = []
    total = 0
    for cut in cuts:
        sup = cut.supervisions[0]
        custom = sup.custom or {}
        slots = custom.get("slots", [])
        said = positive_phrases(slots)
        group = context_group(sup)
        if not said or group is None:
            continue
        own = lists[group]
        others = (p for g, ps in lists.items() if g != group for p in ps)
        extra = draw_distractors(own, others, args.distractors, seed=args.seed, household=group)
        phrases = [p.text for p in merge_phrases(own, extra)]
        if said[0] not in phrases:
            continue
        ids = [tokenizer.encode_phrase(p) for p in phrases]
        tagged = build_tagged(sup.text, custom.get("intent"), slots)
        with torch.no_grad():
            feats = torch.as_tensor(cut.load_features()).unsqueeze(0)
            h, h_lens = model.encode(feats, torch.tensor([feats.size(1)]))
            log_probs = model.ctc_log_probs(h)[0]
            spots = spot_scores(log_probs[None], h_lens, [ids], blank_id=model.blank_id)[0]
            whole = [tokenizer.encode(tagged.replace(said[0], p, 1)) for p in phrases]
            slot = ctc_scores(log_probs, whole, blank_id=model.blank_id, bonus=0.0)
        k = phrases.index(said[0])
        for kind, scores, seqs in (("spot", spots, ids), ("slot", slot, whole)):
            for b, rank in said_ranks(scores, [len(q) for q in seqs], k, args.bonuses).items():
                ranks[kind][b].append(rank)
        if len(shown) < args.show:
            best = [t for t, _ in itertools.groupby(log_probs.argmax(-1).tolist())]
            greedy = tokenizer.decode([t for t in best if t != model.blank_id])
            shown.append(f"REF {tagged}\nCTC {greedy}")
        total += 1
        if total >= args.limit:
            break
    if not total:
        print(f"spot_probe: no utterance of {args.split} names a listed phrase", file=sys.stderr)
        return 2
    print(f"{total} utterances, list + {args.distractors}: the said name is among the best N in\n")
    print("| bonus per token | " + " | ".join(f"{b:g}" for b in args.bonuses) + " |")
    print("|---" * (len(args.bonuses) + 1) + "|")
    for kind, by_bonus in ranks.items():
        for top in args.top:
            cells = " | ".join(
                f"{100 * sum(r < top for r in by_bonus[b]) / total:.1f} %" for b in args.bonuses
            )
            print(f"| {kind}, N = {top} | {cells} |")
    print("\n" + "\n".join(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
