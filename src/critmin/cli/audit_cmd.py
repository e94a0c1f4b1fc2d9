"""``critmin audit verify|show``: check the audit log's hash chain; show recent records."""

from __future__ import annotations

from typing import Annotated

import typer

from critmin.cli.common import JsonFlag, err_console, print_json, say, show_table
from critmin.cli.users_cmd import DbOpt, open_store

app = typer.Typer(help="The append-only, hash-chained audit log.", no_args_is_help=True)


@app.command("verify")
def verify(db: DbOpt = None) -> None:
    """Recompute the hash chain; exit 1 and name the first bad record if any record was altered or removed."""
    res = open_store(db).verify_audit()
    if res.ok:
        say(f"audit log verified: {res.records} records, chain intact")
        return
    err_console.print(f"error: audit log: {res.problem}", markup=False, soft_wrap=True)
    raise typer.Exit(1)


@app.command("show")
def show(
    db: DbOpt = None,
    last: Annotated[int, typer.Option("--last", help="How many of the newest records.")] = 50,
    json_: JsonFlag = False,
) -> None:
    """The newest records: time, actor, action, object, label, outcome."""
    import pandas as pd

    rows = open_store(db).audit_log(last)
    if json_:
        print_json(rows)
        return
    show_table(pd.DataFrame(rows, columns=["seq", "at", "actor", "action", "object", "label", "outcome", "detail"]),
               title="Audit log")
