"""``critmin data import-baci``: full BACI releases (~10 M rows a year) into a new World.

Each file is validated and streamed by DuckDB straight into Parquet (no pandas
copy of the data), with a memory limit, so peak memory stays well under 2 GB
for a 10 M-row year. The new World at ``out`` holds every table of the base
World except ``trade``, which is replaced by the imported flows (all products,
or only the chains' HS codes with ``chains_only``). Writing is atomic: the
World is assembled in a temporary folder next to ``out`` and renamed into place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from critmin.build import TABLES, _resource, table_digest, world_checksum
from critmin.errors import InputError
from critmin.ingest.baci import _duck_error, baci_relation, read_country_codes, validate_relation
from critmin.ingest.sources import source_entry
from critmin.world import World

DEFAULT_MEMORY_LIMIT = "1GB"


def chain_hs_codes(world: World) -> set[str]:
    """Every HS6 code named by the World's chains."""
    codes: set[str] = set()
    for ch in world.chains.values():
        for st in ch.stages:
            codes.update(st.hs6)
    return codes


def _default_country_codes() -> Path:
    from critmin.build import default_raw_dir

    return default_raw_dir() / "trade" / "baci_country_codes_V202401b.csv"


def import_baci(
    world: World,
    files: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    chains_only: bool = False,
    country_codes: str | os.PathLike[str] | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    progress: bool = False,
) -> dict[str, Any]:
    """Import BACI CSV files into a new World at ``out``; returns a summary dict.

    Summary keys: rows, products, years (e.g. "2022-2023"), checksum, path.
    """
    files = [Path(f) for f in files]
    if not files:
        raise InputError("FILE", None, "no BACI files given")
    out = Path(out).resolve()
    if world.path is not None and out == Path(world.path).resolve():
        raise InputError("--out", str(out), "must differ from the World being read")
    known = set(world.countries()["iso3"])
    codes = read_country_codes(Path(country_codes) if country_codes else _default_country_codes(), known)
    hs_filter = chain_hs_codes(world) if chains_only else None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.importing-", dir=out.parent))
    tmp.chmod(0o755)
    con = duckdb.connect(":memory:")
    try:
        con.execute(f"SET memory_limit = '{memory_limit}'")
        # Keep file order (no global sort): output and checksum are deterministic for the same inputs,
        # and nothing has to be held in memory or spilled to sort 10 M rows.
        con.execute("SET preserve_insertion_order = true")
        spill = tmp / ".spill"
        spill.mkdir()
        con.execute(f"SET temp_directory = '{spill.as_posix()}'")
        con.register("codes_df", codes)
        con.execute("CREATE TEMP TABLE codes AS SELECT * FROM codes_df")
        # Codes -> ISO3 by indexing a literal list (NULL for an unknown code). Unlike a hash join, this
        # keeps the rows in file order, so the output and its checksum are deterministic without a sort.
        iso = dict(zip(codes["baci_code"].astype(int), codes["iso3"], strict=True))
        lookup = "[" + ", ".join(f"'{iso[c]}'" if c in iso else "NULL" for c in range(max(iso) + 1)) + "]"
        parts = []
        iterator: Iterable[Path] = files
        if progress:
            from rich.progress import track

            iterator = track(files, description="importing BACI")
        for n, path in enumerate(iterator):
            name = baci_relation(con, path, hs_filter)
            # One pass over the CSV (the slow part) straight into Parquet; the checks then scan the
            # columnar result. Only when they find a problem is the text scanned again, to name the row.
            part = tmp / f".trade-{n:04d}.parquet"
            try:
                con.execute(
                    f"""COPY (SELECT t AS year, CASE WHEN i >= 0 THEN {lookup}[i + 1] END AS exporter,
                               CASE WHEN j >= 0 THEN {lookup}[j + 1] END AS importer, k AS hs6, v AS value_kusd,
                               CASE WHEN q_text IS NULL OR trim(q_text) IN ('', 'NA') THEN NULL
                                    ELSE CAST(trim(q_text) AS DOUBLE) END AS quantity_t, 'baci' AS source
                        FROM {name})
                        TO '{part.as_posix()}' (FORMAT parquet, COMPRESSION snappy)"""
                )
            except duckdb.Error as exc:
                _raise_first_problem(con, name, path, exc)
            bad = con.execute(
                f"""SELECT count(*) FROM read_parquet('{part.as_posix()}')
                    WHERE year IS NULL OR exporter IS NULL OR importer IS NULL OR value_kusd IS NULL
                       OR value_kusd < 0 OR quantity_t < 0 OR NOT regexp_full_match(hs6, '[0-9]{{6}}')"""
            ).fetchone()[0]
            if bad:
                _raise_first_problem(con, name, path, None)
            parts.append(part)
        trade_file = tmp / "trade.parquet"
        if len(parts) == 1:
            os.replace(parts[0], trade_file)
        else:
            plist = ", ".join(f"'{p.as_posix()}'" for p in parts)
            con.execute(
                f"""COPY (SELECT * FROM read_parquet([{plist}]))
                    TO '{trade_file.as_posix()}' (FORMAT parquet, COMPRESSION snappy)"""
            )
            for p in parts:
                p.unlink()
        shutil.rmtree(spill, ignore_errors=True)
        stats = con.execute(
            f"""SELECT count(*), count(DISTINCT hs6), min(year), max(year)
                FROM read_parquet('{trade_file.as_posix()}')"""
        ).fetchone()
        trade_digest = parquet_digest(trade_file)
        return _assemble(world, tmp, out, trade_digest, stats, chains_only)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        con.close()


def _raise_first_problem(con: duckdb.DuckDBPyConnection, name: str, path: Path, exc: Exception | None) -> None:
    """Scan the text of a BACI file that failed a check; raise an InputError naming its first bad row."""
    validate_relation(con, name, path)  # type errors (by line), missing values, negatives, bad HS codes
    unknown = con.execute(
        f"""SELECT c, col FROM (SELECT DISTINCT i AS c, 'i' AS col FROM {name}
            UNION SELECT DISTINCT j, 'j' FROM {name}) WHERE c NOT IN (SELECT baci_code FROM codes)
            ORDER BY col, c LIMIT 1"""
    ).fetchall()
    if unknown:
        c, col = unknown[0]
        raise InputError(str(path), f"column {col}", f"unknown BACI country code {c}")
    if exc is not None:
        raise _duck_error(path, exc) from None
    raise InputError(str(path), None, "rows failed the import checks")  # not reached: validation names them


def parquet_digest(path: Path, batch_rows: int = 1_000_000) -> str:
    """sha256 over a Parquet table's content, streamed batch by batch (memory: one batch).

    Per batch and column: the null mask (or one zero byte when there are no NULLs), then the
    values' bytes (numbers as binary, NULL as 0; text as its UTF-8 bytes with offsets relative
    to the batch). A ``string_agg`` of the whole table as text needs all of it in memory at
    once, and ran out of memory on a 10 M-row BACI year.
    """
    import hashlib

    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    h = hashlib.sha256()
    pf = pq.ParquetFile(path)
    h.update(",".join(pf.schema_arrow.names).encode())
    for batch in pf.iter_batches(batch_size=batch_rows):
        for col in batch.columns:
            text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
            if col.null_count:
                h.update(np.asarray(pc.is_null(col)).tobytes())
                col = pc.fill_null(col, "" if text else 0)
            else:
                h.update(b"\0")
            if text:
                _, offsets, data = col.buffers()
                width = np.int32 if pa.types.is_string(col.type) else np.int64
                off = np.frombuffer(offsets, dtype=width)[col.offset: col.offset + len(col) + 1]
                h.update((off - off[0]).astype("<i8").tobytes())
                if data is not None:
                    h.update(memoryview(data)[int(off[0]): int(off[-1])])
            else:
                h.update(np.ascontiguousarray(col.to_numpy(zero_copy_only=False)).tobytes())
    return h.hexdigest()


def _assemble(world: World, tmp: Path, out: Path, trade_digest: str, stats: tuple, chains_only: bool) -> dict:
    rows, products, y0, y1 = stats
    resources, digests = [], {"trade": trade_digest}
    for res in world.datapackage["resources"]:
        name = res["name"]
        if name == "trade":
            continue
        src = Path(world.path) / res["path"]
        shutil.copy2(src, tmp / res["path"])
        df = world.table(name)
        digests[name] = res.get("hash", "").removeprefix("sha256:") or table_digest(df)
        resources.append(res)
    trade_meta = _resource("trade", pd.DataFrame({"source": ["baci"]}), "trade.parquet", trade_digest)
    trade_meta["rows"] = int(rows)
    trade_meta["description"] = (
        "Bilateral trade imported from full CEPII BACI release files "
        f"({'chain HS codes only' if chains_only else 'all products'}); value in thousands of current USD, "
        "quantity in metric tons (may be missing)."
    )
    trade_meta["sources"] = [source_entry("baci")]
    resources.insert(next((i for i, r in enumerate(resources) if r["name"] == "trade"), len(resources)), trade_meta)
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
    (tmp / "datapackage.json").write_text(json.dumps(dp, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    backup = None
    if out.exists():
        backup = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, backup)
    os.replace(tmp, out)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
    return {"rows": int(rows), "products": int(products), "years": f"{y0}-{y1}" if rows else "none",
            "checksum": dp["checksum"], "path": str(out)}
