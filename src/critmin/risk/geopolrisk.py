"""GeoPolRisk (Gemechu et al. 2016; Koyamparambath et al. 2024) for every material × importer × year.

The definitions are those of the reference implementation geopolrisk-py 2.x (see
``docs/risk.md`` and ``docs/geopolrisk-peer-notes.md``)::

    HHI_A    = Σ_k int(q_k)² / (Σ_k int(q_k))²        world mine production (World Mining Data), raw unit
    g_i      = clip((2.5 − PV_i)/5, 0, 1)             WGI political stability of exporter i; missing → 0.5
    N_Ac     = Σ_i g_i · f_Aic                        f = BACI HS92 import quantity (t), summed over the
                                                      material's HS codes (main + complementary); q missing → 0
    F_Ac     = Σ_i f_Aic                              total imports (t)
    p_Ac     = domestic production (t; WMD kg sheets ÷ 1000)
    import_risk = N / (F + p)   (0 when F + p = 0)
    score    = HHI · import_risk                      dimensionless, 0–1
    price    = Σ_i v_Aic / F_Ac   (kUSD/t = USD/kg; 0 when F = 0)
    cf       = score · price / 0.409412948            kg Cu-eq/kg (copper midpoint hard-coded by the method)

Blocs act like the peer's regions: imports of every member are pooled, flows between members
keep their quantity in F but get g = 0, and members' production is summed into p.

Everything is one vectorised computation (pandas merges and group-bys over the trade table);
no Python loop runs per material, importer or year.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from critmin.errors import InputError, did_you_mean
from critmin.world import World, _as_list

#: Average copper midpoint of OECD countries 2017–2021, hard-coded in geopolrisk-py (core.GeoPolRisk).
CF_CU = 0.409412948

#: Political instability imputed where an exporter has no WGI value (the peer's rule).
G_MISSING = 0.5

#: The BACI release the method's trade quantities come from.
GPR_TRADE_SOURCE = "baci-hs92-v202401b"

#: ISO3 codes whose row in the peer's WGI table carries no numeric country code ("NA"), so the peer
#: never joins them to a BACI exporter and imputes 0.5 (Taiwan is BACI 490 "Other Asia, nes").
#: Derived from data/raw/governance/wgi_political_stability_normalized_geopolrisk.csv (column
#: ``country_code``); tests/test_risk_geopolrisk.py re-derives it from that file.
PEER_UNJOINED_WGI = frozenset({"JEY", "LIE", "MCO", "MTQ", "PRI", "REU", "TWN"})

OUT_COLUMNS = [
    "material", "wmd_name", "importer", "year", "score", "cf", "hhi", "import_risk", "price",
    "numerator", "total_imports", "domestic_production", "n_partners", "n_imputed_g", "status", "missing",
]


def group_expander(members: np.ndarray, groups: np.ndarray) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A vectorised one-to-many join: ``members[k]`` belongs to group ``groups[k]`` (a member may be in several).

    The returned function pairs each of its ``codes`` with every group it belongs to and returns (row index
    into ``codes``, group index) for every (code, group) membership, in the order of ``codes``.
    """
    order = np.argsort(members, kind="stable")
    sorted_members, groups_of_sorted = members[order], groups[order]

    def expand(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = np.searchsorted(sorted_members, codes, "left")
        cnt = np.searchsorted(sorted_members, codes, "right") - lo
        row = np.repeat(np.arange(len(codes)), cnt)
        off = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        return row, groups_of_sorted[lo[row] + off]

    return expand


@dataclass(frozen=True)
class GprInputs:
    """Inputs of the GeoPolRisk table, prepared once per World, in integer codes.

    ``names``: country/bloc index (codes are positions in it); ``mats``: material, wmd_name, hs6 list
    (materials with an HS mapping; the material code is the row position).
    ``flows``: arrays m, y (year), e (exporter), i (importer), q (t), v (kUSD), g (0–1), imputed.
    ``prod``: arrays m, c (country), y, p (t). ``hhi``: DataFrame material, year, hhi (0–1).
    ``unmapped``: material → reason, for materials the method cannot assess.
    """

    names: pd.Index
    mats: pd.DataFrame
    flows: dict[str, np.ndarray]
    prod: dict[str, np.ndarray]
    hhi: pd.DataFrame
    unmapped: dict[str, str]
    years: tuple[int, ...]


def _codes(text: str) -> list[str]:
    out = []
    for c in str(text or "").replace(",", ";").split(";"):
        c = c.strip()
        if c and c.isdigit():
            out.append(str(int(c)).zfill(6))
    return out


def material_hs_map(world: World) -> tuple[pd.DataFrame, dict[str, str]]:
    """Materials the method maps to HS codes: (material, wmd_name, hs6) rows, and unmapped → reason."""
    hm = world.table("wmd_hs_map")
    mats = world.materials()
    by_wmd = mats[mats["wmd_name"].fillna("") != ""][["material", "wmd_name"]]
    m = by_wmd.merge(hm[["wmd_name", "hs_codes", "hs_codes_complementary"]], on="wmd_name", how="left")
    rows, unmapped = [], {}
    for mat, wmd, main, comp in m.itertuples(index=False):  # one row per material (~70), not per triple
        codes = sorted(set(_codes(main) + _codes(comp)))
        if not codes:
            unmapped[mat] = (f"no HS code for World Mining Data commodity {wmd!r} in the GeoPolRisk HS map "
                             f"(wmd_hs_map.hs_codes = {str(main or 'empty')!r})")
            continue
        rows += [(mat, wmd, c) for c in codes]
    return pd.DataFrame(rows, columns=["material", "wmd_name", "hs6"]), unmapped


def instability(world: World, peer_compat: bool = True) -> pd.DataFrame:
    """g per (country, year) from the World's ``pv_instability`` rows (first row wins on duplicates).

    With ``peer_compat`` the countries the peer cannot join (:data:`PEER_UNJOINED_WGI`) are dropped,
    so they are imputed 0.5 like in geopolrisk-py.
    """
    g = world.governance("pv_instability")[["country", "year", "value"]]
    g = g.drop_duplicates(["country", "year"], keep="first")
    if peer_compat:
        g = g[~g["country"].isin(PEER_UNJOINED_WGI)]
    return g.astype({"year": "int64"})


def read_trade(world: World, years: tuple[int, ...] | None = None, source: str | None = GPR_TRADE_SOURCE,
               hs6: list[str] | None = None) -> pd.DataFrame:
    """Trade rows (year, exporter, importer, hs6, value_kusd, quantity_t) with categorical country columns.

    Filters the World's dictionary-encoded trade read (:meth:`World.trade_dictionary`, read once per World,
    about ten times faster than the generic table reader); falls back to ``world.table``.
    """
    cols = ["year", "exporter", "importer", "hs6", "value_kusd", "quantity_t"]
    df = world.trade_dictionary()
    if df is not None:
        mask = np.ones(len(df), dtype=bool)
        if source is not None:
            mask &= (df["source"] == source).to_numpy()
        if years:
            mask &= np.isin(df["year"].to_numpy(), np.asarray(years))
        if hs6:
            cats = df["hs6"].cat.categories.astype(str)
            mask &= np.isin(cats, list(hs6))[df["hs6"].cat.codes.to_numpy()]
        df = df.loc[mask, cols].reset_index(drop=True)
        df["year"] = df["year"].astype("int64")
        return df
    tr = world.table("trade")
    if tr.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "year" else "float64") for c in cols})
    mask = np.ones(len(tr), dtype=bool)
    if source is not None and "source" in tr.columns:
        mask &= (tr["source"] == source).to_numpy()
    if years:
        mask &= tr["year"].isin(years).to_numpy()
    if hs6:
        mask &= tr["hs6"].isin(hs6).to_numpy()
    df = tr.loc[mask, cols].reset_index(drop=True)
    for c in ("exporter", "importer", "hs6"):
        df[c] = df[c].astype("category")
    df["year"] = df["year"].astype("int64")
    return df


def _code(names: pd.Index, values) -> np.ndarray:
    """Positions of ``values`` in ``names`` (categoricals are mapped through their categories)."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        lut = names.get_indexer(values.cat.categories.astype(str))
        return lut[values.cat.codes.to_numpy()]
    return names.get_indexer(np.asarray(values, dtype=object))


def prepare(world: World, peer_compat: bool = True) -> GprInputs:
    """Join trade, governance and production once: the inputs of every GeoPolRisk triple."""
    hsrows, unmapped = material_hs_map(world)
    mats = hsrows.groupby(["material", "wmd_name"], as_index=False, sort=True)["hs6"].agg(list)
    mcode = pd.Index(mats["material"])
    prod = world.table("production")
    prod = prod[(prod["source"] == "wmd") & prod["material"].isin(set(mcode) | set(unmapped))]
    years = tuple(sorted(int(y) for y in prod["year"].unique()))
    # HHI on int-truncated quantities in the raw WMD unit (as the peer does).
    qi = np.trunc(prod["quantity"].to_numpy(dtype="float64"))
    h = pd.DataFrame({"material": prod["material"].to_numpy(), "year": prod["year"].to_numpy(dtype="int64"),
                      "s": qi, "s2": qi * qi})
    h = h.groupby(["material", "year"], as_index=False, sort=False)[["s", "s2"]].sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        h["hhi"] = np.where(h["s"] > 0, h["s2"] / h["s"] ** 2, np.nan)

    tr = read_trade(world, years, GPR_TRADE_SOURCE, sorted(set(hsrows["hs6"])))
    blocs = world.blocs()
    names = pd.Index(sorted(set(tr["exporter"].cat.categories.astype(str)) | set(tr["importer"].cat.categories
                     .astype(str)) | set(prod["country"]) | set(blocs["bloc"] if not blocs.empty else [])
                     | set(blocs["iso3"] if not blocs.empty else [])))

    keep = prod["material"].isin(mcode)
    scale = np.where(prod["unit"].to_numpy() == "kg", 1e-3, 1.0)
    pr = {"m": mcode.get_indexer(prod["material"].to_numpy()[keep.to_numpy()]),
          "c": names.get_indexer(prod["country"].to_numpy()[keep.to_numpy()]),
          "y": prod["year"].to_numpy(dtype="int64")[keep.to_numpy()],
          "p": (prod["quantity"].to_numpy(dtype="float64") * scale)[keep.to_numpy()]}

    # trade rows -> (material, hs6) pairs; an HS code may serve several materials
    hs_cat = tr["hs6"].cat.categories.astype(str)
    pairs = hsrows.assign(h=pd.Index(hs_cat).get_indexer(hsrows["hs6"]), m=mcode.get_indexer(hsrows["material"]))
    pairs = pairs[pairs["h"] >= 0]
    hcode = tr["hs6"].cat.codes.to_numpy()
    row, m = group_expander(pairs["h"].to_numpy(), pairs["m"].to_numpy())(hcode)
    e = _code(names, tr["exporter"])[row]
    i = _code(names, tr["importer"])[row]
    y = tr["year"].to_numpy(dtype="int64")[row]
    q = np.nan_to_num(tr["quantity_t"].to_numpy(dtype="float64"), nan=0.0)[row]
    v = np.nan_to_num(tr["value_kusd"].to_numpy(dtype="float64"), nan=0.0)[row]
    # one row per (material, year, exporter, importer): sum over the material's HS codes
    nn, y0 = len(names), min(years)
    key = ((m * (max(years) - y0 + 1) + (y - y0)) * nn + e) * nn + i
    agg = pd.DataFrame({"k": key, "q": q, "v": v}).groupby("k", sort=True).sum()
    key = agg.index.to_numpy()
    q, v = agg["q"].to_numpy(), agg["v"].to_numpy()
    i, key = key % nn, key // nn
    e, key = key % nn, key // nn
    y, m = key % (max(years) - y0 + 1) + y0, key // (max(years) - y0 + 1)
    # political instability g by dense (country, year) lookup
    gt = instability(world, peer_compat)
    ny = max(years) - y0 + 1
    gmat = np.full((len(names), ny), np.nan)
    gc = names.get_indexer(gt["country"].to_numpy())
    gy = gt["year"].to_numpy() - y0
    ok = (gc >= 0) & (gy >= 0) & (gy < ny)
    gmat[gc[ok], gy[ok]] = gt["value"].to_numpy(dtype="float64")[ok]
    g = gmat[e, y - y0]
    imputed = np.isnan(g)
    g = np.where(imputed, G_MISSING, g)
    flows = {"m": m, "y": y, "e": e, "i": i, "q": q, "v": v, "g": g, "imputed": imputed}
    return GprInputs(names=names, mats=mats, flows=flows, prod=pr, hhi=h[["material", "year", "hhi"]],
                     unmapped=unmapped, years=years)


def _membership(world: World, importers: list[str] | None, names: pd.Index) -> tuple[list[str], np.ndarray,
                                                                                     np.ndarray]:
    """Importer groups: (group names, group index per membership row, member code per row)."""
    blocs = world.blocs()
    bloc_names = set(blocs["bloc"]) if not blocs.empty else set()
    if importers is None:
        countries = world.countries()
        kinds = dict(zip(countries["iso3"], countries["kind"], strict=False))
        iso = [c for c in names if c not in bloc_names and kinds.get(c, "country") == "country"]
        groups = iso + sorted(bloc_names)
        rows = [(k, c) for k, c in enumerate(iso)]
        base = len(iso)
        for k, b in enumerate(sorted(bloc_names)):
            rows += [(base + k, c) for c in blocs.loc[blocs["bloc"] == b, "iso3"]]
    else:
        groups, rows = [], []
        for k, name in enumerate(importers):
            members = world.bloc_members(name)  # raises InputError for unknown names
            groups.append(name)
            rows += [(k, c) for c in members]
    gi = np.array([r[0] for r in rows], dtype="int64")
    mc = names.get_indexer(np.array([r[1] for r in rows], dtype=object))
    keep = mc >= 0
    return groups, gi[keep], mc[keep]


def select_flows(inp: GprInputs, years: list[int], materials: list[str] | None,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flows of the requested years and materials, for the array tables.

    Returns (``yidx``: dense lookup over the World Mining Data years, position of each requested year
    or −1; ``fy``: that position for every flow; ``idx``: indices of the selected flows).
    """
    yidx = np.full(max(inp.years) - min(inp.years) + 1, -1)
    for k, yy in enumerate(years):
        yidx[yy - min(inp.years)] = k
    f = inp.flows
    fy = yidx[f["y"] - min(inp.years)]
    sel = fy >= 0
    if materials is not None:
        sel &= np.isin(f["m"], inp.mats.index[inp.mats["material"].isin(materials)].to_numpy())
    return yidx, fy, np.flatnonzero(sel)


def geopolrisk_table(
    world: World,
    material: str | list[str] | None = None,
    importer: str | list[str] | None = None,
    year: int | list[int] | None = None,
    peer_compat: bool = True,
    inputs: GprInputs | None = None,
) -> pd.DataFrame:
    """GeoPolRisk score, CF, HHI, import risk and price for every material × importer × year.

    One row per requested triple (all materials with World Mining Data production, all countries
    and blocs, all WMD years when not given). Units: hhi, import_risk, score 0–1; price kUSD/t;
    cf kg Cu-eq/kg; numerator, total_imports, domestic_production in t. ``status`` is ``ok`` or
    ``missing``; ``missing`` names the absent input. ``n_imputed_g`` counts partners whose
    instability was imputed 0.5 (no WGI value).
    """
    inp = inputs or prepare(world, peer_compat)
    req_mats = _select_materials(world, material, inp)
    groups, gi, mc = _membership(world, _as_list(importer), inp.names)
    years = _select_years(year, inp.years)
    nm, ng, ny = len(inp.mats), len(groups), len(years)
    yidx, fy, idx = select_flows(inp, years, req_mats)
    N = len(inp.names)
    expand = group_expander(mc, gi)  # member -> groups (a country can belong to several groups)
    shape = (nm, ng, ny)
    f = inp.flows
    row, grp = expand(f["i"][idx])
    r = idx[row]
    intra = np.isin(grp * N + f["e"][r], gi * N + mc)
    flat = np.ravel_multi_index((f["m"][r], grp, fy[r]), shape)
    size = nm * ng * ny
    num = np.bincount(flat, weights=np.where(intra, 0.0, f["q"][r] * f["g"][r]), minlength=size)
    tot = np.bincount(flat, weights=f["q"][r], minlength=size)
    val = np.bincount(flat, weights=f["v"][r], minlength=size)
    nimp = np.bincount(flat, weights=(f["imputed"][r] & ~intra).astype(float), minlength=size)
    pairs = pd.unique(flat * N + f["e"][r])
    npart = np.bincount(pairs // N, minlength=size)

    p = inp.prod
    py = yidx[np.clip(p["y"] - min(inp.years), 0, len(yidx) - 1)]
    psel = np.flatnonzero((py >= 0) & (p["c"] >= 0))
    prow, pgrp = expand(p["c"][psel])
    pr = psel[prow]
    dom = np.bincount(np.ravel_multi_index((p["m"][pr], pgrp, py[pr]), shape), weights=p["p"][pr], minlength=size)

    mm, gg, yy = (a.ravel() for a in np.meshgrid(np.arange(nm), np.arange(ng), np.arange(ny), indexing="ij"))
    out = pd.DataFrame({
        "material": inp.mats["material"].to_numpy()[mm], "wmd_name": inp.mats["wmd_name"].to_numpy()[mm],
        "importer": np.asarray(groups, dtype=object)[gg], "year": np.asarray(years, dtype="int64")[yy],
    })
    out = out.merge(inp.hhi, on=["material", "year"], how="left")
    hhi = out["hhi"].to_numpy(dtype="float64")
    den = tot + dom
    with np.errstate(divide="ignore", invalid="ignore"):
        wta = np.where(den != 0, num / np.where(den != 0, den, 1.0), 0.0)
        price = np.where(tot != 0, val / np.where(tot != 0, tot, 1.0), 0.0)
    score = hhi * wta
    out = out.assign(score=score, cf=score * price / CF_CU, import_risk=wta, price=price, numerator=num,
                     total_imports=tot, domestic_production=dom, n_partners=npart.astype("int64"),
                     n_imputed_g=nimp.astype("int64"))
    no_prod = np.isnan(hhi)
    out["status"] = np.where(no_prod, "missing", "ok")
    out["missing"] = np.where(
        no_prod, "no World Mining Data production for this material and year (HHI undefined)", "")
    if req_mats is not None:
        out = out[out["material"].isin(req_mats)]
    out = out[OUT_COLUMNS]
    # materials the method cannot map (no HS codes): one explanatory row per triple requested
    extra = [m for m in (req_mats if req_mats is not None else sorted(inp.unmapped)) if m in inp.unmapped]
    if extra:
        wmd = world.materials().set_index("material")["wmd_name"]
        miss = pd.DataFrame({"material": extra, "wmd_name": [wmd.get(m, "") for m in extra]})
        miss = miss.merge(pd.DataFrame({"importer": groups}), how="cross")
        miss = miss.merge(pd.DataFrame({"year": np.array(years, dtype="int64")}), how="cross")
        miss = miss.merge(inp.hhi, on=["material", "year"], how="left")
        miss = miss.assign(status="missing", missing=miss["material"].map(inp.unmapped),
                           n_partners=0, n_imputed_g=0)
        out = pd.concat([out, miss.reindex(columns=OUT_COLUMNS)], ignore_index=True)
    return out.sort_values(["material", "importer", "year"], kind="mergesort", ignore_index=True)


def material_slug(world: World, name: str) -> str:
    """The material slug for a slug, a material name or a World Mining Data name (case-insensitive).

    Raises :class:`InputError` naming the nearest slugs for an unknown name.
    """
    mats = world.materials()
    known = set(mats["material"])
    if name in known:
        return name
    alias = {str(w).lower(): m for m, w in zip(mats["material"], mats["wmd_name"], strict=True) if w}
    alias.update({str(n).lower(): m for m, n in zip(mats["material"], mats["name"], strict=True)})
    if name.lower() in alias:
        return alias[name.lower()]
    raise InputError("material", name, f"unknown material{did_you_mean(name, known)}")


def _select_materials(world: World, material, inp: GprInputs) -> list[str] | None:
    """Slugs of the requested materials (None = all); InputError for a material GeoPolRisk cannot assess."""
    if material is None:
        return None
    out = [material_slug(world, n) for n in _as_list(material)]
    gpr = set(inp.mats["material"]) | set(inp.unmapped)
    for m in out:
        if m not in gpr:
            raise InputError("material", m, "no World Mining Data commodity for this material, so GeoPolRisk "
                             "(which needs WMD mine production for its HHI) cannot be computed")
    return out


def _select_years(year, years: tuple[int, ...]) -> list[int]:
    if year is None:
        return list(years)
    ys = [int(year)] if isinstance(year, int | str | np.integer) else [int(y) for y in year]
    for y in ys:
        if y not in years:
            raise InputError("year", str(y), f"outside the GeoPolRisk data (World Mining Data {min(years)}–"
                             f"{max(years)})")
    return ys


def geopolrisk(world: World, material: str, importer: str, year: int, peer_compat: bool = True,
               inputs: GprInputs | None = None) -> dict:
    """One triple as a dict: score, cf, hhi, import_risk, price (+ inputs, status, missing, imputed partners)."""
    inp = inputs or prepare(world, peer_compat)
    row = geopolrisk_table(world, material, importer, year, peer_compat, inp).iloc[0].to_dict()
    row["imputed_g_partners"] = imputed_partners(world, row["material"], importer, int(year), peer_compat, inp)
    return row


def imputed_partners(world: World, material: str, importer: str, year: int, peer_compat: bool = True,
                     inputs: GprInputs | None = None) -> list[str]:
    """Exporters to ``importer`` whose instability g was imputed 0.5 (no WGI value) for this triple."""
    inp = inputs or prepare(world, peer_compat)
    if material not in set(inp.mats["material"]):
        return []
    members = inp.names.get_indexer(world.bloc_members(importer))
    f = inp.flows
    m = int(np.flatnonzero(inp.mats["material"].to_numpy() == material)[0])
    sel = (f["m"] == m) & (f["y"] == int(year)) & np.isin(f["i"], members) & ~np.isin(f["e"], members) & f["imputed"]
    return sorted(inp.names[np.unique(f["e"][sel])])
