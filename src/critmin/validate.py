"""One set of value rules for every reader and record: finite numbers, ranges, whole numbers, years, no duplicates.

The rules are written once here and used three ways:

* as **pydantic types** for records (registry projects and investments, chains, a World's
  ``datapackage.json``): :data:`FiniteFloat`, :data:`NonNegative`, :data:`Fraction`, :data:`WholeInt`,
  :data:`Year`. A number given as text must be a plain decimal (``"7_5"`` is refused, not read as 75);
  NaN and infinities are refused; a bool is not a number;
* as **column checks** for tables read by pandas (:func:`check_column`, :func:`check_unique`,
  :func:`check_not_empty`), naming file, row and column;
* as **constants** for the SQL checks of full BACI releases (:data:`YEAR_MIN`, :data:`YEAR_MAX`), which
  are too large for row-by-row Python.

Years lie in :data:`YEAR_MIN`–:data:`YEAR_MAX` (1900–2100) unless a table says otherwise.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from critmin.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Years every table and record accepts unless it says otherwise.
YEAR_MIN, YEAR_MAX = 1900, 2100
#: Largest quantity in tonnes a production or trade figure may have (world output of any mineral is far below).
MAX_TONNES = 1e12

#: A number written as text: optional sign, digits with an optional fraction, optional exponent.
NUMBER_TEXT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
#: A whole number written as text.
INTEGER_TEXT = re.compile(r"[-+]?[0-9]+")


def _number(v: Any) -> Any:  # noqa: ANN401 - whatever the file held
    """Refuse bools and numbers-as-text that Python would read loosely ("7_5", " 1e3", "nan")."""
    if isinstance(v, bool):
        raise ValueError(f"not a number: {v!r}")
    if isinstance(v, str):
        if NUMBER_TEXT.fullmatch(v.strip()):
            return float(v)
        if _python_reads(v, float):  # "7_5", "nan", "inf", "1e400" ...
            raise ValueError(f"not a plain decimal number: {v!r}")
    return v  # anything else: pydantic's own message ("Input should be a valid number")


def _python_reads(v: str, kind: type) -> bool:
    try:
        kind(v)
    except (ValueError, OverflowError):
        return False
    return True


def _whole(v: Any) -> Any:  # noqa: ANN401 - whatever the file held
    """Refuse bools, fractions (2022.5) and integers-as-text that Python would read loosely ("7_5")."""
    if isinstance(v, bool):
        raise ValueError(f"not a whole number: {v!r}")
    if isinstance(v, str):
        if INTEGER_TEXT.fullmatch(v.strip()):
            return int(v)
        if _python_reads(v, float):  # "7_5", "2022.5", "nan" ...
            raise ValueError(f"not a whole number: {v!r}")
        return v  # pydantic's own message
    if isinstance(v, float):
        if not math.isfinite(v) or v != int(v):
            raise ValueError(f"not a whole number: {v!r}")
        return int(v)
    return v


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {v!r}")
    return v


#: A finite float (no NaN, no infinity; text only as a plain decimal number).
FiniteFloat = Annotated[float, BeforeValidator(_number), AfterValidator(_finite)]
#: A finite float >= 0.
NonNegative = Annotated[float, BeforeValidator(_number), AfterValidator(_finite), Field(ge=0)]
#: A finite float in [0, 1].
Fraction = Annotated[float, BeforeValidator(_number), AfterValidator(_finite), Field(ge=0, le=1)]
#: An integer that is written as one (2022, "2022"; not 2022.5, "7_5" or true).
WholeInt = Annotated[int, BeforeValidator(_whole)]
#: A year in 1900-2100.
Year = Annotated[int, BeforeValidator(_whole), Field(ge=YEAR_MIN, le=YEAR_MAX)]


def check_number(value: Any, source: str, field: str | None = None, *, low: float | None = None,  # noqa: ANN401
                 high: float | None = None, whole: bool = False) -> float:
    """``value`` as a finite number in ``[low, high]`` (whole if ``whole``), else InputError naming ``source``
    (a file or an option such as ``--si-sr``) and ``field``."""
    try:
        v = _whole(value) if whole else _number(value)
        if isinstance(v, str) or isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"not a {'whole ' if whole else ''}number: {value!r}")
        v = _finite(float(v)) if not whole else v
    except (ValueError, TypeError, OverflowError) as exc:
        raise InputError(source, field, str(exc)) from None
    if (low is not None and v < low) or (high is not None and v > high):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise InputError(source, field, f"{value!r} is outside {lo}..{hi}")
    return v


def check_column(values: pd.Series, source: str, column: str, *, low: float | None = None,
                 high: float | None = None, whole: bool = False, row_offset: int = 2,
                 allow_missing: bool = True) -> None:
    """Check a numeric column of a table read from ``source``: finite, within ``[low, high]``, whole numbers
    if ``whole``; InputError at the first bad row (``row_offset`` turns a 0-based position into a file line)."""
    import numpy as np

    x = np.asarray(values, dtype=float)
    missing = np.isnan(x)
    with np.errstate(invalid="ignore"):
        bad = np.isinf(x) | (missing & (not allow_missing))
        if whole:
            bad |= ~missing & ~np.isinf(x) & (x != np.floor(x))
        if low is not None:
            bad |= x < low
        if high is not None:
            bad |= x > high
    if not bad.any():
        return
    i = int(np.flatnonzero(bad)[0])
    v = float(x[i])
    if np.isnan(v):
        what = "value is missing"
    elif np.isinf(v):
        what = f"not a finite number: {v!r}"
    elif whole and v != np.floor(v):
        what = f"not a whole number: {v!r}"
    else:
        what = f"{v:g} is outside {'-inf' if low is None else f'{low:g}'}..{'inf' if high is None else f'{high:g}'}"
    raise InputError(source, f"row {i + row_offset}, column {column}", what)


def check_year_column(values: pd.Series, source: str, column: str, row_offset: int = 2) -> None:
    """Years: whole numbers in :data:`YEAR_MIN`–:data:`YEAR_MAX`, none missing."""
    check_column(values, source, column, low=YEAR_MIN, high=YEAR_MAX, whole=True, row_offset=row_offset,
                 allow_missing=False)


def check_unique(df: pd.DataFrame, key: list[str], source: str, row_offset: int = 2) -> None:
    """Refuse a table with two rows of the same ``key`` (InputError naming the repeat and the first row)."""
    import numpy as np

    dup = df.duplicated(key, keep="first").to_numpy()
    if not dup.any():
        return
    i = int(np.flatnonzero(dup)[0])
    same = np.ones(len(df), dtype=bool)
    for k in key:
        same &= (df[k] == df[k].iloc[i]).to_numpy()
    first = int(np.flatnonzero(same)[0])
    values = ", ".join(f"{k}={df[k].iloc[i]}" for k in key)
    raise InputError(source, f"row {i + row_offset}", f"duplicate row ({values}; first on row {first + row_offset})")


def check_not_empty(df: pd.DataFrame, source: str) -> None:
    """Refuse a table with a header and no rows."""
    if len(df) == 0:
        raise InputError(source, "line 2", "no data rows (the file has only a header)")


def unique_ids(values: list[str]) -> list[str]:
    """``values`` with repeats removed, first occurrence kept (``USA,USA,JPN`` -> ``USA,JPN``)."""
    return list(dict.fromkeys(values))
