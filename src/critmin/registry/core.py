"""The registry: projects, investments and the frameworks' dates, loaded from a folder.

A registry folder holds ``projects_*.yaml|json`` (each ``{projects: [...]}``),
``investments_*.yaml|json`` (each ``{investments: [...]}``) and optionally its own
``vocab.yaml``, ``framework_timeline.yaml``, ``countries.csv`` and ``us_states.csv``
(the embedded ones are used when absent; a vocabulary missing from a folder's own
``vocab.yaml``, e.g. ``amount_types`` in a copy made before it existed, is taken
from the embedded one). The embedded registry ships in
``critmin/registry/data``; ``critmin projects init DIR`` copies it to a folder a
user can add to. Every record is validated on load (see :mod:`.schema`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import yaml

from critmin.atomic import atomic_write_text
from critmin.errors import InputError, did_you_mean
from critmin.registry.schema import (
    Context,
    Investment,
    Project,
    check_investment,
    check_parts,
    check_project,
    hint_or_choices,
    parse_date,
)
from critmin.safeio import csv_rows, read_json, read_yaml

#: The embedded registry folder inside the installed package.
EMBEDDED_REGISTRY = Path(__file__).parent / "data"

#: Environment variable naming a registry folder to use instead of the embedded one.
REGISTRY_ENV = "CRITMIN_REGISTRY"

#: The file ``add_projects`` writes new records into.
ADDED_FILE = "projects_added.yaml"

R = TypeVar("R", Project, Investment)


def read_records_file(path: str | Path, key: str) -> list[Any]:
    """The list under ``key`` in a YAML/JSON file (a bare list or one mapping is also accepted)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), None, "no such file")
    data = read_json(p) if p.suffix == ".json" else read_yaml(p)  # depth/alias/duplicate-key limits
    if data is None:
        raise InputError(str(p), None, f"empty file (expected a '{key}:' list)")
    if isinstance(data, dict) and key in data:
        data = data[key]
        if not isinstance(data, list):
            raise InputError(str(p), key, f"expected a list of {key}")
    elif isinstance(data, dict) and "id" in data:
        data = [data]
    elif isinstance(data, dict):
        raise InputError(str(p), None, f"expected a '{key}:' list (top-level keys: {', '.join(map(str, data))})")
    if not isinstance(data, list):
        raise InputError(str(p), None, f"expected a list of {key}, got {type(data).__name__}")
    return data


def _read_codes(path: Path, column: str) -> set[str]:
    rows = csv_rows(path)
    if rows and column not in rows[0]:
        raise InputError(str(path), f"column {column}", "missing column")
    return {row[column] for row in rows if row.get(column)}


def _record_files(folder: Path, kind: str) -> list[Path]:
    """The ``{kind}_*.yaml|yml|json`` files of registry ``folder``, in name order."""
    return [f for f in sorted(folder.glob(f"{kind}_*.*")) if f.suffix in (".yaml", ".yml", ".json")]


def _checked(raws: list[Any], check: Callable[[Any, Context, str, str], R], ctx: Context, ids: set[str],
             file: str, kind: str) -> list[R]:
    """Validate ``raws`` (records of ``file``) with ``check`` in order, adding each id to ``ids`` as it passes."""
    out: list[R] = []
    for i, raw in enumerate(raws):
        rec = check(raw, ctx, file, f"{kind}[{i}]")
        ids.add(rec.id)
        out.append(rec)
    return out


def _pick(folder: Path, name: str) -> Path:
    own = folder / name
    return own if own.is_file() else EMBEDDED_REGISTRY / name




#: ``Registry.summary`` groupings: option value -> investment field.
SUMMARY_BY = {
    "state": "destination_state",
    "sector": "sector",
    "year": "year",
    "programme": "programme",
    "investor_country": "investor_country",
    "type": "type",
}


def _ancestors(part_of: dict[str, str | None], rid: str) -> list[str]:
    """The chain of ``part_of`` parents of investment ``rid`` (nearest first; acyclic, checked on load)."""
    out: list[str] = []
    parent = part_of.get(rid)
    while parent is not None and parent not in out:
        out.append(parent)
        parent = part_of.get(parent)
    return out


def totals_by_type(inv: pd.DataFrame, col: str, name: str, types: Iterable[str] | None = None) -> pd.DataFrame:
    """US$ million per (``col`` value, amount type) of an investments frame; never a sum across types.

    ``inv`` is (a subset of) :meth:`Registry.investments_frame`; the result has
    columns ``name`` (the group; ``(unknown)`` where ``col`` is empty), ``type``,
    ``amount_musd`` (sum of the USD amounts, NaN where none), ``records`` (all
    records of the group and type), ``records_in_usd`` (those added) and
    ``parts_not_added`` (records whose ``part_of`` parent, or its parent, is in
    the same group and type: a part is never added to its parent). Rows are in
    ``types`` order (vocabulary order), then by amount, largest first.
    """
    cols = [name, "type", "amount_musd", "records", "records_in_usd", "parts_not_added"]
    if inv.empty:
        return pd.DataFrame(columns=cols)
    key = inv[col].astype("object").where(inv[col].notna(), "(unknown)")
    df = inv.assign(_group=key)
    parents = dict(zip(df["id"], df["part_of"].where(df["part_of"].notna(), None), strict=True))
    cell = dict(zip(df["id"], zip(df["_group"], df["type"], strict=True), strict=True))
    in_parent = [
        any(cell.get(a) == cell[rid] for a in _ancestors(parents, rid)) for rid in df["id"]
    ]
    df = df.assign(_part=in_parent, _type=df["type"])
    df["_added"] = df["amount_musd"].where(~df["_part"])
    out = df.groupby(["_group", "_type"], sort=True).agg(
        amount_musd=("_added", "sum"),
        records=("id", "count"),
        records_in_usd=("_added", "count"),
        parts_not_added=("_part", "sum"),
    ).reset_index()
    out["amount_musd"] = out["amount_musd"].round(3).where(out["records_in_usd"] > 0)
    out["parts_not_added"] = out["parts_not_added"].astype(int)
    order = {t: i for i, t in enumerate(types if types is not None else sorted(set(out["_type"])))}
    out["_order"] = out["_type"].map(order)
    out = out.sort_values(["_order", "amount_musd"], ascending=[True, False], kind="stable", na_position="last")
    out = out.rename(columns={"_type": "type"})
    if name != "type":
        out = out.rename(columns={"_group": name})
    return out[cols[:1] + [c for c in cols[1:] if c != name]].reset_index(drop=True)


class Registry:
    """Validated projects and investments plus the framework timeline (see module docstring)."""

    def __init__(
        self,
        projects: list[Project],
        investments: list[Investment],
        events: list[dict[str, Any]],
        context: Context,
        path: Path | None = None,
    ) -> None:
        self.projects = projects
        self.investments = investments
        self.events = events
        self.context = context
        self.path = path
        self._by_id = {p.id: p for p in projects}

    # ------------------------------------------------------------------ loading
    @staticmethod
    def context_for(folder: Path) -> Context:
        """Vocabularies, countries and states of registry ``folder`` (embedded ones as fallback)."""
        vocab = read_yaml(_pick(folder, "vocab.yaml"))
        if _pick(folder, "vocab.yaml") != EMBEDDED_REGISTRY / "vocab.yaml":
            if vocab is not None and not isinstance(vocab, dict):
                raise InputError(str(folder / "vocab.yaml"), None, "must be a mapping of vocabularies")
            embedded = read_yaml(EMBEDDED_REGISTRY / "vocab.yaml")
            vocab = {**embedded, **(vocab or {})}
        countries = _read_codes(_pick(folder, "countries.csv"), "iso3")
        states = _read_codes(_pick(folder, "us_states.csv"), "usps")
        return Context(vocab=vocab, countries=countries, states=states)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> Registry:
        """Load and validate the registry in ``path`` (default: ``$CRITMIN_REGISTRY`` or embedded)."""
        folder = resolve_registry_path(path)
        if not folder.is_dir():
            raise InputError(str(folder), None, "registry folder does not exist")
        ctx = cls.context_for(folder)
        projects: list[Project] = []
        for f in _record_files(folder, "projects"):
            projects += _checked(read_records_file(f, "projects"), check_project, ctx, ctx.project_ids, str(f),
                                 "projects")
        investments: list[Investment] = []
        where: list[tuple[Investment, str, str]] = []
        for f in _record_files(folder, "investments"):
            new = _checked(read_records_file(f, "investments"), check_investment, ctx, ctx.investment_ids,
                           str(f), "investments")
            where += [(v, str(f), f"investments[{i}]") for i, v in enumerate(new)]
            investments += new
        check_parts(where)
        tl = _pick(folder, "framework_timeline.yaml")
        events = read_records_file(tl, "events")
        for i, e in enumerate(events):
            if not isinstance(e, dict):
                raise InputError(str(tl), f"events[{i}]", f"expected a mapping of fields, got {type(e).__name__}")
            for k in ("id", "date", "label", "source"):
                if not e.get(k):
                    raise InputError(str(tl), f"events[{i}].{k}", "required field is missing")
            try:
                e["date"] = parse_date(str(e["date"]))
            except ValueError as exc:
                raise InputError(str(tl), f"events[{i}].date", str(exc)) from None
        return cls(projects, investments, events, ctx, folder)

    # ------------------------------------------------------------------ access
    def project(self, project_id: str) -> Project:
        """The project with id ``project_id`` (InputError with suggestions if unknown)."""
        if project_id not in self._by_id:
            more = did_you_mean(project_id, list(self._by_id))
            raise InputError("project", project_id, f"no such project{more}")
        return self._by_id[project_id]

    def projects_frame(self) -> pd.DataFrame:
        """One row per project: ids, location, stage, ``capacity_tpy`` (t/yr, else NaN), years, sources."""
        rows = []
        for p in self.projects:
            cap = p.capacity
            tpy = cap.value if cap is not None and cap.unit == "t/yr" else None
            rows.append(
                {
                    "id": p.id,
                    "name": p.name,
                    "owners": "; ".join(p.owners),
                    "country": p.country,
                    "state": p.state,
                    "chain": p.chain,
                    "stage": p.stage,
                    "material": p.material,
                    "capacity_tpy": tpy,
                    "capacity_value": cap.value if cap else None,
                    "capacity_unit": cap.unit if cap else None,
                    "capacity_content": cap.content if cap else None,
                    "capex_musd": p.capex.amount_m if p.capex and p.capex.currency == "USD" else None,
                    "announced_year": p.announced_year,
                    "fid_year": p.fid_year,
                    "start_year": p.start_year,
                    "status": p.status,
                    "lat": p.lat,
                    "lon": p.lon,
                    "origin": "cim" if p.cim_id else "curated",
                    "sources": all_sources(p),
                }
            )
        df = pd.DataFrame(rows)
        for c in ("announced_year", "fid_year", "start_year"):
            df[c] = df[c].astype("Int64")
        return df

    def filter_projects(
        self,
        chain: str | None = None,
        stage: str | None = None,
        country: str | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """:meth:`projects_frame` rows matching each given value (validated against the vocabularies)."""
        df = self.projects_frame()
        checks = {"chain": "chains", "stage": "stages", "status": "statuses"}
        for col, val in (("chain", chain), ("stage", stage), ("country", country), ("status", status)):
            if val is None:
                continue
            known = set(self.context.vocab[checks[col]]) if col in checks else self.context.countries
            if val not in known:
                more = did_you_mean(val, known)
                raise InputError(col, val, f"unknown {col}{more}")
            df = df[df[col] == val]
        return df.reset_index(drop=True)

    def investments_frame(self) -> pd.DataFrame:
        """One row per investment (every field, incl. ``type`` and ``part_of``); ``amount_musd`` is
        ``amount_m`` (US$ million) when the currency is USD, else NaN."""
        rows = []
        for v in self.investments:
            d = v.model_dump()
            d["tags"] = "; ".join(v.tags)
            d["amount_musd"] = v.amount_m if v.currency == "USD" else None
            rows.append(d)
        return pd.DataFrame(rows)

    def summary(self, by: str, type: str | None = None) -> pd.DataFrame:
        """Investment totals by ``by`` and amount type (US$ million, USD records), one row per (group, type).

        ``by`` is ``state|sector|year|programme|investor_country|type``. Amounts of
        different types are never added: a pledge, its tranches and the fact-sheet
        candidates under it describe overlapping money, so each row holds one
        ``type`` (see :func:`totals_by_type`). ``type`` keeps one type only; a total
        across types is refused (InputError) - the per-type rows are the answer.
        """
        if by not in SUMMARY_BY:
            raise InputError("by", by, f"unknown grouping; one of: {', '.join(SUMMARY_BY)}")
        types = list(self.context.vocab["amount_types"])
        if type is not None and type not in types:
            if type.lower() in ("all", "any", "total", "*") or any(c in type for c in ",+ "):
                raise InputError("type", type, "amounts of different types are never added (a pledge, its "
                                 "tranches and the fact-sheet candidates under it describe overlapping money); "
                                 "omit --type for one total per type, or give one of: " + ", ".join(types))
            raise InputError("type", type, f"unknown amount type{hint_or_choices(type, types)}")
        out = totals_by_type(self.investments_frame(), SUMMARY_BY[by], by, types)
        if type is not None:
            out = out[out["type"] == type].reset_index(drop=True)
        return out

    # ------------------------------------------------------------------ editing
    def add_projects(self, file: str | os.PathLike[str]) -> list[Project]:
        """Validate the projects in ``file`` and append them to ``projects_added.yaml`` atomically.

        Nothing is written unless every new record is valid (ids unique across the
        registry). The embedded registry is read-only.
        """
        if self.path is None or self.path.resolve() == EMBEDDED_REGISTRY.resolve():
            raise InputError(
                "path",
                None,
                "the embedded registry is read-only; copy it to a folder DIR (critmin projects init DIR, or "
                "critmin.registry.init_registry(DIR)) and use that folder (--registry DIR)",
            )
        raws = read_records_file(file, "projects")
        if not raws:
            raise InputError(str(file), "projects", "no projects in file")
        ids = self.context.project_ids
        before = set(ids)
        try:
            new = _checked(raws, check_project, self.context, ids, str(file), "projects")
            target = self.path / ADDED_FILE
            existing = read_records_file(target, "projects") if target.is_file() else []
            dumped = existing + [p.model_dump(exclude_none=True, exclude_defaults=True) for p in new]
            for d, p in zip(dumped[len(existing) :], new, strict=True):
                d.update({"id": p.id, "country": p.country, "chain": p.chain, "stage": p.stage})
            text = "# Projects added with 'critmin projects add' (validated).\n" + yaml.safe_dump(
                {"projects": dumped}, sort_keys=False, allow_unicode=True
            )
            atomic_write_text(target, text)
        except BaseException:
            ids.intersection_update(before)  # a rejected file leaves no ids behind (a fixed retry is not a duplicate)
            raise
        self.projects.extend(new)
        self._by_id.update({p.id: p for p in new})
        return new


def all_sources(p: Project) -> list[str]:
    """Every distinct source cited anywhere in project ``p`` (record, capacity, capex, financiers, milestones)."""
    out: list[str] = []
    cands: Iterable[str | None] = [
        *p.sources,
        p.capacity.source if p.capacity else None,
        p.capex.source if p.capex else None,
        *(f.source for f in p.financiers),
        *(m.source for m in p.milestones),
    ]
    for s in cands:
        if s and s not in out:
            out.append(s)
    return out


def resolve_registry_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The registry folder to use: ``path``, else ``$CRITMIN_REGISTRY``, else the embedded one."""
    if path:
        return Path(path)
    env = os.environ.get(REGISTRY_ENV)
    return Path(env) if env else EMBEDDED_REGISTRY


def init_registry(dest: str | os.PathLike[str]) -> Path:
    """Copy the embedded registry's data files into folder ``dest`` (must be empty or new)."""
    d = Path(dest)
    if d.exists() and not d.is_dir():
        raise InputError(str(d), None, "exists and is not a folder (the file is left as it is)")
    if d.exists() and any(d.iterdir()):
        raise InputError(str(d), None, "folder exists and is not empty")
    d.mkdir(parents=True, exist_ok=True)
    for f in sorted(EMBEDDED_REGISTRY.iterdir()):
        if f.is_file() and f.suffix in (".yaml", ".json", ".csv"):
            shutil.copy2(f, d / f.name)
    return d
