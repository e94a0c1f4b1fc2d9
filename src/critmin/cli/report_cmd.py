"""``critmin report``: the briefing as HTML and/or PDF, stamped with its marking on every page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from critmin.cli.common import get_world, say
from critmin.cli.users_cmd import DbOpt, store_errors


def report(
    importer: Annotated[str, typer.Option("--importer", help="ISO3 codes or blocs, comma-separated.")] = "USA,JPN",
    year: Annotated[int | None, typer.Option("--year", help="Year of the data (default: latest).")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Include this done run from the store (needs --as).")] = None,
    plan: Annotated[str | None, typer.Option("--plan", help="Include this done stockpile plan or portfolio from the "
                                             "store (needs --as).")] = None,
    as_: Annotated[str | None, typer.Option("--as", help="Account whose view of the store is used (--run, --plan).")
                   ] = None,
    html: Annotated[Path | None, typer.Option("--html", help="Write the HTML briefing here.")] = None,
    pdf: Annotated[Path | None, typer.Option("--pdf", help="Write the PDF briefing here (Chromium print).")] = None,
    db: DbOpt = None,
) -> None:
    """Key findings, exposure, the scenario run, the pipeline and sources; the label's marking on every page.

    Without --run and --plan the briefing holds public data only and is marked PUBLIC; with --run it carries the
    run's label, with --plan the plan's (the stockpile-plan section), with both the intersection of the two (the
    account given with --as must be allowed to see them; the export is audited).
    """
    from critmin.errors import InputError
    from critmin.web import briefing, tables

    if html is None and pdf is None:
        raise InputError("--html/--pdf", None, "give --html FILE, --pdf FILE or both")
    run_view, plan_view, marking, labels = None, None, "PUBLIC", []
    if run is not None or plan is not None:
        if not as_:
            raise InputError("--as", None, f"{'--run' if run else '--plan'} needs --as NAME (whose view of the store "
                             "to use)")
        from critmin.store import Store

        store = Store(db)
        actor = store.actor(as_)
        for opt, oid, noun in (("--run", run, "run"), ("--plan", plan, "plan")):
            if oid is None:
                continue
            try:
                with store_errors(opt):
                    summary, label = store.run_result(actor, oid, f"{noun}.briefing", plans=noun == "plan")
            except InputError as exc:
                if f"no such {noun}" in exc.problem:
                    raise InputError(opt, oid, f"no such {noun} visible to {as_}") from None
                raise
            labels.append(label)
            if noun == "run":
                run_view = {"summary": summary}
            else:
                plan_view = summary
        marking = briefing.briefing_label(labels, actor.nationality).marking
    imps = tables.importers_of(importer)
    doc = briefing.briefing_html(get_world(), marking, imps, year, run_view, plan_view)
    if html is not None:
        html.write_text(doc, encoding="utf-8")
        say(f"wrote {html}  ({marking})")
    if pdf is not None:
        if not briefing.chromium_available():
            raise InputError("--pdf", str(pdf), f"printing needs Chromium at {briefing.CHROMIUM}")
        briefing.html_to_pdf(doc, marking, pdf)
        say(f"wrote {pdf}  ({marking})")
