"""Space KPIs of a planogram: capacity, days of supply, linear fullness, sales and profit per metre.

Definitions (per product, summed over its positions on the display):

* ``facings``: total ``facings_wide`` (slots taken);
* ``units_capacity``: total units when full, ``facings_wide * facings_high * facings_deep``;
* ``linear_cm``: linear shelf space, ``facings_wide * width_cm`` (NaN without ``width_cm``);
* with ``unit_movement`` (units sold over ``movement_period_days``):
  ``daily_units = movement / movement_period_days``, ``days_of_supply = units_capacity /
  daily_units`` (inf when nothing sold), ``sales = movement * price`` and ``profit = movement
  * (price - unit_cost)`` over the period, and ``sales_per_linear_m = sales / (linear_cm /
  100)``, likewise ``profit_per_linear_m``.

Display-level figures: ``total_capacity_units``; ``linear_fullness`` = occupied linear cm /
total shelf width (the sum of ``width_cm`` over the display's shelves); sales and profit per
linear metre over the occupied space; share of shelf by brand = a brand's linear cm / occupied
linear cm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import InvalidParameterError

__all__ = ["PRODUCT_COLUMNS", "UNBRANDED", "PlanogramKPIs", "planogram_kpis"]

UNBRANDED = "(no brand)"
"""Key of products without a brand in :attr:`PlanogramKPIs.brand_share`."""

PRODUCT_COLUMNS = (
    "product_id",
    "brand",
    "facings",
    "units_capacity",
    "linear_cm",
    "unit_movement",
    "daily_units",
    "days_of_supply",
    "sales",
    "profit",
    "sales_per_linear_m",
    "profit_per_linear_m",
)
"""Columns of :attr:`PlanogramKPIs.products`, in order."""


@dataclass(frozen=True)
class PlanogramKPIs:
    """KPIs of one planogram on its display.

    Attributes
    ----------
    display_id : str
        The display.
    products : pandas.DataFrame
        One row per product on the planogram, in order of first appearance, with the columns
        :data:`PRODUCT_COLUMNS`; the movement-based columns are NaN without ``unit_movement``.
    total_capacity_units : int
        Units the display holds when full.
    total_facings : int
        Total facings wide.
    occupied_linear_cm : float
        Sum of ``linear_cm`` over products with a known width.
    shelf_linear_cm : float
        Sum of the shelves' widths (0 when the display has no shelf geometry).
    linear_fullness : float
        ``occupied_linear_cm / shelf_linear_cm`` (NaN without shelves).
    sales, profit : float or None
        Over the movement period; ``None`` without ``unit_movement``. Products without a price
        (or unit cost) are left out of the sum.
    sales_per_linear_m, profit_per_linear_m : float or None
        ``sales`` (``profit``) over the occupied linear metres of the products counted in it.
    brand_share : Mapping[str, float]
        Each brand's linear cm over ``occupied_linear_cm``; unbranded products under
        :data:`UNBRANDED`. Largest share first.
    movement_period_days : float
        The period ``unit_movement`` covers.
    """

    display_id: str
    products: pd.DataFrame
    total_capacity_units: int
    total_facings: int
    occupied_linear_cm: float
    shelf_linear_cm: float
    linear_fullness: float
    sales: float | None
    profit: float | None
    sales_per_linear_m: float | None
    profit_per_linear_m: float | None
    brand_share: Mapping[str, float]
    movement_period_days: float


def planogram_kpis(
    planogram: Planogram,
    display: Display,
    catalog: Mapping[str, Product],
    *,
    unit_movement: Mapping[str, float] | None = None,
    movement_period_days: float = 7.0,
) -> PlanogramKPIs:
    """Compute space KPIs of a planogram (see the module docstring for the definitions).

    Parameters
    ----------
    planogram : Planogram
        The planogram; its ``display_id`` must be ``display``'s.
    display : Display
        Its display (shelf widths give the linear fullness).
    catalog : Mapping[str, Product]
        Products by id; every product of the planogram must be in it.
    unit_movement : Mapping[str, float], optional
        Units of each product sold over ``movement_period_days``. Products of the planogram
        missing from it count as 0 units sold.
    movement_period_days : float, default 7.0
        Length of the movement period in days, > 0.

    Returns
    -------
    PlanogramKPIs

    Raises
    ------
    InvalidParameterError
        If the planogram is for another display, a product is not in the catalog, a movement
        is negative or not finite, or ``movement_period_days`` is not > 0.
    """
    where = f" for planogram of display {planogram.display_id}"
    if planogram.display_id != display.display_id:
        raise InvalidParameterError(
            f"display.display_id must match the planogram's{where}; got {display.display_id!r}"
        )
    if not (math.isfinite(movement_period_days) and movement_period_days > 0):
        raise InvalidParameterError(
            f"movement_period_days must be finite and > 0{where}; got {movement_period_days!r}"
        )
    if unit_movement is not None:
        for pid, value in unit_movement.items():
            if not (math.isfinite(value) and value >= 0):
                raise InvalidParameterError(
                    f"unit_movement must be finite and >= 0 for product {pid}{where}; got {value!r}"
                )
    facings: dict[str, int] = {}
    units: dict[str, int] = {}
    for pos in planogram.positions:
        if pos.product_id not in catalog:
            raise InvalidParameterError(
                f"product_id must be in the catalog{where}; got {pos.product_id!r} on shelf "
                f"{pos.shelf_index}"
            )
        facings[pos.product_id] = facings.get(pos.product_id, 0) + pos.facings_wide
        units[pos.product_id] = units.get(pos.product_id, 0) + pos.units
    pids = list(facings)
    products = [catalog[pid] for pid in pids]
    width = np.array([np.nan if p.width_cm is None else p.width_cm for p in products])
    price = np.array([np.nan if p.price is None else p.price for p in products])
    cost = np.array([np.nan if p.unit_cost is None else p.unit_cost for p in products])
    n_facings = np.array([facings[pid] for pid in pids], dtype=np.int64)
    capacity = np.array([units[pid] for pid in pids], dtype=np.int64)
    linear = n_facings * width
    nan = np.full(len(pids), np.nan)
    if unit_movement is not None:
        movement = np.array([float(unit_movement.get(pid, 0.0)) for pid in pids])
        daily = movement / movement_period_days
        with np.errstate(divide="ignore"):
            days = np.where(daily > 0, capacity / np.where(daily > 0, daily, 1.0), np.inf)
        sales, profit = movement * price, movement * (price - cost)
    else:
        movement, daily, days, sales, profit = nan, nan, nan, nan, nan
    frame = pd.DataFrame(
        {
            "product_id": pids,
            "brand": [p.brand for p in products],
            "facings": n_facings,
            "units_capacity": capacity,
            "linear_cm": linear,
            "unit_movement": movement,
            "daily_units": daily,
            "days_of_supply": days,
            "sales": sales,
            "profit": profit,
            "sales_per_linear_m": sales / (linear / 100.0),
            "profit_per_linear_m": profit / (linear / 100.0),
        },
        columns=list(PRODUCT_COLUMNS),
    )
    occupied = float(np.nansum(linear))
    shelf_cm = float(sum(s.width_cm for s in display.shelves))
    brand_cm: dict[str, float] = {}
    for p, cm in zip(products, linear, strict=True):
        if not np.isnan(cm):
            key = p.brand if p.brand is not None else UNBRANDED
            brand_cm[key] = brand_cm.get(key, 0.0) + float(cm)
    shares = {
        b: cm / occupied for b, cm in sorted(brand_cm.items(), key=lambda kv: (-kv[1], kv[0]))
    }
    given = unit_movement is not None
    total_sales, sales_per_m = _total(sales, linear, given)
    total_profit, profit_per_m = _total(profit, linear, given)
    return PlanogramKPIs(
        display_id=display.display_id,
        products=frame,
        total_capacity_units=int(capacity.sum()),
        total_facings=int(n_facings.sum()),
        occupied_linear_cm=occupied,
        shelf_linear_cm=shelf_cm,
        linear_fullness=occupied / shelf_cm if shelf_cm > 0 else math.nan,
        sales=total_sales,
        profit=total_profit,
        sales_per_linear_m=sales_per_m,
        profit_per_linear_m=profit_per_m,
        brand_share=shares,
        movement_period_days=float(movement_period_days),
    )


def _total(
    values: NDArray[np.float64], linear: NDArray[np.float64], given: bool
) -> tuple[float | None, float | None]:
    """Sum of the known values, and that sum over the linear metres of the products counted."""
    if not given:
        return None, None
    known = ~np.isnan(values)
    total = float(values[known].sum())
    metres = float(np.nansum(linear[known])) / 100.0
    return total, (total / metres if metres > 0 else math.nan)
