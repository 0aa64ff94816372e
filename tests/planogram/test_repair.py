"""Repair: broken planograms become valid with as little change as possible."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import InfeasiblePlanogramError
from shelfwise.planogram.repair import ChangeKind, repair
from shelfwise.planogram.rules import (
    Adjacency,
    CategoryBlocking,
    MandatoryProducts,
    Rulebook,
    ShelfWidth,
    default_rulebook,
)
from shelfwise.planogram.solver import solve_layout
from shelfwise.planogram.validator import validate


def _product(pid: str, **kw: object) -> Product:
    base: dict[str, object] = dict(
        name=pid,
        brand="A",
        category="Drinks",
        subcategory="Soda",
        width_cm=7.0,
        height_cm=20.0,
        depth_cm=7.0,
        weight_kg=0.5,
        price=2.0,
        unit_cost=1.0,
    )
    base.update(kw)
    return Product(pid, **base)  # type: ignore[arg-type]


@pytest.fixture
def display() -> Display:
    shelves = tuple(Shelf(i, 60.0, 25.0, 40.0, 30.0, 20.0 + 40.0 * i) for i in range(4))
    return Display("D1", "S1", DisplayKind.COOLER, 20, shelves)


@pytest.fixture
def catalog() -> dict[str, Product]:
    items = [
        _product("A1"),
        _product("A2"),
        _product("B1", brand="B"),
        _product("TALL", height_cm=40.0),
        _product("SELTZER", brand="H", subcategory="Seltzer", age_restricted=True),
    ]
    return {p.product_id: p for p in items}


def _plan(*positions: Position) -> Planogram:
    return Planogram("D1", 1, positions, provenance="test")


def test_valid_planogram_is_left_alone(display: Display, catalog: dict[str, Product]) -> None:
    plan = solve_layout(display, {"A1": 3, "B1": 2, "SELTZER": 1}, catalog)
    result = repair(plan, display, catalog)
    assert result.planogram is plan
    assert result.changes == ()
    assert result.before.is_valid and result.after.is_valid
    assert result.facings_dropped_share == 0.0


def test_one_overlap_is_fixed_by_moving_one_block(
    display: Display, catalog: dict[str, Product]
) -> None:
    plan = _plan(
        Position(1, 0.0, "A1", facings_wide=3, facings_deep=5),
        Position(1, 10.0, "A2", facings_wide=2, facings_deep=5),
    )
    assert not validate(plan, display, catalog).is_valid
    result = repair(plan, display, catalog)
    assert result.after.is_valid
    assert [c.kind for c in result.changes] == [ChangeKind.MOVED_X]
    change = result.changes[0]
    assert (change.product_id, change.x_before, change.x_after) == ("A2", 10.0, 21.0)
    assert result.facings_removed == 0
    assert result.planogram.version == 2
    assert result.planogram.provenance == "repair:test"


def test_age_restricted_product_moves_up_one_shelf_not_removed(
    display: Display, catalog: dict[str, Product]
) -> None:
    plan = _plan(
        Position(0, 0.0, "A1", facings_wide=2, facings_deep=5),
        Position(0, 14.0, "SELTZER", facings_wide=2, facings_deep=5),
    )
    result = repair(plan, display, catalog)
    assert result.after.is_valid
    kinds = {(c.kind, c.product_id) for c in result.changes}
    assert kinds == {(ChangeKind.MOVED_SHELF, "SELTZER")}
    moved = result.changes[0]
    assert moved.shelf_before == 0 and moved.shelf_after in (2, 3)
    assert result.n_moved_shelf == 1 and result.facings_removed == 0


def test_over_capacity_removes_exactly_the_excess(
    display: Display, catalog: dict[str, Product]
) -> None:
    plan = _plan(
        Position(0, 0.0, "A1", facings_wide=8, facings_deep=5),
        Position(1, 0.0, "A2", facings_wide=8, facings_deep=5),
        Position(2, 0.0, "B1", facings_wide=7, facings_deep=5),
    )  # 23 facings on a 20-slot display
    result = repair(plan, display, catalog)
    assert result.after.is_valid
    assert result.facings_before == 23 and result.facings_after == 20
    assert result.facings_removed == 3
    assert result.facings_dropped_share == pytest.approx(3 / 23)
    assert result.n_moved_shelf == 0 and result.n_dropped == 0


def test_unknown_products_are_dropped_and_unknown_shelves_moved(
    display: Display, catalog: dict[str, Product]
) -> None:
    plan = _plan(
        Position(0, 0.0, "A1", facings_wide=2, facings_deep=5),
        Position(0, 20.0, "GHOST", facings_wide=2),
        Position(9, 0.0, "B1", facings_wide=2, facings_deep=5),
    )
    result = repair(plan, display, catalog)
    assert result.after.is_valid
    by_kind = {c.kind: c for c in result.changes}
    assert by_kind[ChangeKind.DROPPED].product_id == "GHOST"
    assert by_kind[ChangeKind.MOVED_SHELF].product_id == "B1"
    assert by_kind[ChangeKind.MOVED_SHELF].shelf_before == 9
    assert dict(result.planogram.facings()) == {"A1": 2, "B1": 2}


def test_missing_mandatory_product_is_added(display: Display, catalog: dict[str, Product]) -> None:
    book = Rulebook(
        rules=(*default_rulebook().rules, MandatoryProducts(id="m", product_ids=("B1",)))
    )
    plan = _plan(Position(0, 0.0, "A1", facings_wide=2, facings_deep=5))
    result = repair(plan, display, catalog, book)
    assert result.after.is_valid
    assert [(c.kind, c.product_id) for c in result.changes] == [(ChangeKind.ADDED, "B1")]


def test_impossible_repair_names_the_rules(display: Display, catalog: dict[str, Product]) -> None:
    book = Rulebook(
        rules=(*default_rulebook().rules, MandatoryProducts(id="m", product_ids=("TALL",)))
    )
    plan = _plan(Position(0, 0.0, "A1", facings_wide=2, facings_deep=5))
    with pytest.raises(InfeasiblePlanogramError, match=r"no repair.*'height-clearance'.*'m'"):
        repair(plan, display, catalog, book)


def test_scrambled_synthetic_planograms_become_valid_deterministically() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )
    catalog = {p.product_id: p for p in chain.products}
    displays = {d.display_id: d for d in chain.displays}
    rng = np.random.default_rng(5)
    for plan in chain.planograms[:10]:
        d = displays[plan.display_id]
        scrambled = Planogram(
            plan.display_id,
            plan.version,
            tuple(
                dataclasses.replace(
                    p,
                    shelf_index=int(rng.integers(0, len(d.shelves) + 1)),
                    x_cm=float(rng.uniform(0.0, 30.0)),
                    facings_wide=p.facings_wide + int(rng.integers(0, 3)),
                )
                for p in plan.positions
            ),
        )
        first = repair(scrambled, d, catalog)
        assert first.after.is_valid, [v.message for v in first.after.hard]
        assert first.after == validate(first.planogram, d, catalog)
        assert repair(scrambled, d, catalog) == first
        # what was kept keeps its facings: removals never exceed the excess over capacity
        # plus what cannot stand on this display at all
        assert first.facings_after <= d.max_slots


def test_block_from_a_missing_shelf_goes_where_there_is_room(
    display: Display, catalog: dict[str, Product]
) -> None:
    cat = {
        **catalog,
        **{pid: _product(pid, subcategory="Water") for pid in ("W1", "W2", "W3", "W4", "W5")},
    }
    # shelves 0-1: a Soda block then Water blocks, 18-25 cm free at the right end; shelf 2:
    # Seltzer and Water; shelf 3 empty. B1 (Soda, 14 cm) stands on shelf 9, which the display
    # lacks. On shelves 0-1 it would join the Soda run and push the Water blocks right.
    plan = _plan(
        Position(0, 0.0, "A1", 2, 1, 5),
        Position(0, 14.0, "W1", 2, 1, 5),
        Position(0, 28.0, "W2", 2, 1, 5),
        Position(1, 0.0, "A2", 2, 1, 5),
        Position(1, 14.0, "W3", 3, 1, 5),
        Position(2, 0.0, "SELTZER", 1, 1, 5),
        Position(2, 7.0, "W4", 2, 1, 5),
        Position(2, 21.0, "W5", 2, 1, 5),
        Position(9, 0.0, "B1", 2, 1, 5),
    )
    assert [v.rule_type for v in validate(plan, display, cat).hard] == ["unknown_shelf"]
    result = repair(plan, display, cat)
    assert result.after.is_valid
    [change] = result.changes  # nothing else moved
    assert (change.kind, change.product_id) == (ChangeKind.MOVED_SHELF, "B1")
    assert change.shelf_after in (2, 3)  # shelf 3 is empty; on shelf 2 B1 goes after the rest
    assert [p for p in result.planogram.positions if p.product_id != "B1"] == list(
        plan.positions[:8]
    )


def test_repair_enforces_the_gap_between_neighbours(
    display: Display, catalog: dict[str, Product]
) -> None:
    book = Rulebook(
        rules=(
            *(r for r in default_rulebook().rules if r.type != "shelf_width"),
            ShelfWidth(id="shelf-width", gap_cm=0.5),
        )
    )
    plan = _plan(Position(1, 0.0, "A1", 2, 1, 5), Position(1, 14.0, "A2", 2, 1, 5))  # touching
    result = repair(plan, display, catalog, book)
    assert not result.before.is_valid and result.after.is_valid
    a1, a2 = result.planogram.positions
    assert (a1.x_cm, a2.x_cm) == (0.0, 14.5)
    assert [c.kind for c in result.changes] == [ChangeKind.MOVED_X]


def test_repair_lines_up_an_across_shelves_block(
    display: Display, catalog: dict[str, Product]
) -> None:
    book = Rulebook(
        rules=(
            *default_rulebook().rules,
            CategoryBlocking(id="brand-column", level="brand", across_shelves=True),
        )
    )
    # brand B sits at the right end of shelf 1 and the left end of shelf 2: no shared width
    plan = _plan(
        Position(1, 0.0, "A1", 6, 1, 5),
        Position(1, 45.0, "B1", 2, 1, 5),
        Position(2, 0.0, "B1", 2, 1, 5),
        Position(2, 20.0, "A2", 4, 1, 5),
    )
    assert any(v.rule_id == "brand-column" for v in validate(plan, display, catalog, book).hard)
    result = repair(plan, display, catalog, book)
    assert result.after.is_valid
    assert validate(result.planogram, display, catalog, book).is_valid
    assert result.facings_removed == 0


@st.composite
def _broken(draw: st.DrawFn) -> tuple[Display, dict[str, Product], Planogram, Rulebook]:
    n_shelves = draw(st.integers(1, 4))
    width = draw(st.sampled_from([46.0, 61.0, 76.0]))
    shelves = tuple(
        Shelf(i, width, draw(st.sampled_from([22.0, 30.0])), 40.0, 60.0, 12.0 + 35.0 * i)
        for i in range(n_shelves)
    )
    display = Display("D1", "S1", DisplayKind.COOLER, draw(st.integers(8, 30)), shelves)
    catalog: dict[str, Product] = {}
    for k in range(draw(st.integers(1, 6))):
        pid = f"P{k}"
        catalog[pid] = _product(
            pid,
            brand=draw(st.sampled_from(["A", "B", "C"])),
            subcategory=draw(st.sampled_from(["Soda", "Water", None])),
            width_cm=draw(st.sampled_from([6.5, 7.4, 8.0, 12.5])),
            height_cm=draw(st.sampled_from([12.2, 21.0, 27.0])),
            age_restricted=draw(st.integers(0, 5)) == 0,
        )
    positions = tuple(
        Position(
            draw(st.integers(0, n_shelves)),  # n_shelves: a shelf the display lacks
            draw(st.integers(0, 700)) / 10,
            draw(st.sampled_from(sorted(catalog))),
            draw(st.integers(1, 4)),
            1,
            draw(st.integers(1, 5)),
        )
        for _ in range(draw(st.integers(1, 9)))
    )
    rules = [r for r in default_rulebook().rules if r.type != "shelf_width"]
    rules.append(ShelfWidth(id="shelf-width", gap_cm=draw(st.sampled_from([0.0, 0.5, 1.2]))))
    if draw(st.booleans()):
        level = draw(st.sampled_from(["subcategory", "brand"]))
        rules.append(CategoryBlocking(id="across", level=level, across_shelves=True))
    if draw(st.booleans()):
        rules.append(Adjacency(id="adj", pairs=(("P0", "P1"), ("Soda", "Water"))))
    if draw(st.booleans()):
        rules.append(MandatoryProducts(id="must", product_ids=("P0",)))
    plan = Planogram("D1", 1, positions, provenance="random")
    return display, catalog, plan, Rulebook(rules=tuple(rules))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_broken())
def test_repair_output_always_passes_the_validator(
    case: tuple[Display, dict[str, Product], Planogram, Rulebook],
) -> None:
    display, catalog, plan, book = case
    try:
        result = repair(plan, display, catalog, book, time_limit_s=5.0)
    except InfeasiblePlanogramError as exc:
        event("infeasible")
        assert "no repair" in str(exc)
        return
    event("valid before" if result.before.is_valid else "repaired")
    assert result.after.is_valid, [v.message for v in result.after.hard]
    assert validate(result.planogram, display, catalog, book).is_valid
    assert result.facings_after <= display.max_slots
