"""``critmin projects`` and ``critmin invest``: the projects and investments registry.

Thin layer over :mod:`critmin.registry`. ``--registry DIR`` (or
``$CRITMIN_REGISTRY``) picks a registry folder; the default is the embedded,
read-only one (``critmin projects init DIR`` copies it to a writable folder).
``--db URL`` (or ``$CRITMIN_DB``) picks a store instead: when it holds registry
records, a command shows the view of the account named by ``--as`` (the rule is
:func:`critmin.store.registry_store.registry_for`, the web's rule too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critmin.cli.common import (
    CsvFlag,
    JsonFlag,
    XlsxOpt,
    console,
    core_flag_errors,
    core_flags,
    frame_records,
    get_world,
    one_format,
    print_csv,
    print_json,
    say,
    show_table,
    sources_frame,
    write_xlsx,
)
from critmin.cli.users_cmd import DbOpt, open_store, store_errors
from critmin.errors import InputError

projects_app = typer.Typer(help="Projects registry: list, show, add, timeline.", no_args_is_help=True)
invest_app = typer.Typer(help="Investments registry: summaries and maps.", no_args_is_help=True)

_state: dict[str, str | None] = {"registry": None}

#: The registry core's errors name parameters (chain, stage, country, status, by, type, amount_type, ...); the
#: commands name flags.
_core_flags = core_flag_errors("chain", "stage", "country", "status", "by", "type", "amount_type", "investor_country",
                               "programme")

_REG_OPT = typer.Option(None, "--registry", envvar="CRITMIN_REGISTRY", help="Registry folder (default: embedded).")


@projects_app.callback()
def _projects(registry: str = _REG_OPT) -> None:
    _state["registry"] = registry


@invest_app.callback()
def _invest(registry: str = _REG_OPT) -> None:
    _state["registry"] = registry


#: ``--as NAME``: the account whose view of the store's registry is shown (needed when the store holds one).
AsOpt = Annotated[str | None, typer.Option("--as", help="Account whose view of the store's registry is shown "
                                                         "(needed with a store that holds registry records).")]


def _reg(db: str | None = None, as_: str | None = None):  # noqa: ANN202 - returns critmin.registry.Registry
    """The registry to read: the store's (``--db``, the view of ``--as``) or the files (``--registry``)."""
    from critmin.store.registry_store import registry_for

    with core_flags("store_url", "actor", "path"):
        return registry_for(db, as_, _state["registry"])


def _out_path(out: Path, suffixes: tuple[str, ...]) -> Path:
    if out.suffix.lower() not in suffixes:
        raise InputError("--out", str(out), f"unsupported file type; use {' or '.join(suffixes)}")
    return out


def _registry_chain(chain: str | None) -> str | None:
    """The registry's name of a chain given by its World id or an alias (``li-ion-batteries`` and
    ``batteries`` → ``batteries``): one chain vocabulary across commands. Registry-only chains pass as given."""
    if chain is None:
        return None
    import pandas as pd

    from critmin.registry import EMBEDDED_REGISTRY

    smap = pd.read_csv(EMBEDDED_REGISTRY / "chain_stage_map.csv", dtype=str, keep_default_na=False)
    to_registry = dict(zip(smap["chain"], smap["registry_chain"], strict=True))
    registry_names = set(smap["registry_chain"])
    try:
        canonical = get_world().chain_id(chain)  # hints when an alias is read
    except InputError:
        return chain  # a registry-only chain (base-metals, scandium, ...): the registry checks it
    if chain in registry_names:
        return chain
    return to_registry.get(canonical, chain)


def _project_sources(df) -> object:  # noqa: ANN001 - DataFrame in, DataFrame out
    """The ``sources`` sheet of a project table: every cited source with the projects citing it."""
    cites: dict[str, list[str]] = {}
    for pid, srcs in zip(df["id"], df["sources"], strict=True):
        for src in srcs or []:
            cites.setdefault(str(src), []).append(str(pid))
    return sources_frame(None, extra=[{"source": k, "title": "cited by " + ", ".join(v)} for k, v in cites.items()])


@projects_app.command("list")
@_core_flags
def list_projects(
    chain: str = typer.Option(None, "--chain", help="Chain id, e.g. rare-earth-magnets, li-ion-batteries."),
    stage: str = typer.Option(None, "--stage", help="Stage, e.g. mining, separation, magnet, cell."),
    country: str = typer.Option(None, "--country", help="ISO3 country, e.g. USA, AUS, JPN."),
    status: str = typer.Option(None, "--status", help="Status, e.g. operating, construction, announced."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    xlsx: XlsxOpt = None,
    db: DbOpt = None,
    as_: AsOpt = None,
) -> None:
    """List projects (capacity_tpy is t/yr of the stated content; capex_musd US$ million)."""
    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    df = _reg(db, as_).filter_projects(chain=_registry_chain(chain), stage=stage, country=country, status=status)
    if as_json:
        print_json(frame_records(df))
    elif as_csv:
        out = df.copy()
        out["sources"] = out["sources"].map(" | ".join)
        print_csv(out)
    elif xlsx is not None:
        write_xlsx(xlsx, {"projects": df}, _project_sources(df))
        say(f"wrote {xlsx}")
    else:
        cols = ["id", "country", "state", "stage", "material", "capacity_tpy", "status", "start_year"]
        show_table(df[cols], title=f"{len(df)} projects", more="--json, --csv or --xlsx F")


@projects_app.command("show")
@_core_flags
def show(project_id: str = typer.Argument(..., metavar="ID"),
         as_json: JsonFlag = False,
         db: DbOpt = None, as_: AsOpt = None) -> None:
    """Show one project: every field with its sources, and where it stands against the framework dates."""
    from critmin.registry import standing

    reg = _reg(db, as_)
    p = reg.project(project_id)
    st = standing(reg)
    row = frame_records(st[st["id"] == p.id])[0]
    data = p.model_dump(exclude_none=True)
    data["standing"] = row
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{p.name}[/bold]  ({p.id})")
    for k, v in data.items():
        if k in ("name", "id", "standing"):
            continue
        if isinstance(v, list) and v and isinstance(v[0], dict):
            console.print(f"[bold]{k}[/bold]:")
            for item in v:
                console.print("  - " + "; ".join(f"{a}={b}" for a, b in item.items()), markup=False)
        elif isinstance(v, dict):
            console.print(f"[bold]{k}[/bold]: " + "; ".join(f"{a}={b}" for a, b in v.items()), highlight=False)
        elif v not in ([], None, ""):
            console.print(f"[bold]{k}[/bold]: {v}", highlight=False)
    console.print(
        f"[bold]standing[/bold]: {row['phase']}; {row['vs_deadline']} the {row['deadline']} deadline; "
        f"financing since the framework: {'yes' if row['financing_since_signature'] else 'no'}",
        highlight=False,
    )


@projects_app.command("add")
def add(
    file: Path = typer.Argument(..., metavar="FILE.yaml"),
    db: DbOpt = None,
    as_: AsOpt = None,
    rel_to: str = typer.Option(None, "--rel-to", help="With --db: releasable to, e.g. USA,JPN (default: the "
                               "account's nationality only)."),
    public: bool = typer.Option(False, "--public", help="With --db: label the projects public."),
) -> None:
    """Validate the projects in FILE and add them to the registry (atomic; nothing written on error).

    With --db (or $CRITMIN_DB) they go into the store under a label originated by the --as account's
    nationality (analysts and stronger roles); otherwise into the --registry folder's files.
    """
    if db is None:
        if rel_to is not None or public or as_ is not None:
            flag = "--rel-to" if rel_to is not None else "--public" if public else "--as"
            raise InputError(flag, None, "labels and accounts apply to the store: give --db URL (or set CRITMIN_DB)")
        reg = _reg()
        with core_flags("path"):
            new = reg.add_projects(file)
    else:
        from critmin.store.registry_store import actor_named, add_projects_file

        if _state["registry"]:
            raise InputError("--registry", _state["registry"], "cannot be combined with --db (the projects go "
                             "into the store)")
        if not as_:
            raise InputError("--as", None, "adding to the store needs --as NAME (the account adding)")
        store = open_store(db)
        with core_flags("actor"):
            actor = actor_named(store, as_)
        label = {"originator": actor.nationality, "public": public,
                 "rel_to": [c.strip().upper() for c in rel_to.split(",") if c.strip()] if rel_to else
                 [actor.nationality]}
        with core_flags("label"), store_errors("--as"):
            new = add_projects_file(store, actor, file, label)
        store.dispose()
    say(f"added {len(new)} project(s): {', '.join(p.id for p in new)}")


@projects_app.command("init")
def init(dest: Path = typer.Argument(..., metavar="DIR")) -> None:
    """Copy the embedded registry into DIR (a writable registry for 'projects add')."""
    from critmin.registry import init_registry

    d = init_registry(dest)
    say(f"registry copied to {d}; use --registry {d} or CRITMIN_REGISTRY={d}")


@projects_app.command("timeline")
@_core_flags
def timeline(
    out: Path = typer.Option(..., "--out", help="Output file: .html (Plotly, offline) or .png."),
    chain: str = typer.Option(None, "--chain"),
    country: str = typer.Option(None, "--country"),
    status: str = typer.Option(None, "--status"),
    db: DbOpt = None,
    as_: AsOpt = None,
) -> None:
    """Gantt of project milestones against the frameworks' dates."""
    from critmin.registry.plots import timeline_figure, timeline_png, write_html

    _out_path(out, (".html", ".png"))
    reg = _reg(db, as_)
    if out.suffix.lower() == ".png":
        timeline_png(reg, out, chain=chain, country=country, status=status)
    else:
        write_html(timeline_figure(reg, chain=chain, country=country, status=status), out)
    say(f"wrote {out}")


@projects_app.command("standing")
@_core_flags
def standing_cmd(
    as_json: JsonFlag = False,
    all_: bool = typer.Option(False, "--all", help="List every project (default: a count per phase and the "
                              "projects with financing since the framework)."),
    xlsx: XlsxOpt = None,
    db: DbOpt = None,
    as_: AsOpt = None,
) -> None:
    """Every project against the US-Japan six-month financing deadline (a summary unless --all)."""
    from critmin.registry import standing

    reg = _reg(db, as_)
    df = standing(reg)
    if as_json:
        print_json(frame_records(df))
        return
    if xlsx is not None:
        write_xlsx(xlsx, {"standing": df}, _project_sources(reg.filter_projects()))
        say(f"wrote {xlsx}")
        return
    if all_:
        show_table(df, title="Projects against the framework dates", max_rows=None)
        return
    counts = df.groupby(["phase", "vs_deadline"], dropna=False).size().reset_index(name="projects")
    show_table(counts, title=f"Projects against the framework dates ({len(df):,} projects)", max_rows=None)
    fin = df[df["financing_since_signature"].fillna(False).astype(bool)]
    show_table(fin, title=f"{len(fin)} projects with financing since the framework", max_rows=40,
               more="--all, --json or --xlsx F")
    say(f"{len(df):,} projects in all: critmin projects standing --all (or --json, --xlsx F) lists every one")


@invest_app.command("summary")
@_core_flags
def summary(
    by: str = typer.Option("programme", "--by", help="state | sector | year | programme | investor_country | type"),
    amount_type: str = typer.Option(None, "--type", help="Only this amount type, e.g. pledge, tranche, announced."),
    as_json: JsonFlag = False,
    xlsx: XlsxOpt = None,
    db: DbOpt = None,
    as_: AsOpt = None,
) -> None:
    """Investment totals per amount type (US$ million; never added across types; other currencies counted, not summed).

    A pledge, its tranches and the fact-sheet candidates under it describe
    overlapping money, so each amount type gets its own table (JSON: a ``type``
    field on each row) and there is no total across types.
    """
    reg = _reg(db, as_)
    df = reg.summary(by, amount_type)
    if as_json:
        print_json(frame_records(df))
        return
    if xlsx is not None:
        inv = reg.investments_frame()
        if amount_type is not None:
            inv = inv[inv["type"] == amount_type]
        extra = []
        if "source" in inv.columns:
            for src, g in inv.groupby("source", sort=True):
                extra.append({"source": src, "title": "cited by " + ", ".join(map(str, g["id"])),
                              "year": ", ".join(sorted({str(int(y)) for y in g["year"].dropna()}))})
        write_xlsx(xlsx, {f"by_{by}": df, "investments": inv}, sources_frame(None, extra=extra))
        say(f"wrote {xlsx}")
        return
    if df.empty:
        say(f"no investments{' of type ' + amount_type if amount_type else ''}")
        return
    vocab = reg.context.vocab["amount_types"]
    musd = {c: "US$ m" for c in df.columns if str(c) in ("amount", "total", "usd_m", "amount_m")}
    if by == "type":
        show_table(df, title="Investment by amount type (US$ million; one total per type)", units=musd)
    else:
        for ty, grp in df.groupby("type", sort=False):
            show_table(grp.drop(columns="type"), title=f"{ty}: {vocab.get(ty, '')}; investment by {by} "
                       "(US$ million)", max_rows=200, units=musd, more="--json or --xlsx F")
    console.print("Amounts of different types are not added together (a pledge, its tranches and the "
                  "candidates under it overlap); parts_not_added counts parts whose parent is in the same row.",
                  highlight=False)


@invest_app.command("map")
@_core_flags
def invest_map(
    out: Path = typer.Option(..., "--out", help="Output .html file (self-contained, offline)."),
    world: bool = typer.Option(False, "--world", help="World map of projects instead of US states."),
    investor_country: str = typer.Option(None, "--investor-country", help="Only this investor country (ISO3)."),
    programme: str = typer.Option(None, "--programme", help="Only this programme."),
    amount_type: str = typer.Option(None, "--type", help="Amount type shown first (the map has one layer per type)."),
    db: DbOpt = None,
    as_: AsOpt = None,
) -> None:
    """US states shaded by investment, one layer per amount type, with project markers (or --world: projects)."""
    from critmin.registry.plots import invest_map_figure, write_html

    _out_path(out, (".html",))
    fig = invest_map_figure(_reg(db, as_), world=world, investor_country=investor_country, programme=programme,
                            amount_type=amount_type)
    write_html(fig, out)
    say(f"wrote {out}")
