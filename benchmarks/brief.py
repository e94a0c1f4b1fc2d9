"""Benchmark: `critmin brief --importer USA,JPN` end to end, as a user runs it (target: median < 2 s).

Each run is a fresh process of the installed ``critmin`` console script (interpreter start-up,
imports, loading the World, building the chain networks, risk metrics, printing), output piped
and discarded. Also times ``critmin --help`` (start-up and imports alone). Prints every run (wall
clock, and the child's CPU time, user + system: on a shared machine a wall time well above the CPU
time means the run waited for a core), then min / median / max of the wall times and whether the
brief's median meets the target.

    /work/main/.venv/bin/python benchmarks/brief.py [--runs 5] [--target 2.0] [--importer USA,JPN]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def critmin_command() -> list[str]:
    """The ``critmin`` console script of this interpreter's environment (else ``python -m critmin.cli.main``)."""
    script = Path(sys.executable).with_name("critmin")
    if script.exists():
        return [str(script)]
    found = shutil.which("critmin")
    return [found] if found else [sys.executable, "-m", "critmin.cli.main"]


def time_runs(cmd: list[str], runs: int) -> list[float]:
    """Wall-clock seconds of ``runs`` runs of ``cmd`` (stdout/stderr piped); stops on a non-zero exit."""
    times = []
    for k in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        if res.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.strip()[-500:]}")
        times.append(dt)
        print(f"  run {k + 1}: {dt:6.2f} s  (cpu {cpu:5.2f} s)")
    return times


def report(label: str, times: list[float]) -> float:
    """Print min / median / max of ``times``; return the median."""
    med = statistics.median(times)
    print(f"{label}: min {min(times):.2f} s  median {med:.2f} s  max {max(times):.2f} s  ({len(times)} runs)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--target", type=float, default=2.0, help="seconds the brief's median must stay under")
    ap.add_argument("--importer", default="USA,JPN")
    a = ap.parse_args()
    base = critmin_command()
    world = os.environ.get("CRITMIN_WORLD") or "embedded"
    print(f"command: {' '.join(base)}  (World: {world}; python {sys.version.split()[0]}; {os.cpu_count()} cores)")

    brief = [*base, "brief", "--importer", a.importer]
    print(f"critmin brief --importer {a.importer}")
    med = report("brief", time_runs(brief, a.runs))
    print("critmin --help")
    report("--help", time_runs([*base, "--help"], a.runs))
    ok = med < a.target
    print(f"brief median {med:.2f} s {'<' if ok else '>='} {a.target:.1f} s target: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
