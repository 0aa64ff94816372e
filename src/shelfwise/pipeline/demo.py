"""The demo: the whole main job on the bundled synthetic chain."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shelfwise.data.synthetic import (
    EDGEREC3D_FOLDER,
    ChainConfig,
    SyntheticChain,
    generate_chain,
)
from shelfwise.demand import RBPModel
from shelfwise.spatial.clustering import adjusted_rand
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import IngestReport, ingest_files

from .models import ClusterRun, FitRun, Progress, _quiet, cluster_stores, fit_payoffs


# ---------------------------------------------------------------------------- the demo
@dataclass(frozen=True)
class DemoRun:
    """Everything the demo produced, for printing and for tests."""

    chain: SyntheticChain
    repo: Repository
    ingest: IngestReport
    clusters: ClusterRun
    cluster_ari: float
    """Adjusted Rand index of the found store clusters against the chain's true clusters."""
    fit: FitRun
    seconds: dict[str, float]
    """Wall time per stage."""


def run_demo(
    out: Path,
    *,
    config: ChainConfig | None = None,
    random_state: int = 0,
    draws: int = 500,
    tune: int = 500,
    progress: Progress = _quiet,
    on_sampling: Callable[[int, int], None] | None = None,
) -> DemoRun:
    """Synthesise the bundled chain, ingest it into a fresh SQLite database, cluster the
    stores and fit the payoff model on the clusters; artefacts go under ``out``.

    ``out`` receives ``data/`` (CSV files), ``shelfwise.db``, ``clusters/`` and
    ``rbp-model.npz`` with ``rbp-figures/``. The database file is replaced if it exists.
    """
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    db_path = out / "shelfwise.db"
    out.mkdir(parents=True, exist_ok=True)
    for stale in (
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    progress("Synthesising the chain")
    chain = generate_chain(config or ChainConfig(), random_state=random_state)
    written = chain.write(out / "data", fmt="csv")
    seconds["synthesise"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Ingesting into SQLite")
    repo = Repository.from_url(sqlite_url(db_path))
    # The EdgeRec3D-layout export repeats the same visits in the published layout; one display's
    # visits may come in one layout only, so the demo stores shelfwise's own.
    own = [p for p in written if p.parent.name != EDGEREC3D_FOLDER]
    report = ingest_files(repo, own)
    seconds["ingest"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Clustering stores")
    clusters = cluster_stores(repo, out / "clusters", random_state=random_state)
    ari = adjusted_rand(clusters.model.labels_, chain.true_cluster)
    seconds["cluster"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Fitting the payoff model")
    model = RBPModel(draws=draws, tune=tune, random_state=random_state)
    labels = {s: str(c) for s, c in clusters.model.labels_.items()}
    fit = fit_payoffs(repo, model, out / "rbp-model.npz", clusters=labels, on_progress=on_sampling)
    seconds["fit"] = time.perf_counter() - t0
    return DemoRun(chain, repo, report, clusters, ari, fit, seconds)
