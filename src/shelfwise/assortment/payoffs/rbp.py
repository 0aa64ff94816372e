"""Payoff tables from a fitted RBP model (posterior predictive mean and sd)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.assortment.payoffs._common import (
    _check_table_args,
)
from shelfwise.assortment.problem import PayoffTable
from shelfwise.demand import RBPModel
from shelfwise.exceptions import InvalidParameterError, NotFittedError

UNCERTAINTIES = ("predictive", "epistemic")
"""The standard deviations :class:`RBPPayoffs` can put in its tables."""


class RBPPayoffs:
    """Payoff tables from a fitted :class:`~shelfwise.demand.RBPModel` (EdgeRec3D Eq. 5).

    ``mean`` is the posterior predictive mean of the daily payoff. ``sd`` depends on
    ``uncertainty``: ``"predictive"`` is the posterior predictive sd of the payoff (the Gamma
    noise and the zero hurdle included), ``"epistemic"`` the posterior sd of the expected payoff
    ``E[r | theta]`` (parameter uncertainty only, which more observations remove).

    Parameters
    ----------
    model : RBPModel
        A fitted model.
    uncertainty : {"predictive", "epistemic"}
        Which standard deviation the tables carry (and PEPF penalises).
    name : str
        Name of the estimator in reports.

    Notes
    -----
    One :meth:`~shelfwise.demand.RBPModel.predict_frame` call per table, for the products not
    asked about before at that (store, cluster, max_facings). The model's predictions are
    deterministic: each (product, store, cluster, facings vector) seeds its own random stream
    from the fit's seed, and a product's row is predicted at facings ``0..max_facings`` whatever
    else is in the table, so a row equals ``model.predict(product, store, range(Q + 1),
    cluster=cluster)`` and caching rows per (store, cluster, max_facings) changes nothing but
    speed. The cache is dropped when the model is refitted.

    A product the model was not fitted on gets mean 0 and sd 0 (see the module notes);
    :meth:`unknown_products` lists them. A store the model never saw needs ``cluster``; it is
    then predicted at the cluster level (a new store coefficient drawn around the cluster's).
    """

    def __init__(
        self,
        model: RBPModel,
        *,
        uncertainty: Literal["predictive", "epistemic"] = "predictive",
        name: str = "rbp",
    ) -> None:
        if uncertainty not in UNCERTAINTIES:
            raise InvalidParameterError(
                f"uncertainty must be one of {list(UNCERTAINTIES)}; got {uncertainty!r}"
            )
        self.model = model
        self.uncertainty = uncertainty
        self.name = name
        self._cache: dict[tuple[str, str | None, int], dict[str, tuple[NDArray[np.float64], ...]]]
        self._cache = {}
        self._cached_posterior: object = None

    def __repr__(self) -> str:
        return (
            f"RBPPayoffs(model={self.model!r}, uncertainty={self.uncertainty!r}, "
            f"name={self.name!r})"
        )

    def with_uncertainty(
        self, uncertainty: Literal["predictive", "epistemic"], *, name: str | None = None
    ) -> RBPPayoffs:
        """The same model with the given standard deviation, sharing this one's predictions.

        Parameters
        ----------
        uncertainty : {"predictive", "epistemic"}
            See the class docstring.
        name : str, optional
            Name of the new estimator (default: this one's).

        Returns
        -------
        RBPPayoffs
        """
        other = RBPPayoffs(self.model, uncertainty=uncertainty, name=name or self.name)
        if hasattr(self.model, "posterior_"):
            self._check_fitted()
        other._cache = self._cache
        other._cached_posterior = self._cached_posterior
        return other

    def _check_fitted(self) -> None:
        if not hasattr(self.model, "posterior_"):
            raise NotFittedError("RBPModel is not fitted yet; call fit() before RBPPayoffs.table")
        if self.model.posterior_ is not self._cached_posterior:
            self._cache = {}
            self._cached_posterior = self.model.posterior_

    def unknown_products(self, product_ids: Sequence[str]) -> tuple[str, ...]:
        """The products of ``product_ids`` the model was not fitted on (mean 0, sd 0)."""
        self._check_fitted()
        known = set(self.model.product_ids_)
        return tuple(str(p) for p in product_ids if str(p) not in known)

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        """Posterior predictive payoff of ``product_ids`` at ``store_id``, 0..``max_facings``.

        Parameters
        ----------
        store_id : str
            Any store; one the model never saw needs ``cluster``.
        product_ids : sequence of str
            Rows of the table, distinct.
        max_facings : int
            Q, the last column.
        cluster : str or None
            Cluster label, passed to the model (needed for a store it never saw).

        Returns
        -------
        PayoffTable
        """
        self._check_fitted()
        store, products = _check_table_args(store_id, product_ids, max_facings)
        q_max = int(max_facings)
        key = (store, None if cluster is None else str(cluster), q_max)
        rows = self._cache.setdefault(key, {})
        known = set(self.model.product_ids_)
        todo = [p for p in products if p in known and p not in rows]
        if todo:
            q = np.arange(q_max + 1, dtype=np.float64)
            frame = pd.DataFrame(
                {
                    "product_id": np.repeat(np.asarray(todo, dtype=object), q_max + 1),
                    "store_id": store,
                    "facings": np.tile(q, len(todo)),
                }
            )
            if cluster is not None:
                frame["cluster"] = str(cluster)
            pred = self.model.predict_frame(frame, quantiles=False)
            shape = (len(todo), q_max + 1)
            mean = np.array(pred["mean"].to_numpy(dtype=np.float64)).reshape(shape)
            sd = np.array(pred["sd"].to_numpy(dtype=np.float64)).reshape(shape)
            sd_mean = np.array(pred["sd_mean"].to_numpy(dtype=np.float64)).reshape(shape)
            mean[:, 0] = sd[:, 0] = sd_mean[:, 0] = 0.0
            for i, p in enumerate(todo):
                rows[p] = (mean[i].copy(), sd[i].copy(), sd_mean[i].copy())
        which = 1 if self.uncertainty == "predictive" else 2
        out_mean = np.zeros((len(products), q_max + 1))
        out_sd = np.zeros((len(products), q_max + 1))
        for i, p in enumerate(products):
            if p in rows:
                out_mean[i], out_sd[i] = rows[p][0], rows[p][which]
        return PayoffTable(store_id=store, product_ids=products, mean=out_mean, sd=out_sd)
