"""Importing catt turns tqdm's monitor thread off (catt/progress.py)."""

import subprocess
import sys

SCRIPT = """
import threading
import catt
from tqdm import tqdm
for _ in tqdm(range(3), disable=False):
    pass
print(sorted(t.name for t in threading.enumerate()))
"""


def test_a_bar_leaves_no_monitor_thread_behind() -> None:
    # In a new process: a bar of an earlier test may have started the monitor in this one.
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "['MainThread']"
