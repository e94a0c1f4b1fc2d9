"""Clean Investment Monitor (Rhodium Group / MIT CEEPR, CC BY 4.0) → registry records.

:func:`cim_records` turns the release's manufacturing-facilities CSV into
project records (battery, critical-mineral and magnet plants) and investment
records (those plants plus every facility of a Japanese-owned company), the
embedded registry's ``projects_cim.json`` and ``investments_cim.json``
(written by ``scripts/build_registry.py``).

Rules (documented in docs/registry.md, tested):

* stage and material come from ``Subcategory`` (first listed item) through
  :data:`SUBCATEGORY_MAP`; a few rare-earth and zinc plants are mapped by
  facility id in :data:`FACILITY_OVERRIDES` (a judgement from the facility's
  known product, noted on the record);
* status: Announced → announced, Under Construction → construction,
  Operating → operating, Canceled prior to operation → cancelled,
  Retired → retired; investment status: announced / committed / disbursed /
  cancelled / disbursed (a judgement: money is committed once building starts
  and spent once a plant has operated; see ``investment_statuses`` in vocab.yaml);
* Japanese ownership: the company name matches a pattern in
  ``japanese_companies.csv`` (case-insensitive, whole words) — see
  :func:`japanese_parent`. The CIM has no investor-country field.
* capex is CIM's *estimated total facility capex* in millions of 2023 USD; CIM
  gives no capacities, so none are set. Investment records carry amount type
  ``estimate`` (:data:`AMOUNT_TYPE`) whatever the facility's status, so they are
  never added to curated loans, offers or announced plans for the same plant.
"""

from __future__ import annotations

import csv
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from critmin.errors import InputError

CIM_RELEASE = "Clean Investment Monitor 2024_Q4.20250218.0 (Rhodium Group & MIT CEEPR, CC BY 4.0)"
JAPANESE_COMPANIES = Path(__file__).parent / "data" / "japanese_companies.csv"

STATUS_MAP = {
    "Announced": ("announced", "announced"),
    "Under Construction": ("construction", "committed"),
    "Operating": ("operating", "disbursed"),
    "Canceled prior to operation": ("cancelled", "cancelled"),
    "Retired": ("retired", "disbursed"),
}

#: First-listed CIM subcategory → (chain, stage, material).
SUBCATEGORY_MAP: dict[str, tuple[str, str, str]] = {
    "EAM": ("batteries", "electrode-materials", "battery-materials"),
    "AAM": ("batteries", "anode", "graphite"),
    "Cells": ("batteries", "cell", "battery-cells"),
    "Modules": ("batteries", "module", "battery-modules"),
    "Lithium Carbonate": ("batteries", "refining", "lithium"),
    "Lithium Hydroxide": ("batteries", "refining", "lithium"),
    "Lithium": ("batteries", "refining", "lithium"),
    "Graphite": ("batteries", "refining", "graphite"),
    "Nickel": ("batteries", "refining", "nickel"),
    "Cobalt": ("batteries", "refining", "cobalt"),
    "Cobalt Sulfate": ("batteries", "refining", "cobalt"),
    "Manganese Sulphate": ("batteries", "refining", "manganese"),
    "Rare earths": ("rare-earth-magnets", "separation", "rare-earths"),
    "Rare-earth metals": ("rare-earth-magnets", "metal", "rare-earths"),
    "Rare-earth oxides": ("rare-earth-magnets", "separation", "rare-earths"),
    "Zinc": ("base-metals", "mining", "zinc"),
}

#: Facility-specific mapping (judgement from the facility's product; noted on the record).
FACILITY_OVERRIDES: dict[str, tuple[str, str, str, str]] = {
    "M.CM.MPMaterials_TX_0": ("rare-earth-magnets", "magnet", "ndfeb", "Fort Worth magnet plant"),
    "M.CM.USARare_OK_0": ("rare-earth-magnets", "magnet", "ndfeb", "Stillwater magnet plant"),
    "M.CM.ReElement_IN_0": ("rare-earth-magnets", "refining", "rare-earths", "RE and lithium refining"),
    "M.CM.Ucore_LA_0": ("rare-earth-magnets", "separation", "rare-earths", "RapidSX separation plant"),
    "M.CM.AtlanticStrategic_VA_0": ("rare-earth-magnets", "mining", "rare-earths", "heavy mineral sands restart"),
    "M.CM.Titan_NY_0": ("base-metals", "mining", "zinc", "zinc mine restart"),
}

TECHNOLOGIES = ("Batteries", "Critical Minerals")

#: The amount type of every CIM investment record: CIM's estimated total facility capex is a third party's
#: estimate of a facility's cost whatever its status, so it is neither an announced plan nor money spent
#: (the record's ``status`` says how far the facility has got); it is never added to curated figures.
AMOUNT_TYPE = "estimate"


@lru_cache(maxsize=4)
def _patterns(path: str) -> list[tuple[re.Pattern[str], str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [(re.compile(rf"\b{re.escape(r['pattern'])}\b", re.IGNORECASE), r["parent"]) for r in rows]


def japanese_parent(company: str, path: Path = JAPANESE_COMPANIES) -> str | None:
    """The Japanese parent of ``company`` if its name matches the company list, else None."""
    for pat, parent in _patterns(str(path)):
        if pat.search(company or ""):
            return parent
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def read_cim(path: str | Path) -> pd.DataFrame:
    """Read the CIM manufacturing-facilities CSV (the public release's columns), checked first as text:
    unique ids, known statuses, announcement years 1900-2100, finite capex >= 0, coordinates in range."""
    from critmin.ingest.common import read_csv_checked, to_number
    from critmin.validate import YEAR_MAX, YEAR_MIN, check_column, check_not_empty, check_unique

    p = Path(path)
    need = ["unique_id", "Company", "Technology", "Subcategory", "Current_Facility_Status",
            "Estimated_Total_Facility_CAPEX", "Announcement_Date", "State", "Latitude", "Longitude",
            "LatLon_Valid", "Project_Type"]
    text = read_csv_checked(p, need)  # missing, malformed, non-UTF-8: one line naming the file and line
    check_not_empty(text, str(p))
    check_unique(text, ["unique_id"], str(p))
    bad = ~text["Current_Facility_Status"].isin(list(STATUS_MAP))
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        raise InputError(str(p), f"row {i + 2}, column Current_Facility_Status",
                         f"unknown status {text['Current_Facility_Status'].iloc[i]!r}; one of: {', '.join(STATUS_MAP)}")
    years = to_number(text["Announcement_Date"].str.slice(0, 4), p, "Announcement_Date", allow_empty=False)
    check_column(years, str(p), "Announcement_Date", low=YEAR_MIN, high=YEAR_MAX, whole=True)
    capex = to_number(text["Estimated_Total_Facility_CAPEX"], p, "Estimated_Total_Facility_CAPEX")
    check_column(capex, str(p), "Estimated_Total_Facility_CAPEX", low=0)
    for col, lim in (("Latitude", 90), ("Longitude", 180)):
        check_column(to_number(text[col], p, col), str(p), col, low=-lim, high=lim)
    df = pd.read_csv(p, dtype={"unique_id": str, "State": str}, keep_default_na=True)
    return df.sort_values("unique_id", kind="stable").reset_index(drop=True)


def cim_records(
    df: pd.DataFrame, replaced: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(projects, investments) records from a CIM facilities frame (see module docstring).

    ``replaced`` maps CIM facility ids to curated project ids that stand for them
    (``same_as_cim``): no project is generated for those, and the investment links
    to the curated project.
    """
    skip = replaced or {}
    projects: list[dict[str, Any]] = []
    investments: list[dict[str, Any]] = []
    for r in df.itertuples(index=False):
        uid = str(r.unique_id)
        src = f"{CIM_RELEASE}, facility {uid}"
        status, inv_status = STATUS_MAP[r.Current_Facility_Status]
        year = int(str(r.Announcement_Date)[:4])
        capex = None if pd.isna(r.Estimated_Total_Facility_CAPEX) else round(float(r.Estimated_Total_Facility_CAPEX), 3)
        jp = japanese_parent(r.Company)
        in_scope = r.Technology in TECHNOLOGIES
        rid = "cim-" + _slug(uid.split(".", 1)[-1])
        if in_scope and uid not in skip:
            first = str(r.Subcategory).split(",")[0].strip()
            note = f"CIM subcategory {r.Subcategory!s}; {r.Project_Type} project"
            if uid in FACILITY_OVERRIDES:
                chain, stage, material, why = FACILITY_OVERRIDES[uid]
                note += f"; stage/material by facility (judgement: {why})"
            else:
                chain, stage, material = SUBCATEGORY_MAP[first]
            rec: dict[str, Any] = {
                "id": rid,
                "name": f"{r.Company} {r.Subcategory} ({r.State})",
                "owners": [str(r.Company)],
                "country": "USA",
                "state": str(r.State),
                "chain": chain,
                "stage": stage,
                "material": material,
                "announced_year": year,
                "status": status,
                "sources": [src],
                "notes": note,
                "cim_id": uid,
                "cim_subcategory": str(r.Subcategory),
            }
            if bool(r.LatLon_Valid) and not pd.isna(r.Latitude):
                rec["lat"] = round(float(r.Latitude), 5)
                rec["lon"] = round(float(r.Longitude), 5)
            if capex is not None:
                rec["capex"] = {"amount_m": capex, "currency": "USD",
                                "note": "CIM estimated total facility capex, 2023 US$ million", "source": src}
            projects.append(rec)
        if in_scope or jp:
            inv: dict[str, Any] = {
                "id": rid,
                "investor": str(r.Company),
                "destination_country": "USA",
                "destination_state": str(r.State),
                "sector": f"{r.Technology}: {r.Subcategory}",
                "amount_m": capex,
                "currency": "USD",
                "type": AMOUNT_TYPE,
                "year": year,
                "status": inv_status,
                "programme": "clean-investment-monitor",
                "source": src,
                "notes": "amount is CIM estimated total facility capex (2023 US$ million)",
            }
            if jp:
                inv["investor_country"] = "JPN"
                inv["tags"] = ["japanese-owned"]
                inv["notes"] += f"; Japanese-owned by company-list rule (parent: {jp})"
            if in_scope:
                inv["project_id"] = skip.get(uid, rid)
            inv = {k: v for k, v in inv.items() if v is not None}
            investments.append(inv)
    return projects, investments
