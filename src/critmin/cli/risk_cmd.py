"""``critmin risk``: concentration, import dependence, GeoPolRisk, EU supply risk, indirect exposure, tables.

Thin layer over :class:`critmin.risk.RiskAccessor`; every command prints a Rich table by default,
``--json`` for machines, and ``--plot FILE`` (.png or .html) for a figure.
"""

from __future__ import annotations

from pathlib import Path

import typer

from critmin.cli.common import (
    CsvFlag,
    JsonFlag,
    XlsxOpt,
    busy,
    core_flag_errors,
    core_flags,
    frame_records,
    get_world,
    one_format,
    print_csv,
    print_json,
    say,
    show_table,
    show_text,
    sources_frame,
    write_xlsx,
)
from critmin.errors import InputError

app = typer.Typer(help="Exposure and supply-risk metrics (HHI, China share, NIR, GeoPolRisk, EU SR, exposure).",
                  no_args_is_help=True)

GPR_KEYS = ["score", "cf", "hhi", "import_risk", "price"]

#: Header units of the GeoPolRisk table ("hhi" there is the production HHI, as in geopolrisk-py).
GPR_UNITS = {"hhi": "production, 0–1"}

ALL_MATERIALS_HELP = ("Every material (fuels and other non-critical materials included); default: only materials "
                      "critical on at least one list (USGS 2025, EU 2023, Japan).")


def _risk():
    from critmin.risk import RiskAccessor

    w = get_world()
    acc = getattr(w, "_critmin_risk", None)
    if acc is None:
        acc = RiskAccessor(w)
        w._critmin_risk = acc
    return acc


#: The risk core's errors name parameters (year, material, chain, si_sr, path); every command names its flags.
_core_flags = core_flag_errors("year", "material", "chain", "si_sr", path="--plot")

#: World tables behind each command's numbers (for the sources sheet of --xlsx).
GPR_TABLES = ("production", "trade", "governance", "materials")


def _xlsx(path: Path, sheets: dict, tables: tuple[str, ...] = (), ids: object = ()) -> None:
    """Write ``sheets`` plus the sources of ``tables`` and of the source ids in ``ids``; say where."""
    used: set[str] = set()
    for df in sheets.values():
        if "source" in getattr(df, "columns", ()):
            used |= {str(x) for x in df["source"].dropna().unique()}
    write_xlsx(path, sheets, sources_frame(get_world(), [*sorted(used), *ids], tables))
    say(f"wrote {path}")


def _split(text: str | None) -> list[str] | None:
    if text is None:
        return None
    out = list(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))  # each id once (issue 13)
    return out or None


def _material(world, name: str) -> str:
    """Accept a material slug, its name or its World Mining Data name (case-insensitive)."""
    from critmin.risk.geopolrisk import material_slug

    return material_slug(world, name)


@app.command("concentration")
@_core_flags
def concentration(
    material: str = typer.Option(..., "--material", help="Material slug (e.g. graphite, rare-earths)."),
    stage: str = typer.Option(None, "--stage", help="mining or refining (default: every stage with data)."),
    year: int = typer.Option(None, "--year", help="Year (default: latest with data)."),
    years: str = typer.Option(None, "--years", help="Trend over years, FIRST:LAST (e.g. 2018:2024) or a list: "
                              "a year × HHI / China share / top-3 table."),
    source: str = typer.Option(None, "--source", help="Source id (default: the material's default source)."),
    top: int = typer.Option(10, "--top", help="Countries listed in the table."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Write stacked country shares by stage, or with --years the "
                              "trend chart (.png or .html)."),
) -> None:
    """Country shares, top-N shares, production HHI (0–1 and 0–10,000) and China's share of production."""
    import pandas as pd

    from critmin.risk.resolve import parse_years, resolve_source, resolve_stage, resolve_year

    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    world = get_world()
    material = _material(world, material)
    with core_flags("stage", "source", "year", "years"):
        stage = resolve_stage(stage)
        if years is not None:
            if year is not None:
                raise InputError("--years", years, "cannot be combined with --year")
            _trend(material, stage, parse_years(years), source, as_json, as_csv, xlsx, plot)
            return
        source = resolve_source(world, material, source, stage)
        year = resolve_year(world, material, year, source, stage)
    sh = _risk().concentration(material, stage, year, source)
    summ = _risk().concentration_summary(material, stage, year, source)
    if plot:
        from critmin.risk.plot import stacked_shares

        stacked_shares(sh[sh["country"] != "ROW"], plot, f"{material} {year} ({source}): country shares by stage")
    payload = []
    for st, g in sh.groupby("stage", sort=False):
        s = summ[summ["stage"] == st].iloc[0]
        g = g.sort_values("share", ascending=False)
        payload.append({"material": material, "stage": st, "year": int(year), "source": source,
                        "hhi": float(s["hhi"]), "hhi_10k": float(s["hhi_10k"]),
                        "china_share": float(s["china_share"]), "top1_share": float(s["top1_share"]),
                        "top3_share": float(s["top3_share"]), "total": float(s["total"]),
                        "unit": str(g["unit"].iloc[0]),
                        "shares": [{"country": c, "share": float(v)} for c, v in zip(g["country"], g["share"],
                                                                                       strict=True)]})
    if as_json:
        print_json(payload[0] if len(payload) == 1 else payload)
        return
    flat = pd.DataFrame([{"material": p["material"], "stage": p["stage"], "year": p["year"], "source": p["source"],
                          "country": x["country"], "share": x["share"]} for p in payload for x in p["shares"]])
    if as_csv:
        print_csv(flat)
        return
    if xlsx is not None:
        _xlsx(xlsx, {"shares": flat, "summary": summ}, ("production",), [source])
        return
    for p in payload:
        df = pd.DataFrame(p["shares"])
        show_table(df, title=f"{material} {p['stage']} {year} ({source}, {p['unit']}): production HHI "
                   f"{p['hhi']:.3f} ({p['hhi_10k']:,.0f}), China {p['china_share']:.1%}, top-3 {p['top3_share']:.1%}",
                   max_rows=top, more="--top N, --json or --csv")


def _trend(material: str, stage: str | None, years: tuple[int, int] | list[int], source: str | None,
           as_json: bool, as_csv: bool, xlsx: Path | None, plot: Path | None) -> None:
    """``risk concentration --years``: the year × production HHI / China share / top-3 table (and chart)."""
    t = _risk().concentration_trend(material, stage, years, source)  # errors name years/source: core_flags
    if plot:
        _trend_chart(t, plot)
    if as_json:
        print_json(frame_records(t))
    elif as_csv:
        print_csv(t)
    elif xlsx is not None:
        _xlsx(xlsx, {"trend": t}, ("production",))
    else:
        for st, g in t.groupby("stage", sort=False):
            show_table(g.drop(columns=["material", "stage", "source"]), max_rows=None,
                       title=f"{material} {st} ({g['source'].iloc[0]}): production concentration by year",
                       units={"total": str(g["unit"].iloc[0]), "hhi": "0–1"})
    if plot:
        say(f"wrote {plot}")


def _trend_chart(t, path: Path) -> None:  # noqa: ANN001 - a DataFrame
    """Production HHI and China's share by year, one line per stage (.png with matplotlib, .html with Plotly)."""
    from critmin.atomic import atomic_path, atomic_write_text

    suffix = path.suffix.lower()
    if suffix not in (".png", ".html"):
        raise InputError("--plot", str(path), "unsupported file type; use .png or .html")
    title = f"{t['material'].iloc[0]} ({t['source'].iloc[0]}): production concentration"
    if suffix == ".png":
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4))
        for st, g in t.groupby("stage", sort=False):
            ax.plot(g["year"], g["hhi"], marker="o", label=f"{st} HHI (0–1)")
            ax.plot(g["year"], g["china_share"], marker="s", linestyle="--", label=f"{st} China share")
        ax.set_ylim(0, 1)
        ax.set_xlabel("year")
        ax.set_title(title)
        ax.legend(fontsize=8)
        fig.tight_layout()
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
    else:
        import plotly.graph_objects as go

        fig = go.Figure()
        for st, g in t.groupby("stage", sort=False):
            fig.add_trace(go.Scatter(x=g["year"], y=g["hhi"], mode="lines+markers", name=f"{st} HHI (0–1)"))
            fig.add_trace(go.Scatter(x=g["year"], y=g["china_share"], mode="lines+markers",
                                     name=f"{st} China share", line={"dash": "dash"}))
        fig.update_layout(title=title, xaxis_title="year", yaxis_range=[0, 1])
        atomic_write_text(path, fig.to_html(include_plotlyjs=True, full_html=True))


@app.command("dependence")
@_core_flags
def dependence(
    importer: str = typer.Option(..., "--importer", help="ISO3 or bloc (comma-separated for several)."),
    material: str = typer.Option(None, "--material", help="Material slug(s), comma-separated (default: all)."),
    year: int = typer.Option(None, "--year", help="Year (default: latest)."),
    partner: str = typer.Option("CHN", "--partner", help="Country whose share of imports is reported."),
    shares: bool = typer.Option(False, "--shares", help="Also list import shares by partner (one material)."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Risk matrix: partner share vs NIR (.png or .html)."),
) -> None:
    """Import dependence: imports by partner, import-partner HHI, net import reliance, share from a partner."""
    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    acc = _risk()
    from critmin.risk.resolve import latest_year

    with core_flags("year"):
        y = latest_year(acc.inputs().years, year)
    mats = _split(material)
    if mats:
        mats = [_material(acc.world, m) for m in mats]
    d = acc.import_dependence(_split(importer), mats, y, partner)
    out = frame_records(d)
    if shares:
        if not mats or len(mats) != 1:
            raise InputError("--shares", material or "", "give exactly one --material with --shares")
        for r in out:
            r["shares"] = frame_records(acc.partner_shares(mats[0], r["importer"], y))
    if plot:
        from critmin.risk.plot import risk_matrix

        risk_matrix(d.assign(label=d["material"] + " " + d["importer"]), "nir", "partner_share", "label", plot,
                    f"Import dependence {y}", "net import reliance (fraction)", f"share of imports from {partner}")
    if as_json:
        print_json(out)
        return
    if as_csv:
        print_csv(d)
        return
    if xlsx is not None:
        sheets = {"dependence": d}
        if shares:
            import pandas as pd

            sheets["partner_shares"] = pd.DataFrame([{"importer": r["importer"], **x} for r in out
                                                     for x in r["shares"]])
        _xlsx(xlsx, sheets, ("trade", "production", "salient"))
        return
    show_table(d.drop(columns=["partner"]), title=f"Import dependence {y} (share from {partner})",
               more="--json, --csv or --xlsx F")


@app.command("geopolrisk")
@_core_flags
def geopolrisk(
    material: str = typer.Option(None, "--material", help="Material slug (or WMD name)."),
    importer: str = typer.Option(None, "--importer", help="ISO3 or bloc (comma-separated for several)."),
    year: int = typer.Option(None, "--year", help="Year (World Mining Data years)."),
    all_: bool = typer.Option(False, "--all", help="Every critical material × importer × year (filters still "
                              "apply; see --all-materials)."),
    all_materials: bool = typer.Option(False, "--all-materials", help=ALL_MATERIALS_HELP),
    peer_compat: bool = typer.Option(True, "--peer-compat/--own-wgi",
                                     help="Reproduce geopolrisk-py's WGI join (Taiwan etc. imputed 0.5)."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Risk matrix: GeoPolRisk score vs import value (.png/.html)."),
) -> None:
    """GeoPolRisk score, characterisation factor, production HHI, import risk and price (geopolrisk-py 2.x)."""
    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    acc = _risk()
    if not all_ and (material is None or importer is None or year is None):
        raise InputError("critmin risk geopolrisk", None, "give --material, --importer and --year, or --all")
    mats = [_material(acc.world, m) for m in _split(material)] if material else None
    with busy("computing GeoPolRisk"):
        t = acc.geopolrisk(mats, _split(importer), year, peer_compat, critical_only=not all_materials)
    if plot:
        from critmin.risk.plot import risk_matrix

        d = t[t["status"] == "ok"]
        d = d.assign(value=d["price"] * d["total_imports"], label=d["material"] + " " + d["importer"]
                     + " " + d["year"].astype(str))
        risk_matrix(d, "value", "score", "label", plot, "GeoPolRisk: supply risk against importance",
                    "import value (kUSD)", "GeoPolRisk score")
    if all_:
        cols = ["material", "importer", "year", *GPR_KEYS, "status", "missing"]
        if as_json:
            print_json(t[cols])
        elif as_csv:
            print_csv(t[cols])
        elif xlsx is not None:
            _xlsx(xlsx, {"geopolrisk": t[cols]}, GPR_TABLES)
        else:
            show_table(t[cols], title=f"GeoPolRisk ({len(t):,} rows)", units=GPR_UNITS,
                       more="--json, --csv or --xlsx F")
        return
    from critmin.risk.geopolrisk import imputed_partners

    row = t.iloc[0].to_dict()
    out = {k: row[k] for k in GPR_KEYS}
    out.update({k: row[k] for k in ("material", "importer", "year", "numerator", "total_imports",
                                    "domestic_production", "status", "missing")})
    out["imputed_g_partners"] = imputed_partners(acc.world, row["material"], row["importer"], int(row["year"]),
                                                 peer_compat, acc.inputs(peer_compat))
    if as_json:
        print_json(out)
        return
    import pandas as pd

    one = pd.DataFrame([out]).drop(columns=["imputed_g_partners"])
    if as_csv:
        print_csv(one)
        return
    if xlsx is not None:
        _xlsx(xlsx, {"geopolrisk": one}, GPR_TABLES)
        return
    show_table(one, title="GeoPolRisk", units=GPR_UNITS)
    if out["missing"]:
        show_text(f"missing input: {out['missing']}")


@app.command("eu-crm")
@_core_flags
def eu_crm(
    inputs: Path = typer.Option(None, "--inputs", help="CSV: material, hhi_wgi_gs, hhi_wgi_eu, ir, eol_rir, si_sr."),
    material: str = typer.Option(None, "--material", help="From the World: material slug(s), comma-separated."),
    year: int = typer.Option(None, "--year", help="From the World: year (default: latest WMD year)."),
    si_sr: float = typer.Option(None, "--si-sr", help="From the World: substitution index to use (default 1)."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Risk matrix: SR vs import reliance (.png or .html)."),
) -> None:
    """EU CRM supply risk (JRC 2017 method): from a CSV of inputs, or computed from the World."""
    import pandas as pd

    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    acc = _risk()
    if inputs is not None:
        d = acc.eu_sr(inputs=inputs)
        out = [{"material": r["material"], "sr": r["sr"], "scope": r["scope"]} for r in frame_records(d)]
    else:
        mats = [_material(acc.world, m) for m in _split(material)] if material else None
        d = acc.eu_sr(mats, year, si_sr=si_sr)
        out = frame_records(d)
    if plot:
        from critmin.risk.plot import risk_matrix

        risk_matrix(d.assign(ir_=d["ir"].fillna(0.0)), "ir_", "sr", "material", plot, "EU supply risk",
                    "import reliance IR (fraction)", "supply risk SR")
    if as_json:
        print_json(out)
        return
    shown = pd.DataFrame(out) if inputs is not None else d.drop(columns=["note"])
    if as_csv:
        print_csv(shown if inputs is not None else d)
        return
    if xlsx is not None:
        _xlsx(xlsx, {"eu_crm": shown if inputs is not None else d},
              () if inputs is not None else ("production", "trade", "governance"),
)
        return
    show_table(shown, title="EU CRM supply risk", more="--json, --csv or --xlsx F")
    if inputs is None:  # the judgements behind the World-computed inputs (t, WGI_scaled, SI_SR)
        for note in d["note"].unique():
            show_text(f"note: {note}")


@app.command("exposure")
@_core_flags
def exposure(
    importer: str = typer.Option(..., "--importer", help="ISO3 or bloc (comma-separated for several)."),
    year: int = typer.Option(None, "--year", help="Trade year (default: latest)."),
    chain: str = typer.Option(None, "--chain", help="Chain id(s), comma-separated (default: all)."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Stacked direct vs effective China share by stage."),
) -> None:
    """Direct and effective China share per chain stage (origins traced through third countries), and NIR."""

    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    acc = _risk()
    with busy("tracing exposure through third countries"):
        e = acc.exposure(_split(importer), year, _split(chain))
    if plot:
        from critmin.risk.plot import exposure_shares, stacked_shares

        yrs = sorted({int(y) for y in e["year"].dropna()}) if "year" in e else []
        when = (str(yrs[0]) if len(yrs) == 1 else f"{yrs[0]}-{yrs[-1]}") if yrs else None
        who = ", ".join(dict.fromkeys(e["importer"].astype(str)))
        title = f"China share by stage: direct vs effective ({who}{', ' + when if when else ''})"
        stacked_shares(exposure_shares(e), plot, title, top=2, year=when)
    if as_json:
        cols = ["chain", "material", "stage", "importer", "year", "china_share_direct", "china_share_effective",
                "nir", "imports_t", "production_t", "effective_supply_t", "unattributed", "production_basis"]
        print_json(frame_records(e[cols]))
        return
    if as_csv:
        print_csv(e)
        return
    if xlsx is not None:
        _xlsx(xlsx, {"exposure": e}, ("trade", "production", "salient", "chain_stages"))
        return
    show_table(e, title="Direct vs effective China share", more="--json, --csv or --xlsx F")


@app.command("table")
@_core_flags
def table(
    metric: str = typer.Option("geopolrisk", "--metric", help="geopolrisk | hhi-import (import partners) | "
                               "hhi-production (producing countries) | nir | exposure ('hhi' = hhi-import)."),
    year: str = typer.Option(None, "--year", help="Year or comma-separated years (default: all)."),
    importer: str = typer.Option(None, "--importer", help="Restrict to ISO3/blocs (default: all)."),
    as_json: JsonFlag = False,
    as_csv: CsvFlag = False,
    out: Path = typer.Option(None, "--out", help="Write CSV to this file instead of stdout."),
    xlsx: XlsxOpt = None,
    plot: Path = typer.Option(None, "--plot", help="Risk matrix of the table (.png or .html)."),
    all_materials: bool = typer.Option(False, "--all-materials", help=ALL_MATERIALS_HELP),
) -> None:
    """The whole table of one metric for every critical material × importer × year (one vectorised computation)."""
    from critmin.errors import did_you_mean
    from critmin.risk.accessor import METRIC_ALIASES, METRICS, metric_id

    one_format(json=as_json, csv=as_csv, xlsx=xlsx)
    if metric not in METRICS and metric not in METRIC_ALIASES:
        raise InputError("--metric", metric,
                         f"unknown metric; choose {', '.join(METRICS)}{did_you_mean(metric, METRICS, n=1)}")
    metric = metric_id(metric)
    if metric == "hhi-production" and importer:
        raise InputError("--importer", importer, "hhi-production is per material, not per importer; use "
                         "--metric hhi-import for import partners")
    years = None
    if year:
        try:
            years = [int(y) for y in _split(year)]
        except ValueError:
            raise InputError("--year", year, "not a year or comma-separated list of years") from None
    acc = _risk()
    if metric == "exposure" and years and len(years) == 1:
        years = years[0]
    with busy(f"computing the {metric} table"):
        t = acc.table(metric, years, _split(importer), critical_only=not all_materials)
    if plot:
        from critmin.risk.plot import risk_matrix

        y = {"geopolrisk": "score", "hhi-import": "partner_hhi", "hhi-production": "hhi", "nir": "nir",
             "exposure": "china_share_effective"}[metric]
        x = {"geopolrisk": "total_imports", "hhi-import": "imports_t", "hhi-production": "china_share",
             "nir": "imports_t", "exposure": "china_share_direct"}[metric]
        who = "stage" if metric == "hhi-production" else "importer"
        lab = t["material"].astype(str) + " " + t[who].astype(str)
        if "year" in t and t["year"].nunique() > 1:  # one point per year: say which
            lab = lab + " " + t["year"].astype(str)
        title = {"geopolrisk": "GeoPolRisk score against total imports, by importer and material",
                 "hhi-import": "Import-partner concentration (HHI) against imports, by importer and material",
                 "hhi-production": "Production concentration (HHI) against China's share, by material and stage",
                 "nir": "Net import reliance against imports, by importer and material",
                 "exposure": "Effective against direct China share, by importer and stage"}[metric]
        risk_matrix(t.assign(label=lab), x, y, "label", plot, title, x, y)
    if out is not None:
        from critmin.atomic import atomic_write_text

        atomic_write_text(out, t.to_csv(index=False))
        say(f"wrote {out} ({len(t)} rows)")
        return
    if as_csv:
        print_csv(t)
        return
    if as_json:
        print_json(t)
        return
    tables = {"geopolrisk": GPR_TABLES, "hhi-import": ("trade",), "hhi-production": ("production",),
              "nir": ("trade", "production", "salient"), "exposure": ("trade", "production", "chain_stages")}[metric]
    if xlsx is not None:
        _xlsx(xlsx, {metric: t}, tables)
        return
    show_table(t, title=f"risk table: {metric} ({len(t):,} rows)", more="--json, --csv, --out F.csv or --xlsx F",
               units=GPR_UNITS if metric == "geopolrisk" else None)
