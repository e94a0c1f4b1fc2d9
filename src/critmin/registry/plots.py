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
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from critmin.atomic import atomic_path, atomic_write_text
from critmin.errors import InputError
from critmin.registry.core import EMBEDDED_REGISTRY, Registry, totals_by_type
from critmin.registry.schema import parse_date

GEO_DIR = Path(__file__).resolve().parent.parent / "data" / "geo"
#: Marker/bar colour per project status (presentation choice): ColorBrewer "Dark2" (8 colours), plus grey for retired.
STATUS_COLOURS = {
    "operating": "#1b9e77",
    "commissioning": "#66a61e",
    "construction": "#e6ab02",
    "fid": "#d95f02",
    "feasibility": "#7570b3",
    "announced": "#a6761d",
    "suspended": "#666666",
    "cancelled": "#e7298a",
    "retired": "#999999",
}


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


def project_points(reg: Registry, us_only: bool = False) -> pd.DataFrame:
    """Marker positions: the project's lat/lon, else its state's or country's centroid (``approx``)."""
    countries, states = _centroids()
    rows = []
    for p in reg.projects:
        if us_only and p.country != "USA":
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
    return pd.DataFrame(rows)


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
        raise InputError("--type", amount_type, f"unknown amount type{hint_or_choices(amount_type, types)}")
    title_bits = []
    if investor_country:
        if investor_country not in reg.context.countries:
            raise InputError("--investor-country", investor_country, "unknown country (ISO3 expected)")
        inv = inv[inv["investor_country"] == investor_country]
        title_bits.append(f"investor {investor_country}")
    if programme:
        if programme not in reg.context.vocab["programmes"]:
            raise InputError("--programme", programme, "unknown programme")
        inv = inv[inv["programme"] == programme]
        title_bits.append(programme)
    fig = go.Figure()
    if world and amount_type is not None:
        raise InputError("--type", amount_type, "the world map counts projects, not amounts; --type is for the "
                         "US state map")
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
        _markers(fig, project_points(reg))
        fig.update_geos(visible=False, projection_type="natural earth", showframe=False,
                        lataxis_range=[-60, 85], lonaxis_range=[-180, 180])
        title = "Registry projects by country"
    else:
        layers = state_layers(inv, types)
        if amount_type is not None and amount_type not in layers:
            raise InputError("--type", amount_type, "no investment of this type in a US state"
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
        # every state drawn (zero where no investment) so the shapes are always there
        all_states = [f["properties"]["usps"] for f in gj["features"]]
        base = "Investment by US state (US$ million, USD records)"
        bits = (" - " + ", ".join(title_bits)) if title_bits else ""
        names = list(layers)
        for ty in names:
            fig.add_trace(
                go.Choropleth(
                    geojson=gj, featureidkey="properties.usps", locations=all_states,
                    z=[float(layers[ty].get(s, 0.0)) for s in all_states], colorscale="YlOrRd",
                    colorbar={"title": f"US$ m<br>({ty})"}, name=f"investment by state: {ty}",
                    hovertemplate=f"%{{location}}: US$ %{{z:,.0f}} m ({ty})<extra></extra>",
                    marker={"line": {"width": 0.5, "color": "#555"}}, visible=ty == amount_type,
                )
            )
        _markers(fig, project_points(reg, us_only=True))
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
    fig.update_layout(title=title, margin={"l": 0, "r": 0, "t": 40, "b": 0}, height=650,
                      legend={"orientation": "h", "y": -0.02})
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
        fig.add_annotation(x=d, y=1.0 + 0.018 * ((k - 1) % 4), yref="paper", text=str(k), showarrow=False,
                           font={"size": 10, "color": "#c00"}, yanchor="bottom")
        fig.add_trace(go.Scatter(
            x=[d], y=[projs[0].name], mode="markers", marker={"size": 0.1, "color": "#c00"}, legendgroup="dates",
            name=key[:110] + (" (computed)" if e.get("computed") else ""),
            hovertext=f"{d:%Y-%m-%d}: {e.get('label', e['id'])}", hoverinfo="text"))
    fig.update_layout(title="Project milestones against the frameworks' dates (open = planned; dotted = computed)",
                      height=max(400, 28 * len(projs) + 22 * len(events) + 260),
                      margin={"l": 10, "r": 10, "t": 110, "b": 40},
                      legend={"orientation": "v", "y": -0.05, "yanchor": "top", "x": 0, "font": {"size": 10},
                              "title": {"text": "Framework dates"}},
                      xaxis={"type": "date"}, yaxis={"autorange": "reversed"})
    return fig


def timeline_png(reg: Registry, out: Path, chain: str | None = None, country: str | None = None,
                 status: str | None = None) -> None:
    """The same Gantt as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    projs = _timeline_projects(reg, chain, country, status)
    if not projs:
        raise InputError("timeline", None, "no project with milestones matches the filters")
    fig, ax = plt.subplots(figsize=(13, 0.32 * len(projs) + 2.5 + 0.13 * len(reg.events)))
    for i, p in enumerate(projs):
        ds = [parse_date(m.date) for m in p.milestones]
        col = STATUS_COLOURS.get(p.status, "#333")
        ax.plot([min(ds), max(ds)], [i, i], color=col, lw=5, solid_capstyle="butt")
        for m, d in zip(p.milestones, ds, strict=True):
            ax.plot([d], [i], "o", mfc="white" if m.planned else col, mec=col, ms=6)
    events = _numbered_events(reg)
    for k, e, _ in events:
        ax.axvline(e["date"], color="#c00", lw=0.8, ls=":" if e.get("computed") else "-")
        ax.text(e["date"], -0.8 - 0.6 * ((k - 1) % 4), str(k), fontsize=7, color="#c00", ha="center", va="bottom")
    legend = "\n".join(key[:120] for _, _, key in events)
    fig.text(0.01, 0.005, legend, fontsize=6.5, color="#800", va="bottom", ha="left", family="DejaVu Sans")
    ax.set_yticks(range(len(projs)), [p.name[:60] for p in projs], fontsize=7)
    ax.invert_yaxis()
    ax.set_title("Project milestones against the frameworks' dates (numbered red lines; key below)", fontsize=10,
                 pad=40)
    fig.tight_layout(rect=(0, 0.018 * len(reg.events) + 0.02, 1, 1))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


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
    html = fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    if any(getattr(t, "type", "") in ("choropleth", "scattergeo") for t in fig.data):
        html = html.replace("<head>", "<head>" + offline_geo_script(), 1)
    atomic_write_text(out, html)
