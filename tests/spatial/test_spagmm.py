"""SpAGMM (Algorithm 1): anchored means, the paper's MAP update, EM, profiles, the contract."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import multivariate_normal
from sklearn.base import clone

from shelfwise.data.synthetic import haversine_km
from shelfwise.exceptions import InvalidParameterError, NotFittedError
from shelfwise.spatial import SpAGMM, project_km, store_profiles

RNG = np.random.default_rng(7)
STORES = np.array([[0.0, 0.0], [10.0, 0.0], [5.0, 8.0]])
TRACTS = np.concatenate([s + RNG.normal(0, 1.0, size=(12, 2)) for s in STORES])


def test_tracts_go_to_their_nearest_store_and_means_never_move() -> None:
    m = SpAGMM(coordinates="planar").fit(STORES, TRACTS)
    pi = m.store_tract_proba()
    assert pi.shape == (3, 36)
    np.testing.assert_allclose(pi.sum(axis=0), 1.0)
    np.testing.assert_array_equal(pi.argmax(axis=0), np.repeat([0, 1, 2], 12))
    assert pi.max(axis=0).min() > 0.9
    np.testing.assert_allclose(m.weights_, 1 / 3, atol=0.02)
    # Joint standardisation: the anchors are the stores in the tracts' frame, untouched by EM.
    np.testing.assert_allclose(m.means_, (STORES - TRACTS.mean(0)) / TRACTS.std(0))
    assert m.converged_ and m.n_iter_ >= 2
    np.testing.assert_array_equal(m.responsibilities_, pi)


def test_one_em_step_is_the_papers_map_update() -> None:
    m = SpAGMM(coordinates="planar", max_iter=1, tol=1e-12).fit(STORES, TRACTS)
    mu = (STORES - TRACTS.mean(0)) / TRACTS.std(0)
    c = (TRACTS - TRACTS.mean(0)) / TRACTS.std(0)
    n_l, d = 3, 2
    e = np.column_stack([multivariate_normal(mu[k], np.eye(2)).pdf(c) for k in range(n_l)])
    pi = e / n_l / (e / n_l).sum(axis=1, keepdims=True)  # Pi_tk with uniform weights
    y0 = np.eye(d) / n_l ** (1 / d)
    for k in range(n_l):
        yk = sum(pi[t, k] * np.outer(c[t] - mu[k], c[t] - mu[k]) for t in range(len(c)))
        expected = (y0 + yk) / (pi[:, k].sum() + 2 * d + 4)
        np.testing.assert_allclose(m.covariances_[k], expected, rtol=1e-10)
    np.testing.assert_allclose(m.weights_, pi.mean(axis=0), rtol=1e-10)
    assert m.n_iter_ == 1 and not m.converged_


def test_em_increases_the_penalised_likelihood_until_tol() -> None:
    m = SpAGMM(coordinates="planar", tol=1e-6).fit(STORES, TRACTS)
    h = np.array(m.history_)
    assert (np.diff(h) >= -1e-9 * np.abs(h[:-1])).all()
    assert abs(h[-1] - h[-2]) <= 1e-6 * abs(h[-2])
    loose = SpAGMM(coordinates="planar", tol=0.05).fit(STORES, TRACTS)
    assert loose.n_iter_ < m.n_iter_
    # The log-likelihood is that of the fitted mixture on the standardised tracts.
    c = (TRACTS - m.center_) / m.scale_
    dens = sum(
        w * multivariate_normal(mu, cov).pdf(c)
        for w, mu, cov in zip(m.weights_, m.means_, m.covariances_, strict=True)
    )
    assert m.log_likelihood_ == pytest.approx(np.log(dens).sum())


def test_separate_standardisation_is_algorithm_1() -> None:
    m = SpAGMM(coordinates="planar", standardize="separate").fit(STORES, TRACTS)
    np.testing.assert_allclose(m.means_, (STORES - STORES.mean(0)) / STORES.std(0))


def test_prior_parameters_override_the_papers_defaults() -> None:
    wide = SpAGMM(coordinates="planar", prior_scale=5.0).fit(STORES, TRACTS)
    default = SpAGMM(coordinates="planar").fit(STORES, TRACTS)
    assert np.linalg.det(wide.covariances_).min() > np.linalg.det(default.covariances_).max()


def test_latlon_is_projected_to_km() -> None:
    a = np.array([[39.74, -104.99], [39.60, -104.80], [40.01, -105.27]])
    xy = project_km(a, (39.74, -104.99))
    d_proj = np.linalg.norm(xy[:, None] - xy[None], axis=2)
    d_true = haversine_km(a[:, None, 0], a[:, None, 1], a[None, :, 0], a[None, :, 1])
    np.testing.assert_allclose(d_proj, d_true, rtol=0.01)
    stores = np.array([[39.74, -104.99], [39.60, -104.80]])
    tracts = stores[RNG.integers(0, 2, 30)] + RNG.normal(0, 0.03, size=(30, 2))
    m = SpAGMM().fit(stores, tracts)
    assert m.origin_ == pytest.approx(tuple(tracts.mean(axis=0)))
    np.testing.assert_allclose(m.store_tract_proba(tracts), m.responsibilities_, atol=1e-12)


def test_store_profiles_are_weighted_means() -> None:
    pi = np.array([[0.5, 0.5, 0.0], [0.1, 0.1, 0.8]])
    x = pd.DataFrame({"income": [10.0, 20.0, 40.0], "age": [30.0, 40.0, 50.0]})
    p = store_profiles(pi, x, store_ids=["A", "B"])
    assert list(p.columns) == ["income", "age"] and list(p.index) == ["A", "B"]
    np.testing.assert_allclose(p.loc["A"], [15.0, 35.0])
    np.testing.assert_allclose(
        p.loc["B"], [0.1 * 10 + 0.1 * 20 + 0.8 * 40, 0.1 * 30 + 0.1 * 40 + 0.8 * 50]
    )
    # Population weights shoppers: the big tract dominates store A.
    pop = store_profiles(pi, x, population=[100, 300, 10], store_ids=["A", "B"])
    assert pop.loc["A", "income"] == pytest.approx(17.5)
    m = SpAGMM(coordinates="planar").fit(STORES, TRACTS)
    feats = pd.DataFrame({"f": np.repeat([1.0, 2.0, 3.0], 12)})
    np.testing.assert_allclose(m.store_profiles(feats)["f"], [1, 2, 3], atol=0.1)
    np.testing.assert_allclose(
        m.store_profiles(feats), store_profiles(m.responsibilities_, feats), rtol=1e-9
    )


def test_a_store_far_from_every_tract_still_gets_a_profile() -> None:
    stores = np.vstack([STORES, [[400.0, 400.0]]])
    m = SpAGMM(coordinates="planar").fit(stores, TRACTS)
    feats = np.arange(36, dtype=np.float64)[:, None]
    prof = m.store_profiles(feats)
    assert np.isfinite(prof.to_numpy()).all()


@pytest.mark.parametrize(
    ("params", "stores", "tracts", "match"),
    [
        ({"tol": 0}, STORES, TRACTS, r"tol must be a number in \(0, 1\); got 0"),
        ({"max_iter": 0}, STORES, TRACTS, "max_iter must be an integer >= 1; got 0"),
        ({"coordinates": "utm"}, STORES, TRACTS, "coordinates must be 'latlon' or 'planar'"),
        ({"standardize": "none"}, STORES, TRACTS, "standardize must be 'joint' or 'separate'"),
        ({"prior_scale": -1.0}, STORES, TRACTS, "prior_scale must be None or a number > 0"),
        ({"prior_dof": 0.5}, STORES, TRACTS, "prior_dof must be None or a number > 1"),
        ({}, STORES, TRACTS[:2], "tracts_xy must hold at least 3 tracts; got 2"),
        ({}, STORES[:, :1], TRACTS, r"stores_xy must have shape \(n, 2\)"),
        ({}, STORES, np.vstack([TRACTS, [[np.nan, 1.0]]]), "tracts_xy must have finite"),
        ({}, STORES[:0], TRACTS, "stores_xy must hold at least 1 store; got 0"),
        ({}, STORES, np.c_[TRACTS[:, 0], np.ones(36)], "tracts_xy must spread along both axes"),
        ({"standardize": "separate"}, STORES[:1], TRACTS, "stores_xy must spread along both"),
    ],
)
def test_bad_input_is_refused(
    params: dict[str, object], stores: np.ndarray, tracts: np.ndarray, match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        SpAGMM(**({"coordinates": "planar"} | params)).fit(stores, tracts)  # type: ignore[arg-type]


def test_latlon_out_of_range_and_profile_inputs_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match=r"latitudes in \[-90, 90\]"):
        SpAGMM().fit(STORES, TRACTS * 20)
    m = SpAGMM(coordinates="planar").fit(STORES, TRACTS)
    bad = np.ones((36, 2))
    bad[4, 1] = np.nan
    with pytest.raises(InvalidParameterError, match="tract_features must be finite; got nan"):
        m.store_profiles(bad)
    with pytest.raises(InvalidParameterError, match="one row per tract \\(36\\); got 35"):
        m.store_profiles(np.ones((35, 2)))
    with pytest.raises(InvalidParameterError, match="population must be 36 finite values"):
        m.store_profiles(np.ones((36, 2)), population=np.ones(5))
    with pytest.raises(InvalidParameterError, match="all-zero row 1"):
        store_profiles(np.array([[1.0, 0.0], [0.0, 0.0]]), np.ones((2, 1)))


def test_estimator_contract() -> None:
    with pytest.raises(NotFittedError, match=r"SpAGMM is not fitted yet; call fit\(\)"):
        SpAGMM().store_tract_proba()
    m = SpAGMM(tol=1e-3, coordinates="planar", prior_dof=5.0, random_state=3)
    c = clone(m)
    assert c is not m and c.get_params() == m.get_params()
    a, b = c.fit(STORES, TRACTS), clone(m).fit(STORES, TRACTS)
    np.testing.assert_array_equal(a.covariances_, b.covariances_)
    np.testing.assert_array_equal(a.responsibilities_, b.responsibilities_)
    again = SpAGMM.from_dict(a.to_dict())
    assert again.get_params() == a.get_params()
    for attr in ("means_", "covariances_", "weights_", "responsibilities_", "scale_"):
        np.testing.assert_array_equal(getattr(again, attr), getattr(a, attr))
    assert (again.n_iter_, again.log_likelihood_) == (a.n_iter_, a.log_likelihood_)


@settings(max_examples=25, deadline=None)
@given(
    arrays(np.float64, (4, 2), elements=st.floats(-50, 50)),
    arrays(np.float64, (15, 2), elements=st.floats(-50, 50)),
)
def test_any_geometry_gives_a_valid_mixture(stores: np.ndarray, tracts: np.ndarray) -> None:
    assume((tracts.std(axis=0) > 1e-3).all())
    m = SpAGMM(coordinates="planar").fit(stores, tracts)
    pi = m.store_tract_proba()
    assert np.isfinite(pi).all()
    np.testing.assert_allclose(pi.sum(axis=0), 1.0)
    assert math.isclose(float(m.weights_.sum()), 1.0)
    assert (np.linalg.eigvalsh(m.covariances_) > 0).all()
