"""Checked reading of raw CSV files: one-line errors naming file, row and field."""

from __future__ import annotations

import csv
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from critmin.errors import InputError


def read_csv_checked(
    path: Path,
    required: Iterable[str],
    encoding: str = "utf-8-sig",
    dtype: dict | type | None = str,
    fallback_encoding: str | None = None,
    **kwargs,
) -> pd.DataFrame:
    """Read a CSV file, checking it exists, parses and has the ``required`` columns.

    A file that is not valid ``encoding`` text is read again as ``fallback_encoding`` when one is
    given (e.g. ``"latin-1"`` for releases published in either encoding).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), None, "file not found")
    try:
        df = pd.read_csv(path, encoding=encoding, dtype=dtype, keep_default_na=False, **kwargs)
    except UnicodeDecodeError as exc:
        if fallback_encoding is None:
            raise InputError(str(path), f"byte {exc.start}", f"not valid {encoding} text") from None
        return read_csv_checked(path, required, fallback_encoding, dtype, None, **kwargs)
    except (EOFError, zlib.error, OSError) as exc:
        raise InputError(str(path), None, f"cannot read (truncated or corrupt file?): {exc}") from None
    except pd.errors.EmptyDataError:  # a ValueError: must come before the generic handler
        raise InputError(str(path), "line 1", "file is empty (no header)") from None
    except (pd.errors.ParserError, csv.Error, ValueError) as exc:
        msg = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        msg = msg.removeprefix("Error tokenizing data. ")
        raise InputError(str(path), _parser_line(msg), f"malformed CSV: {msg}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(str(path), f"column {missing[0]}", f"missing column (have: {', '.join(df.columns)})")
    return df


def _parser_line(msg: str) -> str | None:
    """The file line a pandas parser error points at ("line N" is 1-based, "row N" 0-based)."""
    m = re.search(r"\bline (\d+)", msg)
    if m:
        return f"line {m.group(1)}"
    m = re.search(r"\brow (\d+)", msg)
    return f"line {int(m.group(1)) + 1}" if m else None


def to_number(series: pd.Series, path: Path, column: str, allow_empty: bool = True, row_offset: int = 2) -> pd.Series:
    """Parse a text column to float ('' and NA-like tokens -> NaN); errors name the row.

    Thousands separators are removed; infinities ("inf", "1e400") are refused. ``row_offset`` converts
    the 0-based index to the file's line number (header on line 1).
    """
    s = series.astype(str).str.strip().str.replace(",", "", regex=False)
    na_tokens = {"", "NA", "na", "N/A", "nan", "NaN", "W", "—", "-", "--", ".."}
    is_na = s.isin(na_tokens)
    out = pd.to_numeric(s.where(~is_na, None), errors="coerce")
    bad = out.isna() & ~is_na
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(str(path), f"row {i + row_offset}, column {column}", f"not a number: {s.iloc[i]!r}")
    inf = np.isinf(out.to_numpy(dtype=float))
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise InputError(str(path), f"row {i + row_offset}, column {column}", f"not a finite number: {s.iloc[i]!r}")
    if not allow_empty and is_na.any():
        i = int(np.flatnonzero(is_na.to_numpy())[0])
        raise InputError(str(path), f"row {i + row_offset}, column {column}", "value is missing")
    return out.astype(float)


def check_non_negative(values: pd.Series, path: Path, column: str, row_offset: int = 2) -> None:
    """Raise InputError at the first negative value of ``values``."""
    neg = values.to_numpy(dtype=float) < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise InputError(
            str(path), f"row {i + row_offset}, column {column}", f"negative quantity {float(values.iloc[i])!r}"
        )
