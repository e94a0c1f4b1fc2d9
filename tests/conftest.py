"""Shared test fixtures. Tests run from the repository root.

Fixtures here are generic building blocks; keep each one in its own clearly named function.

* ``cli``: run the ``critmin`` command in this process (``critmin.cli.main.run`` under Typer's
  ``CliRunner`` isolation); returns a ``CliResult`` with ``returncode``/``stdout``/``stderr`` like a
  ``subprocess.CompletedProcess``. Most CLI tests use it: no interpreter start-up per call.
* ``critmin_cli``: run the real ``critmin`` command in a subprocess (end-to-end smoke tests only).
* ``brief_run``: one ``critmin brief --importer USA,JPN --json --html`` run per session (JSON, page path).
* ``fresh_world``: a World built once per session by ``critmin data build`` from ``data/raw``.
* ``world_copy``: a private copy of the embedded World (for tests that pass it as ``--out``).
* ``raw_tree``: a copy of ``data/raw`` (symlinks) in which single files can be replaced or removed.
* ``tree_fingerprint``: a folder's file list and bytes digest, to show a World was left untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
RAW_DIR = ROOT / "data" / "raw"
EMBEDDED_WORLD_DIR = ROOT / "src" / "critmin" / "data" / "world"


def run_critmin(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``critmin ARGS`` (``python -m critmin.cli.main``); $CRITMIN_WORLD is unset unless ``env`` sets it."""
    full_env = {k: v for k, v in os.environ.items() if k != "CRITMIN_WORLD"}
    full_env.update({"COLUMNS": "200", "NO_COLOR": "1"})
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "critmin.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=full_env, cwd=cwd, timeout=timeout)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests (headless Chromium, seconds each) are slow tests too: ``-m "not slow"`` leaves them out."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def critmin_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``critmin_cli("data", "info", "--json")`` runs the real CLI; returns the CompletedProcess."""
    return run_critmin


@dataclass
class CliResult:
    """What an in-process ``critmin`` run left: the fields of a ``subprocess.CompletedProcess`` tests read."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


#: Attributes a ``rich.console.Console`` derives from the environment when it is built ($COLUMNS, $NO_COLOR, ...).
_CONSOLE_ENV_ATTRS = ("_width", "_height", "no_color", "_color_system", "is_interactive", "legacy_windows")


def run_cli(*args: str | os.PathLike[str], env: dict[str, str | None] | None = None, input: str | None = None,
            cwd: Path | None = None) -> CliResult:
    """Run ``critmin ARGS`` in this process, as :func:`run_critmin` runs it in a subprocess.

    The console-script function ``critmin.cli.main.run`` itself runs (``sys.argv`` set to the arguments), so
    its error handling (InputError -> one line and exit 2, usage errors, OSError) is the one under test. The
    environment is the one a subprocess would see ($CRITMIN_WORLD unset, COLUMNS=200, NO_COLOR=1, then
    ``env``); the Rich consoles made when ``critmin.cli.common`` was imported re-read it for this run and get
    their state back afterwards, as do ``sys.argv``, the current folder and the CLI's remembered World. An
    exception that ``run`` lets through becomes a traceback on stderr and exit status 1, as in Python.
    """
    from typer._click import formatting
    from typer.testing import CliRunner

    from critmin.cli import common
    from critmin.cli import main as cli_main

    argv = ["critmin", *map(str, args)]
    overrides: dict[str, str | None] = {"CRITMIN_WORLD": None, "COLUMNS": "200", "NO_COLOR": "1"}
    overrides.update(env or {})
    consoles = (common.console, common.err_console)
    saved_consoles = [{a: getattr(c, a) for a in _CONSOLE_ENV_ATTRS} for c in consoles]
    saved_argv, saved_cwd, saved_state = sys.argv, os.getcwd(), dict(common._state)
    code = 0
    with CliRunner().isolation(input=input, env=overrides) as (out, err, _):
        formatting.FORCED_WIDTH = None  # click sizes help from the terminal, as in a real run (restored on exit)
        try:
            for c in consoles:
                fresh = Console(stderr=c.stderr)
                for a in _CONSOLE_ENV_ATTRS:
                    setattr(c, a, getattr(fresh, a))
            common._state.update(world_path=None, world=None)
            sys.argv = argv
            os.chdir(cwd or ROOT)
            try:
                cli_main.run()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    sys.stderr.write(f"{exc.code}\n")
            except Exception:  # noqa: BLE001 - what the interpreter does with an uncaught exception
                traceback.print_exc(file=sys.stderr)
                code = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            stdout = out.getvalue().decode("utf-8", "replace")
            stderr = err.getvalue().decode("utf-8", "replace")
            sys.argv = saved_argv
            os.chdir(saved_cwd)
            common._state.clear()
            common._state.update(saved_state)
            for c, saved in zip(consoles, saved_consoles, strict=True):
                for a, v in saved.items():
                    setattr(c, a, v)
    return CliResult(argv[1:], code, stdout, stderr)


@pytest.fixture(scope="session")
def cli() -> Callable[..., CliResult]:
    """``cli("data", "info", "--json")`` runs ``critmin`` in this process; returns a :class:`CliResult`."""
    return run_cli


@pytest.fixture(scope="session")
def fresh_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A World built once per test session by ``critmin data build --out DIR`` (about 12 s)."""
    out = tmp_path_factory.mktemp("fresh_world") / "world"
    res = run_critmin("data", "build", "--out", out, "--from", RAW_DIR)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture(scope="session")
def brief_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """One ``critmin brief --importer USA,JPN --json --html PAGE`` run of the real command (a subprocess: the
    brief's end-to-end smoke test) for every test that reads a brief; returns (the JSON, the page's path)."""
    import json

    html = tmp_path_factory.mktemp("brief") / "brief.html"
    res = run_critmin("brief", "--importer", "USA,JPN", "--json", "--html", html)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout), html


@pytest.fixture
def world_copy(tmp_path: Path) -> Path:
    """A private copy of the embedded World at ``tmp_path/world`` (a valid World to overwrite or leave intact;
    the committed one, which ``test_fresh_build_equals_committed_world`` shows equals a fresh build, so that
    these tests need no 12 s build of their own)."""
    dst = tmp_path / "world"
    shutil.copytree(EMBEDDED_WORLD_DIR, dst)
    return dst


@pytest.fixture
def raw_tree(tmp_path: Path) -> Callable[..., Path]:
    """``raw_tree({"countries/countries.csv": bad_file_or_None})``: a copy of data/raw (symlinked files)
    with the given files replaced by a copy of another file, or removed (None)."""

    def make(replace: dict[str, Path | None] | None = None) -> Path:
        tree = tmp_path / "raw"
        for f in RAW_DIR.rglob("*"):
            if f.is_file():
                dst = tree / f.relative_to(RAW_DIR)
                dst.parent.mkdir(parents=True, exist_ok=True)
                dst.symlink_to(f.resolve())
        for rel, src in (replace or {}).items():
            target = tree / rel
            assert target.is_symlink(), f"{rel} is not a raw file"
            target.unlink()
            if src is not None:
                shutil.copyfile(src, target)
        return tree

    return make


def folder_fingerprint(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def tree_fingerprint() -> Callable[[Path], dict[str, str]]:
    """``tree_fingerprint(folder)`` -> {relative path: sha256} of every file under it."""
    return folder_fingerprint


#: Debian's Chromium, driven by Playwright in the browser tests (installed by .ci/run).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Marks for a browser test module: ``pytestmark = BROWSER_MARKS``.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session's browser tests (offline flags; see CHROMIUM_ARGS)."""
    from playwright import sync_api  # a dev dependency: missing is a failure, not a skip

    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
