"""Usage errors from the command-line parser and early input checks: exit 2, one line, no traceback.

Typer >= 0.20 raises its own vendored copy of click's exceptions; both kinds must become one
``error: …`` line. Input errors found before a progress bar starts must not leave a blank line.
"""

from __future__ import annotations

import pytest
from conftest import run_critmin

CASES = [
    (("simulate", "baseline", "--horizon", "abc"), "--horizon"),
    (("simulate", "baseline", "--runs", "x"), "--runs"),
    (("simulate", "baseline", "--runs", "0"), "--runs"),
    (("simulate", "baseline", "--runs", "3", "--seed", "-1"), "--seed"),
    (("simulate",), "scenario"),
    (("brief", "--bogus"), "--bogus"),
    (("risk", "geopolrisk", "--material", "lithium", "--importer", "USA", "--year", "twenty"), "--year"),
    (("risk", "table", "--metric"), "--metric"),
    (("projects", "list", "--status"), "--status"),
    (("invest", "summary", "--by"), "--by"),
    (("data", "info", "--nope"), "--nope"),
    (("nosuchcommand",), "nosuchcommand"),
]


@pytest.mark.parametrize(("args", "names"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_usage_error_is_one_line_exit_2(args: tuple[str, ...], names: str) -> None:
    res = run_critmin(*args)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]
