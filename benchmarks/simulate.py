"""Benchmark: the ``critmin simulate`` command a user runs, end to end, now and before issue 10.

Times, in fresh subprocesses (interpreter start, World load, the run, the summaries and the JSON
on stdout, as the user waits for them)::

    critmin simulate ree-magnet-embargo-us-jpn-12m --runs 10000 --json
    critmin simulate ree-magnet-embargo-us-jpn-12m --runs 1000 --out F.nc      (and the file's size)

at the World's full country resolution, median of ``--repeat`` runs (3), alternating with the same
command on the code at ``--baseline`` (default 8f2b0f1, the revision before issue 10 began; its
``src`` unpacked by ``_timing.baseline``) so that both see the same machine load. Memory, per run:

* ``max RSS``: the largest resident set of any one process of the command (``wait4``'s
  ``ru_maxrss``, what ``/usr/bin/time -v`` prints);
* ``peak PSS``: the largest sum, sampled every 50 ms, of the proportional set size of the command's
  whole process tree (``/proc/PID/smaps_rollup``): memory shared between a parent and its forked
  workers counts once. This is the command's real footprint when it runs worker processes.

Targets (issue 10): median < 30 s and peak memory < 1 GB on the 2-core development machine; ``--out``
for 1,000 runs < 20 MB. Prints the machine load (``os.getloadavg``) before and after.

    python benchmarks/simulate.py [--runs 10000] [--repeat 3] [--baseline 8f2b0f1 | --no-baseline]
                                  [--scenario NAME] [--skip-out]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import baseline, critmin_command  # noqa: E402

GB = 1 << 30
MB = 1 << 20


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as fh:
                    todo.extend(int(x) for x in fh.read().split())
        except OSError:
            continue
    return out


def _pss(pid: int) -> int:
    """Proportional set size of one process, bytes (0 once it has gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _fresh(cmd: list[str], env: dict[str, str] | None) -> dict[str, float]:
    """One measured run in a fresh child Python that runs the command and reports its own children's rusage."""
    probe = (
        "import os, resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "dt = time.perf_counter() - t\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "sys.stderr.write(r.stderr.decode()[-500:]) if r.returncode else None\n"
        "print(dt, u.ru_maxrss * 1024, u.ru_utime + u.ru_stime, r.returncode)\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", probe, *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_pss(p) for p in _tree(proc.pid)[1:]))  # the command's tree, not the probe
        time.sleep(0.05)
    out, err = proc.communicate()
    total = time.perf_counter() - t0
    fields = out.decode().split()
    if proc.returncode or len(fields) != 4 or fields[3] != "0":
        raise SystemExit(f"{' '.join(cmd)} failed: {err.decode()[-800:]}")
    wall, maxrss, cpu = float(fields[0]), int(fields[1]), float(fields[2])
    return {"wall": wall, "max_rss": maxrss, "peak_pss": peak, "cpu": cpu, "outer": total}


def bench(label: str, argv: list[str], repeat: int, rev: str | None, target_s: float | None,
          target_mem: float | None, after: Callable[[], int] | None = None) -> dict[str, dict[str, float]]:
    """Time ``critmin ARGV`` ``repeat`` times, alternating with revision ``rev``; print runs, medians, ratios."""
    now_cmd = [*critmin_command(), *argv]
    with baseline(rev) as old:
        cases = [("now", now_cmd, None)] + ([(rev, [*old[0], *argv], old[1])] if old else [])
        print(f"\n{label}: critmin {' '.join(argv)}")
        res: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in cases}
        sizes: dict[str, int] = {}
        for k in range(repeat):
            for name, cmd, env in cases:
                r = _fresh(cmd, env)
                res[name].append(r)
                extra = ""
                if after is not None:
                    sizes[name] = after()
                    extra = f"  file {sizes[name] / MB:7.1f} MB"
                print(f"  run {k + 1} {name:>8}: {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  max RSS "
                      f"{r['max_rss'] / GB:5.2f} GB  peak PSS (tree) {r['peak_pss'] / GB:5.2f} GB{extra}",
                      flush=True)
    med = {name: {m: statistics.median(x[m] for x in rs) for m in ("wall", "max_rss", "peak_pss", "cpu")}
           for name, rs in res.items()}
    print(f"  {'':>8}  {'median s':>9} {'max RSS GB':>11} {'peak PSS GB':>12}" + ("  file MB" if sizes else ""))
    for name, m in med.items():
        f = f"  {sizes[name] / MB:7.1f}" if name in sizes else ""
        print(f"  {name:>8}  {m['wall']:9.2f} {m['max_rss'] / GB:11.2f} {m['peak_pss'] / GB:12.2f}{f}")
    if rev:
        a, b = med["now"], med[rev]
        print(f"  ratio now / {rev}: time {a['wall'] / b['wall']:.2f}x, max RSS {a['max_rss'] / b['max_rss']:.2f}x,"
              f" peak PSS {a['peak_pss'] / b['peak_pss']:.2f}x")
    if target_s is not None:
        m = med["now"]
        mem = max(m["max_rss"], m["peak_pss"])
        ok_t, ok_m = m["wall"] < target_s, mem < (target_mem or float("inf"))
        print(f"  target median < {target_s:.0f} s: {'met' if ok_t else 'NOT met'} ({m['wall']:.2f} s); "
              f"memory < {(target_mem or 0) / GB:.0f} GB: {'met' if ok_m else 'NOT met'} ({mem / GB:.2f} GB)")
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scenario", default="ree-magnet-embargo-us-jpn-12m")
    ap.add_argument("--baseline", default="8f2b0f1", help="git revision to time side by side (before issue 10)")
    ap.add_argument("--no-baseline", action="store_true", help="time the current code only")
    ap.add_argument("--skip-out", action="store_true", help="skip the --runs 1000 --out F.nc case")
    a = ap.parse_args()
    rev = None if a.no_baseline else a.baseline
    print(f"load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} CPUs")
    bench("simulate --json", ["simulate", a.scenario, "--runs", str(a.runs), "--json"], a.repeat, rev,
          30.0, 1.0 * GB)
    if not a.skip_out:
        with tempfile.TemporaryDirectory() as tmp:
            nc = Path(tmp) / "result.nc"

            def size() -> int:
                n = nc.stat().st_size
                nc.unlink()
                return n

            bench("simulate --out", ["simulate", a.scenario, "--runs", "1000", "--out", str(nc)], a.repeat, rev,
                  None, None, after=size)
    print(f"load average (1, 5, 15 min) after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
