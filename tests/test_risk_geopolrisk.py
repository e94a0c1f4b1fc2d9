"""GeoPolRisk: critmin against geopolrisk-py 2.x on the same data.

The oracle is ``tests/data/geopolrisk_reference.csv``, written by ``benchmarks/geopolrisk_reference.py``
running the peer library in its own virtual environment (geopolrisk-py is never imported here).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import critmin
from critmin.errors import InputError
from critmin.risk.geopolrisk import CF_CU, PEER_UNJOINED_WGI, geopolrisk, geopolrisk_table, prepare

REF = Path(__file__).parent / "data" / "geopolrisk_reference.csv"
RAW = Path(__file__).resolve().parents[1] / "data" / "raw"  # the repo copy of ../shared/data
TOL = 1e-6

#: Reference importer codes that are not critmin's ISO3/bloc names.
ISO_OF_REF = {"S19": "TWN", "EU": "EU27"}  # BACI's code for Taiwan; the peer's EU region = critmin's EU27 bloc


@pytest.fixture(scope="module")
def world():
    return critmin.load()


@pytest.fixture(scope="module")
def inputs(world):
    return prepare(world)


@pytest.fixture(scope="module")
def table(world, inputs):
    return geopolrisk_table(world, inputs=inputs)


@pytest.fixture(scope="module")
def ref(world):
    r = pd.read_csv(REF, dtype=str, keep_default_na=False)
    mats = world.materials()[["material", "wmd_name"]]
    r = r.merge(mats, left_on="material_wmd", right_on="wmd_name", how="left", suffixes=("_peer", ""))
    assert r["material"].notna().all(), "every WMD sheet of the reference maps to a critmin material"
    r["iso"] = r["importer"].replace(ISO_OF_REF)
    r["year"] = r["year"].astype(int)
    return r


def _rel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    rel = np.abs(a - b) / np.maximum(np.abs(a), 1e-300)
    return np.where((a == 0) & (b == 0), 0.0, rel)


def test_reproduces_peer_to_1e6(ref, table):
    ok = ref[ref["status"] == "ok"]
    j = ok.merge(table, left_on=["material", "iso", "year"], right_on=["material", "importer", "year"],
                 how="left", suffixes=("_ref", ""), validate="one_to_one")
    assert j["score"].notna().all(), "critmin has a value for every triple the peer computes"
    assert (j["status_ref"] == "ok").all() and (j["status"] == "ok").all()
    assert len(j) >= 1000
    worst = {}
    for col in ("score", "cf", "hhi", "import_risk", "price", "numerator", "total_imports", "domestic_production"):
        rel = _rel(j[f"{col}_ref"].astype(float).to_numpy(), j[col].to_numpy(dtype=float))
        worst[col] = float(rel.max())
        bad = j.loc[rel > TOL, ["material", "iso", "year", f"{col}_ref", col]]
        assert bad.empty, f"{col}: {len(bad)} triples differ > {TOL}:\n{bad.head()}"
    assert worst["score"] <= TOL and worst["cf"] <= TOL
    # the comparison is not vacuous: most triples have real imports and a positive score
    assert (j["score"] > 0).mean() > 0.8
    assert j["iso"].nunique() >= 16 and j["material"].nunique() >= 50


def test_germany_is_the_current_country_code(ref):
    """The reference asks the peer about Germany as BACI 276, not the historical 280 (no trade)."""
    de = ref[(ref["iso"] == "DEU") & (ref["status"] == "ok")]
    assert len(de) > 0
    assert set(de["importer_code"].astype(str)) == {"276"}
    assert (de["total_imports"].astype(float) > 0).mean() > 0.9


def test_peer_failures_are_explained(world, ref, table, inputs):
    err = ref[ref["status"] == "error"]
    assert len(err) > 0
    in_range = err[err["year"].isin(inputs.years)]
    j = in_range.merge(table, left_on=["material", "iso", "year"], right_on=["material", "importer", "year"],
                       how="left", suffixes=("_ref", ""))
    assert j["status"].notna().all()
    # critmin gives the value, or says exactly which input is missing
    given = j["status"] == "ok"
    assert (j.loc[~given, "missing"].str.len() > 0).all()
    assert j.loc[~given, "missing"].str.contains("HS code|production").all()
    # out-of-range years (the peer raises UnboundLocalError): critmin names the range
    outside = sorted(set(err["year"]) - set(inputs.years))
    assert outside, "the reference probes years outside World Mining Data"
    for y in outside:
        with pytest.raises(InputError, match="2018–2024"):
            geopolrisk_table(world, "nickel", "USA", y, inputs=inputs)


def test_formula_identities(table):
    ok = table[table["status"] == "ok"]
    np.testing.assert_allclose(ok["score"], ok["hhi"] * ok["import_risk"], rtol=1e-12)
    np.testing.assert_allclose(ok["cf"], ok["score"] * ok["price"] / CF_CU, rtol=1e-12)
    den = ok["total_imports"] + ok["domestic_production"]
    has = den > 0
    np.testing.assert_allclose(ok.loc[has, "import_risk"], (ok["numerator"] / den)[has], rtol=1e-12)
    assert ((ok["import_risk"] >= 0) & (ok["import_risk"] <= 1)).all()
    assert ((ok["hhi"] > 0) & (ok["hhi"] <= 1)).all()


def test_bloc_pools_members_and_zeroes_intra_bloc(world, inputs):
    members = world.bloc_members("USA+JPN")
    t = geopolrisk_table(world, "cobalt", ["USA+JPN", *members], 2022, inputs=inputs).set_index("importer")
    assert t.loc["USA+JPN", "total_imports"] == pytest.approx(t.loc[members, "total_imports"].sum(), rel=1e-12)
    assert t.loc["USA+JPN", "domestic_production"] == pytest.approx(
        t.loc[members, "domestic_production"].sum(), rel=1e-12)
    # US-Japan flows keep their tonnes but carry no risk
    f = inputs.flows
    codes = inputs.names.get_indexer(members)
    m = int(np.flatnonzero(inputs.mats["material"].to_numpy() == "cobalt")[0])
    intra = (f["m"] == m) & (f["y"] == 2022) & np.isin(f["i"], codes) & np.isin(f["e"], codes)
    removed = float((f["q"][intra] * f["g"][intra]).sum())
    assert removed > 0
    assert t.loc["USA+JPN", "numerator"] == pytest.approx(t.loc[members, "numerator"].sum() - removed, rel=1e-12)


def test_single_triple_and_imputed_partners(world, inputs):
    r = geopolrisk(world, "graphite", "USA", 2022, inputs=inputs)
    assert r["status"] == "ok" and 0 < r["score"] < 1
    assert r["n_imputed_g"] == len(r["imputed_g_partners"])
    # Taiwan exports are weighted 0.5 in peer mode, by its WGI value otherwise
    tw = geopolrisk_table(world, "gold", "JPN", 2022, inputs=inputs).iloc[0]
    own = geopolrisk_table(world, "gold", "JPN", 2022, peer_compat=False).iloc[0]
    assert tw["numerator"] != own["numerator"]


def test_bad_inputs(world, inputs):
    with pytest.raises(InputError, match="did you mean"):
        geopolrisk_table(world, "nickle", "USA", 2022, inputs=inputs)
    with pytest.raises(InputError, match="neither an ISO3"):
        geopolrisk_table(world, "nickel", "XYZ", 2022, inputs=inputs)
    with pytest.raises(InputError, match="World Mining Data"):
        geopolrisk_table(world, "helium", "USA", 2022, inputs=inputs)


def test_peer_unjoined_wgi_matches_raw_file():
    w = pd.read_csv(RAW / "governance/wgi_political_stability_normalized_geopolrisk.csv", dtype=str,
                    keep_default_na=False)
    assert set(w.loc[w["country_code"] == "NA", "Code"]) == set(PEER_UNJOINED_WGI)
