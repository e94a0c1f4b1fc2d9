"""Who is asking: Bearer API tokens or a signed session cookie (pages), and CSRF for cookie-borne writes.

* ``Authorization: Bearer TOKEN``: the token's account (401 when the token is unknown, revoked or expired,
  even if a session cookie is also present).
* Otherwise the session cookie set by ``POST /login`` (signed with a key kept in the store).
* A write (POST) that relies on the cookie must carry the session's CSRF token: the ``csrf_token``
  form field (pages) or the ``X-CSRF-Token`` header (JavaScript). Bearer requests need none.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import HTTPException, Request

from critmin.store import Actor, Store

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class LoginRequired(Exception):
    """A page was asked for without a signed-in actor: redirect to the login page."""


def store_of(request: Request) -> Store:
    """The app's store."""
    return request.app.state.store


def _bearer(request: Request) -> str | None:
    """The Bearer token, "" for a malformed Authorization header, None without one."""
    h = request.headers.get("authorization")
    if h is None:
        return None
    scheme, _, token = h.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else ""


def actor_of(request: Request) -> tuple[Actor | None, str]:
    """(actor or None, how: "token", "session" or "none")."""
    token = _bearer(request)
    store = store_of(request)
    if token is not None:
        return (store.actor_for_token(token) if token else None), "token"
    uid = request.session.get("uid") if "session" in request.scope else None
    if isinstance(uid, str):
        return store.actor_by_id(uid), "session"
    return None, "none"


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    tok = request.session.get("csrf")
    if not isinstance(tok, str):
        tok = secrets.token_urlsafe(24)
        request.session["csrf"] = tok
    return tok


def csrf_ok(request: Request, given: str | None) -> bool:
    """True when ``given`` is the session's CSRF token."""
    want = request.session.get("csrf")
    return isinstance(want, str) and isinstance(given, str) and hmac.compare_digest(want, given)


async def api_actor(request: Request) -> Actor:
    """Dependency of every API route: the actor, or 401; cookie-borne writes need ``X-CSRF-Token``."""
    actor, how = actor_of(request)
    if actor is None:
        raise HTTPException(401, "authorization: a valid Bearer token or a signed-in session is required",
                            headers={"WWW-Authenticate": "Bearer"})
    if how == "session" and request.method not in SAFE_METHODS and not csrf_ok(
            request, request.headers.get("x-csrf-token")):
        raise HTTPException(403, "x-csrf-token: missing or wrong CSRF token for a cookie-authenticated request")
    return actor


async def page_actor(request: Request) -> Actor:
    """Dependency of every page: the signed-in actor, else a redirect to the login page."""
    actor, how = actor_of(request)
    if actor is None:
        if how == "token":
            raise HTTPException(401, "authorization: invalid or expired token", headers={"WWW-Authenticate": "Bearer"})
        raise LoginRequired()
    return actor
