"""Two scenarios side by side with common random numbers: what B changes against A.

``compare(world, a, b, runs=1000, seed=0)`` runs both scenarios (library names, YAML files, mappings
or :class:`~critmin.simulate.scenario.Scenario`) on the same chain with the same ``seed``. Parameters
are drawn slot by slot in a fixed order (shocks, then responses; see :func:`critmin.simulate.kernel.sample`),
so the parameters the two scenarios share get the same draw in the same run as long as the slots
before them are the same (e.g. B = A plus a stockpile: every shock and response of A has the same value
in run *i* of B). The differences are then taken run by run (B − A), which removes most of the Monte
Carlo noise from the comparison.

The result (:class:`Comparison`) holds four tables:

* ``shortfall``: per country × sector (with demand in either), cumulative shortfall over the horizon, t
  of the sector's stage content: ``mean_a_t, mean_b_t``, ``diff_mean_t`` (B − A), ``diff_p5_t``,
  ``diff_p50_t``, ``diff_p95_t`` (quantiles over runs of the run-by-run difference) and
  ``share_of_demand_a/_b`` (mean ÷ baseline demand over the horizon);
* ``sectors``: the same summed over countries, per sector;
* ``monthly``: per country × stage × month, the mean shortfall share of baseline demand in A and B
  and their difference (``diff_mean_share``);
* ``price``: per stage × region × month, P50 of the price index (baseline 1) in A and B, the mean of
  the run-by-run difference (``diff_mean``) and its P5/P95.

:func:`figure` draws them (Plotly, colours from :mod:`critmin.palette`: China red everywhere).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from critmin.errors import InputError


@dataclass
class Comparison:
    """Two runs (``a``, ``b``: their Datasets) and the tables of their difference (B − A)."""

    a: xr.Dataset
    b: xr.Dataset
    shortfall: pd.DataFrame
    sectors: pd.DataFrame
    monthly: pd.DataFrame
    price: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


def _q(x: np.ndarray, q: float) -> np.ndarray:
    return np.percentile(x, q, axis=0) if x.shape[0] else np.zeros(x.shape[1:])


def compare(world: Any, a: Any, b: Any, runs: int = 1000, seed: int = 0, **run_kwargs: Any) -> Comparison:
    """Run scenarios ``a`` and ``b`` with the same ``seed`` and tabulate B − A (see the module doc).

    ``run_kwargs`` go to :func:`critmin.simulate.run` for both (``horizon``, ``max_countries``,
    ``backend``, ``workers``, ...). The two scenarios must run on the same chain.
    """
    from critmin.simulate.engine import resolve_scenario, run

    sa, _ = resolve_scenario(a)
    sb, src_b = resolve_scenario(b)
    if sa.chain != sb.chain:
        raise InputError(src_b, "chain", f"{sb.chain!r} differs from the first scenario's chain {sa.chain!r}; "
                         "compare needs both on one chain")
    horizon = run_kwargs.pop("horizon", None)
    if horizon is None and sa.horizon != sb.horizon:
        horizon = max(sa.horizon, sb.horizon)  # one horizon for both, so that months line up
    run_kwargs.setdefault("full", False)
    da = run(world, sa, runs=runs, seed=seed, horizon=horizon, **run_kwargs)
    db = run(world, sb, runs=runs, seed=seed, horizon=horizon, **run_kwargs)
    for dim in ("country", "sector", "stage", "month"):
        if not np.array_equal(da[dim].values, db[dim].values):
            raise InputError(src_b, None, f"its model has other {dim}s than the first scenario's (e.g. other "
                             "countries kept from ROW); pass max_countries=None or name the same places")
    return Comparison(da, db, _shortfall(da, db), _sectors(da, db), _monthly(da, db), _price(da, db),
                      {"a": sa.name, "b": sb.name, "title_a": sa.title, "title_b": sb.title, "runs": int(runs),
                       "seed": int(seed), "horizon": int(da.sizes["month"]), "chain": sa.chain})


def _cum(ds: xr.Dataset) -> np.ndarray:
    from critmin.simulate.engine import cumulative

    return cumulative(ds).values  # (run, country, sector)


def _shortfall(da: xr.Dataset, db: xr.Dataset) -> pd.DataFrame:
    ca, cb = _cum(da), _cum(db)
    d0 = np.maximum(da["demand0"].values, db["demand0"].values)
    M = da.sizes["month"]
    cc, kk = np.nonzero(d0 > 0)
    diff = (cb - ca)[:, cc, kk]
    ma, mb = ca[:, cc, kk].mean(axis=0), cb[:, cc, kk].mean(axis=0)
    dem_a, dem_b = da["demand0"].values[cc, kk] * M, db["demand0"].values[cc, kk] * M
    with np.errstate(invalid="ignore", divide="ignore"):
        df = pd.DataFrame(
            {
                "country": da["country"].values[cc],
                "sector": da["sector"].values[kk],
                "material": da["sector_material"].values[kk],
                "stage": da["sector_stage"].values[kk],
                "mean_a_t": ma,
                "mean_b_t": mb,
                "diff_mean_t": diff.mean(axis=0),
                "diff_p5_t": _q(diff, 5),
                "diff_p50_t": _q(diff, 50),
                "diff_p95_t": _q(diff, 95),
                "share_of_demand_a": np.where(dem_a > 0, ma / dem_a, np.nan),
                "share_of_demand_b": np.where(dem_b > 0, mb / dem_b, np.nan),
            }
        )
    order = np.lexsort((df["sector"].values, df["country"].values, -np.abs(df["diff_mean_t"].values)))
    return df.iloc[order].reset_index(drop=True)


def _sectors(da: xr.Dataset, db: xr.Dataset) -> pd.DataFrame:
    ca, cb = _cum(da).sum(axis=1), _cum(db).sum(axis=1)  # (run, sector)
    diff = cb - ca
    return pd.DataFrame(
        {
            "sector": da["sector"].values,
            "material": da["sector_material"].values,
            "stage": da["sector_stage"].values,
            "mean_a_t": ca.mean(axis=0),
            "mean_b_t": cb.mean(axis=0),
            "diff_mean_t": diff.mean(axis=0),
            "diff_p5_t": _q(diff, 5),
            "diff_p95_t": _q(diff, 95),
        }
    ).sort_values("diff_mean_t", key=np.abs, ascending=False, kind="stable").reset_index(drop=True)


def _monthly(da: xr.Dataset, db: xr.Dataset) -> pd.DataFrame:
    from critmin.simulate.engine import monthly

    a = monthly(da, all_cells=True)
    b = monthly(db, all_cells=True)
    keys = [c for c in ("country", "stage", "material", "month", "calendar") if c in a.columns]
    m = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b"))
    m["diff_mean_share"] = m["mean_share_b"].fillna(0.0) - m["mean_share_a"].fillna(0.0)
    moved = m.groupby(["country", "stage"])["diff_mean_share"].transform(lambda s: (s.abs() > 0).any())
    short = m.groupby(["country", "stage"])[["mean_share_a", "mean_share_b"]].transform("max").max(axis=1) > 0
    m = m[moved | short]
    return m.sort_values(["country", "stage", "month"], kind="stable").reset_index(drop=True)


def _price(da: xr.Dataset, db: xr.Dataset) -> pd.DataFrame:
    from critmin.simulate.engine import regional_prices

    pa, pb = regional_prices(da), regional_prices(db)
    if list(pa["region"].values) != list(pb["region"].values):
        pa, pb = (x.expand_dims(region=["world"], axis=3) for x in (da["price"], db["price"]))
    a, b = pa.values, pb.values  # (R, M, S, G)
    d = b - a
    M, S, G = a.shape[1:]
    mm, ss, gg = (x.ravel() for x in np.meshgrid(np.arange(M), np.arange(S), np.arange(G), indexing="ij"))
    df = pd.DataFrame(
        {
            "material": da["material"].values[ss],
            "stage": da["stage"].values[ss],
            "region": np.asarray(pa["region"].values).astype(str)[gg],
            "month": da["month"].values[mm],
            "p50_a": np.percentile(a, 50, axis=0).ravel(),
            "p50_b": np.percentile(b, 50, axis=0).ravel(),
            "diff_mean": d.mean(axis=0).ravel(),
            "diff_p5": np.percentile(d, 5, axis=0).ravel(),
            "diff_p95": np.percentile(d, 95, axis=0).ravel(),
        }
    )
    if "calendar" in da.coords:
        df.insert(4, "calendar", da["calendar"].values[mm])
    return df.sort_values(["stage", "region", "month"], kind="stable").reset_index(drop=True)


def figure(cmp: Comparison, top: int = 15) -> Any:
    """Plotly figure of a comparison: the difference per month by stage (mean, P5-P95 of the run-by-run
    difference), the countries whose cumulative shortfall changes most (mean, whisker P5-P95; each
    country in its palette colour), and the P50 price index of A and B by stage."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from critmin import palette

    da, db = cmp.a, cmp.b
    months = da["month"].values
    stages = list(dict.fromkeys(str(s) for s in da["sector_stage"].values))
    content = {str(s): str(c).split(" (")[0] for s, c in zip(da["stage"].values, da["content"].values, strict=True)}
    fig = make_subplots(rows=2, cols=2, specs=[[{}, {"rowspan": 2}], [{}, None]], vertical_spacing=0.14,
                        horizontal_spacing=0.16, subplot_titles=(
                            "Change in shortfall per month by stage, B - A (mean, band P5-P95)",
                            f"Change in cumulative shortfall by country, B - A (top {top}; mean, whisker P5-P95)",
                            "Price index P50 by stage (A dotted, B solid; 1 = baseline)"))
    for k, st in enumerate(stages):
        c = palette.SERIES[k % len(palette.SERIES)]
        d = db["stage_shortfall"].sel(stage=st).values - da["stage_shortfall"].sel(stage=st).values
        name = f"{st} ({content.get(st, '')})"
        fig.add_trace(go.Scatter(x=months, y=np.percentile(d, 95, axis=0), line={"width": 0, "color": c},
                                 showlegend=False, legendgroup=name, hoverinfo="skip"), 1, 1)
        fig.add_trace(go.Scatter(x=months, y=np.percentile(d, 5, axis=0), fill="tonexty", opacity=0.3,
                                 line={"width": 0, "color": c}, name=f"{name} P5-P95", legendgroup=name), 1, 1)
        fig.add_trace(go.Scatter(x=months, y=d.mean(axis=0), line={"color": c}, name=f"{name} mean",
                                 legendgroup=name), 1, 1)
    s = cmp.shortfall
    by = s.groupby(["country", "stage"], sort=False)[["diff_mean_t", "diff_p5_t", "diff_p95_t"]].sum().reset_index()
    by = by.reindex(by["diff_mean_t"].abs().sort_values(ascending=False, kind="stable").index).head(top)
    colors = palette.country_colors(list(by["country"]))
    labels = [f"{c} · {st} ({content.get(st, '')})" for c, st in zip(by["country"], by["stage"], strict=True)]
    fig.add_trace(go.Bar(
        y=labels, x=by["diff_mean_t"], orientation="h", showlegend=False,
        marker_color=[colors[c] for c in by["country"]],
        error_x={"type": "data", "symmetric": False, "array": (by["diff_p95_t"] - by["diff_mean_t"]).clip(lower=0),
                 "arrayminus": (by["diff_mean_t"] - by["diff_p5_t"]).clip(lower=0)}), 1, 2)
    p = cmp.price
    for k, (st, reg) in enumerate(dict.fromkeys(zip(p["stage"], p["region"], strict=True))):
        c = palette.SERIES[k % len(palette.SERIES)]
        sel = p[(p["stage"] == st) & (p["region"] == reg)]
        name = f"{st} ({reg})"
        fig.add_trace(go.Scatter(x=sel["month"], y=sel["p50_a"], line={"dash": "dot", "color": c},
                                 name=f"{name} A", legendgroup=f"p{name}"), 2, 1)
        fig.add_trace(go.Scatter(x=sel["month"], y=sel["p50_b"], line={"color": c}, name=f"{name} B",
                                 legendgroup=f"p{name}"), 2, 1)
    fig.update_layout(height=950, plot_bgcolor="white",
                      legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0})
    fig.update_xaxes(title_text="month", row=1, col=1, gridcolor="#e5e5e5")
    fig.update_yaxes(title_text="t per month (stage content unit)", row=1, col=1, gridcolor="#e5e5e5")
    fig.update_xaxes(title_text="t over the horizon (stage content unit, in the label)", row=1, col=2)
    fig.update_yaxes(autorange="reversed", automargin=True, row=1, col=2)
    fig.update_xaxes(title_text="month", row=2, col=1, gridcolor="#e5e5e5")
    fig.update_yaxes(title_text="price index (baseline = 1)", row=2, col=1, gridcolor="#e5e5e5")
    m = cmp.meta
    title = f"B - A: {m['b']} minus {m['a']} ({m['chain']})"
    srcs = sorted({x for d in (da, db) for x in json.loads(d.attrs.get("sources", "[]"))})
    lines = [f"A: {m['title_a']}; B: {m['title_b']}",
             f"{m['runs']} runs each, seed {m['seed']} (common random numbers), horizon {m['horizon']} months; "
             "source: critmin simulation on the critmin World (production, trade, end uses)"]
    if srcs:
        lines.append("scenario sources: " + "; ".join(x if len(x) <= 90 else x[:87] + "..." for x in srcs[:3])
                     + (f" (+{len(srcs) - 3} more)" if len(srcs) > 3 else ""))
    palette.plotly_frame(fig, title, lines)
    return fig


def plot(cmp: Comparison, path: str | Path) -> Path:
    """Write the comparison figure to ``path`` (.html, self-contained)."""
    from critmin import palette

    p = Path(path)
    if p.suffix.lower() != ".html":
        raise InputError("--plot", str(p), "a comparison is drawn as .html")
    return palette.save(figure(cmp), p, (".html",))
