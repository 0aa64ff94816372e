"""Validation of RBP inputs and their sufficient statistics per (product, store, facings) cell.

Every parameter of RBP is indexed by product, so the posterior factorises across products. Within
a product the Gamma likelihood of the positive payoffs in a (store, facings) cell depends on the
data only through their count, sum and sum of logs, and the zero hurdle only through the counts
of zero and positive payoffs. :class:`CellStats` holds these, padded to a common shape so that
the sampler can be vectorised across products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.exceptions import InvalidParameterError

REQUIRED_COLUMNS: tuple[str, ...] = ("store_id", "product_id", "facings", "rate")


@dataclass(frozen=True, slots=True, eq=False)
class CellStats:
    """Sufficient statistics of the observations, padded across products.

    Attributes
    ----------
    product_ids : tuple of str
        Products in fitting order (sorted).
    store_ids : tuple of str
        Every store of the clustering (sorted).
    cluster_labels : tuple of str
        Cluster labels (sorted); ``store_cluster`` indexes them.
    store_cluster : ndarray of int, shape (n_stores,)
        Cluster index of each store.
    slot_store : ndarray of int, shape (n_products, n_slots)
        Store index of each store slot of a product (stores with data for that product);
        padding slots point at store 0 and carry ``slot_mask = 0``.
    slot_mask : ndarray of float, shape (n_products, n_slots)
        1 for a real slot, 0 for padding.
    cell_slot : ndarray of int, shape (n_products, n_cells)
        Slot of each (store, facings) cell; padding cells have zero counts.
    cell_facings : ndarray of float, shape (n_products, n_cells)
        Facings of each cell (1 for padding).
    n_pos, n_zero : ndarray of float, shape (n_products, n_cells)
        Number of positive and zero payoffs in the cell.
    sum_r, sum_log_r, sum_r2 : ndarray of float, shape (n_products, n_cells)
        Sum, sum of logs and sum of squares of the positive payoffs in the cell.
    n_obs : ndarray of int, shape (n_products,)
        Observations per product.
    """

    product_ids: tuple[str, ...]
    store_ids: tuple[str, ...]
    cluster_labels: tuple[str, ...]
    store_cluster: NDArray[np.int64]
    slot_store: NDArray[np.int64]
    slot_mask: NDArray[np.float64]
    cell_slot: NDArray[np.int64]
    cell_facings: NDArray[np.float64]
    n_pos: NDArray[np.float64]
    n_zero: NDArray[np.float64]
    sum_r: NDArray[np.float64]
    sum_log_r: NDArray[np.float64]
    sum_r2: NDArray[np.float64]
    n_obs: NDArray[np.int64]

    @property
    def n_products(self) -> int:
        """Number of products."""
        return len(self.product_ids)

    @property
    def n_clusters(self) -> int:
        """Number of clusters."""
        return len(self.cluster_labels)


def normalise_clusters(store_clusters: object) -> dict[str, str]:
    """Turn a store -> cluster mapping, Series or two-column frame into ``{store_id: label}``.

    Parameters
    ----------
    store_clusters : Mapping, pandas.Series or pandas.DataFrame
        A mapping or Series from store id to cluster label, or a frame with columns
        ``store_id`` and ``cluster``.

    Returns
    -------
    dict of str to str
    """
    if isinstance(store_clusters, pd.DataFrame):
        missing = [c for c in ("store_id", "cluster") if c not in store_clusters.columns]
        if missing:
            raise InvalidParameterError(
                f"store_clusters frame must have columns store_id and cluster; missing {missing}"
            )
        pairs = zip(store_clusters["store_id"], store_clusters["cluster"], strict=True)
    elif isinstance(store_clusters, pd.Series):
        pairs = zip(store_clusters.index, store_clusters.to_numpy(), strict=True)
    elif isinstance(store_clusters, Mapping):
        pairs = zip(list(store_clusters.keys()), list(store_clusters.values()), strict=True)
    else:
        raise InvalidParameterError(
            "store_clusters must be a mapping, a Series or a frame (store_id, cluster); "
            f"got {type(store_clusters).__name__}"
        )
    out: dict[str, str] = {}
    for store, label in pairs:
        if label is None or (isinstance(label, float) and not np.isfinite(label)):
            raise InvalidParameterError(f"cluster of store {store!r} must be set; got {label!r}")
        out[str(store)] = str(label)
    if not out:
        raise InvalidParameterError("store_clusters must name at least one store; got none")
    return out


def validate_observations(observations: pd.DataFrame) -> pd.DataFrame:
    """Check the observations frame and return the four model columns, typed.

    Parameters
    ----------
    observations : pandas.DataFrame
        Columns ``store_id``, ``product_id``, ``facings`` (>= 1) and ``rate`` (>= 0, finite).

    Returns
    -------
    pandas.DataFrame
        ``store_id`` and ``product_id`` as str, ``facings`` and ``rate`` as float64.
    """
    if not isinstance(observations, pd.DataFrame):
        raise InvalidParameterError(
            f"observations must be a pandas DataFrame; got {type(observations).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in observations.columns]
    if missing:
        raise InvalidParameterError(
            f"observations must have columns {list(REQUIRED_COLUMNS)}; missing {missing}"
        )
    if len(observations) == 0:
        raise InvalidParameterError("observations must have at least one row; got 0 rows")
    obs = pd.DataFrame(
        {
            "store_id": observations["store_id"].astype(str).to_numpy(),
            "product_id": observations["product_id"].astype(str).to_numpy(),
            "facings": pd.to_numeric(observations["facings"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            ),
            "rate": pd.to_numeric(observations["rate"], errors="coerce").to_numpy(
                dtype=np.float64, na_value=np.nan
            ),
        }
    )
    for col, rule, bad in (
        ("rate", "must be a finite number >= 0", ~np.isfinite(obs["rate"]) | (obs["rate"] < 0)),
        (
            "facings",
            "must be a finite number >= 1 (a product with 0 facings has no Gamma mean x_q * beta;"
            " drop such rows or attribute their sales to the facings that were in place)",
            ~np.isfinite(obs["facings"]) | (obs["facings"] < 1),
        ),
    ):
        mask = np.asarray(bad)
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise InvalidParameterError(
                f"{col} {rule}; {int(mask.sum())} row(s) break this, first at row {row} "
                f"(product {obs['product_id'].iat[row]}, store {obs['store_id'].iat[row]}): "
                f"got {observations[col].iat[row]!r}"
            )
    return obs


def cell_stats(observations: pd.DataFrame, clusters: Mapping[str, str]) -> CellStats:
    """Group validated observations into padded per-product cell statistics.

    Parameters
    ----------
    observations : pandas.DataFrame
        Output of :func:`validate_observations`.
    clusters : mapping of str to str
        Output of :func:`normalise_clusters`; must cover every store in ``observations``.

    Returns
    -------
    CellStats
    """
    unknown = sorted(set(observations["store_id"]) - set(clusters))
    if unknown:
        raise InvalidParameterError(
            f"every store in observations must have a cluster in store_clusters; "
            f"{len(unknown)} do not, e.g. {unknown[:5]}"
        )
    store_ids = tuple(sorted(clusters))
    labels = tuple(sorted(set(clusters.values())))
    label_index = {lab: k for k, lab in enumerate(labels)}
    store_cluster = np.array([label_index[clusters[s]] for s in store_ids], dtype=np.int64)
    product_ids = tuple(sorted(set(observations["product_id"])))

    obs = observations.copy()
    obs["p"] = pd.Categorical(obs["product_id"], categories=list(product_ids)).codes
    obs["s"] = pd.Categorical(obs["store_id"], categories=list(store_ids)).codes
    pos = obs["rate"].to_numpy() > 0
    r = np.where(pos, obs["rate"].to_numpy(), 1.0)
    obs["pos"] = pos.astype(np.float64)
    obs["zero"] = (~pos).astype(np.float64)
    obs["r"] = np.where(pos, r, 0.0)
    obs["logr"] = np.where(pos, np.log(r), 0.0)
    obs["r2"] = obs["r"] ** 2
    g = (
        obs.groupby(["p", "s", "facings"], sort=True)[["pos", "zero", "r", "logr", "r2"]]
        .sum()
        .reset_index()
    )
    p = g["p"].to_numpy(dtype=np.int64)
    s = g["s"].to_numpy(dtype=np.int64)
    n_p = len(product_ids)
    # Slot = rank of the store among the product's stores; cell = rank within the product.
    ps = g[["p", "s"]].drop_duplicates()
    slot_of_ps = ps.groupby("p").cumcount().to_numpy()
    n_slots = np.bincount(ps["p"].to_numpy(), minlength=n_p)
    slot_lookup = pd.Series(slot_of_ps, index=pd.MultiIndex.from_frame(ps))
    slot = slot_lookup.loc[pd.MultiIndex.from_arrays([p, s])].to_numpy()
    cell = g.groupby("p").cumcount().to_numpy()
    n_cells = np.bincount(p, minlength=n_p)
    s_max, c_max = int(n_slots.max()), int(n_cells.max())

    slot_store = np.zeros((n_p, s_max), dtype=np.int64)
    slot_mask = np.zeros((n_p, s_max))
    slot_store[ps["p"].to_numpy(), slot_of_ps] = ps["s"].to_numpy()
    slot_mask[ps["p"].to_numpy(), slot_of_ps] = 1.0

    def padded(values: NDArray[np.float64], fill: float) -> NDArray[np.float64]:
        out = np.full((n_p, c_max), fill)
        out[p, cell] = values
        return out

    cell_slot = np.zeros((n_p, c_max), dtype=np.int64)
    cell_slot[p, cell] = slot
    return CellStats(
        product_ids=product_ids,
        store_ids=store_ids,
        cluster_labels=labels,
        store_cluster=store_cluster,
        slot_store=slot_store,
        slot_mask=slot_mask,
        cell_slot=cell_slot,
        cell_facings=padded(g["facings"].to_numpy(dtype=np.float64), 1.0),
        n_pos=padded(g["pos"].to_numpy(dtype=np.float64), 0.0),
        n_zero=padded(g["zero"].to_numpy(dtype=np.float64), 0.0),
        sum_r=padded(g["r"].to_numpy(dtype=np.float64), 0.0),
        sum_log_r=padded(g["logr"].to_numpy(dtype=np.float64), 0.0),
        sum_r2=padded(g["r2"].to_numpy(dtype=np.float64), 0.0),
        n_obs=np.bincount(obs["p"].to_numpy(), minlength=n_p).astype(np.int64),
    )
