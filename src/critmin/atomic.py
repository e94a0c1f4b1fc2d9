"""Atomic file output: write to a temporary file next to the target, then rename it into place.

A reader never sees a half-written file, and a failed write leaves the previous file (or none).
Every file critmin writes for a user (HTML and PNG figures, CSV tables, netCDF results, registry
files) goes through :func:`atomic_path`; whole World folders use :func:`critmin.datapackage.publish_world`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder (same suffix, so writers that infer the format from it
    work); on success it is given the usual permissions (0666 less the umask) and renamed onto ``path``;
    on any error it is removed and the error propagates. The folder is created if missing."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
