"""Read-only SQL over a World's tables with DuckDB."""

from __future__ import annotations

import re

import duckdb
import pandas as pd

from critmin.errors import InputError
from critmin.world import World

_WRITES = re.compile(
    r"\b(insert|update|delete|create|drop|alter|copy|attach|detach|install|load|pragma|set|export|import|"
    r"call|checkpoint|vacuum|truncate|grant|use)\b",
    re.IGNORECASE,
)


def _strip_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"", "''", sql)


def run_query(world: World, sql: str) -> pd.DataFrame:
    """Run one read-only SELECT/WITH statement over the World's tables.

    Tables are registered as views under their names (``production``, ``trade``,
    …). The statement must be a single ``SELECT``/``WITH``/``FROM``/``VALUES``/
    ``DESCRIBE``/``SUMMARIZE``; anything that writes, attaches or loads is refused.
    """
    body = sql.strip().rstrip(";").strip()
    if not body:
        raise InputError("SQL", None, "empty query")
    bare = _strip_literals(body)
    if ";" in bare:
        raise InputError("SQL", None, "only one statement is allowed")
    first = bare.split(None, 1)[0].lower()
    if first not in {"select", "with", "from", "values", "describe", "summarize", "show"} or _WRITES.search(bare):
        raise InputError("SQL", None, "refused: only read-only queries (SELECT …) are allowed")
    con = duckdb.connect(":memory:")
    try:
        for name in world.table_names:
            con.register(name, world.table(name))
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            return con.execute(body).fetchdf()
        except duckdb.Error as exc:
            msg = str(exc).splitlines()[0]
            raise InputError("SQL", None, msg) from None
    finally:
        con.close()
