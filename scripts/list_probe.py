#!/usr/bin/env python
"""What a phrase list holding the right names does, and how fast it fades with distractors.

Each utterance that names a contact or device is decoded with no list, then with a list of its
own names alone, then with its names plus k distractors (names said in other utterances of the
manifest, drawn with a fixed seed). The B-WER is that of those names. Two questions, kept apart
from the recipe's household lists: can the model copy a name it is given (k = 0), and can it
find that name among others (k > 0)? Deep biasing alone (no boosting) unless ``--boost``.

For a model with the list pointer it also prints the quantiles of the pointer's gate (its share
of the non-blank probability) over every joiner call with the first list; ``--gate-shift X``
adds X to the gate's logit, to see what the pointer would copy if the gate opened.

python scripts/list_probe.py exp/smarthome-base/model.pt \\
    data/smarthome-base/manifests/smarthome_cuts_test.jsonl.gz --limit 200 \\
    --distractors 0 5 20 100
"""

import argparse
import random
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch
from lhotse import load_manifest_lazy

from catt.context.sampling import positive_phrases
from catt.data.dataset import cut_slots
from catt.decode.options import DecodingOptions
from catt.decode.transcriber import load
from catt.errors import CattError
from catt.metrics.biasing import biased_word_errors


def with_distractors(own: Sequence[str], pool: Sequence[str], k: int, seed: str) -> List[str]:
    """``own`` plus ``k`` phrases of ``pool`` that are not in it, drawn by ``seed``.

    >>> with_distractors(["ann"], ["ann", "bob", "cy"], 1, "u1") in (["ann", "bob"], ["ann", "cy"])
    True
    """
    others = sorted(set(pool) - set(own))
    return list(own) + random.Random(seed).sample(others, min(k, len(others)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("cuts", type=Path, help="a Lhotse cut manifest with features and slots")
    parser.add_argument("--limit", type=int, default=200, help="first N utterances with names")
    parser.add_argument("--distractors", type=int, nargs="*", default=[0, 5, 20, 100])
    parser.add_argument("--boost", type=float, default=0.0, help="boosting weight (0: off)")
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--gate-shift", type=float, default=0.0, help="added to the gate logit")
    args = parser.parse_args()
    try:
        transcriber = load(args.model)
        cuts, own = [], []
        for cut in load_manifest_lazy(args.cuts):
            names = positive_phrases(cut_slots(cut))
            if names:
                cuts.append(cut)
                own.append(names)
            if len(cuts) >= args.limit:
                break
    except CattError as e:
        print(f"list_probe: error: {e}", file=sys.stderr)
        return 2
    gates: List[torch.Tensor] = []
    summary: Optional[str] = None
    pointer = getattr(transcriber.model.joiner, "pointer", None)
    if pointer is not None:
        with torch.no_grad():
            pointer.gate.bias += args.gate_shift
        pointer.gate.register_forward_hook(lambda m, i, out: gates.append(out.sigmoid().flatten()))
    pool = sorted({p for names in own for p in names})
    options = DecodingOptions(beam=args.beam, boost=args.boost, batch_size=1)
    refs = [cut.supervisions[0].text for cut in cuts]
    features = [torch.from_numpy(cut.load_features()) for cut in cuts]
    print(f"{len(cuts)} utterances, {len(pool)} distinct names\n")
    print("| list | B-WER | U-WER | WER |\n|---|---|---|---|")
    rows: List[Optional[int]] = [None, *args.distractors]
    with torch.no_grad():
        for k in rows:
            hyps = []
            for cut, feats, names in zip(cuts, features, own):
                phrases = None if k is None else with_distractors(names, pool, k, cut.id)
                hyps.append(transcriber.decode_features([feats], phrases, options)[0].text)
            e = biased_word_errors(refs, hyps, own)
            label = "none" if k is None else f"own names + {k}"
            print(f"| {label} | {e.b_wer:.1f} | {e.u_wer:.1f} | {e.wer:.1f} |")
            if k is not None and gates and summary is None:
                g = torch.cat(gates)
                q = " / ".join(f"{float(g.quantile(x)):.2f}" for x in (0.1, 0.5, 0.9, 0.99))
                summary = f"gate quantiles 10/50/90/99 %, own names + {k} ({g.numel()} calls): {q}"
            gates.clear()
    if summary is not None:
        print(f"\n{summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
