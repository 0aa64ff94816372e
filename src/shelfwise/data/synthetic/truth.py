"""Ground truth of the synthetic chain: who prefers what, and how sales respond to facings.

The structure follows EdgeRec3D's Robust Bayesian Payoff model (Jenkins et al., KDD 2024,
Eq. 5): each product ``i`` has a cluster-level coefficient ``beta_ik`` per cluster ``k`` and a
store-level coefficient ``beta_ilk`` that deviates from it with Laplace noise (here in log
space, with product-specific scale ``b_i``). Unlike RBP's linear ``x_q * beta``, true expected
sales saturate in the number of facings ``q``:

    mu(l, i, q, d) = beta_il * g_i(q) * w_d,
    g_i(q) = (1 - exp(-q / kappa_i)) / (1 - exp(-1 / kappa_i)),

so ``g_i(0) = 0``, ``g_i(1) = 1`` (``beta_il`` is expected daily units at one facing), ``g_i`` is
strictly increasing and strictly concave, and ``w_d`` are day-of-week multipliers with mean 1
(weekends higher). A model fitted on the data is therefore an approximation, as in practice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shelfwise.exceptions import InvalidParameterError

from .catalog import Catalog
from .config import ChainConfig
from .geography import Geography

DAY_OF_WEEK_MULTIPLIERS: NDArray[np.float64] = np.array(
    [0.90, 0.88, 0.92, 0.96, 1.06, 1.20, 1.08]
) / np.mean([0.90, 0.88, 0.92, 0.96, 1.06, 1.20, 1.08])
"""Sales multipliers Monday..Sunday (``datetime.weekday()`` order), mean 1."""


@dataclass(frozen=True, slots=True, eq=False)
class ChainTruth:
    """True preferences and demand response of every store for every product.

    Attributes
    ----------
    store_ids : tuple of str
        Row order of store-indexed arrays.
    product_ids : tuple of str
        Column order of product-indexed arrays.
    segment_names : tuple of str
        Name of the segment behind each cluster index.
    true_clusters : ndarray of int, shape (n_stores,)
        True cluster of each store (argmax of its segment mixture).
    cluster_coefficients : ndarray, shape (n_clusters, n_products)
        ``beta_ik``: expected daily units at one facing in a typical store of cluster ``k``.
    store_coefficients : ndarray, shape (n_stores, n_products)
        ``beta_il``: the same for store ``l``; ``log beta_il = log beta_ik(l) + t_l + e_il``
        with store traffic ``t_l`` and ``e_il ~ Laplace(0, b_i)``.
    laplace_scale : ndarray, shape (n_products,)
        ``b_i``, the Laplace scale of store deviations in log space.
    store_traffic : ndarray, shape (n_stores,)
        ``t_l``, the store-wide log traffic effect.
    kappa : ndarray, shape (n_products,)
        Saturation scale of the facing response (in facings).
    slow_moving : ndarray of bool, shape (n_products,)
        Whether the product is a slow seller.
    day_of_week : ndarray, shape (7,)
        Multipliers Monday..Sunday, mean 1.
    store_mixture : ndarray, shape (n_stores, n_clusters)
        Population- and distance-weighted segment mixture around each store.
    tract_ids : tuple of str
        Row order of ``tract_mixture``.
    tract_mixture : ndarray, shape (n_tracts, n_clusters)
        Segment mixture of each tract.
    """

    store_ids: tuple[str, ...]
    product_ids: tuple[str, ...]
    segment_names: tuple[str, ...]
    true_clusters: NDArray[np.int64]
    cluster_coefficients: NDArray[np.float64]
    store_coefficients: NDArray[np.float64]
    laplace_scale: NDArray[np.float64]
    store_traffic: NDArray[np.float64]
    kappa: NDArray[np.float64]
    slow_moving: NDArray[np.bool_]
    day_of_week: NDArray[np.float64]
    store_mixture: NDArray[np.float64]
    tract_ids: tuple[str, ...]
    tract_mixture: NDArray[np.float64]

    @property
    def true_cluster(self) -> Mapping[str, int]:
        """True cluster per ``store_id`` (read-only)."""
        return MappingProxyType(
            {s: int(k) for s, k in zip(self.store_ids, self.true_clusters, strict=True)}
        )

    def store_index(self, store_id: str) -> int:
        """Row of ``store_id`` in store-indexed arrays."""
        try:
            return self.store_ids.index(store_id)
        except ValueError:
            raise InvalidParameterError(
                f"store_id must be a store of the chain; got {store_id!r}"
            ) from None

    def product_index(self, product_id: str) -> int:
        """Column of ``product_id`` in product-indexed arrays."""
        try:
            return self.product_ids.index(product_id)
        except ValueError:
            raise InvalidParameterError(
                f"product_id must be a product of the chain; got {product_id!r}"
            ) from None

    def facing_response(self, product_index: ArrayLike, facings: ArrayLike) -> NDArray[np.float64]:
        """``g_i(q)``: relative sales at ``q`` facings (0 at 0, 1 at 1, concave, saturating).

        Parameters
        ----------
        product_index : array_like of int
            Product columns.
        facings : array_like of float
            Facings (>= 0), broadcast against ``product_index``.

        Returns
        -------
        ndarray
            ``(1 - exp(-q / kappa_i)) / (1 - exp(-1 / kappa_i))``.
        """
        kap = self.kappa[np.asarray(product_index, dtype=np.int64)]
        q = np.asarray(facings, dtype=np.float64)
        return np.asarray(-np.expm1(-q / kap) / -np.expm1(-1.0 / kap))

    def expected_sales_many(
        self,
        store_index: ArrayLike,
        product_index: ArrayLike,
        facings: ArrayLike,
        *,
        day_of_week: ArrayLike | None = None,
    ) -> NDArray[np.float64]:
        """Vectorised true expected daily sales; arguments broadcast against each other.

        Parameters
        ----------
        store_index, product_index : array_like of int
            Rows of ``store_ids`` and columns of ``product_ids``.
        facings : array_like of float
            Facings in place (>= 0).
        day_of_week : array_like of int or None
            0 = Monday .. 6 = Sunday; ``None`` gives the weekly average day.

        Returns
        -------
        ndarray
            Expected units sold per day, ``beta_il * g_i(q) * w_d``.
        """
        s = np.asarray(store_index, dtype=np.int64)
        p = np.asarray(product_index, dtype=np.int64)
        q = np.asarray(facings, dtype=np.float64)
        if np.any(q < 0):
            raise InvalidParameterError(f"facings must be >= 0; got {float(q[q < 0].ravel()[0])!r}")
        out = self.store_coefficients[s, p] * self.facing_response(p, q)
        if day_of_week is not None:
            d = np.asarray(day_of_week, dtype=np.int64)
            if np.any((d < 0) | (d > 6)):
                raise InvalidParameterError(
                    f"day_of_week must be in 0..6 (0 = Monday); got {day_of_week!r}"
                )
            out = out * self.day_of_week[d]
        return np.asarray(out, dtype=np.float64)

    def expected_sales(
        self, store_id: str, product_id: str, facings: float, *, day_of_week: int | None = None
    ) -> float:
        """True expected daily units sold of a product at a store.

        Parameters
        ----------
        store_id, product_id : str
            Store and product.
        facings : float
            Facings in place (>= 0).
        day_of_week : int or None
            0 = Monday .. 6 = Sunday; ``None`` (default) gives the weekly average day.

        Returns
        -------
        float
            ``beta_il * g_i(facings) * w_day``; 0 at 0 facings.
        """
        return float(
            self.expected_sales_many(
                self.store_index(store_id),
                self.product_index(product_id),
                facings,
                day_of_week=day_of_week,
            )
        )

    def expected_sales_table(self, *, max_facings: int = 14) -> NDArray[np.float64]:
        """Weekly-average expected daily sales for every store, product and facing count.

        Parameters
        ----------
        max_facings : int
            Largest facing count in the table.

        Returns
        -------
        ndarray, shape (n_stores, n_products, max_facings + 1)
            Entry ``[l, i, q]`` is the expected daily sales with ``q`` facings.
        """
        if isinstance(max_facings, bool) or not isinstance(max_facings, int) or max_facings < 0:
            raise InvalidParameterError(f"max_facings must be an integer >= 0; got {max_facings!r}")
        q = np.arange(max_facings + 1, dtype=np.float64)
        g = -np.expm1(-q[None, :] / self.kappa[:, None]) / -np.expm1(-1.0 / self.kappa[:, None])
        return np.asarray(self.store_coefficients[:, :, None] * g[None, :, :])

    @property
    def chain_popularity(self) -> NDArray[np.float64]:
        """Mean store coefficient per product: what a chain-level merchandiser knows."""
        return np.asarray(self.store_coefficients.mean(axis=0))


def build_truth(
    config: ChainConfig, catalog: Catalog, geography: Geography, rng: np.random.Generator
) -> ChainTruth:
    """Draw cluster- and store-level coefficients and facing responses.

    Parameters
    ----------
    config : ChainConfig
        Effect sizes (``cluster_effect_sd``, ``strong_preference_*``, ``store_laplace_scale``,
        ``store_traffic_sd``, ``slow_share``).
    catalog : Catalog
        Products and their subcategories.
    geography : Geography
        Stores, their true clusters and the segments' subcategory affinities.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    ChainTruth
        Fast products sell about 1 unit a day at one facing, slow ones about 0.1; a cluster's
        log coefficient adds its segment's subcategory affinity, a normal effect and, for a
        share of pairs, a strong preference or aversion.
    """
    n_i = len(catalog.products)
    n_k = config.n_clusters
    n_l = len(geography.stores)
    slow = rng.uniform(size=n_i) < config.slow_share
    log_base = np.where(
        slow, rng.normal(np.log(0.06), 0.4, size=n_i), rng.normal(np.log(0.35), 0.45, size=n_i)
    )
    kappa = rng.uniform(1.5, 5.0, size=n_i)
    affinity = np.array([seg.affinity for seg in geography.segments])[:, catalog.subcategory]
    strong = rng.uniform(size=(n_k, n_i)) < config.strong_preference_share
    sign = np.where(rng.uniform(size=(n_k, n_i)) < 0.6, 1.0, -1.0)
    delta = (
        affinity
        + rng.normal(0.0, config.cluster_effect_sd, size=(n_k, n_i))
        + strong * sign * config.strong_preference_size
    )
    log_cluster = log_base[None, :] + delta
    b = config.store_laplace_scale * rng.uniform(0.5, 1.5, size=n_i)
    traffic = rng.normal(0.0, config.store_traffic_sd, size=n_l)
    log_store = (
        log_cluster[geography.true_cluster]
        + traffic[:, None]
        + rng.laplace(0.0, 1.0, size=(n_l, n_i)) * b[None, :]
    )
    return ChainTruth(
        store_ids=tuple(s.store_id for s in geography.stores),
        product_ids=tuple(p.product_id for p in catalog.products),
        segment_names=tuple(seg.name for seg in geography.segments),
        true_clusters=geography.true_cluster,
        cluster_coefficients=np.exp(log_cluster),
        store_coefficients=np.exp(log_store),
        laplace_scale=b,
        store_traffic=traffic,
        kappa=kappa,
        slow_moving=slow,
        day_of_week=DAY_OF_WEEK_MULTIPLIERS.copy(),
        store_mixture=geography.store_mixture,
        tract_ids=tuple(t.tract_id for t in geography.tracts),
        tract_mixture=geography.tract_mixture,
    )
