"""Worker processes stop with the command: SIGTERM and errors inside a pool's block."""

import multiprocessing
import os
import signal
import time

import pytest

from catt.cli import _terminate, main
from catt.workers import process_pool


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_pool_that_finishes_returns_every_result() -> None:
    with process_pool(2) as pool:
        assert list(pool.map(_nap, [0.0, 0.01, 0.0])) == [0.0, 0.01, 0.0]


def _dies(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` is gone or a zombie within ``timeout`` seconds. Not
    ``Process.is_alive``: the pool reaps its own workers, and the two would race."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("handler", [signal.SIG_DFL, _terminate], ids=["default", "catt"])
def test_an_error_in_the_block_stops_the_workers_and_the_tasks(handler) -> None:
    # Forked workers inherit the SIGTERM handler in force, such as the one catt.cli.main
    # installs, which SIGTERM alone would not get past.
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(RuntimeError, match="stop"):
            with process_pool(2) as pool:
                futures = [pool.submit(_nap, 60.0) for _ in range(10)]
                while not any(f.running() for f in futures):
                    time.sleep(0.01)
                processes = list(pool._processes.values())
                raise RuntimeError("stop")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert all(_dies(p.pid) for p in processes)
    # Every task ends, none by running its minute: cancelled, or failed with the pool.
    assert all(f.cancelled() or f.exception(timeout=10) is not None for f in futures)


def test_sigterm_stops_a_command_and_its_decoding_pool(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    started = []

    def decode_with_a_pool(**kwargs) -> None:
        with multiprocessing.get_context("fork").Pool(2) as pool:
            started.extend(pool._pool)
            result = pool.map_async(_nap, [60.0, 60.0])
            os.kill(os.getpid(), signal.SIGTERM)
            result.get(timeout=60)

    monkeypatch.setattr("catt.decode.decode_set.decode_condition", decode_with_a_pool)
    before = signal.getsignal(signal.SIGTERM)
    code = main(["decode", "--model", "m.pt", "--data", "d", "--split", "test", "--out", "o"])
    assert code == 143 and capsys.readouterr().err == "catt: terminated\n"
    assert signal.getsignal(signal.SIGTERM) == before  # main puts the handler back
    assert all(_dies(p.pid) for p in started)
