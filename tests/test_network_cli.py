"""Issue 9: `critmin network show CHAIN` (terminal, --json, --csv, --xlsx) and the CLI exit status.

In-process through Typer's CliRunner (the runner's stdout is not a terminal, as when piped) on the
embedded World; errors and exit codes through ``critmin.cli.main.run``, the console-script entry point.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from critmin.checks import FIGURES_FILE
from critmin.cli.main import app, run


@pytest.fixture(autouse=True)
def _embedded_world(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test reads the embedded World, whatever $CRITMIN_WORLD says; wide, colourless output."""
    monkeypatch.delenv("CRITMIN_WORLD", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")


def show(*args: str) -> str:
    """``critmin network show ARGS`` in-process; asserts exit 0 and returns stdout."""
    result = CliRunner().invoke(app, ["network", "show", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def run_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    """Call the entry point ``run()`` with ``sys.argv = ['critmin', *args]``; its exit status (0 if it returns)."""
    monkeypatch.setattr(sys, "argv", ["critmin", *args])
    try:
        run()
    except SystemExit as exc:
        return 0 if exc.code is None else exc.code
    return 0


# ------------------------------------------------------------------ terminal
def test_show_prints_every_stage_and_china_magnet_share() -> None:
    out = show("rare-earth-magnets")
    for stage in ("mining", "separated-oxides", "metal-alloy", "magnet"):
        assert f"\n{stage}   basis: " in out, stage
    assert "production (t NdFeB magnet)" in out
    magnet = out.split("\nmagnet   basis: ")[1].split("\n\n")[0]
    chn = next(line for line in magnet.splitlines() if line.startswith("CHN"))
    assert chn.split()[-1] == "90.0%", chn  # the chain file's published 90 %, as a percentage
    assert "263,700" in chn  # thousands separators
    assert "summary" in out and "balancing" in out


def test_piped_output_keeps_country_codes_and_stage_ids_whole() -> None:
    """The runner is not a terminal: nothing may be cut to '…', stage ids and ISO3 codes stay whole."""
    from critmin import load

    net = load().network("li-ion-batteries")
    out = show("li-ion-batteries", "--top", "0")
    assert "…" not in out
    lines = out.splitlines()
    for stage in net.stages:
        assert any(line.startswith(f"{stage}   basis: ") for line in lines), stage
        assert any(line.startswith("│ " + stage + " ") for line in lines), stage  # summary table row
        for country in net.production(stage).index:
            assert any(line.split(" ")[0] == country for line in lines), (stage, country)


# ------------------------------------------------------------------ --json
STAGE_KEYS = {"stage", "unit", "basis", "source", "year", "trade_year", "world", "china_share", "balancing_t",
              "countries"}


def test_json_contract_magnets() -> None:
    doc = json.loads(show("rare-earth-magnets", "--json"))
    assert {"chain", "year", "stages", "sectors"} <= set(doc)
    assert doc["chain"] == "rare-earth-magnets" and doc["year"] is None
    assert [s["stage"] for s in doc["stages"]] == ["mining", "separated-oxides", "metal-alloy", "magnet"]
    for s in doc["stages"]:
        assert STAGE_KEYS <= set(s), s["stage"]
        assert {"NdPr", "DyTb"} <= set(s["elements"]), s["stage"]
        for el in s["elements"].values():
            assert el["world"] > 0 and el["top"] and {"country", "t", "share"} <= set(el["top"][0])
        shares = [c["share"] for c in s["countries"]]
        assert sum(shares) == pytest.approx(1.0)
        assert sum(c["production"] for c in s["countries"]) == pytest.approx(s["world"])
    magnet = next(s for s in doc["stages"] if s["stage"] == "magnet")
    chn = next(c for c in magnet["countries"] if c["country"] == "CHN")
    assert 0.85 <= chn["share"] <= 0.95
    assert magnet["china_share"] == pytest.approx(chn["share"])
    assert magnet["unit"] == "t NdFeB magnet" and magnet["basis"] == "published"
    assert {s["sector"] for s in doc["sectors"]} >= {"wind", "defence"}


def test_json_cells_china_and_no_elements_key() -> None:
    doc = json.loads(show("li-ion-batteries", "--json"))
    cells = next(s for s in doc["stages"] if s["stage"] == "cells")
    chn = next(c for c in cells["countries"] if c["country"] == "CHN")
    assert chn["share"] >= 0.70
    assert all("elements" not in s for s in doc["stages"])  # the chain carries no elements
    assert all(s["balancing_t"] >= 0 for s in doc["stages"])


def test_json_year_is_the_requested_year() -> None:
    doc = json.loads(show("rare-earth-magnets", "--year", "2023", "--json"))
    assert doc["year"] == 2023
    mining = next(s for s in doc["stages"] if s["stage"] == "mining")
    assert mining["year"] == 2023 and mining["basis"] == "series"


# ------------------------------------------------------------------ --csv
def test_csv_one_row_per_stage_and_producer() -> None:
    from critmin import load

    net = load().network("rare-earth-magnets")
    df = pd.read_csv(io.StringIO(show("rare-earth-magnets", "--csv")), keep_default_na=False, na_values=[""])
    assert list(df.columns[:4]) == ["stage", "country", "production", "share"]
    expected = sum(len(net.production(s)) for s in net.stages)
    assert len(df) == expected
    assert not df.duplicated(["stage", "country"]).any()
    assert set(df["stage"]) == set(net.stages)
    row = df[(df["stage"] == "magnet") & (df["country"] == "CHN")].iloc[0]
    assert 0.85 <= row["share"] <= 0.95 and row["unit"] == "t NdFeB magnet"


# ------------------------------------------------------------------ --xlsx
def test_xlsx_sheets_and_published_citations(tmp_path: Path) -> None:
    path = tmp_path / "out" / "magnets.xlsx"
    out = show("rare-earth-magnets", "--xlsx", str(path))
    assert out.strip() == f"wrote {path}"
    assert [p.name for p in path.parent.iterdir()] == ["magnets.xlsx"]  # no temporary file left
    wb = openpyxl.load_workbook(path, read_only=True)
    assert wb.sheetnames == ["stages", "production", "trade", "final_demand", "sources"]
    rows = list(wb["sources"].iter_rows(values_only=True))
    header = rows[0]
    src = header.index("source")
    citations = [r[src] for r in rows[1:] if str(r[header.index("item")]).startswith("published")]
    assert any("IEA 2025 Critical Minerals Data Explorer" in c for c in citations), citations
    assert any(r[header.index("item")] == "published CHN" and r[header.index("share")] == pytest.approx(0.9)
               for r in rows[1:])
    stages = [r[0] for r in wb["stages"].iter_rows(min_row=2, values_only=True)]
    assert stages == ["mining", "separated-oxides", "metal-alloy", "magnet"]
    trade = list(wb["trade"].iter_rows(max_row=2, values_only=True))
    assert trade[0] == ("stage", "exporter", "importer", "t", "unit") and trade[1][3] > 0
    wb.close()


# ------------------------------------------------------------------ errors and exit status
def test_unknown_chain_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    assert run_main(monkeypatch, "network", "show", "rare-earth-magnet") == 2
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: CHAIN: rare-earth-magnet:")
    assert "did you mean rare-earth-magnets" in lines[0] and "li-ion-batteries" in lines[0]


def test_year_outside_the_data_is_one_line_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    assert run_main(monkeypatch, "network", "show", "gallium-germanium", "--year", "1900") == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --year: 1900: outside the data"), lines


def test_run_passes_typer_exit_code_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`data check` raises typer.Exit(1) when a figure fails; run() must make that the exit status."""
    with open(FIGURES_FILE, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        first = next(r for r in reader if r["id"] == "ree-usgs-world-2024")
        fields = reader.fieldnames
    assert fields is not None

    def figures(value: str) -> Path:
        path = tmp_path / f"fig-{value}.csv"
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerow(dict(first, published_value=value))
        return path

    assert run_main(monkeypatch, "data", "check", "--figures", str(figures("390000"))) == 0
    assert run_main(monkeypatch, "data", "check", "--figures", str(figures("1"))) == 1
    assert run_main(monkeypatch, "--help") == 0
