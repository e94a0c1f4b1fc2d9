"""USGS Mineral Commodity Summaries 2025 data release: world data and US salient statistics."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from critmin.errors import InputError
from critmin.ingest import MAPPINGS
from critmin.ingest.common import read_csv_checked, to_number
from critmin.validate import check_number

WORLD_COLUMNS = ["SOURCE", "COMMODITY", "COUNTRY", "TYPE", "UNIT_MEAS", "PROD_2023", "PROD_EST_ 2024",
                 "RESERVES_2024"]
_RESERVE_TO_T = {"metric tons": 1.0, "thousand metric tons": 1e3, "kilograms": 1e-3,
                 "thousand metric dry tons": 1e3, "million metric tons": 1e6}


def _norm(s: pd.Series) -> pd.Series:
    return s.str.replace("\u00a0", " ", regex=False).str.strip()


def read_country_map(raw: Path) -> pd.DataFrame:
    """USGS country strings -> ISO3 (``usgs_country_iso3.csv``)."""
    f = raw / "countries" / "usgs_country_iso3.csv"
    df = read_csv_checked(f, ["usgs_country", "usgs_country_normalized", "iso3", "kind"])
    df["usgs_country_normalized"] = _norm(df["usgs_country_normalized"])
    return df


#: Series whose RESERVES_2024 column is not a reserve of the series' material: MCS 2025 gives one
#: combined platinum-group-metals reserve figure on the palladium rows.
NO_RESERVES = {("Platinum-Group metals", "Mine production, Palladium content")}


def _series_map() -> pd.DataFrame:
    f = MAPPINGS / "usgs_series.csv"
    return read_csv_checked(f, ["usgs_commodity", "usgs_type", "material", "stage", "to_tonnes", "unit"])


def _parse_reserve(text: str) -> tuple[float, str]:
    t = text.strip().replace(",", "")
    if t in ("", "NA", "W", "—"):
        return np.nan, ""
    flag = ""
    if t.startswith(">"):
        flag, t = "lower bound", t[1:]
    try:
        return float(t), flag
    except ValueError:
        return np.nan, f"unparsed: {text.strip()}"


def read_world_data(raw: Path, countries: set[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Production (2023, 2024e), reserves (2024) and world totals from MCS2025_World_Data.csv.

    Quantities are converted to tonnes of the stated content (kg -> t for Ga, Ge, Re;
    thousand t -> t). "Other countries" rows become country ``ROW``; "World total"
    rows go to the separate ``world_totals`` table.
    """
    f = raw / "usgs_mcs2025" / "MCS2025_World_Data.csv"
    df = read_csv_checked(f, WORLD_COLUMNS)
    df["row"] = np.arange(len(df)) + 2
    df["COMMODITY"] = _norm(df["COMMODITY"])
    df["TYPE"] = _norm(df["TYPE"])
    df["COUNTRY_N"] = _norm(df["COUNTRY"])
    cmap = read_country_map(raw)
    kind = dict(zip(cmap["usgs_country_normalized"], cmap["kind"], strict=True))
    iso = dict(zip(cmap["usgs_country_normalized"], cmap["iso3"], strict=True))
    smap = _series_map()
    key = {(c, t): (m, s, float(k), u) for c, t, m, s, k, u in smap[
        ["usgs_commodity", "usgs_type", "material", "stage", "to_tonnes", "unit"]].itertuples(index=False)}
    prod_rows, res_rows, tot_rows = [], [], []
    for r in df.itertuples(index=False):
        sk = key.get((r.COMMODITY, r.TYPE))
        if sk is None:
            continue
        material, stage, factor, unit = sk
        cname = r.COUNTRY_N
        if cname not in kind:
            raise InputError(str(f), f"row {r.row}, column COUNTRY", f"unknown country {cname!r}")
        k = kind[cname]
        code = iso[cname]
        if k == "group":
            continue  # e.g. "United States and Canada": cannot be split
        if k == "country" and code not in countries:
            raise InputError(str(f), f"row {r.row}, column COUNTRY", f"ISO3 {code!r} is not a known country")
        target = code if k == "country" else ("ROW" if k == "other" else "WLD")
        for col, year in (("PROD_2023", 2023), ("PROD_EST_ 2024", 2024)):
            text = getattr(r, _attr(df, col))
            val = _num(text, f, r.row, col)
            if np.isnan(val):
                continue
            if val < 0:
                raise InputError(str(f), f"row {r.row}, column {col}", f"negative quantity {text!r}")
            rec = {"material": material, "stage": stage, "year": year, "quantity": val * factor, "unit": unit,
                   "source": "usgs-mcs-2025", "case": "estimated" if year == 2024 else "reported",
                   "flag": str(getattr(r, "PROD_NOTES", "")).strip()}
            if target == "WLD":
                tot_rows.append({**rec, "note": cname})
            else:
                prod_rows.append({**rec, "country": target})
        rtext = r.RESERVES_2024
        rv, rflag = _parse_reserve(rtext)
        if not np.isnan(rv) and stage == "mining" and target != "WLD" and (r.COMMODITY, r.TYPE) not in NO_RESERVES:
            res_rows.append({"material": material, "country": target, "year": 2024,
                             "quantity": rv * factor, "unit": unit, "source": "usgs-mcs-2025",
                             "flag": rflag or str(getattr(r, "RESERVE_NOTES", "")).strip()})
    prod = pd.DataFrame(prod_rows)
    # A few commodities list the same country twice (e.g. beneficiated vs crude): sum them.
    prod = (prod.groupby(["material", "stage", "country", "year", "unit", "source", "case"], as_index=False)
            .agg(quantity=("quantity", "sum"), flag=("flag", lambda s: "; ".join(sorted({x for x in s if x})))))
    res = pd.DataFrame(res_rows)
    res = (res.groupby(["material", "country", "year", "unit", "source"], as_index=False)
           .agg(quantity=("quantity", "sum"), flag=("flag", lambda s: "; ".join(sorted({x for x in s if x})))))
    tot = pd.DataFrame(tot_rows)
    return prod, res, tot


def _attr(df: pd.DataFrame, col: str) -> str:
    # itertuples renames columns that are not identifiers to _<position>
    pos = list(df.columns).index(col)
    return col if col.isidentifier() else f"_{pos}"


def _num(text: str, f: Path, row: int, col: str) -> float:
    t = str(text).strip().replace(",", "")
    if t in ("", "NA", "W", "—", "-"):
        return np.nan
    if t.startswith(">") or t.startswith("<"):
        t = t[1:]
    return check_number(t, str(f), f"row {row}, column {col}", low=0)  # finite, plain decimal ("7_5" refused)


#: Units of the salient files' column-name suffixes (the USGS naming convention of the MCS data release,
#: e.g. ``Imports_t``, ``Price_dkg``). Longest suffixes are tried first.
_UNIT_SUFFIX = dict([
    ("_pct", "percent"), ("_dkg", "USD/kg"), ("_dt", "USD/t"), ("_dlb", "USD/lb"), ("_ctlb", "US cents/lb"),
    ("_ctslb", "US cents/lb"), ("_dtoz", "USD/troy oz"), ("_dto", "USD/troy oz"), ("_dmtu", "USD/mtu"),
    ("_dg", "USD/g"), ("_kg", "kg"), ("_g", "g"), ("_kt", "thousand t"), ("_t", "t"), ("_mmt", "million t"),
    ("_mt", "million t"), ("_num", "number"), ("_dst", "USD/short ton"), ("_dflask", "USD/flask"),
    ("_mct", "million carats"), ("_mdol", "million USD"), ("_mcm", "million m3"), ("_msqft", "million sq ft"),
    ("_index", "index"),
])
#: Unit of a statistic whose suffix is missing or not in the convention: stated, never guessed.
UNSTATED = "unstated in the USGS file"

#: Salient files covering several critmin materials: statistics naming one of them go to it; the others
#: keep the USGS code as material (e.g. PGM scrap, nepheline syenite, employment).
_STAT_MATERIAL = {
    "plati": (("Palladium", "palladium"), ("Platinum", "platinum"), ("Rhodium", "rhodium")),
    "felds": (("Feldspar", "feldspar"),),
}


def salient_unit(statistic: str) -> str:
    """Unit of a salient statistic from its column name (USGS suffix convention).

    Net import reliance (``NIR``) is a percentage of apparent consumption by USGS definition, whatever
    the suffix (the files also write ``NIR_ct`` and ``NIR_..._t``). pandas' ``.1`` marks of repeated
    column names are ignored. A suffix outside the convention gives :data:`UNSTATED`.
    """
    name = re.sub(r"\.\d+$", "", statistic)
    if re.search(r"(^|_)NIR(_|$)", name):
        return "percent"
    if name.startswith("Employment"):
        return "number"  # head count; the other files write Employment_num
    for suf in sorted(_UNIT_SUFFIX, key=len, reverse=True):
        if name.endswith(suf):
            if suf == "_mct" and "_Price_" in f"_{name}":
                return UNSTATED  # a price column with a quantity suffix
            return _UNIT_SUFFIX[suf]
    return UNSTATED


def read_salient(raw: Path, materials: pd.DataFrame) -> pd.DataFrame:
    """US salient statistics 2020-2024 for every commodity file, long format.

    Columns: material (slug where the commodity maps to one, else the USGS code),
    usgs_code, year, statistic (the USGS column), value (float), unit (from the
    column suffix), flag ('W' withheld, 'NA', 'E' net exporter, '>' lower bound,
    'e' estimated). NIR is in percent.
    """
    folder = raw / "usgs_mcs2025" / "salient"
    if not folder.is_dir():
        raise InputError(str(folder), None, "folder not found")
    usgs_to_mat = dict(zip(materials["usgs_commodity"].str.strip().str.lower(), materials["material"], strict=True))
    code_names = {"rareee": "rare-earths", "galli": "gallium", "germa": "germanium", "lithium": "lithium",
                  "cobal": "cobalt", "nicke": "nickel", "graph": "graphite", "manga": "manganese",
                  "antim": "antimony", "tungs": "tungsten", "coppe": "copper", "alumi": "aluminium",
                  "bauxi": "bauxite", "niobi": "niobium", "heliu": "helium"}
    rows = []
    for fpath in sorted(folder.glob("mcs2025-*_salient.csv")):
        code = fpath.name.removeprefix("mcs2025-").removesuffix("_salient.csv")
        df = read_csv_checked(fpath, ["Commodity", "Year"], fallback_encoding="latin-1")
        commodity = df["Commodity"].iloc[0].strip() if len(df) else code
        material = code_names.get(code) or usgs_to_mat.get(commodity.lower()) or code
        years = to_number(df["Year"].str.extract(r"(\d{4})")[0].fillna(""), fpath, "Year").astype("Int64")
        for col in df.columns:
            if col in ("DataSource", "Source", "Commodity", "Year") or col.startswith("Unnamed"):
                continue
            unit = salient_unit(col)
            col_material = material
            for word, mat in _STAT_MATERIAL.get(code, ()):
                if word.lower() in col.lower():
                    col_material = mat
                    break
            for y, text in zip(years, df[col], strict=True):
                t = str(text).strip().replace("\u2212", "-")  # USGS writes negatives with U+2212 MINUS SIGN
                if t == "" or pd.isna(y):
                    continue
                flag = ""
                m = re.fullmatch(r"([<>])?\s*(-?[\d,]*\.?\d+)\s*(e|E)?", t)
                if m:
                    value = float(m.group(2).replace(",", ""))
                    flag = (">" if m.group(1) == ">" else "<" if m.group(1) else "") + ("e" if m.group(3) else "")
                else:
                    value = float("nan")
                    flag = t
                rows.append({"material": col_material, "usgs_code": code, "year": int(y), "statistic": col,
                             "value": value, "unit": unit, "flag": flag, "source": "usgs-mcs-2025"})
    return pd.DataFrame(rows)
