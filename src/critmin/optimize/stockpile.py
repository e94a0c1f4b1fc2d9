"""Stockpile sizing: a two-stage stochastic LP (linopy + HiGHS), with an optional budget and CVaR term.

First stage: tonnes ``S[h, m]`` to hold per holding ``h`` (a country, or a pool ``A+B``) and material (or
form) ``m``, bought at month 0 at ``price`` and charged ``holding × S × H/12`` for the horizon of ``H``
months. Second stage, in every scenario ``s`` (probability ``p_s``): releases ``r[s, j, m, u, t]`` to
each member ``j`` of the holding, for each use ``u`` (a sector; one use ``all`` in file mode), month ``t``:

* ``0 ≤ r ≤ shortfall`` (a release covers at most that month's shortfall),
* ``Σ_u r ≤ max_release[j, m]`` (the most a holding delivers to one member in a month),
* ``Σ_{j∈h, u, t} r ≤ S[h, m]`` (never more than the stock; there is no refill, so the cumulative limit
  at the last month implies every earlier one),
* pools with floors: ``Σ_{i∈h, i≠j, u, t} r_i ≤ S[h, m] − floor[j, m]`` (the floor of a member is never
  drawn for another member); a separate holder's floor is a lower bound on its stock.

Unmet shortfall ``shortfall − r`` costs ``shortage[m, u]`` US$/t. Objective: minimise
``Σ (price + holding·H/12)·S + Σ_s p_s·L_s (+ λ·CVaR_α(L))`` with ``L_s`` the shortage cost of scenario ``s``
(Rockafellar–Uryasev: ``CVaR = η + Σ_s p_s z_s/(1−α)``, ``z_s ≥ L_s − η``, ``z ≥ 0``). Optional budget:
``Σ (price + holding·H/12)·S ≤ B`` (its dual is the budget's shadow price). See docs/optimize.md.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from critmin.errors import InputError

#: Days in a month for the day rules (365/12).
DAYS_PER_MONTH = 365.0 / 12.0

Progress = Callable[[str], None]


# ---------------------------------------------------------------------------------------------- inputs


@dataclass
class Ensemble:
    """Shortfall scenarios: what a stockpile would have to cover.

    ``shortfall``: DataArray (scenario, member, material, use, month), t per month of the material's
    content unit; ``probability``: one per scenario, summing to 1; ``baseline_use``: optional DataArray
    (member, material), t per month of normal use (months of cover and the day rules need it);
    ``units``: content unit per material; ``source``: the file or scenario it came from.
    """

    shortfall: xr.DataArray
    probability: np.ndarray
    source: str = "ensemble"
    baseline_use: xr.DataArray | None = None
    units: dict[str, str] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def horizon(self) -> int:
        """H: the number of months (months run 1..H)."""
        return int(self.shortfall.sizes["month"])

    @property
    def members(self) -> list[str]:
        return [str(x) for x in self.shortfall["member"].values]

    @property
    def materials(self) -> list[str]:
        return [str(x) for x in self.shortfall["material"].values]


@dataclass
class Costs:
    """Cost data per material (US$ per t of its content unit).

    ``price``: acquisition US$/t; ``holding``: US$/t/year; ``shortage``: DataArray (material, use) US$/t
    of unmet shortfall; ``max_release``: DataArray (member, material) or (material), t per month a holding
    can deliver to one member (``inf`` = no cap); ``source``: the file or data it came from.
    """

    price: pd.Series
    holding: pd.Series
    shortage: xr.DataArray
    max_release: xr.DataArray
    source: str = "costs"
    notes: list[dict[str, Any]] = field(default_factory=list)


def parse_holders(spec: str | Sequence[str] | None, known: Iterable[str] | None = None,
                  source: str = "--holders") -> list[tuple[str, list[str]]]:
    """``"USA,JPN"`` → two separate holdings; ``"USA+JPN"`` → one pool; mixes like ``"USA+JPN,KOR"`` too.

    Returns ``[(label, members)]``. Codes are checked against ``known`` (ISO3 of the World) when given.
    """
    from critmin.errors import did_you_mean

    if spec is None:
        return []
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
    if not parts or any(not p for p in parts):
        raise InputError(source, str(spec), "empty holder: use e.g. USA,JPN (separate) or USA+JPN (pooled)")
    known_set = set(known) if known is not None else None
    out: list[tuple[str, list[str]]] = []
    seen: dict[str, str] = {}
    for p in parts:
        members = [x.strip().upper() for x in p.split("+")]
        for x in members:
            if not x:
                raise InputError(source, p, "empty member in a pool: use A+B")
            if known_set is not None and x not in known_set:
                raise InputError(source, x, f"unknown country (ISO3 code of the World){did_you_mean(x, known_set)}")
            if x in seen:
                raise InputError(source, x, f"{x} is in two holdings ({seen[x]} and {p}); a country holds once")
            seen[x] = p
        out.append(("+".join(members), members))
    return out


# ---------------------------------------------------------------------------------------------- problem


@dataclass
class Problem:
    """The numbers of one stockpile LP, as arrays (what both the linopy and the Pyomo builders read).

    Shapes: S scenarios, J members, M materials, U uses, T months, K holdings.
    """

    d: np.ndarray  # (S, J, M, U, T) shortfall, t/month
    p: np.ndarray  # (S,)
    unit_cost: np.ndarray  # (M,) price + holding·H/12, US$/t
    value: np.ndarray  # (M, U) shortage US$/t
    cap: np.ndarray  # (J, M) t/month, inf = no cap
    holding_of: np.ndarray  # (J,) index into holdings
    floors: np.ndarray  # (J, M) t
    holdings: list[str]
    members: list[str]
    materials: list[str]
    uses: list[str]
    scenarios: list[str]
    budget: float | None = None
    alpha: float | None = None
    lam: float = 0.0
    fixed: np.ndarray | None = None  # (K, M) stock fixed (rules), else None

    @property
    def const(self) -> float:
        """Expected shortage cost with no stock: Σ p·value·d (the objective is this minus what releases save)."""
        return float(np.einsum("s,sjmut,mu->", self.p, self.d, self.value))

    def member_matrix(self) -> np.ndarray:
        """(K, J) 0/1: member j draws on holding k."""
        a = np.zeros((len(self.holdings), len(self.members)))
        a[self.holding_of, np.arange(len(self.members))] = 1.0
        return a

    def stock_lower(self) -> np.ndarray:
        """(K, M) the least stock each holding keeps: a separate holder's floor, a pool's largest floor."""
        lo = np.zeros((len(self.holdings), len(self.materials)))
        for j, k in enumerate(self.holding_of):
            lo[k] = np.maximum(lo[k], self.floors[j])
        return lo

    def upper(self) -> np.ndarray:
        """(S, J, M, U, T) upper bound of each release: the shortfall, and the monthly cap when U = 1."""
        return self.d if self.d.shape[3] > 1 else np.minimum(self.d, self.cap[None, :, :, None, None])

    def pool_floors(self) -> list[tuple[int, int, int]]:
        """(member j, material m, holding k) of floors that bind other members of a pool."""
        out = []
        a = self.member_matrix()
        for j, k in enumerate(self.holding_of):
            if a[k].sum() < 2:
                continue
            for m in range(len(self.materials)):
                if self.floors[j, m] > 0:
                    out.append((j, m, int(k)))
        return out


def make_problem(ensemble: Ensemble, costs: Costs, holders: str | Sequence[str] | None = None,
                 floors: dict[tuple[str, str], float] | None = None, budget: float | None = None,
                 cvar: float | None = None, lam: float = 0.0, countries: Iterable[str] | None = None) -> Problem:
    """Check the inputs against each other and lay them out as a :class:`Problem`.

    ``countries``: the ISO3 codes a holder may use (the World's); None skips that check."""
    mats = ensemble.materials
    for m in mats:
        if m not in costs.price.index:
            raise InputError(costs.source, "material", f"no costs for material {m!r} of {ensemble.source}")
    holdings = parse_holders(holders, countries) if holders is not None else [(m, [m]) for m in ensemble.members]
    present = set(ensemble.members)
    members: list[str] = []
    hold_idx: list[int] = []
    labels: list[str] = []
    for k, (label, mem) in enumerate(holdings):
        found = [x for x in mem if x in present]
        if label in present and label not in found:
            found.append(label)  # a pool's own shortfall rows (holder A+B in the file)
        if not found:
            raise InputError("--holders", label, f"no shortfall for {label} in {ensemble.source}; "
                             f"holders there: {', '.join(sorted(present)) or 'none'}")
        members += found
        hold_idx += [k] * len(found)
        labels.append(label)
    d = ensemble.shortfall.transpose("scenario", "member", "material", "use", "month").sel(member=members)
    d_np = np.asarray(d.values, dtype=np.float64)
    uses = [str(u) for u in d["use"].values]
    value = np.asarray(costs.shortage.sel(material=mats, use=uses).transpose("material", "use").values, float)
    mr = costs.max_release
    if "member" in mr.dims:
        cap = np.asarray(mr.sel(member=members, material=mats).transpose("member", "material").values, float)
    else:
        cap = np.broadcast_to(np.asarray(mr.sel(material=mats).values, float), (len(members), len(mats))).copy()
    fl = np.zeros((len(members), len(mats)))
    for (who, mat), t in (floors or {}).items():
        if who not in members:
            raise InputError("floors", who, f"{who} is not a member of any holding ({', '.join(labels)})")
        if mat not in mats:
            raise InputError("floors", mat, f"unknown material; materials: {', '.join(mats)}")
        if not (t >= 0 and math.isfinite(t)):
            raise InputError("floors", f"{who} {mat}", f"floor {t} must be a finite number of t ≥ 0")
        fl[members.index(who), mats.index(mat)] = float(t)
    if budget is not None and not (budget >= 0 and math.isfinite(budget)):
        raise InputError("--budget", str(budget), "must be a finite number of US$ ≥ 0")
    if cvar is not None and not 0 < cvar < 1:
        raise InputError("--cvar", str(cvar), "the CVaR level ALPHA must be between 0 and 1 (e.g. 0.95)")
    if not (lam >= 0 and math.isfinite(lam)):
        raise InputError("--lambda", str(lam), "the CVaR weight must be a finite number ≥ 0")
    if lam > 0 and cvar is None:
        raise InputError("--lambda", str(lam), "needs --cvar ALPHA (the level of the CVaR it weighs)")
    h = ensemble.horizon
    unit_cost = np.asarray(costs.price.loc[mats].values, float) + np.asarray(costs.holding.loc[mats].values,
                                                                             float) * h / 12.0
    prob = np.asarray(ensemble.probability, float)
    return Problem(d=d_np, p=prob, unit_cost=unit_cost, value=value, cap=cap, holding_of=np.asarray(hold_idx),
                   floors=fl, holdings=labels, members=members, materials=mats, uses=uses,
                   scenarios=[str(s) for s in ensemble.shortfall["scenario"].values], budget=budget,
                   alpha=cvar, lam=float(lam))


# ---------------------------------------------------------------------------------------------- linopy


def build_linopy(pb: Problem) -> Any:
    """The LP of ``pb`` as a :class:`linopy.Model` (objective without the constant :attr:`Problem.const`)."""
    with warnings.catch_warnings():
        # masked release slots (no shortfall) count as 0 in sums: linopy's legacy semantics, on purpose
        warnings.filterwarnings("ignore", message=".*absent slots.*")
        return _build_linopy(pb)


def _build_linopy(pb: Problem) -> Any:
    import linopy

    m = linopy.Model()
    S_, J, M, U, T = pb.d.shape
    K = len(pb.holdings)
    coords_r = [pd.RangeIndex(S_, name="scenario"), pd.RangeIndex(J, name="member"),
                pd.RangeIndex(M, name="material"), pd.RangeIndex(U, name="use"), pd.RangeIndex(T, name="month")]
    up = pb.upper()
    upper = xr.DataArray(up, coords=coords_r)
    r = m.add_variables(lower=0.0, upper=upper, name="release", mask=upper > 0)
    kcoords = [pd.RangeIndex(K, name="holding"), pd.RangeIndex(M, name="material")]
    lo = xr.DataArray(pb.stock_lower(), coords=kcoords)
    if pb.fixed is not None:
        fixed = np.maximum(pb.fixed, pb.stock_lower())
        stock = m.add_variables(lower=xr.DataArray(fixed, coords=kcoords), upper=xr.DataArray(fixed, coords=kcoords),
                                name="stock")
    else:
        stock = m.add_variables(lower=lo, name="stock")
    jm = [pd.RangeIndex(J, name="member"), pd.RangeIndex(M, name="material")]
    if U > 1 and np.isfinite(pb.cap).any():
        capped = xr.DataArray(np.isfinite(pb.cap), coords=jm)
        m.add_constraints(r.sum("use") <= xr.DataArray(np.where(np.isfinite(pb.cap), pb.cap, 0.0), coords=jm),
                          name="release_cap", mask=capped)
    drawn = r.sum(["use", "month"])  # (scenario, member, material)
    a = xr.DataArray(pb.member_matrix(), coords=[pd.RangeIndex(K, name="holding"), pd.RangeIndex(J, name="member")])
    m.add_constraints((drawn * a).sum("member") - stock <= 0, name="stock_limit")
    for j, mat, k in pb.pool_floors():
        others = [i for i in range(J) if pb.holding_of[i] == k and i != j]
        lhs = drawn.sel(member=others, material=mat).sum("member") - stock.sel(holding=k, material=mat)
        m.add_constraints(lhs <= -float(pb.floors[j, mat]), name=f"floor_{pb.members[j]}_{pb.materials[mat]}")
    unit = xr.DataArray(pb.unit_cost, coords=[pd.RangeIndex(M, name="material")])
    first = (stock * unit).sum()
    if pb.budget is not None:
        m.add_constraints(first <= float(pb.budget), name="budget")
    pv = xr.DataArray(pb.p[:, None, None, None, None] * pb.value[None, None, :, :, None]
                      * np.ones((1, J, 1, 1, T)), coords=coords_r)
    obj = first - (r * pv).sum()
    if pb.alpha is not None and pb.lam > 0:
        sc = pd.RangeIndex(S_, name="scenario")
        eta = m.add_variables(name="eta")
        z = m.add_variables(lower=0.0, coords=[sc], name="excess")
        v = xr.DataArray(np.broadcast_to(pb.value[None, None, :, :, None], (S_, J, M, U, T)).copy(), coords=coords_r)
        loss0 = xr.DataArray(np.einsum("sjmut,mu->s", pb.d, pb.value), coords=[sc])
        saved = (r * v).sum(["member", "material", "use", "month"])  # (scenario)
        m.add_constraints(z + saved + eta >= loss0, name="cvar")
        w = xr.DataArray(pb.lam * pb.p / (1.0 - pb.alpha), coords=[sc])
        obj = obj + pb.lam * eta + (z * w).sum()
    m.add_objective(obj)
    return m


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send what C code writes to file descriptor 1 (HiGHS's banner) to /dev/null while the block runs."""
    import sys

    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


@contextmanager
def quiet_linopy() -> Iterator[None]:
    """Keep linopy's log (solver summaries, 'optimization potentially failed') out of the output."""
    import logging

    log = logging.getLogger("linopy")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        log.setLevel(level)


def _solve_linopy(m: Any, pb: Problem) -> None:
    """Solve with HiGHS (direct API, dual simplex, quiet); InputError naming the constraint if it fails."""
    with quiet_stdout(), quiet_linopy():
        status, condition = m.solve(solver_name="highs", io_api="direct", output_flag=False, solver="simplex",
                                    simplex_strategy=1)
    if status != "ok":
        raise _failure(pb, str(condition))


def _failure(pb: Problem, condition: str) -> InputError:
    if "infeasible" in condition and pb.budget is not None:
        need = float((pb.stock_lower() * pb.unit_cost[None, :]).sum())
        return InputError("--budget", f"{pb.budget:,.0f}",
                          f"infeasible: constraint 'budget' cannot hold: the floors alone cost US${need:,.0f}")
    if "infeasible" in condition:
        return InputError("stockpile model", None, f"infeasible ({condition}): constraint 'stock_limit' or a floor")
    if "unbounded" in condition:
        return InputError("stockpile model", None,
                          f"unbounded ({condition}): check for a material with zero price and holding cost")
    return InputError("stockpile model", None, f"HiGHS stopped without an optimum: {condition}")


# ---------------------------------------------------------------------------------------------- results


def weighted_quantile(values: np.ndarray, p: np.ndarray, q: float) -> np.ndarray:
    """The ``q`` quantile over axis 0 of ``values`` (scenarios) with probabilities ``p`` (lower quantile)."""
    order = np.argsort(values, axis=0, kind="stable")
    v = np.take_along_axis(values, order, axis=0)
    cp = np.cumsum(p[order], axis=0)
    idx = (cp < q - 1e-12).sum(axis=0)
    idx = np.minimum(idx, values.shape[0] - 1)
    return np.take_along_axis(v, idx[None], axis=0)[0]


@dataclass
class StockpileResult:
    """A solved stockpile plan.

    ``objective_usd``: expected total cost (acquisition + holding + expected shortage cost, + λ·CVaR);
    ``plan``: one row per holding × material (``holder, material, stock_t, cost_usd, expected_unmet_t``,
    ``expected_unmet_without_t, p95_unmet_t, p95_unmet_without_t``, ``months_of_cover`` where the
    baseline use is known); ``budget_shadow_usd_per_usd``: d(objective)/d(budget) (negative: a dollar
    more lowers the expected total cost by that much), None without a budget; ``cvar_usd``: CVaR_α of
    the shortage cost under the plan; ``release``: expected release per member × material, t.
    """

    objective_usd: float
    plan: pd.DataFrame
    holders: list[tuple[str, list[str]]]
    expected_shortage_cost_usd: float
    first_stage_cost_usd: float
    budget_shadow_usd_per_usd: float | None = None
    cvar_usd: float | None = None
    release: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: ``{"objective_usd", "plan": [...], ...}``."""
        from critmin.optimize._csv import records as frame_records

        return {
            "objective_usd": self.objective_usd,
            "plan": frame_records(self.plan),
            "holders": [{"holder": h, "members": m} for h, m in self.holders],
            "first_stage_cost_usd": self.first_stage_cost_usd,
            "expected_shortage_cost_usd": self.expected_shortage_cost_usd,
            "budget_shadow_usd_per_usd": self.budget_shadow_usd_per_usd,
            "cvar_usd": self.cvar_usd,
        }


def _cvar(loss: np.ndarray, p: np.ndarray, alpha: float) -> float:
    """Rockafellar–Uryasev CVaR_α of a discrete loss: min_η η + E[(L−η)+]/(1−α) (η at the α quantile)."""
    eta = float(weighted_quantile(loss[:, None], p, alpha)[0])
    return eta + float((p * np.maximum(loss - eta, 0.0)).sum()) / (1.0 - alpha)


def _results(pb: Problem, stock: np.ndarray, r: np.ndarray, holders: list[tuple[str, list[str]]],
             ensemble: Ensemble, objective: float, shadow: float | None) -> StockpileResult:
    S_, J, M, U, T = pb.d.shape
    K = len(pb.holdings)
    unmet = pb.d - r
    a = pb.member_matrix()  # (K, J)
    per_s_unmet = np.einsum("kj,sjmut->skm", a, unmet)
    per_s_without = np.einsum("kj,sjmut->skm", a, pb.d)
    exp_unmet = np.einsum("s,skm->km", pb.p, per_s_unmet)
    exp_without = np.einsum("s,skm->km", pb.p, per_s_without)
    p95 = weighted_quantile(per_s_unmet.reshape(S_, -1), pb.p, 0.95).reshape(K, M)
    p95w = weighted_quantile(per_s_without.reshape(S_, -1), pb.p, 0.95).reshape(K, M)
    cost = stock * pb.unit_cost[None, :]
    rows = []
    use = None
    if ensemble.baseline_use is not None:
        bu = ensemble.baseline_use.reindex(member=pb.members, material=pb.materials, fill_value=0.0)
        use = a @ np.asarray(bu.transpose("member", "material").values, float)  # (K, M)
    for k in range(K):
        for mi in range(M):
            row = {
                "holder": pb.holdings[k],
                "material": pb.materials[mi],
                "stock_t": float(stock[k, mi]),
                "cost_usd": float(cost[k, mi]),
                "expected_unmet_t": float(exp_unmet[k, mi]),
                "expected_unmet_without_t": float(exp_without[k, mi]),
                "p95_unmet_t": float(p95[k, mi]),
                "p95_unmet_without_t": float(p95w[k, mi]),
            }
            if use is not None:
                row["baseline_use_t_per_month"] = float(use[k, mi])
                row["months_of_cover"] = float(stock[k, mi] / use[k, mi]) if use[k, mi] > 0 else math.nan
            rows.append(row)
    plan = pd.DataFrame(rows)
    loss = np.einsum("sjmut,mu->s", unmet, pb.value)
    exp_loss = float(pb.p @ loss)
    cvar = _cvar(loss, pb.p, pb.alpha) if pb.alpha is not None else None
    rel = np.einsum("s,sjmut->jm", pb.p, r)
    release = pd.DataFrame([{"holder": pb.holdings[pb.holding_of[j]], "member": pb.members[j],
                             "material": pb.materials[mi], "expected_release_t": float(rel[j, mi])}
                            for j in range(J) for mi in range(M)])
    return StockpileResult(objective_usd=objective, plan=plan, holders=holders, expected_shortage_cost_usd=exp_loss,
                           first_stage_cost_usd=float(cost.sum()), budget_shadow_usd_per_usd=shadow, cvar_usd=cvar,
                           release=release)


def solve(pb: Problem, ensemble: Ensemble, holders: list[tuple[str, list[str]]] | None = None,
          progress: Progress | None = None) -> StockpileResult:
    """Build ``pb`` with linopy, solve it with HiGHS and read the plan back."""
    t0 = time.perf_counter()
    if progress:
        progress("build")
    m = build_linopy(pb)
    t1 = time.perf_counter()
    if progress:
        progress("solve")
    _solve_linopy(m, pb)
    t2 = time.perf_counter()
    stock = np.asarray(m.variables["stock"].solution.values, float)
    stock = np.where(np.abs(stock) < 1e-7, 0.0, stock)  # solver residue
    r = np.nan_to_num(np.asarray(m.variables["release"].solution.values, float))
    r = np.clip(r, 0.0, pb.d)
    shadow = None
    if pb.budget is not None:
        shadow = float(m.constraints["budget"].dual.values)
    objective = float(m.objective.value) + pb.const
    res = _results(pb, stock, r, holders or [(h, []) for h in pb.holdings], ensemble, objective, shadow)
    res.timings = {"build_s": t1 - t0, "solve_s": t2 - t1}
    res.size = {"variables": int(m.nvars), "constraints": int(m.ncons)}
    return res


def optimize_stockpile(ensemble: Ensemble, costs: Costs, holders: str | Sequence[str] | None = None, *,
                       budget: float | None = None, cvar: float | None = None, lam: float = 0.0,
                       floors: dict[tuple[str, str], float] | None = None,
                       countries: Iterable[str] | None = None, progress: Progress | None = None) -> StockpileResult:
    """Size the stockpile of ``holders`` against ``ensemble`` at ``costs``; see the module docstring.

    ``holders``: ``"USA,JPN"`` (separate), ``"USA+JPN"`` (a pool), a list of such labels, or None (each
    member of the ensemble separately). ``budget``: US$ cap on acquisition + holding. ``cvar``/``lam``: add
    ``lam × CVaR_cvar`` of the shortage cost. ``floors``: ``{(member, material): t}``. ``countries``: ISO3
    codes a holder may use (e.g. ``world.countries()["iso3"]``).
    """
    pb = make_problem(ensemble, costs, holders, floors, budget, cvar, lam, countries)
    hs = parse_holders(holders) if holders is not None else [(h, [h]) for h in pb.holdings]
    if budget is not None:
        need = float((pb.stock_lower() * pb.unit_cost[None, :]).sum())
        if need > budget + 1e-6:
            raise InputError("--budget", f"{budget:,.0f}", f"infeasible: constraint 'budget' cannot hold: "
                             f"the floors alone cost US${need:,.0f}")
    return solve(pb, ensemble, hs, progress)


def evaluate_rule(ensemble: Ensemble, costs: Costs, holders: str | Sequence[str] | None, days: float, *,
                  floors: dict[tuple[str, str], float] | None = None) -> StockpileResult:
    """The plan of a days-of-use rule (JOGMEC/Project Vault 60 days, KOMIR 100): stock fixed at
    ``days`` × baseline use per day, releases still optimal. Needs ``ensemble.baseline_use``."""
    if ensemble.baseline_use is None:
        raise InputError("rule", f"{days:g} days", "needs the baseline use of each holder (simulation mode)")
    pb = make_problem(ensemble, costs, holders, floors)
    bu = ensemble.baseline_use.reindex(member=pb.members, material=pb.materials, fill_value=0.0)
    use = pb.member_matrix() @ np.asarray(bu.transpose("member", "material").values, float)
    pb.fixed = use * days / DAYS_PER_MONTH
    hs = parse_holders(holders) if holders is not None else [(h, [h]) for h in pb.holdings]
    return solve(pb, ensemble, hs)


def separate_of(holders: str | Sequence[str]) -> str:
    """The same countries each holding alone: ``"USA+JPN"`` → ``"USA,JPN"``."""
    return ",".join(x for _, mem in parse_holders(holders) for x in mem)
