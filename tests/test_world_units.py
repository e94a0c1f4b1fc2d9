"""The World's data defects fixed at the source (critmin issue 9, build item 4, units line).

IEA "Rest of world" recomputed from the block totals; one unit per (material, stage, source) in every
table, with cited conversions; USGS names mapped; critical-list membership as data.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import RAW_DIR

import critmin
from critmin.errors import InputError
from critmin.ingest import iea, reference, usgs, wmd
from critmin.world import World

IEA_FILE = RAW_DIR / "iea" / "iea_critical_minerals_data_explorer_2025.json"
CONVERSIONS = Path(critmin.__file__).parent / "ingest" / "mappings" / "unit_conversions.csv"


@pytest.fixture(scope="module")
def world() -> World:
    return critmin.load()


# ----------------------------------------------------------------------------------------- 1. IEA blocks
def _iea_blocks() -> list[tuple[str, str, dict]]:
    data = json.loads(IEA_FILE.read_text(encoding="utf-8"))
    return [(m, s, b) for m, st in data["supply"].items() for s, b in st.items()]


def test_iea_country_rows_sum_to_the_file_total_and_rest_of_world_is_the_remainder(world: World) -> None:
    mats = world.materials()
    by_iea = dict(zip(mats["iea_name"], mats["material"], strict=True))
    prod = world.production(source="iea-2025")
    checked = 0
    for mineral, stage, block in _iea_blocks():
        named = {c: s for c, s in block["countries"].items()
                 if c != "Rest of world" and isinstance(s, dict) and any(v is not None for v in s.values())}
        for year, total in block["total"].items():
            rows = prod[(prod["material"] == by_iea[mineral]) & (prod["stage"] == stage)
                        & (prod["year"] == int(year))]
            assert rows["quantity"].sum() == pytest.approx(total * 1000.0, rel=1e-9), (mineral, stage, year)
            row = rows.loc[rows["country"] == "ROW", "quantity"].iloc[0]
            expect = total - sum(s[year] for s in named.values())
            assert row == pytest.approx(expect * 1000.0, rel=1e-9, abs=1e-6), (mineral, stage, year)
            checked += 1
    assert checked >= 40


def test_iea_nickel_mining_2024_is_the_file_total_not_plus_australia(world: World) -> None:
    """The file's own "Rest of world" (629 kt) double-counts Australia (100 kt), the sixth named country."""
    ni = world.production(material="nickel", stage="mining", source="iea-2025", year=2024)
    assert ni["quantity"].sum() == pytest.approx(3_861_000.0)
    assert ni.set_index("country").loc["ROW", "quantity"] == pytest.approx(529_000.0)


def _iea_copy(tmp_path: Path, edit) -> Path:
    data = json.loads(IEA_FILE.read_text(encoding="utf-8"))
    edit(data)
    (tmp_path / "iea").mkdir()
    (tmp_path / "iea" / IEA_FILE.name).write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def test_iea_named_countries_above_the_total_is_an_input_error(tmp_path: Path, world: World) -> None:
    def edit(d: dict) -> None:
        d["supply"]["Nickel"]["mining"]["countries"]["Indonesia"]["2024"] = 4000.0  # > total 3861

    raw = _iea_copy(tmp_path, edit)
    with pytest.raises(InputError) as e:
        iea.read_iea_supply(raw, reference.read_materials(), world.countries())
    msg = str(e.value)
    assert "supply.Nickel.mining" in msg and "more than the block total" in msg and "\n" not in msg


def test_iea_block_without_a_total_is_an_input_error(tmp_path: Path, world: World) -> None:
    raw = _iea_copy(tmp_path, lambda d: d["supply"]["Cobalt"]["refining"].pop("total"))
    with pytest.raises(InputError, match=r"supply\.Cobalt\.refining\.total.*missing block total"):
        iea.read_iea_supply(raw, reference.read_materials(), world.countries())


# ----------------------------------------------------------------------------------------- 2. units
UNIT_TABLES = {"production": ["material", "stage", "source"], "world_totals": ["material", "stage", "source"],
               "reserves": ["material", "source"], "demand": ["material", "source"],
               "salient": ["material", "statistic"]}


@pytest.mark.parametrize("table", sorted(UNIT_TABLES))
def test_one_unit_per_material_stage_source(world: World, table: str) -> None:
    df = world.table(table)
    assert len(df) > 0
    n = df.groupby(UNIT_TABLES[table])["unit"].nunique()
    assert (n == 1).all(), n[n > 1].head(10).to_dict()
    assert (df["unit"].str.strip() != "").all(), f"{table}: rows without a unit"


def test_salient_units_are_filled(world: World) -> None:
    s = world.table("salient")
    assert (s["unit"] != "").all()
    # net import reliance is a percentage whatever the column suffix (NIR_ct, NIR_Compounds-Metals_t)
    nir = s[s["statistic"].str.contains(r"(?:^|_)NIR(?:_|$)", regex=True)]
    assert len(nir) > 300 and (nir["unit"] == "percent").all()
    assert usgs.salient_unit("Consump_mmt") == "million t"
    assert usgs.salient_unit("Price_Imports_df") == usgs.UNSTATED  # a suffix outside the convention


def test_every_production_source_but_published_wmd_is_in_the_material_unit(world: World) -> None:
    """One unit and basis per (material, stage): every series except World Mining Data as published."""
    prod = world.table("production")
    unit = world.materials().set_index("material")["unit"]
    other = prod[prod["source"] != "wmd"]
    n = other.groupby(["material", "stage"])["unit"].nunique()
    assert (n == 1).all(), n[n > 1].to_dict()
    off = other[other["unit"] != other["material"].map(unit)]
    assert set(off["material"]) <= {"silicon"}, sorted(set(off["material"]))  # USGS 't Si' vs 't Si content'


def _conversions() -> dict[tuple[str, str], float]:
    with CONVERSIONS.open(encoding="utf-8") as fh:
        return {(r["from_unit"], r["to_unit"]): float(r["factor"]) for r in csv.DictReader(fh)}


def test_published_wmd_series_in_another_unit_have_a_converted_twin(world: World) -> None:
    prod = world.table("production")
    unit = world.materials().set_index("material")["unit"]
    conv = _conversions()
    pub = prod[(prod["source"] == "wmd") & (prod["unit"] != prod["material"].map(unit))]
    assert {"gold", "silver", "platinum", "palladium", "rhodium", "rhenium", "lithium", "niobium",
            "tantalum"} <= set(pub["material"])
    twin = prod[prod["source"] == "wmd-converted"]
    # row by row: the raw file has a few repeated keys (WMD codes French Guiana as GUY too), kept in order
    key = ["material", "stage", "year", "country"]
    a = pub.sort_values(key, kind="mergesort", ignore_index=True)
    b = twin.sort_values(key, kind="mergesort", ignore_index=True)
    assert len(a) == len(b) and (a[key] == b[key]).all().all()
    j = b.assign(unit_pub=a["unit"], quantity_pub=a["quantity"])
    factor = [conv[(a, b)] for a, b in zip(j["unit_pub"], j["unit"], strict=True)]
    np.testing.assert_allclose(j["quantity"], j["quantity_pub"] * factor, rtol=1e-12)
    assert (j["unit"] == j["material"].map(unit)).all()


def test_conversion_factors_follow_from_atomic_weights() -> None:
    conv = _conversions()
    li, nb, ta, o = 6.94, 92.906, 180.948, 15.999
    assert conv[("t Li2O", "t Li content")] == pytest.approx(1 / 2.153, rel=1e-12)
    assert conv[("t Li2O", "t Li content")] == pytest.approx(2 * li / (2 * li + o), rel=2e-4)  # 2.153 is rounded
    assert conv[("t Nb2O5", "t Nb content")] == pytest.approx(2 * nb / (2 * nb + 5 * o), rel=1e-12)
    assert conv[("t Ta2O5", "t Ta content")] == pytest.approx(2 * ta / (2 * ta + 5 * o), rel=1e-12)
    assert conv[("kg", "t Au content")] == 0.001


def test_australia_2024_lithium_in_li_content(world: World) -> None:
    p = world.production(material="lithium", country="AUS", year=2024)
    by = p.set_index("source")
    assert by.loc["wmd", "unit"] == "t Li2O" and by.loc["wmd-converted", "unit"] == "t Li content"
    assert by.loc["wmd-converted", "quantity"] == pytest.approx(by.loc["wmd", "quantity"] / 2.153)


def test_a_wmd_unit_without_a_conversion_is_an_input_error() -> None:
    pub = pd.DataFrame({"material": ["gold"], "stage": ["mining"], "country": ["ZAF"], "year": [2024],
                        "quantity": [1.0], "unit": ["oz"], "source": ["wmd"], "case": ["reported"], "flag": [""]})
    with pytest.raises(InputError, match="no conversion"):
        wmd.convert_to_material_unit(pub, {"gold": "t Au content"}, Path("wmd.csv"))


def test_beryllium_concentrate_and_content_are_separate_materials(world: World) -> None:
    p = world.table("production")
    assert set(p.loc[p["material"] == "beryllium", "unit"]) == {"t Be content"}
    assert set(p.loc[p["material"] == "beryllium-concentrate", "unit"]) == {"t conc."}
    assert set(p.loc[p["material"] == "beryllium-concentrate", "source"]) == {"wmd"}


# ----------------------------------------------------------------------------------------- 3. USGS names
def test_usgs_niobium_feldspar_pgm_salient_are_mapped(world: World) -> None:
    s = world.table("salient")
    assert not ({"niobi", "heliu"} & set(s["material"]))
    assert set(s.loc[s["usgs_code"] == "niobi", "material"]) == {"niobium"}
    assert {"platinum", "palladium", "rhodium"} <= set(s.loc[s["usgs_code"] == "plati", "material"])
    nir = s[(s["material"] == "platinum") & (s["statistic"] == "NIR_Platinum_pct") & (s["year"] == 2020)]
    assert nir["value"].iloc[0] == 76
    assert "feldspar" in set(s.loc[s["usgs_code"] == "felds", "material"])
    # USGS writes negatives with U+2212: niobium government shipments 2020 = -88 t
    sh = s[(s["material"] == "niobium") & (s["statistic"] == "Shipments_Gov_t") & (s["year"] == 2020)]
    assert sh["value"].iloc[0] == -88


def test_usgs_helium_and_pgm_production(world: World) -> None:
    he = world.production(material="helium", source="usgs-mcs-2025", year=2024).set_index("country")
    assert he.loc["QAT", "quantity"] == 64 and he.loc["QAT", "unit"] == "million m3"
    assert he.loc["USA", "quantity"] == 68 + 13  # extracted from natural gas + Cliffside Field, as in the world total
    pd_ = world.production(material="palladium", source="usgs-mcs-2025", year=2024).set_index("country")
    assert pd_.loc["RUS", "quantity"] == pytest.approx(75.0) and pd_.loc["RUS", "unit"] == "t Pd content"
    # the combined PGM reserve on the palladium rows is not a palladium reserve
    assert world.reserves(material="palladium").empty


# ----------------------------------------------------------------------------------------- 4. critical lists
def test_critical_list_columns(world: World) -> None:
    m = world.materials().set_index("material")
    for col in reference.LIST_COLUMNS:
        assert set(m[col]) <= {"yes", "no", ""}
    for mat in ("gallium", "rare-earths", "germanium", "cobalt", "graphite"):
        assert m.loc[mat, "usgs_critical_2025"] == "yes" and m.loc[mat, "eu_crm_2023"] == "yes", mat
    assert m.loc["gold", "usgs_critical_2025"] == "no" and m.loc["gold", "eu_crm_2023"] == "no"
    assert m.loc["helium", "eu_crm_2023"] == "yes" and m.loc["helium", "usgs_critical_2025"] == "no"
    assert m.loc["silver", "usgs_critical_2025"] == "yes" and m.loc["silver", "eu_crm_2023"] == "no"
    # Japan's 2023 list could not be confirmed from a source: unknown, never guessed
    assert (m["japan_critical_2023"] == "").all()
    # Japan's 2009 rare metals (secondary source): yes/no, empty only for ores of a listed element
    assert set(m.index[m["japan_rare_metals_2009"] == ""]) == {"baryte", "beryllium-concentrate", "zircon"}
    srcs = {s["name"] for r in world.datapackage["resources"] if r["name"] == "materials" for s in r["sources"]}
    assert {"usgs-critical-2025", "eu-crm-2023", "japan-rare-metals-2009"} <= srcs


def test_a_bad_list_value_is_an_input_error(tmp_path: Path) -> None:
    src = Path(reference.MAPPINGS) / "materials.csv"
    f = tmp_path / "materials.csv"
    shutil.copy(src, f)
    text = f.read_text(encoding="utf-8").splitlines()
    head = text[0].split(",")
    i = next(n for n, line in enumerate(text) if line.startswith("gold,"))
    cells = next(csv.reader([text[i]]))
    cells[head.index("eu_crm_2023")] = "maybe"
    text[i] = ",".join(f'"{c}"' if "," in c else c for c in cells)
    f.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=rf"row {i + 1}, column eu_crm_2023.*maybe"):
        reference.read_materials(f)
