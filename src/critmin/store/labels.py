"""Releasability labels: originator, releasable-to set and public flag, and the one read rule.

critmin marks what its users label; it does not classify. A label is
``(originator, rel_to, public)`` with ``originator`` and every member of ``rel_to`` among
:data:`NATIONS`; the originator is always in ``rel_to`` (:meth:`Label.parse` adds it: an originator
always reads its own objects). An actor of nationality ``N`` may
read an object when the label is public or ``N`` is in ``rel_to``
(:meth:`Label.readable_by`; the same rule as SQL is :func:`critmin.store.visible_to`).

A result derived from labelled inputs takes the intersection of their labels
(:func:`derive`); widening a label (a superset of ``rel_to``, or making it public) is a
*release* (:meth:`critmin.store.Store.release`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from critmin.errors import InputError

#: Nationalities an account and a label may name (banner order: USA first, as on US markings).
NATIONS: tuple[str, ...] = ("USA", "JPN")
#: Roles, weakest first: each role may do what the ones before it may.
ROLES: tuple[str, ...] = ("viewer", "analyst", "releaser", "admin")


def _order(codes: Iterable[str]) -> tuple[str, ...]:
    s = set(codes)
    return tuple(n for n in NATIONS if n in s)


@dataclass(frozen=True)
class Label:
    """A releasability label. Build one with :meth:`parse` to get field-named errors."""

    originator: str
    rel_to: tuple[str, ...]
    public: bool = False

    @classmethod
    def parse(cls, raw: Any, source: str = "label") -> Label:
        """A Label from a mapping ``{"originator", "rel_to", "public"}``; InputError naming the field.

        ``rel_to`` defaults to the originator alone; the originator is added to it when left out.
        """
        if isinstance(raw, Label):
            return raw
        if not isinstance(raw, dict):
            raise InputError(source, None, "must be an object with originator, rel_to and public")
        unknown = sorted(set(raw) - {"originator", "rel_to", "public"})
        if unknown:
            raise InputError(source, unknown[0], "unknown field; use originator, rel_to, public")
        orig = raw.get("originator")
        if orig not in NATIONS:
            raise InputError(source, "originator", f"must be one of {', '.join(NATIONS)}")
        rel = raw.get("rel_to", [orig])
        if not isinstance(rel, list) or not all(isinstance(c, str) for c in rel):
            raise InputError(source, "rel_to", "must be a list of nationality codes")
        bad = [c for c in rel if c not in NATIONS]
        if bad:
            raise InputError(source, "rel_to", f"unknown nationality {bad[0]!r}; use {', '.join(NATIONS)}")
        pub = raw.get("public", False)
        if not isinstance(pub, bool):
            raise InputError(source, "public", "must be true or false")
        return cls(orig, _order([orig, *rel]), pub)

    def readable_by(self, nationality: str | None) -> bool:
        """The read rule: public, or the reader's nationality is in ``rel_to``."""
        return self.public or (nationality is not None and nationality in self.rel_to)

    def covers(self, other: Label) -> bool:
        """True when this label lets read everyone ``other`` lets read (a release may only widen)."""
        return (self.public or not other.public) and set(other.rel_to) <= set(self.rel_to)

    @property
    def marking(self) -> str:
        """The banner marking: ``PUBLIC``, ``USA ONLY``, ``REL TO USA, JPN``."""
        if self.public:
            return "PUBLIC"
        if self.rel_to == (self.originator,):
            return f"{self.originator} ONLY"
        return "REL TO " + ", ".join(self.rel_to)

    def as_dict(self) -> dict[str, Any]:
        """The label as JSON: ``{"originator", "rel_to", "public", "marking"}``."""
        return {"originator": self.originator, "rel_to": list(self.rel_to), "public": self.public,
                "marking": self.marking}

    @property
    def rel_to_column(self) -> str:
        """``rel_to`` as stored: ``",USA,JPN,"`` (delimited so that a LIKE ``%,USA,%`` test is exact)."""
        return "," + ",".join(self.rel_to) + ","

    @classmethod
    def from_columns(cls, originator: str, rel_to: str, public: bool) -> Label:
        """The label of a stored row."""
        return cls(originator, _order(c for c in rel_to.split(",") if c), bool(public))


def derive(labels: Iterable[Label], originator: str) -> Label:
    """The label of a result derived from ``labels``: readers are the intersection of the inputs' readers.

    A public input restricts nothing; the result is public only when every input is. ``originator`` (the
    deriving actor's nationality) must be among the remaining readers: one cannot derive from what one
    cannot read.
    """
    labels = list(labels)
    if labels and all(lb.public for lb in labels):
        return Label(originator, NATIONS, True)
    readers = set(NATIONS)
    for lb in labels:
        if not lb.public:
            readers &= set(lb.rel_to)
    if originator not in readers:
        raise InputError("inputs", None, f"{originator} may not read every input")
    return Label(originator, _order(readers), False)
