"""``critmin brief``: the briefing table for one or more importers."""

from __future__ import annotations

from pathlib import Path

import typer

from critmin.atomic import atomic_write_text
from critmin.cli.common import JsonFlag, console, get_world, print_json, say


def brief(
    importer: str = typer.Option("USA,JPN", "--importer", help="Comma-separated ISO3 codes or blocs."),
    year: int = typer.Option(None, "--year", help="Year (default: latest with data for each stage)."),
    as_json: JsonFlag = False,
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML page with charts."),
) -> None:
    """For each chain material: top producers, China's share and HHI at each stage, with sources."""
    from critmin.brief import briefing

    importers = [c.strip() for c in importer.split(",") if c.strip()]
    world = get_world()
    b = briefing(world, importers, year)
    if html:
        from critmin.report.html import render_brief

        atomic_write_text(html, render_brief(b))
    if as_json:
        print_json(b)
        return
    from rich.table import Table

    for c in b["chains"]:
        t = Table(title=c["title"], header_style="bold", title_justify="left", expand=False)
        for col, just in (("stage", "left"), ("evidence", "left"), ("top producers", "left"), ("CHN", "right"),
                          ("HHI", "right")):
            t.add_column(col, justify=just, overflow="fold")
        for code in importers:
            t.add_column(f"{code}←CHN", justify="right")
        for st in c["stages"]:
            for e in st["evidence"]:
                basis = f"prod ({e['series_basis']})" if e["basis"] == "production" else "exports (value)"
                ev = f"{basis} {e['source']} {e['year']}"
                top = " ".join(f"{x['country']}{x['share']:.0%}" for x in e["top"])
                imp = [
                    ("" if not e.get("importers") or e["importers"][code]["china_share"] is None
                     else f"{e['importers'][code]['china_share']:.0%}")
                    for code in importers
                ]
                t.add_row(st["stage"], ev, top, f"{e['china_share']:.0%}", f"{e['hhi']:.2f}", *imp)
        console.print(t)
        if c.get("risk"):
            r = Table(title=f"{c['title']}: risk (GeoPolRisk/EU SR {c['risk'][0]['gpr_year']}, exposure "
                      f"{c['risk'][0]['trade_year']})", header_style="bold", title_justify="left")
            for col in ("stage", "importer", "reliance", "basis", "imports←CHN", "GeoPolRisk", "CF", "EU SR",
                        "CHN direct", "CHN effective"):
                r.add_column(col, justify="left" if col in ("stage", "importer") else "right")

            def pct(v: float | None) -> str:
                return "" if v is None else f"{v:.0%}"

            def num(v: float | None, fmt: str = "{:.3g}") -> str:
                return "" if v is None else fmt.format(v)

            for x in c["risk"]:
                rel = pct(x["reliance"])
                if rel and x.get("reliance_flag") in (">", "<"):
                    rel = ("≥" if x["reliance_flag"] == ">" else "≤") + rel
                basis = ("USGS NIR" if (x.get("reliance_basis") or "").startswith("USGS") else
                         "trade, this stage" if x.get("reliance_basis") else (x.get("reliance_reason") or "")[:40])
                r.add_row(x["stage"], x["importer"], rel, basis, pct(x["china_import_share"]), num(x["geopolrisk"]),
                          num(x["cf"]), num(x["eu_sr"], "{:.2f}"), pct(x["china_share_direct"]),
                          pct(x["china_share_effective"]))
            console.print(r)
    notes = dict.fromkeys(x["eu_sr_note"] for c in b["chains"] for x in c.get("risk", []) if x.get("eu_sr_note"))
    for note in notes:
        console.print(f"EU SR {note} (docs/risk.md)", highlight=False)
    console.print(f"World {world.checksum[:12]}…  prod = production share (t, chain network: series, published or "
                  "derived); exports = export-value share (USD, BACI); X←CHN = share of X's imports from China; "
                  "reliance = USGS net import reliance (MCS 2025) where USGS gives a number, else net imports / "
                  "apparent consumption at that stage. Sources: critmin data info.")
    if html:
        say(f"wrote {html}")
