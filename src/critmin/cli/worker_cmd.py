"""``critmin worker``: claim queued runs from the store and run them (several may run against PostgreSQL)."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from critmin.cli.common import get_world, say
from critmin.cli.users_cmd import DbOpt, open_store


def worker(
    db: DbOpt = None,
    lease: Annotated[float, typer.Option("--lease", help="Seconds a claimed job stays ours without a "
                                                         "heartbeat; a dead worker's job is re-queued after it.")] = 30,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between looks at an empty queue.")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Run the queued jobs, then stop.")] = False,
) -> None:
    """Run queued jobs until interrupted (SIGINT/SIGTERM finish the current job's heartbeat and stop)."""
    from critmin.store.worker import Worker

    if lease <= 0 or poll <= 0:
        from critmin.errors import InputError

        raise InputError("--lease" if lease <= 0 else "--poll", str(lease if lease <= 0 else poll), "must be > 0")
    store = open_store(db)
    w = Worker(store, world=get_world(), lease=lease, poll=poll)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    say(f"worker {w.name} on {store.engine.url.render_as_string(hide_password=True)}")
    if once:
        n = 0
        while w.run_once():
            n += 1
    else:
        n = w.serve(stop)
    say(f"worker {w.name}: {n} job(s) run")
