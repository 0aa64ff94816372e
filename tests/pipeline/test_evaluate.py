"""The evaluation workflow: argument checks and the closed loop on the truth."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shelfwise.assortment.candidates import CooccurrenceGraph
from shelfwise.assortment.problem import PayoffTable
from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.evaluation import SalesFeedback, events_from_log
from shelfwise.evaluation.groundtruth import DemandTruth, truth_table
from shelfwise.evaluation.problems import eligible_products
from shelfwise.exceptions import InvalidParameterError
from shelfwise.pipeline import evaluate as evaluate_module
from shelfwise.pipeline.assortment import Workspace, build_problems, load_workspace
from shelfwise.pipeline.evaluate import ReplayProblems, closed_loop_on_truth, evaluate_policies
from shelfwise.pipeline.suite import (
    OneCluster,
    PayoffSuite,
    ablation_policies,
    baseline_policies,
    payoff_log,
)
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import ingest_files


def test_closed_loop_needs_the_truth(tmp_path: Path) -> None:
    repo = Repository.from_url(sqlite_url(tmp_path / "empty.db"))
    with pytest.raises(InvalidParameterError, match="closed_loop needs the chain's truth"):
        evaluate_policies(repo, closed_loop=SalesFeedback())
    with pytest.raises(InvalidParameterError, match="closed_loop must be a SalesFeedback"):
        evaluate_policies(repo, closed_loop=True)  # type: ignore[arg-type]
    for bad in (0, -2, 1.5, True):
        with pytest.raises(InvalidParameterError, match="n_jobs must be None, -1 or an integer"):
            evaluate_policies(repo, n_jobs=bad)  # type: ignore[arg-type]


def test_results_do_not_depend_on_worker_processes(tmp_path: Path) -> None:
    chain = generate_chain(
        ChainConfig(n_stores=4, n_products=16, weeks=3, displays_per_store=2), random_state=3
    )
    repo = Repository.from_url(sqlite_url(tmp_path / "chain.db"))
    ingest_files(repo, [p for p in chain.write(tmp_path / "data") if p.parent.name == "data"])
    kw = {
        "truth": chain.truth,
        "runs": 3,
        "rounds": 2,
        "closed_loop": SalesFeedback(days=4),
        "rbp_options": {"draws": 30, "tune": 30},
        "ensemble_options": {"epochs": 2, "n_members": 2},
        "random_state": 4,
    }
    here = evaluate_policies(repo, n_jobs=None, **kw)  # type: ignore[arg-type]
    workers = evaluate_policies(repo, n_jobs=2, **kw)  # type: ignore[arg-type]
    for name in ("replay_baselines", "replay_ablations"):
        pd.testing.assert_frame_equal(getattr(here, name), getattr(workers, name))
    names = ("truth_baselines", "truth_ablations", "closed_loop_baselines", "closed_loop_ablations")
    for name in names:
        a, b = getattr(here, name), getattr(workers, name)
        pd.testing.assert_frame_equal(a.frame, b.frame)
    assert set(here.replay_baselines.index) >= {"EdgeRec3D", "Genetic", "random"}
    assert {"replay", "truth", "truth_closed_loop", "scoring_wall"} <= set(workers.seconds)


def test_prepared_replay_problems_are_the_lazily_built_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = generate_chain(
        ChainConfig(n_stores=4, n_products=16, weeks=3, displays_per_store=2), random_state=3
    )
    repo = Repository.from_url(sqlite_url(tmp_path / "chain.db"))
    ingest_files(repo, [p for p in chain.write(tmp_path / "data") if p.parent.name == "data"])
    ws = load_workspace(repo)
    graph = CooccurrenceGraph.from_visits(ws.visits, ws.products)
    eligible = {d: eligible_products(disp, ws.products) for d, disp in ws.displays.items()}
    contexts = [
        e.context
        for e in events_from_log(payoff_log(ws.visits, ws.displays))
        if e.context.previous_state
    ]

    def make() -> ReplayProblems:
        return ReplayProblems(ws.displays, ws.products, graph, eligible, {}, random_state=5)

    prepared = make().prepare(contexts)

    def no_more_draws(*args: object, **kwargs: object) -> None:
        raise AssertionError("a problem was built after prepare")

    monkeypatch.setattr(evaluate_module, "generate_candidates", no_more_draws)
    built = [prepared(ctx) for ctx in contexts]
    monkeypatch.undo()
    lazy = make()
    # built in the other order, one at a time: the same problems (each seeded by its event)
    for ctx, problem in reversed(list(zip(contexts, built, strict=True))):
        assert lazy(ctx) == problem
    assert all(prepared(ctx) is problem for ctx, problem in zip(contexts, built, strict=True))
    assert sum(len(p.candidates) for p in built) > 0


class _TruthModel:
    """A stand-in payoff model that knows the truth, for the products it was "fitted" on."""

    name = "truth"

    def __init__(self, truth: DemandTruth, known: Sequence[str]) -> None:
        self.truth = truth
        self.model = SimpleNamespace(product_ids_=tuple(known))

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        full = truth_table(self.truth, store_id, max_facings=max_facings)
        rows = [full.row(p) for p in product_ids]
        mean = full.mean[rows]
        return PayoffTable(store_id, tuple(product_ids), mean, 0.1 * mean + 0.01)

    def epistemic_sd(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        cluster: str | None = None,
    ) -> np.ndarray:
        return self.table(store_id, product_ids, max_facings).sd


def test_closed_loop_on_truth_draws_candidates_among_known_products() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=3, n_products=20, weeks=3, displays_per_store=2), random_state=2
    )
    products = {p.product_id: p for p in chain.products}
    ws = Workspace({d.display_id: d for d in chain.displays}, products, chain.visit_log, ())
    known = sorted(products)[:14]
    model = _TruthModel(chain.truth, known)
    suite = PayoffSuite(
        model,  # type: ignore[arg-type]
        OneCluster(model, "all", name="rbp_global"),  # type: ignore[arg-type]
        model,  # type: ignore[arg-type]
        model,  # type: ignore[arg-type]
        model,  # type: ignore[arg-type]
    )
    problems, eligible = build_problems(ws, random_state=0)
    # as drop_unknown_candidates does for a fitted model: today's candidates are known too
    problems = [
        replace(prob, candidates=tuple(c for c in prob.candidates if c in known))
        for prob in problems
    ]
    kw = {"rounds": 2, "feedback": SalesFeedback(days=4), "random_state": 5}
    first = closed_loop_on_truth(suite, ws, problems, eligible, chain.truth, **kw)
    again = closed_loop_on_truth(suite, ws, problems, eligible, chain.truth, **kw)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert set(first.frame["policy"]) == {p.name for p in baseline_policies(suite)}
    start = {prob.display_id: set(prob.state) for prob in problems}
    assert any(set(prob.state) - set(known) for prob in problems)  # unknowns on display
    for (policy, display, _), state in first.states.items():
        # the refresher proposes known products only; unknown ones can only be kept
        extra = set(state) - set(known) - start[display]
        assert not extra, (policy, display, extra)
    ablations = closed_loop_on_truth(
        suite, ws, problems, eligible, chain.truth, ablations=True, **kw
    )
    assert set(ablations.frame["policy"]) == {p.name for p in ablation_policies(suite)}
    # policies of one's own: the same candidate draws and sales noise, and each policy's own
    # generator is seeded by its name, so a policy scores what it scored among the baselines,
    # whether it makes random choices of its own (EdgeRec3D's exploration) or not (DP)
    mine = ("Dynamic Program", "EdgeRec3D")
    own = [p for p in baseline_policies(suite, online=True) if p.name in mine]
    with pytest.raises(InvalidParameterError, match="policies or ablations=True, not both"):
        closed_loop_on_truth(
            suite, ws, problems, eligible, chain.truth, policies=own, ablations=True, **kw
        )
    chosen = closed_loop_on_truth(suite, ws, problems, eligible, chain.truth, policies=own, **kw)
    pd.testing.assert_frame_equal(
        chosen.frame.reset_index(drop=True),
        first.frame[first.frame["policy"].isin(mine)].reset_index(drop=True),
    )
