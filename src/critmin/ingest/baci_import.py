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
        con.execute("SET preserve_insertion_order = false")
        spill = tmp / ".spill"
        spill.mkdir()
        con.execute(f"SET temp_directory = '{spill.as_posix()}'")
        con.register("codes_df", codes)
        con.execute("CREATE TEMP TABLE codes AS SELECT * FROM codes_df")
        parts = []
        iterator: Iterable[Path] = files
        if progress:
            from rich.progress import track

            iterator = track(files, description="importing BACI")
        for n, path in enumerate(iterator):
            name = baci_relation(con, path, hs_filter)
            validate_relation(con, name, path)
            unknown = con.execute(
                f"""SELECT c, col FROM (SELECT DISTINCT i AS c, 'i' AS col FROM {name}
                    UNION SELECT DISTINCT j, 'j' FROM {name}) WHERE c NOT IN (SELECT baci_code FROM codes)
                    ORDER BY col, c LIMIT 1"""
            ).fetchall()
            if unknown:
                c, col = unknown[0]
                raise InputError(str(path), f"column {col}", f"unknown BACI country code {c}")
            part = tmp / f".trade-{n:04d}.parquet"
            try:
                con.execute(
                    f"""COPY (SELECT b.t AS year, ce.iso3 AS exporter, ci.iso3 AS importer, b.k AS hs6,
                               b.v AS value_kusd, b.q AS quantity_t, 'baci' AS source
                        FROM {name} b JOIN codes ce ON b.i = ce.baci_code JOIN codes ci ON b.j = ci.baci_code)
                        TO '{part.as_posix()}' (FORMAT parquet, COMPRESSION zstd)"""
                )
            except duckdb.Error as exc:
                raise _duck_error(path, exc) from None
            parts.append(part)
        trade_file = tmp / "trade.parquet"
        plist = ", ".join(f"'{p.as_posix()}'" for p in parts)
        con.execute(
            f"""COPY (SELECT * FROM read_parquet([{plist}])
                ORDER BY source, hs6, year, exporter, importer)
                TO '{trade_file.as_posix()}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)"""
        )
        for p in parts:
            p.unlink()
        shutil.rmtree(spill, ignore_errors=True)
        stats = con.execute(
            f"""SELECT count(*), count(DISTINCT hs6), min(year), max(year)
                FROM read_parquet('{trade_file.as_posix()}')"""
        ).fetchone()
        trade_digest = con.execute(
            f"""SELECT sha256(string_agg(concat_ws(',', year, exporter, importer, hs6, value_kusd,
                       coalesce(CAST(quantity_t AS VARCHAR), ''), source), chr(10)
                       ORDER BY source, hs6, year, exporter, importer))
                FROM read_parquet('{trade_file.as_posix()}')"""
        ).fetchone()[0]
        return _assemble(world, tmp, out, trade_digest, stats, chains_only)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        con.close()


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
