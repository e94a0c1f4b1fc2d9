"""End-to-end speed of the CLI where people wait (issue 11), as subprocesses of the installed ``critmin``.

    python benchmarks/cli_speed.py [--runs 5] [--baseline REV]

Runs each command ``--runs`` times after one warm-up run (alternating with the code at git revision
REV when ``--baseline`` is given) and prints every run, the medians, their ratio and whether the
target is met:

- ``critmin risk geopolrisk --all --json``: median under 1.5 s;
- ``critmin --help``: median under 0.5 s.

Exit status 1 when a target is missed. Medians, because the machine may be shared and noisy.
"""

from __future__ import annotations

import argparse
import sys

from _timing import compare

#: (command arguments, target median in seconds)
CASES: list[tuple[list[str], float]] = [
    (["risk", "geopolrisk", "--all", "--json"], 1.5),
    (["--help"], 0.5),
]


def main() -> int:
    """Run the cases; print runs, medians, ratio and target met/not; 0 when every target is met."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    ap.add_argument("--baseline", default=None, help="git revision to time side by side (e.g. 8f2b0f1)")
    args = ap.parse_args()
    ok = all([compare(" ".join(argv), argv, args.runs, target, args.baseline) for argv, target in CASES])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
