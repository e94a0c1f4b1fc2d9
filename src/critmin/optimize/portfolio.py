"""Joint-project portfolio: which candidates to fund under a US and a Japanese budget (a MILP, linopy + HiGHS).

Decision ``x_i ∈ {0, 1}`` per candidate. Budgets (US$ million): ``Σ usa_share_i·cost_i·x_i ≤ B_usa`` and
``Σ (1 − usa_share_i)·cost_i·x_i ≤ B_jpn`` with ``cost_i = capex_i + expected floor payout_i``. Optional minimum
numbers of projects per chain and per chain stage. Objectives:

* ``capacity`` (a linear proxy): ``Σ success_prob_i × capacity_i × weight(chain, stage) × x_i`` over projects
  online by ``by_year`` (t/yr, weighted);
* ``shortfall``: expected reduction in the shortfall cost (US$) of a disruption ensemble of each chain: a
  project adds ``success_prob × capacity / 12`` t/month at its stage from its online year (counted if online by
  ``by_year``); that supply relieves the shortfall at its stage or, converted with the chain's input factors,
  at a later stage; the relief's value per stage is the concave curve ``g_k(a)`` (expected shortage cost
  avoided by ``a`` t/month, filled highest-value sector first), entered as piecewise-linear terms
  (diminishing returns).

See docs/optimize.md for the equations and every judgement.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from critmin.errors import InputError, did_you_mean
from critmin.optimize._csv import duplicates, number, read_table
from critmin.optimize.stockpile import quiet_linopy, quiet_stdout

CANDIDATE_COLUMNS = ["project", "chain", "stage", "country", "capacity_t", "capex_usd_m", "online_year", "usa_share",
                     "success_prob"]
OPTIONAL_COLUMNS = ("floor_price_usd_per_t", "offtake_t")
WEIGHT_COLUMNS = ["chain", "stage", "weight"]
#: The scenario whose ensemble values each chain's projects under ``objective="shortfall"`` (the framework's case).
DEFAULT_SCENARIOS = {"rare-earth-magnets": "ree-magnet-embargo-us-jpn-12m"}
#: Default year by which a project must be online to count.
DEFAULT_BY_YEAR = 2030
#: Year "now" for registry projects without a start year (online = now + lag by status, costs.yaml).
CURRENT_YEAR = 2026
#: Budget multiples of the efficient frontier.
FRONTIER_STEPS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0)
#: Breakpoints per value curve.
CURVE_POINTS = 24


# ---------------------------------------------------------------------------------------------- candidates


def candidates_from_registry(world: Any, reg: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Candidates from the project registry (the World's, or ``reg``: a :class:`critmin.registry.Registry`, e.g.
    one actor's view of the store's records), and the projects left out with the reason.

    A candidate is a project not yet producing (status in ``costs.yaml`` portfolio.statuses) whose capacity is
    in t/yr at a World chain stage (``chain_stage_map.csv``) and whose capex is stated in US$. ``usa_share``,
    ``success_prob`` and (when the registry has no start year) ``online_year`` are judgements from costs.yaml.
    """
    from critmin import registry
    from critmin.optimize.simulated import cost_data

    cfg = cost_data()["portfolio"]
    reg = registry._registry_of(world if reg is None else reg)
    cap = registry.capacity(reg, 9999, include=list(cfg["statuses"]))
    by_id = {p.id: p for p in reg.projects}
    rows, left = [], []
    for _, r in cap.iterrows():
        p = by_id[r["project_id"]]
        if not r["chain"]:
            left.append({"project": p.id, "reason": f"registry stage {p.chain}/{p.stage} maps to no World chain stage"})
            continue
        if p.capex is None or p.capex.currency != "USD":
            left.append({"project": p.id, "reason": "no capex in US$ in the registry"})
            continue
        share = cfg["usa_share"].get(p.country, cfg["usa_share"]["other"])
        online = p.start_year if p.start_year is not None else CURRENT_YEAR + int(cfg["online_lag_years"][p.status])
        rows.append({"project": p.id, "chain": r["chain"], "stage": r["chain_stage"], "country": p.country,
                     "capacity_t": float(r["capacity_tpy"]), "capex_usd_m": float(p.capex.amount_m),
                     "online_year": int(online), "usa_share": float(share),
                     "success_prob": float(cfg["success_prob"][p.status]), "floor_price_usd_per_t": math.nan,
                     "offtake_t": 0.0, "status": p.status, "source": "; ".join(p.sources[:1])})
    cols = [*CANDIDATE_COLUMNS, *OPTIONAL_COLUMNS, "status", "source"]
    return pd.DataFrame(rows, columns=cols), pd.DataFrame(left, columns=["project", "reason"])


def read_candidates(path: str | Path, world: Any) -> pd.DataFrame:
    """Candidates from a CSV (columns :data:`CANDIDATE_COLUMNS`, optional :data:`OPTIONAL_COLUMNS`), checked
    row by row against the World's chains, stages and countries."""
    src = str(path)
    df = read_table(path, CANDIDATE_COLUMNS, OPTIONAL_COLUMNS, what="candidates")
    chains = world.chains
    countries = set(world.countries()["iso3"])
    duplicates(df, ["project"], src)
    rows = []
    for _, r in df.iterrows():
        n = int(r["_row"])
        if not r["project"]:
            raise InputError(src, f"row {n}, column project", "empty project name")
        if r["chain"] not in chains:
            raise InputError(src, f"row {n}, column chain", f"unknown chain {r['chain']!r}"
                             f"{did_you_mean(r['chain'], list(chains))}")
        stages = [s.id for s in chains[r["chain"]].stages]
        if r["stage"] not in stages:
            raise InputError(src, f"row {n}, column stage", f"unknown stage {r['stage']!r} of {r['chain']}; "
                             f"stages: {', '.join(stages)}")
        c = r["country"].upper()
        if c not in countries:
            raise InputError(src, f"row {n}, column country", f"unknown country {c!r}{did_you_mean(c, countries)}")
        floor = number(src, n, "floor_price_usd_per_t", r.get("floor_price_usd_per_t", ""), blank=math.nan) \
            if "floor_price_usd_per_t" in df.columns else math.nan
        offtake = number(src, n, "offtake_t", r.get("offtake_t", ""), blank=0.0) if "offtake_t" in df.columns else 0.0
        if offtake > 0 and not floor == floor:
            raise InputError(src, f"row {n}, column floor_price_usd_per_t", "an offtake needs a floor price")
        rows.append({
            "project": r["project"], "chain": r["chain"], "stage": r["stage"], "country": c,
            "capacity_t": number(src, n, "capacity_t", r["capacity_t"]),
            "capex_usd_m": number(src, n, "capex_usd_m", r["capex_usd_m"]),
            "online_year": int(number(src, n, "online_year", r["online_year"], low=1900, high=2200, integer=True)),
            "usa_share": number(src, n, "usa_share", r["usa_share"], low=0.0, high=1.0),
            "success_prob": number(src, n, "success_prob", r["success_prob"], low=0.0, high=1.0),
            "floor_price_usd_per_t": floor, "offtake_t": offtake, "status": "", "source": src,
        })
    return pd.DataFrame(rows)


def read_stage_weights(path: str | Path, world: Any) -> dict[tuple[str, str], float]:
    """``{(chain, stage): weight}`` from a CSV ``chain, stage, weight`` (weights ≥ 0; default 1 elsewhere)."""
    src = str(path)
    df = read_table(path, WEIGHT_COLUMNS, what="weights")
    duplicates(df, ["chain", "stage"], src)
    out = {}
    for _, r in df.iterrows():
        n = int(r["_row"])
        if r["chain"] not in world.chains:
            raise InputError(src, f"row {n}, column chain", f"unknown chain {r['chain']!r}"
                             f"{did_you_mean(r['chain'], list(world.chains))}")
        stages = [s.id for s in world.chains[r["chain"]].stages]
        if r["stage"] not in stages:
            raise InputError(src, f"row {n}, column stage",
                             f"unknown stage {r['stage']!r}; stages: {', '.join(stages)}")
        out[(r["chain"], r["stage"])] = number(src, n, "weight", r["weight"])
    return out


def parse_requirements(spec: str | Sequence[str] | None, cands: pd.DataFrame, world: Any,
                       source: str) -> list[tuple[str, str | None, int]]:
    """``"rare-earth-magnets,li-ion-batteries:2"`` (chains) or ``"rare-earth-magnets/magnet"`` (stages) →
    ``[(chain, stage or None, minimum number of projects)]``."""
    if not spec:
        return []
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for it in (x.strip() for x in items):
        name, _, n = it.partition(":")
        try:
            k = int(n) if n else 1
        except ValueError:
            raise InputError(source, it, f"{n!r} is not a whole number of projects") from None
        if k < 1:
            raise InputError(source, it, "the minimum number of projects must be at least 1")
        chain, _, stage = name.partition("/")
        if chain not in world.chains:
            raise InputError(source, chain, f"unknown chain{did_you_mean(chain, list(world.chains))}")
        if stage and stage not in [s.id for s in world.chains[chain].stages]:
            raise InputError(source, name, "unknown stage of the chain")
        sel = cands[(cands["chain"] == chain) & ((cands["stage"] == stage) if stage else True)]
        if len(sel) < k:
            raise InputError(source, it, f"infeasible: {len(sel)} candidate(s) in {name}, {k} required")
        out.append((chain, stage or None, k))
    return out


# ---------------------------------------------------------------------------------------------- values


@dataclass
class ValueCurves:
    """Per chain: value curves of relief (t/month) at each stage, and conversion factors between stages.

    ``curves[(chain, stage)] = (x, g)``: breakpoints in t/month and expected shortage cost avoided (US$);
    ``convert[(chain, from, to)]``: t at ``to`` per t at ``from`` (1/product of input factors along the way).
    ``payout_index[chain]``: (runs, months, stage) price index paths, for floor payouts.
    """

    curves: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    convert: dict[tuple[str, str, str], float] = field(default_factory=dict)
    price_index: dict[str, tuple[list[str], np.ndarray]] = field(default_factory=dict)
    prices: dict[tuple[str, str], float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def value_curve(d: np.ndarray, values: np.ndarray, points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """Expected shortage cost avoided by ``a`` t/month of extra supply, at ``points`` breakpoints.

    ``d``: (runs, months, uses) shortfall t/month; ``values``: (uses,) US$/t. Each month the supply covers the
    highest-value use first; the result is concave in ``a`` (diminishing returns). Runs have equal probability.
    """
    order = np.argsort(-values, kind="stable")
    d = d[:, :, order]
    v = values[order]
    before = np.cumsum(d, axis=2) - d  # shortfall of higher-value uses
    top = float(d.sum(axis=2).max()) if d.size else 0.0
    xs = np.linspace(0.0, top, points) if top > 0 else np.array([0.0, 1.0])
    gs = []
    for a in xs:
        cover = np.clip(a - before, 0.0, d)
        gs.append(float((cover * v).sum(axis=(1, 2)).mean()))
    return xs, np.array(gs)


def shortfall_values(world: Any, cands: pd.DataFrame, scenarios: dict[str, Any] | None = None, runs: int = 100,
                     seed: int = 0, members: Sequence[str] = ("USA", "JPN")) -> ValueCurves:
    """Value curves of each candidate chain from a simulated ensemble of its scenario (shortfall of ``members``)."""
    from critmin.optimize.ensemble import from_simulation, simulate_runs
    from critmin.optimize.simulated import costs_for

    scen = dict(DEFAULT_SCENARIOS)
    scen.update(scenarios or {})
    vc = ValueCurves()
    for chain in sorted(set(cands["chain"])):
        if chain not in scen:
            vc.notes.append(f"no scenario for chain {chain}: its projects have no shortfall value "
                            "(give one with scenarios={chain: NAME})")
            continue
        ds = simulate_runs(world, scen[chain], runs, seed)
        ens = from_simulation(ds, list(members), source=f"scenario {ds.attrs.get('scenario')}")
        costs = costs_for(ens, chain)
        d = np.asarray(ens.shortfall.values)  # (S, J, M, U, T)
        for mi, form in enumerate(ens.materials):
            uses = d[:, :, mi]  # (S, J, U, T)
            dd = uses.transpose(0, 3, 1, 2).reshape(d.shape[0], d.shape[4], -1)  # (S, T, J*U)
            vals = np.tile(np.asarray(costs.shortage.sel(material=form).values, float), d.shape[1])
            vc.curves[(chain, form)] = value_curve(dd, vals)
        stages = [s.id for s in world.chains[chain].stages]
        factor = {s.id: {i.stage: float(i.factor.value) for i in s.inputs} for s in world.chains[chain].stages}
        for a_i, a in enumerate(stages):
            conv = 1.0
            prev = a
            for b in stages[a_i:]:
                if b != a:
                    f = factor[b].get(prev)
                    if not f:
                        break
                    conv /= f
                vc.convert[(chain, a, b)] = conv
                prev = b
        from critmin.optimize.simulated import cost_data

        table = cost_data()["prices"].get(chain, {})
        for s in stages:
            if s in table:
                vc.prices[(chain, s)] = float(table[s]["price_usd_per_t"])
        vc.price_index[chain] = ([str(s) for s in ds["stage"].values], np.asarray(ds["price"].values, float))
    return vc


def floor_payouts(cands: pd.DataFrame, vc: ValueCurves | None, months: int = 36) -> np.ndarray:
    """Expected payout (US$ m) of each candidate's price floor on its offtake: E Σ_t max(floor − price_t, 0) ×
    offtake/12, over the simulated price paths of its chain (or at the baseline price when there are none)."""
    out = np.zeros(len(cands))
    for i, (_, r) in enumerate(cands.iterrows()):
        floor, off = r["floor_price_usd_per_t"], r["offtake_t"]
        if not (floor == floor) or off <= 0:
            continue
        p0 = vc.prices.get((r["chain"], r["stage"])) if vc else None
        if p0 is None:
            from critmin.optimize.simulated import cost_data

            p0 = cost_data()["prices"].get(r["chain"], {}).get(r["stage"], {}).get("price_usd_per_t")
        if p0 is None:
            raise InputError("candidates", f"{r['project']}: floor_price_usd_per_t",
                             f"no price for {r['chain']}/{r['stage']} in costs.yaml to compare the floor with")
        if vc and r["chain"] in vc.price_index and r["stage"] in vc.price_index[r["chain"]][0]:
            stages, idx = vc.price_index[r["chain"]]
            path = idx[:, :, stages.index(r["stage"])] * p0
        else:
            path = np.full((1, months), float(p0))
        out[i] = float(np.maximum(floor - path, 0.0).sum(axis=1).mean()) * off / 12.0 / 1e6
    return out


# ---------------------------------------------------------------------------------------------- the MILP


@dataclass
class PortfolioProblem:
    """What the MILP reads: candidates with their costs and values, budgets, requirements, value curves."""

    cands: pd.DataFrame
    cost: np.ndarray  # US$ m (capex + expected floor payout)
    budget_usa: float
    budget_jpn: float
    objective: str
    weight: np.ndarray  # capacity: value per project; shortfall: supply t/month at its stage
    requirements: list[tuple[str, str | None, int]]
    curves: ValueCurves | None = None


def solve_portfolio(pb: PortfolioProblem, scale: float = 1.0, force: dict[int, int] | None = None,
                    cost_scale: dict[int, float] | None = None) -> tuple[float, np.ndarray] | None:
    """Solve the MILP; (value, x) or None if infeasible. ``scale`` multiplies both budgets; ``force`` fixes
    x_i; ``cost_scale`` scales project costs."""
    import linopy

    n = len(pb.cands)
    m = linopy.Model()
    idx = pd.RangeIndex(n, name="project")
    lo = np.zeros(n)
    hi = np.ones(n)
    for i, v in (force or {}).items():
        lo[i] = hi[i] = v
    x = m.add_variables(binary=True, coords=[idx], name="x")
    if force:
        fixed = np.array([i in force for i in range(n)])
        m.add_constraints(x - xrs(lo, idx) == 0, name="force", mask=xrs(fixed, idx))
    cost = pb.cost.copy()
    for i, f in (cost_scale or {}).items():
        cost[i] *= f
    share = pb.cands["usa_share"].to_numpy(float)
    m.add_constraints((x * xrs(share * cost, idx)).sum() <= pb.budget_usa * scale, name="budget_usa")
    m.add_constraints((x * xrs((1 - share) * cost, idx)).sum() <= pb.budget_jpn * scale, name="budget_jpn")
    for chain, stage, k in pb.requirements:
        sel = (pb.cands["chain"] == chain).to_numpy().copy()
        if stage:
            sel &= (pb.cands["stage"] == stage).to_numpy()
        m.add_constraints((x * xrs(sel.astype(float), idx)).sum() >= k, name=f"require_{chain}_{stage or 'all'}")
    if pb.objective == "capacity":
        obj = (x * xrs(pb.weight, idx)).sum()
    else:
        obj = _shortfall_objective(m, x, idx, pb)
    m.add_objective(obj, sense="max")
    with quiet_stdout(), quiet_linopy():
        status, cond = m.solve(solver_name="highs", io_api="direct", output_flag=False, mip_rel_gap=1e-9)
    if status != "ok":
        if "infeasible" in str(cond):
            return None
        raise InputError("portfolio model", None, f"HiGHS stopped without an optimum: {cond}")
    xv = np.round(np.asarray(x.solution.values, float)).astype(int)
    return float(m.objective.value), xv


def xrs(a: np.ndarray, idx: pd.Index) -> Any:
    """A 1-d array as an xarray DataArray on ``idx``."""
    import xarray as xr

    return xr.DataArray(np.asarray(a), coords=[idx])


def _shortfall_objective(m: Any, x: Any, idx: pd.Index, pb: PortfolioProblem) -> Any:
    """Σ over (chain, stage) of y_k ≤ piecewise-linear g_k(relief_k); relief from flows of projects' supply."""
    assert pb.curves is not None
    vc = pb.curves
    total = 0
    flows: dict[tuple[str, str, str], Any] = {}
    for chain in sorted(set(pb.cands["chain"])):
        forms = [k for (c, k) in vc.curves if c == chain]
        if not forms:
            continue
        stages = sorted(set(pb.cands.loc[pb.cands["chain"] == chain, "stage"]))
        for a in stages:
            targets = [b for b in forms if (chain, a, b) in vc.convert]
            if not targets:
                continue
            sel = ((pb.cands["chain"] == chain) & (pb.cands["stage"] == a)).to_numpy()
            supply = (x * xrs(np.where(sel, pb.weight, 0.0), idx)).sum()
            fs = []
            for b in targets:
                f = m.add_variables(lower=0.0, name=f"flow_{chain}_{a}_{b}")
                flows[(chain, a, b)] = f
                fs.append(f)
            m.add_constraints(sum(fs) - supply <= 0, name=f"supply_{chain}_{a}")
        for b in forms:
            incoming = [(a, f) for (c, a, bb), f in flows.items() if c == chain and bb == b]
            if not incoming:
                continue
            relief = sum(vc.convert[(chain, a, b)] * f for a, f in incoming)
            xs, gs = vc.curves[(chain, b)]
            y = m.add_variables(name=f"value_{chain}_{b}")  # free: the pieces bound it from above
            dx = np.diff(xs)
            slope = np.where(dx > 0, np.diff(gs) / np.where(dx > 0, dx, 1.0), 0.0)
            pieces = pd.RangeIndex(len(slope), name="piece")
            m.add_constraints(y - xrs(slope, pieces) * relief <= xrs(gs[:-1] - slope * xs[:-1], pieces),
                              name=f"pieces_{chain}_{b}")
            m.add_constraints(y <= float(gs[-1]), name=f"cap_{chain}_{b}")
            total = total + y
    if isinstance(total, int):  # no value anywhere: the objective is 0·x
        return (x * 0.0).sum()
    return total + (x * 0.0).sum()


@dataclass
class PortfolioResult:
    """``objective``: best value (``capacity``: weighted t/yr; ``shortfall``: US$ of expected shortage cost
    avoided); ``chosen``/``rejected`` projects; ``frontier``: budget multiple → value; ``left_out``: registry
    projects that could not be candidates."""

    objective: float
    objective_kind: str
    chosen: pd.DataFrame
    rejected: pd.DataFrame
    frontier: pd.DataFrame
    left_out: pd.DataFrame
    notes: list[str]
    budget_usa: float
    budget_jpn: float

    def to_dict(self) -> dict[str, Any]:
        from critmin.optimize._csv import records as frame_records

        return {"objective": self.objective, "objective_kind": self.objective_kind,
                "unit": "weighted t/yr" if self.objective_kind == "capacity" else "US$ expected shortage cost avoided",
                "budget_usa_usd_m": self.budget_usa, "budget_jpn_usd_m": self.budget_jpn,
                "chosen": frame_records(self.chosen), "rejected": frame_records(self.rejected),
                "frontier": frame_records(self.frontier), "left_out": frame_records(self.left_out),
                "notes": self.notes}


def optimize_portfolio(world: Any, *, budget_usa: float, budget_jpn: float, candidates: str | Path | None = None,
                       objective: str = "shortfall", require_chains: str | Sequence[str] | None = None,
                       require_stages: str | Sequence[str] | None = None,
                       stage_weights: str | Path | dict[tuple[str, str], float] | None = None,
                       by_year: int = DEFAULT_BY_YEAR, scenarios: dict[str, Any] | None = None, runs: int = 100,
                       seed: int = 0, frontier: Iterable[float] = FRONTIER_STEPS,
                       cands: pd.DataFrame | None = None, curves: ValueCurves | None = None) -> PortfolioResult:
    """Choose candidates under the two budgets (US$ m); see the module docstring.

    ``candidates``: a CSV (else the registry); ``cands``: a ready candidate frame (tests, notebooks);
    ``curves``: ready value curves for ``objective="shortfall"`` (else simulated from ``scenarios``).
    """
    for name, b in (("--budget-usa", budget_usa), ("--budget-jpn", budget_jpn)):
        if b is None or not (b >= 0 and math.isfinite(b)):
            raise InputError(name, str(b), "a budget is a finite number of US$ million ≥ 0")
    if objective not in ("shortfall", "capacity"):
        raise InputError("--objective", objective, "use shortfall or capacity")
    left = pd.DataFrame(columns=["project", "reason"])
    if cands is None:
        if candidates is not None:
            cands = read_candidates(candidates, world)
        else:
            cands, left = candidates_from_registry(world)
    cands = cands.reset_index(drop=True)
    if cands.empty:
        raise InputError(str(candidates or "registry"), None, "no candidates to choose from")
    weights = stage_weights if isinstance(stage_weights, dict) else (
        read_stage_weights(stage_weights, world) if stage_weights is not None else {})
    reqs = parse_requirements(require_chains, cands, world, "--require-chains")
    reqs += parse_requirements(require_stages, cands, world, "--require-stages")
    online = (cands["online_year"].to_numpy(int) <= int(by_year))
    notes = []
    vc = None
    if objective == "shortfall":
        vc = curves if curves is not None else shortfall_values(world, cands, scenarios, runs=runs, seed=seed)
        notes += vc.notes
        w = cands["success_prob"].to_numpy(float) * cands["capacity_t"].to_numpy(float) / 12.0 * online
    else:
        sw = np.array([weights.get((c, s), 1.0) for c, s in zip(cands["chain"], cands["stage"], strict=True)])
        w = cands["success_prob"].to_numpy(float) * cands["capacity_t"].to_numpy(float) * sw * online
    cost = cands["capex_usd_m"].to_numpy(float) + floor_payouts(cands, vc)
    pb = PortfolioProblem(cands=cands, cost=cost, budget_usa=float(budget_usa), budget_jpn=float(budget_jpn),
                          objective=objective, weight=w, requirements=reqs, curves=vc)
    best = solve_portfolio(pb)
    if best is None:
        raise InputError("--require-chains" if reqs else "--budget-usa", None,
                         "infeasible: constraint " + (", ".join(f"require {c}{'/' + s if s else ''} ≥ {k}"
                                                                for c, s, k in reqs) or "budget")
                         + " cannot be met within the budgets (US$" + f"{budget_usa:,.0f} m US, US${budget_jpn:,.0f} m "
                         "Japan)")
    value, x = best
    share = cands["usa_share"].to_numpy(float)
    base = cands.assign(cost_usd_m=cost, usa_cost_usd_m=share * cost, jpn_cost_usd_m=(1 - share) * cost,
                        online_by_year=online)
    chosen_rows, rejected_rows = [], []
    for i in range(len(cands)):
        row = base.iloc[i].to_dict()
        if x[i]:
            alt = solve_portfolio(pb, force={i: 0})
            marginal = value - alt[0] if alt else math.nan
            row["marginal_value"] = marginal
            row["marginal_value_per_usd"] = marginal / (cost[i] * 1e6) if cost[i] > 0 and alt else math.nan
            row["note"] = "" if alt else "required: without it the requirements cannot be met"
            chosen_rows.append(row)
        else:
            forced = solve_portfolio(pb, force={i: 1})
            gap = value - forced[0] if forced is not None else math.nan
            row["value_gap"] = gap
            row["needs"] = _entry_condition(pb, i, gap, w[i], online[i])
            if forced is None:
                alone = share[i] * cost[i] > budget_usa or (1 - share[i]) * cost[i] > budget_jpn
                row["needs"] += ("; at its cost it alone exceeds a budget" if alone
                                 else "; at its cost it does not fit beside the required projects")
            rejected_rows.append(row)
    front = []
    for f in frontier:
        r = solve_portfolio(pb, scale=float(f))
        names = [str(cands["project"].iloc[i]) for i in np.flatnonzero(r[1])] if r else []
        front.append({"budget_multiple": float(f), "budget_usa_usd_m": budget_usa * f,
                      "budget_jpn_usd_m": budget_jpn * f,
                      "budget_total_usd_m": (budget_usa + budget_jpn) * f, "value": r[0] if r else math.nan,
                      "projects": ", ".join(names) if r else "infeasible"})
    keep = ["project", "chain", "stage", "country", "capex_usd_m", "cost_usd_m", "usa_cost_usd_m", "jpn_cost_usd_m",
            "capacity_t", "online_year", "success_prob", "usa_share"]
    chosen = pd.DataFrame(chosen_rows, columns=[*keep, "marginal_value", "marginal_value_per_usd", "note"])
    rejected = pd.DataFrame(rejected_rows, columns=[*keep, "value_gap", "needs"])
    if not online.all():
        notes.append(f"{int((~online).sum())} candidate(s) online after {by_year} count for nothing")
    return PortfolioResult(objective=value, objective_kind=objective, chosen=chosen, rejected=rejected,
                           frontier=pd.DataFrame(front), left_out=left, notes=notes, budget_usa=float(budget_usa),
                           budget_jpn=float(budget_jpn))


def _entry_condition(pb: PortfolioProblem, i: int, gap: float, w_i: float, online: bool) -> str:
    """What rejected project ``i`` would need to enter: its capex at most X (bisection), or more value."""
    if not online:
        return f"to be online by the target year (online {int(pb.cands['online_year'].iloc[i])})"
    if w_i <= 0:
        return "value: it adds nothing under this objective"
    more = f", or +{gap:,.4g} value" if gap == gap else ""
    if pb.cost[i] <= 0:
        return f"+{gap:,.4g} value"
    lo, hi = 0.0, 1.0
    if (r := solve_portfolio(pb, cost_scale={i: 0.0})) is None or not r[1][i]:
        return f"more value{more} (it does not enter even at zero cost)"
    for _ in range(8):
        mid = (lo + hi) / 2
        r = solve_portfolio(pb, cost_scale={i: mid})
        if r is not None and r[1][i]:
            lo = mid
        else:
            hi = mid
    return f"cost ≤ US${pb.cost[i] * lo:,.4g} m (now {pb.cost[i]:,.4g}){more}"
