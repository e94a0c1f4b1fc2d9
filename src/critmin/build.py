"""``critmin data build``: the World, rebuilt deterministically from raw public files.

The build reads each raw release with its reader in :mod:`critmin.ingest`,
checks it (any problem is an :class:`InputError` naming file, row/field and
problem), writes every table as Parquet (CSV where tiny) into a temporary
folder next to the target, writes ``datapackage.json`` with per-table columns,
units, sources and licences plus a content checksum, and only then renames the
folder into place — a failed build leaves any existing World untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from critmin.chains import check_chain_references, load_chains
from critmin.errors import InputError
from critmin.ingest import baci, iea, reference, usgs, wgi, wmd
from critmin.ingest.sources import SOURCES, license_entry, source_entry

CHAINS_DIR = Path(__file__).parent / "chains"
DATAPACKAGE_NAME = "critmin-world"
WORLD_VERSION = "2026.11"

#: Table metadata: description, sort key, per-column (type, unit, description), source ids.
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
        "World Mining Data / USGS / IEA releases, default production source.",
        "key": ["material"],
        "fields": {"material": ("string", None), "name": ("string", None), "unit": ("string", None),
                   "wmd_name": ("string", None), "usgs_commodity": ("string", None),
                   "iea_name": ("string", None), "default_source": ("string", None), "note": ("string", None)},
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
        "Sources overlap on purpose: filter on 'source'; materials.default_source names the default.",
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
    "materials": ["wmd", "usgs-mcs-2025", "iea-2025", "critmin"],
    "hs_codes": ["baci-hs92-v202401b"],
    "production": ["wmd", "usgs-mcs-2025", "iea-2025"],
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


def default_raw_dir() -> Path:
    """The repository's ``data/raw`` (next to ``src/``), where the raw public files are kept."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "data" / "raw"
        if (cand / "SOURCES.md").is_file():
            return cand
    raise InputError("--from", None, "no raw data folder found; pass --from RAW (a copy of data/raw)")


def table_digest(df: pd.DataFrame) -> str:
    """sha256 of a table's canonical CSV text (row order as stored, floats at full precision)."""
    text = df.to_csv(index=False, lineterminator="\n", float_format="%.17g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def world_checksum(digests: dict[str, str], chain_files: dict[str, bytes]) -> str:
    """Combine table digests and chain file bytes into the build's content checksum."""
    h = hashlib.sha256()
    for name in sorted(digests):
        h.update(f"{name}:{digests[name]}\n".encode())
    for name in sorted(chain_files):
        h.update(f"chain:{name}:{hashlib.sha256(chain_files[name]).hexdigest()}\n".encode())
    return h.hexdigest()


def _normalise(name: str, df: pd.DataFrame) -> pd.DataFrame:
    meta = TABLES[name]
    cols = list(meta["fields"])
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(name, missing[0], "build produced a table without this column")
    df = df[cols].copy()
    for c, (typ, _unit) in meta["fields"].items():
        if typ == "integer":
            df[c] = df[c].astype("Int64")
        elif typ == "number":
            df[c] = pd.to_numeric(df[c]).astype("float64")
        elif typ == "boolean":
            df[c] = df[c].astype(bool)
        else:
            df[c] = df[c].fillna("").astype(str)
    return df.sort_values(meta["key"], kind="mergesort", ignore_index=True)


def chain_tables(chains: dict) -> dict[str, pd.DataFrame]:
    """Flatten validated chains into the chain_stages / chain_inputs / chain_end_uses tables."""
    st, inp, eu = [], [], []
    for cid, ch in chains.items():
        for n, s in enumerate(ch.stages):
            st.append({"chain": cid, "order": n, "stage": s.id, "name": s.name, "kind": s.kind,
                       "material": s.material, "content": s.content, "hs6": ";".join(s.hs6),
                       "production_material": s.production.material if s.production else "",
                       "production_stage": s.production.stage if s.production else "",
                       "production_source": (s.production.source or "") if s.production else ""})
            for i in s.inputs:
                inp.append({"chain": cid, "stage": s.id, "input_stage": i.stage, "factor": i.factor.value,
                            "unit": i.factor.unit, "source": i.factor.source or "",
                            "assumption": i.factor.assumption, "rationale": i.factor.rationale or ""})
        for e in ch.end_uses:
            eu.append({"chain": cid, "sector": e.sector, "name": e.name, "stage": e.stage, "defence": e.defence,
                       "share": e.share.value if e.share else float("nan"),
                       "share_source": (e.share.source or e.share.rationale or "") if e.share else "",
                       "share_assumption": bool(e.share and e.share.assumption),
                       "intensity": e.intensity.value if e.intensity else float("nan"),
                       "intensity_unit": e.intensity.unit if e.intensity else "",
                       "intensity_source": (e.intensity.source or e.intensity.rationale or "") if e.intensity else "",
                       "intensity_assumption": bool(e.intensity and e.intensity.assumption)})
    return {
        "chain_stages": pd.DataFrame(st, columns=list(TABLES["chain_stages"]["fields"])),
        "chain_inputs": pd.DataFrame(inp, columns=list(TABLES["chain_inputs"]["fields"])),
        "chain_end_uses": pd.DataFrame(eu, columns=list(TABLES["chain_end_uses"]["fields"])),
    }


def read_all(raw: Path, chains_dir: Path | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, bytes]]:
    """Read and check every raw file; return the World's tables and the chain files' bytes."""
    raw = Path(raw)
    if not raw.is_dir():
        raise InputError(str(raw), None, "raw data folder not found")
    countries = reference.read_countries(raw)
    extra = pd.read_csv(reference.MAPPINGS / "extra_codes.csv", dtype=str, keep_default_na=False)
    extra_rows = pd.DataFrame({"iso3": extra["iso3"], "iso2": "", "name": extra["name"], "aliases": "",
                               "m49": pd.NA,
                               "region": "", "continent": "", "centroid_lon": float("nan"),
                               "centroid_lat": float("nan"), "kind": extra["kind"]})
    countries = pd.concat([countries, extra_rows], ignore_index=True)
    known = set(countries["iso3"])
    materials = reference.read_materials()
    tables: dict[str, pd.DataFrame] = {
        "countries": countries,
        "us_states": reference.read_us_states(raw),
        "blocs": reference.read_blocs(countries),
        "materials": materials,
        "hs_codes": reference.read_hs_codes(raw),
        "wmd_hs_map": wmd.read_wmd_hs_map(raw),
    }
    prod_wmd = wmd.read_wmd(raw, materials, known)
    prod_usgs, reserves, totals = usgs.read_world_data(raw, known)
    prod_iea = iea.read_iea_supply(raw, materials, countries)
    tables["production"] = pd.concat([prod_wmd, prod_usgs, prod_iea], ignore_index=True)
    tables["reserves"] = reserves
    tables["world_totals"] = totals
    tables["demand"] = iea.read_iea_demand(raw, materials)
    tables["salient"] = usgs.read_salient(raw, materials)
    tables["governance"] = pd.concat([wgi.read_wgi(raw, known), wgi.read_geopolrisk_instability(raw, known)],
                                     ignore_index=True)
    codes = baci.read_country_codes(raw / "trade" / "baci_country_codes_V202401b.csv", known)
    hs92 = baci.read_baci([raw / "trade" / "baci_hs92_V202401b_critical_1995_2024.csv.gz"], codes,
                          "baci-hs92-v202401b")
    hs17 = baci.read_baci_hs17_bilateral(raw, known)
    hs17 = hs17[~hs17["hs6"].isin(set(hs92["hs6"]))]
    tables["trade"] = pd.concat([hs92, hs17], ignore_index=True)
    # Chains: validate, then check that they name only known materials and HS codes.
    chains_dir = chains_dir or CHAINS_DIR
    chains = load_chains(chains_dir)
    hs_known = set(tables["hs_codes"]["hs6"]) | set(tables["trade"]["hs6"])
    for cid, ch in chains.items():
        check_chain_references(ch, str(chains_dir / f"{cid}.yaml"), set(materials["material"]), hs_known)
    tables.update(chain_tables(chains))
    chain_files = {p.name: p.read_bytes() for p in sorted(chains_dir.glob("*.yaml"))}
    return tables, chain_files


def _resource(name: str, df: pd.DataFrame, path: str, digest: str) -> dict[str, Any]:
    meta = TABLES[name]
    fields = [{"name": c, "type": t, **({"unit": u} if u else {})} for c, (t, u) in meta["fields"].items()]
    ids = TABLE_SOURCES[name]
    used = sorted(set(df["source"])) if "source" in df.columns and not name.startswith("chain_") else []
    for u in used:
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
        "rows": int(len(df)),
        "hash": f"sha256:{digest}",
        "schema": {"fields": fields, "primaryKey": meta["key"]},
        "sources": [source_entry(s) for s in ids],
        "licenses": lic,
    }


def publish_world(tmp: Path, out: Path, datapackage: dict[str, Any]) -> None:
    """Write ``datapackage.json`` into the finished folder ``tmp``, then swap it into place at ``out``.

    The previous World at ``out`` (if any) is moved aside by one rename and deleted only after the
    new folder is in place, so readers never see a half-written World.
    """
    text = json.dumps(datapackage, indent=1, ensure_ascii=False) + "\n"
    (tmp / "datapackage.json").write_text(text, encoding="utf-8")
    backup = None
    if out.exists():
        backup = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, backup)
    os.replace(tmp, out)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def write_world(
    tables: dict[str, pd.DataFrame], chain_files: dict[str, bytes], out: Path, extra: dict | None = None
) -> dict[str, Any]:
    """Write tables + chains + datapackage.json to ``out`` atomically; return the datapackage."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    tmp.chmod(0o755)
    try:
        resources, digests = [], {}
        for name in TABLES:
            if name not in tables:
                continue
            df = _normalise(name, tables[name])
            digests[name] = table_digest(df)
            fmt = TABLES[name].get("format", "parquet")
            rel = f"{name}.{fmt}"
            if fmt == "csv":
                df.to_csv(tmp / rel, index=False, lineterminator="\n", float_format="%.17g")
            else:
                df.to_parquet(tmp / rel, index=False, compression="zstd")
            resources.append(_resource(name, df, rel, digests[name]))
        (tmp / "chains").mkdir()
        for fname, data in chain_files.items():
            (tmp / "chains" / fname).write_bytes(data)
        checksum = world_checksum(digests, chain_files)
        used_ids = sorted({s["name"] for r in resources for s in r["sources"]})
        dp = {
            "profile": "data-package",
            "name": DATAPACKAGE_NAME,
            "title": "critmin World: critical-mineral production, trade, governance, demand and chains",
            "version": WORLD_VERSION,
            "checksum": checksum,
            "resources": resources,
            "sources": [source_entry(s) for s in used_ids],
            "source_ids": [{"id": s, "title": SOURCES[s]["title"], "license": SOURCES[s]["license"]}
                           for s in used_ids],
            "chains": sorted(chain_files),
            **(extra or {}),
        }
        publish_world(tmp, out, dp)
        return dp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def build_world(raw: str | os.PathLike[str], out: str | os.PathLike[str], chains_dir: Path | None = None) -> dict:
    """Build the World from raw files into ``out`` (atomic); return its datapackage dict."""
    tables, chain_files = read_all(Path(raw), chains_dir)
    return write_world(tables, chain_files, Path(out))
