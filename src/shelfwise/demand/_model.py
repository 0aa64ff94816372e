"""The RBP log density of one product on its sufficient statistics, and its starting point.

Model (EdgeRec3D, Jenkins et al., KDD 2024, Eq. 5), for product ``i``, cluster ``k``, store ``l``
of cluster ``k`` and facings ``q`` with feature ``x_q``::

    beta_ik ~ HalfNormal(sigma0)          b_i ~ HalfNormal(sigma1)
    beta_il ~ Laplace(beta_ik, b_i) truncated to beta_il > 0
    sigma_r ~ HalfNormal(sigma2)
    r | r > 0 ~ Gamma(mean = x_q * beta_il, sd = sigma_r)

The store coefficient stays positive by truncating its Laplace prior at 0 (exactly Eq. 5's
prior conditioned on the support a Gamma mean needs; the normaliser
``1 - exp(-beta_ik / b_i) / 2`` depends on the parameters and is part of the density).

Each store coefficient is sampled in one of two exact parameterisations, chosen per
(product, store) slot (``slot_nc`` in the data):

* **centred**: the coordinate is ``log beta_il``, with the truncated-Laplace density and the
  log-Jacobian ``log beta_il``. Best where the store's own data pin ``beta_il`` down.
* **non-centred**: the coordinate is ``v_il ~ Logistic(0, 1)`` a priori, independent of
  ``beta_ik`` and ``b_i``, and ``beta_il = G^-1(sigmoid(v_il); beta_ik, b_i)`` with ``G`` the
  CDF of the truncated Laplace (probability integral transform: if ``U ~ Uniform(0, 1)`` then
  ``G^-1(U)`` has exactly the truncated-Laplace law, so the joint posterior of
  ``(beta_ik, b_i, beta_il, ...)`` is unchanged; no Jacobian enters because the prior is put on
  ``v_il`` itself). This removes the funnel between ``b_i`` and the store deviations when a
  store has few observations. See :func:`truncated_laplace_quantile` for the stable formula.

Zeros (a Gamma has no mass at 0) get a hurdle with a complementary log-log link::

    P(r > 0) = 1 - exp(-exp(eta)),  eta = alpha_ik + tau_i * e_il + c_i * log x_q
    alpha_ik ~ Normal(0, s_alpha), tau_i ~ HalfNormal(s_tau), e_il ~ Normal(0, 1),
    c_i ~ Normal(m_c, s_c)

(for a Poisson sales process whose rate is proportional to ``x_q``, ``c_i = 1``). The hurdle
and the Gamma part have separate parameters, so ``E[r] = P(r > 0) * x_q * beta_il``.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln
from numpy.typing import NDArray

from shelfwise.exceptions import InvalidParameterError

from ._config import AUTO_NONCENTRED_RATIO, RBPPriors, facing_feature
from ._stats import CellStats

Params = dict[str, Any]
"""Unconstrained parameters of one product: ``lbk`` (K), ``lb``, ``ls``, ``lbs`` (slots),
``ak`` (K), ``lt``, ``c``, ``es`` (slots)."""

_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))
_LOG2 = float(np.log(2.0))


def _half_normal(x: Any, scale: float) -> Any:
    return np.log(2.0) - _HALF_LOG_2PI - np.log(scale) - 0.5 * (x / scale) ** 2


def _normal(x: Any, loc: float, scale: float) -> Any:
    return -_HALF_LOG_2PI - np.log(scale) - 0.5 * ((x - loc) / scale) ** 2


def truncated_laplace_quantile(v: Any, loc: Any, scale: Any, xp: Any = np) -> Any:
    """``beta = G^-1(sigmoid(v))`` for ``G`` the CDF of ``Laplace(loc, scale)`` truncated to > 0.

    With ``lo = G_Laplace(0) = exp(-loc / scale) / 2`` (``loc > 0``) the untruncated level is
    ``u = lo + (1 - lo) * sigmoid(v)``. Below the median (``u < 1/2``)
    ``beta = loc + scale * log(2u) = scale * log(u / lo)
    = scale * softplus(log((1 - lo) / lo) + log sigmoid(v))``, which stays accurate as
    ``beta -> 0`` and for large ``loc / scale``; above it
    ``beta = loc - scale * log(2 (1 - u)) = loc - scale * (log 2 + log(1 - lo) + log sigmoid(-v))``.
    Both branches are finite for every finite ``v`` (safe under ``where`` for gradients).

    Parameters
    ----------
    v : array_like
        Logistic coordinates.
    loc, scale : array_like
        ``beta_ik > 0`` and ``b_i > 0`` (broadcast against ``v``).
    xp : module
        ``numpy`` or ``jax.numpy``.

    Returns
    -------
    array
        ``beta > 0``.
    """
    r = loc / scale
    log1m_lo = xp.log1p(-0.5 * xp.exp(-r))
    low = scale * xp.logaddexp(0.0, log1m_lo + _LOG2 + r - xp.logaddexp(0.0, -v))
    high = loc - scale * (_LOG2 + log1m_lo - xp.logaddexp(0.0, v))
    return xp.where(low < loc, low, high)


def truncated_laplace_logit_cdf(beta: Any, loc: Any, scale: Any) -> Any:
    """Inverse of :func:`truncated_laplace_quantile` (numpy): ``v = logit(G(beta))``."""
    z = (np.asarray(beta) - loc) / scale
    cdf = np.where(z < 0, 0.5 * np.exp(np.minimum(z, 0.0)), 1.0 - 0.5 * np.exp(-np.maximum(z, 0)))
    lo = 0.5 * np.exp(-np.asarray(loc) / scale)
    u = np.clip((cdf - lo) / (1.0 - lo), 1e-6, 1.0 - 1e-6)
    return np.log(u) - np.log1p(-u)


def product_data(
    stats: CellStats,
    index: NDArray[np.int64],
    feature: str,
    noncentred: NDArray[np.bool_] | None = None,
) -> dict[str, Any]:
    """The arrays the log density needs for the products ``index`` (leading batch axis).

    Parameters
    ----------
    stats : CellStats
        All products' statistics.
    index : ndarray of int
        Products to take (repeats allowed, for padding a batch).
    feature : str
        Facings feature kind.
    noncentred : ndarray of bool, shape (n_products, n_slots), optional
        Which store slots use the non-centred parameterisation (all products, indexed by
        ``index`` here); default none.

    Returns
    -------
    dict of str to ndarray (float32 / int32)
    """
    nc = (np.zeros_like(stats.slot_mask, dtype=bool) if noncentred is None else noncentred)[index]
    x = facing_feature(stats.cell_facings[index], feature)
    slot_cluster = stats.store_cluster[stats.slot_store[index]]
    f32 = np.float32
    return {
        "x": x.astype(f32),
        "logx": np.log(x).astype(f32),
        "cell_slot": stats.cell_slot[index].astype(np.int32),
        "n_pos": stats.n_pos[index].astype(f32),
        "n_zero": stats.n_zero[index].astype(f32),
        "sum_r": stats.sum_r[index].astype(f32),
        "sum_log_r": stats.sum_log_r[index].astype(f32),
        "slot_cluster": slot_cluster.astype(np.int32),
        "slot_mask": stats.slot_mask[index].astype(f32),
        "slot_nc": (nc & (stats.slot_mask[index] > 0)).astype(f32),
    }


def param_slices(n_clusters: int, n_slots: int) -> dict[str, slice | int]:
    """Where each parameter lies in the flat unconstrained vector of one product."""
    k, s = n_clusters, n_slots
    return {
        "lbk": slice(0, k),
        "lb": k,
        "ls": k + 1,
        "lbs": slice(k + 2, k + 2 + s),
        "ak": slice(k + 2 + s, 2 * k + 2 + s),
        "lt": 2 * k + 2 + s,
        "c": 2 * k + 3 + s,
        "es": slice(2 * k + 4 + s, 2 * k + 4 + 2 * s),
    }


def flatten(params: Params, n_clusters: int, n_slots: int) -> NDArray[np.float32]:
    """Pack a parameter dict into the flat vector of :func:`param_slices`."""
    out = np.zeros(2 * n_clusters + 4 + 2 * n_slots, dtype=np.float32)
    for name, where in param_slices(n_clusters, n_slots).items():
        out[where] = params[name]
    return out


def make_logdensity(priors: RBPPriors, n_clusters: int, n_slots: int) -> Any:
    """Return ``logdensity(theta, data)`` for one product's flat vector (jax-traceable).

    Parameters
    ----------
    priors : RBPPriors
        Hyperparameters (constants of the compiled function).
    n_clusters : int
        Number of clusters ``K``.

    Returns
    -------
    callable
    """
    s0, s1, s2 = priors.sigma0, priors.sigma1, priors.sigma2
    sa, st = priors.hurdle_alpha_sd, priors.hurdle_tau_sd
    mc, sc = priors.hurdle_slope_mean, priors.hurdle_slope_sd
    where = param_slices(n_clusters, n_slots)

    def logdensity(theta: Any, d: dict[str, Any]) -> Any:
        p = {name: theta[w] for name, w in where.items()}
        beta_k = jnp.exp(p["lbk"])
        b = jnp.exp(p["lb"])
        sig = jnp.exp(p["ls"])
        mask, nc = d["slot_mask"], d["slot_nc"] > 0
        lp = jnp.sum(_half_normal(beta_k, s0) + p["lbk"])
        lp += _half_normal(b, s1) + p["lb"] + _half_normal(sig, s2) + p["ls"]
        m = beta_k[d["slot_cluster"]]
        # Both parameterisations are evaluated on safe inputs and one is selected per slot
        # (the double-where keeps the unselected branch finite, so gradients stay finite).
        z_c = jnp.where(nc, 0.0, p["lbs"])
        z_n = jnp.where(nc, p["lbs"], 0.0)
        beta_c = jnp.exp(z_c)
        lap = -jnp.log(2.0 * b) - jnp.abs(beta_c - m) / b - jnp.log1p(-0.5 * jnp.exp(-m / b)) + z_c
        logistic = -jnp.logaddexp(0.0, z_n) - jnp.logaddexp(0.0, -z_n)
        beta_s = jnp.where(nc, truncated_laplace_quantile(z_n, m, b, jnp), beta_c)
        prior_s = jnp.where(nc, logistic, lap)
        lp += jnp.sum(jnp.where(mask > 0, prior_s, -0.5 * p["lbs"] ** 2))
        mu = d["x"] * beta_s[d["cell_slot"]]
        inv_var = 1.0 / (sig * sig)
        shape = mu * mu * inv_var
        rate = mu * inv_var
        ll = (
            d["n_pos"] * (shape * jnp.log(rate) - gammaln(shape))
            + (shape - 1.0) * d["sum_log_r"]
            - rate * d["sum_r"]
        )
        lp += jnp.sum(jnp.where(d["n_pos"] > 0, ll, 0.0))
        # Zero hurdle (complementary log-log).
        tau = jnp.exp(p["lt"])
        lp += jnp.sum(_normal(p["ak"], 0.0, sa))
        lp += _half_normal(tau, st) + p["lt"] + _normal(p["c"], mc, sc)
        lp += jnp.sum(jnp.where(mask > 0, _normal(p["es"], 0.0, 1.0), -0.5 * p["es"] ** 2))
        eta = p["ak"][d["slot_cluster"]][d["cell_slot"]] + (tau * p["es"])[d["cell_slot"]]
        eta = eta + p["c"] * d["logx"]
        lam = jnp.exp(eta)
        log_pos = jnp.log(-jnp.expm1(-lam))
        lp += jnp.sum(jnp.where(d["n_pos"] > 0, d["n_pos"] * log_pos, 0.0) - d["n_zero"] * lam)
        return lp

    return logdensity


def initial_point(
    stats: CellStats,
    i: int,
    feature: str,
    priors: RBPPriors,
    noncentred: NDArray[np.bool_] | None = None,
) -> Params:
    """A data-driven starting point for product ``i`` (away from the mode near mean 0).

    Store coefficients start at ratio estimates ``sum r / sum x_q`` over positive payoffs,
    cluster coefficients at the median of their stores', ``b`` at the mean absolute deviation,
    ``sigma_r`` at the pooled residual sd, and the hurdle at the clusters' zero shares. A slot
    flagged in ``noncentred`` (shape ``(n_slots,)``) starts at the logistic coordinate of its
    ratio estimate.

    Returns
    -------
    dict of str to ndarray (float32), unconstrained
    """
    del priors
    k_n = stats.n_clusters
    x = facing_feature(stats.cell_facings[i], feature)
    slot = stats.cell_slot[i]
    mask = stats.slot_mask[i] > 0
    n_s = mask.size
    n_pos, n_zero = stats.n_pos[i], stats.n_zero[i]
    sum_r = stats.sum_r[i]
    tot_x = float(np.sum(n_pos * x))
    overall = float(np.sum(sum_r)) / tot_x if tot_x > 0 else 1.0
    overall = max(overall, 1e-3)
    num = np.bincount(slot, weights=sum_r, minlength=n_s)
    den = np.bincount(slot, weights=n_pos * x, minlength=n_s)
    beta_s = np.where(den > 0, num / np.where(den > 0, den, 1.0), overall)
    beta_s = np.clip(beta_s, 0.05 * overall, None)
    slot_cluster = stats.store_cluster[stats.slot_store[i]]
    beta_k = np.full(k_n, overall)
    for k in range(k_n):
        sel = mask & (slot_cluster == k)
        if sel.any():
            beta_k[k] = float(np.median(beta_s[sel]))
    dev = np.abs(beta_s - beta_k[slot_cluster])[mask]
    b = max(float(dev.mean()) if dev.size else 0.0, 0.1 * overall)
    mu = x * beta_s[slot]
    n_tot = float(n_pos.sum())
    ss = float(np.sum(stats.sum_r2[i] - 2.0 * mu * sum_r + n_pos * mu * mu))
    sig = np.sqrt(max(ss, 0.0) / n_tot) if n_tot > 0 else overall
    sig = max(sig, 0.1 * overall)
    logx = np.log(x)
    n_all = n_pos + n_zero
    mean_logx = float(np.sum(n_all * logx) / max(float(n_all.sum()), 1.0))
    ak = np.zeros(k_n)
    cell_cluster = slot_cluster[slot]
    for k in range(k_n):
        sel = cell_cluster == k
        zk = (float(n_zero[sel].sum()) + 0.5) / (float(n_all[sel].sum()) + 1.0)
        ak[k] = np.log(-np.log(zk)) - mean_logx
    lbs = np.log(beta_s)
    if noncentred is not None:
        v = truncated_laplace_logit_cdf(beta_s, beta_k[slot_cluster], b)
        lbs = np.where(noncentred & mask, v, lbs)
    f32 = np.float32
    return {
        "lbk": np.log(beta_k).astype(f32),
        "lb": np.asarray(np.log(b), dtype=f32),
        "ls": np.asarray(np.log(sig), dtype=f32),
        "lbs": np.where(mask, lbs, 0.0).astype(f32),
        "ak": ak.astype(f32),
        "lt": np.asarray(np.log(0.3), dtype=f32),
        "c": np.asarray(1.0, dtype=f32),
        "es": np.zeros(n_s, dtype=f32),
    }


def data_to_spread_ratio(stats: CellStats, i: int, feature: str) -> NDArray[np.float64]:
    """Per store slot of product ``i``: data-only sd of ``beta_il`` over the store spread ``b_i``.

    ``sd_data = sigma_r / sqrt(sum over the store's positive payoffs of x_q ** 2)`` (the
    Gamma's Fisher information about ``beta_il`` at mean ``x_q * beta_il`` and sd ``sigma_r``),
    with ``sigma_r`` and ``b_i`` at the starting point of :func:`initial_point`. Padding slots
    hold NaN.
    """
    start = initial_point(stats, i, feature, RBPPriors())
    b = float(np.exp(start["lb"]))
    sig = float(np.exp(start["ls"]))
    x = facing_feature(stats.cell_facings[i], feature)
    n_s = stats.slot_mask.shape[1]
    info = np.bincount(stats.cell_slot[i], weights=stats.n_pos[i] * x * x, minlength=n_s)
    with np.errstate(divide="ignore"):
        ratio = sig / np.sqrt(info) / b
    return np.where(stats.slot_mask[i] > 0, ratio, np.nan)


def choose_noncentred(
    stats: CellStats,
    parameterization: str,
    *,
    feature: str = "log2",
    ratio: float = AUTO_NONCENTRED_RATIO,
) -> NDArray[np.bool_]:
    """Which (product, store) slots to sample non-centred, shaped like ``stats.slot_mask``.

    ``"centred"``: none; ``"noncentred"``: every real slot; ``"auto"``: every slot of the
    products whose median :func:`data_to_spread_ratio` exceeds ``ratio``. Where a store's own
    data say little next to the spread of stores (sparse products), the posterior of
    ``beta_il`` is close to its prior ``Laplace(beta_ik, b_i)`` and the centred form has a funnel
    in ``(b_i, beta_ik, beta_il)``; where they say much, the data pin ``beta_il`` down and the
    centred form is the better conditioned one. The choice is per product, not per store: on
    the bundled chain, products mixing both forms across their stores sometimes left a chain
    stuck.
    """
    real = stats.slot_mask > 0
    if parameterization == "centred":
        return np.zeros_like(real)
    if parameterization == "noncentred":
        return real
    if parameterization != "auto":
        raise InvalidParameterError(
            f"parameterization must be 'auto', 'centred' or 'noncentred'; got {parameterization!r}"
        )
    sparse = np.array(
        [
            float(np.nanmedian(data_to_spread_ratio(stats, i, feature))) > ratio
            for i in range(stats.n_products)
        ]
    )
    return np.asarray(real & sparse[:, None])
