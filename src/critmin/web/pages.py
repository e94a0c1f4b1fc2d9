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
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from critmin import palette
from critmin.errors import InputError
from critmin.store import Actor
from critmin.web import tables
from critmin.web.api import compare_runs, run_frames
from critmin.web.auth import csrf_ok, csrf_token, page_actor, store_of

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
Form64 = Annotated[str, Form(max_length=256)]
NAV = [("/", "Overview"), ("/chains", "Chains"), ("/risk", "Risk"), ("/scenarios", "Scenarios"),
       ("/projects", "Projects"), ("/catalogue", "Data")]
SHARE_WORDS = ("share", "China", "from China", "prob_shortfall", "nir")


def fmt(v: Any, column: str = "") -> str:
    """A cell as the CLI prints it: shares as %, thousands separators, '–' for missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
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
        for c in b["chains"]:
            names, china = [], []
            for s in c["stages"]:
                e = next((e for e in s["evidence"] if e.get("china_share") is not None), None)
                if e is not None:
                    names.append(f"{s['name']} ({e['basis']}, {e['year']})")
                    china.append(100 * e["china_share"])
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
    return render(request, "overview.html", actor, q=q, download=_dl("brief", q), **ctx,
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
    fig = go.Figure()
    fig.add_bar(x=summ["stage"], y=100 * summ["china_share"], name="China", marker_color=palette.CHINA_COLOR)
    fig.add_bar(x=summ["stage"], y=100 * (1 - summ["china_share"]), name="rest of world",
                marker_color=palette.OTHER_COLOR)
    fig.update_layout(barmode="stack", height=360, yaxis={"title": "share of world output (%)", "range": [0, 100]},
                      plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                      title=f"{w.chains[cid].title}: China's share at each stage")
    top = countries.dropna(subset=["share"]).head(12)
    fig2 = go.Figure(go.Bar(x=top["country"], y=100 * top["share"],
                            marker_color=[palette.country_color(c) for c in top["country"]]))
    fig2.update_layout(height=300, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                       yaxis={"title": "share (%)"}, title=f"{stage}: producing countries")
    trade = await run_in_threadpool(tables.chain_trade, w, cid, q["year"] or None, stage)
    top = trade.head(25)
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
    shares = countries.dropna(subset=["share"])
    fig3 = world_map(list(shares["country"]), list(100 * shares["share"]), f"{stage}: share of world output by country",
                     "share (%)")
    return render(request, "chain.html", actor, chain=w.chains[cid], cid=cid, q=q, stage=stage, map=figure_json(fig3),
                  sankey=figure_json(fig4) if fig4 is not None else None,
                  dl_trade=_dl("chain-trade", {"chain": cid, "year": q["year"], "stage": stage}),
                  stages=list(summ["stage"]), summary=table_ctx(summ), countries=table_ctx(countries),
                  fig=figure_json(fig), fig2=figure_json(fig2),
                  dl_summary=_dl("chain-stages", {"chain": cid, "year": q["year"]}),
                  dl_countries=_dl("chain-countries", {"chain": cid, "year": q["year"], "stage": stage}))


@router.get("/risk")
async def risk_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """Risk tables (``world.risk.table``) with filters: metric, importer, material, year."""
    q = _q(request, "metric", "importer", "material", "year")
    q["metric"] = q["metric"] or "hhi-production"
    df = await run_in_threadpool(tables.risk, _world(request), q["metric"], q["importer"] or None,
                                 q["material"] or None, q["year"] or None)
    return render(request, "risk.html", actor, q=q, metrics=tables.RISK_METRICS, table=table_ctx(df),
                  download=_dl("risk", q))


@router.get("/projects")
async def projects_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The project pipeline: a timeline of start years by status, and the table."""
    q = _q(request, "chain", "country", "status")
    reg = await run_in_threadpool(registry_for, request, actor)
    df = await run_in_threadpool(tables.projects, _world(request), q["chain"] or None, q["country"] or None,
                                 q["status"] or None, reg)
    fig = go.Figure()
    if len(df):
        g = df.dropna(subset=["start_year"]).groupby(["start_year", "status"]).size().reset_index(name="n")
        for st, part in g.groupby("status"):
            fig.add_bar(x=part["start_year"], y=part["n"], name=str(st),
                        marker_color=palette.STATUS_COLOURS.get(str(st)))
    fig.update_layout(barmode="stack", height=320, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                      title="Projects by start year and status", yaxis={"title": "projects"})
    located = df.dropna(subset=["lat", "lon"]) if {"lat", "lon"} <= set(df.columns) else df.iloc[:0]
    counts = df["country"].value_counts() if len(df) else pd.Series(dtype=int)
    pmap = world_map(list(counts.index), [int(v) for v in counts.values], "Projects by country and location",
                     "projects", located)
    cols = [c for c in ("id", "name", "country", "chain", "stage", "material", "capacity_tpy", "status",
                        "start_year", "owners") if c in df.columns]
    return render(request, "projects.html", actor, q=q, table=table_ctx(df[cols]), fig=figure_json(fig),
                  map=figure_json(pmap),
                  download=_dl("projects", q))


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
    reg = await run_in_threadpool(registry_for, request, actor) if name == "projects" else None
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
