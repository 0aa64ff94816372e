"""The synthetic chain's files ingest cleanly, in both layouts, idempotently, on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.exceptions import DataValidationError
from shelfwise.storage import Repository
from shelfwise.storage.ingest import ingest_files
from tests.conftest import assert_same_snapshot, snapshot


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    config = ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=3)
    return generate_chain(config, random_state=3)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_chain_folder_ingests_once_and_reingest_is_a_no_op(
    repo: Repository, chain: SyntheticChain, tmp_path: Path, fmt: str
) -> None:
    chain.write(tmp_path / fmt, fmt=fmt)  # type: ignore[arg-type]
    first = ingest_files(repo, [tmp_path / fmt])
    counts = repo.counts()
    assert counts.stores == 6
    assert counts.displays == len(chain.displays)
    assert counts.planograms == len(chain.planograms)
    own = chain.to_frames()["visits"]
    # The folder holds the visits once; the EdgeRec3D-layout export sits in a subfolder.
    assert counts.visit_items == len(own)
    assert first.totals()["visit_items"].new == len(own)
    before = snapshot(repo.engine)
    again = ingest_files(repo, [tmp_path / fmt])
    assert all(w.new == 0 and w.updated == 0 for w in again.totals().values())
    after = snapshot(repo.engine)
    before.pop("ingest_runs")
    after.pop("ingest_runs")
    assert_same_snapshot(before, after)


def test_published_layout_alone_and_never_beside_the_own_layout(
    repo: Repository, chain: SyntheticChain, tmp_path: Path
) -> None:
    written = chain.write(tmp_path, fmt="csv")
    published = next(p for p in written if p.parent.name == "edgerec3d")
    report = ingest_files(repo, [published])
    assert report.totals()["visit_items"].new == len(chain.to_frames()["edgerec3d"])
    assert repo.counts().stores == 6
    # Adding the same visits in shelfwise's own layout would count sales twice: refused.
    with pytest.raises(
        DataValidationError,
        match=r"visits\.csv, row 1, column 'display_id': "
        r"must not get visits-layout visits",
    ):
        ingest_files(repo, written)


def test_stored_records_equal_the_chain(
    repo: Repository, chain: SyntheticChain, tmp_path: Path
) -> None:
    chain.write(tmp_path, fmt="csv")
    ingest_files(repo, [tmp_path])
    assert repo.list_products() == sorted(chain.products, key=lambda p: p.product_id)
    assert repo.list_displays() == sorted(chain.displays, key=lambda d: d.display_id)
    assert repo.list_tracts() == sorted(chain.tracts, key=lambda t: t.tract_id)
    some = chain.planograms[0]
    stored = {p.version: p for p in repo.planograms(some.display_id)}
    assert stored[some.version].positions == tuple(
        sorted(some.positions, key=lambda p: (p.shelf_index, p.x_cm))
    )
