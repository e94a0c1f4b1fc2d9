"""Offline maps and timelines of the registry (Plotly HTML, matplotlib PNG).

Nothing is fetched from the network: boundaries come from the GeoJSON files in
``critmin/data/geo`` (world-atlas / us-atlas, ISC; geometry from Natural Earth
and the US Census Bureau) passed to Plotly as ``geojson=``, the geo
layout's base map is switched off (``visible=False``) so plotly.js loads no
topojson, and plotly.js is inlined into the HTML file.

Money is US$ million (USD records only), one map layer per amount type (amounts of
different types are never added; see :func:`critmin.registry.core.totals_by_type`);
capacities t/yr of the stated content.

Every colour, size, offset, map extent and label length in this module is a
presentation choice with no data meaning (nothing here changes a number shown);
the dates drawn come from ``framework_timeline.yaml``, each with its source.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from critmin import palette
from critmin.atomic import atomic_write_text
from critmin.errors import InputError
from critmin.registry.core import EMBEDDED_REGISTRY, Registry, totals_by_type
from critmin.registry.schema import parse_date

GEO_DIR = Path(__file__).resolve().parent.parent / "data" / "geo"
#: Marker/bar colour per project status (one palette for every figure: :mod:`critmin.palette`).
STATUS_COLOURS = palette.STATUS_COLOURS
#: What every registry figure names as its source.
REGISTRY_SOURCE = ("critmin registry (curated projects and Clean Investment Monitor records; dates: "
                   "framework_timeline.yaml, each with its source)")


#: YlOrRd with exactly 0 (no record) in light grey, so "nothing recorded" never looks like a small amount.
_NONE_GREY_YLORRD = [[0.0, "#e8e8e8"], [1e-9, "#ffffb2"], [0.25, "#fecc5c"], [0.5, "#fd8d3c"], [0.75, "#f03b20"],
                     [1.0, "#bd0026"]]
#: The same colour scale, for other modules' maps (the web pages' investment map).
NONE_GREY_YLORRD = _NONE_GREY_YLORRD


@lru_cache(maxsize=2)
def geojson(name: str) -> dict[str, Any]:
    """A GeoJSON FeatureCollection shipped in ``critmin/data/geo`` (``us_states`` or ``world``)."""
    files = {"us_states": "us_states_10m.geojson", "world": "world_countries_110m.geojson"}
    return json.loads((GEO_DIR / files[name]).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _centroids() -> tuple[dict[str, tuple[float, float]], dict[str, tuple[float, float]]]:
    def read(name: str, key: str) -> dict[str, tuple[float, float]]:
        with (EMBEDDED_REGISTRY / name).open(encoding="utf-8", newline="") as fh:
            return {
                r[key]: (float(r["centroid_lon"]), float(r["centroid_lat"]))
                for r in csv.DictReader(fh)
                if r.get("centroid_lon")
            }

    return read("countries.csv", "iso3"), read("us_states.csv", "usps")


def project_points(reg: Registry, us_only: bool = False, ids: set[str] | None = None) -> pd.DataFrame:
    """Marker positions: the project's lat/lon, else its state's or country's centroid (``approx``);
    only the projects in ``ids`` when given."""
    countries, states = _centroids()
    rows = []
    for p in reg.projects:
        if us_only and p.country != "USA":
            continue
        if ids is not None and p.id not in ids:
            continue
        if p.lat is not None:
            lon, lat, approx = p.lon, p.lat, ""
        elif p.state and p.state in states:
            (lon, lat), approx = states[p.state], "state centroid"
        elif p.country in countries:
            (lon, lat), approx = countries[p.country], "country centroid"
        else:
            continue
        cap = f"{p.capacity.value:,.0f} {p.capacity.unit} {p.capacity.content}" if p.capacity else "capacity n/a"
        rows.append({"id": p.id, "name": p.name, "lon": lon, "lat": lat, "approx": approx, "status": p.status,
                     "stage": p.stage, "country": p.country, "text": f"{p.name}<br>{p.stage}, {p.status}<br>{cap}"
                     + (f"<br>(position: {approx})" if approx else "")})
    return pd.DataFrame(rows, columns=["id", "name", "lon", "lat", "approx", "status", "stage", "country", "text"])


def _markers(fig: Any, pts: pd.DataFrame, geo: str = "geo") -> None:
    import plotly.graph_objects as go

    for status, grp in pts.groupby("status", sort=False):
        fig.add_trace(
            go.Scattergeo(
                lon=grp["lon"], lat=grp["lat"], text=grp["text"], hoverinfo="text", mode="markers",
                name=f"projects: {status}", geo=geo,
                marker={"size": 7, "color": STATUS_COLOURS.get(str(status), "#333"), "line": {"width": 0.5}},
            )
        )


def state_layers(inv: pd.DataFrame, types: list[str]) -> dict[str, dict[str, float]]:
    """US$ million by US state for each amount type with a USD amount in ``inv`` (an investments frame).

    One mapping per type, in ``types`` order; a type's states are summed within
    that type only, and a part is not added where its parent is in the same state.
    """
    usd = inv[inv["destination_country"].eq("USA") & inv["destination_state"].notna()] if len(inv) else inv
    tot = totals_by_type(usd, "destination_state", "state", types)
    tot = tot[tot["amount_musd"].notna()]
    return {
        ty: dict(zip(grp["state"], grp["amount_musd"].astype(float), strict=True))
        for ty in types
        if not (grp := tot[tot["type"] == ty]).empty
    }


def invest_map_figure(
    reg: Registry,
    world: bool = False,
    investor_country: str | None = None,
    programme: str | None = None,
    amount_type: str | None = None,
) -> Any:
    """A Plotly figure: US states shaded by investment (US$ million) with project markers.

    One choropleth layer per amount type (a dropdown switches between them; the
    amounts of different types are never added); ``amount_type`` is the layer
    shown first (default: the type with the most investment records in US states).
    With ``world=True``, countries shaded by the number of projects, with every
    project as a marker. ``investor_country`` / ``programme`` filter the investments.
    """
    import plotly.graph_objects as go

    from critmin.registry.schema import hint_or_choices

    inv = reg.investments_frame()
    types = list(reg.context.vocab["amount_types"])
    if amount_type is not None and amount_type not in types:
        raise InputError("amount_type", amount_type, f"unknown amount type{hint_or_choices(amount_type, types)}")
    title_bits = []
    if investor_country:
        if investor_country not in reg.context.countries:
            raise InputError("investor_country", investor_country, "unknown country (ISO3 expected)")
        inv = inv[inv["investor_country"] == investor_country]
        title_bits.append(f"investor {investor_country}")
    if programme:
        if programme not in reg.context.vocab["programmes"]:
            raise InputError("programme", programme, "unknown programme")
        inv = inv[inv["programme"] == programme]
        title_bits.append(programme)
    # with a filter, the markers are the projects the filtered investments go to (not every project)
    ids = set(inv["project_id"].dropna().astype(str)) if title_bits else None
    fig = go.Figure()
    if world and amount_type is not None:
        raise InputError("amount_type", amount_type, "the world map counts projects, not amounts; an amount type "
                         "is for the US state map")
    if world:
        counts = pd.Series([p.country for p in reg.projects]).value_counts()
        gj = geojson("world")
        isos = sorted({f["properties"]["iso3"] for f in gj["features"] if f["properties"].get("iso3")})
        fig.add_trace(
            go.Choropleth(
                geojson=gj, featureidkey="properties.iso3", locations=isos,
                z=[int(counts.get(i, 0)) for i in isos],
                colorscale="Blues", colorbar={"title": "projects"}, name="projects by country",
                marker={"line": {"width": 0.4, "color": "#888"}},
            )
        )
        _markers(fig, project_points(reg, ids=ids))
        fig.update_geos(visible=False, projection_type="natural earth", showframe=False,
                        lataxis_range=[-58, 84], lonaxis_range=[-170, 190])
        title = "Registry projects by country (count)"
    else:
        layers = state_layers(inv, types)
        if amount_type is not None and amount_type not in layers:
            raise InputError("amount_type", amount_type, "no investment of this type in a US state"
                             + (f" for {', '.join(title_bits)}" if title_bits else "")
                             + (f"; types with one: {', '.join(layers)}" if layers else ""))
        if not layers:
            layers = {types[0]: {}}  # nothing to shade: one empty layer keeps the state shapes
        if amount_type is None:
            in_states = inv[inv["destination_country"].eq("USA") & inv["destination_state"].notna()
                            & inv["amount_musd"].notna()] if len(inv) else inv
            counts = in_states["type"].value_counts() if len(in_states) else pd.Series(dtype=int)
            amount_type = max(layers, key=lambda ty: int(counts.get(ty, 0)))  # first of equals, vocab order
        gj = geojson("us_states")
        # every state drawn so the shapes are always there; a state without a record is grey, not the 0 colour
        all_states = [f["properties"]["usps"] for f in gj["features"]]
        base = "Investment by US state (US$ million, USD records)"
        bits = (" - " + ", ".join(title_bits)) if title_bits else ""
        names = list(layers)
        for ty in names:
            fig.add_trace(
                go.Choropleth(
                    geojson=gj, featureidkey="properties.usps", locations=all_states,
                    z=[float(layers[ty].get(s, 0.0)) for s in all_states], colorscale=_NONE_GREY_YLORRD,
                    zmin=0, colorbar={"title": f"US$ m<br>({ty})"}, name=f"investment by state: {ty}",
                    text=["" if s in layers[ty] else " (no USD record: grey)" for s in all_states],
                    hovertemplate=f"%{{location}}: US$ %{{z:,.0f}} m ({ty})%{{text}}<extra></extra>",
                    marker={"line": {"width": 0.5, "color": "#555"}}, visible=ty == amount_type,
                )
            )
        _markers(fig, project_points(reg, us_only=True, ids=ids))
        n_markers = len(fig.data) - len(names)
        fig.update_geos(visible=False, projection_type="albers usa", fitbounds="locations")
        buttons = [
            {"label": f"amount type: {ty}", "method": "update",
             "args": [{"visible": [t == ty for t in names] + [True] * n_markers},
                      {"title.text": f"{base}: {ty}{bits}"}]}
            for ty in names
        ]
        fig.update_layout(updatemenus=[{
            "buttons": buttons, "active": names.index(amount_type), "x": 0.0, "y": 1.0, "xanchor": "left",
            "yanchor": "top", "showactive": True,
        }])
        title = f"{base}: {amount_type}"
    if title_bits:
        title += " - " + ", ".join(title_bits)
    notes = [] if world else ["grey: no USD investment of this type recorded in the state"]
    if ids is not None:
        notes.append(f"markers: the {len(project_points(reg, us_only=not world, ids=ids))} project(s) these "
                     "investments go to")
    fig.update_geos(domain={"x": [0, 1], "y": [0, 1]})
    fig.update_layout(legend={"orientation": "v", "x": 0.0, "y": 0.02, "yanchor": "bottom",
                              "bgcolor": "rgba(255,255,255,0.8)", "font": {"size": 11}},
                      margin={"l": 0, "r": 0, "b": 0})
    palette.plotly_frame(fig, title, palette.subtitle(None, REGISTRY_SOURCE, notes))
    fig.update_layout(margin={"l": 0, "r": 0, "b": 0})
    return fig


def _timeline_projects(reg: Registry, chain: str | None, country: str | None, status: str | None) -> list[Any]:
    df = reg.filter_projects(chain=chain, country=country, status=status)
    ids = set(df["id"])
    return [p for p in reg.projects if p.id in ids and p.milestones]


def _numbered_events(reg: Registry) -> list[tuple[int, dict[str, Any], str]]:
    """The framework dates in date order as (number from 1, event, key line "k. YYYY-MM-DD label"), the
    numbering shared by the HTML and PNG timelines."""
    events = sorted(reg.events, key=lambda e: e["date"])
    return [(k, e, f"{k}. {e['date']:%Y-%m-%d} {e.get('label', e['id'])}") for k, e in enumerate(events, start=1)]


#: Milestone kinds that mark production starting: where a pipeline bar ends.
PRODUCTION_KINDS = ("commissioning", "operating")
TIMELINE_COLUMNS = ["id", "name", "chain", "country", "stage", "status", "start", "end", "start_event", "end_event",
                    "end_planned", "days"]


def timeline_frame(reg: Registry, ids: set[str] | None = None) -> pd.DataFrame:
    """One row per project with a dated start: the pipeline bar (announcement/FID/first milestone to production
    start) the web page draws, and its chart data.

    ``start`` (ISO date): the earliest of the project's milestone dates, announcement year and FID year (a
    year reads as 1 January); ``end``: production start, the earliest commissioning/operating milestone on or
    after ``start``, else ``start_year`` (from ``start``'s year on); empty (None) when neither is recorded.
    ``start_event``/``end_event`` say which record dated them; ``end_planned`` is True when the end is an
    expected (planned) date; ``days`` = end - start (days; None without an end). Only the
    projects in ``ids`` when given; rows by start date, then name.
    """
    rows = []
    for p in reg.projects:
        if ids is not None and p.id not in ids:
            continue
        dated = [(parse_date(m.date), m.event, m.kind, m.planned) for m in p.milestones]
        starts = [(d, ev) for d, ev, _k, _pl in dated]
        starts += [(dt.date(y, 1, 1), label) for y, label in ((p.announced_year, "announced (year)"),
                                                               (p.fid_year, "FID (year)")) if y is not None]
        if not starts:
            continue
        start, start_event = min(starts, key=lambda x: x[0])
        prod = sorted((d, ev, pl) for d, ev, k, pl in dated if k in PRODUCTION_KINDS and d >= start)
        end: tuple[dt.date, str, bool] | None = None
        if prod:
            end = prod[0]
        elif p.start_year is not None and p.start_year >= start.year:
            end = (dt.date(p.start_year, 1, 1), "production start (year)",
                   p.status not in ("operating", "commissioning", "retired"))
        rows.append({"id": p.id, "name": p.name, "chain": p.chain, "country": p.country, "stage": p.stage,
                     "status": p.status, "start": start.isoformat(), "end": end[0].isoformat() if end else None,
                     "start_event": start_event, "end_event": end[1] if end else None,
                     "end_planned": bool(end[2]) if end else None,
                     "days": (end[0] - start).days if end else None})
    df = pd.DataFrame(rows, columns=TIMELINE_COLUMNS)
    df["days"] = df["days"].astype("Int64")
    return df.sort_values(["start", "name"], kind="stable").reset_index(drop=True)


def timeline_figure(
    reg: Registry, chain: str | None = None, country: str | None = None, status: str | None = None
) -> Any:
    """Plotly Gantt of project milestones (one row per project) against the framework dates."""
    import plotly.graph_objects as go

    projs = _timeline_projects(reg, chain, country, status)
    if not projs:
        raise InputError("timeline", None, "no project with milestones matches the filters")
    fig = go.Figure()
    for p in projs:
        ds = [parse_date(m.date) for m in p.milestones]
        fig.add_trace(go.Scatter(x=[min(ds), max(ds)], y=[p.name, p.name], mode="lines",
                                 line={"color": STATUS_COLOURS.get(p.status, "#333"), "width": 6},
                                 showlegend=False, hoverinfo="skip"))
        fig.add_trace(go.Scatter(
            x=ds, y=[p.name] * len(ds), mode="markers", showlegend=False,
            marker={"symbol": ["circle-open" if m.planned else "circle" for m in p.milestones], "size": 10,
                    "color": STATUS_COLOURS.get(p.status, "#333")},
            text=[f"{m.date}: {m.event}" + (" (planned)" if m.planned else "") for m in p.milestones],
            hoverinfo="text"))
    # Framework dates: a numbered vertical line each, numbers staggered over four rows at the top so close
    # dates stay readable, and the full label in the legend (hover shows it too).
    events = _numbered_events(reg)
    for k, e, key in events:
        d: dt.date = e["date"]
        dash = "dot" if e.get("computed") else "solid"
        fig.add_shape(type="line", x0=d, x1=d, y0=0, y1=1, yref="paper",
                      line={"dash": dash, "color": "#c00", "width": 1})
        fig.add_annotation(x=d, y=1.0, yshift=2 + 13 * ((k - 1) % 4), yref="paper", text=str(k), showarrow=False,
                           font={"size": 10, "color": "#c00"}, yanchor="bottom")
        fig.add_trace(go.Scatter(
            x=[d], y=[projs[0].name], mode="markers", marker={"size": 0.1, "color": "#c00"}, legendgroup="dates",
            name="<br>    ".join(textwrap.wrap(key + (" (computed)" if e.get("computed") else ""), 110)),
            hovertext=f"{d:%Y-%m-%d}: {e.get('label', e['id'])}", hoverinfo="text"))
    key_lines = sum(len(textwrap.wrap(key, 110)) for _k, _e, key in events)
    fig.update_layout(height=max(400, 28 * len(projs) + 22 * key_lines + 300),
                      margin={"l": 10, "r": 10, "t": 150, "b": 40}, plot_bgcolor="white",
                      legend={"orientation": "v", "y": -0.05, "yanchor": "top", "x": 0, "font": {"size": 10},
                              "title": {"text": "Framework dates"}},
                      xaxis={"type": "date", "title": "date", "gridcolor": "#e5e5e5"},
                      yaxis={"autorange": "reversed", "automargin": True})
    palette.plotly_frame(fig, "Project milestones against the frameworks' dates",
                         palette.subtitle(None, REGISTRY_SOURCE, ["bar colour: project status; marker: milestone "
                                                                  "(open = planned); red lines: framework dates "
                                                                  "numbered as in the key (dotted = computed)"]))
    fig.update_layout(margin={"t": 150})
    return fig


def timeline_png_figure(reg: Registry, chain: str | None = None, country: str | None = None,
                        status: str | None = None) -> Any:
    """The Gantt of :func:`timeline_figure` as a matplotlib figure (framework dates numbered, key below)."""
    plt = palette.pyplot()
    projs = _timeline_projects(reg, chain, country, status)
    if not projs:
        raise InputError("timeline", None, "no project with milestones matches the filters")
    events = _numbered_events(reg)
    fig, ax = plt.subplots(figsize=(14, 0.3 * len(projs) + 2.5), layout="constrained")
    for i, p in enumerate(projs):
        ds = [parse_date(m.date) for m in p.milestones]
        col = STATUS_COLOURS.get(p.status, "#333")
        ax.plot([min(ds), max(ds)], [i, i], color=col, lw=5, solid_capstyle="butt")
        for m, d in zip(p.milestones, ds, strict=True):
            ax.plot([d], [i], "o", mfc="white" if m.planned else col, mec=col, ms=6)
    for k, e, _ in events:
        ax.axvline(e["date"], color=palette.REFERENCE_COLOR, lw=0.8, ls=":" if e.get("computed") else "-")
        ax.annotate(str(k), (e["date"], 1.0), xycoords=("data", "axes fraction"), xytext=(0, 2 + 9 * ((k - 1) % 4)),
                    textcoords="offset points", fontsize=7, color=palette.REFERENCE_COLOR, ha="center", va="bottom")
    ax.set_yticks(range(len(projs)), [palette.mpl_text(p.name[:60]) for p in projs], fontsize=7)
    ax.set_ylim(len(projs) - 0.5, -0.5)
    ax.set_xlabel("date (milestone: filled = reached, open = planned)")
    ax.grid(axis="x", color="#e5e5e5", lw=0.6)
    from matplotlib.lines import Line2D

    seen = list(dict.fromkeys(p.status for p in projs))
    ax.legend([Line2D([], [], color=STATUS_COLOURS.get(s, "#333"), lw=5) for s in seen], seen, title="status",
              fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1), frameon=False)
    ax.set_title("numbers on top: framework dates (solid = dated by a source, dotted = computed), key below",
                 fontsize=8, color="#444", pad=44)
    key = [key[:150] + (" (computed)" if e.get("computed") else "") for _, e, key in events]
    lines = palette.subtitle(None, REGISTRY_SOURCE, ["Framework dates:", *key])
    palette.mpl_frame(fig, "Project milestones against the frameworks' dates", lines, width=200)
    return fig


def timeline_png(reg: Registry, out: Path, chain: str | None = None, country: str | None = None,
                 status: str | None = None) -> Path:
    """:func:`timeline_png_figure` saved to ``out`` (PNG, at most 2400 px wide, nothing clipped)."""
    return palette.save(timeline_png_figure(reg, chain, country, status), out)


#: An empty base map registered under plotly.js's topojson names. Our geo layouts hide every
#: base layer (``visible=False``) and draw shapes from ``geojson=``, but plotly.js still asks for
#: its base-map topojson whenever a trace has a ``locationmode`` (choropleths always do); with the
#: name pre-registered in ``window.PlotlyGeoAssets`` it takes this instead of fetching from the CDN.
_EMPTY_TOPOLOGY = {
    "type": "Topology",
    "arcs": [],
    "objects": {k: {"type": "GeometryCollection", "geometries": []}
                for k in ("land", "ocean", "coastlines", "lakes", "rivers", "countries", "subunits")},
}
_TOPOJSON_NAMES = ("world_110m", "world_50m", "usa_110m", "usa_50m", "europe_110m", "europe_50m",
                   "asia_110m", "asia_50m", "africa_110m", "africa_50m", "north-america_110m",
                   "north-america_50m", "south-america_110m", "south-america_50m")


def offline_geo_script() -> str:
    """A ``<script>`` that registers empty base maps so plotly.js fetches none (see above)."""
    assets = {"topojson": {n: _EMPTY_TOPOLOGY for n in _TOPOJSON_NAMES}}
    return f"<script>window.PlotlyGeoAssets = {json.dumps(assets, separators=(',', ':'))};</script>"


def write_html(fig: Any, out: Path) -> None:
    """Write ``fig`` as a self-contained HTML file (plotly.js inlined; no CDN), atomically."""
    geo = any(getattr(t, "type", "") in ("choropleth", "scattergeo") for t in fig.data)
    # a map without a set height fills the window (plotly's default is 100% wide, a fixed 450 px high)
    height = "96vh" if geo and fig.layout.height is None else "100%"
    html = fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False, "responsive": True},
                       default_height=height)
    if geo:
        html = html.replace("<head>", "<head>" + offline_geo_script(), 1)
    atomic_write_text(out, html)
