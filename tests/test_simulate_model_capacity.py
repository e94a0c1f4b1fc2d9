"""Issue 10 item 7: new capacity from the project registry by start year and status (statuses chosen by the
user), so a scenario in 2027 sees the plants being built."""

from __future__ import annotations

from typing import Any

import pytest

import critmin
from critmin.errors import InputError
from critmin.simulate.engine import prepare
from critmin.simulate.kernel import sample, simulate_chunk


@pytest.fixture(scope="module")
def world():
    return critmin.load()


def _scenario(start: str, include: list[str] | None, horizon: int = 6) -> dict[str, Any]:
    resp: dict[str, Any] = {"elasticities": {"demand": 0, "supply": 0}, "rerouting": {"friction": 1},
                            "capacity": [{"spare": 0, "lead_months": 0}]}
    if include is not None:
        resp["new_capacity"] = {"include": include}
    # China stops separated oxides; the US keeps its ore at home, so US separation plants have feed
    shocks = [{"type": "export_restriction", "origin": "CHN", "stages": ["separated-oxides"], "fraction": 1.0},
              {"type": "export_restriction", "origin": "USA", "stages": ["mining"], "destinations": ["CHN"],
               "fraction": 1.0}]
    return {"name": "t", "title": "test: new plants", "chain": "rare-earth-magnets", "year": 2024, "start": start,
            "horizon": horizon, "shocks": shocks, "responses": resp}


def _us_oxides(world: Any, sc: dict[str, Any]) -> tuple[Any, Any, Any]:
    _, model, plan = prepare(world, sc, max_countries=15)
    out = simulate_chunk(model, plan, sample(plan, 2, 0))
    s, usa = model.stage_index("separated-oxides"), model.country_index("USA")
    return plan, out["production_sum"][:, s, usa] / 2, model.q0[s, usa]


def test_a_2027_scenario_sees_plants_built_after_the_baseline(world) -> None:
    plan, prod, q0 = _us_oxides(world, _scenario("2027-01", ["construction", "commissioning"]))
    ids = {x[4] for x in plan.new_capacity}
    assert "ucore-louisiana" in ids  # construction, start 2026: online from month 1 of 2027
    assert all(m0 == 0 for *_, m0, pid in plan.new_capacity if pid == "ucore-louisiana")
    extra = sum(tpm for _, c, tpm, _, pid in plan.new_capacity if pid == "ucore-louisiana")
    assert extra == pytest.approx(2000.0 / 12)  # registry: 2,000 t/yr initial
    assert prod[0] == pytest.approx(q0)  # month 1: prices not yet up, plants run at baseline
    assert prod[1:].min() == pytest.approx(q0 + extra, rel=1e-9)  # then the new plant runs too
    _, bare, _ = _us_oxides(world, _scenario("2027-01", None))
    assert bare.max() == pytest.approx(q0)  # without the registry's plants: no more output


def test_plants_come_online_in_their_start_year_and_statuses_are_the_users_choice(world) -> None:
    plan, _, _ = _us_oxides(world, _scenario("2025-07", ["construction"], horizon=8))
    starts = {pid: m0 for *_, m0, pid in plan.new_capacity}
    assert starts["ucore-louisiana"] == 6  # January 2026 is the 7th month from July 2025
    only_fid, _, _ = _us_oxides(world, _scenario("2025-07", ["feasibility"], horizon=8))
    assert "ucore-louisiana" not in {x[4] for x in only_fid.new_capacity}
    with pytest.raises(InputError, match=r"responses\.new_capacity\.include"):
        prepare(world, _scenario("2025-07", ["financing"]), max_countries=15)
