"""Decoding speed of the base model against the phrase-list size, on one thread.

Real-time factor (decoding seconds / audio seconds) of greedy search and of modified beam search
(beam 4), with no list and with lists of 10, 100, 1,000 and 10,000 phrases, deep biasing (the
CATT layers, no boosting) and boosting (the trie, no deep biasing) separately, and deep biasing
with token vectors (``context_encoder.type: bilstm_tokens``: the layers attend to every token of
every phrase; the same weights, so only the list's length in entries differs), and deep biasing
with the list pointer (``biasing.pointer: true``: the same weights plus the pointer's output layer
and gate; the search walks a second trie), and with the pointer that scores whole phrases
(``pointer_phrases: true``: the same again plus phrase keys, computed once per list, and a
query-key match with every phrase at every joiner call). Greedy search with
boosting is the beam search at beam 1 (``greedy_search`` takes no trie, as in the Transcriber).
Utterances are decoded one at a time (batch 1, as on a device). Phrase vectors and tries are
built once per list, outside the timed decoding, and timed on their own. Each case reports the
median of up to ``--runs`` runs (5), fewer for a slow case (as many as fit in 40 s, at least 1);
the cases are timed in rounds, one run of each per round, so that other load on the machine
falls on all of them alike.

The model is a randomly initialised ``base`` model (vocabulary ~500, tokenizer trained on invented
commands in a temporary folder). A random joiner emits a token at almost every frame, far more
than a trained one, which would inflate the label-side cost; so the joiner's blank logit gets an
offset, calibrated per case (list, mode and search) on the first 3 utterances, that makes that
search emit about one token per four encoder frames (a trained model on the smart-home
corpus emits 15-20 tokens per 2.5 s, i.e. per ~62 frames), so every condition does the same
label-side work and the times differ by the cost of biasing alone. Features are synthetic (20
utterances of ~2.5 s, 80 bins): the encoder's cost depends on their length only.

    python benchmarks/bench_decode.py --out benchmarks/results/decode.json
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
from benchlib import base_parser, make_names, make_tokenizer, median, random_features, write_result

LIST_SIZES = (10, 100, 1000, 10000)
QUICK_LIST_SIZES = (10, 100)
BOOST = 2.0
TARGET_RATE = 0.25  # tokens per encoder frame after calibration
FRAME_SHIFT = 0.01  # seconds per feature frame
RUN_BUDGET = 40.0  # seconds of timed decoding per case, at most (one run at least)


@dataclass
class Setup:
    """A model, its tokenizer and the utterances to decode (features [T, 80] each)."""

    model: Any
    tokens_model: Any  # the same weights with the per-token context encoder
    pointer_model: Any  # the same weights with the list pointer
    phrase_pointer_model: Any  # the same weights with the pointer that scores phrases
    tokenizer: Any
    features: List[torch.Tensor]
    blank_bias: float  # the joiner's initial blank logit bias, before any offset

    @property
    def audio_seconds(self) -> float:
        return sum(f.size(0) for f in self.features) * FRAME_SHIFT


@dataclass
class PreparedList:
    """A phrase list ready for decoding: token ids, phrase vectors, boosting trie."""

    size: int
    token_ids: List[List[int]]
    phrase_emb: Any  # PhraseVectors
    token_emb: Any  # PhraseVectors of the per-token model: one entry per phrase token
    trie: Any
    pointer: Any  # the list pointer's trie (no boost, no transparent tokens)
    pointer_keys: Any  # [1, K, Dk] phrase keys of the pointer that scores phrases


def build_setup(
    folder: Path, *, preset: str, num_utts: int, frames: int, vocab_size: int = 500
) -> Setup:
    """A random model of ``preset`` (blank offset not calibrated yet) and synthetic utterances."""
    from catt.model import ModelConfig, build_model

    tokenizer = make_tokenizer(folder, vocab_size)
    torch.manual_seed(0)
    cfg = ModelConfig.preset(preset, vocab_size=tokenizer.vocab_size, blank_id=tokenizer.blank_id)
    model = build_model(cfg).eval()
    per_token = dataclasses.replace(
        cfg, context_encoder=dataclasses.replace(cfg.context_encoder, type="bilstm_tokens")
    )
    tokens_model = build_model(per_token).eval()
    tokens_model.load_state_dict(model.state_dict())
    pointer_cfg = dataclasses.replace(cfg, biasing=dataclasses.replace(cfg.biasing, pointer=True))
    pointer_model = build_model(pointer_cfg).eval()
    pointer_model.load_state_dict(model.state_dict(), strict=False)  # all but the pointer
    phrases_cfg = dataclasses.replace(
        pointer_cfg, biasing=dataclasses.replace(pointer_cfg.biasing, pointer_phrases=True)
    )
    phrase_pointer_model = build_model(phrases_cfg).eval()
    phrase_pointer_model.load_state_dict(pointer_model.state_dict(), strict=False)  # but keys
    # One joiner output layer: the blank offset set on it holds for all four models.
    tokens_model.joiner = model.joiner
    pointer_model.joiner.out = model.joiner.out
    phrase_pointer_model.joiner.out = model.joiner.out
    features = random_features(num_utts, frames, seed=1)
    blank = float(model.joiner.out.bias[model.blank_id])
    return Setup(
        model, tokens_model, pointer_model, phrase_pointer_model, tokenizer, features, blank
    )


def emission_rate(
    model: Any, features: Sequence[torch.Tensor], *, beam: int = 1, **kwargs: Any
) -> float:
    """Tokens per encoder frame emitted at ``beam`` (``kwargs``: phrase_emb, trie)."""
    return decode_all(model, features, beam=beam, **kwargs) / max(encoder_frames(features), 1)


def encoder_frames(features: Sequence[torch.Tensor]) -> int:
    """Encoder frames (after subsampling) of all utterances."""
    from catt.model import subsampled_lengths

    lengths = torch.tensor([f.size(0) for f in features])
    return int(subsampled_lengths(lengths).sum())


@torch.no_grad()
def calibrate_blank(setup: Setup, *, beam: int = 1, **kwargs: Any) -> Tuple[float, float]:
    """Set the blank-logit offset giving ~TARGET_RATE tokens per frame (bisection).

    Calibrated on the first 3 utterances with the search at ``beam`` under the condition
    ``kwargs`` (phrase_emb, trie), so that every case does the same amount of label-side work
    (beam search emits differently from greedy search at the same offset). Returns (offset,
    rate).
    """
    model, features = kwargs.pop("model", setup.model), setup.features[:3]
    bias = model.joiner.out.bias
    lo, hi = 0.0, 16.0
    for _ in range(8):
        mid = (lo + hi) / 2
        bias[model.blank_id] = setup.blank_bias + mid
        if emission_rate(model, features, beam=beam, **kwargs) > TARGET_RATE:
            lo = mid
        else:
            hi = mid
    bias[model.blank_id] = setup.blank_bias + hi
    return hi, emission_rate(model, features, beam=beam, **kwargs)


def prepare_list(setup: Setup, size: int, *, boost: float = BOOST) -> PreparedList:
    """Tokenize ``size`` invented names, encode them once, build their trie."""
    from catt.context.trie import ContextTrie
    from catt.decode.search import encode_phrase_list

    names = make_names(size, seed=7)
    token_ids = [setup.tokenizer.encode_phrase(n) for n in names]
    with torch.no_grad():
        emb = setup.model.prepare_phrases(encode_phrase_list(setup.model, token_ids))
        m = setup.tokens_model
        token_emb = m.prepare_phrases(encode_phrase_list(m, token_ids))
    trie = ContextTrie(token_ids, boost=boost, transparent_ids=_tag_ids(setup.tokenizer))
    pointer = ContextTrie(token_ids, boost=0.0)
    with torch.no_grad():
        keys = setup.phrase_pointer_model.joiner.pointer.phrase_keys([token_ids])
    return PreparedList(size, token_ids, emb, token_emb, trie, pointer, keys)


def _tag_ids(tokenizer: Any) -> List[int]:
    return [i for i in range(tokenizer.vocab_size) if tokenizer.is_tag_id(i)]


def decode_all(
    model: Any,
    features: Sequence[torch.Tensor],
    *,
    beam: int,
    phrase_emb: Any = None,  # PhraseVectors
    trie: Any = None,
    pointer: Any = None,
    pointer_keys: Any = None,
) -> int:
    """Decode every utterance alone; returns the number of tokens emitted.

    One symbol a frame (the searches' default), not the Transcriber's 3: with up to 3 symbols a
    random joiner's emission jumps with the blank offset, which the bisection cannot follow.
    """
    from catt.decode.search import greedy_search, modified_beam_search

    emitted = 0
    for f in features:
        feats, lens = f[None], torch.tensor([f.size(0)])
        if beam == 1 and trie is None:
            kwargs = dict(phrase_emb=phrase_emb, pointer=pointer, pointer_keys=pointer_keys)
            out = greedy_search(model, feats, lens, **kwargs)
        else:
            out = modified_beam_search(
                model,
                feats,
                lens,
                beam=beam,
                phrase_emb=phrase_emb,
                trie=trie,
                pointer=pointer,
                pointer_keys=pointer_keys,
            )
        emitted += len(out[0])
    return emitted


def time_decoding(
    model: Any, features: Sequence[torch.Tensor], runs: int, **kwargs: Any
) -> Dict[str, Any]:
    """Median wall seconds of decoding all ``features`` (after one warm-up utterance).

    At most ``runs`` runs, fewer when a run is slow: as many as fit in RUN_BUDGET seconds
    (at least one). The first run counts.
    """
    decode_all(model, features[:1], **kwargs)
    times: List[float] = []
    tokens = 0
    while len(times) < runs:
        tic = time.perf_counter()
        tokens = decode_all(model, features, **kwargs)
        times.append(time.perf_counter() - tic)
        runs = min(runs, max(1, int(RUN_BUDGET // times[0])))
    return {"seconds": median(times), "runs": times, "tokens": tokens}


def time_list_preparation(setup: Setup, size: int, runs: int) -> Dict[str, Any]:
    """Median seconds to tokenize, encode (phrase vectors) and build the trie of a list."""
    from catt.context.trie import ContextTrie
    from catt.decode.search import encode_phrase_list

    names = make_names(size, seed=7)
    tok, enc, trie = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        ids = [setup.tokenizer.encode_phrase(n) for n in names]
        t1 = time.perf_counter()
        with torch.no_grad():
            encode_phrase_list(setup.model, ids)
        t2 = time.perf_counter()
        ContextTrie(ids, boost=BOOST, transparent_ids=_tag_ids(setup.tokenizer))
        t3 = time.perf_counter()
        tok.append(t1 - t0)
        enc.append(t2 - t1)
        trie.append(t3 - t2)
    return {
        "phrases": size,
        "tokenize_s": median(tok),
        "encode_s": median(enc),
        "trie_s": median(trie),
        "tokenize_and_encode_s": median([a + b for a, b in zip(tok, enc)]),
    }


def run_cases(setup: Setup, sizes: Sequence[int], runs: int) -> List[Dict[str, Any]]:
    """Every (search, mode, list size) case, with its RTF.

    The cases are timed in rounds (one run of each case per round) so that any other load on
    the machine falls on all of them alike; a case slower than RUN_BUDGET / runs seconds stops
    after the rounds that fit in RUN_BUDGET (at least one).
    """
    frames = encoder_frames(setup.features)
    lists = {n: prepare_list(setup, n) for n in sizes}
    plan: List[Tuple[str, int, Dict[str, Any]]] = [("none", 0, {})]
    for n in sizes:
        plan.append(("deep", n, {"phrase_emb": lists[n].phrase_emb}))
        plan.append(("boost", n, {"trie": lists[n].trie}))
        tokens = {"phrase_emb": lists[n].token_emb, "model": setup.tokens_model}
        plan.append(("deep_tokens", n, tokens))
        pointer = {"phrase_emb": lists[n].phrase_emb, "pointer": lists[n].pointer}
        plan.append(("deep_pointer", n, {**pointer, "model": setup.pointer_model}))
        phrases = {**pointer, "pointer_keys": lists[n].pointer_keys}
        plan.append(("deep_phrase_pointer", n, {**phrases, "model": setup.phrase_pointer_model}))
    cases = []
    for mode, n, kwargs in plan:
        for search, beam in (("greedy", 1), ("beam4", 4)):
            print(f"decode: calibrate {search} {mode} {n} ...", file=sys.stderr, flush=True)
            offset, _ = calibrate_blank(setup, beam=beam, **kwargs)
            case = {"search": search, "mode": mode, "phrases": n, "blank_offset": offset}
            cases.append({**case, "kwargs": {"beam": beam, **kwargs}, "runs": [], "limit": runs})
    for r in range(runs):
        print(f"decode: round {r + 1} of {runs} ...", file=sys.stderr, flush=True)
        for case in cases:
            if len(case["runs"]) < case["limit"]:
                _time_one(setup, case, warmup=r == 0)
    out = []
    for case in cases:
        case.pop("kwargs")
        case.pop("limit")
        case["seconds"] = median(case["runs"])
        case["rtf"] = case["seconds"] / setup.audio_seconds
        case["tokens_per_frame"] = case["tokens"] / frames
        out.append(case)
    return sorted(out, key=lambda c: c["search"] != "greedy")


def _time_one(setup: Setup, case: Dict[str, Any], *, warmup: bool) -> None:
    """One timed run of ``case`` (with its blank offset), appended to ``case["runs"]``."""
    bias = setup.model.joiner.out.bias
    with torch.no_grad():
        bias[setup.model.blank_id] = setup.blank_bias + case["blank_offset"]
    kwargs = dict(case["kwargs"])
    model = kwargs.pop("model", setup.model)
    if warmup:
        decode_all(model, setup.features[:1], **kwargs)
    tic = time.perf_counter()
    case["tokens"] = decode_all(model, setup.features, **kwargs)
    case["runs"].append(time.perf_counter() - tic)
    case["limit"] = min(case["limit"], max(1, int(RUN_BUDGET // case["runs"][0])))


def _rtf(cases: Sequence[Dict[str, Any]], search: str, mode: str, n: int) -> Optional[float]:
    for c in cases:
        if (c["search"], c["mode"], c["phrases"]) == (search, mode, n):
            return float(c["rtf"])
    return None


def check_goals(
    cases: Sequence[Dict[str, Any]], prep: Dict[str, Any], n: int
) -> List[Dict[str, Any]]:
    """The decoding goals, each with its figure and met / not met."""
    goals = []
    for mode in ("deep", "boost"):
        rtf = _rtf(cases, "greedy", mode, n)
        if rtf is not None:
            goals.append(
                {
                    "text": f"greedy RTF <= 0.05 with a {n:,}-phrase list ({mode})",
                    "value": rtf,
                    "met": rtf <= 0.05,
                }
            )
    for search in ("greedy", "beam4"):
        none, deep = _rtf(cases, search, "none", 0), _rtf(cases, search, "deep", n)
        if none and deep is not None:
            extra = 100.0 * (deep / none - 1.0)
            goals.append(
                {
                    "text": f"deep biasing adds <= 20 % to {search} decoding time at {n:,} phrases",
                    "value": extra,
                    "met": extra <= 20.0,
                }
            )
    goals.append(
        {
            "text": f"encoding a {prep['phrases']:,}-phrase list once takes <= 2 s",
            "value": prep["tokenize_and_encode_s"],
            "met": prep["tokenize_and_encode_s"] <= 2.0,
        }
    )
    return goals


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--utterances", type=int, default=None, help="default 20 (quick: 2)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    runs = args.runs if args.runs is not None else (1 if args.quick else 5)
    num_utts = args.utterances or (2 if args.quick else 20)
    sizes = QUICK_LIST_SIZES if args.quick else LIST_SIZES
    preset, frames = ("micro", 60) if args.quick else ("base", 250)
    with tempfile.TemporaryDirectory() as tmp:
        setup = build_setup(Path(tmp), preset=preset, num_utts=num_utts, frames=frames)
        prep = time_list_preparation(setup, max(sizes), runs)
        cases = run_cases(setup, sizes, runs)
    goal_size = 1000 if 1000 in sizes else max(sizes)
    write_result(
        args.out,
        "decode",
        args.quick,
        preset=preset,
        threads=args.threads,
        vocab_size=setup.tokenizer.vocab_size,
        parameters=sum(p.numel() for p in setup.model.parameters()),
        utterances=num_utts,
        audio_seconds=setup.audio_seconds,
        target_tokens_per_frame=TARGET_RATE,
        boost=BOOST,
        list_sizes=list(sizes),
        list_preparation=prep,
        cases=cases,
        goals=check_goals(cases, prep, goal_size),
    )


if __name__ == "__main__":
    main()
