"""From a World and a chain to a compact, balanced array model (:class:`ChainModel`).

All quantities are **tonnes per month** of each stage's content unit (the chain's
``Stage.content``: t REO, t magnet REE, t NdFeB, GWh, ...). The baseline is the World's
chain network (``world.network(chain, year)``, :mod:`critmin.network`: production series,
published figures, trade, the balance and final demand by sector, built by one rule) divided
by 12, so that with no shock supply equals use in every country, stage and month.

Optionally (``max_countries``; default ``None``: the World's full country resolution), countries
beyond the ``max_countries`` most active (by output plus consumption, as shares of each stage's
world total) are lumped into ``ROW``, except those the scenario names, which are always kept.
Lumping sums tonnes, so the balance is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from critmin.chains import Chain

ROW = "ROW"
#: Countries kept at their own resolution whenever they take part in the chain.
ALWAYS_KEEP = ("USA", "JPN", "CHN")


@dataclass
class ChainModel:
    """A chain as arrays: stages S (upstream first), countries C, end-use sectors K.

    Units: t per month of each stage's content. ``factors[s, s_in]`` is t of
    stage ``s_in`` per t of stage ``s``.
    """

    chain_id: str
    stages: list[str]
    stage_material: list[str]
    stage_content: list[str]
    countries: list[str]
    sectors: list[str]
    sector_stage: np.ndarray  # (K,) int
    sector_defence: np.ndarray  # (K,) bool
    q0: np.ndarray  # (S, C) t/month
    flows: np.ndarray  # (S, C, C) t/month, exporter x importer, diagonal = kept at home
    factors: np.ndarray  # (S, S)
    demand0: np.ndarray  # (C, K) t/month
    balancing: np.ndarray  # (S, C) t/month added to q0 as unrecorded supply
    inventory0: np.ndarray | None = None  # (S, C) t: target private working stock (months of use × use)
    members: dict[str, list[str]] = field(default_factory=dict)  # ROW -> lumped ISO3
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def shares(self) -> np.ndarray:
        """Allocation shares ``flows / q0`` (rows of non-producers are zero)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            a = self.flows / self.q0[:, :, None]
        return np.nan_to_num(a, nan=0.0, posinf=0.0)

    def stage_index(self, stage: str) -> int:
        return self.stages.index(stage)

    def country_index(self, iso3: str) -> int | None:
        if iso3 in self.countries:
            return self.countries.index(iso3)
        for row, ms in self.members.items():
            if iso3 in ms:
                return self.countries.index(row)
        return None

    def consumption(self) -> np.ndarray:
        """Apparent consumption (S, C): kept output plus imports, t/month."""
        return self.flows.sum(axis=1)


# ---------------------------------------------------------------------------------------------- build


def from_network(net: Any) -> ChainModel:
    """The monthly array model of a :class:`critmin.network.ChainNetwork` (t/yr → t/month)."""
    a = net.array
    sector_stage = np.array([net.stages.index(str(s)) for s in a("sector_stage")], dtype=np.int64)
    prov = {"stages": {s: {k: v for k, v in info.items() if k != "published"} for s, info in net.stage_info.items()}}
    return ChainModel(
        chain_id=net.chain_id,
        stages=net.stages,
        stage_material=[s.material for s in net.chain.stages],
        stage_content=[s.content for s in net.chain.stages],
        countries=net.countries,
        sectors=net.sectors,
        sector_stage=sector_stage,
        sector_defence=a("sector_defence").astype(bool),
        q0=a("supply") / 12.0,
        flows=a("flows") / 12.0,
        inventory0=np.nan_to_num(a("inventory_months"))[:, None] * a("flows").sum(axis=1) / 12.0,
        factors=a("factors").copy(),
        demand0=a("demand") / 12.0,
        balancing=a("balancing") / 12.0,
        provenance=prov,
    )


def build_model(
    world: Any,
    chain: Chain,
    year: int | None = None,
    max_countries: int | None = None,
    keep: list[str] | tuple[str, ...] = (),
) -> ChainModel:
    """The balanced monthly baseline of ``chain``: the World's chain network (``world.network``) in
    t/month, optionally lumped to ``max_countries`` (see module doc)."""
    from critmin.network import network_of

    return lump(from_network(network_of(world, chain, year)), max_countries, keep)


def lump(model: ChainModel, max_countries: int | None, keep: list[str] | tuple[str, ...] = ()) -> ChainModel:
    """Merge all but the ``max_countries`` most active countries (and ``keep``) into ``ROW``."""
    C = len(model.countries)
    if max_countries is None or C <= max_countries:
        return model
    cons = model.consumption()
    tot_q = model.q0.sum(axis=1, keepdims=True)
    tot_c = cons.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        act = np.nan_to_num(model.q0 / tot_q) + np.nan_to_num(cons / tot_c)
    score = act.sum(axis=0)
    order = np.argsort(-score, kind="stable")
    kept = set(np.asarray(model.countries)[order[:max_countries]])
    kept |= {c for c in (*ALWAYS_KEEP, *keep) if c in model.countries}
    kept.discard(ROW)
    new = sorted(kept) + [ROW]
    group = np.array([new.index(c) if c in kept else len(new) - 1 for c in model.countries])
    G = np.zeros((C, len(new)))
    G[np.arange(C), group] = 1.0
    flows = np.einsum("sij,ia,jb->sab", model.flows, G, G)
    members = {ROW: [c for c in model.countries if c not in kept]}
    for prev in model.members.get(ROW, []):
        members[ROW].append(prev)
    return ChainModel(
        chain_id=model.chain_id,
        stages=model.stages,
        stage_material=model.stage_material,
        stage_content=model.stage_content,
        countries=new,
        sectors=model.sectors,
        sector_stage=model.sector_stage,
        sector_defence=model.sector_defence,
        q0=model.q0 @ G,
        flows=flows,
        factors=model.factors,
        demand0=G.T @ model.demand0,
        balancing=model.balancing @ G,
        inventory0=None if model.inventory0 is None else model.inventory0 @ G,
        members=members,
        provenance=model.provenance,
    )
