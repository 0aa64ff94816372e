"""Domain records validate themselves on construction with messages naming field, rule, value."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shelfwise.domain import (
    Display,
    DisplayKind,
    DisplayVisit,
    Planogram,
    Position,
    Product,
    Shelf,
    Store,
    Tract,
    VisitItem,
    gtin_is_valid,
)
from shelfwise.exceptions import InvalidParameterError


def shelf(index: int = 0, **kw: Any) -> Shelf:
    base: dict[str, Any] = {
        "index": index,
        "width_cm": 76.0,
        "clearance_cm": 30.0,
        "depth_cm": 45.0,
        "max_load_kg": 40.0,
        "height_from_floor_cm": 20.0 + 40.0 * index,
    }
    return Shelf(**{**base, **kw})


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (
            lambda: Product("P1", "Cola", width_cm=-12.0),
            r"width_cm must be > 0 for product P1; got -12.0",
        ),
        (lambda: Product("P1", "Cola", depth_cm=0), r"depth_cm must be > 0 for product P1; got 0"),
        (
            lambda: Product("P1", "Cola", gtin="036000291453"),
            r"gtin must be .* check digit for product P1; got '036000291453'",
        ),
        (lambda: Product("P1", "", price=1.0), r"name must be a non-empty string for product P1"),
        (lambda: Product("P1", "Cola", currency="dollars"), r"currency must be a 3-letter"),
        (lambda: Store("S1", "A", lat=95.0, lon=0.0), r"lat must be <= 90 for store S1; got 95.0"),
        (lambda: Store("S1", "A", lat=30.0), r"lat and lon must be given together for store S1"),
        (lambda: shelf(3, width_cm=-12.0), r"width_cm must be > 0 for shelf 3; got -12.0"),
        (
            lambda: Display("D17", "S1", DisplayKind.COOLER, 0),
            r"max_slots must be >= 1 for display D17; got 0",
        ),
        (
            lambda: Display("D17", "S1", DisplayKind.COOLER, 9, shelves=(shelf(0), shelf(2))),
            r"shelf indices must run 0..n-1 from the bottom for display D17; got \[0, 2\]",
        ),
        (
            lambda: Display(
                "D17",
                "S1",
                DisplayKind.COOLER,
                9,
                shelves=(shelf(0, height_from_floor_cm=50.0), shelf(1, height_from_floor_cm=40.0)),
            ),
            r"height_from_floor_cm must increase with shelf index for display D17",
        ),
        (
            lambda: Display("D17", "S1", "fridge", 9),  # type: ignore[arg-type]
            r"kind must be one of .* for display D17; got 'fridge'",
        ),
        (
            lambda: Position(0, 0.0, "P1", facings_wide=0),
            r"facings_wide must be >= 1 for product P1 at shelf 0; got 0",
        ),
        (
            lambda: Planogram("D1", 0, ()),
            r"version must be >= 1 for planogram of display D1; got 0",
        ),
        (
            lambda: VisitItem("P1", pre_count=-1.0),
            r"pre_count must be >= 0 for product P1; got -1.0",
        ),
        (lambda: VisitItem("P1", payoff=-0.5), r"payoff must be >= 0 for product P1; got -0.5"),
        (
            lambda: DisplayVisit("V1", "S1", "D1", "2024-01-01"),  # type: ignore[arg-type]
            r"visited_at must be a datetime for visit V1; got '2024-01-01'",
        ),
        (
            lambda: DisplayVisit(
                "V1", "S1", "D1", datetime(2024, 1, 1), items=(VisitItem("P1"), VisitItem("P1"))
            ),
            r"product_id must appear once per visit for visit V1; got 'P1' twice",
        ),
        (lambda: Tract("T1", 32.0, -96.0, -5), r"population must be >= 0 for tract T1; got -5"),
        (
            lambda: Tract("T1", 32.0, -96.0, 5, {"income": float("nan")}),
            r"feature 'income' must be a finite number for tract T1",
        ),
    ],
)
def test_bad_records_are_refused(factory: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        factory()


def test_valid_records_and_derived_values() -> None:
    display = Display("D1", "S1", DisplayKind.CHECKOUT, 12, shelves=(shelf(0), shelf(1)))
    assert len(display.shelves) == 2
    plano = Planogram(
        "D1",
        2,
        (
            Position(0, 0.0, "P1", 2, 1, 6),
            Position(1, 0.0, "P1", 1, 1, 6),
            Position(1, 6.6, "P2", 3, 1, 5),
        ),
    )
    assert plano.facings() == {"P1": 3, "P2": 3}
    assert plano.positions[2].units == 15
    assert Product("P1", "Cola", width_cm=6.6, height_cm=12.2, depth_cm=6.6).has_dimensions
    assert not Product("P2", "Water").has_dimensions
    tract = Tract("T1", 32.0, -96.0, 1000, {"median_income": 55000.0})
    with pytest.raises(TypeError):
        tract.features["median_income"] = 1.0  # type: ignore[index]


@pytest.mark.parametrize(
    ("gtin", "ok"),
    [
        ("036000291452", True),  # UPC-A
        ("4006381333931", True),  # EAN-13
        ("96385074", True),  # EAN-8
        ("10614141000415", True),  # GTIN-14
        ("036000291453", False),
        ("03600029145", False),
        ("03600029145X", False),
    ],
)
def test_gtin_check_digit(gtin: str, ok: bool) -> None:
    assert gtin_is_valid(gtin) is ok


@given(st.text(alphabet="0123456789", min_size=11, max_size=11))
def test_every_upc_body_has_exactly_one_valid_check_digit(body: str) -> None:
    valid = [d for d in "0123456789" if gtin_is_valid(body + d)]
    # all zeros passes the check digit but is no GTIN ("none" where numbers cannot be empty)
    assert len(valid) == (0 if set(body) == {"0"} else 1)


def test_all_zeros_is_no_gtin() -> None:
    assert not any(gtin_is_valid("0" * n) for n in (8, 12, 13, 14))
    assert gtin_is_valid("00000017") and gtin_is_valid("012345678905")
