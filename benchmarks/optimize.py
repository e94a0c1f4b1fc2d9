"""Benchmark of the decision models: the stockpile LP (linopy build, HiGHS solve, Pyomo build of the same
model) and the portfolio MILP over every registry candidate.

    python benchmarks/optimize.py [--runs 1000] [--months 36] [--materials 6] [--repeat 3] [--pyomo-solve]

The stockpile ensemble is SYNTHETIC, drawn with a fixed seed (so the model has the benchmark's size without a
1,000-run simulation of six chains): per run and material, an embargo starts in a random month, lasts 3-24
months and withholds 20-100% of each holder's baseline use (holders USA, JPN, KOR; USA and JPN pooled, KOR
alone), with a JPN floor in the pool, and a CVaR term (alpha 0.95, lambda 0.1). Targets (issue 14): linopy
build at least 3x faster than Pyomo's, build + solve under 60 s, the portfolio MILP under 30 s. Build times are
medians over ``--repeat`` builds; the solve and the Pyomo build run once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import pandas as pd
import xarray as xr


def synthetic(runs: int, months: int, materials: int, seed: int = 20251028) -> tuple:
    from critmin.optimize.stockpile import Costs, Ensemble

    rng = np.random.default_rng(seed)
    holders = ["USA", "JPN", "KOR"]
    mats = [f"material-{i + 1}" for i in range(materials)]
    use = rng.uniform(50, 2000, (len(holders), materials))  # t/month baseline use
    start = rng.integers(1, months + 1, (runs, 1, materials, 1))
    dur = rng.integers(3, 25, (runs, 1, materials, 1))
    depth = rng.uniform(0.2, 1.0, (runs, len(holders), materials, 1))
    t = np.arange(1, months + 1)[None, None, None, :]
    on = (t >= start) & (t < start + dur)
    d = np.where(on, depth * use[None, :, :, None], 0.0)
    da = xr.DataArray(d[:, :, :, None, :], dims=("scenario", "member", "material", "use", "month"),
                      coords={"scenario": [f"r{i}" for i in range(runs)], "member": holders, "material": mats,
                              "use": ["all"], "month": np.arange(1, months + 1)})
    price = pd.Series(rng.uniform(2e4, 2e5, materials), index=mats)
    costs = Costs(price=price, holding=price * 0.055,
                  shortage=xr.DataArray((price * 3).to_numpy()[:, None], dims=("material", "use"),
                                        coords={"material": mats, "use": ["all"]}),
                  max_release=xr.DataArray(use.max(axis=0) * 0.8, dims=("material",), coords={"material": mats}))
    ens = Ensemble(shortfall=da, probability=np.full(runs, 1.0 / runs), source="synthetic")
    floors = {("JPN", m): float(use[1, i]) for i, m in enumerate(mats)}
    return ens, costs, floors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--materials", type=int, default=6)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--pyomo-solve", action="store_true", help="also solve the Pyomo model and compare objectives")
    a = ap.parse_args()

    from critmin.optimize.stockpile import _solve_linopy, build_linopy, make_problem

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
          f"{os.cpu_count()} CPUs")
    ens, costs, floors = synthetic(a.runs, a.months, a.materials)
    pb = make_problem(ens, costs, "USA+JPN,KOR", floors, None, 0.95, 0.1)
    print(f"stockpile LP: {a.runs} runs x {a.months} months x {a.materials} materials x 3 holders "
          f"(USA+JPN pooled, KOR alone), CVaR 0.95 (synthetic ensemble, seed 20251028)")
    builds = []
    m = None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        m = build_linopy(pb)
        builds.append(time.perf_counter() - t0)
    build = statistics.median(builds)
    t0 = time.perf_counter()
    _solve_linopy(m, pb)
    solve = time.perf_counter() - t0
    obj = float(m.objective.value) + pb.const
    print(f"  variables {m.nvars:,}, constraints {m.ncons:,}")
    print(f"  linopy build   {build:7.2f} s (median of {a.repeat})")
    print(f"  HiGHS solve    {solve:7.2f} s (dual simplex, direct API; objective US${obj:,.0f})")
    print(f"  build + solve  {build + solve:7.2f} s (target < 60 s)")
    from critmin.optimize.pyomo_build import build_pyomo, solve_pyomo

    t0 = time.perf_counter()
    pm = build_pyomo(pb)
    pbuild = time.perf_counter() - t0
    print(f"  Pyomo build    {pbuild:7.2f} s (once)")
    print(f"  Pyomo / linopy build: {pbuild / build:.1f}x (target >= 3x)")
    if a.pyomo_solve:
        t0 = time.perf_counter()
        pobj = solve_pyomo(pm, pb)
        print(f"  Pyomo solve (appsi_highs) {time.perf_counter() - t0:.2f} s; objectives differ by "
              f"{abs(pobj - obj) / max(1.0, abs(obj)):.2e} (relative)")
    del pm, m

    import critmin
    from critmin.optimize.portfolio import candidates_from_registry, optimize_portfolio

    world = critmin.load()
    cands, left = candidates_from_registry(world)
    t0 = time.perf_counter()
    res = optimize_portfolio(world, budget_usa=600, budget_jpn=600, objective="shortfall")
    full = time.perf_counter() - t0
    t0 = time.perf_counter()
    cap = optimize_portfolio(world, budget_usa=600, budget_jpn=600, objective="capacity")
    capt = time.perf_counter() - t0
    print(f"portfolio over every registry candidate ({len(cands)} candidates; {len(left)} projects left out):")
    print(f"  shortfall objective, 100 simulated runs, chosen {len(res.chosen)}, with marginals, entry "
          f"conditions and a {len(res.frontier)}-point frontier: {full:.2f} s (target < 30 s)")
    print(f"  capacity objective, same outputs: {capt:.2f} s; chosen {', '.join(cap.chosen['project'])}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
