"""Issue 2, Done-when 6 (CLI): --world / $CRITMIN_WORLD select a World; data query --json/--csv;
data import-baci on a small real-format file; the Python accessors' documented columns."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import RAW_DIR

import critmin
from critmin.ingest.baci_import import parquet_digest
from critmin.world import EMBEDDED_WORLD

SLICE = RAW_DIR / "trade" / "baci_hs12_850650_2018_2020_sample.csv"


@pytest.fixture(scope="module")
def imported_world(tmp_path_factory) -> Path:
    """A World whose trade is the real BACI HS12 850650 sample, imported by the CLI."""
    from conftest import run_critmin

    out = tmp_path_factory.mktemp("imported") / "world"
    codes = RAW_DIR / "trade" / "baci_country_codes_V202201.csv"
    res = run_critmin("data", "import-baci", SLICE, "--out", out, "--country-codes", codes)
    assert res.returncode == 0, res.stderr
    # piped output is the summary alone: no progress bar in stdout or stderr
    assert res.stdout.startswith(f"wrote {out}: 13,317 trade rows") and "importing" not in res.stdout + res.stderr
    assert len(res.stdout.splitlines()) == 1  # never wrapped: scripts read the checksum from this line
    return out


# ------------------------------------------------------------------ Python API
ACCESSOR_COLUMNS = {
    "countries": ["iso3", "iso2", "name", "m49", "region"],
    "blocs": ["bloc", "iso3"],
    "materials": ["material", "name", "unit", "wmd_name"],
    "production": ["material", "stage", "country", "year", "quantity", "unit", "source"],
    "reserves": ["material", "country", "year", "quantity", "unit", "source"],
    "trade": ["year", "exporter", "importer", "hs6", "value_kusd", "quantity_t", "source"],
    "governance": ["country", "year", "indicator", "value"],
    "demand": ["material", "sector", "scenario", "year", "quantity", "unit", "source"],
    "salient": ["material", "year", "statistic", "value", "unit", "flag"],
}


@pytest.mark.parametrize("accessor", sorted(ACCESSOR_COLUMNS))
def test_load_accessors_return_documented_columns(accessor: str) -> None:
    world = critmin.load()
    df = getattr(world, accessor)()
    assert isinstance(df, pd.DataFrame) and len(df) > 0
    assert set(ACCESSOR_COLUMNS[accessor]) <= set(df.columns)
    documented = [f["name"] for f in world.resource(accessor)["schema"]["fields"]]
    assert list(df.columns) == documented
    doc = getattr(type(world), accessor).__doc__
    for col in ACCESSOR_COLUMNS[accessor][:3]:
        assert col in doc, (accessor, col)


def test_accessor_filters_and_types() -> None:
    world = critmin.load()
    p = world.production(material="gallium", country=["CHN", "JPN"], year=2024, source="usgs-mcs-2025")
    assert set(p["country"]) == {"CHN", "JPN"} and set(p["year"]) == {2024}
    assert pd.api.types.is_integer_dtype(p["year"]) and pd.api.types.is_float_dtype(p["quantity"])
    t = world.trade(hs6="260400", year=[2021, 2022], importer="USA")
    assert set(t["year"]) == {2021, 2022} and (t["hs6"] == "260400").all()
    assert world.table("us_states")["is_territory"].dtype == bool
    assert world.table("chain_end_uses")["defence"].dtype == bool
    assert world.countries()["m49"].dtype == "Int64"
    with pytest.raises(critmin.InputError, match="galium"):
        world.production(material="galium")


def test_load_path_and_env(monkeypatch, imported_world: Path) -> None:
    monkeypatch.delenv("CRITMIN_WORLD", raising=False)
    assert critmin.load().path == EMBEDDED_WORLD
    assert critmin.load(imported_world).path == imported_world
    monkeypatch.setenv("CRITMIN_WORLD", str(imported_world))
    assert critmin.load().checksum == critmin.load(imported_world).checksum != critmin.load(EMBEDDED_WORLD).checksum


# ------------------------------------------------------------------ --world and CRITMIN_WORLD
def _info(res) -> dict:
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_world_option_and_env_select_another_world(cli, imported_world: Path) -> None:
    default = _info(cli("data", "info", "--json"))
    other = json.loads((imported_world / "datapackage.json").read_text())["checksum"]
    assert default["checksum"] != other
    assert _info(cli("--world", imported_world, "data", "info", "--json"))["checksum"] == other
    assert _info(cli("data", "info", "--json", env={"CRITMIN_WORLD": str(imported_world)}))["checksum"] == other
    # --world wins over the environment
    res = cli("--world", EMBEDDED_WORLD, "data", "info", "--json", env={"CRITMIN_WORLD": str(imported_world)})
    assert _info(res)["checksum"] == default["checksum"]


def test_import_baci_matches_raw_file(cli, imported_world: Path) -> None:
    with SLICE.open(encoding="utf-8") as fh:
        raw = list(csv.DictReader(fh))
    res = cli("--world", imported_world, "data", "query",
                      "SELECT year, count(*) AS n, sum(value_kusd) AS v, count(quantity_t) AS nq, "
                      "count(DISTINCT hs6) AS k FROM trade WHERE source = 'baci' GROUP BY year ORDER BY year",
                      "--json")
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    for r in got:
        rows = [x for x in raw if int(x["t"]) == r["year"]]
        assert r["n"] == len(rows)
        assert r["v"] == pytest.approx(sum(float(x["v"]) for x in rows))
        assert r["nq"] == sum(1 for x in rows if x["q"].strip() not in ("", "NA"))
        assert r["k"] == 1
    assert [r["year"] for r in got] == [2018, 2019, 2020]
    dp = json.loads((imported_world / "datapackage.json").read_text())
    trade = next(r for r in dp["resources"] if r["name"] == "trade")
    base_rows = next(r for r in critmin.load(EMBEDDED_WORLD).datapackage["resources"] if r["name"] == "trade")["rows"]
    assert trade["rows"] == len(raw) + base_rows  # 850650 is in no base year: every base row is kept
    assert trade["sources"][0]["license"] == "etalab-2.0"
    assert trade["hash"] == "sha256:" + parquet_digest(imported_world / "trade.parquet")
    assert dp["derived_from"]["world_checksum"] == critmin.load(EMBEDDED_WORLD).checksum


def test_import_baci_is_deterministic_and_chains_only(cli, imported_world: Path, tmp_path: Path) -> None:
    codes = RAW_DIR / "trade" / "baci_country_codes_V202201.csv"
    res = cli("data", "import-baci", SLICE, "--out", tmp_path / "again", "--country-codes", codes)
    assert res.returncode == 0, res.stderr
    a = json.loads((imported_world / "datapackage.json").read_text())
    b = json.loads((tmp_path / "again" / "datapackage.json").read_text())
    assert a["checksum"] == b["checksum"]
    # --chains-only keeps exactly the rows under a chain's HS code: relabel every third row of the
    # sample (850650, in no chain) as 850760 (Li-ion cells, in the battery chain).
    chain_codes = {c for ch in critmin.load().chains.values() for s in ch.stages for c in s.hs6}
    assert "850650" not in chain_codes and "850760" in chain_codes
    lines = SLICE.read_text(encoding="utf-8").splitlines()
    mixed = [lines[0]] + [ln.replace(",850650,", ",850760,") if n % 3 == 0 else ln for n, ln in enumerate(lines[1:])]
    assert all(",850650," in ln for ln in lines[1:])
    (tmp_path / "mixed.csv").write_text("\n".join(mixed) + "\n", encoding="utf-8")
    res = cli("data", "import-baci", tmp_path / "mixed.csv", "--out", tmp_path / "chains", "--country-codes",
                      codes, "--chains-only")
    assert res.returncode == 0, res.stderr
    rows = critmin.load(tmp_path / "chains").trade()
    rows = rows[rows["source"] == "baci"]
    assert len(rows) == len(range(0, len(lines) - 1, 3)) > 0
    assert set(rows["hs6"]) <= chain_codes


def test_import_baci_several_files_equal_one(cli, imported_world: Path, tmp_path: Path) -> None:
    """The sample cut into three files (one of them padded so that it takes the checked read) imports to the
    very table the whole file gives: same rows in the same order, same checksum."""
    codes = RAW_DIR / "trade" / "baci_country_codes_V202201.csv"
    lines = SLICE.read_text(encoding="utf-8").splitlines()
    header, body = lines[0], lines[1:]
    cuts = [body[:4000], body[4000:9000], body[9000:]]
    cuts[1] = [ln.replace(",850650,", ", 850650 ,") for ln in cuts[1]]  # spaces around k: not the fast path
    files = []
    for n, cut in enumerate(cuts):
        f = tmp_path / f"part{n}.csv"
        f.write_text("\n".join([header, *cut]) + "\n", encoding="utf-8")
        files.append(f)
    res = cli("data", "import-baci", *files, "--out", tmp_path / "parts", "--country-codes", codes)
    assert res.returncode == 0, res.stderr
    a = json.loads((imported_world / "datapackage.json").read_text())
    b = json.loads((tmp_path / "parts" / "datapackage.json").read_text())
    assert b["checksum"] == a["checksum"]
    whole, parts = critmin.load(imported_world).trade(), critmin.load(tmp_path / "parts").trade()
    pd.testing.assert_frame_equal(parts, whole)


@pytest.mark.slow
def test_import_baci_replaces_only_the_imported_year_and_codes(cli, tmp_path: Path) -> None:
    """A one-year file of two base HS codes replaces those (year, hs6) pairs only: every other row of
    the base World's trade table stays, with its source label; imported rows are labelled 'baci'."""
    base = critmin.load(EMBEDDED_WORLD).trade()
    year, codes_in = 2020, ["260400", "250810"]
    sub = base[(base["year"] == year) & base["hs6"].isin(codes_in)]
    assert set(sub["hs6"]) == set(codes_in) and len(base["year"].unique()) > 20
    rev = {}
    with (RAW_DIR / "trade" / "baci_country_codes_V202401b.csv").open(encoding="utf-8-sig") as fh:
        for r in csv.DictReader(fh):
            rev.setdefault(r["country_iso3"], r["country_code"])
    pairs = sub[sub["exporter"].isin(rev) & sub["importer"].isin(rev)]
    pairs = pairs.drop_duplicates(["exporter", "importer", "hs6"]).groupby("hs6").head(25)
    assert set(pairs["hs6"]) == set(codes_in)
    lines = ["t,i,j,k,v,q"] + [f"{year},{rev[e]},{rev[i]},{k},1.5,2.0"
                               for e, i, k in zip(pairs["exporter"], pairs["importer"], pairs["hs6"], strict=True)]
    f = tmp_path / "BACI_one_year.csv"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = cli("data", "import-baci", f, "--out", tmp_path / "w")
    assert res.returncode == 0, res.stderr
    got = critmin.load(tmp_path / "w").trade()
    imported = got[got["source"] == "baci"]
    assert len(imported) == len(pairs) > 0 and set(imported["year"]) == {year}
    assert (imported["value_kusd"] == 1.5).all()
    # every base row outside the imported (year, hs6) pairs is kept, values and source unchanged
    hit = set(zip(imported["year"], imported["hs6"], strict=True))
    kept = base[[(y, h) not in hit for y, h in zip(base["year"], base["hs6"], strict=True)]]
    others = got[got["source"] != "baci"].reset_index(drop=True)
    pd.testing.assert_frame_equal(others, kept.reset_index(drop=True), check_dtype=False, check_categorical=False)
    assert set(others["source"]) == set(base["source"])
    # the replaced pairs are gone from the base sources; the other codes of that year stay
    assert not ((others["year"] == year) & others["hs6"].isin(codes_in)).any()
    assert ((others["year"] == year) & ~others["hs6"].isin(codes_in)).sum() > 0
    dp = json.loads((tmp_path / "w" / "datapackage.json").read_text())
    trade = next(r for r in dp["resources"] if r["name"] == "trade")
    assert trade["rows"] == len(got) and {s["name"] for s in trade["sources"]} == {"baci", *set(base["source"])}


# ------------------------------------------------------------------ data query
SQL = "SELECT country, quantity FROM production WHERE material = 'rare-earths' AND year = 2024 " \
      "AND source = 'wmd' ORDER BY quantity DESC LIMIT 3"


def test_query_json(cli) -> None:
    res = cli("data", "query", SQL, "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert rows[0] == {"country": "CHN", "quantity": 270000.0}
    assert len(rows) == 3


def test_query_csv(cli) -> None:
    res = cli("data", "query", SQL, "--csv")
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(io.StringIO(res.stdout))
    assert list(df.columns) == ["country", "quantity"] and df.iloc[0].tolist() == ["CHN", 270000.0]


def test_query_table_view(cli) -> None:
    res = cli("data", "query", SQL)
    assert res.returncode == 0, res.stderr
    assert "CHN" in res.stdout and "country" in res.stdout


def test_cli_and_import_baci_start_without_pandas():
    """`critmin` and its BACI import path load no pandas at start-up (it costs ~0.3 s per command)."""
    code = ("import sys, critmin, critmin.cli.main, critmin.ingest.baci_import; "
            "print('pandas' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
