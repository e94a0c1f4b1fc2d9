"""CEPII BACI bilateral trade (columns t,i,j,k,v,q), read through DuckDB.

BACI lists strictly positive flows: ``v`` in thousands of current USD, ``q`` in
metric tons (missing in ~2% of rows, written as empty or whitespace-padded ``NA``).
Country codes are CEPII numeric codes, mapped to ISO3 with the release's
``country_codes`` file (with the overrides in ``mappings/baci_countries.csv``:
490 → TWN, 711 → ZAF).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from critmin.errors import InputError
from critmin.ingest import MAPPINGS
from critmin.validate import YEAR_MAX, YEAR_MIN

if TYPE_CHECKING:  # pandas only where a DataFrame is returned: import-baci never needs it
    import pandas as pd

BACI_COLUMNS = ("t", "i", "j", "k", "v", "q")

#: SQL for the HS code ``k`` trimmed and padded to six digits ("10121" -> "010121"). A longer code is
#: kept as written (``lpad`` would cut it to the width) for :func:`validate_relation` to reject.
K6_SQL = "CASE WHEN length(trim(k)) < 6 THEN lpad(trim(k), 6, '0') ELSE trim(k) END"

#: SQL for a year column ``{col}`` read as text: the year where it is a whole number in 1900-2100, else NULL
#: (:func:`validate_relation` names the row).
YEAR_SQL = (f"CASE WHEN regexp_full_match(trim({{col}}), '[0-9]{{{{4}}}}') AND CAST(trim({{col}}) AS INTEGER) "
            f"BETWEEN {YEAR_MIN} AND {YEAR_MAX} THEN CAST(trim({{col}}) AS INTEGER) END")


def _read_small_csv(path: Path, required: list[str]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a small CSV (UTF-8, else Latin-1), checking it exists and has ``required``."""
    import csv

    if not path.is_file():
        raise InputError(str(path), None, "file not found")
    for enc in ("utf-8-sig", "latin-1"):
        try:
            with open(path, encoding=enc, newline="") as fh:
                rows = list(csv.reader(fh))
            break
        except UnicodeDecodeError:
            continue
        except csv.Error as exc:
            raise InputError(str(path), None, f"malformed CSV: {exc}") from None
    if not rows:
        raise InputError(str(path), "line 1", "file is empty (no header)")  # as read_csv_checked says
    header = [h.strip() for h in rows[0]]
    for col in required:
        if col not in header:
            raise InputError(str(path), f"column {col}", f"missing column (have: {', '.join(header)})")
    return header, rows[1:]


def read_country_codes(path: Path, known: set[str]) -> list[tuple[int, str]]:
    """BACI country code table -> [(baci_code, iso3), ...] (V202201 or V202401 layouts).

    Overrides in ``mappings/baci_countries.csv`` apply (490 → TWN, 711 → ZAF, ...); every ISO3
    must be in ``known`` (the World's countries).
    """
    path = Path(path)
    header, rows = _read_small_csv(path, ["country_code"])
    col = "country_iso3" if "country_iso3" in header else "iso_3digit_alpha"
    if col not in header:
        raise InputError(str(path), "column country_iso3", "missing column (or iso_3digit_alpha)")
    o_header, o_rows = _read_small_csv(MAPPINGS / "baci_countries.csv", ["baci_code", "iso3"])
    oc, oi = o_header.index("baci_code"), o_header.index("iso3")
    over_map = {int(r[oc]): r[oi] for r in o_rows if r}
    ci, ii = header.index("country_code"), header.index(col)
    out = []
    for n, r in enumerate(rows):
        if not r:
            continue
        code = r[ci] if ci < len(r) else ""
        try:
            c = int(code)
        except ValueError:
            raise InputError(str(path), f"row {n + 2}, column country_code", f"not a number: {code!r}") from None
        iso3 = over_map.get(c, (r[ii] if ii < len(r) else "").strip())
        if iso3 not in known:
            raise InputError(str(path), f"row {n + 2}, column {col}", f"unknown country code {iso3!r}")
        out.append((c, iso3))
    return out


def register_codes(con: duckdb.DuckDBPyConnection, codes: list[tuple[int, str]]) -> None:
    """Create the temporary table ``codes(baci_code, iso3)`` in ``con``."""
    con.execute("CREATE OR REPLACE TEMP TABLE codes (baci_code INTEGER, iso3 VARCHAR)")
    con.executemany("INSERT INTO codes VALUES (?, ?)", codes)


def duck_error(path: Path, exc: Exception) -> InputError:
    """The InputError for a DuckDB error met reading BACI file ``path`` (line, column, problem where known)."""
    text = str(exc)
    line = re.search(r"[Ll]ine:?\s*(\d+)", text)
    where = f"line {line.group(1)}" if line else None
    if "GZIP" in text or "gzip" in text:
        return InputError(str(path), "gzip stream", "truncated or corrupt compressed file (unexpected end of stream)")
    conv = re.search(r'Error when converting column "(\w+)"\. Could not convert string "([^"]*)"', text)
    if conv:
        return InputError(str(path), f"{where}, column {conv.group(1)}", f"not a number: {conv.group(2)!r}")
    cols = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
    if cols:
        return InputError(str(path), where, f"expected {cols.group(1)} columns, found {cols.group(2)} "
                                            "(truncated or malformed line)")
    first = text.splitlines()[0]
    for marker in ("Could not convert", "too many columns", "Error when converting"):
        if marker in text:
            first = marker
    return InputError(str(path), where, f"malformed BACI CSV: {first}")


def _check_header(path: Path) -> None:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            header = fh.readline().strip()
    except (OSError, EOFError) as exc:
        raise InputError(str(path), None, f"cannot read (truncated or corrupt file?): {exc}") from None
    if not header:
        raise InputError(str(path), "line 1", "file is empty (no header)")
    cols = [c.strip().strip('"') for c in header.split(",")]
    if cols != list(BACI_COLUMNS):
        raise InputError(str(path), "header", f"expected columns t,i,j,k,v,q, found {','.join(cols)[:60]!r}")


def hs_where(hs_filter: Iterable[str] | None) -> str:
    """``WHERE`` clause keeping the rows whose code (trimmed, padded to six digits) is in ``hs_filter``.

    ``list_position`` on a literal list rather than ``IN (...)`` (or ``list_contains``, rewritten to
    ``IN``): DuckDB turns a long ``IN`` list into a join, which does not keep the file order under a
    parallel scan, so the import's row order and checksum varied from run to run.
    """
    if hs_filter is None:
        return ""
    codes = ",".join(f"'{c}'" for c in sorted(set(hs_filter)))
    return f"WHERE list_position([{codes}], {K6_SQL}) IS NOT NULL"


def baci_relation(con: duckdb.DuckDBPyConnection, path: Path, hs_filter: Iterable[str] | None = None) -> str:
    """Register a validated view ``baci_<n>`` over one BACI CSV; returns its name.

    Checks the header, value types (errors name the line), negative values and
    unparseable quantities. ``hs_filter`` keeps only those HS6 codes.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, "file not found")
    _check_header(path)
    name = f"baci_{abs(hash(str(path))) % 10**8}"
    src = str(path).replace("'", "''")
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {name}_raw AS SELECT * FROM read_csv('{src}', header=true,
            columns={{'t':'VARCHAR','i':'INTEGER','j':'INTEGER','k':'VARCHAR','v':'DOUBLE','q':'VARCHAR'}},
            strict_mode=true, null_padding=false, quote='"', auto_detect=false)"""
    )
    where = hs_where(hs_filter)
    # t is read as text: DuckDB's INTEGER read rounds "2022.5" to 2023; a year must be written as one.
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {name} AS SELECT {YEAR_SQL.format(col='t')} AS t, i, j, {K6_SQL} AS k, v,
            CASE WHEN q IS NULL OR trim(q) IN ('', 'NA') THEN NULL ELSE TRY_CAST(trim(q) AS DOUBLE) END AS q,
            q AS q_text, t AS t_text FROM {name}_raw {where}"""
    )
    return name


#: Bytes of a BACI file :func:`na_forms` reads for the spellings of a missing ``q`` (a judgement: some
#: 30,000 rows; a spelling first met further on only sends the file through the slower checked read).
NA_SAMPLE_BYTES = 1 << 20
#: At most this many null spellings go to DuckDB's ``nullstr`` (a judgement: each one slows the typed read).
#: A file with a spelling not listed still imports: its typed read fails and it is redone through the view.
MAX_NA_FORMS = 8


def na_forms(path: Path, sample_bytes: int = NA_SAMPLE_BYTES) -> list[str]:
    """The spellings of a missing ``q`` in the first ``sample_bytes`` of a BACI file ('', 'NA', padded 'NA'),
    at most :data:`MAX_NA_FORMS` of them."""
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    forms = {"", "NA"}
    try:
        with opener(path, "rb") as fh:
            lines = fh.read(sample_bytes).split(b"\n")[1:-1]
    except (OSError, EOFError):
        return sorted(forms)
    for line in lines:
        q = line.rstrip(b"\r").rpartition(b",")[2]
        if q.strip() == b"NA" and len(forms) < MAX_NA_FORMS:
            forms.add(q.decode("ascii"))
    return sorted(forms)


def baci_typed_source(path: Path) -> str:
    """SQL ``read_csv`` of a BACI file: the import's fast read (i, j typed; t, v, q as text for
    :data:`LOOSE_NUMBER_SQL`).

    ``t`` is cast to DOUBLE so that a year such as 2022.5 stays visible (an INTEGER read rounds it);
    the import keeps it only where it is a whole number in 1900-2100.

    Stricter than the view of :func:`baci_relation`: ``q`` must be a number, empty, ``NA`` or ``NA``
    padded with spaces as in the first MiB of the file (DuckDB's ``nullstr`` matches whole fields, and
    each extra spelling slows the parse, so only those seen are listed). Anything else makes the read
    fail, and the import then redoes the file through :func:`baci_relation`, which trims ``q`` and
    names the first bad row. Call after :func:`baci_relation` (it checks the header).
    """
    src = str(path).replace("'", "''")
    nulls = ", ".join(f"'{f}'" for f in na_forms(path))
    return (f"""read_csv('{src}', header=true,
            columns={{'t':'VARCHAR','i':'INTEGER','j':'INTEGER','k':'VARCHAR','v':'VARCHAR','q':'VARCHAR'}},
            strict_mode=true, null_padding=false, quote='"', auto_detect=false, nullstr=[{nulls}])""")


#: SQL casting a BACI number column ``{col}`` read as text to DOUBLE, as :func:`baci_typed_source`'s readers
#: use it: DuckDB also reads "7_5" as 75, so a number with an underscore becomes -1 (a negative value, which
#: the import's checks refuse, sending the file to the checked read that names the row).
LOOSE_NUMBER_SQL = "CASE WHEN contains({col}, '_') THEN -1.0 ELSE CAST({col} AS DOUBLE) END"



def validate_relation(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """Scan a registered BACI view for type errors, negatives, bad HS codes; raise on the first."""
    try:
        bad = con.execute(
            f"""SELECT t_text, i, j, k, v, q_text,
                   CASE WHEN t_text IS NOT NULL AND NOT regexp_full_match(trim(t_text), '-?[0-9]+')
                             THEN 'year t is not a whole number'
                        WHEN t_text IS NOT NULL AND t IS NULL THEN 'year t is outside {YEAR_MIN}-{YEAR_MAX}'
                        WHEN t IS NULL OR i IS NULL OR j IS NULL OR k IS NULL OR v IS NULL THEN 'missing value'
                        WHEN NOT regexp_full_match(k, '[0-9]{{6}}') THEN 'HS code is not six digits'
                        WHEN NOT isfinite(v) THEN 'value v is not a finite number'
                        WHEN v < 0 THEN 'negative value v'
                        WHEN q IS NULL AND NOT (q_text IS NULL OR trim(q_text) IN ('', 'NA'))
                             THEN 'quantity q is not a number'
                        WHEN NOT isfinite(q) THEN 'quantity q is not a finite number'
                        WHEN q < 0 THEN 'negative quantity q' END AS problem
                FROM {name}
                WHERE t IS NULL OR i IS NULL OR j IS NULL OR k IS NULL OR v IS NULL
                   OR NOT regexp_full_match(k, '[0-9]{{6}}') OR NOT isfinite(v) OR v < 0 OR NOT isfinite(q) OR q < 0
                   OR (q IS NULL AND NOT (q_text IS NULL OR trim(q_text) IN ('', 'NA')))
                LIMIT 1"""
        ).fetchall()
    except duckdb.Error as exc:
        raise duck_error(path, exc) from None
    if bad:
        t, i, j, k, v, q, problem = bad[0]
        raise InputError(str(path), f"row t={t}, i={i}, j={j}, k={k}", f"{problem} (v={v}, q={q!r})")
    check_loose_numbers(con, path)
    check_baci_rows(con, name, path)


def check_loose_numbers(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse numbers DuckDB would read loosely: "7_5" is 75 to its DOUBLE and INTEGER reads."""
    src = str(path).replace("'", "''")
    try:
        hit = con.execute(
            f"""SELECT line, col, val FROM (
                SELECT row_number() OVER () + 1 AS line, t, v, q FROM read_csv('{src}', header=true,
                    columns={{'t':'VARCHAR','i':'VARCHAR','j':'VARCHAR','k':'VARCHAR','v':'VARCHAR','q':'VARCHAR'}},
                    strict_mode=false, null_padding=true, quote='"', auto_detect=false))
            UNPIVOT (val FOR col IN (t, v, q)) WHERE contains(val, '_') ORDER BY line LIMIT 1"""
        ).fetchall()
    except duckdb.Error:
        return  # an unreadable file: the checked read names its problem
    if hit:
        line, col, val = hit[0]
        raise InputError(str(path), f"line {line}, column {col}", f"not a plain number: {val!r}")


def check_baci_rows(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """Refuse a BACI file with no rows (a header-only file) or with two rows of one flow (t, i, j, k)."""
    rows = con.execute(f"SELECT count(*) FROM {name}_raw").fetchone()[0]
    if not rows:
        raise InputError(str(path), "line 2", "no data rows (the file has only a header)")
    dup = con.execute(f"SELECT t, i, j, k FROM {name} GROUP BY ALL HAVING count(*) > 1 LIMIT 1").fetchall()
    if dup:
        t, i, j, k = dup[0]
        raise InputError(str(path), f"row t={t}, i={i}, j={j}, k={k}", "duplicate row: this flow is listed twice")


def check_country_codes(con: duckdb.DuckDBPyConnection, name: str, path: Path) -> None:
    """Raise InputError for the first exporter/importer code of view ``name`` missing from table ``codes``."""
    unknown = con.execute(
        f"""SELECT c, col FROM (SELECT DISTINCT i AS c, 'i' AS col FROM {name}
            UNION SELECT DISTINCT j, 'j' FROM {name}) WHERE c NOT IN (SELECT baci_code FROM codes)
            ORDER BY col, c LIMIT 1"""
    ).fetchall()
    if unknown:
        c, col = unknown[0]
        raise InputError(str(path), f"column {col}", f"unknown BACI country code {c}")


def read_baci(
    files: Iterable[Path],
    codes: list[tuple[int, str]],
    source: str,
    hs_filter: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read BACI CSV files into ``trade`` rows (ISO3 exporter/importer) in memory.

    Suitable for slices (a few million rows); for full releases use
    :func:`critmin.ingest.baci_import.import_baci`, which streams to Parquet.
    """
    import pandas as pd

    con = duckdb.connect(":memory:")
    register_codes(con, codes)
    parts = []
    try:
        for path in files:
            name = baci_relation(con, Path(path), hs_filter)
            validate_relation(con, name, Path(path))
            check_country_codes(con, name, Path(path))
            df = con.execute(
                f"""SELECT b.t AS year, ce.iso3 AS exporter, ci.iso3 AS importer, b.k AS hs6,
                           b.v AS value_kusd, b.q AS quantity_t
                    FROM {name} b JOIN codes ce ON b.i = ce.baci_code JOIN codes ci ON b.j = ci.baci_code"""
            ).fetchdf()
            parts.append(df)
    except duckdb.Error as exc:
        raise duck_error(Path(path), exc) from None
    finally:
        con.close()
    out = pd.concat(parts, ignore_index=True)
    out["source"] = source
    return out


def read_baci_hs17_bilateral(raw: Path, known: set[str]) -> pd.DataFrame:
    """BACI HS17 V202601 complete bilateral flows for 30 downstream codes (2022, 2024)."""
    f = raw / "trade" / "downstream" / "baci_hs17_V202601_30codes_bilateral_2022_2024.csv"
    import pandas as pd

    from critmin.ingest.common import check_non_negative, read_csv_checked, to_number
    from critmin.ingest.reference import CODE_ALIASES
    from critmin.validate import check_unique, check_year_column

    df = read_csv_checked(f, ["t", "exporter_iso3", "importer_iso3", "k", "v", "q"])

    v = to_number(df["v"], f, "v", allow_empty=False)
    q = to_number(df["q"], f, "q")
    check_non_negative(v, f, "v")
    check_non_negative(q.fillna(0), f, "q")
    exp = df["exporter_iso3"].replace(CODE_ALIASES)
    imp = df["importer_iso3"].replace(CODE_ALIASES)
    for col, s in (("exporter_iso3", exp), ("importer_iso3", imp)):
        bad = ~s.isin(known)
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(str(f), f"row {i + 2}, column {col}", f"unknown country code {s.iloc[i]!r}")
    year = to_number(df["t"], f, "t", allow_empty=False)
    check_year_column(year, str(f), "t")
    check_unique(df, ["t", "exporter_iso3", "importer_iso3", "k"], str(f))
    return pd.DataFrame({"year": year.astype(int), "exporter": exp, "importer": imp,
                         "hs6": df["k"].str.zfill(6), "value_kusd": v, "quantity_t": q,
                         "source": "baci-hs17-v202601"})
