"""The web app in Debian's Chromium (Playwright): ``critmin serve``'s app and worker on 127.0.0.1, a user signs
in, opens every page, launches a scenario and watches its progress reach 100%, compares two runs, downloads
CSV, Excel and the run's PDF briefing, launches a stockpile plan and watches it too; screenshots go to
``build/screenshots/web/`` (or ``$CRITMIN_SCREENSHOTS/web``); no request leaves 127.0.0.1."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from conftest import BROWSER_MARKS, ROOT

import critmin
from critmin.store import Store
from critmin.store.worker import start_thread

pytestmark = BROWSER_MARKS
SHOTS = Path(os.environ["CRITMIN_SCREENSHOTS"]) / "web" if os.environ.get("CRITMIN_SCREENSHOTS") else (
    ROOT / "build" / "screenshots" / "web")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    """uvicorn serving the app on a free loopback port, with the in-process worker (as ``critmin serve``)."""
    import uvicorn

    from critmin.web.app import create_app

    store = Store(str(tmp_path_factory.mktemp("webui") / "store.db"))
    store.add_user("kenji", "JPN", "releaser", password="kenji-password")
    world = critmin.load()
    app = create_app(store, world, event_poll=0.1)
    _, stop = start_thread(store, world=world, lease=10, poll=0.2)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    end = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < end, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    srv.should_exit = True
    stop.set()
    t.join(10)
    store.dispose()


def _launch(page, base: str, runs: str, seed: str, release_to_usa: bool) -> str:
    page.goto(f"{base}/scenarios")
    page.select_option("select[name=scenario]", "ree-magnet-embargo-us-jpn-12m")
    page.fill("input[name=runs]", runs)
    page.fill("input[name=seed]", seed)
    page.fill("input[name=horizon]", "6")
    if release_to_usa:
        page.check("input[name=rel_usa]")
    page.click("#launch button[type=submit]")
    page.wait_for_url("**/runs/*")
    page.wait_for_function("document.getElementById('progress-text') && "
                           "document.getElementById('progress-text').textContent.includes('100%')", timeout=60_000)
    page.wait_for_selector("#fig-fan .main-svg", timeout=30_000)  # reloaded with the results
    return page.url.rsplit("/", 1)[1]


def test_sign_in_pages_launch_progress_compare_downloads(server, browser, tmp_path) -> None:
    base, store = server
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    hosts: list[str] = []
    ctx.on("request", lambda req: hosts.append(urlparse(req.url).hostname or req.url))
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("input[name=name]", "kenji")
    page.fill("input[name=password]", "kenji-password")
    page.click("form.login button")
    page.wait_for_url(f"{base}/")
    page.wait_for_selector("#fig-rare-earth-magnets .main-svg", timeout=60_000)
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=False)
    for path, sel, shot in [("/chains", "ul.chains", "chains"),
                            ("/chains/rare-earth-magnets?stage=magnet", "#fig-chain .main-svg", "chain"),
                            ("/risk?metric=hhi-production&year=2022", "#risk-table", "risk"),
                            ("/projects", "#fig-timeline .main-svg", "projects"),
                            ("/catalogue", "#catalogue-table", "catalogue")]:
        page.goto(base + path)
        page.wait_for_selector(sel, timeout=60_000)
        if shot in ("chain", "projects"):  # the map: shipped boundaries drawn, nothing fetched from outside
            page.wait_for_selector("#fig-map .choroplethlocation", timeout=30_000)
            if shot == "chain":
                page.wait_for_selector("#fig-sankey .sankey", timeout=30_000)
            page.locator("#fig-map").scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"{shot}-map.png"))
        page.screenshot(path=str(SHOTS / f"{shot}.png"))
    a = _launch(page, base, "40", "1", release_to_usa=True)
    assert page.inner_text(".marking") == "REL TO USA, JPN"
    page.screenshot(path=str(SHOTS / "run.png"))
    with page.expect_download() as dl:
        page.click("text=CSV")
    csv = pd.read_csv(dl.value.path())
    assert set(csv["marking"]) == {"REL TO USA, JPN"} and len(csv) > 0
    with page.expect_download() as dl:
        page.click("text=Excel")
    sheets = pd.read_excel(io.BytesIO(Path(dl.value.path()).read_bytes()), sheet_name=None)
    assert sheets["marking"]["marking"][0] == "REL TO USA, JPN"
    with page.expect_download() as dl:
        page.click("#briefing-pdf")
    pdf = Path(dl.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    (SHOTS / "briefing.pdf").write_bytes(pdf)
    page.click("#briefing-html")
    page.wait_for_selector("text=Key findings")
    assert page.locator(".marking.top").inner_text() == "REL TO USA, JPN"
    page.screenshot(path=str(SHOTS / "briefing.png"))
    b = _launch(page, base, "30", "2", release_to_usa=False)
    assert page.inner_text(".marking") == "JPN ONLY"
    page.goto(f"{base}/scenarios")
    page.screenshot(path=str(SHOTS / "scenarios.png"))
    page.select_option("#compare select[name=a]", a)
    page.select_option("#compare select[name=b]", b)
    page.click("#compare button")
    page.wait_for_selector("#fig-compare .main-svg", timeout=30_000)
    assert page.inner_text(".marking") == "JPN ONLY"  # the intersection of both runs' labels
    page.screenshot(path=str(SHOTS / "compare.png"))
    with page.expect_download() as dl:
        page.click("text=Excel")
    assert "compare" in pd.read_excel(io.BytesIO(Path(dl.value.path()).read_bytes()), sheet_name=None)
    page.goto(f"{base}/catalogue")
    with page.expect_download() as dl:
        page.click(".downloads >> text=CSV")
    assert "checksum" in pd.read_csv(dl.value.path()).columns
    # plans: launch a stockpile plan through the form, watch its progress reach 100%, its chart, its CSV
    page.click("nav >> text=Plans")
    page.wait_for_selector("#launch-stockpile")
    page.screenshot(path=str(SHOTS / "plans.png"))
    page.select_option("#launch-stockpile select[name=scenario]", "ree-magnet-embargo-us-jpn-12m")
    page.fill("#launch-stockpile input[name=runs]", "30")
    page.check("#launch-stockpile input[name=rel_usa]")
    page.click("#launch-stockpile button[type=submit]")
    page.wait_for_url("**/plans/*")
    page.wait_for_function("document.getElementById('plan-progress-text') && "
                           "document.getElementById('plan-progress-text').textContent.includes('100%')",
                           timeout=90_000)
    page.wait_for_selector("#fig-plan .main-svg", timeout=30_000)  # reloaded with the results
    assert page.locator(".marking").first.inner_text() == "REL TO USA, JPN"
    assert page.locator("#fig-plan .bars .point").count() >= 1
    page.screenshot(path=str(SHOTS / "plan.png"), full_page=True)
    with page.expect_download() as dl:
        page.click("#plan-csv")
    plan_csv = pd.read_csv(dl.value.path())
    assert set(plan_csv["marking"]) == {"REL TO USA, JPN"} and {"holder", "material", "stock_t"} <= set(plan_csv)
    with page.expect_download() as dl:
        page.click("#chart-csv")
    chart = pd.read_csv(dl.value.path())
    assert list(chart.columns) == ["marking", "holder", "material", "stock_t"] and len(chart) == len(plan_csv)
    page.goto(f"{base}/search?q=magnet")
    page.wait_for_selector("#search-results tbody tr")
    assert page.locator("#search-results tbody tr").count() >= 1
    page.screenshot(path=str(SHOTS / "search.png"), full_page=False)
    ctx.close()
    assert not errors, errors
    assert hosts and set(hosts) == {"127.0.0.1"}, sorted(set(hosts))
    assert {p.name for p in SHOTS.glob("*.png")} >= {"overview.png", "chain.png", "run.png", "compare.png",
                                                     "plans.png", "plan.png"}
