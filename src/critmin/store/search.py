"""Search over what an actor may see: runs (every kind), registry records and the World's public catalogue.

``search(store, actor, q)`` is the one search the web API (``GET /api/search``) and the search page call.
Labelled rows are filtered by :func:`critmin.store.visible_to` in the SQL query itself, so what the actor may
not see is never read, never returned and never counted. When the store holds no registry records, the embedded
registry (public) is searched in Python instead. The World's tables, materials, chains and scenario library are
public. Matching is case-insensitive substring matching (run ids: prefix); nothing here is a ranking model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Text, cast, func, or_, select

from critmin.errors import InputError
from critmin.store.core import Actor, Store, run_label, visible_to
from critmin.store.models import RegistryRecord, Run

#: Longest query (characters, after stripping) and largest result count.
MAX_Q = 200
MAX_LIMIT = 200
PUBLIC = "PUBLIC"
#: What a query is stripped of at both ends: ASCII blanks (the API's schema says the same).
BLANKS = " \t\n\r\x0b\x0c"
#: The registry fields a project or investment is found by (their values, not their keys).
PROJECT_FIELDS = ("id", "name", "owners", "partners", "country", "state", "region", "chain", "stage", "material",
                  "status", "cim_id")
INVESTMENT_FIELDS = ("id", "investor", "investor_country", "destination_country", "destination_state", "sector",
                     "programme", "project_id", "status", "type", "tags")


def check_query(q: Any, limit: Any = 50) -> tuple[str, int]:
    """``q`` stripped of ASCII blanks (1-200 characters, no NUL) and ``limit`` (a whole number 1-200), or
    InputError naming ``q`` / ``limit``."""
    if not isinstance(q, str):
        raise InputError("q", type(q).__name__, "must be text")
    if "\x00" in q:
        raise InputError("q", q.replace("\x00", "\\0")[:40], "must not contain a NUL character")
    q = q.strip(BLANKS)
    if not 1 <= len(q) <= MAX_Q:
        raise InputError("q", q[:40], f"must be 1 to {MAX_Q} characters (after stripping blanks); got {len(q)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InputError("limit", str(limit)[:40], f"must be a whole number from 1 to {MAX_LIMIT}")
    return q, limit


def _rank(ql: str, *names: Any) -> int:
    """0: a name equals the query; 1: starts with it; 2: contains it elsewhere (case-insensitive)."""
    best = 2
    for n in names:
        s = str(n or "").lower()
        if s == ql:
            return 0
        if s.startswith(ql):
            best = 1
    return best


def _values(d: dict[str, Any], fields: Iterable[str]) -> list[str]:
    out = []
    for f in fields:
        v = d.get(f)
        if isinstance(v, list | tuple):
            out += [str(x) for x in v if x is not None]
        elif v is not None:
            out.append(str(v))
    return out


def _run_url(kind: str, run_id: str) -> str:
    return f"/runs/{run_id}" if kind == "simulate" else f"/plans/{run_id}"


def _runs(store: Store, actor: Actor, ql: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """Runs of every kind the actor may see whose id starts with, or scenario / scenario title / status / kind
    contains, the query."""
    from critmin.simulate import library

    titled = {s.name: s.title for s in library()}
    by_title = [n for n, t in titled.items() if ql in t.lower()]
    cond = or_(func.lower(Run.id).startswith(ql, autoescape=True),
               func.lower(Run.scenario).contains(ql, autoescape=True),
               func.lower(Run.status).contains(ql, autoescape=True),
               func.lower(Run.kind).contains(ql, autoescape=True),
               Run.scenario.in_(by_title))
    with store.session() as s:
        rows = s.execute(select(Run.id, Run.kind, Run.scenario, Run.status, Run.label_originator, Run.label_rel_to,
                                Run.label_public).where(visible_to(actor, Run), cond)
                         .order_by(Run.created_at.desc()).limit(limit)).all()
    hits = []
    for r in rows:
        lb = run_label(r)
        title = f"{titled.get(r.scenario, r.scenario)} ({r.kind}, {r.status})"
        hits.append((_rank(ql, r.id, r.scenario, r.status), {
            "kind": r.kind, "id": r.id, "title": title, "label": lb.as_dict(), "marking": lb.marking,
            "url": _run_url(r.kind, r.id)}))
    return hits


def _record_hit(kind: str, d: dict[str, Any], label: dict[str, Any] | None, marking: str) -> dict[str, Any]:
    if kind == "project":
        title = f"{d.get('name', d.get('id'))} ({d.get('country', '')}, {d.get('chain', '')}, {d.get('status', '')})"
        url = f"/projects?country={d.get('country', '')}"
    else:
        where = d.get("destination_state") or d.get("destination_country") or ""
        amount = f", {d['amount_m']:,.0f} m {d.get('currency', '')}" if isinstance(d.get("amount_m"), int | float) \
            else ""
        title = f"{d.get('investor', d.get('id'))} → {where}{amount}"
        url = "/projects#investments"
    return {"kind": kind, "id": str(d.get("id")), "title": title, "label": label, "marking": marking, "url": url}


def _matches(ql: str, kind: str, d: dict[str, Any]) -> list[str] | None:
    vals = _values(d, PROJECT_FIELDS if kind == "project" else INVESTMENT_FIELDS)
    return vals if any(ql in v.lower() for v in vals) else None


def _store_registry(store: Store, actor: Actor, ql: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """Registry records the actor may see (SQL: ``visible_to``; the JSON ``data`` cast to text narrows them),
    then checked in Python against the searchable fields' values (not JSON keys)."""
    cond = or_(func.lower(RegistryRecord.record_id).contains(ql, autoescape=True),
               func.lower(cast(RegistryRecord.data, Text)).contains(ql, autoescape=True))
    with store.session() as s:
        rows = s.execute(select(RegistryRecord.kind, RegistryRecord.data, RegistryRecord.label_originator,
                                RegistryRecord.label_rel_to, RegistryRecord.label_public)
                         .where(visible_to(actor, RegistryRecord), cond)
                         .order_by(RegistryRecord.kind.desc(), RegistryRecord.record_id)).all()
    hits = []
    for r in rows:
        d = dict(r.data)
        vals = _matches(ql, r.kind, d)
        if vals is None:
            continue
        lb = run_label(r)
        hits.append((_rank(ql, d.get("id"), d.get("name"), *vals), _record_hit(r.kind, d, lb.as_dict(), lb.marking)))
        if len(hits) >= limit:
            break
    return hits


def _embedded_registry(ql: str, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """The embedded registry (public files) searched in Python."""
    from critmin import registry

    reg = registry.load()
    hits = []
    for kind, items in (("project", reg.projects), ("investment", reg.investments)):
        for item in items:
            d = item.model_dump(mode="json")
            vals = _matches(ql, kind, d)
            if vals is not None:
                hits.append((_rank(ql, d.get("id"), d.get("name"), *vals), _record_hit(kind, d, None, PUBLIC)))
            if len(hits) >= 2 * limit:
                return hits
    return hits


def _world(world: Any, ql: str) -> list[tuple[int, dict[str, Any]]]:
    """The World's catalogue (public): tables, materials, chains and library scenarios."""
    from critmin.simulate import library

    hits: list[tuple[int, dict[str, Any]]] = []

    def add(kind: str, ident: str, title: str, url: str, *also: Any) -> None:
        if any(ql in str(x or "").lower() for x in (ident, title, *also)):
            hits.append((_rank(ql, ident, title), {"kind": kind, "id": ident, "title": title, "label": None,
                                                   "marking": PUBLIC, "url": url}))

    for r in world.datapackage.get("resources", []):
        add("table", str(r.get("name")), str(r.get("description") or r.get("name")), "/catalogue")
    for m in world.materials().to_dict(orient="records"):
        add("material", str(m["material"]), str(m.get("name") or m["material"]), f"/risk?material={m['material']}")
    for cid, ch in world.chains.items():
        add("chain", cid, ch.title, f"/chains/{cid}")
    for s in library():
        add("scenario", s.name, s.title, "/scenarios", s.chain)
    return hits


def search(store: Store, actor: Actor, q: str, limit: int = 50, world: Any = None) -> list[dict[str, Any]]:
    """What ``actor`` may see that matches ``q``, at most ``limit`` hits, best first.

    Each hit is ``{kind, id, title, label, marking, url}``: ``kind`` is a run kind (``simulate``, plans ...),
    ``project``, ``investment``, ``table``, ``material``, ``chain`` or ``scenario``; ``label`` is the stored
    label (a dict) or None for public World data and the embedded registry. Runs match by id prefix, scenario
    name or title, status and kind; registry records by id, name, owners, country, state, chain, stage,
    material, status (projects) or investor, countries, state, sector, programme, project (investments);
    the World by table, material, chain and scenario names and titles. ``world`` defaults to
    :func:`critmin.load`. Raises InputError naming ``q`` or ``limit``.
    """
    q, limit = check_query(q, limit)
    ql = q.lower()
    if world is None:
        import critmin

        world = critmin.load()
    hits = _runs(store, actor, ql, limit)
    hits += _store_registry(store, actor, ql, limit) if store.has_registry() else _embedded_registry(ql, limit)
    hits += _world(world, ql)
    order = {"table": 3, "material": 3, "chain": 3, "scenario": 3, "project": 2, "investment": 2}
    hits.sort(key=lambda h: (h[0], order.get(h[1]["kind"], 1)))
    return [h for _, h in hits[:limit]]
