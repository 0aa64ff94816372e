"""RBPModel: exact likelihood on sufficient statistics, estimator contract, prediction, PEPF."""

from __future__ import annotations

import dataclasses
import json
import warnings
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as ss

from shelfwise.demand import (
    ConvergenceWarning,
    RBPModel,
    RBPPriors,
    _sampler,
    facing_feature,
    pepf,
    random_truth,
    rank_candidates,
    simulate_payoffs,
)
from shelfwise.demand._diagnostics import ess_bulk, rhat
from shelfwise.demand._model import (
    choose_noncentred,
    data_to_spread_ratio,
    flatten,
    make_logdensity,
    param_slices,
    product_data,
    truncated_laplace_logit_cdf,
    truncated_laplace_quantile,
)
from shelfwise.demand._refit import thin
from shelfwise.demand._sampler import RawDraws, batch_order
from shelfwise.demand._stats import cell_stats, normalise_clusters, validate_observations
from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFittedError

FAST = {"draws": 150, "tune": 300, "batch_size": 8, "n_jobs": 1, "refit": False}


@pytest.fixture(scope="module")
def sim():
    return simulate_payoffs(n_products=5, n_stores=8, n_clusters=2, n_obs=1200, random_state=7)


@pytest.fixture(scope="module")
def fitted(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return RBPModel(random_state=3, **FAST).fit(sim.observations, sim.store_clusters)


# ---------------------------------------------------------------- exactness of the likelihood
def _direct_logp(obs: pd.DataFrame, clusters: dict[str, str], prm: dict, priors: RBPPriors):
    """Eq. 5 + hurdle summed over raw observations with scipy (no sufficient statistics)."""
    stores = sorted({s for s in obs["store_id"]})
    labels = sorted(set(clusters.values()))
    beta_k, b, sig = np.exp(prm["lbk"]), float(np.exp(prm["lb"])), float(np.exp(prm["ls"]))
    beta_s = dict(zip(stores, np.exp(prm["lbs"][: len(stores)]), strict=True))
    es = dict(zip(stores, prm["es"][: len(stores)], strict=True))
    tau = float(np.exp(prm["lt"]))
    lp = np.sum(ss.halfnorm(scale=priors.sigma0).logpdf(beta_k) + prm["lbk"])
    lp += ss.halfnorm(scale=priors.sigma1).logpdf(b) + prm["lb"]
    lp += ss.halfnorm(scale=priors.sigma2).logpdf(sig) + prm["ls"]
    lp += np.sum(ss.norm(0, priors.hurdle_alpha_sd).logpdf(prm["ak"]))
    lp += ss.halfnorm(scale=priors.hurdle_tau_sd).logpdf(tau) + prm["lt"]
    lp += ss.norm(priors.hurdle_slope_mean, priors.hurdle_slope_sd).logpdf(prm["c"])
    for s in stores:
        m = beta_k[labels.index(clusters[s])]
        lap = ss.laplace(m, b)
        lp += lap.logpdf(beta_s[s]) - np.log(lap.sf(0.0)) + np.log(beta_s[s])
        lp += ss.norm.logpdf(es[s])
    for row in obs.itertuples():
        x = np.log2(1 + row.facings)
        k = labels.index(clusters[row.store_id])
        eta = prm["ak"][k] + tau * es[row.store_id] + prm["c"] * np.log(x)
        p_pos = 1 - np.exp(-np.exp(eta))
        if row.rate > 0:
            mu = x * beta_s[row.store_id]
            shape = (mu / sig) ** 2
            lp += np.log(p_pos) + ss.gamma(shape, scale=mu / shape).logpdf(row.rate)
        else:
            lp += np.log(1 - p_pos)
    return float(lp)


def test_logdensity_on_sufficient_statistics_equals_direct_likelihood():
    sim = simulate_payoffs(n_products=1, n_stores=4, n_clusters=2, n_obs=60, random_state=1)
    obs = validate_observations(sim.observations)
    clusters = normalise_clusters(sim.store_clusters)
    stats = cell_stats(obs, clusters)
    n_s = stats.slot_mask.shape[1]
    rng = np.random.default_rng(0)
    prm = {
        "lbk": rng.normal(0, 0.3, 2),
        "lb": np.array(rng.normal(-1, 0.2)),
        "ls": np.array(rng.normal(-0.5, 0.2)),
        "lbs": rng.normal(0, 0.3, n_s),
        "ak": rng.normal(0, 0.5, 2),
        "lt": np.array(-1.0),
        "c": np.array(0.8),
        "es": rng.normal(0, 1, n_s),
    }
    priors = RBPPriors()
    ld = make_logdensity(priors, 2, n_s)
    data = {k: jnp.asarray(v[0]) for k, v in product_data(stats, np.array([0]), "log2").items()}
    ours = float(ld(jnp.asarray(flatten(prm, 2, n_s)), data))
    # The slots are the product's stores in sorted order, as _direct_logp assumes.
    assert list(stats.slot_store[0]) == list(range(n_s))
    prm32 = {k: np.asarray(v, dtype=np.float32).astype(np.float64) for k, v in prm.items()}
    direct = _direct_logp(sim.observations, dict(clusters), prm32, priors)
    assert ours == pytest.approx(direct, rel=2e-4)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(-12.0, 12.0),
    st.floats(0.01, 5.0),
    st.floats(0.01, 5.0),
)
def test_noncentred_transform_is_the_truncated_laplace_quantile(v, loc, scale):
    beta = truncated_laplace_quantile(np.float64(v), loc, scale)
    lap = ss.laplace(loc, scale)
    lo = lap.cdf(0.0)
    u = lo + (1.0 - lo) / (1.0 + np.exp(-v))
    assert beta > 0
    # Compare on the CDF scale (the quantile itself is ill-conditioned in the far tails).
    assert lap.cdf(beta) == pytest.approx(u, rel=1e-9, abs=1e-12)
    assert truncated_laplace_logit_cdf(beta, loc, scale) == pytest.approx(v, abs=1e-5)


def test_noncentred_density_is_the_centred_one_times_the_jacobian():
    """p_nc(v) = p_c(log beta(v)) * |d log beta / d v| for every non-centred store slot."""
    sim = simulate_payoffs(n_products=1, n_stores=4, n_clusters=2, n_obs=60, random_state=1)
    stats = cell_stats(
        validate_observations(sim.observations), normalise_clusters(sim.store_clusters)
    )
    n_s = stats.slot_mask.shape[1]
    ld = make_logdensity(RBPPriors(), 2, n_s)
    nc = np.zeros((1, n_s), dtype=bool)
    nc[0, [0, 2]] = True  # a mix of centred and non-centred slots
    data_c = {k: jnp.asarray(v[0]) for k, v in product_data(stats, np.array([0]), "log2").items()}
    data_n = {
        k: jnp.asarray(v[0]) for k, v in product_data(stats, np.array([0]), "log2", nc).items()
    }
    where = param_slices(2, n_s)
    rng = np.random.default_rng(2)
    theta_n = jnp.asarray(rng.normal(0.0, 0.5, 2 * 2 + 4 + 2 * n_s), dtype=jnp.float32)

    def log_beta(th):
        m = jnp.exp(th[where["lbk"]])[data_n["slot_cluster"]]
        b = jnp.exp(th[where["lb"]])
        return jnp.where(
            nc[0],
            jnp.log(truncated_laplace_quantile(th[where["lbs"]], m, b, jnp)),
            th[where["lbs"]],
        )

    lbeta = log_beta(theta_n)
    theta_c = theta_n.at[where["lbs"]].set(lbeta)
    jac = jax.jacfwd(lambda z: log_beta(theta_n.at[where["lbs"]].set(z)))(theta_n[where["lbs"]])
    log_det = float(jnp.sum(jnp.log(jnp.abs(jnp.diag(jac)))))
    lhs = float(ld(theta_n, data_n))
    rhs = float(ld(theta_c, data_c)) + log_det
    assert lhs == pytest.approx(rhs, rel=1e-4, abs=1e-3)


def test_choose_noncentred_rule(sim):
    stats = cell_stats(
        validate_observations(sim.observations), normalise_clusters(sim.store_clusters)
    )
    real = stats.slot_mask > 0
    assert not choose_noncentred(stats, "centred").any()
    np.testing.assert_array_equal(choose_noncentred(stats, "noncentred"), real)
    med = np.array([np.nanmedian(data_to_spread_ratio(stats, i, "log2")) for i in range(5)])
    assert np.all(med > 0) and np.all(np.isnan(data_to_spread_ratio(stats, 0, "log2")[~real[0]]))
    cut = float(np.median(med))
    auto = choose_noncentred(stats, "auto", ratio=cut)
    # Whole products: every store slot of a product above the cut, none below it.
    np.testing.assert_array_equal(auto, real & (med > cut)[:, None])
    assert auto.any() and (real & ~auto).any()


def _sparse_product(seed: int) -> tuple[pd.DataFrame, dict[str, str]]:
    """130 payoffs of one product over 10 stores in 4 clusters, about half of them zero, noisy
    (sigma_r = 1.4) next to a small store spread (b = 0.08): the funnel case of P0056 on the
    bundled chain."""
    truth = random_truth(n_products=1, n_stores=10, n_clusters=4, random_state=seed)
    rng = np.random.default_rng(seed)
    store = np.abs(truth.cluster_coef[:, truth.store_cluster] + rng.laplace(0, 0.08, (1, 10)))
    truth = dataclasses.replace(
        truth,
        laplace_scale=np.array([0.08]),
        sigma_r=np.array([1.4]),
        store_coef=store,
        hurdle_eta_store=np.full((1, 10), -0.7),
    )
    s = rng.integers(0, 10, size=130)
    q = rng.integers(1, 4, size=130).astype(np.float64)
    rate = truth.draw(np.zeros(130, dtype=np.int64), s, q, rng)
    obs = pd.DataFrame(
        {
            "store_id": np.asarray(truth.store_ids)[s],
            "product_id": "P0000",
            "facings": q,
            "rate": rate,
        }
    )
    return obs, truth.store_clusters


def test_sparse_product_mixes(tmp_path: Path):
    """Few, noisy observations over many stores: the first run has divergences (centred funnel);
    with ``refit=True`` the product is re-run on its own and passes R-hat <= 1.01 without
    warning."""
    obs, clusters = _sparse_product(1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a bad fit would fail here
        model = RBPModel(batch_size=1, n_jobs=1, refit=True, random_state=0).fit(obs, clusters)
    d = model.diagnostics_
    assert d.rhat_max <= 1.01 and d.ess_bulk_min >= 200 and d.divergences == 0
    assert model.refit_products_ == ("P0000",)
    assert RBPModel.load(model.save(tmp_path / "m.npz")).refit_products_ == ("P0000",)


def test_thin_keeps_every_other_draw_and_flags_divergent_pairs():
    c, d, n_p = 2, 6, 1
    raw = RawDraws(
        params={"lb": np.arange(c * d * n_p, dtype=np.float32).reshape(c, d, n_p)},
        noncentred=np.zeros((n_p, 1), dtype=bool),
        divergent=np.zeros((c, d, n_p), dtype=bool),
        n_leapfrog=np.full((c, d, n_p), 7, dtype=np.int64),
        step_size=np.ones((c, n_p), dtype=np.float32),
    )
    raw.divergent[0, 2, 0] = True
    out = thin(raw, 2)
    np.testing.assert_array_equal(out.params["lb"][0, :, 0], [1, 3, 5])
    np.testing.assert_array_equal(out.divergent[:, :, 0], [[False, True, False], [False] * 3])
    assert out.n_leapfrog.shape == (c, 3, n_p)


def test_cell_stats_counts_and_sums(sim):
    stats = cell_stats(
        validate_observations(sim.observations), normalise_clusters(sim.store_clusters)
    )
    obs = sim.observations
    assert stats.n_obs.sum() == len(obs)
    assert stats.n_pos.sum() == (obs["rate"] > 0).sum()
    assert stats.n_zero.sum() == (obs["rate"] == 0).sum()
    assert stats.sum_r.sum() == pytest.approx(obs["rate"].sum())
    assert stats.sum_log_r.sum() == pytest.approx(np.log(obs.loc[obs["rate"] > 0, "rate"]).sum())


# ---------------------------------------------------------------- estimator contract
def test_init_stores_arguments_only_and_clone():
    model = RBPModel(sigma0=-1.0, draws=0, model_config={"hurdle_tau_sd": 0.5})
    assert model.sigma0 == -1.0 and model.draws == 0  # not validated before fit
    twin = model.clone()
    assert twin.get_params() == model.get_params()
    assert twin is not model and not hasattr(twin, "posterior_")
    assert RBPModel(model_config={"hurdle_tau_sd": 0.5}).priors().hurdle_tau_sd == 0.5


def test_not_fitted_error():
    with pytest.raises(NotFittedError, match=r"RBPModel is not fitted yet; call fit\(\)"):
        RBPModel().predict("P0000", "S0000", 1)


@pytest.mark.parametrize(
    ("change", "kwargs", "match"),
    [
        (lambda o: o.assign(rate=-o["rate"] - 1), {}, "rate must be a finite number >= 0"),
        (lambda o: o.assign(rate=np.nan), {}, "rate must be a finite number >= 0"),
        (lambda o: o.assign(facings=0), {}, "facings must be a finite number >= 1"),
        (lambda o: o.drop(columns="facings"), {}, "missing \\['facings'\\]"),
        (lambda o: o.iloc[:0], {}, "at least one row"),
        (lambda o: o.assign(store_id="NOWHERE"), {}, "must have a cluster"),
        (lambda o: o, {"draws": 0}, "draws must be an integer >= 10"),
        (lambda o: o, {"target_accept": 1.5}, "target_accept must be in"),
        (lambda o: o, {"facing_feature": "cubic"}, "facing_feature must be one of"),
        (lambda o: o, {"parameterization": "both"}, "parameterization must be one of"),
        (lambda o: o, {"refit": "yes"}, "refit must be True or False"),
        (lambda o: o, {"sigma0": 0.0}, "sigma0 must be > 0"),
        (lambda o: o, {"model_config": {"nope": 1.0}}, "unknown key"),
    ],
)
def test_bad_input_is_refused(sim, change, kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        RBPModel(**kwargs).fit(change(sim.observations.copy()), sim.store_clusters)


def test_store_clusters_accepts_frames_and_series(sim):
    frame = pd.DataFrame(
        {"store_id": list(sim.store_clusters), "cluster": list(sim.store_clusters.values())}
    )
    assert normalise_clusters(frame) == normalise_clusters(pd.Series(sim.store_clusters))
    with pytest.raises(InvalidParameterError, match="store_id and cluster"):
        normalise_clusters(frame.rename(columns={"cluster": "k"}))


def test_seeded_determinism(sim, fitted):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        again = RBPModel(random_state=3, **FAST).fit(sim.observations, sim.store_clusters)
    for name, arr in fitted.posterior_.arrays().items():
        np.testing.assert_array_equal(arr, again.posterior_.arrays()[name], err_msg=name)


def test_batches_group_sparse_products_and_draws_return_in_product_order(sim, monkeypatch):
    # Product k is seen at (6, 4, 5, 8, 7)[k] stores: batched as [1, 2, 0, 4, 3] (fewest
    # first), an order that is not its own inverse. A stand-in for the NUTS runner returns
    # each run's product index as every draw, flag and step size, so every array of the
    # result must read 0, 1, 2, 3, 4 along its product axis.
    obs = sim.observations
    k = obs["product_id"].str[1:].astype(int).to_numpy()
    store = obs["store_id"].str[1:].astype(int).to_numpy()
    obs = obs[store < np.array([6, 4, 5, 8, 7])[k]]
    stats = cell_stats(validate_observations(obs), normalise_clusters(sim.store_clusters))
    assert list(batch_order(stats)) == [1, 2, 0, 4, 3]
    tagged = _sampler.product_data

    def product_data(stats_, index, feature, noncentred=None):
        return {**tagged(stats_, index, feature, noncentred), "tag": index.astype(np.float32)}

    def build_runner(priors, n_clusters, n_slots, *, draws, **_):
        width = 2 * n_clusters + 4 + 2 * n_slots  # the flat layout of param_slices

        def runner(keys, pos0, data):
            tag = np.asarray(data["tag"])
            flat = np.broadcast_to(tag[:, None, None], (len(tag), draws, width))
            per_draw = np.broadcast_to(tag[:, None], (len(tag), draws))
            return flat, per_draw % 2 == 0, per_draw.astype(np.int64), tag

        return runner

    monkeypatch.setattr(_sampler, "product_data", product_data)
    monkeypatch.setattr(_sampler, "_build_runner", build_runner)
    raw = _sampler.sample(
        stats,
        RBPPriors(),
        feature="log2",
        tune=1,
        draws=3,
        chains=2,
        seed=0,
        target_accept=0.8,
        max_tree_depth=5,
        batch_size=2,
        n_jobs=2,
    )
    want = np.arange(5)
    for name in ("lb", "ls", "lt", "c"):
        np.testing.assert_array_equal(raw.params[name][0, 0], want, err_msg=name)
    for name in ("lbk", "lbs", "zs", "es", "ak"):
        np.testing.assert_array_equal(raw.params[name][1, 2, :, 0], want, err_msg=name)
    np.testing.assert_array_equal(raw.n_leapfrog[1, 2], want)
    np.testing.assert_array_equal(raw.divergent[0, 1], want % 2 == 0)
    np.testing.assert_array_equal(raw.step_size[1], want)


def test_fit_sets_attributes_and_diagnostics(fitted, sim):
    d = fitted.diagnostics_
    assert fitted.product_ids_ == tuple(sorted(sim.truth.product_ids))
    assert fitted.posterior_.cluster_coef.shape == (2, FAST["draws"], 5, 2)
    assert len(d.products) == 5 and d.chains == 2 and d.draws == FAST["draws"]
    assert 1.0 <= d.rhat_max < 1.2 and d.ess_bulk_min > 20
    assert np.all(fitted.posterior_.store_coef[np.isfinite(fitted.posterior_.store_coef)] > 0)


def test_bad_fit_warns(sim):
    with pytest.warns(ConvergenceWarning, match="bulk ESS min is .* worst product"):
        RBPModel(draws=10, tune=10, random_state=0, batch_size=8, n_jobs=1).fit(
            sim.observations, sim.store_clusters
        )


def test_save_load_roundtrip(fitted, tmp_path: Path):
    path = fitted.save(tmp_path / "rbp.npz")
    loaded = RBPModel.load(path)
    assert loaded.get_params() == fitted.get_params()
    for name, arr in fitted.posterior_.arrays().items():
        np.testing.assert_array_equal(arr, loaded.posterior_.arrays()[name])
    assert loaded.diagnostics_ == fitted.diagnostics_
    a = fitted.predict("P0001", "S0002", [1, 3])
    b = loaded.predict("P0001", "S0002", [1, 3])
    np.testing.assert_array_equal(a.draws, b.draws)


def _rewrite_header(src: Path, dst: Path, edit) -> None:
    with np.load(src) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrays.pop("__header__")))
    edit(header)
    np.savez(dst, __header__=np.array(json.dumps(header)), **arrays)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda h: h.update(format_version=999), "format version 999"),
        (lambda h: h["config"].pop("sigma2"), "configuration keys"),
        (lambda h: h.update(artifact="something.else"), "not 'shelfwise.demand.RBPModel'"),
    ],
)
def test_mismatched_artifact_is_refused(fitted, tmp_path: Path, edit, match):
    good = fitted.save(tmp_path / "good.npz")
    bad = tmp_path / "bad.npz"
    _rewrite_header(good, bad, edit)
    with pytest.raises(ArtifactMismatchError, match=match):
        RBPModel.load(bad)


def test_loading_a_non_artifact_is_refused(tmp_path: Path):
    junk = tmp_path / "junk.npz"
    with zipfile.ZipFile(junk, "w") as zf:
        zf.writestr("x.txt", "hello")
    with pytest.raises(ArtifactMismatchError):
        RBPModel.load(junk)


# ---------------------------------------------------------------- prediction
def test_predict_seen_store_new_store_and_zero_facings(fitted):
    seen = fitted.predict("P0001", "S0002", [0, 1, 2, 6])
    assert seen.store_seen and seen.mean[0] == 0.0 and seen.p_zero[0] == 1.0
    assert np.all(np.diff(seen.mean) > 0) and np.all(seen.sd[1:] > 0)
    assert np.all(seen.quantiles[:, 0] <= seen.quantiles[:, -1])
    new = fitted.predict("P0001", "S9999", [1, 2], cluster="C1")
    assert not new.store_seen and new.cluster == "C1"
    with pytest.raises(InvalidParameterError, match="pass cluster="):
        fitted.predict("P0001", "S9999", 1)
    with pytest.raises(InvalidParameterError, match="product_id must be a product"):
        fitted.predict("P9999", "S0002", 1)
    with pytest.raises(InvalidParameterError, match="facings must be finite numbers >= 0"):
        fitted.predict("P0001", "S0002", -1)


def test_new_store_is_wider_than_a_seen_store(fitted):
    seen = fitted.predict("P0002", "S0001", [3])
    label = fitted.store_clusters_["S0001"]
    new = fitted.predict("P0002", "S-NEW", [3], cluster=label)
    # A new store adds the spread of store coefficients around the cluster's.
    assert new.sd[0] > 0.9 * seen.sd[0]


def test_predictive_mean_and_sd_match_their_draws(fitted):
    pred = fitted.predict("P0003", "S0004", [2])
    draws = pred.draws[0]
    se = draws.std() / np.sqrt(draws.size)
    assert abs(draws.mean() - pred.mean[0]) < 4 * se
    assert draws.std() == pytest.approx(pred.sd[0], rel=0.15)
    assert np.mean(draws == 0) == pytest.approx(pred.p_zero[0], abs=0.06)


def test_predict_frame_matches_predict(fitted):
    frame = pd.DataFrame(
        {"product_id": ["P0001", "P0001", "P0004"], "store_id": ["S0002", "S0002", "S0005"]}
    ).assign(facings=[1.0, 3.0, 2.0])
    out = fitted.predict_frame(frame)
    single = fitted.predict("P0001", "S0002", [1.0, 3.0])
    np.testing.assert_allclose(out["mean"].to_numpy()[:2], single.mean)
    assert {"mean", "sd", "p_zero", "q05", "q50", "q95", "store_seen"} <= set(out.columns)
    assert list(out["facings"]) == [1.0, 3.0, 2.0]
    assert out["store_seen"].all()


def test_predict_frame_without_quantiles_gives_the_same_moments(fitted):
    # A new store draws its coefficients from the cluster level: the moments must come from the
    # same seeded draws with or without the predictive draws made after them, for stores with
    # data (each in its own cluster) and for a new one.
    label = fitted.cluster_labels_[0]
    stores = ["S0002", "S0002", "S0005", "S-NEW", "S-NEW"]
    frame = pd.DataFrame(
        {
            "product_id": ["P0001", "P0001", "P0004", "P0002", "P0002"],
            "store_id": stores,
            "facings": [1.0, 3.0, 0.0, 2.0, 4.0],
            "cluster": [fitted.store_clusters_.get(s, label) for s in stores],
        }
    )
    full = fitted.predict_frame(frame)
    moments = fitted.predict_frame(frame, quantiles=False)
    assert list(moments.columns) == [
        *frame.columns,
        "mean",
        "sd",
        "sd_mean",
        "p_zero",
        "store_seen",
    ]
    pd.testing.assert_frame_equal(moments, full[moments.columns])
    assert moments["store_seen"].tolist() == [True, True, True, False, False]
    assert moments.loc[2, "mean"] == 0.0
    with pytest.raises(InvalidParameterError, match="quantiles must be True or False"):
        fitted.predict_frame(frame, quantiles="q50")


# ---------------------------------------------------------------- PEPF
def test_pepf_formula_and_validation():
    np.testing.assert_allclose(pepf([1.0, 2.0], [0.5, 1.0], lam=2.0), [0.0, 0.0])
    with pytest.raises(InvalidParameterError, match="lam must be >= 0"):
        pepf([1.0], [0.1], lam=-1.0)
    with pytest.raises(InvalidParameterError, match="sd must be >= 0"):
        pepf([1.0], [-0.1])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 100), min_size=1, max_size=20),
    st.floats(0, 10),
    st.floats(0, 5),
)
def test_pepf_never_exceeds_mean_and_falls_with_lambda(means, sd, lam):
    m = np.asarray(means)
    s = np.full_like(m, sd)
    assert np.all(pepf(m, s, lam=lam) <= m)
    assert np.all(pepf(m, s, lam=lam + 1) <= pepf(m, s, lam=lam))


def test_rank_candidates_orders_by_pepf(fitted):
    cands = [("P0000", 2), ("P0001", 2), ("P0002", 2), ("P0003", 1), ("P0004", 4)]
    ranked = rank_candidates(fitted, "S0003", cands, lam=1.0)
    assert list(ranked["rank"]) == [1, 2, 3, 4, 5]
    assert np.all(np.diff(ranked["pepf"].to_numpy()) <= 0)
    np.testing.assert_allclose(ranked["pepf"], ranked["mean"] - ranked["sd"])
    by_mean = rank_candidates(fitted, "S0003", cands, lam=0.0)
    assert np.all(np.diff(by_mean["mean"].to_numpy()) <= 0)


# ---------------------------------------------------------------- features and diagnostics
@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["log2", "linear", "sqrt"]), st.floats(0, 50), st.floats(0.01, 50))
def test_facing_feature_is_increasing_with_x1_equal_1(kind, q, dq):
    assert facing_feature(1.0, kind) == pytest.approx(1.0)
    assert facing_feature(0.0, kind) == 0.0
    assert facing_feature(q + dq, kind) > facing_feature(q, kind)


def test_rhat_and_ess_on_known_chains():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(4, 1000, 3))
    assert np.all(np.abs(rhat(iid) - 1) < 0.01)
    assert np.all(np.abs(ess_bulk(iid) / 4000 - 1) < 0.15)
    stuck = iid.copy()
    stuck[0] += 3.0
    assert rhat(stuck)[0] > 1.3
    ar = np.zeros((2, 2000, 1))
    for t in range(1, 2000):  # AR(1), phi = 0.9: ESS ~ n (1 - phi) / (1 + phi)
        ar[:, t] = 0.9 * ar[:, t - 1] + rng.normal(size=(2, 1))
    assert 100 < ess_bulk(ar)[0] < 400


# ---------------------------------------------------------------- CLI
def test_fit_command_on_a_tiny_chain(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from shelfwise.cli.fit import fit_cmd
    from shelfwise.data.synthetic import ChainConfig, generate_chain
    from shelfwise.storage import Repository, sqlite_url
    from shelfwise.storage.ingest import ingest_files

    chain = generate_chain(
        ChainConfig(n_stores=4, n_products=6, displays_per_store=1, weeks=6), random_state=0
    )
    written = chain.write(tmp_path / "data", fmt="csv")
    url = sqlite_url(tmp_path / "x.db")
    ingest_files(Repository.from_url(url), [p for p in written if "edgerec3d" not in p.name])
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "store_id,cluster\n"
        + "".join(f"{s.store_id},K{i % 2}\n" for i, s in enumerate(chain.stores))
    )
    app = typer.Typer()
    app.command("fit")(fit_cmd)
    app.command("other")(lambda: None)  # a second command keeps "fit" a sub-command
    out = tmp_path / "model" / "rbp.npz"
    args = ["fit", "--database-url", url, "--clusters", str(labels), "--out", str(out)]
    result = CliRunner().invoke(app, [*args, "--draws", "100", "--tune", "100", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "R-hat max" in result.output and "Saved the model" in result.output
    model = RBPModel.load(out)
    assert set(model.cluster_labels_) == {"K0", "K1"}
    figures = sorted((tmp_path / "model" / "rbp-figures").glob("*.png"))
    assert len(figures) == 4

    wrong = tmp_path / "wrong.csv"
    wrong.write_text("store,k\nS01,1\n")
    bad = CliRunner().invoke(app, ["fit", "--database-url", url, "--clusters", str(wrong)])
    assert bad.exit_code == 1 and bad.exception is not None
    assert "must have columns store_id and cluster" in bad.output
