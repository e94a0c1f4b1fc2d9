"""Issue 2, Done-when 5: malformed inputs (tests/bad_inputs, see its README) fail with exit 2 and one
line naming file and row/field, and leave the previous World intact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import RAW_DIR

from critmin.build import build_world
from critmin.errors import InputError

BAD = Path(__file__).resolve().parent / "bad_inputs"

BACI_CASES = [
    ("baci_truncated.csv.gz", "gzip stream", "truncated"),
    ("baci_wrong_header.csv", "header", "expected columns t,i,j,k,v,q"),
    ("baci_nonnumeric_v.csv", "line 3, column v", "not a number: 'abc'"),
    ("baci_nonnumeric_q.csv", "row t=2022, i=76, j=842, k=260400", "quantity q is not a number"),
    ("baci_negative_q.csv", "row t=2022, i=76, j=842, k=260400", "negative quantity q"),
    ("baci_unknown_country.csv", "column i", "unknown BACI country code 9999"),
    # inside the code table's range but not in it (the fast path maps it to a missing ISO3), and negative
    ("baci_unknown_country_in_table_range.csv", "column j", "unknown BACI country code 5"),
    ("baci_negative_country.csv", "column i", "unknown BACI country code -4"),
    ("baci_bad_hs_code.csv", "row t=2022, i=76, j=842, k=26O400", "HS code is not six digits"),
    ("baci_hs_code_seven_digits.csv", "row t=2022, i=76, j=842, k=2604001", "HS code is not six digits"),
    ("baci_cut_mid_line.csv", "line 3", "expected 6 columns, found 3"),
    ("baci_empty.csv", "line 1", "file is empty"),
]

WMD = "production/wmd_production_2018_2024.csv"
USGS = "usgs_mcs2025/MCS2025_World_Data.csv"
IEA = "iea/iea_critical_minerals_data_explorer_2025.json"
RAW_CASES = [
    ("wmd_unknown_country.csv", WMD, "row 4, column country_iso", "unknown country code 'ATL'"),
    ("wmd_negative_quantity.csv", WMD, "row 3, column quantity", "negative quantity -270000.0"),
    ("wmd_nonnumeric_quantity.csv", WMD, "row 3, column quantity", "not a number: '27O000.0'"),
    ("wmd_cut_mid_line.csv", WMD, "row 3, column quantity", "value is missing"),
    ("usgs_unknown_country.csv", USGS, "row 4, column COUNTRY", "unknown country 'Atlantis'"),
    ("usgs_missing_column.csv", USGS, "column RESERVES_2024", "missing column"),
    ("iea_invalid.json", IEA, "line 1", "invalid JSON"),
    ("iea_negative.json", IEA, "supply.Lithium.mining.countries.Chile.2024", "negative quantity -49.0"),
    ("wgi_unknown_indicator.csv", "governance/wgi_1996_2023_long.csv", "row 4, column indicator",
     "unknown indicator 'xx'"),
    ("countries_bad_iso3.csv", "countries/countries.csv", "row 4, column iso3", "not an ISO3 code: 'Dza'"),
    ("countries_truncated_quoted.csv", "countries/countries.csv", "line 140", "EOF inside string"),
    ("usgs_country_iso3_empty.csv", "countries/usgs_country_iso3.csv", "line 1", "file is empty"),
    ("baci_country_codes_unknown_iso3.csv", "trade/baci_country_codes_V202401b.csv", "row 5, column country_iso3",
     "unknown country code 'ATL'"),
    (None, "governance/wgi_political_stability_normalized_geopolrisk.csv", "", "file not found"),
]

CHAIN_CASES = [
    ("chain_unknown_material.yaml", "materials[3]", "unknown material 'galium'"),
    ("chain_unknown_hs_code.yaml", "stages[2].hs6[0]", "unknown HS code '381899'"),
]

SQL_CASES = [
    ("DROP TABLE trade", "refused"),
    ("CREATE TABLE x AS SELECT 1", "refused"),
    ("COPY trade TO '/tmp/critmin-test-x.csv'", "refused"),
    ("SELECT 1; DELETE FROM trade", "only one statement"),
    ("ATTACH 'x.db' AS x", "refused"),
    ("INSTALL httpfs", "refused"),
    ("SELECT * FROM read_csv('/etc/hostname')", "disabled"),
]


def assert_one_line_error(res, *parts: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stdout[-500:], res.stderr[-2000:])
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    line = lines[0]
    assert line.startswith("error: ") and "Traceback" not in line
    for p in parts:
        assert p in line, (p, line)
    return line


def assert_world_intact(world: Path, before: dict[str, str], tree_fingerprint) -> None:
    assert tree_fingerprint(world) == before
    leftovers = [p.name for p in world.parent.iterdir() if p.name.startswith(f".{world.name}.")]
    assert not leftovers, leftovers


def test_corpus_has_at_least_20_files_and_a_readme() -> None:
    files = [p for p in BAD.iterdir() if p.name != "README.md"]
    assert len(files) >= 20
    readme = (BAD / "README.md").read_text(encoding="utf-8")
    for p in files:
        assert f"`{p.name}`" in readme, f"{p.name} is not described in tests/bad_inputs/README.md"
    listed = {c[0] for c in BACI_CASES} | {c[0] for c in RAW_CASES if c[0]} | {c[0] for c in CHAIN_CASES}
    assert listed == {p.name for p in files}


@pytest.mark.parametrize(("name", "field", "problem"), BACI_CASES, ids=[c[0] for c in BACI_CASES])
def test_import_baci_rejects(cli, world_copy, tree_fingerprint, name, field, problem) -> None:
    before = tree_fingerprint(world_copy)
    res = cli("data", "import-baci", BAD / name, "--out", world_copy)
    assert_one_line_error(res, name, f": {field}", problem)
    assert_world_intact(world_copy, before, tree_fingerprint)


@pytest.mark.parametrize(("name", "target", "field", "problem"), RAW_CASES, ids=[c[0] or c[1] for c in RAW_CASES])
def test_build_rejects(cli, world_copy, raw_tree, tree_fingerprint, name, target, field, problem) -> None:
    raw = raw_tree({target: BAD / name if name else None})
    before = tree_fingerprint(world_copy)
    res = cli("data", "build", "--from", raw, "--out", world_copy)
    assert_one_line_error(res, str(raw / target), f": {field}: " if field else ": ", problem)
    assert_world_intact(world_copy, before, tree_fingerprint)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "field", "problem"), CHAIN_CASES, ids=[c[0] for c in CHAIN_CASES])
def test_build_rejects_chain_references(world_copy, tree_fingerprint, tmp_path, name, field, problem) -> None:
    """The build's chains folder is only selectable from Python (``build_world(chains_dir=...)``)."""
    chains = tmp_path / "chains"
    chains.mkdir()
    shutil.copyfile(BAD / name, chains / "gallium-germanium.yaml")
    before = tree_fingerprint(world_copy)
    with pytest.raises(InputError) as err:
        build_world(RAW_DIR, world_copy, chains_dir=chains)
    assert err.value.source == str(chains / "gallium-germanium.yaml")
    assert err.value.field == field and problem in err.value.problem
    assert "\n" not in str(err.value)
    assert_world_intact(world_copy, before, tree_fingerprint)


@pytest.mark.parametrize(("name", "field", "problem"), CHAIN_CASES, ids=[c[0] for c in CHAIN_CASES])
def test_world_with_bad_chain_is_refused_by_the_cli(cli, world_copy, name, field, problem) -> None:
    shutil.copyfile(BAD / name, world_copy / "chains" / "gallium-germanium.yaml")
    res = cli("--world", world_copy, "brief", "--json")
    assert_one_line_error(res, "gallium-germanium.yaml", f": {field}: ", problem)


@pytest.mark.parametrize(("sql", "problem"), SQL_CASES, ids=[c[0] for c in SQL_CASES])
def test_query_refuses_writes(cli, sql, problem) -> None:
    res = cli("data", "query", sql)
    assert_one_line_error(res, "SQL: ", problem)
    assert not Path("/tmp/critmin-test-x.csv").exists()


def test_query_allows_reads_that_mention_write_words(cli) -> None:
    res = cli("data", "query", "SELECT replace(name, 'a', 'b') AS n, 'drop table' AS s FROM countries "
                      "WHERE iso3 = 'JPN'", "--csv")
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[1] == "Jbpbn,drop table"


def test_query_syntax_error_is_one_line(cli) -> None:
    assert_one_line_error(cli("data", "query", "SELECT FROM WHERE"), "SQL: ")


def test_brief_unknown_importer(cli) -> None:
    assert_one_line_error(cli("brief", "--importer", "USA,XXX"), "--importer: XXX", "neither")


@pytest.mark.parametrize("year", ["1800", "2100"])
def test_brief_year_outside_data(cli, year) -> None:
    assert_one_line_error(cli("brief", "--year", year), f"--year: {year}", "outside the data")


def test_unknown_world_folder(cli, tmp_path) -> None:
    assert_one_line_error(cli("--world", tmp_path / "nope", "data", "info"), "nope", "not a critmin World")


def test_import_baci_out_must_differ_from_world(cli, world_copy, tree_fingerprint) -> None:
    before = tree_fingerprint(world_copy)
    res = cli("--world", world_copy, "data", "import-baci", BAD / "baci_empty.csv", "--out", world_copy)
    assert_one_line_error(res, "--out", "must differ")
    assert_world_intact(world_copy, before, tree_fingerprint)
