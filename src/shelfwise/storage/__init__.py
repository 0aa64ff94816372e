"""Storage: SQLAlchemy tables, Alembic migrations, bulk writes and the repository."""

from shelfwise.storage.bulk import WriteCounts
from shelfwise.storage.engine import (
    DATABASE_URL_ENV,
    DEFAULT_DATABASE_URL,
    current_revision,
    head_revision,
    make_engine,
    require_current_schema,
    resolve_database_url,
    sqlite_url,
    upgrade,
)
from shelfwise.storage.repository import Repository, TableCounts

__all__ = [
    "DATABASE_URL_ENV",
    "DEFAULT_DATABASE_URL",
    "Repository",
    "TableCounts",
    "WriteCounts",
    "current_revision",
    "head_revision",
    "make_engine",
    "require_current_schema",
    "resolve_database_url",
    "sqlite_url",
    "upgrade",
]
