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
    #: chain elements and their content (S, C, E) t of element per t of the stage's product (NaN: none)
    elements: list[str] = field(default_factory=list)
    element_content: np.ndarray | None = None
    #: element runs (:func:`resolve_elements`): the chain stage each model stage belongs to, its element or
    #: grade tag (None for whole stages), per-country factors (S, S, C) and whether an input limits output (S, S)
    stage_parent: list[str] | None = None
    stage_tag: list[str | None] | None = None
    factor_c: np.ndarray | None = None
    limiting: np.ndarray | None = None

    @property
    def shares(self) -> np.ndarray:
        """Allocation shares ``flows / q0`` (rows of non-producers are zero)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            a = self.flows / self.q0[:, :, None]
        return np.nan_to_num(a, nan=0.0, posinf=0.0)

    def stage_index(self, stage: str) -> int:
        return self.stages.index(stage)

    @property
    def parents(self) -> list[str]:
        """The chain stage of each model stage (the stage itself unless the run is element by element)."""
        return list(self.stage_parent) if self.stage_parent is not None else list(self.stages)

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
        elements=net.elements(),
        element_content=a("element_content").copy() if net.elements() else None,
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
        elements=model.elements,
        element_content=_lump_content(model, G),
    )


def _lump_content(model: ChainModel, G: np.ndarray) -> np.ndarray | None:
    """Element content of lumped countries: the output-weighted mean of their members' (NaN where none)."""
    ec = model.element_content
    if ec is None:
        return None
    w = model.q0[:, :, None] * np.nan_to_num(ec)
    num = np.einsum("sce,cg->sge", w, G)
    den = (model.q0 @ G)[:, :, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nanmean(np.where(np.isnan(ec), np.nan, ec), axis=1, keepdims=True) if np.isfinite(ec).any() \
            else np.full_like(ec[:, :1], np.nan)
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.broadcast_to(mean, num.shape))
    return out


# ---------------------------------------------------------------------------------------------- elements


def resolve_elements(model: ChainModel, spec: dict[str, Any], sector_grade_content: dict[str, float]) -> ChainModel:
    """The chain element by element: ``spec['split']`` stages as one stage per element, ``spec['grade_stage']``
    as one stage per grade (``spec['grades']``: name → {sectors, limiting}).

    Units: an element stage counts t of its element (the chain's ``elements`` contents × the stage's
    tonnes; an exporter's flows carry its own content); a grade stage counts t of product of that grade.
    Each importer's purchases of the grade stage are split by its own sectors' grade mix, so a producer
    makes the grades its customers use. Factors become per country (``factor_c``), set so that every
    country's baseline is balanced exactly: the input a country's plants draw is what its baseline
    consumption of that input provides, shared among the element stages or grades that take it in
    proportion to their need (a grade's need of an element is its content, ``sector_grade_content``:
    t of Dy+Tb per t of product by sector, averaged over the grade's sectors by demand; the other
    elements make up the rest of the stage's element total). Final demand at a split stage is split by
    the country's element mix of consumption (sectors ``name@element``).
    """
    if model.element_content is None or not model.elements:
        raise ValueError(f"chain {model.chain_id!r} carries no elements")
    split = [model.stages.index(x) for x in spec.get("split", [])]
    gstage = model.stages.index(spec["grade_stage"]) if spec.get("grade_stage") else None
    E = model.elements
    ec = np.nan_to_num(model.element_content)  # (S, C, E)
    S, C = model.q0.shape
    cons = model.consumption()
    d0 = model.demand0

    # ---- new stages
    new: list[dict[str, Any]] = []  # parent, tag, q0, flows, bal, inv, element weights
    grade_names = list(spec.get("grades", {})) if gstage is not None else []
    sec_names = list(model.sectors)
    k_at = [np.flatnonzero(model.sector_stage == s) for s in range(S)]
    gmix = None
    if gstage is not None:
        ks = k_at[gstage]
        grade_of = {}
        for g, gs in spec["grades"].items():
            for name in gs.get("sectors", []):
                grade_of[name] = g
        dflt_grade = grade_names[-1]
        kg = np.array([grade_names.index(grade_of.get(sec_names[k].split("@")[0], dflt_grade)) for k in ks])
        dg = np.zeros((C, len(grade_names)))
        for j, k in enumerate(ks):
            dg[:, kg[j]] += d0[:, k]
        world = dg.sum(axis=0) / max(dg.sum(), 1e-300)
        tot = dg.sum(axis=1, keepdims=True)
        gmix = np.where(tot > 0, dg / np.where(tot > 0, tot, 1.0), world[None, :])  # (C, G) importer grade mix
        # Dy+Tb (or the limiting element named first after the bulk one) per t of each grade
        gcont = np.zeros(len(grade_names))
        for g in range(len(grade_names)):
            w = np.array([d0[:, k].sum() for j, k in enumerate(ks) if kg[j] == g])
            c = np.array([sector_grade_content.get(sec_names[k].split("@")[0], np.nan) for j, k in enumerate(ks)
                          if kg[j] == g])
            ok = np.isfinite(c)
            gcont[g] = float((w[ok] * c[ok]).sum() / w[ok].sum()) if ok.any() and w[ok].sum() > 0 else \
                float(np.nanmean(c)) if ok.any() else 0.0
    for s in range(S):
        q, f, b = model.q0[s], model.flows[s], model.balancing[s]
        inv = model.inventory0[s] if model.inventory0 is not None else np.zeros(C)
        if s in split:
            for e, el in enumerate(E):
                fe = f * ec[s, :, e][:, None]
                ce = fe.sum(axis=0)
                mix = np.where(cons[s] > 0, ce / np.where(cons[s] > 0, cons[s], 1.0), 0.0)
                new.append(dict(parent=s, tag=el, q0=q * ec[s, :, e], flows=fe, bal=b * ec[s, :, e],
                                inv=inv * mix, content=f"t {el} in {model.stage_content[s]}"))
        elif s == gstage:
            for g, gname in enumerate(grade_names):
                fg = f * gmix[:, g][None, :]
                qg = fg.sum(axis=1)
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(q > 0, qg / np.where(q > 0, q, 1.0), 0.0)
                new.append(dict(parent=s, tag=gname, q0=qg, flows=fg, bal=b * share, inv=inv * gmix[:, g],
                                content=f"{model.stage_content[s]} ({gname} grade)", grade=g))
        else:
            new.append(dict(parent=s, tag=None, q0=q, flows=f, bal=b, inv=inv, content=model.stage_content[s]))
    S2 = len(new)
    names = [model.stages[n["parent"]] + (f":{n['tag']}" if n["tag"] else "") for n in new]
    q0 = np.array([n["q0"] for n in new])
    flows = np.array([n["flows"] for n in new])
    bal = np.array([n["bal"] for n in new])
    cons2 = flows.sum(axis=1)
    F = model.factors

    # element weight of a new stage's need for input stage k2: 1 for a whole or same-element stage, a grade's
    # content of the element for a grade stage, 0 when incompatible
    rest_total = float(np.nansum(ec[gstage, :, :].max(axis=0))) if gstage is not None else 1.0
    bulk = E[int(np.argmax(np.nanmax(ec[gstage], axis=0)))] if gstage is not None else None

    def weight(n: dict[str, Any], k2: dict[str, Any]) -> float:
        el = k2["tag"] if k2["parent"] in split else None
        if el is None:
            return 1.0
        if n["parent"] in split:
            return 1.0 if n["tag"] == el else 0.0
        if "grade" in n:
            minor = gcont[n["grade"]]
            return rest_total - minor if el == bulk else minor
        return 1.0

    Fn = np.zeros((S2, S2))
    Fc = np.zeros((S2, S2, C))
    lim = np.zeros((S2, S2), dtype=bool)
    for p in range(S):
        for k in range(S):
            if F[p, k] <= 0:
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = np.where(cons[k] > 0, F[p, k] * (model.q0[p] - model.balancing[p]) / np.where(
                    cons[k] > 0, cons[k], 1.0), 0.0)  # share of c's consumption of k that feeds p
            subs = [i for i, n in enumerate(new) if n["parent"] == p]
            for k2 in [i for i, n in enumerate(new) if n["parent"] == k]:
                w = np.array([weight(new[i], new[k2]) for i in subs])
                need = w[:, None] * (q0[subs] - bal[subs])  # (subs, C)
                tot = need.sum(axis=0)
                use = cons2[k2] * frac  # (C,)
                for j, i in enumerate(subs):
                    if w[j] <= 0:
                        continue
                    out_i = q0[i] - bal[i]
                    with np.errstate(invalid="ignore", divide="ignore"):
                        fc = np.where((out_i > 0) & (tot > 0), use * need[j] / np.where(tot > 0, tot, 1.0)
                                      / np.where(out_i > 0, out_i, 1.0), 0.0)
                    Fc[i, k2] = fc
                    Fn[i, k2] = 1.0  # structure: i draws on k2
                    el = new[k2]["tag"] if k in split else None
                    g = new[i].get("grade")
                    lim[i, k2] = not (g is not None and el is not None
                                      and el not in spec["grades"][grade_names[g]].get("limiting", E))

    # sectors: split stages' sectors per element; grade stage's sectors on their grade
    sec_out, stage_out, def_out, cols = [], [], [], []
    for k, name in enumerate(sec_names):
        s = int(model.sector_stage[k])
        subs = [i for i, n in enumerate(new) if n["parent"] == s]
        if s in split:
            for i in subs:
                mix = np.where(cons[s] > 0, cons2[i] / np.where(cons[s] > 0, cons[s], 1.0), 0.0)
                sec_out.append(f"{name}@{new[i]['tag']}")
                stage_out.append(i)
                def_out.append(bool(model.sector_defence[k]))
                cols.append(d0[:, k] * mix)
        elif s == gstage:
            g = kg[list(ks).index(k)]
            sec_out.append(name)
            stage_out.append(subs[g])
            def_out.append(bool(model.sector_defence[k]))
            cols.append(d0[:, k])
        else:
            sec_out.append(name)
            stage_out.append(subs[0])
            def_out.append(bool(model.sector_defence[k]))
            cols.append(d0[:, k])
    prov = dict(model.provenance)
    prov["elements"] = {"split": [model.stages[x] for x in split],
                        "grades": {g: float(gcont[i]) for i, g in enumerate(grade_names)} if gstage is not None
                        else {}}
    return ChainModel(
        chain_id=model.chain_id,
        stages=names,
        stage_material=[model.stage_material[n["parent"]] for n in new],
        stage_content=[n["content"] for n in new],
        countries=model.countries,
        sectors=sec_out,
        sector_stage=np.array(stage_out, dtype=np.int64),
        sector_defence=np.array(def_out, dtype=bool),
        q0=q0,
        flows=flows,
        factors=Fn,
        demand0=np.array(cols).T.copy(),
        balancing=bal,
        inventory0=np.array([n["inv"] for n in new]),
        members=model.members,
        provenance=prov,
        elements=model.elements,
        element_content=None,
        stage_parent=[model.stages[n["parent"]] for n in new],
        stage_tag=[n["tag"] for n in new],
        factor_c=Fc,
        limiting=lim,
    )
