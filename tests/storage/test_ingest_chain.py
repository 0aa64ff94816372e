"""The synthetic chain's files ingest cleanly, in both layouts, idempotently, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.storage import Repository
from shelfwise.storage.ingest import ingest_files
from tests.conftest import assert_same_snapshot, snapshot


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    config = ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=3)
    return generate_chain(config, random_state=3)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chain_ingests_and_reingest_is_a_no_op(
    repo: Repository, chain: SyntheticChain, tmp_path: Path, fmt: str
) -> None:
    written = chain.write(tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    first = ingest_files(repo, [tmp_path / fmt])
    counts = repo.counts()
    assert counts.stores == 6
    assert counts.displays == len(chain.displays)
    assert counts.planograms == len(chain.planograms)
    own = chain.to_frames()["visits"]
    published = chain.to_frames()["edgerec3d"]
    assert counts.visit_items == len(own) + len(published)
    assert first.totals()["visit_items"].new == len(own) + len(published)
    before = snapshot(repo.engine)
    again = ingest_files(repo, written)
    assert all(w.new == 0 and w.updated == 0 for w in again.totals().values())
    after = snapshot(repo.engine)
    before.pop("ingest_runs")
    after.pop("ingest_runs")
    assert_same_snapshot(before, after)


def test_stored_records_equal_the_chain(repo: Repository, chain: SyntheticChain,
                                        tmp_path: Path) -> None:
    ingest_files(repo, chain.write(tmp_path, fmt="csv"))
    assert repo.list_products() == sorted(chain.products, key=lambda p: p.product_id)
    assert repo.list_displays() == sorted(chain.displays, key=lambda d: d.display_id)
    some = chain.planograms[0]
    stored = {p.version: p for p in repo.planograms(some.display_id)}
    assert stored[some.version].positions == tuple(
        sorted(some.positions, key=lambda p: (p.shelf_index, p.x_cm))
    )
