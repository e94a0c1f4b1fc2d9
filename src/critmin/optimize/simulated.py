"""Simulation mode: size a stockpile against the disruption model's ensemble for a scenario.

``stockpile(world, "ree-magnet-embargo-us-jpn-12m", holders="USA+JPN")`` simulates ``runs`` runs, takes the
shortfall the model leaves after private stocks for the holders' countries (each run a scenario of equal
probability; form = the sector's stage, use = its sector), prices it from ``costs.yaml`` (or a cost CSV),
solves the LP, then prices the 60- and 100-day rules and the other way of holding (separate vs pooled).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from critmin.errors import InputError
from critmin.optimize.ensemble import from_simulation, simulate_runs
from critmin.optimize.stockpile import (
    Costs,
    Ensemble,
    StockpileResult,
    evaluate_rule,
    optimize_stockpile,
    parse_holders,
    separate_of,
)

COSTS_FILE = Path(__file__).with_name("costs.yaml")
#: The day rules priced beside the optimum: JOGMEC's and Project Vault's 60 days, KOMIR's 100 (decisions.md §1).
RULES = (60.0, 100.0)
#: Default Monte Carlo runs in simulation mode (a judgement: enough for the P95, small enough to solve in seconds).
DEFAULT_RUNS = 200


@cache
def cost_data() -> dict[str, Any]:
    """``costs.yaml``: prices by chain and stage, holding rate, shortage multiples, release rate, portfolio."""
    return yaml.safe_load(COSTS_FILE.read_text(encoding="utf-8"))


def costs_for(ens: Ensemble, chain: str, costs_file: str | Path | None = None) -> Costs:
    """Costs of the ensemble's forms and uses: ``costs.yaml`` (or ``costs_file``, a cost CSV whose material is
    the stage id and whose shortage is the civil value; defence uses get it × the defence/civil ratio)."""
    data = cost_data()
    forms, uses = ens.materials, [str(u) for u in ens.shortfall["use"].values]
    defence = ens.meta.get("defence", {})
    civil_mult = float(data["shortage"]["civil_multiple_of_price"])
    def_mult = float(data["shortage"]["defence_multiple_of_price"])
    months = float(data["release"]["months_of_use_per_month"])
    if costs_file is not None:
        from critmin.optimize.files import read_costs

        c = read_costs(costs_file)
        for f in forms:
            if f not in c.price.index:
                raise InputError(str(costs_file), "material", f"no row for stage {f!r} of chain {chain}")
        price = c.price.loc[forms]
        holding = c.holding.loc[forms]
        civil = c.shortage.sel(use="all", material=forms).values
        shortage = np.array([[civil[i] * (def_mult / civil_mult if defence.get(u) else 1.0) for u in uses]
                             for i in range(len(forms))])
        cap_file = c.max_release.sel(material=forms).values
        source = str(costs_file)
    else:
        table = data["prices"].get(chain)
        if not table:
            raise InputError("costs", chain, f"costs.yaml has no prices for chain {chain}; give --costs FILE.csv "
                             "(material = stage id)")
        missing = [f for f in forms if f not in table]
        if missing:
            raise InputError("costs", f"{chain}: {missing[0]}", "costs.yaml has no price for this stage; give "
                             "--costs FILE.csv (material = stage id)")
        price = pd.Series([float(table[f]["price_usd_per_t"]) for f in forms], index=forms)
        holding = price * float(data["holding"]["rate_per_year"])
        shortage = np.array([[price[f] * (def_mult if defence.get(u) else civil_mult) for u in uses] for f in forms])
        cap_file = np.full(len(forms), math.inf)
        source = str(COSTS_FILE)
    bu = ens.baseline_use
    assert bu is not None
    cap = np.minimum(np.asarray(bu.values, float) * months, cap_file[None, :])
    cap = np.where(cap > 0, cap, 0.0)
    return Costs(
        price=price, holding=holding,
        shortage=xr.DataArray(shortage, dims=("material", "use"), coords={"material": forms, "use": uses}),
        max_release=xr.DataArray(cap, dims=("member", "material"),
                                 coords={"member": ens.members, "material": forms}),
        source=source,
    )


@dataclass
class SimulatedStockpile:
    """The result of simulation mode: the optimal plan, the day rules and the other way of holding.

    ``result``: the optimal :class:`StockpileResult`; ``rules``: one row per rule (``rule, holder, material,
    stock_t, cost_usd, expected_unmet_t, p95_unmet_t, objective_usd, extra_cost_usd`` = objective − optimum);
    Rules ignore ``budget``; ``within_budget`` says whether the rule's stock fits it (None without a budget),
    so a negative ``extra_cost_usd`` means the rule beats the budget-bound optimum by spending more.
    ``comparison``: pooled vs separate (``holding, objective_usd, stock_cost_usd, expected_shortage_cost_usd``);
    ``ensemble``: the ensemble solved; ``costs``: the costs used.
    """

    result: StockpileResult
    rules: pd.DataFrame
    comparison: pd.DataFrame
    ensemble: Ensemble
    costs: Costs
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from critmin.optimize._csv import records as frame_records

        out = self.result.to_dict()
        out.update({"scenario": self.meta.get("scenario"), "chain": self.meta.get("chain"),
                    "runs": self.meta.get("runs"), "seed": self.meta.get("seed"),
                    "horizon": self.meta.get("horizon"), "costs_source": self.costs.source,
                    "units": self.ensemble.units, "rules": frame_records(self.rules),
                    "pooled_vs_separate": frame_records(self.comparison)})
        return out


def stockpile(world: Any, scenario: Any, holders: str = "USA+JPN", *, runs: int = DEFAULT_RUNS, seed: int = 0,
              costs: str | Path | None = None, budget: float | None = None, cvar: float | None = None,
              lam: float = 0.0, floors: dict[tuple[str, str], float] | None = None, rules: tuple[float, ...] = RULES,
              compare: bool = True, progress: Callable[[str, int, int], None] | None = None) -> SimulatedStockpile:
    """Size the stockpile of ``holders`` (``"USA,JPN"`` separate or ``"USA+JPN"`` pooled) against ``runs``
    simulated runs of ``scenario`` (library name, YAML path or Scenario).

    ``progress(stage, done, total)`` is called with stage ``simulate`` (runs done), ``build``, ``solve``.
    """
    known = set(world.countries()["iso3"])
    hs = parse_holders(holders, known)
    members = [x for _, mem in hs for x in mem]

    def sim_progress(done: int, total: int) -> None:
        if progress:
            progress("simulate", done, total)

    ds = simulate_runs(world, scenario, runs, seed, sim_progress)
    ens = from_simulation(ds, members, source=f"scenario {ds.attrs.get('scenario')}")
    chain = str(ds.attrs.get("chain"))
    c = costs_for(ens, chain, costs)

    def step(stage: str) -> None:
        if progress:
            progress(stage, 0, 0)

    res = optimize_stockpile(ens, c, holders, budget=budget, cvar=cvar, lam=lam, floors=floors, progress=step)
    rule_rows = []
    for days in rules:
        rr = evaluate_rule(ens, c, holders, days, floors=floors)
        for _, row in rr.plan.iterrows():
            rule_rows.append({"rule": f"{days:g} days", "holder": row["holder"], "material": row["material"],
                              "stock_t": row["stock_t"], "cost_usd": row["cost_usd"],
                              "expected_unmet_t": row["expected_unmet_t"], "p95_unmet_t": row["p95_unmet_t"],
                              "objective_usd": rr.objective_usd,
                              "extra_cost_usd": rr.objective_usd - res.objective_usd,
                              "within_budget": None if budget is None else rr.first_stage_cost_usd <= budget + 1e-6})
    comp = []
    if compare:
        pooled = any(len(m) > 1 for _, m in hs)
        other_spec = separate_of(holders) if pooled else "+".join(members)
        if len(members) > 1:
            other = optimize_stockpile(ens, c, other_spec, budget=budget, cvar=cvar, lam=lam, floors=floors)
            pairs = [(holders, res), (other_spec, other)]
            for spec, r in pairs:
                comp.append({"holding": spec, "pooled": "+" in spec, "objective_usd": r.objective_usd,
                             "stock_cost_usd": r.first_stage_cost_usd,
                             "expected_shortage_cost_usd": r.expected_shortage_cost_usd,
                             "expected_unmet_t": float(r.plan["expected_unmet_t"].sum())})
    return SimulatedStockpile(result=res, rules=pd.DataFrame(rule_rows), comparison=pd.DataFrame(comp), ensemble=ens,
                              costs=c, meta=dict(ens.meta))
