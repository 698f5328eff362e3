#!/usr/bin/env python
"""Print the figures of a prepared smart-home corpus as a Markdown table.

python scripts/corpus_stats.py data/smarthome-tiny
"""

import argparse
import json
import sys
from pathlib import Path

from catt.data.smarthome.stats import corpus_stats, format_stats
from catt.errors import CattError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    try:
        rows = corpus_stats(args.data_dir)
    except CattError as e:
        print(f"corpus_stats: error: {e}", file=sys.stderr)
        return 2
    meta = json.loads((args.data_dir / "corpus.json").read_text(encoding="utf-8"))
    langs = ",".join(meta["langs"])
    seconds = meta["prepare_seconds"]
    print(f"size={meta['size']} langs={langs} seed={meta['seed']} prepare_seconds={seconds}")
    print(format_stats(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
