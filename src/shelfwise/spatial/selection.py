"""Choosing the number of store clusters by the ANOVA criterion of EdgeRec3D (section 8.4).

Jenkins et al. (KDD 2024) choose K on sales: for each candidate ``K``, a one-way ANOVA per
product tests whether the product's store-level sales differ across the ``K`` clusters at
``alpha = 0.05``; the share of products that do measures the fit, and ``K`` is "roughly the
point where adding another cluster yields a small increase". :func:`choose_k` makes that rule
exact; :func:`benjamini_hochberg` offers the multiple-testing correction the paper does not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from shelfwise.exceptions import InvalidParameterError

Correction = Literal["none", "fdr_bh"]


@dataclass(frozen=True, eq=False)
class KCurve:
    """The K-selection curve of section 8.4 and the K it chose.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per candidate ``k``: ``n_products`` (products with sales), ``n_tested``
        (products the ANOVA could test: >= 2 clusters with data and within-cluster variance),
        ``n_significant`` and ``share_significant`` (``p < alpha``, share of all products, as
        the paper counts), ``n_significant_bh`` and ``share_significant_bh`` (Benjamini-Hochberg
        at false discovery rate ``alpha`` across the products), ``min_cluster_size``.
    chosen_k : int
        The K chosen by :func:`choose_k`.
    alpha : float
        Test level.
    correction : {"none", "fdr_bh"}
        Which share the choice used.
    min_gain : float
        Gain in share below which more clusters are not worth it.
    """

    frame: pd.DataFrame
    chosen_k: int
    alpha: float
    correction: Correction
    min_gain: float

    @property
    def share_column(self) -> str:
        """Column the choice was made on."""
        return "share_significant" if self.correction == "none" else "share_significant_bh"


def check_rates(rates: pd.DataFrame) -> pd.DataFrame:
    need = ("store_id", "product_id", "rate_per_day")
    if not isinstance(rates, pd.DataFrame) or any(c not in rates.columns for c in need):
        raise InvalidParameterError(
            f"sales must be a SalesTable or a DataFrame with columns {list(need)}; got "
            f"{list(rates.columns) if isinstance(rates, pd.DataFrame) else type(rates).__name__}"
        )
    out = rates[list(need)].copy()
    out["store_id"] = out["store_id"].astype("str")
    out["product_id"] = out["product_id"].astype("str")
    out["rate_per_day"] = pd.to_numeric(out["rate_per_day"], errors="coerce").astype("float64")
    return out


def product_anova(rates: pd.DataFrame, labels: Mapping[str, int]) -> pd.DataFrame:
    """One-way ANOVA per product of store sales rates across clusters.

    Parameters
    ----------
    rates : pandas.DataFrame
        ``store_id``, ``product_id``, ``rate_per_day`` (one row per store and product; rows with
        NaN rates or stores without a label are left out).
    labels : Mapping of str to int
        Cluster of each store.

    Returns
    -------
    pandas.DataFrame
        Per product: ``n_stores``, ``n_groups``, ``f_stat`` and ``p_value`` (NaN when untestable:
        fewer than 2 groups, no residual degrees of freedom, or zero within-group variance).
    """
    r = check_rates(rates)
    r["cluster"] = r["store_id"].map(dict(labels))
    r = r[r["cluster"].notna() & np.isfinite(r["rate_per_day"])]
    grp = r.groupby(["product_id", "cluster"])["rate_per_day"]
    cell = grp.agg(["size", "mean"]).reset_index()
    r = r.merge(cell, on=["product_id", "cluster"])
    r["sq_within"] = (r["rate_per_day"] - r["mean"]) ** 2
    prod = r.groupby("product_id").agg(
        n_stores=("rate_per_day", "size"),
        grand=("rate_per_day", "mean"),
        ss_within=("sq_within", "sum"),
    )
    cell = cell.merge(prod["grand"], left_on="product_id", right_index=True)
    cell["ss_b"] = cell["size"] * (cell["mean"] - cell["grand"]) ** 2
    between = cell.groupby("product_id").agg(n_groups=("size", "size"), ss_between=("ss_b", "sum"))
    out = prod.join(between)
    df_b = out["n_groups"] - 1
    df_w = out["n_stores"] - out["n_groups"]
    ok = (df_b >= 1) & (df_w >= 1) & (out["ss_within"] > 1e-12 * (1 + out["ss_between"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat = (out["ss_between"] / df_b) / (out["ss_within"] / df_w)
    out["f_stat"] = f_stat.where(ok)
    out["p_value"] = pd.Series(
        stats.f.sf(out["f_stat"].to_numpy(dtype=np.float64), df_b, df_w), index=out.index
    ).where(ok)
    table: pd.DataFrame = out[["n_stores", "n_groups", "f_stat", "p_value"]].reset_index()
    return table


def benjamini_hochberg(p_values: NDArray[np.float64], alpha: float) -> NDArray[np.bool_]:
    """Which p-values the Benjamini-Hochberg procedure rejects at FDR ``alpha`` (NaN: never)."""
    p = np.asarray(p_values, dtype=np.float64)
    finite = np.isfinite(p)
    m = int(finite.sum())
    out = np.zeros(p.shape, dtype=bool)
    if m == 0:
        return out
    q = p[finite]
    order = np.argsort(q, kind="stable")
    below = q[order] <= alpha * np.arange(1, m + 1) / m
    if below.any():
        cut = int(np.flatnonzero(below).max())
        rej = np.zeros(m, dtype=bool)
        rej[order[: cut + 1]] = True
        out[finite] = rej
    return out


def choose_k(curve: pd.DataFrame, *, min_gain: float, column: str = "share_significant") -> int:
    """The smallest K that no larger candidate beats by more than ``min_gain``.

    Section 8.4 picks K "where adding another cluster yields a small increase" in the share of
    products whose sales differ across clusters. Reading that as "the first K whose next step
    gains less than ``min_gain``" stops at the first dip of a noisy curve, so every larger K is
    compared: K is chosen when ``share(K') - share(K) <= min_gain`` for all ``K' > K``.

    Parameters
    ----------
    curve : pandas.DataFrame
        Columns ``k`` and ``column``.
    min_gain : float
        Largest gain in share that does not justify more clusters.
    column : str
        Share column to use.

    Returns
    -------
    int
        The chosen K.
    """
    c = curve.sort_values("k")
    ks = c["k"].to_numpy(dtype=np.int64)
    share = np.nan_to_num(c[column].to_numpy(dtype=np.float64), nan=0.0)
    best_after = np.maximum.accumulate(share[::-1])[::-1]
    for i, k in enumerate(ks):
        if best_after[i] - share[i] <= min_gain + 1e-12:
            return int(k)
    return int(ks[-1])
