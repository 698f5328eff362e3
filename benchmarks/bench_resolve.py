"""List resolution: time and peak memory of resolving one slot against lists of growing size.

One utterance of T encoder frames (3 s of audio at 40 ms a frame), a hypothesis of about 20
tokens with one contact slot, CTC log-probabilities over a BPE-500 vocabulary, and a list of N
invented two-word names: :func:`catt.decode.resolve.resolve_spans` scores the candidate
sequences with the CTC loss, in chunks of 256, and counts each one's character edits from the
CTC head's best path (``--resolve-heard``). "chars" is a whole slot resolved with a character
head's scores too (``--resolve-char-head``: random log-probabilities over the tokenizer's
characters, its CTC score of each candidate's characters, the edits counted from its best
path). A whole slot (``<contact> kobari </contact>``) has N candidates; half a slot
(``callkob </contact>``, its opening tag missing) has one per
phrase, start boundary and slot type. "rescore" is the transducer's part
(``--resolve-transducer``): the log-likelihood of the CTC head's ``RESCORED`` best sequences of
the whole slot, with the list (biasing layers and list pointer) and the pruned lattice decoding
uses, by a randomly initialised model of the base recipe's architecture with a pointer (the
``tiny`` preset with a convolution module, the list's phrase vectors prepared once, outside the
timing). The time is per slot resolved, on top of the search; memory is the growth of
``ru_maxrss`` over the baseline with the inputs built. Each case runs in its own process.

    python benchmarks/bench_resolve.py --out benchmarks/results/resolve.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Tuple

from benchlib import (
    base_parser,
    make_names,
    make_tokenizer,
    run_child,
    time_with_peak,
    write_result,
)

SIZES = {
    "full": dict(T=75, V=500, lists=[100, 1000, 10000], preset="tiny"),
    "quick": dict(T=40, V=64, lists=[10], preset="micro"),
}
RUNS = 5
SLOTS = {
    "whole": "<intent:call_contact> please call <contact> kobari </contact> on the mobile",
    "half": "<intent:call_contact> please callkob </contact> on the mobile",
    "chars": "<intent:call_contact> please call <contact> kobari </contact> on the mobile",
    "rescore": "<intent:call_contact> please call <contact> {} </contact> on the mobile",
}


def _case(phrases: int, slot: str, T: int, V: int) -> Tuple[Callable[[], Any], int]:
    """Resolving one contact slot of one hypothesis against ``phrases`` names, and the number
    of candidate sequences it scores."""
    import torch

    from catt.decode.options import DecodingOptions
    from catt.decode.resolve import (
        SlotTokens,
        best_path,
        char_head_scorer,
        heard_scorer,
        resolve_spans,
        slot_regions,
        summed,
    )
    from catt.decode.transcriber import Transcript

    with tempfile.TemporaryDirectory() as folder:
        tok = make_tokenizer(Path(folder), V)
    names = make_names(phrases, seed=1)
    ids = [tok.encode_phrase(n) for n in names]
    hyp = tok.encode(SLOTS[slot])
    toks = SlotTokens.from_tokenizer(tok)
    bonus, char_bonus = DecodingOptions.resolve_bonus, DecodingOptions.resolve_char_bonus
    torch.manual_seed(0)
    log_probs = torch.log_softmax(torch.randn(T, tok.vocab_size) * 3, dim=-1)
    char_log_probs = torch.log_softmax(torch.randn(T, len(tok.characters) + 1) * 3, dim=-1)

    def words(seq: Any) -> str:
        return Transcript.from_tagged(tok.decode(list(seq))).text

    def run() -> Any:
        if slot == "chars":  # as Transcriber._added for a model with a character head
            said = tok.decode_chars(best_path(char_log_probs, 0))
            heard = summed(
                heard_scorer(said, words, DecodingOptions.resolve_heard),
                char_head_scorer(
                    char_log_probs,
                    words,
                    tok.encode_chars,
                    weight=DecodingOptions.resolve_char_head,
                    bonus=DecodingOptions.resolve_char_head_bonus,
                ),
            )
        else:
            said = words(best_path(log_probs, tok.blank_id))
            heard = heard_scorer(said, words, DecodingOptions.resolve_heard)
        return resolve_spans(
            hyp, log_probs, ids, toks, blank_id=tok.blank_id, bonus=bonus, char_bonus=char_bonus,
            heard=heard,
        )  # fmt: skip

    (alternatives,) = slot_regions(hyp, toks)
    return run, phrases * sum(len(pairs) for _, _, pairs in alternatives)


def _rescore_case(phrases: int, T: int, V: int, preset: str) -> Tuple[Callable[[], Any], int]:
    """The transducer's log-likelihood of ``RESCORED`` whole-slot candidates, the list of
    ``phrases`` names in its biasing layers and pointer, and the number of sequences."""
    import torch

    from catt.decode.resolve import RESCORE_PRUNE_RANGE, RESCORED
    from catt.decode.search import encode_phrase_list
    from catt.model import ModelConfig, build_model

    with tempfile.TemporaryDirectory() as folder:
        tok = make_tokenizer(Path(folder), V)
    names = make_names(phrases, seed=1)
    ids = [tok.encode_phrase(n) for n in names]
    sequences = [tok.encode(SLOTS["rescore"].format(n)) for n in names[:RESCORED]]
    config = {"preset": preset, "vocab_size": tok.vocab_size, "blank_id": tok.blank_id}
    config.update(ctc_weight=0.3, encoder={"conv_kernel": 15}, biasing={"pointer": True})
    torch.manual_seed(0)
    model = build_model(ModelConfig.from_dict(config)).eval()
    with torch.no_grad():
        vectors = model.prepare_phrases(encode_phrase_list(model, ids))
        h = torch.randn(1, T, model.config.encoder.d_model)
    n = len(sequences)
    lengths = torch.tensor([T] * n)

    def run() -> Any:
        ctx = model.make_context(vectors, None, n)
        return model.sequence_log_likelihood(
            h.expand(n, -1, -1), lengths, sequences, ctx, [ids] * n, RESCORE_PRUNE_RANGE
        )

    return run, n


def child(phrases: int, slot: str, size: str, runs: int, threads: int) -> Dict[str, Any]:
    """Measure one list size and slot kind in this (fresh) process."""
    import torch

    torch.set_num_threads(threads)
    shape = SIZES[size]
    if slot == "rescore":
        fn, candidates = _rescore_case(phrases, shape["T"], shape["V"], shape["preset"])
    else:
        fn, candidates = _case(phrases, slot, shape["T"], shape["V"])
    return {"phrases": phrases, "slot": slot, "candidates": candidates, **time_with_peak(fn, runs)}


def main() -> None:
    from catt.decode.resolve import RESCORE_PRUNE_RANGE, RESCORED

    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--phrases", type=int, help=argparse.SUPPRESS)
    p.add_argument("--slot", choices=sorted(SLOTS), help=argparse.SUPPRESS)
    args = p.parse_args()
    size = "quick" if args.quick else "full"
    runs = 1 if args.quick else (args.runs or RUNS)
    if args.phrases:
        print(json.dumps(child(args.phrases, args.slot, size, runs, args.threads)))
        return
    cases = []
    for n in SIZES[size]["lists"]:
        for slot in SLOTS:
            print(f"resolve: {n} phrases, {slot} slot ...", file=sys.stderr, flush=True)
            child_args = ["--phrases", str(n), "--slot", slot, "--out", str(args.out)]
            child_args += ["--runs", str(runs), "--threads", str(args.threads)]
            cases.append(run_child(Path(__file__), child_args + (["--quick"] * args.quick)))
    shape = {k: v for k, v in SIZES[size].items() if k != "lists"}
    shape.update(rescored=RESCORED, prune_range=RESCORE_PRUNE_RANGE)
    write_result(args.out, "resolve", args.quick, shape=shape, threads=args.threads, cases=cases)


if __name__ == "__main__":
    main()
