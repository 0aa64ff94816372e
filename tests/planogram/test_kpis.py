"""Planogram KPIs against hand-computed figures."""

from __future__ import annotations

import math

import pytest

from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram.kpis import PRODUCT_COLUMNS, UNBRANDED, planogram_kpis


def shelf(index: int) -> Shelf:
    return Shelf(index, 100.0, 30.0, 40.0, 50.0, 20.0 + 40.0 * index)


DISPLAY = Display("D1", "S1", DisplayKind.COOLER, 40, (shelf(0), shelf(1)))  # 200 cm of shelf
CATALOG = {
    "P1": Product("P1", "Cola", brand="Acme", width_cm=10.0, price=2.0, unit_cost=1.2),
    "P2": Product("P2", "Big", brand="Bolt", width_cm=20.0, price=3.0, unit_cost=2.0),
    "P3": Product("P3", "Gum", width_cm=5.0, price=1.0, unit_cost=0.5),
}
PLAN = Planogram(
    "D1",
    1,
    (
        Position(0, 0.0, "P1", 3, 2, 4),  # 24 units, 30 cm
        Position(0, 30.0, "P2", 2, 1, 2),  # 4 units, 40 cm
        Position(1, 0.0, "P1", 1, 1, 4),  # 4 units, 10 cm
        Position(1, 10.0, "P3", 4, 1, 5),  # 20 units, 20 cm
    ),
)
MOVEMENT = {"P1": 14.0, "P2": 7.0, "NOT-ON-DISPLAY": 99.0}  # P3: nothing sold this week


def test_product_rows_by_hand() -> None:
    k = planogram_kpis(PLAN, DISPLAY, CATALOG, unit_movement=MOVEMENT, movement_period_days=7.0)
    rows = k.products.set_index("product_id")
    assert list(k.products.columns) == list(PRODUCT_COLUMNS)
    assert list(rows.index) == ["P1", "P2", "P3"]
    assert rows["facings"].tolist() == [4, 2, 4]
    assert rows["units_capacity"].tolist() == [28, 4, 20]
    assert rows["linear_cm"].tolist() == [40.0, 40.0, 20.0]
    assert rows["daily_units"].tolist() == [2.0, 1.0, 0.0]
    assert rows["days_of_supply"].tolist() == [14.0, 4.0, math.inf]
    assert rows["sales"].tolist() == pytest.approx([28.0, 21.0, 0.0])
    assert rows["profit"].tolist() == pytest.approx([11.2, 7.0, 0.0])
    assert rows["sales_per_linear_m"].tolist() == pytest.approx([70.0, 52.5, 0.0])
    assert rows["profit_per_linear_m"].tolist() == pytest.approx([28.0, 17.5, 0.0])
    assert k.products["brand"].isna().tolist() == [False, False, True]


def test_display_figures_by_hand() -> None:
    k = planogram_kpis(PLAN, DISPLAY, CATALOG, unit_movement=MOVEMENT)
    assert (k.display_id, k.total_capacity_units, k.total_facings) == ("D1", 52, 10)
    assert (k.occupied_linear_cm, k.shelf_linear_cm, k.linear_fullness) == (100.0, 200.0, 0.5)
    assert k.sales == pytest.approx(49.0) and k.profit == pytest.approx(18.2)
    assert k.sales_per_linear_m == pytest.approx(49.0)  # over 1 occupied metre
    assert k.profit_per_linear_m == pytest.approx(18.2)
    assert list(k.brand_share.items()) == [("Acme", 0.4), ("Bolt", 0.4), (UNBRANDED, 0.2)]


def test_movement_period_scales_days_of_supply() -> None:
    week = planogram_kpis(PLAN, DISPLAY, CATALOG, unit_movement=MOVEMENT, movement_period_days=7)
    fortnight = planogram_kpis(
        PLAN, DISPLAY, CATALOG, unit_movement=MOVEMENT, movement_period_days=14
    )
    assert fortnight.products["days_of_supply"].iloc[:2].tolist() == pytest.approx(
        [2 * d for d in week.products["days_of_supply"].iloc[:2]]
    )
    assert fortnight.movement_period_days == 14.0


def test_without_movement() -> None:
    k = planogram_kpis(PLAN, DISPLAY, CATALOG)
    assert (k.sales, k.profit, k.sales_per_linear_m, k.profit_per_linear_m) == (None,) * 4
    movement_cols = ["unit_movement", "daily_units", "days_of_supply", "sales", "profit"]
    assert k.products[movement_cols].isna().all().all()
    assert k.total_capacity_units == 52


def test_missing_width_and_price() -> None:
    catalog = {**CATALOG, "P3": Product("P3", "Gum")}  # no width, no price
    k = planogram_kpis(PLAN, DISPLAY, catalog, unit_movement={"P1": 14.0, "P3": 7.0})
    rows = k.products.set_index("product_id")
    assert rows[["linear_cm", "sales"]].isna().loc["P3"].all()
    assert rows.loc["P3", "days_of_supply"] == 20.0  # capacity needs no dimensions
    assert k.occupied_linear_cm == 80.0 and k.linear_fullness == 0.4
    assert dict(k.brand_share) == {"Acme": 0.5, "Bolt": 0.5}
    assert k.sales == pytest.approx(28.0)  # P2 sold nothing, P3 has no price
    assert k.sales_per_linear_m == pytest.approx(28.0 / 0.8)


def test_empty_planogram_and_no_shelves() -> None:
    bare = Display("D1", "S1", DisplayKind.OTHER, 5)
    k = planogram_kpis(Planogram("D1", 1, ()), bare, CATALOG, unit_movement={})
    assert (k.total_capacity_units, k.occupied_linear_cm, k.sales) == (0, 0.0, 0.0)
    assert math.isnan(k.linear_fullness) and k.products.empty and dict(k.brand_share) == {}
    assert k.sales_per_linear_m is not None and math.isnan(k.sales_per_linear_m)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"movement_period_days": 0.0}, r"movement_period_days must be finite and > 0 .*; got 0.0"),
        ({"unit_movement": {"P1": -1.0}}, r"unit_movement must be .* for product P1 .*; got -1.0"),
        ({"unit_movement": {"P1": math.nan}}, r"unit_movement must be finite"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        planogram_kpis(PLAN, DISPLAY, CATALOG, **kwargs)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    with pytest.raises(InvalidParameterError, match=r"product_id must be in the catalog .*'P9'"):
        planogram_kpis(Planogram("D1", 1, (Position(0, 0.0, "P9"),)), DISPLAY, CATALOG)
    with pytest.raises(InvalidParameterError, match=r"display\.display_id must match"):
        planogram_kpis(Planogram("D2", 1, ()), DISPLAY, CATALOG)
