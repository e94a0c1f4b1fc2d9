"""Projects and investments registry: the frameworks' pipeline, the US$550 bn package, maps.

Start here::

    from critmin import registry
    reg = registry.load()                       # the embedded, validated registry
    reg.filter_projects(chain="rare-earth-magnets", status="construction")
    reg.summary("state")                        # US$ million by destination state, one row per amount type
    registry.capacity(reg, 2027, include=["operating", "construction"])
    registry.standing(reg)                      # each project against the framework dates

Every record has a source; capacities are t/yr of a stated content (or GWh/yr
for cells); money is millions of the stated currency, each amount typed (pledge,
tranche, offer, commitment, announced, estimate, disbursed) and never added
across types. See docs/registry.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import pandas as pd

from critmin.errors import InputError
from critmin.registry.core import (
    EMBEDDED_REGISTRY,
    REGISTRY_ENV,
    Registry,
    all_sources,
    init_registry,
    read_records_file,
    resolve_registry_path,
)
from critmin.registry.schema import Investment, Project, hint_or_choices, parse_date

__all__ = [
    "EMBEDDED_REGISTRY",
    "REGISTRY_ENV",
    "Investment",
    "Project",
    "Registry",
    "all_sources",
    "capacity",
    "init_registry",
    "load",
    "read_records_file",
    "resolve_registry_path",
    "standing",
]

#: Statuses whose capacity counts even when no start year is known (plants that already produce).
PRODUCING = ("operating", "commissioning")

#: Judgement: "since the frameworks" means since the first signature on or after this date, i.e. the
#: critical-minerals frameworks of October 2025 (US-Australia 20 Oct, US-Malaysia/Thailand 26 Oct, US-Japan
#: 28 Oct); the 4 Sep 2025 US$550 bn MOU is an investment arrangement, not a minerals framework, so it is left out.
FRAMEWORKS_FROM = dt.date(2025, 10, 1)


def load(path: str | None = None) -> Registry:
    """Load the registry at ``path`` (default: ``$CRITMIN_REGISTRY`` or the embedded one)."""
    return Registry.load(path)


def _registry_of(source: Any) -> Registry:
    if isinstance(source, Registry):
        return source
    if source is None:
        return Registry.load()
    path = getattr(source, "path", None)
    if path is not None and (path / "registry").is_dir():
        return Registry.load(path / "registry")
    return Registry.load()


def capacity(
    world_or_registry: Any,
    year: int,
    include: Iterable[str] = ("operating",),
    *,
    aggregate: bool = False,
) -> pd.DataFrame:
    """Capacity (t/yr) online in ``year`` from projects whose status is in ``include``.

    ``world_or_registry`` is a :class:`Registry`, a ``World`` (its folder's
    ``registry/`` if present, else the embedded registry) or None (embedded).
    A project counts from its ``start_year``; one without a start year counts
    only if it already produces (status operating or commissioning). Only
    capacities stated in t/yr are returned (cells in GWh/yr are not).

    Returns one row per project: ``material, stage, country, capacity_tpy,
    capacity_high_tpy, content, project_id, name, status, start_year, judgement``,
    plus ``chain`` and ``chain_stage``: the World chain stage the project adds to
    (``data/chain_stage_map.csv``; empty where no chain stage corresponds);
    with ``aggregate=True`` one row per ``material, stage, country, content`` with
    the summed ``capacity_tpy``, ``capacity_high_tpy`` and the number of ``projects``.
    """
    reg = _registry_of(world_or_registry)
    statuses = list(reg.context.vocab["statuses"])
    inc = [include] if isinstance(include, str) else list(include)
    for s in inc:
        if s not in statuses:
            raise InputError("include", s, f"unknown status{hint_or_choices(s, statuses)}")
    year = int(year)
    rows = []
    for p in reg.projects:
        c = p.capacity
        if c is None or c.unit != "t/yr" or p.status not in inc:
            continue
        if p.start_year is None:
            if p.status not in PRODUCING:
                continue
        elif p.start_year > year:
            continue
        rows.append(
            {
                "registry_chain": p.chain,
                "material": p.material,
                "stage": p.stage,
                "country": p.country,
                "capacity_tpy": c.value,
                "capacity_high_tpy": c.high if c.high is not None else c.value,
                "content": c.content,
                "project_id": p.id,
                "name": p.name,
                "status": p.status,
                "start_year": p.start_year,
                "judgement": bool(c.judgement or c.unverified),
            }
        )
    cols = ["registry_chain", "material", "stage", "country", "capacity_tpy", "capacity_high_tpy", "content",
            "project_id", "name", "status", "start_year", "judgement"]
    df = pd.DataFrame(rows, columns=cols)
    smap = pd.read_csv(EMBEDDED_REGISTRY / "chain_stage_map.csv", dtype=str, keep_default_na=False)
    df = df.merge(smap, how="left", left_on=["registry_chain", "stage", "material"],
                  right_on=["registry_chain", "registry_stage", "registry_material"],
                  validate="many_to_one")  # a key listed twice in the map would count a project twice
    df[["chain", "chain_stage"]] = df[["chain", "chain_stage"]].fillna("")
    df = df.drop(columns=["registry_chain", "registry_stage", "registry_material"])
    df["start_year"] = df["start_year"].astype("Int64")
    if not aggregate:
        return df.sort_values(["material", "stage", "country", "project_id"]).reset_index(drop=True)
    return (
        df.groupby(["material", "stage", "country", "content", "chain", "chain_stage"], as_index=False)
        .agg(capacity_tpy=("capacity_tpy", "sum"), capacity_high_tpy=("capacity_high_tpy", "sum"),
             projects=("project_id", "count"))
        .sort_values(["material", "stage", "country"])
        .reset_index(drop=True)
    )


def _phase(status: str) -> str:
    return {
        "operating": "producing",
        "commissioning": "producing",
        "construction": "financed and building",
        "fid": "financed and building",
        "announced": "pipeline (needs FID/financing)",
        "feasibility": "pipeline (needs FID/financing)",
    }.get(status, "stalled")


def standing(reg: Registry | None = None, deadline_id: str = "us-japan-six-month-financing") -> pd.DataFrame:
    """Each project against the framework dates.

    Columns: ``id, name, status, phase`` (producing / financed and building /
    pipeline / stalled), ``start_year``, ``vs_deadline`` (``producing before``,
    ``due by``, ``due after`` the deadline's year, or ``no date``),
    ``years_after_deadline`` (start year minus the deadline's year),
    ``financing_since_signature`` (a financier or financing milestone dated on or
    after the earliest framework signature on or after :data:`FRAMEWORKS_FROM`, a
    judgement: 20 Oct 2025 in the embedded timeline; the deadline if there is none)
    and ``deadline``.
    """
    reg = reg or Registry.load()
    ev = {e["id"]: e for e in reg.events}
    if deadline_id not in ev:
        raise InputError("deadline_id", deadline_id, f"unknown framework event; one of: {', '.join(ev)}")
    deadline: dt.date = ev[deadline_id]["date"]
    signatures = [e["date"] for e in reg.events if e.get("kind") == "signature" and e["date"] >= FRAMEWORKS_FROM]
    first_sig = min(signatures, default=deadline)
    rows = []
    for p in reg.projects:
        dates = [parse_date(f.date) for f in p.financiers if f.date]
        dates += [parse_date(m.date) for m in p.milestones if m.kind == "financing"]
        phase = _phase(p.status)
        if p.start_year is None:
            vs = "producing before" if phase == "producing" else "no date"
            gap = None
        else:
            gap = p.start_year - deadline.year
            if phase == "producing" and p.start_year <= deadline.year:
                vs = "producing before"
            else:
                vs = "due by" if gap <= 0 else "due after"
        rows.append(
            {
                "id": p.id,
                "name": p.name,
                "status": p.status,
                "phase": phase,
                "start_year": p.start_year,
                "vs_deadline": vs,
                "years_after_deadline": gap,
                "financing_since_signature": any(d >= first_sig for d in dates),
                "deadline": deadline.isoformat(),
            }
        )
    df = pd.DataFrame(rows)
    for c in ("start_year", "years_after_deadline"):
        df[c] = df[c].astype("Int64")
    return df
