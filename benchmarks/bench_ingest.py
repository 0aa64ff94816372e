"""Ingest throughput: visit-log rows per second for the default-size chain.

Master data (stores, products, tracts, displays, shelves, planograms) is ingested first; the timed
part is ``ingest_files`` on the visit log in shelfwise's own layout (reading, validating every
cell and reference, and bulk-writing in one transaction) into a fresh database. Repeated
``REPEATS`` times per backend, alternating backends; medians are reported.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.storage import Repository, make_engine, sqlite_url, upgrade
from shelfwise.storage.ingest import ingest_files

REPEATS = 5
PG_ADMIN_URL = os.environ.get(
    "SHELFWISE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _timed_ingest(url: str, master: list[Path], visits: Path) -> float:
    engine = make_engine(url)
    upgrade(engine)
    repo = Repository(engine)
    ingest_files(repo, master)
    started = time.perf_counter()
    ingest_files(repo, [visits])
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def _postgres_run(master: list[Path], visits: Path) -> float:
    name = f"shelfwise_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        return _timed_ingest(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", master, visits)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run() -> dict[str, Any]:
    """Measure and return the figures for ``results/ingest.json``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chain = generate_chain(ChainConfig(), random_state=0)
        written = chain.write(folder / "data", fmt="csv")
        visits = next(p for p in written if p.name == "visits.csv")
        master = [p for p in written if p.name not in ("visits.csv", "edgerec3d_visits.csv")]
        n_rows = sum(1 for _ in visits.open()) - 1
        sqlite_s, pg_s = [], []
        for i in range(REPEATS):
            sqlite_s.append(_timed_ingest(sqlite_url(folder / f"bench{i}.db"), master, visits))
            pg_s.append(_postgres_run(master, visits))
    sq, pg = statistics.median(sqlite_s), statistics.median(pg_s)
    return {
        "visit_rows": n_rows,
        "repeats": REPEATS,
        "sqlite_seconds_median": round(sq, 3),
        "postgres_seconds_median": round(pg, 3),
        "sqlite_rows_per_s": round(n_rows / sq),
        "postgres_rows_per_s": round(n_rows / pg),
        "sqlite_target_rows_per_s": 50_000,
        "sqlite_meets_target": n_rows / sq >= 50_000,
        "postgres_over_sqlite_ratio": round(sq / pg, 3),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
