"""Typed domain records shared by every shelfwise subpackage."""

from shelfwise.domain._checks import gtin_is_valid, gtin_zero_padded
from shelfwise.domain.records import (
    Display,
    DisplayKind,
    DisplayRecommendation,
    DisplayVisit,
    Planogram,
    Position,
    Product,
    RecommendationRun,
    RecommendedItem,
    Shelf,
    Store,
    Tract,
    VisitItem,
)

__all__ = [
    "Display",
    "DisplayKind",
    "DisplayRecommendation",
    "DisplayVisit",
    "Planogram",
    "Position",
    "Product",
    "RecommendationRun",
    "RecommendedItem",
    "Shelf",
    "Store",
    "Tract",
    "VisitItem",
    "gtin_is_valid",
    "gtin_zero_padded",
]
