"""Set-up shared by the benchmarks that score policies on synthetic chains of several seeds.

Imported as ``_chains`` by the ``bench_*.py`` files (``benchmarks/run.py`` runs from this
folder, so it is on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from shelfwise.assortment.problem import DisplayProblem
from shelfwise.data.synthetic import EDGEREC3D_FOLDER, ChainConfig, SyntheticChain, generate_chain
from shelfwise.pipeline.assortment import (
    Workspace,
    build_problems,
    drop_unknown_candidates,
    load_workspace,
)
from shelfwise.pipeline.demo import DemoOptions
from shelfwise.pipeline.models import cluster_stores
from shelfwise.pipeline.suite import (
    PayoffSuite,
    fit_suite,
    payoff_log,
    payoff_observations,
    time_split,
)
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import ingest_files


@dataclass(frozen=True)
class ChainSetup:
    """A chain ingested, clustered and fitted as the demo's evaluation does it."""

    chain: SyntheticChain
    workspace: Workspace
    suite: PayoffSuite
    problems: Sequence[DisplayProblem]
    """One per display, today's state, candidates among the products the RBP knows."""
    eligible: Mapping[str, Sequence[str]]


def chain_setup(seed: int, out: Path, *, with_ensemble: bool = True) -> ChainSetup:
    """The chain of ``seed`` (default configuration) under ``out``: written as CSV, ingested
    into SQLite, stores clustered, every payoff model fitted on the training window with the
    demo's evaluation settings, display problems built."""
    opts = DemoOptions()
    chain = generate_chain(ChainConfig(), random_state=seed)
    written = chain.write(out / "data", fmt="csv")
    repo = Repository.from_url(sqlite_url(out / "shelfwise.db"))
    ingest_files(repo, [p for p in written if p.parent.name != EDGEREC3D_FOLDER])
    clusters = cluster_stores(repo, out / "clusters", random_state=seed)
    labels = {s: str(c) for s, c in clusters.model.labels_.items()}
    ws = load_workspace(repo)
    log = payoff_log(ws.visits, ws.displays)
    train = log[log["visited_at"] < time_split(log, 0.25)]
    suite = fit_suite(
        payoff_observations(train),
        labels,
        rbp_options={"draws": opts.eval_draws, "tune": opts.eval_tune},
        ensemble_options={"epochs": opts.ensemble_epochs},
        with_ensemble=with_ensemble,
        random_state=seed,
    )
    problems, eligible = build_problems(ws, clusters=labels, random_state=seed)
    problems, _ = drop_unknown_candidates(problems, suite.rbp)
    return ChainSetup(chain, ws, suite, problems, eligible)
