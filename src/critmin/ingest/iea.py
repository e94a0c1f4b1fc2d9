"""IEA Critical Minerals Data Explorer 2025 (JSON conversion): supply by country, demand by sector."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd

from critmin.errors import InputError, read_user_text

#: IEA country labels that differ from ISO names.
IEA_COUNTRY_ALIASES = {
    "Democratic Republic of Congo": "COD",
    "Russia": "RUS",
    "United States": "USA",
    "Rest of world": "ROW",
    "Tanzania": "TZA",
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _load(raw: Path) -> tuple[Path, dict]:
    f = raw / "iea" / "iea_critical_minerals_data_explorer_2025.json"
    try:  # read_user_text: "file not found" and non-UTF-8 text are one-line InputErrors too
        data = json.loads(read_user_text(f))
    except json.JSONDecodeError as exc:
        raise InputError(str(f), f"line {exc.lineno}", f"invalid JSON: {exc.msg}") from None
    for key in ("supply", "totalDemand"):
        if not isinstance(data, dict) or key not in data:
            raise InputError(str(f), key, "missing section")
    return f, data


def _iso(name: str, countries: pd.DataFrame) -> str | None:
    if name in IEA_COUNTRY_ALIASES:
        return IEA_COUNTRY_ALIASES[name]
    hit = countries.loc[countries["name"] == name, "iso3"]
    if not len(hit):
        alias = countries["aliases"].fillna("").str.split("|").map(lambda a: name in a)
        hit = countries.loc[alias, "iso3"]
    return str(hit.iloc[0]) if len(hit) == 1 else None


def _number(v: object, f: Path, where: str) -> float:
    if not isinstance(v, int | float) or isinstance(v, bool):
        raise InputError(str(f), where, f"not a number: {v!r}")
    if v < 0:
        raise InputError(str(f), where, f"negative quantity {v!r}")
    return float(v)


def read_iea_supply(raw: Path, materials: pd.DataFrame, countries: pd.DataFrame) -> pd.DataFrame:
    """Mining/refining output by country, 2024 and base-case projections 2030-2040, in tonnes."""
    f, data = _load(raw)
    by_iea = {n: m for n, m in zip(materials["iea_name"], materials["material"], strict=True) if n}
    rows = []
    for mineral, stages in data["supply"].items():
        if mineral not in by_iea:
            raise InputError(str(f), f"supply.{mineral}", "mineral not in the materials mapping (iea_name)")
        mat = by_iea[mineral]
        unit = materials.loc[materials["material"] == mat, "unit"].iloc[0]
        for stage, block in stages.items():
            if stage not in ("mining", "refining"):
                raise InputError(str(f), f"supply.{mineral}.{stage}", "stage must be mining or refining")
            for cname, series in block.get("countries", {}).items():
                if not isinstance(series, dict) or all(v is None for v in series.values()):
                    continue  # the file carries two free-text notes (all-null series) among the country keys
                code = _iso(cname, countries)
                if code is None:
                    raise InputError(str(f), f"supply.{mineral}.{stage}.countries.{cname}", "unknown country")
                for year, v in series.items():
                    q = _number(v, f, f"supply.{mineral}.{stage}.countries.{cname}.{year}")
                    rows.append({"material": mat, "stage": stage, "country": code, "year": int(year),
                                 "quantity": q * 1000.0, "unit": unit, "source": "iea-2025",
                                 "case": "reported" if int(year) <= 2024 else "projection (base case)",
                                 "flag": ""})
    return pd.DataFrame(rows)


def read_iea_demand(raw: Path, materials: pd.DataFrame) -> pd.DataFrame:
    """Demand by sector and scenario (historical 2024; STEPS/APS/NZE 2030-2050), in tonnes.

    For the six minerals of ``totalDemand``: each clean-energy sector plus ``other-uses``.
    For the other minerals of ``cleantechByMineral`` (e.g. gallium, germanium): the
    clean-technology total only, as sector ``clean-technologies``.
    """
    f, data = _load(raw)
    by_iea = {n: m for n, m in zip(materials["iea_name"], materials["material"], strict=True) if n}
    units = materials.set_index("material")["unit"].to_dict()
    rows = []

    def emit(mat: str, sector: str, series: dict, where: str) -> None:
        for key, v in series.items():
            if isinstance(v, dict):
                for year, vv in v.items():
                    q = _number(vv, f, f"{where}.{key}.{year}")
                    rows.append((mat, sector, key, int(year), q * 1000.0, units[mat]))
            else:
                rows.append((mat, sector, "historical", int(key), _number(v, f, f"{where}.{key}") * 1000.0,
                             units[mat]))

    for mineral, block in data["totalDemand"].items():
        if mineral not in by_iea:
            raise InputError(str(f), f"totalDemand.{mineral}", "mineral not in the materials mapping (iea_name)")
        mat = by_iea[mineral]
        for sector, series in block["sectors"].items():
            emit(mat, _slug(sector), series, f"totalDemand.{mineral}.sectors.{sector}")
        emit(mat, "other-uses", block["otherUses"], f"totalDemand.{mineral}.otherUses")
    done = set(data["totalDemand"])
    for mineral, series in data.get("cleantechByMineral", {}).items():
        if mineral in done or mineral not in by_iea:
            continue
        emit(by_iea[mineral], "clean-technologies", series, f"cleantechByMineral.{mineral}")
    df = pd.DataFrame(rows, columns=["material", "sector", "scenario", "year", "quantity", "unit"])
    df["source"] = "iea-2025"
    return df
