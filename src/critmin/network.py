"""The chain network: one calibrated, labelled picture of a supply chain, built in one place.

``world.network(chain, year=None, case="reported")`` returns a :class:`ChainNetwork`, an
:class:`xarray.Dataset` over ``stage × country`` (plus ``exporter × importer`` for trade,
``sector`` for end uses and ``element`` where a chain carries several, e.g. NdPr and Dy+Tb).
Exposure (``world.risk.exposure``), the brief and the simulation read only this object.

All quantities are **tonnes per year of each stage's content unit** (``net.unit(stage)``: t REO,
t magnet REE, t NdFeB, GWh, ...). Every variable says in its attributes what it is, its unit and
its basis; per-stage provenance (source, year, basis, trade year, HS codes used or missing) is in
``net.stage_info``.

The one rule that picks series and years (documented in ``docs/network.md``):

1. **Production** of a stage, in this order:

   a. its World production series (``stage.production`` in the chain file): rows with
      ``case`` in :data:`CASES` [``case``], source by preference — the stage's own ``source``,
      then the material's ``default_source``, then :data:`SOURCE_ORDER`, then the rest
      alphabetically — the first source with data at or before ``year``, at its latest such year;
   b. else the chain file's ``published`` block (calibration figures from publications, each with
      source and basis; what the listed countries leave goes to ``ROW``);
   c. else **derived** from its inputs (output in a country = the input it has available, less the
      input stage's own end uses, split equally among the input's downstream stages, ÷ factor).

   A stage with neither (a) nor (b) nor inputs is **missing**: NaN, never zero.
2. **Trade** of a stage: BACI rows of its HS codes in the latest year at or before the production
   year (else ``year``) in which any of its codes has rows; one source per code (the one with most
   rows); a missing tonnage is imputed at the code's median unit value that year. Codes with no
   rows that year are listed as missing, never counted as zero. A **basket** code shared by several
   stages of the chain, or listed under the chain's ``baskets`` with outside materials (e.g. 811292:
   gallium, germanium, indium, rhenium) is apportioned by each exporter's production of those
   materials (world production where the exporter produces none of them) — a documented judgement.
3. **Balance**: reported output is never cut. If a stage's output needs more of an input than a
   country has (own output plus imports, less what other stages claimed), the gap is first met
   from other countries' surplus of that input (what they have beyond their own downstream use and
   end uses), pro rata to surplus and to gap (``pooled``: estimated flows, e.g. spodumene and ore
   whose trade the World lacks); what the world as a whole lacks is added to the input stage in
   that country as a **balancing item** (``balancing``; unrecorded or secondary supply).
   An exporter ships ``min(1, output / recorded exports)`` × its recorded tonnes to each partner
   and keeps the rest (``flows``); exports of non-producers (re-exports) are dropped there,
   but stay in ``trade``.
4. **Final demand**: what a country consumes of a stage and does not use downstream, split across
   the stage's end-use sectors by their ``share`` (remainder to ``other-<stage>``).
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from critmin.errors import InputError, did_you_mean

if TYPE_CHECKING:
    import xarray as xr

#: Production ``case`` values counted as reported (USGS marks its latest year "estimated").
CASES = {"reported": ("reported", "estimated"), "projected": ("reported", "estimated", "projection (base case)")}
#: Order in which production sources are preferred after the stage's and the material's own.
SOURCE_ORDER = ("usgs-mcs-2025", "wmd", "iea-2025")
#: Pseudo-country codes that are not countries (world totals are dropped; ROW is kept as a node).
NOT_COUNTRIES = ("WLD",)
ROW = "ROW"


class ChainNetwork:
    """One chain as a labelled dataset (see module docstring); build with ``world.network(...)``.

    The arrays are kept as numpy arrays; :attr:`ds` assembles them into an :class:`xarray.Dataset`
    (with every variable's unit and basis in its attributes) on first use.
    """

    def __init__(self, variables: dict[str, tuple], coords: dict[str, list], attrs: dict[str, Any], chain: Any,
                 stage_info: dict[str, dict[str, Any]]) -> None:
        self._vars = variables
        self._coords = coords
        self.attrs = attrs
        self.chain = chain
        self.stage_info = stage_info
        self._six = {s: i for i, s in enumerate(coords["stage"])}

    @cached_property
    def ds(self) -> xr.Dataset:
        """The network as an xarray Dataset (t/yr; per-stage provenance in ``attrs['stage_info']``)."""
        import xarray as xr

        attrs = dict(self.attrs, stage_info=json.dumps(self.stage_info, default=str))
        return xr.Dataset({k: v for k, v in self._vars.items()}, coords=self._coords, attrs=attrs)

    @property
    def sectors(self) -> list[str]:
        return list(self._coords["sector"])

    def array(self, name: str) -> np.ndarray:
        """The numpy array of variable ``name`` (dims as in :attr:`ds`); read-only by convention."""
        return self._vars[name][1]

    @property
    def chain_id(self) -> str:
        return str(self.attrs["chain"])

    @property
    def stages(self) -> list[str]:
        return list(self._coords["stage"])

    @property
    def countries(self) -> list[str]:
        return list(self._coords["country"])

    def _stage(self, stage: str) -> str:
        if stage not in self.stages:
            raise InputError(
                "stage",
                stage,
                f"not a stage of chain {self.chain_id}{did_you_mean(stage, self.stages)}"
                f"; stages: {', '.join(self.stages)}",
            )
        return stage

    def _i(self, stage: str) -> int:
        """Index of ``stage`` (InputError naming the stage when unknown)."""
        return self._six[self._stage(stage)]

    def unit(self, stage: str) -> str:
        """The content unit of ``stage`` (what its tonnes count, e.g. 't NdFeB magnet', 'GWh')."""
        return str(self.stage_info[self._stage(stage)]["unit"])

    def is_missing(self, stage: str) -> bool:
        """True when the stage has no production data at all (neither series, published nor derived)."""
        return bool(np.isnan(self.array("production")[self._i(stage)]).all())

    def production(self, stage: str) -> pd.Series:
        """Output of ``stage`` by country (t/yr of its unit), producers only; empty when missing."""
        v = self.array("production")[self._i(stage)]
        ok = v > 0  # NaN compares False
        return pd.Series(v[ok], index=pd.Index(np.asarray(self.countries)[ok], name="country"),
                         name="production").sort_values(ascending=False)

    def total(self, stage: str) -> float:
        """World output of ``stage`` (t/yr); NaN when the stage has no data."""
        if self.is_missing(stage):
            return float("nan")
        return float(self.production(stage).sum())

    def share(self, stage: str, country: str) -> float:
        """``country``'s share (0–1) of world output of ``stage``; NaN when the stage has no data."""
        tot = self.total(stage)
        if not tot > 0:
            return float("nan")
        return float(self.production(stage).get(country, 0.0)) / tot

    def elements(self) -> list[str]:
        return list(self._coords.get("element", []))

    def element_production(self, stage: str, element: str) -> pd.Series:
        """Output of ``element`` contained in ``stage`` by country (t/yr of the element)."""
        if element not in self.elements():
            raise InputError(
                "element", element, f"chain {self.chain_id} carries elements: {', '.join(self.elements()) or 'none'}"
            )
        i = self._i(stage)
        v = self.array("production")[i] * self.array("element_content")[i, :, self.elements().index(element)]
        ok = v > 0
        return pd.Series(v[ok], index=pd.Index(np.asarray(self.countries)[ok], name="country"),
                         name=element).sort_values(ascending=False)

    def element_flows(self, stage: str, element: str) -> pd.DataFrame:
        """Flows of ``element`` contained in ``stage`` between countries (``exporter, importer, t``: t/yr of
        the element), from the balanced ``flows`` (recorded trade and pooled estimates) × the exporter's
        element content; home use (the diagonal) left out."""
        if element not in self.elements():
            raise InputError("element", element, f"chain {self.chain_id} carries elements: "
                             f"{', '.join(self.elements()) or 'none'}")
        i = self._i(stage)
        m = self.array("flows")[i] * self.array("element_content")[i, :, self.elements().index(element)][:, None]
        m = np.where(np.eye(len(self.countries), dtype=bool), 0.0, np.nan_to_num(m))
        e, j = np.nonzero(m > 0)
        cs = np.asarray(self.countries)
        return pd.DataFrame({"exporter": cs[e], "importer": cs[j], "t": m[e, j]})

    def trade(self, stage: str) -> pd.DataFrame:
        """Recorded bilateral trade of ``stage`` (``exporter, importer, t``: t/yr; imputed tonnage included)."""
        m = self.array("trade")[self._i(stage)]
        e, i = np.nonzero(m > 0)
        cs = np.asarray(self.countries)
        return pd.DataFrame({"exporter": cs[e], "importer": cs[i], "t": m[e, i]})

    def consumption(self, stage: str) -> pd.Series:
        """Apparent consumption of ``stage`` by country (kept output plus allocated imports, t/yr)."""
        v = self.array("consumption")[self._i(stage)]
        ok = v > 0
        return pd.Series(v[ok], index=pd.Index(np.asarray(self.countries)[ok], name="country"),
                         name="consumption").sort_values(ascending=False)

    def check(self) -> list[str]:
        """Stages with HS codes or a production definition that have neither trade nor production data."""
        bad = []
        for s in self.stages:
            info = self.stage_info[s]
            no_prod = self.is_missing(s)
            no_trade = float(self.array("trade")[self._i(s)].sum()) == 0
            if no_prod and no_trade:
                bad.append(
                    f"{s}: no production ({info.get('production_basis')}) and no trade "
                    f"({info.get('trade_note', 'no HS codes')})"
                )
        return bad

    def stage_table(self) -> pd.DataFrame:
        """One row per stage and producing country: output, share, basis, source, year (for show/CSV)."""
        rows = []
        for s in self.stages:
            info = self.stage_info[s]
            p = self.production(s)
            tot = float(p.sum())
            if p.empty:
                rows.append(
                    {
                        "stage": s,
                        "country": None,
                        "production": None,
                        "share": None,
                        "unit": info["unit"],
                        "basis": info["production_basis"],
                        "source": info.get("production_source"),
                        "year": info.get("production_year"),
                    }
                )
            for c, q in p.items():
                rows.append(
                    {
                        "stage": s,
                        "country": c,
                        "production": float(q),
                        "share": float(q) / tot,
                        "unit": info["unit"],
                        "basis": info["production_basis"],
                        "source": info.get("production_source"),
                        "year": info.get("production_year"),
                    }
                )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """One row per stage: world output, China's share, top producer, trade year, basis (for ``show``)."""
        rows = []
        for s in self.stages:
            info = self.stage_info[s]
            p = self.production(s)
            tot = float(p.sum()) if len(p) else float("nan")
            rows.append(
                {
                    "stage": s,
                    "unit": info["unit"],
                    "world": tot,
                    "china_share": float(p.get("CHN", 0.0)) / tot if tot > 0 else float("nan"),
                    "top": (f"{p.index[0]}" if len(p) else None),
                    "top_share": float(p.iloc[0]) / tot if tot > 0 else float("nan"),
                    "basis": info["production_basis"],
                    "source": info.get("production_source"),
                    "year": info.get("production_year"),
                    "trade_year": info.get("trade_year"),
                    "traded_t": float(self.array("trade")[self._i(s)].sum()),
                    "balancing": float(self.array("balancing")[self._i(s)].sum()),
                }
            )
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (
            f"<ChainNetwork {self.chain_id} year={self.attrs.get('year')} stages={len(self.stages)} "
            f"countries={len(self.countries)}>"
        )


# ---------------------------------------------------------------------------------------------- series rule


def _source_order(stage_source: str | None, default_source: str | None, have: set[str]) -> list[str]:
    """Sources in ``have`` by preference: the stage's, the material's default, SOURCE_ORDER, the rest."""
    pref = [s for s in (stage_source, default_source, *SOURCE_ORDER) if s]
    order = list(dict.fromkeys(p for p in pref if p in have))
    return order + sorted(have - set(order))


def _reported_rows(world: Any, material: str, stage: str | None, year: int | None, case: str) -> pd.DataFrame:
    """Production rows of ``material`` (and ``stage``) counted under ``case``, at or before ``year``."""
    df = world.table("production")
    if df.empty:
        return df
    keep = (df["material"] == material) & df["quantity"].notna() & ~df["country"].isin(NOT_COUNTRIES)
    if stage is not None:
        keep &= df["stage"] == stage
    if "case" in df.columns:
        keep &= df["case"].isin(CASES[case]) | df["case"].isna()
    if year is not None:
        keep &= df["year"].astype(int) <= year
    return df[keep]


def _default_source(world: Any, material: str) -> str | None:
    """The material's ``default_source`` in the World's materials table (None when absent)."""
    mats = world.materials()
    if mats.empty or "default_source" not in mats.columns:
        return None
    hit = mats.loc[mats["material"] == material, "default_source"]
    return str(hit.iloc[0]) if len(hit) and isinstance(hit.iloc[0], str) and hit.iloc[0] else None


def production_series(world: Any, stage: Any, year: int | None, case: str = "reported") -> tuple[pd.Series, dict]:
    """A stage's production by country (t/yr) under the network's rule (module doc, 1a/1b).

    Returns an empty Series (and the reason in the info dict) when the stage has neither a World
    series nor published figures.
    """
    ps = stage.production
    if ps is not None:
        df = _reported_rows(world, ps.material, ps.stage, year, case)
        if not df.empty:
            src = _source_order(ps.source, _default_source(world, ps.material), set(df["source"]))[0]
            d = df[df["source"] == src]
            y = int(d["year"].astype(int).max())
            d = d[d["year"].astype(int) == y]
            series = d.groupby("country")["quantity"].sum().astype(float)
            return series[series > 0], {
                "production_basis": "series",
                "production_source": src,
                "production_year": y,
                "production_material": ps.material,
                "production_unit": str(d["unit"].iloc[0]) if "unit" in d.columns else None,
            }
    pub = stage.published
    if pub is not None and (year is None or pub.year <= year):
        world_t = float(pub.world.value)
        vals: dict[str, float] = {}
        for c in pub.countries:
            vals[str(c.country)] = float(c.value) if c.value is not None else float(c.share) * world_t
        rest = world_t - sum(vals.values())
        if rest < -1e-6 * world_t:
            raise InputError(
                f"chain stage {stage.id}",
                "published.countries",
                f"countries add up to {sum(vals.values()):,.0f}, more than the world {world_t:,.0f}",
            )
        if rest > 0:
            vals[pub.residual] = vals.get(pub.residual, 0.0) + rest
        bases = sorted({pub.world.basis, *(c.basis for c in pub.countries)})
        return pd.Series(vals, dtype=float), {
            "production_basis": "published",
            "production_source": "chain file (published figures: " + ", ".join(bases) + ")",
            "production_year": pub.year,
            "production_unit": pub.unit,
            "published": [c.model_dump(exclude_none=True) for c in [pub.world, *pub.countries]],
        }
    return pd.Series(dtype=float), {"production_basis": "derived from inputs" if stage.inputs else "missing"}


def _material_output(world: Any, material: str, year: int | None) -> pd.Series:
    """A material's output by country (t/yr) for basket apportioning: refining if reported, else mining;
    the material's default source first; the latest year at or before ``year``."""
    df = _reported_rows(world, material, None, year, "reported")
    if df.empty:
        return pd.Series(dtype=float)
    stage = "refining" if (df["stage"] == "refining").any() else str(df["stage"].iloc[0])
    df = df[df["stage"] == stage]
    src = _source_order(None, _default_source(world, material), set(df["source"]))[0]
    df = df[df["source"] == src]
    df = df[df["year"].astype(int) == int(df["year"].astype(int).max())]
    return df.groupby("country")["quantity"].sum().astype(float)


def _basket_codes(chain: Any) -> dict[str, list[int]]:
    """HS codes that several stages of the chain share, with the stage indices sharing them."""
    users: dict[str, list[int]] = {}
    for i, s in enumerate(chain.stages):
        for c in s.hs6:
            users.setdefault(c, []).append(i)
    return {c: ix for c, ix in users.items() if len(ix) > 1}


def _stage_trade(tr: dict[str, pd.DataFrame], codes: list[str], year: int | None) -> tuple[pd.DataFrame, dict]:
    """Recorded trade of one stage's codes (exporter, importer, hs6, t per year) under rule 2.

    ``tr``: trade rows by HS code (``World.trade_by_code``)."""
    empty = pd.DataFrame(columns=["exporter", "importer", "hs6", "t"])
    if not codes:
        return empty, {"trade_note": "not traded (no HS codes)"}
    have = {c: tr[c] for c in codes if c in tr}
    years = {c: f["year"].to_numpy(dtype="int64") for c, f in have.items()}
    alln = np.concatenate(list(years.values())) if years else np.array([], dtype="int64")
    if year is not None:  # rule 2: at or before the year, never a later one
        alln = alln[alln <= year]
    if not len(alln):
        when = f" at or before {year}" if year is not None else ""
        return empty, {"trade_note": f"no rows for HS {', '.join(codes)}{when}", "trade_missing_hs6": codes}
    y = int(alln.max())
    cols: dict[str, list[np.ndarray]] = {"exporter": [], "importer": [], "hs6": [], "t": []}
    sources: set[str] = set()
    imputed = 0
    no_t: list[str] = []
    for c, f in have.items():
        f = f[years[c] == y]
        if f.empty:
            continue
        src = f["source"].to_numpy(dtype=object)
        if len(set(src)) > 1:  # one source per code: the one with most rows (ties: alphabetical)
            names, counts = np.unique(src.astype(str), return_counts=True)
            keep = names[np.lexsort((names, -counts))][0]
            f, src = f[src == keep], src[src == keep]
        sources.add(str(src[0]))
        q = f["quantity_t"].to_numpy(dtype="float64")
        v = f["value_kusd"].to_numpy(dtype="float64")
        ok = (q > 0) & np.isfinite(v)
        uv = float(np.median(v[ok] / q[ok])) if ok.any() else np.nan
        miss = np.isnan(q) & ~np.isnan(v)
        if np.isfinite(uv) and uv > 0:
            imputed += int(miss.sum())
            q = np.where(miss, v / uv, q)
        elif miss.any():
            no_t.append(c)
        cols["exporter"].append(f["exporter"].to_numpy(dtype=object))
        cols["importer"].append(f["importer"].to_numpy(dtype=object))
        cols["hs6"].append(np.full(len(f), c, dtype=object))
        cols["t"].append(q)
    if not cols["t"]:
        return empty, {"trade_note": f"no rows for HS {', '.join(codes)} in {y}", "trade_missing_hs6": codes}
    out = pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})
    out = out[(out["exporter"] != out["importer"]) & (out["t"] > 0)]
    used = sorted(set(out["hs6"]))
    info = {
        "trade_year": y,
        "trade_hs6": used,
        "trade_missing_hs6": [c for c in codes if c not in used],
        "trade_sources": sorted(sources),
        "trade_t_imputed_rows": imputed,
    }
    if no_t:
        info["trade_no_tonnage_hs6"] = no_t
    return out, info


# ---------------------------------------------------------------------------------------------- build


def network_of(world: Any, chain: Any, year: int | None = None) -> ChainNetwork:
    """The network of a :class:`~critmin.chains.Chain` object: the World's cached one when ``chain`` is the
    World's own chain, else one built for it (a chain edited or made in code, e.g. in a test)."""
    if world.chains.get(chain.id) is chain:
        return world.network(chain.id, year)
    return build_network(world, chain, year)


def build_network(world: Any, chain: Any, year: int | None = None, case: str = "reported") -> ChainNetwork:
    """Build the :class:`ChainNetwork` of ``chain`` (a Chain or chain id) from ``world`` (module doc)."""
    if case not in CASES:
        raise InputError("case", case, f"must be one of {', '.join(CASES)}")
    if isinstance(chain, str):
        chains = world.chains
        if chain not in chains:
            raise InputError("chain", chain, f"unknown chain{did_you_mean(chain, chains)}; chains: {', '.join(chains)}")
        chain = chains[chain]
    S = len(chain.stages)
    sid = {s.id: i for i, s in enumerate(chain.stages)}
    factors = np.zeros((S, S))
    for i, s in enumerate(chain.stages):
        for inp in s.inputs:
            factors[i, sid[inp.stage]] += inp.factor.value

    info: dict[str, dict[str, Any]] = {}
    prod: list[pd.Series | None] = []
    for s in chain.stages:
        ser, meta = production_series(world, s, year, case)
        meta["unit"] = s.content
        info[s.id] = meta
        prod.append(ser if meta["production_basis"] in ("series", "published") else None)

    codes = sorted({c for s in chain.stages for c in s.hs6})
    tr = world.trade_by_code(codes) if codes else {}
    trades: list[pd.DataFrame] = []
    for s in chain.stages:
        ty = info[s.id].get("production_year", year)
        if year is not None and ty is not None:
            ty = min(int(ty), year) if info[s.id]["production_basis"] != "series" else int(ty)
        t, tmeta = _stage_trade(tr, s.hs6, ty)
        info[s.id].update(tmeta)
        trades.append(t)

    # basket codes: apportion by each exporter's production of the materials sharing the code
    baskets = _basket_codes(chain)
    for code in chain.baskets:
        baskets.setdefault(code, [i for i, s in enumerate(chain.stages) if code in s.hs6])
    for code, ix in baskets.items():
        outputs = {i: (prod[i] if prod[i] is not None else pd.Series(dtype=float)) for i in ix}
        others = [_material_output(world, m, year) for m in chain.baskets.get(code, [])]
        world_tot = {i: float(outputs[i].sum()) for i in ix}
        for i in ix:
            t = trades[i]
            sel = t["hs6"] == code
            if not sel.any():
                continue
            ex = t.loc[sel, "exporter"]
            mine = ex.map(outputs[i]).fillna(0.0)
            allp = sum(ex.map(outputs[k]).fillna(0.0) for k in ix) + sum(ex.map(o).fillna(0.0) for o in others)
            wshare = world_tot[i] / max(sum(world_tot.values()) + sum(float(o.sum()) for o in others), 1e-12)
            frac = np.where(allp > 0, mine / allp.where(allp > 0, 1.0), wshare)
            t.loc[sel, "t"] = t.loc[sel, "t"].to_numpy() * frac
            trades[i] = t[t["t"] > 0]
            info[chain.stages[i].id].setdefault("basket_hs6", []).append(code)

    names: set[str] = set()
    for ser in prod:
        if ser is not None:
            names |= set(ser.index)
    for t in trades:
        names |= set(t["exporter"]) | set(t["importer"])
    countries = sorted(names)
    if not countries:
        raise InputError(f"chain {chain.id}", None, "the World has no production or trade for this chain")
    C = len(countries)
    cix = {c: k for k, c in enumerate(countries)}

    trade = np.zeros((S, C, C))
    for i, t in enumerate(trades):
        if len(t):
            np.add.at(trade[i], ([cix[x] for x in t["exporter"]], [cix[x] for x in t["importer"]]), t["t"].to_numpy())

    q0 = np.zeros((S, C))
    flows = np.zeros((S, C, C))
    balancing = np.zeros((S, C))
    pooled = np.zeros((S, C, C))
    claimed = np.zeros((S, C))
    consumers = [[j for j in range(S) if factors[j, i] > 0] for i in range(S)]
    built = [False] * S
    enduse_share = np.zeros(S)
    for e in chain.end_uses:
        if e.share is not None:
            enduse_share[sid[e.stage]] += e.share.value
    enduse_share = np.minimum(enduse_share, 1.0)
    missing = np.zeros(S, dtype=bool)
    reported = np.zeros((S, C))  # output before balancing items (what the series, figures or inputs say)

    def set_flows(i: int) -> None:
        f = trade[i].copy()
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
            q[[cix[c] for c in ser.index]] = ser.to_numpy()
            for k, f in ins:
                avail = flows[k].sum(axis=0) - claimed[k]
                need = f * q
                gap = np.maximum(0.0, need - avail)
                if gap.any():
                    # clear through the world pool first: surplus of other countries, pro rata (rule 3)
                    surplus = np.maximum(0.0, avail - need) * (1.0 - enduse_share[k])
                    surplus = np.minimum(surplus, np.maximum(np.diag(flows[k]), 0.0))  # own output only, no re-exports
                    moved = min(gap.sum(), surplus.sum())
                    if moved > 0:
                        give = surplus / surplus.sum() * moved
                        take = gap / gap.sum() * moved
                        x = np.outer(give, take) / moved  # from givers' kept output (diagonal) to takers
                        flows[k] += x
                        flows[k][np.arange(C), np.arange(C)] -= give
                        pooled[k] += x
                        gap = gap - take
                    gap = np.maximum(gap, 0.0)
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
            q = np.zeros(C)
            missing[i] = True
        q0[i] = q
        reported[i] = q
        for k, f in ins:
            claimed[k] += f * q
        set_flows(i)
        built[i] = True
    for i, s in enumerate(chain.stages):
        info[s.id]["balancing_t"] = float(balancing[i].sum())
        if info[s.id]["production_basis"] == "derived from inputs":
            info[s.id]["production_source"] = "derived from " + ", ".join(inp.stage for inp in s.inputs)
            years = [info[inp.stage].get("production_year") for inp in s.inputs]
            if all(y is not None for y in years):
                info[s.id]["production_year"] = max(int(y) for y in years)

    consumption = flows.sum(axis=1)
    residual = np.maximum(consumption - claimed, 0.0)
    sectors, sec_stage, sec_def, sec_share = _sectors(chain, sid, residual)
    K = len(sectors)
    demand = np.zeros((C, K))
    for k in range(K):
        st = sec_stage[k]
        tot = sum(sh for sh, s2 in zip(sec_share, sec_stage, strict=True) if s2 == st)
        demand[:, k] = residual[st] * sec_share[k] / max(tot, 1.0)

    production = reported.copy()
    production[missing, :] = np.nan
    stage_ids = [s.id for s in chain.stages]
    variables: dict[str, tuple] = {
            "production": (
                ("stage", "country"),
                production,
                {
                    "unit": "t/yr of the stage's content unit",
                    "basis": "series | published | derived "
                    "from inputs (per stage in stage_info); balancing items included; NaN = no data",
                },
            ),
            "supply": (
                ("stage", "country"),
                q0,
                {"unit": "t/yr", "description": "output used in the balance: production plus balancing items"},
            ),
            "pooled": (
                ("stage", "exporter", "importer"),
                pooled,
                {
                    "unit": "t/yr",
                    "description": "estimated flows (not recorded trade): downstream needs "
                    "met from other countries' surplus, pro rata (rule 3); included in flows",
                },
            ),
            "balancing": (
                ("stage", "country"),
                balancing,
                {
                    "unit": "t/yr",
                    "description": "unrecorded or secondary supply added so that "
                    "reported downstream output is met (rule 3)",
                },
            ),
            "trade": (
                ("stage", "exporter", "importer"),
                trade,
                {
                    "unit": "t/yr (gross traded tonnes of the stage's HS codes)",
                    "source": "CEPII BACI (sources per stage in stage_info)",
                    "description": "recorded bilateral trade",
                },
            ),
            "flows": (
                ("stage", "exporter", "importer"),
                flows,
                {
                    "unit": "t/yr",
                    "description": "balanced allocation of output: exports capped at "
                    "output, diagonal = kept at home (rule 3)",
                },
            ),
            "consumption": (
                ("stage", "country"),
                consumption,
                {"unit": "t/yr", "description": "apparent consumption: kept output plus allocated imports"},
            ),
            "input_use": (
                ("stage", "country"),
                claimed,
                {"unit": "t/yr", "description": "use of the stage's product by downstream stages"},
            ),
            "demand": (
                ("country", "sector"),
                demand,
                {
                    "unit": "t/yr of the sector's stage unit",
                    "description": "final demand by end-use "
                    "sector (consumption not used downstream, split by the chain's shares)",
                },
            ),
            "factors": (
                ("stage", "input_stage"),
                factors,
                {"unit": "t of input stage per t of stage", "source": "chain file (docs/chains.md)"},
            ),
            "inventory_months": (
                ("stage",),
                np.array([s.inventory_months.value if s.inventory_months else np.nan for s in chain.stages]),
                {"unit": "months of use", "basis": "chain file (judgements flagged there); NaN = no figure"},
            ),
            "recycling_share": (
                ("stage",),
                np.array([s.recycling_share.value if s.recycling_share else np.nan for s in chain.stages]),
                {"unit": "fraction of the stage's supply from recycling", "basis": "chain file; NaN = no figure"},
            ),
            "sector_stage": (("sector",), np.array([stage_ids[k] for k in sec_stage], dtype=object)),
            "sector_defence": (("sector",), np.array(sec_def, dtype=bool)),
            "sector_share": (
                ("sector",),
                np.array(sec_share, dtype=float),
                {"unit": "fraction of the stage's final demand"},
            ),
    }
    coords = {"stage": stage_ids, "country": countries, "exporter": countries, "importer": countries,
              "input_stage": stage_ids, "sector": sectors}
    attrs = {"chain": chain.id, "title": chain.title, "year": -1 if year is None else int(year), "case": case}
    elements = sorted({e.element for s in chain.stages for e in s.elements})
    if elements:
        content = np.full((S, C, len(elements)), np.nan)
        for i, s in enumerate(chain.stages):
            for e in s.elements:
                j = elements.index(e.element)
                content[i, :, j] = e.content.value
                for c, v in e.countries.items():
                    if c in cix:
                        content[i, cix[c], j] = v.value
        variables["element_content"] = (
            ("stage", "country", "element"),
            content,
            {"unit": "t of element per t of the stage's product",
             "basis": "chain file (elements; judgements flagged there)"},
        )
        coords["element"] = elements
    return ChainNetwork(variables, coords, attrs, chain, info)


def _sectors(
    chain: Any, sid: dict[str, int], residual: np.ndarray
) -> tuple[list[str], list[int], list[bool], list[float]]:
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
    for i, s in enumerate(chain.stages):
        total = sum(sh for sh, st in zip(sec_share, sec_stage, strict=True) if st == i)
        if residual[i].sum() > 0 and total < 1 - 1e-6:
            sectors.append(f"other-{s.id}")
            sec_stage.append(i)
            sec_def.append(False)
            sec_share.append(1.0 - total)
    counts = pd.Series(sectors, dtype=object).value_counts()
    labels = [
        f"{sc}@{chain.stages[st].id}" if counts[sc] > 1 else sc for sc, st in zip(sectors, sec_stage, strict=True)
    ]
    return labels, sec_stage, sec_def, sec_share
