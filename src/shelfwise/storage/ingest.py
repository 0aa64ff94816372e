"""Ingest CSV / Parquet files into the database: validate everything, then write in one go.

Every file is read and checked against its layout (:mod:`shelfwise.data.validate`) and every
reference (store, display, product) is resolved against what is stored plus what the same
ingest brings, *before* anything is written. The writes then happen in a single transaction,
parents before children, so a bad file leaves the database exactly as it was, and re-ingesting
the same files changes nothing (natural keys; see :mod:`shelfwise.storage.bulk`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pandas as pd
from sqlalchemy import Connection, insert, select

from shelfwise.data.io import SUPPORTED_SUFFIXES, check_columns, detect_layout, read_table
from shelfwise.data.layouts import DEPENDENCY_ORDER, LAYOUTS, LayoutName
from shelfwise.data.validate import ProblemLog, check_references, parse_table
from shelfwise.exceptions import DataProblem, DataValidationError
from shelfwise.storage import schema
from shelfwise.storage.bulk import WriteCounts, write_frame
from shelfwise.storage.repository import Repository

Mode = Literal["ignore", "update"]
_EVENTS = {"visits", "visit_items", "planograms", "positions"}


@dataclass(frozen=True)
class ParsedFile:
    """A validated input file."""

    path: Path
    layout: LayoutName
    frame: pd.DataFrame
    sha256: str


@dataclass(frozen=True)
class FileResult:
    """What ingesting one file did."""

    file: str
    layout: LayoutName
    rows: int
    writes: tuple[WriteCounts, ...]

    @property
    def new_rows(self) -> int:
        """Rows newly stored, over all tables this file wrote."""
        return sum(w.new for w in self.writes)


@dataclass(frozen=True)
class IngestReport:
    """What an ingest stored, file by file."""

    files: tuple[FileResult, ...]

    def totals(self) -> dict[str, WriteCounts]:
        """Write counts summed per table."""
        out: dict[str, WriteCounts] = {}
        for f in self.files:
            for w in f.writes:
                out[w.table] = out[w.table] + w if w.table in out else w
        return out


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, plus the CSV / Parquet files inside any folder named (sorted)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in SUPPORTED_SUFFIXES))
        else:
            out.append(p)
    return out


def parse_file(path: Path, *, layout: LayoutName | None = None) -> ParsedFile:
    """Read and validate one file (layout detected from its columns unless given)."""
    raw = read_table(path)
    columns = list(raw.columns)
    if layout is None:
        lay = detect_layout(columns, file=str(path))
    else:
        lay = LAYOUTS[layout]
        check_columns(columns, lay, file=str(path))
    frame = parse_table(raw, lay, file=str(path))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return ParsedFile(path, lay.name, frame, digest)


def _keys(conn: Connection, column: str, table: str) -> set[str]:
    t = schema.metadata.tables[table]
    return {str(v) for v in conn.execute(select(t.c[column])).scalars()}


class _Known:
    """Keys already stored plus keys brought by this ingest."""

    def __init__(self, conn: Connection) -> None:
        self.stores = _keys(conn, "store_id", "stores")
        self.products = _keys(conn, "product_id", "products")
        self.displays = _keys(conn, "display_id", "displays")
        rows = conn.execute(select(schema.displays.c.display_id, schema.displays.c.store_id))
        self.display_store: dict[str, str] = {r.display_id: r.store_id for r in rows}

    def add(self, pf: ParsedFile) -> None:
        f = pf.frame
        if pf.layout == LayoutName.STORES:
            self.stores |= set(f["store_id"])
        elif pf.layout == LayoutName.PRODUCTS:
            self.products |= set(f["product_id"])
        elif pf.layout == LayoutName.DISPLAYS:
            self.displays |= set(f["display_id"])
            self.display_store.update(zip(f["display_id"], f["store_id"], strict=True))
        elif pf.layout == LayoutName.EDGEREC3D:
            self.stores |= set(f["store_id"])
            self.products |= set(f["product_id"])
            pairs = f[["display_id", "store_id"]].drop_duplicates("display_id")
            for d, s in zip(pairs["display_id"], pairs["store_id"], strict=True):
                self.displays.add(d)
                self.display_store.setdefault(d, s)


def _check_display_store(pf: ParsedFile, known: _Known) -> None:
    f = pf.frame
    expected = f["display_id"].map(known.display_store)
    bad = (expected.notna() & (expected != f["store_id"])).to_numpy(dtype=bool)
    if bad.any():
        log = ProblemLog(str(pf.path))
        log.add_rows(bad, "store_id", f["store_id"], "must be the store the display belongs to")
        log.raise_if_any()


def _check_refs(pf: ParsedFile, known: _Known) -> None:
    file = str(pf.path)
    f = pf.frame
    checks: dict[LayoutName, list[tuple[str, set[str], str]]] = {
        LayoutName.DISPLAYS: [("store_id", known.stores, "store")],
        LayoutName.SHELVES: [("display_id", known.displays, "display")],
        LayoutName.PLANOGRAMS: [
            ("display_id", known.displays, "display"),
            ("product_id", known.products, "product"),
        ],
        LayoutName.VISITS: [
            ("store_id", known.stores, "store"),
            ("display_id", known.displays, "display"),
            ("product_id", known.products, "product"),
        ],
    }
    for column, keys, what in checks.get(pf.layout, []):
        check_references(f, column, keys, what=what, file=file)
    if pf.layout in (LayoutName.VISITS, LayoutName.EDGEREC3D):
        _check_display_store(pf, known)


def _tables(pf: ParsedFile) -> list[tuple[str, pd.DataFrame, Mode]]:
    """Table-shaped frames (with conflict mode) for one validated file."""
    f = pf.frame
    name = pf.layout
    if name == LayoutName.STORES:
        return [("stores", f, "update")]
    if name == LayoutName.PRODUCTS:
        p = f.copy()
        p["currency"] = p["currency"].fillna("USD").str.upper()
        p["age_restricted"] = p["age_restricted"].fillna(False).astype(bool)
        return [("products", p, "update")]
    if name == LayoutName.TRACTS:
        head_cols = ["tract_id", "name", "lat", "lon", "population"]
        feats = f.drop(columns=head_cols).columns.tolist()
        long = f.melt(
            id_vars=["tract_id"], value_vars=feats, var_name="feature", value_name="value"
        ).dropna(subset=["value"])
        return [("tracts", f[head_cols], "update"), ("tract_features", long, "update")]
    if name == LayoutName.DISPLAYS:
        return [("displays", f, "update")]
    if name == LayoutName.SHELVES:
        return [("shelves", f, "update")]
    if name == LayoutName.PLANOGRAMS:
        heads = f.drop_duplicates(["display_id", "version"])[
            ["display_id", "version", "provenance", "effective_from"]
        ].copy()
        heads["provenance"] = heads["provenance"].fillna(f"file:{pf.path.name}")
        pos = f.sort_values(["display_id", "version", "shelf_index", "x_cm"]).copy()
        pos["position_no"] = pos.groupby(["display_id", "version"]).cumcount()
        pos = pos.drop(columns=["provenance", "effective_from"])
        return [("planograms", heads, "ignore"), ("positions", pos, "ignore")]
    if name == LayoutName.VISITS:
        heads = f.drop_duplicates("visit_id")[
            ["visit_id", "store_id", "display_id", "visited_at"]
        ].assign(source="visits")
        items = f[["visit_id", "product_id", "pre_count", "post_count", "facings"]]
        return [("visits", heads, "ignore"), ("visit_items", items, "ignore")]
    # EdgeRec3D's published layout: stores, products and displays are implied by the log.
    f = f.sort_values(["display_id", "last_scanned_datetime"], kind="stable").copy()
    f["visit_id"] = (
        f["display_id"] + "@" + f["last_scanned_datetime"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    )
    stores = f.drop_duplicates("store_id")[["store_id", "store_name"]].rename(
        columns={"store_name": "name"}
    )
    products = f.drop_duplicates("product_id")[["product_id", "name"]].assign(
        currency="USD", age_restricted=False
    )
    displays = (
        f.drop_duplicates("display_id", keep="last")[
            ["display_id", "store_id", "max_slots", "display_extra_info"]
        ]
        .rename(columns={"display_extra_info": "name"})
        .assign(kind="other")
    )
    heads = (
        f.drop_duplicates("visit_id")[
            ["visit_id", "store_id", "display_id", "last_scanned_datetime"]
        ]
        .rename(columns={"last_scanned_datetime": "visited_at"})
        .assign(source="edgerec3d")
    )
    items = f[["visit_id", "product_id", "previous_post_scan_num_facings", "payoff"]].rename(
        columns={"previous_post_scan_num_facings": "prev_facings"}
    )
    return [
        ("stores", stores, "ignore"),
        ("products", products, "ignore"),
        ("displays", displays, "ignore"),
        ("visits", heads, "ignore"),
        ("visit_items", items, "ignore"),
    ]


def ingest_files(
    repo: Repository,
    paths: Sequence[str | Path],
    *,
    layout: LayoutName | None = None,
    on_file: Callable[[Path, int, int], None] | None = None,
) -> IngestReport:
    """Validate and store CSV / Parquet files; all or nothing.

    Parameters
    ----------
    repo : Repository
        Target database (migrated).
    paths : sequence of path
        Files, or folders whose CSV / Parquet files are all ingested.
    layout : LayoutName, optional
        Force one layout for every file instead of detecting it from the columns.
    on_file : callable, optional
        Called as ``on_file(path, done, total)`` after each file is read and validated
        (for progress bars).

    Returns
    -------
    IngestReport
        Per file: its layout, its rows and what each table gained.

    Raises
    ------
    DataValidationError
        If any file breaks a rule; nothing is written then.
    """
    files = expand_paths(paths)
    if not files:
        raise DataValidationError(
            [
                DataProblem(
                    ", ".join(map(str, paths)) or "(none)",
                    None,
                    None,
                    None,
                    "paths must name at least one CSV or Parquet file",
                )
            ]
        )
    parsed: list[ParsedFile] = []
    for i, path in enumerate(files):
        parsed.append(parse_file(path, layout=layout))
        if on_file is not None:
            on_file(path, i + 1, len(files))
    parsed.sort(key=lambda pf: DEPENDENCY_ORDER.index(pf.layout))
    results: list[FileResult] = []
    with repo.engine.begin() as conn:
        known = _Known(conn)
        for pf in parsed:
            known.add(pf)
        for pf in parsed:
            _check_refs(pf, known)
        now = datetime.now(UTC).replace(tzinfo=None)
        for pf in parsed:
            writes = []
            for table, frame, mode in _tables(pf):
                mode = "ignore" if table in _EVENTS else mode
                writes.append(
                    write_frame(conn, schema.metadata.tables[table], frame, on_conflict=mode)
                )
            result = FileResult(str(pf.path), pf.layout, len(pf.frame), tuple(writes))
            results.append(result)
            conn.execute(
                insert(schema.ingest_runs),
                [
                    {
                        "file": str(pf.path),
                        "sha256": pf.sha256,
                        "layout": pf.layout.value,
                        "rows_read": len(pf.frame),
                        "rows_new": result.new_rows,
                        "ingested_at": now,
                    }
                ],
            )
    return IngestReport(tuple(results))
