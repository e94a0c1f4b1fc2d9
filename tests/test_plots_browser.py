"""Every plot kind, as the CLI makes it, saved as PNG and HTML; the HTML pages screenshotted in headless Chromium.

Files go to ``build/screenshots/plots/`` (or ``$CRITMIN_PLOT_SHOTS``): ``<kind>.png`` straight from matplotlib,
``<kind>.html`` from Plotly and ``<kind>.html.png`` its screenshot. Look at them: each needs a title, units,
year, source and no overlapping labels.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from conftest import BROWSER_MARKS, run_cli

ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("CRITMIN_PLOT_SHOTS", ROOT / "build" / "screenshots" / "plots"))

pytestmark = BROWSER_MARKS


def build_all(out: Path) -> dict[str, list[Path]]:
    """Write every plot kind to ``out`` (PNG and HTML, the CLI's arguments) and return the files per kind."""

    import critmin
    from critmin.brief import briefing
    from critmin.palette import save
    from critmin.registry.core import Registry
    from critmin.registry.plots import invest_map_figure, timeline_figure, timeline_png, write_html
    from critmin.report.html import render_brief
    from critmin.risk.plot import risk_matrix, stacked_shares
    from critmin.simulate.plot import plot as sim_plot

    out.mkdir(parents=True, exist_ok=True)
    w = critmin.load()
    acc = w.risk
    files: dict[str, list[Path]] = {}

    def both(name: str, make: Any) -> None:
        files[name] = [make(out / f"{name}.png"), make(out / f"{name}.html")]

    sh = acc.concentration("rare-earths", None, 2024, "usgs-mcs-2025")
    both("risk-concentration", lambda p: stacked_shares(
        sh[sh["country"] != "ROW"], p, "rare-earths 2024 (usgs-mcs-2025): country shares by stage"))
    y = max(acc.inputs().years)
    d = acc.import_dependence(["USA", "JPN"], None, y, "CHN")
    both("risk-dependence", lambda p: risk_matrix(
        d.assign(label=d["material"] + " " + d["importer"]), "nir", "partner_share", "label", p,
        f"Import dependence {y}", "net import reliance (fraction)", "share of imports from CHN"))
    t = acc.geopolrisk(None, ["USA", "JPN"], None, True, critical_only=True)
    g = t[t["status"] == "ok"]
    g = g.assign(value=g["price"] * g["total_imports"], label=g["material"] + " " + g["importer"] + " "
                 + g["year"].astype(str))
    both("risk-geopolrisk", lambda p: risk_matrix(g, "value", "score", "label", p,
                                                  "GeoPolRisk: supply risk against importance",
                                                  "import value (kUSD)", "GeoPolRisk score"))
    e = acc.eu_sr(None, None, si_sr=None)
    both("risk-eu-crm", lambda p: risk_matrix(e.assign(ir_=e["ir"].fillna(0.0)), "ir_", "sr", "material", p,
                                              "EU supply risk", "import reliance IR (fraction)", "supply risk SR"))

    def by_cli(*args: str) -> Any:
        def make(p: Path) -> Path:
            r = run_cli(*args, "--plot", p)
            assert r.returncode == 0, r.stderr
            return p
        return make

    both("risk-exposure", by_cli("risk", "exposure", "--importer", "USA,JPN"))
    both("risk-table-hhi", by_cli("risk", "table", "--metric", "hhi-import"))
    ds = w.simulate("ree-magnet-embargo-us-jpn-12m", runs=40, seed=0)
    both("simulate", lambda p: sim_plot(ds, p))
    reg = Registry.load()
    timeline_png(reg, out / "projects-timeline.png")
    write_html(timeline_figure(reg), out / "projects-timeline.html")
    files["projects-timeline"] = [out / "projects-timeline.png", out / "projects-timeline.html"]
    for name, kw in (("invest-map-us", {}), ("invest-map-world", {"world": True}),
                     ("invest-map-jpn", {"investor_country": "JPN"})):
        write_html(invest_map_figure(reg, **kw), out / f"{name}.html")
        files[name] = [out / f"{name}.html"]
    b = briefing(w, ["USA", "JPN"])
    (out / "brief.html").write_text(render_brief(b), encoding="utf-8")
    files["brief"] = [out / "brief.html"]
    assert save  # the one saver every figure goes through
    return files


def test_every_plot_kind_screenshotted(browser) -> None:
    files = build_all(SHOTS)
    for name, paths in files.items():
        for p in paths:
            assert p.exists() and p.stat().st_size > 5_000, p
            if p.suffix == ".png":
                from PIL import Image

                with Image.open(p) as im:
                    assert im.width <= 2400, (p, im.size)
                continue
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r, requests=requests: requests.append(r.url))
            page.goto(p.as_uri())
            page.wait_for_selector(".js-plotly-plot", timeout=30000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(p.with_suffix(".html.png")), full_page=True)
            # every title says where the numbers come from, and nothing is fetched from the network
            text = page.evaluate("document.body.innerText + ' ' + Array.from(document.querySelectorAll('svg text'))"
                                 ".map(t => t.textContent).join(' ')")
            assert "source" in text.lower() or name == "brief", (name, text[:300])
            if name.startswith("risk-exposure"):  # the year is on the chart
                assert re.search(r"direct vs effective \(USA, JPN, 20\d\d", text), text[:300]
            if name == "projects-timeline":  # long framework-date labels wrap, they are not cut
                assert "grit)" in text and "projects within six months" in text, text[-600:]
            assert not [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))], name
            page.close()
