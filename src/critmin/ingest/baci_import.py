"""``critmin data import-baci``: full BACI releases (~10 M rows a year) into a new World.

Each file is read once by DuckDB, typed, and streamed as Arrow record batches to a
pyarrow Parquet writer in a second thread (no pandas copy of the data; a few batches in
flight, so peak memory stays well under 2 GB for a 10 M-row year); one scan of the
columnar result then checks the rows and gives the statistics and the content digest.
Only a file that fails the typed read or the checks is read again, as text, through the
same writer, to accept what the text read accepts or to name its first bad row.

The new World at ``out`` holds every table of the base World. Its ``trade`` table is the base
World's, with the imported flows (all products, or only the chains' HS codes with
``chains_only``) added or replacing rows by one rule: every (year, hs6) pair that occurs in the
imported files replaces the base rows of that pair, whatever their source; every other base row is
kept, with its ``source`` label. Imported rows are labelled ``baci``. (A full release year thus
replaces that year's codes it contains; a file with a subset of codes replaces only those codes in
its years; codes of the base absent from the file, e.g. the HS17 downstream codes, stay.) Kept base
rows come first, in their order, then the imported rows in file order. Writing is atomic: the World is
assembled in a temporary folder next to ``out`` and exchanged with the previous one in one step, under
the folder's lock (:func:`critmin.atomic.world_writer`); ``out`` must be new, empty or a World, and hold
none of the inputs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import duckdb

from critmin.atomic import check_world_out, world_writer
from critmin.datapackage import TABLES, file_entry, publish_world, resource_entry, world_checksum
from critmin.errors import InputError
from critmin.ingest.baci import (
    LOOSE_NUMBER_SQL,
    baci_relation,
    baci_typed_source,
    check_baci_rows,
    check_country_codes,
    check_loose_numbers,
    duck_error,
    hs_where,
    read_country_codes,
    register_codes,
    validate_relation,
)
from critmin.ingest.sources import source_entry
from critmin.validate import YEAR_MAX, YEAR_MIN
from critmin.world import World

DEFAULT_MEMORY_LIMIT = "1GB"
#: Imported trade is written uncompressed (text columns still dictionary-encoded) -- a judgement of write
#: speed over disk: on the 10 M-row benchmark year pyarrow writes it in 0.43 s and 275 MB, snappy in
#: 0.69-0.81 s and 156 MB (benchmarks/import_baci.py file, 2026-11-25; the import is CPU-bound on 2 cores).
PARQUET_COMPRESSION = "none"

#: Rows per Arrow batch and per Parquet row group on the fast path (three batches in flight at most).
BATCH_ROWS = 1_000_000
#: Columns the streamed writer dictionary-encodes (the text columns) and gives min/max statistics to.
#: Statistics on the text columns are left out: they cost about 10% of the write, and BACI files are
#: sorted by year, exporter, importer, so row groups overlap in every text column but ``exporter``.
_DICTIONARY_COLUMNS = ["exporter", "importer", "hs6", "source"]
_STATISTICS_COLUMNS = ["year", "value_kusd", "quantity_t"]


def chain_hs_codes(world: World) -> set[str]:
    """Every HS6 code named by the World's chains."""
    codes: set[str] = set()
    for ch in world.chains.values():
        for st in ch.stages:
            codes.update(st.hs6)
    return codes


def _world_iso3(world: World) -> set[str]:
    """The World's country codes, read without pandas when the World is a folder (fast start-up)."""
    if world.path is None:
        return set(world.countries()["iso3"])
    f = world.table_file("countries").as_posix().replace("'", "''")
    reader = f"read_parquet('{f}')" if f.endswith(".parquet") else f"read_csv('{f}', all_varchar=true)"
    con = duckdb.connect(":memory:")
    try:
        return {r[0] for r in con.execute(f"SELECT iso3 FROM {reader}").fetchall()}
    finally:
        con.close()


def _default_country_codes() -> Path:
    from critmin.ingest import default_raw_dir

    return default_raw_dir() / "trade" / "baci_country_codes_V202401b.csv"


def import_baci(
    world: World,
    files: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    chains_only: bool = False,
    country_codes: str | os.PathLike[str] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Import BACI CSV files into a new World at ``out``; returns a summary dict.

    Summary keys: rows, products, years (e.g. "2022-2023") of the imported flows; kept_rows (rows of
    the base World's trade table kept, see the module docstring); checksum, path.
    ``progress(done_files, files)`` is called before the first file and after each one.
    """
    files = [Path(f) for f in files]
    if not files:
        raise InputError("FILE", None, "no BACI files given")
    if world.path is not None and Path(out).resolve() == Path(world.path).resolve():
        raise InputError("--out", str(Path(out).resolve()), "must differ from the World being read")
    inputs = (*files, *([Path(country_codes)] if country_codes else []), *([world.path] if world.path else []))
    check_world_out(out, "--out", inputs)
    known = _world_iso3(world)
    codes = read_country_codes(Path(country_codes) if country_codes else _default_country_codes(), known)
    hs_filter = chain_hs_codes(world) if chains_only else None
    with world_writer(out, "importing", "--out", inputs) as (tmp, target):
        con = duckdb.connect(":memory:")
        try:
            return _import_into(con, world, files, tmp, target, hs_filter, codes, chains_only, memory_limit,
                                progress)
        finally:
            con.close()


def _import_into(con: duckdb.DuckDBPyConnection, world: World, files: list[Path], tmp: Path, out: Path,
                 hs_filter: set[str] | None, codes: list[tuple[int, str]], chains_only: bool, memory_limit: str,
                 progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    """The body of :func:`import_baci`: the new World assembled in ``tmp`` and published at ``out``."""
    con.execute(f"SET memory_limit = '{memory_limit}'")
    # Keep file order (no global sort): output and checksum are deterministic for the same inputs,
    # and nothing has to be held in memory or spilled to sort 10 M rows.
    con.execute("SET preserve_insertion_order = true")
    spill = tmp / ".spill"
    spill.mkdir()
    con.execute(f"SET temp_directory = '{spill.as_posix()}'")
    # Codes -> ISO3 by an Arrow gather in the writer thread (no join: rows stay in file order, so output
    # and checksum are deterministic without a sort).
    to_trade = _TradeBatches(_IsoCodes(dict(codes)))
    parts = []
    scan = None
    if progress:
        progress(0, len(files))
    for n, path in enumerate(files):
        name = baci_relation(con, path, hs_filter)
        part = tmp / f".trade-{n:04d}.parquet"
        try:
            _copy_fast(con, path, hs_filter, to_trade, part)
            scan = _scan(con, part)
            if not scan["rows"]:
                check_baci_rows(con, name, path)  # a header-only file is refused (else: no chain codes in it)
        except (duckdb.Error, _NeedsCheckedRead) as exc:
            _raise_if_disk(exc)
            scan = None
        if scan is None or scan["bad"]:
            # Something the typed read or the checks reject: redo the file through the text view,
            # which accepts exactly what the text read accepts and names the first bad row.
            register_codes(con, codes)  # the table its country-code check joins
            scan = _copy_checked(con, name, path, to_trade, part)
        parts.append(part)
        if progress:
            progress(n + 1, len(files))
    trade_file = tmp / "trade.parquet"
    if len(parts) > 1 and scan is not None:  # statistics of the imported rows, all files together
        scan = None
    kept = _kept_base_rows(con, world, parts, tmp / ".trade-base.parquet")
    if kept is not None:
        parts.insert(0, kept)
    if len(parts) == 1:
        os.replace(parts[0], trade_file)
    else:
        if scan is None:  # the imported rows' statistics, before the base rows join them
            scan = _scan_parts(con, parts[1:] if kept is not None else parts)
        stats_scan = scan
        _merge_parts(parts, trade_file)
        for p in parts:
            p.unlink()
        scan = {**_scan(con, trade_file), **{k: stats_scan[k] for k in ("products", "y0", "y1")},
                "imported": stats_scan["rows"]}
    shutil.rmtree(spill, ignore_errors=True)
    if scan is None:
        scan = _scan(con, trade_file)
    imported = scan.get("imported", scan["rows"])
    stats = (imported, scan["products"], scan["y0"], scan["y1"], scan["rows"])
    return _assemble(world, tmp, out, scan["digest"], stats, chains_only)


def _raise_if_disk(exc: BaseException) -> None:
    """Re-raise a DuckDB I/O error writing the temporary folder (a full disk, no permission) as an OSError,
    which :func:`critmin.atomic.world_writer` reports against ``--out``; other errors return."""
    import errno

    text = str(exc)
    if isinstance(exc, duckdb.IOException) or "No space left" in text or "Permission denied" in text:
        code = errno.ENOSPC if "No space left" in text else errno.EACCES if "Permission denied" in text \
            else errno.EIO
        if code != errno.EIO or isinstance(exc, duckdb.IOException) and "temp" in text.lower():
            raise OSError(code, os.strerror(code)) from None


def _kept_base_rows(con: duckdb.DuckDBPyConnection, world: World, parts: list[Path], dest: Path) -> Path | None:
    """Write the base World's trade rows whose (year, hs6) pair is in none of the imported ``parts`` to
    ``dest`` (in the imported parts' schema, base order kept); None when no base row is kept."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if world.path is None:
        return None
    base_file = world.table_file("trade")
    files = ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in parts)
    codes_by_year: dict[int, list[str]] = {}
    for y, h in con.execute(f"SELECT DISTINCT year, hs6 FROM read_parquet([{files}])").fetchall():
        codes_by_year.setdefault(int(y), []).append(h)
    # ParquetFile.read, not pq.read_table: the latter imports pyarrow.dataset and with it pandas (0.4 s)
    base = pq.ParquetFile(base_file, read_dictionary=_DICTIONARY_COLUMNS).read(columns=list(_TRADE_COLUMNS))
    base = base.combine_chunks()
    year = base["year"].to_numpy()
    hs6 = base["hs6"].chunk(0) if base["hs6"].num_chunks else pa.array([], pa.dictionary(pa.int32(), pa.string()))
    drop = np.zeros(base.num_rows, dtype=bool)
    idx = hs6.indices.to_numpy(zero_copy_only=False)
    for y, codes in codes_by_year.items():
        in_year = year == y
        if not in_year.any():
            continue
        hit_code = pc.is_in(hs6.dictionary, value_set=pa.array(codes, pa.string())).to_numpy(zero_copy_only=False)
        drop |= in_year & hit_code[idx]
    if drop.all():
        return None
    base = base.filter(pa.array(~drop))
    schema = pq.ParquetFile(parts[0], read_dictionary=_DICTIONARY_COLUMNS).schema_arrow
    writer = _parquet_writer(dest, schema)
    try:
        writer.write_table(base.cast(schema), row_group_size=BATCH_ROWS)
    finally:
        writer.close()
    return dest


def _scan_parts(con: duckdb.DuckDBPyConnection, parts: list[Path]) -> dict[str, Any]:
    """Rows, distinct products and year range over the imported ``parts`` together."""
    files = ", ".join("'" + p.as_posix().replace("'", "''") + "'" for p in parts)
    rows, products, y0, y1 = con.execute(
        f"SELECT count(*), count(DISTINCT hs6), min(year), max(year) FROM read_parquet([{files}])").fetchone()
    return {"rows": rows, "products": products, "y0": y0, "y1": y1}


class _NeedsCheckedRead(Exception):
    """Raised on the fast path for input it does not map (a country code outside the code table)."""


class _IsoCodes:
    """BACI country code -> ISO3 as an Arrow dictionary: a gather per batch instead of a lookup per row in SQL.

    Arrays are built from numpy buffers: ``pyarrow.array()`` imports pandas (0.15 s of start-up).
    """

    def __init__(self, iso: dict[int, str]) -> None:
        import numpy as np
        import pyarrow as pa

        labels = sorted(set(iso.values()))
        position = {c: n for n, c in enumerate(labels)}
        index = np.array([position.get(iso.get(c, ""), -1) for c in range(max(iso) + 1)], dtype=np.int16)
        valid = np.packbits(index >= 0, bitorder="little")
        self.index = pa.Array.from_buffers(pa.int16(), len(index), [pa.py_buffer(valid), pa.py_buffer(index)])
        self.labels = _string_array(labels)

    def map(self, codes):  # noqa: ANN001, ANN201 - pyarrow arrays in and out
        """ISO3 dictionary array for an int32 array of BACI codes (null for a code the table lacks)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        low, high = pc.min_max(codes).values()
        if low.is_valid and (low.as_py() < 0 or high.as_py() >= len(self.index)):
            raise _NeedsCheckedRead("country code outside the code table")
        return pa.DictionaryArray.from_arrays(pc.take(self.index, codes), self.labels, safe=False)


def _string_array(values: list[str]):  # noqa: ANN202 - a pyarrow StringArray
    """A pyarrow string array from buffers (no pandas import, unlike ``pyarrow.array``)."""
    import numpy as np
    import pyarrow as pa

    data = [v.encode() for v in values]
    offsets = np.zeros(len(data) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(b) for b in data])
    return pa.Array.from_buffers(pa.string(), len(data), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(data))])


class _TradeBatches:
    """Arrow batch (year, exporter, importer: BACI codes, hs6, value_kusd, quantity_t) -> a ``trade`` batch:
    country codes to ISO3 (:class:`_IsoCodes`) and the ``source`` column added."""

    def __init__(self, codes: _IsoCodes) -> None:
        import numpy as np
        import pyarrow as pa

        self.codes = codes
        self.source = _string_array(["baci"])
        self.zeros = pa.py_buffer(np.zeros(BATCH_ROWS, np.int8))  # indices of 'baci', shared by every batch

    def __call__(self, batch):  # noqa: ANN001, ANN204 - a pyarrow RecordBatch in and out
        import numpy as np
        import pyarrow as pa

        year, exporter, importer, hs6, value, quantity = batch.columns
        if batch.num_rows > self.zeros.size:
            self.zeros = pa.py_buffer(np.zeros(batch.num_rows, np.int8))
        source = pa.DictionaryArray.from_arrays(pa.Array.from_buffers(pa.int8(), batch.num_rows, [None, self.zeros]),
                                                self.source, safe=False)
        return pa.record_batch([year, self.codes.map(exporter), self.codes.map(importer), hs6, value, quantity,
                                source], names=list(_TRADE_COLUMNS))


def _copy_fast(con: duckdb.DuckDBPyConnection, path: Path, hs_filter: set[str] | None, to_trade: _TradeBatches,
               part: Path) -> None:
    """One typed pass over the CSV (q read as DOUBLE, no trimming), streamed into Parquet.

    HS codes written without their leading zero are padded (``critmin.ingest.baci.K6_SQL`` without its ``trim``: a
    code with spaces fails the six-digit check and takes the checked read); country codes become
    ISO3 in the writer thread. The rows are checked afterwards by :func:`_scan`, on the columnar
    result, in the scan that also gives the statistics and the digest, so good input is read once.
    Anything unusual (spaces around k, a ``q`` the typed read refuses, an unknown country code)
    fails the read or the checks, and the file is redone by :func:`_copy_checked`.
    """
    _stream_to_parquet(
        con,
        f"""SELECT CASE WHEN t = floor(t) AND t BETWEEN {YEAR_MIN} AND {YEAR_MAX} THEN CAST(t AS INTEGER) END
                   AS year, i AS exporter, j AS importer,
                   CASE WHEN length(k) < 6 THEN lpad(k, 6, '0') ELSE k END AS hs6, v AS value_kusd,
                   q AS quantity_t
            FROM (SELECT {LOOSE_NUMBER_SQL.format(col='t')} AS t, i, j, k, {LOOSE_NUMBER_SQL.format(col='v')} AS v,
                         {LOOSE_NUMBER_SQL.format(col='q')} AS q FROM {baci_typed_source(path)})
            {hs_where(hs_filter)}""",
        part,
        to_trade,
    )


def _stream_to_parquet(con: duckdb.DuckDBPyConnection, select: str, dest: Path,
                       transform: Callable[[Any], Any] | None = None) -> None:
    """Write the rows of the SQL ``select`` (each Arrow batch through ``transform``) to the Parquet file
    ``dest``, in order, overlapping work.

    DuckDB runs the query on its threads and hands over Arrow batches of :data:`BATCH_ROWS` rows;
    a writer thread encodes them with pyarrow while DuckDB parses the next ones (DuckDB's own
    ``COPY ... TO`` spends about 1 CPU-second more on a 10 M-row year). At most three batches wait
    between the two. Text columns keep their dictionary encoding; the file carries no Arrow schema,
    so readers see plain text columns, as in a file DuckDB writes. An error on either side stops
    both and is raised here (a DuckDB error as :class:`duckdb.Error`, for the caller's fallback).
    """
    import queue
    import threading

    import pyarrow as pa

    batches: queue.Queue = queue.Queue(maxsize=3)
    failure: list[BaseException] = []

    def write() -> None:
        writer = None
        try:
            while (batch := batches.get()) is not None:
                if transform is not None:
                    batch = transform(batch)
                if writer is None:
                    writer = _parquet_writer(dest, batch.schema)
                writer.write_batch(batch, row_group_size=BATCH_ROWS)
            if writer is None:  # no rows: an empty file with the columns of an empty batch
                empty = pa.RecordBatch.from_pylist([], schema=reader_schema)
                writer = _parquet_writer(dest, (transform(empty) if transform is not None else empty).schema)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)
            while batches.get() is not None:  # let the producer finish
                pass
        finally:
            if writer is not None:
                writer.close()

    reader = con.sql(select).to_arrow_reader(BATCH_ROWS)
    reader_schema = reader.schema
    thread = threading.Thread(target=write, name="critmin-parquet-writer", daemon=True)
    thread.start()
    try:
        for batch in reader:
            if failure:
                break
            batches.put(batch)
    finally:
        batches.put(None)
        thread.join()
    if failure:
        raise failure[0]


def _parquet_writer(dest: Path, schema: Any) -> Any:
    """A pyarrow ParquetWriter for a trade table: text columns dictionary-encoded, no Arrow schema stored
    (readers see plain text columns, as in a file DuckDB writes), :data:`PARQUET_COMPRESSION`."""
    import pyarrow.parquet as pq

    return pq.ParquetWriter(dest, schema, compression=PARQUET_COMPRESSION, store_schema=False,
                            use_dictionary=_DICTIONARY_COLUMNS, write_statistics=_STATISTICS_COLUMNS)


def _merge_parts(parts: list[Path], dest: Path) -> None:
    """Concatenate the per-file trade tables ``parts`` (all written by :func:`_stream_to_parquet`) into
    ``dest``, in order, one row group at a time.

    Text columns are read as dictionaries and written back as such, so nothing is re-hashed: about
    1 CPU-second per 20 M rows, where DuckDB's ``COPY`` of the same union took 6. (Only files pyarrow
    wrote can be read so: pyarrow's dictionary read of DuckDB's ENUM columns gives indices that do
    not match the dictionary, DuckDB 2.0.1 / pyarrow 26.)
    """
    import pyarrow.parquet as pq

    files = [pq.ParquetFile(p, read_dictionary=_DICTIONARY_COLUMNS) for p in parts]
    schema = files[0].schema_arrow
    writer = _parquet_writer(dest, schema)
    try:
        for f in files:
            for i in range(f.num_row_groups):
                table = f.read_row_group(i).cast(schema)
                writer.write_table(table, row_group_size=max(table.num_rows, 1))
    finally:
        writer.close()


def _copy_checked(con: duckdb.DuckDBPyConnection, name: str, path: Path, to_trade: _TradeBatches,
                  part: Path) -> dict[str, Any]:
    """The text read of :func:`baci_relation` (k trimmed and padded, q trimmed and cast) into Parquet, then
    :func:`_scan`; returns the scan, or raises the InputError naming the first bad row."""
    check_loose_numbers(con, path)  # "7_5": the text view's DOUBLE read would take it as 75
    try:
        _stream_to_parquet(
            con,
            f"""SELECT t AS year, i AS exporter, j AS importer, k AS hs6, v AS value_kusd,
                       CASE WHEN q_text IS NULL OR trim(q_text) IN ('', 'NA') THEN NULL
                            ELSE CAST(trim(q_text) AS DOUBLE) END AS quantity_t
                FROM {name}""",
            part,
            to_trade,
        )
    except duckdb.Error as exc:
        _raise_first_problem(con, name, path, exc)
    except _NeedsCheckedRead:  # a country code outside the code table: named by the country-code check
        _raise_first_problem(con, name, path, None)
    scan = _scan(con, part)
    if scan["bad"]:
        _raise_first_problem(con, name, path, None)
    return scan


def _raise_first_problem(con: duckdb.DuckDBPyConnection, name: str, path: Path, exc: Exception | None) -> None:
    """Scan the text of a BACI file that failed a check; raise an InputError naming its first bad row."""
    validate_relation(con, name, path)  # type errors (by line), missing values, negatives, bad HS codes
    check_country_codes(con, name, path)
    if exc is not None:
        raise duck_error(path, exc) from None
    raise InputError(str(path), None, "rows failed the import checks")  # not reached: validation names them


_TRADE_COLUMNS = ("year", "exporter", "importer", "hs6", "value_kusd", "quantity_t", "source")


def _hash_sql(path: Path, columns: list[tuple[str, str]], extra: str = "") -> str:
    """One scan of a Parquet file: row count and the sum of each row's hash with its position (+ ``extra``)."""
    cols = ", ".join(f'"{c}"' for c, _ in columns)
    return f"""SELECT count(*), sum(hash(file_row_number, {cols})){extra}
               FROM read_parquet('{path.as_posix()}', file_row_number=true)"""


def _digest(columns: list[tuple[str, str]], rows: int, row_hashes: int | None) -> str:
    import hashlib

    text = "critmin parquet content digest v2: columns, rows, sum of DuckDB hash(row number, row)\n"
    text += ",".join(f"{c}:{t}" for c, t in columns) + f"\n{rows}\n{row_hashes or 0}\n"
    return hashlib.sha256(text.encode()).hexdigest()


def _columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    rows = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path.as_posix()}')").fetchall()
    return [(r[0], r[1]) for r in rows]


def _scan(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, Any]:
    """One scan of an imported trade table: its checks, statistics and :func:`parquet_digest`.

    ``bad`` counts missing values, negative values or quantities, and HS codes that are not six
    digits (the GLOB runs on the Parquet dictionary, once per distinct code).
    """
    columns = _columns(con, path)
    if tuple(c for c, _ in columns) != _TRADE_COLUMNS:
        raise ValueError(f"unexpected columns in {path}: {columns}")
    rows, row_hashes, products, y0, y1, n_year, n_exp, n_imp, n_hs6, n_v, v0, q0, bad_hs6, infinite = con.execute(
        _hash_sql(path, columns, """, count(DISTINCT hs6), min(year), max(year), count(year), count(exporter),
                  count(importer), count(hs6), count(value_kusd), min(value_kusd), min(quantity_t),
                  count(*) FILTER (WHERE NOT hs6 GLOB '[0-9][0-9][0-9][0-9][0-9][0-9]'),
                  count(*) FILTER (WHERE NOT isfinite(value_kusd) OR NOT isfinite(quantity_t))""")
    ).fetchall()[0]
    missing = 5 * rows - (n_year + n_exp + n_imp + n_hs6 + n_v)
    bad = missing + bad_hs6 + infinite + int(v0 is not None and v0 < 0) + int(q0 is not None and q0 < 0)
    if not bad and rows:  # one flow (year, exporter, importer, product) listed twice
        bad = con.execute(f"""SELECT count(*) FROM (SELECT year, exporter, importer, hs6
                              FROM read_parquet('{path.as_posix()}') GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
    return {"rows": rows, "products": products, "y0": y0, "y1": y1, "bad": bad,
            "digest": _digest(columns, rows, row_hashes)}


def parquet_digest(path: Path) -> str:
    """Content digest of a Parquet table: sha256 over its column names and types, its row count and the
    sum of DuckDB's 64-bit ``hash()`` of every row together with its position in the file.

    It depends on the values and their order only (not on compression, encoding or row groups),
    costs one parallel DuckDB scan, and the import gets it from the scan that also checks the rows
    and counts them. It relies on DuckDB's ``hash()``: the same content gives the same digest with
    the same DuckDB release. (It replaced a streamed sha256 of the Arrow buffers, which took longer
    than parsing a 10 M-row BACI year.)
    """
    path = Path(path)
    con = duckdb.connect(":memory:")
    try:
        columns = _columns(con, path)
        rows, row_hashes = con.execute(_hash_sql(path, columns)).fetchone()
    finally:
        con.close()
    return _digest(columns, rows, row_hashes)


def _assemble(world: World, tmp: Path, out: Path, trade_digest: str, stats: tuple, chains_only: bool) -> dict:
    rows, products, y0, y1, total = stats
    resources, digests = [], {"trade": trade_digest}
    for res in world.datapackage["resources"]:
        name = res["name"]
        if name == "trade":
            continue
        src = world.table_file(name)  # checked against its size and hash: a damaged base table is named
        shutil.copy2(src, tmp / res["path"])
        res = {**res, **file_entry(tmp / res["path"])}
        if res.get("hash"):
            digests[name] = res["hash"].removeprefix("sha256:")
        else:
            from critmin.build import table_digest

            digests[name] = table_digest(world.table(name))
        resources.append(res)
    base_meta = next((r for r in world.datapackage["resources"] if r["name"] == "trade"), None)
    base_sources = [x["name"] for x in (base_meta or {}).get("sources", []) if x.get("name")]
    kept_sources = sorted(set(base_sources) - {"baci"}) if total > rows else []
    trade_meta = resource_entry("trade", int(total), sorted({"baci", *kept_sources}), "trade.parquet", trade_digest,
                                file_entry(tmp / "trade.parquet"))
    trade_meta["description"] = (
        "Bilateral trade: the base World's rows, with flows imported from full CEPII BACI release files "
        f"({'chain HS codes only' if chains_only else 'all products'}; source 'baci') replacing every "
        "(year, hs6) pair they contain; value in thousands of current USD, quantity in metric tons (may be missing)."
    )
    trade_meta["sources"] = [source_entry("baci")] + [source_entry(x) for x in kept_sources]
    resources.append(trade_meta)  # then put in the order of TABLES, as the build writes them
    order = list(TABLES)
    resources.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    chain_dir = Path(world.path) / "chains"
    chain_files = {}
    if chain_dir.is_dir():
        shutil.copytree(chain_dir, tmp / "chains")
        chain_files = {p.name: p.read_bytes() for p in sorted(chain_dir.glob("*.yaml"))}
    dp = dict(world.datapackage)
    dp["resources"] = resources
    dp["checksum"] = world_checksum(digests, chain_files)
    dp["derived_from"] = {"world_checksum": world.checksum, "import": "critmin data import-baci",
                          "chains_only": chains_only}
    srcs = {s["name"]: s for s in dp.get("sources", [])}
    srcs["baci"] = source_entry("baci")
    dp["sources"] = sorted(srcs.values(), key=lambda s: s["name"])
    publish_world(tmp, out, dp)
    return {"rows": int(rows), "products": int(products), "years": f"{y0}-{y1}" if rows else "none",
            "kept_rows": int(total - rows), "checksum": dp["checksum"], "path": str(out)}
