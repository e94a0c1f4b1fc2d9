"""``critmin risk`` through the real command (in process: conftest.run_cli)."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli


def run(*args: str):
    return run_cli("risk", *args)


def test_concentration_json():
    r = run("concentration", "--material", "graphite", "--stage", "mining", "--year", "2023", "--json")
    assert r.returncode == 0, r.stderr
    o = json.loads(r.stdout)
    assert {"material", "stage", "year", "hhi", "shares"} <= set(o)
    shares = {s["country"]: s["share"] for s in o["shares"]}
    assert shares["CHN"] == pytest.approx(o["china_share"]) and 0.5 < shares["CHN"] < 1
    assert o["hhi"] == pytest.approx(sum(v * v for c, v in shares.items() if c != "ROW"))
    assert o["hhi_10k"] == pytest.approx(o["hhi"] * 10_000)


def test_geopolrisk_single_and_bloc():
    r = run("geopolrisk", "--material", "nickel", "--importer", "USA", "--year", "2022", "--json")
    assert r.returncode == 0, r.stderr
    o = json.loads(r.stdout)
    assert {"score", "cf", "hhi", "import_risk", "price"} <= set(o)
    assert o["hhi"] == pytest.approx(0.26749007657640966, rel=1e-12)  # methods.md section 2.2 (WMD 2022)
    assert o["domestic_production"] == 17500.0
    assert o["score"] == pytest.approx(o["hhi"] * o["import_risk"])


def test_geopolrisk_all_filtered():
    r = run("geopolrisk", "--all", "--all-materials", "--importer", "JPN", "--year", "2023", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert len(rows) > 50 and {"material", "importer", "year", "score", "cf"} <= set(rows[0])
    assert all(x["importer"] == "JPN" and x["year"] == 2023 for x in rows)


def test_exposure_json(tmp_path):
    png = tmp_path / "exp.png"
    r = run("exposure", "--importer", "JPN", "--year", "2024", "--chain", "rare-earth-magnets", "--json",
            "--plot", str(png))
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["stage"] for x in rows] == ["mining", "separated-oxides", "metal-alloy", "magnet"]
    for x in rows:
        assert {"material", "stage", "china_share_direct", "china_share_effective", "nir"} <= set(x)
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


def test_table_csv_and_plot_html(tmp_path):
    html = tmp_path / "m.html"
    r = run("table", "--metric", "nir", "--year", "2023", "--csv", "--plot", str(html))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("material,importer,year") and len(lines) > 5000
    assert "plotly" in html.read_text()[:2_000_000].lower()


def test_eu_crm_from_world():
    r = run("eu-crm", "--material", "graphite,cobalt", "--year", "2023", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [x["material"] for x in rows] == ["cobalt", "graphite"]
    assert all(x["sr"] > 0 for x in rows)


@pytest.mark.parametrize("args,needle", [
    (["geopolrisk", "--material", "nickle", "--importer", "USA", "--year", "2022"], "did you mean nickel"),
    (["geopolrisk", "--material", "nickel", "--importer", "USA", "--year", "2031"], "2018–2024"),
    (["geopolrisk", "--material", "nickel", "--importer", "XYZ", "--year", "2022"], "neither an ISO3"),
    (["concentration", "--material", "graphit", "--year", "2023"], "did you mean graphite"),
    (["concentration", "--material", "graphite", "--year", "1990"], "2018–2024"),
    (["exposure", "--importer", "ZZZ", "--year", "2024"], "neither an ISO3"),
    (["dependence", "--importer", "JPN", "--material", "nickel", "--year", "1990"], "2018–2024"),
    (["table", "--metric", "hhhi"], "unknown metric"),
    (["eu-crm", "--inputs", "/nonexistent.csv"], "not found"),
])
def test_bad_input_exit_2_one_line(args, needle):
    r = run(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr
