"""EU Critical Raw Materials supply risk (JRC 2017 method, used in the 2017, 2020 and 2023 lists).

::

    SR = [HHI_WGI,t(GS) · IR/2 + HHI_WGI,t(EU) · (1 − IR/2)] · (1 − EOL-RIR) · SI_SR
    single scope ("GS only" / "EUS only"):  SR = HHI_WGI,t(scope) · (1 − EOL-RIR) · SI_SR
    HHI_WGI,t = Σ_c S_c² · WGI_scaled,c · t_c      S_c share 0–1, WGI_scaled 0–10 (10 = worst), t_c trade factor
    IR = (I − E) / (P + I − E), negative → 0

HHI_WGI,t is on the 0–10 scale; IR, EOL-RIR and SI_SR are fractions; SR is dimensionless (the
criticality threshold is SR ≥ 1). :func:`eu_sr` applies the formula to arrays; :func:`read_inputs`
reads a user's CSV of inputs; :func:`eu_sr_world` computes the inputs it can from the World.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd

from critmin.errors import InputError, read_user_text
from critmin.world import World

INPUT_COLUMNS = ["material", "hhi_wgi_gs", "hhi_wgi_eu", "ir", "eol_rir", "si_sr"]

#: Bounds of each numeric input column (inclusive). IR may be negative (net exporter; clipped to 0).
BOUNDS = {"hhi_wgi_gs": (0.0, 10.0), "hhi_wgi_eu": (0.0, 10.0), "ir": (-math.inf, 1.0),
          "eol_rir": (0.0, 1.0), "si_sr": (0.0, 1.0)}

# Judgements of :func:`eu_sr_world` (the World lacks these JRC inputs); each is stated in its ``note`` column.
#: t_c for every country — judgement: 1.0 is the method's neutral value (docs/reference/methods.md §1), but
#: the JRC sets 0.8–1.5 for EU trade agreements and export restrictions, which the World does not record.
T_NEUTRAL = 1.0
#: WGI_scaled of a country without WGI estimates — judgement: the middle of the 0–10 scale (the analogue
#: of GeoPolRisk's 0.5 for a missing g); the JRC guidelines do not say.
WGI_MISSING = 5.0
#: SI_SR when none is given — judgement: 1 (no substitute), i.e. the SR before substitution.
SI_SR_NONE = 1.0


def eu_sr(hhi_wgi_gs, hhi_wgi_eu, ir, eol_rir, si_sr) -> tuple[np.ndarray, np.ndarray]:
    """Supply risk for arrays of inputs (NaN = not available); returns (sr, scope).

    scope is ``both`` (the weighted formula), ``GS only`` (no EU value, or no IR to weight the
    scopes), ``EUS only`` (no global value) or ``none`` (neither, or no EOL-RIR/SI_SR): sr is NaN then.
    """
    gs, eu, ir_, eol, si = (np.atleast_1d(np.asarray(a, dtype="float64")) for a in
                            (hhi_wgi_gs, hhi_wgi_eu, ir, eol_rir, si_sr))
    irc = np.clip(ir_, 0.0, 1.0)
    has_gs, has_eu, has_ir = ~np.isnan(gs), ~np.isnan(eu), ~np.isnan(ir_)
    both = has_gs & has_eu & has_ir
    gs_only = has_gs & ~both
    eu_only = has_eu & ~has_gs
    core = np.where(both, gs * irc / 2 + eu * (1 - irc / 2), np.where(gs_only, gs, np.where(eu_only, eu, np.nan)))
    sr = core * (1 - eol) * si
    scope = np.where(both, "both", np.where(gs_only, "GS only", np.where(eu_only, "EUS only", "none")))
    scope = np.where(np.isnan(sr), "none", scope)
    return sr, scope


def read_inputs(path: str | Path) -> pd.DataFrame:
    """Read a CSV of EU SR inputs (columns :data:`INPUT_COLUMNS`; fractions; empty = not available).

    Raises :class:`InputError` naming the row and column of the first problem.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), None, "inputs file not found")
    text = read_user_text(p, encoding="utf-8-sig")
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:  # e.g. a field over the csv module's limit (issue 13)
        raise InputError(str(p), None, f"malformed CSV: {exc}") from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise InputError(str(p), "header", f"empty file; expected columns {', '.join(INPUT_COLUMNS)}")
    header = [c.strip() for c in rows[0]]
    missing = [c for c in INPUT_COLUMNS if c not in header]
    if missing:
        raise InputError(str(p), "header", f"missing column(s) {', '.join(missing)}; expected "
                         f"{', '.join(INPUT_COLUMNS)}")
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise InputError(str(p), "header", f"duplicate column(s) {', '.join(dup)}")
    idx = {c: header.index(c) for c in INPUT_COLUMNS}
    out: dict[str, list] = {c: [] for c in INPUT_COLUMNS}
    seen: set[str] = set()
    body = rows[1:]
    if not any(any(c.strip() for c in r) for r in body):
        raise InputError(str(p), "row 2", "no data rows")
    for n, r in enumerate(body, start=2):
        if not any(c.strip() for c in r):
            continue
        if len(r) != len(header):
            raise InputError(str(p), f"row {n}", f"{len(r)} fields, header has {len(header)}")
        mat = r[idx["material"]].strip()
        if not mat:
            raise InputError(str(p), f"row {n}, column material", "empty material name")
        if mat in seen:
            raise InputError(str(p), f"row {n}, column material", f"duplicate material {mat!r}")
        seen.add(mat)
        out["material"].append(mat)
        for c in INPUT_COLUMNS[1:]:
            s = r[idx[c]].strip()
            if s == "" or s.upper() in ("NA", "N/A"):
                out[c].append(math.nan)
                continue
            try:
                v = float(s.rstrip("%")) / (100.0 if s.endswith("%") else 1.0)
            except ValueError:
                raise InputError(str(p), f"row {n}, column {c}", f"not a number: {s!r}") from None
            lo, hi = BOUNDS[c]
            if not math.isfinite(v) or not lo <= v <= hi:
                rng = f"{lo:g}..{hi:g}" if math.isfinite(lo) else f"at most {hi:g}"
                raise InputError(str(p), f"row {n}, column {c}", f"{v:g} outside {rng} (fractions, HHI_WGI 0-10)")
            out[c].append(v)
    return pd.DataFrame(out)


def eu_sr_frame(inputs: pd.DataFrame) -> pd.DataFrame:
    """Add ``sr`` and ``scope`` to a DataFrame of inputs (columns :data:`INPUT_COLUMNS`)."""
    sr, scope = eu_sr(inputs["hhi_wgi_gs"], inputs["hhi_wgi_eu"], inputs["ir"], inputs["eol_rir"],
                      inputs["si_sr"])
    return inputs.assign(sr=sr, scope=scope)


# --------------------------------------------------------------------------------------------------
# From the World
# --------------------------------------------------------------------------------------------------
def wgi_scaled(world: World, year: int) -> pd.Series:
    """WGI_scaled per country (0–10, 10 = worst) = (2.5 − mean of the six WGI estimates) × 2, clipped.

    Judgement: the transform is the one believed to be used by the JRC (UNVERIFIED in
    docs/reference/methods.md §1). The latest WGI year ≤ ``year`` is used (WGI ends in 2023); if
    there is none, the latest WGI year.
    """
    g = world.governance(["va", "pv", "ge", "rq", "rl", "cc"])
    if g.empty:
        return pd.Series(dtype="float64")
    g = g[g["year"] <= year] if (g["year"] <= year).any() else g
    last = g["year"].max()
    g = g[g["year"] == last]
    mean = g.groupby("country")["value"].mean()
    return ((2.5 - mean) * 2).clip(0, 10)


def hhi_wgi(shares: pd.DataFrame, wgi: pd.Series, t: dict[str, float] | None = None,
            who: str = "country") -> pd.Series:
    """Σ S² · WGI_scaled · t per group of a share table (columns group…, ``who``, share), 0–10.

    A country missing from ``wgi`` gets :data:`WGI_MISSING`, one missing from ``t`` :data:`T_NEUTRAL`
    (both judgements).
    """
    w = shares[who].map(wgi).fillna(WGI_MISSING).to_numpy()
    tt = shares[who].map(t or {}).fillna(T_NEUTRAL).to_numpy()
    return (shares["share"] ** 2 * w * tt).groupby([shares[c] for c in shares.columns
                                                    if c not in (who, "share")]).sum()


def eu_sr_world(world: World, material: str | list[str] | None = None, year: int | None = None,
                bloc: str = "EU27", si_sr: float | None = None) -> pd.DataFrame:
    """EU SR inputs and result from the World: one row per material (stage assessed = method's stage).

    hhi_wgi_gs from World Mining Data production shares (GeoPolRisk map's stage), hhi_wgi_eu from the
    bloc's sourcing (members' production + imports by partner, BACI HS92 tonnes of the material's HS
    codes), ir = (I − E)/(P + I − E) over the bloc's external trade, eol_rir from the map (EU 2023),
    si_sr from the argument. Judgements, each stated in the ``note`` column: the World has no
    substitution indices, so ``si_sr=None`` takes :data:`SI_SR_NONE` (1, the SR before substitution);
    t = :data:`T_NEUTRAL` (1) for every country; WGI_scaled is the unverified transform of
    :func:`wgi_scaled`, and a country without WGI gets :data:`WGI_MISSING` (5).
    """
    from critmin.risk.geopolrisk import material_hs_map, read_trade
    from critmin.validate import check_number

    if si_sr is not None:
        si_sr = check_number(si_sr, "si_sr", None, low=0, high=1)

    hsrows, _unmapped = material_hs_map(world)
    prod = world.table("production")
    prod = prod[prod["source"] == "wmd"]
    year = int(year) if year is not None else int(prod["year"].max())
    if year not in set(prod["year"].astype(int)):
        raise InputError("year", str(year), f"outside the World Mining Data years "
                         f"{int(prod['year'].min())}–{int(prod['year'].max())}")
    mats = world.materials()
    hm = world.table("wmd_hs_map").set_index("wmd_name")
    sel = mats[mats["wmd_name"].fillna("") != ""]
    if material is not None:
        names = [material] if isinstance(material, str) else list(material)
        world._check_materials(names)
        sel = sel[sel["material"].isin(names)]
    members = world.bloc_members(bloc)
    wgi = wgi_scaled(world, year)
    p = prod[prod["year"] == year]
    p = p[p["material"].isin(sel["material"])][["material", "country", "quantity", "unit"]]
    p = p.assign(quantity=np.where(p["unit"] == "kg", p["quantity"] / 1000.0, p["quantity"]))
    tot = p.groupby("material")["quantity"].transform("sum")
    gs_sh = p.assign(share=p["quantity"] / tot)[["material", "country", "share"]]
    gs = hhi_wgi(gs_sh, wgi).rename("hhi_wgi_gs")
    dom = p[p["country"].isin(members)].groupby("material")["quantity"].sum()

    tr = read_trade(world, (year,), None, sorted(set(hsrows["hs6"])))
    tr = tr.assign(exporter=tr["exporter"].astype(str), importer=tr["importer"].astype(str))
    tr = tr.merge(hsrows[["material", "hs6"]], left_on=tr["hs6"].astype(str), right_on="hs6",
                  suffixes=("_t", ""))
    tr = tr[tr["material"].isin(sel["material"])]
    imp_in, exp_in = tr["importer"].isin(members), tr["exporter"].isin(members)
    ext_imp = tr[imp_in & ~exp_in]
    ext_exp = tr[exp_in & ~imp_in]
    imports = ext_imp.groupby("material")["quantity_t"].sum()
    exports = ext_exp.groupby("material")["quantity_t"].sum()
    by_partner = ext_imp.groupby(["material", "exporter"])["quantity_t"].sum().rename("q").reset_index()
    # EU sourcing: domestic production (members, one entry per member) + imports by partner
    own = p[p["country"].isin(members)].rename(columns={"country": "exporter", "quantity": "q"})
    src = pd.concat([by_partner, own[["material", "exporter", "q"]]], ignore_index=True)
    src = src[src["q"] > 0]
    src = src.assign(share=src["q"] / src.groupby("material")["q"].transform("sum"))
    eu = hhi_wgi(src[["material", "exporter", "share"]].rename(columns={"exporter": "country"}), wgi)
    eu = eu.rename("hhi_wgi_eu")

    out = sel[["material", "wmd_name"]].copy()
    out["stage"] = out["wmd_name"].map(hm["stage"])
    out["year"] = year
    out = out.join(gs, on="material").join(eu, on="material")
    P = out["material"].map(dom).fillna(0.0)
    Iq = out["material"].map(imports).fillna(0.0)
    Eq = out["material"].map(exports).fillna(0.0)
    app = P + Iq - Eq
    has_trade = out["material"].isin(set(hsrows["material"]))
    ir = np.where(has_trade & (app > 0), (Iq - Eq) / app.where(app > 0, 1.0), np.nan)
    out["ir"] = ir
    out["eol_rir"] = out["wmd_name"].map(hm["eol_rir"]).astype(float)
    out["si_sr"] = SI_SR_NONE if si_sr is None else float(si_sr)
    out.loc[~has_trade, "hhi_wgi_eu"] = np.nan
    out = eu_sr_frame(out)
    note = (f"judgements: t = {T_NEUTRAL:g}; WGI_scaled = (2.5 - mean WGI) x 2 (unverified transform), "
            f"missing WGI -> {WGI_MISSING:g}")
    if si_sr is None:
        note += f"; SI_SR not in the World: taken as {SI_SR_NONE:g} (SR before substitution)"
    out["note"] = np.where(has_trade, note, note + "; no HS code mapped: GS only")
    return out.reset_index(drop=True)
