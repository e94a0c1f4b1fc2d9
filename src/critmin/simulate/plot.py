"""Plots of a simulation result: a fan chart of shortfall over time, bars by sector and by country.

``plot(ds, "out.html")`` writes an offline plotly page (plotly.js inlined);
``.png``, ``.svg`` or ``.pdf`` write a matplotlib figure. The fan chart sums
shortfall only within one stage (one content unit): per stage with final demand,
the total shortfall per month across runs (P5-P95 band, P50, mean). The bars give
cumulative shortfall per sector (each sector is on one stage, so one unit) and per
country; a country's bar adds its sectors on every stage, i.e. tonnes of different
content units (t REO + t NdFeB, ...), so it ranks countries rather than measuring them.
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
    ctry = _bars(cum, "country")
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
                "Cumulative shortfall by country (mean, P95)",
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
        for (labels, mean, p95), col in ((sec, 1), (ctry, 2)):
            fig.add_trace(
                go.Bar(
                    x=labels,
                    y=mean,
                    error_y={"type": "data", "array": p95 - mean, "symmetric": False, "arrayminus": 0 * mean},
                    showlegend=False,
                ),
                2,
                col,
            )
        fig.update_layout(title=title, height=800)
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
    for i, (labels, mean, p95) in enumerate((sec, ctry)):
        bx = fig.add_subplot(2, 2, 3 + i)
        bx.bar(labels, mean, yerr=[np.zeros_like(mean), p95 - mean], capsize=3)
        bx.set_title(f"Cumulative shortfall by {'sector' if i == 0 else 'country'} (mean, P95)", fontsize=9)
        bx.tick_params(axis="x", rotation=60, labelsize=7)
        bx.set_ylabel("t over the horizon")
    fig.tight_layout()
    with atomic_path(p) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return p
