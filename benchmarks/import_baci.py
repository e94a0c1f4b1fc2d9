"""Benchmark ``critmin data import-baci`` on a synthetic full-size BACI year.

Generates a BACI-format year (columns ``t,i,j,k,v,q``; 10 M rows by default) with
real CEPII country codes and ~5,000 real HS92 six-digit codes from ``data/raw/trade``,
``q`` missing in ~2% of rows as whitespace-padded ``NA`` (as in recent releases),
into ``benchmarks/_work/`` (gitignored). Then, each in its own subprocess, in turn:

1. ``critmin data import-baci FILE --out benchmarks/_work/world_import`` (the installed command, end to
   end: start-up, validation, typed read, Parquet, checks, checksum, a complete World written);
2. ``pandas.read_csv(FILE)``: the read the issue names, as a user would first write it (``k`` read as
   integers, losing its leading zeros; ``q`` left as text, the padded ``NA`` not being recognised);
3. ``pandas.read_csv(FILE, dtype={"k": str}, skipinitialspace=True)``: the pandas read that yields the
   same typed columns as the import (``k`` as text; the padded ``NA`` read as missing, ``q`` numeric);
4. ``pandas.read_csv(FILE, dtype={"k": str}, na_values=[...])``: also typed, with the padded ``NA``
   spelled out as it appears in the file (as the import detects it in the first MiB): the fastest
   typed pandas read when the padding is known in advance.

For each it prints wall time, the child's CPU time (user + system, every thread) and its peak resident
memory (``ru_rusage`` from ``os.wait4``): the import parses on every core, pandas on one, so on a
two-core machine the CPU times explain the wall times.
The commands run in turn ``--repeat`` times (default 5) and the minimum, median and maximum are
printed: wall times on a shared virtual machine vary by up to 2x from one run to the next, so one
pair of runs decides nothing. Before each command the file system is synced (and 0.5 s allowed),
so that no command is slowed by the write-back of the World the previous import wrote.
Target: import peak memory < 2 GB, and the import faster than each pandas read, by median and by
minimum.

Usage (from the repository root)::

    /work/venv/bin/python benchmarks/import_baci.py [--rows 10000000] [--regenerate] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
TRADE = ROOT / "data" / "raw" / "trade"
COUNTRY_CODES = TRADE / "baci_country_codes_V202401b.csv"
PRODUCT_CODES = TRADE / "baci_product_codes_HS92_V202401b.csv"
CHUNK = 1_000_000
TARGET_RSS_BYTES = 2 * 1024**3


def _codes() -> tuple[np.ndarray, np.ndarray]:
    with COUNTRY_CODES.open(encoding="utf-8-sig") as fh:
        countries = np.array(sorted({int(r["country_code"]) for r in csv.DictReader(fh)}), dtype=np.int64)
    with PRODUCT_CODES.open(encoding="utf-8-sig") as fh:
        products = np.array(sorted({r["code"].strip().zfill(6) for r in csv.DictReader(fh)
                                    if r["code"].strip().isdigit()}))
    return countries, products


def generate(path: Path, rows: int, seed: int = 2022) -> None:
    """Write a synthetic BACI year of ``rows`` rows to ``path`` (numpy + pyarrow CSV writer)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    countries, products = _codes()
    rng = np.random.default_rng(seed)
    tmp = path.with_suffix(".part")
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with tmp.open("wb") as fh:
        fh.write(b"t,i,j,k,v,q\n")
        done = 0
        while done < rows:
            n = min(CHUNK, rows - done)
            i = rng.choice(countries, n)
            j = rng.choice(countries, n)
            j = np.where(j == i, countries[(np.searchsorted(countries, j) + 1) % len(countries)], j)
            k = products[rng.integers(0, len(products), n)]
            v = np.round(rng.lognormal(3.0, 2.5, n) + 0.001, 3)
            q = pc.cast(pa.array(np.round(rng.lognormal(2.0, 3.0, n) + 0.001, 3)), pa.string())
            q = pc.if_else(pa.array(rng.random(n) < 0.02), "           NA", q)
            table = pa.table({"t": np.full(n, 2022, dtype=np.int32), "i": i, "j": j, "k": k, "v": v, "q": q})
            pacsv.write_csv(table, fh, opts)
            done += n
    os.replace(tmp, path)


def measure(cmd: list[str]) -> tuple[float, int, float, str]:
    """Run ``cmd`` after a sync; return wall seconds, the child's peak RSS in bytes, its CPU seconds (user +
    system, all threads) and its stdout+stderr."""
    os.sync()
    time.sleep(0.5)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{out}")
    return wall, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, out  # ru_maxrss is in KiB on Linux


PANDAS_READS = {
    "pandas.read_csv(FILE)": """
import sys, pandas as pd
df = pd.read_csv(sys.argv[1])
print(len(df), "rows, k", df["k"].dtype, "q", df["q"].dtype)
""",
    "pandas.read_csv(FILE, dtype={'k': str}, skipinitialspace=True)": """
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], dtype={"k": str}, skipinitialspace=True)
print(len(df), "rows, k", df["k"].dtype, "q", df["q"].dtype)
""",
    "pandas.read_csv(FILE, dtype={'k': str}, na_values=NA_FORMS)": """
import sys, json, pandas as pd
df = pd.read_csv(sys.argv[1], dtype={"k": str}, na_values=json.loads(sys.argv[2]))
print(len(df), "rows, k", df["k"].dtype, "q", df["q"].dtype)
""",
}


def _critmin() -> list[str]:
    """The installed ``critmin`` console script next to this interpreter (else ``python -m``)."""
    script = Path(sys.executable).with_name("critmin")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "critmin.cli.main"]


def _stats(values: list[float]) -> str:
    return (f"min {min(values):5.2f}  median {statistics.median(values):5.2f}  max {max(values):5.2f} s   "
            f"({' '.join(f'{v:.2f}' for v in values)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--regenerate", action="store_true", help="Write the synthetic file even if it exists.")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="Run the import and the pandas reads in turn N times.")
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / f"BACI_HS92_Y2022_synthetic_{args.rows}.csv"
    if args.regenerate or not data.is_file():
        t0 = time.perf_counter()
        generate(data, args.rows)
        print(f"generated {data.relative_to(ROOT)}: {args.rows:,} rows, {data.stat().st_size / 1e6:,.0f} MB "
              f"in {time.perf_counter() - t0:.1f} s")
    else:
        print(f"reusing {data.relative_to(ROOT)} ({data.stat().st_size / 1e6:,.0f} MB)")

    out = WORK / "world_import"
    from critmin.ingest.baci import na_forms as baci_na_forms

    na_forms = json.dumps([f for f in baci_na_forms(data) if f.strip() == "NA" and f != "NA"])
    print(f"NA_FORMS = {na_forms}")
    walls: dict[str, list[float]] = {"import-baci": []}
    peaks: dict[str, list[int]] = {"import-baci": []}
    cpus: dict[str, list[float]] = {"import-baci": []}
    for run in range(args.repeat):
        wall, rss, cpu, text = measure([*_critmin(), "data", "import-baci", str(data), "--out", str(out)])
        walls["import-baci"].append(wall)
        peaks["import-baci"].append(rss)
        cpus["import-baci"].append(cpu)
        summary = " ".join(text.split()[-12:])  # "wrote …: N trade rows, … checksum …"
        print(f"[{run + 1}] import-baci: {wall:5.2f} s  CPU {cpu:5.2f} s  peak RSS {rss / 2**20:5.0f} MiB   "
              f"({summary[-110:]})")
        if args.skip_pandas:
            continue
        for name, script in PANDAS_READS.items():
            wall, rss, cpu, text = measure([sys.executable, "-c", script, str(data), na_forms])
            walls.setdefault(name, []).append(wall)
            peaks.setdefault(name, []).append(rss)
            cpus.setdefault(name, []).append(cpu)
            print(f"[{run + 1}] {name}: {wall:5.2f} s  CPU {cpu:5.2f} s  peak RSS {rss / 2**20:5.0f} MiB   "
                  f"({text.strip()})")
    print()
    for name, values in walls.items():
        print(f"{name}\n    {_stats(values)}, CPU median {statistics.median(cpus[name]):.2f} s, "
              f"peak RSS up to {max(peaks[name]) / 2**20:,.0f} MiB")
    imp = walls["import-baci"]
    ok_mem = max(peaks["import-baci"]) < TARGET_RSS_BYTES
    print(f"\ntarget peak < 2 GiB: {'met' if ok_mem else 'MISSED'} ({max(peaks['import-baci']) / 2**20:,.0f} MiB)")
    if args.skip_pandas:
        return
    ok_time = True
    for name in PANDAS_READS:
        base = walls[name]
        by_median = statistics.median(imp) / statistics.median(base)
        by_min = min(imp) / min(base)
        faster = by_median < 1 and by_min < 1
        ok_time &= faster
        print(f"import / {name}: {by_median:.2f}x by median, {by_min:.2f}x by minimum -> "
              f"{'faster' if faster else 'NOT faster'}")
    print(f"target faster than every pandas read above: {'met' if ok_time else 'MISSED'}")


if __name__ == "__main__":
    main()
