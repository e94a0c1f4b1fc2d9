"""The critmin web app: ``create_app(store)`` -> a FastAPI app with pages, the REST API and static files.

The app has no start-up work of its own (the store is migrated when :class:`critmin.store.Store` opens
it; ``critmin serve`` starts the in-process worker), so in-process ASGI clients can run it as is.
Errors are JSON ``{"detail": "FIELD: problem", "field": FIELD}`` for the API and a short page for pages;
never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.middleware.sessions import SessionMiddleware

from critmin.errors import InputError
from critmin.store import Conflict, Forbidden, NotFound, Store
from critmin.web import api, pages, plans
from critmin.web.auth import LoginRequired

STATIC = Path(__file__).parent / "static"
#: Country boundaries shipped with critmin (world-atlas, ISC; Natural Earth geometry).
GEO_DIR = Path(__file__).resolve().parent.parent / "data" / "geo"
#: Request bodies larger than this are refused with 413.
MAX_BODY = 1_000_000


def plotly_js_path() -> Path:
    """``plotly.min.js`` of the installed plotly package (served at ``/static/plotly.min.js``)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _json_error(status: int, field: str, detail: str) -> bytes:
    return json.dumps({"detail": detail, "field": field}).encode()


class RequestLimits:
    """ASGI middleware: 400 for a NUL byte in the path or a query parameter, 413 for a body over ``max_body``.

    The body is read (bounded) before the app sees it, so a chunked body without Content-Length is
    bounded too.
    """

    def __init__(self, app: Any, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def _reply(self, send: Any, status: int, field: str, detail: str) -> None:
        body = _json_error(status, field, detail)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope.get("path", ""):
            return await self._reply(send, 400, "path", "path: contains a NUL byte")
        try:
            qs = scope.get("query_string", b"").decode("utf-8")
        except UnicodeDecodeError:
            return await self._reply(send, 400, "query", "query: not UTF-8")
        for k, v in parse_qsl(qs, keep_blank_values=True):
            if "\x00" in k or "\x00" in v:
                name = k.replace("\x00", "") or "query"
                return await self._reply(send, 400, name, f"{name}: contains a NUL byte")
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                return await self._reply(send, 400, "content-length", "content-length: not a number")
            if n > self.max_body:
                return await self._reply(send, 413, "body", f"body: larger than {self.max_body} bytes")
        if scope.get("method") not in ("POST", "PUT", "PATCH", "DELETE"):
            return await self.app(scope, receive, send)
        chunks, size = [], 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            chunks.append(msg.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body:
                return await self._reply(send, 413, "body", f"body: larger than {self.max_body} bytes")
            if not msg.get("more_body"):
                break
        body, sent = b"".join(chunks), False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", "")


def _error(request: Request, status: int, field: str, detail: str, headers: dict | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": detail, "field": field}, status_code=status, headers=headers)
    actor = None
    try:
        from critmin.web.auth import actor_of

        actor = actor_of(request)[0]
    except Exception:  # noqa: BLE001 - the error page must render whatever failed
        actor = None
    return pages.render(request, "error.html", actor, status, status=status, detail=detail)


def _field_of(loc: tuple) -> str:
    parts = [str(x) for x in loc if not isinstance(x, int)]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie") and len(parts) > 1:
        parts = parts[1:]
    if len(parts) > 1 and parts[0] in ("stockpile", "portfolio"):  # the tag of POST /api/plans's union
        parts = parts[1:]
    return ".".join(parts) or "body"


def route_table(app: Any) -> list[tuple[str, str, Any]]:
    """Every (method, path, route) the app answers, routers flattened (the permission matrix test reads it)."""
    out: list[tuple[str, str, Any]] = []

    def walk(routes: list, prefix: str) -> None:
        for r in routes:
            if hasattr(r, "original_router"):  # FastAPI >= 0.16x keeps included routers as one entry
                walk(r.original_router.routes, prefix + (r.include_context.prefix or ""))
            elif hasattr(r, "methods") and r.methods:
                out.extend((m, prefix + r.path, r) for m in sorted(r.methods) if m != "HEAD")
            elif hasattr(r, "routes") and getattr(r, "path", None) is not None and not isinstance(r.app, StaticFiles):
                walk(r.routes, prefix + r.path)

    walk(list(app.routes), "")
    return out


def create_app(store: Store | str | None = None, world: Any = None, event_poll: float = 0.25,
               secret: str | None = None) -> FastAPI:
    """The web app over ``store`` (a Store, a URL/path, or None for the default store) and ``world``
    (default: ``critmin.load()``). ``event_poll``: seconds between progress checks of an event stream."""
    import critmin

    st = store if isinstance(store, Store) else Store(store)
    app = FastAPI(title="critmin", version=critmin.__version__, docs_url=None, redoc_url=None,
                  description="Critical-mineral supply chains: labelled scenario runs, jobs and pages. "
                              "Authenticate with `Authorization: Bearer TOKEN` (`critmin users token NAME`).")
    app.state.store = st
    app.state.world = world if world is not None else critmin.load()
    app.state.event_poll = event_poll
    app.add_middleware(SessionMiddleware, secret_key=secret or st.secret(), session_cookie="critmin_session",
                       same_site="lax", https_only=False, max_age=12 * 3600)
    app.add_middleware(RequestLimits)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errs = exc.errors()
        first = errs[0] if errs else {"loc": ("body",), "msg": "invalid request"}
        field = _field_of(tuple(first.get("loc", ())))
        if first.get("type") == "json_invalid":
            field = "body"
        if first.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            tag = str((first.get("ctx") or {}).get("discriminator", "kind")).strip("'")
            field = tag if field == "body" else f"{field}.{tag}"
        msg = str(first.get("msg", "invalid")).replace("\x00", "\\0")
        return _error(request, 422, field, f"{field}: {msg}")

    @app.exception_handler(InputError)
    async def _input(request: Request, exc: InputError) -> Response:
        field = exc.field if exc.source in ("body", "label", "inputs") and exc.field else exc.source
        detail = str(exc) if exc.source != "label" else f"label.{exc.field}: {exc.problem}"
        return _error(request, 422, field, detail)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error(request, 404, str(exc).split(":")[0] if ":" in str(exc) else "run_id", str(exc))

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, str(exc).split(":")[0], str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> Response:
        return _error(request, 409, str(exc).split(":")[0], str(exc))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        detail = str(exc.detail)
        field = detail.split(":")[0] if ":" in detail else "request"
        if exc.status_code == 404 and detail == "Not Found":
            field, detail = "path", f"path: no page or API route {request.url.path[:100]}"
        if exc.status_code == 405:
            field, detail = "method", f"method: {request.method} is not allowed here"
        return _error(request, exc.status_code, field, detail, getattr(exc, "headers", None))

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:  # never a traceback to the client
        import logging

        logging.getLogger("critmin.web").exception("unhandled error on %s", request.url.path)
        return _error(request, 500, "server", f"server: internal error ({type(exc).__name__})")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def _plotly() -> FileResponse:
        return FileResponse(plotly_js_path(), media_type="text/javascript",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/geo/world.geojson", include_in_schema=False)
    async def _world_geojson() -> FileResponse:
        return FileResponse(GEO_DIR / "world_countries_110m.geojson", media_type="application/geo+json",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/static/geo-assets.js", include_in_schema=False)
    async def _geo_assets() -> Response:
        from critmin.registry.plots import offline_geo_script

        body = offline_geo_script().removeprefix("<script>").removesuffix("</script>")
        return Response(body, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/healthz", include_in_schema=False)
    async def _health() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)
    app.include_router(plans.api_router)
    app.include_router(plans.page_router)
    return app
