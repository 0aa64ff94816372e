"""Planogram positions as tables (CSV or Parquet) in the ingest layout ``planograms``.

One row per position: ``display_id, version, shelf_index, x_cm, product_id, facings_wide,
facings_high, facings_deep, provenance, effective_from`` (see
:mod:`shelfwise.data.layouts`). Rows of one ``(display_id, version)`` form one planogram, with
its positions in row order; planograms come back in the order they first appear.

Round trip: :func:`write_planograms` then :func:`read_planograms` gives equal planograms, with
two documented exceptions: a planogram without positions has no rows and does not come back,
and a timezone-aware ``effective_from`` comes back as the same instant in naive UTC (the
layout's convention). ``x_cm`` is written with Python's shortest round-tripping ``repr``, so
it comes back exactly; CSV is written as RFC 4180 (UTF-8, CRLF, cells holding a comma, quote
or line break quoted). The layout's rules apply to what is read: text is stripped of
surrounding blanks, the texts ``nan``, ``none``, ``null`` and ``<na>`` read as empty, and
``(display_id, version, shelf_index, x_cm)`` must be unique (so the writer refuses two
positions of one planogram at the same shelf and x).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from shelfwise.data.io import check_columns, read_table
from shelfwise.data.layouts import LAYOUTS, LayoutName
from shelfwise.data.validate import parse_table
from shelfwise.domain import Planogram, Position
from shelfwise.exceptions import DataProblem, DataValidationError, InvalidParameterError

LAYOUT = LAYOUTS[LayoutName.PLANOGRAMS]
COLUMNS: tuple[str, ...] = tuple(c.name for c in LAYOUT.columns)
CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")


def _naive_utc(when: datetime | None) -> datetime | None:
    if when is None or when.tzinfo is None:
        return when
    return when.astimezone(UTC).replace(tzinfo=None)


def planograms_to_frame(planograms: Iterable[Planogram]) -> pd.DataFrame:
    """One row per position, in the ``planograms`` layout's column order.

    Integer columns are ``int64``, ``x_cm`` is ``float64`` and ``effective_from`` is
    ``datetime64`` (naive UTC; missing as ``NaT``).
    """
    rows = [
        (
            g.display_id,
            g.version,
            p.shelf_index,
            p.x_cm,
            p.product_id,
            p.facings_wide,
            p.facings_high,
            p.facings_deep,
            g.provenance,
            _naive_utc(g.effective_from),
        )
        for g in planograms
        for p in g.positions
    ]
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for name in ("version", "shelf_index", "facings_wide", "facings_high", "facings_deep"):
        frame[name] = frame[name].astype("int64")
    frame["x_cm"] = frame["x_cm"].astype("float64")
    for name in ("display_id", "product_id", "provenance"):
        frame[name] = frame[name].astype(object)
    frame["effective_from"] = pd.to_datetime(frame["effective_from"]).astype("datetime64[us]")
    return frame


def planograms_from_frame(
    frame: pd.DataFrame, *, file: str = "<frame>", default_provenance: str = "unknown"
) -> list[Planogram]:
    """Planograms from a table in the ``planograms`` layout, validated cell by cell.

    Parameters
    ----------
    frame : pandas.DataFrame
        Raw table (text or typed cells).
    file : str
        Name used in error messages.
    default_provenance : str
        Provenance of planograms whose ``provenance`` cells are empty.

    Raises
    ------
    DataValidationError
        Naming file, row and column of every bad cell (via
        :func:`shelfwise.data.validate.parse_table`), a missing required column, or a row the
        domain records reject.
    """
    check_columns([str(c) for c in frame.columns], LAYOUT, file=file)
    table = parse_table(frame, LAYOUT, file=file)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, key in enumerate(zip(table["display_id"], table["version"], strict=True)):
        groups.setdefault((str(key[0]), int(key[1])), []).append(i)
    out = []
    for (display_id, version), rows in groups.items():
        first = rows[0]
        provenance = table["provenance"].iloc[first]
        when = table["effective_from"].iloc[first]
        try:
            positions = tuple(
                Position(
                    shelf_index=int(table["shelf_index"].iloc[i]),
                    x_cm=float(table["x_cm"].iloc[i]),
                    product_id=str(table["product_id"].iloc[i]),
                    facings_wide=int(table["facings_wide"].iloc[i]),
                    facings_high=int(table["facings_high"].iloc[i]),
                    facings_deep=int(table["facings_deep"].iloc[i]),
                )
                for i in rows
            )
            out.append(
                Planogram(
                    display_id=display_id,
                    version=version,
                    positions=positions,
                    provenance=default_provenance if pd.isna(provenance) else str(provenance),
                    effective_from=None if pd.isna(when) else pd.Timestamp(when).to_pydatetime(),
                )
            )
        except InvalidParameterError as exc:
            raise DataValidationError(
                [DataProblem(file, first + 1, None, f"{display_id}/{version}", str(exc))]
            ) from exc
    return out


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + PARQUET_SUFFIXES:
        raise InvalidParameterError(
            f"path suffix must be one of {CSV_SUFFIXES + PARQUET_SUFFIXES} for planogram "
            f"tables; got {suffix!r} ({path})"
        )
    return suffix


def write_planograms(planograms: Iterable[Planogram], path: str | Path) -> None:
    """Write planograms to ``path``: CSV for ``.csv``, Parquet for ``.parquet`` / ``.pq``.

    Raises
    ------
    InvalidParameterError
        If the suffix is neither, or two positions of one planogram share shelf and ``x_cm``
        (the layout's key; such a file could not be read back).
    """
    p = Path(path)
    suffix = _suffix(p)
    frame = planograms_to_frame(planograms)
    clash = frame.duplicated(list(LAYOUT.key), keep=False)
    if clash.any():
        row = frame[clash].iloc[0]
        raise InvalidParameterError(
            f"positions of one planogram must not share the same shelf_index and x_cm (the "
            f"layout's key) for display {row['display_id']} version {row['version']}; got two "
            f"at shelf {row['shelf_index']}, x_cm={row['x_cm']}"
        )
    if suffix in CSV_SUFFIXES:
        text = frame.astype(object)
        text["x_cm"] = [repr(float(x)) for x in frame["x_cm"]]
        text["effective_from"] = [
            "" if pd.isna(t) else pd.Timestamp(t).isoformat(sep=" ")
            for t in frame["effective_from"]
        ]
        text.to_csv(p, index=False, encoding="utf-8", lineterminator="\r\n")
    else:
        frame.to_parquet(p, index=False)


def read_planograms(path: str | Path) -> list[Planogram]:
    """Read planograms written by :func:`write_planograms` (or any file in the layout).

    Empty ``provenance`` cells become ``"file:<file name>"``.

    Raises
    ------
    DataValidationError
        If the file is missing or unreadable, or a cell breaks the layout's rules (naming file,
        row and column).
    InvalidParameterError
        If the suffix is not ``.csv``, ``.parquet`` or ``.pq``.
    """
    p = Path(path)
    _suffix(p)
    frame = read_table(p)
    return planograms_from_frame(frame, file=str(p), default_provenance=f"file:{p.name}")
