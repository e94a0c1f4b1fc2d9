"""Read-only SQL over a World's tables with DuckDB, read-only by construction.

:func:`run_query` is the one path that runs user SQL (the CLI's ``critmin data query`` and the web API):

* **One read, checked by DuckDB's own parser.** The text is split into statements by
  ``extract_statements``; exactly one is allowed and its type must be ``SELECT`` (which covers
  ``WITH``, ``FROM …``, ``VALUES``, ``DESCRIBE``, ``SUMMARIZE``, ``SHOW``, ``PIVOT``). No regex, so no
  quoting style (``'…'``, ``E'…'``, ``$$…$$``, comments) can hide a second statement.
* **A sandbox.** It runs in a fresh in-memory database that holds only views of the World's tables,
  with external access off (no files, no network), no temporary directory (nothing spills to disk, so
  nothing is read from or written to ``.tmp``), extension auto-install/auto-load off and the
  configuration locked, so that the query cannot change any of this.
* **Limits.** A time limit (the query runs in a thread; the connection is interrupted when it is
  over), DuckDB's ``memory_limit`` (also a bound on the size of the result handed back) and a row limit
  (the statement is wrapped in ``LIMIT max_rows + 1``). Going over any of them is an
  :class:`~critmin.errors.InputError` that names the limit and how to raise it.
* **Every type as plain JSON values.** Dates and times as ISO 8601 text, intervals as ISO 8601
  durations (``P1Y2M3DT4H5M6S``), UUIDs and other scalars as text, BLOBs as base64, decimals as
  numbers, lists and structs as JSON arrays and objects (:func:`csv_ready` turns those into JSON text
  for CSV). NaN and infinities become null; integers beyond 64 bits become text.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
import threading
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from critmin.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from critmin.world import World

#: Default time limit of one query, in seconds.
DEFAULT_TIMEOUT_S = 30.0
#: Default memory limit of one query (DuckDB's working memory, and the size of the result).
DEFAULT_MEMORY_LIMIT = "1GB"
#: Default maximum number of result rows.
DEFAULT_MAX_ROWS = 1_000_000

_READS = "SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE, SHOW or PIVOT"
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?\s*$", re.IGNORECASE)
_NUMERIC = re.compile(r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|"
                      r"HUGEINT|UHUGEINT|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\))$")
_INTERVAL_TEXT = re.compile(r"^(?:(-?\d+) years?\s*)?(?:(-?\d+) months?\s*)?(?:(-?\d+) days?\s*)?"
                            r"(?:(-?)(\d+):(\d+):(\d+)(?:\.(\d+))?)?$")
_INT64 = (-(2**63), 2**64)  # orjson writes integers in this range; others become text
_GRACE_S = 5.0  # how long an interrupted query may take to stop before the thread is left behind


# ---------------------------------------------------------------------------------------------- limits


def parse_memory_limit(value: str | int) -> int:
    """``value`` (bytes, or text such as ``512MB``, ``2GB``, ``1.5GiB``) as a number of bytes (>= 1 MB)."""
    if isinstance(value, bool):
        raise InputError("memory_limit", None, f"not a size: {value!r}")
    if isinstance(value, int):
        size = value
    else:
        m = _SIZE.match(str(value))
        if not m:
            raise InputError("memory_limit", None, f"not a size like 512MB or 2GB: {value!r}")
        size = int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])
    if size < 1000**2:
        raise InputError("memory_limit", None, f"too small: {value!r} (at least 1MB)")
    return size


def _check_limits(timeout_s: float, memory_limit: str | int, max_rows: int) -> tuple[float, int, int]:
    try:
        t = float(timeout_s)
    except (TypeError, ValueError):
        raise InputError("timeout_s", None, f"not a number of seconds: {timeout_s!r}") from None
    if not (t > 0 and math.isfinite(t)):
        raise InputError("timeout_s", None, f"must be a positive number of seconds, got {timeout_s!r}")
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise InputError("max_rows", None, f"must be a whole number >= 1, got {max_rows!r}")
    return t, parse_memory_limit(memory_limit), max_rows


def _size_text(n: int) -> str:
    for unit, f in (("GB", 1000**3), ("MB", 1000**2)):
        if n >= f:
            return f"{n / f:.3g} {unit}"
    return f"{n:,} bytes"


# ---------------------------------------------------------------------------------------------- values


def _interval_iso(months: int, days: int, micros: int) -> str:
    """An interval as an ISO 8601 duration (``P1Y2M3DT4H5M6.5S``; each part signed as DuckDB keeps it)."""
    years, months = int(months / 12), months - 12 * int(months / 12)
    sign = -1 if micros < 0 else 1
    hours, rest = divmod(abs(micros), 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds = f"{rest // 1_000_000}" + (f".{rest % 1_000_000:06d}".rstrip("0") if rest % 1_000_000 else "")
    date = "".join(f"{v}{u}" for v, u in ((years, "Y"), (months, "M"), (days, "D")) if v)
    time = "".join(f"{'-' if sign < 0 else ''}{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (seconds, "S"))
                   if v not in (0, "0"))
    return "P" + date + ("T" + time if time else "") if date or time else "PT0S"


def _interval_from_text(text: str) -> str:
    """DuckDB's interval text (``1 year 2 months 3 days 04:05:06.5``) as an ISO 8601 duration."""
    m = _INTERVAL_TEXT.match(text.strip())
    if not m:
        return text
    y, mo, d, neg, h, mi, s, frac = m.groups()
    micros = 0
    if h is not None:
        micros = ((int(h) * 60 + int(mi)) * 60 + int(s)) * 1_000_000 + int((frac or "0").ljust(6, "0")[:6])
        micros = -micros if neg else micros
    return _interval_iso(int(y or 0) * 12 + int(mo or 0), int(d or 0), micros)


class _Plain:
    """Converts DuckDB's Python values into JSON values, counting roughly how many bytes they take."""

    def __init__(self) -> None:
        self.size = 0

    def __call__(self, v: Any) -> Any:  # noqa: ANN401 - any DuckDB value
        """``v`` as None, bool, int, float, str, list or dict (see the module docstring)."""
        self.size += 16
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, str):
            self.size += len(v)
            return v
        if isinstance(v, int):
            return v if _INT64[0] <= v < _INT64[1] else str(v)
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, Decimal):
            return float(v) if v.is_finite() else None
        if isinstance(v, dt.datetime | dt.date | dt.time):
            return v.isoformat()
        if isinstance(v, dt.timedelta):  # nested intervals: DuckDB's Python values count a month as 30 days
            return _interval_iso(0, v.days, v.seconds * 1_000_000 + v.microseconds)
        if isinstance(v, uuid.UUID):
            return str(v)
        if isinstance(v, bytes | bytearray | memoryview):
            data = base64.b64encode(bytes(v)).decode("ascii")
            self.size += len(data)
            return data
        if isinstance(v, list | tuple):
            return [self(x) for x in v]
        if isinstance(v, dict):
            return {k if isinstance(k, str) else json.dumps(self(k)): self(x) for k, x in v.items()}
        text = str(v)
        self.size += len(text)
        return text


def _frame(names: list[str], types: list[str], rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The result as a DataFrame: numeric columns numeric (nullable integers as ``Int64``), others objects."""
    import pandas as pd

    cols = {}
    for i, typ in enumerate(types):
        values = [r[i] for r in rows]
        if _NUMERIC.match(typ) and all(v is None or isinstance(v, int | float) for v in values):
            ints = [v for v in values if v is not None]
            if typ != "BOOLEAN" and ints and all(isinstance(v, int) and not isinstance(v, bool) for v in ints) \
                    and len(ints) < len(values):
                cols[i] = pd.array(values, dtype="Int64")
            else:
                cols[i] = pd.Series(values, dtype=None if values else object)
        else:
            cols[i] = pd.Series(values, dtype=object)
    df = pd.DataFrame(cols, index=pd.RangeIndex(len(rows)))
    df.columns = names
    return df


def csv_ready(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` (from :func:`run_query`) with list and dict cells as JSON text, ready for ``to_csv``."""
    out = df.copy()
    for i in range(out.shape[1]):
        s = out.iloc[:, i]
        if s.dtype == object and any(isinstance(v, list | dict) for v in s):
            out.isetitem(i, [json.dumps(v, ensure_ascii=False) if isinstance(v, list | dict) else v for v in s])
    return out


# ---------------------------------------------------------------------------------------------- the query


def _sql_error(exc: Exception) -> str:
    return " ".join(str(exc).splitlines()[0].split()) or type(exc).__name__


def _one_read(con: Any, sql: str) -> str:  # noqa: ANN401 - a DuckDB connection
    """The single read-only statement of ``sql`` (DuckDB's parser decides), without its final ``;``."""
    import duckdb

    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise InputError("SQL", None, _sql_error(exc)) from None
    if not statements:
        raise InputError("SQL", None, "empty query")
    if len(statements) > 1:
        raise InputError("SQL", None, f"only one statement is allowed (found {len(statements)})")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = getattr(kind, "name", str(kind))
        raise InputError("SQL", None, f"refused: {name} statements are not allowed; only one read-only query "
                                      f"({_READS}) is")
    return _without_end(statements[0].query)


def _without_end(query: str) -> str:
    """``query`` without its final ``;`` and trailing comments (found by DuckDB's tokenizer, not by regex)."""
    import duckdb

    tokens = duckdb.tokenize(query)
    cut = len(query)
    while tokens:
        pos, kind = tokens[-1]
        text = query[pos:cut].rstrip()
        if kind == duckdb.token_type.comment:
            cut = pos
        elif kind == duckdb.token_type.operator and text.endswith(";"):
            cut = pos + len(text) - 1
            if query[pos:cut].strip():
                break
        else:
            break
        tokens.pop()
    return query[:cut].strip()


def _sandbox(world: World, memory_bytes: int) -> Any:  # noqa: ANN401 - a DuckDB connection
    """A fresh in-memory DuckDB with the World's tables as views, no disk, no network, settings locked."""
    import duckdb

    con = duckdb.connect(":memory:", config={
        "temp_directory": "",  # no spilling: nothing under the user's folder (DuckDB's default is ./.tmp)
        "memory_limit": f"{memory_bytes}B",
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
    try:
        for name in world.table_names:
            con.register(name, world.table(name))
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run_query(world: World, sql: str, *, timeout_s: float = DEFAULT_TIMEOUT_S,
              memory_limit: str | int = DEFAULT_MEMORY_LIMIT, max_rows: int = DEFAULT_MAX_ROWS) -> pd.DataFrame:
    """Run one read-only query over the World's tables (registered as views: ``production``, ``trade``, …).

    ``sql`` must be exactly one ``SELECT`` statement as DuckDB parses it (``WITH``, ``FROM``, ``VALUES``,
    ``DESCRIBE``, ``SUMMARIZE``, ``SHOW`` and ``PIVOT`` included); anything else, a query that fails, or
    one that goes over ``timeout_s`` seconds, ``memory_limit`` (bytes or text such as ``"2GB"``) or
    ``max_rows`` rows raises :class:`~critmin.errors.InputError` (source ``SQL``). The DataFrame holds
    JSON-ready values only (see the module docstring); duplicate column names get DuckDB's ``_1`` suffixes.
    """
    if not isinstance(sql, str):
        raise InputError("SQL", None, f"not text: {type(sql).__name__}")
    timeout, memory_bytes, max_rows = _check_limits(timeout_s, memory_limit, max_rows)
    con = _sandbox(world, memory_bytes)
    body = _one_read(con, sql)
    stop = threading.Event()
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["frame"] = _execute(con, body, max_rows, memory_bytes, stop)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=work, name="critmin-query", daemon=True)
    finished = False
    try:
        worker.start()
        worker.join(timeout)
        finished = not worker.is_alive()
    finally:
        if not finished:
            stop.set()
            con.interrupt()
            worker.join(_GRACE_S)
    if not finished:
        if not worker.is_alive():
            con.close()
        raise InputError("SQL", None, f"stopped at the time limit of {timeout:g} s "
                                      "(raise it with --timeout SECONDS, or timeout_s= in Python)")
    con.close()
    if "error" in box:
        exc = box["error"]
        import duckdb

        if isinstance(exc, duckdb.InterruptException):
            raise InputError("SQL", None, f"stopped at the time limit of {timeout:g} s "
                                          "(raise it with --timeout SECONDS, or timeout_s= in Python)")
        if isinstance(exc, duckdb.OutOfMemoryException | MemoryError):
            raise InputError("SQL", None, f"stopped at the memory limit of {_size_text(memory_bytes)} "
                                          "(raise it with --memory-limit SIZE, or memory_limit= in Python)")
        if isinstance(exc, duckdb.Error):
            raise InputError("SQL", None, _sql_error(exc)) from None
        raise exc
    return box["frame"]


def _execute(con: Any, body: str, max_rows: int, memory_bytes: int,  # noqa: ANN401 - a DuckDB connection
             stop: threading.Event) -> pd.DataFrame:
    """Run the checked statement ``body`` wrapped in a row limit; its rows as a :func:`_frame`."""
    inner = f"SELECT * FROM (\n{body}\n)"
    if _one_read(con, inner) != inner:  # the wrapper is still one read (defence in depth)
        raise InputError("SQL", None, "refused: the query does not stand alone as one statement")
    described = con.execute(f"DESCRIBE {inner}").fetchall()
    names = [str(r[0]) for r in described]
    types = [str(r[1]) for r in described]
    select = ", ".join(
        (f"CAST(#{i} AS VARCHAR)" if typ == "INTERVAL" else f"#{i}") + f" AS {_quote(name)}"
        for i, (name, typ) in enumerate(zip(names, types, strict=True), start=1)
    )
    wrapped = f"SELECT {select} FROM (\n{body}\n) LIMIT {max_rows + 1}"
    if _one_read(con, wrapped) != wrapped:
        raise InputError("SQL", None, "refused: the query does not stand alone as one statement")
    plain = _Plain()
    converters = [(lambda v: None if v is None else _interval_from_text(v)) if typ == "INTERVAL" else plain
                  for typ in types]
    result = con.execute(wrapped)
    rows: list[tuple[Any, ...]] = []
    while True:
        chunk = result.fetchmany(2048)
        if stop.is_set():
            raise InputError("SQL", None, "interrupted")
        if not chunk:
            break
        rows.extend(tuple(f(v) for f, v in zip(converters, r, strict=True)) for r in chunk)
        if len(rows) > max_rows:
            raise InputError("SQL", None, f"the result has more than {max_rows:,} rows, the row limit "
                                          "(add a LIMIT, or raise it with --max-rows N, or max_rows= in Python)")
        if plain.size > memory_bytes:
            raise InputError("SQL", None, f"the result is larger than the memory limit of "
                                          f"{_size_text(memory_bytes)} (raise it with --memory-limit SIZE, "
                                          "or memory_limit= in Python)")
    return _frame(names, types, rows)
