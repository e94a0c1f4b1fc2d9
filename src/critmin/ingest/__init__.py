"""Readers of the real public release formats, each returning tidy tables.

One module per publisher: :mod:`usgs` (MCS 2025 world data and salient
statistics), :mod:`wmd` (World Mining Data), :mod:`iea` (Critical Minerals Data
Explorer 2025), :mod:`baci` (CEPII BACI), :mod:`wgi` (World Bank governance),
:mod:`reference` (countries, blocs, materials, HS codes). Every reader checks
its input and raises :class:`critmin.errors.InputError` naming file, row/field
and problem.
"""

from pathlib import Path

from critmin.errors import InputError

#: The editable mapping tables shipped with critmin (blocs, materials, BACI code overrides, ...).
MAPPINGS = Path(__file__).parent / "mappings"


def default_raw_dir() -> Path:
    """The repository's ``data/raw`` (next to ``src/``), where the raw public files are kept."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        cand = parent / "data" / "raw"
        if (cand / "SOURCES.md").is_file():
            return cand
    raise InputError("--from", None, "no raw data folder found; pass --from RAW (a copy of data/raw)")
