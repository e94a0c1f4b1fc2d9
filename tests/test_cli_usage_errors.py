"""Usage errors from the command-line parser and early input checks: exit 2, one line, no traceback.

Typer >= 0.20 raises its own vendored copy of click's exceptions; both kinds must become one
``error: …`` line. Input errors found before a progress bar starts must not leave a blank line.
"""

from __future__ import annotations

import pytest
from conftest import run_cli

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
    res = run_cli(*args)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ") and names in lines[0], lines[0]


WRITE_CASES = [
    ("invest", "map", "--out", "{bad}/m.html"),
    ("projects", "timeline", "--out", "{bad}/t.html"),
    ("projects", "init", "{bad}/registry"),
    ("risk", "exposure", "--importer", "USA", "--year", "2022", "--plot", "{bad}/x.png"),
    ("simulate", "baseline", "--runs", "2", "--out", "{bad}/x.nc"),
    ("simulate", "baseline", "--runs", "2", "--plot", "{bad}/x.png"),
    ("data", "build", "--out", "{bad}/world"),
]


@pytest.mark.parametrize("args", [pytest.param(a, marks=pytest.mark.slow) if a[:2] == ("data", "build") else a
                                  for a in WRITE_CASES],  # data build reads every raw file first: seconds
                         ids=[" ".join(a[:2]) + " " + a[-2] for a in WRITE_CASES])
def test_unwritable_output_is_one_line_exit_2(args: tuple[str, ...], tmp_path) -> None:
    """An output path inside a regular file (not a folder; fails for root too): one line, nothing left."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    res = run_cli(*(a.format(bad=blocker) for a in args))
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not-a-folder" in lines[0], res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"] and blocker.read_text() == "x"


def test_simulate_checks_the_plot_name_before_running() -> None:
    res = run_cli("simulate", "baseline", "--runs", "2", "--plot", "fan.xyz")
    assert res.returncode == 2 and res.stderr.splitlines() == [
        "error: --plot: fan.xyz: use a .html, .png, .svg or .pdf file name"
    ]


def _truncate_trade(w):
    data = (w / "trade.parquet").read_bytes()
    (w / "trade.parquet").write_bytes(data[:1000])
    return "trade.parquet", "cannot read the table", "damaged table file trade.parquet"


def _remove_production(w):
    (w / "production.parquet").unlink()
    return "production.parquet", "table file production.parquet is missing", "table file production.parquet is missing"


def _bad_number_in_csv(w):
    f = w / "countries.csv"
    lines = f.read_text().splitlines()
    head = lines[0].split(",")
    cells = lines[1].split(",")
    cells[head.index("m49")] = "abc"
    lines[1] = ",".join(cells)
    f.write_text("\n".join(lines) + "\n")
    return "countries.csv", "row 2, column m49: not an integer: 'abc'", "damaged table file countries.csv"


@pytest.mark.parametrize("hashed", [True, False], ids=["file-hashes", "no-file-hashes"])
@pytest.mark.parametrize("damage", [_truncate_trade, _remove_production, _bad_number_in_csv])
@pytest.mark.parametrize("command", [("brief", "--importer", "USA,JPN"), ("data", "query", "SELECT 1 FROM trade")])
def test_damaged_world_is_one_line_exit_2(damage, command, hashed, tmp_path) -> None:
    """With file hashes (every World written since issue 13) the damaged table is named before it is read;
    without them (a hand-made World), the reader names what it cannot read."""
    import json
    import shutil

    from conftest import EMBEDDED_WORLD_DIR

    w = tmp_path / "world"
    shutil.copytree(EMBEDDED_WORLD_DIR, w)
    if not hashed:
        dp = json.loads((w / "datapackage.json").read_text())
        for r in dp["resources"]:
            r.pop("bytes"), r.pop("file_hash")
        (w / "datapackage.json").write_text(json.dumps(dp))
    name, unhashed_problem, hashed_problem = damage(w)
    problem = hashed_problem if hashed else unhashed_problem
    res = run_cli("--world", w, *command)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and name in lines[0] and problem in lines[0], res.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("simulate", "{f}", "--runs", "2"),
        ("risk", "eu-crm", "--inputs", "{f}", "--json"),
        ("projects", "--registry", "{reg}", "add", "{f}"),
    ],
    ids=["scenario", "eu-crm inputs", "registry records"],
)
def test_binary_file_is_one_line_exit_2(command, tmp_path) -> None:
    f = tmp_path / "input.yaml"
    f.write_bytes(b"\x00\x01\xff\xfe binary")
    reg = tmp_path / "registry"
    if "{reg}" in command:
        assert run_cli("projects", "init", reg).returncode == 0
    before = {p.name: p.read_bytes() for p in reg.iterdir()} if reg.exists() else {}
    res = run_cli(*(a.format(f=f, reg=reg) for a in command))
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert res.stderr.splitlines() == [f"error: {f}: byte 2: not a UTF-8 text file"]
    assert ({p.name: p.read_bytes() for p in reg.iterdir()} if reg.exists() else {}) == before


def test_status_lines_are_not_wrapped_in_a_narrow_pipe(tmp_path) -> None:
    reg = tmp_path / "a-registry-folder-with-a-rather-long-name"
    res = run_cli("projects", "init", reg, env={"COLUMNS": "40"})
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [f"registry copied to {reg}; use --registry {reg} or CRITMIN_REGISTRY={reg}"]
