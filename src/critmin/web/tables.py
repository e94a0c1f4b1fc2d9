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
    "catalogue": (catalogue, ()),
    "sources": (sources, ()),
    "scenarios": (scenarios, ()),
}


def table(world: Any, name: str, params: dict[str, str], reg: Any = None) -> pd.DataFrame:
    """Table ``name`` with the query ``params`` it takes (others are ignored); ``reg``: the registry the
    ``projects`` table reads (the caller's view of the store's), else the embedded one."""
    if name not in TABLES:
        raise InputError("name", name, f"no such table; tables: {', '.join(TABLES)}")
    fn, takes = TABLES[name]
    if name.startswith("chain") and not params.get("chain"):
        raise InputError("chain", "", "required for this table")
    kwargs = {k: params[k] for k in takes if params.get(k) not in (None, "")}
    if name == "projects":
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
