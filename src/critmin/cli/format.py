"""The one formatting layer of the CLI: terminal tables, JSON, CSV, Excel and progress.

Tables: percentages as ``%`` (columns whose name says *share*, *nir* or *reliance*), thousands
separators, four significant digits without exponents (floating-point residue shows as ``0``), units
in headers (:data:`UNITS`), ``–`` for missing values and ``yes``/``no`` for booleans. On a terminal a
table fits the window and folds long cells; piped or redirected, it is printed at its natural width
(nothing wraps, nothing is cut), with its title on a line of its own.

JSON goes through orjson (NaN and missing → ``null``), CSV through pandas, Excel through openpyxl
(:func:`write_xlsx`: one sheet per table plus a ``sources`` sheet, written atomically).

pandas and orjson are imported where used: ``critmin --help`` loads neither.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleDimensions

if TYPE_CHECKING:
    import pandas as pd

    from critmin.world import World

#: Width of the virtual console used when stdout is not a terminal (tables print at natural width).
PIPE_WIDTH = 100_000

#: Units shown in headers, by column name (quantities are t of the stated content).
UNITS: dict[str, str] = {
    "price": "kUSD/t",
    "cf": "kg Cu-eq/kg",
    "total_imports": "t",
    "numerator": "t",
    "domestic_production": "t",
    "imports_kusd": "kUSD",
    "value_kusd": "kUSD",
    "exports_kusd": "kUSD",
    "capex_musd": "US$ m",
    "capacity_tpy": "t/yr",
    "hhi_10k": "0–10,000",
    "amount_musd": "US$ m",
}

#: Columns shown as percentages although their name does not say "share".
PERCENT_COLUMNS = frozenset({"nir", "reliance", "ir", "eol_rir", "partner_share", "unattributed"})

#: Integer columns printed without thousands separators (years, codes).
_PLAIN_INT = ("year", "seed", "hs6", "id", "rank")


class _OutConsole(Console):
    """A Console that prints at natural width when its output is not a terminal (pipes, files, tests)."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = Console.size.fget(self)  # type: ignore[attr-defined]
        return dims if self.is_terminal else ConsoleDimensions(PIPE_WIDTH, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console: Console = _OutConsole()
err_console: Console = Console(stderr=True)


def is_pipe() -> bool:
    """True when stdout is not a terminal (piped, redirected or captured)."""
    return not console.is_terminal


def say(message: str) -> None:
    """One status line on stdout (``wrote PATH  checksum …``), never wrapped, so that scripts can parse it."""
    console.print(message, soft_wrap=True, markup=False, highlight=False)


def hint(message: str) -> None:
    """One ``hint: …`` line on stderr (aliases read as canonical ids, options that give more)."""
    err_console.print(f"hint: {message}", soft_wrap=True, markup=False, highlight=False)


@contextmanager
def busy(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow runs, only when stderr is a terminal."""
    if not err_console.is_terminal:
        yield
        return
    with err_console.status(message):
        yield


# ---------------------------------------------------------------------------------------------- cells


def fmt_num(v: float, sig: int = 4) -> str:
    """``v`` with thousands separators and ``sig`` significant digits, never an exponent; residue → ``0``."""
    if v != v or math.isinf(v):
        return "–" if v != v else ("∞" if v > 0 else "-∞")
    a = abs(v)
    if a < 1e-9:
        return "0"
    e = math.floor(math.log10(a))
    if e >= sig - 1:
        return f"{v:,.0f}"
    s = f"{v:,.{sig - 1 - e}f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def fmt_pct(v: float) -> str:
    """A 0–1 fraction as a percentage (one decimal; ``<0.1%`` for tiny non-zero values)."""
    if v != v:
        return "–"
    if abs(v) < 1e-9:
        return "0%"
    if 0 < abs(v) < 0.0005:
        return "<0.1%" if v > 0 else "-<0.1%"
    return f"{v * 100:,.1f}%"


def is_missing(v: Any) -> bool:
    """None, NaN, pandas NA/NaT."""
    if v is None:
        return True
    if isinstance(v, float):
        return v != v
    pd = sys.modules.get("pandas")
    return pd is not None and (v is pd.NA or v is pd.NaT)


def column_kind(name: str, values: pd.Series | None = None) -> str:
    """How a column prints: ``pct``, ``int``, ``plain`` (years, codes), ``num``, ``bool`` or ``text``."""
    n = str(name).lower()
    if values is not None:
        import pandas as pd

        if pd.api.types.is_bool_dtype(values):
            return "bool"
        numeric = pd.api.types.is_numeric_dtype(values)
    else:
        numeric = True
    if numeric and ("share" in n or n in PERCENT_COLUMNS):
        return "pct"
    if numeric and (n in _PLAIN_INT or n.endswith("_year") or n.startswith("year")):
        return "plain"
    if values is not None and numeric:
        import pandas as pd

        return "int" if pd.api.types.is_integer_dtype(values) else "num"
    return "text" if values is not None else "num"


def fmt_cell(v: Any, kind: str = "text") -> str:
    """One cell as the terminal shows it."""
    if is_missing(v):
        return "–"
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "yes" if v else "no"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    if kind == "text" or isinstance(v, str):
        return str(v)
    if kind == "plain":
        return str(int(v)) if float(v).is_integer() else str(v)
    if kind == "pct":
        return fmt_pct(float(v))
    if kind == "int":
        return f"{int(v):,}"
    return fmt_num(float(v))


def header(name: str, kind: str, units: Mapping[str, str] | None = None) -> str:
    """Column header with its unit: ``price (kUSD/t)``, ``china_share (%)``."""
    unit = (units or {}).get(name) or UNITS.get(name)
    if kind == "pct":
        unit = "%"
    return f"{name} ({unit})" if unit else str(name)


# ---------------------------------------------------------------------------------------------- tables


def show_table(
    df: pd.DataFrame,
    title: str | None = None,
    *,
    max_rows: int | None = 60,
    more: str = "--json or --csv",
    units: Mapping[str, str] | None = None,
    kinds: Mapping[str, str] | None = None,
    caption: str | None = None,
) -> None:
    """Print ``df`` as a table (first ``max_rows`` rows, ``None`` = all) with a hint naming ``more``
    (the options that give every row) when rows are left out."""
    from rich.table import Table
    from rich.text import Text

    pipe = is_pipe()
    shown = df if max_rows is None else df.head(max_rows)
    t = Table(title=None if pipe else title, header_style="bold", title_justify="left")
    kind_of = {}
    for c in df.columns:
        k = (kinds or {}).get(c) or column_kind(str(c), df[c])
        kind_of[c] = k
        t.add_column(header(str(c), k, units), justify="left" if k in ("text", "bool", "plain") else "right",
                     overflow="fold")
    cols = [shown[c].tolist() for c in df.columns]
    ks = [kind_of[c] for c in df.columns]
    for row in zip(*cols, strict=True):
        t.add_row(*(Text(fmt_cell(v, k)) for v, k in zip(row, ks, strict=True)))
    notes = []
    if caption:
        notes.append(caption)
    if max_rows is not None and len(df) > max_rows:
        notes.append(f"{len(df) - max_rows:,} more rows (all of them: {more})")
    if pipe:
        if title:
            console.print(title, soft_wrap=True, markup=False, highlight=False)
        console.print(t)
        for n in notes:
            console.print(n, soft_wrap=True, markup=False, highlight=False)
    else:
        if notes:
            t.caption = "\n".join(notes)
        console.print(t)


def show_text(text: str) -> None:
    """A line of plain text on stdout (never wrapped when piped)."""
    console.print(text, soft_wrap=is_pipe(), markup=False, highlight=False)


# ---------------------------------------------------------------------------------------------- JSON / CSV


def _default(obj: Any) -> Any:
    """orjson fallback: pandas NA/NaT → null, numpy scalars and timestamps → plain values."""
    if is_missing(obj):
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """``obj`` as indented JSON bytes (orjson; NaN/inf → null, numpy values and arrays included)."""
    import orjson

    opts = orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
    return orjson.dumps(obj, default=_default, option=opts)


def print_json(obj: Any) -> None:
    """Write ``obj`` as JSON to stdout (a DataFrame as a list of records)."""
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(obj, pd.DataFrame):
        obj = frame_records(obj)
    data = dumps(obj)
    buf = getattr(sys.stdout, "buffer", None)
    if buf is not None:
        sys.stdout.flush()
        buf.write(data)
        buf.flush()
    else:
        sys.stdout.write(data.decode("utf-8"))


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """DataFrame rows as JSON-ready dicts (NaN and NA → None), built column by column (no per-cell encoder)."""
    import pandas as pd

    names = [str(c) for c in df.columns]
    cols = []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_float_dtype(s) and not isinstance(s.dtype, pd.api.extensions.ExtensionDtype):
            v = s.to_numpy()
            lst = s.tolist()
            if (v != v).any():
                lst = [None if x != x else x for x in lst]
        elif s.hasnans:
            lst = s.astype(object).where(s.notna(), None).tolist()
        else:
            lst = s.tolist()
        cols.append(lst)
    return list(map(dict, map(zip, repeat(names), zip(*cols, strict=True))))  # C loops: no per-row Python frame


def print_csv(df: pd.DataFrame) -> None:
    """``df`` as CSV on stdout (pandas; ``\\n`` line ends)."""
    df.to_csv(sys.stdout, index=False, lineterminator="\n")


# ---------------------------------------------------------------------------------------------- Excel


def sources_frame(world: World | None, ids: Iterable[str] = (), tables: Iterable[str] = (),
                  extra: Iterable[Mapping[str, Any]] = ()) -> pd.DataFrame:
    """The ``sources`` sheet: ``source, title, licence, year, publisher`` of the World's datapackage
    sources named in ``ids`` or cited by the World tables in ``tables``, then the rows of ``extra``."""
    import pandas as pd

    rows: dict[str, dict[str, Any]] = {}
    if world is not None:
        dp = world.datapackage or {}
        by_name = {s.get("name"): s for s in dp.get("sources", [])}
        wanted = [str(i) for i in ids if i is not None and str(i) == str(i)]
        for r in dp.get("resources", []):
            if r.get("name") in set(tables):
                wanted += [s.get("name") for s in r.get("sources", [])]
        for name in wanted:
            if name in rows:
                continue
            s = by_name.get(name, {})
            rows[name] = {"source": name, "title": s.get("title"), "licence": s.get("license"),
                          "year": s.get("year"), "publisher": s.get("publisher")}
    for e in extra:
        key = str(e.get("source"))
        rows.setdefault(key, {"source": key, "title": e.get("title"), "licence": e.get("licence"),
                              "year": e.get("year"), "publisher": e.get("publisher")})
    return pd.DataFrame(list(rows.values()), columns=["source", "title", "licence", "year", "publisher"])


def _sheet_name(name: str, taken: set[str]) -> str:
    """An Excel sheet name (≤ 31 characters, no ``[]:*?/\\``), unique in the workbook."""
    clean = "".join("_" if ch in "[]:*?/\\" else ch for ch in str(name))[:31] or "sheet"
    out, k = clean, 2
    while out.lower() in taken:
        out = f"{clean[:28]}_{k}"
        k += 1
    taken.add(out.lower())
    return out


def write_xlsx(path: str | Path, sheets: Mapping[str, pd.DataFrame], sources: pd.DataFrame | None = None) -> Path:
    """Write one sheet per table (plus ``sources`` when given) to ``path`` atomically, with openpyxl.

    Headers are frozen and column widths follow the longest cell (capped). A suffix other than
    ``.xlsx`` is refused (InputError naming ``--xlsx``).
    """
    import pandas as pd

    from critmin.atomic import atomic_path
    from critmin.errors import InputError

    p = Path(path)
    if p.suffix.lower() != ".xlsx":
        raise InputError("--xlsx", str(p), "the workbook must end in .xlsx")
    all_sheets = dict(sheets)
    if sources is not None:
        all_sheets["sources"] = sources
    taken: set[str] = set()
    with atomic_path(p) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for name, df in all_sheets.items():
                sheet = _sheet_name(name, taken)
                _excel_ready(df).to_excel(xw, sheet_name=sheet, index=False)
                ws = xw.sheets[sheet]
                ws.freeze_panes = "A2"
                for col in ws.columns:  # readable widths: the longest cell, capped
                    width = max((len(str(c.value)) for c in col if c.value is not None), default=8)
                    ws.column_dimensions[col[0].column_letter].width = min(max(width, 8) + 2, 60)
    return p


def _excel_ready(df: pd.DataFrame) -> pd.DataFrame:
    """Lists and dicts (not Excel values) as text; everything else as it is."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(lambda v: "; ".join(map(str, v)) if isinstance(v, list | tuple)
                                else (str(v) if isinstance(v, dict) else v))
    return out
