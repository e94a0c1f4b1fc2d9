"""Plots of a simulation result: a fan chart of shortfall over time, bars by sector and by country.

``plot(ds, "out.html")`` writes an offline plotly page (plotly.js inlined);
``.png``, ``.svg`` or ``.pdf`` write a matplotlib figure. The fan chart sums
shortfall only within one stage (one content unit): per stage with final demand,
the total shortfall per month across runs (P5-P95 band, P50, mean). The bars give
cumulative shortfall per sector (each sector is on one stage, so one unit) and per
country, one bar per stage with final demand (a country's sectors are added within a
stage only, never across content units such as t REO and t NdFeB). Countries are ranked
by their largest share of any one stage's shortfall, a unit-free measure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from critmin.atomic import atomic_path, atomic_write_text
from critmin.errors import InputError


def _series(ds: xr.Dataset) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    stages = ds["sector_stage"].values
    for st in dict.fromkeys(stages):
        sel = ds["shortfall"].isel(sector=np.flatnonzero(stages == st))
        tot = sel.sum(["country", "sector"]).values.astype(float)  # (run, month)
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


def plot(ds: xr.Dataset, path: str | Path) -> Path:
    """Write the fan chart and the sector/country bars to ``path`` (.html, .png, .svg or .pdf)."""
    p = check_plot_path(path)
    suffix = p.suffix.lower()
    p.parent.mkdir(parents=True, exist_ok=True)
    series = _series(ds)
    cum = ds["shortfall"].sum("month")  # run, country, sector: one pass over the (large) shortfall
    sec = _bars(cum, "sector")
    ctry_labels, ctry = _country_bars(cum, ds)
    months = ds["month"].values
    title = f"{ds.attrs.get('title', ds.attrs.get('scenario', ''))} — {ds.attrs.get('runs')} runs"
    if suffix == ".html":
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(
            rows=2,
            cols=2,
            specs=[[{"colspan": 2}, None], [{}, {}]],
            subplot_titles=(
                "Shortfall per month (band P5-P95, line P50, dotted mean)",
                "Cumulative shortfall by sector (mean, P95)",
                "Cumulative shortfall by country and stage (mean, P95)",
            ),
        )
        for name, s in series.items():
            fig.add_trace(go.Scatter(x=months, y=s["p95"], line={"width": 0}, showlegend=False), 1, 1)
            fig.add_trace(
                go.Scatter(x=months, y=s["p5"], fill="tonexty", line={"width": 0}, name=f"{name} P5-P95"),
                1,
                1,
            )
            fig.add_trace(go.Scatter(x=months, y=s["p50"], name=f"{name} P50"), 1, 1)
            fig.add_trace(go.Scatter(x=months, y=s["mean"], line={"dash": "dot"}, name=f"{name} mean"), 1, 1)
        bars = [(sec[0], sec[1], sec[2], None, 1)]
        bars += [(ctry_labels, mean, p95, name, 2) for name, (mean, p95) in ctry.items()]
        for labels, mean, p95, name, col in bars:
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=mean,
                    error_y={"type": "data", "array": p95 - mean, "symmetric": False, "arrayminus": 0 * mean},
                    name=name,
                    showlegend=name is not None,
                ),
                2,
                col,
            )
        fig.update_layout(title=title, height=800, barmode="group")
        fig.update_xaxes(title_text="month", row=1, col=1)
        fig.update_yaxes(title_text="t per month", row=1, col=1)
        fig.update_yaxes(title_text="t over the horizon", row=2)
        text = fig.to_html(include_plotlyjs=True, full_html=True)
        atomic_write_text(p, text)
        return p
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(12, 8))
    ax = fig.add_subplot(2, 1, 1)
    for name, s in series.items():
        ax.fill_between(months, s["p5"], s["p95"], alpha=0.25, label=f"{name} P5-P95")
        ax.plot(months, s["p50"], label=f"{name} P50")
        ax.plot(months, s["mean"], linestyle=":", label=f"{name} mean")
    ax.set_xlabel("month")
    ax.set_ylabel("shortfall, t per month")
    ax.set_title(title)
    ax.legend(fontsize=7)
    bx = fig.add_subplot(2, 2, 3)
    labels, mean, p95 = sec
    bx.bar(labels, mean, yerr=[np.zeros_like(mean), p95 - mean], capsize=3)
    bx.set_title("Cumulative shortfall by sector (mean, P95)", fontsize=9)
    cx = fig.add_subplot(2, 2, 4)
    width = 0.8 / max(len(ctry), 1)
    x = np.arange(len(ctry_labels))
    for n, (name, (mean, p95)) in enumerate(ctry.items()):
        cx.bar(x + (n - (len(ctry) - 1) / 2) * width, mean, width, yerr=[np.zeros_like(mean), p95 - mean],
               capsize=2, label=name)
    cx.set_xticks(x, ctry_labels)
    cx.set_title("Cumulative shortfall by country and stage (mean, P95)", fontsize=9)
    cx.legend(fontsize=6)
    for axis in (bx, cx):
        axis.tick_params(axis="x", rotation=60, labelsize=7)
        axis.set_ylabel("t over the horizon")
    fig.tight_layout()
    with atomic_path(p) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return p
