"""Engines, the database URL setting, and schema migrations (Alembic)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from shelfwise.exceptions import StorageError

#: Environment variable holding the database URL.
DATABASE_URL_ENV = "SHELFWISE_DATABASE_URL"
#: Used when neither an argument nor the environment names a database.
DEFAULT_DATABASE_URL = "sqlite:///shelfwise.db"

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def resolve_database_url(url: str | None = None) -> str:
    """Return ``url``, else ``$SHELFWISE_DATABASE_URL``, else ``sqlite:///shelfwise.db``."""
    return url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DATABASE_URL


def sqlite_url(path: str | Path) -> str:
    """SQLAlchemy URL of the SQLite file at ``path``."""
    return f"sqlite:///{Path(path).resolve()}"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def make_engine(url: str | None = None) -> Engine:
    """Create an engine for ``url`` (see :func:`resolve_database_url`).

    SQLite connections enforce foreign keys. PostgreSQL URLs should use the psycopg 3 driver,
    e.g. ``postgresql+psycopg://user@127.0.0.1:5432/shelfwise``.
    """
    resolved = resolve_database_url(url)
    if resolved.startswith("postgresql://"):
        resolved = "postgresql+psycopg://" + resolved.removeprefix("postgresql://")
    try:
        engine = create_engine(resolved)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise StorageError(
            f"database URL must be a SQLAlchemy URL such as sqlite:///shelfwise.db or "
            f"postgresql+psycopg://user@host/db; got {resolved!r} ({exc})"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """The newest migration revision shipped with this shelfwise."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StorageError("no migrations found in shelfwise.storage.migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database at ``engine`` is migrated to (``None`` if never migrated)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as exc:
        raise StorageError(f"cannot connect to database {engine.url!r}: {exc.orig}") from exc


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Migrate the database at ``engine`` to ``revision``; return the revision reached."""
    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise StorageError(f"cannot migrate database {engine.url!r}: {exc.orig}") from exc
    reached = current_revision(engine)
    return reached or ""


def require_current_schema(engine: Engine) -> None:
    """Raise :class:`StorageError` unless the database is migrated to the shipped head."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise StorageError(
            f"database {engine.url!r} is at schema revision {current!r} but this shelfwise needs "
            f"{head!r}; run `shelfwise db upgrade`"
        )
