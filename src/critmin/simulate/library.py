"""The scenario library shipped with critmin (``src/critmin/scenarios/*.yaml``)."""

from __future__ import annotations

from pathlib import Path

from critmin.simulate.scenario import Scenario, load_scenario

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "scenarios"


def library_names() -> list[str]:
    """Names of the library scenarios (file stems), sorted."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.yaml"))


def library_path(name: str) -> Path:
    """The YAML file of library scenario ``name``."""
    return LIBRARY_DIR / f"{name}.yaml"


def library() -> list[Scenario]:
    """All library scenarios, validated (structure only; names are checked against a World at run time)."""
    return [load_scenario(library_path(n)) for n in library_names()]
