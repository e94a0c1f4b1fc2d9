"""``critmin projects``/``critmin invest`` read the store's registry (``--db``/``CRITMIN_DB`` + ``--as``); ``projects
add --db`` stores labelled projects; the one rule is ``critmin.store.registry_store.registry_for`` (in process)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from critmin import registry
from critmin.errors import InputError
from critmin.store import Forbidden, Store
from critmin.store.registry_store import add_registry_records, registry_for, registry_view

NEW_PROJECT = (
    "projects:\n- id: secret-us-magnet-line\n  name: Test magnet line\n  owners: [Test Co]\n  country: USA\n"
    "  state: TX\n  chain: rare-earth-magnets\n  stage: magnet\n  material: ndfeb\n  status: announced\n"
    "  announced_year: 2025\n  milestones: [{date: 2025-11-03, event: Announced, source: 'note 1'}]\n"
    "  sources: ['https://example.org/test-release']\n"
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite store with the embedded registry imported (public) and four accounts; no added projects."""
    path = str(tmp_path_factory.mktemp("regstore") / "s.db")
    store = Store(path)
    admin = store.add_user("root", "USA", "admin")
    store.add_user("amy", "USA", "analyst")
    store.add_user("ken", "JPN", "viewer")
    store.add_user("kaz", "JPN", "analyst")
    store.add_user("val", "USA", "viewer")
    store.import_registry(admin)
    store.dispose()
    return path


def _ids(r) -> set[str]:  # noqa: ANN001 - a CliResult
    assert r.returncode == 0, r.stderr
    return {x["id"] for x in json.loads(r.stdout)}


def test_a_usa_only_project_is_seen_by_us_accounts_only(cli, db: str, tmp_path: Path) -> None:
    f = tmp_path / "new.yaml"
    f.write_text(NEW_PROJECT)
    r = cli("projects", "add", str(f), "--db", db, "--as", "amy")
    assert r.returncode == 0 and "added 1 project(s): secret-us-magnet-line" in r.stdout, r.stderr
    embedded = {p.id for p in registry.load().projects}
    jp = _ids(cli("projects", "list", "--json", "--db", db, "--as", "ken"))
    us = _ids(cli("projects", "list", "--json", "--as", "val", env={"CRITMIN_DB": db}))  # the env var picks it
    assert jp == embedded and us == embedded | {"secret-us-magnet-line"}
    r = cli("projects", "show", "secret-us-magnet-line", "--json", "--db", db, "--as", "ken")
    assert r.returncode == 2 and "no such project" in r.stderr and "Traceback" not in r.stderr
    r = cli("projects", "show", "secret-us-magnet-line", "--json", "--db", db, "--as", "val")
    assert r.returncode == 0 and json.loads(r.stdout)["state"] == "TX"
    # the same id again, by anyone: the file path's message, which names no label (a JPN analyst cannot
    # tell a USA ONLY record from a public one)
    for who in ("amy", "kaz"):
        r = cli("projects", "add", str(f), "--db", db, "--as", who)
        assert r.returncode == 2 and "duplicate project id 'secret-us-magnet-line'" in r.stderr, r.stderr
        assert "USA" not in r.stderr.split("duplicate")[1]
    store = Store(db)
    adds = [(a["actor"], a["label"], a["outcome"]) for a in store.audit_log() if a["action"] == "registry.add"]
    assert adds == [("amy", "USA ONLY", "ok")]
    store.dispose()


def test_invest_summary_and_standing_from_the_store(cli, db: str) -> None:
    r = cli("invest", "summary", "--by", "type", "--json", "--db", db, "--as", "ken")
    assert r.returncode == 0, r.stderr
    files = cli("invest", "summary", "--by", "type", "--json")  # the embedded files: the same public records
    assert json.loads(r.stdout) == json.loads(files.stdout) and json.loads(r.stdout)
    r = cli("projects", "standing", "--json", "--db", db, "--as", "ken")
    assert r.returncode == 0 and len(json.loads(r.stdout)) == len(registry.load().projects)


def test_errors_are_one_line_exit_2(cli, db: str, tmp_path: Path) -> None:
    f = tmp_path / "new.yaml"
    f.write_text(NEW_PROJECT.replace("secret-us-magnet-line", "another-line"))
    cases = [
        (("projects", "list", "--db", db), "error: --as: the store holds registry records"),
        (("invest", "summary", "--db", db), "error: --as: the store holds registry records"),
        (("projects", "list", "--db", db, "--as", "ghost"), "error: --as: ghost: no such account"),
        (("projects", "--registry", str(tmp_path), "list", "--db", db, "--as", "ken"),
         "error: --registry: " + str(tmp_path) + ": a registry folder cannot be combined with a store"),
        (("projects", "add", str(f), "--db", db), "error: --as: adding to the store needs --as NAME"),
        (("projects", "add", str(f), "--db", db, "--as", "ken"), "error: --as: role: adding registry records "
                                                                  "needs the analyst role"),
        (("projects", "add", str(f), "--db", db, "--as", "amy", "--rel-to", "USA,FRA"),
         "error: --rel-to: rel_to: unknown nationality 'FRA'"),
        (("projects", "add", str(f), "--rel-to", "USA"), "error: --rel-to: labels and accounts apply to the store"),
    ]
    for args, msg in cases:
        r = cli(*args)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith(msg), (args, r.stderr)
    assert "another-line" not in _ids(cli("projects", "list", "--json", "--db", db, "--as", "amy"))


def test_files_still_work_without_a_store(cli, tmp_path: Path) -> None:
    reg_dir = tmp_path / "reg"
    assert cli("projects", "init", str(reg_dir)).returncode == 0
    f = tmp_path / "new.yaml"
    f.write_text(NEW_PROJECT)
    assert cli("projects", "--registry", str(reg_dir), "add", str(f)).returncode == 0
    assert "secret-us-magnet-line" in _ids(cli("projects", "--registry", str(reg_dir), "list", "--json"))
    assert "secret-us-magnet-line" not in _ids(cli("projects", "list", "--json"))  # the embedded registry


def test_an_empty_store_shows_the_embedded_registry(cli, tmp_path: Path) -> None:
    db = str(tmp_path / "empty.db")
    Store(db).dispose()
    assert _ids(cli("projects", "list", "--json", "--db", db)) == {p.id for p in registry.load().projects}


def test_registry_for_is_the_one_rule(db: str, tmp_path: Path) -> None:
    """The core function names its parameters (a notebook user gets ``actor``/``path``, not CLI flags)."""
    assert len(registry_for().projects) == len(registry.load().projects)
    with pytest.raises(InputError) as e:
        registry_for(db)
    assert e.value.source == "actor"
    with pytest.raises(InputError) as e:
        registry_for(db, "nobody")
    assert (e.value.source, e.value.problem) == ("actor", "no such account")
    with pytest.raises(InputError) as e:
        registry_for(db, "ken", tmp_path)
    assert e.value.source == "path"
    store = Store(db)
    ken = store.actor("ken")
    assert {p.id for p in registry_view(store, ken).projects} == {p.id for p in registry_for(db, "ken").projects}
    with pytest.raises(Forbidden):
        add_registry_records(store, ken, "project", [{}])
    with pytest.raises(InputError) as e:
        add_registry_records(store, store.actor("amy"), "investment", [{}])
    assert e.value.source == "kind"
    with pytest.raises(Forbidden):  # a label originated by another nationality
        add_registry_records(store, store.actor("amy"), "project", [{}], {"originator": "JPN"})
    raw = registry.read_records_file(_write(tmp_path / "p.yaml", NEW_PROJECT.replace("secret-us", "dup")), "projects")
    with pytest.raises(InputError) as e:  # the same id twice in one batch: nothing stored
        add_registry_records(store, store.actor("amy"), "project", raw + raw)
    assert "duplicate project id 'dup-magnet-line'" in e.value.problem
    assert "dup-magnet-line" not in {p.id for p in store.registry(store.actor("amy")).projects}
    store.dispose()


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_labels_from_rel_to_and_public(cli, db: str, tmp_path: Path) -> None:
    """--rel-to USA,JPN and --public label what is added; the originator is the account's nationality."""
    db = str(shutil.copy(db, tmp_path / "copy.db"))  # the other tests count what the shared store holds
    for pid, who, flags, marking in (("shared-line", "amy", ("--rel-to", "USA,JPN"), "REL TO USA, JPN"),
                                     ("open-line", "kaz", ("--public",), "PUBLIC")):
        f = tmp_path / f"{pid}.yaml"
        f.write_text(NEW_PROJECT.replace("secret-us-magnet-line", pid))
        r = cli("projects", "add", str(f), "--db", db, "--as", who, *flags)
        assert r.returncode == 0, r.stderr
        store = Store(db)
        labels = {p["id"]: lb for p, lb in store.registry_records(store.actor("ken"), "project")}
        assert labels[pid].marking == marking and labels[pid].originator == store.actor(who).nationality
        store.dispose()
    assert {"shared-line", "open-line"} <= _ids(cli("projects", "list", "--json", "--db", db, "--as", "ken"))
