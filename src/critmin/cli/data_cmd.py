"""``critmin data``: build, describe, query and import the World."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from critmin.cli.common import (
    JsonFlag,
    console,
    err_console,
    get_world,
    print_json,
    rich_table,
    say,
    set_world_path,
)

app = typer.Typer(help="Build, describe and query the World dataset.", no_args_is_help=True)


@app.command("build")
def build(
    out: Path = typer.Option(..., "--out", help="Folder to write the World to (replaced atomically)."),
    raw: Path = typer.Option(None, "--from", help="Folder of raw public files (default: the repo's data/raw)."),
) -> None:
    """Build the World deterministically from the raw public files."""
    from critmin.build import build_world
    from critmin.ingest import default_raw_dir

    raw_dir = raw or default_raw_dir()
    with console.status(f"building World from {raw_dir}"):
        dp = build_world(raw_dir, out)
    say(f"wrote {out}  checksum {dp['checksum']}  ({len(dp['resources'])} tables)")


@app.command("info")
def info(as_json: JsonFlag = False) -> None:
    """List the World's tables, row counts, sources and licences, and its checksum."""
    world = get_world()
    dp = world.datapackage
    tables = []
    for r in dp["resources"]:
        tables.append(
            {
                "name": r["name"],
                "rows": r.get("rows"),
                "path": r["path"],
                "description": r.get("description", ""),
                "sources": r.get("sources", []),
                "licenses": r.get("licenses", []),
                "fields": r.get("schema", {}).get("fields", []),
            }
        )
    payload = {
        "name": dp.get("name"),
        "version": dp.get("version"),
        "checksum": dp.get("checksum"),
        "sources": dp.get("sources", []),
        "source_ids": dp.get("source_ids", []),
        "tables": tables,
    }
    if as_json:
        print_json(payload)
        return
    import pandas as pd

    rows = pd.DataFrame(
        [
            {
                "table": t["name"],
                "rows": t["rows"],
                "sources": "; ".join(s.get("name", s.get("title", "")) for s in t["sources"]),
                "licences": "; ".join(lic.get("name", "") for lic in t["licenses"]),
            }
            for t in tables
        ]
    )
    console.print(rich_table(rows, title=f"World {world.path}  checksum {str(dp.get('checksum'))[:16]}…"))
    if payload["source_ids"]:
        ids = pd.DataFrame(payload["source_ids"])
        console.print(rich_table(ids, title="Source ids used in the 'source' columns"))


@app.command("query")
def query(
    sql: str = typer.Argument(..., help="Read-only DuckDB SQL over the World's tables."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV."),
    limit: int = typer.Option(0, "--limit", help="Show at most this many rows in the table view (0 = 60)."),
) -> None:
    """Run read-only SQL (DuckDB) over the World's tables; anything that writes is refused."""
    from critmin.query import run_query

    df = run_query(get_world(), sql)
    if as_json:
        from critmin.cli.common import frame_records

        print_json(frame_records(df))
    elif as_csv:
        df.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        console.print(rich_table(df, max_rows=limit or 60))


@app.command("import-baci")
def import_baci(
    files: list[Path] = typer.Argument(..., help="BACI release CSV files (columns t,i,j,k,v,q)."),
    out: Path = typer.Option(..., "--out", help="Folder of the new World (replaced atomically)."),
    chains_only: bool = typer.Option(False, "--chains-only", help="Keep only the HS codes the chains name."),
    country_codes: Path = typer.Option(
        None, "--country-codes", help="BACI country_codes CSV (default: the one in the World's raw data)."
    ),
) -> None:
    """Ingest full BACI release CSVs into a new World at OUT (other tables copied from --world)."""
    from rich.progress import Progress

    from critmin.ingest.baci_import import import_baci as do_import

    world = get_world()
    with Progress(console=err_console, transient=True, disable=not err_console.is_terminal) as bar:
        task = bar.add_task("importing BACI", total=len(files))
        summary = do_import(world, files, out, chains_only=chains_only, country_codes=country_codes,
                            progress=lambda done, total: bar.update(task, completed=done, total=total))
    say(
        f"wrote {out}: {summary['rows']:,} trade rows, {summary['products']} products, "
        f"years {summary['years']}  checksum {summary['checksum']}"
    )


@app.command("check")
def check(
    as_json: JsonFlag = False,
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (one row per figure)."),
    topic: str = typer.Option(None, "--topic", help="Only this topic (magnets, batteries, ga-ge, rare-earths, ...)."),
    world_path: str = typer.Option(None, "--world", help="World folder to check (as critmin --world)."),
    figures: Path = typer.Option(None, "--figures", help="Figures CSV (default: the shipped published_figures.csv)."),
) -> None:
    """Compare critmin's values with published figures; exit 1 if any fails (or is missing) without a reason."""
    from rich.table import Table

    from critmin.checks import check_figures, summary

    if world_path:
        set_world_path(world_path)
    results = check_figures(get_world(), figures, topic=topic)
    counts = summary(results)
    line = (f"{counts['figures']} figures: {counts['passed']} passed, {counts['explained']} explained, "
            f"{counts['failed']} failed ({counts['missing']} missing)")
    if as_json:
        from critmin.cli.common import frame_records

        print_json({"summary": counts, "figures": frame_records(results)})
    elif as_csv:
        results.to_csv(sys.stdout, index=False, lineterminator="\n")
    else:
        def num(v: float) -> str:
            if v != v:
                return ""
            return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:,.4g}"

        t = Table(header_style="bold", title="critmin against published figures", title_justify="left")
        for col in ("id", "topic", "what", "published", "critmin", "diff", "tolerance", "status"):
            t.add_column(col, justify="right" if col in ("published", "critmin", "diff") else "left", overflow="fold")
        style = {"pass": "green", "fail": "red", "missing": "red", "explained": "yellow"}
        for r in results.itertuples(index=False):
            unit = "%" if r.unit == "%" else f" {r.unit}"
            t.add_row(r.id, r.topic, r.what, num(r.published) + unit, num(r.critmin), num(r.diff), r.tolerance,
                      f"[{style[r.status]}]{r.status}[/]")
        from rich.console import Console

        # piped or captured: a wide virtual terminal, so that the table folds less (it never truncates)
        out = console if console.is_terminal else Console(width=max(console.width, 200), no_color=True)
        out.print(t)
        for r in results[results["status"] != "pass"].itertuples(index=False):
            why = f"reason: {r.reason}" if r.status == "explained" else f"critmin: {r.detail}"
            console.print(f"{r.id}: {why}", markup=False, highlight=False, soft_wrap=True)
        say(line)
    if counts["failed"]:
        raise typer.Exit(1)
