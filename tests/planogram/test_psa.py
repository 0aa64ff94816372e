"""Reading and writing ProSpace ``.psa`` files: escaping, encoding, round trips, real layouts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import DataValidationError, InvalidParameterError
from shelfwise.planogram.psa import (
    DEFAULT_MAX_LOAD_KG,
    PsaDocument,
    format_psa,
    join_record,
    parse_psa,
    read_psa,
    split_record,
    write_psa,
)

# ----------------------------------------------------------------------------- fixtures


def _shelf(i: int, height: float, width: float = 100.0) -> Shelf:
    return Shelf(
        index=i,
        width_cm=width,
        clearance_cm=35.5,
        depth_cm=45.0,
        max_load_kg=80.0,
        height_from_floor_cm=height,
    )


@pytest.fixture
def doc() -> PsaDocument:
    products = (
        Product(
            product_id="P1",
            name='Café, "Crème" \\ Special™',
            brand="Brand, Inc.",
            category="Beverages",
            subcategory="Sparkling",
            width_cm=6.6,
            height_cm=12.2,
            depth_cm=6.6,
            weight_kg=0.37,
            price=1.19,
            unit_cost=0.77,
            currency="EUR",
            gtin="008157300011",
            age_restricted=True,
        ),
        Product(product_id="P,2", name="Plain water"),
        Product(product_id="P3", name="Soda", width_cm=7.4, height_cm=23.0, depth_cm=7.4),
    )
    display = Display(
        display_id="S01-D1",
        store_id="S01",
        kind=DisplayKind.COOLER,
        max_slots=40,
        shelves=(_shelf(0, 12.0), _shelf(1, 45.1), _shelf(2, 76.8)),
        name="Reach-in cooler, left",
    )
    planogram = Planogram(
        display_id="S01-D1",
        version=3,
        positions=(
            Position(shelf_index=0, x_cm=0.0, product_id="P1", facings_wide=3, facings_deep=6),
            Position(shelf_index=0, x_cm=22.2, product_id="P3", facings_wide=2),
            Position(shelf_index=2, x_cm=10.05, product_id="P,2", facings_high=2),
        ),
        provenance="solver",
        effective_from=datetime(2024, 5, 1, 14, 30, 0, 123456),
    )
    return PsaDocument("Project: Café™ \\ test, 1", display, products, planogram)


# ----------------------------------------------------------------------------- text level


def test_split_undoes_escapes() -> None:
    assert split_record(r"Product,a\,b,c\\d,e\"f,g\nh,\q,tail\\") == [
        "Product",
        "a,b",
        "c\\d",
        'e"f',
        "g\nh",
        "\\q",
        "tail\\",
    ]
    assert split_record("Fixture,,x,") == ["Fixture", "", "x", ""]


cp1252_text = st.text(st.characters(codec="cp1252"), max_size=12)


@given(st.lists(cp1252_text, min_size=1, max_size=6))
def test_join_then_split_is_identity(fields: list[str]) -> None:
    line = join_record(fields)
    assert "\n" not in line and "\r" not in line
    assert split_record(line) == fields


# ----------------------------------------------------------------------------- round trips


def test_write_then_read_gives_an_equal_document(doc: PsaDocument, tmp_path: Path) -> None:
    path = tmp_path / "cooler.psa"
    write_psa(doc, path)
    back = read_psa(path)
    assert back == doc
    assert back.planogram.positions == doc.planogram.positions
    write_psa(back, tmp_path / "again.psa")
    assert (tmp_path / "again.psa").read_bytes() == path.read_bytes()


def test_file_is_crlf_cp1252_with_escaped_commas(doc: PsaDocument) -> None:
    data = format_psa(doc)
    lines = data.split(b"\r\n")
    assert lines[0] == b"PROSPACE SCHEMATIC FILE"
    assert lines[1].startswith(b"; Version ") and lines[2] == b"; Codepage=1252"
    assert lines[-1] == b""  # every line, the last included, ends in CRLF
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"Caf\xe9" in data and b"\x99" in data  # cp1252 bytes of "é" and "™"
    assert "Café".encode() not in data  # not UTF-8
    assert r"Café\, \"Crème\" \\ Special™".encode("cp1252") in data
    kinds = [line.split(b",")[0] for line in lines[3:-1]]
    assert kinds == [
        b"Project",
        b"Product",
        b"Product",
        b"Product",
        b"Planogram",
        b"Fixture",
        b"Position",
        b"Position",
        b"Fixture",
        b"Fixture",
        b"Position",
    ]


def test_record_fields_follow_the_prospace_order(doc: PsaDocument) -> None:
    text = format_psa(doc).decode("cp1252")
    rows = {}
    for line in text.split("\r\n"):
        fields = split_record(line)
        rows.setdefault(fields[0], []).append(fields)
    product = rows["Product"][0]
    assert product[1:4] == ["008157300011", "P1", 'Café, "Crème" \\ Special™']
    assert product[5:8] == ["6.6", "12.2", "6.6"]
    assert product[13] == "Beverages" and product[33] == "1.19"
    assert product[232:235] == ["Brand, Inc.", "Sparkling", "0.37"]
    fixture = rows["Fixture"][1]
    assert fixture[1] == "0" and fixture[4] == "0" and fixture[5] == "100"
    assert float(fixture[6]) + float(fixture[7]) == pytest.approx(45.1)  # Y + thickness
    assert fixture[9] == "45" and fixture[23] == "35.5" and fixture[149] == "80"
    position = rows["Position"][0]
    assert position[2] == "P1" and position[4] == "0" and position[6] == "12"
    assert position[14:17] == ["3", "1", "6"]
    planogram = rows["Planogram"][0]
    assert planogram[1] == "Reach-in cooler, left" and planogram[56] == "S01-D1"


def test_position_sizes_are_written_without_float_noise(doc: PsaDocument) -> None:
    # 7.4 x 6 is 44.400000000000006 in binary floating point
    positions = (Position(shelf_index=0, x_cm=0.0, product_id="P3", facings_wide=6),)
    plan = Planogram("S01-D1", 1, positions)
    document = PsaDocument("p", doc.display, doc.products, plan)
    text = format_psa(document).decode("cp1252")
    position = next(split_record(ln) for ln in text.split("\r\n") if ln.startswith("Position"))
    assert position[5] == "44.4" and position[9] == "7.4"
    assert "00000" not in text


def test_positions_out_of_shelf_order_keep_their_order(doc: PsaDocument) -> None:
    shuffled = Planogram(
        display_id="S01-D1",
        version=1,
        positions=tuple(reversed(doc.planogram.positions)),
    )
    other = PsaDocument(doc.project_name, doc.display, doc.products, shuffled)
    assert parse_psa(format_psa(other)) == other


@st.composite
def documents(draw: st.DrawFn) -> PsaDocument:
    text = st.text(st.characters(codec="cp1252"), min_size=1, max_size=10).filter(str.strip)
    sizes = st.floats(0.01, 400.0, allow_nan=False, allow_infinity=False)
    maybe = st.none() | sizes
    n_products = draw(st.integers(1, 5))
    ids = draw(st.lists(text, min_size=n_products, max_size=n_products, unique=True))
    products = tuple(
        Product(
            product_id=pid,
            name=draw(text),
            brand=draw(st.none() | text),
            category=draw(st.none() | text),
            subcategory=draw(st.none() | text),
            width_cm=draw(maybe),
            height_cm=draw(maybe),
            depth_cm=draw(maybe),
            weight_kg=draw(maybe),
            price=draw(st.none() | st.floats(0, 1e4)),
            unit_cost=draw(st.none() | st.floats(0, 1e4)),
            currency=draw(st.sampled_from(["USD", "EUR", "gbp"])),
            age_restricted=draw(st.booleans()),
        )
        for pid in ids
    )
    heights = sorted(set(draw(st.lists(st.floats(0.0, 300.0), min_size=0, max_size=5))))
    heights = [h for h in heights if h == 0 or h > 1e-6]
    shelves = tuple(
        Shelf(
            index=i,
            width_cm=draw(sizes),
            clearance_cm=draw(sizes),
            depth_cm=draw(sizes),
            max_load_kg=draw(sizes),
            height_from_floor_cm=h,
        )
        for i, h in enumerate(heights)
    )
    positions = tuple(
        Position(
            shelf_index=draw(st.integers(0, len(shelves) - 1)),
            x_cm=draw(st.floats(0.0, 500.0)),
            product_id=draw(st.sampled_from(ids)),
            facings_wide=draw(st.integers(1, 9)),
            facings_high=draw(st.integers(1, 3)),
            facings_deep=draw(st.integers(1, 12)),
        )
        for _ in range(draw(st.integers(0, 8) if shelves else st.just(0)))
    )
    display = Display(
        display_id=draw(text),
        store_id=draw(text),
        kind=draw(st.sampled_from(list(DisplayKind))),
        max_slots=draw(st.integers(1, 200)),
        shelves=shelves,
        name=draw(st.none() | text),
    )
    when = draw(
        st.none()
        | st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1))
        | st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
    )
    planogram = Planogram(
        display_id=display.display_id,
        version=draw(st.integers(1, 1000)),
        positions=positions,
        provenance=draw(text),
        effective_from=when,
    )
    return PsaDocument(draw(text), display, products, planogram)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_random_documents_round_trip_exactly(document: PsaDocument) -> None:
    data = format_psa(document)
    back = parse_psa(data, file="random.psa")
    assert back == document
    assert format_psa(back) == data


def test_synthetic_chain_planograms_round_trip() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=3, n_products=15, displays_per_store=2, weeks=2), random_state=1
    )
    displays = {d.display_id: d for d in chain.displays}
    for planogram in chain.planograms:
        document = PsaDocument("chain", displays[planogram.display_id], chain.products, planogram)
        data = format_psa(document)
        assert parse_psa(data) == document
        assert format_psa(parse_psa(data)) == data


def test_text_outside_cp1252_is_refused(doc: PsaDocument) -> None:
    product = Product(product_id="P9", name="Łódź ű")
    bad = PsaDocument(doc.project_name, doc.display, (*doc.products, product), doc.planogram)
    with pytest.raises(InvalidParameterError, match=r"cp1252.*Łódź"):
        format_psa(bad)


def test_document_rejects_inconsistent_parts(doc: PsaDocument) -> None:
    other = Planogram(display_id="elsewhere", version=1, positions=())
    with pytest.raises(InvalidParameterError, match="display_id"):
        PsaDocument("p", doc.display, doc.products, other)
    with pytest.raises(InvalidParameterError, match="unique"):
        PsaDocument("p", doc.display, (*doc.products, doc.products[0]), doc.planogram)
    stray = Planogram("S01-D1", 1, (Position(shelf_index=0, x_cm=0.0, product_id="nope"),))
    with pytest.raises(InvalidParameterError, match="nope"):
        format_psa(PsaDocument("p", doc.display, doc.products, stray))


# ----------------------------------------------------------------------------- files from elsewhere

FOREIGN = "\r\n".join(
    [
        "PROSPACE SCHEMATIC FILE",
        "; Version 2019.1.0",
        "Project,Spring reset,7,1,extra,fields,here",
        "Product,012000001291,SKU-1,Cola 12oz,,6.6,12.2,6.6,255",
        "Product,,SKU-2,Lemon\\, Lime,,5.5,12,5.5",
        "Planogram,Soda 8ft,,240,180,60",
        "Segment,1,,0,120,0,180,0,60",
        "Segment,2,,120,120,0,180,0,60",
        "Drawing,1,2,3",
        "Fixture,0,Base,,0,120,0,10,0,60",
        "Fixture,0,Base,,120,120,0,10,0,60",
        "Fixture,10,Pillar,,110,5,0,180,0,5",
        "Fixture,0,Shelf 2,,0,120,48,2,0,50" + "," * 14 + "30",
        "Fixture,0,Shelf 2 bay 2,,120,120,48,2,0,50" + "," * 14 + "28",
        "Fixture,0,Top,,0,240,100,2.5,0,40",
        "Position,,SKU-2,,130.5,11,50,12,0,55,0,0,0,0,2,1,10,more,trailing",
        "Position,012000001291,,,12,6.6,10,12.2,0,60,0,0,0,0,1,2,9",
        "Position,,SKU-1,,200,6.6,102.5,12.2,0,40,0,0,0,0,4,1,6",
        "Position,,SKU-1,,5,6.6,50,12.2,0,40,0,0,0,0,1,1,6",
        "Performance,012000001291,SKU-1,1.99",
        "",
    ]
).encode("cp1252")


def test_positions_are_assigned_to_shelves_by_coordinates() -> None:
    document = parse_psa(FOREIGN, file="soda.psa")
    display, planogram = document.display, document.planogram
    assert document.project_name == "Spring reset"
    assert [p.product_id for p in document.products] == ["SKU-1", "SKU-2"]
    assert document.products[0].gtin == "012000001291"
    assert document.products[1].name == "Lemon, Lime"
    # the two base fixtures and the two bays of shelf 2 merge; the pillar (type 10) is ignored
    assert [s.height_from_floor_cm for s in display.shelves] == [10.0, 50.0, 102.5]
    assert [s.width_cm for s in display.shelves] == [240.0, 240.0, 240.0]
    assert display.shelves[0].clearance_cm == 38.0  # up to the next shelf's base (48)
    assert display.shelves[1].clearance_cm == 28.0  # the smaller Merch of the two bays
    assert display.shelves[2].clearance_cm == 77.5  # up to the Planogram's height
    assert display.shelves[0].max_load_kg == DEFAULT_MAX_LOAD_KG
    assert planogram.positions == (
        Position(shelf_index=1, x_cm=130.5, product_id="SKU-2", facings_wide=2, facings_deep=10),
        Position(shelf_index=0, x_cm=12.0, product_id="SKU-1", facings_high=2, facings_deep=9),
        Position(shelf_index=2, x_cm=200.0, product_id="SKU-1", facings_wide=4, facings_deep=6),
        Position(shelf_index=1, x_cm=5.0, product_id="SKU-1", facings_deep=6),
    )
    # no shelfwise user fields: documented defaults
    assert display.display_id == "Soda 8ft" and display.store_id == "unknown"
    assert display.kind is DisplayKind.SHELF and display.max_slots == 8
    assert planogram.provenance == "file:soda.psa" and planogram.version == 1


def test_inches_and_pounds_are_converted() -> None:
    document = parse_psa(FOREIGN, units="in")
    assert document.display.shelves[1].height_from_floor_cm == pytest.approx(50 * 2.54)
    assert document.products[0].width_cm == pytest.approx(6.6 * 2.54)
    assert document.planogram.positions[0].x_cm == pytest.approx(130.5 * 2.54)


def test_a_foreign_file_is_rewritten_stably() -> None:
    document = parse_psa(FOREIGN, file="soda.psa")
    data = format_psa(document)
    assert parse_psa(data, file="soda.psa") == document


# ----------------------------------------------------------------------------- bad files


def _replace(old: str, new: str) -> bytes:
    text = FOREIGN.decode("cp1252")
    assert old in text
    return text.replace(old, new, 1).encode("cp1252")


@pytest.mark.parametrize(
    ("data", "line", "column", "value", "rule"),
    [
        (_replace("0,120,48,2,0,50", "0,12O,48,2,0,50"), 13, "Fixture.Width", "12O", "number"),
        (_replace("130.5,11,50", "130.5,11,fifty"), 16, "Position.Y", "fifty", "number"),
        (_replace(",0,2,1,10,more", ",0,2.5,1,10,more"), 16, "Position.HFacings", "2.5", "whole"),
        (_replace("5,6.6,50,12.2", "5,6.6,-5,12.2"), 19, "Position.Y", "-5", "at or above"),
        (
            _replace("Position,,SKU-1,,200", "Position,,SKU-9,,200"),
            18,
            "Position.ID",
            "SKU-9",
            "Product record",
        ),
        (
            _replace("Fixture,0,Top,,0,240", "Fixture,0,Top,,0,-240"),
            15,
            "Fixture.Width",
            "-240",
            "> 0",
        ),
        (_replace("Product,,SKU-2", "Product,,SKU-1"), 5, "Product.ID", "SKU-1", "unique"),
        (_replace("Lime,,5.5,12,5.5", "Lime,,-5.5,12,5.5"), 5, "Product.Width", "-5.5", ">= 0"),
        (_replace("Lime,,5.5,12,5.5", "Lime,,5.5,-12,5.5"), 5, "Product.Height", "-12", ">= 0"),
        (_replace("Lime,,5.5,12,5.5", "Lime,,5.5,12,-0.1"), 5, "Product.Depth", "-0.1", ">= 0"),
    ],
)
def test_bad_fields_name_file_line_field_and_value(
    data: bytes, line: int, column: str, value: str, rule: str
) -> None:
    with pytest.raises(DataValidationError) as info:
        parse_psa(data, file="soda.psa")
    err = info.value
    assert (err.file, err.row, err.column, err.value) == ("soda.psa", line, column, value)
    assert rule in err.rule
    assert "soda.psa" in str(err) and f"row {line}" in str(err) and repr(value) in str(err)


def test_whole_file_problems() -> None:
    with pytest.raises(DataValidationError, match="PROSPACE SCHEMATIC FILE"):
        parse_psa(b"Project,x\r\n")
    with pytest.raises(DataValidationError, match="exactly one Planogram"):
        parse_psa(_replace("Segment,1", "Planogram,second\r\nSegment,1"))
    with pytest.raises(DataValidationError, match="exactly one Planogram"):
        parse_psa(_replace("Planogram,Soda 8ft,,240,180,60", "Segment,0"))
    with pytest.raises(DataValidationError, match="cp1252"):
        parse_psa(FOREIGN + b"Project,\x81\r\n")
    with pytest.raises(DataValidationError, match="must exceed the top shelf"):
        parse_psa(_replace("Planogram,Soda 8ft,,240,180,60", "Planogram,Soda 8ft,,240,,60"))
    with pytest.raises(DataValidationError, match="file must exist"):
        read_psa("/nonexistent/file.psa")


def test_shelfwise_fields_are_checked_strictly(doc: PsaDocument) -> None:
    text = format_psa(doc).decode("cp1252")
    with pytest.raises(DataValidationError) as info:
        parse_psa(text.replace(",cooler,", ",fridge,").encode("cp1252"), file="d.psa")
    assert info.value.column == "Planogram.Desc 3" and info.value.value == "fridge"
    aware = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    plan = Planogram("S01-D1", 3, doc.planogram.positions, "solver", aware)
    document = PsaDocument(doc.project_name, doc.display, doc.products, plan)
    assert parse_psa(format_psa(document)).planogram.effective_from == aware
