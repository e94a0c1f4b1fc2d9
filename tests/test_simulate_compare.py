"""``simulate.compare`` / ``critmin simulate compare A B``: two scenarios, same seed, the difference B - A."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli
from test_simulate_cli import toy_world_dir  # noqa: F401 - the module's toy World folder fixture
from test_simulate_support import embargo, scenario, sole_supplier_world

from critmin import simulate
from critmin.errors import InputError
from critmin.simulate.compare import compare

X = 25.0  # t of product in the stockpile; the embargo leaves the USA short by far more


def _pair() -> tuple[dict, dict]:
    # an uncertain embargo: common random numbers give both scenarios the same fraction in each run
    shock = embargo(["USA"], fraction={"dist": "uniform", "low": 0.6, "high": 1.0})
    a = scenario([shock])
    b = scenario([shock], stockpiles=[{"holder": "USA", "stage": "product", "tonnes": X}])
    b["name"] = "t-stock"
    return a, b


@pytest.fixture(scope="module")
def result():
    a, b = _pair()
    return compare(sole_supplier_world(), a, b, runs=40, seed=3)


def test_a_binding_release_of_x_lowers_shortfall_by_x_in_every_run(result):
    usa = result.shortfall[result.shortfall["country"] == "USA"]
    assert usa["diff_mean_t"].sum() == pytest.approx(-X, rel=1e-6)
    # run by run (common random numbers: the same embargo fraction in run i of A and B) the change is -X
    per_run = (simulate.cumulative(result.b) - simulate.cumulative(result.a)).sel(country="USA").sum("sector")
    np.testing.assert_allclose(per_run.values, -X, rtol=1e-6)
    assert float(simulate.cumulative(result.a).sel(country="USA").sum("sector").std()) > 1  # the fraction varies
    assert (result.shortfall.loc[result.shortfall["country"] != "USA", "diff_mean_t"].abs() < 1e-9).all()
    assert result.sectors["diff_mean_t"].sum() == pytest.approx(-X, rel=1e-6)
    assert (usa["mean_b_t"] <= usa["mean_a_t"] + 1e-9).all()


def test_tables_are_b_minus_a(result):
    s = result.shortfall
    np.testing.assert_allclose(s["diff_mean_t"], s["mean_b_t"] - s["mean_a_t"], atol=1e-9)
    m = result.monthly
    assert {"country", "stage", "month", "mean_share_a", "mean_share_b", "diff_mean_share"} <= set(m.columns)
    usa = m[m["country"] == "USA"]
    assert usa["diff_mean_share"].min() < 0 and list(usa["month"]) == list(range(1, 13))
    p = result.price
    assert {"stage", "region", "month", "p50_a", "p50_b", "diff_mean"} <= set(p.columns)
    assert (p["diff_p5"] <= p["diff_mean"] + 1e-12).all() and (p["diff_mean"] <= p["diff_p95"] + 1e-12).all()
    assert result.meta["runs"] == 40 and result.meta["seed"] == 3


def test_same_scenario_twice_differs_by_nothing():
    a, _ = _pair()
    c = compare(sole_supplier_world(), a, a, runs=8, seed=1)
    assert (c.shortfall["diff_mean_t"] == 0).all() and (c.price["diff_mean"] == 0).all()
    assert c.shortfall["mean_a_t"].max() > 0


def test_scenarios_on_two_chains_are_refused():
    a, b = _pair()
    b["chain"] = "other"
    with pytest.raises(InputError, match="chain"):
        compare(sole_supplier_world(), a, b, runs=2)


def test_cli_json_plot_and_errors(toy_world_dir: Path, tmp_path: Path):  # noqa: F811
    a, b = _pair()
    fa, fb = tmp_path / "a.yaml", tmp_path / "b.yaml"
    fa.write_text(yaml.safe_dump(a), encoding="utf-8")
    fb.write_text(yaml.safe_dump(b), encoding="utf-8")
    html = tmp_path / "c.html"
    w = ["--world", str(toy_world_dir)]
    r = run_cli(*w, "simulate", "compare", str(fa), str(fb), "--runs", "12", "--seed", "2", "--json",
                "--plot", str(html))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["a"] == "t" and doc["b"] == "t-stock" and doc["runs"] == 12
    assert {"shortfall", "sectors", "monthly", "price"} <= set(doc)
    assert sum(x["diff_mean_t"] for x in doc["shortfall"] if x["country"] == "USA") == pytest.approx(-X, rel=1e-6)
    text = html.read_text(encoding="utf-8")
    assert "t-stock minus t" in text and "common random numbers" in text and "price index" in text
    t = run_cli(*w, "simulate", "compare", str(fa), str(fb), "--runs", "4")
    assert t.returncode == 0 and "B - A" in t.stdout and "USA" in t.stdout
    for args, name in ((["compare", str(fa)], "compare"), (["compare", str(fa), str(fb), "--plot", "x.png"], "--plot"),
                       ([str(fa), str(fb)], "simulate")):
        r = run_cli(*w, "simulate", *args, "--runs", "2")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and name in r.stderr, r.stderr


def test_library_pair_with_and_without_a_stockpile():
    import critmin

    c = simulate.compare.__module__  # the function is exported from critmin.simulate
    assert c == "critmin.simulate.compare"
    res = simulate.compare(critmin.load(), "ree-magnet-embargo-us-jpn-12m", "ree-magnet-embargo-us-jpn-12m-stockpile",
                           runs=6, seed=0, max_countries=15)
    total = res.sectors["diff_mean_t"].sum()
    assert total < 0  # the stocks lower the shortfall
    jpn_usa = res.shortfall[res.shortfall["country"].isin(["USA", "JPN"])]["diff_mean_t"].sum()
    assert jpn_usa < 0
