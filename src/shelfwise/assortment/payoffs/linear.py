"""The "without RBP" ablation: linear regression of the payoff on x_q."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.assortment.payoffs._common import (
    _FEATURE,
    _check_bool,
    _check_table_args,
    _normalise_clusters,
    _resolve_cluster,
    _validate_observations,
    _x,
)
from shelfwise.assortment.problem import PayoffTable
from shelfwise.demand import facing_feature
from shelfwise.exceptions import NotFittedError


@dataclass(frozen=True, slots=True)
class LinearFit:
    """Least-squares fit through the origin, ``rate ~ slope * log2(1 + q)``.

    Attributes
    ----------
    slope : float
        ``sum(x * r) / sum(x ** 2)``.
    se : float
        Standard error of ``slope``: ``s / sqrt(sum(x ** 2))`` with ``s ** 2`` the residual sum
        of squares over ``n_obs - 1``.
    n_obs : int
        Observations behind the fit (at least 2).
    """

    slope: float
    se: float
    n_obs: int


def _linear_fits(
    keys: pd.DataFrame, x: NDArray[np.float64], r: NDArray[np.float64]
) -> dict[tuple[str, ...], LinearFit]:
    """One :class:`LinearFit` per distinct row of ``keys`` with at least 2 observations."""
    cols = list(keys.columns)
    work = keys.reset_index(drop=True).copy()
    work["_xx"], work["_xr"] = x * x, x * r
    grouped = work.groupby(cols, sort=True)
    sums = grouped[["_xx", "_xr"]].sum()
    slope = (sums["_xr"] / sums["_xx"]).rename("_slope")
    work = work.join(slope, on=cols)
    work["_res2"] = (r - work["_slope"].to_numpy() * x) ** 2
    stats = work.groupby(cols, sort=True).agg(
        n=("_res2", "size"), rss=("_res2", "sum"), slope=("_slope", "first")
    )
    stats = stats.join(sums["_xx"])
    fits: dict[tuple[str, ...], LinearFit] = {}
    for key, row in stats.iterrows():
        n = int(row["n"])
        if n < 2:
            continue
        se = math.sqrt(float(row["rss"]) / (n - 1) / float(row["_xx"]))
        k = tuple(str(v) for v in key) if isinstance(key, tuple) else (str(key),)
        fits[k] = LinearFit(slope=float(row["slope"]), se=se, n_obs=n)
    return fits


class LinearPayoffs:
    """The "without RBP" ablation (EdgeRec3D Table 3): ordinary least squares per product.

    The payoff rate is regressed on ``x_q = log2(1 + q)`` through the origin (the facings
    feature RBP uses, so at 0 facings the payoff is 0), one regression per (product, cluster),
    or per product with ``by_cluster=False`` (the "without clustering" ablation).

    ``mean`` is ``slope * x_q``; ``sd`` is ``se(slope) * x_q``, the standard error of the
    fitted mean. It is not a predictive sd (it leaves out the noise of a day's payoff and
    shrinks like ``1 / sqrt(n)``), but it makes a PEPF score ``mean - lam * sd`` defined, so the
    same search can run on this model.

    A fit needs at least 2 observations (for a standard error). A product without a fit in the
    asked cluster falls back to its global fit over all clusters; a product without any fit
    gets mean 0 and sd 0 (see :meth:`unknown_products`).

    Parameters
    ----------
    by_cluster : bool
        One regression per (product, cluster) (default) or one per product.
    name : str
        Name of the estimator in reports.

    Attributes
    ----------
    cluster_fits_ : dict of (product_id, cluster) to LinearFit
        Empty when ``by_cluster=False``.
    global_fits_ : dict of product_id to LinearFit
    cluster_labels_ : tuple of str
        Labels of ``store_clusters`` (empty when ``by_cluster=False``).
    store_clusters_ : dict of str to str
    """

    def __init__(self, *, by_cluster: bool = True, name: str = "linear") -> None:
        self.by_cluster = by_cluster
        self.name = name

    def __repr__(self) -> str:
        return f"LinearPayoffs(by_cluster={self.by_cluster!r}, name={self.name!r})"

    def fit(
        self, observations: pd.DataFrame, store_clusters: Mapping[str, object] | None = None
    ) -> LinearPayoffs:
        """Fit the regressions.

        Parameters
        ----------
        observations : pandas.DataFrame
            Columns ``store_id``, ``product_id``, ``facings`` (>= 1) and ``rate`` (>= 0, units
            per day), as :func:`shelfwise.pipeline.observations_from_visits` returns them.
        store_clusters : mapping of store_id to cluster label, optional
            Required when ``by_cluster``; must cover every store in ``observations`` and may
            include stores without observations.

        Returns
        -------
        LinearPayoffs
            ``self``.
        """
        by_cluster = _check_bool("by_cluster", self.by_cluster)
        obs = _validate_observations(observations)
        clusters = _normalise_clusters(store_clusters, obs.store_id, required=by_cluster)
        x = facing_feature(obs.facings, _FEATURE)
        products = pd.DataFrame({"product_id": obs.product_id})
        self.global_fits_ = {k[0]: f for k, f in _linear_fits(products, x, obs.rate).items()}
        self.cluster_fits_: dict[tuple[str, str], LinearFit] = {}
        if by_cluster:
            keys = products.assign(cluster=[clusters[s] for s in obs.store_id])
            for k, f in _linear_fits(keys, x, obs.rate).items():
                self.cluster_fits_[(k[0], k[1])] = f
        self.by_cluster_ = by_cluster
        self.store_clusters_ = clusters if by_cluster else {}
        self.cluster_labels_ = tuple(sorted(set(clusters.values()))) if by_cluster else ()
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "global_fits_"):
            raise NotFittedError("LinearPayoffs is not fitted yet; call fit()")

    def unknown_products(self, product_ids: Sequence[str]) -> tuple[str, ...]:
        """The products of ``product_ids`` without any fit (mean 0, sd 0)."""
        self._check_fitted()
        return tuple(str(p) for p in product_ids if str(p) not in self.global_fits_)

    def fit_for(self, product_id: str, cluster: str | None) -> LinearFit | None:
        """The fit a table uses for ``product_id`` in ``cluster`` (after the global fallback)."""
        self._check_fitted()
        found = None
        if self.by_cluster_ and cluster is not None:
            found = self.cluster_fits_.get((str(product_id), str(cluster)))
        return found if found is not None else self.global_fits_.get(str(product_id))

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        """Fitted mean payoff and its standard error at 0..``max_facings`` facings.

        Parameters
        ----------
        store_id : str
            A store; with ``by_cluster``, one not in the fitted ``store_clusters`` needs
            ``cluster``. Ignored (like ``cluster``) when ``by_cluster=False``.
        product_ids : sequence of str
            Rows of the table, distinct.
        max_facings : int
            Q, the last column.
        cluster : str or None
            Cluster label (overrides the store's fitted label).

        Returns
        -------
        PayoffTable
        """
        self._check_fitted()
        store, products = _check_table_args(store_id, product_ids, max_facings)
        label = None
        if self.by_cluster_:
            label = _resolve_cluster(store, cluster, self.store_clusters_, self.cluster_labels_)
        x = _x(int(max_facings))
        mean = np.zeros((len(products), x.size))
        sd = np.zeros((len(products), x.size))
        for i, p in enumerate(products):
            f = self.fit_for(p, label)
            if f is not None:
                mean[i] = f.slope * x
                sd[i] = f.se * x
        return PayoffTable(store_id=store, product_ids=products, mean=mean, sd=sd)
