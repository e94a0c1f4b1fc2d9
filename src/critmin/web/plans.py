"""Plans in the web app: stockpile plans and project portfolios as stored, labelled jobs.

``api_router`` (``/api/plans...``, JSON, in the OpenAPI document) and ``page_router`` (``/plans...``, Jinja2
pages and briefings). A plan is a run row of kind ``stockpile`` or ``portfolio``; every read goes through the
store's plan methods (``Store.get_plan`` ...), so the :func:`critmin.store.visible_to` rule makes what the caller
may not see a 404, and a simulation run's id is no plan (404 here, as a plan's id is 404 under ``/api/runs``).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any, Literal

import pandas as pd
import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

import critmin
from critmin.errors import InputError
from critmin.store import FINAL, Actor, Label, Store
from critmin.store.plan_params import (
    MAX_BUDGET_USD,
    MAX_BUDGET_USD_M,
    MAX_PORTFOLIO_RUNS,
    MAX_SEED,
    MAX_STOCKPILE_RUNS,
    stockpile_scenarios,
)
from critmin.web.api import (
    ERRORS,
    ID_PATTERN,
    Created,
    ErrorOut,
    Fmt,
    LabelIn,
    LabelOut,
    ReleaseIn,
    ScenarioName,
    labelled_download,
)
from critmin.web.auth import api_actor, csrf_ok, page_actor, store_of

api_router = APIRouter(prefix="/api", tags=["plans"], responses=ERRORS)
page_router = APIRouter(include_in_schema=False)
_ERR = {"model": ErrorOut}
PlanId = Annotated[str, Path(pattern=ID_PATTERN, description="a plan id (32 hex digits)")]
Form256 = Annotated[str, Form(max_length=256)]


def _integral(v: Any) -> Any:
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v


Int = Annotated[int, BeforeValidator(_integral)]
StockpileScenario = Literal[tuple(stockpile_scenarios())]  # type: ignore[valid-type]
#: Holdings the API offers (the two governments', pooled or separate); the Python API takes any ISO3 codes.
Holders = Literal["USA+JPN", "USA,JPN", "USA", "JPN"]


def _requirement_pattern(items: list[str]) -> str:
    """A JSON Schema pattern for ``item[:n],item[:n]...`` with every item one of ``items`` and n from 1 to 99."""
    one = "(" + "|".join(re.escape(i) for i in items) + ")(:[1-9][0-9]?)?"
    return f"^{one}(,{one}){{0,9}}$"


def _chain_items(world: Any) -> tuple[list[str], list[str]]:
    chains = list(world.chains)
    return chains, [f"{c}/{s.id}" for c in chains for s in world.chains[c].stages]


_CHAINS, _STAGES = _chain_items(critmin.load())
#: The tables of a plan (``table=`` of a CSV download); ``chart`` is exactly the data the plan page's chart draws.
PlanTable = Literal["plan", "rules", "pooled_vs_separate", "chosen", "rejected", "frontier", "left_out", "chart"]


class StockpileIn(BaseModel):
    """``POST /api/plans`` for a stockpile plan: a library scenario (of a chain with prices), holders
    (``USA+JPN`` pooled or ``USA,JPN`` separate), simulated runs, seed, budget (US$), CVaR level, label."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["stockpile"]
    scenario: StockpileScenario
    holders: Holders = "USA+JPN"
    runs: Int = Field(200, ge=1, le=MAX_STOCKPILE_RUNS)
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    budget: Annotated[float, Field(ge=0, le=MAX_BUDGET_USD, allow_inf_nan=False)] | None = None
    cvar: Annotated[float, Field(gt=0, lt=1)] | None = None
    label: LabelIn | None = None


class PortfolioIn(BaseModel):
    """``POST /api/plans`` for a project portfolio: budgets (US$ million), objective, requirements
    (``chain[:n],...``, ``chain/stage[:n],...``), online-by year, the scenario valuing its chain, runs, seed."""

    model_config = ConfigDict(extra="forbid", strict=True)
    kind: Literal["portfolio"]
    budget_usa: Annotated[float, Field(ge=0, le=MAX_BUDGET_USD_M, allow_inf_nan=False)]
    budget_jpn: Annotated[float, Field(ge=0, le=MAX_BUDGET_USD_M, allow_inf_nan=False)]
    objective: Literal["capacity", "shortfall"] = "shortfall"
    require_chains: str | None = Field(None, max_length=200, pattern=_requirement_pattern(_CHAINS))
    require_stages: str | None = Field(None, max_length=400, pattern=_requirement_pattern(_STAGES))
    by_year: Int = Field(2030, ge=2000, le=2100)
    scenario: ScenarioName | None = None
    runs: Int = Field(100, ge=1, le=MAX_PORTFOLIO_RUNS)
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    label: LabelIn | None = None


PlanIn = Annotated[StockpileIn | PortfolioIn, Field(discriminator="kind")]


class PlanOut(BaseModel):
    """A plan as the API shows it: parameters as stored (defaults filled in), ``summary`` when done."""

    id: str
    kind: Literal["stockpile", "portfolio"]
    scenario: str | None
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float
    message: str | None
    label: LabelOut
    created: str | None
    started: str | None
    finished: str | None
    params: dict[str, Any]
    summary: dict[str, Any] | None = None


def _store(request: Request) -> Store:
    return store_of(request)


def launch_plan(request: Request, actor: Actor, kind: str, params: dict[str, Any], label: Any) -> str:
    """Queue a plan in the app's store, checked against the app's World."""
    return _store(request).create_plan(actor, kind, params, label, world=request.app.state.world)


@api_router.get("/plans", response_model=list[PlanOut])
async def list_plans(request: Request, actor: Actor = Depends(api_actor)) -> list[dict[str, Any]]:
    """The plans the caller may see, newest first (no summaries)."""
    return await run_in_threadpool(_store(request).list_plans, actor)


@api_router.post("/plans", status_code=202, response_model=Created,
                 responses={403: {"description": "role or label", "model": ErrorOut}})
async def create_plan(body: PlanIn, request: Request, actor: Actor = Depends(api_actor)) -> Created:
    """Queue a stockpile plan or a project portfolio (analysts and up; the label's originator must be the
    caller's nationality). A portfolio on the store's registry gets the intersection of its records' labels."""
    params = body.model_dump(exclude={"kind", "label"}, exclude_none=True)
    label = body.label.model_dump() if body.label else None
    pid = await run_in_threadpool(launch_plan, request, actor, body.kind, params, label)
    return Created(id=pid)


@api_router.get("/plans/{plan_id}", response_model=PlanOut, responses={404: _ERR})
async def get_plan(plan_id: PlanId, request: Request, actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Status, progress (0-1), message, label and, when done, the summary."""
    return await run_in_threadpool(_store(request).get_plan, actor, plan_id)


@api_router.post("/plans/{plan_id}/cancel", response_model=PlanOut, responses={404: _ERR, 409: _ERR})
async def cancel_plan(plan_id: PlanId, request: Request, actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Cancel a queued or running plan."""
    return await run_in_threadpool(_store(request).cancel_plan, actor, plan_id)


@api_router.post("/plans/{plan_id}/release", response_model=PlanOut, responses={403: _ERR, 404: _ERR})
async def release_plan(plan_id: PlanId, body: ReleaseIn, request: Request,
                       actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Widen the plan's label (a releaser of the originator's nationality only)."""
    return await run_in_threadpool(_store(request).release_plan, actor, plan_id, list(body.rel_to), body.public)


def plan_frames(summary: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """A plan summary's tables, the main one first: stockpile → plan, rules, pooled_vs_separate, chart;
    portfolio → chosen, rejected, frontier, left_out, chart. ``chart`` holds exactly what the page's chart draws
    (stockpile: stock_t by holder × material; portfolio: the efficient frontier's budget and value)."""
    if summary.get("kind") == "portfolio":
        front = pd.DataFrame(summary.get("frontier") or [],
                             columns=["budget_multiple", "budget_usa_usd_m", "budget_jpn_usd_m", "budget_total_usd_m",
                                      "value", "projects"])
        chart = front[["budget_total_usd_m", "value", "projects"]].copy()
        chart["unit"] = summary.get("unit")
        return {"chosen": pd.DataFrame(summary.get("chosen") or []),
                "rejected": pd.DataFrame(summary.get("rejected") or []), "frontier": front,
                "left_out": pd.DataFrame(summary.get("left_out") or [], columns=["project", "reason"]),
                "chart": chart}
    plan = pd.DataFrame(summary.get("plan") or [], columns=None)
    chart = plan[["holder", "material", "stock_t"]].copy() if len(plan) else pd.DataFrame(
        columns=["holder", "material", "stock_t"])
    return {"plan": plan, "rules": pd.DataFrame(summary.get("rules") or []),
            "pooled_vs_separate": pd.DataFrame(summary.get("pooled_vs_separate") or []), "chart": chart}


def plan_download(summary: dict[str, Any], label: Label, fmt: str, table: str | None, plan_id: str) -> Response:
    """CSV of one table (default the main one) with a ``marking`` column, or Excel of every table."""
    frames = plan_frames(summary)
    main = table or next(iter(frames))
    if main not in frames:
        raise InputError("table", main, f"this {summary.get('kind')} plan has tables {', '.join(frames)}")
    stem = f"plan-{plan_id}" + (f"-{main}" if table else "")
    if fmt == "xlsx":
        frames = {k: v for k, v in frames.items() if k != "chart"}
    return labelled_download(frames, main, label, fmt, stem)


@api_router.get("/plans/{plan_id}/download", responses={200: {"content": {"text/csv": {}}}, 404: _ERR, 409: _ERR})
async def download_plan(plan_id: PlanId, request: Request, format: Fmt = "csv", table: PlanTable | None = None,
                        actor: Actor = Depends(api_actor)) -> Response:
    """The plan's tables as CSV (the plan table or the chosen projects, or ``table``) or Excel (a ``marking``
    sheet, then every table); 409 while not done."""
    summary, label = await run_in_threadpool(_store(request).plan_result, actor, plan_id)
    return plan_download(summary, label, format, table, plan_id)


@api_router.get("/plans/{plan_id}/events", responses={200: {"content": {"text/event-stream": {}}}, 404: _ERR})
async def plan_events(plan_id: PlanId, request: Request, actor: Actor = Depends(api_actor)) -> StreamingResponse:
    """Server-sent events: ``progress`` events ``{id, status, progress, message, marking}`` until final."""
    store = _store(request)
    first = await run_in_threadpool(store.get_plan, actor, plan_id, False)  # 404 before the stream opens
    poll = request.app.state.event_poll

    async def stream():  # noqa: ANN202 - an async generator of SSE frames
        last, view = None, first
        while True:
            state = (view["status"], round(view["progress"], 4), view["message"], view["label"]["marking"])
            if state != last:
                data = {k: view[k] for k in ("id", "status", "progress", "message")}
                data["marking"] = view["label"]["marking"]
                yield f"event: progress\ndata: {json.dumps(data)}\n\n"
                last = state
            if view["status"] in FINAL or await request.is_disconnected():
                return
            await asyncio.sleep(poll)
            try:  # the same visibility rule at every step
                view = await run_in_threadpool(store.get_plan, actor, plan_id, False)
            except Exception:  # noqa: BLE001 - the plan vanished from the caller's view: end the stream
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# ---------------------------------------------------------------------------------------------- pages
def _render(request: Request, name: str, actor: Actor, status: int = 200, **ctx: Any) -> HTMLResponse:
    from critmin.web.pages import render

    return render(request, name, actor, status, **ctx)


@page_router.get("/plans")
async def plans_page(request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """The plans the actor may see and (analysts and up) the launch forms."""
    plans = await run_in_threadpool(_store(request).list_plans, actor)
    return _render(request, "plans.html", actor, plans=plans, scenarios=stockpile_scenarios(),
                   all_scenarios=list(ScenarioName.__args__), chains=list(request.app.state.world.chains))


def _form_number(field: str, raw: str, integer: bool = False) -> float | int | None:
    raw = raw.strip()
    if raw == "":
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        raise InputError(field, raw[:40], "must be a whole number" if integer else "must be a number") from None


@page_router.post("/plans/launch")
async def launch_page(request: Request, kind: Form256, scenario: Form256 = "", holders: Form256 = "USA+JPN",
                      runs: Form256 = "", seed: Form256 = "0", budget: Form256 = "", cvar: Form256 = "",
                      budget_usa: Form256 = "", budget_jpn: Form256 = "", objective: Form256 = "capacity",
                      require_chains: Form256 = "", by_year: Form256 = "", rel_jpn: Form256 = "",
                      rel_usa: Form256 = "", public: Form256 = "", csrf_token: Form256 = "",
                      actor: Actor = Depends(page_actor)) -> Response:
    """Launch a plan from a form (CSRF-checked); then its page."""
    if not csrf_ok(request, csrf_token):
        raise HTTPException(403, "csrf_token: missing or wrong")
    if kind == "stockpile":
        params: dict[str, Any] = {"scenario": scenario, "holders": holders, "runs": _form_number("runs", runs, True),
                                  "seed": _form_number("seed", seed, True), "budget": _form_number("budget", budget),
                                  "cvar": _form_number("cvar", cvar)}
    else:
        params = {"budget_usa": _form_number("budget_usa", budget_usa),
                  "budget_jpn": _form_number("budget_jpn", budget_jpn), "objective": objective,
                  "require_chains": require_chains.strip() or None, "scenario": scenario or None,
                  "by_year": _form_number("by_year", by_year, True), "runs": _form_number("runs", runs, True),
                  "seed": _form_number("seed", seed, True)}
        for f in ("budget_usa", "budget_jpn"):
            if params[f] is None:
                raise InputError(f, "", "give a budget in US$ million")
    params = {k: v for k, v in params.items() if v is not None}
    rel = [actor.nationality] + [n for n, v in (("USA", rel_usa), ("JPN", rel_jpn)) if v and n != actor.nationality]
    label = {"originator": actor.nationality, "rel_to": rel, "public": bool(public)}
    pid = await run_in_threadpool(launch_plan, request, actor, kind, params, label)
    return RedirectResponse(f"/plans/{pid}", status_code=303)


def stock_figure(chart: pd.DataFrame, title: str) -> go.Figure:
    """Bars of the optimal stock (t) by material, one bar group per holder."""
    fig = go.Figure()
    for holder, g in chart.groupby("holder", sort=False):
        fig.add_bar(x=g["material"], y=g["stock_t"], name=str(holder))
    fig.update_layout(height=340, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30), title=title,
                      barmode="group", xaxis={"title": "material (chain stage)"}, yaxis={"title": "stock (t)"})
    return fig


def frontier_figure(chart: pd.DataFrame, unit: str) -> go.Figure:
    """The efficient frontier: best value at each total budget (US$ million)."""
    fig = go.Figure()
    fig.add_scatter(x=chart["budget_total_usd_m"], y=chart["value"], mode="lines+markers", text=chart["projects"],
                    name="best portfolio")
    fig.update_layout(height=340, plot_bgcolor="white", margin=dict(l=10, r=10, t=30, b=30),
                      title="Efficient frontier", xaxis={"title": "total budget (US$ million)"},
                      yaxis={"title": unit or "value"})
    return fig


@page_router.get("/plans/{plan_id}")
async def plan_page(plan_id: str, request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """A plan: marking, live progress (SSE), then its chart and tables; downloads; cancel; release."""
    from critmin.web.pages import figure_json, table_ctx

    p = await run_in_threadpool(_store(request).get_plan, actor, plan_id)
    ctx: dict[str, Any] = {"plan": p, "marking": p["label"]["marking"], "tables": {}}
    s = p.get("summary")
    if s:
        fr = plan_frames(s)
        if p["kind"] == "stockpile":
            ctx["fig"] = figure_json(stock_figure(fr["chart"], f"{s.get('scenario')}: optimal stock by holder"))
            names = [("plan", "Plan (holder × material: stock t, cost US$, unmet t with and without)"),
                     ("rules", "Day rules (60 and 100 days of use) against the optimum"),
                     ("pooled_vs_separate", "Pooled vs separate holding")]
        else:
            ctx["fig"] = figure_json(frontier_figure(fr["chart"], s.get("unit", "")))
            names = [("chosen", "Chosen projects"), ("rejected", "Rejected projects (and what they would need)"),
                     ("frontier", "Efficient frontier"), ("left_out", "Registry projects left out")]
        ctx["tables"] = {k: (title, table_ctx(fr[k], 100)) for k, title in names}
    ctx["can_release"] = actor.has("releaser") and actor.nationality == p["label"]["originator"]
    return _render(request, "plan.html", actor, **ctx)


async def _plan_briefing(request: Request, actor: Actor, plan_id: str) -> tuple[str, str]:
    """The plan's briefing (with ``?run=ID``, a done run's scenario section too: the intersection of both labels)."""
    from critmin.web.briefing import briefing_html, briefing_label
    from critmin.web.pages import _briefing_params

    store = _store(request)
    summary, label = await run_in_threadpool(store.plan_result, actor, plan_id, "plan.briefing")
    labels, run = [label], None
    run_id = request.query_params.get("run")
    if run_id:
        run_summary, run_lb = await run_in_threadpool(store.run_result, actor, run_id, "run.briefing")
        labels.append(run_lb)
        run = {"summary": run_summary}
    marking = briefing_label(labels, actor.nationality).marking
    imps, year = _briefing_params(request)
    doc = await run_in_threadpool(briefing_html, request.app.state.world, marking, imps, year, run, summary)
    return doc, marking


@page_router.get("/plans/{plan_id}/briefing")
async def plan_briefing(plan_id: str, request: Request, actor: Actor = Depends(page_actor)) -> HTMLResponse:
    """A briefing with a done plan's stockpile section, marked with the plan's label on every page."""
    doc, _ = await _plan_briefing(request, actor, plan_id)
    return HTMLResponse(doc)


@page_router.get("/plans/{plan_id}/briefing.pdf")
async def plan_briefing_pdf(plan_id: str, request: Request, actor: Actor = Depends(page_actor)) -> Response:
    """The plan's briefing as PDF, the plan's marking in every page's header and footer."""
    from critmin.web.pages import _briefing_params, _pdf

    doc, marking = await _plan_briefing(request, actor, plan_id)
    imps, year = _briefing_params(request)
    key = ("plan", plan_id, request.query_params.get("run", ""), tuple(imps), year)
    return await run_in_threadpool(_pdf, doc, marking, key)

