"""Convert domain records to table-shaped frames and table rows back to records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd

from shelfwise.domain import (
    Display,
    DisplayKind,
    DisplayVisit,
    Planogram,
    Position,
    Product,
    Shelf,
    Store,
    Tract,
    VisitItem,
)


def stores_frame(stores: Iterable[Store]) -> pd.DataFrame:
    """Rows of the ``stores`` table."""
    return pd.DataFrame([asdict(s) for s in stores], columns=list(Store.__dataclass_fields__))


def products_frame(products: Iterable[Product]) -> pd.DataFrame:
    """Rows of the ``products`` table."""
    return pd.DataFrame([asdict(p) for p in products], columns=list(Product.__dataclass_fields__))


def tracts_frames(tracts: Iterable[Tract]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the ``tracts`` and ``tract_features`` tables."""
    rows: list[dict[str, Any]] = []
    feats: list[dict[str, Any]] = []
    for t in tracts:
        rows.append(
            {
                "tract_id": t.tract_id,
                "name": t.name,
                "lat": t.lat,
                "lon": t.lon,
                "population": t.population,
            }
        )
        feats.extend(
            {"tract_id": t.tract_id, "feature": k, "value": v} for k, v in t.features.items()
        )
    return (
        pd.DataFrame(rows, columns=["tract_id", "name", "lat", "lon", "population"]),
        pd.DataFrame(feats, columns=["tract_id", "feature", "value"]),
    )


def displays_frames(displays: Iterable[Display]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the ``displays`` and ``shelves`` tables."""
    rows, shelves = [], []
    for d in displays:
        rows.append(
            {
                "display_id": d.display_id,
                "store_id": d.store_id,
                "kind": d.kind.value,
                "max_slots": d.max_slots,
                "name": d.name,
            }
        )
        for s in d.shelves:
            shelf = asdict(s)
            shelf["shelf_index"] = shelf.pop("index")
            shelves.append({"display_id": d.display_id, **shelf})
    shelf_cols = [
        "display_id",
        "shelf_index",
        "width_cm",
        "clearance_cm",
        "depth_cm",
        "max_load_kg",
        "height_from_floor_cm",
    ]
    return (
        pd.DataFrame(rows, columns=["display_id", "store_id", "kind", "max_slots", "name"]),
        pd.DataFrame(shelves, columns=shelf_cols),
    )


def planograms_frames(planograms: Iterable[Planogram]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the ``planograms`` and ``positions`` tables."""
    heads, positions = [], []
    for p in planograms:
        heads.append(
            {
                "display_id": p.display_id,
                "version": p.version,
                "provenance": p.provenance,
                "effective_from": p.effective_from,
            }
        )
        for no, pos in enumerate(p.positions):
            positions.append(
                {"display_id": p.display_id, "version": p.version, "position_no": no, **asdict(pos)}
            )
    pos_cols = [
        "display_id",
        "version",
        "position_no",
        "shelf_index",
        "x_cm",
        "product_id",
        "facings_wide",
        "facings_high",
        "facings_deep",
    ]
    return (
        pd.DataFrame(heads, columns=["display_id", "version", "provenance", "effective_from"]),
        pd.DataFrame(positions, columns=pos_cols),
    )


def visits_frames(
    visits: Iterable[DisplayVisit], *, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of the ``visits`` and ``visit_items`` tables."""
    heads: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for v in visits:
        heads.append(
            {
                "visit_id": v.visit_id,
                "store_id": v.store_id,
                "display_id": v.display_id,
                "visited_at": v.visited_at,
                "source": source,
            }
        )
        items.extend({"visit_id": v.visit_id, **asdict(i)} for i in v.items)
    item_cols = [
        "visit_id",
        "product_id",
        "pre_count",
        "post_count",
        "facings",
        "prev_facings",
        "payoff",
    ]
    return (
        pd.DataFrame(heads, columns=["visit_id", "store_id", "display_id", "visited_at", "source"]),
        pd.DataFrame(items, columns=item_cols),
    )


def _opt(value: Any) -> Any:
    """``None`` for any missing marker (None, NaN, pd.NA, NaT), else the value."""
    return None if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)) else value


def _opt_int(value: Any) -> int | None:
    value = _opt(value)
    return None if value is None else int(value)


def _opt_float(value: Any) -> float | None:
    value = _opt(value)
    return None if value is None else float(value)


def store_from_row(r: Any) -> Store:
    """A :class:`Store` from a ``stores`` row."""
    return Store(
        store_id=r.store_id,
        name=r.name,
        lat=_opt_float(r.lat),
        lon=_opt_float(r.lon),
        format=_opt(r.format),
        region=_opt(r.region),
    )


def product_from_row(r: Any) -> Product:
    """A :class:`Product` from a ``products`` row."""
    return Product(
        product_id=r.product_id,
        name=r.name,
        brand=_opt(r.brand),
        category=_opt(r.category),
        subcategory=_opt(r.subcategory),
        width_cm=_opt_float(r.width_cm),
        height_cm=_opt_float(r.height_cm),
        depth_cm=_opt_float(r.depth_cm),
        weight_kg=_opt_float(r.weight_kg),
        price=_opt_float(r.price),
        unit_cost=_opt_float(r.unit_cost),
        currency=r.currency,
        gtin=_opt(r.gtin),
        age_restricted=bool(r.age_restricted),
    )


def shelf_from_row(r: Any) -> Shelf:
    """A :class:`Shelf` from a ``shelves`` row."""
    return Shelf(
        index=int(r.shelf_index),
        width_cm=float(r.width_cm),
        clearance_cm=float(r.clearance_cm),
        depth_cm=float(r.depth_cm),
        max_load_kg=float(r.max_load_kg),
        height_from_floor_cm=float(r.height_from_floor_cm),
    )


def display_from_row(r: Any, shelves: Sequence[Shelf]) -> Display:
    """A :class:`Display` from a ``displays`` row and its shelves."""
    return Display(
        display_id=r.display_id,
        store_id=r.store_id,
        kind=DisplayKind(r.kind),
        max_slots=int(r.max_slots),
        shelves=tuple(shelves),
        name=_opt(r.name),
    )


def position_from_row(r: Any) -> Position:
    """A :class:`Position` from a ``positions`` row."""
    return Position(
        shelf_index=int(r.shelf_index),
        x_cm=float(r.x_cm),
        product_id=r.product_id,
        facings_wide=int(r.facings_wide),
        facings_high=int(r.facings_high),
        facings_deep=int(r.facings_deep),
    )


def visit_item_from_row(r: Any) -> VisitItem:
    """A :class:`VisitItem` from a ``visit_items`` row."""
    return VisitItem(
        product_id=r.product_id,
        pre_count=_opt_float(r.pre_count),
        post_count=_opt_float(r.post_count),
        facings=_opt_int(r.facings),
        prev_facings=_opt_int(r.prev_facings),
        payoff=_opt_float(r.payoff),
    )
