"""Malformed optimiser inputs (files in tests/bad_optimize/) → exit 2, one line naming the file or option,
the row where there is one, and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

BAD = Path(__file__).parent / "bad_optimize"


def _stock(sf: str, costs: str = "costs_ok.csv", *extra: str) -> list[str]:
    return ["optimize", "stockpile", "--shortfalls", str(BAD / sf), "--costs", str(BAD / costs), *extra]


def _port(cands: str, *extra: str) -> list[str]:
    return ["optimize", "portfolio", "--candidates", str(BAD / cands), "--budget-usa", "500", "--budget-jpn", "500",
            "--objective", "capacity", *extra]


CASES = {
    "probabilities not summing to 1": (_stock("prob_sum.csv"), ["prob_sum.csv", "column probability", "sum to 0.9"]),
    "probability differs in a scenario": (_stock("prob_differs.csv"),
                                          ["prob_differs.csv", "row 3, column probability"]),
    "probability not a number": (_stock("prob_text.csv"),
                                 ["prob_text.csv", "row 2, column probability", "not a number"]),
    "unknown holder": (_stock("unknown_holder.csv"), ["unknown_holder.csv", "row 2, column holder", "XXA"]),
    "unknown material": (_stock("unknown_material.csv"), ["unknown_material.csv", "row 2, column material",
                                                          "unobtainium"]),
    "non-integer month": (_stock("month_fraction.csv"), ["month_fraction.csv", "row 2, column month", "whole number"]),
    "month zero": (_stock("month_zero.csv"), ["month_zero.csv", "row 2, column month", "below 1"]),
    "NaN shortfall": (_stock("shortfall_nan.csv"), ["shortfall_nan.csv", "row 2, column shortfall_t", "finite"]),
    "negative shortfall": (_stock("shortfall_negative.csv"), ["shortfall_negative.csv", "row 2, column shortfall_t"]),
    "duplicate row": (_stock("duplicate_row.csv"), ["duplicate_row.csv", "row 3", "duplicate of row 2"]),
    "missing column": (_stock("missing_month.csv"), ["missing_month.csv", "column month", "missing column"]),
    "no data rows": (_stock("no_rows.csv"), ["no_rows.csv", "no scenarios"]),
    "negative price": (_stock("ok_shortfalls.csv", "costs_negative.csv"),
                       ["costs_negative.csv", "row 2, column price_usd_per_t", "below 0"]),
    "blank holding cost": (_stock("ok_shortfalls.csv", "costs_blank_holding.csv"),
                           ["costs_blank_holding.csv", "row 2, column holding_usd_per_t_year", "empty"]),
    "duplicate material": (_stock("ok_shortfalls.csv", "costs_duplicate.csv"),
                           ["costs_duplicate.csv", "row 3, column material", "duplicate"]),
    "costs missing column": (_stock("ok_shortfalls.csv", "costs_missing_column.csv"),
                             ["costs_missing_column.csv", "column shortage_usd_per_t", "missing column"]),
    "unknown holder option": (_stock("ok_shortfalls.csv", "costs_ok.csv", "--holders", "USA+XXA"),
                              ["--holders", "XXA", "unknown country"]),
    "holder without rows": (_stock("ok_shortfalls.csv", "costs_ok.csv", "--holders", "KOR"),
                            ["--holders", "KOR", "no shortfall"]),
    "negative budget": (_stock("ok_shortfalls.csv", "costs_ok.csv", "--budget", "-5"), ["--budget", "-5"]),
    "CVaR level out of range": (_stock("ok_shortfalls.csv", "costs_ok.csv", "--cvar", "1.5", "--lambda", "1"),
                                ["--cvar", "1.5", "between 0 and 1"]),
    "negative floor": (_stock("ok_shortfalls.csv", "costs_ok.csv", "--floors", str(BAD / "floors_negative.csv")),
                       ["floors_negative.csv", "row 2, column floor_t"]),
    "infeasible budget floor": (_stock("ok_shortfalls.csv", "costs_ok.csv", "--floors", str(BAD / "floors_ok.csv"),
                                       "--budget", "100"), ["--budget", "infeasible", "constraint 'budget'"]),
    "no scenario and no file": (["optimize", "stockpile"], ["scenario", "--shortfalls"]),
    "empty candidates": (_port("cand_empty.csv"), ["cand_empty.csv", "no candidates"]),
    "negative capex": (_port("cand_negative_capex.csv"), ["cand_negative_capex.csv", "row 2, column capex_usd_m"]),
    "usa_share above 1": (_port("cand_share.csv"), ["cand_share.csv", "row 2, column usa_share", "above 1"]),
    "duplicate project": (_port("cand_duplicate.csv"), ["cand_duplicate.csv", "row 3, column project", "duplicate"]),
    "unknown stage": (_port("cand_stage.csv"), ["cand_stage.csv", "row 2, column stage", "bogus-stage"]),
    "unknown chain": (_port("cand_chain.csv"), ["cand_chain.csv", "row 2, column chain", "no-such-chain"]),
    "non-integer online year": (_port("cand_year.csv"), ["cand_year.csv", "row 2, column online_year"]),
    "required chain impossible": (_port("cand_ok.csv", "--require-chains", "li-ion-batteries"),
                                  ["--require-chains", "li-ion-batteries", "infeasible"]),
    "required stage beyond the budgets": (["optimize", "portfolio", "--candidates", str(BAD / "cand_ok.csv"),
                                           "--budget-usa", "10", "--budget-jpn", "10", "--objective", "capacity",
                                           "--require-stages", "rare-earth-magnets/separated-oxides"],
                                          ["--require-chains", "infeasible", "require rare-earth-magnets/separated"]),
    "negative stage weight": (_port("cand_ok.csv", "--stage-weights", str(BAD / "weights_negative.csv")),
                              ["weights_negative.csv", "row 2, column weight"]),
    "negative US budget": (["optimize", "portfolio", "--budget-usa", "-1", "--budget-jpn", "5"], ["--budget-usa"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_one_line_exit_2(cli, name: str) -> None:  # noqa: ANN001 - fixture
    args, needles = CASES[name]
    r = cli(*args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert "Traceback" not in r.stderr and r.stdout == ""
