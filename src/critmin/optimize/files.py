"""File mode: an external shortfall ensemble and a cost table, read and checked row by row.

``shortfalls.csv``: ``scenario, probability, holder, material, month, shortfall_t``
``costs.csv``: ``material, price_usd_per_t, holding_usd_per_t_year, shortage_usd_per_t, max_release_t_per_month``
(an empty or ``inf`` max_release means no cap). ``floors.csv``: ``holder, material, floor_t``.
Semantics: docs/optimize.md, "File mode".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from critmin.errors import InputError, did_you_mean
from critmin.optimize._csv import duplicates, number, read_table
from critmin.optimize.stockpile import Costs, Ensemble

SHORTFALL_COLUMNS = ["scenario", "probability", "holder", "material", "month", "shortfall_t"]
COST_COLUMNS = ["material", "price_usd_per_t", "holding_usd_per_t_year", "shortage_usd_per_t",
                "max_release_t_per_month"]
FLOOR_COLUMNS = ["holder", "material", "floor_t"]
#: How far the scenarios' probabilities may sum from 1.
PROB_TOL = 1e-6


def read_costs(path: str | Path) -> Costs:
    """The cost table at ``path`` (one row per material; US$ per t of the material's content unit)."""
    src = str(path)
    df = read_table(path, COST_COLUMNS, what="materials")
    for _, r in df.iterrows():
        if not r["material"]:
            raise InputError(src, f"row {r['_row']}, column material", "empty material name")
    duplicates(df, ["material"], src)
    price, hold, short, cap = [], [], [], []
    for _, r in df.iterrows():
        n = int(r["_row"])
        price.append(number(src, n, "price_usd_per_t", r["price_usd_per_t"]))
        hold.append(number(src, n, "holding_usd_per_t_year", r["holding_usd_per_t_year"]))
        short.append(number(src, n, "shortage_usd_per_t", r["shortage_usd_per_t"]))
        c = number(src, n, "max_release_t_per_month", r["max_release_t_per_month"], blank=math.inf)
        cap.append(c)
    mats = df["material"].tolist()
    return Costs(
        price=pd.Series(price, index=mats, dtype=float),
        holding=pd.Series(hold, index=mats, dtype=float),
        shortage=xr.DataArray(np.array(short)[:, None], coords={"material": mats, "use": ["all"]},
                              dims=("material", "use")),
        max_release=xr.DataArray(np.array(cap), coords={"material": mats}, dims=("material",)),
        source=src,
    )


def read_shortfalls(path: str | Path, materials: Iterable[str] | None = None,
                    countries: Iterable[str] | None = None, costs_source: str = "--costs") -> Ensemble:
    """The ensemble at ``path``: scenarios × holders × materials × months 1..H (H = the largest month).

    ``materials``: those the cost table prices (a row with another material is an error);
    ``countries``: ISO3 codes of the World (each holder, or each member of an ``A+B`` pool, must be one).
    A (scenario, holder, material, month) without a row has no shortfall.
    """
    src = str(path)
    df = read_table(path, SHORTFALL_COLUMNS, what="scenarios")
    mats = set(materials) if materials is not None else None
    known = set(countries) if countries is not None else None
    prob: dict[str, tuple[float, int]] = {}
    months, values, probs = [], [], []
    for _, r in df.iterrows():
        n = int(r["_row"])
        if not r["scenario"]:
            raise InputError(src, f"row {n}, column scenario", "empty scenario name")
        h = r["holder"].upper()
        if not h:
            raise InputError(src, f"row {n}, column holder", "empty holder")
        for x in h.split("+"):
            if known is not None and x not in known:
                raise InputError(src, f"row {n}, column holder",
                                 f"unknown country {x!r} (ISO3 code of the World){did_you_mean(x, known)}")
        if not r["material"]:
            raise InputError(src, f"row {n}, column material", "empty material")
        if mats is not None and r["material"] not in mats:
            raise InputError(src, f"row {n}, column material", f"material {r['material']!r} has no row in "
                             f"{costs_source}{did_you_mean(r['material'], mats)}")
        p = number(src, n, "probability", r["probability"], low=0.0, high=1.0)
        if p == 0:
            raise InputError(src, f"row {n}, column probability", "0: leave out a scenario that cannot happen")
        s = r["scenario"]
        if s in prob and abs(prob[s][0] - p) > 1e-12:
            raise InputError(src, f"row {n}, column probability",
                             f"{p:g} differs from {prob[s][0]:g} on row {prob[s][1]} of scenario {s!r}")
        prob.setdefault(s, (p, n))
        months.append(int(number(src, n, "month", r["month"], low=1, integer=True)))
        values.append(number(src, n, "shortfall_t", r["shortfall_t"]))
        probs.append(p)
    df = df.assign(holder=df["holder"].str.upper(), month=months, shortfall=values)
    duplicates(df, ["scenario", "holder", "material", "month"], src)
    total = sum(v for v, _ in prob.values())
    if abs(total - 1.0) > PROB_TOL:
        raise InputError(src, "column probability", f"the {len(prob)} scenarios' probabilities sum to {total:.9g}, "
                         "not 1 (±1e-6)")
    scen = list(prob)
    holders = sorted(df["holder"].unique())
    mlist = list(dict.fromkeys(df["material"]))
    horizon = int(max(months))
    arr = np.zeros((len(scen), len(holders), len(mlist), 1, horizon))
    si = {s: i for i, s in enumerate(scen)}
    hi = {h: i for i, h in enumerate(holders)}
    mi = {m: i for i, m in enumerate(mlist)}
    arr[df["scenario"].map(si).to_numpy(), df["holder"].map(hi).to_numpy(), df["material"].map(mi).to_numpy(), 0,
        df["month"].to_numpy() - 1] = df["shortfall"].to_numpy()
    da = xr.DataArray(arr, dims=("scenario", "member", "material", "use", "month"),
                      coords={"scenario": scen, "member": holders, "material": mlist, "use": ["all"],
                              "month": np.arange(1, horizon + 1)})
    return Ensemble(shortfall=da, probability=np.array([prob[s][0] for s in scen]), source=src)


def read_floors(path: str | Path) -> dict[tuple[str, str], float]:
    """Floors of pool members (t a member keeps, never drawn for another member): ``{(holder, material): t}``."""
    src = str(path)
    df = read_table(path, FLOOR_COLUMNS, what="floors")
    duplicates(df, ["holder", "material"], src)
    out = {}
    for _, r in df.iterrows():
        out[(r["holder"].upper(), r["material"])] = number(src, int(r["_row"]), "floor_t", r["floor_t"])
    return out


def read_file_mode(shortfalls: str | Path, costs: str | Path,
                   countries: Iterable[str] | None = None) -> tuple[Ensemble, Costs]:
    """Both files of file mode, checked against each other (every material of the ensemble is priced)."""
    c = read_costs(costs)
    e = read_shortfalls(shortfalls, materials=list(c.price.index), countries=countries, costs_source=str(costs))
    return e, c
