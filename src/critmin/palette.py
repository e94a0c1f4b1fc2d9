"""Colours and the shared look of every critmin figure (Plotly HTML and matplotlib PNG).

One module so that a country has the same colour in every chart: China is always
:data:`CHINA_COLOR` (red), the United States always blue, Japan always purple, and
other common producer countries a fixed colour each (:data:`COUNTRY_COLORS`); any
other code gets a colour from :data:`PALETTE` by a stable hash of its code, moved to
the next free colour only when two countries in the same chart would collide. No
colour other than China's is red-like (:func:`reddish`).

The helpers below give every figure the same frame: a title, a subtitle line with
year and source, notes (clipped outliers, missing values, rows left out), text that
matplotlib never reads as maths (``$`` is escaped), and PNGs at most
:data:`MAX_PNG_WIDTH_PX` wide saved with ``bbox_inches="tight"`` so that nothing is
clipped. Every colour and size here is a presentation choice with no data meaning.
"""

from __future__ import annotations

import colorsys
import textwrap
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from critmin.errors import InputError

#: China, in every chart.
CHINA_COLOR = "#d62728"
#: The rest of the world / countries outside the top N ("other", "others", "ROW").
OTHER_COLOR = "#bdbdbd"
#: Markers that stand for a missing value (drawn apart from the data, never at 0).
MISSING_COLOR = "#7f7f7f"
#: Framework dates and other reference lines.
REFERENCE_COLOR = "#8b0000"

#: Qualitative colours for countries other than China (none red-like; grey is kept for "other").
PALETTE = [
    "#1f77b4", "#6a3d9a", "#2ca02c", "#17becf", "#8c564b", "#bcbd22", "#e6ab02", "#393b79",
    "#637939", "#7b4173", "#5254a3", "#8ca252", "#bd9e39", "#a55194", "#6b6ecf", "#b5cf6b",
    "#3182bd", "#31a354", "#756bb1", "#00a08b", "#b68100", "#0d2a63", "#479b55", "#6e899c",
    "#86ce00", "#00b5f7", "#7e7dcd", "#6c4516", "#aec7e8", "#98df8a", "#c5b0d5", "#c49c94",
    "#9edae5", "#dbdb8d", "#ce6dbd", "#e7cb94",
]

#: Fixed colours: China red, USA blue, Japan purple, then common producers in PALETTE order.
_FIXED_ORDER = ["USA", "JPN", "AUS", "KOR", "COD", "IDN", "CHL", "ARG", "ZAF", "BRA", "RUS", "MMR", "VNM",
                "CAN", "MYS", "GAB", "PHL", "NCL", "DEU", "BEL", "FIN", "NOR", "IND", "KAZ", "TUR", "TJK",
                "BOL", "ZWE", "MOZ", "MDG", "TWN", "FRA", "GBR", "THA", "EST", "UKR"]
COUNTRY_COLORS: dict[str, str] = {"CHN": CHINA_COLOR} | dict(zip(_FIXED_ORDER, PALETTE, strict=True))
_OTHER_NAMES = {"other", "others", "ROW", "rest of world", "other importers"}

#: Marker/bar colour per project status: ColorBrewer "Dark2" (8 colours), plus grey for retired.
STATUS_COLOURS = {
    "operating": "#1b9e77",
    "commissioning": "#66a61e",
    "construction": "#e6ab02",
    "fid": "#d95f02",
    "feasibility": "#7570b3",
    "announced": "#a6761d",
    "suspended": "#666666",
    "cancelled": "#e7298a",
    "retired": "#999999",
}

#: Colours of non-country series (e.g. one per chain stage in the simulation's fan chart).
SERIES = ["#1f77b4", "#2ca02c", "#6a3d9a", "#e6ab02", "#17becf", "#8c564b", "#bcbd22", "#393b79"]

#: The widest PNG critmin writes, in pixels.
MAX_PNG_WIDTH_PX = 2400
#: PNG resolution when the figure is narrow enough.
PNG_DPI = 150


def reddish(hex_color: str) -> bool:
    """True for colours a reader could mistake for China's red (hue within 20 degrees of red)."""
    r, g, b = (int(hex_color.lstrip("#")[i: i + 2], 16) / 255 for i in (0, 2, 4))
    h, lightness, sat = colorsys.rgb_to_hls(r, g, b)
    return sat > 0.5 and 0.2 < lightness < 0.8 and (h < 20 / 360 or h > 340 / 360)


def country_color(code: str) -> str:
    """The colour of ``code`` in every chart (China red; "other"/"ROW" grey; unknown codes by a stable hash)."""
    if code in COUNTRY_COLORS:
        return COUNTRY_COLORS[code]
    if code in _OTHER_NAMES:
        return OTHER_COLOR
    return PALETTE[zlib.crc32(code.encode("utf-8")) % len(PALETTE)]


def country_colors(codes: Iterable[str]) -> dict[str, str]:
    """Colours for ``codes`` (China always red): each code's :func:`country_color`, except that a hashed
    colour already taken in this chart moves to the next free palette colour (distinct within a chart)."""
    out: dict[str, str] = {}
    codes = list(dict.fromkeys(codes))
    used = {country_color(c) for c in codes if c in COUNTRY_COLORS}
    for c in codes:
        col = country_color(c)
        if c not in COUNTRY_COLORS and c not in _OTHER_NAMES and col in used:
            start = PALETTE.index(col)
            free = [PALETTE[(start + k) % len(PALETTE)] for k in range(len(PALETTE))
                    if PALETTE[(start + k) % len(PALETTE)] not in used]
            col = free[0] if free else col
        used.add(col)
        out[c] = col
    return out


# ---------------------------------------------------------------------------------------------- the frame


def subtitle(year: str | None = None, source: str | None = None, notes: Iterable[str] = ()) -> list[str]:
    """The lines under a title: "year …; source: …" then each note."""
    head = "; ".join(x for x in (f"year {year}" if year else "", f"source: {source}" if source else "") if x)
    return [x for x in (head, *notes) if x]


def mpl_text(text: str) -> str:
    """``text`` for matplotlib with ``$`` escaped, so "US$550 bn … $1 bn" is never typeset as maths."""
    return str(text).replace("\\$", "$").replace("$", r"\$")


def wrap(text: str, width: int = 120) -> str:
    """``text`` wrapped to ``width`` characters per line (each existing line separately)."""
    return "\n".join(textwrap.fill(line, width) or line for line in str(text).split("\n"))


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display), with maths parsing off for new text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["text.usetex"] = False
    matplotlib.rcParams["font.family"] = "DejaVu Sans"
    return plt


def mpl_frame(fig: Any, title: str, lines: Iterable[str], width: int = 130) -> None:
    """Title (``fig.suptitle``) and, at the foot of ``fig``, the subtitle ``lines`` (year, source, notes)."""
    fig.suptitle(mpl_text(wrap(title, 90)), fontsize=12, fontweight="bold")
    foot = "\n".join(wrap(mpl_text(x), width) for x in lines)
    if foot:
        fig.text(0.005, 0.0, foot, fontsize=8, color="#444", ha="left", va="top", wrap=False)


def plotly_frame(fig: Any, title: str, lines: Iterable[str], width: int = 150) -> None:
    """Title with the subtitle ``lines`` (year, source, notes) under it, and room for them at the top."""
    import html

    lines = [wrap(html.escape(x, quote=False), width).replace("\n", "<br>") for x in lines]
    n = sum(x.count("<br>") + 1 for x in lines)
    margin = fig.layout.margin.to_plotly_json() if fig.layout.margin else {}
    fig.update_layout(title={"text": html.escape(title, quote=False), "x": 0.01, "xanchor": "left", "y": 0.99,
                             "yanchor": "top", "font": {"size": 16, "weight": "bold"},
                             "subtitle": {"text": "<br>".join(lines), "font": {"size": 11, "color": "#444"}}},
                      margin={**{"l": 60, "r": 30, "b": 60}, **margin, "t": 56 + 15 * n})


def png_dpi(fig: Any) -> float:
    """A resolution that keeps ``fig`` at most :data:`MAX_PNG_WIDTH_PX` wide."""
    return min(PNG_DPI, MAX_PNG_WIDTH_PX / max(fig.get_size_inches()[0], 1.0) * 0.9)


def is_plotly(fig: Any) -> bool:
    """True for a Plotly figure (else matplotlib)."""
    return type(fig).__module__.startswith("plotly")


def save(fig: Any, path: str | Path, suffixes: tuple[str, ...] = (".html", ".png", ".svg", ".pdf")) -> Path:
    """Write ``fig`` to ``path`` atomically: a Plotly figure as self-contained HTML (plotly.js inlined, no
    network), a matplotlib figure as PNG/SVG/PDF (``bbox_inches="tight"``, at most 2400 px wide) and closed."""
    from critmin.atomic import atomic_path

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in suffixes:
        raise InputError("--plot", str(p), f"plot file must end in {' or '.join(suffixes)}")
    if is_plotly(fig) != (suffix == ".html"):
        raise InputError("--plot", str(p), "a Plotly figure is saved as .html, a matplotlib one as "
                         ".png/.svg/.pdf")
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".html":
        from critmin.registry.plots import write_html

        write_html(fig, p)
        return p
    plt = pyplot()
    with atomic_path(p) as tmp:
        fig.savefig(tmp, dpi=png_dpi(fig), bbox_inches="tight", pad_inches=0.15, format=suffix[1:])
    plt.close(fig)
    return p
