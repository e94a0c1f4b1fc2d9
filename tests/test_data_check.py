"""Issue 9, build item 5: `critmin data check` compares critmin's values with published figures.

The shipped figures file is valid; every kind is computed right on a tiny hand-built World; statuses
(pass, fail, explained, missing) and the exit status follow them; a malformed figures file is one
InputError naming file, row and field; and the embedded World passes every shipped figure.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from critmin.chains import Chain
from critmin.checks import COLUMNS, FIGURES_FILE, check_figures, read_figures
from critmin.cli.main import app
from critmin.errors import InputError
from critmin.world import World

SRC = {"source": "test"}


# ------------------------------------------------------------------ the shipped file
def test_shipped_figures_file_is_valid() -> None:
    figs = read_figures()  # raises InputError on any bad row
    assert len(figs) >= 60
    assert figs["id"].is_unique
    for topic in ("magnets", "batteries", "ga-ge"):
        assert (figs["topic"] == topic).sum() >= 10, topic
    for col in ("publisher", "title", "year_published", "url_or_doi", "unit", "tolerance", "tolerance_type",
                "provenance_label", "year"):
        assert (figs[col].astype(str).str.strip() != "").all(), col
    # a judgement tolerance says so
    judged = figs[figs["tolerance_note"].str.contains("judgement")]
    assert len(judged) >= 5
    assert set(figs["kind"]) >= {"production_total", "production_share", "top_share", "us_nir", "network_share",
                                 "network_total", "network_element_total"}


# ------------------------------------------------------------------ a tiny World
def tiny_chain() -> Chain:
    return Chain.model_validate({
        "id": "toy", "title": "Toy", "description": "ore to product", "materials": ["ore-x", "product-x"],
        "stages": [
            {"id": "ore", "name": "Ore", "kind": "mining", "material": "ore-x", "content": "t ore", "hs6": ["261220"],
             "production": {"material": "ore-x", "stage": "mining", "source": "test"}},
            {"id": "product", "name": "Product", "kind": "component", "material": "product-x",
             "content": "t product", "hs6": ["850511"],
             "inputs": [{"stage": "ore", "factor": {"value": 2.0, "unit": "t ore per t product", **SRC}}]},
        ],
        "end_uses": [],
    })


def tiny_world() -> World:
    """Ore X mined in CHN 60 t, AUS 25 t, USA 10 t, rest of world 5 t (2024); salient, demand and trade rows."""
    prod = pd.DataFrame([
        {"material": "ore-x", "stage": "mining", "country": c, "year": 2024, "quantity": q, "unit": "t",
         "source": "test", "case": "reported", "flag": ""}
        for c, q in {"CHN": 60.0, "AUS": 25.0, "USA": 10.0, "ROW": 5.0}.items()
    ])
    salient = pd.DataFrame([
        {"material": "ore-x", "usgs_code": "orex", "year": 2024, "statistic": "NIR_pct", "value": 50.0,
         "unit": "percent", "flag": ">", "source": "test"},
        {"material": "ore-x", "usgs_code": "orex", "year": 2023, "statistic": "NIR_pct", "value": 70.0,
         "unit": "percent", "flag": "", "source": "test"},
    ])
    demand = pd.DataFrame([
        {"material": "ore-x", "sector": s, "scenario": "historical", "year": 2024, "quantity": q, "unit": "t",
         "source": "test"} for s, q in {"electric-vehicles": 30.0, "other-uses": 50.0}.items()
    ])
    trade = pd.DataFrame([
        {"year": 2024, "exporter": "CHN", "importer": i, "hs6": "850511", "value_kusd": v, "quantity_t": q,
         "source": "test"} for i, q, v in (("USA", 4.0, 40.0), ("JPN", 6.0, 60.0))
    ])
    countries = pd.DataFrame({"iso3": ["CHN", "AUS", "USA", "JPN"], "name": ["CHN", "AUS", "USA", "JPN"]})
    mats = pd.DataFrame([{"material": m, "name": m, "wmd_name": "", "unit": "t"} for m in ("ore-x", "product-x")])
    c = tiny_chain()
    return World.from_tables(chains={c.id: c}, production=prod, salient=salient, demand=demand, trade=trade,
                             countries=countries, materials=mats)


BASE = {c: "" for c in COLUMNS} | {
    "topic": "other", "year": "2024", "publisher": "Test", "title": "Test figure", "year_published": "2025",
    "url_or_doi": "test", "provenance_label": "[PRIMARY]", "tolerance_type": "abs", "tolerance": "0",
}


def fig(id: str, kind: str, value: float, unit: str, **kw: str) -> dict[str, str]:
    return BASE | {"id": id, "kind": kind, "what": id, "published_value": str(value), "unit": unit} | kw


def write(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


ORE = {"material": "ore-x", "stage": "mining", "source_series": "test"}
KIND_FIGURES = [
    # (figure, critmin's value in the figure's unit)
    (fig("total", "production_total", 100, "t", **ORE), 100.0),
    (fig("total-kt", "production_total", 0.1, "kt", **ORE), 0.1),
    (fig("share-chn", "production_share", 60, "%", country="CHN", **ORE), 60.0),
    (fig("share-jpn", "production_share", 0, "%", country="JPN", **ORE), 0.0),  # no row: 0, not missing
    (fig("top1", "top_share", 0.6, "fraction", top_n="1", **ORE), 0.6),
    (fig("top3", "top_share", 0.95, "fraction", top_n="3", **ORE), 0.95),  # ROW (5 t) is never ranked
    (fig("nir", "us_nir", 50, "%", material="ore-x", tolerance_type="min"), 50.0),
    (fig("nir-2023", "us_nir", 70, "%", material="ore-x", statistic="NIR_pct", year="2023"), 70.0),
    (fig("demand", "demand_total", 80, "t", material="ore-x"), 80.0),
    (fig("demand-ev", "demand_total", 30, "t", material="ore-x", sector="electric-vehicles"), 30.0),
    (fig("exports-t", "trade_total", 10, "t", hs6="850511", exporter="CHN", measure="quantity_t"), 10.0),
    (fig("exports-usd", "trade_total", 0.1, "USD m", hs6="850511", exporter="CHN", measure="value_kusd"), 0.1),
    (fig("to-jpn", "trade_total", 6, "t", hs6="850511", importer="JPN", measure="quantity_t"), 6.0),
    (fig("net-ore", "network_total", 100, "t", chain="toy", stage="ore"), 100.0),
    (fig("net-product", "network_total", 50, "t", chain="toy", stage="product"), 50.0),  # 100 t ore / 2
    (fig("net-share", "network_share", 25, "%", chain="toy", stage="ore", country="AUS"), 25.0),
]


@pytest.mark.parametrize(("row", "expected"), KIND_FIGURES, ids=[f["id"] for f, _ in KIND_FIGURES])
def test_each_kind_on_a_tiny_world(tmp_path: Path, row: dict[str, str], expected: float) -> None:
    res = check_figures(tiny_world(), write(tmp_path / "f.csv", [row])).iloc[0]
    assert res["critmin"] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert res["status"] == "pass", res.to_dict()


def test_statuses_and_tolerances(tmp_path: Path) -> None:
    rows = [
        fig("rel-pass", "production_total", 104, "t", tolerance_type="rel", tolerance="0.05", **ORE),
        fig("rel-fail", "production_total", 110, "t", tolerance_type="rel", tolerance="0.05", **ORE),
        fig("abs-fail", "production_share", 61, "%", tolerance="0.5", country="CHN", **ORE),
        fig("min-fail", "production_share", 70, "%", tolerance_type="min", country="CHN", **ORE),
        fig("max-pass", "production_share", 12, "%", tolerance_type="max", country="USA", **ORE),
        fig("range-pass", "production_share", 62, "%", tolerance_type="range", tolerance="55..65", country="CHN",
            **ORE),
        fig("explained", "production_total", 200, "t", reason="the publisher counts scrap", **ORE),
        fig("missing", "production_total", 5, "t", material="ore-x", stage="refining"),
        fig("missing-explained", "production_total", 5, "t", material="ore-x", stage="refining",
            reason="no refining series in this World"),
        fig("no-elements", "network_element_total", 5, "t", chain="toy", stage="product", element="NdPr"),
    ]
    res = check_figures(tiny_world(), write(tmp_path / "f.csv", rows)).set_index("id")
    assert res["status"].to_dict() == {
        "rel-pass": "pass", "rel-fail": "fail", "abs-fail": "fail", "min-fail": "fail", "max-pass": "pass",
        "range-pass": "pass", "explained": "explained", "missing": "missing", "missing-explained": "explained",
        "no-elements": "missing",
    }
    assert res.loc["rel-fail", "diff"] == pytest.approx(-10.0)
    assert (res.loc["range-pass", "low"], res.loc["range-pass", "high"]) == (55.0, 65.0)
    assert math.isnan(res.loc["missing", "critmin"])
    assert "NdPr" in res.loc["no-elements", "detail"]


def run_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout


def test_cli_exit_status_follows_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world = tiny_world()
    from critmin.cli import data_cmd

    monkeypatch.setattr(data_cmd, "get_world", lambda: world)  # the in-memory World instead of a folder
    good = write(tmp_path / "good.csv", [
        fig("share-chn", "production_share", 60, "%", country="CHN", **ORE),
        fig("explained", "production_total", 200, "t", reason="the publisher counts scrap", **ORE),
    ])
    bad = write(tmp_path / "bad.csv", [
        fig("share-chn", "production_share", 60, "%", country="CHN", **ORE),
        fig("wrong", "production_total", 200, "t", **ORE),
    ])
    missing = write(tmp_path / "missing.csv", [fig("missing", "production_total", 5, "t", material="ore-x",
                                                   stage="refining")])
    code, out = run_cli("data", "check", "--figures", str(good))
    assert code == 0, out
    assert "2 figures: 1 passed, 1 explained, 0 failed" in out
    assert "reason: the publisher counts scrap" in out
    code, out = run_cli("data", "check", "--figures", str(bad))
    assert code == 1 and "1 failed" in out
    code, out = run_cli("data", "check", "--figures", str(missing))
    assert code == 1 and "1 failed (1 missing)" in out
    code, out = run_cli("data", "check", "--figures", str(bad), "--json")
    payload = json.loads(out)
    assert code == 1 and payload["summary"]["failed"] == 1
    assert {f["id"]: f["status"] for f in payload["figures"]} == {"share-chn": "pass", "wrong": "fail"}
    code, out = run_cli("data", "check", "--figures", str(good), "--csv")
    assert code == 0 and list(csv.DictReader(io.StringIO(out)))[1]["status"] == "explained"


@pytest.mark.parametrize(
    ("edit", "field", "problem"),
    [
        ({"published_value": "about 5"}, "published_value", "not a number"),
        ({"unit": "furlongs"}, "unit", "not one of"),
        ({"unit": "t", "kind": "production_share"}, "unit", "mass unit"),
        ({"tolerance_type": "range", "tolerance": "5"}, "tolerance", "LOW..HIGH"),
        ({"tolerance": "-1"}, "tolerance", "not a number >= 0"),
        ({"publisher": ""}, "publisher", "empty"),
        ({"kind": "guess"}, "kind", "not one of"),
        ({"provenance_label": "PRIMARY"}, "provenance_label", "not one of"),
        ({"country": ""}, "country", "required by kind production_share"),
        ({"year": "2024.5"}, "year", "whole number"),
    ],
)
def test_malformed_figures_file(tmp_path: Path, edit: dict[str, str], field: str, problem: str) -> None:
    ok = fig("ok", "production_total", 100, "t", **ORE)
    row = fig("bad", "production_share", 60, "%", country="CHN", **ORE) | edit
    path = write(tmp_path / "f.csv", [ok, row])
    with pytest.raises(InputError) as err:
        read_figures(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: row 3, {field}: "), msg
    assert problem in msg


def test_malformed_file_header_duplicates_and_cli_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("id,topic\nx,magnets\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1 \(header\): missing column"):
        read_figures(path)
    dup = write(tmp_path / "dup.csv", [fig("same", "production_total", 1, "t", **ORE)] * 2)
    with pytest.raises(InputError, match=r"row 3, id: duplicate id 'same' \(first on row 2\)"):
        read_figures(dup)
    import conftest

    res = conftest.run_cli("data", "check", "--figures", str(dup))  # critmin in process, through its entry point
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "row 3, id" in res.stderr


def test_shipped_file_is_the_package_data() -> None:
    assert FIGURES_FILE.name == "published_figures.csv" and FIGURES_FILE.is_file()


def test_embedded_world_passes_every_published_figure() -> None:
    code, out = run_cli("data", "check")
    assert code == 0, out[-3000:]
