"""The repository: add and query every record kind, over any SQLAlchemy database.

All writes are idempotent by natural key and happen in one transaction per call. Master data
(stores, products, tracts, displays, shelves) is updated when a re-added record differs; events
(visits, planogram versions) are immutable and a re-added one is left as stored.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select

from shelfwise.domain import (
    Display,
    DisplayVisit,
    Planogram,
    Position,
    Product,
    RecommendationRun,
    Store,
    Tract,
)
from shelfwise.exceptions import NotFoundError, StorageError
from shelfwise.storage import frames, schema
from shelfwise.storage.bulk import WriteCounts, write_frame
from shelfwise.storage.engine import (
    current_revision,
    make_engine,
    require_current_schema,
    upgrade,
)


@dataclass(frozen=True)
class TableCounts:
    """Row counts of the main tables."""

    stores: int
    products: int
    tracts: int
    displays: int
    shelves: int
    planograms: int
    positions: int
    visits: int
    visit_items: int


class Repository:
    """Add and query shelfwise records in one database.

    Parameters
    ----------
    engine : Engine
        A migrated database (see :func:`shelfwise.storage.upgrade`).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def from_url(cls, url: str | None = None, *, create: bool = True) -> Repository:
        """Open the database at ``url`` (default: ``$SHELFWISE_DATABASE_URL`` or SQLite).

        With ``create`` a database that has no shelfwise schema yet is created; without it, a
        SQLite file that does not exist is an error (nothing is created). A database at an older
        schema revision is never migrated silently (run ``shelfwise db upgrade``).
        """
        engine = make_engine(url)
        db_file = engine.url.database
        if (
            not create
            and engine.dialect.name == "sqlite"
            and db_file not in (None, "", ":memory:")
            and not Path(db_file).is_file()
        ):
            raise StorageError(
                f"no database at {db_file}; create one with `shelfwise demo`, `shelfwise ingest` "
                "or `shelfwise db upgrade`, or pass --database-url"
            )
        if create and current_revision(engine) is None:
            upgrade(engine)
        require_current_schema(engine)
        return cls(engine)

    # ------------------------------------------------------------------ writes
    def write_tables(
        self, conn: Connection, tables: Sequence[tuple[str, pd.DataFrame]]
    ) -> list[WriteCounts]:
        """Write table-shaped frames in order inside the caller's transaction.

        Event tables (visits, visit items, planograms, positions) ignore keys already stored;
        master-data tables update rows whose values changed.
        """
        events = {"visits", "visit_items", "planograms", "positions"}
        out = []
        for name, frame in tables:
            table = schema.metadata.tables[name]
            if name in events:
                out.append(write_frame(conn, table, frame, on_conflict="ignore"))
            else:
                out.append(write_frame(conn, table, frame, on_conflict="update"))
        return out

    def _write(self, tables: Sequence[tuple[str, pd.DataFrame]]) -> list[WriteCounts]:
        with self.engine.begin() as conn:
            return self.write_tables(conn, tables)

    def add_stores(self, stores: Iterable[Store]) -> WriteCounts:
        """Add or update stores."""
        return self._write([("stores", frames.stores_frame(stores))])[0]

    def add_products(self, products: Iterable[Product]) -> WriteCounts:
        """Add or update products."""
        return self._write([("products", frames.products_frame(products))])[0]

    def add_tracts(self, tracts: Iterable[Tract]) -> list[WriteCounts]:
        """Add or update tracts and their demographic features."""
        head, feats = frames.tracts_frames(tracts)
        return self._write([("tracts", head), ("tract_features", feats)])

    def add_displays(self, displays: Iterable[Display]) -> list[WriteCounts]:
        """Add or update displays and their shelves."""
        head, shelves = frames.displays_frames(displays)
        return self._write([("displays", head), ("shelves", shelves)])

    def add_planograms(self, planograms: Iterable[Planogram]) -> list[WriteCounts]:
        """Add planogram versions; a version already stored is kept as it is."""
        head, pos = frames.planograms_frames(planograms)
        return self._write([("planograms", head), ("positions", pos)])

    def add_visits(
        self, visits: Iterable[DisplayVisit], *, source: str = "api"
    ) -> list[WriteCounts]:
        """Add display visits with their items; a visit already stored is kept as it is."""
        head, items = frames.visits_frames(visits, source=source)
        return self._write([("visits", head), ("visit_items", items)])

    # ------------------------------------------------------------------ reads
    def counts(self) -> TableCounts:
        """Row counts of the main tables."""
        names = list(TableCounts.__dataclass_fields__)
        with self.engine.connect() as conn:
            values = {
                n: int(
                    conn.execute(
                        select(func.count()).select_from(schema.metadata.tables[n])
                    ).scalar_one()
                )
                for n in names
            }
        return TableCounts(**values)

    def list_stores(self) -> list[Store]:
        """All stores, ordered by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.stores).order_by(schema.stores.c.store_id))
            return [frames.store_from_row(r) for r in rows]

    def get_store(self, store_id: str) -> Store:
        """The store ``store_id``; raises :class:`NotFoundError` if absent."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.stores).where(schema.stores.c.store_id == store_id)
            ).first()
        if row is None:
            raise NotFoundError(f"store_id {store_id!r} is not in the database")
        return frames.store_from_row(row)

    def list_products(self) -> list[Product]:
        """All products, ordered by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.products).order_by(schema.products.c.product_id))
            return [frames.product_from_row(r) for r in rows]

    def get_product(self, product_id: str) -> Product:
        """The product ``product_id``; raises :class:`NotFoundError` if absent."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(schema.products).where(schema.products.c.product_id == product_id)
            ).first()
        if row is None:
            raise NotFoundError(f"product_id {product_id!r} is not in the database")
        return frames.product_from_row(row)

    def list_tracts(self) -> list[Tract]:
        """All tracts with their features, ordered by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(schema.tracts).order_by(schema.tracts.c.tract_id)).all()
            feats = conn.execute(select(schema.tract_features)).all()
        by_tract: dict[str, dict[str, float]] = defaultdict(dict)
        for f in feats:
            by_tract[f.tract_id][f.feature] = float(f.value)
        return [
            Tract(
                tract_id=r.tract_id,
                lat=float(r.lat),
                lon=float(r.lon),
                population=int(r.population),
                features=by_tract[r.tract_id],
                name=r.name,
            )
            for r in rows
        ]

    def list_displays(self, *, store_id: str | None = None) -> list[Display]:
        """Displays (of one store, or all) with their shelves, ordered by id."""
        d, s = schema.displays, schema.shelves
        query = select(d).order_by(d.c.display_id)
        if store_id is not None:
            query = query.where(d.c.store_id == store_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            shelf_rows = conn.execute(select(s).order_by(s.c.display_id, s.c.shelf_index)).all()
        shelves = defaultdict(list)
        for r in shelf_rows:
            shelves[r.display_id].append(frames.shelf_from_row(r))
        return [frames.display_from_row(r, shelves[r.display_id]) for r in rows]

    def get_display(self, display_id: str) -> Display:
        """The display ``display_id`` with its shelves; raises :class:`NotFoundError`."""
        d, s = schema.displays, schema.shelves
        with self.engine.connect() as conn:
            row = conn.execute(select(d).where(d.c.display_id == display_id)).first()
            if row is None:
                raise NotFoundError(f"display_id {display_id!r} is not in the database")
            shelf_rows = conn.execute(
                select(s).where(s.c.display_id == display_id).order_by(s.c.shelf_index)
            ).all()
        return frames.display_from_row(row, [frames.shelf_from_row(r) for r in shelf_rows])

    def planograms(self, display_id: str) -> list[Planogram]:
        """Every stored planogram version of a display, oldest first."""
        p, pos = schema.planograms, schema.positions
        with self.engine.connect() as conn:
            heads = conn.execute(
                select(p).where(p.c.display_id == display_id).order_by(p.c.version)
            ).all()
            rows = conn.execute(
                select(pos)
                .where(pos.c.display_id == display_id)
                .order_by(pos.c.version, pos.c.position_no)
            ).all()
        by_version = defaultdict(list)
        for r in rows:
            by_version[r.version].append(frames.position_from_row(r))
        return [
            Planogram(
                display_id=h.display_id,
                version=int(h.version),
                positions=tuple(by_version[h.version]),
                provenance=h.provenance,
                effective_from=h.effective_from,
            )
            for h in heads
        ]

    def latest_planogram(self, display_id: str) -> Planogram:
        """The newest planogram version of a display; raises :class:`NotFoundError`."""
        versions = self.planograms(display_id)
        if not versions:
            raise NotFoundError(f"display_id {display_id!r} has no stored planogram")
        return versions[-1]

    def visits(
        self,
        *,
        display_id: str | None = None,
        store_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[DisplayVisit]:
        """Visits with their items, oldest first, optionally filtered."""
        flat = self.visits_frame(display_id=display_id, store_id=store_id, since=since, until=until)
        out = []
        for (vid, sid, did, at), group in flat.groupby(
            ["visit_id", "store_id", "display_id", "visited_at"], sort=False
        ):
            items = tuple(
                frames.visit_item_from_row(r)
                for r in group.itertuples()
                if isinstance(r.product_id, str)
            )
            out.append(
                DisplayVisit(
                    visit_id=str(vid),
                    store_id=str(sid),
                    display_id=str(did),
                    visited_at=pd.Timestamp(at).to_pydatetime(),  # type: ignore[arg-type]
                    items=items,
                )
            )
        return out

    def visits_frame(
        self,
        *,
        display_id: str | None = None,
        store_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """Visit items as one flat frame (one row per visit and product), oldest first.

        Columns: visit_id, store_id, display_id, visited_at, source, product_id, pre_count,
        post_count, facings, prev_facings, payoff.
        """
        v, i = schema.visits, schema.visit_items
        query = select(
            v.c.visit_id,
            v.c.store_id,
            v.c.display_id,
            v.c.visited_at,
            v.c.source,
            i.c.product_id,
            i.c.pre_count,
            i.c.post_count,
            i.c.facings,
            i.c.prev_facings,
            i.c.payoff,
        ).select_from(v.outerjoin(i, v.c.visit_id == i.c.visit_id))
        if display_id is not None:
            query = query.where(v.c.display_id == display_id)
        if store_id is not None:
            query = query.where(v.c.store_id == store_id)
        if since is not None:
            query = query.where(v.c.visited_at >= since)
        if until is not None:
            query = query.where(v.c.visited_at < until)
        query = query.order_by(v.c.display_id, v.c.visited_at, v.c.visit_id, i.c.product_id)
        with self.engine.connect() as conn:
            result = conn.execute(query)
            frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        frame["visited_at"] = pd.to_datetime(frame["visited_at"])
        for col in ("facings", "prev_facings"):
            frame[col] = frame[col].astype("Int64")
        return frame

    # ------------------------------------------------------------------ recommendations
    def add_recommendation_run(self, run: RecommendationRun) -> int:
        """Store a recommendation run with every display's items and layout, all or nothing.

        Every display, store and product it names must be stored already (foreign keys); a
        failure stores nothing. Returns the new ``run_id``.
        """
        known_displays = {d.display_id: d.store_id for d in self.list_displays()}
        known_products = {p.product_id for p in self.list_products()}
        for rec in run.recommendations:
            named = [it.product_id for it in rec.items]
            if rec.planogram is not None:
                named += [pos.product_id for pos in rec.planogram.positions]
            unknown = sorted(set(named) - known_products)
            if unknown:
                raise NotFoundError(
                    f"product_id {unknown[0]!r} in the recommendation for display "
                    f"{rec.display_id!r} is not stored"
                )
            if rec.display_id not in known_displays:
                raise NotFoundError(
                    f"display_id {rec.display_id!r} of the recommendation is not stored"
                )
            if known_displays[rec.display_id] != rec.store_id:
                raise StorageError(
                    f"recommendation for display {rec.display_id!r} names store "
                    f"{rec.store_id!r}; the display is stored at {known_displays[rec.display_id]!r}"
                )
        item_rows = [
            {
                "display_id": rec.display_id,
                "product_id": it.product_id,
                "store_id": rec.store_id,
                "facings": it.facings,
                "previous_facings": it.previous_facings,
                "action": it.action,
                "expected_payoff": it.expected_payoff,
                "pepf": it.pepf,
                "layout_note": rec.layout_note[: schema.TEXT],
            }
            for rec in run.recommendations
            for it in rec.items
        ]
        position_rows = [
            {
                "display_id": rec.display_id,
                "position_no": n,
                "shelf_index": pos.shelf_index,
                "x_cm": pos.x_cm,
                "product_id": pos.product_id,
                "facings_wide": pos.facings_wide,
                "facings_high": pos.facings_high,
                "facings_deep": pos.facings_deep,
            }
            for rec in run.recommendations
            if rec.planogram is not None
            for n, pos in enumerate(rec.planogram.positions)
        ]
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(schema.recommendation_runs).values(
                    policy=run.policy,
                    created_at=run.created_at,
                    parameters=json.dumps(dict(run.parameters), sort_keys=True),
                )
            )
            key = result.inserted_primary_key
            if key is None or key[0] is None:  # pragma: no cover - every backend returns it
                raise StorageError("the database did not return the new recommendation run_id")
            run_id = int(key[0])
            if item_rows:
                conn.execute(
                    insert(schema.recommendations), [{"run_id": run_id, **r} for r in item_rows]
                )
            if position_rows:
                conn.execute(
                    insert(schema.recommended_positions),
                    [{"run_id": run_id, **r} for r in position_rows],
                )
        return run_id

    def recommendation_runs(self) -> pd.DataFrame:
        """Stored recommendation runs, newest last: run_id, policy, created_at, parameters."""
        t = schema.recommendation_runs
        with self.engine.connect() as conn:
            result = conn.execute(select(t).order_by(t.c.run_id))
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def recommendations_frame(self, run_id: int | None = None) -> pd.DataFrame:
        """Items of one run (default: the newest), one row per display and product.

        Columns: run_id, display_id, product_id, store_id, facings, previous_facings, action,
        expected_payoff, pepf, layout_note. Raises :class:`NotFoundError` when there is no run.
        """
        run_id = self._run_id(run_id)
        t = schema.recommendations
        query = select(t).where(t.c.run_id == run_id).order_by(t.c.display_id, t.c.product_id)
        with self.engine.connect() as conn:
            result = conn.execute(query)
            return pd.DataFrame(result.fetchall(), columns=list(result.keys()))

    def recommended_planogram(self, display_id: str, run_id: int | None = None) -> Planogram:
        """The laid-out recommendation of a display in a run (default: the newest run).

        The planogram's ``version`` is the run id and its provenance ``recommendation:<run_id>``.
        Raises :class:`NotFoundError` when the run has no layout for the display.
        """
        run_id = self._run_id(run_id)
        t = schema.recommended_positions
        query = (
            select(t)
            .where(t.c.run_id == run_id, t.c.display_id == display_id)
            .order_by(t.c.position_no)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).fetchall()
        if not rows:
            raise NotFoundError(
                f"recommendation run {run_id} has no layout for display_id {display_id!r}"
            )
        positions = tuple(
            Position(
                shelf_index=int(r.shelf_index),
                x_cm=float(r.x_cm),
                product_id=str(r.product_id),
                facings_wide=int(r.facings_wide),
                facings_high=int(r.facings_high),
                facings_deep=int(r.facings_deep),
            )
            for r in rows
        )
        return Planogram(display_id, run_id, positions, provenance=f"recommendation:{run_id}")

    def _run_id(self, run_id: int | None) -> int:
        t = schema.recommendation_runs
        with self.engine.connect() as conn:
            if run_id is None:
                newest = conn.execute(select(func.max(t.c.run_id))).scalar_one()
                if newest is None:
                    raise NotFoundError(
                        "no recommendation run is stored; run `shelfwise recommend` first"
                    )
                return int(newest)
            found = conn.execute(select(t.c.run_id).where(t.c.run_id == run_id)).scalar()
        if found is None:
            raise NotFoundError(f"run_id {run_id} is not a stored recommendation run")
        return int(run_id)
