"""Indirect exposure on small hand-built worlds whose answers are known by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from critmin.chains import Chain
from critmin.errors import InputError
from critmin.risk.exposure import exposure
from critmin.world import World

SRC = {"source": "hand-built test world"}


def _chain(with_production: bool = True) -> Chain:
    return Chain.model_validate({
        "id": "magnets", "title": "t", "description": "d", "materials": ["oxide", "magnet"],
        "stages": [
            {"id": "oxide", "name": "oxide", "kind": "refining", "material": "oxide", "content": "t",
             "hs6": ["284690"], **({"production": {"material": "oxide", "stage": "refining", "source": "test"}}
                                   if with_production else {})},
            {"id": "magnet", "name": "magnet", "kind": "component", "material": "magnet", "content": "t",
             "hs6": ["850511"], "inputs": [{"stage": "oxide", "factor": {"value": 0.5, "unit": "t/t", **SRC}}]},
        ],
    })


def _world(trade: list[tuple], production: list[tuple], blocs: list[tuple] = ()) -> World:
    iso = sorted({r[0] for r in trade} | {r[1] for r in trade} | {p[0] for p in production} | {"CHN", "JPN", "USA"})
    return World.from_tables(
        chains={"magnets": _chain()},
        countries=pd.DataFrame({"iso3": iso, "name": iso, "kind": "country"}),
        blocs=pd.DataFrame(list(blocs), columns=["bloc", "iso3"]),
        materials=pd.DataFrame({"material": ["oxide", "magnet"], "name": ["oxide", "magnet"], "unit": "t",
                                "wmd_name": "", "default_source": "test"}),
        production=pd.DataFrame([("oxide", "refining", c, 2024, q, "t", "test", "reported", "")
                                 for c, q in production],
                                columns=["material", "stage", "country", "year", "quantity", "unit", "source",
                                         "case", "flag"]),
        trade=pd.DataFrame([(2024, e, i, hs, 0.0, q, "test") for e, i, hs, q in trade],
                           columns=["year", "exporter", "importer", "hs6", "value_kusd", "quantity_t", "source"]),
    )


def _row(df: pd.DataFrame, importer: str, stage: str) -> pd.Series:
    return df[(df["importer"] == importer) & (df["stage"] == stage)].iloc[0]


def test_pass_through_counts_as_chinese_at_the_oxide_stage():
    # China refines oxide, Vietnam makes magnets from it, Japan buys the magnets.
    w = _world(trade=[("CHN", "VNM", "284690", 40.0), ("VNM", "JPN", "850511", 80.0)], production=[("CHN", 100.0)])
    e = exposure(w, "JPN", 2024)
    mag, ox = _row(e, "JPN", "magnet"), _row(e, "JPN", "oxide")
    assert mag["china_share_direct"] == 0.0 and mag["china_share_effective"] == 0.0  # magnets made in Vietnam
    assert pd.isna(ox["china_share_direct"])  # Japan imports no oxide directly
    assert ox["china_share_effective"] == pytest.approx(1.0)
    assert ox["effective_supply_t"] == pytest.approx(80 * 0.5)  # oxide content of the magnets


def test_mixing_of_origins_and_direct_imports():
    # Vietnam's oxide: 30 t Chinese + 10 t Australian; Japan also buys 20 t oxide from Australia directly.
    w = _world(trade=[("CHN", "VNM", "284690", 30.0), ("AUS", "VNM", "284690", 10.0),
                      ("VNM", "JPN", "850511", 80.0), ("AUS", "JPN", "284690", 20.0)],
               production=[("CHN", 100.0), ("AUS", 50.0)])
    ox = _row(exposure(w, "JPN", 2024), "JPN", "oxide")
    assert ox["china_share_direct"] == 0.0
    # own oxide supply 20 t (all AUS) + 40 t embodied (75 % CHN) -> 30 / 60
    assert ox["china_share_effective"] == pytest.approx(0.5)
    assert ox["nir"] == pytest.approx(1.0)  # imports 20, no production, no exports


def test_re_exports_through_a_trader_are_traced():
    # Singapore re-exports Chinese magnets (no production there): effective magnet share is China's.
    w = _world(trade=[("CHN", "SGP", "850511", 10.0), ("SGP", "JPN", "850511", 10.0)], production=[("CHN", 50.0)])
    mag = _row(exposure(w, "JPN", 2024), "JPN", "magnet")
    assert mag["china_share_direct"] == 0.0
    assert mag["china_share_effective"] == pytest.approx(1.0)


def test_cycle():
    # Korea refines 10 t and imports 10 t from China; Korea and Singapore trade 5 t both ways; Japan buys
    # from Singapore. Korea's supply 25 t: o_K = (10 K + 10 C + 5 o_S)/25 with o_S = o_K -> half Chinese.
    w = _world(trade=[("CHN", "KOR", "284690", 10.0), ("KOR", "SGP", "284690", 5.0), ("SGP", "KOR", "284690", 5.0),
                      ("SGP", "JPN", "284690", 4.0)],
               production=[("CHN", 100.0), ("KOR", 10.0)])
    e = exposure(w, ["JPN", "KOR"], 2024)
    assert _row(e, "JPN", "oxide")["china_share_effective"] == pytest.approx(0.5)
    assert _row(e, "KOR", "oxide")["china_share_effective"] == pytest.approx(0.5)
    assert _row(e, "KOR", "oxide")["china_share_direct"] == pytest.approx(10 / 15)


def test_bloc_internal_trade_is_domestic():
    # USA makes magnets from Chinese oxide and sells them to Japan; JPN also buys Chinese magnets.
    w = _world(trade=[("CHN", "USA", "284690", 20.0), ("USA", "JPN", "850511", 40.0), ("CHN", "JPN", "850511", 10.0)],
               production=[("CHN", 100.0)], blocs=[("USA+JPN", "USA"), ("USA+JPN", "JPN")])
    e = exposure(w, ["JPN", "USA+JPN"], 2024)
    jp, bl = _row(e, "JPN", "magnet"), _row(e, "USA+JPN", "magnet")
    assert jp["china_share_direct"] == pytest.approx(10 / 50)
    assert bl["china_share_direct"] == pytest.approx(1.0)  # US-Japan trade is internal
    assert bl["imports_t"] == pytest.approx(10.0)
    # bloc magnet supply: 40 t made inside (net exports of the bloc = 0 -> production estimated from USA's
    # net exports is merged away), so the bloc's traced oxide is all Chinese
    assert _row(e, "USA+JPN", "oxide")["china_share_effective"] == pytest.approx(1.0)


def test_bad_inputs():
    w = _world(trade=[("CHN", "JPN", "284690", 1.0)], production=[("CHN", 1.0)])
    with pytest.raises(InputError, match="neither an ISO3"):
        exposure(w, "XXX", 2024)
    with pytest.raises(InputError, match="2024"):
        exposure(w, "JPN", 2019)
    with pytest.raises(InputError, match="unknown chain"):
        exposure(w, "JPN", 2024, chain="magnet")
