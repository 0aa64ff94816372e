"""The CP-SAT layout solver and the greedy baseline, judged by the independent validator."""

from __future__ import annotations

import itertools
import math
import re

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import Display, DisplayKind, Planogram, Product, Shelf
from shelfwise.exceptions import InfeasiblePlanogramError, InvalidParameterError
from shelfwise.planogram.rules import (
    Adjacency,
    BrandShare,
    CategoryBlocking,
    FacingsRange,
    MandatoryProducts,
    Rulebook,
    ShelfWidth,
    default_rulebook,
)
from shelfwise.planogram.solver import greedy_layout, solve_layout
from shelfwise.planogram.validator import validate


def _shelves(n: int = 3, width: float = 60.0, clearance: float = 25.0) -> tuple[Shelf, ...]:
    # heights 20, 60, 100, 140: only shelf 3 (140 cm) is at eye level (110-165 cm)
    return tuple(Shelf(i, width, clearance, 40.0, 30.0, 20.0 + 40.0 * i) for i in range(n))


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
    return Display("D1", "S1", DisplayKind.COOLER, 30, _shelves(4))


@pytest.fixture
def catalog() -> dict[str, Product]:
    items = [
        _product("P1", brand="A", subcategory="Soda"),
        _product("P2", brand="B", subcategory="Water", width_cm=8.0, height_cm=22.0),
        _product("P3", brand="A", subcategory="Soda", price=4.0, unit_cost=1.0),
        _product("P4", brand="C", subcategory="Water", width_cm=6.5),
        _product("P5", brand="B", subcategory="Soda"),
        _product("TALL", height_cm=40.0),
        _product("SELTZER", brand="H", subcategory="Seltzer", age_restricted=True),
    ]
    return {p.product_id: p for p in items}


def test_solution_meets_every_hard_rule(display: Display, catalog: dict[str, Product]) -> None:
    facings = {"P1": 3, "P2": 2, "P3": 4, "P4": 1, "P5": 2, "SELTZER": 2}
    plan = solve_layout(display, facings, catalog)
    report = validate(plan, display, catalog)
    assert report.is_valid, report.hard
    assert dict(plan.facings()) == facings
    assert plan.provenance == "solver:cp-sat"
    for pos in plan.positions:
        p = catalog[pos.product_id]
        assert pos.facings_high == 1
        assert pos.facings_deep == math.floor(40.0 / (p.depth_cm or 1.0))
    seltzer = [pos.shelf_index for pos in plan.positions if pos.product_id == "SELTZER"]
    assert all(display.shelves[s].height_from_floor_cm >= 100.0 for s in seltzer)


def test_highest_margin_product_goes_to_eye_level(
    display: Display, catalog: dict[str, Product]
) -> None:
    plan = solve_layout(display, {"P1": 2, "P2": 2, "P3": 2, "P4": 2}, catalog)
    shelves = {pos.shelf_index for pos in plan.positions if pos.product_id == "P3"}
    assert 3 in shelves  # P3 has the top margin; shelf 3 is the only eye-level shelf
    assert not any(v.rule_type == "eye_level" for v in validate(plan, display, catalog).soft)


def test_adjacency_pairs_end_up_neighbours(display: Display, catalog: dict[str, Product]) -> None:
    rules = (*default_rulebook().rules, Adjacency(id="adj", pairs=(("P1", "P5"),), weight=1.0))
    book = Rulebook(rules=rules)
    plan = solve_layout(display, {"P1": 2, "P2": 2, "P4": 2, "P5": 1}, catalog, book)
    report = validate(plan, display, catalog, book)
    assert report.is_valid
    assert not [v for v in report.soft if v.rule_type == "adjacency"]


def test_adjacency_pairs_of_subcategories_end_up_neighbours(
    display: Display, catalog: dict[str, Product]
) -> None:
    cat = {**catalog, "J1": _product("J1", brand="J", subcategory="Juice")}
    # sorted by name the groups would go Juice, Soda, Water: Juice and Water apart
    rules = (*default_rulebook().rules, Adjacency(id="adj", pairs=(("Juice", "Water"),)))
    book = Rulebook(rules=rules)
    facings = {"J1": 2, "P1": 2, "P2": 2, "P4": 2, "P5": 1}
    plan = solve_layout(display, facings, cat, book)
    report = validate(plan, display, cat, book)
    assert report.is_valid
    assert not [v for v in report.soft if v.rule_type == "adjacency"]


def test_brands_form_vertical_blocks_on_synthetic_displays() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=0
    )
    catalog = {p.product_id: p for p in chain.products}
    displays = {d.display_id: d for d in chain.displays}
    first: dict[str, Planogram] = {}
    for plan in chain.planograms:
        first.setdefault(plan.display_id, plan)
    penalties = []
    for display_id, plan in list(first.items())[:6]:
        d = displays[display_id]
        report = validate(solve_layout(d, plan.facings(), catalog), d, catalog)
        assert report.is_valid
        penalties.append(
            sum(v.penalty for v in report.soft if v.rule_type == "vertical_brand_blocks")
        )
    # the rule weighs 0.5; without the brand-spread objective term the mean was 0.147 here
    assert sum(penalties) / len(penalties) < 0.08


def test_across_shelves_groups_overlap_and_gaps_hold() -> None:
    shelves = tuple(Shelf(i, 46.0, 30.0, 45.0, 80.0, 12.0 + 33.0 * i) for i in range(3))
    display = Display("H1", "S1", DisplayKind.COOLER, 30, shelves)
    cat = {
        "S1": _product("S1", brand="C", subcategory="Soda", width_cm=12.5),
        "S2": _product("S2", brand="C", subcategory="Soda", width_cm=8.0),
        "W1": _product("W1", brand="A", subcategory="Water", width_cm=7.4),
        "W2": _product("W2", brand="B", subcategory="Water", width_cm=6.5),
    }
    book = Rulebook(
        rules=(
            *(r for r in default_rulebook().rules if r.type != "shelf_width"),
            ShelfWidth(id="shelf-width", gap_cm=1.0),
            CategoryBlocking(id="sub-column", level="subcategory", across_shelves=True),
            CategoryBlocking(id="brand-column", level="brand", across_shelves=True),
        )
    )
    plan = solve_layout(display, {"S1": 4, "S2": 3, "W1": 5, "W2": 3}, cat, book)
    assert validate(plan, display, cat, book).is_valid
    by_shelf: dict[int, list[tuple[float, float]]] = {}
    for pos in plan.positions:
        w = cat[pos.product_id].width_cm or 0.0
        by_shelf.setdefault(pos.shelf_index, []).append((pos.x_cm, pos.x_cm + pos.facings_wide * w))
    for blocks in by_shelf.values():
        blocks.sort()
        assert all(b[0] - a[1] >= 1.0 - 1e-9 for a, b in itertools.pairwise(blocks))


def test_a_layout_the_validator_rejects_is_never_returned(
    display: Display, catalog: dict[str, Product], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shelfwise.domain import Position
    from shelfwise.planogram import solver

    def broken(*args: object) -> tuple[Position, ...]:  # two blocks on top of each other
        return (Position(3, 0.0, "P1", 2, 1, 5), Position(3, 0.0, "P3", 2, 1, 5))

    monkeypatch.setattr(solver, "layout_shelves", broken)
    with pytest.raises(InfeasiblePlanogramError, match=r"breaks these rules: 'no-overlap'"):
        solve_layout(display, {"P1": 2, "P3": 2}, catalog)


def test_same_seed_same_layout(display: Display, catalog: dict[str, Product]) -> None:
    facings = {"P1": 3, "P2": 2, "P3": 4, "P4": 1, "P5": 2}
    first = solve_layout(display, facings, catalog, random_state=7)
    again = solve_layout(display, facings, catalog, random_state=7)
    assert first == again


def test_deterministic_on_a_synthetic_chain() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=0
    )
    catalog = {p.product_id: p for p in chain.products}
    displays = {d.display_id: d for d in chain.displays}
    for plan in chain.planograms[:6]:
        d = displays[plan.display_id]
        a = solve_layout(d, plan.facings(), catalog, random_state=3)
        b = solve_layout(d, plan.facings(), catalog, random_state=3)
        assert a == b
        assert validate(a, d, catalog).is_valid


# ------------------------------------------------------------------ infeasibility messages
def _rules_named(exc: pytest.ExceptionInfo[InfeasiblePlanogramError]) -> str:
    return str(exc.value)


def test_tall_mandatory_product_names_mandatory_and_clearance(
    display: Display, catalog: dict[str, Product]
) -> None:
    book = Rulebook(
        rules=(*default_rulebook().rules, MandatoryProducts(id="must-stock", product_ids=("TALL",)))
    )
    with pytest.raises(InfeasiblePlanogramError) as exc:
        solve_layout(display, {"P1": 2, "TALL": 1}, catalog, book)
    msg = _rules_named(exc)
    assert "'must-stock'" in msg and "'height-clearance'" in msg
    assert "requested-facings" not in msg
    assert "product TALL may stand on no shelf" in msg
    assert "shelf-load" not in msg and "display-capacity" not in msg


def test_hints_only_speak_of_rules_in_the_conflict(
    display: Display, catalog: dict[str, Product]
) -> None:
    # "must" comes first, so the deletion filter drops it and keeps display-capacity
    book = Rulebook(
        rules=(MandatoryProducts(id="must", product_ids=("P2",)), *default_rulebook().rules)
    )
    with pytest.raises(InfeasiblePlanogramError) as exc:  # P2 is mandatory but not requested
        solve_layout(display, {"P1": 8, "P3": 8, "P4": 8, "P5": 7}, catalog, book)
    msg = _rules_named(exc)
    assert "'display-capacity'" in msg and "31 facings requested" in msg
    assert "'must'" not in msg and "mandatory products not requested" not in msg
    with pytest.raises(InfeasiblePlanogramError) as exc:
        solve_layout(display, {"P1": 2}, catalog, book)
    assert "'must' (mandatory_products)" in str(exc.value)
    assert "mandatory products not requested: P2" in str(exc.value)


def test_tall_requested_product_names_request_and_clearance(
    display: Display, catalog: dict[str, Product]
) -> None:
    with pytest.raises(InfeasiblePlanogramError, match=r"'requested-facings'.*'height-clearance'"):
        solve_layout(display, {"P1": 2, "TALL": 1}, catalog)


def test_impossible_brand_share_names_the_brand_rule(
    display: Display, catalog: dict[str, Product]
) -> None:
    book = Rulebook(
        rules=(*default_rulebook().rules, BrandShare(id="a-deal", brand="A", min_share=0.6))
    )
    with pytest.raises(InfeasiblePlanogramError) as exc:
        solve_layout(display, {"P1": 1, "P2": 3, "P4": 2}, catalog, book)
    msg = _rules_named(exc)
    assert "'a-deal' (brand_share)" in msg and "'requested-facings'" in msg
    assert "height-clearance" not in msg and "shelf-width" not in msg


def test_age_restricted_product_on_checkout(catalog: dict[str, Product]) -> None:
    checkout = Display("K1", "S1", DisplayKind.CHECKOUT, 20, _shelves(4))
    with pytest.raises(InfeasiblePlanogramError) as exc:
        solve_layout(checkout, {"P1": 1, "SELTZER": 1}, catalog)
    msg = _rules_named(exc)
    assert "'age-restricted-zone' (regulatory_zone)" in msg
    assert "product SELTZER may stand on no shelf" in msg


def test_too_many_facings_names_capacity(display: Display, catalog: dict[str, Product]) -> None:
    with pytest.raises(InfeasiblePlanogramError, match=r"'display-capacity'.*31 facings requested"):
        solve_layout(display, {"P1": 8, "P2": 8, "P4": 8, "P5": 7}, catalog)


def test_facings_outside_range(display: Display, catalog: dict[str, Product]) -> None:
    book = Rulebook(rules=(FacingsRange(id="fr", min_facings=1, max_facings=3),))
    with pytest.raises(InfeasiblePlanogramError, match="'fr' \\(facings_range\\)"):
        solve_layout(display, {"P1": 4}, catalog, book)


def test_mandatory_product_missing_from_catalog(
    display: Display, catalog: dict[str, Product]
) -> None:
    book = Rulebook(rules=(MandatoryProducts(id="m", product_ids=("GHOST",)),))
    with pytest.raises(InfeasiblePlanogramError, match="GHOST is not in the catalog"):
        solve_layout(display, {"P1": 1}, catalog, book)


@pytest.mark.parametrize(
    ("facings", "kwargs", "match"),
    [
        ({"P1": -1}, {}, "facings must be integers >= 0"),
        ({"NOPE": 1}, {}, "product NOPE must be in the catalog"),
        ({"P1": 1}, {"time_limit_s": 0.0}, "time_limit_s must be"),
        ({"P1": 1}, {"random_state": 1.5}, "random_state must be an int"),
    ],
)
def test_bad_input_is_refused(
    display: Display,
    catalog: dict[str, Product],
    facings: dict[str, int],
    kwargs: dict[str, object],
    match: str,
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        solve_layout(display, facings, catalog, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ greedy baseline
def test_greedy_places_everything_but_may_break_rules(
    display: Display, catalog: dict[str, Product]
) -> None:
    facings = {"SELTZER": 2, "P1": 3, "P2": 2}
    plan = greedy_layout(display, facings, catalog)
    assert dict(plan.facings()) == facings
    assert plan.provenance == "solver:greedy"
    report = validate(plan, display, catalog)
    assert {v.rule_type for v in report.hard} == {"regulatory_zone"}  # seltzer on the bottom
    assert validate(solve_layout(display, facings, catalog), display, catalog).is_valid


# ------------------------------------------------------------------ property test
@st.composite
def _instances(draw: st.DrawFn) -> tuple[Display, dict[str, Product], dict[str, int], Rulebook]:
    n_shelves = draw(st.integers(1, 4))
    kind = draw(st.sampled_from([DisplayKind.COOLER, DisplayKind.SHELF, DisplayKind.CHECKOUT]))
    width = draw(st.sampled_from([38.0, 46.0, 61.0, 76.0]))
    shelves, height = [], draw(st.sampled_from([12.0, 40.0]))
    for i in range(n_shelves):
        clearance = round(draw(st.floats(22.0, 32.0)), 1)
        load = draw(st.sampled_from([10.0, 40.0, 80.0]))
        shelves.append(
            Shelf(i, width, clearance, draw(st.sampled_from([25.0, 45.0])), load, height)
        )
        height += clearance + 3.0
    display = Display("H1", "S1", kind, draw(st.integers(6, 30)), tuple(shelves))
    n_products = draw(st.integers(1, 7))
    catalog: dict[str, Product] = {}
    facings: dict[str, int] = {}
    for k in range(n_products):
        pid = f"P{k}"
        catalog[pid] = _product(
            pid,
            brand=draw(st.sampled_from(["A", "B", "C"])),
            subcategory=draw(st.sampled_from(["Soda", "Water", None])),
            width_cm=draw(st.sampled_from([6.5, 7.4, 8.0, 12.5])),
            height_cm=draw(st.sampled_from([12.2, 21.0, 21.0, 27.0])),
            depth_cm=draw(st.sampled_from([6.6, 8.0])),
            weight_kg=draw(st.sampled_from([0.37, 0.62, 1.05])),
            price=draw(st.sampled_from([1.0, 2.0, 3.5])),
            age_restricted=k == n_products - 1 and draw(st.integers(0, 2)) == 0,
        )
        facings[pid] = draw(st.integers(0 if k else 1, 4))
    rules = [r for r in default_rulebook().rules if r.type != "shelf_width"]
    rules.append(ShelfWidth(id="shelf-width", gap_cm=draw(st.sampled_from([0.0, 0.5, 1.2]))))
    if draw(st.booleans()):
        level = draw(st.sampled_from(["subcategory", "brand"]))
        rules.append(CategoryBlocking(id="across", level=level, across_shelves=True))
    if draw(st.booleans()):
        pairs = draw(
            st.lists(
                st.tuples(
                    st.sampled_from(["P0", "P1", "P2", "Soda", "Water", "Drinks"]),
                    st.sampled_from(["P1", "P3", "Soda", "Water", "Seltzer"]),
                ),
                min_size=1,
                max_size=3,
            )
        )
        rules.append(Adjacency(id="adj", pairs=tuple(pairs), weight=1.0))
    if draw(st.booleans()):
        rules.append(BrandShare(id="share-a", brand="A", min_share=0.1, max_share=0.9))
    if draw(st.booleans()):
        rules.append(MandatoryProducts(id="must", product_ids=("P0",)))
    if draw(st.booleans()):
        rules.append(FacingsRange(id="at-most-4", min_facings=1, max_facings=4))
    if draw(st.booleans()):
        rules.append(CategoryBlocking(id="brand-blocks", level="brand"))
    return display, catalog, facings, Rulebook(rules=tuple(rules))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_instances())
def test_solver_output_always_passes_the_validator(
    case: tuple[Display, dict[str, Product], dict[str, int], Rulebook],
) -> None:
    display, catalog, facings, book = case
    try:
        plan = solve_layout(display, facings, catalog, book, time_limit_s=5.0)
    except InfeasiblePlanogramError as exc:
        named = sorted(set(re.findall(r"\(([a-z_]+|the request)\)", str(exc))))
        event("infeasible: " + ", ".join(named))
        assert "meets these rules together" in str(exc) or "not in the catalog" in str(exc)
        ids = {r.id for r in book.rules} | {"requested-facings"}
        assert any(f"'{rid}'" in str(exc) for rid in ids)
        return
    event("solved")
    assert isinstance(plan, Planogram)
    report = validate(plan, display, catalog, book)
    assert report.is_valid, [v.message for v in report.hard]
    assert {k: v for k, v in plan.facings().items()} == {k: v for k, v in facings.items() if v > 0}
