"""Supply chains as data: stages, HS codes, conversion factors, end-use intensities.

A chain is a YAML file (see ``docs/chains.md`` and ``src/critmin/chains/*.yaml``)
validated by the pydantic models below. Stages form a directed acyclic graph:
each stage lists its ``inputs`` as other stages with a ``factor`` in tonnes of
the input stage's product per tonne of this stage's product. End uses attach to
a stage with an ``intensity`` (tonnes of the stage product per unit of the end
use, or a share of the stage's output). Every factor carries a ``source`` or is
flagged ``assumption: true`` with a one-line ``rationale``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from critmin.errors import InputError
from critmin.safeio import read_yaml
from critmin.validate import Fraction, NonNegative, Year

SHARE_TOLERANCE = 1e-6  # end-use shares of one stage may add up to at most 1 + this

StageKind = Literal["mining", "refining", "metal", "chemical", "material", "component", "product"]


def _six_digits(code: str) -> str:
    if not (len(code) == 6 and code.isdigit()):
        raise ValueError(f"HS code {code!r} is not six digits (quote it in YAML)")
    return code


HS6 = Annotated[str, AfterValidator(_six_digits)]


class Sourced(BaseModel):
    """A number with its provenance: a ``source`` or an explicit assumption."""

    model_config = ConfigDict(extra="forbid")

    value: NonNegative
    unit: str
    source: str | None = None
    assumption: bool = False
    rationale: str | None = None
    low: NonNegative | None = None
    high: NonNegative | None = None

    @model_validator(mode="after")
    def _sourced_or_assumed(self) -> Sourced:
        if not self.source and not self.assumption:
            raise ValueError("needs a source, or assumption: true with a rationale")
        if self.assumption and not self.rationale:
            raise ValueError("assumption: true needs a one-line rationale")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low is above high")
        return self


class StageInput(BaseModel):
    """One input to a stage: ``factor`` t of the input stage per t of this stage's output."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    factor: Sourced


class ProductionSeries(BaseModel):
    """Where the World's production table holds this stage's output."""

    model_config = ConfigDict(extra="forbid")

    material: str
    stage: Literal["mining", "refining"]
    source: str | None = None  # default source id; None = the material's documented default


Basis = Literal["published", "derived", "judgement"]


class PublishedFigure(BaseModel):
    """One published (or derived, or judged) production figure: tonnes per year, or a share of the world.

    ``basis`` says what the number is: ``published`` (read in a cited publication), ``derived``
    (computed from cited figures; the derivation is in ``source``) or ``judgement`` (a reasoned
    estimate; ``rationale`` says why). Judgements and derivations still name what they rest on.
    """

    model_config = ConfigDict(extra="forbid")

    country: str | None = None  # ISO3; None for the world total
    value: NonNegative | None = None
    share: Fraction | None = None
    low: NonNegative | None = None
    high: NonNegative | None = None
    basis: Basis
    source: str
    rationale: str | None = None

    @model_validator(mode="after")
    def _one_number(self) -> PublishedFigure:
        if (self.value is None) == (self.share is None):
            raise ValueError("give exactly one of value (t/yr) or share (fraction of the world)")
        if self.basis == "judgement" and not self.rationale:
            raise ValueError("basis: judgement needs a one-line rationale")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError("low is above high")
        return self


class PublishedProduction(BaseModel):
    """Stage output by country for a stage the World has no production series for (calibration data).

    ``world`` is the world total (t/yr of the stage's content); each country gives a value or a share
    of it; what the listed countries leave is attributed to ``residual`` (default ``ROW``, rest of
    world), never dropped.
    """

    model_config = ConfigDict(extra="forbid")

    year: Year
    unit: str
    world: PublishedFigure
    countries: list[PublishedFigure] = Field(default_factory=list)
    residual: str = "ROW"

    @model_validator(mode="after")
    def _countries(self) -> PublishedProduction:
        if self.world.share is not None or self.world.country is not None:
            raise ValueError("world: give the world total as value (t/yr), without a country")
        seen: set[str] = set()
        for k, c in enumerate(self.countries):
            if not c.country:
                raise ValueError(f"countries[{k}].country: missing ISO3 code")
            if c.country in seen:
                raise ValueError(f"countries[{k}].country: duplicate country {c.country!r}")
            seen.add(c.country)
        return self


class ElementContent(BaseModel):
    """Tonnes of one element per tonne of the stage's product (world default, optional per country)."""

    model_config = ConfigDict(extra="forbid")

    element: str
    content: Sourced
    countries: dict[str, Sourced] = Field(default_factory=dict)


class Stage(BaseModel):
    """A step of the chain: what is made, from what, traded under which HS codes."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    kind: StageKind
    material: str
    content: str = Field(description="What the tonnes count, e.g. 't REO', 't Li content', 't NdFeB'.")
    hs6: list[HS6] = Field(default_factory=list)
    production: ProductionSeries | None = None
    published: PublishedProduction | None = None
    elements: list[ElementContent] = Field(default_factory=list)
    inventory_months: Sourced | None = None
    recycling_share: Sourced | None = None
    inputs: list[StageInput] = Field(default_factory=list)
    note: str | None = None


class EndUse(BaseModel):
    """An end-use sector served by a stage, with its share and/or intensity."""

    model_config = ConfigDict(extra="forbid")

    sector: str
    name: str
    stage: str
    share: Sourced | None = None
    intensity: Sourced | None = None
    defence: bool = False
    note: str | None = None


class Chain(BaseModel):
    """A whole chain: ordered stages (upstream first) and end uses."""

    model_config = ConfigDict(extra="forbid")

    id: str
    title: str
    description: str
    materials: list[str]
    stages: list[Stage]
    end_uses: list[EndUse] = Field(default_factory=list)
    #: HS codes shared with materials outside the chain: code -> those materials (World material ids);
    #: the network apportions such a code's tonnes by exporters' production (docs/network.md).
    baskets: dict[HS6, list[str]] = Field(default_factory=dict)
    baskets_note: str | None = None

    @model_validator(mode="after")
    def _graph(self) -> Chain:
        ids = [s.id for s in self.stages]
        for i, sid in enumerate(ids):
            if sid in ids[:i]:
                raise ValueError(f"stages[{i}].id: duplicate stage id {sid!r} (stage ids must be unique)")
        seen: set[str] = set()
        for i, s in enumerate(self.stages):
            for j, inp in enumerate(s.inputs):
                if inp.stage not in ids:
                    raise ValueError(f"stages[{i}].inputs[{j}].stage: unknown stage {inp.stage!r}")
                if inp.stage == s.id:
                    raise ValueError(f"stages[{i}].inputs[{j}].stage: stage {s.id!r} cannot be its own input")
                if inp.stage not in seen:
                    raise ValueError(
                        f"stages[{i}].inputs[{j}].stage: {inp.stage!r} must come before {s.id!r}"
                    )
            seen.add(s.id)
        totals: dict[str, float] = {}
        for k, e in enumerate(self.end_uses):
            if e.stage not in ids:
                raise ValueError(f"end_uses[{k}].stage: unknown stage {e.stage!r}")
            if e.share is not None:
                if e.share.value > 1 or (e.share.high is not None and e.share.high > 1):
                    raise ValueError(f"end_uses[{k}].share: a share is a fraction between 0 and 1")
                totals[e.stage] = totals.get(e.stage, 0.0) + e.share.value
                if totals[e.stage] > 1 + SHARE_TOLERANCE:
                    raise ValueError(
                        f"end_uses[{k}].share: shares of stage {e.stage!r} add up to "
                        f"{totals[e.stage]:.4g}, more than 1"
                    )
        return self

    def stage(self, stage_id: str) -> Stage:
        for s in self.stages:
            if s.id == stage_id:
                return s
        raise KeyError(stage_id)


def _loc(err: dict) -> str:
    parts: list[str] = []
    for p in err.get("loc", ()):
        if isinstance(p, int):
            parts[-1:] = [f"{parts[-1]}[{p}]"] if parts else [f"[{p}]"]
        else:
            parts.append(str(p))
    return ".".join(parts)


def parse_chain(path: str | Path) -> Chain:
    """Read and validate one chain YAML file; InputError names file, field and problem."""
    p = Path(path)
    raw = read_yaml(p)  # depth, alias and duplicate-key limits: critmin.safeio
    if not isinstance(raw, dict):
        raise InputError(str(p), None, "a chain file must be a YAML mapping")
    try:
        return Chain.model_validate(raw)
    except ValidationError as exc:
        e = exc.errors()[0]
        msg = e["msg"].removeprefix("Value error, ")
        where = _loc(e)
        if not where:  # whole-chain checks put the field path in front of the message
            head, sep, rest = msg.partition(": ")
            if sep and re.fullmatch(r"[\w\-]+(\[\d+\])?(\.[\w\-]+(\[\d+\])?)*", head):
                where, msg = head, rest
        raise InputError(str(p), where or None, msg) from None


def load_chains(folder: str | Path) -> dict[str, Chain]:
    """All chains in ``folder`` (``*.yaml``), by id."""
    out: dict[str, Chain] = {}
    for f in sorted(Path(folder).glob("*.yaml")):
        c = parse_chain(f)
        if c.id in out:
            raise InputError(str(f), "id", f"duplicate chain id {c.id!r}")
        out[c.id] = c
    return out


def check_chain_references(chain: Chain, path: str, materials: set[str], hs_codes: set[str]) -> None:
    """Check that a chain names only known materials and HS codes (InputError otherwise)."""
    for i, m in enumerate(chain.materials):
        if m not in materials:
            raise InputError(path, f"materials[{i}]", f"unknown material {m!r}")
    for i, s in enumerate(chain.stages):
        if s.material not in materials:
            raise InputError(path, f"stages[{i}].material", f"unknown material {s.material!r}")
        if s.production and s.production.material not in materials:
            raise InputError(
                path, f"stages[{i}].production.material", f"unknown material {s.production.material!r}"
            )
        for j, code in enumerate(s.hs6):
            if code not in hs_codes:
                raise InputError(path, f"stages[{i}].hs6[{j}]", f"unknown HS code {code!r}")
