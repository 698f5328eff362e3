"""Progress bars without tqdm's monitor thread.

tqdm starts a monitor thread with its first bar: a daemon that wakes every 10 s and, in the
pinned tqdm (4.70), outlives every bar. A daemon thread that wakes while Python 3.9 shuts down
can leave the process hung in its finalization: a ``catt decode --jobs 2`` wrote its results and
then never exited, its main thread waiting in ``drop_gil`` for a thread that had gone. The
monitor only tunes how often a bar redraws, so importing :mod:`catt` turns it off
(:func:`disable_tqdm_monitor`) for every bar of the process: catt's own and Lhotse's.
"""

from __future__ import annotations

__all__ = ["disable_tqdm_monitor"]


def disable_tqdm_monitor() -> None:
    """No tqdm bar of this process starts the monitor thread (``tqdm.monitor_interval = 0``)."""
    from tqdm import std

    std.tqdm.monitor_interval = 0
