"""``critmin serve``: the web app and REST API (uvicorn), with a worker thread for queued runs by default."""

from __future__ import annotations

from typing import Annotated

import typer

from critmin.cli.common import get_world, say
from critmin.cli.users_cmd import DbOpt, open_store


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    db: DbOpt = None,
    worker: Annotated[bool, typer.Option("--worker/--no-worker",
                                         help="Run queued jobs in this process too (default), or leave them "
                                              "to `critmin worker` processes.")] = True,
    lease: Annotated[float, typer.Option("--lease", help="Seconds a job stays claimed without a heartbeat.")] = 30,
) -> None:
    """Serve the pages and the API (OpenAPI at /openapi.json) on HOST:PORT over the store."""
    import uvicorn

    from critmin.store.worker import start_thread
    from critmin.web.app import create_app

    if not 0 < port < 65536:
        from critmin.errors import InputError

        raise InputError("--port", str(port), "must be 1-65535")
    store = open_store(db)
    world = get_world()
    app = create_app(store, world)
    stop = None
    if worker:
        _, stop = start_thread(store, world=world, lease=lease)
    say(f"critmin serving http://{host}:{port}/  store {store.engine.url.render_as_string(hide_password=True)}"
        f"{'  (with a worker)' if worker else ''}")
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if stop is not None:
            stop.set()
