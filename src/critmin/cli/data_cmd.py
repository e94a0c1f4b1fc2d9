"""``critmin data``: build, describe, query and import the World."""

from __future__ import annotations

from pathlib import Path

import typer

from critmin.cli.common import (
    CsvFlag,
    JsonFlag,
    XlsxOpt,
    busy,
    console,
    err_console,
    get_world,
    one_format,
    print_csv,
    print_json,
    say,
    set_world_path,
    show_table,
    show_text,
    sources_frame,
    write_xlsx,
)
from critmin.errors import InputError

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
    with busy(f"building World from {raw_dir}"):
        dp = build_world(raw_dir, out)
    say(f"wrote {out}  checksum {dp['checksum']}  ({len(dp['resources'])} tables)")


@app.command("info")
def info(as_json: JsonFlag = False, xlsx: XlsxOpt = None) -> None:
    """List the World's tables, row counts, sources and licences, and its checksum (table files checked)."""
    if as_json and xlsx is not None:
        raise InputError("--xlsx", None, "cannot be combined with --json")
    world = get_world()
    world.verify()  # a truncated, edited or swapped table file is named here
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
    ids = pd.DataFrame(payload["source_ids"])
    if xlsx is not None:
        write_xlsx(xlsx, {"tables": rows, "source_ids": ids},
                   sources_frame(world, [s.get("name") for s in payload["sources"]]))
        say(f"wrote {xlsx}")
        return
    show_table(rows, title=f"World {world.path}  checksum {dp.get('checksum')}", max_rows=None)
    if payload["source_ids"]:
        show_table(ids, title="Source ids used in the 'source' columns", max_rows=None)


@app.command("query")
def query(
    sql: str = typer.Argument(..., help="Read-only DuckDB SQL over the World's tables."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON records."),
    as_csv: CsvFlag = False,
    limit: int = typer.Option(0, "--limit", help="Show at most this many rows in the table view (0 = 60)."),
    xlsx: XlsxOpt = None,
    timeout: float = typer.Option(None, "--timeout", min=0.001, help="Time limit in seconds (default 30)."),
    memory_limit: str = typer.Option(None, "--memory-limit", help="Memory limit, e.g. 2GB (default 1GB)."),
    max_rows: int = typer.Option(None, "--max-rows", min=1, help="Row limit (default 1,000,000)."),
) -> None:
    """Run one read-only query (DuckDB SQL) over the World's tables; anything else is refused."""
    import re

    from critmin.query import DEFAULT_MAX_ROWS, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S, csv_ready, run_query

    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    world = get_world()
    df = run_query(world, sql, timeout_s=DEFAULT_TIMEOUT_S if timeout is None else timeout,
                   memory_limit=memory_limit or DEFAULT_MEMORY_LIMIT,
                   max_rows=DEFAULT_MAX_ROWS if max_rows is None else max_rows)
    if as_json:
        print_json(df)
    elif as_csv:
        print_csv(csv_ready(df))
    elif xlsx is not None:
        words = set(re.findall(r"[A-Za-z_]+", sql.lower()))
        used = [t for t in world.table_names if t.lower() in words]
        ids = df["source"].dropna().astype(str).unique().tolist() if "source" in df.columns else []
        write_xlsx(xlsx, {"query": csv_ready(df), "sql": _sql_frame(sql)}, sources_frame(world, ids, used))
        say(f"wrote {xlsx}")
    else:
        show_table(df, max_rows=limit or 60, more="--limit N, --json, --csv or --xlsx F")


def _sql_frame(sql: str):  # noqa: ANN202 - a DataFrame
    """The query text as a one-cell sheet (what the workbook's numbers answer)."""
    import pandas as pd

    return pd.DataFrame({"sql": [sql]})


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
    xlsx: XlsxOpt = None,
) -> None:
    """Compare critmin's values with published figures; exit 1 if any fails (or is missing) without a reason."""
    from rich.table import Table

    from critmin.checks import check_figures, summary

    if world_path:
        set_world_path(world_path)
    with busy("checking published figures"):
        results = check_figures(get_world(), figures, topic=topic)
    counts = summary(results)
    line = (f"{counts['figures']} figures: {counts['passed']} passed, {counts['explained']} explained, "
            f"{counts['failed']} failed ({counts['missing']} missing)")
    if as_json:
        from critmin.cli.common import frame_records

        print_json({"summary": counts, "figures": frame_records(results)})
    elif as_csv:
        print_csv(results)
    elif xlsx is not None:
        cited = results[["source", "url_or_doi", "year"]].drop_duplicates("source")
        extra = [{"source": r.source, "title": r.url_or_doi, "year": r.year} for r in cited.itertuples(index=False)]
        write_xlsx(xlsx, {"figures": results},
                   sources_frame(get_world(), tables=("production", "trade"), extra=extra))
        say(f"wrote {xlsx}")
        say(line)
    else:
        from critmin.cli.format import fmt_num

        def num(v: float) -> str:
            return fmt_num(v)

        t = Table(header_style="bold", title="critmin against published figures", title_justify="left")
        for col in ("id", "topic", "what", "published", "critmin", "diff", "tolerance", "status"):
            t.add_column(col, justify="right" if col in ("published", "critmin", "diff") else "left", overflow="fold")
        style = {"pass": "green", "fail": "red", "missing": "red", "explained": "yellow"}
        for r in results.itertuples(index=False):
            unit = "%" if r.unit == "%" else f" {r.unit}"
            t.add_row(r.id, r.topic, r.what, num(r.published) + unit, num(r.critmin), num(r.diff), r.tolerance,
                      f"[{style[r.status]}]{r.status}[/]")
        console.print(t)  # piped or captured: printed at its natural width (nothing wraps or is cut)
        for r in results[results["status"] != "pass"].itertuples(index=False):
            why = f"reason: {r.reason}" if r.status == "explained" else f"critmin: {r.detail}"
            show_text(f"{r.id}: {why}")
        say(line)
    if counts["failed"]:
        raise typer.Exit(1)
