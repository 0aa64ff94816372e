"""Per-product facings response shapes for RBP, chosen from the data.

EdgeRec3D's Eq. 5 gives every product the same facings feature ``x_q`` (``log2(1 + q)`` by
default): only the level ``beta`` differs between products. Products differ in how fast their
sales saturate with space, though (a niche drink sells out of one facing; a best seller keeps
gaining up to many), and a shared shape then misplaces facings even when the levels are right:
the search gives too many facings to fast-saturating products and too few to the others.

``facing_feature="per_product"`` in :class:`~shelfwise.demand.RBPModel` replaces the shared
feature by one shape per product, chosen from a menu of concave, increasing responses with
``x_0 = 0`` and ``x_1 = 1`` (so ``beta`` keeps its meaning, the payoff at one facing):

* ``log2(1 + q)``, EdgeRec3D's feature;
* power laws ``q ** gamma`` (the shelf-space elasticity model of Corstjens & Doyle, 1981);
* saturating (modified exponential) responses ``(1 - exp(-q / kappa)) / (1 - exp(-1 / kappa))``.

The choice is an empirical-Bayes step before sampling: for every product and every shape, each
store's level is profiled out by least squares on the mean payoff per (store, facings) cell, and
the shape with the smallest relative squared error over the stores wins. Only stores whose
product was seen at two or more facing counts inform the choice; a product without such stores
keeps ``log2``. The posterior is then sampled with the chosen shapes as fixed features (they
are not sampled themselves, so the posterior sd ignores the shape choice).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from shelfwise.exceptions import InvalidParameterError

DEFAULT_SHAPE = "log2"


@dataclass(frozen=True)
class FacingShape:
    """A facings response ``x_q`` with ``x_0 = 0`` and ``x_1 = 1``.

    Attributes
    ----------
    kind : {"log2", "power", "saturating"}
        The family.
    param : float
        ``gamma`` of a power law, ``kappa`` of a saturating response (unused by ``log2``).
    """

    kind: str
    param: float = 0.0

    @property
    def name(self) -> str:
        """Label such as ``"log2"``, ``"power0.5"`` or ``"saturating3"``."""
        return self.kind if self.kind == "log2" else f"{self.kind}{self.param:g}"

    def __call__(self, q: ArrayLike) -> NDArray[np.float64]:
        """``x_q`` for facings ``q`` (>= 0)."""
        qq = np.asarray(q, dtype=np.float64)
        if self.kind == "log2":
            return np.asarray(np.log2(1.0 + qq))
        if self.kind == "power":
            return np.asarray(np.power(qq, self.param))
        return np.asarray(np.expm1(-qq / self.param) / np.expm1(-1.0 / self.param))


SHAPE_MENU: tuple[FacingShape, ...] = (
    FacingShape("log2"),
    *(FacingShape("power", g) for g in (0.25, 0.4, 0.55, 0.7, 0.85, 1.0)),
    *(FacingShape("saturating", k) for k in (1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 9.0, 13.0)),
)
"""The shapes :func:`choose_shapes` picks from."""

_BY_NAME = {s.name: s for s in SHAPE_MENU}


def shape_by_name(name: str) -> FacingShape:
    """The menu's shape called ``name`` (see :attr:`FacingShape.name`)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidParameterError(
            f"facing shape must be one of {sorted(_BY_NAME)}; got {name!r}"
        ) from None


def shape_errors(observations: pd.DataFrame) -> pd.DataFrame:
    """Relative squared error of every menu shape for every product (rows) .

    Parameters
    ----------
    observations : DataFrame
        ``store_id``, ``product_id``, ``facings`` (>= 1) and ``rate`` (>= 0), as
        :meth:`~shelfwise.demand.RBPModel.fit` takes them (already validated).

    Returns
    -------
    DataFrame
        Index product_id, one column per shape name; ``NaN`` for a product with no store seen
        at two or more facing counts.
    """
    cells = (
        observations.groupby(["product_id", "store_id", "facings"], sort=True)["rate"]
        .agg(["size", "mean"])
        .reset_index()
    )
    levels = cells.groupby(["product_id", "store_id"])["facings"].transform("size")
    cells = cells[levels >= 2]
    scale = cells.groupby(["product_id", "store_id"])["mean"].transform("mean")
    cells = cells[scale > 0]
    scale = scale[scale > 0]
    products = sorted(observations["product_id"].astype(str).unique())
    out = pd.DataFrame(np.nan, index=pd.Index(products, name="product_id"), columns=list(_BY_NAME))
    if cells.empty:
        return out
    n = cells["size"].to_numpy(dtype=np.float64)
    r = cells["mean"].to_numpy(dtype=np.float64) / scale.to_numpy(dtype=np.float64)
    keys = pd.MultiIndex.from_frame(cells[["product_id", "store_id"]])
    group = pd.factorize(keys)[0]
    owner = cells["product_id"].astype(str).to_numpy()
    for shape in SHAPE_MENU:
        x = shape(cells["facings"].to_numpy(dtype=np.float64))
        sxr = np.bincount(group, weights=n * x * r)
        sxx = np.bincount(group, weights=n * x * x)
        beta = sxr / sxx
        resid = n * (r - beta[group] * x) ** 2
        sse = pd.Series(resid).groupby(owner).sum()
        out.loc[sse.index, shape.name] = sse.to_numpy()
    return out


def choose_shapes(observations: pd.DataFrame) -> dict[str, str]:
    """The menu shape with the smallest :func:`shape_errors` per product (``log2`` when the
    data cannot tell: no store saw the product at two facing counts)."""
    errors = shape_errors(observations)
    out: dict[str, str] = {}
    for pid, row in errors.iterrows():
        out[str(pid)] = DEFAULT_SHAPE if row.isna().all() else str(row.idxmin())
    return out


def transform_facings(
    product_ids: ArrayLike, facings: ArrayLike, shapes: Mapping[str, str]
) -> NDArray[np.float64]:
    """``x_q`` of each row under its product's shape (``log2`` for products not in ``shapes``)."""
    pids = np.asarray(product_ids, dtype=object)
    q = np.asarray(facings, dtype=np.float64)
    out = np.empty_like(q)
    for pid in pd.unique(pids):
        mask = pids == pid
        out[mask] = shape_by_name(shapes.get(str(pid), DEFAULT_SHAPE))(q[mask])
    return out
