"""The monthly kernel: baseline, embargo, stockpile, mass balance, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_simulate_support import (
    COUNTRIES,
    embargo,
    embargo_world,
    scenario,
    sole_supplier_world,
    toy_world,
    two_stage_chain,
)

from critmin import simulate
from critmin.simulate.engine import prepare
from critmin.simulate.kernel import load_defaults


def test_model_baseline_is_balanced():
    w = toy_world(
        production={"CHN": 1200.0, "AUS": 240.0},
        ore_trade={("AUS", "JPN"): 240.0, ("CHN", "KOR"): 100.0},
        product_trade={("CHN", "USA"): 120.0, ("JPN", "USA"): 24.0, ("KOR", "DEU"): 12.0},
    )
    _, m, _ = prepare(w, scenario())
    cons = m.consumption()  # (S, C)
    use = np.einsum("ts,tc->sc", m.factors, m.q0)  # inputs used by downstream stages
    final = np.zeros_like(cons)
    for k, s in enumerate(m.sector_stage):
        final[s] += m.demand0[:, k]
    np.testing.assert_allclose(cons, use + final, atol=1e-9)
    # annual production / 12 for the mined stage; product derived from ore via factor 2
    assert m.q0[0].sum() == pytest.approx((1200 + 240) / 12)
    assert m.q0[1].sum() == pytest.approx(m.q0[0].sum() / 2)
    # the end-use split follows the chain's shares
    ev, de = m.sectors.index("ev"), m.sectors.index("defence")
    assert m.demand0[:, ev].sum() / m.demand0[:, de].sum() == pytest.approx(0.6 / 0.4)


def test_baseline_zero_shortfall_everywhere():
    w = toy_world(
        production={"CHN": 1200.0, "AUS": 240.0},
        ore_trade={("AUS", "JPN"): 240.0},
        product_trade={("CHN", "USA"): 120.0, ("JPN", "USA"): 24.0},
    )
    # default (judgement) responses, distributions and all: still nothing happens without a shock
    ds = simulate.run(w, {"name": "b", "title": "b", "chain": "toy", "horizon": 24}, runs=50, seed=3)
    assert float(np.abs(ds["shortfall"]).max()) == 0.0
    assert float(ds["price"].max()) == 1.0
    assert float(ds["balance_residual"].max()) < 1e-9


def test_full_embargo_of_sole_supplier_equals_affected_demand():
    w = sole_supplier_world()
    ds = simulate.run(w, scenario([embargo(["USA", "JPN"])]), runs=4, seed=0)
    sf = ds["shortfall"].sum("month")  # (run, country, sector)
    d0 = ds["demand0"] * ds.sizes["month"]
    for c in ("USA", "JPN"):
        np.testing.assert_allclose(
            sf.sel(country=c).values, np.broadcast_to(d0.sel(country=c).values, (4, 2))
        )
    assert float(sf.sel(country=["CHN", "DEU"]).max()) == 0.0
    assert float(ds["price"].max()) > 1.0


def test_embargo_timing_and_fraction():
    w = sole_supplier_world()
    ds = simulate.run(w, scenario([embargo("all", start=3, duration=4, fraction=0.5)]), runs=2, seed=0)
    usa = ds["shortfall"].sel(country="USA", run=0).sum("sector").values
    monthly = float(ds["demand0"].sel(country="USA").sum())
    expect = np.where((np.arange(1, 13) >= 3) & (np.arange(1, 13) < 7), 0.5 * monthly, 0.0)
    np.testing.assert_allclose(usa, expect)
    # the origin is never its own destination
    assert float(ds["shortfall"].sel(country="CHN").max()) == 0.0


def test_upstream_embargo_propagates_through_conversion_factors():
    # JPN makes product from CHN ore; cutting the ore cuts JPN's product and what JPN ships to DEU
    w = toy_world(
        production={"CHN": 1200.0},
        ore_trade={("CHN", "JPN"): 240.0},
        product_trade={("JPN", "DEU"): 60.0},
    )
    ds = simulate.run(w, scenario([embargo(["JPN"], stages=["ore"])]), runs=2, seed=0)
    d0 = ds["demand0"] * ds.sizes["month"]
    sf = ds["shortfall"].isel(run=0).sum("month")
    np.testing.assert_allclose(sf.sel(country=["JPN", "DEU"]).values, d0.sel(country=["JPN", "DEU"]).values)
    assert float(sf.sel(country="CHN").max()) == 0.0


@pytest.mark.parametrize("max_release", [100.0, 4.0])
def test_stockpile_release_lowers_cumulative_shortfall_by_its_size(max_release):
    w = sole_supplier_world()
    base = simulate.run(w, scenario([embargo(["USA"])]), runs=3, seed=0)
    X = 25.0
    sp = {"holder": "USA", "stage": "product", "tonnes": X, "max_monthly_release": max_release}
    with_sp = simulate.run(w, scenario([embargo(["USA"])], stockpiles=[sp]), runs=3, seed=0)
    diff = base["shortfall"].sum(["month", "country", "sector"]) - with_sp["shortfall"].sum(
        ["month", "country", "sector"]
    )
    np.testing.assert_allclose(diff.values, X, rtol=1e-6)
    np.testing.assert_allclose(with_sp["release"].sum("month").values, X)
    if max_release < X:
        assert float(with_sp["release"].max()) == pytest.approx(max_release)


def test_pooled_stockpile_triggered_by_month_serves_bloc_members():
    w = sole_supplier_world()
    sp = {
        "holder": "USA+JPN",
        "stage": "product",
        "tonnes": 1000,
        "max_monthly_release": 1000,
        "trigger": {"month": 4},
    }
    ds = simulate.run(w, scenario([embargo(["USA", "JPN"])], stockpiles=[sp]), runs=1, seed=0)
    sf = ds["shortfall"].isel(run=0).sum("sector")
    assert float(sf.sel(month=[1, 2, 3], country=["USA", "JPN"]).min()) > 0
    assert float(sf.sel(month=slice(4, None)).max()) == 0.0


def test_rerouting_moves_spare_supply_to_the_blocked_market():
    # AUS also makes product (from its own ore) and has spare capacity; friction 0 lets it all move
    w = toy_world(
        production={"CHN": 1200.0, "AUS": 600.0},
        product_trade={("CHN", "USA"): 120.0, ("AUS", "KOR"): 120.0},
    )
    sh = [embargo(["USA"])]
    stuck = simulate.run(w, scenario(sh), runs=1, seed=0)
    moved = simulate.run(
        w,
        scenario(sh, rerouting={"friction": 0}, capacity=[{"stage": "all", "spare": 0.5, "lead_months": 0}]),
        runs=1,
        seed=0,
    )
    a = float(stuck["shortfall"].sel(country="USA").sum())
    b = float(moved["shortfall"].sel(country="USA").sum())
    assert a > 0 and b < a
    assert float(moved["balance_residual"].max()) < 1e-9


def test_demand_surge_and_outage():
    w = sole_supplier_world()
    surge = {"type": "demand_surge", "country": "USA", "sector": "defence", "factor": 2.0, "duration": 6}
    ds = simulate.run(w, scenario([surge]), runs=1, seed=0)
    d = float(ds["demand0"].sel(country="USA", sector="defence"))
    # CHN has no spare capacity: the extra demand is rationed across all uses in the world
    assert float(ds["shortfall"].sel(month=slice(1, 6)).sum()) > 0
    assert float(ds["shortfall"].sel(month=slice(7, 12)).sum()) == 0
    assert float(ds["demand"].sel(country="USA", sector="defence", month=1)) == pytest.approx(2 * d)
    out = {"type": "production_outage", "country": "CHN", "stages": ["ore"], "fraction": 0.25, "duration": 2}
    ds = simulate.run(w, scenario([out]), runs=1, seed=0)
    total = float(ds["demand0"].sum())
    np.testing.assert_allclose(
        ds["shortfall"].isel(run=0).sum(["country", "sector"]).values[:2], 0.25 * total
    )


def test_substitution_reduces_demand_after_lead_time():
    w = sole_supplier_world()
    sub = [{"sector": "ev", "fraction": 1.0, "lead_months": 0}]
    ds = simulate.run(w, scenario([embargo(["USA"])], substitution=sub), runs=1, seed=0)
    ev = ds["shortfall"].sel(country="USA", sector="ev").isel(run=0).values
    assert ev[0] > 0 and ev[2:].max() == 0  # first shortage in month 1, fully substituted from month 2 on


def test_same_seed_same_result_and_seed_matters():
    w = sole_supplier_world()
    sc = scenario([embargo(["USA"], fraction={"dist": "uniform", "low": 0.2, "high": 1.0})])
    a = simulate.run(w, sc, runs=40, seed=11, chunk_size=16)
    b = simulate.run(w, sc, runs=40, seed=11, chunk_size=16)
    c = simulate.run(w, sc, runs=40, seed=12, chunk_size=16)
    assert a["shortfall"].equals(b["shortfall"]) and a["price"].equals(b["price"])
    assert not a["shortfall"].equals(c["shortfall"])


def test_summary_statistics():
    w = sole_supplier_world()
    sc = scenario([embargo(["USA"], fraction={"dist": "uniform", "low": 0.0, "high": 1.0})],
                  rationing={"policy": "proportional"})  # every use short alike, so ev's share is the fraction
    ds = simulate.run(w, sc, runs=200, seed=5)
    df = simulate.summarize(ds, threshold=0.5)
    row = df[(df.country == "USA") & (df.sector == "ev")].iloc[0]
    assert row.p5_t <= row.p50_t <= row.p95_t
    assert row.p95_t <= row.demand_t + 1e-9
    assert 0.35 < row.prob_shortfall < 0.65  # fraction > 0.5 in about half the runs
    assert df[df.country == "DEU"].mean_t.max() == 0


# ---------------------------------------------------------------------------------------------- property test

dist = st.one_of(
    st.floats(0, 1),
    st.tuples(st.floats(0, 1), st.floats(0, 1)).map(
        lambda ab: {"dist": "uniform", "low": min(ab), "high": max(ab)}
    ),
    st.tuples(st.floats(0, 0.5), st.floats(0.5, 1)).map(
        lambda ab: {"dist": "triangular", "low": ab[0], "mode": 0.5, "high": ab[1]}
    ),
    st.floats(0.1, 0.9).map(lambda m: {"dist": "normal", "mean": m, "sd": 0.3}),
)
place = st.sampled_from(COUNTRIES + ["USA+JPN", "ALLIES"])
ORIGINS = st.sampled_from(["CHN", "AUS", "JPN"])
DESTINATIONS = st.one_of(st.just("all"), st.lists(place, min_size=1, max_size=3))
STAGE_SETS = st.sampled_from([["ore"], ["product"], ["ore", "product"]])


def timed_shock(kind: str, **fields: st.SearchStrategy) -> st.SearchStrategy:
    """Shocks ``{"type": kind, **fields, "start": 1-6, "duration": 1-8}`` (each field drawn from its strategy)."""
    return st.fixed_dictionaries({"type": st.just(kind), **fields, "start": st.integers(1, 6),
                                  "duration": st.integers(1, 8)})


shock = st.one_of(
    timed_shock("export_restriction", origin=ORIGINS, stages=STAGE_SETS, destinations=DESTINATIONS, fraction=dist),
    timed_shock("production_outage", country=place, stages=st.sampled_from([["ore"], ["product"]]), fraction=dist),
    timed_shock(
        "licensing", origin=ORIGINS, stages=STAGE_SETS, destinations=DESTINATIONS,
        approval=st.one_of(
            dist,
            st.tuples(st.floats(0, 1), st.floats(0, 1), st.integers(0, 4)).map(
                lambda x: {"ramp": {"from": x[0], "to": x[1], "months": x[2]}}),
            st.tuples(st.integers(1, 4), st.floats(0, 1), st.floats(0, 1)).map(
                lambda x: {"schedule": {x[0]: x[1], x[0] + 2: x[2]}}),
        ),
        delay_months=st.integers(0, 3), refusal=dist,
    ),
    st.builds(
        lambda c, k, f, s: {"type": "demand_surge", "country": c, "sector": k, "factor": f, "start": s},
        place,
        st.sampled_from(["ev", "defence", "all"]),
        st.floats(0.0, 3.0),
        st.integers(1, 6),
    ),
)
stockpile = st.builds(
    lambda h, stg, x, m, trig: {
        "holder": h,
        "stage": stg,
        "tonnes": x,
        "max_monthly_release": m,
        "trigger": trig,
    },
    place,
    st.sampled_from(["ore", "product"]),
    st.floats(0, 500),
    st.floats(0, 50),
    st.sampled_from(["shortfall", {"month": 3}, {"price": 1.5}]),
).flatmap(lambda sp: st.one_of(st.just(sp), st.floats(0, 50).map(lambda r: dict(sp, replenish_t_per_month=r))))
leak = st.one_of(st.none(), st.builds(
    lambda v, sh, dl: {"type": "leakage", "of": 0, "via": v, "share": sh, "delay_months": dl},
    st.lists(st.sampled_from(COUNTRIES), min_size=1, max_size=2), dist, st.integers(0, 3)))
amounts = st.floats(1.0, 5000.0)
pairs = st.tuples(st.sampled_from(COUNTRIES), st.sampled_from(COUNTRIES))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    production=st.dictionaries(st.sampled_from(COUNTRIES), amounts, min_size=1, max_size=4),
    ore_trade=st.dictionaries(pairs, amounts, max_size=5),
    product_trade=st.dictionaries(pairs, amounts, max_size=6),
    factor=st.floats(0.2, 6.0),
    shocks=st.lists(shock, max_size=4),
    stockpiles=st.lists(stockpile, max_size=2),
    eps=st.tuples(st.floats(-1.0, 0.0), st.floats(0.0, 1.0)),
    friction=st.floats(0, 1),
    spare=st.floats(0, 1),
    lead=st.floats(0, 6),
    sub=st.floats(0, 1),
    leakage=leak,
    policy=st.sampled_from(["priority", "proportional"]),
)
def test_mass_balance_holds_every_month(
    production, ore_trade, product_trade, factor, shocks, stockpiles, eps, friction, spare, lead, sub, leakage,
    policy,
):
    w = toy_world(
        chain=two_stage_chain(factor=factor),
        production=production,
        ore_trade=ore_trade,
        product_trade=product_trade,
    )
    sc = scenario(
        shocks,
        stockpiles=stockpiles,
        elasticities={"demand": eps[0], "supply": eps[1]},
        rerouting={"friction": friction},
        capacity=[{"spare": spare, "lead_months": lead}],
        substitution=[{"sector": "ev", "fraction": sub, "lead_months": 2}],
        rationing={"policy": policy},
    )
    if leakage is not None and shocks and shocks[0]["type"] in ("export_restriction", "licensing"):
        sc["shocks"] = [*shocks, leakage]  # licensing queues, leakage, replenishment and priorities balance too
    ds = simulate.run(w, sc, runs=6, seed=1, chunk_size=4)
    scale = max(1.0, float(ds["production0"].sum()), sum(float(s["tonnes"]) for s in stockpiles))
    assert float(ds["balance_residual"].max()) <= 1e-9 * scale
    sf = ds["shortfall"].values
    assert sf.min() >= -1e-9 * scale
    assert float(ds["price"].min()) >= 1.0 - 1e-12
    cap = float(load_defaults()["price_cap"]["value"])  # the default cap (30, calibrated judgement)
    assert float(ds["price"].max()) <= cap + 1e-9
    assert (
        float(ds["release"].sum(["month", "stockpile"]).max())
        <= sum(float(s["tonnes"]) for s in stockpiles) + 1e-6
    )


def test_results_do_not_depend_on_run_blocking():
    # the kernel steps through runs in cache-sized blocks; any blocking gives the same numbers, bit for bit
    from critmin.simulate.kernel import sample, simulate_chunk

    w = embargo_world()
    sc = scenario(
        [embargo(["USA", "JPN"], fraction={"dist": "uniform", "low": 0.3, "high": 1.0})],
        capacity=[{"spare": {"dist": "uniform", "low": 0, "high": 0.3}, "lead_months": 2}],
        stockpiles=[{"holder": "USA+JPN", "stage": "product", "tonnes": 20, "max_monthly_release": 5}],
        substitution=[{"sector": "ev", "fraction": 0.5, "lead_months": 3}],
    )
    _, m, plan = prepare(w, sc)
    smp = sample(plan, 37, 4)
    whole = simulate_chunk(m, plan, smp, block=37)
    assert float(whole["shortfall"].sum()) > 0
    for block in (1, 5, 16):
        got = simulate_chunk(m, plan, smp, block=block)
        for k, v in whole.items():
            assert np.array_equal(got[k], v), (block, k)
    # chunks of run(): the per-run results are the same whatever the chunk size
    a = simulate.run(w, sc, runs=37, seed=4, chunk_size=37)
    b = simulate.run(w, sc, runs=37, seed=4, chunk_size=8)
    for var in ("shortfall", "price", "release", "balance_residual"):
        assert a[var].equals(b[var]), var
    np.testing.assert_array_equal(a["shortfall"].values, whole["shortfall"])


def test_large_outputs_are_zeroed_writable_arrays():
    # from 64 MiB up, kernel.zeros maps the array (huge pages where offered) instead of np.zeros
    from critmin.simulate.kernel import zeros

    shape = (2, (64 << 20) // 8 + 1)  # just above the threshold as float32
    big = zeros(shape, np.float32)
    assert big.shape == shape and big.dtype == np.float32 and big.flags.writeable
    assert not big.any()
    big[1, -1] = 3.0
    assert float(big.sum()) == 3.0
    small = zeros((3, 4))
    assert small.dtype == np.float64 and not small.any()
