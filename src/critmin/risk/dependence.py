"""Import dependence of a country or bloc, for every material × importer × year at once.

Per (material, importer, year), from BACI HS92 tonnes of the material's GeoPolRisk HS codes and World
Mining Data production (both in t; trade in gross product tonnes, production in content tonnes):

* ``imports_t``, ``exports_t`` — trade with the rest of the world; inside a bloc, trade between
  members counts as domestic and is left out;
* ``partner_hhi`` — HHI (0–1) of import shares by partner; ``top_partner``/``top_share``;
* ``partner_share`` — share of imports from the chosen country (default China; 0 for itself);
* ``nir`` — net import reliance (I − E) / (P + I − E), where the material has World Mining Data
  production that year (P = 0 for a non-producer) and apparent consumption is positive; it can be
  negative (net exporter).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from critmin.risk.geopolrisk import (
    GprInputs,
    _membership,
    _select_materials,
    _select_years,
    group_expander,
    prepare,
    select_flows,
)
from critmin.world import World, _as_list

OUT_COLUMNS = ["material", "importer", "year", "imports_t", "exports_t", "production_t", "apparent_consumption_t",
               "nir", "partner", "partner_share", "partner_hhi", "top_partner", "top_share", "n_partners"]


def dependence_table(
    world: World,
    material: str | list[str] | None = None,
    importer: str | list[str] | None = None,
    year: int | list[int] | None = None,
    partner: str = "CHN",
    inputs: GprInputs | None = None,
) -> pd.DataFrame:
    """Import dependence for every requested material × importer (ISO3 or bloc) × year (vectorised)."""
    inp = inputs or prepare(world)
    req = _select_materials(world, material, inp)
    groups, gi, mc = _membership(world, _as_list(importer), inp.names)
    if partner not in set(inp.names):
        world.bloc_members(partner)  # raises InputError for an unknown name
    years = _select_years(year, inp.years)
    nm, ng, ny, N = len(inp.mats), len(groups), len(years), len(inp.names)
    yidx, fy, idx = select_flows(inp, years, req)
    expand = group_expander(mc, gi)  # member -> groups (a country can belong to several groups)
    member_key = gi * N + mc

    f = inp.flows
    shape, size = (nm, ng, ny), nm * ng * ny
    # imports: flows into a member from outside the group
    row, grp = expand(f["i"][idx])
    r = idx[row]
    ext = ~np.isin(grp * N + f["e"][r], member_key)
    r, grp = r[ext], grp[ext]
    flat = np.ravel_multi_index((f["m"][r], grp, fy[r]), shape)
    imports = np.bincount(flat, weights=f["q"][r], minlength=size)
    pcode = inp.names.get_indexer([partner])[0]
    from_partner = np.bincount(flat, weights=np.where(f["e"][r] == pcode, f["q"][r], 0.0), minlength=size)
    # by partner: HHI and top partner
    bp = pd.DataFrame({"k": flat, "e": f["e"][r], "q": f["q"][r]}).groupby(["k", "e"], sort=False)["q"].sum()
    bp = bp[bp > 0].reset_index()
    tot_k = imports[bp["k"].to_numpy()]
    sh = bp["q"].to_numpy() / tot_k
    hhi = np.bincount(bp["k"].to_numpy(), weights=sh * sh, minlength=size)
    npart = np.bincount(bp["k"].to_numpy(), minlength=size)
    top = bp.assign(s=sh).sort_values(["k", "s"], ascending=[True, False], kind="mergesort").drop_duplicates("k")
    top_partner = np.full(size, "", dtype=object)
    top_share = np.full(size, np.nan)
    top_partner[top["k"].to_numpy()] = inp.names.to_numpy()[top["e"].to_numpy()]
    top_share[top["k"].to_numpy()] = top["s"].to_numpy()
    # exports: flows out of a member to outside the group
    row, grp = expand(f["e"][idx])
    r = idx[row]
    ext = ~np.isin(grp * N + f["i"][r], member_key)
    r, grp = r[ext], grp[ext]
    exports = np.bincount(np.ravel_multi_index((f["m"][r], grp, fy[r]), shape), weights=f["q"][r], minlength=size)
    # production
    p = inp.prod
    py = yidx[p["y"] - min(inp.years)]
    psel = np.flatnonzero((py >= 0) & (p["c"] >= 0))
    prow, pgrp = expand(p["c"][psel])
    pr = psel[prow]
    prod = np.bincount(np.ravel_multi_index((p["m"][pr], pgrp, py[pr]), shape), weights=p["p"][pr], minlength=size)

    mm, gg, yy = (a.ravel() for a in np.meshgrid(np.arange(nm), np.arange(ng), np.arange(ny), indexing="ij"))
    out = pd.DataFrame({"material": inp.mats["material"].to_numpy()[mm],
                        "importer": np.asarray(groups, dtype=object)[gg],
                        "year": np.asarray(years, dtype="int64")[yy]})
    has_prod = out.merge(inp.hhi, on=["material", "year"], how="left")["hhi"].notna().to_numpy()
    app = prod + imports - exports
    with np.errstate(divide="ignore", invalid="ignore"):
        nir = np.where(has_prod & (app > 0), (imports - exports) / np.where(app > 0, app, 1.0), np.nan)
        share = np.where(imports > 0, from_partner / np.where(imports > 0, imports, 1.0), np.nan)
    out = out.assign(imports_t=imports, exports_t=exports, production_t=np.where(has_prod, prod, np.nan),
                     apparent_consumption_t=np.where(has_prod, app, np.nan), nir=nir, partner=partner,
                     partner_share=share, partner_hhi=np.where(imports > 0, hhi, np.nan), top_partner=top_partner,
                     top_share=top_share, n_partners=npart.astype("int64"))
    if req is not None:
        out = out[out["material"].isin(req)]
    return out[OUT_COLUMNS].sort_values(["material", "importer", "year"], kind="mergesort", ignore_index=True)


def partner_shares(world: World, material: str, importer: str, year: int, inputs: GprInputs | None = None,
                   ) -> pd.DataFrame:
    """Import shares of ``importer`` by partner (t and fraction) for one material and year."""
    inp = inputs or prepare(world)
    mat = _select_materials(world, material, inp)[0]
    _select_years(year, inp.years)
    members = inp.names.get_indexer(world.bloc_members(importer))
    f = inp.flows
    m = np.flatnonzero(inp.mats["material"].to_numpy() == mat)
    if not len(m):
        return pd.DataFrame(columns=["partner", "quantity_t", "value_kusd", "share"])
    sel = (f["m"] == m[0]) & (f["y"] == int(year)) & np.isin(f["i"], members) & ~np.isin(f["e"], members)
    d = pd.DataFrame({"partner": inp.names.to_numpy()[f["e"][sel]], "quantity_t": f["q"][sel],
                      "value_kusd": f["v"][sel]}).groupby("partner", as_index=False).sum()
    tot = d["quantity_t"].sum()
    d["share"] = d["quantity_t"] / tot if tot > 0 else np.nan
    return d.sort_values("quantity_t", ascending=False, ignore_index=True)
