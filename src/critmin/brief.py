"""The briefing: for each chain material and stage, who produces, China's share, HHI, with sources.

``briefing(world, importers=["USA", "JPN"], year=None)`` returns a plain dict
(JSON-ready) that the CLI prints as a Rich table, as JSON, or renders to a
self-contained HTML page. Two kinds of evidence per stage:

* **production** — country shares of the stage's production series (World
  Mining Data / USGS MCS 2025 / IEA 2025), the latest reported year at or
  before ``year``;
* **exports** — country shares of world exports of the stage's HS codes
  (CEPII BACI), the latest year at or before ``year``; and for each importer
  (country or bloc), the share of its imports coming from China and its top
  partners.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from critmin.errors import InputError
from critmin.risk.concentration import concentration, country_shares, hhi_table, import_shares
from critmin.world import World

REPORTED = ("reported", "estimated")


def _latest_year(years: pd.Series, year: int | None) -> int | None:
    ys = sorted(int(y) for y in years.dropna().unique() if year is None or int(y) <= year)
    return ys[-1] if ys else None


def _top(shares: pd.DataFrame, who: str, n: int = 3) -> list[dict[str, Any]]:
    ranked = shares[shares["rank"].notna()].sort_values("rank").head(n)
    return [{"country": c, "share": float(s)} for c, s in zip(ranked[who], ranked["share"], strict=True)]


def _production_rows(world: World, material: str, stage: str, prod: pd.DataFrame, sources: list[str],
                     year: int | None) -> list[dict]:
    """Production evidence of one material and stage (``prod``: its rows of the production table), by source."""
    rows = []
    prod = prod[prod["case"].isin(REPORTED) & prod["quantity"].notna()]
    for src in sources:
        p = prod[prod["source"] == src]
        y = _latest_year(p["year"], year)
        if y is None:
            continue
        sh = concentration(world, material=material, stage=stage, year=y, source=src)
        t = hhi_table(sh).iloc[0]
        rows.append({"basis": "production", "material": material, "series_stage": stage, "source": src,
                     "year": y, "unit": str(sh["unit"].iloc[0]), "total": float(t["total"]),
                     "hhi": float(t["hhi"]), "china_share": float(t["china_share"]), "top": _top(sh, "country")})
    return rows


def _export_row(world: World, hs6: list[str], year: int | None, importers: list[str]) -> dict | None:
    tr = world.trade(hs6=hs6)
    y = _latest_year(tr["year"], year)
    if y is None:
        return None
    tr = tr[tr["year"] == y]
    src = ", ".join(sorted(set(tr["source"])))
    g = tr.groupby("exporter", as_index=False)["value_kusd"].sum().rename(columns={"exporter": "country"})
    g["year"] = y
    sh = country_shares(g, "value_kusd", ["year"], "country")
    imp = {}
    for code in importers:
        s = import_shares(world, code, hs6, year=y)
        if s.empty:
            imp[code] = {"imports_kusd": 0.0, "china_share": None, "partner_hhi": None, "top": []}
            continue
        imp[code] = {"imports_kusd": float(s["value"].sum()), "china_share": float(s["china_share"].iloc[0]),
                     "partner_hhi": float(s["hhi"].iloc[0]), "top": _top(s, "partner")}
    return {"basis": "exports", "hs6": hs6, "source": src, "year": y, "unit": "kUSD",
            "total": float(g["value_kusd"].sum()), "hhi": float(sh["hhi"].iloc[0]),
            "china_share": float(sh["china_share"].iloc[0]), "top": _top(sh, "country"), "importers": imp}


def briefing(world: World, importers: list[str], year: int | None = None) -> dict[str, Any]:
    """Build the briefing for ``importers`` (ISO3 codes or blocs) at ``year`` (default: latest).

    Returns ``{"importers", "year", "world_checksum", "sources", "chains": [{"chain", "title",
    "stages": [{"stage", "name", "material", "evidence": [...]}]}]}``; shares are fractions,
    HHI on 0–1, trade values in thousand USD, production in tonnes of the stated unit.
    """
    for code in importers:
        world.bloc_members(code)  # raises a one-line error for unknown codes
    if year is not None:
        years = world.production()["year"]
        lo, hi = int(years.min()), int(world.trade()["year"].max())
        if not lo <= year <= hi:
            raise InputError("--year", str(year), f"outside the data; available {lo}-{hi}")
    chains = world.chains
    if not chains:
        raise InputError(str(world.path), "chains", "this World has no chain definitions")
    mats = world.materials().set_index("material")
    out_chains = []
    for cid, ch in chains.items():
        stages = []
        for st in ch.stages:
            evidence: list[dict] = []
            if st.production is not None:
                m = st.production.material
                default = str(mats.loc[m, "default_source"]) if m in mats.index else ""
                prod = world.production(material=m, stage=st.production.stage)
                have = sorted(set(prod["source"]))
                pref = st.production.source or default
                order = ([pref] if pref in have else []) + [s for s in have if s != pref]
                evidence += _production_rows(world, m, st.production.stage, prod, order, year)
            if st.hs6:
                row = _export_row(world, st.hs6, year, importers)
                if row:
                    evidence.append(row)
            if evidence:
                stages.append({"stage": st.id, "name": st.name, "material": st.material, "content": st.content,
                               "evidence": evidence})
        out_chains.append({"chain": cid, "title": ch.title, "stages": stages})
    from critmin.risk.brief import risk_block  # risk metrics per stage material and importer (docs/risk.md)

    risk = risk_block(world, importers, year)
    for c in out_chains:
        c["risk"] = risk.get(c["chain"], [])
    used = sorted({e["source"] for c in out_chains for s in c["stages"] for e in s["evidence"]})
    srcs = {s["name"]: s for s in world.datapackage.get("sources", [])}
    return {
        "importers": importers,
        "year": year,
        "world_checksum": world.checksum,
        "chains": out_chains,
        "sources": [srcs.get(s, {"name": s}) for s in dict.fromkeys(x.strip() for u in used for x in u.split(","))],
    }


def brief_frame(brief: dict[str, Any]) -> pd.DataFrame:
    """Flatten a briefing into one row per chain × stage × evidence (for tables and CSV)."""
    rows = []
    for c in brief["chains"]:
        for s in c["stages"]:
            for e in s["evidence"]:
                row = {
                    "chain": c["chain"], "stage": s["name"], "basis": e["basis"], "source": e["source"],
                    "year": e["year"],
                    "top producers": ", ".join(f"{t['country']} {t['share']:.0%}" for t in e["top"]),
                    "China": e["china_share"], "HHI": e["hhi"],
                }
                for code, imp in e.get("importers", {}).items():
                    row[f"{code} from China"] = imp["china_share"]
                rows.append(row)
    return pd.DataFrame(rows)
