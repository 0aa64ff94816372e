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

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import DBAPIError

from shelfwise.data.io import SUPPORTED_SUFFIXES, check_columns, detect_layout, read_table
from shelfwise.data.layouts import DEPENDENCY_ORDER, LAYOUTS, LayoutName
from shelfwise.data.validate import ProblemLog, check_references, parse_table
from shelfwise.exceptions import DataProblem, DataValidationError, StorageError
from shelfwise.storage import schema
from shelfwise.storage.bulk import ConflictError, WriteCounts, write_frame
from shelfwise.storage.repository import Repository

Mode = Literal["ignore", "update", "immutable"]


@dataclass(frozen=True)
class ParsedFile:
    """A validated input file."""

    path: Path
    layout: LayoutName
    frame: pd.DataFrame
    sha256: str
    present: frozenset[str] = frozenset()
    """Columns the file actually had (a missing optional column never erases stored data)."""


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
    return ParsedFile(path, lay.name, frame, digest, frozenset(columns))


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
        self.stored_display_store: dict[str, str] = {r.display_id: r.store_id for r in rows}
        self.display_store: dict[str, str] = dict(self.stored_display_store)

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


@dataclass(frozen=True)
class _TableWrite:
    table: str
    frame: pd.DataFrame
    mode: Mode
    update_columns: tuple[str, ...] | None = None


def _master(pf: ParsedFile, table: str, frame: pd.DataFrame) -> _TableWrite:
    """Master data: update changed rows, but only in columns the file had."""
    return _TableWrite(table, frame, "update", tuple(c for c in frame.columns if c in pf.present))


def _edgerec3d_visit_ids(f: pd.DataFrame) -> pd.Series:
    """``display_id@time`` to the second, or to the microsecond when the time has a fraction."""
    t = f["last_scanned_datetime"]
    whole = t.dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = t.dt.strftime(".%f").where(t.dt.microsecond != 0, "")
    ids: pd.Series = f["display_id"] + "@" + whole + frac
    return ids


def _tables(pf: ParsedFile) -> list[_TableWrite]:
    """Table-shaped frames for one validated file, with how to treat stored keys.

    Frames keep the parsed file's index, so conflicts can be traced back to file rows.
    """
    f = pf.frame
    name = pf.layout
    if name == LayoutName.STORES:
        return [_master(pf, "stores", f)]
    if name == LayoutName.PRODUCTS:
        p = f.copy()
        p["currency"] = p["currency"].fillna("USD").str.upper()
        p["age_restricted"] = p["age_restricted"].fillna(False).astype(bool)
        return [_master(pf, "products", p)]
    if name == LayoutName.TRACTS:
        head_cols = ["tract_id", "name", "lat", "lon", "population"]
        feats = f.drop(columns=head_cols).columns.tolist()
        long = f.melt(
            id_vars=["tract_id"], value_vars=feats, var_name="feature", value_name="value"
        ).dropna(subset=["value"])
        return [_master(pf, "tracts", f[head_cols]), _TableWrite("tract_features", long, "update")]
    if name == LayoutName.DISPLAYS:
        return [_master(pf, "displays", f)]
    if name == LayoutName.SHELVES:
        return [_master(pf, "shelves", f)]
    if name == LayoutName.PLANOGRAMS:
        heads = f.drop_duplicates(["display_id", "version"])[
            ["display_id", "version", "provenance", "effective_from"]
        ].copy()
        heads["provenance"] = heads["provenance"].fillna(f"file:{pf.path.name}")
        pos = f.sort_values(["display_id", "version", "shelf_index", "x_cm"]).copy()
        pos["position_no"] = pos.groupby(["display_id", "version"]).cumcount()
        pos = pos.drop(columns=["provenance", "effective_from"])
        # Whole versions are compared before writing (see _check_planogram_versions).
        return [_TableWrite("planograms", heads, "ignore"), _TableWrite("positions", pos, "ignore")]
    if name == LayoutName.VISITS:
        heads = f.drop_duplicates("visit_id")[
            ["visit_id", "store_id", "display_id", "visited_at"]
        ].assign(source="visits")
        items = f[["visit_id", "product_id", "pre_count", "post_count", "facings"]]
        return [
            _TableWrite("visits", heads, "immutable"),
            _TableWrite("visit_items", items, "immutable"),
        ]
    # EdgeRec3D's published layout: stores, products and displays are implied by the log and
    # created when missing (never changed by it: it carries no master data worth trusting).
    f = f.assign(visit_id=_edgerec3d_visit_ids(f))
    stores = f.drop_duplicates("store_id")[["store_id", "store_name"]].rename(
        columns={"store_name": "name"}
    )
    products = f.drop_duplicates("product_id")[["product_id", "name"]].assign(
        currency="USD", age_restricted=False
    )
    displays = (
        f.sort_values("last_scanned_datetime", kind="stable")
        .drop_duplicates("display_id", keep="last")[
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
        _TableWrite("stores", stores, "ignore"),
        _TableWrite("products", products, "ignore"),
        _TableWrite("displays", displays, "ignore"),
        _TableWrite("visits", heads, "immutable"),
        _TableWrite("visit_items", items, "immutable"),
    ]


def _check_across_files(parsed: list[ParsedFile]) -> None:
    """A key may come from one file of a layout only (else which one wins would be a guess)."""
    by_layout: dict[LayoutName, list[ParsedFile]] = {}
    for pf in parsed:
        by_layout.setdefault(pf.layout, []).append(pf)
    for name, files in by_layout.items():
        if len(files) < 2:
            continue
        key = list(LAYOUTS[name].key)
        seen: dict[tuple[object, ...], str] = {}
        for pf in files:
            log = ProblemLog(str(pf.path))
            keys = list(pf.frame[key].itertuples(index=False, name=None))
            clash = np.array([k in seen for k in keys], dtype=bool)
            if clash.any():
                first = seen[keys[int(np.flatnonzero(clash)[0])]]
                text = pd.Series(["/".join(map(str, k)) for k in keys])
                log.add_rows(
                    clash,
                    "/".join(key),
                    text,
                    f"({', '.join(key)}) must come from one file per ingest; it is also in {first}",
                )
                log.raise_if_any()
            seen.update(dict.fromkeys(keys, str(pf.path)))


def _check_planogram_versions(conn: Connection, pf: ParsedFile) -> None:
    """A stored planogram version is immutable: arriving again, it must be identical."""
    f = pf.frame
    pairs = f[["display_id", "version"]].drop_duplicates()
    p = schema.positions
    log = ProblemLog(str(pf.path))
    cols = ["shelf_index", "x_cm", "product_id", "facings_wide", "facings_high", "facings_deep"]
    for display_id, version in pairs.itertuples(index=False, name=None):
        rows = conn.execute(
            select(*(p.c[c] for c in cols)).where(
                p.c.display_id == display_id, p.c.version == int(version)
            )
        ).all()
        if (
            not rows
            and not conn.execute(
                select(schema.planograms.c.version).where(
                    schema.planograms.c.display_id == display_id,
                    schema.planograms.c.version == int(version),
                )
            ).first()
        ):
            continue
        mine = f[(f["display_id"] == display_id) & (f["version"] == version)]
        stored = sorted((r[0], float(r[1]), r[2], r[3], r[4], r[5]) for r in rows)
        incoming = sorted(
            (int(a), float(b), c, int(d), int(e), int(g))
            for a, b, c, d, e, g in mine[cols].itertuples(index=False, name=None)
        )
        if stored != incoming:
            mask = np.zeros(len(f), dtype=bool)
            mask[f.index.get_loc(mine.index[0])] = True
            log.add_rows(
                mask,
                "version",
                f["version"],
                f"planogram version {version} of display {display_id} is already "
                "stored with other positions; store a change as a new version",
            )
    log.raise_if_any()


def _check_display_moves(conn: Connection, pf: ParsedFile, known: _Known) -> None:
    """A display with stored visits may not move to another store."""
    f = pf.frame
    stored_store = f["display_id"].map(known.stored_display_store)
    moved = (stored_store.notna() & (stored_store != f["store_id"])).to_numpy(dtype=bool)
    if not moved.any():
        return
    ids = f.loc[moved, "display_id"].tolist()
    with_visits = set(
        conn.execute(
            select(schema.visits.c.display_id).where(schema.visits.c.display_id.in_(ids)).distinct()
        ).scalars()
    )
    bad = moved & f["display_id"].isin(with_visits).to_numpy()
    log = ProblemLog(str(pf.path))
    log.add_rows(
        bad,
        "store_id",
        f["store_id"],
        "must stay the display's stored store: the display has visits there",
    )
    log.raise_if_any()


def _check_one_layout_per_display(conn: Connection, parsed: list[ParsedFile]) -> None:
    """A display's visits come in one log layout only.

    shelfwise's own layout and EdgeRec3D's describe the same visits differently (visit ids,
    counts vs payoffs); storing both for one display would count its sales twice.
    """
    rows = conn.execute(select(schema.visits.c.display_id, schema.visits.c.source).distinct())
    layout_of: dict[str, str] = {r.display_id: r.source for r in rows}
    for pf in parsed:
        if pf.layout not in (LayoutName.VISITS, LayoutName.EDGEREC3D):
            continue
        source = pf.layout.value
        displays = pf.frame["display_id"]
        other = displays.map(layout_of)
        clash = (other.notna() & (other != source)).to_numpy(dtype=bool)
        log = ProblemLog(str(pf.path))
        log.add_rows(
            clash,
            "display_id",
            displays,
            f"must not get {source}-layout visits: the display already has visits "
            "in the other log layout (the same visits twice would double its sales)",
        )
        log.raise_if_any()
        layout_of.update(dict.fromkeys(pd.unique(displays), source))


def _conflict_problems(pf: ParsedFile, exc: ConflictError) -> DataValidationError:
    problems = [
        DataProblem(
            str(pf.path),
            int(c.index) + 1,  # parsed frames carry a 0-based RangeIndex
            c.column,
            c.incoming,
            f"must equal the stored {exc.table} row with this key (stored: {c.stored!r}); "
            "stored visits are immutable",
        )
        for c in exc.conflicts
    ]
    return DataValidationError(problems, truncated=len(exc.conflicts) >= 50)


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
    _check_across_files(parsed)
    try:
        return _store(repo, parsed)
    except DBAPIError as exc:
        raise StorageError(
            f"the database refused the ingest and nothing was stored: {exc.orig}"
        ) from exc


def _store(repo: Repository, parsed: list[ParsedFile]) -> IngestReport:
    """Check references against the database, then write everything in one transaction."""
    results: list[FileResult] = []
    with repo.engine.begin() as conn:
        known = _Known(conn)
        for pf in parsed:
            known.add(pf)
        _check_one_layout_per_display(conn, parsed)
        for pf in parsed:
            _check_refs(pf, known)
            if pf.layout == LayoutName.DISPLAYS:
                _check_display_moves(conn, pf, known)
            if pf.layout == LayoutName.PLANOGRAMS:
                _check_planogram_versions(conn, pf)
        now = datetime.now(UTC).replace(tzinfo=None)
        for pf in parsed:
            writes = []
            for tw in _tables(pf):
                try:
                    writes.append(
                        write_frame(
                            conn,
                            schema.metadata.tables[tw.table],
                            tw.frame,
                            on_conflict=tw.mode,
                            update_columns=tw.update_columns,
                        )
                    )
                except ConflictError as exc:
                    raise _conflict_problems(pf, exc) from exc
            result = FileResult(str(pf.path), pf.layout, len(pf.frame), tuple(writes))
            results.append(result)
            conn.execute(
                insert(schema.ingest_runs),
                [
                    {
                        "file": str(pf.path.resolve()),
                        "sha256": pf.sha256,
                        "layout": pf.layout.value,
                        "rows_read": len(pf.frame),
                        "rows_new": result.new_rows,
                        "ingested_at": now,
                    }
                ],
            )
    return IngestReport(tuple(results))
