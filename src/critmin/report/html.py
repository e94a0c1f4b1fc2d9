"""Render a briefing to one self-contained HTML file (Jinja2 + Plotly, JS inlined)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, select_autoescape
from plotly.offline import get_plotlyjs

from critmin import palette

TEMPLATES = Path(__file__).parent / "templates"


#: China's colour and the country colours: one palette for every critmin figure (:mod:`critmin.palette`).
CHINA_COLOR = palette.CHINA_COLOR
_reddish = palette.reddish
country_colors = palette.country_colors


def _chain_figure(chain: dict[str, Any], colors: dict[str, str]) -> str:
    """Stacked horizontal bars: country shares at each stage (top 3 + rest), as an HTML div."""
    labels, rows = [], []
    for s in chain["stages"]:
        for e in s["evidence"]:
            labels.append(f"{s['name']} ({e['basis']}, {e['source']} {e['year']})")
            rows.append(e["top"])
    countries: list[str] = []
    for r in rows:
        for t in r:
            if t["country"] not in countries:
                countries.append(t["country"])
    colors = {**palette.country_colors(countries), **colors}
    fig = go.Figure()
    for c in countries:
        fig.add_bar(name=c, orientation="h", y=labels, marker_color=colors[c],
                    x=[next((t["share"] * 100 for t in r if t["country"] == c), 0.0) for r in rows])
    fig.add_bar(name="others", orientation="h", y=labels, marker_color=palette.OTHER_COLOR,
                x=[100 - sum(t["share"] * 100 for t in r) for r in rows])
    fig.update_layout(barmode="stack", height=200 + 38 * len(labels), margin=dict(l=10, r=10, b=30),
                      xaxis={"title": "share of the stage (%)", "range": [0, 100]}, legend_orientation="h",
                      plot_bgcolor="white")
    fig.update_yaxes(autorange="reversed", automargin=True)
    palette.plotly_frame(fig, f"{chain['title']}: country shares by stage",
                         ["year and source: in each bar's label (basis, source, year); top 3 countries, the rest "
                          "as 'others'"])
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def render_brief(brief: dict[str, Any]) -> str:
    """The briefing as a complete HTML document (no external resources)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    tpl = env.get_template("brief.html.j2")
    order = [t["country"] for c in brief["chains"] for s in c["stages"] for e in s["evidence"] for t in e["top"]]
    colors = country_colors(order)
    figures = {c["chain"]: _chain_figure(c, colors) for c in brief["chains"] if c["stages"]}
    return tpl.render(brief=brief, figures=figures, plotly_js=get_plotlyjs(), esc=html.escape)
