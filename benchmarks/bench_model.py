"""Model size (parameters, file size) of tiny and base, and int8 dynamic quantization.

Int8: ``torch.quantization.quantize_dynamic`` on the ``nn.Linear`` layers (weights int8,
activations quantized on the fly; attention's output projections, LSTMs, convolutions and
embeddings stay float). Measured: file size, real-time factor on one thread (the decode
benchmark's setup: random base model, calibrated blank offset, 20 synthetic utterances of ~2.5 s,
batch 1), and accuracy (WER, B-WER, intent and slot accuracy) of a trained model, by default
the tiny ``exp/smarthome-tiny/model.pt`` on ``data/smarthome-tiny``'s test split (``--model``,
``--data``), decoded exactly as ``catt decode`` does, at the model's own (tuned) boost.
Without that model (``make demo`` makes it) the accuracy part is skipped and the results say so.

    python benchmarks/bench_model.py --out benchmarks/results/model.json
"""

from __future__ import annotations

import contextlib
import copy
import io
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import bench_decode
import torch
from benchlib import REPO, base_parser, make_tokenizer, relative_path, write_result
from torch import nn

VOCAB = {"micro": 64, "tiny": 256, "base": 500}


def quantize(model: nn.Module) -> nn.Module:
    """An int8 copy of ``model``: dynamic quantization of its ``nn.Linear`` layers.

    torch's fused fast path of ``nn.TransformerEncoderLayer`` reads ``linear1.weight`` as a
    tensor, which a quantized linear layer does not have; the copy's layers are marked so that
    they take the regular path (which calls the quantized layers).
    """
    q = torch.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)
    for module in q.modules():
        if isinstance(module, nn.TransformerEncoderLayer):
            module.activation_relu_or_gelu = 0  # only consulted to choose the fast path
    return q.eval()


def serialized_mb(obj: Any) -> float:
    """Size of ``torch.save(obj)`` in MiB."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.tell() / 2**20


def _group(name: str) -> str:
    head = name.split(".", 1)[0]
    if head in ("context_encoder", "audio_bias", "label_bias", "no_bias"):
        return "context"
    return head


def sizes(preset: str, folder: Path) -> Dict[str, Any]:
    """Parameters (total and per part) and file sizes, float32 and int8, of a random model."""
    from catt.model import ModelConfig, build_model, save_model

    tokenizer = make_tokenizer(folder, VOCAB[preset])
    cfg = ModelConfig.preset(preset, vocab_size=tokenizer.vocab_size, blank_id=tokenizer.blank_id)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    parts: Dict[str, int] = {}
    for name, p in model.named_parameters():
        parts[_group(name)] = parts.get(_group(name), 0) + p.numel()
    path = save_model(folder / f"{preset}.pt", model, tokenizer)
    linear = sum(m.weight.numel() for m in model.modules() if type(m) is nn.Linear)
    q = quantize(model)
    return {
        "preset": preset,
        "vocab_size": tokenizer.vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameters_by_part": parts,
        "linear_weights_quantized": linear,
        "file_mb": path.stat().st_size / 2**20,
        "int8_file_mb": serialized_mb(
            {"state_dict": q.state_dict(), "tokenizer": tokenizer.to_bytes()}
        ),
    }


def int8_speed(runs: int, quick: bool, list_size: int) -> List[Dict[str, Any]]:
    """RTF of the float32 and int8 models, greedy and beam 4, no list and a deep-biasing list."""
    preset, frames, utts = ("micro", 60, 2) if quick else ("base", 250, 20)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        setup = bench_decode.build_setup(Path(tmp), preset=preset, num_utts=utts, frames=frames)
        plist = bench_decode.prepare_list(setup, list_size)
        for n, kwargs in ((0, {}), (list_size, {"phrase_emb": plist.phrase_emb})):
            bench_decode.calibrate_blank(setup, **kwargs)
            models = {"float32": setup.model, "int8": quantize(setup.model)}
            for search, beam in (("greedy", 1), ("beam4", 4)):
                for dtype, model in models.items():
                    print(f"model: {dtype} {search} {n} ...", file=sys.stderr, flush=True)
                    res = bench_decode.time_decoding(
                        model, setup.features, runs, beam=beam, **kwargs
                    )
                    rtf = res["seconds"] / setup.audio_seconds
                    out.append({"dtype": dtype, "search": search, "phrases": n, "rtf": rtf, **res})
    return out


@contextlib.contextmanager
def _int8_transcriber() -> Iterator[None]:
    """Make ``catt.decode.transcriber.load`` return an int8 Transcriber (for decode_condition)."""
    import catt.decode.transcriber as transcriber

    original = transcriber.load

    def load_int8(path: Any, device: Any = None) -> Any:
        t = original(path, "cpu")
        return transcriber.Transcriber(quantize(t.model), t.tokenizer)

    transcriber.load = load_int8
    try:
        yield
    finally:
        transcriber.load = original


def int8_accuracy(model_path: Path, data_dir: Path, limit: Optional[int]) -> Dict[str, Any]:
    """Scores of float32 and int8 on the test split, with no list and with the household list."""
    from catt.decode.decode_set import decode_condition
    from catt.metrics import read_results, score_utterances

    if not model_path.is_file() or not data_dir.is_dir():
        missing = model_path if not model_path.is_file() else data_dir
        return {"skipped": f"{relative_path(missing)} is missing (`make demo` makes it)"}
    from catt.decode.transcriber import load

    boost = load(model_path).options.boost  # the model's tuned boost (catt tune), or the default
    rows = []
    keys = ("utterances", "wer", "b_wer", "u_wer", "intent_acc", "slot_acc", "slot_f1")
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float32", "int8"):
            for name, context in (("no-context", False), ("deep+boost", True)):
                print(f"model: accuracy {dtype} {name} ...", file=sys.stderr, flush=True)
                out = Path(tmp) / f"{dtype}-{name}.jsonl"
                guard = _int8_transcriber() if dtype == "int8" else contextlib.nullcontext()
                with guard:
                    decode_condition(
                        model_path=model_path,
                        data_dir=data_dir,
                        split="test",
                        out_path=out,
                        distractors=0,
                        context=context,
                        deep_biasing=True,
                        boost=boost,
                        beam=4,
                        condition=name,
                        seed=0,
                        limit=limit,
                    )
                scores = score_utterances(list(read_results(out)))
                rows.append({"dtype": dtype, "condition": name, **{k: scores[k] for k in keys}})
    return {
        "model": relative_path(model_path),
        "data": relative_path(data_dir),
        "limit": limit,
        "boost": boost,
        "rows": rows,
    }


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--model", type=Path, default=REPO / "exp" / "smarthome-tiny" / "model.pt")
    p.add_argument("--data", type=Path, default=REPO / "data" / "smarthome-tiny")
    p.add_argument("--limit", type=int, default=300, help="test utterances for the accuracy")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    runs = args.runs if args.runs is not None else (1 if args.quick else 5)
    presets = ("micro",) if args.quick else ("tiny", "base")
    with tempfile.TemporaryDirectory() as tmp:
        size_rows = [sizes(name, Path(tmp)) for name in presets]
    list_size = 100 if args.quick else 1000
    speed = int8_speed(runs, args.quick, list_size)
    accuracy = int8_accuracy(args.model, args.data, 20 if args.quick else args.limit)
    if "skipped" in accuracy:
        print(f"model: accuracy skipped: {accuracy['skipped']}", file=sys.stderr)
    write_result(
        args.out,
        "model",
        args.quick,
        threads=args.threads,
        sizes=size_rows,
        int8_speed=speed,
        int8_accuracy=accuracy,
    )


if __name__ == "__main__":
    main()
