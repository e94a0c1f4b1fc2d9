"""Issue 10 item 2: Dy+Tb travel as their own element through oxide, metal and magnet (by grade) stages.

On the real World's rare-earth magnet chain, lumped to a few countries and a short horizon to stay fast."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import critmin
from critmin.simulate.engine import prepare
from critmin.simulate.kernel import sample, simulate_chunk

HIGH = ["ev-traction-motors", "wind", "defence", "industrial-motors"]
LOW = ["electronics", "other"]


@pytest.fixture(scope="module")
def world():
    return critmin.load()


def _scenario(shocks: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "name": "test-elements",
        "title": "test: element-by-element run",
        "chain": "rare-earth-magnets",
        "year": 2024,
        "horizon": 8,
        "elements": True,
        "shocks": shocks,
        "responses": {"elasticities": {"demand": 0, "supply": 0}, "rerouting": {"friction": 1},
                      "capacity": [{"spare": 0, "lead_months": 0}], **kw},
    }


def _run(world: Any, sc: dict[str, Any]) -> tuple[Any, dict[str, np.ndarray]]:
    _, model, plan = prepare(world, sc, max_countries=12)
    return model, simulate_chunk(model, plan, sample(plan, 2, 0))


def test_element_model_keeps_a_flat_balanced_baseline(world) -> None:
    model, out = _run(world, _scenario([]))
    assert model.stages == ["mining", "separated-oxides:DyTb", "separated-oxides:NdPr", "metal-alloy:DyTb",
                            "metal-alloy:NdPr", "magnet:high", "magnet:low"]
    assert float(out["shortfall"].max()) == 0.0
    assert float(np.abs(out["price_region"] - 1).max()) == 0.0
    assert float(out["balance_residual"].max()) < 1e-6 * model.q0.sum()
    # element tonnes add up to the stage they split (Nd+Pr and Dy+Tb of separated oxides, by country)
    ox = [i for i, p in enumerate(model.stage_parent) if p == "separated-oxides"]
    chn = model.country_index("CHN")
    assert model.q0[ox, chn].sum() > 0
    dytb = model.stages.index("separated-oxides:DyTb")
    assert model.q0[dytb].sum() == pytest.approx(model.q0[dytb, chn], rel=1e-9)  # only China separates Dy+Tb


def test_dy_tb_stop_cuts_high_grade_sectors_not_low_grade_ones(world) -> None:
    stop = {"type": "export_restriction", "origin": "CHN", "elements": ["DyTb"], "fraction": 1.0}
    model, out = _run(world, _scenario([stop], rationing={"policy": "proportional"}))
    sec = model.sectors
    short = out["shortfall"].sum(axis=(0, 1, 2))  # per sector, all runs, months, countries
    assert all(short[sec.index(k)] > 0 for k in HIGH)
    assert all(short[sec.index(k)] == 0 for k in LOW)
    # the high-grade magnet output of a magnet maker that imports its Dy/Tb falls; its low-grade output does not
    jpn = model.country_index("JPN")
    hi, lo = model.stages.index("magnet:high"), model.stages.index("magnet:low")
    prod = out["production_sum"][:, :, jpn] / 2
    assert prod[-1, hi] < 0.5 * model.q0[hi, jpn]
    assert prod[-1, lo] == pytest.approx(model.q0[lo, jpn], rel=1e-9)
    # China's low-grade magnets still ship (only magnets that need Dy/Tb are stopped)
    chn = model.country_index("CHN")
    ex = out["exports_sum"][:, :, chn] / 2
    assert ex[0, hi] == pytest.approx(0.0, abs=1e-9) and ex[0, lo] > 0
    assert float(out["balance_residual"].max()) < 1e-6 * model.q0.sum()  # every month balances, by element
