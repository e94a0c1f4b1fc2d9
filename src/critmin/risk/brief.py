"""The risk block of ``critmin brief``: per chain stage material and importer, the headline risk metrics."""

from __future__ import annotations

import math
from typing import Any

from critmin.risk.accessor import RiskAccessor
from critmin.world import World


def _f(v: Any) -> float | None:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def risk_block(world: World, importers: list[str], year: int | None = None) -> dict[str, list[dict[str, Any]]]:
    """{chain id: [{stage, material, importer, china_import_share, geopolrisk, cf, eu_sr, eu_sr_note,
    china_share_direct, china_share_effective, gpr_year, trade_year}]} (fractions; GeoPolRisk 0–1;
    CF kg Cu-eq/kg; EU SR dimensionless). GeoPolRisk/NIR/EU SR use the latest WMD year ≤ ``year``;
    exposure uses the trade year ``year`` (default latest). ``eu_sr_note`` states the judgements the
    EU SR value rests on (inputs the World lacks; see docs/risk.md), None where there is no EU SR.
    """
    risk = RiskAccessor(world)
    inp = risk.inputs()
    gy = max([y for y in inp.years if year is None or y <= year] or [min(inp.years)])
    mats = sorted({s.material for ch in world.chains.values() for s in ch.stages})
    gpr_mats = [m for m in mats if m in set(inp.mats["material"])]
    gpr = risk.geopolrisk(gpr_mats, importers, gy).set_index(["material", "importer"]) if gpr_mats else None
    dep = risk.import_dependence(importers, gpr_mats, gy).set_index(["material", "importer"]) if gpr_mats else None
    eu = risk.eu_sr(gpr_mats, gy).set_index("material") if gpr_mats else None
    exp = risk.exposure(importers, year)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in exp.itertuples(index=False):
        key = (r.material, r.importer)
        g = gpr.loc[key] if gpr is not None and key in gpr.index else None
        d = dep.loc[key] if dep is not None and key in dep.index else None
        e = eu.loc[r.material] if eu is not None and r.material in eu.index else None
        sr = _f(e["sr"]) if e is not None else None
        out.setdefault(r.chain, []).append({
            "stage": r.stage, "material": r.material, "importer": r.importer,
            "china_import_share": _f(d["partner_share"]) if d is not None else None,
            "geopolrisk": _f(g["score"]) if g is not None else None,
            "cf": _f(g["cf"]) if g is not None else None,
            "eu_sr": sr,
            "eu_sr_note": str(e["note"]) if sr is not None else None,
            "china_share_direct": _f(r.china_share_direct),
            "china_share_effective": _f(r.china_share_effective),
            "gpr_year": gy, "trade_year": int(r.year),
        })
    return out
