"""The store: accounts, tokens, labelled runs, the job queue and the audit log, behind one class.

Every read of a labelled object goes through :func:`visible_to`; what an actor may not see is
:class:`NotFound`, exactly as if it did not exist. Permission failures on what the actor can see
are :class:`Forbidden`; a state that does not allow the operation is :class:`Conflict`; bad input
is :class:`critmin.errors.InputError` naming the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from critmin.errors import InputError, did_you_mean
from critmin.store import db as dbmod
from critmin.store.labels import NATIONS, ROLES, Label, derive
from critmin.store.models import AuditEntry, AuditHead, Job, RegistryRecord, Run, Setting, Token, User
from critmin.store.plan_params import PLAN_KINDS, check_plan

#: Run states; the last three are final.
STATUSES = ("queued", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")
MAX_RUNS = 100_000
MAX_SEED = 2**32 - 1
#: A job whose worker stops renewing its lease is re-queued this many times, then failed.
MAX_ATTEMPTS = 3
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_ID = re.compile(r"^[0-9a-f]{32}$")
#: The kind of a simulation run; every other kind (:data:`PLAN_KINDS`) is a plan.
RUN_KINDS: tuple[str, ...] = ("simulate",)


def _kinds(plans: bool) -> tuple[str, tuple[str, ...]]:
    """("run", ("simulate",)) or ("plan", PLAN_KINDS): the noun of messages and audit actions, and the kinds."""
    return ("plan", PLAN_KINDS) if plans else ("run", RUN_KINDS)


class NotFound(LookupError):
    """No such object, or the actor may not see it (the two are never told apart)."""


class Forbidden(PermissionError):
    """The actor sees the object (or the collection) but may not do this."""


class Conflict(Exception):
    """The object's state does not allow this now (e.g. download of a run that is not done)."""


@dataclass(frozen=True)
class Actor:
    """Who is asking: an account's id, name, nationality and role."""

    id: str
    name: str
    nationality: str
    role: str

    def has(self, role: str) -> bool:
        """True when the actor's role is ``role`` or a stronger one (viewer < analyst < releaser < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


def visible_to(actor: Actor | None, model: type = Run) -> ColumnElement[bool]:
    """THE read rule as SQL over labelled rows (:class:`Run` by default, or :class:`RegistryRecord`): public,
    or the actor's nationality is releasable-to.

    The same rule as :meth:`Label.readable_by`; every list, read, download, export and event stream filters by
    it. No actor sees only public objects.
    """
    if actor is None:
        return model.label_public == true()
    if actor.nationality not in NATIONS:
        return false()
    return or_(model.label_public == true(), model.label_rel_to.like(f"%,{actor.nationality},%"))


def run_label(row: Any) -> Label:
    """The label of a stored row (a run or a registry record)."""
    return Label.from_columns(row.label_originator, row.label_rel_to, row.label_public)


def _now() -> float:
    return time.time()


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def audit_hash(prev: str, seq: int, at: str, actor: str, action: str, obj: str, label: str, outcome: str,
               detail: str) -> str:
    """SHA-256 over the previous hash and one record's fields (canonical JSON)."""
    payload = json.dumps([prev, seq, at, actor, action, obj, label, outcome, detail], ensure_ascii=False,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass
class AuditCheck:
    """The result of :meth:`Store.verify_audit`: ``ok``, records checked and the first problem found."""

    ok: bool
    records: int
    problem: str | None = None


class Store:
    """The critmin store at ``url`` (see :func:`critmin.store.db.resolve_url`); ``migrate`` brings the schema up."""

    def __init__(self, url: str | None = None, migrate: bool = True) -> None:
        self.url = dbmod.resolve_url(url)
        self.engine = dbmod.make_engine(self.url)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        if migrate:
            dbmod.upgrade(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        from pwdlib import PasswordHash

        self._hasher = PasswordHash.recommended()
        self._dummy_hash = self._hasher.hash(secrets.token_hex(8))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()

    # ------------------------------------------------------------------ settings
    def secret(self, key: str = "session_key") -> str:
        """A random secret kept in the store (created on first use), e.g. the session-cookie signing key."""
        with self.session() as s:
            row = s.get(Setting, key)
            if row is None:
                row = Setting(key=key, value=secrets.token_urlsafe(48))
                s.add(row)
            return row.value

    # ------------------------------------------------------------------ users and tokens
    def add_user(self, name: str, nationality: str, role: str, password: str | None = None) -> Actor:
        """Create an account; InputError naming the field for a bad name, nationality, role or duplicate."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise InputError("name", str(name), "use 1-64 letters, digits, '.', '_' or '-'")
        if nationality not in NATIONS:
            raise InputError("nationality", str(nationality), f"use one of {', '.join(NATIONS)}")
        if role not in ROLES:
            raise InputError("role", str(role), f"use one of {', '.join(ROLES)}")
        if password is not None and len(password) < 8:
            raise InputError("password", None, "must be at least 8 characters")
        with self.session() as s:
            if s.scalar(select(User.id).where(User.name == name)) is not None:
                raise InputError("name", name, "an account of this name exists")
            u = User(id=uuid.uuid4().hex, name=name, nationality=nationality, role=role, created_at=_now(),
                     password_hash=self._hasher.hash(password) if password else None, disabled=False)
            s.add(u)
            actor = Actor(u.id, u.name, u.nationality, u.role)
            self._audit(s, "system", "user.add", f"user:{name}", "", "ok", f"{nationality} {role}")
        return actor

    def set_password(self, name: str, password: str) -> None:
        """Set an account's password (at least 8 characters)."""
        if len(password) < 8:
            raise InputError("password", None, "must be at least 8 characters")
        with self.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise InputError("name", name, "no such account")
            u.password_hash = self._hasher.hash(password)
            self._audit(s, "system", "user.password", f"user:{name}", "", "ok", "")

    def users(self) -> list[dict[str, Any]]:
        """Every account: name, nationality, role, created (ISO), active tokens."""
        with self.session() as s:
            now = _now()
            out = []
            for u in s.scalars(select(User).order_by(User.name)):
                n = len(s.scalars(select(Token.id).where(Token.user_id == u.id, Token.revoked == false(),
                                                         Token.expires_at > now)).all())
                out.append({"name": u.name, "nationality": u.nationality, "role": u.role,
                            "created": _iso(u.created_at), "tokens": n, "disabled": u.disabled})
            return out

    def actor(self, name: str) -> Actor:
        """The actor of account ``name``."""
        with self.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise InputError("name", name, "no such account")
            return Actor(u.id, u.name, u.nationality, u.role)

    def actor_by_id(self, user_id: str) -> Actor | None:
        """The actor of an (enabled) account id, or None."""
        with self.session() as s:
            u = s.get(User, user_id) if isinstance(user_id, str) else None
            if u is None or u.disabled:
                return None
            return Actor(u.id, u.name, u.nationality, u.role)

    def authenticate(self, name: str, password: str) -> Actor | None:
        """The actor when ``password`` is the account's, else None (same work either way); audited."""
        with self.session() as s:
            u = s.scalar(select(User).where(User.name == name)) if _NAME.match(name or "") else None
            ok = False
            if u is not None and u.password_hash and not u.disabled:
                ok = self._hasher.verify(password, u.password_hash)
            else:
                self._hasher.verify(password, self._dummy_hash)
            self._audit(s, name if u else "unknown", "login", f"user:{name[:64]}", "", "ok" if ok else "denied", "")
            return Actor(u.id, u.name, u.nationality, u.role) if ok and u else None

    def issue_token(self, name: str, days: float = 30) -> str:
        """A new API token for account ``name`` valid ``days``; only its hash is kept, so it is shown once."""
        if not (0 < float(days) <= 3650):
            raise InputError("days", str(days), "must be more than 0 and at most 3650")
        token = "cm_" + secrets.token_urlsafe(32)
        with self.session() as s:
            u = s.scalar(select(User).where(User.name == name))
            if u is None:
                raise InputError("name", name, "no such account")
            now = _now()
            s.add(Token(id=uuid.uuid4().hex, user_id=u.id, token_hash=_hash_token(token), created_at=now,
                        expires_at=now + float(days) * 86400, revoked=False))
            self._audit(s, name, "token.issue", f"user:{name}", "", "ok", f"{days} days")
        return token

    def actor_for_token(self, token: str) -> Actor | None:
        """The actor a valid (known, unrevoked, unexpired) token stands for, else None."""
        if not token or len(token) > 200:
            return None
        with self.session() as s:
            row = s.execute(select(User, Token).join(Token, Token.user_id == User.id)
                            .where(Token.token_hash == _hash_token(token))).first()
            if row is None:
                return None
            u, t = row
            if t.revoked or t.expires_at <= _now() or u.disabled:
                return None
            return Actor(u.id, u.name, u.nationality, u.role)

    # ------------------------------------------------------------------ runs
    def _view(self, r: Run) -> dict[str, Any]:
        if r.kind != "simulate":
            return {"id": r.id, "kind": r.kind, "scenario": r.scenario or None, "status": r.status,
                    "progress": r.progress, "message": r.message, "label": run_label(r).as_dict(),
                    "created": _iso(r.created_at), "started": _iso(r.started_at), "finished": _iso(r.finished_at),
                    "params": dict(r.params)}
        d = {"id": r.id, "kind": r.kind, "scenario": r.scenario, "status": r.status, "progress": r.progress,
             "message": r.message, "label": run_label(r).as_dict(), "created": _iso(r.created_at),
             "started": _iso(r.started_at), "finished": _iso(r.finished_at), **r.params}
        return d

    def create_run(self, actor: Actor, scenario: str, runs: int = 1000, seed: int = 0, horizon: int | None = None,
                   label: Any = None) -> str:
        """Queue a simulation of library scenario ``scenario``; returns the run's id.

        Analysts and stronger roles may; the label's originator must be the actor's nationality
        (default: releasable to the actor's nationality only).
        """
        from critmin.simulate import library_names

        if not actor.has("analyst"):
            self._audit_denied(actor, "run.create", "runs", "", "viewer may not launch runs")
            raise Forbidden("role: launching runs needs the analyst role or stronger")
        names = library_names()
        if not isinstance(scenario, str) or scenario not in names:
            raise InputError("scenario", str(scenario)[:80], "not a library scenario" + did_you_mean(str(scenario),
                                                                                                    names))
        for field, v, hi in (("runs", runs, MAX_RUNS), ("seed", seed, MAX_SEED)):
            if isinstance(v, bool) or not isinstance(v, int) or not (0 if field == "seed" else 1) <= v <= hi:
                raise InputError(field, str(v), f"must be a whole number from {0 if field == 'seed' else 1} to {hi}")
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int)
                                    or not 1 <= horizon <= 600):
            raise InputError("horizon", str(horizon), "must be a whole number of months from 1 to 600")
        lb = Label.parse(label if label is not None else {"originator": actor.nationality,
                                                          "rel_to": [actor.nationality]})
        if lb.originator != actor.nationality:
            self._audit_denied(actor, "run.create", "runs", lb.marking, "originator is not the actor's nationality")
            raise Forbidden(f"label.originator: must be your nationality ({actor.nationality})")
        rid = uuid.uuid4().hex
        now = _now()
        params = {"runs": runs, "seed": seed, "horizon": horizon}
        with self.session() as s:
            s.add(Run(id=rid, kind="simulate", scenario=scenario, params=params, status="queued", progress=0.0,
                      label_originator=lb.originator, label_rel_to=lb.rel_to_column, label_public=lb.public,
                      created_by=actor.id, created_at=now))
            s.flush()
            s.add(Job(id=uuid.uuid4().hex, run_id=rid, state="queued", attempts=0, created_at=now))
            self._audit(s, actor.name, "run.create", f"run:{rid}", lb.marking, "ok",
                        json.dumps({"scenario": scenario, **params}))
        return rid

    def list_runs(self, actor: Actor | None, limit: int = 200, kind: str | tuple[str, ...] | None = "simulate"
                  ) -> list[dict[str, Any]]:
        """The runs ``actor`` may see, newest first (without summaries); ``kind``: one kind, several, or None
        for every kind (``simulate`` by default; plans are ``stockpile`` and ``portfolio``)."""
        q = select(Run).where(visible_to(actor))
        if kind is not None:
            q = q.where(Run.kind.in_((kind,) if isinstance(kind, str) else tuple(kind)))
        with self.session() as s:
            rows = s.scalars(q.order_by(Run.created_at.desc()).limit(limit))
            return [self._view(r) for r in rows]

    def _visible_run(self, s: Session, actor: Actor | None, run_id: str, plans: bool = False) -> Run:
        # the message never repeats the id: a 404 reads the same whether the run exists or not
        noun, kinds = _kinds(plans)
        if not isinstance(run_id, str) or not _ID.match(run_id):
            raise NotFound(f"{noun}_id: no such {noun}")
        r = s.scalar(select(Run).where(Run.id == run_id, Run.kind.in_(kinds), visible_to(actor)))
        if r is None:
            raise NotFound(f"{noun}_id: no such {noun}")
        return r

    def get_run(self, actor: Actor | None, run_id: str, summary: bool = True, plans: bool = False) -> dict[str, Any]:
        """One run the actor may see (status, progress, label, and ``summary`` when done); NotFound otherwise.

        ``plans``: look among plans (stockpile, portfolio) instead of simulation runs."""
        noun, _ = _kinds(plans)
        try:
            with self.session() as s:
                r = self._visible_run(s, actor, run_id, plans)
                d = self._view(r)
                if summary:
                    d["summary"] = r.summary if r.status == "done" else None
                return d
        except NotFound:
            self._audit_denied(actor, f"{noun}.read", f"{noun}:{str(run_id)[:40]}", "", "not visible")
            raise

    def run_result(self, actor: Actor, run_id: str, action: str = "run.download", plans: bool = False
                   ) -> tuple[dict[str, Any], Label]:
        """A done run's summary and label, for downloads and comparisons; audited. Conflict if not done."""
        noun, _ = _kinds(plans)
        try:
            with self.session() as s:
                r = self._visible_run(s, actor, run_id, plans)
                lb = run_label(r)
                if r.status != "done":
                    raise Conflict(f"{noun}_id: the {noun} is {r.status}, not done")
                self._audit(s, actor.name, action, f"{noun}:{run_id}", lb.marking, "ok", "")
                return dict(r.summary or {}), lb
        except NotFound:
            self._audit_denied(actor, action, f"{noun}:{str(run_id)[:40]}", "", "not visible")
            raise

    def cancel_run(self, actor: Actor, run_id: str, plans: bool = False) -> dict[str, Any]:
        """Cancel a queued or running run (analysts and stronger); Conflict once it has finished."""
        noun, _ = _kinds(plans)
        try:
            with self.session() as s:
                r = self._visible_run(s, actor, run_id, plans)
                lb = run_label(r)
                if not actor.has("analyst"):
                    raise Forbidden(f"role: cancelling {noun}s needs the analyst role or stronger")
                if r.status in FINAL:
                    raise Conflict(f"{noun}_id: the {noun} is already {r.status}")
                r.status, r.message, r.finished_at = "cancelled", f"cancelled by {actor.name}", _now()
                s.execute(update(Job).where(Job.run_id == run_id, Job.state == "queued").values(state="cancelled"))
                self._audit(s, actor.name, f"{noun}.cancel", f"{noun}:{run_id}", lb.marking, "ok", "")
                return self._view(r)
        except (NotFound, Forbidden) as exc:
            self._audit_denied(actor, f"{noun}.cancel", f"{noun}:{str(run_id)[:40]}", "", str(exc))
            raise

    def release(self, actor: Actor, run_id: str, rel_to: Any, public: Any = None, plans: bool = False
                ) -> dict[str, Any]:
        """Widen a run's label to ``rel_to`` (a superset of the current one; ``public=True`` too).

        Only a releaser (or admin) of the originator's nationality may (else :class:`Forbidden`); a label
        that is not wider is a :class:`Conflict` with the current one. Recorded in the audit log, denials too.
        """
        noun, _ = _kinds(plans)
        try:
            with self.session() as s:
                r = self._visible_run(s, actor, run_id, plans)
                old = run_label(r)
                if not actor.has("releaser") or actor.nationality != old.originator:
                    raise Forbidden(f"role: only a releaser of {old.originator} may release this {noun}")
                new = Label.parse({"originator": old.originator, "rel_to": rel_to,
                                   "public": old.public if public is None else public}, "body")
                if not new.covers(old):
                    raise Conflict(f"rel_to: a release may only widen the label; it is {old.marking}")
                r.label_rel_to, r.label_public = new.rel_to_column, new.public
                self._audit(s, actor.name, f"{noun}.release", f"{noun}:{run_id}", new.marking, "ok",
                            f"{old.marking} -> {new.marking}")
                return self._view(r)
        except (NotFound, Forbidden) as exc:
            self._audit_denied(actor, f"{noun}.release", f"{noun}:{str(run_id)[:40]}", "", str(exc))
            raise

    # ------------------------------------------------------------------ plans (stockpile, portfolio)
    def create_plan(self, actor: Actor, kind: str, params: dict[str, Any], label: Any = None,
                    world: Any = None) -> str:
        """Queue a plan (``kind`` ``stockpile`` or ``portfolio``, parameters as
        :func:`critmin.store.plan_params.check_plan` documents them, checked against ``world``, default
        ``critmin.load()``); returns its id. The same role and label rules as :meth:`create_run`.

        A portfolio is computed from the registry: when the store holds registry records, the label is
        narrowed at once to the intersection with the labels of the records the creator sees (the worker
        narrows again with the records it actually read) and the message says so.
        """
        if not actor.has("analyst"):
            self._audit_denied(actor, "plan.create", "plans", "", "viewer may not launch plans")
            raise Forbidden("role: launching plans needs the analyst role or stronger")
        if world is None:
            import critmin

            world = critmin.load()
        scenario, clean = check_plan(kind, params, world)
        lb = Label.parse(label if label is not None else {"originator": actor.nationality,
                                                          "rel_to": [actor.nationality]})
        if lb.originator != actor.nationality:
            self._audit_denied(actor, "plan.create", "plans", lb.marking, "originator is not the actor's nationality")
            raise Forbidden(f"label.originator: must be your nationality ({actor.nationality})")
        message = None
        if kind == "portfolio":
            lb, message = self.registry_label(actor, lb)
        rid = uuid.uuid4().hex
        now = _now()
        with self.session() as s:
            s.add(Run(id=rid, kind=kind, scenario=scenario, params=clean, status="queued", progress=0.0,
                      message=message, label_originator=lb.originator, label_rel_to=lb.rel_to_column,
                      label_public=lb.public, created_by=actor.id, created_at=now))
            s.flush()
            s.add(Job(id=uuid.uuid4().hex, run_id=rid, state="queued", attempts=0, created_at=now))
            self._audit(s, actor.name, "plan.create", f"plan:{rid}", lb.marking, "ok",
                        json.dumps({"kind": kind, **clean}))
        return rid

    def registry_label(self, actor: Actor, label: Label) -> tuple[Label, str | None]:
        """``label`` intersected with the labels of the registry records ``actor`` sees (the inputs of a result
        computed from the store's registry), and a message saying why when that narrows it (else None)."""
        if not self.has_registry():
            return label, None
        used = [lb for kind in ("project", "investment") for _, lb in self.registry_records(actor, kind)]
        out = derive([label, *used], label.originator)
        if out.public == label.public and out.rel_to == label.rel_to:
            return label, None
        narrower = sorted({lb.marking for lb in used if not lb.public and set(lb.rel_to) < set(label.rel_to)})
        why = ", ".join(narrower) or "labelled"
        return out, (f"label narrowed from {label.marking} to {out.marking}: the registry records it uses include "
                     f"{why} records")

    def list_plans(self, actor: Actor | None, limit: int = 200) -> list[dict[str, Any]]:
        """The plans ``actor`` may see, newest first (without summaries)."""
        return self.list_runs(actor, limit, kind=PLAN_KINDS)

    def get_plan(self, actor: Actor | None, plan_id: str, summary: bool = True) -> dict[str, Any]:
        """One plan the actor may see (``summary`` when done); NotFound otherwise (also for simulation runs)."""
        return self.get_run(actor, plan_id, summary, plans=True)

    def plan_result(self, actor: Actor, plan_id: str, action: str = "plan.download") -> tuple[dict[str, Any], Label]:
        """A done plan's summary and label; audited (``action``). Conflict while not done."""
        return self.run_result(actor, plan_id, action, plans=True)

    def cancel_plan(self, actor: Actor, plan_id: str) -> dict[str, Any]:
        """Cancel a queued or running plan (analysts and stronger)."""
        return self.cancel_run(actor, plan_id, plans=True)

    def release_plan(self, actor: Actor, plan_id: str, rel_to: Any, public: Any = None) -> dict[str, Any]:
        """Widen a plan's label (a releaser of the originator's nationality); see :meth:`release`."""
        return self.release(actor, plan_id, rel_to, public, plans=True)

    # ------------------------------------------------------------------ registry
    def import_registry(self, actor: Actor, path: str | None = None, label: Any = None) -> dict[str, int]:
        """Import the projects and investments of registry folder ``path`` (default: the embedded one),
        validated by :func:`critmin.registry.load`, under ``label`` (default: public, originated by the actor).

        Admins only. A record whose id is already stored is replaced when the actor may see it, else left as it
        is (``skipped``). Returns ``{"projects", "investments", "skipped"}``.
        """
        from critmin import registry

        if not actor.has("admin"):
            self._audit_denied(actor, "registry.import", "registry", "", "not an admin")
            raise Forbidden("role: importing the registry needs the admin role")
        lb = Label.parse(label if label is not None else {"originator": actor.nationality, "public": True})
        if lb.originator != actor.nationality:
            raise Forbidden(f"label.originator: must be your nationality ({actor.nationality})")
        reg = registry.load(path)
        counts = {"projects": 0, "investments": 0, "skipped": 0}
        now = _now()
        with self.session() as s:
            for kind, records in (("project", reg.projects), ("investment", reg.investments)):
                for rec in records:
                    data = rec.model_dump(mode="json", by_alias=True, exclude_none=True)
                    row = s.scalar(select(RegistryRecord).where(RegistryRecord.kind == kind,
                                                                RegistryRecord.record_id == rec.id))
                    if row is not None and not run_label(row).readable_by(actor.nationality):
                        counts["skipped"] += 1
                        continue
                    if row is None:
                        row = RegistryRecord(id=uuid.uuid4().hex, kind=kind, record_id=rec.id)
                        s.add(row)
                    row.data, row.updated_by, row.updated_at = data, actor.id, now
                    row.label_originator, row.label_rel_to, row.label_public = (lb.originator, lb.rel_to_column,
                                                                                lb.public)
                    counts[f"{kind}s"] += 1
            self._audit(s, actor.name, "registry.import", f"registry:{reg.path}", lb.marking, "ok",
                        json.dumps(counts))
        return counts

    def has_registry(self) -> bool:
        """True when the store holds registry records (then the web shows them instead of the embedded files)."""
        with self.session() as s:
            return s.scalar(select(RegistryRecord.id).limit(1)) is not None

    def registry_records(self, actor: Actor | None, kind: str) -> list[tuple[dict[str, Any], Label]]:
        """The ``kind`` ("project" or "investment") records ``actor`` may see, with their labels, by id."""
        if kind not in ("project", "investment"):
            raise InputError("kind", kind, "use project or investment")
        with self.session() as s:
            rows = s.scalars(select(RegistryRecord).where(RegistryRecord.kind == kind,
                                                          visible_to(actor, RegistryRecord))
                             .order_by(RegistryRecord.record_id))
            return [(dict(r.data), run_label(r)) for r in rows]

    def export_registry(self, actor: Actor, dest: str | os.PathLike[str], audit: bool = True) -> Label:
        """Write the registry records ``actor`` may see as a registry folder (today's file format, loadable by
        :func:`critmin.registry.load`) at ``dest`` (new or empty); returns the export's derived label."""
        from critmin import registry

        projects = self.registry_records(actor, "project")
        investments = self.registry_records(actor, "investment")
        labels = [lb for _, lb in projects + investments]
        out = derive(labels, actor.nationality) if labels else Label(actor.nationality, NATIONS, True)
        d = registry.init_registry(dest)
        for f in list(d.glob("projects_*")) + list(d.glob("investments_*")):
            f.unlink()
        (d / "projects_store.json").write_text(json.dumps({"projects": [p for p, _ in projects]}), encoding="utf-8")
        (d / "investments_store.json").write_text(json.dumps({"investments": [v for v, _ in investments]}),
                                                  encoding="utf-8")
        (d / "MARKING.txt").write_text(out.marking + "\n", encoding="utf-8")
        if audit:
            self.audit(actor, "registry.export", f"registry:{d}", out.marking, "ok",
                       f"{len(projects)} projects, {len(investments)} investments")
        return out

    def registry(self, actor: Actor | None) -> Any:
        """The :class:`critmin.registry.Registry` of the records ``actor`` may see (validated as files are)."""
        import tempfile

        from critmin import registry

        if actor is None:
            raise Forbidden("actor: a registry view needs an actor")
        with tempfile.TemporaryDirectory(prefix="critmin-registry-") as tmp:
            self.export_registry(actor, Path(tmp) / "registry", audit=False)
            reg = registry.load(str(Path(tmp) / "registry"))
        reg.path = None
        return reg

    # ------------------------------------------------------------------ jobs
    def claim(self, worker: str, lease: float = 30.0) -> dict[str, Any] | None:
        """Claim the oldest queued job for ``worker`` under a lease of ``lease`` seconds, or None.

        PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED``; SQLite: a conditional update (one writer at a time).
        """
        for _ in range(20):
            with self.session() as s:
                q = select(Job).where(Job.state == "queued").order_by(Job.created_at).limit(1)
                if self.is_postgres:
                    q = q.with_for_update(skip_locked=True)
                job = s.scalar(q)
                if job is None:
                    return None
                now, attempt = _now(), job.attempts + 1
                got = s.execute(update(Job).where(Job.id == job.id, Job.state == "queued").values(
                    state="running", worker=worker, attempts=Job.attempts + 1, lease_until=now + lease))
                if got.rowcount != 1:
                    continue
                run = s.get(Run, job.run_id)
                if run is None or run.status not in ("queued", "running"):
                    s.execute(update(Job).where(Job.id == job.id).values(state="cancelled"))
                    continue
                run.status, run.started_at, run.progress = "running", now, 0.0
                return {"job": job.id, "run": run.id, "kind": run.kind, "scenario": run.scenario,
                        "params": dict(run.params), "attempt": attempt, "created_by": run.created_by,
                        "label": run_label(run)}
        return None

    def heartbeat(self, job_id: str, worker: str, lease: float = 30.0, progress: float | None = None) -> bool:
        """Renew ``worker``'s lease on a job (and record progress 0–1); False when the job is no longer its
        to run (cancelled, or re-queued after the lease ran out): the worker should stop."""
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.state != "running" or job.worker != worker:
                return False
            run = s.get(Run, job.run_id)
            if run is None or run.status != "running":
                job.state = "cancelled"
                return False
            job.lease_until = _now() + lease
            if progress is not None:
                run.progress = max(0.0, min(1.0, float(progress)))
            return True

    def finish(self, job_id: str, worker: str, summary: dict[str, Any], label: Label | None = None,
               message: str | None = None) -> bool:
        """Mark a job done with the run's summary; False if the job is no longer the worker's.

        ``label``: a derived label the result must carry; it may only narrow the stored one (the intersection
        of both is stored), with ``message`` saying why.
        """
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.state != "running" or job.worker != worker:
                return False
            run = s.get(Run, job.run_id)
            job.state, job.lease_until = "done", None
            if run is not None and run.status == "running":
                noun = "run" if run.kind == "simulate" else "plan"
                if label is not None:
                    old = run_label(run)
                    new = derive([old, label], old.originator)
                    run.label_rel_to, run.label_public = new.rel_to_column, new.public
                if message is not None:
                    run.message = message[:2000]
                run.status, run.progress, run.summary, run.finished_at = "done", 1.0, summary, _now()
                self._audit(s, worker, f"{noun}.done", f"{noun}:{run.id}", run_label(run).marking, "ok",
                            (message or "")[:500])
            return True

    def fail(self, job_id: str, worker: str, message: str) -> None:
        """Mark a job and its run failed with ``message``."""
        with self.session() as s:
            job = s.get(Job, job_id)
            if job is None or job.worker != worker or job.state != "running":
                return
            job.state, job.error, job.lease_until = "failed", message[:2000], None
            run = s.get(Run, job.run_id)
            if run is not None and run.status == "running":
                run.status, run.message, run.finished_at = "failed", message[:2000], _now()
                noun = "run" if run.kind == "simulate" else "plan"
                self._audit(s, worker, f"{noun}.fail", f"{noun}:{run.id}", run_label(run).marking, "failed",
                            message[:500])

    def reap(self, now: float | None = None) -> list[tuple[str, str]]:
        """Jobs whose worker stopped renewing its lease: re-queued (up to :data:`MAX_ATTEMPTS` tries) or failed
        with a message. Returns ``[(run id, "requeued"|"failed")]``."""
        now = _now() if now is None else now
        out = []
        with self.session() as s:
            for job in s.scalars(select(Job).where(Job.state == "running", Job.lease_until < now)):
                run = s.get(Run, job.run_id)
                when = _iso(job.lease_until)
                if run is not None and run.status == "cancelled":
                    job.state = "cancelled"
                    continue
                if job.attempts < MAX_ATTEMPTS:
                    job.state, job.worker, job.lease_until = "queued", None, None
                    msg = f"re-queued: worker stopped renewing its lease at {when} (attempt {job.attempts})"
                    if run is not None:
                        run.status, run.progress, run.message = "queued", 0.0, msg
                    out.append((job.run_id, "requeued"))
                else:
                    msg = f"failed: worker lost {job.attempts} times (last lease ended {when})"
                    job.state, job.error, job.lease_until = "failed", msg, None
                    if run is not None:
                        run.status, run.message, run.finished_at = "failed", msg, now
                    out.append((job.run_id, "failed"))
                if run is not None:
                    self._audit(s, "system", "job.reap", f"run:{run.id}", run_label(run).marking, out[-1][1], msg)
        return out

    def job_states(self, run_id: str) -> list[dict[str, Any]]:
        """The jobs of a run (state, worker, attempts, error): for the worker tests and ``critmin worker``."""
        with self.session() as s:
            return [{"state": j.state, "worker": j.worker, "attempts": j.attempts, "error": j.error}
                    for j in s.scalars(select(Job).where(Job.run_id == run_id).order_by(Job.created_at))]

    # ------------------------------------------------------------------ audit log
    def _audit(self, s: Session, actor: str, action: str, obj: str, label: str, outcome: str, detail: str) -> None:
        """Append one record inside session ``s``: lock the head row first, so that appends are serialised."""
        s.execute(update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1))
        head = s.get(AuditHead, 1, populate_existing=True)
        seq = head.seq
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        fields = [str(x)[:n] for x, n in ((actor, 64), (action, 64), (obj, 128), (label, 64), (outcome, 16))]
        h = audit_hash(head.hash, seq, at, *fields, detail)
        s.add(AuditEntry(seq=seq, at=at, actor=fields[0], action=fields[1], object=fields[2], label=fields[3],
                         outcome=fields[4], detail=detail, prev_hash=head.hash, hash=h))
        head.hash = h

    def _audit_denied(self, actor: Actor | None, action: str, obj: str, label: str, detail: str) -> None:
        with self.session() as s:
            self._audit(s, actor.name if actor else "anonymous", action, obj, label, "denied", detail[:500])

    def audit(self, actor: Actor | None, action: str, obj: str, label: str = "", outcome: str = "ok",
              detail: str = "") -> None:
        """Append a record (time, actor, action, object, label, outcome, detail) to the audit log."""
        with self.session() as s:
            self._audit(s, actor.name if actor else "anonymous", action, obj, label, outcome, detail)

    def audit_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The audit records, oldest first (the last ``limit`` if given)."""
        with self.session() as s:
            q = select(AuditEntry).order_by(AuditEntry.seq.desc())
            if limit:
                q = q.limit(limit)
            rows = list(s.scalars(q))[::-1]
            return [{"seq": a.seq, "at": a.at, "actor": a.actor, "action": a.action, "object": a.object,
                     "label": a.label, "outcome": a.outcome, "detail": a.detail, "hash": a.hash} for a in rows]

    def verify_audit(self) -> AuditCheck:
        """Recompute the hash chain: every record's hash, its link to the one before, and the head."""
        prev, n = "0" * 64, 0
        with self.session() as s:
            for a in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)).yield_per(1000):
                n += 1
                if a.seq != n:
                    return AuditCheck(False, n - 1, f"record {n}: missing (next is {a.seq})")
                if a.prev_hash != prev:
                    return AuditCheck(False, n - 1, f"record {a.seq}: does not link to record {a.seq - 1}")
                h = audit_hash(prev, a.seq, a.at, a.actor, a.action, a.object, a.label, a.outcome, a.detail)
                if h != a.hash:
                    return AuditCheck(False, n - 1, f"record {a.seq}: content does not match its hash")
                prev = h
            head = s.get(AuditHead, 1)
            if head is None or head.seq != n or head.hash != prev:
                return AuditCheck(False, n, f"the head names record {head.seq if head else '?'}; the log ends at {n}")
        return AuditCheck(True, n)
