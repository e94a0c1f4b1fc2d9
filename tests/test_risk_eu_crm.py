"""EU CRM supply risk: the worked examples of methods.md section 1.2 as unit tests, and the CSV reader."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from critmin.errors import InputError
from critmin.risk.eu_crm import eu_sr, eu_sr_frame, read_inputs

DATA = Path(__file__).parent / "data"
BAD = Path(__file__).parent / "bad_risk"

# (material, GS, EU, IR, EOL-RIR, SI_SR, recomputed SR [DERIVED], published SR [PRIMARY, 2017 Table 3])
WORKED = [
    ("tungsten", 7.5, 1.9, 0.44, 0.42, 1.0, 1.817, 1.8),
    ("magnesium", 4.4, 5.2, 1.00, 0.09, 0.9, 3.931, 4.0),
    ("cobalt", 3.6, 1.3, 0.32, 0.00, 1.0, 1.668, 1.6),
    ("natural-graphite", 3.2, 2.9, 0.99, 0.03, 1.0, 2.957, 2.9),
    ("gallium", 3.5, 1.1, 0.34, 0.00, 1.0, 1.508, 1.4),
    ("beryllium", 2.4, math.nan, math.nan, 0.00, 1.0, 2.400, 2.4),
]


@pytest.mark.parametrize("mat,gs,eu,ir,eol,si,derived,published", WORKED)
def test_worked_examples(mat, gs, eu, ir, eol, si, derived, published):
    sr, scope = eu_sr(gs, eu, ir, eol, si)
    assert sr[0] == pytest.approx(derived, abs=6e-4)  # methods.md gives the recomputation to 3 decimals
    assert abs(sr[0] - published) <= 0.25  # rounded published inputs: ±0.25 on SR
    assert scope[0] == ("GS only" if math.isnan(eu) else "both")


def test_single_scope_cases_and_clipping():
    sr, scope = eu_sr([np.nan, 2.0, 2.0, np.nan], [3.0, 1.0, 1.0, np.nan], [np.nan, -0.3, 0.5, 0.5],
                      [0.1, 0.0, 0.0, 0.0], [1.0, 1.0, np.nan, 1.0])
    assert sr[0] == pytest.approx(3.0 * 0.9) and scope[0] == "EUS only"
    assert sr[1] == pytest.approx(1.0) and scope[1] == "both"  # IR < 0 -> 0: SR = EU value
    assert math.isnan(sr[2]) and scope[2] == "none"  # no SI_SR -> not computable
    assert math.isnan(sr[3]) and scope[3] == "none"


def test_csv_reader_matches_formula():
    df = eu_sr_frame(read_inputs(DATA / "eu_crm_2017_worked.csv"))
    assert list(df["material"]) == [w[0] for w in WORKED]
    np.testing.assert_allclose(df["sr"], [w[6] for w in WORKED], atol=6e-4)


def test_cli_inputs_json():
    r = run_cli("risk", "eu-crm", "--inputs", str(DATA / "eu_crm_2017_worked.csv"), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [o["material"] for o in out] == [w[0] for w in WORKED]
    for o, w in zip(out, WORKED, strict=True):
        assert o["sr"] == pytest.approx(w[6], abs=6e-4)


BAD_CASES = {
    "missing_column.csv": "missing column",
    "not_a_number.csv": "not a number",
    "fraction_above_one.csv": "outside",
    "short_row.csv": "fields",
    "duplicate_material.csv": "duplicate material",
    "empty.csv": "empty file",
    "header_only.csv": "no data rows",
    "empty_material.csv": "empty material",
    "negative_hhi.csv": "outside",
    "binary.csv": "UTF-8",
}


@pytest.mark.parametrize("name,msg", sorted(BAD_CASES.items()))
def test_malformed_inputs(name, msg):
    with pytest.raises(InputError, match=msg):
        read_inputs(BAD / name)


def test_every_bad_file_is_covered():
    assert {p.name for p in BAD.glob("*.csv")} == set(BAD_CASES)


@pytest.mark.parametrize("name", ["not_a_number.csv", "missing_column.csv"])
def test_cli_malformed_inputs_exit_2_one_line(name):
    r = run_cli("risk", "eu-crm", "--inputs", str(BAD / name), "--json")
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and name in r.stderr
