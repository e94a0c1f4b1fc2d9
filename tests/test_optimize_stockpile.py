"""Stockpile LP: closed forms (newsvendor, the hand-worked release-cap case), Pyomo agreement, pooling, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from critmin.optimize import files
from critmin.optimize.stockpile import make_problem, optimize_stockpile

DATA = Path(__file__).parent / "data" / "optimize"
COST_HEADER = "material,price_usd_per_t,holding_usd_per_t_year,shortage_usd_per_t,max_release_t_per_month\n"
SF_HEADER = "scenario,probability,holder,material,month,shortfall_t\n"


def write_ensemble(path: Path, d: np.ndarray, p: np.ndarray, holders: list[str], materials: list[str]) -> Path:
    """d: (scenario, holder, material, month) t/month → the file-mode CSV."""
    lines = [SF_HEADER]
    for s in range(d.shape[0]):
        for h, hn in enumerate(holders):
            for m, mn in enumerate(materials):
                for t in range(d.shape[3]):
                    lines.append(f"s{s},{float(p[s])!r},{hn},{mn},{t + 1},{float(d[s, h, m, t])!r}\n")
    path.write_text("".join(lines))
    return path


def write_costs(path: Path, rows: list[tuple]) -> Path:
    path.write_text(COST_HEADER + "".join(",".join(str(x) for x in r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_newsvendor_quantile(tmp_path: Path, seed: int) -> None:
    """One holder, one month, release unlimited: the stock is the (1 − c/s) quantile of the shortfall."""
    rng = np.random.default_rng(seed)
    n = 25
    d = np.round(rng.gamma(2.0, 50.0, n), 3)
    p = rng.dirichlet(np.ones(n))
    p = p / p.sum()
    price, holding, shortage = 70.0, 36.0, 400.0  # c = 70 + 36/12 = 73 per t for the one-month horizon
    c = price + holding / 12.0
    sf = write_ensemble(tmp_path / "sf.csv", d[:, None, None, None], p, ["USA"], ["ndpr"])
    co = write_costs(tmp_path / "c.csv", [("ndpr", price, holding, shortage, "")])
    ens, costs = files.read_file_mode(sf, co)
    res = optimize_stockpile(ens, costs)
    q = 1.0 - c / shortage
    order = np.argsort(d)
    cum = np.cumsum(ens.probability[order])
    expected = float(d[order][np.searchsorted(cum, q)])  # the smallest x with P(D <= x) >= q
    assert not np.isclose(cum, q, atol=1e-9).any()  # a unique quantile, so the LP's optimum is unique
    assert res.plan["stock_t"].iloc[0] == pytest.approx(expected, abs=1e-6)
    s = expected
    closed = c * s + shortage * float((ens.probability * np.maximum(d - s, 0)).sum())
    assert res.objective_usd == pytest.approx(closed, rel=1e-9)


def test_release_cap_case_by_hand() -> None:
    """docs/optimize.md, 'A case worked by hand': stock 20 t, expected unmet 25 t, US$27,200."""
    ens, costs = files.read_file_mode(DATA / "capcase_shortfalls.csv", DATA / "capcase_costs.csv")
    res = optimize_stockpile(ens, costs)
    row = res.plan.iloc[0]
    assert row["stock_t"] == pytest.approx(20.0, abs=1e-9)
    assert row["cost_usd"] == pytest.approx(2200.0, abs=1e-6)
    assert row["expected_unmet_t"] == pytest.approx(25.0, abs=1e-9)
    assert res.objective_usd == pytest.approx(27200.0, abs=1e-6)
    # without the cap the same ensemble is covered in full: 60 t at US$110 = US$6,600
    costs.max_release[:] = np.inf
    free = optimize_stockpile(ens, costs)
    assert free.plan["stock_t"].iloc[0] == pytest.approx(60.0, abs=1e-9)
    assert free.objective_usd == pytest.approx(6600.0, abs=1e-6)


def test_budget_shadow_price_matches_finite_difference() -> None:
    ens, costs = files.read_file_mode(DATA / "capcase_shortfalls.csv", DATA / "capcase_costs.csv")
    a = optimize_stockpile(ens, costs, budget=1000.0)
    b = optimize_stockpile(ens, costs, budget=1010.0)
    assert a.plan["cost_usd"].sum() == pytest.approx(1000.0)
    # between 10 and 15 t both scenarios gain US$1000/t for US$110/t: d obj / d budget = -(1000 - 110)/110
    assert a.budget_shadow_usd_per_usd == pytest.approx(-(1000 - 110) / 110, rel=1e-9)
    assert (b.objective_usd - a.objective_usd) / 10.0 == pytest.approx(a.budget_shadow_usd_per_usd, rel=1e-9)


def _random_case(tmp_path: Path, seed: int, n: int = 12, months: int = 4) -> tuple:
    rng = np.random.default_rng(seed)
    holders, mats = ["USA", "JPN"], ["magnet", "ndpr"]
    d = rng.gamma(1.5, 20.0, (n, 2, 2, months)) * (rng.random((n, 2, 2, months)) < 0.6)
    d = np.round(d, 4)
    p = rng.dirichlet(np.ones(n))
    sf = write_ensemble(tmp_path / f"sf{seed}.csv", d, p, holders, mats)
    co = write_costs(tmp_path / f"c{seed}.csv", [("magnet", 50, 6, 300, 25), ("ndpr", 80, 10, 500, 15)])
    return files.read_file_mode(sf, co)


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_pooled_never_costs_more_than_separate(tmp_path: Path, seed: int) -> None:
    ens, costs = _random_case(tmp_path, seed)
    floors = {("JPN", "magnet"): 10.0, ("USA", "ndpr"): 5.0} if seed % 2 else None
    sep = optimize_stockpile(ens, costs, "USA,JPN", floors=floors)
    pool = optimize_stockpile(ens, costs, "USA+JPN", floors=floors)
    assert pool.objective_usd <= sep.objective_usd + 1e-6 * max(1.0, abs(sep.objective_usd))
    assert set(sep.plan["holder"]) == {"USA", "JPN"} and set(pool.plan["holder"]) == {"USA+JPN"}
    if floors:  # a separate holder keeps at least its floor
        s = sep.plan.set_index(["holder", "material"])["stock_t"]
        assert s[("JPN", "magnet")] >= 10.0 - 1e-9 and s[("USA", "ndpr")] >= 5.0 - 1e-9


@pytest.mark.parametrize("kw", [{}, {"holders": "USA+JPN", "floors": {("JPN", "magnet"): 8.0}},
                                {"holders": "USA,JPN", "budget": 900.0},
                                {"holders": "USA+JPN", "cvar": 0.8, "lam": 0.5}])
def test_pyomo_build_agrees(tmp_path: Path, kw: dict) -> None:
    pytest.importorskip("pyomo.environ")
    from critmin.optimize.pyomo_build import build_pyomo, solve_pyomo

    ens, costs = _random_case(tmp_path, 21)
    holders = kw.pop("holders", None)
    res = optimize_stockpile(ens, costs, holders, **kw)
    pb = make_problem(ens, costs, holders, kw.get("floors"), kw.get("budget"), kw.get("cvar"), kw.get("lam", 0.0))
    obj = solve_pyomo(build_pyomo(pb), pb)
    assert abs(obj - res.objective_usd) <= 1e-6 * max(1.0, abs(obj))


def test_cvar_term_is_the_rockafellar_uryasev_value(tmp_path: Path) -> None:
    ens, costs = _random_case(tmp_path, 31)
    plain = optimize_stockpile(ens, costs, "USA+JPN", cvar=0.9, lam=1e-9)
    risky = optimize_stockpile(ens, costs, "USA+JPN", cvar=0.9, lam=2.0)
    # the reported objective is first stage + E[L] + λ·CVaR of the plan's own losses
    assert risky.objective_usd == pytest.approx(risky.first_stage_cost_usd + risky.expected_shortage_cost_usd
                                                + 2.0 * risky.cvar_usd, rel=1e-7)
    assert risky.cvar_usd <= plain.cvar_usd + 1e-6  # weighting the tail never makes the tail worse
    assert risky.plan["stock_t"].sum() >= plain.plan["stock_t"].sum() - 1e-6


def test_cli_file_mode_json(cli) -> None:  # noqa: ANN001 - fixture
    r = cli("optimize", "stockpile", "--shortfalls", DATA / "capcase_shortfalls.csv", "--costs",
            DATA / "capcase_costs.csv", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["objective_usd"] == pytest.approx(27200.0)
    assert out["plan"] == [{"holder": "USA", "material": "magnet", "stock_t": pytest.approx(20.0),
                            "cost_usd": pytest.approx(2200.0), "expected_unmet_t": pytest.approx(25.0),
                            "expected_unmet_without_t": pytest.approx(42.0), "p95_unmet_t": pytest.approx(40.0),
                            "p95_unmet_without_t": pytest.approx(60.0)}]


@pytest.mark.parametrize("holders", ["USA+JPN", "USA,JPN"])
def test_cli_simulation_mode(cli, holders: str) -> None:  # noqa: ANN001 - fixture
    r = cli("optimize", "stockpile", "ree-magnet-embargo-us-jpn-12m", "--holders", holders, "--runs", "6",
            "--seed", "3", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["scenario"] == "ree-magnet-embargo-us-jpn-12m" and out["runs"] == 6 and out["seed"] == 3
    plan = out["plan"]
    assert {p["holder"] for p in plan} == set(holders.split(","))
    for p in plan:
        for k in ("stock_t", "cost_usd", "expected_unmet_t", "p95_unmet_t", "p95_unmet_without_t", "months_of_cover"):
            assert k in p
        assert p["expected_unmet_t"] <= p["expected_unmet_without_t"] + 1e-6
    assert sum(p["stock_t"] for p in plan) > 0  # a 12-month embargo is worth a stock at these costs
    rules = {r["rule"] for r in out["rules"]}
    assert rules == {"60 days", "100 days"}
    assert all(r["extra_cost_usd"] >= -1e-6 * abs(r["objective_usd"]) for r in out["rules"])
    comp = {c["holding"]: c["objective_usd"] for c in out["pooled_vs_separate"]}
    assert comp["USA+JPN"] <= comp["USA,JPN"] * (1 + 1e-9)


def test_world_accessor_is_the_same_model() -> None:
    import critmin
    from critmin.optimize.simulated import stockpile

    w = critmin.load()
    a = w.optimize.stockpile("ree-magnet-embargo-us-jpn-12m", holders="USA,JPN", runs=4, seed=5, rules=(),
                             compare=False)
    b = stockpile(w, "ree-magnet-embargo-us-jpn-12m", holders="USA,JPN", runs=4, seed=5, rules=(), compare=False)
    assert a.result.objective_usd == pytest.approx(b.result.objective_usd, rel=1e-12)


def test_pyomo_agrees_in_simulation_mode() -> None:
    """Sectors as uses, per-member release caps as constraints, defence valued higher: the same LP both ways."""
    pytest.importorskip("pyomo.environ")
    import critmin
    from critmin.optimize.ensemble import from_simulation, simulate_runs
    from critmin.optimize.pyomo_build import build_pyomo, solve_pyomo
    from critmin.optimize.simulated import costs_for

    ds = simulate_runs(critmin.load(), "ree-magnet-embargo-us-jpn-12m", 6, 2)
    ens = from_simulation(ds, ["USA", "JPN"])
    costs = costs_for(ens, "rare-earth-magnets")
    assert ens.shortfall.sizes["use"] > 1 and np.isfinite(costs.max_release.values).all()
    res = optimize_stockpile(ens, costs, "USA+JPN")
    pb = make_problem(ens, costs, "USA+JPN")
    obj = solve_pyomo(build_pyomo(pb), pb)
    assert abs(obj - res.objective_usd) <= 1e-6 * max(1.0, abs(obj))


def test_core_does_not_import_the_cli() -> None:
    import subprocess
    import sys

    code = ("import sys; from critmin.optimize import files, optimize_stockpile; "
            "e, c = files.read_file_mode(sys.argv[1], sys.argv[2]); optimize_stockpile(e, c).to_dict(); "
            "import critmin.optimize.portfolio, critmin.optimize.simulated; "
            "print(sorted(m for m in sys.modules if m.startswith('critmin.cli')))")
    out = subprocess.run([sys.executable, "-c", code, str(DATA / "capcase_shortfalls.csv"),
                          str(DATA / "capcase_costs.csv")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_file_mode_xlsx_and_plot(cli, tmp_path: Path) -> None:  # noqa: ANN001 - fixture
    import pandas as pd

    book, page = tmp_path / "plan.xlsx", tmp_path / "plan.html"
    r = cli("optimize", "stockpile", "--shortfalls", DATA / "capcase_shortfalls.csv", "--costs",
            DATA / "capcase_costs.csv", "--xlsx", book, "--plot", page, "--budget", "1000")
    assert r.returncode == 0, r.stderr
    sheets = pd.read_excel(book, sheet_name=None)
    assert {"plan", "release", "run", "sources"} <= set(sheets)
    assert sheets["plan"]["stock_t"].iloc[0] == pytest.approx(1000 / 110)
    assert sheets["run"]["budget_shadow_usd_per_usd"].iloc[0] == pytest.approx(-(1000 - 110) / 110)
    assert "P95, with the plan" in page.read_text()
