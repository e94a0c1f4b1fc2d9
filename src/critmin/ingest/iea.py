"""IEA Critical Minerals Data Explorer 2025 (JSON conversion): supply by country, demand by sector."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from critmin.errors import InputError
from critmin.safeio import read_json
from critmin.validate import YEAR_MAX, YEAR_MIN, check_number

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
    data = read_json(f)  # critmin.safeio: missing, non-UTF-8, malformed, too deep: one-line InputErrors
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
    if not math.isfinite(v) or abs(v) > 1e12:  # kt: a trillion tonnes is no mineral's output
        raise InputError(str(f), where, f"not a plausible quantity in kt: {v!r}")
    if v < 0:
        raise InputError(str(f), where, f"negative quantity {v!r}")
    return float(v)


def _map(v: object, f: Path, where: str) -> dict:
    """``v`` if it is a JSON object, else InputError naming the field."""
    if not isinstance(v, dict):
        raise InputError(str(f), where, f"expected an object, got {type(v).__name__}")
    return v


def _year(key: object, f: Path, where: str) -> int:
    """A year key of the file: a whole number in 1900-2100 (critmin.validate)."""
    return int(check_number(key, str(f), where, low=YEAR_MIN, high=YEAR_MAX, whole=True))


#: Tolerance of the block check, in the file's unit (kt) per named country: the file gives at most
#: three decimals, so named countries may exceed the block total by half a unit of the third decimal
#: each before the block is called inconsistent.
ROUNDING_KT = 0.0005


def _block_rows(block: dict, f: Path, where: str) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Named-country series and the block's own ``total`` (kt), with "Rest of world" recomputed.

    The file's "Rest of world" row is the block total minus the first five countries, so where a
    sixth named country is listed it is counted twice (nickel, graphite). Rule: "Rest of world" =
    ``total`` − every named country, per year; the file's ``total`` stays the world total. Raises
    InputError naming the block when the named countries exceed the total by more than rounding
    (``ROUNDING_KT`` per country), or when the rows do not sum to the total afterwards.
    """
    named: dict[str, dict[str, float]] = {}
    for cname, series in _map(_map(block, f, where).get("countries", {}), f, f"{where}.countries").items():
        if not isinstance(series, dict) or all(v is None for v in series.values()):
            continue  # the file carries two free-text notes (all-null series) among the country keys
        if cname == "Rest of world":
            continue
        named[cname] = {y: _number(v, f, f"{where}.countries.{cname}.{y}") for y, v in series.items()}
    total = block.get("total")
    if not isinstance(total, dict) or not total:
        raise InputError(str(f), f"{where}.total", "missing block total")
    rest: dict[str, float] = {}
    for year, t in total.items():
        tot = _number(t, f, f"{where}.total.{year}")
        s = 0.0
        for cname, series in named.items():
            if year not in series:
                raise InputError(str(f), f"{where}.countries.{cname}", f"no value for {year} (the total has one)")
            s += series[year]
        excess = s - tot
        if excess > ROUNDING_KT * max(len(named), 1):
            raise InputError(str(f), where, f"named countries sum to {s:g} kt in {year}, more than the block "
                             f"total {tot:g} kt")
        rest[year] = max(tot - s, 0.0)
        if abs(s + rest[year] - tot) > ROUNDING_KT * (len(named) + 1):
            raise InputError(str(f), where, f"rows do not sum to the block total in {year}")
    for cname, series in named.items():
        extra = set(series) - set(total)
        if extra:
            raise InputError(str(f), f"{where}.countries.{cname}", f"year {min(extra)} has no block total")
    return named, rest


def read_iea_supply(raw: Path, materials: pd.DataFrame, countries: pd.DataFrame) -> pd.DataFrame:
    """Mining/refining output by country, 2024 and base-case projections 2030-2040, in tonnes.

    "Rest of world" (country ``ROW``) is recomputed as the block total minus every named country
    (see :func:`_block_rows`), so country rows sum to the IEA's own world total.
    """
    f, data = _load(raw)
    by_iea = {n: m for n, m in zip(materials["iea_name"], materials["material"], strict=True) if n}
    rows = []
    for mineral, stages in _map(data["supply"], f, "supply").items():
        if mineral not in by_iea:
            raise InputError(str(f), f"supply.{mineral}", "mineral not in the materials mapping (iea_name)")
        mat = by_iea[mineral]
        unit = materials.loc[materials["material"] == mat, "unit"].iloc[0]
        for stage, block in _map(stages, f, f"supply.{mineral}").items():
            if stage not in ("mining", "refining"):
                raise InputError(str(f), f"supply.{mineral}.{stage}", "stage must be mining or refining")
            named, rest = _block_rows(block, f, f"supply.{mineral}.{stage}")
            series_by_code: list[tuple[str, dict[str, float]]] = []
            for cname, series in named.items():
                code = _iso(cname, countries)
                if code is None or code == "ROW":
                    raise InputError(str(f), f"supply.{mineral}.{stage}.countries.{cname}", "unknown country")
                series_by_code.append((code, series))
            series_by_code.append(("ROW", rest))
            for code, series in series_by_code:
                for year, q in series.items():
                    y = _year(year, f, f"supply.{mineral}.{stage}.total.{year}")
                    rows.append({"material": mat, "stage": stage, "country": code, "year": y,
                                 "quantity": q * 1000.0, "unit": unit, "source": "iea-2025",
                                 "case": "reported" if y <= 2024 else "projection (base case)",
                                 "flag": "recomputed: IEA total minus named countries" if code == "ROW" else ""})
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
        for key, v in _map(series, f, where).items():
            if isinstance(v, dict):
                for year, vv in v.items():
                    q = _number(vv, f, f"{where}.{key}.{year}")
                    rows.append((mat, sector, key, _year(year, f, f"{where}.{key}.{year}"), q * 1000.0, units[mat]))
            else:
                rows.append((mat, sector, "historical", _year(key, f, f"{where}.{key}"),
                             _number(v, f, f"{where}.{key}") * 1000.0,
                             units[mat]))

    for mineral, block in _map(data["totalDemand"], f, "totalDemand").items():
        if mineral not in by_iea:
            raise InputError(str(f), f"totalDemand.{mineral}", "mineral not in the materials mapping (iea_name)")
        mat = by_iea[mineral]
        block = _map(block, f, f"totalDemand.{mineral}")
        if "sectors" not in block or "otherUses" not in block:
            raise InputError(str(f), f"totalDemand.{mineral}", "needs 'sectors' and 'otherUses'")
        for sector, series in _map(block["sectors"], f, f"totalDemand.{mineral}.sectors").items():
            emit(mat, _slug(sector), series, f"totalDemand.{mineral}.sectors.{sector}")
        emit(mat, "other-uses", block["otherUses"], f"totalDemand.{mineral}.otherUses")
    done = set(data["totalDemand"])
    for mineral, series in _map(data.get("cleantechByMineral", {}), f, "cleantechByMineral").items():
        if mineral in done or mineral not in by_iea:
            continue
        emit(by_iea[mineral], "clean-technologies", series, f"cleantechByMineral.{mineral}")
    df = pd.DataFrame(rows, columns=["material", "sector", "scenario", "year", "quantity", "unit"])
    df["source"] = "iea-2025"
    return df
