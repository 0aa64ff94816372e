"""Evidence for RBP on data simulated from the model itself: recovery, coverage, §8.3 claims.

Fast versions use small sizes; the full-size ones are marked slow. Figures are written to
``$SHELFWISE_FIGURES`` when that variable is set (to look at them), else to a temporary folder.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from shelfwise.demand import ConvergenceWarning, RBPModel, rank_candidates, simulate_payoffs
from shelfwise.demand.evidence import data_size_curves, outlier_curve, recovery
from shelfwise.demand.figures import (
    claims_figure,
    facing_feature_figure,
    pepf_figure,
    posterior_predictive_figure,
    recovery_figure,
)

SMALL = {
    "draws": 300,
    "tune": 300,
    "batch_size": 16,
    "n_jobs": 1,
    "random_state": 0,
    "refit": False,
}


@pytest.fixture(scope="module")
def figure_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("SHELFWISE_FIGURES")
    folder = Path(target) if target else tmp_path_factory.mktemp("figures")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _fit(model: RBPModel, sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(sim.observations, sim.store_clusters)


def test_recovery_and_coverage_small(figure_dir: Path) -> None:
    sim = simulate_payoffs(n_products=10, n_stores=16, n_clusters=3, n_obs=4000, random_state=11)
    model = _fit(RBPModel(**SMALL), sim)
    res = recovery(model, sim.truth)
    assert 0.85 <= res.coverage90 <= 0.95, res.coverage90
    # Errors well below the coefficients' own spread (they are about 1 unit a day).
    assert res.cluster_rmse < 0.25 and res.store_rmse < 0.3
    recovery_figure(res, title="RBP recovery, 10 products x 16 stores").savefig(
        figure_dir / "rbp_recovery_small.png", dpi=100
    )
    fig = posterior_predictive_figure(model, "P0001", "S0002", observations=sim.observations)
    fig.savefig(figure_dir / "rbp_predictive.png", dpi=100)
    ranking = rank_candidates(model, "S0002", [(p, 2.0) for p in model.product_ids_], lam=1.0)
    pepf_figure(ranking, lam=1.0).savefig(figure_dir / "rbp_pepf.png", dpi=100)
    facing_feature_figure().savefig(figure_dir / "rbp_facing_features.png", dpi=100)
    assert (figure_dir / "rbp_recovery_small.png").stat().st_size > 10_000


def test_claim_a_robust_to_outliers_small(figure_dir: Path) -> None:
    curve = outlier_curve(RBPModel(**SMALL), shares=(0.0, 0.1), n_products=5, n_stores=9)
    # Without outliers the two are comparable; with 10% gross outliers RBP's store-level error
    # stays lower than per-store least squares', and grows less.
    assert curve.baseline is not None
    assert curve.rbp[-1] < curve.baseline[-1]
    assert curve.rbp[-1] - curve.rbp[0] < curve.baseline[-1] - curve.baseline[0]
    claims_figure([curve]).savefig(figure_dir / "rbp_claim_a_small.png", dpi=100)


def test_claims_b_and_c_in_store_data_small(figure_dir: Path) -> None:
    err, sd = data_size_curves(
        RBPModel(**SMALL), focal_obs=(2, 32), n_products=5, n_stores=12, background_obs=40
    )
    assert err.baseline is not None
    # (b) RBP's error in the focal stores falls with their data; OLS pooled over the cluster
    # only moves as far as the store's share of the cluster's data pulls it.
    rbp_drop = 1 - err.rbp[-1] / err.rbp[0]
    ols_drop = 1 - err.baseline[-1] / err.baseline[0]
    assert rbp_drop > 0.5 and ols_drop < 0.5 * rbp_drop
    assert err.rbp[-1] < err.baseline[-1]
    # (c) the posterior sd shrinks with data.
    assert sd.rbp[-1] < 0.6 * sd.rbp[0]
    claims_figure([err, sd]).savefig(figure_dir / "rbp_claims_bc_small.png", dpi=100)


@pytest.mark.slow
def test_recovery_and_coverage_benchmark_size(figure_dir: Path) -> None:
    sim = simulate_payoffs(n_products=50, n_stores=40, n_clusters=4, n_obs=20_000, random_state=0)
    model = _fit(RBPModel(random_state=0), sim)
    res = recovery(model, sim.truth)
    assert 0.85 <= res.coverage90 <= 0.95
    assert model.diagnostics_.rhat_max < 1.05
    recovery_figure(res, title="RBP recovery, 50 products x 40 stores").savefig(
        figure_dir / "rbp_recovery_full.png", dpi=100
    )


@pytest.mark.slow
def test_fig7_claims_full(figure_dir: Path) -> None:
    model = RBPModel(draws=1000, tune=1000, random_state=0)
    a = outlier_curve(model, shares=(0.0, 0.05, 0.1, 0.2), n_products=10, n_stores=16)
    b, c = data_size_curves(
        model, focal_obs=(1, 4, 16, 64), n_products=10, n_stores=24, background_obs=40
    )
    assert a.baseline is not None and b.baseline is not None
    assert np.all(a.rbp[1:] < a.baseline[1:])
    assert b.rbp[-1] < 0.6 * b.rbp[0] and b.rbp[-1] < b.baseline[-1]
    assert np.all(np.diff(c.rbp) < 0)
    claims_figure([a, b, c]).savefig(figure_dir / "rbp_fig7_full.png", dpi=100)
