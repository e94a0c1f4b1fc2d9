"""Indirect exposure: where each stage of a chain really comes from, through third countries.

Method (proportional origin attribution, documented in ``docs/risk.md``). For one chain, year and
partition of the world into nodes (countries; or a bloc merged into one node, its internal trade
dropped as domestic):

1. Each stage *s* has production ``X_s`` and trade ``M_s[e, c]`` (t/yr) from the chain network
   (``world.network(chain, year)``: the World series, published figures or output derived from
   inputs, and BACI trade of the stage's HS codes, by the network's one rule; where the network has
   no production for a stage, a country's net exports ``max(0, E − I)`` — a lower bound). A node's
   supply is ``S_s = X_s + imports``.
2. Supply is a proportional mix: what a node exports or uses has the origin mix of its whole
   supply. The stage-*s* origin mix of every node solves ``O_s = D + A O_s`` with
   ``A[c, e] = M_s[e, c] / S_s[c]`` and ``D = diag(X_s / S_s)``, i.e. ``O_s = (I − A)⁻¹ D``
   (re-exports and trade cycles are traced; mass in a closed cycle with no producer stays
   unattributed).
3. A node's stage-*s* output embodies upstream stage *u* through the conversion factors
   (``factor`` = t of input per t of output): ``Q_{s→u} = Σ_inputs f · O_input · Q_{input→u}``,
   ``Q_{u→u} = I`` (t of stage-*u* content by origin per t of stage-*s* output).
4. The stage-*u* origin of what reaches importer *c*: its own stage-*u* supply,
   ``S_u[c] · O_u[c, :]``, plus the stage-*u* content of its imports of every downstream stage
   *s*, ``Σ_e M_s[e, c] · (O_s Q_{s→u})[e, :]``. The effective China share is China's part of
   that total; the direct China share is China's part of *c*'s direct imports of stage *u*.

Quantities mix gross traded tonnes (HS products) with production in content tonnes; the shares are
therefore indicative where ores and concentrates are traded (see docs/risk.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from critmin.errors import InputError, did_you_mean
from critmin.world import World, _as_list

OUT_COLUMNS = ["chain", "stage", "material", "importer", "year", "china_share_direct", "china_share_effective",
               "nir", "imports_t", "production_t", "effective_supply_t", "unattributed", "production_basis"]


def _stage_data(world: World, chain, year: int) -> dict[str, dict]:
    """Per stage, from the chain network: trade rows (exporter, importer, q in t) and production
    (country → t, with the network's basis: series, published or derived from inputs)."""
    from critmin.network import network_of

    net = network_of(world, chain, year)
    out = {}
    for s in chain.stages:
        t = net.trade(s.id).rename(columns={"t": "q"})
        basis = net.stage_info[s.id]["production_basis"]
        prod = None if net.is_missing(s.id) else net.production(s.id)
        out[s.id] = {"trade": t, "prod": prod, "basis": basis}
    return out


def _origin(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Origin mix O (rows: nodes' supply; columns: producing node) solving O = D + A O.

    Only nodes that produce or trade take part in the solve (the others have no supply: zero rows
    and columns), so a stage with few active countries costs little.
    """
    active = np.flatnonzero((X > 0) | (M.sum(axis=0) > 0) | (M.sum(axis=1) > 0))
    if len(active) < len(X):
        out = np.zeros((len(X), len(X)))
        if len(active):
            out[np.ix_(active, active)] = _origin_dense(X[active], M[np.ix_(active, active)])
        return out
    return _origin_dense(X, M)


def _origin_dense(X: np.ndarray, M: np.ndarray) -> np.ndarray:
    n = len(X)
    S = X + M.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = np.where(S > 0, 1.0 / np.where(S > 0, S, 1.0), 0.0)
    A = M.T * inv[:, None]
    D = np.diag(X * inv)
    try:
        return np.linalg.solve(np.eye(n) - A, D)
    except np.linalg.LinAlgError:  # a closed trade cycle without a producer: leave its mass unattributed
        return np.linalg.lstsq(np.eye(n) - A, D, rcond=None)[0]


def chain_exposure(world: World, chain, year: int, importers: list[str] | None = None,
                   china: str = "CHN") -> pd.DataFrame:
    """Direct and effective China share (and NIR) per importer and stage of one chain in one year.

    ``importers``: ISO3 codes and/or bloc names (default: every country in the data plus every bloc).
    Shares are fractions (NaN where the importer has no imports / no traced supply); quantities in t.
    """
    data = _stage_data(world, chain, year)
    names = set()
    for d in data.values():
        names |= set(d["trade"]["exporter"]) | set(d["trade"]["importer"])
        if d["prod"] is not None:
            names |= set(d["prod"].index)
    blocs = world.blocs()
    bloc_names = set(blocs["bloc"]) if not blocs.empty else set()
    if importers is None:
        importers = sorted(names) + sorted(bloc_names)
    countries = sorted(names | {china})
    partitions: dict[str, list[str]] = {}  # bloc -> members; "" -> plain countries
    want_countries = [i for i in importers if i not in bloc_names]
    for imp in want_countries:
        world.bloc_members(imp)  # raises InputError for an unknown name
    if want_countries:
        partitions[""] = []
    for b in importers:
        if b in bloc_names:
            partitions[b] = world.bloc_members(b)
    rows = []
    for part, members in partitions.items():
        # nodes: countries, with the bloc's members merged into one node named after the bloc
        nodes = [c for c in countries if c not in members] + ([part] if part else [])
        idx = {c: k for k, c in enumerate(nodes)}
        for m in members:
            idx[m] = idx[part]
        n = len(nodes)
        res = _solve_chain(chain, data, idx, n)
        targets = [part] if part else [c for c in want_countries if c in idx]
        ch = idx.get(china)
        for imp in targets:
            if imp not in idx:
                continue
            c = idx[imp]
            for s in chain.stages:
                r = res[s.id]
                imports = r["M"][:, c].sum()
                direct = (r["M"][ch, c] / imports) if (ch is not None and imports > 0 and ch != c) else (
                    0.0 if imports > 0 else np.nan)
                T = r["T"][c]
                tot = T.sum()
                eff = (T[ch] / tot) if (ch is not None and tot > 0) else np.nan
                exports = r["M"][c, :].sum()
                app = r["X"][c] + imports - exports
                nir = (imports - exports) / app if (r["basis"] in ("series", "published") and app > 0) else np.nan
                rows.append((chain.id, s.id, s.material, imp, year, direct, eff, nir, imports, r["X"][c],
                             tot, r["unattributed"][c], r["basis"]))
    return pd.DataFrame(rows, columns=OUT_COLUMNS)


def _solve_chain(chain, data: dict, idx: dict[str, int], n: int) -> dict[str, dict]:
    """Per stage: M, X, O, Q (to every upstream stage) and T (traced stage origin per node)."""
    res: dict[str, dict] = {}
    for s in chain.stages:
        t = data[s.id]["trade"]
        M = np.zeros((n, n))
        if len(t):
            e = np.array([idx.get(x, -1) for x in t["exporter"]])  # per distinct row of a small stage table
            i = np.array([idx.get(x, -1) for x in t["importer"]])
            ok = (e >= 0) & (i >= 0) & (e != i)
            np.add.at(M, (e[ok], i[ok]), t["q"].to_numpy()[ok])
        prod = data[s.id]["prod"]
        X = np.zeros(n)
        if prod is not None:
            k = np.array([idx.get(c, -1) for c in prod.index])
            ok = k >= 0
            np.add.at(X, k[ok], prod.to_numpy(dtype="float64")[ok])
            basis = data[s.id]["basis"]
        else:
            X = np.maximum(0.0, M.sum(axis=1) - M.sum(axis=0))
            basis = "net exports"
        orig = _origin(X, M)
        Q = {s.id: np.eye(n)}
        for inp in s.inputs:
            up = res[inp.stage]
            for u, Qu in up["Q"].items():
                Q[u] = Q.get(u, 0) + inp.factor.value * (up["O"] @ Qu)
        res[s.id] = {"M": M, "X": X, "O": orig, "Q": Q, "basis": basis}
    for u in chain.stages:
        r = res[u.id]
        S = r["X"] + r["M"].sum(axis=0)
        T = S[:, None] * r["O"]
        for s in chain.stages:
            if s.id != u.id and u.id in res[s.id]["Q"]:
                rs = res[s.id]
                T = T + rs["M"].T @ (rs["O"] @ rs["Q"][u.id])
        emb = S.copy()
        for s in chain.stages:
            if s.id != u.id and u.id in res[s.id]["Q"]:
                rs = res[s.id]
                emb = emb + rs["M"].sum(axis=0) * _path_factor(chain, s.id, u.id)
        r["T"] = T
        with np.errstate(divide="ignore", invalid="ignore"):
            r["unattributed"] = np.where(emb > 0, 1.0 - T.sum(axis=1) / np.where(emb > 0, emb, 1.0), 0.0)
    return res


def _path_factor(chain, s: str, u: str) -> float:
    """t of stage-u content per t of stage-s output, summed over all input paths."""
    if s == u:
        return 1.0
    return sum(i.factor.value * _path_factor(chain, i.stage, u) for i in chain.stage(s).inputs)


def exposure(world: World, importer: str | list[str] | None = None, year: int | None = None,
             chain: str | list[str] | None = None, china: str = "CHN") -> pd.DataFrame:
    """Direct vs effective China share and NIR for every chain stage (see module docstring)."""
    chains = world.chains
    if not chains:
        raise InputError("world", "chains", "this World has no chain definitions")
    ids = list(chains) if chain is None else _as_list(chain)
    for c in ids:
        if c not in chains:
            raise InputError("chain", c, "unknown chain" + did_you_mean(c, list(chains)))
    tr_years = _trade_years(world)  # the year column only, not the whole trade table
    if year is None:
        # judgement: a World without trade has no shares to give; 2024 (the last BACI year) only labels the rows
        year = max(tr_years) if tr_years else 2024
    if tr_years and int(year) not in tr_years:
        raise InputError("year", str(year), f"outside the trade data ({min(tr_years)}–{max(tr_years)})")
    imps = _as_list(importer)
    for i in imps or []:
        world.bloc_members(i)  # raises InputError for an unknown name
    frames = [chain_exposure(world, chains[c], int(year), imps, china) for c in ids]
    return pd.concat(frames, ignore_index=True)


def _trade_years(world: World) -> list[int]:
    if world.path is not None:
        try:
            import pyarrow.parquet as pq

            f = world.path / world.resource("trade")["path"]
            if f.suffix == ".parquet":
                y = pq.read_table(f, columns=["year"]).column(0).to_numpy()
                return sorted({int(v) for v in np.unique(y)})
        except (InputError, OSError):
            pass
    tr = world.table("trade")
    return sorted({int(v) for v in tr["year"].unique()}) if not tr.empty else []
