"""The evaluation workflow's pieces: the payoff log, the time split, the ablation grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from shelfwise.assortment.payoffs import OnlinePayoffs
from shelfwise.assortment.problem import PayoffTable
from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.evaluation import SalesFeedback
from shelfwise.evaluation.groundtruth import DemandTruth, truth_table
from shelfwise.exceptions import InvalidParameterError
from shelfwise.pipeline.assortment import Workspace, build_problems
from shelfwise.pipeline.evaluate import (
    ABLATIONS,
    OneCluster,
    PayoffSuite,
    ablation_name,
    ablation_policies,
    baseline_policies,
    closed_loop_on_truth,
    evaluate_policies,
    payoff_log,
    time_split,
)
from shelfwise.storage import Repository, sqlite_url


@pytest.fixture(scope="module")
def chain_log() -> tuple[pd.DataFrame, dict[str, object]]:
    chain = generate_chain(
        ChainConfig(n_stores=4, n_products=20, weeks=3, displays_per_store=2), random_state=1
    )
    displays = {d.display_id: d for d in chain.displays}
    return payoff_log(chain.visit_log, displays), displays


def test_payoff_log_has_one_row_per_interval_with_facings(
    chain_log: tuple[pd.DataFrame, dict[str, object]],
) -> None:
    log, displays = chain_log
    assert list(log.columns) == [
        "visit_id",
        "store_id",
        "display_id",
        "visited_at",
        "product_id",
        "prev_facings",
        "payoff",
        "max_slots",
    ]
    assert (log["prev_facings"] >= 1).all()
    assert (log["payoff"] >= 0).all()
    assert not log.duplicated(["visit_id", "product_id"]).any()
    first = log.iloc[0]
    assert first["max_slots"] == displays[first["display_id"]].max_slots  # type: ignore[attr-defined]


def test_time_split_leaves_the_holdout_share_of_the_span(
    chain_log: tuple[pd.DataFrame, dict[str, object]],
) -> None:
    log, _ = chain_log
    split = time_split(log, 0.25)
    start, end = log["visited_at"].min(), log["visited_at"].max()
    assert (end - split) / (end - start) == pytest.approx(0.25)
    with pytest.raises(InvalidParameterError, match="holdout must be in"):
        time_split(log, 1.0)


def test_ablation_grid_is_table_3() -> None:
    assert len(ABLATIONS) == 8
    assert ablation_name(False, False, False) == "#1 none"
    assert ablation_name(False, False, True) == "#2 H"
    assert ablation_name(True, False, False) == "#3 C"
    assert ablation_name(True, True, True) == "#8 C+R+H"


class _Recorder:
    name = "inner"

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        self.asked.append(cluster)
        z = np.zeros((len(product_ids), max_facings + 1))
        return PayoffTable(store_id, tuple(product_ids), z, z.copy())


def test_one_cluster_asks_its_single_cluster() -> None:
    inner = _Recorder()
    wrapped = OneCluster(inner, "all", name="rbp_global")
    wrapped.table("S1", ["P1"], 3, cluster="2")
    assert inner.asked == ["all"]
    assert wrapped.name == "rbp_global"


def test_closed_loop_needs_the_truth(tmp_path: Path) -> None:
    repo = Repository.from_url(sqlite_url(tmp_path / "empty.db"))
    with pytest.raises(InvalidParameterError, match="closed_loop needs the chain's truth"):
        evaluate_policies(repo, closed_loop=SalesFeedback())
    with pytest.raises(InvalidParameterError, match="closed_loop must be a SalesFeedback"):
        evaluate_policies(repo, closed_loop=True)  # type: ignore[arg-type]


class _EnsembleRecorder(_Recorder):
    def epistemic_sd(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        cluster: str | None = None,
    ) -> np.ndarray:
        return np.zeros((len(product_ids), max_facings + 1))


def test_online_policies_learn_each_on_their_own_model() -> None:
    # stand-ins for the fitted models: only the wiring is under test
    suite = PayoffSuite(
        _Recorder(),  # type: ignore[arg-type]
        OneCluster(_Recorder(), "all", name="rbp_global"),
        _Recorder(),  # type: ignore[arg-type]
        _Recorder(),  # type: ignore[arg-type]
        _EnsembleRecorder(),  # type: ignore[arg-type]
    )
    for make in (baseline_policies, ablation_policies):
        learners = [
            m
            for p in make(suite, online=True)
            for m in (getattr(p, "payoffs", None), getattr(p, "ensemble", None))
            if isinstance(m, OnlinePayoffs)
        ]
        assert len(learners) == 8  # every policy but random; all eight ablations
        assert len({id(m) for m in learners}) == len(learners)
        assert not any(isinstance(getattr(p, "payoffs", None), OnlinePayoffs) for p in make(suite))


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
