"""A user's logs in EdgeRec3D's published layout (no coordinates, no dimensions, no shelves):
the recommend workflow still runs, degrades in the open and says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.demand import RBPModel
from shelfwise.pipeline import observations_from_visits
from shelfwise.pipeline.assortment import load_workspace, recommend_all
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import ingest_files


@pytest.mark.filterwarnings("ignore::shelfwise.demand.ConvergenceWarning")
def test_recommend_runs_on_edgerec3d_logs_and_says_what_it_lacks(tmp_path: Path) -> None:
    chain = generate_chain(
        ChainConfig(n_stores=3, n_products=12, weeks=3, displays_per_store=1), random_state=2
    )
    written = chain.write(tmp_path / "data")
    logs = [p for p in written if p.parent.name == "edgerec3d"]
    assert logs
    repo = Repository.from_url(sqlite_url(tmp_path / "logs.db"))
    ingest_files(repo, logs)
    ws = load_workspace(repo)
    assert any("no coordinates" in n for n in ws.notes)
    assert any("have no dimensions" in n for n in ws.notes)
    obs, _ = observations_from_visits(repo.visits_frame())
    model = RBPModel(draws=30, tune=30, batch_size=16, n_jobs=1, random_state=0)
    model.fit(obs, {s: "all" for s in set(obs["store_id"])})
    run = recommend_all(repo, model, out=tmp_path / "recs", random_state=0)
    recs = run.run.recommendations
    assert len(recs) == 3
    assert all(r.planogram is None for r in recs)
    assert all("no layout" in r.layout_note or "no shelf geometry" in r.layout_note for r in recs)
    for r in recs:
        total = sum(it.facings for it in r.items)
        assert 0 < total <= repo.get_display(r.display_id).max_slots
    assert run.run_id == 1
    stored = repo.recommendations_frame()
    assert set(stored["display_id"]) == {r.display_id for r in recs}
    assert (tmp_path / "recs" / "recommendations.csv").is_file()
