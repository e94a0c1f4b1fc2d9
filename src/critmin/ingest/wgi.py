"""World Bank Worldwide Governance Indicators: six estimates, plus GeoPolRisk's normalised instability."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from critmin.errors import InputError
from critmin.ingest.common import read_csv_checked, to_number
from critmin.validate import YEAR_MAX, YEAR_MIN, check_column, check_number, check_unique, check_year_column

#: WGI economy codes that are not ISO 3166 alpha-3.
WGI_TO_ISO3 = {"ADO": "AND", "ROM": "ROU", "ZAR": "COD", "TMP": "TLS", "WBG": "PSE", "KSV": "XKK"}
INDICATORS = ("va", "pv", "ge", "rq", "rl", "cc")
#: WGI estimates lie on a standard normal scale (about -2.5..2.5); beyond +-5 a value is an error.
WGI_LIMIT = 5.0


def read_wgi(raw: Path, countries: set[str]) -> pd.DataFrame:
    """``governance`` rows (country, year, indicator, value) from the WGI long file (estimates)."""
    f = raw / "governance" / "wgi_1996_2023_long.csv"
    df = read_csv_checked(f, ["code", "year", "indicator", "estimate"])
    code = df["code"].map(lambda c: WGI_TO_ISO3.get(c, c))
    keep = code != "ANT"  # former Netherlands Antilles: no current ISO3
    for i in np.flatnonzero((~code.isin(countries) & keep).to_numpy()):
        raise InputError(str(f), f"row {i + 2}, column code", f"unknown country code {df['code'].iloc[i]!r}")
    bad = ~df["indicator"].isin(INDICATORS)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(str(f), f"row {i + 2}, column indicator", f"unknown indicator {df['indicator'].iloc[i]!r}")
    value = to_number(df["estimate"], f, "estimate")
    check_column(value, str(f), "estimate", low=-WGI_LIMIT, high=WGI_LIMIT)
    year = to_number(df["year"], f, "year", allow_empty=False)
    check_year_column(year, str(f), "year")
    year = year.astype(int)
    check_unique(df.assign(year=year), ["code", "year", "indicator"], str(f))
    out = pd.DataFrame({"country": code, "year": year, "indicator": df["indicator"], "value": value,
                        "source": "wgi-2024"})
    out = out[keep & out["value"].notna()]
    return out


def read_geopolrisk_instability(raw: Path, countries: set[str]) -> pd.DataFrame:
    """GeoPolRisk's normalised political instability g = clip((2.5 - PV)/5, 0, 1), 1996-2024.

    Returned as governance rows with indicator ``pv_instability``; the raw file's zeros for
    years before a country has data are kept as published (the peer library uses them as-is).
    """
    f = raw / "governance" / "wgi_political_stability_normalized_geopolrisk.csv"
    df = read_csv_checked(f, ["Country/Territory", "Code"])
    years = [c for c in df.columns if c.isdigit()]
    if not years:
        raise InputError(str(f), "header", "no year columns")
    for y in years:
        check_number(y, str(f), f"header, column {y}", low=YEAR_MIN, high=YEAR_MAX, whole=True)
    rows = []
    for i, code in enumerate(df["Code"]):
        iso = WGI_TO_ISO3.get(code, code)
        if iso == "ANT":
            continue
        if iso not in countries:
            raise InputError(str(f), f"row {i + 2}, column Code", f"unknown country code {code!r}")
        for y in years:
            text = df[y].iloc[i]
            if text.strip().lower() in ("", "none", "na", "..", "nan"):
                continue
            v = check_number(text, str(f), f"row {i + 2}, column {y}")  # finite, plain decimal
            if not 0.0 <= v <= 1.0:
                raise InputError(str(f), f"row {i + 2}, column {y}", f"instability {v} outside [0, 1]")
            rows.append((iso, int(y), "pv_instability", v))
    out = pd.DataFrame(rows, columns=["country", "year", "indicator", "value"])
    out["source"] = "wgi-geopolrisk"
    return out
