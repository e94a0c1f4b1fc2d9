"""The one rule that picks the registry a reader sees, and adding labelled projects to the store's registry.

The CLI (``critmin projects``/``critmin invest``) and the web's Projects page read the registry through
:func:`registry_for` (or :func:`registry_view` when a store is already open):

* a store is chosen and holds registry records: the records the actor may see (:meth:`Store.registry`);
  the actor is then required;
* a store is chosen and holds none: the embedded (public) registry;
* no store is chosen: the registry folder ``path`` (default ``$CRITMIN_REGISTRY`` or the embedded one).

Errors are :class:`critmin.errors.InputError` naming the parameter (``store_url``, ``actor``, ``path``,
``kind``, ``label``), never a CLI flag.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from sqlalchemy import select

from critmin.errors import InputError
from critmin.registry import EMBEDDED_REGISTRY, Project, Registry, read_records_file
from critmin.registry.schema import check_project
from critmin.store.core import Actor, Forbidden, Store, _now
from critmin.store.labels import Label
from critmin.store.models import RegistryRecord

#: Record kinds :func:`add_registry_records` accepts (investments come in with a whole folder: their
#: ``part_of`` links are checked across the set, see :meth:`Store.import_registry`).
ADDABLE_KINDS = ("project",)


def actor_named(store: Store, name: str) -> Actor:
    """The actor of account ``name`` (InputError naming ``actor`` when there is none)."""
    try:
        return store.actor(name)
    except InputError:
        raise InputError("actor", name, "no such account") from None


def registry_view(store: Store, actor: Actor | None) -> Registry | None:
    """The registry ``actor`` may see in ``store``, or None when the store holds no registry records (then
    the embedded, public registry applies). An actor is needed when there are records (InputError ``actor``)."""
    if not store.has_registry():
        return None
    if actor is None:
        raise InputError("actor", None, "the store holds registry records: name the account whose view to show")
    return store.registry(actor)


def registry_for(store_url: str | None = None, actor_name: str | None = None,
                 path: str | os.PathLike[str] | None = None) -> Registry:
    """THE registry a reader sees (the same rule as the web's Projects page; see the module docstring).

    ``store_url``: a store URL or SQLite file (None: no store chosen); ``actor_name``: the account whose view
    of the store is shown (required when the store holds registry records; checked whenever given);
    ``path``: a registry folder (files), which cannot be combined with a store.
    """
    if store_url is None:
        return Registry.load(path)
    if path:
        raise InputError("path", str(path), "a registry folder cannot be combined with a store "
                         "(the store's registry is used)")
    store = Store(store_url)
    try:
        reg = registry_view(store, actor_named(store, actor_name) if actor_name else None)
    finally:
        store.dispose()
    return reg if reg is not None else Registry.load(EMBEDDED_REGISTRY)


def add_registry_records(store: Store, actor: Actor, kind: str, records: list[Any], label: Any = None,
                         where: str = "records") -> list[Project]:
    """Validate ``records`` (raw mappings, as in a registry file) and store them under ``label``.

    Validation is the file path's (:func:`critmin.registry.schema.check_project` against the embedded
    vocabularies, countries and states). Analysts and stronger roles may add; the label's originator must be
    the actor's nationality (default: releasable to that nationality only). Ids must be new in the store:
    an id already stored - whoever may see it - is refused with the file path's ``duplicate project id``
    message, which names neither the stored record's label nor whether the actor may see it. Nothing is
    stored unless every record is valid. Audited ``registry.add``. ``where`` names the records' origin (a
    file) in error messages.
    """
    if kind not in ADDABLE_KINDS:
        raise InputError("kind", str(kind), "only project records are added one by one; import a registry "
                         "folder for investments")
    if not actor.has("analyst"):
        store._audit_denied(actor, "registry.add", "registry", "", "viewer may not add records")
        raise Forbidden("role: adding registry records needs the analyst role or stronger")
    lb = Label.parse(label if label is not None else {"originator": actor.nationality,
                                                      "rel_to": [actor.nationality]})
    if lb.originator != actor.nationality:
        store._audit_denied(actor, "registry.add", "registry", lb.marking, "originator is not the actor's nationality")
        raise Forbidden(f"label.originator: must be your nationality ({actor.nationality})")
    if not records:
        raise InputError(where, "projects", "no projects given")
    ctx = Registry.context_for(EMBEDDED_REGISTRY)
    now = _now()
    with store.session() as s:
        ctx.project_ids = set(s.scalars(select(RegistryRecord.record_id).where(RegistryRecord.kind == kind)))
        new: list[Project] = []
        for i, raw in enumerate(records):
            p = check_project(raw, ctx, where, f"projects[{i}]")
            ctx.project_ids.add(p.id)  # a record given twice is a duplicate, as in a file
            new.append(p)
        for p in new:
            s.add(RegistryRecord(id=uuid.uuid4().hex, kind=kind, record_id=p.id,
                                 data=p.model_dump(mode="json", by_alias=True, exclude_none=True),
                                 label_originator=lb.originator, label_rel_to=lb.rel_to_column,
                                 label_public=lb.public, updated_by=actor.id, updated_at=now))
        store._audit(s, actor.name, "registry.add", f"registry:{kind}", lb.marking, "ok",
                     json.dumps({"ids": [p.id for p in new]}))
    return new


def add_projects_file(store: Store, actor: Actor, file: str | os.PathLike[str], label: Any = None) -> list[Project]:
    """:func:`add_registry_records` of the projects in YAML/JSON ``file`` (the format of ``projects add``)."""
    return add_registry_records(store, actor, "project", read_records_file(file, "projects"), label, str(file))
