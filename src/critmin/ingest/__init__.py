"""Readers of the real public release formats, each returning tidy tables.

One module per publisher: :mod:`usgs` (MCS 2025 world data and salient
statistics), :mod:`wmd` (World Mining Data), :mod:`iea` (Critical Minerals Data
Explorer 2025), :mod:`baci` (CEPII BACI), :mod:`wgi` (World Bank governance),
:mod:`reference` (countries, blocs, materials, HS codes). Every reader checks
its input and raises :class:`critmin.errors.InputError` naming file, row/field
and problem.
"""
