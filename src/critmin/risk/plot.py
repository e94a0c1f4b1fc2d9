"""Risk figures, offline: stacked country shares by stage, and a risk matrix (supply risk vs importance).

``FILE.png`` is drawn with matplotlib (Agg backend); ``FILE.html`` with Plotly, its JavaScript
inlined so the page opens without a network.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from critmin.atomic import atomic_path, atomic_write_text
from critmin.errors import InputError


def _kind(path: str | Path) -> str:
    suf = Path(path).suffix.lower()
    if suf not in (".png", ".html"):
        raise InputError("--plot", str(path), "plot file must end in .png or .html")
    return suf[1:]


def stacked_shares(shares: pd.DataFrame, path: str | Path, title: str, top: int = 6) -> Path:
    """Stacked bars: one bar per ``stage`` (x), segments = ``country`` shares (0–1), minor ones as 'other'.

    ``shares``: columns stage, country, share.
    """
    kind = _kind(path)
    df = shares[["stage", "country", "share"]].copy()
    keep = df[df["country"] != "other"].groupby("country")["share"].max().sort_values(ascending=False).head(top).index
    df["country"] = df["country"].where(df["country"].isin(keep), "other")
    df = df.groupby(["stage", "country"], as_index=False, sort=False)["share"].sum()
    wide = df.pivot_table(index="stage", columns="country", values="share", aggfunc="sum", sort=False).fillna(0.0)
    order = [c for c in keep if c in wide.columns and c != "other"] + (["other"] if "other" in wide.columns else [])
    wide = wide[order]
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if kind == "png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(5, 1.4 * len(wide) + 2), 4.5))
        bottom = None
        for c in wide.columns:
            ax.bar(wide.index.astype(str), wide[c], bottom=bottom, label=c)
            bottom = wide[c] if bottom is None else bottom + wide[c]
        ax.set_ylim(0, 1)
        ax.set_ylabel("share (fraction)")
        ax.set_title(title)
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
        fig.tight_layout()
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
    else:
        import plotly.graph_objects as go

        fig = go.Figure([go.Bar(name=c, x=list(wide.index.astype(str)), y=list(wide[c])) for c in wide.columns])
        fig.update_layout(barmode="stack", title=title, yaxis_title="share (fraction)", yaxis_range=[0, 1])
        atomic_write_text(p, fig.to_html(include_plotlyjs=True, full_html=True))
    return p


def risk_matrix(df: pd.DataFrame, x: str, y: str, label: str, path: str | Path, title: str,
                x_title: str, y_title: str) -> Path:
    """Scatter of supply risk (``y``) against importance (``x``), one labelled point per row."""
    kind = _kind(path)
    d = df[[x, y, label]].dropna()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if kind == "png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 5))
        ax.scatter(d[x], d[y], s=18)
        for xv, yv, lab in d.itertuples(index=False):  # one label per plotted point (figure annotation)
            ax.annotate(str(lab), (xv, yv), fontsize=7, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel(x_title)
        ax.set_ylabel(y_title)
        ax.set_title(title)
        fig.tight_layout()
        with atomic_path(p) as tmp:
            fig.savefig(tmp, dpi=110)
        plt.close(fig)
    else:
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(x=d[x], y=d[y], text=d[label].astype(str), mode="markers+text",
                                   textposition="top center"))
        fig.update_layout(title=title, xaxis_title=x_title, yaxis_title=y_title)
        atomic_write_text(p, fig.to_html(include_plotlyjs=True, full_html=True))
    return p
