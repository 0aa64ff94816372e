"""The toy experiments of EdgeRec3D §8.3 (Fig. 7) on data simulated from RBP itself.

Three claims: (a) RBP is more robust to outliers than linear regression; (b) RBP's store-level
error falls as in-store data grow, while a linear regression pooled over the cluster flat-lines;
(c) RBP's posterior sd shrinks with data. Plus recovery and 90% interval coverage against the
known parameters. Each experiment returns a typed record that :mod:`.figures` can draw.

Linear regression baselines fit ``r = x_q * beta`` by least squares through the origin on the
positive payoffs (the quantity RBP's ``beta`` describes): per (product, store) for (a) — the
unpooled estimate that outliers hit — and pooled per (product, cluster) for (b), the "equal
weight to all data" regression of the paper.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._config import facing_feature
from ._diagnostics import ConvergenceWarning
from .rbp import RBPModel
from .simulate import RBPTruth, random_truth


@dataclass(frozen=True, slots=True)
class RecoveryResult:
    """Recovery of known parameters.

    Attributes
    ----------
    cluster_rmse, store_rmse : float
        RMSE of posterior means of ``beta_ik`` and ``beta_il`` (stores with data).
    coverage90 : float
        Share of true values inside central 90% intervals, pooled over ``beta_ik``,
        ``beta_il``, ``b_i`` and ``sigma_r``.
    n_parameters : int
        How many parameters were pooled.
    truth, mean, lower, upper : ndarray
        Pooled true values, posterior means and interval ends (for figures).
    """

    cluster_rmse: float
    store_rmse: float
    coverage90: float
    n_parameters: int
    truth: NDArray[np.float64]
    mean: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ClaimCurve:
    """One Fig. 7 panel: a swept quantity and the error (or sd) of RBP and a baseline.

    Attributes
    ----------
    name : str
    x_label : str
    x : ndarray
        The swept values (outlier share, or observations per product in a store).
    rbp : ndarray
        RBP's store-level RMSE (or posterior sd) at each ``x``.
    baseline : ndarray or None
        Linear regression's store-level RMSE at each ``x`` (None for the sd panel).
    """

    name: str
    x_label: str
    x: NDArray[np.float64]
    rbp: NDArray[np.float64]
    baseline: NDArray[np.float64] | None


def recovery(model: RBPModel, truth: RBPTruth) -> RecoveryResult:
    """Compare a fitted model's posterior with the truth it was simulated from."""
    post = model.posterior_
    po = [model.product_ids_.index(p) for p in truth.product_ids]
    so = [model.store_ids_.index(s) for s in truth.store_ids]
    ko = [model.cluster_labels_.index(k) for k in truth.cluster_labels]
    cl = post.cluster_coef[:, :, po][:, :, :, ko].astype(np.float64)
    st = post.store_coef[:, :, po][:, :, :, so].astype(np.float64)
    seen = np.all(np.isfinite(st), axis=(0, 1))
    c, d = cl.shape[:2]
    flat = np.concatenate(
        [
            cl.reshape(c, d, -1),
            st[:, :, seen],
            post.laplace_scale[:, :, po].astype(np.float64),
            post.sigma_r[:, :, po].astype(np.float64),
        ],
        axis=2,
    )
    true = np.concatenate(
        [
            truth.cluster_coef.ravel(),
            truth.store_coef[seen],
            truth.laplace_scale,
            truth.sigma_r,
        ]
    )
    lo, hi = np.quantile(flat, [0.05, 0.95], axis=(0, 1))
    mean = flat.mean(axis=(0, 1))
    cl_mean = cl.mean(axis=(0, 1))
    st_mean = st.mean(axis=(0, 1))[seen]
    return RecoveryResult(
        cluster_rmse=float(np.sqrt(np.mean((cl_mean - truth.cluster_coef) ** 2))),
        store_rmse=float(np.sqrt(np.mean((st_mean - truth.store_coef[seen]) ** 2))),
        coverage90=float(np.mean((true >= lo) & (true <= hi))),
        n_parameters=int(true.size),
        truth=true,
        mean=mean,
        lower=lo,
        upper=hi,
    )


def ols_store_coef(
    observations: pd.DataFrame,
    truth: RBPTruth,
    *,
    pooled: bool,
) -> NDArray[np.float64]:
    """Least squares ``r = x_q * beta`` on positive payoffs, per store or pooled per cluster.

    Returns
    -------
    ndarray, shape (n_products, n_stores)
        The estimate of each store's coefficient (the cluster's when ``pooled``); NaN where a
        store (or cluster) has no positive payoff for the product.
    """
    pos = observations[observations["rate"] > 0]
    p = np.searchsorted(np.asarray(truth.product_ids), pos["product_id"].to_numpy(dtype=str))
    s = np.searchsorted(np.asarray(truth.store_ids), pos["store_id"].to_numpy(dtype=str))
    x = facing_feature(pos["facings"].to_numpy(dtype=np.float64), truth.feature)
    r = pos["rate"].to_numpy(dtype=np.float64)
    n_p, n_l = truth.store_coef.shape
    n_k = len(truth.cluster_labels)
    if pooled:
        k = truth.store_cluster[s]
        xr = np.zeros((n_p, n_k))
        xx = np.zeros((n_p, n_k))
        np.add.at(xr, (p, k), x * r)
        np.add.at(xx, (p, k), x * x)
        with np.errstate(invalid="ignore", divide="ignore"):
            beta_k = xr / xx
        return np.asarray(beta_k[:, truth.store_cluster])
    xr = np.zeros((n_p, n_l))
    xx = np.zeros((n_p, n_l))
    np.add.at(xr, (p, s), x * r)
    np.add.at(xx, (p, s), x * x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(xr / xx)


def _obs_frame(
    truth: RBPTruth,
    p: NDArray[np.int64],
    s: NDArray[np.int64],
    q: NDArray[np.float64],
    r: NDArray[np.float64],
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "store_id": np.asarray(truth.store_ids, dtype=object)[s],
            "product_id": np.asarray(truth.product_ids, dtype=object)[p],
            "facings": q,
            "rate": r,
        }
    )


def _fit(model: RBPModel, obs: pd.DataFrame, truth: RBPTruth) -> RBPModel:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.clone().fit(obs, truth.store_clusters)


def _store_means(model: RBPModel, truth: RBPTruth) -> tuple[NDArray[np.float64], ...]:
    po = [model.product_ids_.index(p) for p in truth.product_ids]
    so = [model.store_ids_.index(s) for s in truth.store_ids]
    st = model.posterior_.store_coef[:, :, po][:, :, :, so].astype(np.float64)
    return st.mean(axis=(0, 1)), st.std(axis=(0, 1))


def outlier_curve(
    model: RBPModel,
    *,
    shares: Sequence[float] = (0.0, 0.05, 0.1, 0.2),
    n_products: int = 6,
    n_stores: int = 12,
    n_clusters: int = 3,
    obs_per_pair: int = 12,
    outlier_scale: float = 10.0,
    random_state: int = 0,
) -> ClaimCurve:
    """Claim (a): store-level RMSE as the share of gross outliers grows, RBP vs per-store OLS."""
    truth = random_truth(
        n_products=n_products, n_stores=n_stores, n_clusters=n_clusters, random_state=random_state
    )
    rng = np.random.default_rng(random_state + 1)
    p = np.repeat(np.arange(n_products), n_stores * obs_per_pair)
    s = np.tile(np.repeat(np.arange(n_stores), obs_per_pair), n_products)
    q = rng.integers(1, 7, size=p.size).astype(np.float64)
    base = truth.draw(p, s, q, rng)
    hit = rng.uniform(size=p.size)
    rbp, ols = [], []
    for share in shares:
        r = np.where((hit < share) & (base > 0), base * outlier_scale, base)
        obs = _obs_frame(truth, p, s, q, r)
        mean, _ = _store_means(_fit(model, obs, truth), truth)
        rbp.append(float(np.sqrt(np.nanmean((mean - truth.store_coef) ** 2))))
        lr = ols_store_coef(obs, truth, pooled=False)
        ols.append(float(np.sqrt(np.nanmean((lr - truth.store_coef) ** 2))))
    return ClaimCurve(
        name="(a) robustness to outliers",
        x_label="share of payoffs that are gross outliers (x10)",
        x=np.asarray(shares, dtype=np.float64),
        rbp=np.asarray(rbp),
        baseline=np.asarray(ols),
    )


def data_size_curves(
    model: RBPModel,
    *,
    focal_obs: Sequence[int] = (2, 8, 32),
    n_products: int = 6,
    n_stores: int = 12,
    n_clusters: int = 3,
    background_obs: int = 12,
    random_state: int = 0,
) -> tuple[ClaimCurve, ClaimCurve]:
    """Claims (b) and (c): one store per cluster gets ``n`` observations per product.

    Returns
    -------
    (ClaimCurve, ClaimCurve)
        Focal stores' RMSE of RBP vs pooled OLS, and RBP's mean posterior sd there.
    """
    truth = random_truth(
        n_products=n_products, n_stores=n_stores, n_clusters=n_clusters, random_state=random_state
    )
    focal = np.array([int(np.flatnonzero(truth.store_cluster == k)[0]) for k in range(n_clusters)])
    others = np.setdiff1d(np.arange(n_stores), focal)
    rng = np.random.default_rng(random_state + 1)
    p0 = np.repeat(np.arange(n_products), others.size * background_obs)
    s0 = np.tile(np.repeat(others, background_obs), n_products)
    q0 = rng.integers(1, 7, size=p0.size).astype(np.float64)
    r0 = truth.draw(p0, s0, q0, rng)
    err, sd, ols = [], [], []
    for n in focal_obs:
        frng = np.random.default_rng([random_state, n])
        p1 = np.repeat(np.arange(n_products), focal.size * n)
        s1 = np.tile(np.repeat(focal, n), n_products)
        q1 = frng.integers(1, 7, size=p1.size).astype(np.float64)
        r1 = truth.draw(p1, s1, q1, frng)
        obs = _obs_frame(
            truth,
            np.concatenate([p0, p1]),
            np.concatenate([s0, s1]),
            np.concatenate([q0, q1]),
            np.concatenate([r0, r1]),
        )
        mean, post_sd = _store_means(_fit(model, obs, truth), truth)
        true_f = truth.store_coef[:, focal]
        err.append(float(np.sqrt(np.nanmean((mean[:, focal] - true_f) ** 2))))
        sd.append(float(np.nanmean(post_sd[:, focal])))
        lr = ols_store_coef(obs, truth, pooled=True)
        ols.append(float(np.sqrt(np.nanmean((lr[:, focal] - true_f) ** 2))))
    x = np.asarray(focal_obs, dtype=np.float64)
    return (
        ClaimCurve(
            name="(b) store-level error vs in-store data",
            x_label="observations per product in the store",
            x=x,
            rbp=np.asarray(err),
            baseline=np.asarray(ols),
        ),
        ClaimCurve(
            name="(c) posterior sd vs in-store data",
            x_label="observations per product in the store",
            x=x,
            rbp=np.asarray(sd),
            baseline=None,
        ),
    )
