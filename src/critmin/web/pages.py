"""The pages (Jinja2): login, overview (the brief), chains, risk tables, scenarios and runs, compare, projects,
data catalogue; and every page table as CSV or Excel (``/tables/{name}.{csv|xlsx}``).

Pages call the same public API a notebook user calls (through :mod:`critmin.web.tables`) and reach
labelled runs only through the store (its ``visible_to`` rule).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from critmin import palette
from critmin.errors import InputError
from critmin.store import Actor
from critmin.web import tables
from critmin.web.api import compare_runs, labelled_download, run_frames
from critmin.web.auth import csrf_ok, csrf_token, page_actor, store_of

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
Form64 = Annotated[str, Form(max_length=256)]
NAV = [("/", "Overview"), ("/chains", "Chains"), ("/risk", "Risk"), ("/scenarios", "Scenarios"),
       ("/plans", "Plans"), ("/projects", "Projects"), ("/catalogue", "Data")]
SHARE_WORDS = ("share", "China", "from China", "prob_shortfall", "nir")


def fmt(v: Any, column: str = "") -> str:
    """A cell as the CLI prints it: shares as %, thousands separators, '–' for missing."""
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int | float) and any(w in column for w in SHARE_WORDS) and -1.5 <= float(v) <= 1.5:
        return f"{float(v):.1%}"
    if isinstance(v, float):
        if column == "year" or column.endswith("_year"):
            return f"{v:.0f}"
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}"
    if isinstance(v, int) and column not in ("year",) and not column.endswith("year"):
        return f"{v:,}"
    return str(v)


def table_ctx(df: pd.DataFrame, limit: int = 300) -> dict[str, Any]:
    """Columns, formatted rows (at most ``limit``) and the full row count of a table, for the template."""
    cols = [str(c) for c in df.columns]
    rows = [[fmt(v, c) for v, c in zip(r, cols, strict=True)] for r in df.head(limit).itertuples(index=False)]
    return {"columns": cols, "rows": rows, "total": len(df), "shown": len(rows)}


def render(request: Request, name: str, actor: Actor | None, status: int = 200, **ctx: Any) -> HTMLResponse:
    """A page with the navigation, the actor and the CSRF token."""
    return TEMPLATES.TemplateResponse(request, name, {"actor": actor, "nav": NAV, "csrf": csrf_token(request),
                                                      "path": request.url.path, **ctx}, status_code=status)


def figure_json(fig: go.Figure) -> str:
    """A Plotly figure as JSON for ``Plotly.newPlot`` (the JS is served from the package)."""
    return fig.to_json()


#: Where pages' maps read country boundaries (served from the package, never a CDN).
GEOJSON_URL = "/static/geo/world.geojson"


def world_map(iso3: list[str], values: list[float], title: str, colorbar: str, points: pd.DataFrame | None = None
              ) -> go.Figure:
    """A choropleth over the shipped world boundaries (geo base map off: nothing fetched), optional points."""
    from critmin.registry.plots import geojson

    known = dict(zip(iso3, values, strict=True))
    every = sorted({f["properties"]["iso3"] for f in geojson("world")["features"] if f["properties"].get("iso3")})
    iso3, values = every, [known.get(c, 0) for c in every]  # every country drawn; no data is 0 (lightest)
    fig = go.Figure(go.Choropleth(geojson=GEOJSON_URL, featureidkey="properties.iso3", locations=iso3, z=values,
                                  colorscale="Reds", colorbar={"title": colorbar}, zmin=0,
                                  marker={"line": {"width": 0.4, "color": "#888"}}, name=colorbar))
    if points is not None and len(points):
        for status, g in points.groupby("status"):
            fig.add_scattergeo(lat=g["lat"], lon=g["lon"], text=g["name"], mode="markers", name=str(status),
                               marker={"size": 6, "color": palette.STATUS_COLOURS.get(str(status), "#333")})
    fig.update_geos(visible=False, projection_type="natural earth", showframe=False, lataxis_range=[-58, 84],
                    lonaxis_range=[-170, 190])
    fig.update_layout(height=440, margin=dict(l=0, r=0, t=30, b=0), title=title,
                      legend={"orientation": "h", "y": -0.02, "title": "status"})
    return fig


def registry_for(request: Request, actor: Actor) -> Any:
    """The registry ``actor`` may see in the store (labels applied), or None when the store holds none (then
    pages show the embedded registry, which is public)."""
    store = store_of(request)
    return store.registry(actor) if store.has_registry() else None


def _world(request: Request) -> Any:
    return request.app.state.world


def _q(request: Request, *names: str) -> dict[str, str]:
    return {n: request.query_params.get(n, "") for n in names}


# ---------------------------------------------------------------------- login
@router.get("/login")
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", None, next=next if _local(next) else "/", error=None)


def _local(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//") and "\\" not in url


@router.post("/login")
async def login(request: Request, name: Form64, password: Form64, csrf_token: Form64 = "",
                next: Form64 = "/") -> Response:
    """Check the password; on success a fresh signed session, then back to ``next``."""
    if not csrf_ok(request, csrf_token):
        return render(request, "login.html", None, 403, next="/", error="The form expired; please sign in again.")
    actor = await run_in_threadpool(store_of(request).authenticate, name, password)
    if actor is None:
        return render(request, "login.html", None, 401, next=next if _local(next) else "/",
                      error="Unknown name or wrong password.")
    request.session.clear()
    request.session["uid"] = actor.id
    csrf_token_of(request)  # a new CSRF token for the new session
    return RedirectResponse(next if _local(next) else "/", status_code=303)


def csrf_token_of(request: Request) -> str:
    """A fresh CSRF token for a new session."""
    return csrf_token(request)


@router.post("/logout")
async def logout(request: Request, csrf_token: Form64 = "", actor: Actor = Depends(page_actor)) -> Response:
    """End the session."""
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "csrf_token: missing or wrong")
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


# ---------------------------------------------------------------------- world pages
def overview_context(world: Any, importer: str | None, year: str | None) -> dict[str, Any]:
    """The overview's figures (as JSON) and table for importers and year; cached, as the World is read-only."""

    def make() -> dict[str, Any]:
        b = tables.brief(world, importer, year)
        frame = tables.brief_table(world, importer, year)
        figs = {}
        stages = tables.brief_stages(world, importer, year)
        for c in b["chains"]:
            part = stages[stages["chain"] == c["chain"]]
            names, china = list(part["label"]), list(part["china_share_pct"])
            fig = go.Figure(go.Bar(x=china, y=names, orientation="h", marker_color=palette.CHINA_COLOR))
            fig.update_layout(height=120 + 30 * len(names), margin=dict(l=10, r=10, t=30, b=30),
                              xaxis={"title": "China's share (%)", "range": [0, 100]}, plot_bgcolor="white",
                              title=f"{c['title']}: China's share by stage")
            fig.update_yaxes(autorange="reversed", automargin=True)
            figs[c["chain"]] = figure_json(fig)
        prod = tables.trend_production(world)
        imp = tables.trend_imports(world, importer)
        trend = go.Figure()
        for (mat, stage), g in prod.groupby(["material", "stage"]):
            trend.add_scatter(x=g["year"], y=100 * g["china_share"], mode="lines+markers", name=f"{mat} {stage}")
        trend.update_layout(height=380, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                            title="China's share of world production, 2018–2024 (longest series per material)",
                            yaxis={"title": "%", "range": [0, 100]}, xaxis={"dtick": 1})
        itrend = go.Figure()
        for (who, mat), g in imp.groupby(["importer", "material"]):
            itrend.add_scatter(x=g["year"], y=100 * g["china_share"], mode="lines+markers", name=f"{who} {mat}")
        itrend.update_layout(height=380, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                             title="Share of imports (t) from China, 2018–2024",
                             yaxis={"title": "%", "range": [0, 100]}, xaxis={"dtick": 1})
        return {"brief": b, "figs": figs, "table": table_ctx(frame, 1000), "trend": figure_json(trend),
                "itrend": figure_json(itrend)}

    imps = tuple(tables.importers_of(importer))
    return tables.cached(("overview", imps, tables._year(year)), make)


@router.get("/")
async def overview(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The brief for importers or blocs (default USA, JPN): China's share by stage, trends 2018–2024."""
    q = _q(request, "importer", "year")
    ctx = await run_in_threadpool(overview_context, _world(request), q["importer"] or None, q["year"] or None)
    dl_stages = {c["chain"]: _dl("brief-stages", {**q, "chain": c["chain"]})["csv"] for c in ctx["brief"]["chains"]}
    return render(request, "overview.html", actor, q=q, download=_dl("brief", q), **ctx, dl_stages=dl_stages,
                  dl_trend=_dl("trend-production", {}), dl_itrend=_dl("trend-imports", {"importer": q["importer"]}))


def _dl(name: str, q: dict[str, str]) -> dict[str, str]:
    from urllib.parse import urlencode

    qs = urlencode({k: v for k, v in q.items() if v})
    return {f: f"/tables/{name}.{f}" + (f"?{qs}" if qs else "") for f in ("csv", "xlsx")}


@router.get("/chains")
async def chains(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The chains, each with its stages."""
    w = _world(request)
    items = [{"id": cid, "title": ch.title, "stages": [s.name for s in ch.stages]} for cid, ch in w.chains.items()]
    return render(request, "chains.html", actor, chains=items)


@router.get("/chains/{chain}")
async def chain_page(chain: str, request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """One chain: stages with China's share (a chart and a table), then the countries of a chosen stage."""
    w = _world(request)
    q = _q(request, "year", "stage")
    cid = tables.chain_id(w, chain)
    summ = await run_in_threadpool(tables.chain_summary, w, cid, q["year"] or None)
    stage = q["stage"] or str(summ["stage"].iloc[0])
    countries = await run_in_threadpool(tables.chain_countries, w, cid, q["year"] or None, stage)
    bars = await run_in_threadpool(tables.chain_stages_chart, w, cid, q["year"] or None)
    fig = go.Figure()
    fig.add_bar(x=bars["stage"], y=bars["china_share_pct"], name="China", marker_color=palette.CHINA_COLOR)
    fig.add_bar(x=bars["stage"], y=bars["rest_of_world_pct"], name="rest of world",
                marker_color=palette.OTHER_COLOR)
    fig.update_layout(barmode="stack", height=360, yaxis={"title": "share of world output (%)", "range": [0, 100]},
                      plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                      title=f"{w.chains[cid].title}: China's share at each stage")
    top = await run_in_threadpool(tables.chain_countries_chart, w, cid, q["year"] or None, stage)
    fig2 = go.Figure(go.Bar(x=top["country"], y=100 * top["share"],
                            marker_color=[palette.country_color(c) for c in top["country"]]))
    fig2.update_layout(height=300, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                       yaxis={"title": "share (%)"}, title=f"{stage}: producing countries")
    top = await run_in_threadpool(tables.chain_trade_chart, w, cid, q["year"] or None, stage)
    fig4 = None
    if len(top):
        ex = list(dict.fromkeys(top["exporter"]))
        im = list(dict.fromkeys(top["importer"]))
        labels = [f"{c} →" for c in ex] + [f"→ {c}" for c in im]
        fig4 = go.Figure(go.Sankey(
            node={"label": labels, "pad": 12, "color": [palette.country_color(c) for c in ex + im]},
            link={"source": [ex.index(e) for e in top["exporter"]],
                  "target": [len(ex) + im.index(i) for i in top["importer"]], "value": list(top["t"])}))
        fig4.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=10),
                           title=f"{stage}: the 25 largest recorded trade flows (t/yr, exporter → importer)")
    shares = await run_in_threadpool(tables.chain_map, w, cid, q["year"] or None, stage)
    fig3 = world_map(list(shares["country"]), list(100 * shares["share"]), f"{stage}: share of world output by country",
                     "share (%)")
    return render(request, "chain.html", actor, chain=w.chains[cid], cid=cid, q=q, stage=stage, map=figure_json(fig3),
                  sankey=figure_json(fig4) if fig4 is not None else None,
                  dl_trade=_dl("chain-trade", {"chain": cid, "year": q["year"], "stage": stage}),
                  stages=list(summ["stage"]), summary=table_ctx(summ), countries=table_ctx(countries),
                  fig=figure_json(fig), fig2=figure_json(fig2),
                  dl_summary=_dl("chain-stages", {"chain": cid, "year": q["year"]}),
                  dl_countries=_dl("chain-countries", {"chain": cid, "year": q["year"], "stage": stage}),
                  **{f"dl_{k}": _dl(name, {"chain": cid, "year": q["year"], "stage": stage})["csv"]
                     for k, name in (("fig", "chain-stages-chart"), ("fig2", "chain-countries-chart"),
                                     ("map", "chain-map"), ("sankey", "chain-trade-chart"))})


@router.get("/risk")
async def risk_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """Risk tables (``world.risk.table``) with filters: metric, importer, material, year."""
    q = _q(request, "metric", "importer", "material", "year")
    q["metric"] = q["metric"] or "hhi-production"
    df = await run_in_threadpool(tables.risk, _world(request), q["metric"], q["importer"] or None,
                                 q["material"] or None, q["year"] or None)
    return render(request, "risk.html", actor, q=q, metrics=tables.RISK_METRICS, table=table_ctx(df),
                  download=_dl("risk", q))


def timeline_chart(bars: pd.DataFrame) -> go.Figure:
    """The pipeline Gantt: one horizontal bar per project from ``start`` to ``end`` (production start), coloured
    by status (lighter when the end is expected); a marker at ``start`` when no production start is recorded.
    ``bars`` is :func:`critmin.web.tables.projects_timeline`."""
    fig = go.Figure()
    day_ms = 86_400_000
    twice = bars["name"].duplicated(keep=False)
    bars = bars.assign(name=bars["name"].where(~twice, bars["name"] + " (" + bars["id"] + ")"))
    for status, g in bars.groupby("status", sort=True):
        colour = palette.STATUS_COLOURS.get(str(status), "#333")
        ended = g[g["end"].notna()]
        if len(ended):
            fig.add_bar(y=ended["name"], base=ended["start"], x=[int(d) * day_ms for d in ended["days"]],
                        orientation="h", name=str(status), legendgroup=str(status), marker_color=colour,
                        marker_opacity=[0.55 if p else 1.0 for p in ended["end_planned"]],
                        customdata=list(zip(ended["start_event"], ended["end_event"], ended["end"], strict=True)),
                        hovertemplate="%{y}<br>%{base|%Y-%m-%d}: %{customdata[0]}<br>%{customdata[2]}: "
                                      "%{customdata[1]}<extra>" + str(status) + "</extra>")
        open_ = g[g["end"].isna()]
        if len(open_):
            fig.add_scatter(y=open_["name"], x=open_["start"], mode="markers",
                            name=f"{status} (production start not recorded)", legendgroup=str(status),
                            marker={"color": colour, "symbol": "line-ns-open", "size": 9},
                            text=open_["start_event"], hovertemplate="%{y}<br>%{x|%Y-%m-%d}: %{text}<extra></extra>")
    fig.update_layout(height=160 + 16 * len(bars), plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                      title="Pipeline: first dated record to production start, by status", barmode="overlay",
                      xaxis={"type": "date", "title": "date", "gridcolor": "#e5e5e5"},
                      yaxis={"autorange": "reversed", "automargin": True, "categoryorder": "array",
                             "categoryarray": list(bars["name"]), "tickfont": {"size": 9}},
                      legend={"title": "status"})
    return fig


#: Where the investment map reads US state boundaries (shipped in critmin/data/geo; never a CDN).
US_STATES_URL = "/geo/us-states.geojson"


def investment_map(by_state: pd.DataFrame) -> go.Figure:
    """US states shaded by investment (US$ million), one layer per amount type (a dropdown switches; types are
    never added), every state drawn (grey: nothing recorded). ``by_state`` is
    :func:`critmin.web.tables.investments_by_state`."""
    from critmin.registry.plots import NONE_GREY_YLORRD, geojson

    states = [f["properties"]["usps"] for f in geojson("us_states")["features"]]
    types = list(dict.fromkeys(by_state["type"])) or ["(none recorded)"]
    counts = by_state["type"].value_counts()
    first = max(types, key=lambda t: int(counts.get(t, 0)))
    fig = go.Figure()
    for ty in types:
        known = dict(zip(by_state.loc[by_state["type"] == ty, "state"],
                         by_state.loc[by_state["type"] == ty, "amount_musd"], strict=True))
        fig.add_choropleth(geojson=US_STATES_URL, featureidkey="properties.usps", locations=states,
                           z=[float(known.get(st, 0.0)) for st in states], colorscale=NONE_GREY_YLORRD, zmin=0,
                           colorbar={"title": f"US$ m ({ty})"}, name=f"investment by state: {ty}",
                           visible=ty == first, marker={"line": {"width": 0.5, "color": "#555"}},
                           hovertemplate=f"%{{location}}: US$ %{{z:,.0f}} m ({ty})<extra></extra>")
    fig.update_geos(visible=False, projection_type="albers usa", lataxis_range=[24, 50], lonaxis_range=[-125, -66])
    fig.update_layout(height=440, margin=dict(l=0, r=0, t=30, b=0),
                      title=f"Investment by US state (US$ million, USD records): {first}",
                      updatemenus=[{"buttons": [{"label": f"amount type: {ty}", "method": "update",
                                                 "args": [{"visible": [t == ty for t in types]},
                                                          {"title.text": f"Investment by US state (US$ million, "
                                                                         f"USD records): {ty}"}]} for ty in types],
                                    "active": types.index(first), "x": 0.0, "y": 1.0, "xanchor": "left"}])
    return fig


@router.get("/geo/us-states.geojson", include_in_schema=False)
async def us_states_geojson(actor: Actor = Depends(page_actor)) -> Response:
    """US state boundaries shipped with critmin (us-atlas, ISC; US Census Bureau geometry) for the maps."""
    from critmin.registry.plots import GEO_DIR

    return FileResponse(GEO_DIR / "us_states_10m.geojson", media_type="application/geo+json",
                        headers={"Cache-Control": "private, max-age=86400"})


@router.get("/projects")
async def projects_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The project pipeline: a map, a timeline (one bar per project, filterable), the table; investments: a
    US-state map and the table."""
    q = _q(request, "chain", "country", "status")
    reg = await run_in_threadpool(registry_for, request, actor)
    w = _world(request)
    args = (w, q["chain"] or None, q["country"] or None, q["status"] or None, reg)
    df = await run_in_threadpool(tables.projects, *args)
    bars = await run_in_threadpool(tables.projects_timeline, *args)
    mapdata = await run_in_threadpool(tables.projects_map, *args)
    inv = await run_in_threadpool(tables.investments, w, reg)
    by_state = await run_in_threadpool(tables.investments_by_state, w, reg)
    counts = mapdata[mapdata["layer"] == "country"]
    points = mapdata[mapdata["layer"] == "project"]
    pmap = world_map(list(counts["country"]), [int(v) for v in counts["projects"]], "Projects by country and location",
                     "projects", points)
    cols = [c for c in ("id", "name", "country", "chain", "stage", "material", "capacity_tpy", "status",
                        "announced_year", "start_year", "owners") if c in df.columns]
    return render(request, "projects.html", actor, q=q, table=table_ctx(df[cols]),
                  fig=figure_json(timeline_chart(bars)), map=figure_json(pmap), timeline_rows=len(bars),
                  download=_dl("projects", q),
                  dl_map=_dl("projects-map", q)["csv"], dl_timeline=_dl("projects-timeline", q)["csv"],
                  investments=table_ctx(inv.drop(columns=["source"], errors="ignore")),
                  invest_map=figure_json(investment_map(by_state)),
                  dl_invest=_dl("investments", {}), dl_invest_map=_dl("investments-by-state", {})["csv"],
                  from_store=reg is not None)


@router.get("/catalogue")
async def catalogue_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """Every table of the World with rows, sources, licences and checksums; the sources."""
    w = _world(request)
    return render(request, "catalogue.html", actor, table=table_ctx(tables.catalogue(w)),
                  sources=table_ctx(tables.sources(w)), checksum=w.checksum,
                  download=_dl("catalogue", {}), dl_sources=_dl("sources", {}))


@router.get("/tables/{name}.{fmt}")
async def table_download(name: str, fmt: str, request: Request, actor: Actor = Depends(page_actor)) -> Response:
    """A page table as CSV or Excel (with a ``sources`` sheet in Excel)."""
    if fmt not in ("csv", "xlsx"):
        raise InputError("format", fmt, "use csv or xlsx")
    w = _world(request)
    if name in tables.RUN_TABLES:
        return await run_in_threadpool(_run_chart_data, request, actor, name, fmt)
    reg = await run_in_threadpool(registry_for, request, actor) if name in tables.REGISTRY_TABLES else None
    df = await run_in_threadpool(tables.table, w, name, dict(request.query_params), reg)
    if fmt == "csv":
        return Response(tables.to_csv(df), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    sheets = {name: df} if name == "sources" else {name: df, "sources": tables.sources(w)}
    data = await run_in_threadpool(tables.to_xlsx, sheets)
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


@router.get("/search")
async def search_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """Search what the actor may see (:func:`critmin.store.search.search`); a blank query shows the form."""
    from critmin.store.search import search

    raw = request.query_params.get("q", "")
    hits = None
    if raw.strip():
        hits = await run_in_threadpool(search, store_of(request), actor, raw, 100, _world(request))
    return render(request, "search.html", actor, search_q=raw.strip(), hits=hits)


def _run_chart_data(request: Request, actor: Actor, name: str, fmt: str) -> Response:
    """Chart data of labelled runs (``fan``: ``?run=ID``; ``compare-chart``: ``?a=ID&b=ID``) read through the
    store (its ``visible_to`` rule: 404 for what the actor may not see; audited as downloads), each CSV row
    carrying the marking (Excel: a ``marking`` sheet first), the marking also in ``X-Critmin-Marking``."""
    import re

    ids = {}
    for p in tables.RUN_TABLES[name]:
        v = request.query_params.get(p, "")
        if not re.fullmatch(r"[0-9a-f]{32}", v):
            raise InputError(p, v[:40], "must be a run id (32 hex digits)")
        ids[p] = v
    store = store_of(request)
    if name == "fan":
        summary, label = store.run_result(actor, ids["run"])
        frames, stem = {"fan": tables.fan_frame(summary)}, f"fan-{ids['run']}"
    else:
        _, label, sa, sb = compare_runs(store, actor, ids["a"], ids["b"])
        frames, stem = {"compare-chart": tables.compare_chart_frame(sa, sb)}, f"compare-chart-{ids['a'][:8]}-" \
            f"{ids['b'][:8]}"
    return labelled_download(frames, name, label, fmt, stem)


# ---------------------------------------------------------------------- scenarios and runs
@router.get("/scenarios")
async def scenarios_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The library, the launch form and the runs the actor may see (with a compare form)."""
    lib = await run_in_threadpool(tables.scenarios, _world(request))
    runs = await run_in_threadpool(store_of(request).list_runs, actor)
    return render(request, "scenarios.html", actor, library=table_ctx(lib), names=list(lib["name"]), runs=runs,
                  done=[r for r in runs if r["status"] == "done"], download=_dl("scenarios", {}), error=None)


@router.post("/scenarios/launch")
async def launch(request: Request, scenario: Form64, runs: Form64 = "200", seed: Form64 = "0",
                 horizon: Form64 = "", rel_jpn: Form64 = "", rel_usa: Form64 = "", public: Form64 = "",
                 csrf_token: Form64 = "", actor: Actor = Depends(page_actor)) -> Response:
    """Launch a run from the form; then its page."""
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "csrf_token: missing or wrong")

    def num(field: str, raw: str) -> int | None:
        if raw.strip() == "" and field == "horizon":
            return None
        try:
            return int(raw)
        except ValueError:
            raise InputError(field, raw, "must be a whole number") from None

    rel = [actor.nationality] + [n for n, v in (("USA", rel_usa), ("JPN", rel_jpn)) if v and n != actor.nationality]
    label = {"originator": actor.nationality, "rel_to": rel, "public": bool(public)}
    rid = await run_in_threadpool(store_of(request).create_run, actor, scenario, num("runs", runs),
                                  num("seed", seed), num("horizon", horizon), label)
    return RedirectResponse(f"/runs/{rid}", status_code=303)


def fan_figure(summary: dict[str, Any], title: str) -> go.Figure:
    """Total shortfall per month: P5–P95 band, median and mean."""
    f = summary.get("fan") or {}
    m = f.get("month", [])
    fig = go.Figure()
    fig.add_scatter(x=m, y=f.get("p95", []), line={"width": 0}, name="P95", showlegend=False)
    fig.add_scatter(x=m, y=f.get("p5", []), fill="tonexty", line={"width": 0}, name="P5–P95",
                    fillcolor="rgba(214,39,40,0.2)")
    fig.add_scatter(x=m, y=f.get("p50", []), name="median", line={"color": palette.CHINA_COLOR})
    fig.add_scatter(x=m, y=f.get("mean", []), name="mean", line={"dash": "dot", "color": "#444"})
    fig.update_layout(height=340, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30), title=title,
                      xaxis={"title": "month"}, yaxis={"title": f.get("units", "t per month")})
    return fig


@router.get("/runs/{run_id}")
async def run_page(run_id: str, request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """A run: label marking, live progress (SSE), then the fan chart and tables; downloads; release."""
    r = await run_in_threadpool(store_of(request).get_run, actor, run_id)
    ctx: dict[str, Any] = {"run": r, "marking": r["label"]["marking"]}
    if r["summary"]:
        fr = run_frames(r["summary"])
        ctx.update(fig=figure_json(fan_figure(r["summary"], f"{r['scenario']}: total shortfall per month")),
                   shortfall=table_ctx(fr["shortfall"], 50), price=table_ctx(fr["price"]))
    ctx["can_release"] = actor.has("releaser") and actor.nationality == r["label"]["originator"]
    return render(request, "run.html", actor, **ctx)


@router.get("/compare")
async def compare_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """Two runs side by side: fan charts and the shortfall difference; the derived label's marking."""
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not a or not b:
        raise InputError("a" if not a else "b", "", "choose two runs to compare")
    df, label, sa, sb = await run_in_threadpool(compare_runs, store_of(request), actor, a, b)
    fig = go.Figure()
    for name, s, color in (("A", sa, "#1f77b4"), ("B", sb, palette.CHINA_COLOR)):
        f = s.get("fan") or {}
        fig.add_scatter(x=f.get("month", []), y=f.get("p50", []), name=f"{name} median ({s.get('scenario')})",
                        line={"color": color})
        fig.add_scatter(x=f.get("month", []), y=f.get("p95", []), name=f"{name} P95",
                        line={"color": color, "dash": "dot"})
    fig.update_layout(height=340, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                      title="Total shortfall per month", xaxis={"title": "month"}, yaxis={"title": "t per month"})
    return render(request, "compare.html", actor, a=a, b=b, sa=sa, sb=sb, marking=label.marking,
                  table=table_ctx(df, 100), fig=figure_json(fig),
                  download={f: f"/api/compare/download?a={a}&b={b}&format={f}" for f in ("csv", "xlsx")})


# ---------------------------------------------------------------------- briefings
def _briefing_params(request: Request) -> tuple[list[str], int | None]:
    q = _q(request, "importer", "year")
    year = tables._year(q["year"] or None)
    return tables.importers_of(q["importer"] or None), year


def _pdf(document: str, marking: str, key: tuple) -> Response:
    from critmin.web import briefing

    if not briefing.chromium_available():
        raise HTTPException(503, "pdf: Chromium (/usr/bin/chromium) is not installed on the server")
    data = tables.cached(("pdf", *key, marking), lambda: briefing.html_to_pdf(document, marking))
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="critmin-briefing.pdf"', "X-Critmin-Marking": marking})


@router.get("/briefing")
async def briefing_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The briefing on the World alone (public data: marked PUBLIC) for importers or blocs."""
    from critmin.web.briefing import briefing_html

    imps, year = _briefing_params(request)
    doc = await run_in_threadpool(briefing_html, _world(request), "PUBLIC", imps, year)
    return HTMLResponse(doc)


@router.get("/briefing.pdf")
async def briefing_pdf(request: Request, actor: Actor = Depends(page_actor)) -> Response:
    """The World briefing as PDF (Chromium print), PUBLIC on every page."""
    from critmin.web.briefing import briefing_html

    imps, year = _briefing_params(request)
    doc = await run_in_threadpool(briefing_html, _world(request), "PUBLIC", imps, year)
    return await run_in_threadpool(_pdf, doc, "PUBLIC", ("world", tuple(imps), year))


async def _run_briefing(request: Request, actor: Actor, run_id: str) -> tuple[str, str]:
    from critmin.web.briefing import briefing_html

    summary, label = await run_in_threadpool(store_of(request).run_result, actor, run_id, "run.briefing")
    imps, year = _briefing_params(request)
    doc = await run_in_threadpool(briefing_html, _world(request), label.marking, imps, year, {"summary": summary})
    return doc, label.marking


@router.get("/runs/{run_id}/briefing")
async def run_briefing(run_id: str, request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """A briefing with a done run's results, marked with the run's label on every page."""
    doc, _ = await _run_briefing(request, actor, run_id)
    return HTMLResponse(doc)


@router.get("/runs/{run_id}/briefing.pdf")
async def run_briefing_pdf(run_id: str, request: Request, actor: Actor = Depends(page_actor)) -> Response:
    """The run's briefing as PDF, the run's marking in every page's header and footer."""
    doc, marking = await _run_briefing(request, actor, run_id)
    imps, year = _briefing_params(request)
    return await run_in_threadpool(_pdf, doc, marking, ("run", run_id, tuple(imps), year))


def as_json(obj: Any) -> str:
    """JSON for a template."""
    return json.dumps(obj)
