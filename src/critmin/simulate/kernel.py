"""The monthly multi-stage kernel, vectorised over Monte Carlo runs.

:func:`compile_plan` turns a validated :class:`~critmin.simulate.scenario.Scenario`
into index masks over a :class:`~critmin.simulate.model.ChainModel` plus a list of
parameter *slots* (one :class:`Dist` each). :func:`sample` draws every slot for all
runs up front (seeded, in slot order), so the result of a run does not depend on
how runs are split into chunks. :func:`simulate_chunk` then steps through the
months; every array has the runs as its leading axis and there is no loop over
runs. Units: t per month of each stage's content; prices are indices (1 = baseline).

One month, for each stage ``s`` upstream first (all countries and runs at once):

1. **Production** = baseline, or capacity while last month's price index was
   above 1, × (1 − outage); capacity = baseline × (1 + spare × ramp), the ramp
   running linearly over ``lead_months`` from the first month the stage's
   market was short (ε_s enters through the price rule, step 7); output is
   further limited by the inputs delivered to the stage (through the chain's
   factors). Input delivered but not used goes to the input stage's inventory.
2. **Trade**: each producer ships to each partner its baseline share of current
   output; an export restriction withholds ``fraction`` of the flows from the
   origin to its destinations (overlapping restrictions add up, capped at all),
   and the origin keeps the blocked tonnes (its inventory). Licensing turns the
   licensed flows into applications that wait ``delay_months`` and ship as a share
   of the backlog is approved (:func:`_licence_month`); leakage delivers a share of
   what a control withholds through third countries after a delay.
3. **Need** = final demand (baseline × surge × price^ε_d × (1 − substitution))
   + inputs wanted by downstream stages at their target output.
4. **Re-routing**: countries with supply above need (kept output + imports +
   inventory) offer (1 − friction) of the surplus to a common pool, which fills
   deficits pro rata; an origin with an active restriction on the stage offers
   nothing.
5. **Stockpiles** of the stage release min(holdings, max monthly release, the
   holder's remaining deficit) when their trigger holds; a bloc's pooled stock is
   shared among member deficits pro rata.
6. **Rationing**: a short country serves its uses level by level (defence and its
   own downstream plants, essential sectors, the rest; :func:`_ration_levels`), or
   every use the same fraction ρ = supply / need (``policy: proportional``); unmet
   final demand is the **shortfall**; supply beyond need is carried as inventory.

**Private working stocks** (``model.inventory0``: months of use per stage from the chain
network × baseline use): every run starts with them at their target; they count as supply,
so a cut in inflows is absorbed until they run out, and a short country's order (the pool's
deficit, step 4) includes bringing its stock back towards the target over ``restock_months``
(``defaults.yaml``), so restocking after a shock adds demand. Re-routing offers only what lies
above a country's uses and wanted stock; stockpiles serve uses, not private restocking.
7. **Price**: the constant-elasticity market-clearing rule. With demand
   D(P) = D₀P^ε_d and supply S(P) = (1 − u)D₀P^ε_s, where u is the world's
   unmet share of need this month, the clearing price index is
   P = (1 − u)^(−1/(ε_s − ε_d)), capped at ``price_cap``. **Regional prices**
   (``price_region``): each region's wants (uses, restocking and precautionary orders)
   against its holdings give a clearing index (A/W)^(−1/(ε_s − ε_d)) between a floor and
   the cap, towards which the region's price moves ``price_speed`` of the way (in logs)
   each month; a country's demand and capacity switch follow its region's price next month.

Mass balance, per stage, country and month (checked as ``balance_residual``):
production + imports − exports + inventory in + re-routed in − re-routed out
+ stockpile release = use by downstream stages + final deliveries + inventory out.
"""

from __future__ import annotations

import copy
import ctypes
import ctypes.util
import functools
import mmap
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from critmin.errors import InputError, did_you_mean
from critmin.simulate.model import ChainModel, resolve_elements
from critmin.simulate.scenario import Dist, Responses, Scenario, make_dist

DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


def load_defaults() -> dict[str, Any]:
    """The judgement defaults (``defaults.yaml``) as raw mappings with rationale (a fresh copy each call)."""
    return copy.deepcopy(_defaults())


@functools.cache
def _defaults() -> dict[str, Any]:
    """``defaults.yaml`` parsed once per process (every chunk of every run reads it)."""
    return yaml.safe_load(DEFAULTS_FILE.read_text(encoding="utf-8"))


def default_responses() -> Responses:
    """The defaults' values as scenario ``responses``, checked against the same ranges as a scenario's."""
    d = load_defaults()
    return Responses.model_validate(
        {
            "elasticities": {k: d["elasticities"][k]["value"] for k in ("demand", "supply")},
            "rerouting": {"friction": d["rerouting"]["friction"]["value"]},
            "capacity": [{k: d["capacity"][k]["value"] for k in ("spare", "lead_months")}],
            "price_cap": d["price_cap"]["value"],
        }
    )


@dataclass
class Plan:
    """A scenario compiled against a model: masks, indices and parameter slots."""

    slots: list[Dist] = field(default_factory=list)
    slot_names: list[str] = field(default_factory=list)
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    outages: list[dict[str, Any]] = field(default_factory=list)
    surges: list[dict[str, Any]] = field(default_factory=list)
    stockpiles: list[dict[str, Any]] = field(default_factory=list)
    capacity: list[dict[str, Any]] = field(default_factory=list)
    substitution: list[dict[str, Any]] = field(default_factory=list)
    licensing: list[dict[str, Any]] = field(default_factory=list)
    leakage: list[dict[str, Any]] = field(default_factory=list)
    #: rationing level of each sector (0 = defence, 1 = essential, 2 = other; all 0 when proportional)
    levels: np.ndarray | None = None
    #: price regions: names and each country's region index
    regions: list[str] = field(default_factory=lambda: ["world"])
    region_of: np.ndarray | None = None
    precaution: int = -1
    price_speed: int = -1
    #: registry plants starting after the baseline: (stage, country, t/month, first model month 0-based, id)
    new_capacity: list[tuple[int, int, float, int, str]] = field(default_factory=list)
    #: extra secondary supply: baseline use (S, C) it applies to, share and lead-time slots
    recycling: list[dict[str, Any]] = field(default_factory=list)
    #: calendar labels of the months (YYYY-MM) when the scenario is pinned to a start month
    month_labels: list[str] | None = None
    eps_d: int = -1
    eps_s: int = -1
    friction: int = -1
    price_cap: int = -1
    horizon: int = 36

    def add(self, name: str, d: Dist) -> int:
        self.slots.append(d)
        self.slot_names.append(name)
        return len(self.slots) - 1


# ---------------------------------------------------------------------------------------------- compile


class _Resolver:
    """Names in a scenario → model indices, with one-line errors naming the field path."""

    def __init__(self, world: Any, model: ChainModel, chain: Any, source: str) -> None:
        self.world = world
        self.model = model
        self.chain = chain
        self.source = source
        cdf = world.table("countries")
        self.known = set(cdf["iso3"]) if not cdf.empty else None
        self.blocs = world.bloc_map()
        self.sector_names = {e.sector for e in chain.end_uses} | set(model.sectors)

    def fail(self, path: str, msg: str) -> None:
        raise InputError(self.source, path, msg)

    def places(self, name: str, path: str, allow_all: bool = False) -> list[str]:
        if allow_all and name == "all":
            return list(self.model.countries)
        if name in self.blocs:
            return self.blocs[name]
        if name == "ROW" or (self.known is None and name in self.model.countries):
            return [name]
        if self.known is not None and name in self.known:
            return [name]
        pool = (self.known or set(self.model.countries)) | set(self.blocs)
        more = did_you_mean(name, pool)
        self.fail(path, f"unknown country or bloc {name!r}{more}")
        return []

    def mask(self, names: list[str]) -> np.ndarray:
        m = np.zeros(len(self.model.countries), dtype=bool)
        for n in names:
            i = self.model.country_index(n)
            if i is not None:
                m[i] = True
        return m

    def stage_mask(
        self,
        stages: list[str] | None,
        materials: list[str] | None,
        hs6: list[str] | None,
        path: str,
        elements: list[str] | None = None,
    ) -> np.ndarray:
        S = len(self.model.stages)
        m = np.zeros(S, dtype=bool)
        parents = self.model.parents
        for j, st in enumerate(stages or []):
            hit = np.array([st in (x, p) for x, p in zip(self.model.stages, parents, strict=True)])
            if not hit.any():
                more = did_you_mean(st, set(self.model.stages) | set(parents))
                self.fail(f"{path}.stages[{j}]", f"chain {self.chain.id!r} has no stage {st!r}{more}")
            m |= hit
        mats = set(self.model.stage_material)
        wm = self.world.table("materials")
        world_mats = set(wm["material"]) if not wm.empty else mats
        for j, mat in enumerate(materials or []):
            if mat not in world_mats and mat not in mats:
                more = did_you_mean(mat, world_mats | mats)
                self.fail(f"{path}.materials[{j}]", f"unknown material {mat!r}{more}")
            if mat not in mats:
                self.fail(
                    f"{path}.materials[{j}]",
                    f"material {mat!r} is not in chain {self.chain.id!r} (it has {', '.join(sorted(mats))})",
                )
            m |= np.array([x == mat for x in self.model.stage_material])
        for j, code in enumerate(hs6 or []):
            hit = np.array([code in self.chain.stage(s).hs6 for s in parents])
            if not hit.any():
                self.fail(f"{path}.hs6[{j}]", f"no stage of chain {self.chain.id!r} trades under HS {code!r}")
            m |= hit
        if elements:
            em = self.element_mask(elements, f"{path}.elements")
            m = em if not (stages or materials or hs6) else m & em
        return m

    def element_mask(self, elements: list[str], path: str) -> np.ndarray:
        """Stages carrying any of ``elements``: their element stages and the grades they limit."""
        model = self.model
        tags = model.stage_tag or [None] * len(model.stages)
        m = np.zeros(len(model.stages), dtype=bool)
        for j, el in enumerate(elements):
            if el not in model.elements:
                more = did_you_mean(el, model.elements) or f"; it carries {', '.join(model.elements) or 'none'}"
                self.fail(f"{path}[{j}]", f"chain {self.chain.id!r} has no element {el!r}{more}")
            e_stage = np.array([t == el for t in tags])
            m |= e_stage
            if model.limiting is not None:  # grades that cannot be made without the element
                for i in range(len(model.stages)):
                    m[i] |= bool((model.limiting[i] & e_stage).any())
        return m

    def stage_one(self, stage: str | None, material: str | None, path: str, prefer: np.ndarray | None = None) -> int:
        """One model stage; a chain stage run in parts (elements, grades) resolves to the part whose sectors
        ``prefer`` (a sector mask) names, else to the part with the most baseline use."""
        if stage is not None:
            hit = np.flatnonzero(self.stage_mask([stage], None, None, path))
            if len(hit) > 1:
                if prefer is not None and prefer.any():
                    own = set(self.model.sector_stage[prefer].tolist()) & set(hit.tolist())
                    if own:
                        return int(min(own))
                return int(hit[np.argmax(self.model.consumption()[hit].sum(axis=1))])
            return int(hit[0])
        m = self.stage_mask(None, [material or ""], None, path)
        # a material's stockpile is held in its most processed form in the chain
        return int(np.flatnonzero(m)[-1])

    def sector_mask(self, name: str, path: str) -> np.ndarray:
        K = len(self.model.sectors)
        if name == "all":
            return np.ones(K, dtype=bool)
        if name not in self.sector_names:
            more = did_you_mean(name, self.sector_names)
            self.fail(path, f"chain {self.chain.id!r} has no end-use sector {name!r}{more}")
        return np.array([s == name or s.startswith(f"{name}@") for s in self.model.sectors])


def compile_plan(
    scenario: Scenario, model: ChainModel, world: Any, chain: Any, source: str, horizon: int
) -> Plan:
    """Resolve a scenario's names against the model and collect its parameter slots.

    A scenario run element by element (``scenario.elements``, or a shock naming ``elements``) turns
    ``model`` into its element-resolved form in place (:func:`resolve_model_elements`).
    """
    if scenario.elements and model.stage_parent is None:
        resolve_model_elements(model, source)
    r = _Resolver(world, model, chain, source)
    plan = Plan(horizon=horizon)
    plan.month_labels = scenario.month_labels(horizon)
    S = len(model.stages)
    C = len(model.countries)

    def dest_mask(sh: Any, path: str) -> np.ndarray:
        if sh.destinations == "all":
            dest = np.ones(C, dtype=bool)
            for j, x in enumerate(sh.except_):
                dest &= ~r.mask(r.places(x, f"{path}.except[{j}]"))
        else:
            dest = np.zeros(C, dtype=bool)
            for j, x in enumerate(sh.destinations):
                dest |= r.mask(r.places(x, f"{path}.destinations[{j}]"))
        return dest

    def timing(sh: Any, path: str) -> tuple[int, int | None]:
        start = plan.add(f"{path}.start", sh.start)
        dur = plan.add(f"{path}.duration", sh.duration) if sh.duration is not None else None
        return start, dur

    for i, sh in enumerate(scenario.shocks):
        path = f"shocks[{i}]"
        if sh.type == "export_restriction":
            origins = r.places(sh.origin, f"{path}.origin")
            dest = dest_mask(sh, path)
            smask = r.stage_mask(sh.stages, sh.materials, sh.hs6, path, sh.elements)
            omask = r.mask(origins)
            start, dur = timing(sh, path)
            plan.restrictions.append(
                {
                    "index": i,
                    "stages": smask,
                    "origins": np.flatnonzero(omask),
                    "dest": dest,
                    "fraction": plan.add(f"{path}.fraction", sh.fraction),
                    "start": start,
                    "duration": dur,
                }
            )
        elif sh.type == "licensing":
            origins = r.places(sh.origin, f"{path}.origin")
            dest = dest_mask(sh, path)
            smask = r.stage_mask(sh.stages, sh.materials, sh.hs6, path, sh.elements)
            share = dest.astype(np.float64)
            if sh.end_use:
                km = np.zeros(len(model.sectors), dtype=bool)
                for j, name in enumerate(sh.end_use):
                    km |= r.sector_mask(name, f"{path}.end_use[{j}]")
                at = np.isin(model.sector_stage, model.sector_stage[km])  # sectors of the same stage(s)
                tot = model.demand0[:, at].sum(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = share * np.where(tot > 0, model.demand0[:, km].sum(axis=1) / np.where(tot > 0, tot, 1), 0)
            start, dur = timing(sh, path)
            ap = sh.approval
            plan.licensing.append(
                {
                    "index": i,
                    "stages": smask,
                    "origins": np.flatnonzero(r.mask(origins)),
                    "share": share,
                    "start": start,
                    "duration": dur,
                    "kind": ap.kind,
                    "values": [plan.add(f"{path}.approval[{j}]", v) for j, v in enumerate(ap.values)],
                    "months": [plan.add(f"{path}.approval.ramp.months", m) for m in ap.months]
                    if ap.kind == "ramp" else list(ap.months),
                    "delay": plan.add(f"{path}.delay_months", sh.delay_months),
                    "refusal": plan.add(f"{path}.refusal", sh.refusal),
                }
            )
        elif sh.type == "leakage":
            via = np.zeros(C)
            for j, x in enumerate(sh.via):
                via += r.mask(r.places(x, f"{path}.via[{j}]"))
            plan.leakage.append(
                {
                    "of": sh.of,
                    "via": via > 0,
                    "share": plan.add(f"{path}.share", sh.share),
                    "delay": plan.add(f"{path}.delay_months", sh.delay_months),
                }
            )
        elif sh.type == "production_outage":
            smask = r.stage_mask(sh.stages, sh.materials, None, path)
            start, dur = timing(sh, path)
            entry: dict[str, Any] = {
                "stages": smask,
                "fraction": plan.add(f"{path}.fraction", sh.fraction),
                "start": start,
                "duration": dur,
                "capacity": None,
            }
            if sh.facility is not None:
                cm = r.mask(r.places(sh.facility.country, f"{path}.facility.country"))
                entry["capacity"] = plan.add(f"{path}.facility.capacity_t", sh.facility.capacity_t)
            else:
                cm = r.mask(r.places(sh.country or "", f"{path}.country"))
            entry["countries"] = cm
            plan.outages.append(entry)
        else:
            cm = r.mask(r.places(sh.country, f"{path}.country", allow_all=True))
            km = r.sector_mask(sh.sector, f"{path}.sector")
            start, dur = timing(sh, path)
            plan.surges.append(
                {
                    "countries": cm,
                    "sectors": km,
                    "factor": plan.add(f"{path}.factor", sh.factor),
                    "start": start,
                    "duration": dur,
                }
            )

    resp = scenario.responses
    dflt = default_responses()
    el = resp.elasticities
    plan.eps_d = plan.add(
        "responses.elasticities.demand",
        el.demand if el and el.demand is not None else dflt.elasticities.demand,
    )
    plan.eps_s = plan.add(
        "responses.elasticities.supply",
        el.supply if el and el.supply is not None else dflt.elasticities.supply,
    )
    plan.friction = plan.add(
        "responses.rerouting.friction", (resp.rerouting or dflt.rerouting).friction
    )
    plan.price_cap = plan.add(
        "responses.price_cap", resp.price_cap if resp.price_cap is not None else dflt.price_cap
    )
    plan.capacity.append(
        {
            "stages": np.ones(S, dtype=bool),
            "countries": np.ones(len(model.countries), dtype=bool),
            "spare": plan.add("defaults.capacity.spare", dflt.capacity[0].spare),
            "lead": plan.add("defaults.capacity.lead_months", dflt.capacity[0].lead_months),
        }
    )
    for i, cap in enumerate(resp.capacity):
        path = f"responses.capacity[{i}]"
        sm = np.ones(S, dtype=bool) if cap.stage == "all" else r.stage_mask([cap.stage], None, None, path)
        cm = (
            np.ones(len(model.countries), dtype=bool)
            if cap.country is None
            else r.mask(r.places(cap.country, f"{path}.country"))
        )
        plan.capacity.append(
            {
                "stages": sm,
                "countries": cm,
                "spare": plan.add(f"{path}.spare", cap.spare),
                "lead": plan.add(f"{path}.lead_months", cap.lead_months),
            }
        )
    for i, sp in enumerate(resp.stockpiles):
        path = f"responses.stockpiles[{i}]"
        holders = r.places(sp.holder, f"{path}.holder")
        prefer = None
        if sp.reserve_for:
            prefer = np.zeros(len(model.sectors), dtype=bool)
            for j, name in enumerate(sp.reserve_for):
                prefer |= r.sector_mask(name, f"{path}.reserve_for[{j}]")
        s = r.stage_one(sp.stage, sp.material, path, prefer)
        hmask = r.mask(holders)
        use0 = float(model.consumption()[s][hmask].sum())  # holder's baseline use, t/month
        contrib = None
        if sp.contributions:
            if len(holders) < 2:
                r.fail(f"{path}.contributions", "contributions need a pooled stockpile (a bloc holder)")
            contrib = np.zeros(C)
            for name, v in sp.contributions.items():
                if name not in holders:
                    r.fail(f"{path}.contributions.{name}",
                           f"{name!r} is not a member of {sp.holder!r}: {', '.join(holders)}")
                c = model.country_index(name)
                if c is not None:
                    contrib[c] += float(v)
            tonnes = plan.add(f"{path}.contributions", Dist("fixed", {"value": float(contrib.sum())}, 0,
                                                             np.inf, False))
            scale = 1.0
        elif sp.tonnes is not None:
            tonnes = plan.add(f"{path}.tonnes", sp.tonnes)
            scale = 1.0
        else:
            tonnes = plan.add(f"{path}.months_of_use", sp.months_of_use)
            scale = use0
        reserve = None
        if sp.reserve_for:
            reserve = np.zeros(len(model.sectors), dtype=bool)
            for j, name in enumerate(sp.reserve_for):
                m = r.sector_mask(name, f"{path}.reserve_for[{j}]") & (model.sector_stage == s)
                if not m.any():
                    r.fail(f"{path}.reserve_for[{j}]", f"sector {name!r} has no demand at stage {model.stages[s]!r}"
                           " (the stockpile's stage)")
                reserve |= m
        floors = None
        if sp.floors:
            if len(holders) < 2:
                r.fail(f"{path}.floors", "floors need a pooled stockpile (a bloc holder with several members)")
            floors = []
            for name, v in sp.floors.items():
                if name not in holders:
                    r.fail(f"{path}.floors.{name}", f"{name!r} is not a member of {sp.holder!r}: {', '.join(holders)}")
                c = model.country_index(name)
                if c is not None:
                    floors.append((c, float(v)))
        plan.stockpiles.append(
            {
                "label": f"{sp.holder}:{model.stages[s]}#{i}",
                "holders": hmask,
                "reserve": reserve,
                "floors": floors,
                "stage": s,
                "tonnes": tonnes,
                "tonnes_scale": scale,
                "max_release": (
                    plan.add(f"{path}.max_monthly_release", sp.max_monthly_release)
                    if sp.max_monthly_release is not None
                    else None
                ),
                "trigger": sp.trigger.on,
                "trigger_value": sp.trigger.value,
                "key": contrib / contrib.sum() if sp.allocation == "contributions" and contrib is not None
                and contrib.sum() > 0 else None,
                "replenish": plan.add(f"{path}.replenish_t_per_month", sp.replenish_t_per_month)
                if sp.replenish_t_per_month is not None else None,
            }
        )
    for i, sub in enumerate(resp.substitution):
        path = f"responses.substitution[{i}]"
        plan.substitution.append(
            {
                "sectors": r.sector_mask(sub.sector, f"{path}.sector"),
                "fraction": plan.add(f"{path}.fraction", sub.fraction),
                "lead": plan.add(f"{path}.lead_months", sub.lead_months),
            }
        )
    if resp.new_capacity is not None:
        plan.new_capacity = _new_capacity(scenario, model, world, r)
    for i, rc in enumerate(resp.recycling):
        path = f"responses.recycling[{i}]"
        sm = r.stage_mask([rc.stage], None, None, path)
        cm = np.ones(C, dtype=bool) if rc.country is None else r.mask(r.places(rc.country, f"{path}.country"))
        use = model.consumption() * sm[:, None] * cm[None, :]  # (S, C) t/month of baseline use recovered
        plan.recycling.append({"use": use, "share": plan.add(f"{path}.share", rc.share),
                               "lead": plan.add(f"{path}.lead_months", rc.lead_months)})
    plan.levels = _levels(scenario, model, chain, r)
    d = load_defaults()["prices"]
    plan.regions, plan.region_of = _regions(d["regions"], model, r)
    prec = resp.precautionary_months if resp.precautionary_months is not None else \
        make_dist(d["precautionary_months"]["value"], 0.0, 600.0, False)
    plan.precaution = plan.add("responses.precautionary_months", prec)
    speed = resp.price_speed if resp.price_speed is not None else make_dist(d["speed"]["value"], 0.0, 1.0, False)
    plan.price_speed = plan.add("responses.price_speed", speed)
    return plan


def resolve_model_elements(model: ChainModel, source: str) -> None:
    """Turn ``model`` into its element-by-element form (in place), with the grade data of ``defaults.yaml``."""
    spec = load_defaults().get("elements", {}).get(model.chain_id)
    if not spec or not model.elements:
        raise InputError(source, "elements", f"chain {model.chain_id!r} has no element data to run element by "
                         "element (defaults.yaml elements, chain elements)")
    content = {k: float(v["value"]) for k, v in spec.get("dytb_by_sector", {}).items() if isinstance(v, dict)}
    new = resolve_elements(model, spec, content)
    model.__dict__.update(new.__dict__)


def _new_capacity(scenario: Scenario, model: ChainModel, world: Any, r: _Resolver) -> list[tuple[int, int, float,
                                                                                                 int, str]]:
    """Registry plants of the chain that start after the baseline year, as capacity (t/month) from the model
    month of January of their start year. Without a calendar ``start`` month 1 is taken as January after
    the baseline year. Capacities are counted in the stage's content unit as the registry states them (a
    judgement where the registry's basis differs, e.g. NdPr oxide against magnet REE)."""
    from critmin.registry import capacity

    years = [v.get("production_year") or v.get("trade_year") for v in model.provenance.get("stages", {}).values()]
    years = [int(y) for y in years if isinstance(y, int | float | np.integer) and y and y > 0]
    base = scenario.year or (max(years) if years else None)
    if base is None:
        r.fail("responses.new_capacity", "the baseline year is unknown; set the scenario's year")
    try:
        df = capacity(world, 2100, include=list(scenario.responses.new_capacity.include))
    except InputError as exc:
        raise InputError(r.source, "responses.new_capacity.include", exc.problem) from None
    df = df[(df["chain"] == model.chain_id) & df["start_year"].notna()]
    y0, m0 = (int(scenario.start[:4]), int(scenario.start[5:])) if scenario.start else (base + 1, 1)
    out = []
    parents = model.parents
    for row in df.itertuples():
        if int(row.start_year) <= base:
            continue  # already producing in the baseline year: in the baseline data
        c = model.country_index(str(row.country))
        subs = [i for i, p in enumerate(parents) if p == row.chain_stage]
        if c is None or not subs:
            continue
        w = model.q0[subs].sum(axis=1)
        w = w / w.sum() if w.sum() > 0 else np.full(len(subs), 1.0 / len(subs))
        month0 = max(0, (int(row.start_year) - y0) * 12 + (1 - m0))
        for i, share in zip(subs, w, strict=True):
            out.append((i, c, float(row.capacity_tpy) / 12.0 * float(share), month0, str(row.project_id)))
    return out


def _levels(scenario: Scenario, model: ChainModel, chain: Any, r: _Resolver) -> np.ndarray:
    """Rationing level per sector: 0 defence (chain data), 1 essential (defaults or scenario), 2 other."""
    K = len(model.sectors)
    ra = scenario.responses.rationing
    if ra is not None and ra.policy == "proportional":
        return np.zeros(K, dtype=np.int64)
    lv = np.where(model.sector_defence, 0, 2).astype(np.int64)
    ess = load_defaults()["rationing"]["essential"].get(model.chain_id, [])
    for name in ess:
        if name in r.sector_names:
            lv[r.sector_mask(name, "defaults.rationing")] = 1
    if ra is not None:
        for name, level in ra.priorities.items():
            m = r.sector_mask(name, f"responses.rationing.priorities.{name}")
            lv[m] = ("defence", "essential", "other").index(level)
    return lv


def _regions(spec: dict[str, Any], model: ChainModel, r: _Resolver) -> tuple[list[str], np.ndarray]:
    """Price regions (``defaults.yaml`` prices.regions) and each country's region."""
    names = [k for k in spec if k not in ("assumption", "rationale")]
    rest = [k for k in names if spec[k] == "rest"]
    of = np.full(len(model.countries), names.index(rest[0]) if rest else -1, dtype=np.int64)
    for g, k in enumerate(names):
        if spec[k] != "rest":
            of[r.mask(list(spec[k]))] = g
    used = sorted(set(of.tolist()) - {-1})
    keep = [names[g] for g in used]
    remap = {g: i for i, g in enumerate(used)}
    return keep, np.array([remap.get(int(g), 0) for g in of], dtype=np.int64)


def sample(plan: Plan, runs: int, seed: int) -> np.ndarray:
    """Draw every parameter slot for ``runs`` runs: array (slots, runs), reproducible for ``seed``."""
    rng = np.random.default_rng(seed)
    out = np.empty((len(plan.slots), runs))
    for i, d in enumerate(plan.slots):
        out[i] = d.sample(rng, runs)
    return out


# ---------------------------------------------------------------------------------------------- kernel


def _active(samples: np.ndarray, start: int, dur: int | None, horizon: int) -> np.ndarray:
    """(runs, months) bool: the shock is on in month t (0-based) when start <= t+1 < start+duration."""
    t1 = np.arange(1, horizon + 1)[None, :]
    st = samples[start][:, None]
    on = t1 >= st
    if dur is not None:
        on &= t1 < st + samples[dur][:, None]
    return on


def _ramp(t: int, first: np.ndarray, lead: np.ndarray) -> np.ndarray:
    """0 → 1 linearly over ``lead`` months after the first short month ``first`` (inf = never)."""
    since = t - first
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # tiny leads: ratio -> inf -> 1
        r = np.where(lead > 0, since / np.where(lead > 0, lead, 1.0), (since > 0).astype(float))
    return np.clip(np.nan_to_num(r, nan=0.0, neginf=0.0), 0.0, 1.0)


#: Runs stepped through the months together inside a chunk: small enough that the (runs, countries)
#: work arrays stay in the CPU cache at ~200 countries. Results do not depend on it (see below).
BLOCK_RUNS = 64

#: Outputs of :func:`simulate_chunk` with a row per run, and those summed over runs.
PER_RUN_OUTPUTS = ("shortfall", "price", "price_region", "release", "balance_residual")
SUM_OUTPUTS = ("production_sum", "demand_sum", "inventory_sum", "exports_sum")


def zeros(shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """``np.zeros``; a large array is mapped on transparent huge pages where the OS offers them.

    Filling gigabytes of fresh memory is dominated by page faults (about 6 s for the 3 GB
    shortfall of 10,000 runs at ~213 countries with 4 KiB pages, under 2 s with 2 MiB pages).
    """
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes >= 64 << 20 and hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            m = mmap.mmap(-1, nbytes)
            m.madvise(mmap.MADV_HUGEPAGE)
            return np.frombuffer(m, dtype=dtype).reshape(shape)  # anonymous maps start zeroed
        except (OSError, ValueError):
            pass
    return np.zeros(shape, dtype)


def allocate_outputs(model: ChainModel, plan: Plan, runs: int, shortfall: bool = True,
                     shortfall_dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Zeroed output arrays for ``runs`` runs (see :func:`simulate_chunk`); without ``shortfall`` if asked
    (``shortfall_dtype``: float32, or float64 where float32 could overflow)."""
    M = plan.horizon
    S, C = model.q0.shape
    K = len(model.sectors)
    P = len(plan.stockpiles)
    out = {
        "price": np.zeros((runs, M, S)),
        "price_region": np.zeros((runs, M, S, len(plan.regions))),  # (R, M, S, G): plan.regions
        "release": np.zeros((runs, M, P)),
        "balance_residual": np.zeros((runs, M, S)),
        "production_sum": np.zeros((M, S, C)),
        "demand_sum": np.zeros((M, C, K)),
        "inventory_sum": np.zeros((M, S, C)),
        "exports_sum": np.zeros((M, S, C)),
    }
    if shortfall:
        out["shortfall"] = zeros((runs, M, C, K), shortfall_dtype)
    return out


def simulate_chunk(
    model: ChainModel,
    plan: Plan,
    samples: np.ndarray,
    out: dict[str, np.ndarray] | None = None,
    block: int = BLOCK_RUNS,
    reduce: Callable[[np.ndarray, int, int], None] | None = None,
    shortfall_dtype: Any = np.float32,
) -> dict[str, np.ndarray]:
    """Run all months for the runs in ``samples`` (slots × runs); arrays with runs leading.

    Returns ``shortfall`` (R, M, C, K) t (float32, or ``shortfall_dtype``), ``price`` (R, M, S)
    market-clearing index of the month, ``release`` (R, M, P) t,
    ``balance_residual`` (R, M, S) t (max |residual| over countries, plus the world
    trade residual), and run sums for means: ``production_sum`` (M, S, C),
    ``demand_sum`` (M, C, K), ``inventory_sum`` (M, S, C), ``exports_sum`` (M, S, C) (each exporter's
    shipments to other countries, after restrictions).

    ``out`` (optional) holds arrays of these shapes to fill in place (e.g. views into
    the whole result, so no chunk is copied again); the per-run arrays are written,
    and the chunk's run sums are added to the sums there (pass them zeroed). Runs are
    stepped through in blocks of ``block``; every run's numbers are independent of the
    blocking, and the run sums are accumulated run by run in order (as one
    ``sum(axis=0)`` over the chunk), so the result is identical for any ``block``.

    ``reduce(shortfall_block, a, b)``, when given, is called after each block with that block's
    shortfall (runs ``a:b`` of the chunk); if ``out`` has no ``shortfall`` the block's is a scratch array
    of ``shortfall_dtype`` reused from block to block, so the chunk's (R, M, C, K) array never exists.
    """
    R = samples.shape[1]
    if out is None:
        out = allocate_outputs(model, plan, R, shortfall=reduce is None, shortfall_dtype=shortfall_dtype)
    ctx = _Context(model, plan)
    step = max(1, int(block))
    scratch = None
    if "shortfall" not in out:
        if reduce is None:
            raise ValueError("simulate_chunk: out has no shortfall and no reduce was given")
        scratch = np.empty((min(step, R), plan.horizon, len(model.countries), len(model.sectors)), shortfall_dtype)
    with _malloc_reuse():
        for a in range(0, R, step):
            b = min(a + step, R)
            # per-run outputs as views of this block's rows (row 0 = run a); run sums shared
            view = {k: (v[a:b] if k in PER_RUN_OUTPUTS else v) for k, v in out.items()}
            if scratch is not None:
                view["shortfall"] = scratch[: b - a]
                view["shortfall"].fill(0.0)
            _simulate_block(ctx, samples[:, a:b], view, 0)
            if reduce is not None:
                reduce(view["shortfall"], a, b)
    return out


@contextmanager
def _malloc_reuse() -> Iterator[None]:
    """Let glibc reuse freed work arrays instead of mapping each one afresh.

    dask.distributed starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also
    pins glibc's mmap threshold at 128 KiB: every (runs, countries) temporary then is a
    new mapping with fresh page faults, and a chunk runs 3-4× slower. While the kernel
    runs, raise both thresholds; afterwards restore the environment's values and trim.
    """
    env = os.environ
    if "MALLOC_TRIM_THRESHOLD_" not in env and "MALLOC_MMAP_THRESHOLD_" not in env:
        yield
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        yield
        return
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
    # 32 MiB is the largest mmap threshold glibc allows on 64-bit (mallopt(3): DEFAULT_MMAP_THRESHOLD_MAX);
    # 1 GiB of free heap kept before trimming is a judgement (larger than a chunk's work arrays)
    mallopt(M_MMAP_THRESHOLD, 32 << 20)
    mallopt(M_TRIM_THRESHOLD, 1 << 30)
    try:
        yield
    finally:
        # back to the environment's values, else glibc's defaults (128 KiB each, mallopt(3))
        mallopt(M_MMAP_THRESHOLD, _env_int("MALLOC_MMAP_THRESHOLD_", 128 * 1024))
        mallopt(M_TRIM_THRESHOLD, _env_int("MALLOC_TRIM_THRESHOLD_", 128 * 1024))
        trim(0)


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ[name])
    except (KeyError, ValueError):
        return default


class _Context:
    """Per-chunk constants of the kernel derived from the model and plan (no run dimension)."""

    def __init__(self, model: ChainModel, plan: Plan) -> None:
        self.model = model
        self.plan = plan
        S, C = model.q0.shape
        q0 = model.q0
        shares = model.shares
        self.shares = shares
        self.diag = np.einsum("scc->sc", shares)
        F = model.factors
        self.prod_idx = [np.flatnonzero(q0[s] > 0) for s in range(S)]
        # sparse trade: (producer, importer, share) sorted by importer, summed with reduceat over
        # a (flows, runs) array (flows as rows: a gather of whole rows, summed row by row)
        self.sparse = []
        for s in range(S):
            a = shares[s][self.prod_idx[s]]
            rows, cols = np.nonzero(a.T)  # importer-major order
            self.sparse.append(
                (
                    self.prod_idx[s][cols],
                    a[cols, rows][:, None],
                    np.flatnonzero(np.r_[True, np.diff(rows) > 0]),
                    np.unique(rows),
                )
            )
        # inputs as (stage, factor, limiting); factors per country (arrays over countries) in element runs
        Fc = model.factor_c
        self.per_country = Fc is not None
        if Fc is None:
            self.inputs = [[(k, F[s, k], True) for k in range(S) if F[s, k] > 0] for s in range(S)]
            self.consumers = [[(j, F[j, s]) for j in range(S) if F[j, s] > 0] for s in range(S)]
        else:
            lim = model.limiting if model.limiting is not None else F > 0
            self.inputs = [[(k, Fc[s, k], bool(lim[s, k])) for k in range(S) if F[s, k] > 0] for s in range(S)]
            self.consumers = [[(j, Fc[j, s]) for j in range(S) if F[j, s] > 0] for s in range(S)]
            with np.errstate(divide="ignore"):
                self.finv = {(s, k): np.where(Fc[s, k] > 0, 1.0 / np.where(Fc[s, k] > 0, Fc[s, k], 1.0), 0.0)
                             for s in range(S) for k in range(S) if F[s, k] > 0}
        self.sec_of = [np.flatnonzero(model.sector_stage == s) for s in range(S)]
        self.D0_s = [np.ascontiguousarray(model.demand0[:, ix]) for ix in self.sec_of]
        # a stage's sectors as runs of consecutive columns: (slice in the result, slice in the stage's block)
        self.sec_runs: list[list[tuple[slice, slice]]] = []
        for ix in self.sec_of:
            runs_: list[tuple[slice, slice]] = []
            i = 0
            while i < len(ix):
                j = i
                while j + 1 < len(ix) and ix[j + 1] == ix[j] + 1:
                    j += 1
                runs_.append((slice(int(ix[i]), int(ix[j]) + 1), slice(i, j + 1)))
                i = j + 1
            self.sec_runs.append(runs_)
        # a stage's sectors as a slice when contiguous (one run; cheaper views than fancy indexing)
        self.sec_sel: list[slice | np.ndarray] = [
            runs_[0][0] if len(runs_) == 1 else ix for runs_, ix in zip(self.sec_runs, self.sec_of, strict=True)
        ]
        # balancing items (network rule 3): the share of a stage's output that needs no recorded input
        with np.errstate(invalid="ignore", divide="ignore"):
            bal = model.balancing if model.balancing is not None else np.zeros((S, C))
            self.free_frac = np.where(q0 > 0, np.minimum(bal / np.where(q0 > 0, q0, 1.0), 1.0), 0.0)
        self.has_free = [bool((self.free_frac[s] > 0).any()) and bool(self.inputs[s]) for s in range(S)]
        # private working stocks (t): the target each country holds of each stage, and the restocking time
        target = model.inventory0 if model.inventory0 is not None else np.zeros((S, C))
        self.target = np.ascontiguousarray(target, dtype=np.float64)
        self.has_target = [bool((self.target[s] > 0).any()) for s in range(S)]
        self.restock_months = float(load_defaults()["inventories"]["restock_months"]["value"])
        self.restrict_origins = [
            sorted({int(o) for rs in (*plan.restrictions, *plan.licensing) if rs["stages"][s] for o in rs["origins"]})
            for s in range(S)
        ]
        # rationing levels of each stage's sectors (intermediate uses rank with level 0)
        lv = plan.levels if plan.levels is not None else np.zeros(len(model.sectors), dtype=np.int64)
        self.sec_level = [lv[ix] for ix in self.sec_of]
        self.multi_level = [len(set(self.sec_level[s].tolist()) | ({0} if self.consumers[s] else set())) > 1
                            for s in range(S)]
        self.levels_at = [sorted(set(self.sec_level[s].tolist()) | ({0} if self.consumers[s] else set()))
                          for s in range(S)]
        # price regions: (G, C) membership
        of = plan.region_of if plan.region_of is not None else np.zeros(C, dtype=np.int64)
        self.region_of = of
        self.G = len(plan.regions)
        self.region_mat = np.zeros((self.G, C))
        self.region_mat[of, np.arange(C)] = 1.0
        self.price_floor = float(load_defaults()["prices"]["floor"]["value"])
        self.newcap = None
        if plan.new_capacity:
            self.newcap = np.zeros((plan.horizon, S, C))
            for s_, c_, tpm, m0, _ in plan.new_capacity:
                self.newcap[m0:, s_, c_] += tpm
        # leakage: the via countries' weights (baseline imports from each origin, else equal) per stage
        self.leak_of: dict[int, list[int]] = {}
        for li, lk in enumerate(plan.leakage):
            self.leak_of.setdefault(lk["of"], []).append(li)


    def input_base(self, target: np.ndarray, j: int) -> np.ndarray:
        """The part of stage ``j``'s target output (runs, countries) that draws on its inputs: all of it
        except its balancing items (unrecorded supply, which needs no recorded input)."""
        t = target[:, j, :]
        return t * (1.0 - self.free_frac[j])[None, :] if self.has_free[j] else t


def _triggered(sp: dict[str, Any], t: int, price_s: np.ndarray, R: int) -> np.ndarray:
    """Whether a stockpile's release trigger holds in month ``t`` (0-based), per run."""
    if sp["trigger"] == "month":
        return np.full(R, t + 1 >= sp["trigger_value"])
    if sp["trigger"] == "price":
        return price_s >= sp["trigger_value"]
    return np.ones(R, dtype=bool)


def _pool_release(
    deficit: np.ndarray, stock: np.ndarray, maxrel: np.ndarray, floor_left: np.ndarray, trig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A pooled stock with member floors: (release per run × country, total per run).

    ``floor_left`` (runs × countries, t) is what each member still holds of its floor; it is updated
    in place. What lies above the floors serves every member's deficit pro rata; each member then
    draws on its own floor for what it still lacks. The pool never goes below a member's floor to
    serve another member. Everything within the monthly cap ``maxrel`` and the stock left.
    """
    cap = np.where(trig, np.minimum(stock, maxrel), 0.0)
    free = np.maximum(stock - floor_left.sum(axis=1), 0.0)
    dh = deficit.sum(axis=1)
    first = np.minimum(np.minimum(free, cap), dh)
    with np.errstate(invalid="ignore", divide="ignore"):
        give = deficit * np.where(dh > 0, first / dh, 0.0)[:, None]
    own = np.minimum(np.maximum(deficit - give, 0.0), floor_left)
    own_tot = own.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        own = own * np.where(own_tot > 0, np.minimum(1.0, (cap - first) / np.where(own_tot > 0, own_tot, 1.0)),
                             0.0)[:, None]
    floor_left -= own
    give = give + own
    return give, give.sum(axis=1)


def _accumulate(acc: np.ndarray, buf: np.ndarray) -> None:
    """acc = ((acc + x[0]) + x[1]) + ... for ``x = buf[1:]`` (row 0 of ``buf`` is scratch).

    The order of a ``sum(axis=0)`` over the whole chunk continued block by block; with
    acc = 0 on the first block it equals ``x.sum(axis=0)`` exactly (0 + x is x).
    """
    buf[0] = acc
    np.add.reduce(buf, axis=0, out=acc)


def _simulate_block(ctx: _Context, samples: np.ndarray, out: dict[str, np.ndarray], r0: int) -> None:
    model, plan = ctx.model, ctx.plan
    R = samples.shape[1]
    rs_ = slice(r0, r0 + R)
    M = plan.horizon
    S, C = model.q0.shape
    K = len(model.sectors)
    P = len(plan.stockpiles)
    q0 = model.q0
    shares = ctx.shares
    diag = ctx.diag
    sparse, inputs, consumers = ctx.sparse, ctx.inputs, ctx.consumers
    sec_of, sec_sel = ctx.sec_of, ctx.sec_sel

    eps_d = samples[plan.eps_d]
    eps_s = samples[plan.eps_s]
    friction = samples[plan.friction]
    pcap = samples[plan.price_cap]
    denom = eps_s - eps_d  # >= 0

    spare = np.zeros((R, S, C))
    lead = np.zeros((R, S, C))
    for cap in plan.capacity:
        m = cap["stages"][:, None] & cap["countries"][None, :]
        spare = np.where(m[None], samples[cap["spare"]][:, None, None], spare)
        lead = np.where(m[None], samples[cap["lead"]][:, None, None], lead)

    restr = []
    for rs in plan.restrictions:
        restr.append(
            dict(rs, on=_active(samples, rs["start"], rs["duration"], M) * samples[rs["fraction"]][:, None])
        )
    outs = []
    for ou in plan.outages:
        frac = samples[ou["fraction"]]  # (R,)
        if ou["capacity"] is not None:
            # a facility's annual capacity as a share of the country's baseline monthly output
            with np.errstate(invalid="ignore", divide="ignore"):
                base = q0[ou["stages"]][:, ou["countries"]].sum()
                share = np.nan_to_num(samples[ou["capacity"]] / 12.0 / base, posinf=0.0)
            frac = frac * np.minimum(share, 1.0)
        outs.append(dict(ou, on=_active(samples, ou["start"], ou["duration"], M) * frac[:, None]))
    surges = [dict(su, on=_active(samples, su["start"], su["duration"], M)) for su in plan.surges]
    lic = [dict(li, on=_active(samples, li["start"], li["duration"], M), a=_approval(li, samples, M),
                d=samples[li["delay"]].astype(np.int64), st0=samples[li["start"]], refuse=samples[li["refusal"]])
           for li in plan.licensing]
    leaks = [dict(lk, share_r=samples[lk["share"]], d=samples[lk["delay"]].astype(np.int64)) for lk in plan.leakage]
    leak_share = {}  # licensing shock index -> share of its withheld applications that leaks (not queued)
    for lk in leaks:
        leak_share[lk["of"]] = np.minimum(leak_share.get(lk["of"], 0.0) + lk["share_r"], 1.0)
    lic_state: dict[tuple[int, int, int], dict[str, np.ndarray]] = {}
    leak_q: dict[tuple[int, int, int], np.ndarray] = {}
    prec = samples[plan.precaution]
    theta = samples[plan.price_speed]  # share of the gap to the clearing index closed each month
    log_floor = np.log(ctx.price_floor)
    rprice = np.ones((R, S, ctx.G))
    G = ctx.G
    RM = ctx.region_mat
    runs_ix = np.arange(R)
    subs = [dict(sb, frac=samples[sb["fraction"]], lead_s=samples[sb["lead"]]) for sb in plan.substitution]
    stock = np.zeros((R, P))
    maxrel = np.full((R, P), np.inf)
    for p, sp in enumerate(plan.stockpiles):
        stock[:, p] = samples[sp["tonnes"]] * sp["tonnes_scale"]
        if sp["max_release"] is not None:
            maxrel[:, p] = samples[sp["max_release"]]

    floor_left = {}  # pooled stocks with member floors: t of each member's floor still held, per run
    for p, sp in enumerate(plan.stockpiles):
        if sp["floors"]:
            fl = np.zeros(C)
            for c, v in sp["floors"]:
                fl[c] += v
            floor_left[p] = np.minimum(np.tile(fl, (R, 1)), stock[:, p][:, None] * fl / max(fl.sum(), 1e-300))

    price = np.ones((R, S))
    price_c = np.ones((R, S, C))  # each country's regional price index
    out_rprice = out.get("price_region")
    repl = [(p, sp, samples[sp["replenish"]], stock[:, p].copy()) for p, sp in enumerate(plan.stockpiles)
            if sp.get("replenish") is not None]
    # run-summed arrays carry a leading scratch row for _accumulate
    inv_buf = np.zeros((R + 1, S, C))
    inv = inv_buf[1:]
    inv[:] = ctx.target[None]  # every run starts with the working stocks at their target
    first_short = np.full((R, S), np.inf)

    out_short = out["shortfall"]
    out_price = out["price"]
    out_release = out["release"]
    out_resid = out["balance_residual"]
    prod_sum = out["production_sum"]
    dem_sum = out["demand_sum"]
    inv_sum = out["inventory_sum"]
    prod_buf = np.zeros((R + 1, S, C))
    prod_t = prod_buf[1:]
    exp_sum = out["exports_sum"]
    exp_buf = np.zeros((R + 1, S, C))
    exp_t = exp_buf[1:]
    dem_buf = np.zeros((R + 1, C, K))
    dem_t = dem_buf[1:]
    dbuf = [np.empty((R, C, len(ix))) for ix in sec_of]

    for t in range(M):
        # ---- final demand factors: D[r, c, k] = demand0[c, k] * surge[r, c, k] * (price^eps_d * (1 - sub))[r, k]
        dfac = None
        if surges:
            dfac = np.ones((R, C, K))
            for su in surges:
                hit = (
                    su["on"][:, t][:, None, None]
                    & su["countries"][None, :, None]
                    & su["sectors"][None, None, :]
                )
                dfac = np.where(hit, dfac * samples[su["factor"]][:, None, None], dfac)
        pkc = price_c ** eps_d[:, None, None]  # (R, S, C): each country's regional price response
        sub = np.zeros((R, K))
        for sb in subs:
            ramp = _ramp(t, first_short[:, model.sector_stage], sb["lead_s"][:, None])  # (R, K)
            sub = np.where(sb["sectors"][None, :], np.maximum(sub, sb["frac"][:, None] * ramp), sub)
        keep_k = 1.0 - sub  # (R, K)

        # ---- production targets (R, S, C)
        ramp = _ramp(t, first_short[:, :, None], lead)
        cap = q0[None] * (1.0 + spare * ramp)
        if ctx.newcap is not None:  # registry plants built after the baseline, from their start month
            cap = cap + ctx.newcap[t][None]
        # producers run at full available capacity while their market is short (price index > 1)
        target = np.where(price_c > 1.0, cap, q0[None])
        if outs:
            keep = np.ones((R, S, C))
            for ou in outs:
                m = ou["stages"][:, None] & ou["countries"][None, :]
                keep = keep * np.where(m[None], 1.0 - ou["on"][:, t][:, None, None], 1.0)
            target = target * keep

        deliv: dict[tuple[int, int], np.ndarray] = {}
        used_by = np.zeros((R, S, C))  # actual input consumption by downstream stages
        inv_prev = inv.copy()
        bal = np.zeros((R, S, C))  # inflows - outflows, completed stage by stage
        new_price = np.ones((R, S))
        new_rprice = np.ones((R, S, G))

        for s in range(S):
            Q = target[:, s, :]
            free = None
            if ctx.has_free[s]:  # balancing items: output that needs no recorded input (unrecorded supply)
                free = Q * ctx.free_frac[s][None, :]
                Q = Q - free
            for k, f, lim in inputs[s]:
                if not lim:
                    continue
                if ctx.per_country:
                    inv_f = ctx.finv[(s, k)]
                    Q = np.minimum(Q, np.where(inv_f > 0, deliv[(k, s)] * inv_f, np.inf))
                else:
                    Q = np.minimum(Q, deliv[(k, s)] / f)
            for k, f, lim in inputs[s]:
                got = deliv[(k, s)]
                used = f * Q if lim else np.minimum(f * Q, got)  # a non-limiting input: used as far as delivered
                used_by[:, k, :] += used
                inv[:, k, :] += got - used  # delivered but not used: back to the input's stock
            if free is not None:
                Q = Q + free
            prod_t[:, s, :] = Q

            # trade along baseline shares, minus restrictions
            incoming = np.zeros((R, C))
            src, vals, starts, dests = sparse[s]
            if len(vals):
                g = np.ascontiguousarray(Q.T).take(src, axis=0)  # (flows, runs)
                g *= vals
                incoming[:, dests] = np.add.reduceat(g, starts, axis=0).T
            kept = np.zeros((R, C))
            restricting = np.zeros((R, C), dtype=bool)
            targeted = np.zeros((R, C), dtype=bool)  # importers whose imports of the stage a control holds back
            for o in ctx.restrict_origins[s]:
                frac = np.zeros((R, C))
                parts = []
                for rs in restr:
                    if rs["stages"][s] and o in rs["origins"]:
                        fi = rs["on"][:, t][:, None] * rs["dest"][None, :]
                        frac += fi
                        parts.append((rs["index"], fi))
                frac[:, o] = 0.0
                fsum = frac
                frac = np.minimum(frac, 1.0)
                flow_o = Q[:, o][:, None] * shares[s, o][None, :]
                blocked = flow_o * frac
                incoming -= blocked
                kept[:, o] += blocked.sum(axis=1)
                restricting[:, o] |= frac.max(axis=1) > 0
                targeted |= frac > 0
                withheld: dict[int, np.ndarray] = {}
                for idx, fi in parts:
                    if idx in ctx.leak_of:
                        with np.errstate(invalid="ignore", divide="ignore"):
                            withheld[idx] = blocked * np.where(fsum > 0, fi / np.where(fsum > 0, fsum, 1.0), 0.0)
                for li, L in enumerate(lic):
                    if not (L["stages"][s] and o in L["origins"]):
                        continue
                    shipped, app = _licence_month(L, lic_state, (li, s, o), t, flow_o * (1.0 - frac), o,
                                                  np.maximum(kept[:, o] + inv[:, s, o], 0.0),
                                                  leak_share.get(L["index"]), runs_ix, M)
                    incoming += shipped - app
                    kept[:, o] += app.sum(axis=1) - shipped.sum(axis=1)
                    restricting[:, o] |= L["on"][:, t]
                    targeted |= app > 0
                    if L["index"] in ctx.leak_of:
                        withheld[L["index"]] = app
                for idx, amt in withheld.items():  # leaks leave with a delay through the via countries
                    for li in ctx.leak_of[idx]:
                        lk = leaks[li]
                        q = leak_q.setdefault((li, s, o), np.zeros((M, R, C)))
                        at = t + lk["d"]
                        ok = at < M
                        q[at[ok], runs_ix[ok]] += amt[ok] * lk["share_r"][ok, None]
                for li in range(len(leaks)):
                    q = leak_q.get((li, s, o))
                    if q is None:
                        continue
                    arr = q[t]
                    tot = arr.sum(axis=1)
                    avail = np.maximum(kept[:, o] + inv[:, s, o], 0.0)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        arr = arr * np.where(tot > avail, avail / np.where(tot > 0, tot, 1.0), 1.0)[:, None]
                    tot = arr.sum(axis=1)
                    w = shares[s, o] * leaks[li]["via"]
                    nv = leaks[li]["via"].sum()  # via countries outside the chain's data: delivered directly
                    w = w / w.sum() if w.sum() > 0 else (leaks[li]["via"] / nv if nv > 0 else w)
                    through = tot[:, None] * w[None, :]
                    incoming += arr + through  # the via countries import it and ship it on
                    kept -= through
                    kept[:, o] -= tot
            home = Q * diag[s][None, :]
            if plan.recycling:  # scrap recovered at home: output that needs no input and is used at home
                rec = np.zeros((R, C))
                for rc in plan.recycling:
                    if rc["use"][s].any():
                        ramp_r = _ramp(t, first_short[:, s][:, None], samples[rc["lead"]][:, None])  # (R, 1)
                        rec += samples[rc["share"]][:, None] * ramp_r * rc["use"][s][None, :]
                Q = Q + rec
                prod_t[:, s, :] = Q
                home = home + rec
                incoming = incoming + rec
            imports = incoming - home
            exports = Q - home - kept
            exp_t[:, s, :] = exports
            stock_before = inv[:, s, :].copy() if ctx.has_target[s] else None
            supply = incoming + kept + inv[:, s, :]
            inv[:, s, :] = 0.0

            # need: final demand + downstream inputs at target output
            nk = len(sec_of[s])
            if nk:
                # C-ordered (runs, countries, sectors) like the full array was, so that sums over
                # sectors and then countries run in the same order (bit-identical results)
                Ds = dbuf[s]
                pks = pkc[:, s, :, None] * keep_k[:, None, sec_sel[s]]  # (R, C, sectors of s)
                if dfac is None:  # (demand0 x 1.0 is exact: the same numbers as with the surge factor)
                    np.multiply(ctx.D0_s[s][None], pks, out=Ds)
                else:
                    np.multiply(ctx.D0_s[s][None], dfac[:, :, sec_sel[s]], out=Ds)
                    Ds *= pks
                for dst, loc in ctx.sec_runs[s]:
                    dem_t[:, :, dst] = Ds[:, :, loc]
                need = need_final = Ds.sum(axis=2)
            else:
                need = need_final = np.zeros((R, C))
            for j, f in consumers[s]:
                need = need + f * ctx.input_base(target, j)
            # what a country wants this month: its uses, plus (where it holds a working stock) its stock
            # brought back towards the target over restock_months (ARIO-style orders; baseline: = target)
            desired = need
            if stock_before is not None:
                tgt = ctx.target[s][None, :]
                order = np.where(tgt > 0, stock_before + (tgt - stock_before) / ctx.restock_months, 0.0)
                desired = need + order
            surplus = np.maximum(supply - desired, 0.0)
            deficit = np.maximum(desired - supply, 0.0)

            # re-routing pool
            offer = np.where(restricting, 0.0, surplus)
            offer_tot = offer.sum(axis=1)
            d_tot = deficit.sum(axis=1)
            moved = np.minimum((1.0 - friction) * offer_tot, d_tot)
            with np.errstate(invalid="ignore", divide="ignore"):
                recv = deficit * np.where(d_tot > 0, moved / d_tot, 0.0)[:, None]
                give = offer * np.where(offer_tot > 0, moved / offer_tot, 0.0)[:, None]
            supply = supply + recv - give
            # stockpiles serve uses, not private restocking
            deficit = np.maximum(deficit - recv, 0.0) if stock_before is None else np.maximum(need - supply, 0.0)

            # stockpile releases
            release = np.zeros((R, C))
            for p, sp in enumerate(plan.stockpiles):
                if sp["stage"] != s or sp["reserve"] is not None:
                    continue
                trig = _triggered(sp, t, price[:, s], R)
                if sp["floors"]:
                    give_rel, rel = _pool_release(deficit * sp["holders"][None, :], stock[:, p], maxrel[:, p],
                                                  floor_left[p], trig)
                elif sp.get("key") is not None:  # pooled, shared by the members' contributions (capped at deficit)
                    avail = np.where(trig, np.minimum(stock[:, p], maxrel[:, p]), 0.0)
                    give_rel = np.minimum(deficit * sp["holders"][None, :], avail[:, None] * sp["key"][None, :])
                    rel = give_rel.sum(axis=1)
                else:
                    dh = (deficit * sp["holders"][None, :]).sum(axis=1)
                    rel = np.where(trig, np.minimum(np.minimum(stock[:, p], maxrel[:, p]), dh), 0.0)
                    with np.errstate(invalid="ignore", divide="ignore"):
                        give_rel = deficit * sp["holders"][None, :] * np.where(dh > 0, rel / dh, 0.0)[:, None]
                release += give_rel
                deficit = np.maximum(deficit - give_rel, 0.0)
                stock[:, p] -= rel
                out_release[rs_, t, p] = rel
            supply = supply + release

            # rationing
            if ctx.multi_level[s]:  # level by level: defence (and own plants), essential, other
                served, unmet_c, final_delivered, rho = _ration_levels(ctx, s, supply, need, need_final, Ds if nk
                                                                       else None, out_short[rs_, t])
                for j, f in consumers[s]:
                    deliv[(s, j)] = rho * f * ctx.input_base(target, j)
                inv[:, s, :] = np.maximum(supply - served, 0.0)
            else:
                with np.errstate(invalid="ignore", divide="ignore"):
                    rho = np.where(need > 0, np.minimum(1.0, supply / np.where(need > 0, need, 1.0)), 1.0)
                rho = np.where(supply >= need * (1.0 - 1e-12), 1.0, rho)
                for j, f in consumers[s]:
                    deliv[(s, j)] = rho * f * ctx.input_base(target, j)
                final_delivered = np.zeros((R, C))
                if nk:
                    # shortfall straight into the (float32) result: computed in float64, rounded on store
                    short_rho = (1.0 - rho)[:, :, None]
                    for dst, loc in ctx.sec_runs[s]:
                        np.multiply(short_rho, Ds[:, :, loc], out=out_short[rs_, t, :, dst], casting="same_kind")
                    final_delivered = rho * need_final  # = sum over sectors of rho * Ds (one ratio per country)
                inv[:, s, :] = np.maximum(supply - rho * need, 0.0)
                unmet_c = (1.0 - rho) * need

            # stockpiles reserved for chosen sectors: straight to those sectors' shortfall, after rationing
            for p, sp in enumerate(plan.stockpiles):
                if sp["stage"] != s or sp["reserve"] is None or not nk:
                    continue
                trig = _triggered(sp, t, price[:, s], R)
                ks = np.flatnonzero(sp["reserve"])
                view = out_short[rs_, t]  # (R, C, K) view of this month's shortfall
                short = view[:, :, ks].astype(np.float64) * sp["holders"][None, :, None]
                dh = short.sum(axis=(1, 2))
                rel = np.where(trig, np.minimum(np.minimum(stock[:, p], maxrel[:, p]), dh), 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    got = short * np.where(dh > 0, rel / dh, 0.0)[:, None, None]
                view[:, :, ks] = np.maximum(view[:, :, ks] - got, 0.0)
                stock[:, p] -= rel
                out_release[rs_, t, p] = rel
                release += got.sum(axis=2)
                final_delivered = final_delivered + got.sum(axis=2)

            # regional prices: each region's wants (uses, restocking orders, precautionary orders while a control
            # targets it) cleared against what it holds this month (stocks, output kept, imports, re-routed, released)
            wants = desired + prec[:, None] * need * targeted
            Dr = wants @ RM.T
            Ar = supply @ RM.T
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                ratio = np.where(Dr > 0, Ar / np.where(Dr > 0, Dr, 1.0), 1.0)
                lr = np.where(np.abs(ratio - 1.0) < 1e-9, 0.0, -np.log(ratio) / denom[:, None])
                # the clearing index, between the floor and the cap, and the month's step towards it
                lr = np.clip(np.nan_to_num(lr, nan=np.inf, posinf=np.inf), log_floor, np.log(pcap)[:, None])
                lp = np.log(rprice[:, s, :])
                new_rprice[:, s, :] = np.exp(lp + theta[:, None] * (lr - lp))
            for p, sp, rate, full in repl:  # refill from the holders' surplus in months without a release
                if sp["stage"] != s:
                    continue
                idle = out_release[rs_, t, p] <= 0
                extra = np.maximum(inv[:, s, :] - ctx.target[s][None, :], 0.0) * sp["holders"][None, :]
                et = extra.sum(axis=1)
                take = np.where(idle, np.minimum(np.minimum(rate, np.maximum(full - stock[:, p], 0.0)), et), 0.0)
                with np.errstate(invalid="ignore", divide="ignore"):
                    tc = extra * np.where(et > 0, take / np.where(et > 0, et, 1.0), 0.0)[:, None]
                inv[:, s, :] -= tc
                stock[:, p] += take
                release -= tc  # an outflow from the holders into the stockpile
            need_tot = need.sum(axis=1)
            unmet = unmet_c.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                u = np.where(need_tot > 0, unmet / np.where(need_tot > 0, need_tot, 1.0), 0.0)
                u = np.where(u < 1e-12, 0.0, u)
                logp = np.where(u > 0, -np.log1p(-np.minimum(u, 1.0)) / denom, 0.0)
                new_price[:, s] = np.minimum(np.exp(np.nan_to_num(logp, nan=np.inf)), pcap)
            first_short[:, s] = np.where(np.isinf(first_short[:, s]) & (u > 0), t, first_short[:, s])

            # inflows - outflows except downstream use and stock returns (added after all stages)
            bal[:, s, :] = Q + imports - exports + inv_prev[:, s, :] + recv - give + release - final_delivered
            out_resid[rs_, t, s] = np.abs(imports.sum(axis=1) - exports.sum(axis=1)) + np.abs(
                recv.sum(axis=1) - give.sum(axis=1)
            )

        resid = bal - used_by - inv
        out_resid[rs_, t, :] += np.abs(resid).max(axis=2)
        out_price[rs_, t] = new_price
        if out_rprice is not None:
            out_rprice[rs_, t] = new_rprice
        rprice = new_rprice
        price_c = new_rprice[:, :, ctx.region_of]
        _accumulate(prod_sum[t], prod_buf)
        _accumulate(exp_sum[t], exp_buf)
        _accumulate(dem_sum[t], dem_buf)
        _accumulate(inv_sum[t], inv_buf)
        price = new_price


def _approval(li: dict[str, Any], samples: np.ndarray, M: int) -> np.ndarray:
    """(runs, months) share of waiting licence applications approved in each month (0-based)."""
    t1 = np.arange(1, M + 1)[None, :]
    v = [samples[j][:, None] for j in li["values"]]
    if li["kind"] == "constant":
        return np.broadcast_to(v[0], (samples.shape[1], M)).copy()
    if li["kind"] == "ramp":
        since = t1 - samples[li["start"]][:, None]  # 0 in the licensing's first month
        n = samples[li["months"][0]][:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(n > 0, np.clip(since / np.where(n > 0, n, 1.0), 0.0, 1.0), (since >= 0).astype(float))
        return v[0] + (v[1] - v[0]) * x
    a = np.zeros((samples.shape[1], M))
    for m, val in zip(li["months"], v, strict=True):
        a = np.where(t1 >= m, val, a)
    return a


def _licence_month(
    L: dict[str, Any],
    state: dict[tuple[int, int, int], dict[str, np.ndarray]],
    key: tuple[int, int, int],
    t: int,
    flow: np.ndarray,
    o: int,
    avail: np.ndarray,
    leak: np.ndarray | None,
    runs_ix: np.ndarray,
    M: int,
) -> tuple[np.ndarray, np.ndarray]:
    """One month of a licence queue for origin ``o`` at one stage: (shipped, applications), (runs, countries) t.

    Applications = the licensed share of this month's flows while the licensing is on (they leave the
    trade; the origin keeps them). An application waits ``delay`` months, then joins the approvable
    backlog, of which the month's approval share ships; the rest waits. Once the licensing ends the whole
    backlog ships. While it is on, a share ``refusal`` of what still waits after the approvals is refused
    each month (it stays with the origin). Shipments come from the origin's stock and output (``avail``,
    t) and stop at it; the part a leakage shock diverts (``leak``, share) never joins the queue.
    """
    R, C = flow.shape
    st = state.get(key)
    if st is None:
        st = state[key] = {"H": np.zeros((M, R, C)), "E": np.zeros((R, C)), "P": np.zeros((R, C))}
    on = L["on"][:, t]
    ended = (~on) & (t + 1 >= L["st0"])
    app = flow * L["share"][None, :] * on[:, None]
    app[:, o] = 0.0
    queued = app if leak is None else app * (1.0 - leak)[:, None]
    st["H"][t] = queued
    st["P"] += queued
    idx = t - L["d"]
    ok = (idx >= 0) & ~ended
    elig = st["H"][np.maximum(idx, 0), runs_ix] * ok[:, None]
    st["E"] += elig
    st["P"] -= elig
    # the licensing is over: everything waiting may ship
    st["E"] += np.where(ended[:, None], st["P"], 0.0)
    st["P"] = np.where(ended[:, None], 0.0, st["P"])
    ship = st["E"] * np.where(ended, 1.0, L["a"][:, t] * on)[:, None]
    tot = ship.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ship = ship * np.where(tot > avail + app.sum(axis=1), (avail + app.sum(axis=1)) / np.where(tot > 0, tot, 1.0),
                               1.0)[:, None]
    st["E"] -= ship
    st["E"] *= 1.0 - np.where(on, L["refuse"], 0.0)[:, None]  # refused: out of the queue, kept at home
    return ship, app


def _ration_levels(
    ctx: _Context,
    s: int,
    supply: np.ndarray,
    need: np.ndarray,
    need_final: np.ndarray,
    Ds: np.ndarray | None,
    short_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Serve a stage's uses level by level (0 = defence and the country's own downstream plants, then 1, 2),
    each level pro rata. Writes each sector's shortfall into ``short_out`` (runs, countries, sectors; zero on
    entry) and returns (t served, t unmet, t delivered to final demand, the share served to downstream
    plants). Only countries short in some run are rationed (the rest are served in full)."""
    served = need.copy()
    unmet = np.zeros_like(supply)
    final = need_final.copy()
    rho_int = np.ones_like(supply)
    short = supply < need * (1.0 - 1e-12)
    if not short.any():
        return served, unmet, final, rho_int
    cc = np.flatnonzero(short.any(axis=0))
    sup, nd, nf = supply[:, cc], need[:, cc], need_final[:, cc]
    D = Ds[:, cc, :] if Ds is not None else None
    lv = ctx.sec_level[s]
    cols = ctx.sec_of[s]
    avail = sup.copy()
    sv = np.zeros_like(sup)
    um = np.zeros_like(sup)
    fn = np.zeros_like(sup)
    for level in ctx.levels_at[s]:
        mine = np.flatnonzero(lv == level)
        nl = D[:, :, mine].sum(axis=2) if (D is not None and len(mine)) else np.zeros_like(sup)
        fin = nl
        if level == 0:
            nl = nl + (nd - nf)
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = np.where(nl > 0, np.minimum(1.0, avail / np.where(nl > 0, nl, 1.0)), 1.0)
        rho = np.where(avail >= nl - 1e-12 * nd, 1.0, rho)  # rounding against the country's whole need
        avail = np.maximum(avail - rho * nl, 0.0)
        sv += rho * nl
        um += (1.0 - rho) * nl
        fn += rho * fin
        if level == 0:
            rho_int[:, cc] = rho
        for j in mine:
            short_out[:, cc, cols[j]] = (1.0 - rho) * D[:, :, j]
    served[:, cc] = sv
    unmet[:, cc] = um
    final[:, cc] = fn
    return served, unmet, final, rho_int
