"""Every Plotly chart on every page offers its data: each chart div has a "Chart data (CSV)" link, the link answers
200 text/csv, its rows are the points the chart draws (a count rule per chart) and every number drawn is in the
CSV (as is, x100 for shares in %, or x86,400,000 for durations in days drawn in ms). Run-based chart data goes
through the store: marked on every row, 404 for what the caller may not see."""

from __future__ import annotations

import html
import io
import json
import math
import re
import warnings
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import critmin
from critmin.store import Store
from critmin.store.worker import Worker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from critmin.web.app import create_app

FIG_DIV = re.compile(r'<div class="figure" id="([^"]+)"></div>')
FIG_JSON = re.compile(r'<script type="application/json" data-figure="([^"]+)">(.*?)</script>', re.S)
DATA_LINK = re.compile(r'<a href="([^"]+)" data-chart-data="([^"]+)"')
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = Store(str(tmp_path_factory.mktemp("chartdata") / "store.db"))
    world = critmin.load()
    store.add_user("us", "USA", "analyst")
    store.add_user("jp", "JPN", "viewer")
    us = store.actor("us")
    runs = [store.create_run(us, "baseline", runs=20, seed=1, horizon=6),
            store.create_run(us, "ree-magnet-embargo-us-jpn-12m", runs=20, seed=2, horizon=6,
                             label={"originator": "USA", "rel_to": ["USA", "JPN"]})]
    w = Worker(store, world=world, lease=10)
    while w.run_once():
        pass
    client = TestClient(create_app(store, world), raise_server_exceptions=False)
    yield {"store": store, "client": client, "runs": runs,
           "h": {"Authorization": f"Bearer {store.issue_token('us', days=1)}"},
           "jp": {"Authorization": f"Bearer {store.issue_token('jp', days=1)}"}}
    client.close()
    store.dispose()


def _array(values: Any) -> list[Any]:
    """A figure JSON array: a list, or Plotly's typed array ``{"dtype", "bdata"}`` (base64) decoded."""
    if isinstance(values, dict) and "bdata" in values:
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values) if isinstance(values, list | tuple) else []


def _numbers(values: Any) -> list[float]:
    out = []
    for v in _array(values):
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def _key(v: float) -> str:
    return f"{v:.6g}"


def _drawn(fig: dict[str, Any]) -> list[float]:
    """Every number the figure draws (axis values, map values and positions, flow sizes); map zeros (no data)
    are left out."""
    nums = []
    for t in fig["data"]:
        for k in ("x", "y", "lat", "lon"):
            nums += _numbers(t.get(k))
        if t.get("type") == "choropleth":
            nums += [v for v in _numbers(t.get("z")) if v != 0]
        if t.get("type") == "sankey":
            nums += _numbers(t.get("link", {}).get("value"))
    return nums


def _expected_rows(fig_id: str, fig: dict[str, Any]) -> int:
    """How many CSV rows the chart's points make, by chart."""
    data = fig["data"]

    def n(t: dict[str, Any], k: str) -> int:
        return len(_array(t.get(k)))

    if fig_id in ("fig-chain", "fig-fan"):  # stacked / banded traces over the same x: one row per x
        return n(data[0], "x")
    if fig_id == "fig-compare":  # median and P95 traces of each run: one row per run and month
        return sum(n(t, "x") for t in data) // 2
    if fig_id in ("fig-map", "fig-invest-map"):  # shaded areas with a value, plus markers
        return (sum(sum(1 for v in _numbers(t.get("z")) if v != 0) for t in data if t["type"] == "choropleth")
                + sum(n(t, "lat") for t in data if t["type"] == "scattergeo"))
    if fig_id == "fig-sankey":
        return len(_array(data[0]["link"]["value"]))
    if fig_id == "fig-timeline":
        return sum(n(t, "y") for t in data)
    if fig_id in ("fig-trend", "fig-itrend", "fig-countries") or fig_id.startswith("fig-"):
        return sum(n(t, "x") for t in data)  # one row per drawn point
    raise AssertionError(f"no row rule for chart {fig_id}: add one")


def _csv_numbers(df: pd.DataFrame) -> set[str]:
    keys = set()
    for c in df.columns:
        for v in pd.to_numeric(df[c], errors="coerce").dropna():
            keys |= {_key(float(v)), _key(100 * float(v)), _key(float(v) * DAY_MS)}
    return keys


def _check_page(env: dict[str, Any], url: str, headers: dict[str, str] | None = None) -> list[tuple[str, str]]:
    r = env["client"].get(url, headers=headers or env["h"])
    assert r.status_code == 200, (url, r.status_code)
    divs = FIG_DIV.findall(r.text)
    figs = {i: json.loads(t) for i, t in FIG_JSON.findall(r.text)}
    links = {i: html.unescape(u) for u, i in DATA_LINK.findall(r.text)}
    assert divs and set(divs) == set(figs), url
    checked = []
    for fig_id in divs:
        assert fig_id in links, f"{url}: chart {fig_id} has no 'Chart data (CSV)' link"
        link = links[fig_id]
        assert link.startswith("/tables/") or link.startswith("/api/"), link
        d = env["client"].get(link, headers=headers or env["h"])
        assert d.status_code == 200, (url, fig_id, link, d.text[:200])
        assert d.headers["content-type"].startswith("text/csv"), link
        df = pd.read_csv(io.StringIO(d.text))
        fig = figs[fig_id]
        assert len(df) == _expected_rows(fig_id, fig), f"{url} {fig_id}: {len(df)} rows for the chart's points"
        assert len(df) > 0, f"{url} {fig_id}: no data"
        have = _csv_numbers(df)
        missing = [v for v in _drawn(fig) if _key(v) not in have]
        assert not missing, f"{url} {fig_id}: drawn values not in the CSV: {missing[:5]}"
        checked.append((fig_id, link))
    return checked


PAGES = ["/", "/?importer=USA&year=2022", "/chains/rare-earth-magnets", "/chains/rare-earth-magnets?stage=magnet",
         "/chains/li-ion-batteries?stage=cells", "/projects", "/projects?chain=rare-earth-magnets&status=operating"]


@pytest.mark.parametrize("url", PAGES)
def test_world_pages_every_chart_has_its_data(env: dict[str, Any], url: str) -> None:
    checked = _check_page(env, url)
    assert len(checked) >= 2


def test_overview_charts_one_link_each(env: dict[str, Any]) -> None:
    ids = [i for i, _ in _check_page(env, "/")]
    assert {"fig-trend", "fig-itrend", "fig-rare-earth-magnets"} <= set(ids)


def test_projects_page_timeline_map_and_investments(env: dict[str, Any]) -> None:
    links = dict(_check_page(env, "/projects?country=USA"))
    assert set(links) == {"fig-map", "fig-timeline", "fig-invest-map"}
    bars = pd.read_csv(io.StringIO(env["client"].get(links["fig-timeline"], headers=env["h"]).text))
    assert (bars["country"] == "USA").all() and len(bars) > 10
    ended = bars.dropna(subset=["end"])
    assert (pd.to_datetime(ended["end"]) >= pd.to_datetime(ended["start"])).all()
    assert (ended["days"] == (pd.to_datetime(ended["end"]) - pd.to_datetime(ended["start"])).dt.days).all()
    page = env["client"].get("/projects", headers=env["h"]).text
    assert "us-states.geojson" in page and 'id="investment-table"' in page
    inv = env["client"].get("/tables/investments.csv", headers=env["h"])
    assert inv.status_code == 200 and len(pd.read_csv(io.StringIO(inv.text))) > 100
    xl = env["client"].get("/tables/investments.xlsx", headers=env["h"])
    assert list(pd.read_excel(io.BytesIO(xl.content), sheet_name=None)) == ["investments", "sources"]
    geo = env["client"].get("/geo/us-states.geojson", headers=env["h"])
    assert geo.status_code == 200 and len(geo.json()["features"]) >= 50
    assert env["client"].get("/geo/us-states.geojson", follow_redirects=False).status_code == 303


def test_run_and_compare_charts_carry_the_marking(env: dict[str, Any]) -> None:
    a, b = env["runs"]
    fan = dict(_check_page(env, f"/runs/{a}"))["fig-fan"]
    d = env["client"].get(fan, headers=env["h"])
    assert d.headers["x-critmin-marking"] == "USA ONLY"
    assert set(pd.read_csv(io.StringIO(d.text))["marking"]) == {"USA ONLY"}
    comp = dict(_check_page(env, f"/compare?a={a}&b={b}"))["fig-compare"]
    d = env["client"].get(comp, headers=env["h"])
    assert d.headers["x-critmin-marking"] == "USA ONLY"  # the intersection of USA ONLY and REL TO USA, JPN
    # a JPN viewer sees run b only: its fan data, but neither a's nor the comparison (404, the id not repeated)
    assert dict(_check_page(env, f"/runs/{b}", env["jp"]))["fig-fan"] == f"/tables/fan.csv?run={b}"
    for url in (f"/tables/fan.csv?run={a}", f"/tables/fan.xlsx?run={a}", comp):
        r = env["client"].get(url, headers=env["jp"])
        assert r.status_code == 404 and a not in r.text, url
    r = env["client"].get("/tables/fan.csv?run=nope", headers=env["h"])
    assert r.status_code == 422 and r.json()["field"] == "run"
    xl = env["client"].get(f"/tables/fan.xlsx?run={a}", headers=env["h"])
    assert list(pd.read_excel(io.BytesIO(xl.content), sheet_name=None)) == ["marking", "fan"]


def test_a_chart_without_a_link_fails(env: dict[str, Any]) -> None:
    """The check itself: a page whose chart lost its link is caught."""
    page = env["client"].get("/projects", headers=env["h"]).text
    broken = re.sub(r'<a href="[^"]+" data-chart-data="fig-timeline"', "<a", page)
    ids = FIG_DIV.findall(broken)
    links = {i for _, i in DATA_LINK.findall(broken)}
    assert "fig-timeline" in ids and "fig-timeline" not in links


SECRET_PROJECT = "zq-usa-only-chart-project"
SECRET_INVESTMENT = "zq-usa-only-chart-investment"


@pytest.fixture(scope="module")
def reg_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A store holding the registry (public) and one project and one investment only US readers may see."""
    from critmin import registry

    emb = registry.load()
    p = emb.project("mp-independence").model_dump(mode="json", by_alias=True, exclude_none=True)
    p["id"], p["name"] = SECRET_PROJECT, "Zq secret magnet plant"
    v = next(i for i in emb.investments if i.destination_state).model_dump(mode="json", by_alias=True,
                                                                           exclude_none=True)
    v["id"], v["amount_m"], v["project_id"] = SECRET_INVESTMENT, 123456.0, SECRET_PROJECT
    v.pop("part_of", None)
    folder = tmp_path_factory.mktemp("secret-registry")
    (folder / "projects_secret.json").write_text(json.dumps({"projects": [p]}))
    (folder / "investments_secret.json").write_text(json.dumps({"investments": [v]}))
    store = Store(str(tmp_path_factory.mktemp("chartreg") / "store.db"))
    store.add_user("root", "USA", "admin")
    store.add_user("us", "USA", "viewer")
    store.add_user("jp", "JPN", "viewer")
    store.import_registry(store.actor("root"))
    store.import_registry(store.actor("root"), str(folder), {"originator": "USA", "rel_to": ["USA"]})
    client = TestClient(create_app(store, critmin.load()), raise_server_exceptions=False)
    yield {"client": client, "h": {"Authorization": f"Bearer {store.issue_token('us', days=1)}"},
           "jp": {"Authorization": f"Bearer {store.issue_token('jp', days=1)}"}}
    client.close()
    store.dispose()


def test_registry_chart_data_is_the_callers_view(reg_env: dict[str, Any]) -> None:
    """The projects page's charts and downloads read the caller's view of the store's registry: a USA ONLY
    project and investment are in a US reader's timeline, map and investment data, never in a JPN reader's."""
    for who, sees in (("h", True), ("jp", False)):
        links = dict(_check_page(reg_env, "/projects?country=USA", reg_env[who]))
        texts = {name: reg_env["client"].get(link, headers=reg_env[who]).text for name, link in links.items()}
        for name in ("/tables/investments.csv", "/tables/projects.csv", "/tables/investments-by-state.csv"):
            texts[name] = reg_env["client"].get(name, headers=reg_env[who]).text
        texts["page"] = reg_env["client"].get("/projects", headers=reg_env[who]).text
        assert (SECRET_PROJECT in texts["fig-timeline"]) == sees
        assert (SECRET_INVESTMENT in texts["/tables/investments.csv"]) == sees
        if not sees:
            for name, text in texts.items():
                assert SECRET_PROJECT not in text and SECRET_INVESTMENT not in text, name
                assert "123456" not in text and "123,456" not in text, name
