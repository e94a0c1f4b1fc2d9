"""``critmin users``, ``critmin audit`` and ``--db`` / ``CRITMIN_DB`` (in-process CLI runs)."""

from __future__ import annotations

import json
import re

from sqlalchemy import text

from critmin.store import Store


def test_users_add_token_list_and_audit_verify(cli, tmp_path) -> None:
    db = str(tmp_path / "cli.db")
    r = cli("users", "add", "hana", "--nationality", "JPN", "--role", "releaser", "--password-stdin", "--db", db,
            input="sakura-password\n")
    assert r.returncode == 0, r.stderr
    r = cli("users", "token", "hana", "--days", "2", "--db", db)
    assert r.returncode == 0 and re.fullmatch(r"cm_[A-Za-z0-9_-]{43}\n", r.stdout), r.stdout  # the token alone
    store = Store(db)
    assert store.actor_for_token(r.stdout.strip()).nationality == "JPN"
    assert store.authenticate("hana", "sakura-password") is not None
    r = cli("users", "add", "sam", "--nationality", "USA", "--role", "viewer", "--no-password",
            env={"CRITMIN_DB": db})  # CRITMIN_DB picks the store as --db does
    assert r.returncode == 0, r.stderr
    users = json.loads(cli("users", "list", "--json", "--db", db).stdout)
    assert [(u["name"], u["nationality"], u["role"], u["tokens"]) for u in users] == [
        ("hana", "JPN", "releaser", 1), ("sam", "USA", "viewer", 0)]
    r = cli("audit", "verify", "--db", db)
    assert r.returncode == 0 and "4 records, chain intact" in r.stdout
    with store.engine.begin() as c:
        c.execute(text("UPDATE audit SET detail = '999 days' WHERE action = 'token.issue'"))
    r = cli("audit", "verify", "--db", db)
    assert r.returncode == 1 and "record 2: content does not match its hash" in r.stderr
    store.dispose()


def test_bad_store_input_is_one_line_exit_2(cli, tmp_path) -> None:
    db = str(tmp_path / "cli.db")
    cases = [
        (("users", "add", "x", "--nationality", "FRA", "--role", "viewer", "--no-password", "--db", db),
         "error: nationality: FRA: use one of USA, JPN"),
        (("users", "add", "x", "--nationality", "USA", "--role", "boss", "--no-password", "--db", db),
         "error: role: boss: use one of viewer, analyst, releaser, admin"),
        (("users", "token", "ghost", "--db", db), "error: name: ghost: no such account"),
        (("users", "token", "ghost", "--days", "0", "--db", db), "error: days: 0.0: must be more than 0"),
        (("users", "list", "--db", "mysql://h/db"), "error: db: mysql://h/db: critmin stores on SQLite or PostgreSQL"),
        (("users", "list", "--db", str(tmp_path / "no" / "such" / "x.db")), "the folder of this SQLite file"),
    ]
    for args, msg in cases:
        r = cli(*args, input="short\n")
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    r = cli("users", "add", "y", "--nationality", "USA", "--role", "viewer", "--password-stdin", "--db", db,
            input="short\n")
    assert r.returncode == 2 and "password: must be at least 8 characters" in r.stderr


def test_report_html_and_pdf_with_a_labelled_run(cli, tmp_path) -> None:
    import critmin
    from critmin.store.worker import Worker
    from critmin.web.briefing import chromium_available

    db = str(tmp_path / "cli.db")
    store = Store(db)
    us = store.add_user("amy", "USA", "analyst")
    store.add_user("ken", "JPN", "viewer")
    rid = store.create_run(us, "ree-magnet-embargo-us-jpn-12m", runs=20, seed=1, horizon=6)
    Worker(store, world=critmin.load()).run_once()
    html, pdf = tmp_path / "b.html", tmp_path / "b.pdf"
    args = ["report", "--run", rid, "--as", "amy", "--db", db, "--html", html]
    if chromium_available():
        args += ["--pdf", pdf]
    r = cli(*args)
    assert r.returncode == 0, r.stderr
    assert html.read_text().count(">USA ONLY</div>") == 2 and "ree-magnet-embargo-us-jpn-12m" in html.read_text()
    if chromium_available():
        assert pdf.read_bytes().startswith(b"%PDF")
    r = cli("report", "--run", rid, "--as", "ken", "--db", db, "--html", html)
    assert r.returncode == 2 and f"error: --run: {rid}: no such run visible to ken" in r.stderr
    assert [a["outcome"] for a in store.audit_log() if a["action"] == "run.briefing"] == ["ok", "denied"]
    store.dispose()


def test_store_import_and_export_registry(cli, tmp_path) -> None:
    from critmin import registry

    db = str(tmp_path / "cli.db")
    Store(db).add_user("root", "JPN", "admin")
    r = cli("store", "import-registry", "--as", "root", "--rel-to", "JPN", "--db", db)
    n = len(registry.load().projects)
    assert r.returncode == 0 and f"imported {n} projects" in r.stdout, r.stderr
    r = cli("store", "export-registry", tmp_path / "out", "--as", "root", "--db", db)
    assert r.returncode == 0 and "(JPN ONLY)" in r.stdout
    assert len(registry.load(str(tmp_path / "out")).projects) == n
    r = cli("store", "import-registry", "--as", "root", "--rel-to", "FRA", "--db", db)
    assert r.returncode == 2 and "rel_to" in r.stderr
    Store(db).add_user("viewer", "JPN", "viewer")
    r = cli("store", "import-registry", "--as", "viewer", "--db", db)
    assert r.returncode == 2 and "error: --as: role: importing the registry needs the admin role" in r.stderr
