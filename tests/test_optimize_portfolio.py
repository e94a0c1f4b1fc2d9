"""Portfolio MILP: brute-force enumeration equals the MILP; the result's pieces are consistent; CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import critmin
from critmin.optimize.portfolio import (
    PortfolioProblem,
    ValueCurves,
    optimize_portfolio,
    solve_portfolio,
    value_curve,
)

CHAIN = "rare-earth-magnets"
#: t of magnet per t of RE metal (the chain's input factor 0.31 t metal per t magnet), as the MILP reads it
CONVERT = 1 / 0.31


@pytest.fixture(scope="module")
def world() -> critmin.World:
    return critmin.load()


def random_candidates(rng: np.random.Generator, n: int) -> pd.DataFrame:
    stages = rng.choice(["metal-alloy", "magnet", "separated-oxides"], n)
    return pd.DataFrame({
        "project": [f"p{i}" for i in range(n)], "chain": CHAIN, "stage": stages,
        "country": rng.choice(["USA", "JPN", "AUS"], n), "capacity_t": np.round(rng.uniform(100, 3000, n)),
        "capex_usd_m": np.round(rng.uniform(20, 400, n)), "online_year": rng.choice([2026, 2028, 2031], n),
        "usa_share": rng.choice([0.0, 0.5, 1.0], n), "success_prob": np.round(rng.uniform(0.3, 1.0, n), 2),
        "floor_price_usd_per_t": np.nan, "offtake_t": 0.0, "status": "", "source": "test"})


def subsets(n: int) -> np.ndarray:
    """Every 0/1 choice of n projects, one per row (2^n x n)."""
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)[None, :]) & 1).astype(float)


def feasible(c: pd.DataFrame, x: np.ndarray, bu: float, bj: float, reqs: list) -> np.ndarray:
    """Which rows of x (choices) keep both budgets and the requirements."""
    cost = c["capex_usd_m"].to_numpy(float)
    share = c["usa_share"].to_numpy(float)
    ok = (x @ (share * cost) <= bu + 1e-9) & (x @ ((1 - share) * cost) <= bj + 1e-9)
    for chain, stage, k in reqs:
        sel = ((c["chain"] == chain) & ((c["stage"] == stage) if stage else True)).to_numpy(float)
        ok &= x @ sel >= k
    return np.atleast_1d(ok)


@pytest.mark.parametrize("seed", range(6))
def test_capacity_milp_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(8, 13))
    c = random_candidates(rng, n)
    weights = {"magnet": 2.0, "metal-alloy": 1.0, "separated-oxides": 0.5}
    w = (c["success_prob"] * c["capacity_t"] * c["stage"].map(weights) * (c["online_year"] <= 2030)).to_numpy()
    bu, bj = float(rng.uniform(200, 800)), float(rng.uniform(100, 600))
    reqs = [(CHAIN, "magnet", 1)] if seed % 2 else []
    pb = PortfolioProblem(cands=c, cost=c["capex_usd_m"].to_numpy(float), budget_usa=bu, budget_jpn=bj,
                          objective="capacity", weight=w, requirements=reqs)
    xs = subsets(n)
    ok = feasible(c, xs, bu, bj, reqs)
    best = float((xs[ok] @ w).max()) if ok.any() else -np.inf
    got = solve_portfolio(pb)
    if best == -np.inf:
        assert got is None
        return
    assert got is not None
    assert got[0] == pytest.approx(best, rel=1e-9, abs=1e-6)
    assert feasible(c, got[1][None, :].astype(float), bu, bj, reqs)[0]
    assert float((w * got[1]).sum()) == pytest.approx(got[0])


def _curves(rng: np.random.Generator) -> ValueCurves:
    vc = ValueCurves()
    for form in ("metal-alloy", "magnet"):
        d = rng.gamma(1.2, 40.0 if form == "magnet" else 15.0, (30, 6, 3)) * (rng.random((30, 6, 3)) < 0.5)
        vc.curves[(CHAIN, form)] = value_curve(d, np.array([3e5, 1e5, 5e4]), points=12)
    vc.convert = {(CHAIN, "metal-alloy", "metal-alloy"): 1.0, (CHAIN, "metal-alloy", "magnet"): CONVERT,
                  (CHAIN, "magnet", "magnet"): 1.0}
    return vc


def brute_shortfall_value(vc: ValueCurves, alloy: float, magnet: float) -> float:
    """max over f (alloy kept as alloy) of g_alloy(f) + g_magnet(magnet + (alloy − f)·CONVERT): the optimum of a
    sum of concave piecewise-linear functions is at a breakpoint of one of them (or an end)."""
    xa, ga = vc.curves[(CHAIN, "metal-alloy")]
    xm, gm = vc.curves[(CHAIN, "magnet")]

    def g(xs: np.ndarray, gs: np.ndarray, a: float) -> float:
        return float(np.interp(a, xs, gs))  # flat beyond the last breakpoint, as the MILP's cap

    cands = {0.0, alloy}
    cands |= {float(v) for v in xa if 0 <= v <= alloy}
    cands |= {alloy - (float(v) - magnet) / CONVERT for v in xm if 0 <= alloy - (float(v) - magnet) / CONVERT <= alloy}
    return max(g(xa, ga, f) + g(xm, gm, magnet + (alloy - f) * CONVERT) for f in cands)


@pytest.mark.parametrize("seed", range(5))
def test_shortfall_milp_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(7, 11))
    c = random_candidates(rng, n)
    c["stage"] = rng.choice(["metal-alloy", "magnet", "separated-oxides"], n)  # oxides: no curve, no value
    c["capacity_t"] = np.round(rng.uniform(20, 600, n))
    vc = _curves(rng)
    supply = (c["success_prob"] * c["capacity_t"] / 12.0 * (c["online_year"] <= 2030)).to_numpy()
    bu, bj = float(rng.uniform(200, 700)), float(rng.uniform(100, 500))
    pb = PortfolioProblem(cands=c, cost=c["capex_usd_m"].to_numpy(float), budget_usa=bu, budget_jpn=bj,
                          objective="shortfall", weight=supply, requirements=[], curves=vc)
    best = -np.inf
    alloy_i = (c["stage"] == "metal-alloy").to_numpy()
    mag_i = (c["stage"] == "magnet").to_numpy()
    xs = subsets(n)
    for x in xs[feasible(c, xs, bu, bj, [])]:
        best = max(best, brute_shortfall_value(vc, float((supply * x)[alloy_i].sum()),
                                               float((supply * x)[mag_i].sum())))
    got = solve_portfolio(pb)
    assert got is not None
    assert got[0] == pytest.approx(best, rel=1e-7)


def test_value_curve_is_concave_and_fills_the_dearest_use_first() -> None:
    d = np.array([[[10.0, 5.0]], [[0.0, 20.0]]])  # 2 runs, 1 month, 2 uses
    xs, gs = value_curve(d, np.array([1.0, 4.0]), points=5)
    # a = 5: run 0 covers the dearer use (5 t x 4), run 1 covers 5 t x 4 -> mean 20
    assert np.interp(5.0, xs, gs) == pytest.approx(20.0)
    assert gs[0] == 0 and np.all(np.diff(gs, 2) <= 1e-9)


def test_portfolio_result_is_consistent(world: critmin.World) -> None:
    rng = np.random.default_rng(7)
    c = random_candidates(rng, 4)
    c["online_year"] = 2027
    res = optimize_portfolio(world, budget_usa=300, budget_jpn=200, objective="capacity", cands=c,
                             frontier=(0.0, 1.0, 2.0))
    w = c["success_prob"] * c["capacity_t"]
    assert res.objective == pytest.approx(float(w[c["project"].isin(res.chosen["project"])].sum()))
    assert list(res.frontier["value"]) == sorted(res.frontier["value"])  # more budget never less value
    assert res.frontier.loc[res.frontier["budget_multiple"] == 1.0, "value"].item() == pytest.approx(res.objective)
    for _, r in res.chosen.iterrows():  # a lone project's marginal value is at most its own value
        assert 0 <= r["marginal_value"] <= float(w[c["project"] == r["project"]].item()) + 1e-9
    assert len(res.chosen) + len(res.rejected) == 4
    assert res.rejected["needs"].str.len().min() > 0


def test_cli_portfolio_registry(cli, tmp_path) -> None:  # noqa: ANN001 - fixtures
    plot = tmp_path / "frontier.html"
    r = cli("optimize", "portfolio", "--budget-usa", "600", "--budget-jpn", "600", "--objective", "capacity",
            "--json", "--plot", plot)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["objective"] > 0 and out["chosen"] and out["frontier"]
    assert {"project", "chain", "stage", "capex_usd_m", "marginal_value_per_usd"} <= set(out["chosen"][0])
    assert all(p["chain"] in critmin.load().chains for p in out["chosen"])
    assert plot.read_text().count("plotly") > 0


def test_price_floor_payout_adds_to_the_cost(world: critmin.World) -> None:
    from critmin.optimize.portfolio import floor_payouts
    from critmin.optimize.simulated import cost_data

    rng = np.random.default_rng(3)
    c = random_candidates(rng, 3)
    c["stage"] = "separated-oxides"
    p0 = cost_data()["prices"][CHAIN]["separated-oxides"]["price_usd_per_t"]
    c.loc[0, ["floor_price_usd_per_t", "offtake_t"]] = [p0 + 10_000.0, 1200.0]  # 10k US$/t above the price
    c.loc[1, ["floor_price_usd_per_t", "offtake_t"]] = [p0 - 5_000.0, 1200.0]  # below it: never pays
    pay = floor_payouts(c, None, months=36)
    # without price paths: (floor - price) x offtake/12 per month for 36 months, in US$ m
    assert pay[0] == pytest.approx(10_000.0 * 1200 / 12 * 36 / 1e6)
    assert pay[1] == 0 and pay[2] == 0
    c["online_year"] = 2027
    res = optimize_portfolio(world, budget_usa=5000, budget_jpn=5000, objective="capacity", cands=c, frontier=(1.0,))
    got = pd.concat([res.chosen, res.rejected]).set_index("project")
    assert got.loc["p0", "cost_usd_m"] == pytest.approx(c.loc[0, "capex_usd_m"] + pay[0])
