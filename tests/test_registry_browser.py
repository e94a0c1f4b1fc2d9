"""The registry's HTML map and timeline in real headless Chromium: offline, shapes drawn.

Screenshots go to ``build/screenshots/registry/`` (or ``$CRITMIN_SCREENSHOTS``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import BROWSER_MARKS, run_cli

ROOT = Path(__file__).resolve().parents[1]
STATE_SHAPES = "g.choroplethlocation, path.choroplethlocation"
SHOTS = Path(os.environ.get("CRITMIN_SCREENSHOTS", ROOT / "build" / "screenshots" / "registry"))

pytestmark = BROWSER_MARKS


def _critmin(*args: str):
    """``critmin ARGS`` in this process (conftest.run_cli)."""
    return run_cli(*args)


def _open(browser, html: Path, shot: str, drawn: tuple[str, int]) -> tuple[object, list[str], list[str]]:
    """Open ``html`` and wait (up to 30 s) until ``drawn = (selector, n)`` matches at least n elements, so
    that a slow machine is not mistaken for missing shapes; return (page, request URLs, failed URLs)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1300, "height": 900})
    requests: list[str] = []
    failed: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("requestfailed", lambda r: failed.append(r.url))
    page.goto(html.as_uri())
    page.wait_for_selector(".js-plotly-plot", timeout=30000)
    selector, n = drawn
    try:
        page.wait_for_function("([s, n]) => document.querySelectorAll(s).length >= n", arg=[selector, n],
                               timeout=30000)
    except PlaywrightTimeout:
        pass  # the count assertion in the test then fails with the number actually drawn
    page.wait_for_timeout(300)  # let the last frame paint before the screenshot
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / shot), full_page=True)
    return page, requests, failed


def _offline(requests: list[str], failed: list[str]) -> None:
    assert failed == []
    off_host = [u for u in requests if not u.startswith(("file:", "data:", "blob:", "about:"))]
    assert off_host == []


def test_invest_map_offline_with_state_shapes(browser, tmp_path: Path) -> None:
    out = tmp_path / "m.html"
    r = _critmin("invest", "map", "--out", str(out))
    assert r.returncode == 0, r.stderr
    page, requests, failed = _open(browser, out, "invest_map_us.png", (STATE_SHAPES, 50))
    _offline(requests, failed)
    # one choropleth path per US state (56 features incl. territories; those off the Albers
    # projection are not drawn) and project markers
    n_states = page.locator(STATE_SHAPES).count()
    assert n_states >= 50
    assert page.locator(".scattergeo path.point, .scattergeo .point").count() >= 50
    page.close()


@pytest.mark.parametrize(
    ("args", "shot", "shapes", "title"),
    [
        (["--world"], "invest_map_world.png", 150, "Registry projects by country"),
        (["--investor-country", "JPN"], "invest_map_japan.png", 50, "investor JPN"),
    ],
    ids=["world", "japan"],
)
def test_map_offline(browser, tmp_path: Path, args: list[str], shot: str, shapes: int, title: str) -> None:
    out = tmp_path / "map.html"
    r = _critmin("invest", "map", *args, "--out", str(out))
    assert r.returncode == 0, r.stderr
    page, requests, failed = _open(browser, out, shot, ("path.choroplethlocation", shapes))
    _offline(requests, failed)
    assert page.locator("path.choroplethlocation").count() >= shapes
    assert page.locator(".gtitle", has_text=title).count() == 1  # the map drawn is the one asked for
    page.close()


def test_timeline_offline(browser, tmp_path: Path) -> None:
    out = tmp_path / "t.html"
    r = _critmin("projects", "timeline", "--out", str(out))
    assert r.returncode == 0, r.stderr
    page, requests, failed = _open(browser, out, "projects_timeline.png", (".legendtext", 13))
    _offline(requests, failed)
    assert page.locator(".scatterlayer .trace").count() >= 20
    # the framework dates are drawn, numbered and keyed in the legend with their labels
    assert page.locator(".legendtext", has_text="Financial support to selected joint projects").count() == 1
    assert page.locator(".legendtext", has_text="US-Japan Framework for Securing the Supply").count() == 1
    assert page.locator(".legendtext").count() >= 13
    page.close()
