"""Issue 11: every table command piped through a 60-column pipe prints ids and headers whole.

In-process through Typer's CliRunner: its stdout is not a terminal, as when piped or redirected, and
``COLUMNS=60`` is set as a narrow terminal would. The expected ids come from the same command's
``--json`` (or the Python API), so a cut name ('antim…', 'GeoPol…') fails the test.
"""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

import critmin
from critmin.cli.format import fmt_cell, fmt_num, fmt_pct
from critmin.cli.main import app


@pytest.fixture(autouse=True)
def _embedded_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRITMIN_WORLD", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def piped(*args: str) -> str:
    """``critmin ARGS`` with stdout not a terminal and ``COLUMNS=60``; asserts exit 0, returns stdout."""
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "60"}, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.stdout


def as_json(*args: str) -> object:
    return json.loads(piped(*args, "--json"))


def assert_whole(out: str, names: list[str] | set[str]) -> None:
    """No ellipsis anywhere and every name printed as a whole word."""
    assert "…" not in out
    assert names
    for n in names:
        assert re.search(rf"(?<![\w-]){re.escape(str(n))}(?![\w-])", out), f"{n!r} not printed whole"


def assert_no_wrap(out: str) -> None:
    """Table rows are not folded: every row line of a table has the table's width."""
    for block in re.findall(r"┏[^\n]*\n(?:[^\n]*\n)*?└[^\n]*", out):
        widths = {len(line) for line in block.splitlines()}
        assert len(widths) == 1, block[:400]


# ------------------------------------------------------------------ formatting layer
def test_cells_percent_digits_missing_booleans() -> None:
    assert fmt_num(3.331e-16) == "0"
    assert fmt_num(230_500.4) == "230,500"
    assert fmt_num(0.123456) == "0.1235"
    assert fmt_pct(0.7589) == "75.9%"
    assert fmt_cell(float("nan"), "num") == "–"
    assert fmt_cell(None) == "–"
    assert fmt_cell(True) == "yes" and fmt_cell(False) == "no"
    import pandas as pd

    assert fmt_cell(pd.NA, "int") == "–"


# ------------------------------------------------------------------ risk
def test_concentration() -> None:
    out = piped("risk", "concentration", "--material", "graphite", "--stage", "mining")
    doc = as_json("risk", "concentration", "--material", "graphite", "--stage", "mining")
    assert_whole(out, [x["country"] for x in doc["shares"][:10]] + ["share (%)"])
    assert "75.9%" in out  # a share as a percentage, not 0.759
    assert_no_wrap(out)


def test_concentration_trend() -> None:
    out = piped("risk", "concentration", "--material", "rare-earths", "--years", "2018:2024")
    assert_whole(out, [str(y) for y in range(2018, 2025)] + ["china_share (%)", "hhi_10k (0–10,000)"])
    assert_no_wrap(out)


def test_dependence() -> None:
    args = ("risk", "dependence", "--importer", "USA,JPN", "--material", "antimony,graphite")
    out = piped(*args)
    assert_whole(out, {r["material"] for r in as_json(*args)} | {"USA", "JPN", "partner_share (%)", "nir (%)"})


def test_geopolrisk_all() -> None:
    args = ("risk", "geopolrisk", "--all", "--importer", "JPN", "--year", "2022")
    out = piped(*args)
    rows = as_json(*args)
    assert_whole(out, {r["material"] for r in rows[:60]} | {"import_risk", "price (kUSD/t)"})
    assert "--csv" in out or len(rows) <= 60  # the hint names options the command has
    assert_no_wrap(out)


def test_eu_crm_and_exposure() -> None:
    out = piped("risk", "eu-crm", "--material", "antimony,graphite,gallium")
    assert_whole(out, ["antimony", "graphite", "gallium", "ir (%)"])
    args = ("risk", "exposure", "--importer", "USA", "--chain", "rare-earth-magnets")
    out = piped(*args)
    assert_whole(out, {r["stage"] for r in as_json(*args)} | {"china_share_effective (%)", "rare-earth-magnets"})


@pytest.mark.parametrize("metric", ["geopolrisk", "hhi-import", "hhi-production", "nir", "exposure"])
def test_risk_table(metric: str) -> None:
    args = ["risk", "table", "--metric", metric, "--year", "2022"]
    if metric != "hhi-production":
        args += ["--importer", "JPN"]
    out = piped(*args)
    rows = as_json(*args)
    assert_whole(out, {r["material"] for r in rows[:60]})
    assert_no_wrap(out)


# ------------------------------------------------------------------ brief, network
def test_brief() -> None:
    out = piped("brief", "--importer", "USA,JPN")
    world = critmin.load()
    stages = {s.id for ch in world.chains.values() for s in ch.stages}
    assert_whole(out, stages | {"GeoPolRisk", "HHI production", "USA←CHN (%)", "JPN←CHN (%)"})
    assert "0.3793" in out  # four significant digits, no raw 0.3793215928937063


def test_network_show() -> None:
    out = piped("network", "show", "li-ion-batteries")
    world = critmin.load()
    assert_whole(out, [s.id for s in world.chains["li-ion-batteries"].stages])


# ------------------------------------------------------------------ data
def test_data_info_and_query() -> None:
    out = piped("data", "info")
    assert_whole(out, [t["name"] for t in as_json("data", "info")["tables"]])
    sql = "SELECT DISTINCT material, stage FROM production ORDER BY material, stage"
    out = piped("data", "query", sql)
    rows = as_json("data", "query", sql)
    assert_whole(out, {r["material"] for r in rows[:60]} | {r["stage"] for r in rows[:60]})


def test_data_check() -> None:
    r = CliRunner().invoke(app, ["data", "check", "--topic", "magnets"], env={"COLUMNS": "60"})
    assert r.exit_code in (0, 1), r.output
    ids = [x["id"] for x in json.loads(CliRunner().invoke(app, ["data", "check", "--topic", "magnets",
                                                                  "--json"]).stdout)["figures"]]
    assert_whole(r.stdout, ids)


# ------------------------------------------------------------------ registry
def test_projects_list_and_standing() -> None:
    out = piped("projects", "list", "--country", "JPN")
    rows = as_json("projects", "list", "--country", "JPN")
    assert_whole(out, {r["id"] for r in rows[:60]})
    out = piped("projects", "standing")
    assert len(out.splitlines()) < 120  # a summary, not 900 lines
    assert "--all" in out
    full = piped("projects", "standing", "--all")
    assert_whole(full, {r["id"] for r in as_json("projects", "standing")})


def test_invest_summary() -> None:
    args = ("invest", "summary", "--by", "programme")
    out = piped(*args)
    assert_whole(out, {r["programme"] for r in as_json(*args)})


# ------------------------------------------------------------------ scenarios, simulate
def test_scenarios_list() -> None:
    out = piped("scenarios", "list")
    assert_whole(out, [r["name"] for r in as_json("scenarios", "list")])
    assert_no_wrap(out)


def test_simulate_tables() -> None:
    args = ("simulate", "ga-ge-us-ban-2024", "--runs", "20", "--horizon", "6")
    out = piped(*args)
    doc = as_json(*args)
    assert_whole(out, {r["country"] for r in doc["shortfall"][:25]} | {r["material"] for r in doc["prices"]})
