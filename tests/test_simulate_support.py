"""Hand-built worlds and chains for the simulate tests (no tests here; imported by test_simulate_*.py).

The numbers below are small made-up test fixtures describing toy worlds, not data about real countries.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from critmin.chains import Chain
from critmin.world import World

SRC = {"source": "test fixture"}


def two_stage_chain(factor: float = 2.0, shares: tuple[float, float] = (0.6, 0.4)) -> dict[str, Any]:
    """ore (mined, production series) -> product (derived, traded as HS 850511) -> ev / defence."""
    return {
        "id": "toy",
        "title": "Toy chain",
        "description": "A two-stage chain for tests.",
        "materials": ["ore-x", "product-x"],
        "stages": [
            {
                "id": "ore",
                "name": "Ore",
                "kind": "mining",
                "material": "ore-x",
                "content": "t ore",
                "hs6": ["261220"],
                "production": {"material": "ore-x", "stage": "mining", "source": "test"},
            },
            {
                "id": "product",
                "name": "Product",
                "kind": "component",
                "material": "product-x",
                "content": "t product",
                "hs6": ["850511"],
                "inputs": [{"stage": "ore", "factor": {"value": factor, "unit": "t/t", **SRC}}],
            },
        ],
        "end_uses": [
            {
                "sector": "ev",
                "name": "EVs",
                "stage": "product",
                "share": {"value": shares[0], "unit": "share", **SRC},
            },
            {
                "sector": "defence",
                "name": "Defence",
                "stage": "product",
                "share": {"value": shares[1], "unit": "share", **SRC},
                "defence": True,
            },
        ],
    }


COUNTRIES = ["CHN", "USA", "JPN", "DEU", "AUS", "KOR"]


def tables(
    production: dict[str, float],
    ore_trade: dict[tuple[str, str], float] | None = None,
    product_trade: dict[tuple[str, str], float] | None = None,
    countries: list[str] | None = None,
) -> dict[str, pd.DataFrame]:
    """World tables: annual ore production by country and bilateral trade in tonnes (year 2024)."""
    countries = countries or COUNTRIES
    prod = pd.DataFrame(
        [
            {
                "material": "ore-x",
                "stage": "mining",
                "country": c,
                "year": 2024,
                "quantity": q,
                "unit": "t",
                "source": "test",
                "case": "reported",
            }
            for c, q in production.items()
        ]
    )
    rows = []
    for hs, tr in (("261220", ore_trade or {}), ("850511", product_trade or {})):
        for (e, i), q in tr.items():
            rows.append(
                {
                    "year": 2024,
                    "exporter": e,
                    "importer": i,
                    "hs6": hs,
                    "value_kusd": q * 10.0,
                    "quantity_t": q,
                    "source": "test",
                }
            )
    trade = pd.DataFrame(
        rows, columns=["year", "exporter", "importer", "hs6", "value_kusd", "quantity_t", "source"]
    )
    ctry = pd.DataFrame({"iso3": countries, "name": countries})
    blocs = pd.DataFrame(
        [{"bloc": "USA+JPN", "iso3": "USA"}, {"bloc": "USA+JPN", "iso3": "JPN"}]
        + [{"bloc": "ALLIES", "iso3": c} for c in ("USA", "JPN", "DEU", "AUS", "KOR")]
    )
    mats = pd.DataFrame(
        [
            {"material": "ore-x", "name": "Ore X", "wmd_name": "", "unit": "t"},
            {"material": "product-x", "name": "Product X", "wmd_name": "", "unit": "t"},
        ]
    )
    return {"production": prod, "trade": trade, "countries": ctry, "blocs": blocs, "materials": mats}


def toy_world(chain: dict[str, Any] | None = None, **kw: Any) -> World:
    """A World in memory from :func:`tables` and :func:`two_stage_chain`."""
    c = Chain.model_validate(chain or two_stage_chain())
    return World.from_tables(chains={c.id: c}, **tables(**kw))


def sole_supplier_world() -> World:
    """CHN mines and makes everything; USA, JPN and DEU import product only."""
    return toy_world(
        production={"CHN": 1200.0},
        product_trade={("CHN", "USA"): 120.0, ("CHN", "JPN"): 60.0, ("CHN", "DEU"): 30.0},
    )


def embargo_world() -> World:
    """CHN and AUS mine; JPN makes product from AUS ore and ships some to KOR; CHN ships product to USA and JPN."""
    return toy_world(
        production={"CHN": 1200.0, "AUS": 300.0},
        ore_trade={("AUS", "JPN"): 120.0},
        product_trade={("CHN", "USA"): 120.0, ("CHN", "JPN"): 60.0, ("JPN", "KOR"): 12.0},
    )


def embargo(dest: list[str] | str, stages: list[str] | None = None, **kw: Any) -> dict[str, Any]:
    """A full export restriction from CHN on ``stages`` (default: product) to ``dest``; ``kw`` overrides."""
    return {
        "type": "export_restriction",
        "origin": "CHN",
        "stages": stages or ["product"],
        "destinations": dest,
        "fraction": 1,
        **kw,
    }


def write_world(folder: Path, world_tables: dict[str, pd.DataFrame], chain: dict[str, Any]) -> Path:
    """Write tables + chain as a World folder (CSV + datapackage.json + chains/) for CLI tests."""
    folder.mkdir(parents=True, exist_ok=True)
    resources = []
    for name, df in world_tables.items():
        df.to_csv(folder / f"{name}.csv", index=False)
        fields = [
            {"name": c, "type": "number" if pd.api.types.is_numeric_dtype(df[c]) else "string"}
            for c in df.columns
        ]
        resources.append({"name": name, "path": f"{name}.csv", "schema": {"fields": fields}, "rows": len(df)})
    (folder / "datapackage.json").write_text(
        json.dumps({"name": "toy", "resources": resources, "checksum": "test"}), encoding="utf-8"
    )
    (folder / "chains").mkdir(exist_ok=True)
    (folder / "chains" / f"{chain['id']}.yaml").write_text(yaml.safe_dump(chain), encoding="utf-8")
    return folder


def scenario(shocks: list[dict[str, Any]] | None = None, **responses: Any) -> dict[str, Any]:
    """A scenario mapping on the toy chain with response defaults switched off unless given."""
    resp = {
        "elasticities": {"demand": 0, "supply": 0},
        "rerouting": {"friction": 1},
        "capacity": [{"spare": 0, "lead_months": 0}],
    }
    resp.update(responses)
    return {
        "name": "t",
        "title": "test",
        "chain": "toy",
        "horizon": 12,
        "shocks": shocks or [],
        "responses": resp,
    }
