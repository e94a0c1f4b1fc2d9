"""Plots of a simulation result: a fan chart of shortfall over time, bars by sector and by country.

``plot(ds, "out.html")`` writes an offline plotly page (plotly.js inlined);
``.png``, ``.svg`` or ``.pdf`` write a matplotlib figure. The fan chart sums
shortfall only within one stage (one content unit): per stage with final demand,
the total shortfall per month across runs (P5-P95 band, P50, mean). The bars give
cumulative shortfall per sector (each sector is on one stage, so one unit) and per
country, one bar per stage with final demand (a country's sectors are added within a
stage only, never across content units such as t REO and t NdFeB). Countries are ranked
by their largest share of any one stage's shortfall, a unit-free measure.

:func:`figure` returns the figure (Plotly for ``kind="html"``, matplotlib for ``"png"``);
:func:`plot` saves it. Colours come from :mod:`critmin.palette`: a country's bars are in its
colour (China red) and stages are told apart by hatching; every figure names the scenario,
the runs and seed, the horizon, units and the scenario's sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from critmin import palette
from critmin.errors import InputError


def _stage_totals(ds: xr.Dataset, st: str) -> np.ndarray:
    """(run, month) world shortfall at stage ``st``, t/month: ``stage_shortfall`` of a result, else summed
    from the run-level ``shortfall``."""
    if "stage_shortfall" in ds:
        return ds["stage_shortfall"].sel(stage=st).values.astype(float)
    stages = ds["sector_stage"].values
    sel = ds["shortfall"].isel(sector=np.flatnonzero(stages == st))
    return sel.sum(["country", "sector"]).values.astype(float)


def _series(ds: xr.Dataset) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    stages = ds["sector_stage"].values
    for st in dict.fromkeys(stages):
        tot = _stage_totals(ds, st)  # (run, month)
        content = str(ds["content"].sel(stage=st).values)
        out[f"{st} ({content})"] = {
            "p5": np.percentile(tot, 5, axis=0),
            "p50": np.percentile(tot, 50, axis=0),
            "p95": np.percentile(tot, 95, axis=0),
            "mean": tot.mean(axis=0),
        }
    return out


def _bars(cum: xr.DataArray, dim: str, top: int = 15) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The ``top`` entries of ``dim`` by mean cumulative shortfall ``cum`` (run, country, sector), t."""
    other = "country" if dim == "sector" else "sector"
    per = cum.sum(other).values.astype(float)  # run, dim
    mean = per.mean(axis=0)
    p95 = np.percentile(per, 95, axis=0)
    order = np.argsort(-mean, kind="stable")[:top]
    labels = [str(x) for x in cum[dim].values[order]]
    return labels, mean[order], p95[order]


def _country_bars(cum: xr.DataArray, ds: xr.Dataset, top: int = 15) -> tuple[list[str], dict[str, tuple]]:
    """The ``top`` countries and, per stage with final demand ("stage (content)"), their mean and P95
    cumulative shortfall in that stage's content unit, t (``cum``: run, country, sector).

    A country's sectors are summed within a stage only. Countries are ranked by the largest share
    they take of any one stage's mean cumulative shortfall.
    """
    stages = ds["sector_stage"].values
    per_stage: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    shares = []
    for st in dict.fromkeys(stages):
        per = cum.isel(sector=np.flatnonzero(stages == st)).sum("sector").values.astype(float)  # run, country
        mean = per.mean(axis=0)
        per_stage[f"{st} ({ds['content'].sel(stage=st).values})"] = (mean, np.percentile(per, 95, axis=0))
        total = mean.sum()
        shares.append(mean / total if total > 0 else np.zeros_like(mean))
    rank = np.max(shares, axis=0) if shares else np.zeros(cum.sizes["country"])
    order = np.argsort(-rank, kind="stable")[:top]
    labels = [str(x) for x in cum["country"].values[order]]
    return labels, {name: (mean[order], p95[order]) for name, (mean, p95) in per_stage.items()}


PLOT_SUFFIXES = (".html", ".png", ".svg", ".pdf")


def check_plot_path(path: str | Path) -> Path:
    """``path`` as a Path if it names a supported plot file, else an InputError (before any work)."""
    p = Path(path)
    if p.suffix.lower() not in PLOT_SUFFIXES:
        raise InputError("--plot", str(p), "use a .html, .png, .svg or .pdf file name")
    return p


def _sources(ds: xr.Dataset) -> str:
    """The scenario's sources as one short line (first two, then a count)."""
    import json

    try:
        srcs = [str(x) for x in json.loads(ds.attrs.get("sources", "[]"))]
    except (TypeError, ValueError):
        srcs = [str(ds.attrs.get("sources"))] if ds.attrs.get("sources") else []
    srcs = [x if len(x) <= 110 else x[:107] + "..." for x in srcs]
    more = f" (+{len(srcs) - 2} more)" if len(srcs) > 2 else ""
    return "; ".join(srcs[:2]) + more


def _lines(ds: xr.Dataset) -> list[str]:
    horizon = ds.attrs.get("horizon", ds.sizes.get("month"))
    head = (f"{ds.attrs.get('runs')} runs, seed {ds.attrs.get('seed', 'n/a')}, horizon {horizon} months; "
            "source: critmin simulation on the critmin World (production, trade, end uses)")
    scen = _sources(ds)
    return [head] + ([f"scenario sources: {scen}"] if scen else [])


def figure(ds: xr.Dataset, kind: str = "html") -> Any:
    """The fan chart and the sector/country bars of a simulation result ``ds`` as one figure."""
    if kind not in ("html", "png"):
        raise InputError("kind", kind, "choose html or png")
    series = _series(ds)
    from critmin.simulate.engine import cumulative

    cum = cumulative(ds)  # run, country, sector: t over the horizon
    sec_labels, sec_mean, sec_p95 = _bars(cum, "sector")
    stage_of = dict(zip(ds["sector"].values.astype(str), ds["sector_stage"].values.astype(str), strict=True))
    content = {str(st): str(ds["content"].sel(stage=st).values) for st in dict.fromkeys(ds["sector_stage"].values)}
    short = {st: content[st].split(" (")[0] for st in content}  # "t magnet REE (Nd+Pr+Dy+Tb) in …" -> "t magnet REE"
    stage_names = {st: f"{st} ({content[st]})" for st in content}
    display = {stage_names[st]: f"{st} ({short[st]})" for st in content}
    sec_stage = [stage_names[stage_of[s]] for s in sec_labels]
    sec_text = [f"{s} ({short[stage_of[s]]})" for s in sec_labels]
    ctry_labels, ctry = _country_bars(cum, ds)
    colors = palette.country_colors(ctry_labels)
    scol = {name: palette.SERIES[k % len(palette.SERIES)] for k, name in enumerate(series)}
    months = ds["month"].values
    title = f"{ds.attrs.get('title', ds.attrs.get('scenario', ''))}: shortfall ({ds.attrs.get('scenario', '')})"
    lines = _lines(ds)
    hatches = ["", "//", "..", "xx", "\\\\", "++"]
    t_fan = "Shortfall per month by stage (band P5-P95, line P50, dotted mean)"
    t_sec = "Cumulative shortfall by sector (mean, whisker P95)"
    t_cty = "Cumulative shortfall by country and stage (mean, whisker P95)"
    if kind == "html":
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=2, cols=2, specs=[[{"colspan": 2}, None], [{}, {}]],
                            subplot_titles=(t_fan, t_sec, t_cty), vertical_spacing=0.12, horizontal_spacing=0.2)
        for name, s in series.items():
            c = scol[name]
            fig.add_trace(go.Scatter(x=months, y=s["p95"], line={"width": 0, "color": c}, showlegend=False,
                                     legendgroup=name, hoverinfo="skip"), 1, 1)
            fig.add_trace(go.Scatter(x=months, y=s["p5"], fill="tonexty", line={"width": 0, "color": c},
                                     name=f"{display.get(name, name)} P5-P95", legendgroup=name, opacity=0.3), 1, 1)
            fig.add_trace(go.Scatter(x=months, y=s["p50"], name=f"{display.get(name, name)} P50", line={"color": c},
                                     legendgroup=name), 1, 1)
            fig.add_trace(go.Scatter(x=months, y=s["mean"], line={"dash": "dot", "color": c},
                                     name=f"{display.get(name, name)} mean", legendgroup=name), 1, 1)
        fig.add_trace(go.Bar(y=sec_text, x=sec_mean, orientation="h", showlegend=False,
                             marker_color=[scol.get(s, palette.SERIES[0]) for s in sec_stage],
                             error_x={"type": "data", "array": sec_p95 - sec_mean, "arrayminus": 0 * sec_mean,
                                      "symmetric": False}), 2, 1)
        for k, (name, (mean, p95)) in enumerate(ctry.items()):
            fig.add_trace(go.Bar(
                y=ctry_labels, x=mean, orientation="h", name=display.get(name, name),
                marker={"color": [colors[c] for c in ctry_labels],
                        "pattern": {"shape": ["", "/", ".", "x", "\\", "+"][k % 6], "fgcolor": "white"}},
                error_x={"type": "data", "array": p95 - mean, "symmetric": False, "arrayminus": 0 * mean}), 2, 2)
        fig.update_layout(height=1000, barmode="group", plot_bgcolor="white",
                          legend={"orientation": "h", "y": -0.08, "yanchor": "top", "x": 0})
        fig.update_xaxes(title_text="month", row=1, col=1, gridcolor="#e5e5e5")
        fig.update_yaxes(title_text="t per month (stage content unit)", row=1, col=1, gridcolor="#e5e5e5")
        fig.update_xaxes(title_text="t over the horizon (unit in the bar label)", row=2, col=1)
        fig.update_xaxes(title_text="t over the horizon (stage content unit; hatching = stage)", row=2, col=2)
        fig.update_yaxes(autorange="reversed", automargin=True, row=2)
        palette.plotly_frame(fig, title, lines)
        return fig
    plt = palette.pyplot()
    fig = plt.figure(figsize=(15, 12), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.2], width_ratios=[1.1, 1])
    ax = fig.add_subplot(grid[0, :])
    for name, s in series.items():
        c = scol[name]
        nm = palette.mpl_text(display.get(name, name))
        ax.fill_between(months, s["p5"], s["p95"], alpha=0.25, color=c, label=f"{nm} P5-P95")
        ax.plot(months, s["p50"], color=c, label=f"{nm} P50")
        ax.plot(months, s["mean"], linestyle=":", color=c, label=f"{nm} mean")
    ax.set_xlabel("month")
    ax.set_ylabel("shortfall, t per month (stage content unit)")
    ax.set_title(t_fan, fontsize=10)
    ax.grid(color="#e5e5e5", lw=0.6)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False, ncols=1)
    bx = fig.add_subplot(grid[1, 0])
    ypos = np.arange(len(sec_labels))
    bx.barh(ypos, sec_mean, xerr=[np.zeros_like(sec_mean), sec_p95 - sec_mean], capsize=3,
            color=[scol.get(s, palette.SERIES[0]) for s in sec_stage])
    bx.set_yticks(ypos, [palette.mpl_text(t) for t in sec_text], fontsize=8)
    bx.invert_yaxis()
    bx.set_title(t_sec, fontsize=10)
    bx.set_xlabel("t over the horizon (unit in the bar label)")
    cx = fig.add_subplot(grid[1, 1])
    height = 0.8 / max(len(ctry), 1)
    ypos = np.arange(len(ctry_labels))
    for n, (name, (mean, p95)) in enumerate(ctry.items()):
        cx.barh(ypos + (n - (len(ctry) - 1) / 2) * height, mean, height,
                xerr=[np.zeros_like(mean), p95 - mean], capsize=2, color=[colors[c] for c in ctry_labels],
                hatch=hatches[n % len(hatches)], edgecolor="white", label=palette.mpl_text(display.get(name, name)))
    cx.set_yticks(ypos, ctry_labels, fontsize=8)
    cx.invert_yaxis()
    cx.set_title(t_cty, fontsize=10)
    cx.set_xlabel("t over the horizon (stage content unit; hatching = stage)")
    leg = cx.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), title="stage (hatching)", frameon=False)
    for patch in leg.get_patches():
        patch.set_facecolor("#999999")
    for axis in (bx, cx):
        axis.grid(axis="x", color="#e5e5e5", lw=0.6)
    palette.mpl_frame(fig, title, lines, width=160)
    return fig


def plot(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the fan chart and the sector/country bars to ``path`` (.html, .png, .svg or .pdf)."""
    p = check_plot_path(path)
    return palette.save(figure(ds, "html" if p.suffix.lower() == ".html" else "png"), p, PLOT_SUFFIXES)
