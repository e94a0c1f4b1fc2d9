"""Atomic file output: write to a temporary file next to the target, then rename it into place.

A reader never sees a half-written file, and a failed write leaves the previous file (or none).
Every file critmin writes for a user (HTML and PNG figures, CSV tables, netCDF results, registry
files) goes through :func:`atomic_path`; whole World folders through :func:`world_writer` and
:func:`critmin.datapackage.publish_world` (checked target, lock, atomic exchange; see below).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder (same suffix, so writers that infer the format from it
    work); on success it is given the usual permissions (0666 less the umask) and renamed onto ``path``;
    on any error it is removed and the error propagates (an OSError, e.g. a full disk, as an InputError
    naming ``path``, never the temporary file). The folder is created if missing; a folder at ``path`` is
    refused, never replaced."""
    from critmin.errors import InputError

    p = Path(path)
    if p.is_dir():
        raise InputError(str(p), None, "is a folder; give a file name (the folder is left as it is)")
    tmp: Path | None = None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, p)
    except OSError as exc:  # a full disk, no permission, ...: named against the user's file, not the temporary
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise InputError(str(p), None, f"cannot write: {exc.strerror or type(exc).__name__}") from None
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------- World folders
#
# A World folder is replaced in one step: the new World is written into a hidden temporary folder next to
# the target (``.W.building-*`` for ``data build``, ``.W.importing-*`` for ``data import-baci``) and then
# exchanged with the old one by ``renameat2(RENAME_EXCHANGE)``, a single atomic system call (Linux 3.15+;
# ext4, xfs, btrfs, tmpfs). Before the call the path is the old World, after it the new one: there is no
# moment without a World. The old World, now under the temporary name, is deleted afterwards. Where the
# file system cannot exchange (EINVAL/ENOSYS/ENOTSUP), the old World is moved aside and the new one moved in
# by two renames (a window of one system call), and the old one moved back if the second rename fails.
#
# Writers of one target queue on an exclusive ``fcntl.flock`` of the folder holding it, held for the whole
# write; so whoever holds it knows every ``.W.building-*``/``.W.importing-*``/``.W.old-*`` folder is the
# leftover of a run that was killed, and removes them before writing.

#: Environment variable naming a fault-injection point (tests only): the process kills itself there
#: with SIGKILL, as ``kill -9`` would, e.g. ``CRITMIN_FAULT=publish:after-swap``.
FAULT_ENV = "CRITMIN_FAULT"

#: Seconds a writer waits for the lock of a World another writer holds (unset: wait as long as it takes).
LOCK_TIMEOUT_ENV = "CRITMIN_LOCK_TIMEOUT"

#: Name parts of a World writer's temporary folders (``.W.<kind>-<random>``); leftovers are removed.
TEMP_KINDS = ("building", "importing", "old")

_RENAME_EXCHANGE = 2


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL if ``$CRITMIN_FAULT`` names ``name`` (crash-safety tests)."""
    if os.environ.get(FAULT_ENV) == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def exchange(a: Path, b: Path) -> None:
    """Swap the two existing paths ``a`` and ``b`` atomically (``renameat2(RENAME_EXCHANGE)``).

    Raises OSError; errno EINVAL, ENOSYS or ENOTSUP where the system or file system cannot.
    """
    import ctypes
    import errno

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        raise OSError(errno.ENOSYS, "renameat2 is not available", str(a)) from None
    at_fdcwd = -100
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


def swap_into_place(new: Path, out: Path) -> None:
    """Put the finished folder ``new`` at ``out`` in one step; the previous ``out`` (if any) is deleted.

    See the comment above: an atomic exchange where the file system has one, else two renames with
    roll-back. Fault points ``publish:before-swap`` and ``publish:after-swap`` (before the old folder
    is removed) let tests kill the process between the steps.
    """
    import errno
    import shutil

    fault_point("publish:before-swap")
    if not out.exists() and not out.is_symlink():
        os.rename(new, out)
        fault_point("publish:after-swap")
        return
    try:
        exchange(new, out)
        old = new  # the previous World now sits at the temporary name
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        try:
            os.replace(new, out)
        except BaseException:
            os.replace(old, out)
            raise
    fault_point("publish:after-swap")
    if old.is_dir() and not old.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
    else:
        old.unlink(missing_ok=True)


def is_world_folder(path: Path) -> bool:
    """Whether ``path`` is a folder holding a critmin World (a ``datapackage.json`` naming one)."""
    import json

    dp = path / "datapackage.json"
    try:
        if not dp.is_file() or dp.stat().st_size > 64 << 20:
            return False
        data = json.loads(dp.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("name") == "critmin-world" and isinstance(data.get("resources"), list)


def _within(path: Path, folder: Path) -> bool:
    """``path`` is ``folder`` or inside it (both resolved)."""
    return path == folder or folder in path.parents


def check_world_out(out: str | os.PathLike[str], option: str = "--out",
                    inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """The resolved target of a World writer's ``out`` option, or InputError naming ``option``.

    A World is written only to a new path, an empty folder or over an existing critmin World; never
    over a file, a folder of other files, the current folder (or one of its parents) or a folder
    holding one of ``inputs`` (files or folders the command reads).
    """
    from critmin.errors import InputError

    given = str(out)
    target = Path(out).expanduser().resolve()
    cwd = Path.cwd().resolve()
    if _within(cwd, target):
        what = "the current folder" if target == cwd else "a parent of the current folder"
        raise InputError(option, given, f"is {what}; a World is written to a new folder or over an existing "
                                        "World, never over the folder you work in")
    for item in inputs:
        if item is None:
            continue
        src = Path(item).expanduser().resolve()
        if _within(src, target):
            what = "is" if src == target else "contains"
            raise InputError(option, given, f"{what} the input {item}; write the World to another folder")
    if target.is_symlink() or target.exists():
        if not target.is_dir():
            raise InputError(option, given, "exists and is not a folder; give a new folder or an existing World "
                                            "(the file is left as it is)")
        if not is_world_folder(target):
            try:
                empty = not any(target.iterdir())
            except OSError as exc:
                raise InputError(option, given, f"cannot read the folder: {exc.strerror or exc}") from None
            if not empty:
                raise InputError(option, given, "exists and is not a critmin World (no valid datapackage.json); "
                                                "its files would be lost: give a new folder or an existing World")
    return target


@contextmanager
def _world_lock(out: Path, option: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` of the folder holding World ``out`` (waiting for another writer to finish).

    The folder itself is locked (no lock file is left behind); writers of Worlds in one folder queue.
    """
    import fcntl
    import time

    from critmin.errors import InputError

    fd = os.open(out.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        limit = os.environ.get(LOCK_TIMEOUT_ENV)
        deadline = None if not limit else time.monotonic() + float(limit)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (fcntl.LOCK_NB if deadline is not None else 0))
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:  # type: ignore[operator]
                    raise InputError(option, str(out), "another critmin build or import is writing this World; "
                                                       "try again when it has finished") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def clean_leftovers(out: Path) -> list[Path]:
    """Remove the temporary folders of killed writers of World ``out`` (call with the lock held)."""
    import shutil

    gone = []
    for kind in TEMP_KINDS:
        for p in out.parent.glob(f".{out.name}.{kind}-*"):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            gone.append(p)
    return gone


@contextmanager
def world_writer(out: str | os.PathLike[str], kind: str = "building", option: str = "--out",
                 inputs: Iterable[str | os.PathLike[str]] = ()) -> Iterator[tuple[Path, Path]]:
    """Write a World to ``out``: check it (:func:`check_world_out`), take its lock, remove leftovers of killed
    runs, and yield ``(tmp, target)``: a new temporary folder next to it and the resolved target. The caller
    fills ``tmp`` and calls :func:`critmin.datapackage.publish_world`; on any error ``tmp`` is removed and
    the previous World stays. Errors writing (a full disk, no permission) become one InputError naming
    ``option`` and ``out``, never the temporary folder."""
    import shutil
    import tempfile

    from critmin.errors import InputError

    given = str(out)
    target = check_world_out(out, option, inputs)
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _world_lock(target, option):
            clean_leftovers(target)
            check_world_out(out, option, inputs)  # again: another writer may have made it while we waited
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{kind}-", dir=target.parent))
            tmp.chmod(0o755)
            try:
                yield tmp, target
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp, ignore_errors=True)
    except InputError as exc:
        if tmp is not None and str(tmp) in str(exc):
            raise InputError(exc.source.replace(str(tmp), given), exc.field.replace(str(tmp), given),
                             exc.problem.replace(str(tmp), given)) from None
        raise
    except OSError as exc:
        name = exc.filename if isinstance(exc.filename, str) else None
        if name is not None:
            where = Path(name).resolve()
            ours = (tmp is not None and _within(where, tmp)) or _within(where, target) \
                or _within(target, where) or where.name.startswith(f".{target.name}.")
            if not ours:  # a file the command reads: critmin.cli.main names it
                raise
        problem = exc.strerror or type(exc).__name__
        raise InputError(option, given, f"cannot write the World: {problem}") from None
