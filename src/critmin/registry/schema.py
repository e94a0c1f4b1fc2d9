"""Record types of the registry and their validation.

Pydantic models check the *shape* of a record (field names and types);
:func:`check_project` and :func:`check_investment` check its *meaning*
(vocabularies, countries and states, dates in order, a source for every field
group). Both raise :class:`critmin.errors.InputError` naming the file, the
field path (``projects[3].capacity.value``) and the problem, so that the CLI
prints one line and exits 2.

Units: capacities are per year in the stated ``unit`` (``t/yr`` of the stated
``content``, or ``GWh/yr`` for cells); money is millions of the stated
``currency`` (``amount_m``), never converted. Every investment amount has a
``type`` from ``amount_types`` in vocab.yaml (pledge, tranche, offer, commitment,
announced, estimate, disbursed); amounts of different types are never added, and
a record that is part of another names it in ``part_of``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from critmin.errors import InputError, did_you_mean
from critmin.validate import FiniteFloat, WholeInt

Currency = Literal["USD", "AUD", "EUR", "JPY", "MYR", "CAD", "GBP", "KRW"]
ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?|-(Q[1-4])|-(H[12]))?$")


def _to_str(v: Any) -> Any:
    """YAML turns ``2025-10-28`` into a date and ``2026`` into an int; keep them as text."""
    if isinstance(v, dt.date | int) and not isinstance(v, bool):
        return v.isoformat() if isinstance(v, dt.date) else str(v)
    return v


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Financier(_Model):
    """A financier of a project: who, how (instrument), how much (millions of ``currency``)."""

    name: str
    instrument: str
    amount_m: FiniteFloat | None = None
    currency: Currency = "USD"
    date: str | None = None
    note: str | None = None
    source: str | None = None

    _date = field_validator("date", mode="before")(_to_str)


class Capacity(_Model):
    """Capacity per year: ``value`` (and optional ``high``) in ``unit`` of ``content``."""

    value: FiniteFloat
    high: FiniteFloat | None = None
    unit: Literal["t/yr", "GWh/yr"]
    content: str
    note: str | None = None
    judgement: bool = False
    unverified: bool = False
    source: str | None = None


class Capex(_Model):
    """Capital expenditure in millions of ``currency`` (``high_m`` for a range)."""

    amount_m: FiniteFloat
    high_m: FiniteFloat | None = None
    currency: Currency = "USD"
    note: str | None = None
    judgement: bool = False
    source: str | None = None


class Milestone(_Model):
    """A dated event: ``date`` is ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD``, ``YYYY-Qn`` or ``YYYY-Hn``."""

    date: str
    event: str
    kind: str = "other"
    planned: bool = False
    source: str | None = None

    _date = field_validator("date", mode="before")(_to_str)


class Project(_Model):
    """A plant, mine or programme at one chain stage (see docs/registry.md)."""

    id: str
    name: str
    owners: list[str] = []
    partners: list[str] = []
    financiers: list[Financier] = []
    country: str
    state: str | None = None
    region: str | None = None
    lat: FiniteFloat | None = None
    lon: FiniteFloat | None = None
    chain: str
    stage: str
    material: str
    capacity: Capacity | None = None
    capex: Capex | None = None
    announced_year: WholeInt | None = None
    fid_year: WholeInt | None = None
    start_year: WholeInt | None = None
    status: str
    milestones: list[Milestone] = []
    sources: list[str] = []
    notes: str | None = None
    same_as_cim: list[str] = []
    cim_id: str | None = None
    cim_subcategory: str | None = None


class Investment(_Model):
    """Money from an investor to a destination: ``amount_m`` millions of ``currency``.

    ``type`` says what the amount is (a pledge, a tranche of one, an offer, a
    commitment, an announced plan, an outside estimate or money disbursed; see
    ``amount_types`` in vocab.yaml); ``part_of`` names the investment this one is
    a part of (a tranche of a pledge, a fact-sheet candidate under it).
    """

    id: str
    investor: str
    investor_country: str | None = None
    destination_country: str
    destination_state: str | None = None
    sector: str
    amount_m: FiniteFloat | None = None
    currency: Currency = "USD"
    type: str | None = None  # required: check_investment refuses a record without one
    part_of: str | None = None
    year: WholeInt
    status: str
    programme: str
    project_id: str | None = None
    tags: list[str] = []
    notes: str | None = None
    source: str | None = None


@dataclass
class Context:
    """What semantic checks compare against: vocabularies, countries, states, known ids."""

    vocab: dict[str, dict[str, str]]
    countries: set[str]
    states: set[str]
    project_ids: set[str] = field(default_factory=set)
    investment_ids: set[str] = field(default_factory=set)


def parse_date(text: str) -> dt.date:
    """The first day of a ``YYYY``/``YYYY-MM``/``YYYY-MM-DD``/``YYYY-Qn``/``YYYY-Hn`` period."""
    m = DATE_RE.match(str(text))
    if not m:
        raise ValueError(f"bad date {text!r} (use YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Qn or YYYY-Hn)")
    year = int(m.group(1))
    if m.group(4):
        return dt.date(year, 3 * (int(m.group(4)[1]) - 1) + 1, 1)
    if m.group(5):
        return dt.date(year, 1 if m.group(5) == "H1" else 7, 1)
    try:
        return dt.date(year, int(m.group(2) or 1), int(m.group(3) or 1))
    except ValueError as exc:
        raise ValueError(f"impossible date {text!r} ({exc})") from None


def _shape(model: type[BaseModel], raw: Any, file: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise InputError(file, where, f"expected a mapping of fields, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in err["loc"]).replace(".[", "[")
        path = f"{where}.{loc}" if loc else where
        if err["type"] == "extra_forbidden":
            more = did_you_mean(str(err["loc"][-1]), list(model.model_fields))
            raise InputError(file, path, f"unknown field{more}") from None
        if err["type"] == "missing":
            raise InputError(file, path, "required field is missing") from None
        raise InputError(file, path, f"{err['msg'].removeprefix('Value error, ')} (got {err.get('input')!r})") from None


def hint_or_choices(value: str, known: Iterable[str]) -> str:
    """``"; did you mean a, b?"`` for the names nearest ``value``, else ``"; one of: ..."`` listing ``known``."""
    known = list(known)
    return did_you_mean(value, known) or f"; one of: {', '.join(known)}"


def _vocab(ctx: Context, kind: str, value: str, file: str, path: str, label: str) -> None:
    known = ctx.vocab[kind]
    if value not in known:
        raise InputError(file, path, f"unknown {label} {value!r}{hint_or_choices(value, known)}")


def _id(value: str, seen: set[str], label: str, file: str, path: str) -> None:
    if not ID_RE.match(value):
        raise InputError(file, path, f"bad id {value!r} (lower-case letters, digits, '.', '_', '-')")
    if value in seen:
        raise InputError(file, path, f"duplicate {label} id {value!r}")


def _country(ctx: Context, value: str, file: str, path: str) -> None:
    if value not in ctx.countries:
        more = did_you_mean(value, ctx.countries)
        raise InputError(file, path, f"unknown country {value!r} (ISO 3166 alpha-3 expected){more}")


def _state(ctx: Context, country: str, value: str, file: str, path: str) -> None:
    if country != "USA":
        raise InputError(file, path, f"a US state is given but the country is {country}, not USA")
    if value not in ctx.states:
        more = did_you_mean(value.upper(), ctx.states)
        raise InputError(file, path, f"unknown US state {value!r} (USPS code expected){more}")


def _need_source(src: str | None, file: str, path: str, what: str) -> None:
    if not src or not str(src).strip():
        raise InputError(file, path, f"missing source: {what} needs a source (URL or citation)")


def _year(value: int | None, file: str, path: str) -> None:
    if value is not None and not 1900 <= value <= 2100:
        raise InputError(file, path, f"year {value} is outside 1900-2100")


def check_project(raw: Any, ctx: Context, file: str, where: str) -> Project:
    """Validate one raw project mapping against ``ctx``; return the :class:`Project`."""
    p: Project = _shape(Project, raw, file, where)
    _id(p.id, ctx.project_ids, "project", file, f"{where}.id")
    if not p.name:
        raise InputError(file, f"{where}.name", "empty name")
    if not p.owners:
        raise InputError(file, f"{where}.owners", "at least one owner is required")
    _country(ctx, p.country, file, f"{where}.country")
    if p.state is not None:
        _state(ctx, p.country, p.state, file, f"{where}.state")
    if (p.lat is None) != (p.lon is None):
        raise InputError(file, f"{where}.lat", "give both lat and lon, or neither")
    if p.lat is not None and not -90 <= p.lat <= 90:
        raise InputError(file, f"{where}.lat", f"latitude {p.lat} is outside -90..90")
    if p.lon is not None and not -180 <= p.lon <= 180:
        raise InputError(file, f"{where}.lon", f"longitude {p.lon} is outside -180..180")
    _vocab(ctx, "chains", p.chain, file, f"{where}.chain", "chain")
    _vocab(ctx, "stages", p.stage, file, f"{where}.stage", "stage")
    _vocab(ctx, "materials", p.material, file, f"{where}.material", "material")
    _vocab(ctx, "statuses", p.status, file, f"{where}.status", "status")
    if p.capacity is not None:
        c = p.capacity
        if c.value < 0:
            raise InputError(file, f"{where}.capacity.value", f"negative capacity {c.value:g} (must be >= 0)")
        if c.high is not None and c.high < c.value:
            raise InputError(file, f"{where}.capacity.high", f"high {c.high:g} is below value {c.value:g}")
        _need_source(c.source, file, f"{where}.capacity.source", "capacity")
    if p.capex is not None:
        if p.capex.amount_m < 0:
            raise InputError(file, f"{where}.capex.amount_m", f"negative capex {p.capex.amount_m:g}")
        if p.capex.high_m is not None and p.capex.high_m < p.capex.amount_m:
            raise InputError(file, f"{where}.capex.high_m", "high_m is below amount_m")
        _need_source(p.capex.source, file, f"{where}.capex.source", "capex")
    for k, f in enumerate(p.financiers):
        if f.amount_m is not None and f.amount_m < 0:
            raise InputError(file, f"{where}.financiers[{k}].amount_m", f"negative amount {f.amount_m:g}")
        if f.date is not None:
            try:
                parse_date(f.date)
            except ValueError as exc:
                raise InputError(file, f"{where}.financiers[{k}].date", str(exc)) from None
        _need_source(f.source, file, f"{where}.financiers[{k}].source", "a financier")
    for k, m in enumerate(p.milestones):
        try:
            parse_date(m.date)
        except ValueError as exc:
            raise InputError(file, f"{where}.milestones[{k}].date", str(exc)) from None
        _need_source(m.source, file, f"{where}.milestones[{k}].source", "a milestone")
    for name in ("announced_year", "fid_year", "start_year"):
        _year(getattr(p, name), file, f"{where}.{name}")
    a, f_, s = p.announced_year, p.fid_year, p.start_year
    if a is not None and f_ is not None and f_ < a:
        raise InputError(file, f"{where}.fid_year", f"FID {f_} is before the announcement {a}")
    if a is not None and s is not None and s < a:
        raise InputError(file, f"{where}.start_year", f"start {s} is before the announcement {a}")
    if f_ is not None and s is not None and s < f_:
        raise InputError(file, f"{where}.start_year", f"start {s} is before FID {f_}")
    if not p.sources or not all(str(x).strip() for x in p.sources):
        raise InputError(file, f"{where}.sources", "missing source: every project needs at least one source")
    return p


def check_investment(raw: Any, ctx: Context, file: str, where: str) -> Investment:
    """Validate one raw investment mapping against ``ctx``; return the :class:`Investment`.

    ``part_of`` is checked against the whole registry by :func:`check_parts` once every file is read.
    """
    v: Investment = _shape(Investment, raw, file, where)
    _id(v.id, ctx.investment_ids, "investment", file, f"{where}.id")
    if v.investor_country is not None:
        _country(ctx, v.investor_country, file, f"{where}.investor_country")
    _country(ctx, v.destination_country, file, f"{where}.destination_country")
    if v.destination_state is not None:
        _state(ctx, v.destination_country, v.destination_state, file, f"{where}.destination_state")
    if v.amount_m is not None and v.amount_m < 0:
        raise InputError(file, f"{where}.amount_m", f"negative amount {v.amount_m:g}")
    _year(v.year, file, f"{where}.year")
    _vocab(ctx, "investment_statuses", v.status, file, f"{where}.status", "investment status")
    _vocab(ctx, "programmes", v.programme, file, f"{where}.programme", "programme")
    if v.project_id is not None and ctx.project_ids and v.project_id not in ctx.project_ids:
        raise InputError(file, f"{where}.project_id", f"unknown project {v.project_id!r}")
    _need_source(v.source, file, f"{where}.source", "every investment")
    types = ctx.vocab["amount_types"]
    if v.type is None:
        raise InputError(file, f"{where}.type", f"missing amount type of record {v.id!r}: every investment says "
                         f"what its amount is, one of: {', '.join(types)} (see docs/registry.md)")
    if v.type not in types:
        raise InputError(file, f"{where}.type",
                         f"unknown amount type {v.type!r} of record {v.id!r}{hint_or_choices(v.type, types)}")
    if v.part_of is not None and v.part_of == v.id:
        raise InputError(file, f"{where}.part_of", f"record {v.id!r} cannot be a part of itself")
    return v


def check_parts(records: list[tuple[Investment, str, str]]) -> None:
    """Check every ``part_of`` of ``records`` ((investment, file, path) triples, the whole registry).

    The parent must be a known investment id and following ``part_of`` must not
    come back to the record (no cycles).
    """
    by_id = {v.id: v for v, _, _ in records}
    for v, file, where in records:
        if v.part_of is None:
            continue
        if v.part_of not in by_id:
            more = did_you_mean(v.part_of, list(by_id))
            raise InputError(file, f"{where}.part_of", f"record {v.id!r} is part of unknown investment "
                             f"{v.part_of!r}{more}")
        seen = {v.id}
        parent: str | None = v.part_of
        while parent is not None:
            if parent in seen:
                raise InputError(file, f"{where}.part_of", f"part_of of record {v.id!r} loops back ({parent!r})")
            seen.add(parent)
            parent = by_id[parent].part_of
