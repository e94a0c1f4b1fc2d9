"""``critmin data build``: the World, rebuilt deterministically from raw public files.

The build reads each raw release with its reader in :mod:`critmin.ingest`,
checks it (any problem is an :class:`InputError` naming file, row/field and
problem), writes every table as Parquet (CSV where tiny) into a temporary
folder next to the target, writes ``datapackage.json`` with per-table columns,
units, sources and licences, file sizes and hashes plus a content checksum, and only
then swaps the folder into place in one step (:mod:`critmin.atomic`) — a failed or
killed build leaves any existing World untouched, and only ever replaces a World.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd

from critmin.atomic import check_world_out, fault_point, world_writer
from critmin.chains import check_chain_references, load_chains
from critmin.datapackage import (
    DATAPACKAGE_NAME,
    TABLES,
    WORLD_VERSION,
    file_entry,
    publish_world,
    resource_entry,
    world_checksum,
)
from critmin.errors import InputError
from critmin.ingest import baci, iea, reference, usgs, wgi, wmd
from critmin.ingest.common import read_csv_checked
from critmin.ingest.sources import SOURCES, source_entry

CHAINS_DIR = Path(__file__).parent / "chains"


def table_digest(df: pd.DataFrame) -> str:
    """sha256 of a table's canonical CSV text (row order as stored, floats at full precision)."""
    text = df.to_csv(index=False, lineterminator="\n", float_format="%.17g")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
    extra = read_csv_checked(reference.MAPPINGS / "extra_codes.csv", ["iso3", "name", "kind"])
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


def _resource(name: str, df: pd.DataFrame, path: str, digest: str, file: dict[str, Any]) -> dict[str, Any]:
    used = sorted(set(df["source"])) if "source" in df.columns and not name.startswith("chain_") else []
    return resource_entry(name, len(df), used, path, digest, file)


def write_world(
    tables: dict[str, pd.DataFrame], chain_files: dict[str, bytes], out: Path, extra: dict | None = None,
    option: str = "--out", inputs: tuple[Path, ...] = (),
) -> dict[str, Any]:
    """Write tables + chains + datapackage.json to ``out`` atomically; return the datapackage.

    ``out`` must be new, an empty folder or a World (:func:`critmin.atomic.check_world_out`, errors naming
    ``option``), and hold none of ``inputs``; writers of one ``out`` queue on its lock, and the new World
    replaces the old one in one step (:func:`critmin.atomic.world_writer`).
    """
    with world_writer(out, "building", option, inputs) as (tmp, target):
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
            resources.append(_resource(name, df, rel, digests[name], file_entry(tmp / rel)))
            fault_point("build:table-written")
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
        publish_world(tmp, target, dp)
        return dp


def build_world(raw: str | os.PathLike[str], out: str | os.PathLike[str], chains_dir: Path | None = None,
                option: str = "--out") -> dict:
    """Build the World from raw files into ``out`` (atomic); return its datapackage dict.

    ``out`` is checked before the raw files are read (a bad target fails at once, naming ``option``).
    """
    inputs = (Path(raw), chains_dir or CHAINS_DIR)
    check_world_out(out, option, inputs)
    tables, chain_files = read_all(Path(raw), chains_dir)
    return write_world(tables, chain_files, Path(out), option=option, inputs=inputs)
