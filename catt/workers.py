"""Worker processes that stop with the command that started them.

A :class:`~concurrent.futures.ProcessPoolExecutor` left by an exception (an error, Ctrl-C,
SIGTERM: :class:`catt.cli.Terminated`) waits for every task submitted to it before the command
can exit, and a process killed meanwhile leaves its workers running. :func:`process_pool`
cancels what has not started and stops the workers instead.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Iterator

__all__ = ["process_pool"]


@contextlib.contextmanager
def process_pool(max_workers: int, **kwargs: Any) -> Iterator[ProcessPoolExecutor]:
    """``ProcessPoolExecutor(max_workers, **kwargs)`` for a ``with`` block: shut down as usual
    when the block ends, cancelled and its processes killed when it raises."""
    pool = ProcessPoolExecutor(max_workers, **kwargs)
    try:
        yield pool
    except BaseException:
        # The executor has no public handle on its processes; the attribute is in 3.7 to 3.13.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            # SIGKILL: a forked worker inherits the command's SIGTERM handler (it raises
            # catt.cli.Terminated), and the executor's worker loop would catch that and go on.
            process.kill()
        raise
    pool.shutdown(wait=True)
