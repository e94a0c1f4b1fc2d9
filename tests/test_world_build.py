"""Issue 2, Done-when 1 and 2: ``data info --json`` names every table's sources and licences, and
``data build`` is deterministic (a fresh build equals the committed embedded World)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import EMBEDDED_WORLD_DIR

from critmin.build import TABLES, _normalise, table_digest
from critmin.world import CORE_TABLES, load


def test_data_info_json_lists_tables_with_sources_and_licences(cli) -> None:
    res = cli("data", "info", "--json")
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    assert len(info["checksum"]) == 64 and int(info["checksum"], 16) >= 0
    names = [t["name"] for t in info["tables"]]
    assert set(CORE_TABLES) <= set(names)
    for t in info["tables"]:
        assert isinstance(t["rows"], int) and t["rows"] > 0, t["name"]
        assert t["sources"], f"table {t['name']} has no source"
        for s in t["sources"]:
            assert s.get("name") and s.get("title"), (t["name"], s)
            assert s.get("license"), f"table {t['name']}: source {s.get('name')} has no licence"
        assert t["licenses"] and all(lic.get("name") for lic in t["licenses"]), t["name"]
        assert t["fields"], t["name"]
    # Every id used in a table's 'source' column is explained with its licence.
    assert {s["id"] for s in info["source_ids"]} >= {"wmd", "usgs-mcs-2025", "iea-2025", "baci-hs92-v202401b"}


def test_data_info_plain_text(cli) -> None:
    res = cli("data", "info")
    assert res.returncode == 0, res.stderr
    assert "trade" in res.stdout and "etalab-2.0" in res.stdout


def test_every_table_column_is_documented() -> None:
    world = load()
    for res in world.datapackage["resources"]:
        df = world.table(res["name"])
        documented = [f["name"] for f in res["schema"]["fields"]]
        assert list(df.columns) == documented, res["name"]
        assert len(df) == res["rows"], res["name"]


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_fresh_build_equals_committed_world(fresh_world: Path) -> None:
    """The committed World is what `critmin data build` makes today (built twice: then and now)."""
    fresh, committed = _manifest(fresh_world), _manifest(EMBEDDED_WORLD_DIR)
    fresh_hashes = {r["name"]: (r["hash"], r["rows"]) for r in fresh["resources"]}
    committed_hashes = {r["name"]: (r["hash"], r["rows"]) for r in committed["resources"]}
    for name in fresh_hashes.keys() | committed_hashes.keys():
        assert fresh_hashes.get(name) == committed_hashes.get(name), f"table {name} differs; rebuild the World"
    assert fresh["checksum"] == committed["checksum"]
    assert fresh == committed  # the whole datapackage, metadata included
    chains = sorted(p.name for p in (fresh_world / "chains").glob("*.yaml"))
    assert chains == sorted(p.name for p in (EMBEDDED_WORLD_DIR / "chains").glob("*.yaml")) == fresh["chains"]


@pytest.mark.slow
def test_table_hashes_match_file_contents(fresh_world: Path) -> None:
    """Each table's recorded hash is the digest of what is on disk (the build is its own reference)."""
    world = load(fresh_world)
    for res in world.datapackage["resources"]:
        assert res["hash"] == f"sha256:{table_digest(_normalise(res['name'], world.table(res['name'])))}", res["name"]
    assert set(TABLES) == set(world.table_names)


@pytest.mark.slow
def test_build_is_deterministic_in_process(fresh_world: Path, tmp_path: Path) -> None:
    """Writing the same tables twice gives identical bytes for every CSV table and the same checksum."""
    from critmin.build import write_world

    world = load(fresh_world)
    tables = {n: world.table(n) for n in world.table_names}
    chains = {p.name: p.read_bytes() for p in sorted((fresh_world / "chains").glob("*.yaml"))}
    a = write_world(tables, chains, tmp_path / "a")
    b = write_world(tables, chains, tmp_path / "b")
    assert a["checksum"] == b["checksum"] == world.checksum
    for res in a["resources"]:
        if res["format"] == "csv":
            assert (tmp_path / "a" / res["path"]).read_bytes() == (fresh_world / res["path"]).read_bytes()


def test_publish_puts_the_previous_world_back_when_the_swap_fails(tmp_path: Path, monkeypatch) -> None:
    """A failed swap leaves the previous World where it was, whole: the atomic exchange failing outright, and,
    on a file system without an exchange (EINVAL), the second of the two fallback renames failing."""
    import errno
    import os

    from critmin import atomic
    from critmin.datapackage import publish_world

    out = tmp_path / "world"
    out.mkdir()
    (out / "datapackage.json").write_text("old", encoding="utf-8")
    new = tmp_path / "new"
    new.mkdir()
    real_exchange, real_replace = atomic.exchange, os.replace

    def exchange_failing(a, b):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "exchange", exchange_failing)
    with pytest.raises(OSError, match="No space left"):
        publish_world(new, out, {"name": "new"})
    assert (out / "datapackage.json").read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "world"]

    def no_exchange(a, b):
        raise OSError(errno.EINVAL, "Invalid argument")

    def replace_failing_for_new(src, dst):
        if Path(src) == new:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(atomic, "exchange", no_exchange)
    monkeypatch.setattr(os, "replace", replace_failing_for_new)
    with pytest.raises(OSError, match="No space left"):
        publish_world(new, out, {"name": "new"})
    assert (out / "datapackage.json").read_text(encoding="utf-8") == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "world"]
    monkeypatch.setattr(atomic, "exchange", real_exchange)
    monkeypatch.setattr(os, "replace", real_replace)
    publish_world(new, out, {"name": "new"})
    assert json.loads((out / "datapackage.json").read_text(encoding="utf-8")) == {"name": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world"]
