"""The store on SQLite and, when $CRITMIN_TEST_PG names a PostgreSQL server (``.ci/run`` starts one), on
PostgreSQL too: migrations, labels and the one visible_to rule, releases, tokens, the job lease, the audit
chain, and a worker process killed mid-job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from critmin.errors import InputError
from critmin.store import Conflict, Forbidden, Label, NotFound, Store, derive
from critmin.store import db as dbmod
from critmin.store.worker import Worker

PG = os.environ.get("CRITMIN_TEST_PG")
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not PG, reason="set CRITMIN_TEST_PG=postgresql+psycopg://... (.ci/run does)"))]
LABELS = {
    "USA ONLY": {"originator": "USA", "rel_to": ["USA"]},
    "JPN ONLY": {"originator": "JPN", "rel_to": ["JPN"]},
    "REL TO USA, JPN": {"originator": "USA", "rel_to": ["USA", "JPN"]},
    "PUBLIC": {"originator": "JPN", "rel_to": ["JPN"], "public": True},
}


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """An empty store: a SQLite file, or a fresh PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    name = f"critmin_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f"CREATE DATABASE {name}"))
    url = PG.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    st = Store(store_url)
    yield st
    st.dispose()


def _people(st: Store) -> dict:
    return {
        "us_analyst": st.add_user("us_analyst", "USA", "analyst"),
        "jp_analyst": st.add_user("jp_analyst", "JPN", "analyst"),
        "us_viewer": st.add_user("us_viewer", "USA", "viewer"),
        "jp_viewer": st.add_user("jp_viewer", "JPN", "viewer"),
        "us_releaser": st.add_user("us_releaser", "USA", "releaser"),
        "jp_releaser": st.add_user("jp_releaser", "JPN", "releaser"),
    }


def _objects(st: Store, p: dict) -> dict[str, str]:
    out = {}
    for marking, label in LABELS.items():
        who = p["us_analyst"] if label["originator"] == "USA" else p["jp_analyst"]
        out[marking] = st.create_run(who, "baseline", runs=20, seed=1, horizon=6, label=label)
    return out


def test_migrations_upgrade_from_empty_and_downgrade(store_url: str) -> None:
    engine = dbmod.make_engine(store_url)
    assert dbmod.current_revision(engine) is None
    dbmod.upgrade(engine, "0001")  # one step at a time, then down again
    assert dbmod.current_revision(engine) == "0001" and "registry_records" not in dbmod.table_names(engine)
    dbmod.upgrade(engine)
    assert dbmod.current_revision(engine) == "0002"
    assert {"users", "tokens", "runs", "jobs", "audit", "audit_head", "settings", "registry_records"} <= set(
        dbmod.table_names(engine))
    dbmod.downgrade(engine, "0001")
    assert dbmod.current_revision(engine) == "0001" and "registry_records" not in dbmod.table_names(engine)
    dbmod.downgrade(engine)
    assert dbmod.table_names(engine) == ["alembic_version"]
    assert dbmod.current_revision(engine) is None
    dbmod.upgrade(engine)  # and up again on the emptied store
    assert dbmod.current_revision(engine) == "0002"
    if store_url.startswith("sqlite"):
        with engine.connect() as c:
            assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_labels_markings_intersection_and_errors() -> None:
    marks = {m: Label.parse(lb).marking for m, lb in LABELS.items()}
    assert marks == {m: m for m in LABELS}
    assert Label.parse({"originator": "JPN", "rel_to": ["USA"]}).rel_to == ("USA", "JPN")  # originator added
    us, rel, pub = (Label.parse(LABELS[m]) for m in ("USA ONLY", "REL TO USA, JPN", "PUBLIC"))
    assert derive([rel, us], "USA").marking == "USA ONLY"
    assert derive([rel, pub], "JPN").rel_to == ("USA", "JPN")
    assert derive([pub, pub], "USA").public
    with pytest.raises(InputError, match="JPN may not read every input"):
        derive([us, rel], "JPN")
    assert rel.covers(us) and not us.covers(rel) and pub.covers(Label.parse(LABELS["JPN ONLY"]))
    for raw, field in [({"originator": "FRA"}, "originator"), ({"originator": "USA", "rel_to": "USA"}, "rel_to"),
                       ({"originator": "USA", "rel_to": ["XX"]}, "rel_to"), ({"originator": "USA", "public": 1},
                                                                              "public"),
                       ({"originator": "USA", "colour": "red"}, "colour")]:
        with pytest.raises(InputError) as ei:
            Label.parse(raw)
        assert ei.value.field == field


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_visible_to_is_the_read_rule_everywhere(store: Store) -> None:
    p = _people(store)
    objs = _objects(store, p)
    for who in ("us_viewer", "jp_viewer", "us_releaser", "jp_analyst"):
        actor = p[who]
        want = {oid for m, oid in objs.items() if Label.parse(LABELS[m]).readable_by(actor.nationality)}
        assert {r["id"] for r in store.list_runs(actor)} == want
        for m, oid in objs.items():
            if oid in want:
                assert store.get_run(actor, oid)["label"]["marking"] == m
            else:
                with pytest.raises(NotFound):
                    store.get_run(actor, oid)
                with pytest.raises(NotFound):
                    store.run_result(actor, oid)
                with pytest.raises(NotFound):
                    store.cancel_run(actor, oid)
    assert {r["id"] for r in store.list_runs(None)} == {objs["PUBLIC"]}
    denied = [(a["actor"], a["action"]) for a in store.audit_log() if a["outcome"] == "denied"]
    assert ("jp_viewer", "run.read") in denied and ("us_viewer", "run.download") in denied
    assert store.verify_audit().ok


def test_create_run_rules(store: Store) -> None:
    p = _people(store)
    with pytest.raises(Forbidden, match="role"):
        store.create_run(p["us_viewer"], "baseline", runs=20)
    with pytest.raises(Forbidden, match="label.originator"):
        store.create_run(p["us_analyst"], "baseline", runs=20, label=LABELS["JPN ONLY"])
    for kwargs, field in [({"scenario": "no-such"}, "scenario"), ({"runs": 0}, "runs"), ({"seed": -1}, "seed"),
                          ({"horizon": 601}, "horizon"), ({"runs": True}, "runs"),
                          ({"scenario": "/etc/passwd"}, "scenario")]:
        args = {"scenario": "baseline", "runs": 20, **kwargs}
        with pytest.raises(InputError) as ei:
            store.create_run(p["us_analyst"], args.pop("scenario"), **args)
        assert ei.value.source == field
    rid = store.create_run(p["us_analyst"], "baseline", runs=20)
    assert store.get_run(p["us_analyst"], rid)["label"]["marking"] == "USA ONLY"  # default: own nationality


def test_release_only_by_originators_releaser_and_audited(store: Store) -> None:
    p = _people(store)
    objs = _objects(store, p)
    us_only, rel = objs["USA ONLY"], objs["REL TO USA, JPN"]
    with pytest.raises(NotFound):  # cannot see it: 404, not 403
        store.release(p["jp_releaser"], us_only, ["USA", "JPN"])
    with pytest.raises(Forbidden):  # sees it, not of the originator's nationality
        store.release(p["jp_releaser"], rel, ["USA", "JPN"], public=True)
    with pytest.raises(Forbidden):  # of the nationality, not a releaser
        store.release(p["us_analyst"], us_only, ["USA", "JPN"])
    out = store.release(p["us_releaser"], us_only, ["USA", "JPN"])
    assert out["label"]["marking"] == "REL TO USA, JPN"
    assert us_only in {r["id"] for r in store.list_runs(p["jp_viewer"])}
    with pytest.raises(Conflict, match="only widen"):
        store.release(p["us_releaser"], rel, ["USA"], public=False)
    log = store.audit_log()
    releases = [(a["actor"], a["outcome"]) for a in log if a["action"] == "run.release"]
    assert releases == [("jp_releaser", "denied"), ("jp_releaser", "denied"), ("us_analyst", "denied"),
                        ("us_releaser", "ok")]
    ok = next(a for a in log if a["action"] == "run.release" and a["outcome"] == "ok")
    assert ok["label"] == "REL TO USA, JPN" and ok["detail"] == "USA ONLY -> REL TO USA, JPN"
    assert store.verify_audit().ok


def test_tokens_hashed_expiring_and_passwords(store: Store) -> None:
    store.add_user("alice", "USA", "analyst", password="correct horse")
    tok = store.issue_token("alice", days=30)
    assert tok.startswith("cm_") and store.actor_for_token(tok).name == "alice"
    with store.engine.connect() as c:
        stored = [r[0] for r in c.execute(text("SELECT token_hash FROM tokens"))]
    assert tok not in stored and len(stored) == 1 and len(stored[0]) == 64
    short = store.issue_token("alice", days=0.5 / 86400)  # half a second
    time.sleep(0.7)
    assert store.actor_for_token(short) is None
    assert store.actor_for_token(tok + "x") is None and store.actor_for_token("") is None
    assert store.authenticate("alice", "correct horse").nationality == "USA"
    assert store.authenticate("alice", "wrong horse") is None
    assert store.authenticate("nobody", "correct horse") is None
    with pytest.raises(InputError, match="exists"):
        store.add_user("alice", "JPN", "viewer")
    with store.engine.connect() as c:
        pw = c.execute(text("SELECT password_hash FROM users WHERE name = 'alice'")).scalar()
    assert pw.startswith("$argon2")
    outcomes = [a["outcome"] for a in store.audit_log() if a["action"] == "login"]
    assert outcomes == ["ok", "denied", "denied"]


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_audit_chain_verifies_and_detects_tampering(store: Store) -> None:
    p = _people(store)
    _objects(store, p)
    check = store.verify_audit()
    assert check.ok and check.records == 10
    with store.engine.begin() as c:
        original = c.execute(text("SELECT actor FROM audit WHERE seq = 3")).scalar()
        c.execute(text("UPDATE audit SET actor = 'mallory' WHERE seq = 3"))
    bad = store.verify_audit()
    assert not bad.ok and bad.problem.startswith("record 3:")
    with store.engine.begin() as c:
        c.execute(text("UPDATE audit SET actor = :a WHERE seq = 3"), {"a": original})  # put back: intact again
    assert store.verify_audit().ok
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM audit WHERE seq = 10"))  # a removed last record
    gone = store.verify_audit()
    assert not gone.ok and "head" in gone.problem


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_lost_lease_requeues_then_fails_never_stuck_running(store: Store) -> None:
    p = _people(store)
    rid = store.create_run(p["us_analyst"], "baseline", runs=20, horizon=6)
    for attempt in (1, 2, 3):
        job = store.claim(f"w{attempt}", lease=10)
        assert job["run"] == rid and job["attempt"] == attempt
        assert store.get_run(p["us_analyst"], rid)["status"] == "running"
        assert store.claim("other", lease=10) is None  # claimed once only
        assert store.reap(now=time.time()) == []  # lease still valid
        out = store.reap(now=time.time() + 11)
        r = store.get_run(p["us_analyst"], rid)
        if attempt < 3:
            assert out == [(rid, "requeued")] and r["status"] == "queued"
            assert r["message"].startswith("re-queued: worker stopped renewing its lease")
        else:
            assert out == [(rid, "failed")] and r["status"] == "failed"
            assert r["message"].startswith("failed: worker lost 3 times")
    assert not store.heartbeat(job["job"], "w3")  # the lost worker learns it must stop


def test_worker_runs_a_job_and_skips_a_cancelled_one(store: Store) -> None:
    import critmin

    p = _people(store)
    keep = store.create_run(p["us_analyst"], "baseline", runs=20, seed=3, horizon=6)
    drop = store.create_run(p["us_analyst"], "baseline", runs=20, seed=4, horizon=6)
    assert store.cancel_run(p["us_analyst"], drop)["status"] == "cancelled"
    with pytest.raises(Conflict):
        store.cancel_run(p["us_analyst"], drop)
    w = Worker(store, world=critmin.load(), lease=5)
    assert w.run_once() and not w.run_once()
    r = store.get_run(p["us_analyst"], keep)
    assert r["status"] == "done" and r["progress"] == 1.0
    s = r["summary"]
    assert s["runs"] == 20 and s["horizon"] == 6 and len(s["fan"]["p50"]) == 6
    assert s["shortfall"] and {"country", "sector", "mean_t", "p95_t"} <= set(s["shortfall"][0])
    assert store.get_run(p["us_analyst"], drop)["status"] == "cancelled"
    summary, label = store.run_result(p["us_viewer"], keep)
    assert label.marking == "USA ONLY" and summary["seed"] == 3


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_killed_worker_process_job_is_requeued_with_a_message(store: Store, store_url: str) -> None:
    """A real ``critmin worker`` process is killed (SIGKILL) mid-job; after its lease the job is re-queued."""
    p = _people(store)
    rid = store.create_run(p["us_analyst"], "ree-magnet-embargo-us-jpn-12m", runs=4000, seed=1)
    env = {**os.environ, "CRITMIN_DB": store_url}
    proc = subprocess.Popen([sys.executable, "-m", "critmin.cli.main", "worker", "--lease", "1.5", "--poll", "0.2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 90
        while time.monotonic() < end:
            r = store.get_run(p["us_analyst"], rid, summary=False)
            if r["status"] == "running" and r["progress"] > 0:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        assert r["status"] == "running" and 0 < r["progress"] < 1, r
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert store.get_run(p["us_analyst"], rid, summary=False)["status"] == "running"  # lease not yet over
    time.sleep(1.6)
    assert store.reap() == [(rid, "requeued")]
    r = store.get_run(p["us_analyst"], rid, summary=False)
    assert r["status"] == "queued" and "worker stopped renewing its lease" in r["message"]
    assert store.job_states(rid)[0]["attempts"] == 1


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_concurrent_claims_never_share_a_job(store: Store) -> None:
    """Eight threads claim from one queue at once (SKIP LOCKED on PostgreSQL, conditional update on SQLite):
    every job is claimed exactly once."""
    import threading

    p = _people(store)
    rids = {store.create_run(p["us_analyst"], "baseline", runs=5, seed=i) for i in range(12)}
    got: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def claimer(n: int) -> None:
        start.wait()
        while (job := store.claim(f"w{n}", lease=30)) is not None:
            with lock:
                got.append(job["run"])

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == sorted(rids)
    assert all(store.job_states(r)[0]["attempts"] == 1 for r in rids)



def extra_project_folder(tmp_path, new_id: str = "secret-usa-only-project"):
    """A registry folder holding one project: a copy of an embedded one under a new id."""
    import json

    from critmin import registry

    p = registry.load().projects[0].model_dump(mode="json", by_alias=True, exclude_none=True)
    p["id"] = new_id
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "projects_extra.json").write_text(json.dumps({"projects": [p]}))
    return folder


@pytest.mark.parametrize("store_url", BACKENDS, indirect=True)
def test_registry_in_the_store_labelled_import_export(store: Store, tmp_path) -> None:
    from critmin import registry

    p = _people(store)
    admin = store.add_user("root", "USA", "admin")
    with pytest.raises(Forbidden):
        store.import_registry(p["us_releaser"])
    assert not store.has_registry()
    embedded = registry.load()
    assert store.import_registry(admin) == {"projects": len(embedded.projects),
                                            "investments": len(embedded.investments), "skipped": 0}
    folder = extra_project_folder(tmp_path)
    assert store.import_registry(admin, str(folder), {"originator": "USA", "rel_to": ["USA"]})["projects"] == 1
    us, jp = store.registry(p["us_viewer"]), store.registry(p["jp_viewer"])
    assert len(us.projects) == len(embedded.projects) + 1 and len(jp.projects) == len(embedded.projects)
    assert "secret-usa-only-project" in {x.id for x in us.projects}
    assert us.projects_frame().iloc[:0].columns.equals(embedded.projects_frame().columns)
    label = store.export_registry(p["jp_viewer"], tmp_path / "jp")
    assert label.marking == "PUBLIC" and (tmp_path / "jp" / "MARKING.txt").read_text() == "PUBLIC\n"
    back = registry.load(str(tmp_path / "jp"))
    assert [x.id for x in back.projects] == sorted(x.id for x in embedded.projects)
    assert store.export_registry(p["us_viewer"], tmp_path / "us").marking == "USA ONLY"
    # a JPN admin re-importing may not overwrite what it cannot see
    jp_admin = store.add_user("jp_root", "JPN", "admin")
    assert store.import_registry(jp_admin, str(folder))["skipped"] == 1
    assert "secret-usa-only-project" not in {x.id for x in store.registry(p["jp_viewer"]).projects}
    actions = [(a["action"], a["outcome"]) for a in store.audit_log() if a["action"].startswith("registry")]
    assert actions == [("registry.import", "denied"), ("registry.import", "ok"), ("registry.import", "ok"),
                       ("registry.export", "ok"), ("registry.export", "ok"), ("registry.import", "ok")]
