"""Errors that carry enough context for a one-line user message.

Every user-facing failure in critmin is an :class:`InputError` naming the file
(or argument), the row/field and the problem. The CLI prints ``str(err)`` on one
line and exits with status 2; the web API answers 4xx with the same text.
"""

from __future__ import annotations

import os
from pathlib import Path


class InputError(Exception):
    """Bad input: a file, an argument or a record that cannot be used.

    ``source`` is the file path or argument name, ``field`` the row/column/field
    path inside it (may be empty) and ``problem`` a short human sentence.
    """

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = _clip(str(source))
        self.field = _clip(field or "")
        self.problem = _clip(" ".join(str(problem).split()))
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f"{self.source}: {self.field}: " if self.field else f"{self.source}: "
        return f"{where}{self.problem}"

    def __str__(self) -> str:  # one line, always
        return self.message


#: Longest part (source, field, problem) of an error message; longer text (a hostile file's 200,000-character
#: field quoted back) is cut in the middle so that the one line stays readable.
MAX_PART = 400


def _clip(text: str) -> str:
    if len(text) <= MAX_PART:
        return text
    keep = MAX_PART // 2
    return f"{text[:keep]}…[{len(text) - 2 * keep:,} characters]…{text[-keep:]}"


def nearest(name: str, choices: list[str] | set[str], n: int = 3) -> list[str]:
    """Return up to ``n`` valid names close to ``name`` (for 'did you mean' hints)."""
    import difflib

    pool = sorted(set(choices))
    hits = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    if not hits:
        low = name.lower()
        hits = [c for c in pool if low in c.lower() or c.lower() in low][:n]
    return hits


def did_you_mean(name: str, choices: list[str] | set[str], n: int = 3) -> str:
    """``"; did you mean a, b?"`` with the valid names nearest ``name``, or ``""`` if none is close."""
    hint = nearest(name, choices, n)
    return f"; did you mean {', '.join(hint)}?" if hint else ""


def read_user_text(path: str | os.PathLike[str], encoding: str = "utf-8") -> str:
    """The whole text of a file the user gave; InputError if it is missing, unreadable or not ``encoding``."""
    p = Path(path)
    try:
        return p.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise InputError(str(p), f"byte {exc.start}", "not a UTF-8 text file") from None
    except IsADirectoryError:
        raise InputError(str(p), None, "is a folder, not a file") from None
    except FileNotFoundError:
        raise InputError(str(p), None, "file not found") from None
    except OSError as exc:
        raise InputError(str(p), None, f"cannot read: {exc.strerror or exc}") from None


def yaml_input_error(path: str | os.PathLike[str], exc: Exception) -> InputError:
    """An InputError for a YAML parse error in ``path``, naming its line where the parser knows it."""
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}" if mark else None
    return InputError(str(path), where, f"invalid YAML: {getattr(exc, 'problem', None) or exc}")
