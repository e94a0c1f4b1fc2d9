"""``critmin store import-registry|export-registry``: the registry's projects and investments in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critmin.cli.common import say
from critmin.cli.users_cmd import DbOpt, open_store, store_errors

app = typer.Typer(help="The registry in the store (labelled records), imported from and exported to files.",
                  no_args_is_help=True)
AsOpt = Annotated[str, typer.Option("--as", help="The account acting (its role and nationality apply).")]


@app.command("import-registry")
def import_registry(
    as_: AsOpt,
    path: Annotated[Path | None, typer.Argument(help="Registry folder (default: the embedded registry).")] = None,
    rel_to: Annotated[str | None, typer.Option("--rel-to", help="Releasable to, e.g. USA,JPN (default: "
                                                                 "public).")] = None,
    db: DbOpt = None,
) -> None:
    """Validate a registry folder and store its records under a label (admins; public unless --rel-to)."""
    store = open_store(db)
    actor = store.actor(as_)
    label = None
    if rel_to is not None:
        label = {"originator": actor.nationality, "rel_to": [c.strip().upper() for c in rel_to.split(",") if c.strip()],
                 "public": False}
    with store_errors("--as"):
        n = store.import_registry(actor, str(path) if path else None, label)
    say(f"imported {n['projects']} projects, {n['investments']} investments"
        + (f" ({n['skipped']} stored records you may not see left as they are)" if n["skipped"] else ""))


@app.command("export-registry")
def export_registry(
    dest: Annotated[Path, typer.Argument(help="New or empty folder to write the registry to.")],
    as_: AsOpt,
    db: DbOpt = None,
) -> None:
    """Write the records the account may see as a registry folder (loadable with --registry / CRITMIN_REGISTRY);
    the folder's MARKING.txt holds the intersection of their labels."""
    store = open_store(db)
    with store_errors("--as"):
        label = store.export_registry(store.actor(as_), dest)
    say(f"wrote {dest}  ({label.marking})")
