"""Issue 10 (first part): private working stocks in the disruption model.

With working stocks at their baseline (months of use from the chain network), a full stop shows no
shortfall until the stocks run out; the baseline stays flat; mass balance holds with inventories.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import critmin
from critmin.simulate.model import build_model


def _stop_scenario(months: int = 36) -> dict:
    return {
        "name": "test-magnet-stop-jpn",
        "title": "test: China stops all NdFeB magnet exports to Japan",
        "chain": "rare-earth-magnets",
        "description": "A full stop of one flow, to test working stocks.",
        "source": ["test"],
        "horizon": months,
        "year": 2024,
        "shocks": [{"type": "export_restriction", "origin": "CHN", "stages": ["magnet"], "destinations": ["JPN"],
                    "fraction": 1.0, "start": 1}],
        "responses": {"capacity": [{"spare": 0.0, "lead_months": 6}]},
    }


@pytest.fixture(scope="module")
def world():
    return critmin.load()


@pytest.fixture(scope="module")
def model(world):
    return build_model(world, world.chains["rare-earth-magnets"], 2024)


def test_model_carries_working_stocks_from_the_network(world, model) -> None:
    net = world.network("rare-earth-magnets", 2024)
    m = model.stage_index("magnet")
    months = float(net.ds["inventory_months"].sel(stage="magnet"))
    assert months == pytest.approx(1.5)
    use = model.flows[m].sum(axis=0)  # t/month consumed (kept + imports)
    assert np.allclose(model.inventory0[m], months * use)
    assert model.inventory0[model.stage_index("mining")].sum() == 0  # no figure: no stock, not a guess


def test_baseline_with_stocks_stays_flat(world) -> None:
    ds = world.simulate("baseline", runs=4, seed=0)
    assert float(ds["shortfall"].sum()) == 0.0
    assert float(np.abs(ds["price"] - 1.0).max()) < 1e-9
    inv = ds["inventory"].sel(stage="magnet")
    assert np.allclose(inv.isel(month=-1), inv.isel(month=0), rtol=1e-9)
    assert float(inv.sum()) > 0


def test_full_stop_gives_no_shortfall_until_stocks_run_out(world, model) -> None:
    ds = world.simulate(_stop_scenario(), runs=8, seed=3)
    jpn = model.country_index("JPN")
    chn = model.country_index("CHN")
    m = model.stage_index("magnet")
    lost = model.flows[m, chn, jpn]  # t/month no longer shipped
    stock = model.inventory0[m, jpn]
    assert lost > 0 and stock > 0
    runs_out = stock / lost  # months of cover for the lost flow
    sectors = [str(k) for k, st in zip(ds["sector"].values, ds["sector_stage"].values, strict=True) if st == "magnet"]
    short = ds["shortfall"].sel(country="JPN", sector=sectors).sum("sector")  # (run, month)
    covered = math.floor(runs_out)
    assert covered >= 1
    assert float(short.sel(month=slice(1, covered)).max()) == 0.0  # stocks carry Japan through
    later = short.sel(month=slice(covered + 2, None))
    assert float(later.min(dim="month").min()) > 0 or float(later.sum()) > 0  # and then they run out
    # every month balances, now with inventories
    assert float(ds["balance_residual"].max()) < 1e-6 * max(1.0, float(model.q0.sum()))


def test_without_stocks_the_same_stop_bites_in_month_one(world) -> None:
    import dataclasses

    from critmin.simulate.engine import prepare
    from critmin.simulate.kernel import sample, simulate_chunk

    _, model, plan = prepare(world, _stop_scenario())
    samples = sample(plan, 8, 3)
    sectors = np.flatnonzero(model.sector_stage == model.stage_index("magnet"))
    jpn = model.country_index("JPN")
    with_stock = simulate_chunk(model, plan, samples)["shortfall"][:, 0, jpn, sectors]
    bare = simulate_chunk(dataclasses.replace(model, inventory0=None), plan, samples)["shortfall"][:, 0, jpn, sectors]
    assert with_stock.max() == 0.0 and bare.sum(axis=-1).min() > 0  # (defence is served first: summed)


@pytest.mark.parametrize("chain", ["rare-earth-magnets", "li-ion-batteries", "gallium-germanium", "antimony-tungsten"])
def test_every_real_chain_has_a_flat_baseline(world, chain) -> None:
    """No shock, no shortfall, no price change: balancing items (unrecorded supply) need no recorded input."""
    ds = world.simulate({"name": "b", "title": "b", "chain": chain, "horizon": 12}, runs=3, seed=0)
    assert float(ds["shortfall"].max()) == 0.0
    assert float(np.abs(ds["price"] - 1.0).max()) < 1e-9
    assert float(ds["balance_residual"].max()) < 1e-6
