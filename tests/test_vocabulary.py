"""Issue 11: one vocabulary across commands and the Python API (aliases with a one-line hint), metric
names that say what they are, errors naming the sources and years that have data, concentration trends."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import critmin
from critmin.cli.main import app
from critmin.errors import InputError
from critmin.world import AliasHint


@pytest.fixture(autouse=True)
def _embedded_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRITMIN_WORLD", raising=False)


@pytest.fixture(scope="module")
def world() -> critmin.World:
    return critmin.load()


def invoke(*args: str):  # noqa: ANN201 - click Result
    return CliRunner().invoke(app, list(args))


def error(*args: str) -> str:
    """The one-line message of the InputError a command raises (``critmin.cli.main.run`` prints it, exit 2)."""
    r = invoke(*args)
    assert isinstance(r.exception, InputError), r.output
    return str(r.exception)


# ------------------------------------------------------------------ importers
def test_importer_eu_reads_as_eu27_with_one_hint() -> None:
    args = ["risk", "geopolrisk", "--material", "graphite", "--year", "2022", "--json"]
    r = invoke(*args, "--importer", "EU")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["importer"] == "EU27"
    hints = [line for line in r.stderr.splitlines() if line.strip()]
    assert hints == ["hint: importer 'EU' read as 'EU27'"]
    same = invoke(*args, "--importer", "EU27")
    assert json.loads(same.stdout) == json.loads(r.stdout) and same.stderr.strip() == ""


def test_importer_aliases_in_the_python_api(world: critmin.World) -> None:
    with pytest.warns(AliasHint, match="'EU' read as 'EU27'"):
        a = world.risk.geopolrisk("graphite", "EU", 2022)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AliasHint)
        assert world.importer_id("jpn") == "JPN"
        assert world.bloc_members("EU") == world.bloc_members("EU27")
    b = world.risk.geopolrisk("graphite", "EU27", 2022)
    assert a["importer"].tolist() == ["EU27"] and a["score"].tolist() == b["score"].tolist()
    with pytest.raises(InputError, match="--importer: XYZ: neither an ISO3 country nor a bloc"):
        world.bloc_members("XYZ")


# ------------------------------------------------------------------ chains
@pytest.mark.parametrize("alias,chain", [("batteries", "li-ion-batteries"), ("gallium", "gallium-germanium")])
def test_network_show_resolves_chain_aliases(alias: str, chain: str) -> None:
    r = invoke("network", "show", alias, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["chain"] == chain
    assert f"hint: chain '{alias}' read as '{chain}'" in r.stderr


def test_unknown_chain_names_the_chains(world: critmin.World) -> None:
    with pytest.raises(InputError, match="chain: nope: unknown chain.*chains: antimony-tungsten"):
        world.chain_id("nope")
    assert error("network", "show", "nope").startswith("CHAIN: nope: unknown chain")


def test_projects_take_world_chain_ids() -> None:
    canonical = json.loads(invoke("projects", "list", "--chain", "li-ion-batteries", "--json").stdout)
    alias = invoke("projects", "list", "--chain", "batteries", "--json")
    assert canonical and json.loads(alias.stdout) == canonical
    assert "read as 'li-ion-batteries'" in alias.stderr


def test_exposure_takes_chain_alias() -> None:
    r = invoke("risk", "exposure", "--importer", "USA", "--chain", "gallium", "--json")
    assert r.exit_code == 0, r.output
    assert {x["chain"] for x in json.loads(r.stdout)} == {"gallium-germanium"}


# ------------------------------------------------------------------ metrics
def test_metric_names(world: critmin.World) -> None:
    imp = invoke("risk", "table", "--metric", "hhi-import", "--year", "2022", "--importer", "JPN", "--json")
    old = invoke("risk", "table", "--metric", "hhi", "--year", "2022", "--importer", "JPN", "--json")
    assert imp.exit_code == 0 and old.exit_code == 0, old.output
    assert json.loads(old.stdout) == json.loads(imp.stdout)
    assert "hint: metric 'hhi' read as 'hhi-import'" in old.stderr
    prod = json.loads(invoke("risk", "table", "--metric", "hhi-production", "--year", "2024", "--json").stdout)
    row = next(r for r in prod if r["material"] == "graphite" and r["stage"] == "mining" and r["source"] == "wmd")
    summ = world.risk.concentration_summary("graphite", "mining", 2024, "wmd").iloc[0]
    assert row["hhi"] == pytest.approx(summ["hhi"]) and row["china_share"] == pytest.approx(summ["china_share"])
    assert error("risk", "table", "--metric", "hhi-production", "--importer", "JPN").startswith("--importer: JPN:")


# ------------------------------------------------------------------ errors name the data
def test_year_and_stage_errors_name_sources_and_years() -> None:
    msg = error("risk", "concentration", "--material", "gallium", "--year", "2010")
    assert msg.startswith("--year: 2010:") and "wmd 2018–2024" in msg and "usgs-mcs-2025 2023–2024" in msg
    msg = error("risk", "concentration", "--material", "graphite", "--source", "wmd", "--stage", "refining")
    assert msg.startswith("--stage: refining:") and "refining data: iea-2025 2024–2040" in msg


# ------------------------------------------------------------------ trends
def test_concentration_trend_table(world: critmin.World, tmp_path: Path) -> None:
    r = invoke("risk", "concentration", "--material", "graphite", "--stage", "mining", "--years", "2018:2024",
               "--json")
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)
    assert [x["year"] for x in rows] == list(range(2018, 2025))
    for x in (rows[0], rows[-1]):
        one = world.risk.concentration_summary("graphite", "mining", x["year"], x["source"]).iloc[0]
        assert x["hhi"] == pytest.approx(one["hhi"]) and x["china_share"] == pytest.approx(one["china_share"])
        assert x["top1_share"] == pytest.approx(one["top1_share"])
    png = tmp_path / "trend.png"
    r = invoke("risk", "concentration", "--material", "graphite", "--stage", "mining", "--years", "2018:2024",
               "--plot", str(png))
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    msg = error("risk", "concentration", "--material", "graphite", "--years", "1990:1995")
    assert msg.startswith("--years: 1990–1995:") and "wmd 2018–2024" in msg
