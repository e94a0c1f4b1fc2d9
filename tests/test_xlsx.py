"""Issue 11: ``--xlsx FILE`` on every table command: a workbook openpyxl opens, one sheet per table and
a ``sources`` sheet (source, title, licence, year, publisher) naming what the table used. In-process."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from critmin.cli.main import app

#: (command, sheets expected besides "sources", whether the sources are the World's datapackage sources)
COMMANDS: list[tuple[list[str], set[str], bool]] = [
    (["risk", "concentration", "--material", "graphite", "--stage", "mining"], {"shares", "summary"}, True),
    (["risk", "concentration", "--material", "graphite", "--years", "2018:2024"], {"trend"}, True),
    (["risk", "dependence", "--importer", "USA", "--material", "graphite"], {"dependence"}, True),
    (["risk", "geopolrisk", "--material", "graphite", "--importer", "JPN", "--year", "2022"], {"geopolrisk"}, True),
    (["risk", "geopolrisk", "--all", "--importer", "JPN", "--year", "2022"], {"geopolrisk"}, True),
    (["risk", "eu-crm", "--material", "graphite"], {"eu_crm"}, True),
    (["risk", "exposure", "--importer", "USA", "--chain", "rare-earth-magnets"], {"exposure"}, True),
    (["risk", "table", "--metric", "nir", "--year", "2022", "--importer", "JPN"], {"nir"}, True),
    (["brief", "--importer", "USA,JPN"], {"stages", "risk"}, True),
    (["data", "info"], {"tables", "source_ids"}, True),
    (["data", "query", "SELECT * FROM production WHERE material = 'gallium'"], {"query", "sql"}, True),
    (["data", "check", "--topic", "magnets"], {"figures"}, True),
    (["projects", "list", "--country", "JPN"], {"projects"}, False),
    (["projects", "standing"], {"standing"}, False),
    (["invest", "summary", "--by", "programme"], {"by_programme", "investments"}, False),
    (["scenarios", "list"], {"scenarios"}, False),
    (["simulate", "ga-ge-us-ban-2024", "--runs", "20", "--horizon", "6"], {"shortfall", "prices", "run"}, True),
    (["network", "show", "gallium-germanium"], {"stages", "production", "trade"}, False),
]


@pytest.fixture(autouse=True)
def _embedded_world(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRITMIN_WORLD", raising=False)


@pytest.mark.parametrize("args,sheets,world_sources", COMMANDS, ids=[" ".join(c[0][:2]) for c in COMMANDS])
def test_xlsx_has_tables_and_sources(tmp_path: Path, args: list[str], sheets: set[str],
                                     world_sources: bool) -> None:
    path = tmp_path / "out.xlsx"
    r = CliRunner().invoke(app, [*args, "--xlsx", str(path)], catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output  # data check exits 1 when a figure fails; the workbook is written
    assert f"wrote {path}" in r.stdout
    wb = openpyxl.load_workbook(path, read_only=True)
    assert sheets <= set(wb.sheetnames), wb.sheetnames
    assert "sources" in wb.sheetnames
    for name in sheets:
        assert wb[name].max_row >= 2, f"sheet {name} is empty"
    src = list(wb["sources"].iter_rows(values_only=True))
    assert len(src) >= 2, "no sources listed"
    if args[:2] != ["network", "show"]:  # network show keeps its own sources sheet (published citations)
        assert src[0][:4] == ("source", "title", "licence", "year")
    if world_sources:
        assert any(row[1] and row[2] for row in src[1:]), "no World source with title and licence"


def test_xlsx_sources_name_what_the_table_used(tmp_path: Path) -> None:
    path = tmp_path / "g.xlsx"
    r = CliRunner().invoke(app, ["risk", "geopolrisk", "--material", "graphite", "--importer", "JPN", "--year",
                                 "2022", "--xlsx", str(path)])
    assert r.exit_code == 0, r.output
    names = {row[0] for row in openpyxl.load_workbook(path)["sources"].iter_rows(min_row=2, values_only=True)}
    assert {"wmd", "baci-hs92-v202401b"} <= names  # production and trade behind GeoPolRisk
    assert "us-states" not in names  # only what the table used


def test_xlsx_refuses_other_suffix_and_json(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["scenarios", "list", "--xlsx", str(tmp_path / "x.csv")])
    assert r.exit_code != 0 and not (tmp_path / "x.csv").exists()
    r = CliRunner().invoke(app, ["risk", "table", "--metric", "nir", "--json", "--xlsx", str(tmp_path / "x.xlsx")])
    assert r.exit_code != 0 and not (tmp_path / "x.xlsx").exists()
