"""Concentration of production and trade: shares, top-N, HHI, China's share.

All functions are vectorised over material × stage × source × year (pandas
group-by transforms, no per-row Python). Shares are fractions of the group's
total over *country* rows; the aggregate ``ROW`` ("rest of world") counts in
the denominator but is never ranked as a producer. HHI is given on the 0–1
scale (``hhi``) and the 0–10,000 scale (``hhi_10k``). Because a source's
remainder (``ROW``) is not split, HHI is a lower bound where a remainder exists.
"""

from __future__ import annotations

import pandas as pd

from critmin.errors import InputError
from critmin.world import World

GROUP = ["material", "stage", "source", "year"]


def concentration(
    world: World,
    material: str | list[str] | None = None,
    stage: str | list[str] | None = None,
    year: int | list[int] | None = None,
    source: str | list[str] | None = None,
) -> pd.DataFrame:
    """Country shares of production: one row per material, stage, source, year and country.

    Columns: material, stage, source, year, country, quantity, unit, share (0–1), rank
    (1 = largest; ROW unranked), hhi (0–1, over the group), china_share.
    """
    prod = world.production(material=material, stage=stage, year=year, source=source)
    prod = prod[prod["quantity"].notna() & (prod["country"] != "WLD")]
    if prod.empty:
        raise InputError("year" if year is not None else "material", str(year or material),
                         "no production data for this selection")
    return country_shares(prod, "quantity", GROUP, "country")


def country_shares(df: pd.DataFrame, value: str, group: list[str], who: str) -> pd.DataFrame:
    """Add share (0-1 of the group's ``value``), rank (ROW unranked), hhi and china_share per ``group``."""
    df = df.copy()
    total = df.groupby(group, sort=False)[value].transform("sum")
    df["share"] = (df[value] / total).where(total > 0, 0.0)
    is_country = df[who] != "ROW"
    df["share_sq"] = df["share"].where(is_country, 0.0) ** 2
    df["hhi"] = df.groupby(group, sort=False)["share_sq"].transform("sum")
    df["china_share"] = df["share"].where(df[who] == "CHN", 0.0).groupby(
        [df[g] for g in group], sort=False).transform("sum")
    df["rank"] = (
        df[value].where(is_country).groupby([df[g] for g in group], sort=False)
        .rank(ascending=False, method="first").astype("Int64")
    )
    df = df.drop(columns="share_sq")
    return df.sort_values([*group, "rank"], na_position="last", kind="mergesort", ignore_index=True)


def hhi_table(shares: pd.DataFrame, group: list[str] | None = None) -> pd.DataFrame:
    """One row per group: total, hhi (0–1), hhi_10k, china_share, top1/top3 shares and leaders."""
    group = group or GROUP
    ranked = shares[shares["rank"].notna()]
    top = ranked.sort_values([*group, "rank"]).groupby(group, sort=False)
    who = "country" if "country" in shares.columns else "partner"
    value = "quantity" if "quantity" in shares.columns else "value"
    agg = shares.groupby(group, sort=False).agg(total=(value, "sum"), hhi=("hhi", "first"),
                                                china_share=("china_share", "first"))
    agg["top1"] = top[who].first()
    agg["top1_share"] = top["share"].first()
    agg["top3"] = top[who].agg(lambda s: ", ".join(s.head(3)))
    agg["top3_share"] = top["share"].agg(lambda s: float(s.head(3).sum()))
    agg["hhi_10k"] = agg["hhi"] * 10_000
    return agg.reset_index()


def import_shares(
    world: World,
    importer: str,
    hs6: list[str],
    year: int | None = None,
    by: str = "value_kusd",
) -> pd.DataFrame:
    """Import shares of ``importer`` (ISO3 or bloc) by partner for a set of HS codes.

    Inside a bloc, trade between members counts as domestic and is left out. Returns
    rows per year and partner with ``value`` (kUSD or t, per ``by``), share (0–1), rank,
    hhi (partner HHI, 0–1) and china_share.
    """
    members = world.bloc_members(importer)
    tr = world.trade(hs6=hs6, year=year, importer=members)
    tr = tr[~tr["exporter"].isin(members)]
    if by == "quantity_t":
        tr = tr[tr["quantity_t"].notna()]
    g = tr.groupby(["year", "exporter"], as_index=False)[by].sum().rename(
        columns={"exporter": "partner", by: "value"})
    g["importer"] = importer
    if g.empty:
        return g.assign(share=[], rank=[], hhi=[], china_share=[])
    g = g.rename(columns={"partner": "country"})
    out = country_shares(g, "value", ["importer", "year"], "country")
    return out.rename(columns={"country": "partner"})


def production_coverage(world: World, material: str, stage: str | None = None) -> dict[str, tuple[int, int]]:
    """First and last year with production data, by source, for ``material`` (and ``stage``)."""
    prod = world.production(material=material, stage=stage)
    prod = prod[prod["quantity"].notna()]
    if prod.empty:
        return {}
    span = prod.groupby("source")["year"].agg(["min", "max"])
    return {str(s): (int(r["min"]), int(r["max"])) for s, r in span.iterrows()}


def coverage_text(coverage: dict[str, tuple[int, int]]) -> str:
    """``wmd 2018–2024, usgs-mcs-2025 2023–2024`` (``none`` when empty)."""
    return ", ".join(f"{s} {a}–{b}" if a != b else f"{s} {a}" for s, (a, b) in coverage.items()) or "none"


def concentration_trend(
    world: World,
    material: str,
    stage: str | list[str] | None = None,
    years: list[int] | tuple[int, int] | None = None,
    source: str | None = None,
) -> pd.DataFrame:
    """Concentration over the years: one row per stage × year with total, unit, hhi (0–1), hhi_10k,
    china_share, top1/top1_share and top3/top3_share, from one source (default: the material's).

    ``years`` is a list of years or a ``(first, last)`` range. Without ``source``, the material's default
    source unless another source has data for more of these years. InputError (naming ``years``, ``source``)
    with the sources and years that have data when the selection is empty.
    """
    prod = world.production(material=material, stage=stage)
    prod = prod[prod["quantity"].notna() & (prod["country"] != "WLD")]
    cov = production_coverage(world, material, stage if isinstance(stage, str) else None)
    if isinstance(years, tuple):
        want = set(range(int(years[0]), int(years[1]) + 1))
    else:
        want = {int(y) for y in years} if years is not None else None
    if source is None:  # the material's default source, unless another covers more of the years asked for
        mats = world.materials().set_index("material")
        source = str(mats.loc[material, "default_source"]) if material in mats.index else None
        have = prod.groupby("source")["year"].agg(lambda y: len(set(y) & want) if want else y.nunique())
        if len(have) and (source not in have.index or have[source] < have.max()):
            source = str(have.idxmax())
    if source not in cov:
        raise InputError("source", str(source), f"no {material} production from this source; data: "
                         f"{coverage_text(cov)}")
    sub = prod[prod["source"] == source]
    if want is not None:
        sub = sub[sub["year"].isin(want)]
        if sub.empty:
            raise InputError("years", f"{min(want)}–{max(want)}",
                             f"no {material} production in these years; data: {coverage_text(cov)}")
    summ = hhi_table(country_shares(sub, "quantity", GROUP, "country"))
    units = sub.groupby(["stage"], sort=False)["unit"].first()
    summ["unit"] = summ["stage"].map(units)
    cols = ["material", "stage", "source", "year", "total", "unit", "hhi", "hhi_10k", "china_share", "top1",
            "top1_share", "top3", "top3_share"]
    return summ[cols].sort_values(["stage", "year"], kind="mergesort", ignore_index=True)
