"""Reference tables: countries (ISO3), US states, blocs, materials, HS codes."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from critmin.errors import InputError
from critmin.ingest import MAPPINGS
from critmin.ingest.common import read_csv_checked, to_number

#: Codes some releases use in place of ISO3 (BACI/WMD "Other Asia, nes" is Taiwan in practice).
CODE_ALIASES = {"S19": "TWN"}

#: Non-country aggregate codes that may appear where a source reports a remainder or a total.
AGGREGATES = {
    "ROW": "Rest of world (countries a source does not list individually)",
    "WLD": "World total",
}


def read_countries(raw: Path) -> pd.DataFrame:
    """``countries``: iso3, iso2, name, m49, region, continent, centroid, kind (country|aggregate)."""
    f = raw / "countries" / "countries.csv"
    df = read_csv_checked(f, ["iso2", "iso3", "iso_numeric", "name", "region", "continent"])
    bad = ~df["iso3"].str.fullmatch(r"[A-Z]{3}")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(str(f), f"row {i + 2}, column iso3", f"not an ISO3 code: {df['iso3'].iloc[i]!r}")
    if df["iso3"].duplicated().any():
        i = int(df["iso3"].duplicated().to_numpy().nonzero()[0][0])
        raise InputError(str(f), f"row {i + 2}, column iso3", f"duplicate code {df['iso3'].iloc[i]!r}")
    out = pd.DataFrame(
        {
            "iso3": df["iso3"],
            "iso2": df["iso2"],
            "name": df["name"],
            "aliases": df["name_alt"] if "name_alt" in df.columns else "",
            "m49": to_number(df["iso_numeric"], f, "iso_numeric").astype("Int64"),
            "region": df["region"],
            "continent": df["continent"],
            "centroid_lon": to_number(df["centroid_lon"], f, "centroid_lon"),
            "centroid_lat": to_number(df["centroid_lat"], f, "centroid_lat"),
            "kind": "country",
        }
    )
    agg = pd.DataFrame(
        {
            "iso3": list(AGGREGATES),
            "iso2": "",
            "name": list(AGGREGATES.values()),
            "aliases": "",
            "m49": pd.array([pd.NA, 1], dtype="Int64"),
            "region": "",
            "continent": "",
            "centroid_lon": float("nan"),
            "centroid_lat": float("nan"),
            "kind": "aggregate",
        }
    )
    return pd.concat([out, agg], ignore_index=True).sort_values("iso3").reset_index(drop=True)


def read_us_states(raw: Path) -> pd.DataFrame:
    """``us_states``: usps, fips, name, is_territory, centroid_lon, centroid_lat."""
    f = raw / "countries" / "us_states.csv"
    df = read_csv_checked(f, ["fips", "usps", "name", "is_territory", "centroid_lon", "centroid_lat"])
    return pd.DataFrame(
        {
            "usps": df["usps"],
            "fips": df["fips"].str.zfill(2),
            "name": df["name"],
            "is_territory": df["is_territory"].str.lower().isin(["true", "1", "yes"]),
            "centroid_lon": to_number(df["centroid_lon"], f, "centroid_lon"),
            "centroid_lat": to_number(df["centroid_lat"], f, "centroid_lat"),
        }
    ).sort_values("usps", ignore_index=True)


def read_blocs(countries: pd.DataFrame, mapping: Path | None = None) -> pd.DataFrame:
    """``blocs``: bloc, iso3, basis — from the editable ``mappings/blocs.csv``."""
    f = mapping or MAPPINGS / "blocs.csv"
    df = read_csv_checked(f, ["bloc", "iso3", "basis"])
    known = set(countries["iso3"])
    for i, code in enumerate(df["iso3"]):
        if code not in known:
            raise InputError(str(f), f"row {i + 2}, column iso3", f"unknown country code {code!r}")
    dup = df.duplicated(["bloc", "iso3"])
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise InputError(str(f), f"row {i + 2}", f"duplicate member {df['iso3'].iloc[i]} of {df['bloc'].iloc[i]}")
    return df.sort_values(["bloc", "iso3"], ignore_index=True)


def read_materials(mapping: Path | None = None) -> pd.DataFrame:
    """``materials``: material slug, name, unit (content basis), wmd/usgs/iea names, default source."""
    f = mapping or MAPPINGS / "materials.csv"
    df = read_csv_checked(f, ["material", "name", "unit", "wmd_name", "usgs_commodity", "iea_name"])
    bad = ~df["material"].str.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*")
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(str(f), f"row {i + 2}, column material", f"not a lower-case slug: {df['material'].iloc[i]!r}")
    for col in LIST_COLUMNS:
        if col not in df.columns:
            raise InputError(str(f), f"column {col}", "missing column (critical-list membership: yes, no or empty)")
        bad = ~df[col].str.strip().isin(["yes", "no", ""])
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(str(f), f"row {i + 2}, column {col}",
                             f"must be yes, no or empty (not confirmed), not {df[col].iloc[i]!r}")
        df[col] = df[col].str.strip()
    return df.sort_values("material", ignore_index=True)


#: materials.csv columns saying whether a material is on a published critical list (see SOURCES.md).
LIST_COLUMNS = ("usgs_critical_2025", "japan_critical_2023", "japan_rare_metals_2009", "eu_crm_2023")


def read_hs_codes(raw: Path) -> pd.DataFrame:
    """``hs_codes``: hs6, description, nomenclature (HS92 / HS12 product lists of BACI)."""
    parts = []
    for name, nom in (
        ("baci_product_codes_HS92_V202401b.csv", "HS92"),
        ("baci_product_codes_HS12_V202201.csv", "HS12"),
    ):
        f = raw / "trade" / name
        df = read_csv_checked(f, ["code", "description"], fallback_encoding="latin-1")
        df["code"] = df["code"].str.strip().str.zfill(6)
        bad = ~df["code"].str.fullmatch(r"\d{4}[0-9A-Z]{2}")  # BACI uses 9999AA for "not classified"
        if bad.any():
            i = int(bad.to_numpy().nonzero()[0][0])
            raise InputError(str(f), f"row {i + 2}, column code", f"not a six-digit HS code: {df['code'].iloc[i]!r}")
        parts.append(pd.DataFrame({"hs6": df["code"], "description": df["description"], "nomenclature": nom}))
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["hs6", "nomenclature"], ignore_index=True)
