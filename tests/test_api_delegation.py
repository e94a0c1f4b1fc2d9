"""The analyses hang off the World object (world.capacity / world.simulate / world.risk)."""

from __future__ import annotations

import critmin
from critmin.registry import capacity


def test_world_capacity_delegates_to_registry():
    world = critmin.load()
    via_world = world.capacity(2026, ["operating", "construction"], aggregate=True)
    direct = capacity(world, 2026, ["operating", "construction"], aggregate=True)
    assert len(via_world) > 0
    assert via_world.equals(direct)
    assert (via_world["capacity_tpy"] > 0).all()
    later = world.capacity(2035, ["operating", "construction"], aggregate=True)
    assert later["capacity_tpy"].sum() >= via_world["capacity_tpy"].sum()
