"""The payoff suite: the payoff log, the time split, the ablation grid, the policies' wiring."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from shelfwise.assortment.payoffs import OnlinePayoffs
from shelfwise.assortment.problem import PayoffTable
from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.exceptions import InvalidParameterError
from shelfwise.pipeline.suite import (
    ABLATIONS,
    OneCluster,
    PayoffSuite,
    ablation_name,
    ablation_policies,
    baseline_policies,
    payoff_log,
    time_split,
)


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
