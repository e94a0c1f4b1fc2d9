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


def test_capacity_rows_map_to_world_chain_stages():
    """Project capacity lands on the World's chain stages (so the model can ask "what if these come online")."""
    world = critmin.load()
    cap = world.capacity(2030, ["operating", "construction", "commissioning", "fid"])
    mapped = cap[cap["chain_stage"] != ""]
    assert len(mapped) > 0
    for chain, stage in set(zip(mapped["chain"], mapped["chain_stage"], strict=True)):
        assert stage in {s.id for s in world.chains[chain].stages}, (chain, stage)
    magnets = mapped[(mapped["chain"] == "rare-earth-magnets") & (mapped["chain_stage"] == "magnet")]
    assert magnets["capacity_tpy"].sum() > 0
    # every rare-earth or battery-mineral project with a t/yr capacity maps to a chain stage
    core = cap[cap["material"].isin(["ndfeb", "ndpr", "lithium", "nickel", "cobalt"])]
    assert (core["chain_stage"] != "").all()
