"""Simulate payoffs from the RBP model itself, with known parameters.

Used by the evidence tests and the benchmark: data drawn from the model's own family, so that
recovery error and the coverage of posterior intervals can be measured against a known truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from shelfwise.exceptions import InvalidParameterError

from ._config import facing_feature


@dataclass(frozen=True, slots=True, eq=False)
class RBPTruth:
    """Known RBP parameters (arrays indexed ``[product, cluster]`` or ``[product, store]``).

    Attributes
    ----------
    product_ids, store_ids, cluster_labels : tuple of str
        Index order of the arrays.
    store_cluster : ndarray of int, shape (n_stores,)
        Cluster index of each store.
    cluster_coef : ndarray, shape (n_products, n_clusters)
        ``beta_ik``.
    store_coef : ndarray, shape (n_products, n_stores)
        ``beta_il`` (positive, Laplace around ``beta_ik`` truncated at 0).
    laplace_scale, sigma_r : ndarray, shape (n_products,)
        ``b_i`` and the Gamma sd.
    hurdle_eta_store : ndarray, shape (n_products, n_stores)
        ``alpha_ik + tau_i * e_il`` of the zero hurdle.
    hurdle_slope : ndarray, shape (n_products,)
        ``c_i``.
    feature : str
        Facings feature kind.
    """

    product_ids: tuple[str, ...]
    store_ids: tuple[str, ...]
    cluster_labels: tuple[str, ...]
    store_cluster: NDArray[np.int64]
    cluster_coef: NDArray[np.float64]
    store_coef: NDArray[np.float64]
    laplace_scale: NDArray[np.float64]
    sigma_r: NDArray[np.float64]
    hurdle_eta_store: NDArray[np.float64]
    hurdle_slope: NDArray[np.float64]
    feature: str

    @property
    def store_clusters(self) -> dict[str, str]:
        """``{store_id: cluster label}``."""
        return {
            s: self.cluster_labels[int(k)]
            for s, k in zip(self.store_ids, self.store_cluster, strict=True)
        }

    def draw(
        self,
        product_index: ArrayLike,
        store_index: ArrayLike,
        facings: ArrayLike,
        rng: np.random.Generator,
        *,
        outlier_share: float = 0.0,
        outlier_scale: float = 10.0,
    ) -> NDArray[np.float64]:
        """Draw payoffs for the given rows (hurdle, then Gamma; optional gross outliers).

        Parameters
        ----------
        product_index, store_index : array_like of int
            Rows of the truth arrays.
        facings : array_like of float
            Facings (>= 1).
        rng : numpy.random.Generator
            Source of randomness.
        outlier_share : float
            Probability that a positive payoff is multiplied by ``outlier_scale``.
        outlier_scale : float
            Size of a gross outlier.

        Returns
        -------
        ndarray of float64
        """
        p = np.asarray(product_index, dtype=np.int64)
        s = np.asarray(store_index, dtype=np.int64)
        x = facing_feature(facings, self.feature)
        eta = self.hurdle_eta_store[p, s] + self.hurdle_slope[p] * np.log(x)
        positive = rng.uniform(size=p.shape) < -np.expm1(-np.exp(eta))
        mu = x * self.store_coef[p, s]
        sd = self.sigma_r[p]
        shape = (mu / sd) ** 2
        r = rng.gamma(shape, mu / shape)
        r = np.where(rng.uniform(size=p.shape) < outlier_share, r * outlier_scale, r)
        return np.where(positive, np.maximum(r, 1e-12), 0.0)


@dataclass(frozen=True, slots=True, eq=False)
class SimulatedPayoffs:
    """Observations drawn from :class:`RBPTruth`.

    Attributes
    ----------
    observations : pandas.DataFrame
        ``store_id, product_id, facings, rate``.
    truth : RBPTruth
        The parameters they were drawn from.
    """

    observations: pd.DataFrame
    truth: RBPTruth

    @property
    def store_clusters(self) -> dict[str, str]:
        """``{store_id: cluster label}``."""
        return self.truth.store_clusters


def _truncated_laplace(
    loc: NDArray[np.float64], scale: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.float64]:
    out = loc + rng.laplace(0.0, 1.0, size=loc.shape) * scale
    bad = out <= 0
    while bad.any():
        out[bad] = loc[bad] + rng.laplace(0.0, 1.0, size=int(bad.sum())) * scale[bad]
        bad = out <= 0
    return out


def random_truth(
    *,
    n_products: int,
    n_stores: int,
    n_clusters: int,
    feature: str = "log2",
    random_state: int | None = None,
) -> RBPTruth:
    """Draw RBP parameters at realistic scales (about 1 unit a day at one facing).

    ``beta_ik`` is log-normal around 1, ``b_i`` is 10-40% of the product's typical coefficient,
    the Gamma sd 30-80% of it, and the hurdle gives about 20-50% zero payoffs.

    Parameters
    ----------
    n_products, n_stores, n_clusters : int
        Sizes; ``n_stores >= n_clusters``.
    feature : str
        Facings feature kind.
    random_state : int or None
        Seed.

    Returns
    -------
    RBPTruth
    """
    for name, value, low in (
        ("n_products", n_products, 1),
        ("n_stores", n_stores, 1),
        ("n_clusters", n_clusters, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidParameterError(f"{name} must be an integer >= {low}; got {value!r}")
    if n_stores < n_clusters:
        raise InvalidParameterError(
            f"n_stores must be >= n_clusters ({n_clusters}); got {n_stores}"
        )
    facing_feature(1.0, feature)
    rng = np.random.default_rng(random_state)
    store_cluster = np.arange(n_stores, dtype=np.int64) % n_clusters
    rng.shuffle(store_cluster)
    level = np.exp(rng.normal(0.0, 0.5, size=n_products))
    cluster_coef = level[:, None] * np.exp(rng.normal(0.0, 0.35, size=(n_products, n_clusters)))
    b = level * rng.uniform(0.1, 0.4, size=n_products)
    loc = cluster_coef[:, store_cluster]
    store_coef = _truncated_laplace(loc, np.broadcast_to(b[:, None], loc.shape).copy(), rng)
    sigma_r = level * rng.uniform(0.3, 0.8, size=n_products)
    alpha = rng.normal(0.0, 0.5, size=(n_products, n_clusters))
    tau = rng.uniform(0.2, 0.6, size=n_products)
    eta = alpha[:, store_cluster] + tau[:, None] * rng.normal(size=(n_products, n_stores))
    return RBPTruth(
        product_ids=tuple(f"P{i:04d}" for i in range(n_products)),
        store_ids=tuple(f"S{j:04d}" for j in range(n_stores)),
        cluster_labels=tuple(f"C{k}" for k in range(n_clusters)),
        store_cluster=store_cluster,
        cluster_coef=cluster_coef,
        store_coef=store_coef,
        laplace_scale=b,
        sigma_r=sigma_r,
        hurdle_eta_store=eta,
        hurdle_slope=rng.uniform(0.5, 1.5, size=n_products),
        feature=feature,
    )


def simulate_payoffs(
    *,
    n_products: int = 50,
    n_stores: int = 40,
    n_clusters: int = 4,
    n_obs: int = 20_000,
    max_facings: int = 6,
    feature: str = "log2",
    outlier_share: float = 0.0,
    outlier_scale: float = 10.0,
    random_state: int | None = None,
) -> SimulatedPayoffs:
    """Draw a truth with :func:`random_truth` and ``n_obs`` payoffs at random (product, store).

    Parameters
    ----------
    n_products, n_stores, n_clusters : int
        Sizes.
    n_obs : int
        Number of observations; products and stores uniform, facings uniform on
        ``1..max_facings``.
    max_facings : int
        Largest facing count.
    feature : str
        Facings feature kind.
    outlier_share, outlier_scale : float
        Gross outliers (see :meth:`RBPTruth.draw`).
    random_state : int or None
        Seed.

    Returns
    -------
    SimulatedPayoffs
    """
    if isinstance(n_obs, bool) or not isinstance(n_obs, int) or n_obs < 1:
        raise InvalidParameterError(f"n_obs must be an integer >= 1; got {n_obs!r}")
    if isinstance(max_facings, bool) or not isinstance(max_facings, int) or max_facings < 1:
        raise InvalidParameterError(f"max_facings must be an integer >= 1; got {max_facings!r}")
    truth = random_truth(
        n_products=n_products,
        n_stores=n_stores,
        n_clusters=n_clusters,
        feature=feature,
        random_state=random_state,
    )
    rng = np.random.default_rng(None if random_state is None else random_state + 1)
    p = rng.integers(0, n_products, size=n_obs)
    s = rng.integers(0, n_stores, size=n_obs)
    q = rng.integers(1, max_facings + 1, size=n_obs).astype(np.float64)
    r = truth.draw(p, s, q, rng, outlier_share=outlier_share, outlier_scale=outlier_scale)
    obs = pd.DataFrame(
        {
            "store_id": np.asarray(truth.store_ids, dtype=object)[s],
            "product_id": np.asarray(truth.product_ids, dtype=object)[p],
            "facings": q,
            "rate": r,
        }
    )
    return SimulatedPayoffs(observations=obs, truth=truth)
