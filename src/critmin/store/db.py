"""Where the store lives, how to connect to it and how its schema is migrated (Alembic, in the package).

The default store is a SQLite file (WAL journal) in the user's data folder:
``$XDG_DATA_HOME/critmin/critmin.db`` (``~/.local/share/critmin/critmin.db``). ``CRITMIN_DB`` or a
command's ``--db`` picks another: a SQLAlchemy URL (``postgresql+psycopg://user:pw@host/db``,
``sqlite:///path``) or a plain file path (read as SQLite).
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from critmin.errors import InputError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def default_path() -> Path:
    """The default SQLite file: ``$XDG_DATA_HOME/critmin/critmin.db`` (``~/.local/share/critmin/...``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "critmin" / "critmin.db"


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """The store URL from ``db`` (URL or path), else ``$CRITMIN_DB``, else the default SQLite file."""
    raw = str(db) if db not in (None, "") else os.environ.get("CRITMIN_DB") or ""
    if not raw:
        p = default_path()
        p.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{p}"
    if "://" not in raw:
        p = Path(raw).expanduser().resolve()
        if not p.parent.is_dir():
            raise InputError("db", raw, "the folder of this SQLite file does not exist")
        return f"sqlite:///{p}"
    try:
        url = make_url(raw)
    except Exception:  # noqa: BLE001 - SQLAlchemy raises ArgumentError and others for a malformed URL
        raise InputError("db", raw, "not a database URL (e.g. sqlite:///FILE, postgresql+psycopg://...)") from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise InputError("db", raw, "critmin stores on SQLite or PostgreSQL")
    return raw


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001 - DB-API connection
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite with WAL, foreign keys and a 30 s busy timeout; PostgreSQL as is."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=10, max_overflow=20)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _alembic_config(connection) -> object:  # noqa: ANN001 - SQLAlchemy Connection
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the store's schema up to ``revision`` (``head``: the newest)."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the store's schema down to ``revision`` (``base``: no tables)."""
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), revision)


def current_revision(engine: Engine) -> str | None:
    """The schema revision the store is at (None: not migrated)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(engine: Engine) -> list[str]:
    """The tables in the store, sorted."""
    return sorted(inspect(engine).get_table_names())
