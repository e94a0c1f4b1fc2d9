"""Search (``critmin.store.search``, ``GET /api/search``, ``GET /search``): each actor finds exactly what they may
see (runs by label, a USA ONLY registry project), nothing else appears or is counted; bad queries name ``q``."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import critmin
from critmin.errors import InputError
from critmin.store import Label, Store
from critmin.store.search import search

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from critmin.web.app import create_app

LABELS = {
    "USA ONLY": {"originator": "USA", "rel_to": ["USA"], "public": False},
    "JPN ONLY": {"originator": "JPN", "rel_to": ["JPN"], "public": False},
    "REL TO USA, JPN": {"originator": "USA", "rel_to": ["USA", "JPN"], "public": False},
    "PUBLIC": {"originator": "JPN", "rel_to": ["JPN"], "public": True},
}
ACTORS = {"us_viewer": "USA", "jp_viewer": "JPN", "usa_analyst": "USA", "jpn_analyst": "JPN"}
SECRET = "zq-usa-only-search-project"
PG = os.environ.get("CRITMIN_TEST_PG")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG, reason="set CRITMIN_TEST_PG=postgresql+psycopg://... (.ci/run does)"))])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite file, or (with CRITMIN_TEST_PG) a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path_factory.mktemp("search") / "store.db")
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    name = f"critmin_search_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield PG.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def _secret_folder() -> Path:
    """A registry folder holding one project (an embedded one, renamed and re-owned)."""
    from critmin import registry

    p = registry.load().projects[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    p["id"], p["name"], p["owners"] = SECRET, "Zq Secret Separation Plant", ["Zqcorp Holdings"]
    folder = Path(tempfile.mkdtemp(prefix="critmin-search-"))
    (folder / "projects_secret.json").write_text(json.dumps({"projects": [p]}))
    return folder


@pytest.fixture(scope="module")
def env(store_url: str) -> Iterator[dict[str, Any]]:
    store = Store(store_url)
    world = critmin.load()
    tokens = {}
    for name, nat in ACTORS.items():
        store.add_user(name, nat, "analyst" if "analyst" in name else "viewer")
        tokens[name] = store.issue_token(name, days=1)
    runs = {}
    for seed, (marking, label) in enumerate(LABELS.items()):
        who = store.actor(f"{label['originator'].lower()}_analyst")
        runs[marking] = store.create_run(who, "baseline", runs=5, seed=seed, horizon=2, label=label)
    # a plan (another run kind, as the optimisation work stores them) labelled JPN ONLY, written as a row
    from critmin.store.models import Run

    plan = uuid.uuid4().hex
    with store.session() as s:
        s.add(Run(id=plan, kind="stockpile", scenario="zq-plan-scenario", params={}, status="queued",
                  label_originator="JPN", label_rel_to=",JPN,", label_public=False,
                  created_by=store.actor("jpn_analyst").id, created_at=0.0))
    runs["plan"] = plan
    store.add_user("root", "USA", "admin")
    store.import_registry(store.actor("root"), str(_secret_folder()), {"originator": "USA", "rel_to": ["USA"]})
    client = TestClient(create_app(store, world), raise_server_exceptions=False)
    yield {"store": store, "world": world, "client": client, "tokens": tokens, "runs": runs}
    client.close()
    store.dispose()


def _visible(nat: str) -> set[str]:
    return {m for m, lb in LABELS.items() if Label.parse(lb).readable_by(nat)}


def _get(env: dict[str, Any], who: str | None, url: str):  # noqa: ANN202 - an httpx Response
    headers = {"Authorization": f"Bearer {env['tokens'][who]}"} if who else {}
    return env["client"].get(url, headers=headers, follow_redirects=False)


def test_each_actor_finds_exactly_the_runs_it_may_see(env: dict[str, Any]) -> None:
    for who, nat in ACTORS.items():
        actor = env["store"].actor(who)
        want = {env["runs"][m] for m in _visible(nat)}
        hits = search(env["store"], actor, "baseline", 200, env["world"])
        got = {h["id"] for h in hits if h["kind"] == "simulate"}
        assert got == want, who
        assert {h["marking"] for h in hits if h["kind"] == "simulate"} == _visible(nat)
        assert all(h["url"] == f"/runs/{h['id']}" and h["label"]["marking"] == h["marking"]
                   for h in hits if h["kind"] == "simulate")
        # the API answers the same, and no unseen id appears anywhere in the response (not even counted)
        r = _get(env, who, "/api/search?q=baseline&limit=200")
        assert r.status_code == 200
        assert {h["id"] for h in r.json() if h["kind"] == "simulate"} == want
        page = _get(env, who, "/search?q=baseline")
        assert page.status_code == 200
        for m, rid in env["runs"].items():
            if m == "plan":
                continue
            seen = m in _visible(nat)
            assert (rid in r.text) == seen and (rid in page.text) == seen, (who, m)
        assert f"{len(r.json())} results" in page.text or len(r.json()) > 100


def test_plans_are_found_with_their_kind(env: dict[str, Any]) -> None:
    plan = env["runs"]["plan"]
    for who, nat in ACTORS.items():
        for q in ("zq-plan", "stockpile", plan[:12]):
            r = _get(env, who, f"/api/search?q={q}")
            hits = [h for h in r.json() if h["id"] == plan]
            if nat == "JPN":
                assert len(hits) == 1 and hits[0]["kind"] == "stockpile" and hits[0]["marking"] == "JPN ONLY", q
                assert hits[0]["url"] == f"/plans/{plan}"
            else:
                assert hits == [] and plan not in r.text, (who, q)


def test_run_id_prefix_finds_only_visible_runs(env: dict[str, Any]) -> None:
    for marking, rid in env["runs"].items():
        if marking == "plan":
            continue
        for who, nat in ACTORS.items():
            hits = search(env["store"], env["store"].actor(who), rid[:10], 50, env["world"])
            ids = [h["id"] for h in hits]
            assert (rid in ids) == (marking in _visible(nat)), (who, marking)
            if marking not in _visible(nat):
                assert hits == [] or all(h["kind"] != "simulate" for h in hits)


def test_registry_project_labelled_usa_only(env: dict[str, Any]) -> None:
    for who, nat in ACTORS.items():
        for q in (SECRET, "zqcorp", "ZQ SECRET separation"):
            r = _get(env, who, f"/api/search?q={q}")
            assert r.status_code == 200
            hits = [h for h in r.json() if h["id"] == SECRET]
            if nat == "USA":
                assert len(hits) == 1 and hits[0]["kind"] == "project" and hits[0]["marking"] == "USA ONLY", q
                assert hits[0]["label"] == {"originator": "USA", "rel_to": ["USA"], "public": False,
                                            "marking": "USA ONLY"}
            else:
                assert hits == [] and SECRET not in r.text and r.json() == [], q
        page = _get(env, who, "/search?q=zqcorp")
        assert (SECRET in page.text) == (nat == "USA")
        assert ("0 results" in page.text) == (nat != "USA")


def test_world_catalogue_is_public(env: dict[str, Any]) -> None:
    hits = search(env["store"], env["store"].actor("jp_viewer"), "rare-earth", 200, env["world"])
    kinds = {(h["kind"], h["id"]) for h in hits}
    assert ("chain", "rare-earth-magnets") in kinds
    assert all(h["label"] is None and h["marking"] == "PUBLIC" for h in hits if h["kind"] in ("chain", "scenario"))
    tables = search(env["store"], env["store"].actor("jp_viewer"), "production", 200, env["world"])
    assert ("table", "production") in {(h["kind"], h["id"]) for h in tables}
    mats = search(env["store"], env["store"].actor("jp_viewer"), "gallium", 200, env["world"])
    assert any(h["kind"] == "material" and h["url"] == "/risk?material=gallium" for h in mats)


def test_embedded_registry_when_the_store_holds_none(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "bare.db"))
    try:
        jp = store.add_user("jp", "JPN", "viewer")
        hits = search(store, jp, "Mt Weld", 20, critmin.load())
        assert any(h["kind"] == "project" and h["id"] == "lynas-mt-weld" and h["label"] is None for h in hits)
        inv = search(store, jp, "6K Additives", 20, critmin.load())
        assert any(h["kind"] == "investment" and h["marking"] == "PUBLIC" for h in inv)
    finally:
        store.dispose()


def test_limit_and_ranking(env: dict[str, Any]) -> None:
    actor = env["store"].actor("usa_analyst")
    assert len(search(env["store"], actor, "a", 7, env["world"])) == 7
    first = search(env["store"], actor, "baseline", 50, env["world"])[0]
    assert first["id"] == "baseline" or first["kind"] == "simulate"  # exact names come first


@pytest.mark.parametrize("q", ["", "   ", "x" * 201, "a\x00b"])
def test_bad_query_is_an_input_error_naming_q(env: dict[str, Any], q: str) -> None:
    with pytest.raises(InputError) as e:
        search(env["store"], env["store"].actor("us_viewer"), q)
    assert e.value.source == "q"


@pytest.mark.parametrize("limit", [0, 201, True, "5"])
def test_bad_limit_names_limit(env: dict[str, Any], limit: Any) -> None:
    with pytest.raises(InputError) as e:
        search(env["store"], env["store"].actor("us_viewer"), "baseline", limit)
    assert e.value.source == "limit"


@pytest.mark.parametrize("url", ["/api/search?q=", "/api/search?q=%20%20", "/api/search?q=" + "x" * 201,
                                 "/api/search?q=a%00b", "/api/search", "/search?q=" + "y" * 201,
                                 "/search?q=a%00b"])
def test_bad_query_over_http_is_4xx_naming_q(env: dict[str, Any], url: str) -> None:
    r = _get(env, "us_viewer", url) if url.startswith("/api") else env["client"].get(
        url, headers={"Authorization": f"Bearer {env['tokens']['us_viewer']}", "Accept": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert "Traceback" not in r.text
    if url.startswith("/api"):
        assert r.json()["field"] == "q" and r.json()["detail"].startswith("q")
    else:
        assert "q" in r.text


def test_bad_limit_over_http(env: dict[str, Any]) -> None:
    r = _get(env, "us_viewer", "/api/search?q=baseline&limit=500")
    assert r.status_code == 422 and r.json()["field"] == "limit"


def test_anonymous_is_refused(env: dict[str, Any]) -> None:
    assert _get(env, None, "/api/search?q=baseline").status_code == 401
    r = _get(env, None, "/search?q=baseline")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_blank_page_shows_the_form(env: dict[str, Any]) -> None:
    r = _get(env, "jp_viewer", "/search")
    assert r.status_code == 200 and 'name="q"' in r.text and "search-results" not in r.text
