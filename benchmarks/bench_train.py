"""Training throughput of the recipe configs: seconds of audio per wall-second, and peak memory.

One training step as ``catt train`` does it once the biasing layers are on: forward with the
per-utterance phrase lists (pruned k2 loss at the config's settings, warm-up finished), backward,
gradient clipping, Adam update. The batch follows the config: ``data.max_duration`` seconds of
2-3 s utterances (synthetic 80-bin features), tagged transcripts of invented commands tokenized
with a tokenizer of the recipe's size (tiny 256, base 500), and per utterance its own phrase plus
``context.max_distractors / 2`` distractors (the sampler's mean) drawn from a pool of
``DISTRACTOR_POOL`` names, as the recipe draws them from every other household's list: one draw
for each utterance, or with ``context.shared_distractors`` (base) one for the batch.
``base+own-distractors`` is base with a draw for each utterance (``--set
context.shared_distractors=false``). Data loading and SpecAugment
are not included (they run in the data loader). Each config runs in its own process, whose
malloc keeps freed memory as ``catt train``'s does (``catt.cpu.keep_freed_memory``); peak
memory is the growth of ``ru_maxrss`` once the model and the batch are built. ``base+pointer``
is the base config with the list pointer (``--set model.biasing.pointer=true``);
``base+pointer+household`` trains the pointer on household lists (``--set
context.pointer_list=household``): each utterance's list plus a household of
``HOUSEHOLD_PHRASES`` names, the recipe's mean, so the step includes the pointer's masks over
lists of that size; ``base+phrase-pointer+household`` does the same with the pointer that scores
whole phrases (``--set model.biasing.pointer_phrases=true``), so the step also keys every
phrase of the batch's household lists; ``base+spotting-pointer+household`` adds the CTC head's
spotting scores of those phrases (``--set model.biasing.pointer_spotting=true``);
``biasing-stage`` is that model trained as the recipe's biasing stage trains it, the list
pointer alone (``train.trainable``, conf/biasing.yaml).

    python benchmarks/bench_train.py --out benchmarks/results/train.json
    python benchmarks/bench_train.py --cases base+phrase-pointer+household \
        base+spotting-pointer+household --out /tmp/train-spotting.json   # two cases side by side
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Tuple

from benchlib import (
    REPO,
    base_parser,
    make_names,
    make_sentences,
    make_tokenizer,
    median,
    peak_rss_mb,
    run_child,
    time_runs,
    write_result,
)

CONF_DIR = REPO / "recipes" / "smarthome" / "conf"
VOCAB = {"micro": 64, "tiny": 256, "base": 500}
CASES = {
    "micro": ("micro", []),
    "tiny": ("tiny", []),
    "base": ("base", []),
    "base+own-distractors": ("base", ["context.shared_distractors=false"]),
    "base+pointer": ("base", ["model.biasing.pointer=true"]),
    "base+pointer+household": (
        "base",
        ["model.biasing.pointer=true", "context.pointer_list=household"],
    ),
    "base+phrase-pointer+household": (
        "base",
        [
            "model.biasing.pointer=true",
            "model.biasing.pointer_phrases=true",
            "context.pointer_list=household",
        ],
    ),
    "base+spotting-pointer+household": (
        "base",
        [
            "model.biasing.pointer=true",
            "model.biasing.pointer_phrases=true",
            "model.biasing.pointer_spotting=true",
            "context.pointer_list=household",
        ],
    ),
    "biasing-stage": (
        "base",
        [
            "model.biasing.pointer=true",
            "model.biasing.pointer_phrases=true",
            "model.biasing.pointer_spotting=true",
            "context.pointer_list=household",
            "train.trainable=[joiner.pointer]",
        ],
    ),
}
"""A case: a recipe config and the ``--set`` overrides on it."""
FRAME_SHIFT = 0.01
HOUSEHOLD_PHRASES = 160
"""Phrases in a smart-home base household's list (contacts and devices), about the mean."""
DISTRACTOR_POOL = 20_000
"""Phrases distractors are drawn from: base's training households hold about 50,000."""


def make_batch(config: Any, tokenizer: Any, *, seed: int = 0) -> Tuple[Dict[str, Any], float]:
    """A training batch of ``data.max_duration`` seconds, and its audio seconds."""
    import torch

    from catt.model import ContextBatch, subsampled_lengths

    rng = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    sentences = make_sentences(400, seed=seed)
    names = make_names(200, seed=seed + 3)
    pool = make_names(DISTRACTOR_POOL, seed=seed + 4)
    distractors = config.context.max_distractors // 2
    shared = rng.sample(pool, distractors) if config.context.shared_distractors else None
    lens, tokens, lists = [], [], []
    while sum(lens) * FRAME_SHIFT < config.data.max_duration:
        frames = rng.randint(200, 300)
        ids = tokenizer.encode(rng.choice(sentences))
        ids = ids[: int(subsampled_lengths(torch.tensor([frames]))[0])]
        drawn = shared if shared is not None else rng.sample(pool, distractors)
        lens.append(frames)
        tokens.append(ids)
        phrases = dict.fromkeys([rng.choice(names), *drawn])
        lists.append([tokenizer.encode_phrase(p) for p in phrases])
    features = torch.randn(len(lens), max(lens), 80, generator=gen) * 2.0 - 8.0
    pointer_lists = None
    if config.context.pointer_list == "household":
        own = [tokenizer.encode_phrase(p) for p in make_names(HOUSEHOLD_PHRASES, seed=seed + 5)]
        pointer_lists = [own + phrases for phrases in lists]
    batch = {
        "features": features,
        "feature_lens": torch.tensor(lens),
        "tokens": tokens,
        "context": ContextBatch.from_lists(lists),
        "pointer_lists": pointer_lists,
    }
    return batch, sum(lens) * FRAME_SHIFT


def make_step(config: Any, model: Any, batch: Dict[str, Any]) -> Any:
    """One training step (forward, backward, clip, Adam) as a closure."""
    import torch

    from catt.loss import loss_scales
    from catt.train import freeze_all_but, set_train_mode

    opts = config.train
    if opts.trainable is not None:
        freeze_all_but(model, opts.trainable)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=opts.lr)
    simple_scale, pruned_scale = loss_scales(opts.loss_warm_steps, opts.loss_warm_steps)
    num_tokens = sum(len(t) for t in batch["tokens"])

    def step() -> None:
        set_train_mode(model, opts.trainable)
        optimizer.zero_grad(set_to_none=True)
        simple, pruned, *_ = model(
            batch["features"],
            batch["feature_lens"],
            batch["tokens"],
            batch["context"],
            prune_range=opts.prune_range,
            am_scale=opts.am_scale,
            lm_scale=opts.lm_scale,
            pointer_lists=batch["pointer_lists"],
        )
        loss = (simple_scale * simple + pruned_scale * pruned) / max(num_tokens, 1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), opts.grad_clip)
        optimizer.step()

    return step


def build_case(case: str, threads: int) -> Tuple[Any, Any, Any, Dict[str, Any], Any, float]:
    """The config, tokenizer, model, batch, step closure and audio seconds of ``case``, in
    this process set up as ``catt train`` sets up its own (threads, malloc)."""
    import torch

    from catt.cpu import keep_freed_memory
    from catt.model import ModelConfig, build_model
    from catt.train import load_train_config

    keep_freed_memory()  # as `catt train` does
    torch.set_num_threads(threads)
    size, overrides = CASES[case]
    conf = CONF_DIR / f"{size}.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        config = load_train_config(conf, [f"data.dir={tmp}", *overrides])
        tokenizer = make_tokenizer(Path(tmp), VOCAB[size])
    model_cfg = ModelConfig.from_dict(
        {**config.model, "vocab_size": tokenizer.vocab_size, "blank_id": tokenizer.blank_id}
    )
    torch.manual_seed(0)
    model = build_model(model_cfg)
    batch, seconds = make_batch(config, tokenizer)
    return config, tokenizer, model, batch, make_step(config, model, batch), seconds


def child(case: str, runs: int, threads: int) -> Dict[str, Any]:
    """Measure the recipe config of ``case`` in this (fresh) process."""
    size, overrides = CASES[case]
    config, tokenizer, model, batch, step, seconds = build_case(case, threads)
    baseline = peak_rss_mb()
    first = time_runs(step, 1, warmup=0)[0]
    times: List[float] = time_runs(step, runs, warmup=0)
    return {
        "config": f"recipes/smarthome/conf/{size}.yaml",
        "overrides": overrides,
        "preset": config.model.get("preset"),
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": tokenizer.vocab_size,
        "batch_utterances": len(batch["tokens"]),
        "batch_audio_s": seconds,
        "phrases_per_batch": int(batch["context"].tokens.size(0)),
        "max_steps": config.train.max_steps,
        "first_step_s": first,
        "step_s": median(times),
        "runs": times,
        "audio_s_per_s": seconds / median(times),
        "peak_mb": peak_rss_mb() - baseline,
        "threads": threads,
    }


def main() -> None:
    import os

    p = base_parser(__doc__.splitlines()[0], default_threads=os.cpu_count() or 1)
    p.add_argument("--case", choices=list(CASES), help=argparse.SUPPRESS)
    p.add_argument(
        "--cases", nargs="+", choices=list(CASES), help="only these cases (default: all but micro)"
    )
    args = p.parse_args()
    runs = args.runs if args.runs is not None else (1 if args.quick else 5)
    if args.case:
        print(json.dumps(child(args.case, runs, args.threads)))
        return
    results = {}
    cases = args.cases or (["micro"] if args.quick else [c for c in CASES if c != "micro"])
    for case in cases:
        print(f"train: {case} ...", file=sys.stderr, flush=True)
        child_args = ["--case", case, "--out", str(args.out), "--runs", str(runs)]
        results[case] = run_child(Path(__file__), [*child_args, "--threads", str(args.threads)])
    write_result(args.out, "train", args.quick, threads=args.threads, configs=results)


if __name__ == "__main__":
    main()
