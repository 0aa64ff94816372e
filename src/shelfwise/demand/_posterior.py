"""Posterior draws of RBP in the model's own units, and the posterior predictive p(r | q)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from ._config import facing_feature
from ._sampler import RawDraws
from ._stats import CellStats

QUANTILE_LEVELS: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True, slots=True, eq=False)
class RBPPosterior:
    """Posterior draws, shaped ``(chains, draws, products, ...)``.

    Store-indexed arrays hold NaN where a product has no observation in a store: there the
    posterior of the store coefficient is its prior given the cluster level, drawn at
    prediction time.

    Attributes
    ----------
    cluster_coef : ndarray, shape (c, d, P, K)
        ``beta_ik``.
    laplace_scale, sigma_r : ndarray, shape (c, d, P)
        ``b_i`` and the Gamma sd.
    store_coef : ndarray, shape (c, d, P, L)
        ``beta_il``.
    hurdle_alpha : ndarray, shape (c, d, P, K)
        Cluster intercepts of the hurdle.
    hurdle_tau, hurdle_slope : ndarray, shape (c, d, P)
        Store sd and facings slope of the hurdle.
    hurdle_store : ndarray, shape (c, d, P, L)
        Store intercepts ``alpha_ik + tau_i * e_il`` of the hurdle.
    """

    cluster_coef: NDArray[np.float32]
    laplace_scale: NDArray[np.float32]
    sigma_r: NDArray[np.float32]
    store_coef: NDArray[np.float32]
    hurdle_alpha: NDArray[np.float32]
    hurdle_tau: NDArray[np.float32]
    hurdle_slope: NDArray[np.float32]
    hurdle_store: NDArray[np.float32]

    def arrays(self) -> dict[str, NDArray[np.float32]]:
        """Every array by field name."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def n_samples(self) -> int:
        """Chains times draws."""
        return int(self.sigma_r.shape[0] * self.sigma_r.shape[1])


def to_posterior(raw: RawDraws, stats: CellStats) -> RBPPosterior:
    """Map unconstrained draws to model units and scatter store slots to store columns."""
    prm = raw.params
    c, d, n_p, _ = prm["lbs"].shape
    n_l = len(stats.store_ids)
    f32 = np.float32
    store = np.full((c, d, n_p, n_l), np.nan, dtype=f32)
    hstore = np.full((c, d, n_p, n_l), np.nan, dtype=f32)
    tau = np.exp(prm["lt"])
    for i in range(n_p):
        real = stats.slot_mask[i] > 0
        cols = stats.slot_store[i][real]
        store[:, :, i, cols] = np.exp(prm["lbs"][:, :, i, real])
        k = stats.store_cluster[cols]
        hstore[:, :, i, cols] = (
            prm["ak"][:, :, i, k] + tau[:, :, i, None] * prm["es"][:, :, i, real]
        )
    return RBPPosterior(
        cluster_coef=np.exp(prm["lbk"]).astype(f32),
        laplace_scale=np.exp(prm["lb"]).astype(f32),
        sigma_r=np.exp(prm["ls"]).astype(f32),
        store_coef=store,
        hurdle_alpha=prm["ak"].astype(f32),
        hurdle_tau=tau.astype(f32),
        hurdle_slope=prm["c"].astype(f32),
        hurdle_store=hstore,
    )


def parameter_draws(
    post: RBPPosterior,
    product: int,
    store: int | None,
    cluster: int,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Flat draws of ``(beta_il, sigma_r, hurdle intercept, hurdle slope)`` for a store.

    A store with data for the product uses its posterior draws; otherwise (a store never seen,
    or a product new to the store) a new store is drawn from the cluster level, per draw:
    ``beta_il ~ Laplace(beta_ik, b_i)`` truncated at 0 and ``e_il ~ Normal(0, 1)``.
    """
    beta = None
    eta0 = None
    if store is not None:
        b = post.store_coef[:, :, product, store].reshape(-1).astype(np.float64)
        if np.all(np.isfinite(b)):
            beta = b
            eta0 = post.hurdle_store[:, :, product, store].reshape(-1).astype(np.float64)
    if beta is None or eta0 is None:
        loc = post.cluster_coef[:, :, product, cluster].reshape(-1).astype(np.float64)
        scale = post.laplace_scale[:, :, product].reshape(-1).astype(np.float64)
        # Inverse-CDF draw of Laplace(loc, scale) restricted to (0, inf).
        lo = np.where(loc > 0, 0.5 * np.exp(-loc / scale), 0.5)
        u = lo + (1.0 - lo) * rng.uniform(size=loc.shape)
        beta = np.where(
            u < 0.5, loc + scale * np.log(2.0 * u), loc - scale * np.log(2.0 * (1.0 - u))
        )
        beta = np.maximum(beta, 1e-12)
        alpha = post.hurdle_alpha[:, :, product, cluster].reshape(-1).astype(np.float64)
        tau = post.hurdle_tau[:, :, product].reshape(-1).astype(np.float64)
        eta0 = alpha + tau * rng.normal(size=alpha.shape)
    sig = post.sigma_r[:, :, product].reshape(-1).astype(np.float64)
    slope = post.hurdle_slope[:, :, product].reshape(-1).astype(np.float64)
    return beta, sig, eta0, slope


@dataclass(frozen=True, slots=True, eq=False)
class PredictiveDraws:
    """Posterior predictive of one (product, store) over several facing counts.

    Attributes
    ----------
    mean, sd, p_zero : ndarray, shape (n_facings,)
        ``E[r]``, ``sd(r)`` (exact given the parameter draws) and ``P(r = 0)``.
    sd_mean : ndarray, shape (n_facings,)
        Posterior sd of the expected payoff ``E[r | theta]`` over the parameter draws: the
        epistemic part of ``sd`` (what more data would remove), without the Gamma noise and
        the zero hurdle.
    quantiles : ndarray, shape (n_facings, n_levels)
        Quantiles of ``r`` at :data:`QUANTILE_LEVELS`, from the predictive draws.
    draws : ndarray, shape (n_facings, n_samples)
        One predictive draw of ``r`` per posterior draw.
    """

    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    p_zero: NDArray[np.float64]
    sd_mean: NDArray[np.float64]
    quantiles: NDArray[np.float64]
    draws: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class PredictiveMoments:
    """Moments of the posterior predictive of one (product, store) over several facing counts.

    The fields of :class:`PredictiveDraws` that are exact given the parameter draws; no
    predictive draws are made, so computing them consumes no random numbers.

    Attributes
    ----------
    mean, sd, p_zero : ndarray, shape (n_facings,)
        ``E[r]``, ``sd(r)`` and ``P(r = 0)``.
    sd_mean : ndarray, shape (n_facings,)
        Posterior sd of the expected payoff ``E[r | theta]`` (the epistemic part of ``sd``).
    """

    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    p_zero: NDArray[np.float64]
    sd_mean: NDArray[np.float64]


def _hurdle_gamma(
    beta: NDArray[np.float64],
    eta0: NDArray[np.float64],
    slope: NDArray[np.float64],
    facings: NDArray[np.float64],
    feature: str,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gamma means ``mu`` and hurdle probabilities ``P(r > 0)``, shape (n_facings, n_draws)."""
    q = np.asarray(facings, dtype=np.float64)
    x = facing_feature(q, feature)[:, None]
    on = x > 0
    xs = np.where(on, x, 1.0)
    mu = xs * beta[None, :]
    p_pos = np.where(on, -np.expm1(-np.exp(eta0[None, :] + slope[None, :] * np.log(xs))), 0.0)
    return mu, p_pos


def _moments(
    mu: NDArray[np.float64], p_pos: NDArray[np.float64], sig: NDArray[np.float64]
) -> PredictiveMoments:
    mean_t = p_pos * mu
    second = p_pos * (sig[None, :] ** 2 + mu**2)
    mean = mean_t.mean(axis=1)
    var = np.maximum(second.mean(axis=1) - mean**2, 0.0)
    return PredictiveMoments(
        mean=mean,
        sd=np.sqrt(var),
        p_zero=1.0 - p_pos.mean(axis=1),
        sd_mean=mean_t.std(axis=1),
    )


def predictive_moments(
    beta: NDArray[np.float64],
    sig: NDArray[np.float64],
    eta0: NDArray[np.float64],
    slope: NDArray[np.float64],
    facings: NDArray[np.float64],
    feature: str,
) -> PredictiveMoments:
    """Mean, sd, P(0) and epistemic sd of the hurdle-Gamma predictive, without draws."""
    mu, p_pos = _hurdle_gamma(beta, eta0, slope, facings, feature)
    return _moments(mu, p_pos, sig)


def predictive(
    beta: NDArray[np.float64],
    sig: NDArray[np.float64],
    eta0: NDArray[np.float64],
    slope: NDArray[np.float64],
    facings: NDArray[np.float64],
    feature: str,
    rng: np.random.Generator,
) -> PredictiveDraws:
    """Hurdle-Gamma predictive at each facing count (0 facings gives r = 0 surely)."""
    mu, p_pos = _hurdle_gamma(beta, eta0, slope, facings, feature)
    m = _moments(mu, p_pos, sig)
    shape = (mu / sig[None, :]) ** 2
    g = rng.gamma(shape, mu / shape)
    draws = np.where(rng.uniform(size=mu.shape) < p_pos, np.maximum(g, 0.0), 0.0)
    quant = np.quantile(draws, QUANTILE_LEVELS, axis=1).T
    return PredictiveDraws(
        mean=m.mean,
        sd=m.sd,
        p_zero=m.p_zero,
        sd_mean=m.sd_mean,
        quantiles=np.asarray(quant),
        draws=draws,
    )
