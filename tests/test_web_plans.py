"""Plans (stockpile plans and project portfolios) as stored, labelled jobs: the API, the worker, downloads,
release and cancel, malformed requests, the derived-label rule on the store's registry, lease expiry, the pages
and the plan briefing."""

from __future__ import annotations

import io
import json
import re
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import openpyxl
import pandas as pd
import pytest

import critmin
from critmin.store import Store
from critmin.store.worker import Worker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from critmin.web.app import create_app

SCEN = "ree-magnet-embargo-us-jpn-12m"
USA_REL = {"originator": "USA", "rel_to": ["USA", "JPN"], "public": False}


@dataclass
class Env:
    app: Any
    store: Store
    client: TestClient
    tokens: dict[str, str]
    world: Any

    def h(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def drain(self) -> None:
        w = Worker(self.store, world=self.world, lease=10)
        while w.run_once():
            pass


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    store = Store(str(tmp_path_factory.mktemp("plans") / "store.db"))
    world = critmin.load()
    app = create_app(store, world, event_poll=0.05)
    tokens = {}
    for name, nat, role in (("us_analyst", "USA", "analyst"), ("jp_analyst", "JPN", "analyst"),
                            ("us_viewer", "USA", "viewer"), ("us_releaser", "USA", "releaser"),
                            ("jp_releaser", "JPN", "releaser")):
        store.add_user(name, nat, role, password=f"{name}-password")
        tokens[name] = store.issue_token(name, days=1)
    client = TestClient(app, raise_server_exceptions=False)
    yield Env(app, store, client, tokens, world)
    client.close()
    store.dispose()


def _launch(env: Env, who: str, body: dict[str, Any]) -> str:
    r = env.client.post("/api/plans", json=body, headers=env.h(who))
    assert r.status_code == 202, r.text
    return r.json()["id"]


def test_stockpile_plan_launch_progress_summary_downloads(env: Env) -> None:
    c, h = env.client, env.h("us_analyst")
    pid = _launch(env, "us_analyst", {"kind": "stockpile", "scenario": SCEN, "holders": "USA+JPN", "runs": 20,
                                      "seed": 3, "budget": 2e9, "label": USA_REL})
    got = c.get(f"/api/plans/{pid}", headers=h).json()
    assert got["status"] == "queued" and got["kind"] == "stockpile" and got["params"]["runs"] == 20
    assert c.get(f"/api/plans/{pid}/download", headers=h).status_code == 409
    assert c.get(f"/api/runs/{pid}", headers=h).status_code == 404  # a plan is no simulation run
    assert pid not in c.get("/api/runs", headers=h).text
    assert c.get(f"/api/compare?a={pid}&b={pid}", headers=h).status_code == 404
    rid = env.store.create_run(env.store.actor("us_analyst"), "baseline", runs=2, horizon=2)
    r = c.get(f"/api/plans/{rid}", headers=h)  # and a simulation run is no plan
    assert r.status_code == 404 and r.json()["field"] == "plan_id" and rid not in r.text
    assert rid not in c.get("/api/plans", headers=h).text
    env.drain()
    got = c.get(f"/api/plans/{pid}", headers=h).json()
    assert got["status"] == "done" and got["progress"] == 1.0, got
    s = got["summary"]
    assert s["kind"] == "stockpile" and s["runs"] == 20 and s["seed"] == 3 and s["holders_spec"] == "USA+JPN"
    assert {r["holder"] for r in s["plan"]} == {"USA+JPN"}
    for r in s["plan"]:
        assert r["stock_t"] >= 0 and r["cost_usd"] >= 0
        assert r["expected_unmet_t"] <= r["expected_unmet_without_t"] + 1e-6
    assert sum(r["cost_usd"] for r in s["plan"]) <= 2e9 * 1.0001  # the budget (US$) bounds acquisition + holding
    assert {r["rule"] for r in s["rules"]} == {"60 days", "100 days"}
    assert {r["holding"] for r in s["pooled_vs_separate"]} == {"USA+JPN", "USA,JPN"}
    assert "NaN" not in json.dumps(s)
    events = c.get(f"/api/plans/{pid}/events", headers=h)
    assert events.headers["content-type"].startswith("text/event-stream") and '"progress": 1.0' in events.text
    csv = c.get(f"/api/plans/{pid}/download?format=csv", headers=h)
    df = pd.read_csv(io.StringIO(csv.text))
    assert csv.headers["x-critmin-marking"] == "REL TO USA, JPN" and set(df["marking"]) == {"REL TO USA, JPN"}
    assert {"holder", "material", "stock_t", "cost_usd"} <= set(df.columns) and len(df) == len(s["plan"])
    chart = pd.read_csv(io.StringIO(c.get(f"/api/plans/{pid}/download?format=csv&table=chart", headers=h).text))
    assert list(chart.columns) == ["marking", "holder", "material", "stock_t"]
    assert chart["stock_t"].tolist() == pytest.approx([r["stock_t"] for r in s["plan"]])
    xlsx = c.get(f"/api/plans/{pid}/download?format=xlsx", headers=h)
    wb = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert wb.sheetnames[0] == "marking" and {"plan", "rules", "pooled_vs_separate"} <= set(wb.sheetnames)
    assert wb["marking"]["A2"].value == "REL TO USA, JPN"
    assert c.get(f"/api/plans/{pid}/download?format=csv&table=chosen", headers=h).status_code == 422
    # the page: marking top and bottom, chart, tables, chart-data link; the briefing carries the marking
    page = c.get(f"/plans/{pid}", headers=h)
    assert page.status_code == 200 and page.text.count('class="marking') == 2 and "fig-plan" in page.text
    assert "table=chart" in page.text and "plan-table" in page.text and "pooled_vs_separate-table" in page.text
    doc = c.get(f"/plans/{pid}/briefing", headers=env.h("jp_analyst"))
    assert doc.status_code == 200 and doc.text.count(">REL TO USA, JPN</div>") == 2
    assert "optimal stockpile of USA+JPN" in doc.text and "best day rule" in doc.text and 'id="plan"' in doc.text
    log = env.store.audit_log()
    assert any(a["action"] == "plan.briefing" and a["actor"] == "jp_analyst" and a["outcome"] == "ok" for a in log)
    assert any(a["action"] == "plan.download" and a["label"] == "REL TO USA, JPN" for a in log)
    assert any(a["action"] == "plan.create" and a["object"] == f"plan:{pid}" for a in log)


def test_portfolio_plan_release_rules_and_cancel(env: Env) -> None:
    c = env.client
    pid = _launch(env, "us_analyst", {"kind": "portfolio", "budget_usa": 500, "budget_jpn": 500,
                                      "objective": "capacity", "label": {"originator": "USA", "rel_to": ["USA"]}})
    env.drain()
    got = c.get(f"/api/plans/{pid}", headers=env.h("us_analyst")).json()
    assert got["status"] == "done" and got["label"]["marking"] == "USA ONLY" and got["message"] is None
    s = got["summary"]
    assert s["kind"] == "portfolio" and s["objective_kind"] == "capacity" and s["unit"] == "weighted t/yr"
    assert s["chosen"] and len(s["frontier"]) >= 5 and s["budget_usa_usd_m"] == 500
    assert sum(r["usa_cost_usd_m"] for r in s["chosen"]) <= 500 + 1e-6
    assert sum(r["jpn_cost_usd_m"] for r in s["chosen"]) <= 500 + 1e-6
    csv = pd.read_csv(io.StringIO(c.get(f"/api/plans/{pid}/download", headers=env.h("us_analyst")).text))
    assert set(csv["project"]) == {r["project"] for r in s["chosen"]} and set(csv["marking"]) == {"USA ONLY"}
    wb = openpyxl.load_workbook(io.BytesIO(c.get(f"/api/plans/{pid}/download?format=xlsx",
                                                 headers=env.h("us_analyst")).content))
    assert wb.sheetnames == ["marking", "chosen", "rejected", "frontier", "left_out"]
    page = c.get(f"/plans/{pid}", headers=env.h("us_analyst"))
    assert "chosen-table" in page.text and "Efficient frontier" in page.text
    # release: a JPN releaser does not see it (404); a US viewer sees it but may not release it (403)
    body = {"rel_to": ["USA", "JPN"], "public": False}
    assert c.post(f"/api/plans/{pid}/release", json=body, headers=env.h("jp_releaser")).status_code == 404
    assert c.post(f"/api/plans/{pid}/release", json=body, headers=env.h("us_viewer")).status_code == 403
    r = c.post(f"/api/plans/{pid}/release", json=body, headers=env.h("us_releaser"))
    assert r.status_code == 200 and r.json()["label"]["marking"] == "REL TO USA, JPN"
    # now the JPN releaser sees it, but may not release a USA plan
    r = c.post(f"/api/plans/{pid}/release", json={"rel_to": ["USA", "JPN"], "public": True},
               headers=env.h("jp_releaser"))
    assert r.status_code == 403 and r.json()["field"] == "role"
    r = c.post(f"/api/plans/{pid}/release", json={"rel_to": ["USA"]}, headers=env.h("us_releaser"))
    assert r.status_code == 409 and r.json()["field"] == "rel_to"
    # cancel: a queued plan; viewers may not launch
    qid = _launch(env, "us_analyst", {"kind": "portfolio", "budget_usa": 100, "budget_jpn": 100,
                                      "objective": "capacity"})
    assert c.post(f"/api/plans/{qid}/cancel", headers=env.h("us_viewer")).status_code == 403
    assert c.post(f"/api/plans/{qid}/cancel", headers=env.h("us_analyst")).json()["status"] == "cancelled"
    assert c.post(f"/api/plans/{qid}/cancel", headers=env.h("us_analyst")).status_code == 409
    r = c.post("/api/plans", json={"kind": "portfolio", "budget_usa": 1, "budget_jpn": 1},
               headers=env.h("us_viewer"))
    assert r.status_code == 403 and r.json()["field"] == "role"
    listed = c.get("/api/plans", headers=env.h("us_analyst")).json()
    assert {pid, qid} <= {p["id"] for p in listed} and all(p["kind"] in ("stockpile", "portfolio") for p in listed)


STOCK = {"kind": "stockpile", "scenario": SCEN, "runs": 5}
PORT = {"kind": "portfolio", "budget_usa": 100, "budget_jpn": 100}
MALFORMED = [
    ({"kind": "bunker", "scenario": SCEN}, "kind"),
    ({"scenario": SCEN}, "kind"),
    ({**STOCK, "colour": "red"}, "colour"),
    ({**STOCK, "runs": 0}, "runs"),
    ({**STOCK, "runs": 10**6}, "runs"),
    ({**STOCK, "budget": -1}, "budget"),
    ({**STOCK, "budget": "lots"}, "budget"),
    ({**STOCK, "holders": "USA+XXX"}, "holders"),
    ({**STOCK, "holders": "USA+JPN,USA"}, "holders"),
    ({**STOCK, "scenario": "no-such-scenario"}, "scenario"),
    ({**STOCK, "scenario": "sb-us-ban-2024"}, "scenario"),  # a chain without prices in costs.yaml
    ({**STOCK, "scenario": "base\u0000line"}, "scenario"),
    ({**STOCK, "cvar": 1.5}, "cvar"),
    ({**PORT, "budget_usa": -5}, "budget_usa"),
    ({**PORT, "budget_jpn": "ten"}, "budget_jpn"),
    ({**PORT, "objective": "profit"}, "objective"),
    ({**PORT, "require_chains": "no-such-chain"}, "require_chains"),
    ({**PORT, "require_stages": "rare-earth-magnets/no-stage"}, "require_stages"),
    ({**PORT, "holders": "USA"}, "holders"),
    ({**PORT, "label": {"originator": "JPN", "rel_to": ["JPN"]}}, "label.originator"),
]


@pytest.mark.parametrize("body,field", MALFORMED, ids=[f"{i}-{m[1]}" for i, m in enumerate(MALFORMED)])
def test_malformed_plan_requests_are_4xx_naming_the_field(env: Env, body: dict, field: str) -> None:
    r = env.client.post("/api/plans", json=body, headers=env.h("us_analyst"))
    assert 400 <= r.status_code < 500, r.text
    got = r.json()
    assert got["field"] in (field, field.split(".")[-1]), got
    assert got["detail"].startswith(field) or got["detail"].startswith(field.split(".")[-1]), got
    assert "Traceback" not in r.text


def test_budget_nan_is_refused(env: Env) -> None:
    raw = b'{"kind": "stockpile", "scenario": "' + SCEN.encode() + b'", "budget": NaN}'
    r = env.client.post("/api/plans", content=raw, headers={**env.h("us_analyst"), "content-type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] in ("budget", "body"), r.text
    from critmin.errors import InputError

    with pytest.raises(InputError, match="^budget_usa"):
        env.store.create_plan(env.store.actor("us_analyst"), "portfolio",
                              {"budget_usa": float("nan"), "budget_jpn": 1.0}, world=env.world)


def test_portfolio_on_a_usa_only_registry_record_is_usa_only(tmp_path) -> None:
    """A portfolio computed from a store whose registry holds a USA ONLY project comes out USA ONLY although
    REL TO USA, JPN was asked; the message says why; a JPN actor gets 404."""
    from critmin import registry

    store = Store(str(tmp_path / "reg.db"))
    world = critmin.load()
    store.add_user("root", "USA", "admin")
    store.add_user("us", "USA", "analyst")
    store.add_user("jp", "JPN", "releaser")
    store.import_registry(store.actor("root"))
    # one embedded candidate re-labelled USA ONLY
    cand = next(p for p in registry.load().projects if p.id == "ef-white-mesa-phase2")
    folder = tmp_path / "secret"
    folder.mkdir()
    data = cand.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["id"] = "usa-only-candidate"
    (folder / "projects_secret.json").write_text(json.dumps({"projects": [data]}))
    store.import_registry(store.actor("root"), str(folder), {"originator": "USA", "rel_to": ["USA"]})
    us, jp = store.actor("us"), store.actor("jp")
    pid = store.create_plan(us, "portfolio", {"budget_usa": 2000, "budget_jpn": 2000, "objective": "capacity"},
                            USA_REL, world=world)
    Worker(store, world=world).run_once()
    got = store.get_plan(us, pid)
    assert got["status"] == "done", got["message"]
    assert got["label"]["marking"] == "USA ONLY" and "narrowed" in got["message"] and "USA ONLY" in got["message"]
    names = {r["project"] for r in got["summary"]["chosen"] + got["summary"]["rejected"]}
    assert "usa-only-candidate" in names  # the creator's view was used
    from critmin.store import NotFound

    with pytest.raises(NotFound):
        store.get_plan(jp, pid)
    assert pid not in json.dumps(store.list_plans(jp))
    # a JPN analyst's portfolio on the same store reads only public records: it keeps its label
    store.add_user("jpa", "JPN", "analyst")
    qid = store.create_plan(store.actor("jpa"), "portfolio", {"budget_usa": 2000, "budget_jpn": 2000,
                                                              "objective": "capacity"},
                            {"originator": "JPN", "rel_to": ["USA", "JPN"]}, world=world)
    Worker(store, world=world).run_once()
    got = store.get_plan(jp, qid)
    assert got["label"]["marking"] == "REL TO USA, JPN" and got["message"] is None
    assert "usa-only-candidate" not in json.dumps(got["summary"])
    store.dispose()


def test_lease_expiry_requeues_a_plan_job(tmp_path) -> None:
    store = Store(str(tmp_path / "lease.db"))
    world = critmin.load()
    us = store.add_user("us", "USA", "analyst")
    pid = store.create_plan(us, "portfolio", {"budget_usa": 100, "budget_jpn": 100, "objective": "capacity"},
                            world=world)
    job = store.claim("dead-worker", lease=5)
    assert job["kind"] == "portfolio" and job["run"] == pid
    assert store.get_plan(us, pid)["status"] == "running"
    assert store.reap(now=time.time() + 3600) == [(pid, "requeued")]
    got = store.get_plan(us, pid)
    assert got["status"] == "queued" and got["message"].startswith("re-queued")
    assert Worker(store, world=world).run_once()
    assert store.get_plan(us, pid)["status"] == "done"
    assert store.job_states(pid)[-1]["attempts"] == 2
    store.dispose()


def test_cancel_stops_a_running_stockpile_plan(tmp_path) -> None:
    """The worker's progress report sees the cancel and stops; the plan stays cancelled."""
    store = Store(str(tmp_path / "cancel.db"))
    world = critmin.load()
    us = store.add_user("us", "USA", "analyst")
    pid = store.create_plan(us, "stockpile", {"scenario": SCEN, "runs": 10}, world=world)
    w = Worker(store, world=world)
    job = store.claim(w.name, 30)
    store.cancel_plan(us, pid)
    w._run(job)
    got = store.get_plan(us, pid)
    assert got["status"] == "cancelled" and got["summary"] is None
    store.dispose()


def test_plans_pages_launch_through_the_form(env: Env) -> None:
    with TestClient(env.app, raise_server_exceptions=False) as c:
        page = c.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        c.post("/login", data={"name": "jp_analyst", "password": "jp_analyst-password", "csrf_token": csrf})
        plans = c.get("/plans")
        assert plans.status_code == 200 and "Launch a stockpile plan" in plans.text and 'href="/plans"' in plans.text
        token = re.search(r'name="csrf-token" content="([^"]+)"', plans.text).group(1)
        assert c.post("/plans/launch", data={"kind": "stockpile", "scenario": SCEN}).status_code == 403
        r = c.post("/plans/launch", data={"kind": "stockpile", "scenario": SCEN, "runs": "10", "holders": "USA,JPN",
                                          "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/plans/")
        pid = r.headers["location"].rsplit("/", 1)[1]
        assert env.store.get_plan(env.store.actor("jp_analyst"), pid)["label"]["marking"] == "JPN ONLY"
        assert c.get(f"/plans/{pid}").status_code == 200
        r = c.post("/plans/launch", data={"kind": "stockpile", "scenario": SCEN, "runs": "many", "csrf_token": token})
        assert r.status_code == 422 and "runs" in r.text
        r = c.post("/plans/launch", data={"kind": "portfolio", "budget_usa": "", "csrf_token": token})
        assert r.status_code == 422 and "budget_usa" in r.text
    assert env.client.get(f"/plans/{pid}", headers=env.h("us_analyst")).status_code == 404
    env.store.cancel_plan(env.store.actor("jp_analyst"), pid)


def test_report_cli_with_a_plan_and_a_run(cli, tmp_path) -> None:
    """``critmin report --plan ID --run ID --as NAME``: the stockpile section filled, marked with the intersection."""
    db = str(tmp_path / "cli.db")
    store = Store(db)
    world = critmin.load()
    us = store.add_user("amy", "USA", "analyst")
    store.add_user("ken", "JPN", "analyst")
    pid = store.create_plan(us, "stockpile", {"scenario": SCEN, "runs": 10, "holders": "USA,JPN"}, USA_REL,
                            world=world)
    rid = store.create_run(us, "baseline", runs=5, seed=1, horizon=3, label={"originator": "USA", "rel_to": ["USA"]})
    w = Worker(store, world=world)
    while w.run_once():
        pass
    html = tmp_path / "b.html"
    r = cli("report", "--plan", pid, "--as", "amy", "--db", db, "--html", html)
    assert r.returncode == 0, r.stderr
    doc = html.read_text()
    assert doc.count(">REL TO USA, JPN</div>") == 2 and "optimal stockpile of USA" in doc
    assert "optimal stockpile of JPN" in doc and "No scenario run" in doc
    r = cli("report", "--plan", pid, "--run", rid, "--as", "amy", "--db", db, "--html", html)
    assert r.returncode == 0, r.stderr
    assert html.read_text().count(">USA ONLY</div>") == 2  # the intersection of REL TO USA, JPN and USA ONLY
    r = cli("report", "--plan", pid, "--as", "ken", "--db", db, "--html", html)
    assert r.returncode == 0 and "REL TO USA, JPN" in html.read_text()
    r = cli("report", "--plan", rid, "--as", "amy", "--db", db, "--html", html)  # a run id is no plan
    assert r.returncode == 2 and "--plan" in r.stderr and "no such plan" in r.stderr and "Traceback" not in r.stderr
    r = cli("report", "--plan", pid, "--db", db, "--html", html)
    assert r.returncode == 2 and "--as" in r.stderr
    assert any(a["action"] == "plan.briefing" and a["actor"] == "ken" for a in store.audit_log())
    store.dispose()
