"""Defaults and checks against what a World's data cover: which source, which stage, which year.

The choices a command makes before it computes (the material's default source, the latest year with data,
a year inside a chain's data) live here so that a notebook user gets the same defaults and the same errors
as the CLI. Errors are :class:`critmin.errors.InputError` naming the parameter (``source``, ``stage``,
``year``, ``years``, ``chain``), never a CLI flag; the CLI names its flags (``critmin.cli.common.core_flags``).
"""

from __future__ import annotations

from collections.abc import Iterable

from critmin.errors import InputError
from critmin.risk.concentration import coverage_text, production_coverage
from critmin.world import World

#: Production stages of the concentration measures.
CONCENTRATION_STAGES = ("mining", "refining")


def resolve_stage(stage: str | None) -> str | None:
    """``stage`` when it is a production stage (mining, refining) or None (every stage); else InputError."""
    if stage is not None and stage not in CONCENTRATION_STAGES:
        raise InputError("stage", stage, f"unknown stage; choose {' or '.join(CONCENTRATION_STAGES)}")
    return stage


def resolve_source(world: World, material: str, source: str | None = None, stage: str | None = None) -> str:
    """The production source to use for ``material`` (a slug): ``source`` if given, else the material's
    ``default_source`` when it has rows, else the source with the most rows. InputError naming ``source``
    when the source has no production of the material, or ``stage`` when it has none of that stage."""
    resolve_stage(stage)
    prod = world.production(material=material)
    if source is None:
        mats = world.materials().set_index("material")
        source = str(mats.loc[material, "default_source"]) if material in mats.index else ""
        if prod[prod["source"] == source].empty and not prod.empty:
            source = str(prod["source"].value_counts().index[0])
    sub = prod[prod["source"] == source]
    if sub.empty:
        raise InputError("source", source, f"no {material} production from this source; data: "
                         f"{coverage_text(production_coverage(world, material))}")
    if stage is not None and sub[sub["stage"] == stage].empty:
        raise InputError("stage", stage, f"no {material} {stage} data from {source}; stages: "
                         f"{', '.join(sorted(sub['stage'].unique()))}; {stage} data: "
                         f"{coverage_text(production_coverage(world, material, stage))}")
    return source


def resolve_year(world: World, material: str, year: int | None = None, source: str | None = None,
                 stage: str | None = None) -> int:
    """The year of ``material``'s production data from ``source`` (default: :func:`resolve_source`) and
    ``stage``: ``year`` when the data have it, else the latest year with data. InputError naming ``year``
    (with the years there are) when they do not."""
    source = resolve_source(world, material, source, stage)
    prod = world.production(material=material)
    sub = prod[prod["source"] == source]
    if stage is not None:
        sub = sub[sub["stage"] == stage]
    have = sorted(int(y) for y in sub["year"].unique())
    if year is None:
        return have[-1]
    if year not in have:
        raise InputError("year", str(year), f"outside the data for {material} ({source}): {have[0]}–{have[-1]}; "
                         f"data: {coverage_text(production_coverage(world, material, stage))}")
    return int(year)


def parse_years(text: str) -> tuple[int, int] | list[int]:
    """``"2018:2024"`` → ``(2018, 2024)`` (a range, first ≤ last) or ``"2018,2020"`` → ``[2018, 2020]``
    (each year once); InputError naming ``years`` otherwise."""
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            lo, hi = int(a), int(b)
            if lo > hi:
                raise ValueError
            return (lo, hi)
        return [int(y) for y in dict.fromkeys(t.strip() for t in text.split(",") if t.strip())]
    except ValueError:
        raise InputError("years", text, "not a range FIRST:LAST or a comma-separated list of years") from None


def latest_year(years: Iterable[int], year: int | None = None) -> int:
    """``year`` if given, else the latest of ``years`` (the years with data); InputError naming ``year`` when
    there are none."""
    if year is not None:
        return int(year)
    have = [int(y) for y in years]
    if not have:
        raise InputError("year", None, "no year with data")
    return max(have)


def chain_years(world: World, chain_id: str) -> tuple[int, int] | None:
    """First and last year with any data for chain ``chain_id`` (a World chain id): reported production of its
    stages' series, BACI trade of its HS codes, and the years of its published figures (None when none)."""
    from critmin.network import CASES

    chain = world.chains[chain_id]
    years: set[int] = set()
    series = {(s.production.material, s.production.stage) for s in chain.stages if s.production is not None}
    if series and "production" in world.table_names:
        df = world.table("production")
        if not df.empty:
            keep = df["quantity"].notna()
            if "case" in df.columns:
                keep &= df["case"].isin(CASES["reported"]) | df["case"].isna()
            pairs = df.loc[keep, ["material", "stage", "year"]]
            hit = [(m, s) in series for m, s in zip(pairs["material"], pairs["stage"], strict=True)]
            years |= {int(y) for y in pairs.loc[hit, "year"].unique()}
    codes = sorted({c for s in chain.stages for c in s.hs6})
    if codes and "trade" in world.table_names:
        for t in world.trade_by_code(codes).values():
            years |= {int(t["year"].min()), int(t["year"].max())}
    years |= {int(s.published.year) for s in chain.stages if s.published is not None and s.published.year}
    return (min(years), max(years)) if years else None


def check_chain_year(world: World, chain: str, year: int | None) -> tuple[str, int | None]:
    """``(chain id, year)`` for a chain given by id or alias (InputError naming ``chain``) and a year inside its
    data (:func:`chain_years`; InputError naming ``year``); None stays None (the network's default year)."""
    chain_id = world.chain_id(chain)
    if year is not None:
        span = chain_years(world, chain_id)
        if span is None:
            raise InputError("year", str(year), f"the World has no data for chain {chain_id}")
        if not span[0] <= year <= span[1]:
            raise InputError("year", str(year), f"outside the data of chain {chain_id} ({span[0]}-{span[1]}; "
                             "production series, BACI trade and published figures)")
    return chain_id, year
