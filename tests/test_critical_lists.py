"""Critical-list membership as data (USGS 2025, EU 2023, Japan) and the risk tables' default filter.

``risk table`` and ``risk geopolrisk --all`` list only materials critical on at least one list;
``--all-materials`` (core: ``critical_only=False``) restores every material, fuels included.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest
from typer.testing import CliRunner

import critmin
from critmin.cli.main import app
from critmin.errors import InputError
from critmin.world import CRITICAL_LISTS, World

FUELS = {"petroleum", "natural-gas", "steam-coal"}


@pytest.fixture(scope="module")
def world() -> World:
    return critmin.load()


@pytest.fixture
def cli(world: World, monkeypatch: pytest.MonkeyPatch):
    from critmin.cli import risk_cmd

    monkeypatch.setattr(risk_cmd, "get_world", lambda: world)  # in-process, on the embedded World

    def run(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, ["risk", *args], catch_exceptions=False)
        return res.exit_code, res.stdout

    return run


# ------------------------------------------------------------------------------------------- membership
def test_membership_spot_checks(world: World) -> None:
    m = world.materials().set_index("material")
    for mat in ("gallium", "germanium", "cobalt", "rare-earths"):
        assert m.loc[mat, "usgs_critical_2025"] == "yes" and m.loc[mat, "eu_crm_2023"] == "yes", mat
    for col in ("usgs_critical_2025", "eu_crm_2023", "japan_rare_metals_2009"):
        assert m.loc["gold", col] == "no", col
    assert m.loc["gold", "japan_critical_2023"] == ""  # Japan's 2023 list is not confirmed: unknown
    assert m.loc["lithium", "japan_rare_metals_2009"] == "yes"
    assert m.loc["graphite", "japan_rare_metals_2009"] == "no"
    # the 2009 list names palladium and platinum, not the other PGMs; rare earths count as one metal
    assert m.loc["palladium", "japan_rare_metals_2009"] == "yes" and m.loc["rhodium", "japan_rare_metals_2009"] == "no"
    assert m.loc["magnet-rare-earths", "japan_rare_metals_2009"] == "yes"
    # an ore named otherwise than the listed element is not confirmed (same rule as the USGS column)
    assert m.loc["zircon", "japan_rare_metals_2009"] == ""


def test_japan_2009_list_has_its_31_metals(world: World) -> None:
    m = world.materials().set_index("material")["japan_rare_metals_2009"]
    on = set(m[m == "yes"].index)
    # 30 named metals + the rare earths; rubidium, caesium, thallium, zirconium, hafnium, barium have no
    # material of their own in the World, so 24 metals + two rare-earth materials are marked
    assert on == {"lithium", "beryllium", "boron", "titanium", "vanadium", "chromium", "manganese", "cobalt",
                  "nickel", "gallium", "germanium", "selenium", "strontium", "niobium", "molybdenum", "palladium",
                  "indium", "antimony", "tellurium", "tantalum", "tungsten", "rhenium", "platinum", "bismuth",
                  "rare-earths", "magnet-rare-earths"}
    assert set(m.unique()) <= {"yes", "no", ""}


def test_japan_2009_source_is_marked_secondary(world: World) -> None:
    res = next(r for r in world.datapackage["resources"] if r["name"] == "materials")
    src = {s["name"]: s for s in res["sources"]}
    assert src["japan-rare-metals-2009"]["title"].startswith("[SECONDARY]")
    assert src["japan-rare-metals-2009"]["year"] == "2009" and src["japan-rare-metals-2009"]["license"]
    assert "japan_rare_metals_2009" in [f["name"] for f in res["schema"]["fields"]]


# ------------------------------------------------------------------------------------------- helper
def test_critical_materials(world: World) -> None:
    crit = world.critical_materials()
    assert crit == sorted(crit)
    assert {"gallium", "germanium", "cobalt", "rare-earths", "lithium", "graphite"} <= set(crit)
    assert not ({"gold", "iron", "salt"} | FUELS) & set(crit)
    # molybdenum and selenium are critical only on Japan's 2009 list
    assert "molybdenum" in crit and "molybdenum" not in world.critical_materials(["usgs-2025", "eu-2023"])
    assert world.critical_materials("japan-2023") == []  # unconfirmed: nothing is marked
    assert "helium" in world.critical_materials("eu-2023") and "helium" not in world.critical_materials("usgs-2025")
    assert set(CRITICAL_LISTS) == {"usgs-2025", "eu-2023", "japan", "japan-2023", "japan-2009"}


@pytest.mark.parametrize("lists,needle", [("usgs", "unknown critical list"), ([], "at least one")])
def test_critical_materials_bad_list(world: World, lists, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as e:
        world.critical_materials(lists)
    assert str(e.value).startswith("lists")  # the parameter, not a flag


def test_critical_materials_world_without_the_columns() -> None:
    w = World.from_tables(materials=pd.DataFrame({"material": ["gold"], "usgs_critical_2025": ["no"]}))
    assert w.critical_materials("usgs-2025") == []
    with pytest.raises(InputError, match="eu_crm_2023"):
        w.critical_materials("eu-2023")


# ------------------------------------------------------------------------------------------- core default
def test_table_core_default_and_all(world: World) -> None:
    crit = set(world.critical_materials())
    a = world.risk.table("nir", 2023, "JPN")
    b = world.risk.table("nir", 2023, "JPN", critical_only=False)
    assert set(a["material"]) <= crit and FUELS <= set(b["material"])
    assert len(b) > len(a) and set(a["material"]) == set(b["material"]) & crit
    # a material asked for is never filtered out
    c = world.risk.table("nir", 2023, "JPN", material="petroleum")
    assert set(c["material"]) == {"petroleum"}
    g = world.risk.geopolrisk(importer="JPN", year=2023)
    assert set(g["material"]) <= crit and not FUELS & set(g["material"])


# ------------------------------------------------------------------------------------------- CLI
def test_cli_table_hhi_default_is_critical_only(cli) -> None:
    code, out = cli("table", "--metric", "hhi", "--year", "2023", "--importer", "JPN", "--csv")
    assert code == 0
    mats = set(pd.read_csv(io.StringIO(out))["material"])
    assert mats and not FUELS & mats
    code, out = cli("table", "--metric", "hhi", "--year", "2023", "--importer", "JPN", "--csv", "--all-materials")
    assert code == 0
    assert FUELS <= set(pd.read_csv(io.StringIO(out))["material"])


def test_cli_geopolrisk_all_default_is_critical_only(cli, world: World) -> None:
    import json

    code, out = cli("geopolrisk", "--all", "--importer", "JPN", "--year", "2023", "--json")
    assert code == 0
    mats = {r["material"] for r in json.loads(out)}
    assert mats <= set(world.critical_materials()) and "gallium" in mats and not FUELS & mats
    code, out = cli("geopolrisk", "--all", "--importer", "JPN", "--year", "2023", "--json", "--all-materials")
    assert code == 0
    assert FUELS <= {r["material"] for r in json.loads(out)}
