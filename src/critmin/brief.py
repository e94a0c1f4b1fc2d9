"""The briefing: for each chain stage, who produces, China's share, HHI and reliance, each labelled.

``briefing(world, importers=["USA", "JPN"], year=None)`` returns a plain dict
(JSON-ready) that the CLI prints as a Rich table, as JSON, or renders to a
self-contained HTML page. Every figure says what it is and its year:

* **production** — country shares of the stage's output from the chain network
  (``world.network``: the World series, the chain file's published figures, or output
  derived from inputs; ``series_basis`` says which), the latest year at or before ``year``;
* **exports** — *export-value* shares of the stage's HS codes (CEPII BACI, USD) in the
  network's trade year; for each importer (country or bloc), the share of its imports
  coming from China and its top partners;
* **reliance** — per importer and stage: USGS net import reliance (MCS 2025) where USGS
  publishes a number for the US, else a trade-derived reliance computed at that stage only
  (the stage's trade against the stage's production, same content unit; never for mining
  stages, whose ores trade in gross tonnes). Missing is missing; a net exporter gets no
  negative figure but a reason.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from critmin.errors import InputError
from critmin.world import World


def _latest_year(years: pd.Series, year: int | None) -> int | None:
    ys = sorted(int(y) for y in years.dropna().unique() if year is None or int(y) <= year)
    return ys[-1] if ys else None


def _production_row(net, stage: str) -> dict | None:
    """Production evidence of one stage from the chain network (None when the stage has no data)."""
    info = net.stage_info[stage]
    p = net.production(stage)
    if p.empty:
        return None
    tot = float(p.sum())
    hhi, china, top = _share_summary(p)
    basis = info["production_basis"]
    src = info["production_source"] if basis == "series" else "critmin"
    return {"basis": "production", "what": "production share", "series_basis": basis,
            "material": info.get("production_material"), "source": src,
            "source_detail": info.get("production_source"), "year": info.get("production_year"),
            "unit": info["unit"], "total": tot, "hhi": hhi, "china_share": china, "top": top}


def _by_country(names: np.ndarray, values: np.ndarray) -> pd.Series:
    """Sum of ``values`` by country name, largest first (positive sums only)."""
    if not len(names):
        return pd.Series(dtype=float)
    keys, inv = np.unique(names.astype(str), return_inverse=True)
    sums = np.bincount(inv, weights=np.nan_to_num(values))
    v = pd.Series(sums, index=keys)
    return v[v > 0].sort_values(ascending=False, kind="mergesort")


def _share_summary(v: pd.Series) -> tuple[float, float, list[dict[str, Any]]]:
    """HHI (0–1, ROW left out as in ``country_shares``), China's share and the top 3 countries (ROW unranked)."""
    s = v / v.sum()
    ranked = s.drop("ROW", errors="ignore")
    top = [{"country": str(c), "share": float(x)} for c, x in ranked.head(3).items()]
    return float((ranked**2).sum()), float(s.get("CHN", 0.0)), top


def _export_row(tr: dict[str, pd.DataFrame], hs6: list[str], year: int | None,
                importers: dict[str, list[str]], basket: list[str]) -> dict | None:
    """Export-value evidence of one stage: world export shares and each importer's partner shares.

    ``tr``: trade rows by HS code; ``year``: the network's trade year of the stage
    (else the latest at or before the brief's year); ``importers``: name → ISO3 members.
    """
    parts = [tr[c] for c in hs6 if c in tr]
    if not parts:
        return None
    years = np.concatenate([p["year"].to_numpy(dtype="int64") for p in parts])
    y = year if year is not None and (years == year).any() else _latest_year(pd.Series(years), year)
    if y is None:
        return None
    parts = [p[p["year"].to_numpy(dtype="int64") == y] for p in parts]
    ex = np.concatenate([p["exporter"].to_numpy(dtype=object) for p in parts])
    im = np.concatenate([p["importer"].to_numpy(dtype=object) for p in parts])
    val = np.concatenate([p["value_kusd"].to_numpy(dtype="float64") for p in parts])
    src = ", ".join(sorted({x for p in parts for x in p["source"].unique()}))
    g = _by_country(ex, val)
    hhi, china, top = _share_summary(g)
    imp = {}
    for code, members in importers.items():
        sel = np.isin(im, members) & ~np.isin(ex, members)
        v = _by_country(ex[sel], val[sel])
        total = float(v.sum())
        if total <= 0:
            imp[code] = {"imports_kusd": 0.0, "china_share": None, "partner_hhi": None, "top": []}
            continue
        s = v / total
        imp[code] = {"imports_kusd": total, "china_share": float(s.get("CHN", 0.0)),
                     "partner_hhi": float((s**2).sum()),
                     "top": [{"country": str(c), "share": float(x)} for c, x in s.head(3).items()]}
    what = "export-value share"
    if basket:
        what += f" (HS {', '.join(basket)} is a basket shared with other materials)"
    return {"basis": "exports", "what": what, "hs6": hs6, "source": src, "year": int(y), "unit": "kUSD",
            "total": float(g.sum()), "hhi": hhi, "china_share": china, "top": top, "importers": imp}


def _reliance(net, stage, importers: dict[str, list[str]], usgs: dict[str, dict]) -> list[dict]:
    """Import reliance of each importer at one stage (see module doc); fractions 0–1."""
    out = []
    info = net.stage_info[stage.id]
    p = net.production(stage.id)
    trade = net.trade(stage.id)
    for code, members in importers.items():
        row: dict[str, Any] = {"importer": code, "stage": stage.id, "material": stage.material, "value": None,
                               "basis": None, "year": None, "flag": None, "reason": None}
        nir = usgs.get(stage.material) if code == "USA" else None
        if nir is not None and nir["value"] is not None:
            row.update(value=nir["value"], basis=f"USGS net import reliance ({nir['statistic']}, MCS 2025)",
                       year=nir["year"], flag=nir["flag"],
                       reason=("lower bound: USGS gives '>'" if nir["flag"] == ">" else
                               "upper bound: USGS gives '<'" if nir["flag"] == "<" else None))
        elif stage.kind == "mining":
            row["reason"] = ("not computed at a mining stage: ores and concentrates trade in gross tonnes, "
                             "production is in content" + ("; USGS gives no number" if nir else ""))
        elif info["production_basis"] not in ("series", "published"):
            row["reason"] = f"no production series for this stage ({info['production_basis']})"
        else:
            prod = float(p[p.index.isin(members)].sum())
            imports = float(trade.loc[trade["importer"].isin(members) & ~trade["exporter"].isin(members), "t"].sum())
            exports = float(trade.loc[trade["exporter"].isin(members) & ~trade["importer"].isin(members), "t"].sum())
            app = prod + imports - exports
            row.update(basis=f"trade-derived at stage {stage.id} (net imports / apparent consumption, "
                             f"{info['unit']})", year=info.get("trade_year"))
            if imports - exports < 0:
                row["reason"] = f"net exporter at this stage ({exports - imports:,.0f} t more exported than imported)"
                row["value"] = 0.0
            elif app > 0:
                row["value"] = (imports - exports) / app
            else:
                row["reason"] = "no apparent consumption at this stage"
        out.append(row)
    return out


def usgs_nir(world: World, year: int | None = None) -> dict[str, dict]:
    """USGS net import reliance by material (MCS 2025 salient statistics): the latest year at or before
    ``year``; ``value`` as a fraction (None where USGS gives 'E' = net exporter, or no number), ``flag``
    as USGS gives it ('>' lower bound, '<' upper bound, 'E' net exporter)."""
    s = world.salient()
    if s.empty:
        return {}
    s = s[s["statistic"].str.startswith("NIR")]
    if year is not None:
        s = s[s["year"].astype(int) <= year]
    s = s[s["year"] == s.groupby("material")["year"].transform("max")]
    main = s["statistic"].isin(["NIR_pct", "NIR_ct", "NIR_Compounds-Metals_t"])
    s = s.assign(_main=main.to_numpy()).sort_values(["material", "_main"], ascending=[True, False], kind="mergesort")
    out: dict[str, dict] = {}
    for r in s.drop_duplicates("material").to_dict("records"):
        v = r["value"]
        flag = str(r["flag"]).strip() if isinstance(r["flag"], str) else ""
        out[str(r["material"])] = {"value": None if pd.isna(v) else float(v) / 100.0, "flag": flag or None,
                                   "statistic": str(r["statistic"]), "year": int(r["year"])}
    if "rare-earths" in out:
        out.setdefault("magnet-rare-earths", out["rare-earths"])
    return out


def briefing(world: World, importers: list[str], year: int | None = None) -> dict[str, Any]:
    """Build the briefing for ``importers`` (ISO3 codes or blocs) at ``year`` (default: latest).

    Returns ``{"importers", "year", "world_checksum", "sources", "chains": [{"chain", "title",
    "stages": [{"stage", "name", "material", "evidence": [...], "reliance": [...]}], "risk": [...]}]}``;
    shares are fractions, HHI on 0–1, trade values in thousand USD, production in t/yr of the
    stage's unit. Every evidence row has ``what`` (production share, export-value share) and ``year``.
    """
    importers = list(dict.fromkeys(importers))
    members = {code: world.bloc_members(code) for code in importers}  # one-line error for unknown codes
    if year is not None:
        years = world.production()["year"]
        lo, hi = int(years.min()), int(world.trade()["year"].max())
        if not lo <= year <= hi:
            raise InputError("--year", str(year), f"outside the data; available {lo}-{hi}")
    chains = world.chains
    if not chains:
        raise InputError(str(world.path), "chains", "this World has no chain definitions")
    codes = sorted({c for ch in chains.values() for s in ch.stages for c in s.hs6})
    tr = world.trade_by_code(codes)
    usgs = usgs_nir(world, year)
    # the network year: the brief's, else the latest trade year (the year exposure uses, so one network serves both)
    net_year = year if year is not None else (max(int(g["year"].max()) for g in tr.values()) if tr else None)
    out_chains = []
    for cid, ch in chains.items():
        net = world.network(cid, net_year)
        stages = []
        for st in ch.stages:
            evidence: list[dict] = []
            row = _production_row(net, st.id)
            if row:
                evidence.append(row)
            if st.hs6:
                info = net.stage_info[st.id]
                basket = info.get("basket_hs6", [])
                erow = _export_row(tr, st.hs6, info.get("trade_year") or year, members, basket)
                if erow:
                    evidence.append(erow)
            if evidence:
                stages.append({"stage": st.id, "name": st.name, "material": st.material, "content": st.content,
                               "evidence": evidence, "reliance": _reliance(net, st, members, usgs)})
        out_chains.append({"chain": cid, "title": ch.title, "stages": stages})
    from critmin.risk.brief import risk_block  # risk metrics per stage material and importer (docs/risk.md)

    risk = risk_block(world, importers, year)
    for c in out_chains:
        rel = {(r["stage"], r["importer"]): r for s in c["stages"] for r in s["reliance"]}
        c["risk"] = risk.get(c["chain"], [])
        for x in c["risk"]:  # the stage's labelled reliance (USGS NIR or trade-derived at the stage)
            r = rel.get((x["stage"], x["importer"]), {})
            x.update(reliance=r.get("value"), reliance_basis=r.get("basis"), reliance_flag=r.get("flag"),
                     reliance_reason=r.get("reason"))
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
