"""Issue 10: shocks that look like real controls (licensing with a backlog, end-use targeting, leakage through
third countries), calendar-pinned scenarios, rationing by priority, regional prices and pooled stocks with
contributions, on the toy worlds of test_simulate_support (no working stocks there, so flows show directly)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_simulate_support import embargo, scenario, sole_supplier_world

from critmin.errors import InputError
from critmin.simulate.engine import prepare
from critmin.simulate.kernel import load_defaults, sample, simulate_chunk
from critmin.simulate.scenario import parse_scenario


@pytest.fixture(scope="module")
def world():
    return sole_supplier_world()


def _run(world: Any, sc: dict[str, Any], runs: int = 2, seed: int = 0) -> tuple[Any, Any, dict[str, np.ndarray]]:
    _, model, plan = prepare(world, sc)
    out = simulate_chunk(model, plan, sample(plan, runs, seed))
    return model, plan, out


def _exports_to(model: Any, out: dict[str, np.ndarray], runs: int = 2) -> np.ndarray:
    """Mean t/month CHN ships of the product stage, by month."""
    s, chn = model.stage_index("product"), model.country_index("CHN")
    return out["exports_sum"][:, s, chn] / runs


def _licensing(**kw: Any) -> dict[str, Any]:
    return {"type": "licensing", "origin": "CHN", "stages": ["product"], "destinations": ["USA"], **kw}


def test_licence_backlog_ships_on_approval_with_a_catch_up_above_baseline(world) -> None:
    sc = scenario([_licensing(approval={"schedule": {4: 1.0}}, delay_months=1)])
    model, _, out = _run(world, sc)
    base = _exports_to(model, _run(world, scenario())[2])
    usa = model.flows[model.stage_index("product"), model.country_index("CHN"), model.country_index("USA")]
    ex = _exports_to(model, out)
    np.testing.assert_allclose(ex[:3], base[:3] - usa, rtol=1e-9)  # months 1-3: nothing licensed to the US
    # month 4: the three waiting months ship on top of the month's eligible flow... minus this month's own
    # application, which waits its one-month delay: 3 months of backlog, 1 month withheld
    assert ex[3] == pytest.approx(base[3] + 2 * usa, rel=1e-9)
    assert ex[3] > base[3]  # the catch-up above baseline
    np.testing.assert_allclose(ex[4:], base[4:], rtol=1e-9)  # then one month's flow a month
    assert out["balance_residual"].max() < 1e-9


def test_licence_delay_and_release_of_the_backlog_when_licensing_ends(world) -> None:
    sc = scenario([_licensing(approval=1.0, delay_months=2, duration=5)])
    model, _, out = _run(world, sc)
    usa = model.flows[model.stage_index("product"), model.country_index("CHN"), model.country_index("USA")]
    base = _exports_to(model, _run(world, scenario())[2])
    ex = _exports_to(model, out)
    np.testing.assert_allclose(ex[:2], base[:2] - usa, rtol=1e-9)  # waiting for the first approvals
    np.testing.assert_allclose(ex[2:5], base[2:5], rtol=1e-9)  # one month approved a month
    assert ex[5] == pytest.approx(base[5] + 2 * usa, rel=1e-9)  # licensing over: the two waiting months ship
    assert ex.sum() == pytest.approx(base.sum(), rel=1e-9)  # nothing lost over the horizon


def test_ramp_of_approvals_and_distribution(world) -> None:
    sc = scenario([_licensing(approval={"ramp": {"from": 0.0, "to": 1.0, "months": 4}})])
    model, _, out = _run(world, sc, runs=4)
    usa = model.flows[model.stage_index("product"), model.country_index("CHN"), model.country_index("USA")]
    base = _exports_to(model, _run(world, scenario(), runs=4)[2], runs=4)
    ex = _exports_to(model, out, runs=4)
    assert ex[0] == pytest.approx(base[0] - usa)  # share 0 in the first month
    assert (np.diff(ex[:4]) > 0).all()  # approvals rise with the ramp
    assert ex[:12].sum() == pytest.approx(base[:12].sum(), rel=1e-9)  # by month 5 the whole backlog has shipped


def test_end_use_targeting_withholds_only_the_defence_share(world) -> None:
    sc = scenario([_licensing(end_use=["defence"])])  # approval 0: defence users get nothing
    model, _, out = _run(world, sc)
    s, chn, usa = model.stage_index("product"), model.country_index("CHN"), model.country_index("USA")
    d = model.demand0[usa]
    defence_share = d[model.sectors.index("defence")] / d.sum()
    base = _exports_to(model, _run(world, scenario())[2])
    ex = _exports_to(model, out)
    np.testing.assert_allclose(base - ex, model.flows[s, chn, usa] * defence_share, rtol=1e-9)


def test_leakage_reaches_the_target_through_the_via_country_after_the_delay(world) -> None:
    sc = scenario([embargo(["USA"]), {"type": "leakage", "of": 0, "via": ["JPN"], "share": 0.5,
                                      "delay_months": 2}])
    model, _, out = _run(world, sc)
    s = model.stage_index("product")
    chn, usa, jpn = (model.country_index(c) for c in ("CHN", "USA", "JPN"))
    blocked = model.flows[s, chn, usa]
    jpn_ex = out["exports_sum"][:, s, jpn] / 2
    np.testing.assert_allclose(jpn_ex[:2], 0.0, atol=1e-12)  # in transit
    np.testing.assert_allclose(jpn_ex[2:], 0.5 * blocked, rtol=1e-9)  # shows as Japan's exports
    short = out["shortfall"][:, :, usa].sum(axis=-1).mean(axis=0)
    demand = model.demand0[usa].sum()
    np.testing.assert_allclose(short[:2], demand, rtol=1e-6)
    np.testing.assert_allclose(short[2:], 0.5 * demand, rtol=1e-6)  # half the US loss made good
    assert out["balance_residual"].max() < 1e-9


def test_calendar_pinned_scenario_starts_shocks_on_their_month(world) -> None:
    sc = dict(scenario([embargo(["USA"], start="2025-06")]), start="2025-04", baseline_year=2024)
    parsed = parse_scenario(sc)
    assert parsed.month_labels(3) == ["2025-04", "2025-05", "2025-06"]
    assert parsed.year == 2024
    model, plan, out = _run(world, sc)
    assert plan.month_labels[:3] == ["2025-04", "2025-05", "2025-06"]
    usa = model.country_index("USA")
    short = out["shortfall"][:, :, usa].sum(axis=(0, 2))
    assert short[:2].max() == 0 and short[2] > 0
    with pytest.raises(InputError, match=r"shocks\[0\]\.start: .*before the scenario's start"):
        parse_scenario(dict(sc, start="2025-07"))
    with pytest.raises(InputError, match=r"shocks\[0\]\.start: .*needs the scenario's start"):
        parse_scenario(scenario([embargo(["USA"], start="2025-06")]))


def test_priority_rationing_serves_defence_first(world) -> None:
    shock = [embargo(["USA"], fraction=0.5)]
    model, _, out = _run(world, scenario(shock))
    usa, ev, de = model.country_index("USA"), model.sectors.index("ev"), model.sectors.index("defence")
    short = out["shortfall"][:, :, usa].mean(axis=(0, 1))
    assert short[de] == 0.0  # defence (40% of use) fits in the half that still arrives
    assert short[ev] == pytest.approx(0.5 * model.demand0[usa].sum(), rel=1e-6)  # ev takes the whole cut
    _, _, prop = _run(world, scenario(shock, rationing={"policy": "proportional"}))
    ps = prop["shortfall"][:, :, usa].mean(axis=(0, 1))
    assert ps[de] == pytest.approx(0.5 * model.demand0[usa, de], rel=1e-6)  # proportional: everyone loses half
    _, _, flip = _run(world, scenario(shock, rationing={"priorities": {"defence": "other", "ev": "defence"}}))
    fs = flip["shortfall"][:, :, usa].mean(axis=(0, 1))  # priorities are data a scenario can change:
    assert fs[de] == pytest.approx(model.demand0[usa, de], rel=1e-6)  # defence last gets nothing
    assert fs[ev] == pytest.approx(0.5 * model.demand0[usa].sum() - model.demand0[usa, de], rel=1e-6)


def test_regional_prices_split_china_from_the_rest_of_the_world(world) -> None:
    resp = {"elasticities": {"demand": -0.2, "supply": 0.2}, "precautionary_months": 0}
    _, plan, out = _run(world, scenario([embargo(["USA", "JPN"])], price_speed=1.0, **resp))
    assert plan.regions == ["china", "rest-of-world"]
    pr = out["price_region"]  # (runs, months, stages, regions)
    s = 1
    assert (pr[:, :, s, 0] < 1.0).all()  # China keeps what it may not ship: its domestic price falls
    assert (pr[:, :, s, 1] > 1.0).all()  # the rest of the world is short: its price rises
    # the rule: (what the region holds / what it wants) ** (-1 / (eps_s - eps_d)), between floor and cap
    chn_q = 1200.0 / 12 / 2  # t/month of product (factor 2)
    home = chn_q - (120 + 60 + 30) / 12  # what China uses itself
    ratio_chn = (home + (120 + 60) / 12) / home  # it holds its own use plus the blocked exports
    floor = load_defaults()["prices"]["floor"]["value"]
    assert pr[0, 0, s, 0] == pytest.approx(max(floor, ratio_chn ** (-1 / 0.4)), rel=1e-6)
    deu = (30 / 12) / (30 / 12 + (120 + 60) / 12)  # only Germany's imports still arrive in the rest of the world
    assert pr[0, 0, s, 1] == pytest.approx(min(30.0, deu ** (-1 / 0.4)), rel=1e-6)
    # prices move a share `price_speed` of the way (in logs) towards the clearing index each month
    _, _, slow = _run(world, scenario([embargo(["USA", "JPN"])], price_speed=0.25, **resp))
    assert slow["price_region"][0, 0, s, 1] == pytest.approx(pr[0, 0, s, 1] ** 0.25, rel=1e-6)
    assert slow["price_region"][0, 1, s, 1] == pytest.approx(pr[0, 0, s, 1] ** (1 - 0.75 ** 2), rel=1e-6)
    _, _, out0 = _run(world, scenario())
    assert (out0["price_region"] == 1.0).all()  # the baseline clears at 1 everywhere


def test_pool_with_contributions_shares_by_its_allocation_key(world) -> None:
    pool = {"holder": "USA+JPN", "stage": "product", "contributions": {"USA": 100.0, "JPN": 300.0},
            "allocation": "contributions", "max_monthly_release": 40.0}
    model, _, out = _run(world, scenario([embargo(["USA"])], stockpiles=[pool]))
    rel = out["release"][0, :, 0]
    assert rel.max() == pytest.approx(0.25 * 40.0)  # the US draws only its quarter of the monthly release
    np.testing.assert_allclose(rel, 0.25 * 40.0)  # every month of the 12 (the key shares each month's release)


def test_replenishment_refills_the_stock_from_surplus_after_a_release(world) -> None:
    sp = {"holder": "USA", "stage": "product", "tonnes": 10.0, "replenish_t_per_month": 5.0}
    shocks = [embargo(["USA"], duration=1), {"type": "demand_surge", "country": "USA", "sector": "all",
                                            "factor": 0.5, "start": 2, "duration": 2},
              embargo(["USA"], start=5, duration=1)]
    _, _, out = _run(world, scenario(shocks, stockpiles=[sp]))
    rel = out["release"][0, :, 0]
    assert rel[0] == pytest.approx(10.0)  # month 1: all of it
    assert rel[4] == pytest.approx(10.0)  # month 5: refilled from the US surplus of months 2-3 (5 t each)
    _, _, bare = _run(world, scenario(shocks, stockpiles=[dict(sp, replenish_t_per_month=None)]))
    assert bare["release"][0, 4, 0] == 0.0  # without replenishment the stock is gone
    assert out["balance_residual"].max() < 1e-9


def test_recycling_adds_domestic_secondary_supply_after_its_lead_time(world) -> None:
    shock = [embargo(["USA"], fraction=0.5)]
    model, _, base = _run(world, scenario(shock, rationing={"policy": "proportional"}))
    rec = {"stage": "product", "country": "USA", "share": 0.2, "lead_months": 2}
    _, _, out = _run(world, scenario(shock, rationing={"policy": "proportional"}, recycling=[rec]))
    usa, s = model.country_index("USA"), model.stage_index("product")
    use = model.consumption()[s, usa]
    short0 = base["shortfall"][0, :, usa].sum(axis=-1)
    short = out["shortfall"][0, :, usa].sum(axis=-1)
    assert short[0] == pytest.approx(short0[0])  # month 1: the market turns short, recycling not yet running
    assert short[1] == pytest.approx(short0[1] - 0.5 * 0.2 * use, rel=1e-6)  # half-way up its 2-month ramp
    assert short[3:] == pytest.approx(short0[3:] - 0.2 * use, rel=1e-6)  # then 20% of baseline use
    assert out["production_sum"][3, s, usa] / 2 == pytest.approx(0.2 * use)  # it shows as US output
    assert out["balance_residual"].max() < 1e-9
