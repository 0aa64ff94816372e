"""Display problems: physical eligibility, candidates pruned to products that fit, and the
state today from the visit log."""

from __future__ import annotations

import pandas as pd
import pytest

from shelfwise.assortment.candidates import CooccurrenceGraph, generate_candidates
from shelfwise.domain import Display, DisplayKind, Product, Shelf
from shelfwise.evaluation.problems import current_states, display_problems, eligible_products
from shelfwise.exceptions import InvalidParameterError

# ------------------------------------------------------------------------------------------
# Physical eligibility


def _shelf(index: int, floor: float, clearance: float, depth: float = 40.0) -> Shelf:
    return Shelf(
        index=index,
        width_cm=60.0,
        clearance_cm=clearance,
        depth_cm=depth,
        max_load_kg=50.0,
        height_from_floor_cm=floor,
    )


def _product(pid: str, height: float | None, *, depth: float = 7.0, age: bool = False) -> Product:
    return Product(
        pid,
        pid,
        subcategory="Sparkling",
        width_cm=7.0,
        height_cm=height,
        depth_cm=depth,
        age_restricted=age,
    )


PRODUCTS = (
    _product("tall", 35.0),  # taller than every shelf
    _product("mid", 24.0),  # fits the low shelf
    _product("low-age", 20.0, depth=40.0, age=True),  # fits only the low shelf, below 100 cm
    _product("short-age", 18.0, age=True),  # fits the high shelf (>= 100 cm)
    _product("deep", 30.0, depth=40.0),  # too tall for the low shelf, too deep for the high
    _product("unknown", None),  # unknown height does not rule it out
)

# Low shelf: 25 cm clearance, 50 cm deep, 10 cm from the floor; high shelf: 32 cm clearance,
# 30 cm deep, 110 cm from the floor.
LOW_AND_HIGH = (_shelf(0, 10.0, 25.0, depth=50.0), _shelf(1, 110.0, 32.0, depth=30.0))


def test_eligible_products_height_depth_and_age_rule() -> None:
    shelf = Display("S1-D1", "S1", DisplayKind.SHELF, max_slots=10, shelves=LOW_AND_HIGH)
    # "deep" fits the largest clearance and the largest depth, but not both on one shelf.
    assert eligible_products(shelf, PRODUCTS) == ("mid", "short-age", "unknown")
    # The same geometry at a checkout never takes age-restricted products.
    checkout = Display("S1-D2", "S1", DisplayKind.CHECKOUT, max_slots=10, shelves=LOW_AND_HIGH)
    assert eligible_products(checkout, PRODUCTS) == ("mid", "unknown")
    # With no height threshold the deep seltzer may stand on the low shelf.
    assert "low-age" in eligible_products(shelf, PRODUCTS, age_min_height_cm=0.0)
    # Without shelf geometry everything may stand, except age-restricted items at a checkout.
    bare = Display("S1-D3", "S1", DisplayKind.CHECKOUT, max_slots=10)
    assert eligible_products(bare, {p.product_id: p for p in PRODUCTS}) == (
        "deep",
        "mid",
        "tall",
        "unknown",
    )


# ------------------------------------------------------------------------------------------
# Problems from records and a visits frame


def _visits(rows: list[tuple[str, str, str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["visit_id", "display_id", "visited_at", "product_id", "facings"]
    )
    frame["store_id"] = frame["display_id"].str.split("-").str[0]
    frame["visited_at"] = pd.to_datetime(frame["visited_at"])
    return frame


def test_generate_candidates_can_propose_unfit_products_and_problems_drop_them() -> None:
    # "mid" and "short-age" (a seltzer) share the high-shelf display, so they are neighbours.
    # At a checkout, generate_candidates prunes by height only and proposes the seltzer;
    # display_problems keeps only what fits.
    products = {p.product_id: p for p in PRODUCTS}
    displays = [
        Display("S1-D1", "S1", DisplayKind.SHELF, max_slots=6, shelves=LOW_AND_HIGH),
        Display("S1-D2", "S1", DisplayKind.CHECKOUT, max_slots=4, shelves=LOW_AND_HIGH),
    ]
    visits = _visits(
        [
            ("v1", "S1-D1", "2024-01-01 09:00", "mid", 2),
            ("v1", "S1-D1", "2024-01-01 09:00", "short-age", 2),
            ("v2", "S1-D2", "2024-01-01 10:00", "mid", 3),
            ("v2", "S1-D2", "2024-01-01 10:00", "unknown", 1),
            ("v3", "S1-D2", "2024-01-08 10:00", "mid", 2),
            ("v3", "S1-D2", "2024-01-08 10:00", "unknown", 0),
        ]
    )
    graph = CooccurrenceGraph.from_visits(visits, products)
    raw = generate_candidates(graph, ["mid"], products, clearance_cm=32.0, random_state=0)
    assert [c.product_id for c in raw] == ["short-age", "unknown"]
    problems = display_problems(
        displays, products, visits, graph, clusters={"S1": 3}, random_state=0
    )
    by_id = {p.display_id: p for p in problems}
    checkout = by_id["S1-D2"]
    assert checkout.state == {"mid": 2}  # the last visit removed "unknown"
    assert checkout.candidates == ("unknown",)
    assert checkout.max_slots == 4 and checkout.cluster == "3"
    assert by_id["S1-D1"].state == {"mid": 2, "short-age": 2}


def test_current_states_use_the_last_visit() -> None:
    visits = _visits(
        [
            ("v1", "S1-D1", "2024-01-01 09:00", "A", 2),
            ("v2", "S1-D1", "2024-01-05 09:00", "A", 0),
            ("v2", "S1-D1", "2024-01-05 09:00", "B", 3),
            ("v3", "S2-D1", "2024-01-03 09:00", "A", 1),
        ]
    )
    assert current_states(visits) == {"S1-D1": {"B": 3}, "S2-D1": {"A": 1}}
    with pytest.raises(InvalidParameterError, match="facings"):
        current_states(visits.drop(columns="facings"))
