"""Transcriber, ``catt transcribe`` and bad input, on a stand-in model with a real tokenizer."""

import dataclasses
import json
import random
from pathlib import Path
from typing import Any, List, Tuple

import numpy as np
import pytest
import soundfile
import torch
from builders import TEXTS, FrameModel  # tests/ is on sys.path
from torch import Tensor

import catt.decode.transcriber as transcriber_module
from catt.cli import main
from catt.context.phrases import Phrase
from catt.decode.options import DecodingOptions
from catt.decode.transcriber import Transcriber, Transcript
from catt.errors import AudioError, PhraseFileError
from catt.text.tags import strip_tags
from catt.text.tokenizer import Tokenizer, train_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> Tokenizer:
    return train_tokenizer(TEXTS, tmp_path_factory.mktemp("lang") / "bpe.model", 30)


@pytest.fixture()
def transcriber(tokenizer: Tokenizer) -> Transcriber:
    return Transcriber(FrameModel(tokenizer.vocab_size), tokenizer)


def spelled_frames(tok: Tokenizer, tagged: str, near_miss: Tuple[int, int, float] = None) -> Tensor:
    """[T, 80] features whose first V dims make the model spell ``tagged``, one token a frame
    (decode them with ``max_symbols=1``: the stand-in ignores its history, so it would repeat
    each frame's token).

    ``near_miss = (position, token, logit)``: that token competes at that position.
    """
    ids = tok.encode(tagged)
    feats = torch.zeros(len(ids), 80)
    feats[:, 0] = -1e4  # never blank
    for t, token in enumerate(ids):
        feats[t, token] = 5.0
    if near_miss is not None:
        position, token, logit = near_miss
        feats[position, token] = logit
    return feats


def write_wav(path: Path, seconds: float = 0.5, rate: int = 16000, channels: int = 1) -> Path:
    rng = np.random.default_rng(0)
    samples = (0.1 * rng.standard_normal((int(seconds * rate), channels))).astype("float32")
    soundfile.write(str(path), samples, rate)
    return path


def near_miss_case(tok: Tokenizer) -> Tensor:
    """Spells "stephen" with "stephan" a near miss at the second-to-last letter."""
    ids = tok.encode("call <contact> stephen </contact>")
    position = len(ids) - 3
    assert tok.decode([ids[position]]) == "e"
    return spelled_frames(
        tok, "call <contact> stephen </contact>", (position, tok.encode("a")[-1], 4.8)
    )


def test_phrase_list_changes_output_without_reloading(transcriber: Transcriber, tokenizer) -> None:
    feats = near_miss_case(tokenizer)
    opts = DecodingOptions(beam=4, boost=1.0, max_symbols=1)
    outputs = [
        transcriber.decode_features([feats], phrases, opts)[0].text
        for phrases in (None, ["stephan"], ["steven"], [Phrase("stephan")], [])
    ]
    assert outputs == [
        "call stephen",
        "call stephan",
        "call stephen",
        "call stephan",
        "call stephen",
    ]


def test_boost_zero_ignores_the_list(transcriber: Transcriber, tokenizer) -> None:
    feats = near_miss_case(tokenizer)
    for beam in (1, 4):
        opts = DecodingOptions(beam=beam, boost=0.0, max_symbols=1)
        assert transcriber.decode_features([feats], ["stephan"], opts)[0].text == "call stephen"


def test_phrase_vectors_computed_once_per_list(transcriber: Transcriber) -> None:
    model = transcriber.model
    opts = DecodingOptions(beam=2, boost=1.0)
    feats = torch.randn(12, 80)
    for _ in range(3):
        transcriber.decode_features([feats, feats[:5]], ["stephen", "noodle lamp"], opts)
    assert model.phrase_calls == 1
    transcriber.decode_features([feats], ["steven lee"], opts)
    assert model.phrase_calls == 2
    transcriber.decode_features([feats], ["steven lee"], DecodingOptions(deep_biasing=False))
    assert model.phrase_calls == 2


def test_transcript_fields(transcriber: Transcriber, tokenizer) -> None:
    feats = spelled_frames(tokenizer, TEXTS[0])
    out = transcriber.decode_features([feats], None, DecodingOptions(beam=1, max_symbols=1))[0]
    assert out.tagged == TEXTS[0]
    assert out.text == strip_tags(out.tagged) == "call stephen fitzgerald now"
    assert out.intent == "call_contact"
    data = json.loads(out.to_json())
    assert data["slots"] == [{"type": "contact", "value": "stephen fitzgerald"}]
    assert Transcript.from_tagged(data["tagged"]) == out


def test_transcribe_audio_path_and_samples(transcriber: Transcriber, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "a.wav")
    by_path = transcriber.transcribe(wav)
    samples, _ = soundfile.read(str(wav), dtype="float32")
    assert transcriber.transcribe(torch.from_numpy(samples)) == by_path
    with pytest.raises(AudioError, match="no such audio file"):
        transcriber.transcribe(tmp_path / "missing.wav")


def test_unspellable_phrase_names_the_phrase(transcriber: Transcriber) -> None:
    with pytest.raises(PhraseFileError, match="zoë"):
        transcriber.transcribe(torch.zeros(1600), ["zoë"])


# --- the command line ------------------------------------------------------------------------


@pytest.fixture()
def cli(monkeypatch: pytest.MonkeyPatch, transcriber: Transcriber, capsys):
    """Run ``catt transcribe --model m.pt ...`` in process with the stand-in transcriber."""
    monkeypatch.setattr(transcriber_module, "load", lambda path, device=None: transcriber)

    def run(*args: str) -> Tuple[int, List[dict], str]:
        code = main(["transcribe", "--model", "m.pt", *map(str, args)])
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, [json.loads(line) for line in out.splitlines()], err

    return run


def test_cli_prints_one_json_object_per_file(cli, tmp_path: Path) -> None:
    a, b = write_wav(tmp_path / "a.wav"), write_wav(tmp_path / "b.wav", seconds=0.3)
    contacts = tmp_path / "contacts.txt"
    contacts.write_text("stephen fitzgerald\nsteven lee\t2\n", encoding="utf-8")
    code, lines, _ = cli("--contacts", contacts, "--boost", "1.5", a, b)
    assert code == 0
    assert [d["audio"] for d in lines] == [str(a), str(b)]
    for d in lines:
        assert set(d) == {"audio", "text", "intent", "slots", "tagged"}
        assert d["text"] == strip_tags(d["tagged"])


def test_cli_missing_audio_among_good_files(cli, tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav")
    missing = tmp_path / "missing.wav"
    code, lines, _ = cli(good, missing, good)
    assert code == 1
    assert "error" not in lines[0] and "error" not in lines[2]
    assert lines[1]["audio"] == str(missing) and "missing.wav" in lines[1]["error"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk", "cannot decode audio")],
    ids=["empty", "corrupt"],
)
def test_cli_broken_wav(cli, tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    code, lines, _ = cli(bad, write_wav(tmp_path / "ok.wav"))
    assert code == 1
    assert lines[0]["audio"] == str(bad) and message in lines[0]["error"]
    assert "bad.wav" in lines[0]["error"]
    assert "text" in lines[1]


def test_cli_wav_without_samples(cli, tmp_path: Path) -> None:
    empty = tmp_path / "zero.wav"
    soundfile.write(str(empty), np.zeros((0,), dtype="float32"), 16000)
    code, lines, _ = cli(empty)
    assert code == 1 and "no audio samples" in lines[0]["error"]


def test_cli_stereo_44k_works(cli, tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "stereo.wav", rate=44100, channels=2)
    code, lines, _ = cli(wav)
    assert code == 0 and "text" in lines[0]


def test_cli_phrase_file_not_utf8(cli, tmp_path: Path) -> None:
    bad = tmp_path / "contacts.txt"
    bad.write_bytes(b"stephen\n\xe9mile\n")
    code, lines, err = cli("--contacts", bad, write_wav(tmp_path / "a.wav"))
    assert code == 2 and lines == []
    assert f"{bad}:2" in err and "UTF-8" in err


def test_cli_empty_phrase_file_works(cli, tmp_path: Path) -> None:
    empty = tmp_path / "devices.txt"
    empty.write_bytes(b"")
    code, lines, _ = cli("--devices", empty, "--boost", "2", write_wav(tmp_path / "a.wav"))
    assert code == 0 and "text" in lines[0]


def test_cli_unspellable_phrase_names_the_line(cli, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.txt"
    contacts.write_text("stephen\n# family\nzoë lee\n", encoding="utf-8")
    code, lines, err = cli("--contacts", contacts, write_wav(tmp_path / "a.wav"))
    assert code == 2 and lines == []
    assert err.startswith(f"catt: error: {contacts}:3:") and "ë" in err


def test_cli_ten_thousand_phrases(cli, tmp_path: Path) -> None:
    rng = random.Random(0)
    letters = "acdefghilmnoprstuvwz"
    names = {"".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(12_000)}
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("\n".join(sorted(names)[:10_000]) + "\n", encoding="utf-8")
    code, lines, _ = cli("--phrases", phrases, "--boost", "1", write_wav(tmp_path / "a.wav"))
    assert code == 0 and "text" in lines[0]


@pytest.mark.parametrize("flag", ["--beam", "--max-symbols"])
def test_cli_bad_search_option_is_one_line(cli, tmp_path: Path, flag: str) -> None:
    code, _, err = cli(flag, "0", write_wav(tmp_path / "a.wav"))
    assert code == 2 and f"{flag[2:].replace('-', '_')} must be an integer >= 1" in err


def test_cli_no_closed_slots_transcribes(cli, tmp_path: Path) -> None:
    code, lines, _ = cli("--no-closed-slots", "--beam", "2", write_wav(tmp_path / "a.wav"))
    assert code == 0 and "text" in lines[0]


def test_cli_boost_back_to_back_reaches_the_boosting_trie(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: List[bool] = []
    real = transcriber_module.ContextTrie

    def recording(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("back_to_back", True))
        return real(*args, **kwargs)

    monkeypatch.setattr(transcriber_module, "ContextTrie", recording)
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("stephen fitzgerald\n", encoding="utf-8")
    wav = write_wav(tmp_path / "a.wav")
    for flags, expected in [((), False), (("--boost-back-to-back",), True)]:
        code, lines, _ = cli("--phrases", phrases, "--boost", "1", *flags, wav)
        assert code == 0 and "text" in lines[0]
        assert built[0] is expected  # the boosting trie (a pointer's trie comes after)
        built.clear()


def test_cli_resolve_needs_a_ctc_head(cli, tmp_path: Path) -> None:
    contacts = tmp_path / "contacts.txt"
    contacts.write_text("stephen fitzgerald\n", encoding="utf-8")
    code, lines, err = cli("--contacts", contacts, "--resolve", write_wav(tmp_path / "a.wav"))
    assert code == 2 and lines == []
    assert err.count("\n") == 1 and "CTC head" in err
    code, _, err = cli("--resolve-bonus", "inf", write_wav(tmp_path / "a.wav"))
    assert code == 2 and "resolve_bonus must be a finite number" in err
    code, _, err = cli("--resolve-transducer", "2", write_wav(tmp_path / "a.wav"))
    assert code == 2 and "resolve_transducer must be in [0, 1]" in err
    code, _, err = cli("--resolve-floor", "1", write_wav(tmp_path / "a.wav"))
    assert code == 2 and "resolve_floor must be in [0, 1)" in err
    code, _, err = cli("--resolve-char-head", "-1", write_wav(tmp_path / "a.wav"))
    assert code == 2 and "resolve_char_head must be a finite number >= 0" in err


def test_cli_starts_from_the_models_tuned_settings_and_flags_override_them(
    monkeypatch: pytest.MonkeyPatch, tokenizer: Tokenizer, tmp_path: Path, capsys
) -> None:
    tuned = DecodingOptions(
        boost=1.5, resolve=True, resolve_transducer=0.5, boost_without_resolution=0.5
    )
    model = Transcriber(FrameModel(tokenizer.vocab_size), tokenizer, options=tuned)
    monkeypatch.setattr(transcriber_module, "load", lambda path, device=None: model)
    used: List[DecodingOptions] = []

    def spy(self: Transcriber, audio, phrases=None, options=None) -> Transcript:
        used.append(options)
        return Transcript.from_tagged("hello")

    monkeypatch.setattr(Transcriber, "transcribe", spy)
    audio = write_wav(tmp_path / "a.wav")
    cases = [
        ([], tuned),
        (["--beam", "2"], dataclasses.replace(tuned, beam=2)),
        (["--no-resolve"], dataclasses.replace(tuned, resolve=False)),  # the search at 0.5
        (
            ["--boost", "0", "--no-resolve", "--resolve-transducer", "0"],
            DecodingOptions(resolve_transducer=0.0),
        ),
        (["--boost", "2", "--no-resolve"], dataclasses.replace(tuned, boost=2.0, resolve=False,
                                                               boost_without_resolution=None)),
        (["--resolve-char-head", "0", "--resolve-char-head-bonus", "3"],
         dataclasses.replace(tuned, resolve_char_head=0.0, resolve_char_head_bonus=3.0)),
    ]  # fmt: skip
    for flags, expected in cases:
        assert main(["transcribe", "--model", "m.pt", *flags, str(audio)]) == 0
        assert used.pop() == expected, flags
    assert [o.search_boost for o in (tuned, dataclasses.replace(tuned, resolve=False))] == [
        1.5,
        0.5,
    ]
    phrases = model.prepare_phrases([Phrase("hello", slot="contact")])
    trie = model._trie(phrases, dataclasses.replace(tuned, resolve=False))
    assert trie is not None and trie.boost == 0.5
    capsys.readouterr()
    assert main(["transcribe", "--model", "m.pt", "--boost", "-1", str(audio)]) == 2
    assert "boost must be a finite number >= 0" in capsys.readouterr().err and not used
