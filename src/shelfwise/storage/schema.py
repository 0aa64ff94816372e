"""SQLAlchemy Core tables. Natural keys are primary keys, so re-ingest is idempotent.

Migrations in :mod:`shelfwise.storage.migrations` create exactly this schema (a test compares
them). Lengths are generous; text keys are case-sensitive.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

KEY = 128
TEXT = 512

stores = Table(
    "stores",
    metadata,
    Column("store_id", String(KEY), primary_key=True),
    Column("name", String(TEXT), nullable=False),
    Column("lat", Float, nullable=True),
    Column("lon", Float, nullable=True),
    Column("format", String(KEY), nullable=True),
    Column("region", String(KEY), nullable=True),
)

products = Table(
    "products",
    metadata,
    Column("product_id", String(KEY), primary_key=True),
    Column("name", String(TEXT), nullable=False),
    Column("brand", String(KEY), nullable=True),
    Column("category", String(KEY), nullable=True),
    Column("subcategory", String(KEY), nullable=True),
    Column("width_cm", Float, nullable=True),
    Column("height_cm", Float, nullable=True),
    Column("depth_cm", Float, nullable=True),
    Column("weight_kg", Float, nullable=True),
    Column("price", Float, nullable=True),
    Column("unit_cost", Float, nullable=True),
    Column("currency", String(3), nullable=False),
    Column("gtin", String(14), nullable=True),
    Column("age_restricted", Boolean, nullable=False),
)

tracts = Table(
    "tracts",
    metadata,
    Column("tract_id", String(KEY), primary_key=True),
    Column("name", String(TEXT), nullable=True),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("population", Integer, nullable=False),
)

tract_features = Table(
    "tract_features",
    metadata,
    Column("tract_id", String(KEY), ForeignKey("tracts.tract_id"), primary_key=True),
    Column("feature", String(KEY), primary_key=True),
    Column("value", Float, nullable=False),
)

displays = Table(
    "displays",
    metadata,
    Column("display_id", String(KEY), primary_key=True),
    Column("store_id", String(KEY), ForeignKey("stores.store_id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("max_slots", Integer, nullable=False),
    Column("name", String(TEXT), nullable=True),
)

shelves = Table(
    "shelves",
    metadata,
    Column("display_id", String(KEY), ForeignKey("displays.display_id"), primary_key=True),
    Column("shelf_index", Integer, primary_key=True),
    Column("width_cm", Float, nullable=False),
    Column("clearance_cm", Float, nullable=False),
    Column("depth_cm", Float, nullable=False),
    Column("max_load_kg", Float, nullable=False),
    Column("height_from_floor_cm", Float, nullable=False),
)

planograms = Table(
    "planograms",
    metadata,
    Column("display_id", String(KEY), ForeignKey("displays.display_id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("provenance", String(TEXT), nullable=False),
    Column("effective_from", DateTime, nullable=True),
)

positions = Table(
    "positions",
    metadata,
    Column("display_id", String(KEY), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("position_no", Integer, primary_key=True),
    Column("shelf_index", Integer, nullable=False),
    Column("x_cm", Float, nullable=False),
    Column("product_id", String(KEY), ForeignKey("products.product_id"), nullable=False),
    Column("facings_wide", Integer, nullable=False),
    Column("facings_high", Integer, nullable=False),
    Column("facings_deep", Integer, nullable=False),
    ForeignKeyConstraint(
        ["display_id", "version"], ["planograms.display_id", "planograms.version"]
    ),
)

visits = Table(
    "visits",
    metadata,
    Column("visit_id", String(KEY), primary_key=True),
    Column("store_id", String(KEY), ForeignKey("stores.store_id"), nullable=False),
    Column("display_id", String(KEY), ForeignKey("displays.display_id"), nullable=False),
    Column("visited_at", DateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Index("ix_visits_display_time", "display_id", "visited_at"),
)

visit_items = Table(
    "visit_items",
    metadata,
    Column("visit_id", String(KEY), ForeignKey("visits.visit_id"), primary_key=True),
    Column("product_id", String(KEY), ForeignKey("products.product_id"), primary_key=True),
    Column("pre_count", Float, nullable=True),
    Column("post_count", Float, nullable=True),
    Column("facings", Integer, nullable=True),
    Column("prev_facings", Integer, nullable=True),
    Column("payoff", Float, nullable=True),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("file", String(1024), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("layout", String(32), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_new", Integer, nullable=False),
    Column("ingested_at", DateTime, nullable=False),
)

recommendation_runs = Table(
    "recommendation_runs",
    metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("policy", String(KEY), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("parameters", String(4096), nullable=False),
)

recommendations = Table(
    "recommendations",
    metadata,
    Column("run_id", Integer, ForeignKey("recommendation_runs.run_id"), primary_key=True),
    Column("display_id", String(KEY), ForeignKey("displays.display_id"), primary_key=True),
    Column("product_id", String(KEY), ForeignKey("products.product_id"), primary_key=True),
    Column("store_id", String(KEY), ForeignKey("stores.store_id"), nullable=False),
    Column("facings", Integer, nullable=False),
    Column("previous_facings", Integer, nullable=False),
    Column("action", String(16), nullable=False),
    Column("expected_payoff", Float, nullable=True),
    Column("pepf", Float, nullable=True),
    Column("layout_note", String(TEXT), nullable=False),
)

recommended_positions = Table(
    "recommended_positions",
    metadata,
    Column("run_id", Integer, ForeignKey("recommendation_runs.run_id"), primary_key=True),
    Column("display_id", String(KEY), ForeignKey("displays.display_id"), primary_key=True),
    Column("position_no", Integer, primary_key=True),
    Column("shelf_index", Integer, nullable=False),
    Column("x_cm", Float, nullable=False),
    Column("product_id", String(KEY), ForeignKey("products.product_id"), nullable=False),
    Column("facings_wide", Integer, nullable=False),
    Column("facings_high", Integer, nullable=False),
    Column("facings_deep", Integer, nullable=False),
)

#: Tables in insertion order (parents before children).
TABLES_IN_ORDER: tuple[Table, ...] = (
    stores,
    products,
    tracts,
    tract_features,
    displays,
    shelves,
    planograms,
    positions,
    visits,
    visit_items,
    ingest_runs,
    recommendation_runs,
    recommendations,
    recommended_positions,
)
