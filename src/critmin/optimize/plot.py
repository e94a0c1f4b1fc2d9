"""Figures of the decision models (Plotly, colours from :mod:`critmin.palette`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from critmin import palette


def stockpile_figure(plan: pd.DataFrame, title: str, lines: list[str]) -> Any:
    """Bars per holder × material: expected and P95 unmet shortfall (t) without and with the plan."""
    import plotly.graph_objects as go

    labels = [f"{h} {m}" for h, m in zip(plan["holder"], plan["material"], strict=True)]
    fig = go.Figure()
    series = [("expected_unmet_without_t", "expected, no stockpile", palette.OTHER_COLOR),
              ("expected_unmet_t", "expected, with the plan", palette.SERIES[0]),
              ("p95_unmet_without_t", "P95, no stockpile", palette.MISSING_COLOR),
              ("p95_unmet_t", "P95, with the plan", palette.SERIES[2])]
    for col, name, colour in series:
        fig.add_bar(x=labels, y=plan[col], name=name, marker_color=colour)
    fig.update_layout(barmode="group", yaxis_title="unmet shortfall over the horizon (t)", template="plotly_white")
    palette.plotly_frame(fig, title, lines)
    return fig


def frontier_figure(frontier: pd.DataFrame, title: str, lines: list[str], value_label: str) -> Any:
    """The efficient frontier: total budget (US$ m) → best portfolio value, a step line with markers."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(x=frontier["budget_total_usd_m"], y=frontier["value"], mode="lines+markers",
                    line={"shape": "hv", "color": palette.SERIES[0]}, name="best portfolio",
                    text=frontier["projects"], hovertemplate="US$ %{x:,.0f} m: %{y:,.4g}<br>%{text}<extra></extra>")
    fig.update_layout(xaxis_title="budget, US + Japan (US$ m, split as given)", yaxis_title=value_label,
                      template="plotly_white", showlegend=False)
    palette.plotly_frame(fig, title, lines)
    return fig


def save(fig: Any, path: str | Path) -> Path:
    """Write a figure (``.html`` only: Plotly) atomically."""
    return palette.save(fig, path, suffixes=(".html",))
