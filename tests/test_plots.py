"""Figures as a reader needs them: China one colour everywhere, missing drawn as missing, outliers clipped with a
note, critical materials by default, no mathtext, sane PNG sizes, the investor filter on the map."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.container import BarContainer

import critmin
from critmin.palette import CHINA_COLOR, MAX_PNG_WIDTH_PX, country_color, mpl_text, png_dpi, pyplot, reddish
from critmin.risk.plot import risk_matrix_figure, stacked_shares_figure


@pytest.fixture(scope="module")
def world() -> critmin.World:
    return critmin.load()


def _mpl_close(fig) -> None:
    pyplot().close(fig)


def _plotly_colors(fig, name: str) -> set[str]:
    """Colours of the Plotly series named ``name`` (bar/marker colour, scalar or per point)."""
    out: set[str] = set()
    for t in fig.data:
        if t.name != name:
            continue
        c = t.marker.color
        out |= {c.lower()} if isinstance(c, str) else {x.lower() for x in c}
    return out


def _mpl_bar_colors(fig, label: str) -> set[str]:
    return {to_hex(p.get_facecolor()) for ax in fig.axes for bc in ax.containers
            if isinstance(bc, BarContainer) and bc.get_label() == label for p in bc.patches}


def _mpl_scatter_colors(fig, label: str) -> set[str]:
    return {to_hex(c) for ax in fig.axes for coll in ax.collections if coll.get_label() == label
            for c in coll.get_facecolor()}


def test_china_is_the_same_red_in_every_figure(world) -> None:
    from critmin.brief import briefing
    from critmin.report.html import _chain_figure, country_colors
    from critmin.simulate.plot import _country_bars
    from critmin.simulate.plot import figure as sim_figure

    seen: dict[str, set[str]] = {}
    sh = world.risk.concentration("rare-earths", None, 2024, "usgs-mcs-2025")
    sh = sh[sh["country"] != "ROW"]
    seen["stacked html"] = _plotly_colors(stacked_shares_figure(sh, "t", kind="html"), "CHN")
    fig = stacked_shares_figure(sh, "t", kind="png")
    seen["stacked png"] = _mpl_bar_colors(fig, "CHN")
    _mpl_close(fig)
    y = max(world.risk.inputs().years)
    d = world.risk.import_dependence(["CHN", "USA", "JPN"], None, y, "KOR")
    d = d.assign(label=d["material"] + " " + d["importer"])
    seen["matrix html"] = _plotly_colors(risk_matrix_figure(d, "nir", "partner_share", "label", "t", kind="html"),
                                         "CHN")
    fig = risk_matrix_figure(d, "nir", "partner_share", "label", "t", kind="png")
    seen["matrix png"] = _mpl_scatter_colors(fig, "CHN")
    _mpl_close(fig)
    # the simulation's country bars: each bar in its country's colour (a run where China has a shortfall)
    ds = world.simulate("graphite-licensing-2023", runs=4, seed=0)
    labels, _ = _country_bars(ds["shortfall"].sum("month"), ds)
    html = sim_figure(ds, "html")
    bars = [t for t in html.data if t.type == "bar" and t.orientation == "h" and list(t.y) == labels]
    assert bars
    for t in bars:
        assert [c.lower() for c in t.marker.color] == [country_color(c).lower() for c in labels]
    fig = sim_figure(ds, "png")
    cx = fig.axes[-1]
    for bc in [c for c in cx.containers if isinstance(c, BarContainer)]:
        got = [to_hex(p.get_facecolor()) for p in bc.patches]
        assert got == [country_color(c).lower() for c in labels]
    if "CHN" in labels:
        seen["simulate"] = {country_color("CHN")}
    _mpl_close(fig)
    # the brief's chain charts
    b = briefing(world, ["USA", "JPN"])
    chain = next(c for c in b["chains"] if c["stages"])
    order = [t["country"] for s in chain["stages"] for e in s["evidence"] for t in e["top"]]
    div = _chain_figure(chain, country_colors(order))
    assert f'"marker":{{"color":"{CHINA_COLOR}"}},"name":"CHN"' in div.replace(" ", "")
    for kind, cols in seen.items():
        assert cols == {CHINA_COLOR}, (kind, cols)
    # and no other country is drawn in a red-like colour
    assert reddish(CHINA_COLOR)
    assert not any(reddish(country_color(c)) for c in ["USA", "JPN", "AUS", "KOR", "MMR", "XYZ", "ZZZ"])
    assert country_color("USA") != country_color("JPN")


def test_missing_values_are_drawn_as_missing_not_zero() -> None:
    df = pd.DataFrame({"material": ["gallium", "germanium", "graphite", "lithium"],
                       "importer": ["USA", "USA", "JPN", "JPN"],
                       "ir": [0.8, np.nan, 0.5, 0.9], "sr": [3.0, 2.0, np.nan, 1.0]})
    df["ir_"] = df["ir"].fillna(0.0)  # how the CLI hands over a filled copy: the plot still draws the original
    fig = risk_matrix_figure(df, "ir_", "sr", "material", "EU supply risk", kind="html", critical_only=False)
    xs = {t.text[k].split("<br>")[0]: (t.x[k], t.y[k]) for t in fig.data for k in range(len(t.x))}
    lo_x, lo_y = fig.layout.xaxis.range[0], fig.layout.yaxis.range[0]
    # germanium (IR missing) sits in the strip left of every real IR value, not at IR = 0 (which is on the axis)
    assert xs["germanium"][0] < 0.5 and xs["germanium"][0] != 0.0 and xs["germanium"][0] > lo_x
    assert xs["germanium"][0] < min(v[0] for k, v in xs.items() if k != "germanium") - 0.01
    assert xs["graphite"][1] < 1.0 and xs["graphite"][1] > lo_y  # SR missing: the strip below
    sub = fig.layout.title.subtitle.text
    assert "missing 'import reliance IR'" in sub and "not at 0" in sub
    assert any(a.text == "missing" for a in fig.layout.annotations)
    # the PNG: the missing points are their own series
    png = risk_matrix_figure(df, "ir_", "sr", "material", "EU supply risk", kind="png", critical_only=False)
    labels = [c.get_label() for ax in png.axes for c in ax.collections]
    assert any("(value missing)" in x for x in labels)
    _mpl_close(png)
    # stacked shares: a bar without data says so and draws nothing
    sh = pd.DataFrame({"stage": ["mining", "mining", "refining"], "country": ["CHN", "AUS", "CHN"],
                       "share": [0.7, 0.3, np.nan]})
    fig = stacked_shares_figure(sh, "shares", kind="html")
    assert any("no data" in a.text for a in fig.layout.annotations)
    chn = next(t for t in fig.data if t.name == "CHN")
    assert dict(zip(chn.y, chn.x, strict=True)) == {"mining": pytest.approx(70.0), "refining": 0.0}
    assert "without data" in fig.layout.title.subtitle.text


def test_outlier_is_drawn_at_the_edge_with_a_note(world) -> None:
    y = max(world.risk.inputs().years)
    d = world.risk.import_dependence(["USA", "JPN"], None, y, "CHN")
    d = d.assign(label=d["material"] + " " + d["importer"])
    assert d["nir"].min() < -1000  # the cadmium JPN case of the issue
    fig = risk_matrix_figure(d, "nir", "partner_share", "label", "dependence", kind="html", critical_only=False)
    xs = [v for t in fig.data for v in t.x]
    assert min(xs) >= fig.layout.xaxis.range[0] and fig.layout.xaxis.range[0] > -2
    sub = fig.layout.title.subtitle.text
    assert "cadmium JPN (-1,073)" in sub and "axis drawn at its edge" in sub
    syms = {s for t in fig.data for s in (t.marker.symbol if not isinstance(t.marker.symbol, str) else [])}
    assert "triangle-left" in syms
    # import values spanning orders of magnitude get a log axis, said on the chart
    g = world.risk.geopolrisk(None, ["USA", "JPN"], None, True, critical_only=True)
    g = g[g["status"] == "ok"]
    g = g.assign(value=g["price"] * g["total_imports"], label=g["material"] + " " + g["importer"])
    fig = risk_matrix_figure(g, "value", "score", "label", "GeoPolRisk", kind="png")
    assert fig.axes[0].get_xscale() == "log"
    assert "log scale" in "".join(t.get_text() for t in fig.texts)
    _mpl_close(fig)


def test_critical_materials_only_by_default(world) -> None:
    df = pd.DataFrame({"material": ["petroleum", "gallium", "natural-gas"], "importer": ["USA"] * 3,
                       "value": [1e6, 10.0, 2e6], "score": [0.9, 0.4, 0.8]})
    crit = set(world.critical_materials())
    assert "gallium" in crit and "petroleum" not in crit
    fig = risk_matrix_figure(df, "value", "score", "material", "t", kind="html")
    shown = {t.text[k].split("<br>")[0] for t in fig.data for k in range(len(t.x))}
    assert shown == {"gallium"}
    assert "critical materials only" in fig.layout.title.subtitle.text
    fig = risk_matrix_figure(df, "value", "score", "material", "t", kind="html", critical_only=False)
    assert {t.text[k].split("<br>")[0] for t in fig.data for k in range(len(t.x))} == set(df["material"])


def test_no_mathtext_and_sane_png_sizes(tmp_path) -> None:
    from critmin.registry.core import Registry
    from critmin.registry.plots import timeline_png_figure

    fig = timeline_png_figure(Registry.load())
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "_preprocess_math"))]
    dollars = [t for t in texts if "$" in t.get_text()]
    assert dollars  # the key names US$ amounts
    assert all(not t._preprocess_math(t.get_text())[1] for t in dollars)  # drawn as text, never as maths
    assert mpl_text("US$550 bn and $1 bn") == r"US\$550 bn and \$1 bn"
    assert fig.get_size_inches()[0] * png_dpi(fig) <= MAX_PNG_WIDTH_PX
    pyplot().close(fig)
    rows = pd.DataFrame({"stage": [f"importer stage {k}" for k in range(200)], "country": "CHN", "share": 0.5})
    fig = stacked_shares_figure(rows, "many bars", kind="png")
    assert len(fig.axes[0].get_yticks()) == 40
    assert "first 40 of 200 bars" in "".join(t.get_text() for t in fig.texts)
    w, h = fig.get_size_inches() * png_dpi(fig)
    assert w <= MAX_PNG_WIDTH_PX and h < 4000
    pyplot().close(fig)


def test_invest_map_investor_filter_keeps_only_its_markers() -> None:
    from critmin.registry.core import Registry
    from critmin.registry.plots import invest_map_figure

    reg = Registry.load()
    inv = reg.investments_frame()
    jpn_projects = set(inv.loc[inv["investor_country"] == "JPN", "project_id"].dropna())

    def markers(fig) -> int:
        return sum(len(t.lon) for t in fig.data if t.type == "scattergeo")

    everything, jpn = invest_map_figure(reg), invest_map_figure(reg, investor_country="JPN")
    us_jpn = {p.id for p in reg.projects if p.country == "USA" and p.id in jpn_projects}
    assert markers(jpn) < markers(everything)
    assert markers(jpn) <= len(us_jpn)
    world_jpn = invest_map_figure(reg, world=True, investor_country="JPN")
    assert markers(world_jpn) <= len(jpn_projects) < len(reg.projects)
    assert "investor JPN" in jpn.layout.title.text


def test_exposure_shares_pairs_china_with_the_rest_and_drops_missing() -> None:
    import pandas as pd

    from critmin.risk.plot import exposure_shares

    ex = pd.DataFrame({"importer": ["USA", "JPN"], "stage": ["magnet", "magnet"],
                       "china_share_direct": [0.25, float("nan")], "china_share_effective": [0.75, 0.5]})
    rows = exposure_shares(ex)
    assert list(rows.columns) == ["stage", "country", "share"]
    assert len(rows) == 6  # JPN direct is missing: left out, not drawn as 0
    assert "JPN magnet direct" not in set(rows["stage"])
    assert rows.groupby("stage")["share"].sum().eq(1.0).all()
    usa = rows[rows["stage"] == "USA magnet effective"].set_index("country")["share"]
    assert usa["CHN"] == 0.75 and usa["other"] == 0.25
