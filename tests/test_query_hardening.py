"""Issue 13 (hardening), part 2: ``critmin data query`` / ``run_query`` is read-only by construction.

One statement, a SELECT by DuckDB's own parser (no quoting style hides a second one); a sandbox with no
file, network or ``.tmp`` access; time, memory and row limits that stop hostile queries with exit 2 and
one line; every DuckDB type printable as JSON and CSV. Every limit case runs with a small limit and
checks that it returns within a few seconds.
"""

from __future__ import annotations

import base64
import io
import json
import time

import pandas as pd
import pytest
from conftest import EMBEDDED_WORLD_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from critmin.errors import InputError
from critmin.query import DEFAULT_MAX_ROWS, DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S, run_query
from critmin.world import World, load


@pytest.fixture(scope="module")
def world() -> World:
    """The embedded World (the one ``critmin data query`` uses without --world)."""
    return load(EMBEDDED_WORLD_DIR)


def one_line_error(res, *parts: str) -> str:
    """The single ``error: SQL: …`` line of a failed run (exit 2, no traceback), checked to hold ``parts``."""
    assert res.returncode == 2, (res.returncode, res.stdout[-500:], res.stderr[-2000:])
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in res.stderr
    for p in parts:
        assert p in lines[0], (p, lines[0])
    return lines[0]


# ------------------------------------------------------------------ the hostile user's examples

HOSTILE = [
    ("SELECT $$'$$ AS a; CREATE TABLE pwn AS SELECT 42 AS x; SELECT * FROM pwn", "only one statement"),
    ("SELECT E'\\'' AS a; CREATE TABLE pwn AS SELECT 42 AS x; SELECT * FROM pwn", "only one statement"),
    ("SELECT $x$';$x$ AS a; DROP VIEW trade; SELECT count(*) FROM trade", "only one statement"),
    ("DROP VIEW trade", "refused: DROP"),
    ("CREATE MACRO pwn(x) AS x + 42", "refused: CREATE"),
    ("ATTACH ':memory:' AS pwn", "refused: ATTACH"),
    ("LOAD json", "refused: LOAD"),
    ("INSTALL httpfs", "refused"),
    ("SET memory_limit = '100GB'", "refused: SET"),
    ("PRAGMA show_tables", "refused: PRAGMA"),
    ("EXPLAIN SELECT 1", "refused: EXPLAIN"),
    ("COPY (SELECT 42) TO '.tmp/pwn.csv'", "refused: COPY"),
    ("SELECT * FROM read_csv('.tmp/secret.csv')", "disabled"),
    ("SELECT * FROM read_text('.tmp/secret.csv')", "disabled"),
    ("SELECT * FROM glob('.tmp/*')", "disabled"),
    ("SELECT * FROM read_csv('/etc/hostname')", "disabled"),
    ("", "empty query"),
    ("-- only a comment", "empty query"),
    ("SELECT 1 /* unterminated", "Parser Error"),
]


@pytest.mark.parametrize(("sql", "problem"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_examples_exit_2_with_one_line(cli, tmp_path, sql, problem) -> None:
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "secret.csv").write_text("secret,1\n")
    res = cli("data", "query", "--json", "--", sql, cwd=tmp_path)
    one_line_error(res, "error: SQL: ", problem)
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == ["secret.csv"]
    assert res.stdout == ""


@pytest.mark.parametrize(("sql", "problem"), HOSTILE, ids=[h[0][:40] for h in HOSTILE])
def test_hostile_examples_in_python(world, tmp_path, monkeypatch, sql, problem) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".tmp").mkdir()
    (tmp_path / ".tmp" / "secret.csv").write_text("secret,1\n")
    with pytest.raises(InputError) as err:
        run_query(world, sql)
    assert err.value.source == "SQL" and problem in err.value.problem and "\n" not in str(err.value)
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == ["secret.csv"]


def test_nothing_spills_to_a_tmp_folder_under_the_current_folder(world, tmp_path, monkeypatch) -> None:
    """DuckDB's default temp folder is ``./.tmp``; a sort bigger than memory must stop, not spill there."""
    monkeypatch.chdir(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(InputError, match="memory limit"):
        run_query(world, "SELECT range AS r, md5(range::VARCHAR) AS h FROM range(3000000) ORDER BY h",
                  memory_limit="32MB", timeout_s=20)
    assert time.monotonic() - t0 < 25
    assert list(tmp_path.iterdir()) == []


def test_reads_that_look_like_writes_still_run(world) -> None:
    df = run_query(world, "SELECT $$drop table trade; $$ AS a, E'it\\'s; create' AS b, 'x''y' AS c "
                          "-- ; DELETE FROM trade\n;")
    assert df.to_dict("records") == [{"a": "drop table trade; ", "b": "it's; create", "c": "x'y"}]
    for sql in ("FROM countries LIMIT 1", "VALUES (1, 'a')", "DESCRIBE trade", "SUMMARIZE countries",
                "SHOW TABLES", "WITH a AS (SELECT 1 AS x) SELECT * FROM a"):
        assert len(run_query(world, sql)) >= 1, sql


# ------------------------------------------------------------------ the property test

# string literals in every quoting style DuckDB accepts, each holding quotes, semicolons and comment marks
NASTY = st.lists(st.sampled_from(list("ab ;'\"$\\-*/\n\t") + ["$$", "--", "/*", "*/", "E'"]), max_size=10).map("".join)


def _literal(style: str, text: str) -> str | None:
    """``text`` as a DuckDB string literal in ``style``, or None if that style cannot hold it."""
    if style == "plain":
        return "'" + text.replace("'", "''") + "'"
    if style == "escape":
        return "E'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if style == "dollar":
        return None if "$$" in text or text.endswith("$") else f"$${text}$$"
    tag = "$q$"
    return None if tag in text or text.endswith("$") or "$q" in text else f"{tag}{text}{tag}"


WRITES = [
    "CREATE TABLE pwn AS SELECT 42 AS x",
    "CREATE VIEW pwn AS SELECT 42 AS x",
    "CREATE MACRO pwn(x) AS x + 42",
    "CREATE SEQUENCE pwn",
    "DROP VIEW countries",
    "ALTER VIEW countries RENAME TO pwn",
    "INSERT INTO countries SELECT * FROM countries",
    "DELETE FROM countries",
    "UPDATE countries SET iso3 = 'PWN'",
    "ATTACH ':memory:' AS pwn",
    "DETACH memory",
    "LOAD json",
    "INSTALL httpfs",
    "COPY (SELECT 42 AS x) TO '.tmp/pwn.csv'",
    "EXPORT DATABASE '.tmp/pwn'",
    "SET temp_directory = '.tmp'",
    "SET enable_external_access = true",
    "SET VARIABLE pwn = 42",
    "RESET memory_limit",
    "PRAGMA memory_limit = '100GB'",
    "CALL pragma_version()",
    "CHECKPOINT",
    "VACUUM",
    "BEGIN TRANSACTION",
    "PREPARE pwn AS SELECT 42",
    "EXPLAIN SELECT 42",
    "SELECT * FROM pwn",
    "SELECT 42 AS x",
]
SEPARATORS = st.sampled_from([";", "; ", ";\n", " ;-- c\n", ";/* ; */", "\n;\n"])
STYLES = st.sampled_from(["plain", "escape", "dollar", "tagged"])


@st.composite
def scripts(draw: st.DrawFn) -> tuple[str, str | None, bool]:
    """(sql, the literal's text, whether the SQL is one plain read of that literal)."""
    text = draw(NASTY)
    lit = _literal(draw(STYLES), text)
    if lit is None:
        lit, text = "'plain'", "plain"
    statements = [f"SELECT {lit} AS a"]
    extra = draw(st.lists(st.sampled_from(WRITES), max_size=3))
    statements += extra
    statements = draw(st.permutations(statements))
    seps = [draw(SEPARATORS) for _ in statements]
    sql = "".join(s + sep for s, sep in zip(statements, seps, strict=True))
    if not extra and draw(st.booleans()):
        sql = sql.rstrip(";\n ")  # no final semicolon
    return sql, text, not extra


@settings(max_examples=60, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=scripts())
def test_property_only_one_read_ever_runs(world, tmp_path, monkeypatch, case) -> None:
    """Random mixes of quoting styles and statements: either exactly the one read runs and returns the
    literal, or the whole text is refused; never a write, never a file."""
    sql, text, one_read = case
    monkeypatch.chdir(tmp_path)
    try:
        df = run_query(world, sql, timeout_s=5, memory_limit="256MB", max_rows=1000)
    except InputError as exc:
        assert not one_read, (sql, str(exc))
        assert exc.source == "SQL" and ("only one statement" in exc.problem or "refused" in exc.problem), exc
    else:
        assert one_read, sql
        assert df.to_dict("records") == [{"a": text}], sql
    assert list(tmp_path.iterdir()) == [], sql


# ------------------------------------------------------------------ limits

LIMITED = [
    ("SELECT sleep_ms(100000)", ("--timeout", "1"), "time limit of 1 s"),
    ("SELECT count(*) FROM range(100000000000) a, range(1000000) b", ("--timeout", "1"), "time limit of 1 s"),
    ("SELECT * FROM range(100000000000) a, range(1000000) b", ("--max-rows", "1000"), "more than 1,000 rows"),
    ("SELECT * FROM range(1000000000000)", ("--max-rows", "10"), "row limit"),
    ("SELECT list(range) FROM range(1000000000)", ("--memory-limit", "100MB"), "memory limit of 100 MB"),
]


@pytest.mark.parametrize(("sql", "opts", "problem"), LIMITED, ids=[c[0][:40] for c in LIMITED])
def test_hostile_queries_stop_at_the_limits_with_exit_2(cli, sql, opts, problem) -> None:
    t0 = time.monotonic()
    res = cli("data", "query", sql, *opts, "--csv")
    took = time.monotonic() - t0
    line = one_line_error(res, "error: SQL: ", problem)
    assert "raise it with --" in line
    assert took < 8, took


def test_limits_from_python(world) -> None:
    t0 = time.monotonic()
    with pytest.raises(InputError, match="time limit of 1 s"):
        run_query(world, "SELECT sleep_ms(100000)", timeout_s=1)
    assert time.monotonic() - t0 < 5
    with pytest.raises(InputError, match="more than 5 rows"):
        run_query(world, "SELECT * FROM range(10)", max_rows=5)
    assert len(run_query(world, "SELECT * FROM range(5)", max_rows=5)) == 5
    with pytest.raises(InputError, match="memory limit"):
        run_query(world, "SELECT list(range) FROM range(1000000000)", memory_limit=64 * 1024**2, timeout_s=10)
    # the default row limit: a huge range stops at 1,000,000 rows, quickly
    t0 = time.monotonic()
    with pytest.raises(InputError, match="more than 1,000,000 rows"):
        run_query(world, "SELECT * FROM range(1000000000000)", timeout_s=10)
    assert time.monotonic() - t0 < 10
    assert (DEFAULT_TIMEOUT_S, DEFAULT_MEMORY_LIMIT, DEFAULT_MAX_ROWS) == (30.0, "1GB", 1_000_000)


@pytest.mark.parametrize(("kwargs", "source"), [({"timeout_s": 0}, "timeout_s"), ({"timeout_s": float("nan")},
                         "timeout_s"), ({"memory_limit": "lots"}, "memory_limit"), ({"memory_limit": "10KB"},
                         "memory_limit"), ({"max_rows": 0}, "max_rows")])
def test_bad_limits_are_input_errors(world, kwargs, source) -> None:
    with pytest.raises(InputError) as err:
        run_query(world, "SELECT 1", **kwargs)
    assert err.value.source == source


def test_bad_limit_options_exit_2(cli) -> None:
    one_line_error(cli("data", "query", "SELECT 1", "--memory-limit", "lots"), "memory_limit", "lots")
    res = cli("data", "query", "SELECT 1", "--timeout", "0")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    res = cli("data", "query", "SELECT 1", "--max-rows", "0")
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_limits_can_be_raised(cli) -> None:
    res = cli("data", "query", "SELECT * FROM range(1500)", "--max-rows", "2000", "--timeout", "60",
              "--memory-limit", "2GB", "--csv")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.splitlines()) == 1501


# ------------------------------------------------------------------ every type prints

TYPES_SQL = ("SELECT DATE '2024-01-02' AS d, TIMESTAMP '2024-01-02 03:04:05.25' AS ts, INTERVAL 3 DAY AS i, "
             "INTERVAL '14 months 1 day 00:00:01.5' AS i2, uuid() AS u, 'ab'::BLOB AS b, "
             "1.5::DECIMAL(10,2) AS dec, [1,2] AS l, {'a': 1} AS s, TIME '01:02:03' AS t, "
             "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS tz, NULL::INTEGER AS n, 'nan'::DOUBLE AS nan, "
             "170141183460469231731687303715884105727::HUGEINT AS h, MAP {1: 'a'} AS m, [INTERVAL 1 DAY] AS li, "
             "'a'::ENUM('a', 'b') AS e, '101'::BIT AS bit, [DATE '2024-01-02'] AS ld")


def _check_types(row: dict) -> None:
    assert row["d"] == "2024-01-02" and row["ts"] == "2024-01-02T03:04:05.250000"
    assert row["i"] == "P3D" and row["i2"] == "P1Y2M1DT1.5S" and row["li"] == ["P1D"]
    assert len(row["u"]) == 36 and row["u"].count("-") == 4
    assert base64.b64decode(row["b"]) == b"ab"
    assert row["dec"] == 1.5 and row["l"] == [1, 2] and row["s"] == {"a": 1} and row["m"] == {"1": "a"}
    assert row["t"] == "01:02:03" and row["tz"].startswith("2024-01-02T03:04:05") and row["tz"].endswith("+00:00")
    assert row["n"] is None and row["nan"] is None
    assert row["h"] == "170141183460469231731687303715884105727"
    assert row["e"] == "a" and row["bit"] == "101" and row["ld"] == ["2024-01-02"]


def test_every_type_in_python(world) -> None:
    df = run_query(world, TYPES_SQL)
    row = df.astype(object).where(df.notna(), None).to_dict("records")[0]
    _check_types(row)


def test_every_type_prints_as_json(cli) -> None:
    res = cli("data", "query", TYPES_SQL, "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert len(rows) == 1
    _check_types(rows[0])


def test_every_type_prints_as_csv(cli) -> None:
    res = cli("data", "query", TYPES_SQL, "--csv")
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(io.StringIO(res.stdout), dtype=str, keep_default_na=False)
    row = df.iloc[0].to_dict()
    for col in ("l", "s", "m", "li", "ld"):
        row[col] = json.loads(row[col])
    row["dec"] = float(row["dec"])
    row["n"] = row["n"] or None
    row["nan"] = row["nan"] or None
    _check_types(row)


def test_every_type_prints_as_a_table(cli) -> None:
    res = cli("data", "query", TYPES_SQL)
    assert res.returncode == 0, res.stderr
    assert "2024-01-02" in res.stdout and "P1Y2M1DT1.5S" in res.stdout


def test_duplicate_names_and_nullable_integers(world) -> None:
    df = run_query(world, "SELECT * FROM (VALUES (1, 1), (NULL, 2)) v(a, b), (SELECT 3 AS a) w")
    assert list(df.columns) == ["a", "b", "a_1"]
    assert str(df["a"].dtype) == "Int64" and df["a"].isna().tolist() == [False, True]


def test_the_world_tables_are_views_of_the_world(world) -> None:
    df = run_query(world, "SELECT count(*) AS n FROM countries")
    assert int(df["n"].iloc[0]) == len(world.table("countries"))
