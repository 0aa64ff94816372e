"""Validate a raw table against its layout, cell by cell, without loops over rows.

Each broken rule becomes a :class:`~shelfwise.exceptions.DataProblem` naming file, 1-based data
row (header not counted), column, value and rule. A file with any problem is rejected whole:
:func:`parse_table` raises one :class:`~shelfwise.exceptions.DataValidationError` carrying them all
(up to ``max_problems``).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shelfwise.data.io import index_columns
from shelfwise.data.layouts import Column, Layout, LayoutName
from shelfwise.domain import gtin_is_valid, gtin_zero_padded
from shelfwise.exceptions import DataProblem, DataValidationError

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


#: Largest whole number a column of type "int" may hold (the database's 32-bit INTEGER).
INT_MAX = 2_147_483_647
#: Texts read as "missing" in numeric, boolean and date-time columns (any case). In text
#: columns only an empty cell is missing, so a product may be called "None".
_MISSING_MARKERS = ["", "nan", "na", "n/a", "null", "none", "<na>", "nat"]


@dataclass
class ProblemLog:
    """Collects problems for one file, up to a cap."""

    file: str
    max_problems: int = 50
    problems: list[DataProblem] = field(default_factory=list)
    truncated: bool = False

    def add_rows(
        self, mask: np.ndarray, column: str | None, values: pd.Series | None, rule: str
    ) -> None:
        """Record a problem for every row where ``mask`` is true."""
        rows = np.flatnonzero(mask)
        room = max(0, self.max_problems - len(self.problems))
        if len(rows) > room:
            self.truncated = True
        for r in rows[:room]:
            value = None if values is None else values.iloc[r]
            if isinstance(value, np.generic):
                value = value.item()
            self.problems.append(DataProblem(self.file, int(r) + 1, column, value, rule))

    def raise_if_any(self) -> None:
        """Raise :class:`DataValidationError` if anything was recorded."""
        if self.problems:
            ordered = sorted(self.problems, key=lambda p: (p.row is not None, p.row or 0))
            raise DataValidationError(ordered, truncated=self.truncated)


def _as_text(raw: pd.Series, *, markers: list[str]) -> tuple[pd.Series, np.ndarray]:
    """Stripped text and a mask of missing cells (null, or a missing marker)."""
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip()
    missing = raw.isna().to_numpy() | text.str.lower().isin(markers).to_numpy()
    return text, missing


def _naive_utc(parsed: pd.Series) -> pd.Series:
    """Time-zone-aware date-times converted to UTC and made naive; naive ones kept as given."""
    if getattr(parsed.dt, "tz", None) is not None:
        naive: pd.Series = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        return naive
    return parsed


def _parse_datetime(text: pd.Series, missing: np.ndarray) -> pd.Series:
    """ISO 8601 first, then other explicit formats; words such as "today" are refused."""
    # pandas reads words such as "today" or "now" as the current time; a date has digits.
    wordy = ~text.str.contains(r"\d", regex=True).to_numpy()
    values = text.where(~missing & ~wordy, None)
    has_tz = text.str.contains(r"(?:[+-]\d\d:?\d\d|Z)$", regex=True).to_numpy() & ~missing
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    for mask in (~has_tz & ~missing & ~wordy, has_tz & ~wordy):
        if not mask.any():
            continue
        part = pd.to_datetime(
            values[mask], errors="coerce", format="ISO8601", utc=bool(has_tz[mask].all())
        )
        retry = part.isna().to_numpy() & text[mask].str.contains(r"\d", regex=True).to_numpy()
        if retry.any():
            again = pd.to_datetime(
                values[mask][retry], errors="coerce", format="mixed", utc=bool(has_tz[mask].all())
            )
            part = part.astype(object)
            part[retry] = again
            part = pd.to_datetime(part, utc=bool(has_tz[mask].all()))
        out[mask] = _naive_utc(part).astype("datetime64[ns]")
    return out


def _parse(col: Column, raw: pd.Series, log: ProblemLog) -> pd.Series:
    name = col.name
    bad = np.zeros(len(raw), dtype=bool)
    if col.type == "datetime" and pd.api.types.is_datetime64_any_dtype(raw):
        parsed: pd.Series = _naive_utc(pd.to_datetime(raw))
        missing = parsed.isna().to_numpy()
    elif (
        col.type in ("float", "int")
        and pd.api.types.is_numeric_dtype(raw)
        and not pd.api.types.is_bool_dtype(raw)
    ):
        parsed = raw.astype("float64")
        missing = parsed.isna().to_numpy()
    elif col.type == "bool" and pd.api.types.is_bool_dtype(raw):
        parsed = raw.astype(object).where(raw.notna(), None)
        missing = raw.isna().to_numpy()
    else:
        text, missing = _as_text(raw, markers=[""] if col.type == "str" else _MISSING_MARKERS)
        if col.type == "str":
            parsed = text.where(~missing, None).astype(object)
            limit = col.length_limit
            if limit is not None:
                too_long = ~missing & (text.str.len() > limit).to_numpy()
                log.add_rows(too_long, name, raw, f"must be at most {limit} characters long")
        elif col.type in ("float", "int"):
            parsed = pd.to_numeric(text.where(~missing, None), errors="coerce").astype("float64")
            bad = ~missing & parsed.isna().to_numpy()
        elif col.type == "bool":
            low = text.str.lower()
            parsed = pd.Series([None] * len(raw), index=raw.index, dtype="object")
            parsed[low.isin(_TRUE).to_numpy()] = True
            parsed[low.isin(_FALSE).to_numpy()] = False
            bad = ~missing & parsed.isna().to_numpy()
        else:
            parsed = _parse_datetime(text, missing)
            bad = ~missing & parsed.isna().to_numpy()
    log.add_rows(bad, name, raw, col.rule())
    if not col.nullable:
        log.add_rows(missing & ~bad, name, raw, col.rule())
    ok = ~missing & ~bad
    if col.type in ("float", "int"):
        values = parsed.to_numpy(dtype=float, na_value=np.nan)
        log.add_rows(ok & ~np.isfinite(values), name, raw, col.rule())
        ok &= np.isfinite(values)
        if col.type == "int":
            log.add_rows(ok & (values != np.round(values)), name, raw, col.rule())
            huge = ok & (np.abs(values) > INT_MAX)
            log.add_rows(huge, name, raw, f"must be a whole number of at most {INT_MAX:,}")
            ok &= ~huge
        if col.gt is not None:
            log.add_rows(ok & ~(values > col.gt), name, raw, col.rule())
        if col.ge is not None:
            log.add_rows(ok & ~(values >= col.ge), name, raw, col.rule())
        upper = {"lat": 90.0, "lon": 180.0}.get(name)
        if upper is not None:
            log.add_rows(ok & (values > upper), name, raw, f"must be <= {upper:g}")
        if col.type == "int":
            whole = np.where(ok, np.round(values), np.nan)
            return pd.Series(whole, index=raw.index).astype("Int64")
    if col.choices is not None:
        log.add_rows(ok & ~parsed.isin(col.choices).to_numpy(), name, raw, col.rule())
    return parsed


def parse_table(
    raw: pd.DataFrame, layout: Layout, *, file: str, max_problems: int = 50
) -> pd.DataFrame:
    """Typed copy of ``raw`` with the layout's columns (and, for tracts, feature columns).

    Checks every cell against its column's rule, then the natural key for duplicates and the
    layout's own cross-column rules.

    Raises
    ------
    DataValidationError
        Listing every problem found (up to ``max_problems``).
    """
    log = ProblemLog(file, max_problems)
    raw = raw.reset_index(drop=True)
    if layout.name == LayoutName.PRODUCTS and "gtin" in raw.columns:
        raw = raw.assign(gtin=gtin_text(raw["gtin"]))
    out = pd.DataFrame(index=raw.index)
    for col in layout.columns:
        if col.name in raw.columns:
            out[col.name] = _parse(col, raw[col.name], log)
        else:
            out[col.name] = pd.Series([None] * len(raw), dtype=object)
    if layout.extra_columns_are_features:
        known = {c.name for c in layout.columns} | set(index_columns(list(raw.columns)))
        for feature in [c for c in raw.columns if c not in known]:
            spec = Column(feature, "float")
            out[feature] = _parse(spec, raw[feature], log)
    log.raise_if_any()
    dup = out.duplicated(list(layout.key), keep="first").to_numpy()
    if dup.any():
        key_text = pd.Series("", index=out.index, dtype=object)
        key_text[dup] = out.loc[dup, list(layout.key)].astype(str).agg("/".join, axis=1)
        log.add_rows(
            dup,
            "/".join(layout.key),
            key_text,
            f"({', '.join(layout.key)}) must be unique within the file",
        )
    _layout_rules(out, layout, log)
    log.raise_if_any()
    return out


_GTIN_RULE = "must be 8, 12, 13 or 14 digits with a valid GS1 check digit"


def gtin_text(raw: pd.Series) -> pd.Series:
    """A gtin column as text; numbers get back the leading zeros a number cannot keep.

    A column stored as numbers (a Parquet integer or float64 column) holds ``8157300011`` for
    the UPC-A ``008157300011``: each whole number from 0 to 10^14 - 1 is written with leading
    zeros up to the shortest GTIN length that holds it (8, 12, 13 or 14 digits; any of them
    names the same item). Other numbers (fractions, negatives) keep their own text, for the
    check digit rule to refuse, and so do narrower floats (a float32 cannot hold 12 digits:
    its number may not be the one written). Text columns (every CSV column) are returned
    unchanged: a text GTIN missing its zeros is refused, with a hint.
    """
    wide_float = pd.api.types.is_float_dtype(raw) and getattr(raw.dtype, "itemsize", 0) == 8
    if pd.api.types.is_bool_dtype(raw) or not (pd.api.types.is_integer_dtype(raw) or wide_float):
        return raw
    values = raw.astype("float64")
    whole = values.notna() & (values == np.floor(values)) & (values >= 0) & (values < 1e14)
    out = raw.astype(object).where(raw.notna(), None)
    out[whole] = [gtin_zero_padded(str(int(v))) for v in values[whole]]
    return out


def _layout_rules(frame: pd.DataFrame, layout: Layout, log: ProblemLog) -> None:
    if layout.name == LayoutName.PRODUCTS:
        gtin = frame["gtin"]
        has = gtin.notna().to_numpy()
        text = [str(g) if g is not None else "" for g in gtin.where(has, None)]
        valid = np.array([not t or gtin_is_valid(t) for t in text])
        # 9 to 11 digits that are a valid UPC-A once zero-padded to 12: leading zeros lost on
        # the way (a spreadsheet reading the code as a number); say so, not only the rule.
        zeros_lost = np.array(
            [
                t.isascii() and t.isdigit() and 9 <= len(t) <= 11 and gtin_is_valid(t.zfill(12))
                for t in text
            ]
        )
        log.add_rows(has & ~valid & ~zeros_lost, "gtin", gtin, _GTIN_RULE)
        log.add_rows(
            has & ~valid & zeros_lost,
            "gtin",
            gtin,
            f"{_GTIN_RULE}; it looks like a UPC-A whose leading zeros were lost (read as a "
            "number?): pad it with zeros to 12 digits",
        )
        cur = frame["currency"]
        bad = cur.notna().to_numpy() & ~cur.astype(str).str.fullmatch(r"[A-Za-z]{3}").to_numpy()
        log.add_rows(bad, "currency", cur, "must be a 3-letter ISO 4217 code")
    elif layout.name == LayoutName.STORES:
        bad = frame["lat"].isna().to_numpy() != frame["lon"].isna().to_numpy()
        log.add_rows(bad, "lat", frame["lat"], "lat and lon must be given together")
    elif layout.name == LayoutName.SHELVES:
        ordered = frame.sort_values(["display_id", "shelf_index"])
        same = ordered["display_id"].eq(ordered["display_id"].shift())
        rises = ordered["height_from_floor_cm"].diff() > 0
        bad_idx = ordered.index[(same & ~rises).to_numpy()]
        mask = np.zeros(len(frame), dtype=bool)
        mask[bad_idx] = True
        log.add_rows(
            mask,
            "height_from_floor_cm",
            frame["height_from_floor_cm"],
            "must increase with shelf_index within a display",
        )
    elif layout.name == LayoutName.VISITS:
        _consistent(frame, "visit_id", ["store_id", "display_id", "visited_at"], log)
    elif layout.name == LayoutName.EDGEREC3D:
        _consistent(frame, "store_id", ["store_name"], log)
        _consistent(frame, "display_id", ["store_id"], log)
        _consistent(frame, "product_id", ["name"], log)
    elif layout.name == LayoutName.PLANOGRAMS:
        _consistent(frame, ["display_id", "version"], ["provenance", "effective_from"], log)


def _consistent(
    frame: pd.DataFrame, by: str | list[str], columns: list[str], log: ProblemLog
) -> None:
    """Flag rows whose ``columns`` differ from the first row of their ``by`` group."""
    keys = [by] if isinstance(by, str) else by
    for col in columns:
        first = frame.groupby(keys, sort=False, dropna=False)[col].transform("first")
        differs = ~((frame[col] == first) | (frame[col].isna() & first.isna()))
        log.add_rows(
            differs.to_numpy(dtype=bool),
            col,
            frame[col],
            f"must be the same on every row of one {'/'.join(keys)}",
        )


def check_references(
    frame: pd.DataFrame,
    column: str,
    known: Set[str],
    *,
    what: str,
    file: str,
    max_problems: int = 50,
) -> None:
    """Raise if ``frame[column]`` holds a key not in ``known`` (stored or in this batch)."""
    values = frame[column]
    bad = ~values.isin(list(known)).to_numpy()
    if bad.any():
        log = ProblemLog(file, max_problems)
        log.add_rows(
            bad,
            column,
            values,
            f"must refer to a known {what} (stored, or in a file of this ingest)",
        )
        log.raise_if_any()
