"""The ``catt`` command: one subcommand per library function, and nothing else.

Every subcommand parses its arguments, calls one function of the library and prints what it
returns. A :class:`~catt.errors.CattError` becomes one line on stderr and exit code 2; Ctrl-C
exit code 130 and SIGTERM 143, each after the ``with`` blocks on the way out have closed (a
decoding pool stops its processes, a file being written is removed).
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

from catt.cpu import keep_freed_memory
from catt.errors import CattError

__all__ = ["Terminated", "main"]


class Terminated(BaseException):
    """SIGTERM, raised in the main thread as Ctrl-C raises KeyboardInterrupt, so that the
    command unwinds (and stops its worker processes) instead of dying where it stands."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def _csv(value: str) -> List[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _cmd_prepare_smarthome(args: argparse.Namespace) -> int:
    from catt.data.smarthome import prepare_smarthome

    prepare_smarthome(
        args.out, size=args.size, langs=args.langs, seed=args.seed, num_jobs=args.jobs
    )
    return 0


def _cmd_prepare_librispeech(args: argparse.Namespace) -> int:
    from catt.data.librispeech import prepare_librispeech

    prepare_librispeech(
        args.corpus_dir,
        args.out,
        train_parts=args.train_parts,
        biasing_dir=args.biasing_dir,
        num_jobs=args.jobs,
    )
    return 0


def _cmd_prepare_fsc(args: argparse.Namespace) -> int:
    from catt.data.fsc import prepare_fsc

    prepare_fsc(args.corpus_dir, args.out)
    return 0


def _cmd_compute_fbank(args: argparse.Namespace) -> int:
    from catt.data.features import compute_fbank

    compute_fbank(args.data_dir, num_jobs=args.jobs, speed_perturb=args.speed_perturb)
    return 0


def _cmd_train_bpe(args: argparse.Namespace) -> int:
    from catt.text.tokenizer import train_corpus_tokenizer

    train_corpus_tokenizer(args.data_dir, vocab_size=args.vocab_size)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from catt.train import train

    model_path = train(
        args.config, args.exp_dir, resume=args.resume, overrides=args.set, init_from=args.init_from
    )
    print(model_path)
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from catt.train import export_model

    print(export_model(args.exp_dir, args.out, step=args.step, avg=args.avg))
    return 0


def _condition_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """:func:`~catt.decode.decode_set.decode_condition`'s condition arguments from the flags
    of :func:`_add_condition_arguments`."""
    return dict(
        distractors=args.distractors,
        context=not args.no_context,
        deep_biasing=args.deep_biasing,
        boost=args.boost,
        beam=args.beam,
        max_symbols=args.max_symbols,
        seed=args.seed,
        lists=args.lists,
        resolve=args.resolve,
        resolve_bonus=args.resolve_bonus,
        resolve_char_bonus=args.resolve_char_bonus,
        resolve_floor=args.resolve_floor,
        resolve_heard=args.resolve_heard,
        resolve_char_head=args.resolve_char_head,
        resolve_char_head_bonus=args.resolve_char_head_bonus,
        resolve_transducer=args.resolve_transducer,
        pointer=args.pointer,
        closed_slots=args.closed_slots,
        boost_back_to_back=args.boost_back_to_back,
    )


class _LineParser(argparse.ArgumentParser):
    """Parses one line of a conditions file: an error is the line's, not the command's."""

    def error(self, message: str) -> NoReturn:
        raise CattError(message)


def _read_conditions(path: Path, args: argparse.Namespace) -> List[Tuple[str, Dict[str, Any]]]:
    """The conditions of a ``--conditions`` file: a name and its flags a line (# comments);
    the command line's condition flags are every line's defaults."""
    parser = _LineParser(prog="catt decode", add_help=False)
    _add_condition_arguments(parser)
    defaults = {key: getattr(args, key) for key in vars(parser.parse_args([]))}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise CattError(f"--conditions {path}: cannot read it ({e})") from None
    conditions: Dict[str, Dict[str, Any]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        where = f"--conditions {path}, line {number}"
        try:
            words = shlex.split(line, comments=True)
            if not words:
                continue
            name, flags = words[0], words[1:]
            if not re.fullmatch(r"[A-Za-z0-9_.+-]+", name) or name.startswith("-"):
                raise CattError(f"a condition name (letters, digits, _ . + -) first, got {name!r}")
            if name in conditions:
                raise CattError(f"condition {name} is named twice")
            conditions[name] = _condition_kwargs(
                parser.parse_args(flags, namespace=argparse.Namespace(**defaults))
            )
        except (CattError, ValueError) as e:
            raise CattError(f"{where}: {e}") from None
    if not conditions:
        raise CattError(f"--conditions {path}: no condition in it")
    return list(conditions.items())


def _cmd_decode(args: argparse.Namespace) -> int:
    from catt.decode.decode_set import decode_condition, decode_conditions

    where = dict(model_path=args.model, data_dir=args.data, split=args.split, limit=args.limit)
    if args.conditions is None:
        if args.out is None or args.out_dir is not None or args.prefix:
            raise CattError("decode: --out FILE for one condition, or --conditions with --out-dir")
        decode_condition(
            **where,
            out_path=args.out,
            condition=args.condition,
            jobs=args.jobs,
            **_condition_kwargs(args),
        )
        return 0
    if args.out_dir is None or args.out is not None or args.condition is not None:
        raise CattError("decode: --conditions FILE takes --out-dir DIR (not --out, --condition)")
    conditions = _read_conditions(args.conditions, args)
    decode_conditions(conditions, **where, out_dir=args.out_dir, jobs=args.jobs, prefix=args.prefix)
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from catt.decode.tune import render_tuning, tune_weights

    tuning = tune_weights(
        model_path=args.model,
        data_dir=args.data,
        out_dir=args.out,
        split=args.split,
        boosts=args.boosts,
        transducer_weights=args.transducer_weights,
        distractors=args.distractors,
        max_u_wer_rise=args.max_u_wer_rise,
        limit=args.limit,
        save_to_model=args.save_to_model,
        jobs=args.jobs,
    )
    print(render_tuning(tuning))
    return 0


def _floats(value: str) -> List[float]:
    try:
        return [float(v) for v in _csv(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {value!r}"
        ) from None


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from catt.decode.transcriber import transcribe_files

    return transcribe_files(
        model_path=args.model,
        audio_paths=args.audio,
        phrase_files=[
            (path, slot)
            for path, slot in (
                (args.contacts, "contact"),
                (args.devices, "device"),
                (args.phrases, None),
            )
            if path
        ],
        boost=args.boost,
        beam=args.beam,
        max_symbols=args.max_symbols,
        deep_biasing=False if args.no_deep_biasing else None,
        pointer=False if args.no_pointer else None,
        resolve=args.resolve,
        resolve_bonus=args.resolve_bonus,
        resolve_char_bonus=args.resolve_char_bonus,
        resolve_floor=args.resolve_floor,
        resolve_heard=args.resolve_heard,
        resolve_char_head=args.resolve_char_head,
        resolve_char_head_bonus=args.resolve_char_head_bonus,
        resolve_transducer=args.resolve_transducer,
        closed_slots=args.closed_slots,
        boost_back_to_back=args.boost_back_to_back,
    )


def _cmd_report(args: argparse.Namespace) -> int:
    from catt.metrics.report import write_report

    report_md = write_report(args.results, args.out)
    print(report_md.read_text(encoding="utf-8"))
    print(f"plot: {Path(args.out) / 'distractors.png'}")
    return 0


def _add_jobs_argument(p: argparse.ArgumentParser) -> None:
    """``--jobs`` of ``decode`` and ``tune``: decoding processes (``decode_condition``)."""
    p.add_argument(
        "--jobs", type=int, default=1, help="decoding processes, sharing torch's threads"
    )


def _add_condition_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of one ``decode`` condition (a line of a ``--conditions`` file)."""
    p.add_argument("--no-context", action="store_true", help="decode without any phrase list")
    p.add_argument("--distractors", type=int, default=0, help="phrases added from other lists")
    p.add_argument("--deep-biasing", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--pointer",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="with deep biasing, the list pointer of a model that has one",
    )
    p.add_argument("--boost", type=float, default=0.0, help="bonus per matched token (0: off)")
    p.add_argument("--beam", type=int, default=4)
    p.add_argument("--max-symbols", type=int, default=3, help="symbols a frame at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lists", help="a fixed list set of DATA/context, e.g. biasing_100")
    _add_search_arguments(p)


def _add_search_arguments(p: argparse.ArgumentParser, tuned: bool = False) -> None:
    """The list-resolution and slot flags of ``decode`` and ``transcribe``. ``tuned``: no
    defaults here (None), so that the model file's tuned settings, else the library's, apply."""
    from catt.decode.options import DecodingOptions

    def default(name: str) -> Any:
        return None if tuned else getattr(DecodingOptions, name)

    p.add_argument(
        "--resolve",
        action=argparse.BooleanOptionalAction,
        default=default("resolve"),
        help="replace contact and device values by the list phrase the CTC head scores best"
        + (" (default: as the model was tuned, else off)" if tuned else ""),
    )
    p.add_argument(
        "--resolve-bonus",
        type=float,
        default=default("resolve_bonus"),
        help="score per token when resolving (offsets the CTC preference for short phrases)",
    )
    p.add_argument(
        "--resolve-char-bonus",
        type=float,
        default=default("resolve_char_bonus"),
        help="score per character when resolving (a word's start counts as one)",
    )
    p.add_argument(
        "--resolve-floor",
        type=float,
        default=default("resolve_floor"),
        help="weight of the uniform distribution mixed into the CTC head's when resolving, "
        "0-1 (0: off): a spelling the head did not learn costs at most log(floor / V) a frame",
    )
    p.add_argument(
        "--resolve-heard",
        type=float,
        default=default("resolve_heard"),
        help="score lost per character edit between a candidate and what the model heard "
        "with no list (the best path of its character head, else of its CTC head) when "
        "resolving (0: off)",
    )
    p.add_argument(
        "--resolve-char-head",
        type=float,
        default=default("resolve_char_head"),
        help="weight of the character head's score of each candidate when resolving (0: off; "
        "a model without the head ignores it)",
    )
    p.add_argument(
        "--resolve-char-head-bonus",
        type=float,
        default=default("resolve_char_head_bonus"),
        help="score per character in the character head's score (before its weight)",
    )
    p.add_argument(
        "--resolve-transducer",
        type=float,
        default=default("resolve_transducer"),
        help="the transducer's weight against the CTC head's when resolving, 0-1 (0: CTC alone)"
        + (f"; default: as tuned, else {DecodingOptions.resolve_transducer}" if tuned else ""),
    )
    p.add_argument(
        "--closed-slots",
        action=argparse.BooleanOptionalAction,
        default=default("closed_slots"),
        help="beam search: the best final hypothesis that closes every slot it opens "
        "(--no-closed-slots: the best-scored one)",
    )
    p.add_argument(
        "--boost-back-to-back",
        action=argparse.BooleanOptionalAction,
        default=default("boost_back_to_back"),
        help="boosting also rewards a phrase that starts right where another ended "
        "(default off: a name written again after itself earns nothing)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``catt`` command (exposed for the docs and tests)."""
    parser = argparse.ArgumentParser(
        prog="catt", description="Context-aware transformer transducers for speech-to-intent."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="prepare a corpus as Lhotse manifests")
    corpora = p.add_subparsers(dest="corpus", required=True)
    q = corpora.add_parser("smarthome", help="synthesize the multilingual smart-home corpus")
    q.add_argument("--out", type=Path, required=True, help="corpus directory")
    q.add_argument("--size", default="tiny", help="tiny | base | micro")
    q.add_argument("--langs", type=_csv, default=["en", "es", "fr"], help="e.g. en,es,fr")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--jobs", type=int, default=2, help="parallel synthesis processes")
    q.set_defaults(func=_cmd_prepare_smarthome)
    q = corpora.add_parser("librispeech", help="LibriSpeech with the rare-word biasing lists")
    q.add_argument("corpus_dir", type=Path, help="the LibriSpeech folder")
    q.add_argument("--out", type=Path, required=True, help="corpus directory")
    q.add_argument(
        "--train-parts", type=_csv, default=["train-clean-100"], help="e.g. train-clean-100"
    )
    q.add_argument("--biasing-dir", type=Path, help="the is21_deep_bias lists (ref/, words/)")
    q.add_argument("--jobs", type=int, default=2)
    q.set_defaults(func=_cmd_prepare_librispeech)
    q = corpora.add_parser("fsc", help="Fluent Speech Commands (intent frames)")
    q.add_argument("corpus_dir", type=Path, help="the fluent_speech_commands_dataset folder")
    q.add_argument("--out", type=Path, required=True, help="corpus directory")
    q.set_defaults(func=_cmd_prepare_fsc)

    p = sub.add_parser("compute-fbank", help="80-bin Fbank features for every split")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--speed-perturb", action="store_true", help="train copies at 0.9 and 1.1")
    p.set_defaults(func=_cmd_compute_fbank)

    p = sub.add_parser("train-bpe", help="BPE tokenizer on the training transcripts (with tags)")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--vocab-size", type=int, default=256)
    p.set_defaults(func=_cmd_train_bpe)

    p = sub.add_parser("train", help="train a model from a YAML config")
    p.add_argument(
        "--config",
        type=Path,
        required=True,
        action="append",
        help="a YAML config; given again, the later file's keys win (e.g. a stage's changes)",
    )
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="MODEL",
        help="start a fresh run from the weights of a model file or checkpoint (fine-tuning)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key"
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("export", help="a model file from a run's checkpoints (any step, averaged)")
    p.add_argument("exp_dir", type=Path)
    p.add_argument("--out", type=Path, required=True, help="the model file to write")
    p.add_argument("--step", type=int, help="the last checkpoint to use (default: the latest)")
    p.add_argument("--avg", type=int, default=1, help="checkpoints averaged, ending at --step")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "decode", help="decode a test split under one context condition, or a file of them"
    )
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="corpus directory")
    p.add_argument("--split", default="test")
    p.add_argument("--out", type=Path, help="results .jsonl (one condition)")
    p.add_argument("--condition", help="name of the condition in the report")
    p.add_argument(
        "--conditions",
        type=Path,
        help="a file of conditions, one a line: a name, then its flags (those below); the "
        "flags given here are every line's defaults. Each goes to OUT_DIR/NAME.jsonl in one "
        "set of processes; one decoded there already with the same settings is skipped",
    )
    p.add_argument("--out-dir", type=Path, help="with --conditions: where the results go")
    p.add_argument("--prefix", default="", help="with --conditions: before each name in the report")
    p.add_argument("--limit", type=int, help="decode at most this many utterances")
    _add_jobs_argument(p)
    _add_condition_arguments(p)
    p.set_defaults(func=_cmd_decode)

    p = sub.add_parser(
        "tune", help="choose the boost and the rescoring weight of a model on a dev split"
    )
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="corpus directory")
    p.add_argument("--split", default="dev")
    p.add_argument(
        "--out", type=Path, required=True, help="directory of the decodes and tuning.json"
    )
    p.add_argument("--boosts", type=_floats, default=[0.5, 1.0, 1.5, 2.0], help="e.g. 0.5,1,2")
    p.add_argument(
        "--transducer-weights",
        type=_floats,
        default=[0.0, 0.25, 0.5],
        help="weights of the transducer in list resolution, e.g. 0,0.25,0.5",
    )
    p.add_argument("--distractors", type=int, default=100, help="phrases added to each list")
    p.add_argument(
        "--max-u-wer-rise",
        type=float,
        default=5.0,
        help="percent: a boost may raise U-WER over no list by at most this much",
    )
    p.add_argument("--limit", type=int, help="decode at most this many utterances")
    p.add_argument(
        "--save-to-model",
        action="store_true",
        help="write the settings chosen into the model file, as the defaults of catt transcribe",
    )
    _add_jobs_argument(p)
    p.set_defaults(func=_cmd_tune)

    p = sub.add_parser("transcribe", help="transcribe audio files, biased by phrase lists")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--contacts", type=Path, help="one contact per line (fills contact slots)")
    p.add_argument("--devices", type=Path, help="one device name per line (fills device slots)")
    p.add_argument("--phrases", type=Path, help="any other phrases, one per line (any slot)")
    p.add_argument(
        "--boost", type=float, help="bonus per matched token (0: off; default: as tuned, else 0)"
    )
    p.add_argument("--beam", type=int, help="beam size (1: greedy; default 4)")
    p.add_argument("--max-symbols", type=int, help="symbols a frame at most (default 3)")
    p.add_argument("--no-deep-biasing", action="store_true", help="boosting only")
    p.add_argument(
        "--no-pointer", action="store_true", help="deep biasing without the list pointer"
    )
    _add_search_arguments(p, tuned=True)
    p.add_argument("audio", nargs="+", type=Path)
    p.set_defaults(func=_cmd_transcribe)

    p = sub.add_parser("report", help="score results files and write report.md/json and a plot")
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_cmd_report)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``catt`` console script."""
    keep_freed_memory()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    func: Callable[[argparse.Namespace], int] = args.func
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return func(args)
    except CattError as e:
        print(f"catt: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("catt: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("catt: terminated", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
