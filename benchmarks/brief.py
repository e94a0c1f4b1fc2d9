"""Benchmark: `critmin brief --importer USA,JPN` end to end, as a user runs it (issue 9 target: median < 2 s).

Each run is a fresh process of the installed ``critmin`` (interpreter start-up, imports, loading the
World, building the chain networks, risk metrics, printing), output discarded; also ``critmin --help``.
Prints every run (wall clock and the child's CPU time: a wall time well above the CPU time means the
run waited for a core), min / median / max, whether the brief's median meets the target and, with
``--baseline REV``, the same commands on the code at git revision REV in alternating runs and the
ratio of the medians.

    python benchmarks/brief.py [--runs 5] [--target 2.0] [--importer USA,JPN] [--baseline 8f2b0f1]
"""

from __future__ import annotations

import argparse
import os
import sys

from _timing import compare, critmin_command


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", type=float, default=2.0, help="seconds the brief's median must stay under")
    ap.add_argument("--importer", default="USA,JPN")
    ap.add_argument("--baseline", default=None, help="git revision to time side by side (e.g. 8f2b0f1)")
    a = ap.parse_args()
    world = os.environ.get("CRITMIN_WORLD") or "embedded"
    print(f"command: {' '.join(critmin_command())}  (World: {world}; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} cores)")
    ok = compare("brief", ["brief", "--importer", a.importer], a.runs, a.target, a.baseline)
    compare("--help", ["--help"], a.runs, None, a.baseline)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
