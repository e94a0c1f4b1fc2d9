"""Checks of a plan's parameters (stockpile plans and project portfolios) before it is queued.

Every problem is an :class:`critmin.errors.InputError` whose source is the parameter's name (``runs``,
``budget_usa``, ``holders``, ...), so the API answers ``{"detail": "runs: ...", "field": "runs"}`` and a
worker never starts a job that cannot run.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

from critmin.errors import InputError, did_you_mean

#: Plan kinds (a plan is a run row whose ``kind`` is one of these).
PLAN_KINDS: tuple[str, ...] = ("stockpile", "portfolio")
#: Most simulated runs a stockpile plan may ask for (the LP grows with the runs; keep web jobs modest).
MAX_STOCKPILE_RUNS = 2000
#: Most simulated runs per chain for a portfolio's shortfall objective.
MAX_PORTFOLIO_RUNS = 1000
MAX_SEED = 2**32 - 1
OBJECTIVES = ("capacity", "shortfall")
_STOCKPILE_KEYS = {"scenario", "holders", "runs", "seed", "budget", "cvar", "lam"}
_PORTFOLIO_KEYS = {"budget_usa", "budget_jpn", "objective", "require_chains", "require_stages", "by_year",
                   "scenario", "runs", "seed"}


@cache
def scenario_chains() -> dict[str, str]:
    """Library scenario name -> its chain id (read from the library's YAML files)."""
    from critmin.simulate import library_names
    from critmin.simulate.library import library_path
    from critmin.simulate.scenario import load_scenario

    return {n: load_scenario(library_path(n)).chain for n in library_names()}


def stockpile_scenarios() -> list[str]:
    """Library scenarios a stockpile plan can be sized against: those whose chain has prices in costs.yaml."""
    from critmin.optimize.simulated import cost_data

    priced = set(cost_data()["prices"])
    return [n for n, c in scenario_chains().items() if c in priced]


def _int(field: str, v: Any, lo: int, hi: int, default: int | None = None) -> int:
    if v is None and default is not None:
        return default
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InputError(field, str(v)[:40], f"must be a whole number from {lo} to {hi}")
    return v


#: Largest budgets: US$ for a stockpile, US$ million for a portfolio (beyond them the frontier's multiples overflow).
MAX_BUDGET_USD = 1e15
MAX_BUDGET_USD_M = 1e9


def _number(field: str, v: Any, lo: float = 0.0, hi: float = math.inf, open_ends: bool = False,
            optional: bool = True) -> float | None:
    if v is None and optional:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise InputError(field, str(v)[:40], "must be a number")
    x = float(v)
    if not math.isfinite(x):
        raise InputError(field, str(v), "must be a finite number")
    ok = lo < x < hi if open_ends else lo <= x <= hi
    if not ok:
        rng = f"more than {lo:g} and less than {hi:g}" if open_ends else (
            f"at least {lo:g}" if hi == math.inf else f"from {lo:g} to {hi:g}")
        raise InputError(field, str(v), f"must be {rng}")
    return x


def _text(field: str, v: Any, optional: bool = True, max_len: int = 200) -> str | None:
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v.strip():
        raise InputError(field, str(v)[:40], "must be a non-empty text")
    if "\x00" in v or len(v) > max_len or any(ord(ch) < 32 for ch in v):
        raise InputError(field, None, f"must be printable text of at most {max_len} characters")
    return v.strip()


def _requirements(field: str, spec: str | None, world: Any) -> str | None:
    """``chain[:n],...`` (chains) or ``chain/stage[:n],...`` (stages), every chain and stage known."""
    if spec is None:
        return None
    chains = world.chains
    for item in spec.split(","):
        name, _, n = item.strip().partition(":")
        if n and (not n.isdigit() or int(n) < 1 or int(n) > 100):
            raise InputError(field, item, "the minimum number of projects must be a whole number from 1 to 100")
        chain, slash, stage = name.partition("/")
        if chain not in chains:
            raise InputError(field, chain, f"unknown chain{did_you_mean(chain, list(chains))}")
        stages = [s.id for s in chains[chain].stages]
        if field == "require_stages" and not slash:
            raise InputError(field, item, "name a stage as chain/stage")
        if field == "require_chains" and slash:
            raise InputError(field, item, "a chain requirement names no stage (use require_stages)")
        if slash and stage not in stages:
            raise InputError(field, name, f"unknown stage of {chain}; stages: {', '.join(stages)}")
    return spec


def check_plan(kind: Any, params: Any, world: Any) -> tuple[str, dict[str, Any]]:
    """Validate a plan request; returns ``(scenario or "", parameters with defaults filled in)``.

    ``kind`` ``stockpile``: ``scenario`` (a library scenario of a priced chain), ``holders`` (``USA+JPN`` pooled
    or ``USA,JPN`` separate; ISO3 codes of the World), ``runs`` (1..:data:`MAX_STOCKPILE_RUNS`, default 200),
    ``seed``, ``budget`` (US$, ≥ 0, optional), ``cvar`` (level in (0, 1), optional), ``lam`` (≥ 0).
    ``kind`` ``portfolio``: ``budget_usa``, ``budget_jpn`` (US$ million, ≥ 0), ``objective`` (capacity or
    shortfall), ``require_chains``, ``require_stages``, ``by_year``, ``scenario`` (values the scenario's chain
    under ``shortfall``), ``runs`` (1..:data:`MAX_PORTFOLIO_RUNS`, default 100), ``seed``.
    """
    from critmin.optimize import parse_holders

    if kind not in PLAN_KINDS:
        raise InputError("kind", str(kind)[:40], f"use one of {', '.join(PLAN_KINDS)}")
    if not isinstance(params, dict):
        raise InputError("params", None, "must be a mapping of parameter names to values")
    allowed = _STOCKPILE_KEYS if kind == "stockpile" else _PORTFOLIO_KEYS
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise InputError(str(unknown[0])[:64], None, f"unknown parameter of a {kind} plan; use "
                         + ", ".join(sorted(allowed)))
    names = list(scenario_chains())
    if kind == "stockpile":
        scen = _text("scenario", params.get("scenario"), optional=False)
        ok = stockpile_scenarios()
        if scen not in ok:
            why = "not a library scenario" if scen not in names else "its chain has no prices in costs.yaml"
            raise InputError("scenario", scen, f"{why}; use one of {', '.join(ok)}" + did_you_mean(scen, ok))
        holders = _text("holders", params.get("holders", "USA+JPN"), optional=False)
        parse_holders(holders, set(world.countries()["iso3"]), source="holders")
        out = {"scenario": scen, "holders": holders,
               "runs": _int("runs", params.get("runs"), 1, MAX_STOCKPILE_RUNS, 200),
               "seed": _int("seed", params.get("seed"), 0, MAX_SEED, 0),
               "budget": _number("budget", params.get("budget"), 0.0, MAX_BUDGET_USD),
               "cvar": _number("cvar", params.get("cvar"), 0.0, 1.0, open_ends=True),
               "lam": _number("lam", params.get("lam", 0.0), optional=False)}
        return scen, out
    out = {"budget_usa": _number("budget_usa", params.get("budget_usa"), 0.0, MAX_BUDGET_USD_M, optional=False),
           "budget_jpn": _number("budget_jpn", params.get("budget_jpn"), 0.0, MAX_BUDGET_USD_M, optional=False)}
    objective = params.get("objective", "shortfall")
    if objective not in OBJECTIVES:
        raise InputError("objective", str(objective)[:40], f"use {' or '.join(OBJECTIVES)}")
    out["objective"] = objective
    for f in ("require_chains", "require_stages"):
        out[f] = _requirements(f, _text(f, params.get(f), max_len=400), world)
    out["by_year"] = _int("by_year", params.get("by_year"), 2000, 2100, 2030)
    scen = _text("scenario", params.get("scenario"))
    if scen is not None and scen not in names:
        raise InputError("scenario", scen, "not a library scenario" + did_you_mean(scen, names))
    out["scenario"] = scen
    out["runs"] = _int("runs", params.get("runs"), 1, MAX_PORTFOLIO_RUNS, 100)
    out["seed"] = _int("seed", params.get("seed"), 0, MAX_SEED, 0)
    return scen or "", out
