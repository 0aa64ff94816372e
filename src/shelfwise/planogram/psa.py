"""Read and write ProSpace / JDA Space Planning schematic files (``.psa``).

A ``.psa`` file is text in Windows-1252 with CRLF line endings. It opens with the line
``PROSPACE SCHEMATIC FILE``; lines starting with ``;`` are comments (the writer adds
``; Version ...`` and ``; Codepage=1252``). Every other line is one record: comma-separated
fields, the first naming the record type (``Project``, ``Product``, ``Planogram``, ``Fixture``,
``Position``, ``Segment``, ``Performance``, ...). Values are never quoted; a comma, backslash,
double quote, tab or line break inside a value is written as a backslash escape (``\\,``,
``\\\\``, ``\\"``, ``\\t``, ``\\r``, ``\\n``); an escape of any other character keeps its
backslash.

Sources
-------
Written from public descriptions of the format, not from any vendor code:

* the field lists of an open-source C# PSA library (``JDA.PSA``, reference file format
  ``V2008.0.0.14``): ``Position`` = UPC, ID, Key, X, Width, Y, Height, Z, Depth, Slope, Angle,
  Roll, Merch style, HFacings, VFacings, DFacings, ...; ``Product`` = UPC, ID, Name, Key, Width,
  Height, Depth, Color, Abbrev name, Size, UOM, Manufacturer, Category, ..., Price (33),
  Case cost (34), ..., Case total number (60), ..., Desc 1-50 (114-163), Value 1-50, Flag 1-10
  (214-223), ..., Brand (232), Subcategory (233), Weight (234); ``Planogram`` = Name, Key,
  Width, Height, Depth, Color, ..., Desc 1-50 (56-105), Value 1-50 (106-155), ...;
* an open-source Python PSA parser's record classes, for ``Fixture`` = Type, Name, Key, X, Width,
  Y, Height, Z, Depth, Slope, Angle, Roll, Color, Assembly, ..., Merch (23), ...,
  Weight capacity (149), and fixture type codes (0 shelf, 7 pegboard, 10 obstruction);
* two open-source TypeScript readers/writers (the header lines, the escapes, Position X/Y and
  HFacings/VFacings/DFacings at 4/6/14-16, Product Brand/Subcategory at 232/233), which agree
  with the lists above; and a Python PSA-to-Excel tool (Fixture Type/Name/X/Width/Y/Z/Depth at
  1/2/4/5/6/8/9, Merch at 23, Product Case total number at 60).

Numbers above are field positions with the record type at 0. Later ProSpace versions append
fields, so these positions hold for them; the writer declares ``; Version 2017.2.0`` and writes
each record only up to the last field it fills.

How shelfwise maps records (choices where the sources are silent)
-----------------------------------------------------------------
* ``Project`` Name is the document's ``project_name``.
* ``Planogram``: Name is the display's name (or its id). shelfwise keeps what ProSpace has no
  field for in the planogram's user fields: Desc 1 display_id, Desc 2 store_id, Desc 3 display
  kind, Desc 4 provenance, Desc 5 effective_from (ISO 8601), Desc 6 display name (empty for
  none), Value 1 max_slots, Value 2 version. When Desc 1 is empty (a file from elsewhere) the
  display id is the Name, the store ``"unknown"``, the kind ``shelf``, max_slots the total
  facings wide (at least 1), version 1 and provenance ``"file:<file name>"``.
* ``Fixture`` records of type 0 (shelf) become shelves; other fixture types are ignored. A shelf
  stands at Y (its base) and is Height thick, so products stand at ``Y + Height``, which is the
  shelf's ``height_from_floor_cm``. Fixtures at the same top height (one shelf level across
  several bays) are merged into one shelf spanning them. Clearance is the fixture's Merch field,
  else the gap to the next shelf's base, else to the Planogram's Height; ``max_load_kg`` is the
  Weight capacity, else :data:`DEFAULT_MAX_LOAD_KG`. The writer puts every shelf at X = 0 and
  makes it ``min(2.5 cm, height, half the gap to the shelf below)`` thick.
* ``Product``: ID is ``product_id`` (UPC when ID is empty); UPC is the GTIN (kept on reading
  only when its check digit is valid); Desc 1 the currency (``USD`` unless a 3-letter code);
  Flag 1 age_restricted; unit cost is Case cost / Case total number (the writer writes
  Case total number 1). Empty or zero dimensions and weight mean "unknown"; a negative Width,
  Height, Depth or Weight is an error.
* ``Position`` names its product by ID (else UPC). It is assigned to a shelf by its coordinates,
  not by where it stands in the file: the shelf whose fixture spans the position's Y (base to
  top; among several, preferring one whose X range holds the position's X, then the highest),
  else the highest shelf at or below Y; ``x_cm`` is X minus that shelf's left edge. Facings
  are HFacings (wide), VFacings (high) and DFacings (deep). Positions keep their file order;
  the writer puts each after its shelf's Fixture record when the planogram is sorted by shelf.
* Unknown record types, ``Segment``/``Performance``/``Drawing`` records, non-shelf fixtures and
  extra trailing fields are ignored (not kept): writing a file that was read drops them.
* Lengths are centimetres and weights kilograms; ``read_psa(..., units="in")`` converts a file
  measured in inches and pounds.

Errors are :class:`~shelfwise.exceptions.DataValidationError` whose ``row`` is the 1-based line
of the file and whose ``column`` is ``"<Record>.<Field>"`` (e.g. ``"Fixture.Width"``).

Round trips: writing a :class:`PsaDocument` and reading it back gives an equal document
(positions in the same order), and reading a file shelfwise wrote and writing it again gives the
same bytes. Numbers are written in plain decimal notation, exactly as Python's ``repr`` rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Literal

from shelfwise.domain import Display, Planogram, Position, Product, Shelf
from shelfwise.exceptions import (
    DataProblem,
    DataValidationError,
    InvalidParameterError,
)
from shelfwise.planogram._psa_fields import (
    _ESCAPE,
    _FIXTURE,
    _PLANOGRAM,
    _POSITION,
    _PRODUCT,
    _PROJECT,
    _THICKNESS,
    _UNESCAPE,
    _dec,
    _fmt,
    _fmt_dec,
)
from shelfwise.planogram._psa_fields import DEFAULT_MAX_LOAD_KG as DEFAULT_MAX_LOAD_KG
from shelfwise.planogram._psa_fields import ENCODING as ENCODING
from shelfwise.planogram._psa_fields import FIRST_LINE as FIRST_LINE
from shelfwise.planogram._psa_fields import HEADER as HEADER
from shelfwise.planogram._psa_fields import NEWLINE as NEWLINE
from shelfwise.planogram._psa_fields import SHELF_FIXTURE_TYPE as SHELF_FIXTURE_TYPE
from shelfwise.planogram._psa_reader import (
    _display_and_planogram,
    _read_levels,
    _read_position,
    _read_product,
    _Reader,
    _Row,
    _shelves,
)


@dataclass(frozen=True, slots=True)
class PsaDocument:
    """What shelfwise reads from (and writes to) one ``.psa`` file: one display's planogram.

    Parameters
    ----------
    project_name : str
        Name of the ProSpace project.
    display : Display
        The display, with shelves from the shelf fixtures, bottom (index 0) to top.
    products : tuple of Product
        The products of the file, in file order.
    planogram : Planogram
        The positions, assigned to shelves by their coordinates.
    """

    project_name: str
    display: Display
    products: tuple[Product, ...]
    planogram: Planogram

    def __post_init__(self) -> None:
        if not isinstance(self.project_name, str) or not self.project_name.strip():
            raise InvalidParameterError(
                f"project_name must be a non-empty string for a PsaDocument; "
                f"got {self.project_name!r}"
            )
        if self.planogram.display_id != self.display.display_id:
            raise InvalidParameterError(
                f"planogram.display_id must equal display.display_id for a PsaDocument; got "
                f"{self.planogram.display_id!r} and {self.display.display_id!r}"
            )
        ids = [p.product_id for p in self.products]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InvalidParameterError(
                f"product_id must be unique in a PsaDocument; got {dup!r} twice"
            )


# ----------------------------------------------------------------------------- text level


def split_record(line: str) -> list[str]:
    """Split one record line into its fields, undoing backslash escapes."""
    fields: list[str] = []
    cell: list[str] = []
    chars = iter(line)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, None)
            if nxt is None:
                cell.append("\\")
            else:
                cell.append(_UNESCAPE.get(nxt, "\\" + nxt))
        elif ch == ",":
            fields.append("".join(cell))
            cell = []
        else:
            cell.append(ch)
    fields.append("".join(cell))
    return fields


def join_record(fields: Sequence[str]) -> str:
    """Join fields into one record line, escaping what :func:`split_record` undoes."""
    return ",".join("".join(_ESCAPE.get(ch, ch) for ch in f) for f in fields)


def _record(kind: str, spec: dict[str, int], values: dict[str, str]) -> str:
    width = max(spec[name] for name in values) + 1
    fields = [""] * width
    fields[0] = kind
    for name, value in values.items():
        fields[spec[name]] = value
    return join_record(fields)


# ----------------------------------------------------------------------------- writing


def _thicknesses(shelves: Sequence[Shelf]) -> list[Decimal]:
    out: list[Decimal] = []
    for i, shelf in enumerate(shelves):
        top = _dec(shelf.height_from_floor_cm)
        t = min(_THICKNESS, top)
        if i > 0:
            t = min(t, (top - _dec(shelves[i - 1].height_from_floor_cm)) / 2)
        out.append(t)
    return out


def format_psa(doc: PsaDocument) -> bytes:
    """The bytes of ``doc`` as a ``.psa`` file (cp1252, CRLF).

    Raises
    ------
    InvalidParameterError
        If a position names a product or shelf the document lacks, or a text cannot be
        written in cp1252.
    """
    display, plan = doc.display, doc.planogram
    products = {p.product_id: p for p in doc.products}
    shelves = display.shelves
    for pos in plan.positions:
        if pos.product_id not in products:
            raise InvalidParameterError(
                f"product_id of every position must be among the document's products for "
                f"display {display.display_id}; got {pos.product_id!r}"
            )
        if pos.shelf_index >= len(shelves):
            raise InvalidParameterError(
                f"shelf_index must be < {len(shelves)} (the display's shelves) for product "
                f"{pos.product_id} of display {display.display_id}; got {pos.shelf_index}"
            )
    lines = list(HEADER)
    lines.append(_record("Project", _PROJECT, {"Name": doc.project_name}))
    lines.extend(_product_line(p) for p in doc.products)
    lines.append(_planogram_line(display, plan))
    with localcontext() as ctx:
        ctx.prec = 60
        thick = _thicknesses(shelves)
        written = 0

        def fixtures_up_to(index: int) -> None:
            nonlocal written
            while written <= index:
                lines.append(_fixture_line(shelves[written], thick[written]))
                written += 1

        for pos in plan.positions:
            fixtures_up_to(pos.shelf_index)
            lines.append(_position_line(pos, products[pos.product_id], shelves[pos.shelf_index]))
        fixtures_up_to(len(shelves) - 1)
    text = NEWLINE.join(lines) + NEWLINE
    try:
        return text.encode(ENCODING)
    except UnicodeEncodeError as exc:
        start = max(0, exc.start - 20)
        context = exc.object[start : exc.end + 20].split("\r\n")[-1]
        raise InvalidParameterError(
            f"text in a .psa file must be encodable in {ENCODING}; got "
            f"{exc.object[exc.start : exc.end]!r} in {context!r}"
        ) from exc


def write_psa(doc: PsaDocument, path: str | Path) -> None:
    """Write ``doc`` to ``path`` as a ``.psa`` file (see :func:`format_psa`)."""
    Path(path).write_bytes(format_psa(doc))


def _product_line(p: Product) -> str:
    values = {
        "UPC": p.gtin or "",
        "ID": p.product_id,
        "Name": p.name,
        "Width": _fmt(p.width_cm),
        "Height": _fmt(p.height_cm),
        "Depth": _fmt(p.depth_cm),
        "Category": p.category or "",
        "Price": _fmt(p.price),
        "Case cost": _fmt(p.unit_cost),
        "Case total number": "" if p.unit_cost is None else "1",
        "Desc 1": p.currency,
        "Flag 1": "1" if p.age_restricted else "0",
        "Brand": p.brand or "",
        "Subcategory": p.subcategory or "",
        "Weight": _fmt(p.weight_kg),
    }
    return _record("Product", _PRODUCT, values)


def _planogram_line(display: Display, plan: Planogram) -> str:
    shelves = display.shelves
    values = {
        "Name": display.name or display.display_id,
        "Width": _fmt(max((s.width_cm for s in shelves), default=None)),
        "Height": _fmt_dec(_dec(shelves[-1].height_from_floor_cm) + _dec(shelves[-1].clearance_cm))
        if shelves
        else "",
        "Depth": _fmt(max((s.depth_cm for s in shelves), default=None)),
        "Desc 1": display.display_id,
        "Desc 2": display.store_id,
        "Desc 3": display.kind.value,
        "Desc 4": plan.provenance,
        "Desc 5": "" if plan.effective_from is None else plan.effective_from.isoformat(),
        "Desc 6": display.name or "",
        "Value 1": str(display.max_slots),
        "Value 2": str(plan.version),
    }
    return _record("Planogram", _PLANOGRAM, values)


def _fixture_line(shelf: Shelf, thickness: Decimal) -> str:
    top = _dec(shelf.height_from_floor_cm)
    values = {
        "Type": str(SHELF_FIXTURE_TYPE),
        "Name": f"Shelf {shelf.index + 1}",
        "X": "0",
        "Width": _fmt(shelf.width_cm),
        "Y": _fmt_dec(top - thickness),
        "Height": _fmt_dec(thickness),
        "Z": "0",
        "Depth": _fmt(shelf.depth_cm),
        "Merch": _fmt(shelf.clearance_cm),
        "Weight capacity": _fmt(shelf.max_load_kg),
    }
    return _record("Fixture", _FIXTURE, values)


def _position_line(pos: Position, product: Product, shelf: Shelf) -> str:
    def size(unit: float | None, n: int) -> str:  # in Decimal: 7.4 x 6 is 44.4, not 44.400..06
        return "" if unit is None else _fmt_dec(_dec(unit) * n)

    values = {
        "UPC": product.gtin or "",
        "ID": pos.product_id,
        "X": _fmt(pos.x_cm),
        "Width": size(product.width_cm, pos.facings_wide),
        "Y": _fmt(shelf.height_from_floor_cm),
        "Height": size(product.height_cm, pos.facings_high),
        "Z": "0",
        "Depth": size(product.depth_cm, pos.facings_deep),
        "HFacings": str(pos.facings_wide),
        "VFacings": str(pos.facings_high),
        "DFacings": str(pos.facings_deep),
    }
    return _record("Position", _POSITION, values)


# ----------------------------------------------------------------------------- reading


def parse_psa(
    data: bytes, *, file: str = "<psa>", units: Literal["cm", "in"] = "cm"
) -> PsaDocument:
    """Parse the bytes of a ``.psa`` file (see the module docstring for the mapping).

    Parameters
    ----------
    data : bytes
        The file's content.
    file : str
        Name used in error messages and in the default provenance.
    units : {"cm", "in"}
        Unit system of the file: centimetres and kilograms, or inches and pounds.

    Raises
    ------
    DataValidationError
        Naming file, line, field and value: a malformed number, a missing Planogram record, a
        position whose product or shelf cannot be found, or a record the domain rejects.
    """
    reader = _Reader(file, units)
    try:
        text = data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        reader.error(None, None, data[exc.start : exc.end], f"file must be {ENCODING} text")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if not lines or not lines[0].lstrip("\ufeff").startswith(FIRST_LINE):
        reader.error(None, None, lines[0][:40] if lines else "", f"must start with {FIRST_LINE!r}")
    rows = [
        _Row(n, split_record(line))
        for n, line in enumerate(lines[1:], start=2)
        if line.strip() and not line.startswith(";")
    ]
    by_kind: dict[str, list[_Row]] = {}
    for row in rows:
        by_kind.setdefault(row.kind, []).append(row)
    plans = by_kind.get("Planogram", [])
    if len(plans) != 1:
        reader.error(
            plans[1] if plans else None,
            None,
            len(plans),
            "file must hold exactly one Planogram record (one display per file)",
        )
    plan_row = plans[0]
    products = [_read_product(reader, r) for r in by_kind.get("Product", [])]
    seen: set[str] = set()
    for r, product in zip(by_kind.get("Product", []), products, strict=True):
        if product.product_id in seen:
            reader.error(r, "ID", product.product_id, "must be unique among Product records")
        seen.add(product.product_id)
    fixtures = by_kind.get("Fixture", [])
    levels = _read_levels(
        reader,
        [r for r in fixtures if (reader.whole(r, _FIXTURE, "Type") or 0) == SHELF_FIXTURE_TYPE],
    )
    plan_height = reader.length_cm(plan_row, _PLANOGRAM, "Height")
    shelves = _shelves(reader, levels, plan_height, plan_row)
    positions = tuple(
        _read_position(reader, r, products, seen, levels) for r in by_kind.get("Position", [])
    )
    projects = by_kind.get("Project", [])
    project = projects[0].text(_PROJECT, "Name") if projects else ""
    display, planogram = _display_and_planogram(reader, plan_row, shelves, positions)
    return PsaDocument(
        project_name=project or plan_row.text(_PLANOGRAM, "Name") or Path(file).stem or "psa",
        display=display,
        products=tuple(products),
        planogram=planogram,
    )


def read_psa(path: str | Path, *, units: Literal["cm", "in"] = "cm") -> PsaDocument:
    """Read a ``.psa`` file (see :func:`parse_psa`)."""
    p = Path(path)
    if not p.is_file():
        raise DataValidationError([DataProblem(str(p), None, None, str(p), "file must exist")])
    return parse_psa(p.read_bytes(), file=str(p), units=units)
