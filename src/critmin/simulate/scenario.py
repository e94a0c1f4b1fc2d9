"""Disruption scenarios as data: the YAML schema, its distributions and its validation.

A scenario file names the chain it runs on, a list of **shocks** (export
restrictions, production outages, demand surges) and the **responses** that
soften them (stockpiles, re-routing, spare capacity, price elasticities,
substitution). Any numeric parameter may be a number or a distribution::

    fraction: 0.8                                   # fixed
    fraction: {dist: uniform, low: 0.5, high: 1}
    fraction: {dist: triangular, low: 0.5, mode: 0.9, high: 1}
    fraction: {dist: normal, mean: 0.8, sd: 0.1}      # samples clipped to the field's range
    tonnes:   {dist: lognormal, mu: 6.9, sigma: 0.3}  # mu, sigma of log(value)

See ``docs/simulate.md`` for the full schema with examples. Parsing checks
structure and ranges (:func:`parse_scenario`); names of countries, blocs,
stages, materials and sectors are checked against a World and a chain when the
scenario is resolved (:mod:`critmin.simulate.model`). Every failure is an
:class:`~critmin.errors.InputError` naming the field path, e.g.
``shocks[1].duration``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from critmin.errors import InputError
from critmin.safeio import read_yaml
from critmin.validate import FiniteFloat

# ---------------------------------------------------------------------------------------------- distributions

DIST_KINDS = ("fixed", "uniform", "triangular", "normal", "lognormal")


class Dist:
    """A numeric parameter: a fixed value or a distribution to sample for Monte Carlo.

    ``lo``/``hi`` are the field's valid range; ``integer`` rounds samples to whole
    numbers (months). Normal samples are clipped to the range; other kinds must lie
    inside it (checked at parse time).
    """

    __slots__ = ("kind", "args", "lo", "hi", "integer")

    def __init__(self, kind: str, args: dict[str, float], lo: float, hi: float, integer: bool) -> None:
        self.kind = kind
        self.args = args
        self.lo = lo
        self.hi = hi
        self.integer = integer

    @property
    def is_fixed(self) -> bool:
        return self.kind == "fixed"

    @property
    def central(self) -> float:
        """A representative value (the fixed value, mean, mode or median)."""
        a = self.args
        v = {
            "fixed": lambda: a.get("value", 0.0),
            "uniform": lambda: (a["low"] + a["high"]) / 2,
            "triangular": lambda: a["mode"],
            "normal": lambda: a["mean"],
            "lognormal": lambda: math.exp(a["mu"]),
        }[self.kind]()
        return float(np.clip(round(v) if self.integer else v, self.lo, self.hi))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` samples as float64 (rounded for integer fields, clipped to the range)."""
        a = self.args
        if self.kind == "fixed":
            x = np.full(n, a["value"], dtype=np.float64)
        elif self.kind == "uniform":
            x = rng.uniform(a["low"], a["high"], n)
        elif self.kind == "triangular":
            x = (
                np.full(n, a["low"], dtype=np.float64)
                if a["low"] == a["high"]
                else rng.triangular(a["low"], a["mode"], a["high"], n)
            )
        elif self.kind == "normal":
            x = rng.normal(a["mean"], a["sd"], n)
        else:
            x = rng.lognormal(a["mu"], a["sigma"], n)
        if self.integer:
            x = np.round(x)
        return np.clip(x, self.lo, self.hi)

    def to_yaml(self) -> Any:
        if self.kind == "fixed":
            v = self.args["value"]
            return int(v) if self.integer else v
        return {"dist": self.kind, **self.args}

    def __repr__(self) -> str:
        return f"Dist({self.to_yaml()!r})"


_DIST_KEYS = {
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "normal": ("mean", "sd"),
    "lognormal": ("mu", "sigma"),
}


def _num(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"{what} must be a number, not {type(v).__name__} {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"{what} must be finite")
    return f


def _fmt(x: float) -> str:
    return "∞" if math.isinf(x) else f"{x:g}"


def make_dist(v: Any, lo: float, hi: float, integer: bool) -> Dist:
    """Parse a number or a ``{dist: ...}`` mapping into a :class:`Dist` within ``[lo, hi]``."""
    rng = f"[{_fmt(lo)}, {_fmt(hi)}]"
    if isinstance(v, Dist):
        return v
    if not isinstance(v, dict):
        x = _num(v, "value")
        if integer and x != round(x):
            raise ValueError(f"must be a whole number of months, not {x:g}")
        if not lo <= x <= hi:
            raise ValueError(f"{x:g} is outside the valid range {rng}")
        return Dist("fixed", {"value": x}, lo, hi, integer)
    if "dist" not in v:
        raise ValueError(f"a distribution needs 'dist' (one of {', '.join(DIST_KINDS)})")
    kind = v["dist"]
    if kind not in _DIST_KEYS:
        raise ValueError(f"unknown distribution {kind!r}; use one of {', '.join(DIST_KINDS)}")
    keys = _DIST_KEYS[kind]
    extra = sorted(set(v) - set(keys) - {"dist"})
    if extra:
        raise ValueError(f"{kind} distribution takes {', '.join(keys)}; unexpected {', '.join(extra)}")
    missing = [k for k in keys if k not in v]
    if missing:
        raise ValueError(f"{kind} distribution needs {', '.join(missing)}")
    a = {k: _num(v[k], k) for k in keys}
    if kind == "fixed":
        return make_dist(a["value"], lo, hi, integer)
    if kind == "uniform":
        if a["low"] > a["high"]:
            raise ValueError(f"uniform low ({a['low']:g}) is above high ({a['high']:g})")
        ends = (a["low"], a["high"])
    elif kind == "triangular":
        if not a["low"] <= a["mode"] <= a["high"]:
            raise ValueError("triangular needs low <= mode <= high")
        ends = (a["low"], a["high"])
    elif kind == "normal":
        if a["sd"] <= 0:
            raise ValueError(f"normal sd must be positive, not {a['sd']:g}")
        ends = (a["mean"], a["mean"])
    else:
        if a["sigma"] <= 0:
            raise ValueError(f"lognormal sigma must be positive, not {a['sigma']:g}")
        if lo < 0:
            raise ValueError("a lognormal distribution is only allowed for non-negative quantities")
        ends = (math.exp(a["mu"]), math.exp(a["mu"]))
    for e in ends:
        if not lo <= e <= hi:
            raise ValueError(f"{kind} distribution reaches {e:g}, outside the valid range {rng}")
    return Dist(kind, a, lo, hi, integer)


def Param(lo: float = -math.inf, hi: float = math.inf, integer: bool = False) -> Any:  # noqa: N802
    """A pydantic field type: a number or distribution within ``[lo, hi]``."""
    return Annotated[Dist, BeforeValidator(lambda v: make_dist(v, lo, hi, integer))]


Fraction = Param(0.0, 1.0)
Month = Param(1, 10_000, integer=True)
Months = Param(0, 10_000)
NonNeg = Param(0.0)


def _str_list(v: Any) -> Any:
    if isinstance(v, str):
        return [v]
    return v


StrList = Annotated[list[str], BeforeValidator(_str_list)]


class _Base(BaseModel):
    model_config = ConfigDict(
        extra="forbid", arbitrary_types_allowed=True, populate_by_name=True, validate_default=True
    )


# ---------------------------------------------------------------------------------------------- shocks


#: A calendar month, ``YYYY-MM`` (quote it or not: YAML reads 2025-04 as a string).
CALENDAR_RE = re.compile(r"^(\d{4})-(\d{2})$")


def calendar_month(v: Any) -> tuple[int, int]:
    """``"2025-04"`` → ``(2025, 4)``; ValueError for anything else (e.g. a full date)."""
    m = CALENDAR_RE.match(v) if isinstance(v, str) else None
    if m is None or not 1 <= int(m.group(2)) <= 12:
        raise ValueError(f"{v!r} is not a calendar month; write it as YYYY-MM, e.g. 2025-04")
    return int(m.group(1)), int(m.group(2))


def _start(v: Any) -> Any:
    """A shock's start: a whole month (number or distribution) or a calendar month ``YYYY-MM`` (kept as text
    until the scenario's own ``start`` pins it, see :func:`pin_calendar`)."""
    if isinstance(v, str):
        calendar_month(v)
        return v
    if hasattr(v, "isoformat"):  # YAML read 2025-04-01 as a date
        raise ValueError(f"{v} is a date; give the month as YYYY-MM (e.g. {v.year}-{v.month:02d})")
    return make_dist(v, 1, 10_000, True)


StartMonth = Annotated[Dist | str, BeforeValidator(_start)]


def _calendar_field(v: Any) -> Any:
    if v is None:
        return None
    if hasattr(v, "isoformat"):
        raise ValueError(f"{v} is a date; give the month as YYYY-MM (e.g. {v.year}-{v.month:02d})")
    calendar_month(v)
    return v


CalendarMonth = Annotated[str, BeforeValidator(_calendar_field)]


class Timing(_Base):
    start: StartMonth = Field(
        default=1,
        description="First month of the shock: 1 = first simulated month, or a calendar month YYYY-MM when the "
        "scenario has a calendar start.",
    )
    duration: Param(1, 10_000, integer=True) | None = Field(  # type: ignore[valid-type]
        default=None, description="Months the shock lasts; omitted = to the end of the horizon."
    )


class ExportRestriction(Timing):
    """Exports of some chain stages from ``origin`` to ``destinations`` cut by ``fraction``."""

    type: Literal["export_restriction"]
    origin: str = Field(description="ISO3 country or bloc whose exports are restricted.")
    stages: StrList | None = None
    materials: StrList | None = None
    hs6: StrList | None = None
    elements: StrList | None = Field(
        default=None,
        description="Only these elements of the chain (e.g. [DyTb]): their element stages and the magnet grades "
        "that need them. Runs the chain element by element (see docs/simulate.md, Elements).",
    )
    destinations: Literal["all"] | StrList = "all"
    except_: StrList = Field(default_factory=list, alias="except")
    fraction: Fraction = Field(default=make_dist(1.0, 0, 1, False))

    @model_validator(mode="after")
    def _selects(self) -> ExportRestriction:
        if not (self.stages or self.materials or self.hs6 or self.elements):
            raise ValueError("name what is restricted: stages, materials, hs6 or elements")
        if self.destinations != "all" and self.except_:
            raise ValueError("'except' only goes with destinations: all")
        return self


@dataclass(frozen=True)
class Approval:
    """Share of licence applications approved each month, by months since the licensing started.

    ``kind`` is ``constant`` (``values[0]``), ``ramp`` (``values`` = from, to; linear over
    ``months`` = (ramp length,)) or ``schedule`` (step function: from month ``months[i]`` on,
    ``values[i]``; before the first step nothing is approved). Month keys of a schedule are
    whole months (1 = the scenario's first month) or calendar months (pinned by :func:`pin_calendar`).
    """

    kind: str
    values: tuple[Dist, ...]
    months: tuple[Any, ...] = ()


def _approval(v: Any) -> Approval:
    if isinstance(v, Approval):
        return v
    if not isinstance(v, dict) or "dist" in v:
        return Approval("constant", (make_dist(v, 0.0, 1.0, False),))
    if set(v) == {"ramp"} and isinstance(v["ramp"], dict):
        r = v["ramp"]
        extra = sorted(set(r) - {"from", "to", "months"})
        if extra:
            raise ValueError(f"ramp takes from, to, months; unexpected {', '.join(map(str, extra))}")
        missing = [k for k in ("to", "months") if k not in r]
        if missing:
            raise ValueError(f"ramp needs {', '.join(missing)}")
        vals = []
        for k in ("from", "to"):
            try:
                vals.append(make_dist(r.get(k, 0.0), 0.0, 1.0, False))
            except ValueError as exc:
                raise ValueError(f"ramp.{k}: {exc}") from None
        try:
            months = make_dist(r["months"], 0.0, 600.0, True)
        except ValueError as exc:
            raise ValueError(f"ramp.months: {exc}") from None
        return Approval("ramp", tuple(vals), (months,))
    if set(v) == {"schedule"} and isinstance(v["schedule"], dict) and v["schedule"]:
        keys, vals = [], []
        for k, x in v["schedule"].items():
            if isinstance(k, int) and not isinstance(k, bool):
                if not 1 <= k <= 10_000:
                    raise ValueError(f"schedule month {k} is outside the valid range [1, 10000]")
            else:
                try:
                    calendar_month(k)
                except ValueError as exc:
                    raise ValueError(f"schedule: {exc}") from None
            try:
                vals.append(make_dist(x, 0.0, 1.0, False))
            except ValueError as exc:
                raise ValueError(f"schedule.{k}: {exc}") from None
            keys.append(k)
        return Approval("schedule", tuple(vals), tuple(keys))
    raise ValueError(
        "approval is a share (0-1, or a distribution), {ramp: {from, to, months}} or {schedule: {month: share}}"
    )


ApprovalField = Annotated[Approval, BeforeValidator(_approval)]


class Licensing(Timing):
    """Exports of some stages from ``origin`` need a licence: applications wait ``delay_months``, then a share
    ``approval`` (by month) of what waits is approved and shipped; the rest waits (the backlog), so a rise in
    approvals ships the backlog on top of current flows (catch-up above baseline)."""

    type: Literal["licensing"]
    origin: str = Field(description="ISO3 country or bloc that licenses its exports.")
    stages: StrList | None = None
    materials: StrList | None = None
    hs6: StrList | None = None
    elements: StrList | None = None
    destinations: Literal["all"] | StrList = "all"
    except_: StrList = Field(default_factory=list, alias="except")
    end_use: StrList | None = Field(
        default=None,
        description="Only exports for these end-use sectors' users (e.g. [defence]): the targeted share of each "
        "destination's flow is those sectors' share of its final demand.",
    )
    approval: ApprovalField = Field(default=Approval("constant", (make_dist(0.0, 0, 1, False),)))
    delay_months: Param(0, 120, integer=True) = Field(  # type: ignore[valid-type]
        default=make_dist(0, 0, 120, True), description="Processing time of an application, whole months."
    )
    refusal: Fraction = Field(
        default=make_dist(0.0, 0, 1, False),
        description="Share of the applications still waiting after a month's approvals that is refused that "
        "month (they leave the queue; the origin keeps the tonnes).",
    )

    @model_validator(mode="after")
    def _selects(self) -> Licensing:
        if not (self.stages or self.materials or self.hs6 or self.elements):
            raise ValueError("name what is licensed: stages, materials, hs6 or elements")
        if self.destinations != "all" and self.except_:
            raise ValueError("'except' only goes with destinations: all")
        return self


class Leakage(_Base):
    """A share of what another shock (an export restriction or licensing) withholds reaches its destinations
    through third countries ``via`` after ``delay_months``; it shows as those countries' exports."""

    type: Literal["leakage"]
    of: int = Field(ge=0, description="Index of the restricting shock in this file's shocks list.")
    via: StrList = Field(min_length=1, description="ISO3 countries the material passes through.")
    share: Fraction = Field(description="Share of the withheld tonnes that leaks (0-1).")
    delay_months: Param(0, 120, integer=True) = Field(  # type: ignore[valid-type]
        default=make_dist(1, 0, 120, True), description="Months from the withheld shipment to its arrival."
    )


class Facility(_Base):
    name: str
    country: str
    capacity_t: NonNeg = Field(description="Annual output capacity, t of the stage's content.")
    source: str | None = None


class ProductionOutage(Timing):
    """Production of ``stages`` in ``country`` (or at one facility) cut by ``fraction``."""

    type: Literal["production_outage"]
    country: str | None = None
    facility: Facility | None = None
    stages: StrList | None = None
    materials: StrList | None = None
    fraction: Fraction = Field(default=make_dist(1.0, 0, 1, False))

    @model_validator(mode="after")
    def _where(self) -> ProductionOutage:
        if (self.country is None) == (self.facility is None):
            raise ValueError("give exactly one of country or facility")
        if not (self.stages or self.materials):
            raise ValueError("name the stages (or materials) that stop")
        return self


class DemandSurge(Timing):
    """Final demand of ``sector`` in ``country`` multiplied by ``factor``."""

    type: Literal["demand_surge"]
    country: str = Field(description="ISO3 country, bloc, or 'all'.")
    sector: str = Field(description="End-use sector of the chain, or 'all'.")
    factor: Param(0.0, 1000.0) = Field(description="Multiplier on baseline demand (1.5 = +50%).")  # type: ignore


Shock = Annotated[
    ExportRestriction | Licensing | Leakage | ProductionOutage | DemandSurge, Field(discriminator="type")
]
SHOCK_TYPES = ("export_restriction", "licensing", "leakage", "production_outage", "demand_surge")

# ---------------------------------------------------------------------------------------------- responses


def _trigger(v: Any) -> Any:
    if isinstance(v, str):
        return {"on": v}
    if isinstance(v, dict) and "on" not in v and len(v) == 1:
        ((k, val),) = v.items()
        return {"on": k, "value": val}
    return v


class Trigger(_Base):
    """When a stockpile may release: on any shortfall, from a month, or above a price index."""

    on: Literal["shortfall", "month", "price"] = "shortfall"
    value: FiniteFloat | None = None

    @model_validator(mode="after")
    def _value(self) -> Trigger:
        if self.on == "shortfall" and self.value is not None:
            raise ValueError("trigger 'shortfall' takes no value")
        if self.on == "month" and (self.value is None or self.value < 1 or self.value != round(self.value)):
            raise ValueError("trigger {month: N} needs a whole month >= 1")
        if self.on == "price" and (self.value is None or self.value <= 0):
            raise ValueError("trigger {price: X} needs a positive price index (1 = baseline)")
        return self


class Stockpile(_Base):
    """A strategic stock of one stage's product held by a country (or pooled by a bloc)."""

    holder: str = Field(description="ISO3 country, or a bloc for a pooled stockpile.")
    stage: str | None = None
    material: str | None = None
    tonnes: NonNeg | None = Field(default=None, description="Holdings at month 1, t of the stage's content.")
    months_of_use: NonNeg | None = Field(
        default=None,
        description="Holdings as months of the holder's baseline use of the stage (instead of tonnes).",
    )
    max_monthly_release: NonNeg | None = Field(
        default=None, description="Release cap, t per month (none = no cap)."
    )
    trigger: Annotated[Trigger, BeforeValidator(_trigger)] = Field(default_factory=Trigger)
    reserve_for: StrList | None = Field(
        default=None,
        description="End-use sectors of the stockpile's stage the release is reserved for (e.g. [defence]); "
        "releases then go straight to those sectors' shortfall, after rationing.",
    )
    floors: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = Field(
        default=None,
        description="Pooled stock only: t each member keeps for itself (ISO3 -> t); the pool never goes below a "
        "member's floor to serve another member.",
    )
    contributions: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] | None = Field(
        default=None,
        description="Pooled stock only: t each member puts in (ISO3 -> t); the holdings are their sum (instead "
        "of tonnes or months_of_use).",
    )
    allocation: Literal["deficit", "contributions"] = Field(
        default="deficit",
        description="Allocation key of a pooled stock's shared part: pro rata to members' deficits, or to their "
        "contributions (a member's share capped at its deficit).",
    )
    replenish_t_per_month: NonNeg | None = Field(
        default=None,
        description="Refill towards the initial holdings, t/month, from the holders' surplus in months "
        "without a release.",
    )
    source: str | None = None

    @model_validator(mode="after")
    def _what(self) -> Stockpile:
        if (self.stage is None) == (self.material is None):
            raise ValueError("give exactly one of stage or material")
        amounts = [x is not None for x in (self.tonnes, self.months_of_use, self.contributions)]
        if sum(amounts) != 1:
            raise ValueError("give exactly one of tonnes, months_of_use or contributions")
        if self.allocation == "contributions" and not self.contributions:
            raise ValueError("allocation: contributions needs contributions")
        return self


class Rerouting(_Base):
    friction: Fraction = Field(description="Share of spare supply that cannot be re-routed each month (0-1).")


class Capacity(_Base):
    """Spare capacity and ramp-up lead time, for a stage (or 'all') and optionally one country."""

    stage: str = "all"
    country: str | None = None
    spare: NonNeg = Field(description="Spare capacity as a fraction of baseline output (0.1 = +10%).")
    lead_months: Months = Field(description="Months from the first shortage to full use of spare capacity.")


class Elasticities(_Base):
    demand: Param(-10.0, 0.0) | None = None  # type: ignore[valid-type]
    supply: Param(0.0, 10.0) | None = None  # type: ignore[valid-type]


class Substitution(_Base):
    """A share of a sector's demand that switches to substitutes after a lead time."""

    sector: str
    fraction: Fraction
    lead_months: Months = Field(default=make_dist(0.0, 0, 10_000, False))
    source: str | None = None


PRIORITY_LEVELS = ("defence", "essential", "other")


class Rationing(_Base):
    """How a short country shares what it has among its uses.

    ``priority`` (default): uses are served level by level (``defence``, then ``essential``, then
    ``other``), each level pro rata; sectors' levels come from ``defaults.yaml`` (judgements) and
    ``priorities`` overrides them. ``proportional``: every use gets the same share.
    """

    policy: Literal["priority", "proportional"] = "priority"
    priorities: dict[str, Literal["defence", "essential", "other"]] = Field(default_factory=dict)


class Recycling(_Base):
    """Extra secondary supply: a share of a country's baseline use of a stage recovered from domestic scrap,
    ramping up over ``lead_months`` from the first month the stage's market is short (it needs no inputs and is
    used at home)."""

    stage: str
    country: str | None = Field(default=None, description="ISO3 country or bloc; omitted = every country.")
    share: Fraction = Field(description="Share of the country's baseline use of the stage (0-1).")
    lead_months: Months = Field(default=make_dist(0.0, 0, 10_000, False))
    source: str | None = None


class NewCapacity(_Base):
    """Plants of the project registry (``critmin.registry.capacity``) that start after the baseline year: their
    capacity joins the spare capacity of their chain stage and country from January of their start year."""

    include: StrList = Field(
        default_factory=lambda: ["construction", "commissioning", "operating"],
        description="Project statuses counted (announced, feasibility, fid, construction, commissioning, "
        "operating).",
    )


class Responses(_Base):
    rationing: Rationing | None = None
    new_capacity: NewCapacity | None = None
    recycling: list[Recycling] = Field(default_factory=list)
    stockpiles: list[Stockpile] = Field(default_factory=list)
    rerouting: Rerouting | None = None
    capacity: list[Capacity] = Field(default_factory=list)
    elasticities: Elasticities | None = None
    substitution: list[Substitution] = Field(default_factory=list)
    price_cap: Param(1.0, 1000.0) | None = None  # type: ignore[valid-type]
    price_speed: Fraction | None = Field(
        default=None,
        description="Share of the gap between last month's regional price and the clearing index closed each "
        "month (1 = prices clear at once); default in defaults.yaml.",
    )
    precautionary_months: Param(0.0, 600.0) | None = Field(  # type: ignore[valid-type]
        default=None,
        description="Months of use a region's buyers add to their orders while a control targets their imports "
        "(prices only); default in defaults.yaml.",
    )


class Assumption(_Base):
    field: str
    rationale: str


class Scenario(_Base):
    """A disruption scenario: shocks and responses on one chain over a monthly horizon."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str
    chain: str
    description: str | None = None
    source: str | list[str] | None = None
    # 36 months is a judgement (three years: a 12-month shock and its recovery fit); 600 a sanity limit
    horizon: int = Field(default=36, ge=1, le=600, description="Months simulated (default 36, a judgement).")
    year: int | None = Field(default=None, ge=1990, le=2100)
    baseline_year: int | None = Field(
        default=None, ge=1990, le=2100, description="Year of the World's network used as the baseline (= year)."
    )
    start: CalendarMonth | None = Field(
        default=None, description="Calendar month of the first simulated month (YYYY-MM); pins the months."
    )
    elements: bool = Field(
        default=False,
        description="Run the chain element by element (Dy+Tb and Nd+Pr as their own stages, magnets by grade); "
        "on whenever a shock selects elements.",
    )
    shocks: list[Shock] = Field(default_factory=list)
    responses: Responses = Field(default_factory=Responses)
    assumptions: list[Assumption] = Field(default_factory=list)

    @model_validator(mode="after")
    def _years(self) -> Scenario:
        if self.baseline_year is not None and self.year is None:
            self.year = self.baseline_year
        if any(getattr(sh, "elements", None) for sh in self.shocks):
            self.elements = True
        return self

    @property
    def sources(self) -> list[str]:
        if self.source is None:
            return []
        return [self.source] if isinstance(self.source, str) else list(self.source)

    def month_labels(self, horizon: int | None = None) -> list[str] | None:
        """Calendar labels (``YYYY-MM``) of the simulated months when the scenario is pinned, else None."""
        if self.start is None:
            return None
        y, m = calendar_month(self.start)
        n = self.horizon if horizon is None else horizon
        return [f"{y + (m - 1 + i) // 12:04d}-{(m - 1 + i) % 12 + 1:02d}" for i in range(n)]

    def month_index(self, label: str) -> int:
        """Model month (1 = first simulated month) of calendar month ``label``; needs a calendar ``start``."""
        if self.start is None:
            raise ValueError(f"calendar month {label!r} needs the scenario's start (YYYY-MM)")
        y0, m0 = calendar_month(self.start)
        y, m = calendar_month(label)
        return (y - y0) * 12 + (m - m0) + 1


# ---------------------------------------------------------------------------------------------- parsing

_TAGS = {
    "export_restriction",
    "licensing",
    "leakage",
    "production_outage",
    "demand_surge",
    "function-before[<lambda>(), is-instance[Dist]]",
}


def input_error(exc: ValidationError, source: str) -> InputError:
    """The first problem of a pydantic ``ValidationError`` as a one-line :class:`InputError` naming ``source``
    (the file) and the field path (``shocks[1].duration``), in plain words (unknown field, required field
    is missing, unknown shock type). Raise it ``from None``; used by scenarios and backtest episodes."""
    e = exc.errors()[0]
    msg = str(e["msg"]).removeprefix("Value error, ")
    if e["type"] == "union_tag_invalid":
        msg = f"unknown shock type; use {', '.join(SHOCK_TYPES)}"
    elif e["type"] == "union_tag_not_found":
        msg = f"needs a 'type' ({', '.join(SHOCK_TYPES)})"
    elif e["type"] == "extra_forbidden":
        msg = "unknown field"
    elif e["type"] == "missing":
        msg = "required field is missing"
    return InputError(source, field_path(tuple(e["loc"])) or None, msg)


def field_path(loc: tuple[Any, ...]) -> str:
    """Pydantic location → ``shocks[1].duration`` (union tags and wrappers dropped)."""
    parts: list[str] = []
    for p in loc:
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        elif p in _TAGS or str(p).startswith("function-") or p in ("Trigger", "is-instance[Dist]", "str"):
            continue
        else:
            parts.append("except" if p == "except_" else str(p))
    return ".".join(parts)


def parse_scenario(raw: Any, source: str = "scenario") -> Scenario:
    """Validate a scenario mapping; raise InputError naming ``source`` and the field path."""
    if not isinstance(raw, dict):
        raise InputError(source, None, "a scenario must be a YAML mapping")
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise input_error(exc, source) from None
    _check_references(sc, source)
    return pin_calendar(sc, source)


def _check_references(sc: Scenario, source: str) -> None:
    """Leakage names a restricting shock of the same file; year and baseline_year agree."""
    if sc.baseline_year is not None and sc.year != sc.baseline_year:
        raise InputError(source, "baseline_year", f"{sc.baseline_year} differs from year ({sc.year}); give one")
    for i, sh in enumerate(sc.shocks):
        if sh.type != "leakage":
            continue
        if sh.of >= len(sc.shocks) or sc.shocks[sh.of].type not in ("export_restriction", "licensing"):
            kinds = [f"{j} ({x.type})" for j, x in enumerate(sc.shocks) if x.type in ("export_restriction",
                                                                                       "licensing")]
            raise InputError(source, f"shocks[{i}].of", f"{sh.of} is not an export_restriction or licensing shock "
                             f"of this file (those are: {', '.join(kinds) or 'none'})")


def pin_calendar(sc: Scenario, source: str = "scenario") -> Scenario:
    """Calendar months (``YYYY-MM``) in shock starts and approval schedules → model months (1 = ``sc.start``).

    InputError when a calendar month is used without the scenario's ``start`` or falls before it.
    """

    def month(label: str, path: str) -> int:
        if sc.start is None:
            raise InputError(source, path, f"calendar month {label!r} needs the scenario's start: YYYY-MM")
        k = sc.month_index(label)
        if k < 1:
            raise InputError(source, path, f"{label} is before the scenario's start ({sc.start})")
        return k

    for i, sh in enumerate(sc.shocks):
        st = getattr(sh, "start", None)
        if isinstance(st, str):
            sh.start = make_dist(month(st, f"shocks[{i}].start"), 1, 10_000, True)
        ap = getattr(sh, "approval", None)
        if isinstance(ap, Approval) and ap.kind == "schedule":
            ks = tuple(month(k, f"shocks[{i}].approval.schedule.{k}") if isinstance(k, str) else k
                       for k in ap.months)
            if list(ks) != sorted(ks):
                raise InputError(source, f"shocks[{i}].approval.schedule", "months must be in order")
            sh.approval = Approval("schedule", ap.values, ks)
    return sc


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    p = Path(path)
    raw = read_yaml(p)  # critmin.safeio: YAML alias, depth and duplicate-key limits, one-line errors
    return parse_scenario(raw, str(p))


def scenario_to_yaml(s: Scenario) -> str:
    """Serialise a scenario back to YAML (distributions as mappings)."""

    def conv(o: Any) -> Any:
        if isinstance(o, Dist):
            return o.to_yaml()
        if isinstance(o, Approval):
            if o.kind == "constant":
                return o.values[0].to_yaml()
            if o.kind == "ramp":
                return {"ramp": {"from": o.values[0].to_yaml(), "to": o.values[1].to_yaml(),
                                 "months": o.months[0].to_yaml()}}
            return {"schedule": {k: v.to_yaml() for k, v in zip(o.months, o.values, strict=True)}}
        if isinstance(o, BaseModel):
            return {("except" if k == "except_" else k): conv(v) for k, v in o
                    if v is not None and v != [] and not (k == "elements" and v is False)}
        if isinstance(o, list):
            return [conv(x) for x in o]
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        return o

    return yaml.safe_dump(conv(s), sort_keys=False, allow_unicode=True)
