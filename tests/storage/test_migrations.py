"""Migrations create exactly the schema the code declares, on every backend."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from shelfwise.exceptions import StorageError
from shelfwise.storage import (
    current_revision,
    head_revision,
    make_engine,
    require_current_schema,
    sqlite_url,
    upgrade,
)
from shelfwise.storage.schema import metadata


def test_migrated_schema_matches_declared_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_upgrade_twice_is_a_no_op(engine: Engine) -> None:
    assert upgrade(engine) == head_revision()
    assert upgrade(engine) == head_revision()


def test_unmigrated_database_is_refused_with_advice(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(sqlite_url(tmp_path / "empty.db"))
    with pytest.raises(StorageError, match=r"revision None .* run `shelfwise db upgrade`"):
        require_current_schema(engine)
