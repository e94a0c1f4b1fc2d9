#!/usr/bin/env python
"""Rebuild the registry's Clean Investment Monitor records (deterministic).

Reads ``data/raw/investment/cim_manufacturing_facilities_2024Q4.csv`` and the
curated ``projects_curated.yaml`` (for ``same_as_cim`` links) and writes
``src/critmin/registry/data/projects_cim.json`` and ``investments_cim.json``.
The output depends only on the inputs: run it twice, get the same bytes.

Usage: python scripts/build_registry.py [--cim CSV] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from critmin.atomic import atomic_write_text
    from critmin.errors import InputError
    from critmin.registry.cim import CIM_RELEASE, cim_records, read_cim
    from critmin.registry.core import EMBEDDED_REGISTRY, read_records_file

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cim", default=str(ROOT / "data/raw/investment/cim_manufacturing_facilities_2024Q4.csv"))
    ap.add_argument("--out", default=str(EMBEDDED_REGISTRY))
    args = ap.parse_args(argv)
    try:
        curated = read_records_file(EMBEDDED_REGISTRY / "projects_curated.yaml", "projects")
        replaced = {cim: p["id"] for p in curated for cim in p.get("same_as_cim", [])}
        projects, investments = cim_records(read_cim(args.cim), replaced)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    meta = {"source": CIM_RELEASE, "generated_by": "scripts/build_registry.py", "input": Path(args.cim).name}
    atomic_write_text(out / "projects_cim.json",
                 json.dumps({**meta, "projects": projects}, indent=1, ensure_ascii=False, sort_keys=False) + "\n")
    atomic_write_text(out / "investments_cim.json",
                 json.dumps({**meta, "investments": investments}, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(projects)} projects and {len(investments)} investments to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
