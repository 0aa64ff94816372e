"""Shared fixtures: migrated databases on SQLite and on the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.exc import OperationalError

from shelfwise.storage import Repository, make_engine, sqlite_url, upgrade
from shelfwise.storage.schema import TABLES_IN_ORDER

#: Admin URL used to create a throw-away database per test (trust auth on 127.0.0.1).
PG_ADMIN_URL = os.environ.get(
    "SHELFWISE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in a temporary file."""
    engine = make_engine(sqlite_url(tmp_path / "test.db"))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine() -> Iterator[Engine]:
    """A migrated, freshly created PostgreSQL database, dropped afterwards.

    Fails (rather than skips) when PostgreSQL is unreachable and CI=true.
    """
    name = f"shelfwise_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable: {exc.orig}"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    upgrade(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated database on each backend in turn."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def repo(engine: Engine) -> Repository:
    """A repository over each backend in turn."""
    return Repository(engine)


def snapshot(engine: Engine) -> dict[str, pd.DataFrame]:
    """Every row of every table, sorted, to compare a database before and after."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES_IN_ORDER:
            result = conn.execute(select(table))
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            out[table.name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return out


def assert_same_snapshot(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    """Fail unless two snapshots hold the same rows in every table."""
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False, obj=name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave ``slow`` tests out of local runs unless asked for; CI (CI=true) runs them all.

    ``pytest -m slow`` (or any ``-m`` expression) runs exactly what it selects.
    """
    if _in_ci() or config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
