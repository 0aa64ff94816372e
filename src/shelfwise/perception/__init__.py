"""Perception: sales from pre/post scans of displays (Eq. 4 of EdgeRec3D)."""

from shelfwise.perception.sales import (
    ESTIMATED_FLAGS,
    NegativeTreatment,
    SalesFlag,
    SalesTable,
    sales_from_visits,
)

__all__ = [
    "ESTIMATED_FLAGS",
    "NegativeTreatment",
    "SalesFlag",
    "SalesTable",
    "sales_from_visits",
]
