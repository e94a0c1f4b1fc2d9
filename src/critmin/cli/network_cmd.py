"""``critmin network show CHAIN``: a chain network stage by stage (who produces what, on which basis).

Thin layer over :meth:`critmin.world.World.network` (:class:`critmin.network.ChainNetwork`): Rich
tables by default, ``--json`` for machines, ``--csv`` for the stage × producer table and
``--xlsx FILE`` for a workbook (stages, production, trade, final demand and the sources of every
figure, with the chain file's published figures and their citations).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from critmin.cli.common import JsonFlag, console, core_flags, get_world, one_format, print_json, say, set_world_path
from critmin.errors import InputError

if TYPE_CHECKING:  # imported where used: `critmin --help` does not load pandas
    import pandas as pd

    from critmin.network import ChainNetwork

app = typer.Typer(help="The chain network: production, shares, trade and balancing items by stage.",
                  no_args_is_help=True)

#: Values below this (t/yr) are floating-point residue of the balance, shown and exported as zero.
TINY = 1e-6


# ---------------------------------------------------------------------------------------------- inputs


def load_network(chain: str, year: int | None) -> ChainNetwork:
    """The network of ``chain`` (id or alias) at ``year`` from the CLI's World; InputError naming CHAIN / --year."""
    from critmin.risk.resolve import check_chain_year

    world = get_world()
    with core_flags("year", chain="CHAIN"):
        chain, year = check_chain_year(world, chain, year)
    return world.network(chain, year)


# ---------------------------------------------------------------------------------------------- tables


def _nz(v: float) -> float:
    """``v`` with floating-point residue (|v| < TINY) set to zero; NaN stays NaN."""
    return 0.0 if abs(v) < TINY else float(v)


def element_summary(net: ChainNetwork, stage: str, top: int = 10) -> dict[str, Any]:
    """Per element carried by the chain: world content of ``stage`` (t/yr of the element) and the top
    countries (``country, t, share``); empty when the chain carries no elements."""
    out: dict[str, Any] = {}
    for el in net.elements():
        p = net.element_production(stage, el)
        tot = float(p.sum())
        head = p if top <= 0 else p.head(top)
        out[el] = {
            "unit": f"t {el}",
            "world": tot if len(p) else None,
            "top": [{"country": str(c), "t": float(v), "share": float(v) / tot if tot > 0 else None}
                    for c, v in head.items()],
        }
    return out


def balancing_items(net: ChainNetwork, stage: str) -> pd.Series:
    """Balancing items of ``stage`` by country (t/yr; unrecorded or secondary supply), largest first."""
    import numpy as np
    import pandas as pd

    v = net.array("balancing")[net.stages.index(stage)]
    ok = v > TINY
    return pd.Series(v[ok], index=pd.Index(np.asarray(net.countries)[ok], name="country"),
                     name="balancing").sort_values(ascending=False)


def sector_table(net: ChainNetwork) -> list[dict[str, Any]]:
    """One record per end-use sector: the stage it draws on, its share, defence flag, world final demand."""
    stage = net.array("sector_stage")
    share = net.array("sector_share")
    defence = net.array("sector_defence")
    demand = net.array("demand").sum(axis=0)
    return [
        {
            "sector": sec,
            "stage": str(stage[k]),
            "unit": net.unit(str(stage[k])),
            "share": float(share[k]),
            "defence": bool(defence[k]),
            "final_demand_t": _nz(float(demand[k])),
        }
        for k, sec in enumerate(net.sectors)
    ]


def network_json(net: ChainNetwork, year: int | None, top: int = 10) -> dict[str, Any]:
    """The ``--json`` document: per stage its provenance, world output, China's share, balancing
    items, every producing country and (chains with elements) the element totals and top countries."""
    summ = net.summary().set_index("stage")
    stages = []
    for s in net.stages:
        r = summ.loc[s]
        p = net.production(s)
        tot = float(p.sum())
        entry: dict[str, Any] = {
            "stage": s,
            "unit": net.unit(s),
            "basis": r["basis"],
            "source": r["source"],
            "year": r["year"],
            "trade_year": None if r["trade_year"] != r["trade_year"] else int(r["trade_year"]),
            "world": r["world"],
            "china_share": r["china_share"],
            "top": r["top"],
            "traded_t": r["traded_t"],
            "balancing_t": _nz(float(r["balancing"])),
            "balancing": [{"country": str(c), "t": float(v)} for c, v in balancing_items(net, s).items()],
            "countries": [{"country": str(c), "production": float(v), "share": float(v) / tot if tot > 0 else None}
                          for c, v in p.items()],
        }
        if net.elements():
            entry["elements"] = element_summary(net, s, top)
        stages.append(entry)
    return {
        "chain": net.chain_id,
        "title": net.attrs.get("title"),
        "year": year,
        "case": net.attrs.get("case"),
        "stages": stages,
        "sectors": sector_table(net),
        "problems": net.check(),
    }


def trade_table(net: ChainNetwork) -> pd.DataFrame:
    """Recorded trade of every stage: ``stage, exporter, importer, t, unit`` (t/yr of the stage's unit)."""
    import pandas as pd

    frames = []
    for s in net.stages:
        t = net.trade(s)
        t.insert(0, "stage", s)
        t["unit"] = net.unit(s)
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["stage", "exporter", "importer", "t", "unit"])


def final_demand_table(net: ChainNetwork) -> pd.DataFrame:
    """Final demand by country (rows) and end-use sector (columns ``sector (unit)``), t/yr; countries
    with no final demand are left out."""
    import pandas as pd

    d = net.array("demand")
    stage = net.array("sector_stage")
    cols = [f"{sec} ({net.unit(str(stage[k]))})" for k, sec in enumerate(net.sectors)]
    df = pd.DataFrame(d, index=pd.Index(net.countries, name="country"), columns=cols)
    df = df.where(df.abs() >= TINY, 0.0)
    return df[(df > 0).any(axis=1)].reset_index()


def sources_table(net: ChainNetwork) -> pd.DataFrame:
    """Per stage one ``production`` row (basis, source, year, unit, trade year and HS codes), then one
    row per figure of the chain file's ``published`` block with its citation (``used``: whether the
    network's production of that stage rests on them)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    by_id = {s.id: s for s in net.chain.stages}
    for s in net.stages:
        info = net.stage_info[s]
        basis = info.get("production_basis")
        rows.append({
            "stage": s, "item": "production", "unit": info.get("unit"), "basis": basis,
            "source": info.get("production_source"), "year": info.get("production_year"),
            "trade_year": info.get("trade_year"), "trade_hs6": " ".join(info.get("trade_hs6", []) or []),
            "trade_missing_hs6": " ".join(info.get("trade_missing_hs6", []) or []),
        })
        published = info.get("published")
        pub_year = info.get("production_year")
        if published is None and by_id.get(s) is not None and by_id[s].published is not None:
            pub = by_id[s].published
            published = [f.model_dump(exclude_none=True) for f in (pub.world, *pub.countries) if f is not None]
            pub_year = pub.year
        for fig in published or []:
            rows.append({
                "stage": s, "item": f"published {fig.get('country') or 'world'}", "unit": info.get("unit"),
                "basis": fig.get("basis"), "source": fig.get("source"), "year": pub_year,
                "country": fig.get("country"), "value": fig.get("value"), "share": fig.get("share"),
                "low": fig.get("low"), "high": fig.get("high"), "rationale": fig.get("rationale"),
                "used": basis == "published",
            })
    cols = ["stage", "item", "unit", "basis", "source", "year", "trade_year", "trade_hs6", "trade_missing_hs6",
            "country", "value", "share", "low", "high", "rationale", "used"]
    return pd.DataFrame(rows).reindex(columns=cols)


def write_xlsx(net: ChainNetwork, path: Path) -> None:
    """Write the workbook (sheets ``stages``, ``production``, ``trade``, ``final_demand``, ``sources``)
    to ``path`` atomically, with openpyxl."""
    from critmin.cli.format import write_xlsx as write_workbook

    sheets = {
        "stages": net.summary(),
        "production": net.stage_table(),
        "trade": trade_table(net),
        "final_demand": final_demand_table(net),
        "sources": sources_table(net),
    }
    write_workbook(path, sheets)


# ---------------------------------------------------------------------------------------------- terminal


def _num(v: float | None) -> str:
    """A quantity with thousands separators (three significant digits below 100); blank for NaN."""
    if v is None or v != v:
        return "–"
    v = _nz(v)
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"


def _pct(v: float | None) -> str:
    """A 0–1 share as a percentage (one decimal; ``<0.1%`` for small non-zero shares)."""
    if v is None or v != v:
        return "–"
    if 0 < v < 0.0005:
        return "<0.1%"
    return f"{v * 100:.1f}%"


def print_network(net: ChainNetwork, top: int = 10) -> None:
    """Stage by stage: a table of producers (production with its unit, share), the stage's basis,
    source, year and trade year; then the summary (world output, China's share, balancing items) and
    the problems found by :meth:`ChainNetwork.check`."""
    from rich.table import Table
    from rich.text import Text

    out = console  # piped or captured: printed at natural width (critmin.cli.format), nothing is cut
    year = net.attrs.get("year")
    out.print(Text(f"{net.chain_id}: {net.attrs.get('title', '')}"
                   f"{'' if year is None or int(year) < 0 else f' (year {year})'}", style="bold"), soft_wrap=True)
    summ = net.summary().set_index("stage")
    for s in net.stages:
        r = summ.loc[s]
        unit = net.unit(s)
        ty = "none" if r["trade_year"] != r["trade_year"] else str(int(r["trade_year"]))
        out.print()
        out.print(Text(s, style="bold"), Text(f"  basis: {r['basis']}; source: {r['source']}; year: {r['year']}; "
                                              f"trade year: {ty}"), soft_wrap=True)
        p = net.production(s)
        if p.empty:
            out.print(Text("  no production data", style="yellow"), soft_wrap=True)
            continue
        tot = float(p.sum())
        t = Table(header_style="bold", show_edge=False, pad_edge=False)
        t.add_column("country", no_wrap=True, min_width=7)
        t.add_column(f"production ({unit})", justify="right", overflow="fold")
        t.add_column("share", justify="right", no_wrap=True)
        head = p if top <= 0 else p.head(top)
        for c, v in head.items():
            t.add_row(str(c), _num(float(v)), _pct(float(v) / tot))
        rest = p.iloc[len(head):]
        if len(rest):
            t.add_row(f"{len(rest)} others", _num(float(rest.sum())), _pct(float(rest.sum()) / tot))
        t.add_row("world", _num(tot), _pct(1.0), style="bold")
        out.print(t)
        for el, e in (element_summary(net, s, 5).items() if net.elements() else []):
            tops = ", ".join(f"{x['country']} {_pct(x['share'])}" for x in e["top"])
            out.print(Text(f"  {el}: {_num(e['world'])} t {el} ({tops})"), soft_wrap=True)

    out.print()
    t = Table(title="summary", title_justify="left", header_style="bold")
    for col, just in (("stage", "left"), ("unit", "left"), ("world", "right"), ("CHN", "right"),
                      ("top", "left"), ("traded t", "right"), ("balancing t", "right")):
        t.add_column(col, justify=just, no_wrap=col == "stage", overflow="fold")
    for s in net.stages:
        r = summ.loc[s]
        t.add_row(s, net.unit(s), _num(r["world"]), _pct(r["china_share"]),
                  "" if r["top"] is None else f"{r['top']} {_pct(r['top_share'])}", _num(r["traded_t"]),
                  _num(r["balancing"]))
    out.print(t)
    for s in net.stages:
        b = balancing_items(net, s)
        if len(b):
            items = ", ".join(f"{c} {_num(float(v))}" for c, v in b.head(top if top > 0 else len(b)).items())
            more = f" and {len(b) - top} more" if 0 < top < len(b) else ""
            out.print(Text(f"balancing {s} ({net.unit(s)}): {items}{more}"), soft_wrap=True)
    problems = net.check()
    if problems:
        out.print(Text(f"{len(problems)} problem(s):", style="bold red"), soft_wrap=True)
        for line in problems:
            out.print(Text(f"  {line}"), soft_wrap=True)
    else:
        out.print(Text("no problems: every stage has production or trade data"), soft_wrap=True)


# ---------------------------------------------------------------------------------------------- command


@app.command("show")
def show(
    chain: str = typer.Argument(..., metavar="CHAIN", help="Chain id (rare-earth-magnets, li-ion-batteries, ...)."),
    year: int = typer.Option(None, "--year", help="Year (default: the latest data of each stage)."),
    as_json: JsonFlag = False,
    as_csv: bool = typer.Option(False, "--csv", help="Print the stage × producing-country table as CSV."),
    xlsx: Path = typer.Option(None, "--xlsx", help="Write an Excel workbook (one sheet per table, plus sources)."),
    top: int = typer.Option(10, "--top", help="Countries listed per stage (0 = all; --json lists all producers)."),
    world_path: str = typer.Option(None, "--world", help="World folder to use (as critmin --world)."),
) -> None:
    """Production by stage and country, shares, basis and sources, balancing items and problems."""
    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    if top < 0:
        raise InputError("--top", str(top), "must be 0 (all) or a positive number of countries")
    if world_path:
        set_world_path(world_path)
    from critmin.cli.common import busy

    with busy(f"building the {chain} network"):
        net = load_network(chain, year)
    if as_json:
        print_json(network_json(net, year, top))
    elif as_csv:
        net.stage_table().to_csv(sys.stdout, index=False, lineterminator="\n")
    elif xlsx is not None:
        write_xlsx(net, xlsx)
        say(f"wrote {xlsx}")
    else:
        print_network(net, top)
