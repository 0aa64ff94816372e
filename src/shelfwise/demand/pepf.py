"""Penalized Expected Payoff per Facing (PEPF, EdgeRec3D Eq. 6) and candidate ranking.

``PEPF = E[r] - lambda * sd(r)`` from the posterior predictive ``p(r | q)`` of
:class:`~shelfwise.demand.RBPModel`. A larger ``lambda`` discounts uncertain payoffs more (the
paper uses 1 in §3.3 and 2 in its case study); ``lambda = 0`` ranks by expected payoff.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from shelfwise.exceptions import InvalidParameterError

from .rbp import RBPModel


def _check_lambda(lam: float) -> float:
    if isinstance(lam, bool) or not isinstance(lam, int | float) or not math.isfinite(lam):
        raise InvalidParameterError(f"lam must be a finite number; got {lam!r}")
    if lam < 0:
        raise InvalidParameterError(f"lam must be >= 0; got {lam!r}")
    return float(lam)


def pepf(mean: ArrayLike, sd: ArrayLike, *, lam: float = 1.0) -> NDArray[np.float64]:
    """``E[r] - lam * sd(r)`` (Eq. 6), elementwise.

    Parameters
    ----------
    mean, sd : array_like of float
        Predictive mean and standard deviation (``sd >= 0``).
    lam : float
        Penalty coefficient (>= 0).

    Returns
    -------
    ndarray of float64
    """
    lam = _check_lambda(lam)
    m = np.asarray(mean, dtype=np.float64)
    s = np.asarray(sd, dtype=np.float64)
    if np.any(s < 0):
        raise InvalidParameterError(f"sd must be >= 0; got {float(s[s < 0].ravel()[0])!r}")
    return np.asarray(m - lam * s)


def rank_candidates(
    model: RBPModel,
    store_id: str,
    candidates: pd.DataFrame | Iterable[tuple[str, float]],
    *,
    lam: float = 1.0,
    cluster: object = None,
) -> pd.DataFrame:
    """Score candidate (product, facings) pairs for one store by PEPF, best first.

    Parameters
    ----------
    model : RBPModel
        A fitted model.
    store_id : str
        The store (a new one needs ``cluster``).
    candidates : DataFrame with ``product_id, facings`` or iterable of (product_id, facings)
        Candidates; a product may appear with several facing counts.
    lam : float
        Penalty coefficient of Eq. 6.
    cluster : object, optional
        Cluster of the store, if it was not in the fitted clusters.

    Returns
    -------
    pandas.DataFrame
        ``product_id, facings, mean, sd, p_zero, pepf, rank`` (rank 1 is best), sorted by
        descending PEPF (ties by product id and facings).
    """
    lam = _check_lambda(lam)
    if isinstance(candidates, pd.DataFrame):
        missing = [c for c in ("product_id", "facings") if c not in candidates.columns]
        if missing:
            raise InvalidParameterError(
                f"candidates must have columns product_id, facings; missing {missing}"
            )
        frame = candidates[["product_id", "facings"]].copy()
    else:
        frame = pd.DataFrame(list(candidates), columns=["product_id", "facings"])
    if frame.empty:
        raise InvalidParameterError("candidates must hold at least one (product_id, facings)")
    frame["store_id"] = str(store_id)
    if cluster is not None:
        frame["cluster"] = str(cluster)
    pred = model.predict_frame(frame, quantiles=False)
    out = pd.DataFrame(
        {
            "product_id": pred["product_id"].astype(str),
            "facings": pred["facings"].astype(float),
            "mean": pred["mean"],
            "sd": pred["sd"],
            "p_zero": pred["p_zero"],
            "pepf": pepf(pred["mean"], pred["sd"], lam=lam),
        }
    )
    out = out.sort_values(
        ["pepf", "product_id", "facings"], ascending=[False, True, True], kind="mergesort"
    ).reset_index(drop=True)
    out["rank"] = np.arange(1, len(out) + 1)
    return out
