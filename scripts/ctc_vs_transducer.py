#!/usr/bin/env python
"""Word errors of the CTC head against the transducer on the same audio (no phrase list).

Tells whether the encoder or the transducer's label side (predictor and joiner) loses the
words: both read the same encoder output, greedily, one utterance at a time. The transducer is
decoded with each ``--max-symbols`` (symbols a frame at most) and each ``--blank-penalty``
(subtracted from the joiner's blank logit): both show how much of its loss is deletions. The
``names`` column is the share of the words of contact and device slots that the hypothesis gets
right (aligned as hits): run it on training cuts too, to see whether names are learnt at all.

python scripts/ctc_vs_transducer.py exp/smarthome-base/model.pt \\
    data/smarthome-base/manifests/smarthome_cuts_test.jsonl.gz --limit 300 \\
    --max-symbols 1 3 --blank-penalty 0 3
"""

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any, Callable, List, Sequence, Set

import jiwer
import torch
from lhotse import load_manifest_lazy

from catt.context.sampling import BIASED_SLOT_TYPES
from catt.decode.search import greedy_search
from catt.decode.transcriber import Transcript, load
from catt.errors import CattError


def ctc_greedy(model: Any, feats: torch.Tensor, lens: torch.Tensor) -> List[int]:
    """Argmax of the CTC head at each frame, repeats merged and blanks removed."""
    h, _ = model.encode(feats, lens)
    ids = model.ctc_proj(h)[0].argmax(-1).tolist()
    return [t for t, _ in itertools.groupby(ids) if t != model.blank_id]


def with_blank_penalty(model: Any, penalty: float) -> Callable[..., torch.Tensor]:
    """The joiner's forward with ``penalty`` subtracted from the blank logit."""
    forward = model.joiner.forward

    def penalized(*args: Any, **kwargs: Any) -> torch.Tensor:
        logits = forward(*args, **kwargs).clone()
        logits[..., model.blank_id] -= penalty
        return logits

    return penalized


def name_positions(text: str, slots: Sequence[dict]) -> Set[int]:
    """Indices of the words of ``text`` inside a contact or device slot.

    >>> sorted(name_positions("call ann lee now", [{"type": "contact", "start": 5, "end": 12}]))
    [1, 2]
    """
    spans = [(s["start"], s["end"]) for s in slots if s.get("type") in BIASED_SLOT_TYPES]
    out, pos = set(), 0
    for i, word in enumerate(text.split(" ")):
        if any(a <= pos < b for a, b in spans):
            out.add(i)
        pos += len(word) + 1
    return out


def score(name: str, refs: Sequence[str], hyps: Sequence[str], names: Sequence[Set[int]]) -> None:
    out = jiwer.process_words(list(refs), list(hyps))
    n = out.hits + out.substitutions + out.deletions
    right = sum(
        len(positions & set(range(c.ref_start_idx, c.ref_end_idx)))
        for positions, chunks in zip(names, out.alignments)
        for c in chunks
        if c.type == "equal"
    )
    total = max(1, sum(map(len, names)))
    print(
        f"| {name} | {len(refs)} | {100 * out.wer:.1f} | {100 * out.substitutions / n:.1f} "
        f"| {100 * out.deletions / n:.1f} | {100 * out.insertions / n:.1f} "
        f"| {100 * right / total:.1f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("cuts", type=Path, help="a Lhotse cut manifest with features")
    parser.add_argument("--limit", type=int, default=300, help="first N cuts")
    parser.add_argument("--max-symbols", type=int, nargs="*", default=[1, 3])
    parser.add_argument("--blank-penalty", type=float, nargs="*", default=[0.0])
    args = parser.parse_args()
    try:
        transcriber = load(args.model)
    except CattError as e:
        print(f"ctc_vs_transducer: error: {e}", file=sys.stderr)
        return 2
    model, tok = transcriber.model, transcriber.tokenizer
    if getattr(model, "ctc_proj", None) is None:
        print("ctc_vs_transducer: error: the model has no CTC head", file=sys.stderr)
        return 2
    cuts = list(itertools.islice(load_manifest_lazy(args.cuts), args.limit))
    inputs = []
    for cut in cuts:
        feats = torch.from_numpy(cut.load_features()).unsqueeze(0).to(transcriber.device)
        inputs.append((feats, torch.tensor([feats.size(1)], device=transcriber.device)))
    refs = [cut.supervisions[0].text for cut in cuts]
    names = [
        name_positions(c.supervisions[0].text, (c.supervisions[0].custom or {}).get("slots", []))
        for c in cuts
    ]

    def text(ids: Sequence[int]) -> str:
        return Transcript.from_tagged(tok.decode(ids)).text

    print("| decoder | utts | WER | sub | del | ins | names |\n|---|---|---|---|---|---|---|")
    with torch.no_grad():
        score("CTC head, greedy", refs, [text(ctc_greedy(model, *x)) for x in inputs], names)
        for max_symbols, penalty in itertools.product(args.max_symbols, args.blank_penalty):
            model.joiner.forward = with_blank_penalty(model, penalty)
            hyps = [text(greedy_search(model, *x, max_symbols=max_symbols)[0]) for x in inputs]
            name = f"transducer, greedy, {max_symbols} symbols a frame, blank penalty {penalty:g}"
            score(name, refs, hyps, names)
    return 0


if __name__ == "__main__":
    sys.exit(main())
