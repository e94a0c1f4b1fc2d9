"""World Mining Data (BMF Vienna), long format 2018-2024, and its GeoPolRisk HS mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from critmin.errors import InputError
from critmin.ingest.common import check_non_negative, read_csv_checked, to_number
from critmin.ingest.reference import CODE_ALIASES

_UNITS = {"metr. t": ("t", 1.0), "kg": ("kg", 1.0), "Mio m3": ("Mio m3", 1.0), "ct": ("ct", 1.0)}

#: WMD sheets reported on a different content basis than the material's unit: WMD gives lithium as
#: Li2O (e.g. Australia 2024: 230,000 t Li2O), while USGS and IEA give Li content. Values are kept as
#: published, with the unit that says so.
WMD_BASIS = {"Lithium (Li2O)": "t Li2O"}


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
    year = to_number(df["year"], f, "year", allow_empty=False).astype(int)
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
    return pd.DataFrame(
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
