"""The tables the pages show, by name, from the public Python API; and their CSV / Excel downloads.

Each table is a function ``(world, params) -> DataFrame`` over the same calls a notebook user makes
(``briefing``, ``world.network``, ``world.risk.table``, the registry, ``world.datapackage``).
Results are cached per parameters: the World is read-only while the server runs.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pandas as pd

from critmin.errors import InputError

RISK_METRICS = ("hhi-production", "hhi-import", "geopolrisk", "nir", "exposure")
_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


def cached(key: tuple, make: Callable[[], Any]) -> Any:
    """``make()`` once per ``key`` (the World does not change while the server runs)."""
    with _lock:
        if key in _cache:
            return _cache[key]
    value = make()
    with _lock:
        _cache[key] = value
    return value


def _year(raw: str | None, field: str = "year") -> int | None:
    if raw in (None, ""):
        return None
    try:
        y = int(raw)
    except ValueError:
        raise InputError(field, raw, "must be a year such as 2022") from None
    if not 1990 <= y <= 2100:
        raise InputError(field, raw, "must be a year between 1990 and 2100")
    return y


def importers_of(raw: str | None) -> list[str]:
    """``"USA,JPN"`` -> ``["USA", "JPN"]`` (the default when empty)."""
    codes = [c.strip().upper() for c in (raw or "USA,JPN").split(",") if c.strip()]
    if not codes or len(codes) > 8:
        raise InputError("importer", raw or "", "give 1-8 ISO3 codes or blocs, comma-separated")
    return codes


def brief(world: Any, importer: str | None = None, year: str | None = None) -> dict[str, Any]:
    """The briefing (:func:`critmin.brief.briefing`) for importers / blocs, cached."""
    from critmin.brief import briefing

    imps, y = importers_of(importer), _year(year)
    return cached(("brief", tuple(imps), y), lambda: briefing(world, imps, y))


def chain_id(world: Any, chain: str) -> str:
    """A chain id (aliases read as ``world.chain_id`` reads them)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return world.chain_id(chain)


def chain_summary(world: Any, chain: str, year: str | None = None) -> pd.DataFrame:
    """One row per stage: world output, China's share, top producer, basis, source, year."""
    cid, y = chain_id(world, chain), _year(year)
    return cached(("chain-summary", cid, y), lambda: world.network(cid, y).summary())


def chain_countries(world: Any, chain: str, year: str | None = None, stage: str | None = None) -> pd.DataFrame:
    """Producing countries per stage (production, share); one stage when ``stage`` is given."""
    cid, y = chain_id(world, chain), _year(year)
    df = cached(("chain-countries", cid, y), lambda: world.network(cid, y).stage_table())
    if stage:
        if stage not in set(df["stage"]):
            raise InputError("stage", stage, f"not a stage of {cid}; stages: {', '.join(dict.fromkeys(df['stage']))}")
        df = df[df["stage"] == stage]
    return df.reset_index(drop=True)


def chain_trade(world: Any, chain: str, year: str | None = None, stage: str | None = None) -> pd.DataFrame:
    """Recorded bilateral trade of a chain's stage (``exporter, importer, t`` per year), largest first."""
    cid, y = chain_id(world, chain), _year(year)
    net = world.network(cid, y)
    stage = stage or net.stages[0]
    if stage not in net.stages:
        raise InputError("stage", stage, f"not a stage of {cid}; stages: {', '.join(net.stages)}")
    df = cached(("chain-trade", cid, y, stage), lambda: net.trade(stage))
    return df.sort_values("t", ascending=False).reset_index(drop=True)


def risk(world: Any, metric: str | None = None, importer: str | None = None, material: str | None = None,
         year: str | None = None) -> pd.DataFrame:
    """``world.risk.table(metric)`` filtered by importer, material and year."""
    metric = metric or "hhi-production"
    if metric not in RISK_METRICS:
        raise InputError("metric", metric, f"use one of {', '.join(RISK_METRICS)}")
    df = cached(("risk", metric), lambda: world.risk.table(metric=metric))
    y = _year(year)
    if y is not None:
        df = df[df["year"] == y]
    if importer and "importer" in df.columns:
        df = df[df["importer"].isin(importers_of(importer))]
    if material:
        df = df[df["material"] == material]
    return df.reset_index(drop=True)


def projects(world: Any, chain: str | None = None, country: str | None = None, status: str | None = None,
             reg: Any = None) -> pd.DataFrame:
    """The project pipeline, filtered: of ``reg`` (the store's registry as the caller may see it), else the
    embedded registry (``critmin.registry.load()``)."""
    from critmin import registry

    df = reg.projects_frame() if reg is not None else cached(("projects",), lambda: registry.load().projects_frame())
    if chain:
        df = df[df["chain"] == chain]
    if country:
        df = df[df["country"] == country.upper()]
    if status:
        df = df[df["status"] == status]
    return df.reset_index(drop=True)


def on_world_map() -> set[str]:
    """The ISO3 codes the shipped world boundaries draw (a map shows nothing for other codes, e.g. ROW)."""
    from critmin.registry.plots import geojson

    return {f["properties"]["iso3"] for f in geojson("world")["features"] if f["properties"].get("iso3")}


def _registry(reg: Any = None) -> Any:
    """``reg`` (the caller's view of the store's registry), else the embedded registry (public), cached."""
    from critmin import registry

    return reg if reg is not None else cached(("registry",), registry.load)


def projects_timeline(world: Any, chain: str | None = None, country: str | None = None, status: str | None = None,
                      reg: Any = None) -> pd.DataFrame:
    """The pipeline timeline's bars (:func:`critmin.registry.plots.timeline_frame`: start and production-start
    dates, ISO) of the projects :func:`projects` keeps for these filters."""
    from critmin.registry.plots import timeline_frame

    ids = set(projects(world, chain, country, status, reg)["id"])
    return timeline_frame(_registry(reg), ids)


def projects_map(world: Any, chain: str | None = None, country: str | None = None, status: str | None = None,
                 reg: Any = None) -> pd.DataFrame:
    """What the projects map draws: ``layer`` "country" rows (projects per country, shaded) and "project" rows
    (each project with a recorded latitude/longitude, a marker coloured by status)."""
    df = projects(world, chain, country, status, reg)
    counts = df["country"].value_counts() if len(df) else pd.Series(dtype=int)
    counts = counts[counts.index.isin(on_world_map())]
    by_country = pd.DataFrame({"layer": "country", "country": list(counts.index),
                               "projects": [int(v) for v in counts.values]})
    located = df.dropna(subset=["lat", "lon"]) if {"lat", "lon"} <= set(df.columns) else df.iloc[:0]
    points = pd.DataFrame({"layer": "project", "country": located.get("country", []), "id": located.get("id", []),
                           "name": located.get("name", []), "status": located.get("status", []),
                           "lat": located.get("lat", []), "lon": located.get("lon", [])})
    cols = ["layer", "country", "projects", "id", "name", "status", "lat", "lon"]
    out = pd.concat([by_country, points], ignore_index=True) if len(points) else by_country
    out = out.reindex(columns=cols)
    out["projects"] = out["projects"].astype("Int64")
    return out


INVESTMENT_COLUMNS = ["id", "investor", "investor_country", "destination_country", "destination_state", "sector",
                      "amount_m", "currency", "amount_musd", "type", "year", "status", "programme", "project_id",
                      "part_of", "source"]


def investments(world: Any, reg: Any = None) -> pd.DataFrame:
    """The registry's investments (``Registry.investments_frame``; ``amount_musd``: US$ million, USD records)."""
    df = _registry(reg).investments_frame()
    return df[[c for c in INVESTMENT_COLUMNS if c in df.columns]].reset_index(drop=True)


def investments_by_state(world: Any, reg: Any = None) -> pd.DataFrame:
    """US$ million by US state and amount type (:func:`critmin.registry.plots.state_layers`: types are never
    added together, a part never added to its parent): what the investment map shades, one layer per type."""
    from critmin.registry.plots import state_layers

    r = _registry(reg)
    layers = state_layers(r.investments_frame(), list(r.context.vocab["amount_types"]))
    rows = [{"type": ty, "state": st, "amount_musd": v} for ty, states in layers.items() for st, v in states.items()]
    return pd.DataFrame(rows, columns=["type", "state", "amount_musd"])


def brief_stages(world: Any, importer: str | None = None, year: str | None = None,
                 chain: str | None = None) -> pd.DataFrame:
    """China's share (%) at each stage of each chain of the briefing, as the overview's bar charts draw it:
    the first evidence with a share per stage (``label`` = stage (basis, year))."""
    b = brief(world, importer, year)
    rows = []
    for c in b["chains"]:
        if chain and c["chain"] != chain:
            continue
        for st in c["stages"]:
            e = next((e for e in st["evidence"] if e.get("china_share") is not None), None)
            if e is not None:
                rows.append({"chain": c["chain"], "stage": st["name"], "basis": e["basis"], "year": e["year"],
                             "label": f"{st['name']} ({e['basis']}, {e['year']})",
                             "china_share_pct": 100 * e["china_share"]})
    if chain and not any(c["chain"] == chain for c in b["chains"]):
        raise InputError("chain", chain, f"not a chain of the briefing: {', '.join(c['chain'] for c in b['chains'])}")
    return pd.DataFrame(rows, columns=["chain", "stage", "basis", "year", "label", "china_share_pct"])


def chain_stages_chart(world: Any, chain: str, year: str | None = None) -> pd.DataFrame:
    """The chain page's stacked bars: China's share and the rest of the world's (% of world output) per stage."""
    summ = chain_summary(world, chain, year)
    return pd.DataFrame({"stage": summ["stage"], "china_share_pct": 100 * summ["china_share"],
                         "rest_of_world_pct": 100 * (1 - summ["china_share"])})


#: How many producing countries and trade flows a chain page's charts draw.
TOP_COUNTRIES = 12
TOP_FLOWS = 25


def _stage_or_first(world: Any, chain: str, year: str | None, stage: str | None) -> str:
    return stage or str(chain_summary(world, chain, year)["stage"].iloc[0])


def chain_countries_chart(world: Any, chain: str, year: str | None = None, stage: str | None = None) -> pd.DataFrame:
    """The chain page's bar chart: the ``TOP_COUNTRIES`` largest producers of ``stage`` (default: the first)."""
    stage = _stage_or_first(world, chain, year, stage)
    return chain_countries(world, chain, year, stage).dropna(subset=["share"]).head(TOP_COUNTRIES).reset_index(
        drop=True)


def chain_map(world: Any, chain: str, year: str | None = None, stage: str | None = None) -> pd.DataFrame:
    """The chain page's map: every producing country of ``stage`` with a share of world output that the world
    boundaries draw (not aggregates such as ROW)."""
    stage = _stage_or_first(world, chain, year, stage)
    df = chain_countries(world, chain, year, stage).dropna(subset=["share"])
    return df[df["country"].isin(on_world_map())].reset_index(drop=True)


def chain_trade_chart(world: Any, chain: str, year: str | None = None, stage: str | None = None) -> pd.DataFrame:
    """The chain page's Sankey: the ``TOP_FLOWS`` largest recorded trade flows of ``stage`` (t/yr)."""
    return chain_trade(world, chain, year, stage).head(TOP_FLOWS).reset_index(drop=True)


def fan_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """A run's fan chart: per month the P5, P50 (median), P95 and mean of the total shortfall (t per month)."""
    f = summary.get("fan") or {}
    cols = [c for c in ("month", "p5", "p50", "p95", "mean") if c in f]
    return pd.DataFrame({c: f[c] for c in cols}, columns=cols)


def compare_chart_frame(a: dict[str, Any], b: dict[str, Any]) -> pd.DataFrame:
    """The comparison chart: per month the median and P95 of total shortfall (t per month) of runs A and B."""
    parts = []
    for name, s in (("A", a), ("B", b)):
        f = s.get("fan") or {}
        parts.append(pd.DataFrame({"run": name, "scenario": s.get("scenario"), "month": f.get("month", []),
                                   "p50": f.get("p50", []), "p95": f.get("p95", [])}))
    return pd.concat(parts, ignore_index=True)


def catalogue(world: Any) -> pd.DataFrame:
    """Every table of the World: rows, description, sources, licences and checksum (``world.datapackage``)."""
    dp = world.datapackage
    rows = []
    for r in dp.get("resources", []):
        rows.append({"table": r.get("name"), "rows": r.get("rows"), "description": r.get("description"),
                     "sources": ", ".join(s.get("name", str(s)) if isinstance(s, dict) else str(s)
                                          for s in r.get("sources", [])),
                     "licences": ", ".join(x.get("name", str(x)) if isinstance(x, dict) else str(x)
                                           for x in r.get("licenses", [])),
                     "checksum": r.get("hash"), "path": r.get("path")})
    return pd.DataFrame(rows)


def sources(world: Any) -> pd.DataFrame:
    """The World's sources: name, title, publisher, year, licence."""
    return pd.DataFrame([{k: s.get(k) for k in ("name", "title", "publisher", "year", "license")}
                         for s in world.datapackage.get("sources", [])])


def scenarios(world: Any) -> pd.DataFrame:
    """The scenario library: name, title, chain, horizon."""
    from critmin.simulate import library

    def make() -> pd.DataFrame:
        return pd.DataFrame([{"name": s.name, "title": s.title, "chain": s.chain, "horizon": s.horizon,
                              "year": s.year} for s in library()])

    return cached(("scenarios",), make)


TREND_YEARS = (2018, 2024)


def _chain_materials(world: Any) -> list[str]:
    return sorted({s.material for c in world.chains.values() for s in c.stages})


def trend_production(world: Any) -> pd.DataFrame:
    """China's share of world production, 2018–2024, for every material in the chains (mining and refining),
    from the source with the most years in that span (ties: the material's ``default_source``)."""

    def make() -> pd.DataFrame:
        df = world.risk.table(metric="hhi-production")
        lo, hi = TREND_YEARS
        df = df[df["material"].isin(_chain_materials(world)) & df["year"].between(lo, hi)]
        default = dict(zip(world.materials()["material"], world.materials()["default_source"], strict=False))
        keep = []
        for (mat, _stage), g in df.groupby(["material", "stage"]):
            years = g.groupby("source")["year"].nunique()
            src = max(years.index, key=lambda x: (years[x], x == default.get(mat), x))
            keep.append(g[g["source"] == src])
        cols = ["material", "stage", "source", "year", "total", "china_share", "hhi", "top1", "top1_share"]
        out = pd.concat(keep) if keep else df
        return out[[c for c in cols if c in out.columns]].sort_values(["material", "stage", "year"]).reset_index(
            drop=True)

    return cached(("trend-production",), make)


def trend_imports(world: Any, importer: str | None = None) -> pd.DataFrame:
    """Each importer's share of its imports (t) that come from China, 2018–2024, per chain material."""
    imps = importers_of(importer)
    df = cached(("risk", "hhi-import"), lambda: world.risk.table(metric="hhi-import"))
    lo, hi = TREND_YEARS
    df = df[df["material"].isin(_chain_materials(world)) & df["year"].between(lo, hi) & df["importer"].isin(imps)]
    cols = ["importer", "material", "year", "imports_t", "china_share", "top_partner", "top_share"]
    return df[cols].sort_values(["importer", "material", "year"]).reset_index(drop=True)


def brief_table(world: Any, importer: str | None = None, year: str | None = None) -> pd.DataFrame:
    """The briefing flattened (:func:`critmin.brief.brief_frame`)."""
    from critmin.brief import brief_frame

    return brief_frame(brief(world, importer, year))


#: name -> (function, query parameters it takes): the tables ``/tables/{name}.{csv|xlsx}`` serves.
TABLES: dict[str, tuple[Callable[..., pd.DataFrame], tuple[str, ...]]] = {
    "brief": (brief_table, ("importer", "year")),
    "trend-production": (trend_production, ()),
    "trend-imports": (trend_imports, ("importer",)),
    "chain-stages": (chain_summary, ("chain", "year")),
    "chain-countries": (chain_countries, ("chain", "year", "stage")),
    "chain-trade": (chain_trade, ("chain", "year", "stage")),
    "risk": (risk, ("metric", "importer", "material", "year")),
    "projects": (projects, ("chain", "country", "status")),
    "projects-timeline": (projects_timeline, ("chain", "country", "status")),
    "projects-map": (projects_map, ("chain", "country", "status")),
    "investments": (investments, ()),
    "investments-by-state": (investments_by_state, ()),
    "brief-stages": (brief_stages, ("importer", "year", "chain")),
    "chain-stages-chart": (chain_stages_chart, ("chain", "year")),
    "chain-countries-chart": (chain_countries_chart, ("chain", "year", "stage")),
    "chain-map": (chain_map, ("chain", "year", "stage")),
    "chain-trade-chart": (chain_trade_chart, ("chain", "year", "stage")),
    "catalogue": (catalogue, ()),
    "sources": (sources, ()),
    "scenarios": (scenarios, ()),
}


#: Tables read from the registry: the caller's view of the store's records when it holds some.
REGISTRY_TABLES = ("projects", "projects-timeline", "projects-map", "investments", "investments-by-state")
#: Chart data of labelled runs, served by the page layer through the store (``run``: a run id; ``a``, ``b``).
RUN_TABLES = {"fan": ("run",), "compare-chart": ("a", "b")}


def table(world: Any, name: str, params: dict[str, str], reg: Any = None) -> pd.DataFrame:
    """Table ``name`` with the query ``params`` it takes (others are ignored); ``reg``: the registry the
    :data:`REGISTRY_TABLES` read (the caller's view of the store's), else the embedded one."""
    if name not in TABLES:
        raise InputError("name", name, f"no such table; tables: {', '.join(TABLES)}")
    fn, takes = TABLES[name]
    if name.startswith("chain") and not params.get("chain"):
        raise InputError("chain", "", "required for this table")
    kwargs = {k: params[k] for k in takes if params.get(k) not in (None, "")}
    if name in REGISTRY_TABLES:
        kwargs["reg"] = reg
    return fn(world, **kwargs)


def to_csv(df: pd.DataFrame) -> bytes:
    """A table as UTF-8 CSV."""
    return df.to_csv(index=False).encode("utf-8")


def to_xlsx(sheets: dict[str, pd.DataFrame], marking: str | None = None) -> bytes:
    """Tables as one Excel workbook (openpyxl), one sheet each; a first ``marking`` sheet when labelled."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        if marking:
            pd.DataFrame({"marking": [marking]}).to_excel(xw, sheet_name="marking", index=False)
        for name, df in sheets.items():
            out = df.copy()
            for c in out.columns:  # Excel has no time zones
                if isinstance(out[c].dtype, pd.DatetimeTZDtype):
                    out[c] = out[c].dt.tz_localize(None)
            out.to_excel(xw, sheet_name=name[:31] or "table", index=False)
    return buf.getvalue()
