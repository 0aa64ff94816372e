"""The RBP log density of one product on its sufficient statistics, and its starting point.

Model (EdgeRec3D, Jenkins et al., KDD 2024, Eq. 5), for product ``i``, cluster ``k``, store ``l``
of cluster ``k`` and facings ``q`` with feature ``x_q``::

    beta_ik ~ HalfNormal(sigma0)          b_i ~ HalfNormal(sigma1)
    beta_il ~ Laplace(beta_ik, b_i) truncated to beta_il > 0
    sigma_r ~ HalfNormal(sigma2)
    r | r > 0 ~ Gamma(mean = x_q * beta_il, sd = sigma_r)

The store coefficient stays positive by truncating its Laplace prior at 0 (exactly Eq. 5's
prior conditioned on the support a Gamma mean needs; the normaliser
``1 - exp(-beta_ik / b_i) / 2`` depends on the parameters and is part of the density). The
sampler works on ``log beta`` with the log-Jacobian added, so the posterior is exact.

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

from ._config import RBPPriors, facing_feature
from ._stats import CellStats

Params = dict[str, Any]
"""Unconstrained parameters of one product: ``lbk`` (K), ``lb``, ``ls``, ``lbs`` (slots),
``ak`` (K), ``lt``, ``c``, ``es`` (slots)."""

_HALF_LOG_2PI = 0.5 * float(np.log(2.0 * np.pi))


def _half_normal(x: Any, scale: float) -> Any:
    return np.log(2.0) - _HALF_LOG_2PI - np.log(scale) - 0.5 * (x / scale) ** 2


def _normal(x: Any, loc: float, scale: float) -> Any:
    return -_HALF_LOG_2PI - np.log(scale) - 0.5 * ((x - loc) / scale) ** 2


def product_data(stats: CellStats, index: NDArray[np.int64], feature: str) -> dict[str, Any]:
    """The arrays the log density needs for the products ``index`` (leading batch axis).

    Parameters
    ----------
    stats : CellStats
        All products' statistics.
    index : ndarray of int
        Products to take (repeats allowed, for padding a batch).
    feature : str
        Facings feature kind.

    Returns
    -------
    dict of str to ndarray (float32 / int32)
    """
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
        beta_s = jnp.exp(p["lbs"])
        mask = d["slot_mask"]
        lp = jnp.sum(_half_normal(beta_k, s0) + p["lbk"])
        lp += _half_normal(b, s1) + p["lb"] + _half_normal(sig, s2) + p["ls"]
        m = beta_k[d["slot_cluster"]]
        lap = (
            -jnp.log(2.0 * b)
            - jnp.abs(beta_s - m) / b
            - jnp.log1p(-0.5 * jnp.exp(-m / b))
            + p["lbs"]
        )
        lp += jnp.sum(jnp.where(mask > 0, lap, -0.5 * p["lbs"] ** 2))
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


def initial_point(stats: CellStats, i: int, feature: str, priors: RBPPriors) -> Params:
    """A data-driven starting point for product ``i`` (away from the mode near mean 0).

    Store coefficients start at ratio estimates ``sum r / sum x_q`` over positive payoffs,
    cluster coefficients at the median of their stores', ``b`` at the mean absolute deviation,
    ``sigma_r`` at the pooled residual sd, and the hurdle at the clusters' zero shares.

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
    f32 = np.float32
    return {
        "lbk": np.log(beta_k).astype(f32),
        "lb": np.asarray(np.log(b), dtype=f32),
        "ls": np.asarray(np.log(sig), dtype=f32),
        "lbs": np.where(mask, np.log(beta_s), 0.0).astype(f32),
        "ak": ak.astype(f32),
        "lt": np.asarray(np.log(0.3), dtype=f32),
        "c": np.asarray(1.0, dtype=f32),
        "es": np.zeros(n_s, dtype=f32),
    }
