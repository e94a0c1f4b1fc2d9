"""The web app in process (one app and one SQLite store for the module): the permission matrix generated from
the app's own route table, malformed requests, the API contract, pages with sessions and CSRF, and
schemathesis over every API operation."""

from __future__ import annotations

import io
import os
import re
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

import critmin
from critmin.store import Label, Store
from critmin.store.worker import Worker

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from critmin.web.app import create_app, route_table
from critmin.web.briefing import chromium_available

LABELS = {
    "USA ONLY": {"originator": "USA", "rel_to": ["USA"], "public": False},
    "JPN ONLY": {"originator": "JPN", "rel_to": ["JPN"], "public": False},
    "REL TO USA, JPN": {"originator": "USA", "rel_to": ["USA", "JPN"], "public": False},
    "PUBLIC": {"originator": "JPN", "rel_to": ["JPN"], "public": True},
}
#: The matrix's actors: (name, nationality, role); None is anonymous.
ACTORS = {"anonymous": None, "us_viewer": ("USA", "viewer"), "jp_viewer": ("JPN", "viewer"),
          "us_releaser": ("USA", "releaser"), "admin": ("USA", "admin")}
#: Routes anyone may call: the login form, the OpenAPI document, static files shipped with the package
#: (Plotly's JS, the world boundaries, the empty topojson registration), the health check.
PUBLIC_ROUTES = {("GET", "/login"), ("POST", "/login"), ("GET", "/openapi.json"), ("GET", "/static/plotly.min.js"),
                 ("GET", "/static/geo/world.geojson"), ("GET", "/static/geo-assets.js"), ("GET", "/healthz")}


@dataclass
class Env:
    app: Any
    store: Store
    client: TestClient
    tokens: dict[str, str]
    objects: dict[str, str]  # marking -> run id
    plans: dict[str, str]  # marking -> plan id (stockpile or portfolio)


PG = os.environ.get("CRITMIN_TEST_PG")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG, reason="set CRITMIN_TEST_PG=postgresql+psycopg://... (.ci/run does)"))])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The module's store: a SQLite file, or (in CI) a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("web") / "store.db")
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    name = f"critmin_web_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield PG.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="module")
def env(store_url: str) -> Env:
    store = Store(store_url)
    world = critmin.load()
    app = create_app(store, world, event_poll=0.05)
    tokens = {}
    for name, spec in ACTORS.items():
        if spec:
            store.add_user(name, spec[0], spec[1], password=f"{name}-password")
            tokens[name] = store.issue_token(name, days=1)
    for nat in ("USA", "JPN"):
        store.add_user(f"{nat.lower()}_analyst", nat, "analyst", password="analyst-password")
        tokens[f"{nat.lower()}_analyst"] = store.issue_token(f"{nat.lower()}_analyst", days=1)
    objects = {}
    for seed, (marking, label) in enumerate(LABELS.items()):
        who = store.actor(f"{label['originator'].lower()}_analyst")
        objects[marking] = store.create_run(who, "baseline", runs=20, seed=seed, horizon=6, label=label)
    # the registry in the store: the embedded records (public) and one project only US readers may see
    store.add_user("root", "USA", "admin")
    store.import_registry(store.actor("root"))
    store.import_registry(store.actor("root"), str(_secret_project_folder(store_url)),
                          {"originator": "USA", "rel_to": ["USA"]})
    # one plan per label: portfolios (capacity objective: no simulation) on the creator's view of the store's
    # registry, whose labels they keep (USA ONLY already covers the USA ONLY record; JPN readers see only public
    # records), and a stockpile plan (library scenario, public data) for REL TO USA, JPN
    plans = {}
    for marking, label in LABELS.items():
        who = store.actor(f"{label['originator'].lower()}_analyst")
        if marking == "REL TO USA, JPN":
            params = {"scenario": "ree-magnet-embargo-us-jpn-12m", "runs": 20, "seed": 1}
            plans[marking] = store.create_plan(who, "stockpile", params, label, world=world)
        else:
            params = {"budget_usa": 500, "budget_jpn": 500, "objective": "capacity"}
            plans[marking] = store.create_plan(who, "portfolio", params, label, world=world)
    w = Worker(store, world=world, lease=10)
    while w.run_once():
        pass
    for marking, pid in plans.items():  # the matrix's expectations rest on these labels
        got = store.get_plan(store.actor("admin" if "USA" in marking else "jp_viewer"), pid, summary=False)
        assert got["status"] == "done" and got["label"]["marking"] == marking, got
    client = TestClient(app, raise_server_exceptions=False)
    yield Env(app, store, client, tokens, objects, plans)
    client.close()
    store.dispose()


#: The id of a registry project labelled USA ONLY: no response to a JPN actor may contain it.
SECRET_PROJECT = "usa-only-project-for-the-matrix"


def _secret_project_folder(key: str):  # noqa: ANN202 - a Path
    """A registry folder with one project (an embedded one under :data:`SECRET_PROJECT`'s id)."""
    import json
    import tempfile
    from pathlib import Path

    from critmin import registry

    p = registry.load().projects[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    p["id"] = SECRET_PROJECT
    folder = Path(tempfile.mkdtemp(prefix="critmin-secret-"))
    (folder / "projects_secret.json").write_text(json.dumps({"projects": [p]}))
    return folder


def _auth(env: Env, who: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.tokens[who]}"} if who and who != "anonymous" else {}


def _fill(method: str, path: str, obj: str | None, env: Env) -> tuple[str, dict[str, Any]]:
    """A concrete request for a route: path parameters, required query parameters and a body."""
    url = path
    for param, value in (("{run_id}", obj), ("{plan_id}", obj), ("{chain}", "rare-earth-magnets"),
                         ("{name}", "catalogue"), ("{fmt}", "csv")):
        url = url.replace(param, value or "")
    assert "{" not in url, f"the permission matrix does not know how to fill {path}: add the parameter here"
    kwargs: dict[str, Any] = {}
    if path in ("/api/compare", "/api/compare/download", "/compare"):
        url += f"?a={obj}&b={obj}"
    if path in ("/api/search", "/search"):
        url += "?q=e&limit=200"  # matches nearly everything (runs, plans, projects): unseen ids must not appear
    if method == "POST" and path == "/api/runs":
        kwargs["json"] = {"scenario": "baseline", "runs": 5, "seed": 1, "horizon": 2}
    if method == "POST" and path == "/api/plans":
        kwargs["json"] = {"kind": "portfolio", "budget_usa": 1, "budget_jpn": 1, "objective": "capacity"}
    if method == "POST" and path.endswith("/release"):
        current = next((LABELS[m] for m, oid in [*env.objects.items(), *env.plans.items()] if oid == obj),
                       LABELS["USA ONLY"])
        kwargs["json"] = {"rel_to": current["rel_to"], "public": current["public"]}  # the same label: no change
    if method == "POST" and path in ("/login", "/logout", "/scenarios/launch", "/plans/launch"):
        kwargs["data"] = {"name": "x", "password": "y", "scenario": "baseline", "kind": "stockpile",
                          "csrf_token": "forged"}
    return url, kwargs


def _object_param(path: str) -> bool:
    return "{run_id}" in path or "{plan_id}" in path or path in ("/api/compare", "/api/compare/download", "/compare")


def _objects_for(path: str, env: Env) -> list[tuple[str | None, str | None]]:
    """The labelled objects a route is tried with: plans for plan routes, runs for run routes."""
    if "{plan_id}" in path:
        return list(env.plans.items())
    return list(env.objects.items()) if _object_param(path) else [(None, None)]


def test_permission_matrix_from_the_route_table(env: Env) -> None:
    """Every route × actor × labelled object: anonymous is refused, what one may not see is 404 and never
    appears in any response (lists, pages, downloads, event streams)."""
    routes = route_table(env.app)
    assert len(routes) >= 25
    for path in ("/api/runs/{run_id}/download", "/api/runs/{run_id}/events", "/tables/{name}.{fmt}",
                 "/runs/{run_id}/briefing.pdf", "/api/plans/{plan_id}", "/api/plans/{plan_id}/download",
                 "/api/plans/{plan_id}/events", "/api/plans/{plan_id}/cancel", "/api/plans/{plan_id}/release",
                 "/plans/{plan_id}", "/plans/{plan_id}/briefing", "/plans/{plan_id}/briefing.pdf"):
        assert any(p == path for _, p, _ in routes)
    cells = 0
    for method, path, _ in routes:
        objs = _objects_for(path, env)
        for who, spec in ACTORS.items():
            for marking, oid in objs:
                url, kwargs = _fill(method, path, oid, env)
                r = env.client.request(method, url, headers=_auth(env, who), follow_redirects=False, **kwargs)
                cells += 1
                where = f"{method} {url} as {who}"
                no_printer = r.status_code == 503 and url.split("?")[0].endswith(".pdf") and not chromium_available()
                assert r.status_code < 500 or no_printer, f"{where}: {r.status_code} {r.text[:200]}"
                if spec is None:
                    if (method, path) not in PUBLIC_ROUTES:
                        assert r.status_code in (401, 303), f"{where}: anonymous got {r.status_code}"
                        if r.status_code == 303:
                            assert r.headers["location"].startswith("/login")
                    continue
                visible = {m for m in LABELS if Label.parse(LABELS[m]).readable_by(spec[0])}
                if marking is not None:
                    if marking in visible:
                        assert r.status_code != 404, f"{where}: {marking} is visible, got 404"
                    else:
                        assert r.status_code == 404, f"{where}: {marking} must be 404, got {r.status_code}"
                for m, other in [*env.objects.items(), *env.plans.items()]:
                    if m not in visible:
                        assert other not in r.text, f"{where}: leaks {m} object {other}"
                if spec[0] != "USA":
                    assert SECRET_PROJECT not in r.text, f"{where}: leaks the USA ONLY registry project"
    assert cells > 250


def test_role_and_release_outcomes(env: Env) -> None:
    rel = env.objects["REL TO USA, JPN"]
    jp_only = env.objects["JPN ONLY"]
    c = env.client
    body = {"rel_to": ["USA", "JPN"], "public": False}
    assert c.post(f"/api/runs/{rel}/release", json=body, headers=_auth(env, "jp_viewer")).status_code == 403
    assert c.post(f"/api/runs/{rel}/release", json=body, headers=_auth(env, "us_viewer")).status_code == 403
    assert c.post(f"/api/runs/{jp_only}/release", json=body, headers=_auth(env, "us_releaser")).status_code == 404
    r = c.post(f"/api/runs/{rel}/release", json={"rel_to": ["USA"], "public": False},
               headers=_auth(env, "us_releaser"))
    assert r.status_code == 409 and r.json()["field"] == "rel_to"
    r = c.post("/api/runs", json={"scenario": "baseline", "runs": 5}, headers=_auth(env, "us_viewer"))
    assert r.status_code == 403 and r.json()["field"] == "role"
    jp_csv = c.get("/tables/projects.csv", headers=_auth(env, "jp_viewer"))
    us_csv = c.get("/tables/projects.csv", headers=_auth(env, "us_viewer"))
    assert SECRET_PROJECT not in jp_csv.text and SECRET_PROJECT in us_csv.text
    assert len(us_csv.text.splitlines()) == len(jp_csv.text.splitlines()) + 1


def test_api_contract_launch_progress_download_compare(env: Env) -> None:
    c, h = env.client, _auth(env, "usa_analyst")
    r = c.post("/api/runs", headers=h, json={"scenario": "baseline", "runs": 20, "seed": 7, "horizon": 6,
                                             "label": {"originator": "USA", "rel_to": ["USA"], "public": False}})
    assert r.status_code == 202 and isinstance(r.json()["id"], str)
    rid = r.json()["id"]
    listed = {x["id"]: x for x in c.get("/api/runs", headers=h).json()}
    assert listed[rid]["status"] == "queued" and listed[rid]["label"]["marking"] == "USA ONLY"
    got = c.get(f"/api/runs/{rid}", headers=h).json()
    assert got["status"] == "queued" and got["progress"] == 0 and got["summary"] is None
    r = c.get(f"/api/runs/{rid}/download?format=csv", headers=h)
    assert r.status_code == 409 and "not done" in r.json()["detail"]
    worker = Worker(env.store, world=env.app.state.world)
    while c.get(f"/api/runs/{rid}", headers=h).json()["status"] != "done":  # older queued runs go first
        assert worker.run_once()
    got = c.get(f"/api/runs/{rid}", headers=h).json()
    assert got["status"] == "done" and got["progress"] == 1 and got["summary"]["seed"] == 7
    events = c.get(f"/api/runs/{rid}/events", headers=h)
    assert events.headers["content-type"].startswith("text/event-stream")
    assert '"status": "done"' in events.text and '"progress": 1.0' in events.text
    csv = c.get(f"/api/runs/{rid}/download?format=csv", headers=h)
    df = pd.read_csv(io.StringIO(csv.text))
    assert csv.headers["x-critmin-marking"] == "USA ONLY" and set(df["marking"]) == {"USA ONLY"}
    assert {"country", "sector", "mean_t", "p95_t"} <= set(df.columns) and len(df) == len(got["summary"]["shortfall"])
    xlsx = c.get(f"/api/runs/{rid}/download?format=xlsx", headers=h)
    sheets = pd.read_excel(io.BytesIO(xlsx.content), sheet_name=None)
    assert list(sheets) == ["marking", "shortfall", "price", "stockpile", "fan"]
    assert sheets["marking"]["marking"][0] == "USA ONLY" and len(sheets["fan"]) == 6
    # a comparison takes the intersection of its inputs' labels
    rel = env.objects["REL TO USA, JPN"]
    cmp = c.get(f"/api/compare?a={rel}&b={rid}", headers=h).json()
    assert cmp["label"]["marking"] == "USA ONLY" and cmp["rows"]
    pub = env.objects["PUBLIC"]
    assert c.get(f"/api/compare?a={rel}&b={pub}", headers=h).json()["label"]["marking"] == "REL TO USA, JPN"
    assert c.get(f"/api/compare?a={rel}&b={rid}", headers=_auth(env, "jp_viewer")).status_code == 404
    # cancel: a queued run
    rid2 = c.post("/api/runs", headers=h, json={"scenario": "baseline", "runs": 5}).json()["id"]
    assert c.post(f"/api/runs/{rid2}/cancel", headers=h).json()["status"] == "cancelled"
    assert c.post(f"/api/runs/{rid2}/cancel", headers=h).status_code == 409
    assert c.get("/docs").status_code == 404  # no Swagger UI: it would load JS from a CDN
    spec = c.get("/openapi.json").json()
    assert {"/api/runs", "/api/runs/{run_id}", "/api/runs/{run_id}/release"} <= set(spec["paths"])


MALFORMED = [
    # (method, path, request kwargs, status, field named in the detail)
    ("POST", "/api/runs", {"content": b'{"scenario": "baseline", ', "headers": {"content-type": "application/json"}},
     422, "body"),
    ("POST", "/api/runs", {"json": []}, 422, "body"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "runs": "ten"}}, 422, "runs"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "runs": 0}}, 422, "runs"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "runs": 10**9}}, 422, "runs"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "runs": 1.5}}, 422, "runs"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "runs": True}}, 422, "runs"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "seed": -1}}, 422, "seed"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "horizon": 0}}, 422, "horizon"),
    ("POST", "/api/runs", {"json": {"scenario": 123}}, 422, "scenario"),
    ("POST", "/api/runs", {"json": {"scenario": "no-such-scenario"}}, 422, "scenario"),
    ("POST", "/api/runs", {"json": {"scenario": "base\u0000line"}}, 422, "scenario"),
    ("POST", "/api/runs", {"json": {"runs": 5}}, 422, "scenario"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "label": "USA"}}, 422, "label"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "label": {"originator": "FRA", "rel_to": ["USA"]}}},
     422, "label.originator"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "label": {"originator": "USA", "rel_to": "USA"}}},
     422, "label.rel_to"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "label": {"originator": "USA", "rel_to": ["XXX"]}}},
     422, "label.rel_to"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "label": {"originator": "USA", "rel_to": ["USA"],
                                                                      "public": "yes"}}}, 422, "label.public"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "colour": "red"}}, 422, "colour"),
    ("POST", "/api/runs", {"json": {"scenario": "baseline", "label": {"originator": "JPN", "rel_to": ["JPN"]}}},
     403, "label.originator"),
    ("POST", "/api/runs", {"content": b'{"scenario": "' + b"x" * 2_000_000 + b'"}',
                           "headers": {"content-type": "application/json"}}, 413, "body"),
    ("GET", "/api/runs/0123456789abcdef0123456789abcdef", {}, 404, "run_id"),
    ("GET", "/api/runs/not-an-id", {}, 422, "run_id"),
    ("GET", "/api/runs/abc%00def", {}, 400, "path"),
    ("GET", "/api/runs/{rel}/download?format=pdf", {}, 422, "format"),
    ("GET", "/api/runs/{rel}/download?format=cs%00v", {}, 400, "format"),
    ("GET", "/api/compare?a={rel}", {}, 422, "b"),
    ("POST", "/api/runs/{rel}/release", {"json": {"rel_to": []}}, 422, "rel_to"),
    ("POST", "/api/runs/{rel}/release", {"json": {"rel_to": ["USA"], "public": "no"}}, 422, "public"),
    ("POST", "/api/runs/{rel}/release", {"content": b"rel_to=USA"}, 422, "body"),
    ("GET", "/api/runs", {"headers": {"Authorization": "Bearer cm_expired"}}, 401, "authorization"),
    ("GET", "/api/runs", {"headers": {"Authorization": "Basic dXM6cGFzcw=="}}, 401, "authorization"),
    ("DELETE", "/api/runs", {}, 405, "method"),
    ("GET", "/api/nothing-here", {}, 404, "path"),
    ("GET", "/risk?metric=magic", {}, 422, "metric"),
    ("GET", "/risk?year=20x2", {}, 422, "year"),
    ("GET", "/chains/no-such-chain", {}, 422, "chain"),
    ("GET", "/tables/nothing.csv", {}, 422, "name"),
]


@pytest.mark.parametrize("method,path,kwargs,status,field", MALFORMED,
                         ids=[f"{i}-{m[0]}-{m[4]}" for i, m in enumerate(MALFORMED)])
def test_malformed_requests_are_4xx_naming_the_field(env: Env, method, path, kwargs, status, field) -> None:
    assert len(MALFORMED) >= 20
    kwargs = dict(kwargs)
    headers = {**_auth(env, "us_releaser"), **kwargs.pop("headers", {})}
    if "expired" in headers.get("Authorization", ""):
        tok = env.store.issue_token("us_viewer", days=1e-9)  # already expired when used
        headers["Authorization"] = f"Bearer {tok}"
    url = path.replace("{rel}", env.objects["REL TO USA, JPN"])
    r = env.client.request(method, url, headers=headers, **kwargs)
    assert r.status_code == status, r.text[:300]
    body = r.json()
    assert body["field"] == field.split(".")[-1] or body["field"] == field, body
    assert body["detail"].startswith(field.split(".")[-1]) or body["detail"].startswith(field), body
    assert "Traceback" not in r.text and "File \"" not in r.text


def _login(client: TestClient, name: str, password: str) -> str:
    page = client.get("/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": name, "password": password, "csrf_token": csrf, "next": "/scenarios"},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/scenarios", r.text[:300]
    page = client.get("/scenarios")
    return re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_pages_sessions_csrf_and_table_downloads(env: Env) -> None:
    with TestClient(env.app, raise_server_exceptions=False) as c:
        assert c.get("/", follow_redirects=False).headers["location"] == "/login?next=%2F"
        page = c.get("/login")
        r = c.post("/login", data={"name": "usa_analyst", "password": "analyst-password", "csrf_token": "forged"})
        assert r.status_code == 403  # login form without the session's CSRF token
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = c.post("/login", data={"name": "usa_analyst", "password": "wrong-password", "csrf_token": csrf})
        assert r.status_code == 401 and "wrong password" in r.text
        token = _login(c, "usa_analyst", "analyst-password")
        trend = pd.read_csv(io.StringIO(c.get("/tables/trend-production.csv").text))
        assert trend["year"].min() == 2018 and trend["year"].max() == 2024 and trend["china_share"].between(0, 1).all()
        for url, text in [("/", "Trends 2018–2024"), ("/chains", "Rare-earth"),
                          ("/chains/rare-earth-magnets?stage=magnet", "Trade at magnet"),
                          ("/risk?metric=hhi-production&year=2022", "hhi"), ("/projects", "Project pipeline"),
                          ("/catalogue", "checksum"), ("/scenarios", "Launch a run"),
                          (f"/runs/{env.objects['USA ONLY']}", "USA ONLY")]:
            r = c.get(url)
            assert r.status_code == 200 and text in r.text, url
            assert "https://" not in r.text.replace("https://doi", "")  # nothing loaded from outside
        assert c.get(f"/runs/{env.objects['JPN ONLY']}").status_code == 404
        assert SECRET_PROJECT in c.get("/projects").text  # the store's registry, as a US reader sees it
        assert SECRET_PROJECT in c.get("/tables/projects.csv").text
        # a session write without the CSRF token is refused; with it, it is done
        assert c.post("/scenarios/launch", data={"scenario": "baseline", "runs": "5"}).status_code == 403
        assert c.post(f"/api/runs/{env.objects['USA ONLY']}/cancel").status_code == 403
        r = c.post("/scenarios/launch", data={"scenario": "baseline", "runs": "5", "horizon": "2", "rel_jpn": "1",
                                              "csrf_token": token}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/runs/")
        rid = r.headers["location"].rsplit("/", 1)[1]
        assert env.store.get_run(env.store.actor("jp_viewer"), rid)["label"]["marking"] == "REL TO USA, JPN"
        r = c.post("/scenarios/launch", data={"scenario": "baseline", "runs": "lots", "csrf_token": token})
        assert r.status_code == 422 and "runs" in r.text
        for name, params in [("brief", ""), ("chain-countries", "?chain=batteries&stage=cells"), ("risk", "?year=2022"),
                             ("projects", ""), ("catalogue", ""), ("scenarios", ""), ("sources", ""),
                             ("trend-production", ""), ("trend-imports", "?importer=USA,EU27"),
                             ("chain-trade", "?chain=rare-earth-magnets&stage=magnet")]:
            csv = c.get(f"/tables/{name}.csv{params}")
            assert csv.status_code == 200 and len(pd.read_csv(io.StringIO(csv.text))) > 0, name
            xl = c.get(f"/tables/{name}.xlsx{params}")
            sheets = list(pd.read_excel(io.BytesIO(xl.content), sheet_name=None))
            assert sheets == list(dict.fromkeys([name, "sources"]))
        assert c.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
        assert c.get("/scenarios", follow_redirects=False).status_code == 303


def test_schemathesis_every_operation_no_failures(tmp_path) -> None:
    """schemathesis against the app (in process, authenticated): every API operation, 0 failures, 0 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    store = Store(str(tmp_path / "fuzz.db"))  # its own store: nothing runs the queued jobs
    store.add_user("fuzzer", "USA", "releaser")
    headers = {"Authorization": f"Bearer {store.issue_token('fuzzer')}"}
    app = create_app(store, critmin.load())
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations, failures, calls = [], [], []
    for result in schema.get_all_operations():
        op = result.ok()
        operations.append(op.label)

        @given(case=op.as_strategy())
        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # noqa: ANN001 - a schemathesis Case
            resp = case.call(headers=headers)
            calls.append(resp.status_code)
            case.validate_response(resp)

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failures, then report
            failures.append(f"{op.label}: {str(exc)[:600]}")
    assert len(operations) >= 11
    assert not failures, "\n".join(failures)
    assert calls and max(calls) < 500
    store.dispose()


def test_briefings_carry_the_run_marking(env: Env) -> None:
    c, h = env.client, _auth(env, "jp_viewer")
    rel = env.objects["REL TO USA, JPN"]
    doc = c.get(f"/runs/{rel}/briefing", headers=h)
    assert doc.status_code == 200 and doc.text.count(">REL TO USA, JPN</div>") == 2  # top and bottom, fixed
    assert doc.text.index("Key findings") < doc.text.index("Exposure") < doc.text.index("Scenario") < \
        doc.text.index("Project pipeline") < doc.text.index("Sources")
    assert "<svg" in doc.text and "<script" not in doc.text and "重要鉱物" in doc.text
    world = c.get("/briefing?importer=EU27", headers=h)
    assert world.status_code == 200 and ">PUBLIC</div>" in world.text and "EU27" in world.text
    assert c.get(f"/runs/{env.objects['USA ONLY']}/briefing", headers=h).status_code == 404
    if chromium_available():
        pdf = c.get(f"/runs/{rel}/briefing.pdf", headers=h)
        assert pdf.content.startswith(b"%PDF") and pdf.headers["x-critmin-marking"] == "REL TO USA, JPN"
        assert pdf.content.count(b"/Type /Page\n") + pdf.content.count(b"/Type /Page ") + \
            pdf.content.count(b"/Type /Page>") >= 2 or b"/Count" in pdf.content
    log = [a for a in env.store.audit_log() if a["action"] == "run.briefing"]
    assert any(a["actor"] == "jp_viewer" and a["outcome"] == "ok" and a["label"] == "REL TO USA, JPN" for a in log)
