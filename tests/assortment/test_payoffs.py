"""Payoff estimators: RBP wrapper, the linear ablation and deep ensembles."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from shelfwise.assortment.payoffs import DeepEnsemblePayoffs, LinearPayoffs, RBPPayoffs
from shelfwise.assortment.problem import PayoffEstimator
from shelfwise.demand import ConvergenceWarning, RBPModel, RBPPosterior, simulate_payoffs
from shelfwise.exceptions import InvalidParameterError, NotFittedError


def _obs(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["store_id", "product_id", "facings", "rate"])
    return frame.astype({"facings": float, "rate": float})


def _x(q: np.ndarray) -> np.ndarray:
    return np.log2(1.0 + q)


# ---------------------------------------------------------------------------- linear
def test_linear_recovers_hand_computed_least_squares():
    # x = log2(1 + q) = 1, 2, 3 for q = 1, 3, 7; rates 1, 5, 6.
    obs = _obs([("S1", "A", 1, 1.0), ("S1", "A", 3, 5.0), ("S1", "A", 7, 6.0)])
    est = LinearPayoffs().fit(obs, {"S1": "c1"})
    # slope = sum(x r) / sum(x^2) = (1 + 10 + 18) / 14; residuals -15/14, 12/14, -3/14,
    # RSS = 378/196, s^2 = RSS / 2, se^2 = s^2 / 14 = 27/392.
    slope, se = 29 / 14, math.sqrt(27 / 392)
    fit = est.cluster_fits_[("A", "c1")]
    assert fit.slope == pytest.approx(slope, rel=1e-12)
    assert fit.se == pytest.approx(se, rel=1e-12)
    assert fit.n_obs == 3
    tab = est.table("S1", ["A"], 7)
    q = np.arange(8.0)
    np.testing.assert_allclose(tab.mean[0], slope * _x(q), rtol=1e-12)
    np.testing.assert_allclose(tab.sd[0], se * _x(q), rtol=1e-12)
    assert tab.mean[0, 0] == 0.0 and tab.sd[0, 0] == 0.0
    assert tab.mean[0, 3] == pytest.approx(2 * 29 / 14, rel=1e-12)


def _two_cluster_obs() -> pd.DataFrame:
    rows = []
    # Product A: exactly 2 * x in cluster c1 (stores S1, S2), exactly 4 * x in c2 (S3).
    for q in (1, 3, 7):
        rows += [("S1", "A", q, 2.0 * _x(q)), ("S2", "A", q, 2.0 * _x(q))]
        rows += [("S3", "A", q, 4.0 * _x(q)), ("S3", "A", q, 4.0 * _x(q))]
    # Product B: data in c2 only (exactly 3 * x).
    rows += [("S3", "B", 1, 3.0), ("S3", "B", 3, 6.0)]
    # Product C: one observation in c1 (too few for a fit there), three in c2.
    rows += [("S1", "C", 1, 10.0), ("S3", "C", 1, 1.0), ("S3", "C", 3, 2.0), ("S3", "C", 7, 3.0)]
    return _obs(rows)


CLUSTERS = {"S1": "c1", "S2": "c1", "S3": "c2", "S4": "c1"}


def test_linear_by_cluster_fits_each_cluster_and_global_pools():
    obs = _two_cluster_obs()
    by = LinearPayoffs().fit(obs, CLUSTERS)
    pooled = LinearPayoffs(by_cluster=False).fit(obs)
    q = np.arange(5.0)
    c1 = by.table("S1", ["A"], 4)
    c2 = by.table("S3", ["A"], 4)
    np.testing.assert_allclose(c1.mean[0], 2.0 * _x(q), rtol=1e-12)
    np.testing.assert_allclose(c2.mean[0], 4.0 * _x(q), rtol=1e-12)
    np.testing.assert_allclose(c1.sd[0], 0.0, atol=1e-12)  # exact fit: no residuals
    # Pooled: 6 rows at 2x and 6 at 4x over the same x, so slope 3, residuals +-x.
    # se^2 = (sum 12 x^2 / 11) / (12 * 14 / 3 ...) computed directly:
    x = _x(np.array([1.0, 3.0, 7.0]))
    sxx = 4 * np.sum(x**2)
    rss = 4 * np.sum(x**2)  # every residual is +-x
    se = math.sqrt(rss / 11 / sxx)
    for store in ("S1", "S3"):
        g = pooled.table(store, ["A"], 4)
        np.testing.assert_allclose(g.mean[0], 3.0 * _x(q), rtol=1e-12)
        np.testing.assert_allclose(g.sd[0], se * _x(q), rtol=1e-12)
    assert pooled.cluster_fits_ == {}
    # by_cluster=False ignores the cluster argument and needs no store_clusters.
    np.testing.assert_array_equal(
        pooled.table("NEW", ["A"], 4, cluster="c1").mean, pooled.table("S1", ["A"], 4).mean
    )


def test_linear_falls_back_to_global_then_zero():
    est = LinearPayoffs().fit(_two_cluster_obs(), CLUSTERS)
    q = np.arange(4.0)
    tab = est.table("S1", ["B", "C", "Z", "A"], 3)
    # B has no c1 data: global fit, which is its c2 fit, slope 3 exactly.
    np.testing.assert_allclose(tab.mean[tab.row("B")], 3.0 * _x(q), rtol=1e-12)
    # C has one c1 row (no fit there): global fit over its four rows.
    xs = _x(np.array([1.0, 1.0, 3.0, 7.0]))
    rs = np.array([10.0, 1.0, 2.0, 3.0])
    slope = float(np.sum(xs * rs) / np.sum(xs**2))
    se = math.sqrt(float(np.sum((rs - slope * xs) ** 2)) / 3 / float(np.sum(xs**2)))
    np.testing.assert_allclose(tab.mean[tab.row("C")], slope * _x(q), rtol=1e-12)
    np.testing.assert_allclose(tab.sd[tab.row("C")], se * _x(q), rtol=1e-12)
    assert est.fit_for("C", "c1") == est.global_fits_["C"]
    assert est.fit_for("C", "c2") == est.cluster_fits_[("C", "c2")]
    # Z: no data at all.
    assert np.all(tab.mean[tab.row("Z")] == 0.0) and np.all(tab.sd[tab.row("Z")] == 0.0)
    assert est.unknown_products(["A", "Z", "B"]) == ("Z",)
    # A store with a cluster but no observations, and a new store given a cluster.
    np.testing.assert_array_equal(est.table("S4", ["A"], 3).mean, tab.mean[[tab.row("A")]])
    np.testing.assert_array_equal(
        est.table("NEW", ["A"], 3, cluster="c2").mean, est.table("S3", ["A"], 3).mean
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"store_id": "NEW"}, "not in the fitted store clusters"),
        ({"store_id": "NEW", "cluster": "c9"}, "cluster must be one of"),
        ({"max_facings": 0}, "max_facings must be an integer >= 1"),
        ({"product_ids": ["A", "A"]}, "product_ids must be distinct"),
    ],
)
def test_linear_table_refuses_bad_requests(kwargs, match):
    est = LinearPayoffs().fit(_two_cluster_obs(), CLUSTERS)
    args = {"store_id": "S1", "product_ids": ["A"], "max_facings": 3} | kwargs
    cluster = args.pop("cluster", None)
    with pytest.raises(InvalidParameterError, match=match):
        est.table(args["store_id"], args["product_ids"], args["max_facings"], cluster=cluster)


BAD_ROWS = [
    ("rate", float("nan"), r"rate must be a finite number >= 0.*row 1 .*nan"),
    ("rate", -0.5, r"rate must be a finite number >= 0.*row 1 .*-0\.5"),
    ("facings", -2.0, r"facings must be a finite number >= 1.*row 1 .*-2\.0"),
    ("facings", float("nan"), r"facings must be a finite number >= 1.*row 1 .*nan"),
    ("facings", 0.0, r"facings must be a finite number >= 1.*row 1 .*0\.0"),
]


@pytest.mark.parametrize(("column", "value", "match"), BAD_ROWS)
@pytest.mark.parametrize("make", [LinearPayoffs, lambda: DeepEnsemblePayoffs(epochs=1)])
def test_fit_refuses_bad_rows_naming_row_and_value(make, column, value, match):
    obs = _two_cluster_obs()
    obs.loc[1, column] = value
    with pytest.raises(InvalidParameterError, match=match):
        make().fit(obs, CLUSTERS)


@pytest.mark.parametrize("make", [LinearPayoffs, lambda: DeepEnsemblePayoffs(epochs=1)])
def test_fit_refuses_missing_clusters_and_columns(make):
    obs = _two_cluster_obs()
    with pytest.raises(InvalidParameterError, match="store_clusters is required"):
        make().fit(obs)
    with pytest.raises(InvalidParameterError, match=r"missing \['S3'\]"):
        make().fit(obs, {"S1": "c1", "S2": "c1"})
    with pytest.raises(InvalidParameterError, match=r"missing \['rate'\]"):
        make().fit(obs.drop(columns="rate"), CLUSTERS)


def test_unfitted_estimators_raise_not_fitted():
    for est in (LinearPayoffs(), DeepEnsemblePayoffs()):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            est.table("S1", ["A"], 3)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DeepEnsemblePayoffs().epistemic_sd("S1", ["A"], 3)
    with pytest.raises(NotFittedError, match="RBPModel is not fitted yet"):
        RBPPayoffs(RBPModel()).table("S1", ["A"], 3)


# ---------------------------------------------------------------------------- deep ensembles
BETA = {("P1", "c1"): 1.0, ("P1", "c2"): 1.5, ("P2", "c1"): 3.0, ("P2", "c2"): 2.0}
BETA |= {("P3", "c1"): 6.0, ("P3", "c2"): 5.0}
SMALL = {"n_members": 3, "hidden": (16, 16), "epochs": 150, "batch_size": 16}
SMALL |= {"learning_rate": 1e-2}


@pytest.fixture(scope="module")
def linear_truth() -> pd.DataFrame:
    """Rates beta[p, cluster] * log2(1 + q) + N(0, 0.3^2) noise, clipped at 0; 360 rows."""
    rng = np.random.default_rng(11)
    rows = []
    for (p, k), beta in BETA.items():
        stores = ("S1", "S2") if k == "c1" else ("S3", "S4")
        for _ in range(60):
            q = int(rng.integers(1, 5))
            rate = max(beta * _x(np.float64(q)) + rng.normal(0.0, 0.3), 0.0)
            rows.append((stores[int(rng.integers(2))], p, float(q), float(rate)))
    return _obs(rows)


ENS_CLUSTERS = {"S1": "c1", "S2": "c1", "S3": "c2", "S4": "c2"}


@pytest.fixture(scope="module")
def ensemble(linear_truth) -> DeepEnsemblePayoffs:
    return DeepEnsemblePayoffs(random_state=5, **SMALL).fit(linear_truth, ENS_CLUSTERS)


def test_ensemble_learns_the_ordering_and_has_positive_sd(ensemble):
    assert ensemble.loss_history_.shape == (3, 150)
    assert np.all(ensemble.loss_history_[:, -1] < ensemble.loss_history_[:, 0])
    for store, k in (("S1", "c1"), ("S3", "c2")):
        tab = ensemble.table(store, ["P1", "P2", "P3"], 4)
        assert tab.mean.shape == tab.sd.shape == (3, 5)
        assert np.all(tab.mean[:, 0] == 0.0) and np.all(tab.sd[:, 0] == 0.0)
        assert np.all(tab.sd[:, 1:] > 0.0)
        # The better product has the higher mean at every facing count.
        order = sorted(["P1", "P2", "P3"], key=lambda p: BETA[(p, k)])
        rows = [tab.row(p) for p in order]
        assert np.all(np.diff(tab.mean[rows, 1:], axis=0) > 0)
        # Within one noise sd (0.3) of the truth beta * x_q on the trained range 1..4.
        truth = np.array(
            [[BETA[(p, k)] * _x(np.float64(q)) for q in range(5)] for p in ["P1", "P2", "P3"]]
        )
        assert np.max(np.abs(tab.mean - truth)) < 0.3
        # P3's mean grows with facings on the trained range 1..4.
        assert np.all(np.diff(tab.mean[tab.row("P3"), 1:]) > 0)
        # Disagreement is part of the total variance.
        epi = ensemble.epistemic_sd(store, ["P1", "P2", "P3"], 4)
        assert np.all(epi <= tab.sd + 1e-12)
        assert np.all(epi[:, 0] == 0.0) and np.all(epi[:, 1:] > 0)


def test_ensemble_table_is_the_gaussian_mixture_of_its_members(ensemble):
    tab = ensemble.table("S3", ["P2"], 3)
    # Inputs: one-hot product (P1, P2, P3), one-hot cluster (c1, c2), x_q, q / q_scale.
    q = np.arange(1.0, 4.0)
    x = np.zeros((3, 7), dtype=np.float32)
    x[:, 1] = 1.0
    x[:, 4] = 1.0
    x[:, 5] = _x(q)
    x[:, 6] = q / 4.0
    assert ensemble.q_scale_ == 4.0
    mus, vs = [], []
    with torch.no_grad():
        for net in ensemble.members_:
            mu, var = net(torch.from_numpy(x))
            mus.append(mu.numpy().astype(np.float64) * ensemble.rate_scale_)
            vs.append(var.numpy().astype(np.float64) * ensemble.rate_scale_**2)
    mu_m, var_m = np.array(mus), np.array(vs)
    mean = mu_m.mean(axis=0)
    sd = np.sqrt((var_m + mu_m**2).mean(axis=0) - mean**2)
    np.testing.assert_allclose(tab.mean[0, 1:], mean, rtol=1e-6)
    np.testing.assert_allclose(tab.sd[0, 1:], sd, rtol=1e-5)
    np.testing.assert_allclose(
        ensemble.epistemic_sd("S3", ["P2"], 3)[0, 1:], mu_m.std(axis=0), rtol=1e-5
    )


def test_ensemble_is_deterministic_for_a_seed(linear_truth):
    quick = SMALL | {"epochs": 20}
    fits = [
        DeepEnsemblePayoffs(random_state=seed, **quick).fit(linear_truth, ENS_CLUSTERS)
        for seed in (5, 5, 6)
    ]
    a, b, c = (f.table("S1", ["P1", "P2", "P3"], 4) for f in fits)
    np.testing.assert_array_equal(a.mean, b.mean)
    np.testing.assert_array_equal(a.sd, b.sd)
    np.testing.assert_array_equal(fits[0].loss_history_, fits[1].loss_history_)
    assert not np.array_equal(a.mean, c.mean)


def test_ensemble_clusters_unknown_products_and_global_mode(linear_truth, ensemble):
    # A new store takes its cluster's prediction; an unknown product gets zeros.
    np.testing.assert_array_equal(
        ensemble.table("NEW", ["P1", "P2"], 4, cluster="c2").mean,
        ensemble.table("S3", ["P1", "P2"], 4).mean,
    )
    tab = ensemble.table("S1", ["P2", "ZZ"], 4)
    assert np.all(tab.mean[1] == 0.0) and np.all(tab.sd[1] == 0.0)
    assert ensemble.unknown_products(["P2", "ZZ"]) == ("ZZ",)
    with pytest.raises(InvalidParameterError, match="not in the fitted store clusters"):
        ensemble.table("NEW", ["P1"], 4)
    quick = SMALL | {"epochs": 20}
    glob = DeepEnsemblePayoffs(by_cluster=False, random_state=5, **quick).fit(linear_truth)
    np.testing.assert_array_equal(
        glob.table("S1", ["P1", "P3"], 4).mean, glob.table("S3", ["P1", "P3"], 4).mean
    )
    assert glob.members_[0].body[0].in_features == 3 + 2


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("n_members", 0, "n_members must be an integer >= 1"),
        ("hidden", (), "hidden must be a non-empty tuple"),
        ("hidden", (8, 0), "hidden must be a non-empty tuple"),
        ("learning_rate", -1.0, "learning_rate must be a finite number > 0"),
        ("epochs", 1.5, "epochs must be an integer >= 1"),
        ("random_state", -3, "random_state must be an integer >= 0"),
    ],
)
def test_ensemble_refuses_bad_parameters(linear_truth, param, value, match):
    with pytest.raises(InvalidParameterError, match=match):
        DeepEnsemblePayoffs(**{param: value}).fit(linear_truth, ENS_CLUSTERS)


# ---------------------------------------------------------------------------- RBP
def _hand_model() -> RBPModel:
    """A fitted-looking RBPModel with hand-chosen draws (1 chain, 2 draws), set up the way
    RBPModel.load sets one up, so that the predictive moments are known without MCMC.

    Products A, B; stores S1 (cluster c1), S2 (c2). Store coefficients: A at S1 draws 1 and 3,
    A at S2 draws 2 and 2, B at S1 draws 0.5 and 0.5; B has no data at S2. Hurdle intercepts
    of 20 make P(r > 0) = 1 - exp(-exp(20) x) = 1 for x >= 1; Gamma sd 0.5. So at a seen store
    mean = x * mean(beta) and sd = sqrt(0.25 + x^2 * var(beta)).
    """
    f = np.float32
    store = np.full((1, 2, 2, 2), np.nan, dtype=f)
    store[0, :, 0, 0] = [1.0, 3.0]
    store[0, :, 0, 1] = [2.0, 2.0]
    store[0, :, 1, 0] = [0.5, 0.5]
    model = RBPModel(random_state=0)
    model.posterior_ = RBPPosterior(
        cluster_coef=np.ones((1, 2, 2, 2), dtype=f),
        laplace_scale=np.full((1, 2, 2), 0.2, dtype=f),
        sigma_r=np.full((1, 2, 2), 0.5, dtype=f),
        store_coef=store,
        hurdle_alpha=np.full((1, 2, 2, 2), 20.0, dtype=f),
        hurdle_tau=np.full((1, 2, 2), 0.1, dtype=f),
        hurdle_slope=np.ones((1, 2, 2), dtype=f),
        hurdle_store=np.where(np.isnan(store), np.nan, 20.0).astype(f),
    )
    model.product_ids_ = ("A", "B")
    model.store_ids_ = ("S1", "S2")
    model.cluster_labels_ = ("c1", "c2")
    model.store_clusters_ = {"S1": "c1", "S2": "c2"}
    model.seed_ = 0
    return model


def test_rbp_table_is_the_posterior_predictive():
    model = _hand_model()
    est = RBPPayoffs(model)
    tab = est.table("S1", ["B", "A", "UNKNOWN"], 4)
    x = _x(np.arange(5.0))
    assert tab.mean.shape == tab.sd.shape == (3, 5)
    np.testing.assert_allclose(tab.mean[tab.row("A")], 2.0 * x, rtol=1e-6)
    np.testing.assert_allclose(tab.sd[tab.row("A")][1:], np.sqrt(0.25 + x[1:] ** 2), rtol=1e-6)
    np.testing.assert_allclose(tab.mean[tab.row("B")], 0.5 * x, rtol=1e-6)
    np.testing.assert_allclose(tab.sd[tab.row("B")][1:], 0.5, rtol=1e-6)
    assert np.all(tab.mean[:, 0] == 0.0) and np.all(tab.sd[:, 0] == 0.0)
    # A product the model does not know: zeros, and listed.
    assert np.all(tab.mean[2] == 0.0) and np.all(tab.sd[2] == 0.0)
    assert est.unknown_products(["A", "UNKNOWN"]) == ("UNKNOWN",)
    # Each row is the model's own prediction at facings 0..Q.
    for p, s in (("A", "S2"), ("B", "S2")):  # B at S2: no data, drawn at the cluster level
        pred = model.predict(p, s, np.arange(5.0))
        row = est.table(s, [p], 4)
        np.testing.assert_array_equal(row.mean[0], pred.mean)
        np.testing.assert_array_equal(row.sd[0], pred.sd)


def test_rbp_epistemic_sd_leaves_out_the_payoff_noise():
    model = _hand_model()
    pred = RBPPayoffs(model)
    epi = pred.with_uncertainty("epistemic")
    assert epi.uncertainty == "epistemic" and epi.name == pred.name
    tab, etab = pred.table("S1", ["A", "B"], 4), epi.table("S1", ["A", "B"], 4)
    x = _x(np.arange(5.0))
    np.testing.assert_array_equal(etab.mean, tab.mean)
    # A: predictive variance 0.25 (noise) + x^2 (spread of beta); only the spread stays.
    np.testing.assert_allclose(etab.sd[etab.row("A")], x, rtol=1e-6)
    # B: a fixed beta, so nothing epistemic; the predictive sd is all noise.
    np.testing.assert_allclose(etab.sd[etab.row("B")], 0.0, atol=1e-9)
    assert np.all(etab.sd <= tab.sd + 1e-12)
    # A fresh estimator gives the same numbers as the view.
    assert RBPPayoffs(model, uncertainty="epistemic").table("S1", ["A"], 4).sd[0] == pytest.approx(
        etab.sd[0]
    )
    with pytest.raises(InvalidParameterError, match="uncertainty must be one of"):
        RBPPayoffs(model, uncertainty="aleatoric")  # type: ignore[arg-type]


def test_rbp_unseen_store_passes_the_cluster_through():
    model = _hand_model()
    est = RBPPayoffs(model)
    for label in ("c1", "c2"):
        tab = est.table("NEW", ["A", "B"], 3, cluster=label)
        for i, p in enumerate(("A", "B")):
            pred = model.predict(p, "NEW", np.arange(4.0), cluster=label)
            np.testing.assert_array_equal(tab.mean[i], pred.mean)
            np.testing.assert_array_equal(tab.sd[i], pred.sd)
            assert not pred.store_seen
    assert not np.array_equal(
        est.table("NEW", ["A"], 3, cluster="c1").mean, est.table("S1", ["A"], 3).mean
    )
    with pytest.raises(InvalidParameterError, match="pass cluster="):
        est.table("NEW", ["A"], 3)


def test_rbp_caches_rows_with_one_predict_frame_call_per_table(monkeypatch):
    model = _hand_model()
    est = RBPPayoffs(model, name="rbp-test")
    assert est.name == "rbp-test"
    calls = []
    original = model.predict_frame

    def counting(frame, *, quantiles=True):
        assert quantiles is False  # a table needs the moments only
        calls.append(sorted(set(frame["product_id"])))
        return original(frame, quantiles=quantiles)

    monkeypatch.setattr(model, "predict_frame", counting)
    first = est.table("S1", ["A"], 4)
    again = est.table("S1", ["B", "A"], 4)
    assert calls == [["A"], ["B"]]
    np.testing.assert_array_equal(again.mean[1], first.mean[0])
    est.table("S1", ["A", "B", "UNKNOWN"], 4)
    assert len(calls) == 2
    est.table("S1", ["A"], 6)  # another max_facings is another table
    est.table("S1", ["A"], 4, cluster="c2")  # and so is another cluster
    assert len(calls) == 4
    # Refitting (a new posterior) drops the cache.
    model.posterior_ = _hand_model().posterior_
    est.table("S1", ["A"], 4)
    assert len(calls) == 5


@pytest.mark.slow
def test_rbp_table_matches_a_small_fitted_model():
    sim = simulate_payoffs(n_products=3, n_stores=4, n_clusters=2, n_obs=300, random_state=4)
    fast = {"draws": 50, "tune": 50, "chains": 1, "batch_size": 4, "n_jobs": 1, "refit": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = RBPModel(random_state=2, **fast).fit(sim.observations, sim.store_clusters)
    est = RBPPayoffs(model)
    products = list(model.product_ids_)
    p, s = sim.observations.iloc[0][["product_id", "store_id"]]
    tab = est.table(s, products, 5)
    assert tab.mean.shape == (3, 6)
    for prod in products:
        pred = model.predict(prod, s, np.arange(6.0))
        np.testing.assert_array_equal(tab.mean[tab.row(prod)], pred.mean)
        np.testing.assert_array_equal(tab.sd[tab.row(prod)], pred.sd)
    # One (product, q) at a store with the product's data: no sampling in the moments.
    one = model.predict(p, s, [3.0])
    assert tab.mean[tab.row(p), 3] == pytest.approx(float(one.mean[0]), rel=1e-6)
    label = model.cluster_labels_[1]
    new = est.table("NEW", products, 5, cluster=label)
    pred = model.predict(products[0], "NEW", np.arange(6.0), cluster=label)
    np.testing.assert_array_equal(new.mean[0], pred.mean)


def test_every_estimator_meets_the_protocol(ensemble):
    for est in (RBPPayoffs(_hand_model()), LinearPayoffs(), ensemble):
        assert isinstance(est, PayoffEstimator)
        assert isinstance(est.name, str)
