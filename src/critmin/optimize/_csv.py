"""Reading the optimiser's CSV inputs: every problem is an InputError naming the file, the row and the column.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from critmin.errors import InputError, did_you_mean, read_user_text


def read_table(path: str | Path, required: list[str], optional: tuple[str, ...] = (),
               what: str = "rows") -> pd.DataFrame:
    """The CSV at ``path`` as text cells (no type guessing), with its columns checked.

    Raises InputError for a missing or unreadable file, a missing column (naming the nearest column
    present), ragged rows and a file without data rows. The frame gets a ``_row`` column: the row number
    of each record as a spreadsheet shows it (header = row 1).
    """
    import csv
    import io

    src = str(path)
    text = read_user_text(path)
    reader = csv.reader(io.StringIO(text))
    rows: list[tuple[int, list[str]]] = []
    for r in reader:
        if any(c.strip() for c in r):
            rows.append((reader.line_num, r))
    if not rows:
        raise InputError(src, None, "empty file: expected a header row with " + ", ".join(required))
    header = [h.strip().lstrip("\ufeff") for h in rows[0][1]]
    for col in required:
        if col not in header:
            raise InputError(src, f"column {col}", f"missing column{did_you_mean(col, header)}")
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise InputError(src, f"column {dup[0]}", "column appears twice in the header")
    body = []
    for line, r in rows[1:]:
        if len(r) != len(header):
            raise InputError(src, f"row {line}", f"{len(r)} fields, header has {len(header)}")
        body.append([c.strip() for c in r] + [line])
    if not body:
        raise InputError(src, None, f"no {what}: the file has a header and no data rows")
    df = pd.DataFrame(body, columns=[*header, "_row"])
    keep = [c for c in header if c in required or c in optional]
    return df[[*keep, "_row"]]


def number(src: str, row: int, col: str, text: str, *, low: float | None = 0.0, high: float | None = None,
           blank: float | None = None, integer: bool = False) -> float:
    """A cell as a finite number within ``[low, high]``; ``blank`` is the value of an empty cell (None: error)."""
    where = f"row {row}, column {col}"
    if text == "":
        if blank is not None:
            return blank
        raise InputError(src, where, "empty: a number is required")
    if text.lower() in ("inf", "infinity") and blank is not None and math.isinf(blank):
        return math.inf
    try:
        v = float(text)
    except ValueError:
        raise InputError(src, where, f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise InputError(src, where, f"{text!r} is not a finite number")
    if integer and not float(v).is_integer():
        raise InputError(src, where, f"{text!r} is not a whole number")
    if low is not None and v < low:
        raise InputError(src, where, f"{v:g} is below {low:g}" + (" (costs and tonnes cannot be negative)"
                                                                   if low == 0 else ""))
    if high is not None and v > high:
        raise InputError(src, where, f"{v:g} is above {high:g}")
    return v


def duplicates(df: pd.DataFrame, keys: list[str], src: str) -> None:
    """InputError on the first row whose ``keys`` repeat an earlier row's."""
    dup = df.duplicated(keys, keep=False)
    if dup.any():
        first = df[dup].iloc[0]
        same = df[dup & (df[keys] == first[keys]).all(axis=1)]
        a, b = int(same["_row"].iloc[0]), int(same["_row"].iloc[1])
        key = ", ".join(f"{k}={first[k]}" for k in keys)
        raise InputError(src, f"row {b}, column {keys[-1]}", f"duplicate of row {a} ({key})")


def records(df: pd.DataFrame) -> list[dict]:
    """Rows of ``df`` as plain dicts for JSON: numpy scalars as Python numbers, NaN/NA as None."""
    out = []
    for row in df.astype(object).where(df.notna(), None).to_dict("records"):
        out.append({str(k): (v.item() if hasattr(v, "item") else v) for k, v in row.items()})
    return out
