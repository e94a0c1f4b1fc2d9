"""Shared by the CLI benchmarks: the command to run, a baseline revision unpacked beside it, timed runs.

Not a benchmark itself. ``with_baseline(rev)`` unpacks ``git archive REV src`` into a temporary
folder so that the same command can run on the code before a change, side by side (alternating
runs, so both see the same machine load), and results can be printed as ratios.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def critmin_command() -> list[str]:
    """The ``critmin`` console script next to this Python, else on PATH, else ``python -m critmin.cli.main``."""
    here = Path(sys.executable).with_name("critmin")
    if here.exists():
        return [str(here)]
    found = shutil.which("critmin")
    return [found] if found else [sys.executable, "-m", "critmin.cli.main"]


@contextlib.contextmanager
def baseline(rev: str | None) -> Iterator[tuple[list[str], dict[str, str]] | None]:
    """(command, environment) running critmin as it was at git revision ``rev`` (its ``src`` unpacked in a
    temporary folder, on ``PYTHONPATH``), or None when ``rev`` is None. The World is the embedded one of
    *that* revision, as its users had it."""
    if rev is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as tmp:
        tar = Path(tmp) / "src.tar"
        with tar.open("wb") as fh:
            subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], stdout=fh, check=True)
        with tarfile.open(tar) as t:
            t.extractall(tmp, filter="data")
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "src")}
        yield [sys.executable, "-m", "critmin.cli.main"], env


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall s, CPU s of the child) of one run, output discarded; exits with the command's error if it fails."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {res.returncode}: {res.stderr.decode()[-500:]}")
    return dt, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def compare(label: str, argv: list[str], runs: int, target: float | None, rev: str | None) -> bool:
    """Time ``critmin ARGV`` ``runs`` times after a warm-up (alternating with revision ``rev`` when given);
    print every run, min/median/max, the ratio to ``rev`` by median, and whether the median is under
    ``target`` seconds. Returns whether the target is met (True without a target)."""
    now_cmd = [*critmin_command(), *argv]
    with baseline(rev) as old:
        cases = [("now", now_cmd, None)] + ([(rev, [*old[0], *argv], old[1])] if old else [])
        for _, cmd, env in cases:
            run_once(cmd, env)  # warm-up: file-system cache, .pyc files
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        print(f"critmin {' '.join(argv)}")
        for k in range(runs):
            for name, cmd, env in cases:
                dt, cpu = run_once(cmd, env)
                times[name].append(dt)
                print(f"  run {k + 1} {name:>8}: {dt:6.2f} s  (cpu {cpu:5.2f} s)")
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in times.items():
        print(f"  {name:>8}: min {min(t):.2f} s  median {med[name]:.2f} s  max {max(t):.2f} s  ({len(t)} runs)")
    if rev:
        print(f"  ratio now / {rev} (medians): {med['now'] / med[rev]:.2f}x")
    if target is None:
        return True
    ok = med["now"] < target
    print(f"  {label} median {med['now']:.2f} s {'<' if ok else '>='} {target} s target: {'met' if ok else 'NOT met'}")
    return ok
