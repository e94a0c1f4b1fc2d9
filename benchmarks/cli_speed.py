"""End-to-end speed of the CLI where people wait (issue 11), as subprocesses of the installed ``critmin``.

    python benchmarks/cli_speed.py [--runs 5]

Runs each command ``--runs`` times (output to a temporary file, as when redirected) after one warm-up
run, and prints every run, the median and whether the target is met:

- ``critmin risk geopolrisk --all --json``: median under 1.5 s;
- ``critmin --help``: median under 0.5 s.

Exit status 1 when a target is missed. Medians, because the machine may be shared and noisy.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: (command arguments, target median in seconds)
CASES: list[tuple[list[str], float]] = [
    (["risk", "geopolrisk", "--all", "--json"], 1.5),
    (["--help"], 0.5),
]


def critmin_command() -> list[str]:
    """The ``critmin`` console script next to this Python, else on PATH, else ``python -m``."""
    here = Path(sys.executable).with_name("critmin")
    if here.exists():
        return [str(here)]
    found = shutil.which("critmin")
    return [found] if found else [sys.executable, "-m", "critmin.cli.main"]


def time_once(cmd: list[str], out: Path) -> float:
    """Wall time of one run with stdout redirected to ``out``; raises if the command fails."""
    with out.open("wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.PIPE, check=False)
        dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return dt


def main() -> int:
    """Run the cases; print runs, median and target met/not; 0 when every target is met."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5, help="timed runs per command (default 5)")
    args = ap.parse_args()
    base = critmin_command()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stdout"
        for argv, target in CASES:
            cmd = [*base, *argv]
            time_once(cmd, out)  # warm-up: file-system cache, .pyc files
            runs = [time_once(cmd, out) for _ in range(args.runs)]
            med = statistics.median(runs)
            met = med < target
            ok &= met
            print(f"critmin {' '.join(argv)}")
            print(f"  runs:   {', '.join(f'{r:.3f}' for r in runs)} s")
            print(f"  median: {med:.3f} s  (min {min(runs):.3f}, max {max(runs):.3f}; output {out.stat().st_size:,} "
                  "bytes)")
            print(f"  target: < {target} s  {'met' if met else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
