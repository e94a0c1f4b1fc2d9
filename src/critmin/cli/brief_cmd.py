"""``critmin brief``: the briefing table for one or more importers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from critmin.atomic import atomic_write_text
from critmin.cli.common import (
    JsonFlag,
    XlsxOpt,
    busy,
    get_world,
    print_json,
    say,
    show_table,
    show_text,
    sources_frame,
    write_xlsx,
)

if TYPE_CHECKING:
    import pandas as pd


def brief(
    importer: str = typer.Option("USA,JPN", "--importer", help="Comma-separated ISO3 codes or blocs."),
    year: str = typer.Option(None, "--year", metavar="YEAR", help="Year (default: latest with data for each stage)."),
    as_json: JsonFlag = False,
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML page with charts."),
    xlsx: XlsxOpt = None,
) -> None:
    """For each chain material: top producers, China's share and production HHI at each stage, with sources."""
    from critmin.brief import briefing
    from critmin.validate import check_number, unique_ids

    if as_json and xlsx is not None:
        from critmin.errors import InputError

        raise InputError("--xlsx", None, "cannot be combined with --json")
    if html is not None and html.suffix.lower() not in (".html", ".htm"):
        from critmin.errors import InputError

        raise InputError("--html", str(html), "the page must end in .html")
    year = None if year is None else int(check_number(year, "--year", whole=True))
    world = get_world()
    # Each importer once (USA,USA,JPN -> USA,JPN): repeats would only repeat the work.
    importers = unique_ids([world.importer_id(c.strip()) for c in importer.split(",") if c.strip()])
    with busy("briefing"):
        b = briefing(world, importers, year)
    if html:
        from critmin.report.html import render_brief

        atomic_write_text(html, render_brief(b))
    if as_json:
        print_json(b)
        return
    stages, risk = brief_frames(b, importers)
    if xlsx is not None:
        ids = [s.get("name") for s in b.get("sources", [])] + list(stages["source"].dropna().unique())
        write_xlsx(xlsx, {"stages": stages, "risk": risk}, sources_frame(world, ids))
        say(f"wrote {xlsx}")
        if html:
            say(f"wrote {html}")
        return
    imp_cols = {f"{code}←CHN": "pct" for code in importers}
    for chain_id, g in stages.groupby("chain", sort=False):
        title = g["title"].iloc[0]
        show_table(g.drop(columns=["chain", "title"]), title=title, max_rows=None,
                   kinds={"CHN": "pct", "HHI production": "num", **imp_cols})
        r = risk[risk["chain"] == chain_id]
        if len(r):
            show_table(r.drop(columns=["chain", "gpr_year", "trade_year"]), max_rows=None,
                       title=f"{title}: risk (GeoPolRisk/EU SR {r['gpr_year'].iloc[0]}, exposure "
                       f"{r['trade_year'].iloc[0]})",
                       kinds={"reliance": "pct", "imports←CHN": "pct", "CHN direct": "pct",
                              "CHN effective": "pct"})
    notes = dict.fromkeys(x["eu_sr_note"] for c in b["chains"] for x in c.get("risk", []) if x.get("eu_sr_note"))
    for note in notes:
        show_text(f"EU SR {note} (docs/risk.md)")
    show_text(f"World {world.checksum}  prod = production share (t, chain network: series, published or "
              "derived); exports = export-value share (USD, BACI); X←CHN = share of X's imports from China; "
              "reliance = USGS net import reliance (MCS 2025) where USGS gives a number, else net imports / "
              "apparent consumption at that stage; HHI production = Herfindahl index of producing (or exporting) "
              "countries, 0–1. Sources: critmin data info.")
    if html:
        say(f"wrote {html}")


def brief_frames(b: dict, importers: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The briefing as two tables: one row per chain stage and evidence (basis, source, year, top
    producers, China's share, production HHI, each importer's share of imports from China), and one row
    per chain stage and importer with its risk figures."""
    import pandas as pd

    rows = []
    for c in b["chains"]:
        for st in c["stages"]:
            for e in st["evidence"]:
                basis = f"prod ({e['series_basis']})" if e["basis"] == "production" else "exports (value)"
                row = {"chain": c["chain"], "title": c["title"], "stage": st["stage"], "evidence": basis,
                       "source": e["source"], "year": e["year"],
                       "top producers": ", ".join(f"{x['country']} {x['share']:.0%}" for x in e["top"]),
                       "CHN": e["china_share"], "HHI production": e["hhi"]}
                for code in importers:
                    imp = (e.get("importers") or {}).get(code) or {}
                    row[f"{code}←CHN"] = imp.get("china_share")
                rows.append(row)
    risk = []
    for c in b["chains"]:
        for x in c.get("risk", []):
            rel_flag = {">": "≥", "<": "≤"}.get(x.get("reliance_flag") or "", "")
            basis = ("USGS NIR" if (x.get("reliance_basis") or "").startswith("USGS") else
                     "trade, this stage" if x.get("reliance_basis") else (x.get("reliance_reason") or ""))
            risk.append({"chain": c["chain"], "stage": x["stage"], "importer": x["importer"],
                         "reliance": x["reliance"], "reliance bound": rel_flag or None, "basis": basis,
                         "imports←CHN": x["china_import_share"], "GeoPolRisk": x["geopolrisk"], "CF": x["cf"],
                         "EU SR": x["eu_sr"], "CHN direct": x["china_share_direct"],
                         "CHN effective": x["china_share_effective"], "gpr_year": x["gpr_year"],
                         "trade_year": x["trade_year"]})
    return pd.DataFrame(rows), pd.DataFrame(risk)
