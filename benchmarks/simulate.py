"""Benchmark: 10,000 Monte Carlo runs x 36 months of the rare-earth magnet chain.

At the World's full country resolution (the model's default: every country of the World
that appears in the chain's data is its own row, ~213; ``--max-countries N`` lumps all but
the N most active into ROW), with the 12-month US/Japan embargo scenario and its default
(distributed) responses; in-process and on a local 2-worker dask.distributed cluster.
Prints the countries count, runs x months per second for both and checks that the two
backends agree exactly.

    /work/venv/bin/python benchmarks/simulate.py [--runs 10000] [--scenario NAME] [--max-countries N]
"""

from __future__ import annotations

import argparse
import time

import critmin
from critmin import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenario", default="ree-magnet-embargo-us-jpn-12m")
    ap.add_argument("--max-countries", type=int, default=0, help="0 = all countries (no ROW; the default)")
    ap.add_argument("--chunk-size", type=int, default=1000)
    ap.add_argument("--skip-dask", action="store_true")
    a = ap.parse_args()
    world = critmin.load()
    mc = a.max_countries or None
    _, model, plan = simulate.engine.prepare(world, a.scenario, max_countries=mc)
    S, C = model.q0.shape
    print(
        f"scenario {a.scenario}: chain {model.chain_id}, {S} stages x {C} countries"
        f"{' (incl. ROW)' if model.members else ' (full resolution, no ROW)'} x "
        f"{len(model.sectors)} sectors, {plan.horizon} months, {a.runs} runs, chunks of {a.chunk_size}"
    )
    t0 = time.perf_counter()
    local = simulate.run(
        world, a.scenario, runs=a.runs, seed=a.seed, max_countries=mc, chunk_size=a.chunk_size
    )
    dt = time.perf_counter() - t0
    rm = a.runs * plan.horizon
    print(f"in-process : {dt:7.2f} s  {rm / dt:12,.0f} run-months/s  (target: 10,000 runs < 30 s)")
    if a.skip_dask:
        return
    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    try:
        t0 = time.perf_counter()
        remote = simulate.run(
            world,
            a.scenario,
            runs=a.runs,
            seed=a.seed,
            max_countries=mc,
            chunk_size=a.chunk_size,
            backend="dask",
            scheduler=cluster.scheduler_address,
        )
        dt = time.perf_counter() - t0
    finally:
        cluster.close()
    print(f"dask (2 w) : {dt:7.2f} s  {rm / dt:12,.0f} run-months/s  (cluster start-up excluded)")
    same = all(
        local[v].equals(remote[v])
        for v in ("shortfall", "price", "release", "balance_residual", "production", "demand", "inventory")
    )
    print(f"identical results: {same}")
    if not same:
        raise SystemExit("the dask result differs from the in-process one")


if __name__ == "__main__":
    main()
