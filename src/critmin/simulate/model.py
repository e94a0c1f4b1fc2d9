"""From a World and a chain to a compact, balanced array model (:class:`ChainModel`).

All quantities are **tonnes per month** of each stage's content unit (the chain's
``Stage.content``: t REO, t magnet REE, t NdFeB, GWh, ...). The baseline is built
so that, with no shock, supply equals use in every country, stage and month:

1. **Production** ``q0[s, c]``, stage by stage, upstream first.

   - A stage with a ``production`` series takes the World's production table
     (``case == 'reported'``, the stage's source, else the source with the latest
     year) for the latest year (or the requested ``year`` or the latest before it),
     divided by 12.
   - If that output needs more of an input than the country has (own output plus
     imports, less what other stages already claimed), the gap is added to the
     input stage's output in that country as a **balancing item** (unrecorded or
     secondary supply, e.g. output outside China's quota; reported in
     ``model.balancing``), so that reported output is never cut.
   - A stage without a series is **derived** from its inputs: output in country
     ``c`` = min over inputs of (input available in ``c`` × (1 − share of the input
     stage's own end uses)) / factor, the available input being split equally
     among the input's downstream stages not yet derived.

2. **Trade** ``flows[s, i, j]``: the World's bilateral trade in the stage's HS codes
   (latest year with data, at or before the production year when there is one;
   one source per HS code and year), in tonnes (a missing tonnage is imputed from
   its value at the HS code's median unit value). An exporter ships to each
   partner ``min(1, output / recorded exports)`` × the recorded tonnes and keeps
   the rest at home; exports of countries without output (re-exports) are
   dropped. Stages without HS codes are not traded.

3. **Final demand** ``demand0[c, k]``: what a country consumes of a stage (output kept
   plus imports) and does not use in a downstream stage is final demand, split
   across the stage's end-use sectors by the chain's ``share`` values (shares of
   one sector on a stage are summed; an unassigned remainder goes to a sector
   ``other-<stage>``). This allocates sector demand to countries by apparent
   consumption.

4. Optionally (``max_countries``; default ``None``: the World's full country
   resolution), countries beyond the ``max_countries`` most active (by output plus
   consumption, as shares of each stage's world total) are lumped into ``ROW``,
   except those the scenario names, which are always kept. Lumping sums tonnes,
   so the balance is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from critmin.chains import Chain
from critmin.errors import InputError

ROW = "ROW"
#: Countries kept at their own resolution whenever they take part in the chain.
ALWAYS_KEEP = ("USA", "JPN", "CHN")
#: Order in which production sources are preferred when a stage names none (latest year wins first).
SOURCE_ORDER = ("usgs-mcs-2025", "wmd", "iea-2025")


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


# ---------------------------------------------------------------------------------------------- data access


def _production_series(world: Any, chain: Chain, stage_i: int, year: int | None) -> tuple[pd.Series, dict]:
    st = chain.stages[stage_i]
    ps = st.production
    assert ps is not None
    df = world.table("production")
    if df.empty:
        return pd.Series(dtype=float), {"production": "none (empty production table)"}
    df = df[(df["material"] == ps.material) & (df["stage"] == ps.stage)]
    if "case" in df.columns:
        df = df[df["case"].isin(["reported"]) | df["case"].isna()]
    df = df[pd.to_numeric(df["quantity"], errors="coerce").notna()]
    if year is not None:
        df = df[df["year"].astype(int) <= year]
    if df.empty:
        return pd.Series(dtype=float), {"production": f"no reported {ps.material}/{ps.stage} rows"}
    if ps.source and ps.source in set(df["source"]):
        src = ps.source
    else:
        latest = df.groupby("source")["year"].max()
        ranked = sorted(
            latest.index,
            key=lambda s: (
                -int(latest[s]),
                SOURCE_ORDER.index(s) if s in SOURCE_ORDER else len(SOURCE_ORDER),
            ),
        )
        src = ranked[0]
    df = df[df["source"] == src]
    y = int(df["year"].astype(int).max())
    df = df[df["year"].astype(int) == y]
    series = df.groupby("country")["quantity"].sum().astype(float)
    series = series[series > 0]
    return series, {"production_source": src, "production_year": y, "production_material": ps.material}


def _trade_matrix(world: Any, codes: list[str], year: int | None) -> tuple[pd.DataFrame, dict]:
    if not codes:
        return pd.DataFrame(columns=["exporter", "importer", "t"]), {"trade": "not traded (no HS codes)"}
    df = world.table("trade")
    if df.empty:
        return pd.DataFrame(columns=["exporter", "importer", "t"]), {"trade": "none (empty trade table)"}
    df = df[df["hs6"].astype(str).isin(codes)].copy()
    df["year"] = df["year"].astype(int)
    if year is not None and (df["year"] <= year).any():
        df = df[df["year"] <= year]
    if df.empty:
        return pd.DataFrame(columns=["exporter", "importer", "t"]), {"trade": f"no rows for HS {codes}"}
    y = int(df["year"].max())
    df = df[df["year"] == y]
    if "source" in df.columns:
        # one source per HS code: the one with the most rows (avoids double counting two HS vintages)
        best = df.groupby(["hs6", "source"]).size().reset_index(name="n")
        best = best.sort_values(["hs6", "n", "source"], ascending=[True, False, True]).drop_duplicates("hs6")
        df = df.merge(best[["hs6", "source"]], on=["hs6", "source"])
    q = pd.to_numeric(df["quantity_t"], errors="coerce")
    v = pd.to_numeric(df["value_kusd"], errors="coerce")
    unit_value = (v / q).where(q > 0).groupby(df["hs6"]).transform("median")
    imputed = int((q.isna() & v.notna()).sum())
    q = q.fillna(v / unit_value).fillna(0.0)
    # annual tonnes -> tonnes per month
    out = pd.DataFrame(
        {"exporter": df["exporter"].values, "importer": df["importer"].values, "t": q.values / 12}
    )
    out = out[(out["exporter"] != out["importer"]) & (out["t"] > 0)]
    out = out.groupby(["exporter", "importer"], as_index=False)["t"].sum()
    return out, {"trade_year": y, "trade_hs6": codes, "trade_rows": len(out), "trade_t_imputed_rows": imputed}


# ---------------------------------------------------------------------------------------------- build


def build_model(
    world: Any,
    chain: Chain,
    year: int | None = None,
    max_countries: int | None = None,
    keep: list[str] | tuple[str, ...] = (),
) -> ChainModel:
    """Build the balanced baseline :class:`ChainModel` of ``chain`` from ``world`` (see module doc)."""
    S = len(chain.stages)
    sid = {s.id: i for i, s in enumerate(chain.stages)}
    factors = np.zeros((S, S))
    for i, s in enumerate(chain.stages):
        for inp in s.inputs:
            factors[i, sid[inp.stage]] += inp.factor.value

    # gather raw series first, to fix the country set
    prod: list[pd.Series | None] = []
    trade: list[pd.DataFrame] = []
    prov: dict[str, Any] = {"stages": {}}
    for i, s in enumerate(chain.stages):
        info: dict[str, Any] = {}
        if s.production is not None:
            ser, meta = _production_series(world, chain, i, year)
            info.update(meta)
            prod.append(ser)
        else:
            prod.append(None)
            info["production"] = "derived from inputs"
        ty = info.get("production_year", year)
        tm, tmeta = _trade_matrix(world, s.hs6, ty)
        info.update(tmeta)
        trade.append(tm)
        prov["stages"][s.id] = info
    names: set[str] = set()
    for ser in prod:
        if ser is not None:
            names |= set(ser.index)
    for tm in trade:
        names |= set(tm["exporter"]) | set(tm["importer"])
    countries = sorted(names)
    if not countries:
        raise InputError(f"chain {chain.id}", None, "the World has no production or trade for this chain")
    C = len(countries)
    cix = {c: k for k, c in enumerate(countries)}

    q0 = np.zeros((S, C))
    flows = np.zeros((S, C, C))
    balancing = np.zeros((S, C))
    claimed = np.zeros((S, C))  # input use by downstream stages already built
    consumers = [[j for j in range(S) if factors[j, i] > 0] for i in range(S)]
    built = [False] * S
    enduse_share = np.zeros(S)
    for e in chain.end_uses:
        if e.share is not None:
            enduse_share[sid[e.stage]] += e.share.value
    enduse_share = np.minimum(enduse_share, 1.0)

    def set_flows(i: int) -> None:
        tm = trade[i]
        f = np.zeros((C, C))
        if len(tm):
            f[[cix[x] for x in tm["exporter"]], [cix[x] for x in tm["importer"]]] = tm["t"].to_numpy()
        exports = f.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(exports > 0, np.minimum(1.0, q0[i] / exports), 0.0)
        f *= scale[:, None]
        f[np.arange(C), np.arange(C)] = q0[i] - f.sum(axis=1)
        flows[i] = f

    for i, s in enumerate(chain.stages):
        ins = [(sid[inp.stage], inp.factor.value) for inp in s.inputs]
        if prod[i] is not None:
            q = np.zeros(C)
            ser = prod[i]
            q[[cix[c] for c in ser.index]] = ser.to_numpy() / 12.0
            for k, f in ins:
                avail = flows[k].sum(axis=0) - claimed[k]
                gap = np.maximum(0.0, f * q - avail)
                if gap.any():
                    balancing[k] += gap
                    q0[k] += gap
                    flows[k][np.arange(C), np.arange(C)] += gap
        elif ins:
            q = np.full(C, np.inf)
            for k, f in ins:
                remaining = [j for j in consumers[k] if not built[j]]
                avail = (flows[k].sum(axis=0) - claimed[k]) * (1.0 - enduse_share[k]) / max(1, len(remaining))
                q = np.minimum(q, np.maximum(avail, 0.0) / f)
        else:
            raise InputError(
                f"chain {chain.id}",
                f"stages[{i}]",
                f"stage {s.id!r} has neither a production series nor inputs",
            )
        q0[i] = q
        for k, f in ins:
            claimed[k] += f * q
        set_flows(i)
        built[i] = True

    # final demand: consumption not used downstream, split into sectors
    residual = np.maximum(flows.sum(axis=1) - claimed, 0.0)  # (S, C)
    sectors: list[str] = []
    sec_stage: list[int] = []
    sec_def: list[bool] = []
    sec_share: list[float] = []
    by_key: dict[tuple[int, str], int] = {}
    for e in chain.end_uses:
        if e.share is None or e.share.value <= 0:
            continue
        key = (sid[e.stage], e.sector)
        if key in by_key:
            sec_share[by_key[key]] += e.share.value
            sec_def[by_key[key]] = sec_def[by_key[key]] or e.defence
            continue
        by_key[key] = len(sectors)
        sectors.append(e.sector)
        sec_stage.append(sid[e.stage])
        sec_def.append(e.defence)
        sec_share.append(e.share.value)
    for i in range(S):
        total = sum(sh for sh, st in zip(sec_share, sec_stage, strict=True) if st == i)
        if residual[i].sum() > 0 and total < 1 - 1e-6:
            sectors.append(f"other-{chain.stages[i].id}")
            sec_stage.append(i)
            sec_def.append(False)
            sec_share.append(1.0 - total)
    # unique labels: the same sector slug on two stages becomes sector@stage
    counts = pd.Series(sectors).value_counts()
    labels = [
        f"{sc}@{chain.stages[st].id}" if counts[sc] > 1 else sc
        for sc, st in zip(sectors, sec_stage, strict=True)
    ]
    K = len(labels)
    demand0 = np.zeros((C, K))
    for k in range(K):
        st = sec_stage[k]
        total = sum(sh for sh, s2 in zip(sec_share, sec_stage, strict=True) if s2 == st)
        demand0[:, k] = residual[st] * sec_share[k] / max(total, 1.0)

    model = ChainModel(
        chain_id=chain.id,
        stages=[s.id for s in chain.stages],
        stage_material=[s.material for s in chain.stages],
        stage_content=[s.content for s in chain.stages],
        countries=countries,
        sectors=labels,
        sector_stage=np.array(sec_stage, dtype=np.int64),
        sector_defence=np.array(sec_def, dtype=bool),
        q0=q0,
        flows=flows,
        factors=factors,
        demand0=demand0,
        balancing=balancing,
        provenance=prov,
    )
    return lump(model, max_countries, keep)


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
        members=members,
        provenance=model.provenance,
    )
