"""The file layouts shelfwise reads and writes (CSV or Parquet, one table per file).

Each layout lists its columns with type and rule. :mod:`shelfwise.data.ingest` validates files
against these specs, and :mod:`shelfwise.data.synthetic` writes its files in them, so they are
the one contract between producers and consumers of shelf data.

Layouts
-------
stores        store_id, name, [lat, lon, format, region]
products      product_id, name, [brand, category, subcategory, width_cm, height_cm, depth_cm,
              weight_kg, price, unit_cost, currency, gtin, age_restricted]
displays      display_id, store_id, kind, max_slots, [name]
shelves       display_id, shelf_index, width_cm, clearance_cm, depth_cm, max_load_kg,
              height_from_floor_cm
tracts        tract_id, lat, lon, population, [name]; every other column is a numeric
              demographic feature
planograms    display_id, version, shelf_index, x_cm, product_id, facings_wide, facings_high,
              facings_deep, [provenance, effective_from]
visits        shelfwise's own visit log, one row per (visit, product): visit_id, store_id,
              display_id, visited_at, product_id, pre_count, post_count, facings
edgerec3d     EdgeRec3D's published offline-log layout, one row per (visit, product): store_id,
              store_name, display_id, display_extra_info, last_scanned_datetime, product_id,
              name, previous_post_scan_num_facings, max_slots, payoff

A leading unnamed index column (``Unnamed: 0`` or an empty header, as pandas writes it) and other
unknown columns are ignored, except in ``tracts`` where they are features.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from shelfwise.domain import DisplayKind

ColumnType = Literal["str", "float", "int", "bool", "datetime"]


@dataclass(frozen=True)
class Column:
    """One column of a file layout.

    Parameters
    ----------
    name : str
        Header in the file.
    type : {"str", "float", "int", "bool", "datetime"}
        How cells are parsed.
    required : bool
        The column must be present in the file.
    nullable : bool
        Cells may be empty.
    gt, ge : float or None
        Numeric bounds (exclusive / inclusive).
    choices : tuple of str or None
        Allowed values for a text column.
    max_length : int or None
        Longest text allowed; by default 128 characters for identifiers (``*_id``) and 512
        for other text, the column sizes of the database.
    """

    name: str
    type: ColumnType
    required: bool = True
    nullable: bool = False
    gt: float | None = None
    ge: float | None = None
    choices: tuple[str, ...] | None = None
    max_length: int | None = None

    @property
    def length_limit(self) -> int | None:
        """Longest text allowed in a text column (``None`` for other types)."""
        if self.type != "str":
            return None
        if self.max_length is not None:
            return self.max_length
        return 128 if self.name.endswith("_id") else 512

    def rule(self) -> str:
        """The column's rule in words, as error messages state it."""
        parts = {
            "str": "text",
            "float": "a number",
            "int": "a whole number",
            "bool": "true/false",
            "datetime": "a date-time such as 2024-05-01 14:30:00",
        }
        out = f"must be {parts[self.type]}"
        if self.gt is not None:
            out += f" > {self.gt:g}"
        if self.ge is not None:
            out += f" >= {self.ge:g}"
        if self.choices is not None:
            out += f" (one of {', '.join(self.choices)})"
        if not self.nullable:
            out += ", not empty"
        return out


class LayoutName(StrEnum):
    """Names of the file layouts; also the ``--kind`` choices of ``shelfwise ingest``."""

    STORES = "stores"
    PRODUCTS = "products"
    DISPLAYS = "displays"
    SHELVES = "shelves"
    TRACTS = "tracts"
    PLANOGRAMS = "planograms"
    VISITS = "visits"
    EDGEREC3D = "edgerec3d"


@dataclass(frozen=True)
class Layout:
    """A file layout: its columns, natural key and how unknown columns are treated."""

    name: LayoutName
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    extra_columns_are_features: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        """Names of the columns that must be present."""
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        """The column spec called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


LAYOUTS: dict[LayoutName, Layout] = {
    LayoutName.STORES: Layout(
        LayoutName.STORES,
        (
            Column("store_id", "str"),
            Column("name", "str"),
            Column("lat", "float", required=False, nullable=True, ge=-90),
            Column("lon", "float", required=False, nullable=True, ge=-180),
            Column("format", "str", required=False, nullable=True),
            Column("region", "str", required=False, nullable=True),
        ),
        key=("store_id",),
    ),
    LayoutName.PRODUCTS: Layout(
        LayoutName.PRODUCTS,
        (
            Column("product_id", "str"),
            Column("name", "str"),
            Column("brand", "str", required=False, nullable=True),
            Column("category", "str", required=False, nullable=True),
            Column("subcategory", "str", required=False, nullable=True),
            Column("width_cm", "float", required=False, nullable=True, gt=0),
            Column("height_cm", "float", required=False, nullable=True, gt=0),
            Column("depth_cm", "float", required=False, nullable=True, gt=0),
            Column("weight_kg", "float", required=False, nullable=True, gt=0),
            Column("price", "float", required=False, nullable=True, ge=0),
            Column("unit_cost", "float", required=False, nullable=True, ge=0),
            Column("currency", "str", required=False, nullable=True),
            Column("gtin", "str", required=False, nullable=True),
            Column("age_restricted", "bool", required=False, nullable=True),
        ),
        key=("product_id",),
    ),
    LayoutName.DISPLAYS: Layout(
        LayoutName.DISPLAYS,
        (
            Column("display_id", "str"),
            Column("store_id", "str"),
            Column("kind", "str", choices=tuple(k.value for k in DisplayKind)),
            Column("max_slots", "int", ge=1),
            Column("name", "str", required=False, nullable=True),
        ),
        key=("display_id",),
    ),
    LayoutName.SHELVES: Layout(
        LayoutName.SHELVES,
        (
            Column("display_id", "str"),
            Column("shelf_index", "int", ge=0),
            Column("width_cm", "float", gt=0),
            Column("clearance_cm", "float", gt=0),
            Column("depth_cm", "float", gt=0),
            Column("max_load_kg", "float", gt=0),
            Column("height_from_floor_cm", "float", ge=0),
        ),
        key=("display_id", "shelf_index"),
    ),
    LayoutName.TRACTS: Layout(
        LayoutName.TRACTS,
        (
            Column("tract_id", "str"),
            Column("lat", "float", ge=-90),
            Column("lon", "float", ge=-180),
            Column("population", "int", ge=0),
            Column("name", "str", required=False, nullable=True),
        ),
        key=("tract_id",),
        extra_columns_are_features=True,
    ),
    LayoutName.PLANOGRAMS: Layout(
        LayoutName.PLANOGRAMS,
        (
            Column("display_id", "str"),
            Column("version", "int", ge=1),
            Column("shelf_index", "int", ge=0),
            Column("x_cm", "float", ge=0),
            Column("product_id", "str"),
            Column("facings_wide", "int", ge=1),
            Column("facings_high", "int", ge=1),
            Column("facings_deep", "int", ge=1),
            Column("provenance", "str", required=False, nullable=True),
            Column("effective_from", "datetime", required=False, nullable=True),
        ),
        key=("display_id", "version", "shelf_index", "x_cm"),
    ),
    LayoutName.VISITS: Layout(
        LayoutName.VISITS,
        (
            Column("visit_id", "str"),
            Column("store_id", "str"),
            Column("display_id", "str"),
            Column("visited_at", "datetime"),
            Column("product_id", "str"),
            Column("pre_count", "float", nullable=True, ge=0),
            Column("post_count", "float", nullable=True, ge=0),
            Column("facings", "int", ge=0),
        ),
        key=("visit_id", "product_id"),
    ),
    LayoutName.EDGEREC3D: Layout(
        LayoutName.EDGEREC3D,
        (
            Column("store_id", "str"),
            Column("store_name", "str"),
            Column("display_id", "str"),
            Column("display_extra_info", "str", nullable=True),
            Column("last_scanned_datetime", "datetime"),
            Column("product_id", "str"),
            Column("name", "str"),
            Column("previous_post_scan_num_facings", "int", ge=0),
            Column("max_slots", "int", ge=1),
            Column("payoff", "float", ge=0),
        ),
        key=("display_id", "last_scanned_datetime", "product_id"),
    ),
}

#: Order in which layouts must be stored so that references resolve.
DEPENDENCY_ORDER: tuple[LayoutName, ...] = (
    LayoutName.STORES,
    LayoutName.PRODUCTS,
    LayoutName.TRACTS,
    LayoutName.DISPLAYS,
    LayoutName.SHELVES,
    LayoutName.PLANOGRAMS,
    LayoutName.EDGEREC3D,
    LayoutName.VISITS,
)
