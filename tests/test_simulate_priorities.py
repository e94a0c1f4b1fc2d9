"""Issue 10 (part): stockpile releases reserved for chosen sectors (defence first) and pooled stocks with
member floors."""

from __future__ import annotations

import numpy as np
import pytest

import critmin
from critmin.errors import InputError


@pytest.fixture(scope="module")
def world():
    return critmin.load()


def _scenario(stockpile: dict, destinations: list[str], horizon: int = 12) -> dict:
    return {
        "name": "test-stockpile-policy",
        "title": "test: China stops magnets to some importers; a stockpile answers",
        "chain": "rare-earth-magnets",
        "source": ["test"],
        "horizon": horizon,
        "year": 2024,
        "shocks": [{"type": "export_restriction", "origin": "CHN", "stages": ["separated-oxides", "metal-alloy",
                                                                               "magnet"],
                    "destinations": destinations, "fraction": 1.0, "start": 1}],
        "responses": {"capacity": [{"spare": 0.0, "lead_months": 6}], "stockpiles": [stockpile],
                      "rationing": {"policy": "proportional"}},  # so that defence is short without the stock
    }


def test_defence_reserved_release_leaves_defence_unshort_while_stock_lasts(world) -> None:
    base = _scenario({"holder": "USA", "stage": "magnet", "tonnes": 0.0}, ["USA"])
    ds0 = world.simulate(base, runs=4, seed=2)
    defence_need = ds0["shortfall"].sel(country="USA", sector="defence")  # (run, month) without a stock
    assert float(defence_need.min()) > 0 or float(defence_need.sum()) > 0
    monthly = float(defence_need.isel(month=-1).mean())
    tonnes = 6.5 * monthly  # enough for about six months of defence shortfall
    sp = {"holder": "USA", "stage": "magnet", "tonnes": tonnes, "reserve_for": ["defence"]}
    ds = world.simulate(_scenario(sp, ["USA"]), runs=4, seed=2)
    d = ds["shortfall"].sel(country="USA", sector="defence")
    other = ds["shortfall"].sel(country="USA", sector=["ev-traction-motors", "electronics"]).sum("sector")
    rel = ds["release"].isel(stockpile=0)
    lasts = rel.cumsum("month") < tonnes * (1 - 1e-9)  # months the stock is not yet exhausted
    assert float(d.where(lasts).max()) == pytest.approx(0.0, abs=1e-3)  # defence unshort while stock lasts
    assert float(other.sum()) == pytest.approx(float(ds0["shortfall"].sel(
        country="USA", sector=["ev-traction-motors", "electronics"]).sum()), rel=1e-6)  # others not served
    assert float(rel.sum("month").max()) == pytest.approx(tonnes, rel=1e-6)  # all of it went to defence
    assert float(d.isel(month=-1).min()) > 0  # and once it is gone, defence is short again


def test_pool_never_goes_below_a_members_floor_for_another_member(world) -> None:
    tonnes, floor = 3000.0, 1200.0
    pooled = {"holder": "USA+JPN", "stage": "magnet", "tonnes": tonnes}
    ds_free = world.simulate(_scenario(pooled, ["USA"], horizon=24), runs=3, seed=5)
    assert float(ds_free["release"].sum("month").min()) == pytest.approx(tonnes, rel=1e-6)  # USA drains it all

    ds = world.simulate(_scenario(dict(pooled, floors={"JPN": floor}), ["USA"], horizon=24), runs=3, seed=5)
    drawn = ds["release"].isel(stockpile=0).cumsum("month")
    assert float(drawn.max()) == pytest.approx(tonnes - floor, rel=1e-6)  # only what lies above Japan's floor
    assert float((tonnes - drawn).min()) >= floor - 1e-6
    # when Japan is cut off too, it can draw on its own floor
    ds2 = world.simulate(_scenario(dict(pooled, floors={"JPN": floor}), ["USA", "JPN"], horizon=24), runs=3, seed=5)
    assert float(ds2["release"].sum("month").min()) == pytest.approx(tonnes, rel=1e-6)


@pytest.mark.parametrize(
    ("stockpile", "field"),
    [
        ({"holder": "USA", "stage": "magnet", "tonnes": 10, "reserve_for": ["submarines"]}, "reserve_for[0]"),
        ({"holder": "USA", "stage": "mining", "tonnes": 10, "reserve_for": ["defence"]}, "reserve_for[0]"),
        ({"holder": "USA", "stage": "magnet", "tonnes": 10, "floors": {"USA": 1}}, "floors"),
        ({"holder": "USA+JPN", "stage": "magnet", "tonnes": 10, "floors": {"DEU": 1}}, "floors.DEU"),
        ({"holder": "USA+JPN", "stage": "magnet", "tonnes": 10, "floors": {"JPN": -1}}, "floors"),
    ],
)
def test_bad_stockpile_policies_name_the_field(world, stockpile, field) -> None:
    with pytest.raises(InputError) as err:
        world.simulate(_scenario(stockpile, ["USA"]), runs=1, seed=0)
    assert f"responses.stockpiles[0].{field}" in str(err.value)


def test_reserved_and_plain_stockpiles_keep_the_mass_balance(world) -> None:
    sp = {"holder": "USA", "stage": "magnet", "tonnes": 500.0, "reserve_for": ["defence"]}
    ds = world.simulate(_scenario(sp, ["USA"]), runs=2, seed=1)
    assert float(ds["balance_residual"].max()) < 1e-6
    assert np.isfinite(ds["shortfall"].values).all()
