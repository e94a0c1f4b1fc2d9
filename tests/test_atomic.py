"""critmin.atomic: every user-facing output file is replaced whole or not at all."""

from __future__ import annotations

import os
import stat

import pytest

from critmin.atomic import atomic_path, atomic_write_text


def test_write_replaces_the_file_with_usual_permissions(tmp_path) -> None:
    target = tmp_path / "sub" / "out.html"
    atomic_write_text(target, "first")
    atomic_write_text(target, "second")
    assert target.read_text(encoding="utf-8") == "second"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["out.html"]


def test_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "fig.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png"  # writers that infer the format see .png
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]
