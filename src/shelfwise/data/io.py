"""Read CSV / Parquet tables and recognise which shelfwise layout a table is in."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from shelfwise.data.layouts import LAYOUTS, Layout, LayoutName
from shelfwise.exceptions import DataProblem, DataValidationError

_INDEX_COLUMN = re.compile(r"^(Unnamed: \d+|index|)$")

SUPPORTED_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV (all cells as text) or Parquet file (typed) into a frame.

    Raises
    ------
    DataValidationError
        If the file is missing, has an unsupported suffix, or cannot be parsed.
    """
    p = Path(path)
    if not p.is_file():
        raise DataValidationError([DataProblem(str(p), None, None, str(p), "file must exist")])
    suffix = p.suffix.lower()
    try:
        if suffix == ".csv":
            frame = pd.read_csv(
                p, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8-sig"
            )
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(p)
        else:
            raise DataValidationError(
                [
                    DataProblem(
                        str(p),
                        None,
                        None,
                        suffix,
                        f"file suffix must be one of {SUPPORTED_SUFFIXES}",
                    )
                ]
            )
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        if isinstance(exc, DataValidationError):
            raise
        raise DataValidationError(
            [DataProblem(str(p), None, None, type(exc).__name__, f"file must be readable: {exc}")]
        ) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def index_columns(columns: list[str]) -> list[str]:
    """Columns that are a written-out row index (e.g. pandas' ``Unnamed: 0``)."""
    return [c for c in columns if _INDEX_COLUMN.match(c)]


def detect_layout(columns: list[str], *, file: str) -> Layout:
    """The layout whose required columns are all present (the most specific one wins).

    Raises
    ------
    DataValidationError
        If no layout fits; the message names the closest layout and its missing columns.
    """
    present = set(columns)
    fits = [lay for lay in LAYOUTS.values() if set(lay.required) <= present]
    if fits:
        return max(fits, key=lambda lay: len(lay.required))
    closest = min(
        LAYOUTS.values(), key=lambda lay: (len(set(lay.required) - present), -len(lay.required))
    )
    missing = [c for c in closest.required if c not in present]
    return _raise_missing(file, closest, missing, columns)


def check_columns(columns: list[str], layout: Layout, *, file: str) -> None:
    """Raise if ``columns`` lack any required column of ``layout``."""
    missing = [c for c in layout.required if c not in set(columns)]
    if missing:
        _raise_missing(file, layout, missing, columns)


def _raise_missing(file: str, layout: Layout, missing: list[str], columns: list[str]) -> Layout:
    found = "the file's columns are: " + (", ".join(columns) if columns else "(none)")
    problems = [
        DataProblem(
            file,
            None,
            c,
            found,
            f"column '{c}' is required in a {layout.name.value} file "
            f"(required: {', '.join(layout.required)})",
        )
        for c in missing
    ]
    raise DataValidationError(problems)


def layout_by_name(name: str) -> Layout:
    """The layout called ``name`` (see :class:`LayoutName`)."""
    return LAYOUTS[LayoutName(name)]
