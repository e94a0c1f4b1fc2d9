"""Shared CLI plumbing: the --world option and output helpers (errors are printed by ``critmin.cli.main.run``)."""

from __future__ import annotations

import json
import math
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from critmin.world import World, load, resolve_world_path

#: The ``--json`` flag of every command that can print JSON instead of a table.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]

if TYPE_CHECKING:  # imported where used: commands that never touch a DataFrame start faster
    import pandas as pd

console = Console()
err_console = Console(stderr=True)


def say(message: str) -> None:
    """One status line on stdout (``wrote PATH  checksum …``), never wrapped, so that scripts can parse it."""
    console.print(message, soft_wrap=True, markup=False, highlight=False)


_state: dict[str, Any] = {"world_path": None, "world": None}


def set_world_path(path: str | None) -> None:
    """Remember the --world option of the top-level command."""
    _state["world_path"] = path
    _state["world"] = None


def get_world() -> World:
    """The World chosen by --world / $CRITMIN_WORLD / the embedded default (loaded once)."""
    if _state["world"] is None:
        _state["world"] = load(resolve_world_path(_state["world_path"]))
    return _state["world"]


def to_jsonable(obj: Any) -> Any:
    """Convert numpy/pandas scalars and NaN to plain JSON values.

    numpy and pandas are looked up in ``sys.modules``, not imported: none of their objects can exist
    before they are loaded, and commands that never load them (``data info --json``) start faster.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    np = sys.modules.get("numpy")
    if isinstance(obj, float) or (np is not None and isinstance(obj, np.floating)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if np is not None:
        if isinstance(obj, np.integer):
            return int(obj)
        if isinstance(obj, np.bool_):
            return bool(obj)
    pd = sys.modules.get("pandas")
    if pd is not None and (obj is pd.NA or obj is pd.NaT):
        return None
    return obj


def print_json(obj: Any) -> None:
    """Write ``obj`` as JSON to stdout (no Rich markup, no wrapping)."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts."""
    return [to_jsonable(r) for r in df.to_dict(orient="records")]


def rich_table(df: pd.DataFrame, title: str | None = None, max_rows: int = 60, floatfmt: str = "{:,.4g}") -> Table:
    """A Rich table of the first ``max_rows`` rows of ``df``."""
    import pandas as pd

    t = Table(title=title, show_lines=False, header_style="bold")
    for c in df.columns:
        t.add_column(str(c), justify="right" if pd.api.types.is_numeric_dtype(df[c]) else "left")
    for row in df.head(max_rows).itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("" if v != v else floatfmt.format(v))
            else:
                cells.append("" if v is None else str(v))
        t.add_row(*cells)
    if len(df) > max_rows:
        t.caption = f"{len(df) - max_rows} more rows (use --json or --csv for all)"
    return t


