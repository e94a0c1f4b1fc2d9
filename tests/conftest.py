"""Shared test fixtures. Tests run from the repository root.

Fixtures here are generic building blocks; keep each one in its own clearly named function.

* ``critmin_cli``: run the real ``critmin`` command in a subprocess.
* ``fresh_world``: a World built once per session by ``critmin data build`` from ``data/raw``.
* ``world_copy``: a private copy of that World (for tests that pass it as ``--out``).
* ``raw_tree``: a copy of ``data/raw`` (symlinks) in which single files can be replaced or removed.
* ``tree_fingerprint``: a folder's file list and bytes digest, to show a World was left untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def critmin_cli() -> Callable[..., subprocess.CompletedProcess]:
    """``critmin_cli("data", "info", "--json")`` runs the real CLI; returns the CompletedProcess."""
    return run_critmin


@pytest.fixture(scope="session")
def fresh_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A World built once per test session by ``critmin data build --out DIR`` (about 12 s)."""
    out = tmp_path_factory.mktemp("fresh_world") / "world"
    res = run_critmin("data", "build", "--out", out, "--from", RAW_DIR)
    assert res.returncode == 0, res.stderr
    return out


@pytest.fixture
def world_copy(fresh_world: Path, tmp_path: Path) -> Path:
    """A private copy of the session World at ``tmp_path/world``."""
    dst = tmp_path / "world"
    shutil.copytree(fresh_world, dst)
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
