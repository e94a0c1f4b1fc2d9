"""Backtests: real disruption episodes run as scenarios, the model's figures against history.

An episode is a YAML file in ``src/critmin/backtests/`` (data, not code)::

    name: ree-magnets-apr-2025
    title: ...
    scenario: ree-medium-heavy-2025     # a library scenario name (or a scenario file)
    start: 2025-04                      # the calendar month that is model month 1
    calibration: true                   # one of the episodes the model is tuned against
    notes: ...
    outcomes:
      - id: may-2025-magnet-exports
        what: ...
        metric: exports_change          # or price_change, first_shortfall_month, not_modelled
        origin: CHN                     # exports_change: the exporter
        stage: magnet                   # exports_change, price_change; optional for first_shortfall_month
        month: 2025-05                  # calendar month of the figure (not for first_shortfall_month)
        region: rest-of-world           # price_change, optional: a region of the model's regional prices
        country: USA                    # first_shortfall_month: the country
        real: {low: -0.75, high: -0.74} # or {value: -1.0}; months as YYYY-MM for first_shortfall_month
        unit: fraction change vs baseline
        source: ...                     # where the real figure comes from
        provenance: "[SECONDARY]"
        note: ...
        why: ...                        # why the model is expected to differ (printed with an outside verdict)

Each episode's scenario runs over its own horizon, extended to the last outcome's month if that lies
beyond it. The model's figure for each metric, from one run of the episode's scenario
(:func:`critmin.simulate.run`, ``runs`` Monte Carlo runs, ``seed``), with calendar month ``m``
being model month ``(m - start) + 1``:

* ``exports_change``: the origin's mean exports of the stage in that month (``exports``, t/month
  shipped to other countries, mean over runs) ÷ its baseline exports (``exports0``) − 1.
* ``price_change``: the mean over runs of the stage's price index in that month − 1, in the named
  ``region`` when the model has regional prices (a ``price_region`` variable with a ``region``
  dimension; an unknown name is an error listing the regions), else of the world index ``price``
  (region ``world``, also when the outcome names no region); P5 and P95 over runs beside it.
* ``first_shortfall_month``: the first month in which the country's mean shortfall (over runs) at the
  stage (every stage with final demand when none is named) exceeds ``threshold`` (default 1%, a
  judgement, as in :func:`critmin.simulate.summarize`) of its baseline demand at that stage.
* ``not_modelled``: listed with verdict ``not modelled``.

Verdict: ``inside`` when the figure lies in the real range [low, high] (a ``value`` is a range of
one point; 1e-6 of slack for rounding), else ``outside`` with ``off_by`` (figure − the nearer end,
in the figure's unit; months for a month) and ``off_by_rel`` (``off_by`` ÷ the range's width, or ÷
|value| when the range is one point; for months ÷ max(width, 1 month)) and the outcome's ``why``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critmin.errors import InputError, did_you_mean
from critmin.safeio import read_yaml
from critmin.simulate.scenario import input_error

BACKTEST_DIR = Path(__file__).resolve().parents[1] / "backtests"
#: Slack for "inside" (rounding of the real figures and of the model's float arithmetic).
TOLERANCE = 1e-6
#: Share of baseline demand above which a month counts as short (a judgement, as summarize's default).
DEFAULT_THRESHOLD = 0.01
#: The longest horizon the simulation takes (months); the run is extended to the last outcome's month.
MAX_MONTHS = 600
#: Default Monte Carlo runs per episode.
DEFAULT_RUNS = 500

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
Metric = Literal["exports_change", "price_change", "first_shortfall_month", "not_modelled"]


def parse_month(text: Any) -> tuple[int, int]:
    """``"2025-04"`` → (2025, 4); ValueError naming the expected form otherwise."""
    m = _MONTH.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a calendar month YYYY-MM")
    return int(m.group(1)), int(m.group(2))


def month_label(start: str, month: int) -> str:
    """The calendar month (YYYY-MM) of model month ``month`` (1 = ``start``)."""
    y, m = parse_month(start)
    k = y * 12 + (m - 1) + (int(month) - 1)
    return f"{k // 12:04d}-{k % 12 + 1:02d}"


def model_month(start: str, label: str) -> int:
    """The model month (1 = ``start``) of calendar month ``label``."""
    y0, m0 = parse_month(start)
    y, m = parse_month(label)
    return (y - y0) * 12 + (m - m0) + 1


def _month_text(v: Any) -> str:
    # YAML reads 2025-04 as a string, but a careless 2025-04-01 as a date: name the expected form
    parse_month(v)
    return str(v).strip()


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Real(_Base):
    """The real figure: one ``value`` or a range ``low``..``high`` (numbers, or YYYY-MM months)."""

    value: float | str | None = None
    low: float | str | None = None
    high: float | str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Real:
        if self.value is not None and (self.low is not None or self.high is not None):
            raise ValueError("give either value or low and high, not both")
        if self.value is None and (self.low is None or self.high is None):
            raise ValueError("give value, or both low and high")
        return self

    @property
    def bounds(self) -> tuple[Any, Any]:
        return (self.value, self.value) if self.value is not None else (self.low, self.high)


class Outcome(_Base):
    """One real figure of an episode and how the model's figure is read (see the module doc)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    what: str
    metric: Metric
    real: Real
    source: str
    provenance: str | None = None
    unit: str | None = None
    note: str | None = None
    why: str | None = None
    month: str | None = None
    origin: str | None = None
    country: str | None = None
    stage: str | None = None
    region: str | None = None

    @field_validator("month", mode="before")
    @classmethod
    def _month(cls, v: Any) -> Any:
        return None if v is None else _month_text(v)

    @model_validator(mode="after")
    def _needs(self) -> Outcome:
        need = {
            "exports_change": ("origin", "stage", "month"),
            "price_change": ("stage", "month"),
            "first_shortfall_month": ("country",),
            "not_modelled": (),
        }[self.metric]
        for f in need:
            if getattr(self, f) is None:
                raise ValueError(f"{self.metric} needs '{f}'")
        lo, hi = self.real.bounds
        if self.metric == "first_shortfall_month":
            for v in (lo, hi):
                parse_month(v)
            if parse_month(lo) > parse_month(hi):
                raise ValueError(f"real: low {lo} is after high {hi}")
        elif self.metric != "not_modelled":
            for v in (lo, hi):
                if isinstance(v, str):
                    raise ValueError(f"real: {v!r} is not a number")
            if lo > hi:
                raise ValueError(f"real: low {lo} is above high {hi}")
        return self


class Episode(_Base):
    """A real disruption episode: the scenario that stands for it and its real outcomes."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    title: str
    scenario: str
    start: str
    calibration: bool = False
    notes: str | None = None
    outcomes: list[Outcome] = Field(min_length=1)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v: Any) -> Any:
        return _month_text(v)

    @model_validator(mode="after")
    def _months(self) -> Episode:
        ids = [o.id for o in self.outcomes]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"outcome ids repeat: {', '.join(dup)}")
        return self


def parse_episode(raw: Any, source: str = "backtest") -> Episode:
    """Validate an episode mapping; InputError naming ``source`` and the field path."""
    if not isinstance(raw, dict):
        raise InputError(source, None, "a backtest episode must be a YAML mapping")
    try:
        ep = Episode.model_validate(raw)
    except ValidationError as exc:
        raise input_error(exc, source) from None
    for i, o in enumerate(ep.outcomes):
        if o.month is not None and model_month(ep.start, o.month) < 1:
            raise InputError(source, f"outcomes[{i}].month", f"{o.month} is before the episode's start {ep.start}")
        if o.month is not None and model_month(ep.start, o.month) > MAX_MONTHS:
            raise InputError(source, f"outcomes[{i}].month",
                             f"{o.month} is more than {MAX_MONTHS} months after the episode's start {ep.start}")
    return ep


def load_episode(path: str | Path) -> Episode:
    """Read and validate one backtest YAML file."""
    p = Path(path)
    return parse_episode(read_yaml(p), str(p))


def episode_names(folder: Path = BACKTEST_DIR) -> list[str]:
    """The library's episode names (file stems), sorted."""
    return sorted(p.stem for p in folder.glob("*.yaml"))


def episodes(name: str | None = None, folder: Path = BACKTEST_DIR) -> list[tuple[Path, Episode]]:
    """(file, episode) for ``name`` (a library name or a YAML path), or every library episode."""
    if name is None:
        return [(folder / f"{n}.yaml", load_episode(folder / f"{n}.yaml")) for n in episode_names(folder)]
    p = Path(name)
    if p.suffix in (".yaml", ".yml") or p.exists():
        return [(p, load_episode(p))]
    names = episode_names(folder)
    if name not in names:
        more = did_you_mean(name, names) or f"; episodes: {', '.join(names)}"
        raise InputError("backtest", name, f"no such backtest episode{more}")
    return [(folder / f"{name}.yaml", load_episode(folder / f"{name}.yaml"))]


# ---------------------------------------------------------------------------------------------- figures


def _stage_index(ds: xr.Dataset, stage: str, source: str, path: str) -> int:
    stages = [str(s) for s in ds["stage"].values]
    if stage not in stages:
        more = did_you_mean(stage, stages) or f"; stages: {', '.join(stages)}"
        raise InputError(source, path, f"the scenario's chain has no stage {stage!r}{more}")
    return stages.index(stage)


def _country_index(ds: xr.Dataset, country: str, source: str, path: str) -> int:
    countries = [str(c) for c in ds["country"].values]
    if country in countries:
        return countries.index(country)
    import json

    members = json.loads(ds.attrs.get("row_members", "{}") or "{}")
    for row, ms in members.items():
        if country in ms:
            return countries.index(row)
    more = did_you_mean(country, countries)
    raise InputError(source, path, f"{country!r} is not a country of the scenario's model{more}")


def _month_index(ds: xr.Dataset, ep: Episode, label: str, source: str, path: str) -> int:
    m = model_month(ep.start, label)
    horizon = int(ds.sizes["month"])
    if m > horizon:
        last = month_label(ep.start, horizon)
        raise InputError(source, path, f"{label} is after the scenario's horizon ({horizon} months, to {last})")
    return m - 1


def _exports_change(ds: xr.Dataset, o: Outcome, ep: Episode, source: str, path: str) -> dict[str, Any]:
    s = _stage_index(ds, o.stage or "", source, f"{path}.stage")
    c = _country_index(ds, o.origin or "", source, f"{path}.origin")
    t = _month_index(ds, ep, o.month or "", source, f"{path}.month")
    base = float(ds["exports0"].values[s, c])
    if base <= 0:
        return {"model": None, "problem": f"{o.origin} has no baseline exports of {o.stage} in the model"}
    return {"model": float(ds["exports"].values[t, s, c]) / base - 1.0}


def _price_change(ds: xr.Dataset, o: Outcome, ep: Episode, source: str, path: str) -> dict[str, Any]:
    from critmin.simulate.engine import regional_prices

    s = _stage_index(ds, o.stage or "", source, f"{path}.stage")
    t = _month_index(ds, ep, o.month or "", source, f"{path}.month")
    prices = regional_prices(ds)  # (run, month, stage, region)
    regions = [str(r) for r in prices["region"].values]
    region = "world"
    note = None
    if o.region is not None:
        hit = [r for r in regions if r.lower() == o.region.lower()]
        if hit:
            region = hit[0]
        elif regions == ["world"]:
            note = f"the model has one world price per stage; {o.region} compared with it"
        else:
            more = did_you_mean(o.region, regions) or f"; regions: {', '.join(regions)}"
            raise InputError(source, f"{path}.region", f"the model has no price region {o.region!r}{more}")
    if region == "world" and "world" not in regions:
        prices = ds["price"].expand_dims(region=["world"], axis=3)  # no region named: the world index
    p = prices.isel(month=t, stage=s).sel(region=region).values.astype(np.float64)
    out = {
        "model": float(p.mean()) - 1.0,
        "model_p5": float(np.percentile(p, 5)) - 1.0,
        "model_p95": float(np.percentile(p, 95)) - 1.0,
        "region": region,
    }
    if note:
        out["problem"] = note
    return out


def _first_shortfall(ds: xr.Dataset, o: Outcome, ep: Episode, source: str, path: str,
                     threshold: float) -> dict[str, Any]:
    from critmin.simulate.engine import mean_shortfall

    c = _country_index(ds, o.country or "", source, f"{path}.country")
    sec_stage = np.asarray(ds["sector_stage"].values).astype(str)
    stages = [o.stage] if o.stage else list(dict.fromkeys(sec_stage))
    if o.stage:
        _stage_index(ds, o.stage, source, f"{path}.stage")
    sf = mean_shortfall(ds)  # (month, country, sector) t/month, mean over runs
    d0 = ds["demand0"].values  # (country, sector)
    first = None
    for st in stages:
        ks = np.flatnonzero(sec_stage == st)
        dem = float(d0[c, ks].sum())
        if dem <= 0:
            continue
        share = sf.values[:, c, ks].sum(axis=1) / dem
        hit = np.flatnonzero(share > threshold)
        if len(hit) and (first is None or hit[0] < first):
            first = int(hit[0])
    if first is None:
        where = f" at {o.stage}" if o.stage else ""
        return {"model": None, "problem": f"no month short by more than {threshold:.0%} of demand{where} "
                f"within the horizon ({ds.sizes['month']} months)"}
    return {"model": month_label(ep.start, first + 1), "model_month": first + 1}


def _verdict(o: Outcome, fig: dict[str, Any]) -> dict[str, Any]:
    lo, hi = o.real.bounds
    x = fig.get("model")
    if x is None:
        return {"verdict": "no figure", "off_by": None, "off_by_rel": None}
    if o.metric == "first_shortfall_month":
        ref = lo
        lo_m, hi_m, x_m = (model_month(ref, v) for v in (lo, hi, x))
        width = max(hi_m - lo_m, 1)
        if lo_m <= x_m <= hi_m:
            return {"verdict": "inside", "off_by": 0, "off_by_rel": 0.0}
        off = x_m - hi_m if x_m > hi_m else x_m - lo_m
        return {"verdict": "outside", "off_by": off, "off_by_rel": off / width}
    lo, hi = float(lo), float(hi)
    if lo - TOLERANCE <= x <= hi + TOLERANCE:
        return {"verdict": "inside", "off_by": 0.0, "off_by_rel": 0.0}
    off = x - hi if x > hi else x - lo
    width = hi - lo
    if width > 0:
        rel = off / width
    else:
        rel = off / abs(lo) if lo != 0 else None
    return {"verdict": "outside", "off_by": off, "off_by_rel": rel}


def evaluate(ds: xr.Dataset, ep: Episode, source: str = "backtest",
             threshold: float = DEFAULT_THRESHOLD) -> pd.DataFrame:
    """The model's figure and verdict for every outcome of ``ep`` from a simulation result ``ds``.

    One row per outcome (see :data:`RESULT_COLUMNS`); ``source`` names the episode file in errors.
    """
    rows = []
    for i, o in enumerate(ep.outcomes):
        path = f"outcomes[{i}]"
        if o.metric == "not_modelled":
            fig: dict[str, Any] = {"model": None}
            v = {"verdict": "not modelled", "off_by": None, "off_by_rel": None}
        else:
            if o.metric == "exports_change":
                fig = _exports_change(ds, o, ep, source, path)
            elif o.metric == "price_change":
                fig = _price_change(ds, o, ep, source, path)
            else:
                fig = _first_shortfall(ds, o, ep, source, path, threshold)
            v = _verdict(o, fig)
        lo, hi = o.real.bounds
        month = o.month
        rows.append(
            {
                "episode": ep.name,
                "calibration": ep.calibration,
                "outcome": o.id,
                "metric": o.metric,
                "what": o.what,
                "where": "/".join(x for x in (o.origin or o.country, o.stage, fig.get("region") or o.region)
                                  if x),
                "month": month,
                "model_month": model_month(ep.start, month) if month else fig.get("model_month"),
                "real_low": lo,
                "real_high": hi,
                "model": fig.get("model"),
                "model_p5": fig.get("model_p5"),
                "model_p95": fig.get("model_p95"),
                "verdict": v["verdict"],
                "off_by": v["off_by"],
                "off_by_rel": v["off_by_rel"],
                "why": o.why,
                "model_note": fig.get("problem"),
                "unit": o.unit,
                "source": o.source,
                "provenance": o.provenance,
            }
        )
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


#: Columns of :func:`backtest`'s table.
RESULT_COLUMNS = [
    "episode", "calibration", "outcome", "metric", "what", "where", "month", "model_month", "real_low",
    "real_high", "model", "model_p5", "model_p95", "verdict", "off_by", "off_by_rel", "why", "model_note",
    "unit", "source", "provenance",
]


def check_options(runs: int, seed: int, threshold: float) -> None:
    """InputError naming ``runs`` (a whole number ≥ 1), ``seed`` (≥ 0) or ``threshold`` (a share of baseline
    demand, 0-1) when one is out of range: checked before any episode is read or simulated."""
    if isinstance(runs, bool) or not isinstance(runs, int | np.integer) or runs < 1:
        raise InputError("runs", str(runs), "runs must be a positive whole number")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError("seed", str(seed), "seed must be a non-negative whole number")
    if not 0 <= threshold <= 1:
        raise InputError("threshold", str(threshold), "must be between 0 and 1")


def backtest(
    world: Any,
    name: str | None = None,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    threshold: float = DEFAULT_THRESHOLD,
    progress: Callable[[str, int, int], None] | None = None,
    **run_kwargs: Any,
) -> pd.DataFrame:
    """Run the backtest episode ``name`` (library name or YAML path; ``None`` = every library episode)
    on ``world`` and compare the model with history: one row per outcome (see the module doc).

    Each episode's scenario runs ``runs`` Monte Carlo runs with ``seed`` (same seed, same table);
    ``run_kwargs`` go to :func:`critmin.simulate.run` (e.g. ``max_countries``, ``backend``).
    ``progress(episode, i, n)`` is called before each episode.
    """
    from critmin.simulate.engine import resolve_scenario, run

    check_options(runs, seed, threshold)
    eps = episodes(name)
    # read every file first: a bad file stops before any simulation runs
    resolved = []
    for path, ep in eps:
        try:
            sc, _ = resolve_scenario(ep.scenario)
        except InputError as exc:
            raise InputError(str(path), "scenario", f"{ep.scenario!r}: {exc.problem}") from None
        pinned = getattr(sc, "start", None)
        if pinned is not None and str(pinned) != ep.start:
            # the scenario's shocks are pinned to its own calendar: both must call the same month 1
            raise InputError(str(path), "start", f"{ep.start} differs from the start of scenario {sc.name!r} "
                             f"({pinned}); model month 1 must be the same calendar month in both")
        resolved.append((path, ep, sc))
    frames = []
    for i, (path, ep, sc) in enumerate(resolved):
        if progress:
            progress(ep.name, i, len(resolved))
        needed = max([model_month(ep.start, o.month) for o in ep.outcomes if o.month] + [sc.horizon])
        ds = run(world, sc, runs=runs, seed=seed, horizon=needed, full=False, threshold=threshold, **run_kwargs)
        frames.append(evaluate(ds, ep, str(path), threshold))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=RESULT_COLUMNS)


def strict_failures(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of calibration episodes whose figure is outside the real range with no ``why`` in the data."""
    why = table["why"].fillna("").astype(str).str.strip()
    return table[table["calibration"].astype(bool) & (table["verdict"] == "outside") & (why == "")]
