"""The JSON REST API (``/api/...``): runs (launch, list, read, cancel, release, download, events), compare.

Every route depends on :func:`critmin.web.auth.api_actor` (401 without credentials) and reaches labelled
objects only through the store, whose :func:`critmin.store.visible_to` rule makes what the caller may not
see a 404, whatever the verb.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from critmin.simulate import library_names
from critmin.store import FINAL, Actor, Label, Store, derive
from critmin.store.core import MAX_RUNS, MAX_SEED
from critmin.web import tables
from critmin.web.auth import api_actor, store_of


class ErrorOut(BaseModel):
    """Every error: ``detail`` names the field first (``runs: must be ...``); ``field`` is that name."""

    detail: str
    field: str


_ERR = {"model": ErrorOut}
#: Errors any API route may answer (401 without credentials, 404 for what the caller may not see, ...).
ERRORS: dict[int | str, dict[str, Any]] = {400: _ERR, 401: _ERR, 403: _ERR, 404: _ERR, 409: _ERR, 413: _ERR,
                                           422: _ERR}
router = APIRouter(prefix="/api", tags=["api"], responses=ERRORS)


def _integral(v: Any) -> Any:
    """JSON ``5.0`` is an integer in JSON Schema: accept it as 5 (strict mode refuses every other float)."""
    return int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v


Int = Annotated[int, BeforeValidator(_integral)]
Nation = Literal["USA", "JPN"]
ScenarioName = Literal[tuple(library_names())]  # type: ignore[valid-type]
Fmt = Literal["csv", "xlsx"]
#: Run ids are 32 lowercase hex digits.
ID_PATTERN = "^[0-9a-f]{32}$"
RunId = Annotated[str, Path(pattern=ID_PATTERN, description="a run id (32 hex digits)")]
IdQuery = Annotated[str, Query(pattern=ID_PATTERN, description="a run id (32 hex digits)")]


class LabelIn(BaseModel):
    """A releasability label: originator, releasable-to (must include the originator), public."""

    model_config = ConfigDict(extra="forbid", strict=True)
    originator: Nation
    rel_to: list[Nation] = Field(min_length=1, max_length=2)
    public: bool = False


class LabelOut(BaseModel):
    """A label with its marking."""

    originator: str
    rel_to: list[str]
    public: bool
    marking: str


class RunIn(BaseModel):
    """``POST /api/runs``: a library scenario, Monte Carlo runs, seed, optional horizon (months), label."""

    model_config = ConfigDict(extra="forbid", strict=True)
    scenario: ScenarioName
    runs: Int = Field(1000, ge=1, le=MAX_RUNS)
    seed: Int = Field(0, ge=0, le=MAX_SEED)
    horizon: Annotated[int, Field(ge=1, le=600), BeforeValidator(_integral)] | None = None
    label: LabelIn | None = None


class ReleaseIn(BaseModel):
    """``POST /api/runs/{id}/release``: the wider releasable-to set (and optionally public)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    rel_to: list[Nation] = Field(min_length=1, max_length=2)
    public: bool | None = None


class Created(BaseModel):
    """The id of a queued run."""

    id: str


class RunOut(BaseModel):
    """A run as the API shows it."""

    id: str
    kind: str
    scenario: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    progress: float
    message: str | None
    label: LabelOut
    created: str | None
    started: str | None
    finished: str | None
    runs: int
    seed: int
    horizon: int | None
    summary: dict[str, Any] | None = None


class Me(BaseModel):
    """The caller."""

    name: str
    nationality: str
    role: str


def _store(request: Request) -> Store:
    return store_of(request)


@router.get("/me", response_model=Me)
async def me(actor: Actor = Depends(api_actor)) -> Me:
    """Who the credentials stand for."""
    return Me(name=actor.name, nationality=actor.nationality, role=actor.role)


@router.get("/scenarios")
async def scenario_list(request: Request, actor: Actor = Depends(api_actor)) -> list[dict[str, Any]]:
    """The scenario library (public data): name, title, chain, horizon, year."""
    df = await run_in_threadpool(tables.scenarios, request.app.state.world)
    return df.to_dict(orient="records")


@router.get("/runs", response_model=list[RunOut])
async def list_runs(request: Request, actor: Actor = Depends(api_actor)) -> list[dict[str, Any]]:
    """The runs the caller may see, newest first (no summaries)."""
    return await run_in_threadpool(_store(request).list_runs, actor)


@router.post("/runs", status_code=202, response_model=Created,
             responses={403: {"description": "role or label", "model": ErrorOut}})
async def create_run(body: RunIn, request: Request, actor: Actor = Depends(api_actor)) -> Created:
    """Queue a simulation; the label's originator must be the caller's nationality (analysts and up)."""
    label = body.label.model_dump() if body.label else None
    rid = await run_in_threadpool(_store(request).create_run, actor, body.scenario, body.runs, body.seed,
                                  body.horizon, label)
    return Created(id=rid)


@router.get("/runs/{run_id}", response_model=RunOut,
            responses={404: {"description": "no such run visible", "model": ErrorOut}})
async def get_run(run_id: RunId, request: Request, actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Status, progress (0-1), label and, when done, the summary."""
    return await run_in_threadpool(_store(request).get_run, actor, run_id)


@router.post("/runs/{run_id}/cancel", response_model=RunOut, responses={404: _ERR, 409: _ERR})
async def cancel_run(run_id: RunId, request: Request, actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Cancel a queued or running run."""
    return await run_in_threadpool(_store(request).cancel_run, actor, run_id)


@router.post("/runs/{run_id}/release", response_model=RunOut, responses={403: _ERR, 404: _ERR})
async def release_run(run_id: RunId, body: ReleaseIn, request: Request,
                      actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Widen the run's label (a releaser of the originator's nationality only)."""
    return await run_in_threadpool(_store(request).release, actor, run_id, list(body.rel_to), body.public)


def run_frames(summary: dict[str, Any]) -> dict[str, pd.DataFrame]:
    """A run summary's tables: shortfall, price, stockpile, fan."""
    fan = {k: v for k, v in (summary.get("fan") or {}).items() if k != "units"}
    return {"shortfall": pd.DataFrame(summary.get("shortfall") or []),
            "price": pd.DataFrame(summary.get("price") or []),
            "stockpile": pd.DataFrame(summary.get("stockpile") or []),
            "fan": pd.DataFrame(fan)}


def labelled_download(frames: dict[str, pd.DataFrame], main: str, label: Label, fmt: str, stem: str) -> Response:
    """CSV (the main table; a ``marking`` column on every row) or Excel (a ``marking`` sheet first)."""
    headers = {"X-Critmin-Marking": label.marking}
    if fmt == "csv":
        df = frames[main].copy()
        df.insert(0, "marking", label.marking)
        headers["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return Response(tables.to_csv(df), media_type="text/csv; charset=utf-8", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{stem}.xlsx"'
    return Response(tables.to_xlsx(frames, label.marking),
                    media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", headers=headers)


@router.get("/runs/{run_id}/download", responses={200: {"content": {"text/csv": {}}}, 404: _ERR, 409: _ERR})
async def download_run(run_id: RunId, request: Request, format: Fmt = "csv",
                       actor: Actor = Depends(api_actor)) -> Response:
    """The run's tables as CSV (shortfall) or Excel (all tables); 409 while not done."""
    summary, label = await run_in_threadpool(_store(request).run_result, actor, run_id)
    return labelled_download(run_frames(summary), "shortfall", label, format, f"run-{run_id}")


@router.get("/runs/{run_id}/events", responses={200: {"content": {"text/event-stream": {}}}, 404: _ERR})
async def run_events(run_id: RunId, request: Request, actor: Actor = Depends(api_actor)) -> StreamingResponse:
    """Server-sent events: ``progress`` events ``{status, progress, message}`` until the run is final."""
    store = _store(request)
    first = await run_in_threadpool(store.get_run, actor, run_id, False)  # 404 before the stream opens
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
                view = await run_in_threadpool(store.get_run, actor, run_id, False)
            except Exception:  # noqa: BLE001 - the run vanished from the caller's view: end the stream
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def compare_frame(a: dict[str, Any], b: dict[str, Any]) -> pd.DataFrame:
    """Mean cumulative shortfall per country × sector in runs A and B, and B − A."""
    keys = ["country", "sector", "material", "stage"]
    fa = pd.DataFrame(a.get("shortfall") or [], columns=[*keys, "mean_t", "p95_t"])
    fb = pd.DataFrame(b.get("shortfall") or [], columns=[*keys, "mean_t", "p95_t"])
    m = fa[[*keys, "mean_t", "p95_t"]].merge(fb[[*keys, "mean_t", "p95_t"]], on=keys, how="outer",
                                             suffixes=("_a", "_b"))
    m[["mean_t_a", "mean_t_b", "p95_t_a", "p95_t_b"]] = m[["mean_t_a", "mean_t_b", "p95_t_a", "p95_t_b"]].fillna(0.0)
    m["diff_mean_t"] = m["mean_t_b"] - m["mean_t_a"]
    return m.sort_values("diff_mean_t", key=abs, ascending=False).reset_index(drop=True)


def compare_runs(store: Store, actor: Actor, a: str, b: str) -> tuple[pd.DataFrame, Label, dict, dict]:
    """Two done runs the actor may see, compared; the result's label is the intersection of theirs."""
    sa, la = store.run_result(actor, a, "run.compare")
    sb, lb = store.run_result(actor, b, "run.compare")
    return compare_frame(sa, sb), derive([la, lb], actor.nationality), sa, sb


@router.get("/compare", responses={404: _ERR, 409: _ERR})
async def compare(request: Request, a: IdQuery, b: IdQuery, actor: Actor = Depends(api_actor)) -> dict[str, Any]:
    """Compare two done runs: shortfall by country × sector in each and the difference; derived label."""
    df, label, _, _ = await run_in_threadpool(compare_runs, _store(request), actor, a, b)
    return {"a": a, "b": b, "label": label.as_dict(),
            "rows": json.loads(df.head(500).to_json(orient="records"))}


@router.get("/compare/download", responses={200: {"content": {"text/csv": {}}}, 404: _ERR, 409: _ERR})
async def compare_download(request: Request, a: IdQuery, b: IdQuery, format: Fmt = "csv",
                           actor: Actor = Depends(api_actor)) -> Response:
    """The comparison as CSV or Excel, marked with the derived label."""
    df, label, _, _ = await run_in_threadpool(compare_runs, _store(request), actor, a, b)
    return labelled_download({"compare": df}, "compare", label, format, f"compare-{a[:8]}-{b[:8]}")


class SearchHit(BaseModel):
    """One search result: what it is, its id and title, its label (None for public World data) and marking,
    and the page that shows it."""

    kind: str
    id: str
    title: str
    label: LabelOut | None
    marking: str
    url: str


#: A search query: some character other than ASCII blanks (space, tab, CR, LF, VT, FF), no NUL: what the core
#: accepts after stripping those blanks (:data:`critmin.store.search.BLANKS`).
SEARCH_PATTERN = r"^[^\x00]*[^\x00\t\n\x0b\x0c\r ][^\x00]*$"


@router.get("/search", response_model=list[SearchHit])
async def search(request: Request, q: Annotated[str, Query(min_length=1, max_length=200, pattern=SEARCH_PATTERN,
                                                         description="1-200 characters, not blank, no NUL")],
                 limit: Annotated[int, Query(ge=1, le=200, description="1-200 results")] = 50,
                 actor: Actor = Depends(api_actor)) -> list[dict[str, Any]]:
    """Runs (every kind), registry records and the World's catalogue the caller may see that match ``q``."""
    from critmin.store.search import search as run_search

    return await run_in_threadpool(run_search, _store(request), actor, q, limit, request.app.state.world)


def not_final(status: str) -> bool:
    """True while a run may still change."""
    return status not in FINAL


__all__ = ["router", "HTTPException"]
