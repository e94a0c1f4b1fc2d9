"""Issue 13, Done-when 1: a corpus of hostile inputs (``tests/hostile/``, see its README, plus cases made here from
the real files) each ends in exit 2 and one ``error:`` line naming the file or option, the field and the problem:
no traceback, no crash, no hang (every case runs under a time limit)."""

from __future__ import annotations

import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import EMBEDDED_WORLD_DIR
from test_hostile_outputs import one_line_error

from critmin.errors import InputError

HOSTILE = Path(__file__).resolve().parent / "hostile"
#: Seconds any one case may take (the alias bomb took 11.5 s and 3.8 GB before the fix; a hang never ends).
LIMIT_S = 20


class CaseTimedOut(BaseException):
    """Raised by the alarm: a BaseException, so that no ``except Exception`` in critmin can swallow it."""


@contextmanager
def time_limit(seconds: float = LIMIT_S) -> Iterator[None]:
    """Fail the case if it runs longer than ``seconds`` (SIGALRM in this process: no interpreter start-up)."""
    def alarm(signum, frame):  # noqa: ANN001, ANN202, ARG001 - signal handler
        raise CaseTimedOut(f"case ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _case_ids(cases: list[tuple]) -> list[str]:
    return [c[0] for c in cases]


# ------------------------------------------------------------------------------------------------- BACI
BACI = [
    ("baci_year_negative.csv", "row t=-2022", "year t is outside 1900-2100"),
    ("baci_year_fraction.csv", "row t=2022.5", "year t is not a whole number"),
    ("baci_year_1800.csv", "row t=1800", "year t is outside 1900-2100"),
    ("baci_year_3000.csv", "row t=3000", "year t is outside 1900-2100"),
    ("baci_year_underscore.csv", "line 2, column t", "not a plain number: '20_22'"),
    ("baci_year_text.csv", "row t=twenty", "year t is not a whole number"),
    ("baci_missing_year.csv", "row t=None", "missing value"),
    ("baci_value_nan.csv", "row t=2022, i=76", "value v is not a finite number"),
    ("baci_value_inf.csv", "row t=2022, i=76", "value v is not a finite number"),
    ("baci_value_overflow.csv", "row t=2022, i=76", "value v is not a finite number"),
    ("baci_value_underscore.csv", "line 3, column v", "not a plain number: '7_5'"),
    ("baci_quantity_inf.csv", "row t=2022, i=76", "quantity q is not a finite number"),
    ("baci_quantity_minus_inf.csv", "row t=2022, i=76", "quantity q is not a finite number"),
    ("baci_quantity_underscore.csv", "line 3, column q", "not a plain number: '1_0'"),
    ("baci_header_only.csv", "line 2", "no data rows"),
    ("baci_duplicate_rows.csv", "row t=2022, i=156, j=842, k=260400", "duplicate row"),
    ("baci_unterminated_quote.csv", "line 3", "malformed BACI CSV"),
    ("baci_huge_field.csv", "row t=2022", "HS code is not six digits"),
    ("baci_binary.csv", "header", "expected columns t,i,j,k,v,q"),
    ("baci_utf16.csv", "header", "expected columns t,i,j,k,v,q"),
    ("baci_extra_column.csv", "line 2", "expected 6 columns, found 7"),
]


@pytest.mark.parametrize(("name", "field", "problem"), BACI, ids=_case_ids(BACI))
def test_baci_file(cli, tmp_path, name, field, problem) -> None:
    with time_limit():
        res = cli("data", "import-baci", HOSTILE / name, "--out", tmp_path / "out")
    one_line_error(res, f"{HOSTILE / name}: {field}", problem)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------- registry
PROJECTS = [
    ("project_capex_nan.yaml", "projects[0].capex.amount_m", "not a finite number: nan"),
    ("project_capex_inf.yaml", "projects[0].capex.amount_m", "not a finite number: inf"),
    ("project_capex_underscore.yaml", "projects[0].capex.amount_m", "not a plain decimal number: '7_5'"),
    ("project_capacity_overflow.yaml", "projects[0].capacity.value", "not a finite number: inf"),
    ("project_start_fraction.yaml", "projects[0].start_year", "not a whole number: 2022.5"),
    ("project_start_1800.yaml", "projects[0].start_year", "year 1800 is outside 1900-2100"),
    ("project_start_underscore.yaml", "projects[0].start_year", "not a whole number: '20_26'"),
    ("project_start_bool.yaml", "projects[0].start_year", "not a whole number: True"),
    ("project_lat_nan.yaml", "projects[0].lat", "not a finite number: nan"),
    ("project_financier_inf.yaml", "projects[0].financiers[0].amount_m", "not a finite number: inf"),
    ("project_milestone_impossible_date.yaml", "line 11", "impossible date '2025-02-30'"),
    ("project_milestone_impossible_month.yaml", "projects[0].milestones[0].date", "impossible date '2025-13-01'"),
    ("project_duplicate_key.yaml", "line 11", "duplicate key 'status' (first on line 9)"),
    ("project_alias_bomb.yaml", "", "YAML aliases expand the document to"),
    ("project_recursive_alias.yaml", "line 1", "recursive YAML alias"),
    ("project_deep_nesting.yaml", "line 1", "nesting deeper than 64 levels"),
    ("project_deep_block.yaml", "line 65", "nesting deeper than 64 levels"),
    ("project_deep.json", "", "nesting deeper than 64 levels"),
    ("project_nan.json", "", "NaN is not a JSON number"),
    ("project_duplicate_key.json", "projects", "duplicate key in a JSON object"),
    ("project_not_utf8.yaml", "byte 18", "not a UTF-8 text file"),
    ("project_tab_indent.yaml", "line 2", "invalid YAML"),
    ("project_empty.yaml", "", "empty file"),
    ("project_scalar_record.yaml", "projects[0]", "expected a mapping of fields, got int"),
]


@pytest.fixture(scope="module")
def registry_dir(tmp_path_factory) -> Path:
    from critmin.registry import init_registry

    return init_registry(tmp_path_factory.mktemp("registry") / "reg")


@pytest.mark.parametrize(("name", "field", "problem"), PROJECTS, ids=_case_ids(PROJECTS))
def test_projects_add_file(cli, registry_dir, name, field, problem) -> None:
    before = sorted(p.name for p in registry_dir.iterdir())
    with time_limit():
        res = cli("projects", "--registry", registry_dir, "add", HOSTILE / name)
    one_line_error(res, f"{HOSTILE / name}: {field}", problem)
    assert sorted(p.name for p in registry_dir.iterdir()) == before  # nothing added


REGISTRY_FILES = [
    ("timeline_impossible_date.yaml", "framework_timeline.yaml", "events[0].date", "impossible date '2025-02-30'"),
    ("timeline_not_mapping.yaml", "framework_timeline.yaml", "events[0]", "expected a mapping of fields, got str"),
    ("vocab_alias_bomb.yaml", "vocab.yaml", "", "YAML aliases expand the document to"),
    ("vocab_list.yaml", "vocab.yaml", "", "must be a mapping of vocabularies"),
    ("countries_huge_field.csv", "countries.csv", "line 2", "longer than 131,072 characters"),
    ("countries_unterminated_quote.csv", "countries.csv", "line 2", "malformed CSV"),
]


@pytest.mark.parametrize(("name", "target", "field", "problem"), REGISTRY_FILES, ids=_case_ids(REGISTRY_FILES))
def test_registry_folder_file(cli, tmp_path, name, target, field, problem) -> None:
    from critmin.registry import init_registry

    reg = init_registry(tmp_path / "reg")
    shutil.copyfile(HOSTILE / name, reg / target)
    with time_limit():
        res = cli("projects", "--registry", reg, "list")
    one_line_error(res, f"{reg / target}: {field}", problem)


# ------------------------------------------------------------------------------------------------- scenarios
SCENARIOS = [
    ("scenario_alias_bomb.yaml", "", "YAML aliases expand the document to"),
    ("scenario_deep_nesting.yaml", "line 4", "nesting deeper than 64 levels"),
    ("scenario_duplicate_key.yaml", "line 4", "duplicate key 'horizon' (first on line 3)"),
    ("scenario_recursive_alias.yaml", "line 4", "recursive YAML alias"),
]


@pytest.mark.parametrize(("name", "field", "problem"), SCENARIOS, ids=_case_ids(SCENARIOS))
def test_scenario_file(cli, name, field, problem) -> None:
    with time_limit():
        res = cli("simulate", HOSTILE / name, "--runs", "2")
    one_line_error(res, f"{HOSTILE / name}: {field}", problem)


def test_scenario_price_trigger_nan(cli, tmp_path) -> None:
    text = (Path(__file__).resolve().parents[1] / "src/critmin/scenarios/ree-magnet-embargo-us-jpn-12m-stockpile.yaml"
            ).read_text(encoding="utf-8").replace("trigger: shortfall", "trigger: {price: .nan}", 1)
    f = tmp_path / "trigger.yaml"
    f.write_text(text, encoding="utf-8")
    with time_limit():
        res = cli("simulate", f, "--runs", "2")
    one_line_error(res, str(f), "trigger")


# ------------------------------------------------------------------------------------------------- chains
REAL_CHAIN = (EMBEDDED_WORLD_DIR / "chains" / "rare-earth-magnets.yaml").read_text(encoding="utf-8")


def _first(pattern: str, repl: str) -> str:
    out, n = re.subn(pattern, repl, REAL_CHAIN, count=1, flags=re.M)
    assert n == 1, pattern
    return out


CHAINS = [
    ("chain_alias_bomb.yaml", None, "", "YAML aliases expand the document to"),
    ("chain_deep_nesting.yaml", None, "line 2", "nesting deeper than 64 levels"),
    ("chain_duplicate_key.yaml", None, "line 2", "duplicate key 'id'"),
    ("chain_factor_nan", _first(r"value: 0\.173", "value: .nan"), "value", "not a finite number: nan"),
    ("chain_factor_inf", _first(r"value: 0\.173", "value: .inf"), "value", "not a finite number: inf"),
    ("chain_factor_underscore", _first(r"value: 0\.173", "value: '0_173'"), "value", "not a plain decimal number"),
    ("chain_factor_negative", _first(r"value: 0\.173", "value: -1"), "value", "greater than or equal to 0"),
]


@pytest.mark.parametrize(("name", "text", "field", "problem"), CHAINS, ids=_case_ids(CHAINS))
def test_chain_file_in_a_world(cli, world_copy, name, text, field, problem) -> None:
    target = world_copy / "chains" / "rare-earth-magnets.yaml"
    if text is None:
        shutil.copyfile(HOSTILE / name, target)
    else:
        target.write_text(text, encoding="utf-8")
    with time_limit():
        res = cli("--world", world_copy, "brief", "--importer", "USA", "--json")
    one_line_error(res, f"{target}: ", field, problem)


# ------------------------------------------------------------------------------------------------- a World's CSV
def test_world_csv_with_a_broken_quote_is_not_read_short(cli, world_copy) -> None:
    """A quote opened in a World's CSV table swallows the following lines; the row count recorded in
    datapackage.json names it even in a World without file hashes (hand-made, or written before them)."""
    import json

    f = world_copy / "countries.csv"
    lines = f.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[5] = lines[5].replace(",", ',"', 1)
    f.write_text("".join(lines), encoding="utf-8")
    dp_file = world_copy / "datapackage.json"
    dp = json.loads(dp_file.read_text(encoding="utf-8"))
    for r in dp["resources"]:
        r.pop("bytes", None)
        r.pop("file_hash", None)
    dp_file.write_text(json.dumps(dp), encoding="utf-8")
    with time_limit():
        res = cli("--world", world_copy, "data", "query", "SELECT count(*) FROM countries")
    one_line_error(res, str(f), "countries: ", "rows read, datapackage.json records")


# ------------------------------------------------------------------------------------------------- CLI options
OPTIONS = [
    (["brief", "--year", "2_022"], "--year", "not a whole number: '2_022'"),
    (["brief", "--year", "2022.5"], "--year", "not a whole number: '2022.5'"),
    (["brief", "--year", "nan"], "--year", "not a whole number: 'nan'"),
    (["brief", "--html", "/tmp"], "--html: /tmp", "must end in .html"),
    (["data", "import-baci", str(HOSTILE / "baci_year_1800.csv"), "--out", "."], "--out: .", "current folder"),
    (["--world", "/nonexistent/world", "data", "info"], "/nonexistent/world", "not a critmin World"),
    (["risk", "eu-crm", "--material", "cobalt", "--si-sr=-1"], "--si-sr", "-1.0 is outside 0..1"),
    (["risk", "eu-crm", "--material", "cobalt", "--si-sr", "nan"], "--si-sr", "not a finite number: nan"),
    (["risk", "eu-crm", "--inputs", str(HOSTILE / "countries_huge_field.csv")], "countries_huge_field.csv",
     "field larger than field limit"),
    (["data", "check", "--figures", str(HOSTILE / "figures_huge_field.csv")], "figures_huge_field.csv: line",
     "longer than 131,072 characters"),
]


@pytest.mark.parametrize(("args", "where", "problem"), OPTIONS, ids=[" ".join(c[0][:4]) for c in OPTIONS])
def test_cli_option(cli, args, where, problem) -> None:
    with time_limit():
        res = cli(*args)
    one_line_error(res, where, problem)


def test_repeated_importers_are_briefed_once(cli) -> None:
    with time_limit():
        res = cli("brief", "--importer", ",".join(["USA"] * 200 + ["JPN", "JPN"]), "--json")
    assert res.returncode == 0, res.stderr
    import json

    assert json.loads(res.stdout)["importers"] == ["USA", "JPN"]


# ------------------------------------------------------------------------------------------------- raw releases
WMD_FILE = "production/wmd_production_2018_2024.csv"
WGI_FILE = "governance/wgi_1996_2023_long.csv"
PV_FILE = "governance/wgi_political_stability_normalized_geopolrisk.csv"
IEA_FILE = "iea/iea_critical_minerals_data_explorer_2025.json"
RAW = [
    ("wmd_quantity_inf.csv", WMD_FILE, "wmd", "row 2, column quantity", "not a finite number: 'inf'"),
    ("wmd_quantity_1e308.csv", WMD_FILE, "wmd", "row 2, column quantity", "1e+308 is outside -inf..1e+12"),
    ("wmd_year_1800.csv", WMD_FILE, "wmd", "row 2, column year", "1800 is outside 1900..2100"),
    ("wmd_year_fraction.csv", WMD_FILE, "wmd", "row 2, column year", "not a whole number: 2022.5"),
    ("wmd_duplicate_rows.csv", WMD_FILE, "wmd", "row 3", "duplicate row (commodity=Cobalt"),
    ("wgi_estimate_inf.csv", WGI_FILE, "wgi", "row 2, column estimate", "not a finite number: 'inf'"),
    ("wgi_estimate_1e308.csv", WGI_FILE, "wgi", "row 2, column estimate", "1e+308 is outside -5..5"),
    ("wgi_year_1800.csv", WGI_FILE, "wgi", "row 2, column year", "1800 is outside 1900..2100"),
    ("wgi_duplicate_rows.csv", WGI_FILE, "wgi", "row 3", "duplicate row (code=AUS, year=2022, indicator=cc"),
    ("wgi_instability_year_1800.csv", PV_FILE, "pv", "header, column 1800", "'1800' is outside 1900..2100"),
    ("iea_deep.json", IEA_FILE, "iea", "", "nesting deeper than 64 levels"),
    ("iea_nan.json", IEA_FILE, "iea", "", "NaN is not a JSON number"),
    ("iea_overflow.json", IEA_FILE, "iea", "supply.Lithium.mining.total.2024", "not a plausible quantity in kt: inf"),
    ("iea_year_key.json", IEA_FILE, "iea", "supply.Lithium.mining.total.20_24", "not a whole number: '20_24'"),
    ("iea_supply_list.json", IEA_FILE, "iea", "supply", "expected an object, got list"),
    ("iea_duplicate_key.json", IEA_FILE, "iea", "supply", "duplicate key in a JSON object"),
]


@pytest.fixture(scope="module")
def reference() -> tuple:
    """Materials and countries as the build passes them to the readers."""
    import critmin
    from critmin.ingest import reference as ref

    world = critmin.load()
    countries = world.countries()
    return ref.read_materials(), countries, set(countries["iso3"])


def _read(reader: str, raw: Path, reference: tuple) -> None:
    from critmin.ingest import iea, wgi, wmd

    materials, countries, known = reference
    if reader == "wmd":
        wmd.read_wmd(raw, materials, known)
    elif reader == "wgi":
        wgi.read_wgi(raw, known)
    elif reader == "pv":
        wgi.read_geopolrisk_instability(raw, known)
    else:
        iea.read_iea_supply(raw, materials, countries)


@pytest.mark.parametrize(("name", "target", "reader", "field", "problem"), RAW, ids=_case_ids(RAW))
def test_raw_release_file(raw_tree, reference, name, target, reader, field, problem) -> None:
    """Each raw release file is read by the reader ``critmin data build`` calls; the InputError is what the
    build prints as its one line (the CLI path of build errors: tests/test_world_bad_inputs.py)."""
    raw = raw_tree({target: HOSTILE / name})
    with time_limit(), pytest.raises(InputError) as err:
        _read(reader, raw, reference)
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"{raw / target}: {field}"), line
    assert problem in line, (problem, line)


def test_the_corpus_is_large_enough() -> None:
    files = {p.name for p in HOSTILE.iterdir() if p.name not in ("README.md", "figures_huge_field.csv")}
    used = {c[0] for c in BACI + PROJECTS + REGISTRY_FILES + SCENARIOS + RAW} | {c[0] for c in CHAINS if c[1] is None}
    assert files == used, files ^ used
    generated = [c for c in CHAINS if c[1] is not None] + OPTIONS
    assert len(files) + len(generated) + 2 >= 60 + 20


def test_repeated_materials_are_computed_once(cli) -> None:
    with time_limit():
        res = cli("risk", "eu-crm", "--material", "cobalt,cobalt,cobalt", "--csv")
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.strip().splitlines()) == 2  # header and one row
