"""Render a briefing to one self-contained HTML file (Jinja2 + Plotly, JS inlined)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, select_autoescape
from plotly.offline import get_plotlyjs

TEMPLATES = Path(__file__).parent / "templates"


#: China is always drawn in the same red; other countries get plotly's Dark24 + Light24 colours less the red-like
#: ones (40), in order of first appearance on the page, repeating past 40 (presentation choices, no data meaning).
CHINA_COLOR = "#d62728"


def _reddish(hex_color: str) -> bool:
    """True for colours a reader could mistake for China's red (hue within 20 degrees of red)."""
    import colorsys

    r, g, b = (int(hex_color.lstrip("#")[i: i + 2], 16) / 255 for i in (0, 2, 4))
    h, lightness, sat = colorsys.rgb_to_hls(r, g, b)
    return sat > 0.5 and 0.2 < lightness < 0.8 and (h < 20 / 360 or h > 340 / 360)


def country_colors(codes: list[str]) -> dict[str, str]:
    """Distinct colours for ``codes`` in order (China always red), so a country looks the same in every chart."""
    from plotly.colors import qualitative

    palette = [c for c in qualitative.Dark24 + qualitative.Light24 if not _reddish(c)]
    out, k = {}, 0
    for c in codes:
        if c in out:
            continue
        if c == "CHN":
            out[c] = CHINA_COLOR
        else:
            out[c] = palette[k % len(palette)]
            k += 1
    return out


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
    fig = go.Figure()
    for c in countries:
        fig.add_bar(name=c, orientation="h", y=labels, marker_color=colors[c],
                    x=[next((t["share"] * 100 for t in r if t["country"] == c), 0.0) for r in rows])
    fig.add_bar(name="others", orientation="h", y=labels, marker_color="#cccccc",
                x=[100 - sum(t["share"] * 100 for t in r) for r in rows])
    fig.update_layout(barmode="stack", height=140 + 38 * len(labels), margin=dict(l=10, r=10, t=30, b=30),
                      xaxis_title="share of stage (%)", legend_orientation="h", title=chain["title"])
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False})


def render_brief(brief: dict[str, Any]) -> str:
    """The briefing as a complete HTML document (no external resources)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    tpl = env.get_template("brief.html.j2")
    order = [t["country"] for c in brief["chains"] for s in c["stages"] for e in s["evidence"] for t in e["top"]]
    colors = country_colors(order)
    figures = {c["chain"]: _chain_figure(c, colors) for c in brief["chains"] if c["stages"]}
    return tpl.render(brief=brief, figures=figures, plotly_js=get_plotlyjs(), esc=html.escape)
