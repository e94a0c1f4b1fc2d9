"""critmin's values against published figures (``critmin data check``).

``published_figures.csv`` (next to this module) lists figures published by USGS, the IEA, World
Mining Data and others, one a row, each with its source, year, unit, tolerance and provenance label.
:func:`check_figures` computes critmin's value for each figure from the World's public API and says
whether it is within tolerance. The row's ``kind`` names the small function that computes critmin's
value (see :data:`KINDS`); the columns it reads are listed there. docs/data-check.md explains the
file, the tolerances and how to add a figure.

Statuses: ``pass`` (within tolerance), ``fail`` (outside tolerance), ``missing`` (critmin has no
value: a failure), ``explained`` (outside tolerance or missing, but the row gives a documented
``reason`` why critmin's value may legitimately differ).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from critmin.errors import InputError, read_user_text

if TYPE_CHECKING:
    import pandas as pd

    from critmin.world import World

#: The figures shipped with critmin.
FIGURES_FILE = Path(__file__).with_name("published_figures.csv")

#: Every column of a figures file, in order.
COLUMNS = (
    "id", "topic", "kind", "what", "material", "stage", "source_series", "chain", "country", "element",
    "top_n", "statistic", "hs6", "exporter", "importer", "measure", "sector", "scenario", "year",
    "published_value", "unit", "tolerance_type", "tolerance", "tolerance_note", "publisher", "title",
    "year_published", "url_or_doi", "provenance_label", "reason",
)

#: Columns every row must fill.
REQUIRED = ("id", "topic", "kind", "what", "year", "published_value", "unit", "tolerance_type", "tolerance",
            "publisher", "title", "year_published", "url_or_doi", "provenance_label")

TOPICS = ("rare-earths", "magnets", "batteries", "ga-ge", "antimony-tungsten", "other")
PROVENANCE = ("[PRIMARY]", "[TRANSCRIPTION]", "[SECONDARY]", "[DERIVED]", "[WEAK]")
TOLERANCE_TYPES = ("abs", "rel", "min", "max", "range")

#: Units a published value may be stated in: (dimension, size in the dimension's base unit).
#: Base units: t (mass), fraction 0-1 (share), GWh (energy), kUSD (money).
UNITS: dict[str, tuple[str, float]] = {
    "kg": ("mass", 1e-3), "t": ("mass", 1.0), "kt": ("mass", 1e3), "Mt": ("mass", 1e6),
    "fraction": ("share", 1.0), "%": ("share", 0.01),
    "GWh": ("energy", 1.0), "TWh": ("energy", 1e3),
    "kUSD": ("money", 1.0), "USD m": ("money", 1e3), "USD bn": ("money", 1e6),
}


@dataclass(frozen=True)
class Kind:
    """One kind of figure: the function computing critmin's value, its parameters and dimensions."""

    func: Callable[[World, dict[str, Any], dict[Any, Any]], tuple[float, str]]
    required: tuple[str, ...]
    dimensions: tuple[str, ...]
    doc: str


def _nan(detail: str) -> tuple[float, str]:
    return math.nan, detail


# ---------------------------------------------------------------------------------------------- production
def _concentration(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> pd.DataFrame | str:
    """critmin's country shares (``world.risk.concentration``) for the figure's series, or why there are none."""
    key = ("conc", fig["material"], fig["stage"], fig["year"], fig["source_series"] or None)
    if key not in cache:
        try:
            prod = world.production(material=fig["material"], stage=fig["stage"], year=fig["year"],
                                    source=fig["source_series"] or None)
        except InputError as exc:  # e.g. a material this World does not have
            cache[key] = f"no series: {exc}"
            return cache[key]
        if prod.empty or prod["quantity"].notna().sum() == 0:
            cache[key] = (f"no production rows for {fig['material']}/{fig['stage']}/{fig['year']}"
                          f"{'/' + fig['source_series'] if fig['source_series'] else ''}")
        else:
            conc = world.risk.concentration(material=fig["material"], stage=fig["stage"], year=fig["year"],
                                            source=fig["source_series"] or None)
            if conc["source"].nunique() > 1:
                cache[key] = "several sources: name one in source_series"
            else:
                cache[key] = conc
    return cache[key]


def production_total(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """World production (t of content): sum over all rows of the series, rest-of-world included."""
    conc = _concentration(world, fig, cache)
    if isinstance(conc, str):
        return _nan(conc)
    return float(conc["quantity"].sum()), f"{len(conc)} rows, {conc['unit'].iloc[0]}"


def production_share(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """``country``'s share (fraction 0-1) of world production in the series (0 when it has no row)."""
    conc = _concentration(world, fig, cache)
    if isinstance(conc, str):
        return _nan(conc)
    share = float(conc.loc[conc["country"] == fig["country"], "share"].sum())
    return share, f"{fig['country']} of {conc['quantity'].sum():,.6g} {conc['unit'].iloc[0]}"


def top_share(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """Share (fraction 0-1) of the ``top_n`` largest producing countries (rest-of-world never ranked)."""
    conc = _concentration(world, fig, cache)
    if isinstance(conc, str):
        return _nan(conc)
    n = int(fig["top_n"])
    top = conc[conc["rank"].notna()].sort_values("rank").head(n)
    return float(top["share"].sum()), "top: " + ", ".join(top["country"])


# ---------------------------------------------------------------------------------------------- salient
def us_nir(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """US net import reliance (fraction 0-1) from the USGS salient statistics (``statistic``, or the one NIR row).

    A flag ``>`` or ``<`` (USGS gives a bound) is shown in the detail; the bound itself is the value.
    """
    sal = world.salient()
    if sal.empty:
        return _nan("the World has no salient table")
    sal = sal[(sal["material"] == fig["material"]) & (sal["year"] == fig["year"])]
    if fig["statistic"]:
        sal = sal[sal["statistic"] == fig["statistic"]]
    else:
        sal = sal[sal["statistic"].str.upper().str.startswith("NIR")]
    if sal.empty:
        return _nan(f"no NIR row for {fig['material']} {fig['year']}")
    if len(sal) > 1:
        return _nan(f"several NIR statistics ({', '.join(sal['statistic'])}): name one in 'statistic'")
    row = sal.iloc[0]
    flag = str(row.get("flag") or "").strip()
    value = row["value"]
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if flag == "E":
            return 0.0, f"{row['statistic']}: E (net exporter)"
        return _nan(f"{row['statistic']}: {flag or 'empty'}")
    return float(value) / 100.0, f"{row['statistic']} {flag}{value:g}".strip()


# ---------------------------------------------------------------------------------------------- demand, trade
def demand_total(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """Demand (t of content) for ``material`` in ``year`` and ``scenario`` (default historical); ``sector`` or all."""
    dem = world.demand()
    if dem.empty:
        return _nan("the World has no demand table")
    scenario = fig["scenario"] or "historical"
    sel = dem[(dem["material"] == fig["material"]) & (dem["year"] == fig["year"]) & (dem["scenario"] == scenario)]
    if fig["sector"]:
        sel = sel[sel["sector"] == fig["sector"]]
    if sel.empty:
        return _nan(f"no demand rows for {fig['material']} {fig['sector'] or 'all sectors'} {fig['year']} {scenario}")
    return float(sel["quantity"].sum()), f"{len(sel)} sector rows"


def trade_total(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """Trade under ``hs6`` in ``year`` (t or kUSD per ``measure``), from ``exporter`` and/or to ``importer``."""
    tr = world.table("trade")
    if tr.empty:
        return _nan("the World has no trade table")
    sel = tr[(tr["hs6"] == fig["hs6"]) & (tr["year"] == fig["year"])]
    for col in ("exporter", "importer"):
        if fig[col]:
            sel = sel[sel[col] == fig[col]]
    if fig["source_series"] and "source" in sel.columns:
        sel = sel[sel["source"] == fig["source_series"]]
    col = fig["measure"]
    if sel.empty or sel[col].notna().sum() == 0:
        return _nan(f"no {col} for HS {fig['hs6']} {fig['year']}")
    value = float(sel[col].sum())
    if col == "quantity_t" and value == 0:
        return _nan(f"HS {fig['hs6']} {fig['year']}: quantities are all zero (not reported)")
    return value, f"{len(sel)} flows"


# ---------------------------------------------------------------------------------------------- chain network
def _on_network(world: World, fig: dict[str, Any], read: Callable[[Any], tuple[float, str]]) -> tuple[float, str]:
    """``read(world.network(chain, year))`` (the World caches each network), or missing with the reason when
    the World has no such chain, year, stage or element."""
    try:
        return read(world.network(fig["chain"], fig["year"]))
    except InputError as exc:
        return _nan(str(exc))


def network_total(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """World total of chain ``stage`` (t/yr of the stage's content unit, GWh/yr for cells)."""

    def read(net: Any) -> tuple[float, str]:
        unit = str(net.unit(fig["stage"]))
        if ("GWh" in unit) != (UNITS[fig["unit"]][0] == "energy"):
            return _nan(f"critmin's unit is {unit}, the figure's {fig['unit']}")
        return float(net.total(fig["stage"])), unit

    return _on_network(world, fig, read)


def network_share(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """``country``'s share (fraction 0-1) of chain ``stage``'s world output."""
    return _on_network(world, fig, lambda net: (
        float(net.share(fig["stage"], fig["country"])), f"{fig['country']} of {net.total(fig['stage']):,.6g}"))


def network_element_total(world: World, fig: dict[str, Any], cache: dict[Any, Any]) -> tuple[float, str]:
    """World total (t/yr) of ``element`` (NdPr or DyTb) at chain ``stage``."""

    def read(net: Any) -> tuple[float, str]:
        s = net.element_production(fig["stage"], fig["element"])
        if len(s) == 0:
            return _nan(f"no {fig['element']} series at {fig['stage']}")
        return float(s.sum()), f"{fig['element']}, {len(s)} countries"

    return _on_network(world, fig, read)


PRODUCTION = ("material", "stage", "source_series")
KINDS: dict[str, Kind] = {
    "production_total": Kind(production_total, PRODUCTION, ("mass",), "world.production: sum of the series"),
    "production_share": Kind(production_share, (*PRODUCTION, "country"), ("share",),
                             "world.risk.concentration: a country's share"),
    "top_share": Kind(top_share, (*PRODUCTION, "top_n"), ("share",),
                      "world.risk.concentration: share of the top_n countries"),
    "us_nir": Kind(us_nir, ("material",), ("share",), "world.salient: US net import reliance"),
    "demand_total": Kind(demand_total, ("material",), ("mass",), "world.demand: sum over sectors or one sector"),
    "trade_total": Kind(trade_total, ("hs6", "measure"), ("mass", "money"), "world trade table: sum of flows"),
    "network_total": Kind(network_total, ("chain", "stage"), ("mass", "energy"), "world.network: stage total"),
    "network_share": Kind(network_share, ("chain", "stage", "country"), ("share",),
                          "world.network: a country's share of a stage"),
    "network_element_total": Kind(network_element_total, ("chain", "stage", "element"), ("mass",),
                                  "world.network: element_production summed over countries"),
}
MEASURES = {"quantity_t": "mass", "value_kusd": "money"}


# ---------------------------------------------------------------------------------------------- the file
def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def parse_range(text: str) -> tuple[float, float] | None:
    """``"87..94"`` → (87.0, 94.0); None if ``text`` is not LOW..HIGH with LOW <= HIGH."""
    lo, sep, hi = text.partition("..")
    a, b = _number(lo.strip()), _number(hi.strip())
    if not sep or a is None or b is None or a > b:
        return None
    return a, b


def read_figures(path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Read and validate a figures file (default: the shipped one); one row per figure, typed.

    Raises InputError(file, "row N, column", problem) for the first bad cell (N = line in the file).
    """
    import pandas as pd

    p = Path(path) if path is not None else FIGURES_FILE
    text = read_user_text(p)
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InputError(str(p), "row 1 (header)", f"missing column(s): {', '.join(missing)}")
    extra = [c for c in header if c not in COLUMNS]
    if extra:
        raise InputError(str(p), "row 1 (header)", f"unknown column(s): {', '.join(extra)}")
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    from critmin.safeio import checked_rows

    for raw in checked_rows(reader, str(p)):  # a field over the csv limit is one line (issue 13)
        line = reader.line_num
        if None in raw:
            raise InputError(str(p), f"row {line}", f"{len(header) + len(raw[None])} fields, header has {len(header)}")
        r = {k: (v or "").strip() for k, v in raw.items()}
        if not any(r.values()):
            continue

        def bad(field: str, problem: str, line: int = line) -> InputError:
            return InputError(str(p), f"row {line}, {field}", problem)

        for c in REQUIRED:
            if not r[c]:
                raise bad(c, "empty (required)")
        if r["id"] in seen:
            raise bad("id", f"duplicate id {r['id']!r} (first on row {seen[r['id']]})")
        seen[r["id"]] = line
        if r["topic"] not in TOPICS:
            raise bad("topic", f"{r['topic']!r} is not one of {', '.join(TOPICS)}")
        kind = KINDS.get(r["kind"])
        if kind is None:
            raise bad("kind", f"{r['kind']!r} is not one of {', '.join(KINDS)}")
        for c in kind.required:
            if c == "source_series" and r["kind"] in ("production_total", "production_share", "top_share"):
                continue  # optional: one source must remain, checked when evaluated
            if not r[c]:
                raise bad(c, f"empty (required by kind {r['kind']})")
        if r["unit"] not in UNITS:
            raise bad("unit", f"{r['unit']!r} is not one of {', '.join(UNITS)}")
        dim = UNITS[r["unit"]][0]
        if r["kind"] == "trade_total":
            if r["measure"] not in MEASURES:
                raise bad("measure", f"{r['measure']!r} is not one of {', '.join(MEASURES)}")
            if MEASURES[r["measure"]] != dim:
                raise bad("unit", f"{r['unit']} does not measure {r['measure']}")
        elif dim not in kind.dimensions:
            raise bad("unit", f"{r['unit']} is a {dim} unit; kind {r['kind']} gives {' or '.join(kind.dimensions)}")
        for c in ("year", "year_published") + (("top_n",) if r["kind"] == "top_share" else ()):
            if not r[c].isdigit():
                raise bad(c, f"not a whole number: {r[c]!r}")
        value = _number(r["published_value"])
        if value is None:
            raise bad("published_value", f"not a number: {r['published_value']!r}")
        if r["tolerance_type"] not in TOLERANCE_TYPES:
            raise bad("tolerance_type", f"{r['tolerance_type']!r} is not one of {', '.join(TOLERANCE_TYPES)}")
        if r["tolerance_type"] == "range":
            rng = parse_range(r["tolerance"])
            if rng is None:
                raise bad("tolerance", f"range tolerance must be LOW..HIGH, got {r['tolerance']!r}")
            if not rng[0] <= value <= rng[1]:
                raise bad("tolerance", f"range {r['tolerance']} does not contain the published value {value:g}")
        else:
            tol = _number(r["tolerance"])
            if tol is None or tol < 0:
                raise bad("tolerance", f"not a number >= 0: {r['tolerance']!r}")
        if r["provenance_label"] not in PROVENANCE:
            raise bad("provenance_label", f"{r['provenance_label']!r} is not one of {', '.join(PROVENANCE)}")
        r["_row"] = line
        rows.append(r)
    if not rows:
        raise InputError(str(p), None, "no figures")
    df = pd.DataFrame(rows, columns=[*COLUMNS, "_row"])
    df["published_value"] = df["published_value"].astype(float)
    df["year"] = df["year"].astype(int)
    df["year_published"] = df["year_published"].astype(int)
    df.attrs["path"] = str(p)
    return df


def bounds(value: float, tolerance_type: str, tolerance: str) -> tuple[float, float]:
    """The accepted interval [low, high] (published unit) for a published ``value`` and its tolerance."""
    if tolerance_type == "range":
        rng = parse_range(tolerance)
        assert rng is not None  # validated by read_figures
        return rng
    tol = float(tolerance)
    if tolerance_type == "abs":
        return value - tol, value + tol
    if tolerance_type == "rel":
        return value - tol * abs(value), value + tol * abs(value)
    if tolerance_type == "min":
        return value - tol, math.inf
    return -math.inf, value + tol  # max


def tolerance_text(unit: str, tolerance_type: str, tolerance: str, low: float, high: float) -> str:
    """How the tolerance reads in the report: ``±2% rel``, ``±0.05 pp``, ``±500 t``, ``≥ 50%``, ``87–94%``."""
    u = unit if unit == "%" else f" {unit}"
    if tolerance_type == "rel":
        return f"±{float(tolerance) * 100:g}% rel"
    if tolerance_type == "abs":
        return f"±{float(tolerance):,.6g}{' pp' if unit == '%' else u}"
    if tolerance_type == "min":
        return f"≥ {low:,.6g}{u}"
    if tolerance_type == "max":
        return f"≤ {high:,.6g}{u}"
    return f"{low:,.6g}–{high:,.6g}{u}"


def check_figures(
    world: World, figures: pd.DataFrame | str | os.PathLike[str] | None = None, topic: str | None = None
) -> pd.DataFrame:
    """critmin's value for every published figure, compared within the figure's tolerance.

    ``figures`` is a frame from :func:`read_figures`, a figures CSV path, or None (the shipped file);
    ``topic`` keeps one topic. One row per figure: id, topic, kind, what, year, published (value, in
    ``unit``), critmin (critmin's value converted to ``unit``; NaN when it has none), diff (critmin −
    published, in ``unit``), low/high (accepted interval), tolerance (text), status (pass, fail,
    explained, missing), detail (how critmin's value was found), reason, source (publisher, year),
    provenance, url_or_doi.
    """
    import pandas as pd

    figs = figures if isinstance(figures, pd.DataFrame) else read_figures(figures)
    if topic is not None:
        if topic not in set(figs["topic"]):
            topics = ", ".join(sorted(set(figs["topic"])))
            raise InputError("--topic", topic, f"no figures for this topic; topics: {topics}")
        figs = figs[figs["topic"] == topic]
    cache: dict[Any, Any] = {}
    out = []
    for fig in figs.to_dict(orient="records"):
        base, detail = KINDS[fig["kind"]].func(world, fig, cache)
        scale = UNITS[fig["unit"]][1]
        value = base / scale if not math.isnan(base) else math.nan
        pub = float(fig["published_value"])
        low, high = bounds(pub, fig["tolerance_type"], fig["tolerance"])
        if math.isnan(value):
            status = "explained" if fig["reason"] else "missing"
        elif low - 1e-9 * abs(pub) <= value <= high + 1e-9 * abs(pub):
            status = "pass"
        else:
            status = "explained" if fig["reason"] else "fail"
        out.append({
            "id": fig["id"], "topic": fig["topic"], "kind": fig["kind"], "what": fig["what"], "year": fig["year"],
            "published": pub, "unit": fig["unit"], "critmin": value, "diff": value - pub, "low": low, "high": high,
            "tolerance": tolerance_text(fig["unit"], fig["tolerance_type"], fig["tolerance"], low, high),
            "status": status, "detail": detail, "reason": fig["reason"],
            "source": f"{fig['publisher']} {fig['year_published']}", "provenance": fig["provenance_label"],
            "url_or_doi": fig["url_or_doi"],
        })
    return pd.DataFrame(out)


def summary(results: pd.DataFrame) -> dict[str, int]:
    """Counts of figures by status: figures, passed, explained, failed (fail + missing), missing."""
    counts = results["status"].value_counts()
    return {
        "figures": int(len(results)),
        "passed": int(counts.get("pass", 0)),
        "explained": int(counts.get("explained", 0)),
        "failed": int(counts.get("fail", 0) + counts.get("missing", 0)),
        "missing": int(counts.get("missing", 0)),
    }
