"""Benchmark ``critmin data import-baci`` on a synthetic full-size BACI year.

Generates a BACI-format year (columns ``t,i,j,k,v,q``; 10 M rows by default) with
real CEPII country codes and ~5,000 real HS92 six-digit codes from ``data/raw/trade``,
``q`` missing in ~2% of rows as whitespace-padded ``NA`` (as in recent releases),
into ``benchmarks/_work/`` (gitignored). Then, each in its own subprocess:

1. ``critmin data import-baci FILE --out benchmarks/_work/world_import`` (the installed command, end to
   end: start-up, validation, streaming to Parquet, checksum, a complete World written);
2. ``pandas.read_csv(FILE, dtype={"k": str}, skipinitialspace=True)``: the pandas read that yields the
   same typed columns as the import (``k`` as text to keep its leading zeros; ``skipinitialspace`` so the
   real format's space-padded ``NA`` is read as missing and ``q`` is numeric). This is the baseline of
   the target;
3. ``pandas.read_csv(FILE, dtype={"k": str}, na_values=[...])`` with the padded ``NA`` spelled out as
   it appears in the file (the spellings the import itself detects in the first MiB): also typed, and
   faster than ``skipinitialspace`` when the padding is known in advance; the target is checked against
   the faster of the two typed reads in each run;
4. ``pandas.read_csv(FILE, dtype={"k": str})`` with default arguments otherwise, printed for
   transparency: it is faster but leaves ``q`` as text (the padded ``NA`` is not recognised), so it is
   not a usable read of the format.

For each it prints wall time and the child's peak resident memory (``ru_maxrss`` from
``os.wait4``), and the ratios. With ``--repeat N`` the two commands run alternately N times (the
machine may be shared: alternating puts both under the same load) and the ranges are printed.
Target: import peak memory < 2 GB and import faster than the (typed) pandas read, in every run.

Usage (from the repository root)::

    /work/venv/bin/python benchmarks/import_baci.py [--rows 10000000] [--regenerate] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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


def measure(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """Run ``cmd``; return wall seconds, the child's peak RSS in bytes, and its stdout+stderr."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{out}")
    return wall, usage.ru_maxrss * 1024, out  # ru_maxrss is in KiB on Linux


PANDAS_READ = """
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], dtype={"k": str}, skipinitialspace=True)
print(len(df), "rows, q", df["q"].dtype)
"""
PANDAS_READ_NA = """
import sys, json, pandas as pd
df = pd.read_csv(sys.argv[1], dtype={"k": str}, na_values=json.loads(sys.argv[2]))
print(len(df), "rows, q", df["q"].dtype)
"""
PANDAS_READ_DEFAULT = """
import sys, pandas as pd
df = pd.read_csv(sys.argv[1], dtype={"k": str})
print(len(df), "rows, q", df["q"].dtype)
"""


def _critmin() -> list[str]:
    """The installed ``critmin`` console script next to this interpreter (else ``python -m``)."""
    script = Path(sys.executable).with_name("critmin")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "critmin.cli.main"]


def _range(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if len(values) == 1 or fmt.format(lo) == fmt.format(hi) else \
        f"{fmt.format(lo)}-{fmt.format(hi).strip()}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--regenerate", action="store_true", help="Write the synthetic file even if it exists.")
    ap.add_argument("--skip-pandas", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="Run import and pandas read alternately N times.")
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
    imports, reads, na_reads, defaults = [], [], [], []
    for run in range(args.repeat):
        imp_wall, imp_rss, imp_out = measure([*_critmin(), "data", "import-baci", str(data), "--out", str(out)])
        imports.append((imp_wall, imp_rss))
        summary = " ".join(imp_out.split()[-12:])  # "wrote …: N trade rows, … checksum …"
        print(f"[{run + 1}] import-baci : {imp_wall:6.2f} s  peak RSS {imp_rss / 2**20:6.0f} MiB   ({summary[-120:]})")
        if args.skip_pandas:
            continue
        pd_wall, pd_rss, pd_out = measure([sys.executable, "-c", PANDAS_READ, str(data)])
        reads.append((pd_wall, pd_rss))
        print(f"[{run + 1}] pandas read : {pd_wall:6.2f} s  peak RSS {pd_rss / 2**20:6.0f} MiB   "
              f"({pd_out.strip()})   ratio time {imp_wall / pd_wall:.2f}x, memory {imp_rss / pd_rss:.2f}x")
        n_wall, n_rss, n_out = measure([sys.executable, "-c", PANDAS_READ_NA, str(data), na_forms])
        na_reads.append(n_wall)
        print(f"[{run + 1}] pandas read, na_values={na_forms}: {n_wall:6.2f} s  peak RSS {n_rss / 2**20:6.0f} MiB   "
              f"({n_out.strip()})   ratio time {imp_wall / n_wall:.2f}x")
        d_wall, d_rss, d_out = measure([sys.executable, "-c", PANDAS_READ_DEFAULT, str(data)])
        defaults.append(d_wall)
        print(f"[{run + 1}] pandas read, default arguments (q stays text): {d_wall:6.2f} s  peak RSS "
              f"{d_rss / 2**20:6.0f} MiB   ({d_out.strip()})")
    iw, ir = [w for w, _ in imports], [r / 2**20 for _, r in imports]
    print(f"import-baci : {_range(iw, '{:.2f}')} s, peak RSS {_range(ir, '{:.0f}')} MiB")
    ok_mem = max(r for _, r in imports) < TARGET_RSS_BYTES
    if args.skip_pandas:
        print(f"target peak < 2 GiB: {'met' if ok_mem else 'MISSED'}")
        return
    pw, pr = [w for w, _ in reads], [r / 2**20 for _, r in reads]
    ratios = [a / min(b, c) for a, b, c in zip(iw, pw, na_reads, strict=True)]
    print(f"pandas read (typed, skipinitialspace) : {_range(pw, '{:.2f}')} s, peak RSS {_range(pr, '{:.0f}')} MiB")
    print(f"pandas read (typed, na_values)        : {_range(na_reads, '{:.2f}')} s")
    print(f"pandas read (default arguments, q left as text): {_range(defaults, '{:.2f}')} s")
    print(f"ratio import / faster typed pandas read (same run): time {_range(ratios, '{:.2f}')}x")
    ok_time = all(r < 1 for r in ratios)
    print(f"target peak < 2 GiB: {'met' if ok_mem else 'MISSED'}; faster than the typed pandas read (every run): "
          f"{'met' if ok_time else 'MISSED'}")


if __name__ == "__main__":
    main()
