"""Issue 13, item 4: a World whose table files were truncated, edited or swapped, whose ``datapackage.json`` is
malformed or points outside the folder, is named in one line (exit 2) and never read."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from conftest import EMBEDDED_WORLD_DIR
from test_hostile_outputs import one_line_error

import critmin
from critmin.errors import InputError

RESOURCES = json.loads((EMBEDDED_WORLD_DIR / "datapackage.json").read_text(encoding="utf-8"))["resources"]
TABLE_FILES = [(r["name"], r["path"]) for r in RESOURCES]


def _truncate(f: Path) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _edit(f: Path) -> None:
    """Change one byte in the middle, keep the size and put the modification time back."""
    st = f.stat()
    data = bytearray(f.read_bytes())
    i = len(data) // 2
    data[i] = (data[i] + 1) % 256 if chr(data[i]) not in ",\n\"" else data[i]
    data[i - 1] = (data[i - 1] + 1) % 256 if chr(data[i - 1]) not in ",\n\"" else (data[i - 1] ^ 1)
    f.write_bytes(bytes(data))
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))


def _swap(f: Path) -> None:
    """Put another table's file (of the same format) in its place."""
    others = [p for _, p in TABLE_FILES if p != f.name and Path(p).suffix == f.suffix]
    shutil.copyfile(f.parent / others[0], f)


DAMAGE = {"truncated": _truncate, "edited": _edit, "swapped": _swap, "deleted": Path.unlink}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_every_damaged_table_file_is_named(cli, world_copy, tmp_path, kind) -> None:
    """For every table file of the World: damaged, `critmin --world W data info` exits 2 naming the table;
    restored, the World is whole again."""
    env = {"CRITMIN_CACHE": str(tmp_path / "cache")}
    assert cli("--world", world_copy, "data", "info", "--json", env=env).returncode == 0  # fills the stat cache
    for name, rel in TABLE_FILES:
        f = world_copy / rel
        DAMAGE[kind](f)
        res = cli("--world", world_copy, "data", "info", "--json", env=env)
        problem = "is missing" if kind == "deleted" else "damaged table file"
        one_line_error(res, str(world_copy), f"table {name}: ", problem)
        shutil.copyfile(EMBEDDED_WORLD_DIR / rel, f)
    assert cli("--world", world_copy, "data", "info", "--json", env=env).returncode == 0


def test_a_damaged_trade_table_stops_the_brief(cli, world_copy) -> None:
    _truncate(world_copy / "trade.parquet")
    one_line_error(cli("--world", world_copy, "brief", "--importer", "USA,JPN"), "table trade: ", "damaged table file")


def test_the_python_api_names_the_table(world_copy) -> None:
    _edit(world_copy / "countries.csv")
    with pytest.raises(InputError) as err:
        critmin.load(world_copy).table("countries")
    assert err.value.field == "table countries" and "damaged table file countries.csv" in err.value.problem


def _datapackage(world: Path, change) -> None:
    f = world / "datapackage.json"
    dp = json.loads(f.read_text(encoding="utf-8"))
    f.write_text(change(dp) if callable(change) else change, encoding="utf-8")


def _set(path: str, value):
    def change(dp):
        r = next(r for r in dp["resources"] if r["name"] == "countries")
        r[path] = value
        return json.dumps(dp)

    return change


DATAPACKAGES = [
    ("escape_parent", _set("path", "../../../../etc/passwd"), "table countries", "outside the World folder"),
    ("escape_absolute", _set("path", "/etc/passwd"), "table countries", "outside the World folder"),
    ("not_json", "{\"resources\": [", "line 1", "invalid JSON"),
    ("not_object", "[1, 2]", "", "must be a JSON object"),
    ("resources_not_list", "{\"name\": \"critmin-world\", \"resources\": 7}", "resources", "not a list"),
    ("resource_not_object", "{\"resources\": [\"countries\"]}", "resources[0]", "must be an object"),
    ("path_not_text", _set("path", 42), "resources[", "not a file path"),
    ("rows_nan", lambda dp: re.sub(r'"rows": \d+', '"rows": NaN', json.dumps(dp), count=1), "",
     "NaN is not a JSON number"),
    ("rows_fraction", _set("rows", 2.5), "rows", "not a whole number"),
    ("bad_hash", _set("file_hash", "md5:abc"), "file_hash", "not a sha256 hash"),
    ("duplicate_table", lambda dp: json.dumps({**dp, "resources": dp["resources"] + dp["resources"][:1]}),
     "resources[", "listed twice"),
    ("duplicate_key", lambda dp: json.dumps(dp)[:-1] + ", \"resources\": []}", "resources", "duplicate key"),
    ("deep", "[" * 100000 + "]" * 100000, "", "nesting deeper than"),
    ("empty", "", "line 1", "invalid JSON"),
]


@pytest.mark.parametrize(("case", "change", "field", "problem"), DATAPACKAGES, ids=[c[0] for c in DATAPACKAGES])
def test_a_malformed_datapackage_is_named(cli, world_copy, case, change, field, problem) -> None:
    _datapackage(world_copy, change)
    line = one_line_error(cli("--world", world_copy, "data", "query", "SELECT count(*) FROM countries"), problem)
    assert str(world_copy) in line and field in line
    assert "root:" not in line  # /etc/passwd was never read as a table


def test_a_world_replaced_while_in_use_says_so(world_copy, tmp_path) -> None:
    """A reader that opened the World before a new build was swapped in is told to load it again, not that the
    tables are damaged."""
    from critmin.ingest.baci_import import import_baci

    world = critmin.load(world_copy)
    world.table("countries")
    baci = tmp_path / "b.csv"
    baci.write_text("t,i,j,k,v,q\n2022,156,842,260400,124.939,31.956\n", encoding="utf-8")
    import_baci(critmin.load(), [baci], world_copy)
    with pytest.raises(InputError, match="replaced by another build while in use; load it again"):
        world.table("trade")
    assert len(critmin.load(world_copy).table("trade")) > 0
