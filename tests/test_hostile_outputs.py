"""Issue 13, item 1: a World writer (``data build``, ``data import-baci``) never destroys a user's files.

It writes only to a new path, an empty folder or over an existing World; never over a file, a folder of
other files, the current folder (or a parent of it) or a folder holding one of its inputs. The new World
replaces the old one by an atomic exchange under a folder lock; a run killed at any step of the swap
(fault points of ``$CRITMIN_FAULT``) leaves a valid World, old or new, and the next run removes what it
left behind; concurrent writers queue.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import EMBEDDED_WORLD_DIR, ROOT, folder_fingerprint, run_critmin

import critmin
from critmin.atomic import is_world_folder

GOOD_BACI = "t,i,j,k,v,q\n2022,156,842,260400,124.939,31.956\n2022,76,842,260400,0.008,0.116\n"
OTHER_BACI = "t,i,j,k,v,q\n2021,156,392,260400,50.5,10.25\n"


def one_line_error(res, *parts: str) -> str:
    """The single ``error:`` line of a failed run (exit 2, no traceback, not overlong), containing every part
    (shared by the tests/test_hostile_*.py modules)."""
    assert res.returncode == 2, (res.returncode, res.stdout[-400:], res.stderr[-1500:])
    assert "Traceback" not in res.stderr + res.stdout
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr[-2000:]
    assert len(lines[0]) < 1200, f"error line of {len(lines[0])} characters"
    for p in parts:
        assert p in lines[0], (p, lines[0])
    return lines[0]


def valid_world(path: Path) -> str:
    """Assert ``path`` holds a complete, undamaged World (every table file of its size and hash); its checksum."""
    assert is_world_folder(path), f"no World at {path}"
    world = critmin.load(path)
    for name in world.table_names:
        world.table_file(name)
    return world.checksum


@pytest.fixture
def baci(tmp_path: Path) -> Path:
    f = tmp_path / "in" / "baci.csv"
    f.parent.mkdir()
    f.write_text(GOOD_BACI, encoding="utf-8")
    return f


def _user_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.txt").write_text("years of work", encoding="utf-8")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", ["build", "import-baci"])
def test_a_folder_of_other_files_is_left_alone(cli, tmp_path, baci, command) -> None:
    folder = _user_folder(tmp_path)
    before = folder_fingerprint(folder)
    args = ["data", "build", "--out", folder] if command == "build" else ["data", "import-baci", baci, "--out", folder]
    one_line_error(cli(*args), f"--out: {folder}", "not a critmin World", "its files would be lost")
    assert folder_fingerprint(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["docs", "in"])


def test_the_current_folder_is_never_the_output(cli, tmp_path, baci) -> None:
    before = folder_fingerprint(baci.parent)
    one_line_error(cli("data", "import-baci", "baci.csv", "--out", ".", cwd=baci.parent), "--out: .",
                   "is the current folder")
    one_line_error(cli("data", "import-baci", "baci.csv", "--out", "..", cwd=baci.parent), "--out: ..",
                   "a parent of the current folder")
    assert folder_fingerprint(baci.parent) == before


def test_the_current_folder_is_refused_even_when_it_is_a_world(cli, world_copy, baci) -> None:
    before = folder_fingerprint(world_copy)
    one_line_error(cli("data", "import-baci", baci, "--out", ".", cwd=world_copy), "is the current folder")
    assert folder_fingerprint(world_copy) == before


def test_a_file_is_not_replaced_by_a_world(cli, tmp_path, baci) -> None:
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"PK\x03\x04 a workbook")
    for args in (["data", "import-baci", baci, "--out", target], ["data", "build", "--out", target]):
        one_line_error(cli(*args), f"--out: {target}", "not a folder")
        assert target.read_bytes() == b"PK\x03\x04 a workbook"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "report.xlsx"]  # no .report.xlsx.old-PID


def test_a_folder_holding_an_input_is_refused(cli, world_copy, tmp_path) -> None:
    """A World that holds the BACI file (or the --from folder) would delete it when replaced."""
    inside = world_copy / "baci.csv"
    inside.write_text(GOOD_BACI, encoding="utf-8")
    before = folder_fingerprint(world_copy)
    one_line_error(cli("data", "import-baci", inside, "--out", world_copy), "contains the input")
    one_line_error(cli("data", "build", "--from", world_copy, "--out", world_copy), "is the input")
    one_line_error(cli("data", "build", "--from", world_copy / "raw", "--out", world_copy), "contains the input")
    assert folder_fingerprint(world_copy) == before


def test_a_new_path_and_an_empty_folder_are_written(cli, tmp_path, baci) -> None:
    new = tmp_path / "a" / "b" / "new-world"
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (new, empty):  # over an existing World: the kill and leftover tests
        res = cli("data", "import-baci", baci, "--out", out)
        assert res.returncode == 0, res.stderr
        valid_world(out)
    assert critmin.load(empty).table("trade")["source"].eq("baci").sum() == 2
    assert [p.name for p in tmp_path.rglob(".*")] == []


def test_leftovers_of_killed_runs_are_removed_by_the_next_run(cli, world_copy, baci) -> None:
    parent = world_copy.parent
    for name in (".world.building-abc123", ".world.importing-x9", ".world.old-4242"):
        (parent / name / "deep").mkdir(parents=True)
        (parent / name / "deep" / "trade.parquet").write_bytes(b"\0" * 1000)
    (parent / ".other.building-1").mkdir()  # another World's: not ours to remove
    res = cli("data", "import-baci", baci, "--out", world_copy)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in parent.iterdir() if p.name.startswith(".")) == [".other.building-1"]


@pytest.mark.parametrize("point", ["publish:before-swap", "publish:after-swap"])
def test_a_kill_at_any_step_of_the_swap_leaves_a_valid_world(cli, world_copy, baci, point) -> None:
    """SIGKILL at each step of publishing (fault injection, not timing): a valid World, old or new, is
    always at --out; the next run cleans up and writes."""
    old = valid_world(world_copy)
    res = run_critmin("data", "import-baci", baci, "--out", world_copy, env={"CRITMIN_FAULT": point}, timeout=120)
    assert res.returncode == -signal.SIGKILL, (res.returncode, res.stderr[-800:])
    after = valid_world(world_copy)
    assert after == old if point != "publish:after-swap" else after != old
    res = cli("data", "import-baci", baci, "--out", world_copy)
    assert res.returncode == 0, res.stderr
    assert valid_world(world_copy) != old
    assert [p.name for p in world_copy.parent.iterdir() if p.name.startswith(".world.")] == []


def _watch(out: Path, stop: threading.Event, seen: list[bool]) -> None:
    """Record, as often as possible until ``stop``, whether ``out`` holds a World."""
    while not stop.is_set():
        seen.append(is_world_folder(out))
        time.sleep(0.002)  # leave the writers the CPU


def test_concurrent_writers_queue_and_a_world_is_always_there(world_copy, tmp_path) -> None:
    """Three imports into one --out at once (of two different files): each waits for the lock, each
    succeeds, and a watcher never finds the folder without a World."""
    files = []
    for n, text in enumerate([GOOD_BACI, OTHER_BACI, GOOD_BACI]):
        f = tmp_path / f"b{n}.csv"
        f.write_text(text, encoding="utf-8")
        files.append(f)
    env = {k: v for k, v in os.environ.items() if k != "CRITMIN_WORLD"}
    stop, seen = threading.Event(), []
    watcher = threading.Thread(target=_watch, args=(world_copy, stop, seen))
    watcher.start()
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "critmin.cli.main", "data", "import-baci", f, "--out",
                                   world_copy], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for f in files]
        results = [p.communicate(timeout=180) + (p.returncode,) for p in procs]
    finally:
        stop.set()
        watcher.join()
    assert all(rc == 0 for _, _, rc in results), results
    assert seen and all(seen), f"{seen.count(False)} of {len(seen)} looks found no World"
    valid_world(world_copy)
    assert [p.name for p in world_copy.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_concurrent_data_builds_into_one_out(tmp_path) -> None:
    """Two real `critmin data build` runs into one --out at the same time, a watcher looking all along."""
    out = tmp_path / "world"
    env = {k: v for k, v in os.environ.items() if k != "CRITMIN_WORLD"}
    stop, seen = threading.Event(), []
    procs = [subprocess.Popen([sys.executable, "-m", "critmin.cli.main", "data", "build", "--out", out], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    while not is_world_folder(out) and all(p.poll() is None for p in procs):
        time.sleep(0.05)
    watcher = threading.Thread(target=_watch, args=(out, stop, seen))
    watcher.start()
    try:
        results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    finally:
        stop.set()
        watcher.join()
    assert all(rc == 0 for _, _, rc in results), results
    assert all(seen)
    assert valid_world(out) == json.loads((EMBEDDED_WORLD_DIR / "datapackage.json").read_text())["checksum"]
    assert [p.name for p in tmp_path.iterdir()] == ["world"]


def _limit_file_size() -> None:  # runs in the child before exec
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))


def test_a_write_failure_names_the_out_option_not_a_temporary_folder(world_copy, baci) -> None:
    """Files over 1 MB cannot be written (RLIMIT_FSIZE, as a full disk would refuse them): one line naming
    --out and the World, never the hidden temporary folder; the previous World is untouched."""
    before = folder_fingerprint(world_copy)
    env = {k: v for k, v in os.environ.items() if k != "CRITMIN_WORLD"}
    res = subprocess.run([sys.executable, "-m", "critmin.cli.main", "data", "import-baci", baci, "--out", world_copy],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size)
    line = one_line_error(res, f"--out: {world_copy}", "cannot write the World", "File too large")
    assert ".importing-" not in line
    assert folder_fingerprint(world_copy) == before
    assert [p.name for p in world_copy.parent.iterdir() if p.name.startswith(".")] == []


def test_projects_init_never_writes_over_a_file_or_a_full_folder(cli, tmp_path) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("keep me", encoding="utf-8")
    one_line_error(cli("projects", "init", target), str(target), "not a folder")
    folder = _user_folder(tmp_path)
    before = folder_fingerprint(folder)
    one_line_error(cli("projects", "init", folder), str(folder), "not empty")
    assert target.read_text(encoding="utf-8") == "keep me" and folder_fingerprint(folder) == before


@pytest.mark.slow
def test_a_build_killed_while_writing_leaves_the_world_and_its_leftover_is_cleaned(cli, world_copy, baci) -> None:
    """`data build` killed after writing its first table (CRITMIN_FAULT=build:table-written): the previous World is
    untouched and its half-written .world.building-* folder is removed by the next writer."""
    before = folder_fingerprint(world_copy)
    res = run_critmin("data", "build", "--out", world_copy, env={"CRITMIN_FAULT": "build:table-written"}, timeout=300)
    assert res.returncode == -signal.SIGKILL, (res.returncode, res.stderr[-800:])
    assert folder_fingerprint(world_copy) == before
    assert [p.name.split("-")[0] for p in world_copy.parent.iterdir() if p.name.startswith(".")] == [".world.building"]
    assert cli("data", "import-baci", baci, "--out", world_copy).returncode == 0
    assert [p.name for p in world_copy.parent.iterdir() if p.name.startswith(".")] == []
