"""Input checks and helpers shared by the payoff estimators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.demand import facing_feature
from shelfwise.exceptions import InvalidParameterError

_FEATURE = "log2"
"""The facings feature ``x_q = log2(1 + q)``, the one RBP uses by default."""


# ---------------------------------------------------------------------------- shared helpers
def _check_table_args(
    store_id: str, product_ids: Sequence[str], max_facings: int
) -> tuple[str, tuple[str, ...]]:
    if isinstance(max_facings, bool) or not isinstance(max_facings, int | np.integer):
        raise InvalidParameterError(f"max_facings must be an integer >= 1; got {max_facings!r}")
    if max_facings < 1:
        raise InvalidParameterError(f"max_facings must be an integer >= 1; got {max_facings}")
    if isinstance(product_ids, str):
        raise InvalidParameterError(
            f"product_ids must be a sequence of product ids, not one string; got {product_ids!r}"
        )
    products = tuple(str(p) for p in product_ids)
    if len(set(products)) != len(products):
        dup = sorted({p for p in products if products.count(p) > 1})
        raise InvalidParameterError(f"product_ids must be distinct; repeated {dup}")
    return str(store_id), products


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidParameterError(f"{name} must be True or False; got {value!r}")
    return value


@dataclass(frozen=True, slots=True, eq=False)
class _Observations:
    """Validated payoff observations as arrays (one entry per row)."""

    store_id: NDArray[np.str_]
    product_id: NDArray[np.str_]
    facings: NDArray[np.float64]
    rate: NDArray[np.float64]


def _validate_observations(observations: pd.DataFrame) -> _Observations:
    """Check the columns and values of an observation frame (see ``fit`` of the estimators)."""
    if not isinstance(observations, pd.DataFrame):
        raise InvalidParameterError(
            f"observations must be a pandas DataFrame; got {type(observations).__name__}"
        )
    required = ("store_id", "product_id", "facings", "rate")
    missing = [c for c in required if c not in observations.columns]
    if missing:
        raise InvalidParameterError(
            f"observations must have columns {list(required)}; missing {missing}"
        )
    if len(observations) == 0:
        raise InvalidParameterError("observations must have at least one row; got 0 rows")
    arrays: dict[str, NDArray[np.float64]] = {}
    for col, low in (("facings", 1.0), ("rate", 0.0)):
        values = pd.to_numeric(observations[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < low)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InvalidParameterError(
                f"{col} must be a finite number >= {low:g} in every row; row "
                f"{observations.index[i]!r} (store {observations['store_id'].iloc[i]!r}, "
                f"product {observations['product_id'].iloc[i]!r}) has "
                f"{observations[col].iloc[i]!r} ({int(bad.sum())} bad row(s) in all)"
            )
        arrays[col] = values
    ids: dict[str, NDArray[np.str_]] = {}
    for col in ("store_id", "product_id"):
        series = observations[col]
        if series.isna().any():
            i = int(np.flatnonzero(series.isna().to_numpy())[0])
            raise InvalidParameterError(
                f"{col} must be given in every row; row {observations.index[i]!r} has "
                f"{series.iloc[i]!r}"
            )
        ids[col] = series.astype(str).to_numpy(dtype=np.str_)
    return _Observations(
        store_id=ids["store_id"],
        product_id=ids["product_id"],
        facings=arrays["facings"],
        rate=arrays["rate"],
    )


def _normalise_clusters(
    store_clusters: Mapping[str, object] | None, stores: NDArray[np.str_], *, required: bool
) -> dict[str, str]:
    """``{store_id: cluster label}`` as strings; with ``required``, every observed store needs
    one."""
    if store_clusters is None:
        if required:
            raise InvalidParameterError(
                "store_clusters is required when by_cluster=True (a mapping of store_id to "
                "cluster label); got None"
            )
        return {}
    if not isinstance(store_clusters, Mapping):
        raise InvalidParameterError(
            f"store_clusters must be a mapping of store_id to cluster label; got "
            f"{type(store_clusters).__name__}"
        )
    clusters = {str(s): str(k) for s, k in store_clusters.items()}
    if required:
        lacking = sorted(set(stores.tolist()) - set(clusters))
        if lacking:
            raise InvalidParameterError(
                f"store_clusters must give a cluster for every store in observations; "
                f"missing {lacking[:10]}" + (" ..." if len(lacking) > 10 else "")
            )
    return clusters


def _resolve_cluster(
    store_id: str,
    cluster: str | None,
    store_clusters: Mapping[str, str],
    labels: Sequence[str],
) -> str:
    """The cluster label to predict ``store_id`` with: ``cluster`` when given, else the store's
    fitted label."""
    label = str(cluster) if cluster is not None else store_clusters.get(store_id)
    if label is None:
        raise InvalidParameterError(
            f"store {store_id!r} was not in the fitted store clusters; pass cluster= to predict "
            f"it at the cluster level (one of {list(labels)})"
        )
    if label not in labels:
        raise InvalidParameterError(
            f"cluster must be one of the fitted clusters {list(labels)}; got {label!r}"
        )
    return label


def _x(max_facings: int) -> NDArray[np.float64]:
    return facing_feature(np.arange(max_facings + 1, dtype=np.float64), _FEATURE)
