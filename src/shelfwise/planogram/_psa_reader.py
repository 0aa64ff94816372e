"""Reading ``.psa`` records into shelfwise objects: the internals of
:func:`~shelfwise.planogram.psa.parse_psa`.

See the :mod:`shelfwise.planogram.psa` docstring for how records map to shelfwise objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import Literal, NoReturn, TypeVar

from shelfwise.domain import (
    Display,
    DisplayKind,
    Planogram,
    Position,
    Product,
    Shelf,
    gtin_is_valid,
)
from shelfwise.exceptions import (
    DataProblem,
    DataValidationError,
    InvalidParameterError,
)
from shelfwise.planogram._psa_fields import (
    _FIXTURE,
    _INCH,
    _PLANOGRAM,
    _POSITION,
    _POUND,
    _PRODUCT,
    _X_TOLERANCE,
    DEFAULT_MAX_LOAD_KG,
)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    fields: list[str]

    @property
    def kind(self) -> str:
        return self.fields[0]

    def text(self, spec: dict[str, int], name: str) -> str:
        i = spec[name]
        return self.fields[i] if i < len(self.fields) else ""


@dataclass(frozen=True, slots=True)
class _Level:
    """One shelf level: the shelf fixtures whose tops are at one height, merged."""

    row: _Row  # the first fixture, named in error messages
    top: Decimal
    base: Decimal
    x: Decimal
    right: Decimal
    depth: float
    merch: Decimal | None
    load_kg: float | None
    fixtures: tuple[tuple[Decimal, Decimal, Decimal], ...]  # (x, right, base) of each


class _Reader:
    def __init__(self, file: str, units: Literal["cm", "in"]) -> None:
        self.file = file
        self.length = Decimal(1) if units == "cm" else _INCH
        self.mass = Decimal(1) if units == "cm" else _POUND

    def error(self, row: _Row | None, field: str | None, value: object, rule: str) -> NoReturn:
        column = None if row is None or field is None else f"{row.kind}.{field}"
        where = None if row is None else row.line
        raise DataValidationError([DataProblem(self.file, where, column, value, rule)])

    def dec(self, row: _Row, spec: dict[str, int], name: str) -> Decimal | None:
        raw = row.text(spec, name).strip()
        if raw == "":
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            self.error(row, name, raw, "must be a number")
        return value

    def length_cm(self, row: _Row, spec: dict[str, int], name: str) -> Decimal | None:
        value = self.dec(row, spec, name)
        return None if value is None else value * self.length

    def positive(self, value: Decimal | None) -> float | None:
        return None if value is None or value <= 0 else float(value)

    def size(self, row: _Row, spec: dict[str, int], name: str, scale: Decimal) -> float | None:
        """A product size: empty or 0 is unknown (``None``), a negative one is an error."""
        value = self.dec(row, spec, name)
        if value is not None and value < 0:
            self.error(row, name, row.text(spec, name), "must be >= 0 (0 or empty: unknown)")
        return self.positive(None if value is None else value * scale)

    def whole(self, row: _Row, spec: dict[str, int], name: str) -> int | None:
        value = self.dec(row, spec, name)
        if value is None:
            return None
        if value != value.to_integral_value():
            self.error(row, name, row.text(spec, name), "must be a whole number")
        return int(value)


def _build(reader: _Reader, row: _Row, make: type[_T], **kwargs: object) -> _T:
    try:
        return make(**kwargs)
    except InvalidParameterError as exc:
        reader.error(row, None, row.fields[1] if len(row.fields) > 1 else "", str(exc))


def _read_product(reader: _Reader, row: _Row) -> Product:
    upc = row.text(_PRODUCT, "UPC")
    pid = row.text(_PRODUCT, "ID") or upc
    if not pid:
        reader.error(row, "ID", "", "a Product record must give an ID or a UPC")
    cost = reader.dec(row, _PRODUCT, "Case cost")
    per_case = reader.dec(row, _PRODUCT, "Case total number")
    unit_cost = None
    if cost is not None and per_case is not None and per_case > 0:
        unit_cost = float(cost / per_case)
    price = reader.dec(row, _PRODUCT, "Price")
    currency = row.text(_PRODUCT, "Desc 1")
    flag = reader.whole(row, _PRODUCT, "Flag 1")
    return _build(
        reader,
        row,
        Product,
        product_id=pid,
        name=row.text(_PRODUCT, "Name") or pid,
        brand=row.text(_PRODUCT, "Brand") or None,
        category=row.text(_PRODUCT, "Category") or None,
        subcategory=row.text(_PRODUCT, "Subcategory") or None,
        width_cm=reader.size(row, _PRODUCT, "Width", reader.length),
        height_cm=reader.size(row, _PRODUCT, "Height", reader.length),
        depth_cm=reader.size(row, _PRODUCT, "Depth", reader.length),
        weight_kg=reader.size(row, _PRODUCT, "Weight", reader.mass),
        price=None if price is None else float(price),
        unit_cost=unit_cost,
        currency=currency if len(currency) == 3 and currency.isalpha() else "USD",
        gtin=upc if gtin_is_valid(upc) else None,
        age_restricted=bool(flag),
    )


def _read_levels(reader: _Reader, rows: list[_Row]) -> list[_Level]:
    groups: dict[Decimal, list[tuple[_Row, Decimal, Decimal, Decimal]]] = {}
    with localcontext() as ctx:
        ctx.prec = 60
        for row in rows:
            base = reader.length_cm(row, _FIXTURE, "Y") or Decimal(0)
            thick = reader.length_cm(row, _FIXTURE, "Height") or Decimal(0)
            x = reader.length_cm(row, _FIXTURE, "X") or Decimal(0)
            for name in ("Width", "Depth"):
                size = reader.length_cm(row, _FIXTURE, name)
                if size is None or size <= 0:
                    reader.error(row, name, row.text(_FIXTURE, name), "must be a number > 0")
            width = reader.length_cm(row, _FIXTURE, "Width") or Decimal(0)
            groups.setdefault(base + thick, []).append((row, x, x + width, base))
        levels = []
        for top in sorted(groups):
            members = groups[top]
            rows_ = [m[0] for m in members]
            merch = [reader.length_cm(r, _FIXTURE, "Merch") for r in rows_]
            loads = [reader.dec(r, _FIXTURE, "Weight capacity") for r in rows_]
            known = [m for m in merch if m is not None and m > 0]
            full = [load for load in loads if load is not None and load > 0]
            levels.append(
                _Level(
                    row=rows_[0],
                    top=top,
                    base=min(m[3] for m in members),
                    x=min(m[1] for m in members),
                    right=max(m[2] for m in members),
                    depth=max(float(reader.length_cm(r, _FIXTURE, "Depth") or 0) for r in rows_),
                    merch=min(known) if known else None,
                    load_kg=float(sum(full) * reader.mass) if len(full) == len(loads) else None,
                    fixtures=tuple((m[1], m[2], m[3]) for m in members),
                )
            )
    return levels


def _shelves(
    reader: _Reader, levels: list[_Level], plan_height: Decimal | None, plan_row: _Row
) -> tuple[Shelf, ...]:
    out = []
    for i, level in enumerate(levels):
        clearance = level.merch
        if clearance is None:
            above = levels[i + 1].base if i + 1 < len(levels) else plan_height
            if above is None or above <= level.top:
                reader.error(
                    plan_row,
                    "Height",
                    plan_row.text(_PLANOGRAM, "Height"),
                    f"must exceed the top shelf ({level.top} cm) when its fixture gives no "
                    "Merch height",
                )
            clearance = above - level.top
        out.append(
            _build(
                reader,
                level.row,
                Shelf,
                index=i,
                width_cm=float(level.right - level.x),
                clearance_cm=float(clearance),
                depth_cm=level.depth,
                max_load_kg=DEFAULT_MAX_LOAD_KG if level.load_kg is None else level.load_kg,
                height_from_floor_cm=float(level.top),
            )
        )
    return tuple(out)


def _read_position(
    reader: _Reader, row: _Row, products: list[Product], known: set[str], levels: list[_Level]
) -> Position:
    pid = row.text(_POSITION, "ID")
    upc = row.text(_POSITION, "UPC")
    if pid not in known:
        match = [p.product_id for p in products if upc and upc in (p.gtin, p.product_id)]
        if not match:
            reader.error(row, "ID", pid or upc, "must refer to a Product record of the file")
        pid = match[0]
    x = reader.length_cm(row, _POSITION, "X") or Decimal(0)
    y = reader.length_cm(row, _POSITION, "Y") or Decimal(0)
    # shelves whose fixture spans Y (base..top), preferring those under X; else the highest
    # shelf at or below Y
    spans = [i for i, lv in enumerate(levels) if lv.base <= y <= lv.top]
    under_x = [
        i for i in spans if any(fx - _X_TOLERANCE <= x < fr for fx, fr, _ in levels[i].fixtures)
    ]
    chosen = under_x or spans or [i for i, lv in enumerate(levels) if lv.base <= y]
    if not chosen:
        reader.error(row, "Y", row.text(_POSITION, "Y"), "must be at or above a shelf fixture")
    shelf = max(chosen)
    rel = x - levels[shelf].x
    if rel < 0:
        if rel < -_X_TOLERANCE:
            reader.error(row, "X", row.text(_POSITION, "X"), "must not be left of its shelf")
        rel = Decimal(0)
    facings = {}
    for name in ("HFacings", "VFacings", "DFacings"):
        value = reader.whole(row, _POSITION, name)
        facings[name] = 1 if value is None else value
    return _build(
        reader,
        row,
        Position,
        shelf_index=shelf,
        x_cm=float(rel),
        product_id=pid,
        facings_wide=facings["HFacings"],
        facings_high=facings["VFacings"],
        facings_deep=facings["DFacings"],
    )


def _display_and_planogram(
    reader: _Reader, row: _Row, shelves: tuple[Shelf, ...], positions: tuple[Position, ...]
) -> tuple[Display, Planogram]:
    display_id = row.text(_PLANOGRAM, "Desc 1")
    ours = bool(display_id)  # shelfwise's user fields are filled; else documented defaults
    kind, when = row.text(_PLANOGRAM, "Desc 3"), row.text(_PLANOGRAM, "Desc 5")
    kinds = [k.value for k in DisplayKind]
    if ours and kind not in kinds:
        reader.error(row, "Desc 3", kind, f"must be a display kind {kinds}")
    effective = None
    if ours and when:
        try:
            effective = datetime.fromisoformat(when)
        except ValueError:
            reader.error(row, "Desc 5", when, "must be an ISO 8601 date-time (effective_from)")
    max_slots = reader.whole(row, _PLANOGRAM, "Value 1") if ours else None
    version = reader.whole(row, _PLANOGRAM, "Value 2") if ours else None
    name = row.text(_PLANOGRAM, "Desc 6" if ours else "Name")
    display_id = display_id or name or Path(reader.file).stem or "psa"
    display = _build(
        reader,
        row,
        Display,
        display_id=display_id,
        store_id=(ours and row.text(_PLANOGRAM, "Desc 2")) or "unknown",
        kind=DisplayKind(kind) if ours else DisplayKind.SHELF,
        max_slots=max_slots or max(1, sum(p.facings_wide for p in positions)),
        shelves=shelves,
        name=name or None,
    )
    plan = _build(
        reader,
        row,
        Planogram,
        display_id=display_id,
        version=version or 1,
        positions=positions,
        provenance=(ours and row.text(_PLANOGRAM, "Desc 4")) or f"file:{Path(reader.file).name}",
        effective_from=effective,
    )
    return display, plan
