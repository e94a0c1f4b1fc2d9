"""Shared CLI plumbing: the --world option and output helpers (errors are printed by ``critmin.cli.main.run``)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from critmin.cli.format import (  # noqa: F401 - the output helpers every command imports from here
    busy,
    console,
    err_console,
    frame_records,
    hint,
    print_csv,
    print_json,
    say,
    show_table,
    show_text,
    sources_frame,
    write_xlsx,
)
from critmin.errors import InputError
from critmin.world import World, load, resolve_world_path

#: The ``--json`` flag of every command that can print JSON instead of a table.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

#: The ``--xlsx FILE`` option of every command that prints a table.
XlsxOpt = Annotated[Path | None, typer.Option("--xlsx", help="Write an Excel workbook (one sheet per table, "
                                                              "plus a sources sheet).")]

#: The ``--csv`` flag of every command that can print CSV instead of a table.
CsvFlag = Annotated[bool, typer.Option("--csv", help="Print CSV.")]

#: The ``--seed N`` option of every command that samples (simulate, backtest, optimize).
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same result).")]

_state: dict[str, Any] = {"world_path": None, "world": None}
F = TypeVar("F", bound=Callable[..., Any])


def set_world_path(path: str | None) -> None:
    """Remember the --world option of the top-level command."""
    _state["world_path"] = path
    _state["world"] = None


def get_world() -> World:
    """The World chosen by --world / $CRITMIN_WORLD / the embedded default (loaded once)."""
    if _state["world"] is None:
        _state["world"] = load(resolve_world_path(_state["world_path"]))
    return _state["world"]


def whole_number(value: str | int) -> int:
    """Typer ``parser=`` for an integer option: written as one (``7_5``, ``2022.5``, ``true`` refused; typer's own
    ``int`` reads ``7_5`` as 75). Use: ``typer.Option(..., parser=whole_number, metavar="N")``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if not re.fullmatch(r"[-+]?[0-9]+", text):
        raise typer.BadParameter(f"not a whole number: {value!r}")
    return int(text)


def finite_number(value: str | float) -> float:
    """Typer ``parser=`` for a float option: a plain finite decimal (``nan``, ``inf``, ``1e400``, ``7_5`` refused;
    typer's own ``float`` takes them). Use: ``typer.Option(..., parser=finite_number, metavar="X")``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip()
        if not re.fullmatch(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", text):
            raise typer.BadParameter(f"not a number: {value!r}")
        number = float(text)
    if not math.isfinite(number):
        raise typer.BadParameter(f"not a finite number: {value!r}")
    return number


#: The CLI flag of a core parameter whose flag is not ``--`` + its name (``store_url`` → ``--db``).
FLAG_OF: dict[str, str] = {"actor": "--as", "store_url": "--db", "path": "--registry", "label": "--rel-to",
                           "amount_type": "--type"}


def flag_of(param: str) -> str:
    """The CLI flag of core parameter ``param``: :data:`FLAG_OF`, else ``--`` + the name with ``-`` for ``_``."""
    return FLAG_OF.get(param, "--" + param.replace("_", "-"))


@contextmanager
def core_flags(*params: str, **named: str) -> Iterator[None]:
    """Core errors name parameters, the CLI names flags: an :class:`InputError` raised inside this block that
    names one of ``params`` (e.g. ``year``) is re-raised naming its flag (:func:`flag_of`: ``--year``), or one
    of ``named`` its given name (``chain="CHAIN"`` for an argument); others pass unchanged.

    Use: ``with core_flags("year", "source"): src = resolve_source(world, material, source)``."""
    try:
        yield
    except InputError as exc:
        if exc.source in named:
            raise InputError(named[exc.source], exc.field, exc.problem) from None
        if exc.source in params:
            raise InputError(flag_of(exc.source), exc.field, exc.problem) from None
        raise


def core_flag_errors(*params: str, **named: str) -> Callable[[F], F]:
    """Decorator form of :func:`core_flags` for a whole command (Typer still reads the command's signature)."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - whatever the command returns
            with core_flags(*params, **named):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return deco


def one_format(**flags: object) -> None:
    """At most one output format: ``one_format(json=as_json, csv=as_csv, xlsx=xlsx)`` raises InputError naming
    the second flag given (``--csv: cannot be combined with --json``); a flag is given when not None/False."""
    chosen = [k for k, v in flags.items() if v not in (None, False)]
    if len(chosen) > 1:
        raise InputError(f"--{chosen[1]}", None, f"cannot be combined with --{chosen[0]}")
