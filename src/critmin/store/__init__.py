"""The critmin store: accounts, API tokens, labelled runs, the job queue and the hash-chained audit log.

Start here::

    from critmin.store import Store, Label
    store = Store()                       # ~/.local/share/critmin/critmin.db, or $CRITMIN_DB, or a URL
    alice = store.add_user("alice", "USA", "analyst", password="correct horse")
    rid = store.create_run(alice, "ree-magnet-embargo-us-jpn-12m", runs=200, seed=1,
                           label={"originator": "USA", "rel_to": ["USA", "JPN"]})
    store.get_run(alice, rid)["status"]   # queued -> running -> done (run by a Worker)

SQLAlchemy 2 models (:mod:`.models`), Alembic migrations shipped in the package (:mod:`.db`),
labels and the one read rule (:mod:`.labels`, :func:`visible_to`), workers (:mod:`.worker`).
The store uses the core (``critmin.simulate``); the core never imports the store.
"""

from critmin.store.core import (
    FINAL,
    STATUSES,
    Actor,
    AuditCheck,
    Conflict,
    Forbidden,
    NotFound,
    Store,
    run_label,
    visible_to,
)
from critmin.store.labels import NATIONS, ROLES, Label, derive

__all__ = [
    "FINAL",
    "NATIONS",
    "ROLES",
    "STATUSES",
    "Actor",
    "AuditCheck",
    "Conflict",
    "Forbidden",
    "Label",
    "NotFound",
    "Store",
    "derive",
    "run_label",
    "visible_to",
]
