"""Set-based writes of pandas frames into tables, keyed by the table's primary key.

Rows whose key is new are inserted in bulk (one executemany per chunk, or PostgreSQL ``COPY``);
rows whose key exists are either left alone (``on_conflict="ignore"``, for immutable events such
as visits) or updated when their values differ (``on_conflict="update"``, for master data such
as products). The caller owns the transaction, so a failure anywhere rolls everything back.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, and_, bindparam, insert, select, update

from shelfwise.exceptions import InvalidParameterError, StorageError

_CHUNK = 5_000


@dataclass(frozen=True)
class WriteCounts:
    """What a bulk write did to one table."""

    table: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.table,
            self.new + other.new,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


def _chunks(values: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Frame rows as dicts of plain Python values, with None for missing cells."""
    out = frame.astype(object)
    out = out.where(frame.notna(), None)
    records: list[dict[str, Any]] = out.to_dict("records")  # type: ignore[assignment]
    return records


def existing_rows(conn: Connection, table: Table, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``table`` whose primary key matches a row of ``frame`` (all table columns)."""
    key = [c.name for c in table.primary_key.columns]
    first = table.c[key[0]]
    values = pd.unique(frame[key[0]]).tolist()
    parts = []
    for chunk in _chunks(values):
        result = conn.execute(select(table).where(first.in_(chunk)))
        parts.append(pd.DataFrame(result.fetchall(), columns=list(result.keys())))
    if not parts:
        return pd.DataFrame(columns=[c.name for c in table.columns])
    found = pd.concat(parts, ignore_index=True)
    if len(key) > 1 and not found.empty:
        found = found.merge(frame[key].drop_duplicates(), on=key, how="inner")
    return found


def _plain(value: Any) -> Any:
    """A numpy or pandas scalar as a plain Python value (for messages)."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise equality that treats two missing values as equal."""
    both_missing = a.isna().to_numpy() & b.isna().to_numpy()
    if pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b):
        a, b = pd.to_datetime(a), pd.to_datetime(b)
    elif pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        av, bv = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
        close: np.ndarray = both_missing | np.isclose(av, bv, rtol=1e-12, atol=0.0)
        return close
    eq = (a.astype(object) == b.astype(object)).to_numpy(dtype=bool, na_value=False)
    return both_missing | eq


@dataclass(frozen=True)
class Conflict:
    """An incoming row whose key is stored with different values (see ``immutable``)."""

    index: Any
    """Index label of the incoming row in the frame given to :func:`write_frame`."""
    column: str
    incoming: Any
    stored: Any


class ConflictError(StorageError):
    """Rows of an immutable table arrived again with different values."""

    def __init__(self, table: str, conflicts: list[Conflict]) -> None:
        self.table = table
        self.conflicts = conflicts
        first = conflicts[0]
        super().__init__(
            f"{len(conflicts)} row(s) of {table} are stored with other values; first: column "
            f"{first.column!r} is stored as {first.stored!r}, got {first.incoming!r}"
        )


def write_frame(
    conn: Connection,
    table: Table,
    frame: pd.DataFrame,
    *,
    on_conflict: Literal["ignore", "update", "immutable"],
    update_columns: Sequence[str] | None = None,
) -> WriteCounts:
    """Insert the new rows of ``frame`` into ``table``; ignore, update or check the others.

    Parameters
    ----------
    conn : Connection
        Open connection inside the caller's transaction.
    table : Table
        Target table; ``frame`` must hold its primary-key columns and may hold any others.
    frame : DataFrame
        Rows to write; keys must be unique within the frame.
    on_conflict : {"ignore", "update", "immutable"}
        What to do with rows whose key is already stored: leave them; update the columns
        that differ; or raise :class:`ConflictError` if any value differs (events).
    update_columns : sequence of str, optional
        With ``"update"``, only these columns are compared and updated (e.g. the columns a
        file actually had, so a file without ``price`` never erases stored prices). Default:
        every non-key column of ``frame``.

    Returns
    -------
    WriteCounts
        Numbers of new, updated and unchanged rows.
    """
    if on_conflict not in ("ignore", "update", "immutable"):
        raise InvalidParameterError(
            f"on_conflict must be 'ignore', 'update' or 'immutable'; got {on_conflict!r}"
        )
    if frame.empty:
        return WriteCounts(table.name)
    key = [c.name for c in table.primary_key.columns]
    unknown = sorted(set(frame.columns) - set(table.c.keys()))
    if unknown:
        raise InvalidParameterError(f"frame has columns not in table {table.name}: {unknown}")
    stored = existing_rows(conn, table, frame)
    if stored.empty:
        new = frame
        matched = frame.iloc[0:0]
    else:
        marker = stored[key].assign(_stored=True)
        joined = frame.merge(marker, on=key, how="left")
        is_new = joined["_stored"].isna().to_numpy()
        new = frame.loc[is_new]
        matched = frame.loc[~is_new]
    value_cols = [c for c in frame.columns if c not in key]
    if on_conflict == "update" and update_columns is not None:
        value_cols = [c for c in value_cols if c in set(update_columns)]
    if matched.empty or on_conflict == "ignore" or not value_cols:
        _insert(conn, table, new)
        return WriteCounts(table.name, new=len(new), unchanged=len(matched))
    both = matched.merge(stored[key + value_cols], on=key, how="left", suffixes=("", "__db"))
    same = np.ones(len(both), dtype=bool)
    conflicts: list[Conflict] = []
    for col in value_cols:
        equal = _same(both[col], both[f"{col}__db"])
        same &= equal
        if on_conflict == "immutable":
            for i in np.flatnonzero(~equal)[:50]:
                conflicts.append(
                    Conflict(
                        matched.index[i],
                        col,
                        _plain(both[col].iloc[i]),
                        _plain(both[f"{col}__db"].iloc[i]),
                    )
                )
    if conflicts:
        raise ConflictError(table.name, conflicts)
    _insert(conn, table, new)
    changed = matched.loc[~same]
    if not changed.empty:
        stmt = (
            update(table)
            .where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in key)))
            .values({c: bindparam(f"v_{c}") for c in value_cols})
        )
        rows = [
            {**{f"k_{k}": r[k] for k in key}, **{f"v_{c}": r[c] for c in value_cols}}
            for r in _records(changed)
        ]
        conn.execute(stmt, rows)
    return WriteCounts(table.name, new=len(new), updated=len(changed), unchanged=int(same.sum()))


def _insert(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    if frame.empty:
        return
    if conn.dialect.name == "postgresql" and len(frame) >= 1_000:
        _copy_postgres(conn, table, frame)
        return
    records = _records(frame)
    for chunk in _chunks(records, 20_000):
        conn.execute(insert(table), chunk)


def _copy_postgres(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Bulk insert with PostgreSQL ``COPY ... FROM STDIN`` (psycopg 3), inside the transaction."""
    cols = list(frame.columns)
    raw = conn.connection.driver_connection
    quoted = ", ".join(f'"{c}"' for c in cols)
    with (
        raw.cursor() as cur,  # type: ignore[union-attr]
        cur.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy,
    ):
        for row in _records(frame):
            copy.write_row([row[c] for c in cols])
