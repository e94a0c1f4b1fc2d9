"""Briefings: one HTML document (key findings first, then exposure, the scenario run, the project pipeline and
sources) stamped with its label's marking on every page, and its PDF printed by Chromium (Playwright).

Charts are inline SVG drawn here (vector, offline, no JavaScript), so the HTML prints the same everywhere.
The marking comes from the caller: a run's label, or ``PUBLIC`` for a briefing on the (public) World alone.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from critmin import palette

TEMPLATES = Path(__file__).parent / "templates"
#: Debian's Chromium, which prints the PDF (installed by .ci/run).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


def _short(label: str, n: int = 40) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def svg_bars(rows: list[tuple[str, float]], title: str, width: int = 640, highlight: str = palette.CHINA_COLOR) -> str:
    """Horizontal bars (value 0–1 as %) with labels, as inline SVG."""
    h = 28 + 22 * len(rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" '
           f'aria-label="{_esc(title)}"><text x="0" y="14" font-size="13" font-weight="bold">{_esc(title)}</text>']
    x0, span = 260, width - 320
    for i, (label, v) in enumerate(rows):
        y = 24 + 22 * i
        w = 0 if v is None or not math.isfinite(v) else max(0.0, min(1.0, v)) * span
        out.append(f'<text x="{x0 - 6}" y="{y + 13}" font-size="11" text-anchor="end">{_esc(_short(label))}</text>'
                   f'<rect x="{x0}" y="{y}" width="{span}" height="16" fill="#eee"/>'
                   f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="16" fill="{highlight}"/>'
                   f'<text x="{x0 + span + 6}" y="{y + 13}" font-size="11">'
                   f'{"–" if v is None or not math.isfinite(v) else f"{100 * v:.0f}%"}</text>')
    out.append("</svg>")
    return "".join(out)


def svg_fan(fan: dict[str, list[float]], title: str, width: int = 640, height: int = 240) -> str:
    """A fan chart: P5–P95 band, median and mean per month, as inline SVG."""
    months = fan.get("month") or []
    if not months:
        return ""
    top = max(max(fan.get("p95") or [0]), max(fan.get("mean") or [0]), 1e-9)
    x0, y0, w, h = 60, 24, width - 80, height - 54

    def xy(i: int, v: float) -> str:
        x = x0 + (w * i / max(len(months) - 1, 1))
        return f"{x:.1f},{y0 + h - h * (v / top):.1f}"

    band = [xy(i, v) for i, v in enumerate(fan["p95"])] + [xy(i, v) for i, v in reversed(list(enumerate(fan["p5"])))]
    med = " ".join(xy(i, v) for i, v in enumerate(fan["p50"]))
    mean = " ".join(xy(i, v) for i, v in enumerate(fan["mean"]))
    ticks = "".join(f'<text x="{x0 + w * i / max(len(months) - 1, 1):.1f}" y="{y0 + h + 14}" font-size="10" '
                    f'text-anchor="middle">{m}</text>' for i, m in enumerate(months) if len(months) <= 24 or i % 6 == 0)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{_esc(title)}"><text x="0" y="14" font-size="13" font-weight="bold">{_esc(title)}</text>'
            f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#888"/>'
            f'<text x="{x0 - 4}" y="{y0 + 10}" font-size="10" text-anchor="end">{top:,.0f}</text>'
            f'<text x="{x0 - 4}" y="{y0 + h}" font-size="10" text-anchor="end">0</text>'
            f'<polygon points="{" ".join(band)}" fill="rgba(214,39,40,0.2)"/>'
            f'<polyline points="{med}" fill="none" stroke="{palette.CHINA_COLOR}" stroke-width="2"/>'
            f'<polyline points="{mean}" fill="none" stroke="#444" stroke-dasharray="4 3"/>{ticks}'
            f'<text x="{x0 + w / 2}" y="{height - 4}" font-size="10" text-anchor="middle">month (band: P5–P95; '
            f'line: median; dashed: mean; t per month)</text></svg>')


def findings(brief: dict[str, Any], summary: dict[str, Any] | None) -> list[str]:
    """Key findings, one sentence each: the most China-concentrated stages, then the run's largest shortfalls."""
    out = []
    stages = []
    for c in brief["chains"]:
        for s in c["stages"]:
            e = next((e for e in s["evidence"] if e.get("china_share") is not None), None)
            if e is not None:
                stages.append((e["china_share"], c["title"], s["name"], e["basis"], e["source"], e["year"]))
    for share, chain, stage, basis, source, year in sorted(stages, reverse=True)[:3]:
        out.append(f"China holds {share:.0%} of {stage} ({chain}; {basis}, {source} {year}).")
    if summary:
        rows = [r for r in summary.get("shortfall") or [] if (r.get("mean_t") or 0) > 0][:3]
        for r in rows:
            share = r["mean_t"] / r["demand_t"] if r.get("demand_t") else float("nan")
            out.append(f"In scenario {summary.get('scenario')}, {r['country']} {r['sector']} is short "
                       f"{r['mean_t']:,.0f} t on average over {summary.get('horizon')} months "
                       f"({share:.0%} of its demand; P95 {r['p95_t']:,.0f} t).")
        if not rows:
            out.append(f"In scenario {summary.get('scenario')}, no country is short on average.")
    return out


def plan_findings(plan: dict[str, Any] | None) -> list[str]:
    """Key findings of a stored plan's summary: for a stockpile, total stock (t) and cost (US$) per holder and
    the best day rule against the optimum; for a portfolio, the projects chosen and their value."""
    if not plan:
        return []
    if plan.get("kind") == "portfolio":
        chosen = plan.get("chosen") or []
        names = ", ".join(str(r.get("project")) for r in chosen) or "none"
        return [f"Under budgets of US${plan.get('budget_usa_usd_m', 0):,.0f} m (US) and "
                f"US${plan.get('budget_jpn_usd_m', 0):,.0f} m (Japan), the {plan.get('objective_kind')} portfolio "
                f"funds {len(chosen)} project(s): {names} "
                f"(value {plan.get('objective') or 0:,.4g} {plan.get('unit')})."]
    out = []
    by_holder: dict[str, list[float]] = {}
    for r in plan.get("plan") or []:
        t = by_holder.setdefault(str(r.get("holder")), [0.0, 0.0])
        t[0] += r.get("stock_t") or 0.0
        t[1] += r.get("cost_usd") or 0.0
    for holder, (stock, cost) in by_holder.items():
        out.append(f"Against {plan.get('scenario')} ({plan.get('runs')} runs), the optimal stockpile of {holder} "
                   f"holds {stock:,.0f} t in all at US${cost / 1e6:,.1f} m.")
    rules: dict[str, float] = {}
    for r in plan.get("rules") or []:
        if r.get("extra_cost_usd") is not None:
            rules[str(r.get("rule"))] = float(r["extra_cost_usd"])
    if rules:
        best = min(rules, key=rules.get)
        out.append(f"The best day rule, {best} of use, costs US${rules[best] / 1e6:,.1f} m more in expected total cost "
                   "than the optimum.")
    return out


def plan_stock_rows(plan: dict[str, Any] | None) -> list[tuple[str, float]]:
    """(holder · material, share of the largest stock) rows for the plan's SVG bars, with the stock in t."""
    rows = [(f"{r.get('holder')} · {r.get('material')} ({r.get('stock_t') or 0:,.0f} t)", r.get("stock_t") or 0.0)
            for r in (plan or {}).get("plan") or []]
    top = max((v for _, v in rows), default=0.0)
    return [(k, v / top if top > 0 else 0.0) for k, v in rows]


def briefing_label(labels: list[Any], nationality: str) -> Any:
    """The label of a briefing on labelled inputs (a run, a plan): the intersection of theirs
    (:func:`critmin.store.derive`); PUBLIC with none."""
    from critmin.store import NATIONS, Label, derive

    return derive(labels, nationality) if labels else Label(nationality, NATIONS, True)


def briefing_html(world: Any, marking: str, importers: list[str], year: int | None = None,
                  run: dict[str, Any] | None = None, plan: dict[str, Any] | None = None) -> str:
    """The briefing as one self-contained HTML document, ``marking`` at the top and bottom of every page.

    ``run``: ``{"summary": …}`` of a done run; ``plan``: a done plan's summary (the stockpile-plan section)."""
    from critmin.web import tables

    brief = tables.brief(world, ",".join(importers), str(year) if year else None)
    summary = run.get("summary") if run else None
    charts = {}
    for c in brief["chains"]:
        rows = []
        for s in c["stages"]:
            e = next((e for e in s["evidence"] if e.get("china_share") is not None), None)
            if e is not None:
                rows.append((f"{s['name']} ({e['year']})", e["china_share"]))
        charts[c["chain"]] = svg_bars(rows, f"{c['title']}: China's share by stage")
    projects = tables.projects(world)
    pipeline = (projects.groupby(["chain", "status"]).size().unstack(fill_value=0)
                if len(projects) else projects)
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return env.get_template("briefing.html").render(
        marking=marking, brief=brief, charts=charts, run=run, summary=summary,
        fan=svg_fan(summary["fan"], f"{summary['scenario']}: total shortfall per month") if summary else "",
        findings=findings(brief, summary) + plan_findings(plan), pipeline=pipeline, sources=tables.sources(world),
        plan=plan, plan_bars=svg_bars(plan_stock_rows(plan), "Optimal stock by holder and material (relative; t in "
                                                             "labels)", highlight="#1f77b4") if plan else "")


def chromium_available() -> bool:
    """True when Debian's Chromium is installed (the PDF printer)."""
    return Path(CHROMIUM).exists()


class _Printer:
    """One headless Chromium kept by one thread (Playwright's sync objects belong to the thread that made them);
    other threads hand it documents to print. Started on first use, stopped at exit."""

    def __init__(self) -> None:
        import queue
        import threading

        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="critmin-pdf", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = None
            while True:
                job = self._jobs.get()
                if job is None:
                    break
                document, marking, out, ready = job
                try:
                    if browser is None or not browser.is_connected():
                        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                    out.append(_print(browser, document, marking))
                except Exception as exc:  # noqa: BLE001 - handed back to the caller's thread
                    out.append(exc)
                finally:
                    ready.set()
            if browser is not None:
                browser.close()

    def print(self, document: str, marking: str, timeout: float = 120) -> bytes:
        """The PDF of ``document`` (printed by the printer thread); its exception if printing failed."""
        import threading

        out: list = []
        ready = threading.Event()
        self._jobs.put((document, marking, out, ready))
        if not ready.wait(timeout):
            raise TimeoutError("pdf: Chromium did not print the briefing in time")
        if isinstance(out[0], Exception):
            raise out[0]
        return out[0]

    def stop(self) -> None:
        """Close Chromium and end the thread."""
        self._jobs.put(None)
        self._thread.join(10)


_printer: _Printer | None = None


def _print(browser: Any, document: str, marking: str) -> bytes:
    stamp = (f'<div style="font-size:9px;width:100%;text-align:center;font-weight:bold;'
             f'font-family:DejaVu Sans,Noto Sans CJK JP,sans-serif">{_esc(marking)}</div>')
    page = browser.new_page()
    try:
        page.route("**/*", lambda route: route.abort())  # nothing leaves the document
        page.set_content(document, wait_until="load")
        return page.pdf(format="A4", print_background=True, display_header_footer=True, header_template=stamp,
                        footer_template=stamp.replace("</div>", ' · page <span class="pageNumber"></span> of '
                                                                '<span class="totalPages"></span></div>'),
                        margin={"top": "18mm", "bottom": "18mm", "left": "12mm", "right": "12mm"})
    finally:
        page.close()


def html_to_pdf(document: str, marking: str, path: str | Path | None = None) -> bytes:
    """Print ``document`` to PDF with Chromium (Playwright), the marking in every page's header and footer.

    One Chromium per process prints every briefing (network blocked: the document must be self-contained).
    """
    import atexit

    global _printer
    if _printer is None:
        _printer = _Printer()
        atexit.register(_printer.stop)
    pdf = _printer.print(document, marking)
    if path is not None:
        Path(path).write_bytes(pdf)
    return pdf
