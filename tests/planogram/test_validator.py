"""The planogram validator: every hard rule broken and kept, soft penalties, and agreement with
brute-force checks (1 mm rasters, summed loads, enumerated x-orders) on random planograms."""

from __future__ import annotations

import itertools
import typing
from collections import Counter
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram import rules
from shelfwise.planogram.validator import (
    CHECKERS,
    MISSING_DATA,
    UNKNOWN_PRODUCT,
    UNKNOWN_SHELF,
    summarize,
    validate,
    violations_frame,
)
from shelfwise.planogram.violations import Severity, ValidationReport, Violation


# ------------------------------------------------------------------------------ fixtures
def shelf(index: int, **kw: Any) -> Shelf:
    base: dict[str, Any] = {
        "index": index,
        "width_cm": 100.0,
        "clearance_cm": 30.0,
        "depth_cm": 40.0,
        "max_load_kg": 50.0,
        "height_from_floor_cm": 20.0 + 40.0 * index,
    }
    return Shelf(**{**base, **kw})


def display(
    n_shelves: int = 3, *, kind: DisplayKind = DisplayKind.SHELF, max_slots: int = 100, **kw: Any
) -> Display:
    return Display("D1", "S1", kind, max_slots, tuple(shelf(i, **kw) for i in range(n_shelves)))


def product(pid: str, **kw: Any) -> Product:
    base: dict[str, Any] = {
        "name": f"name {pid}",
        "brand": "Acme",
        "category": "Drinks",
        "subcategory": "Cola",
        "width_cm": 10.0,
        "height_cm": 20.0,
        "depth_cm": 10.0,
        "weight_kg": 0.5,
        "price": 2.0,
        "unit_cost": 1.0,
    }
    return Product(pid, **{**base, **kw})


def catalog(*products: Product) -> dict[str, Product]:
    return {p.product_id: p for p in products}


def plan(*positions: Position) -> Planogram:
    return Planogram("D1", 1, positions)


def pos(
    shelf_index: int, x: float, pid: str, wide: int = 1, high: int = 1, deep: int = 1
) -> Position:
    return Position(shelf_index, x, pid, wide, high, deep)


def book(*items: Any) -> rules.Rulebook:
    return rules.Rulebook(name="test", rules=items)


def only(report: ValidationReport, rule_type: str | None = None) -> list[Violation]:
    return [v for v in report.violations if rule_type is None or v.rule_type == rule_type]


def one(report: ValidationReport) -> Violation:
    assert len(report.violations) == 1, report.violations
    return report.violations[0]


CAT = catalog(
    product("P1"),
    product("P2"),
    product("P3", brand="Bolt", subcategory="Energy"),
    product("P4", brand="Bolt", subcategory="Energy"),
)


# ------------------------------------------------------------------------------ hard rules
def test_shelf_width_total_and_overhang() -> None:
    rb = book(rules.ShelfWidth(id="sw", gap_cm=1.0))
    fits = plan(pos(0, 0, "P1", 3), pos(0, 31, "P2", 3), pos(0, 62, "P3", 3))  # 90 + 2 gaps
    assert validate(fits, display(), CAT, rb).violations == ()
    full = plan(pos(1, 0, "P1", 4), pos(1, 40, "P2", 3), pos(1, 70, "P3", 3))  # ends at 100
    assert validate(full, display(), CAT, book(rules.ShelfWidth(id="sw"))).violations == ()
    # 100 cm of facings + 2 gaps of 1 cm on a 100 cm shelf (and its blocks touch: no gaps)
    v, *touching = validate(full, display(), CAT, rb).violations
    gaps = [(t.product_ids, t.measured) for t in touching]
    assert gaps == [(("P1", "P2"), 0.0), (("P2", "P3"), 0.0)]
    assert (v.rule_id, v.rule_type, v.severity) == ("sw", "shelf_width", Severity.HARD)
    assert (v.shelf_index, v.product_ids) == (1, ("P1", "P2", "P3"))
    assert v.measured == pytest.approx(102.0) and v.limit == 100.0
    over = plan(pos(2, 95, "P4", 1))
    v = one(validate(over, display(), CAT, rb))
    assert (v.shelf_index, v.product_ids, v.measured, v.limit) == (2, ("P4",), 105.0, 100.0)
    assert "ends at 105 cm" in v.message


def test_shelf_width_gap_between_neighbours() -> None:
    half = book(rules.ShelfWidth(id="sw", gap_cm=0.5))
    touching = plan(pos(0, 0, "P1", 1), pos(0, 10, "P2", 1))  # P1 ends at 10: no gap
    assert validate(touching, display(), CAT, book(rules.ShelfWidth(id="sw"))).is_valid
    v = one(validate(touching, display(), CAT, half))
    assert (v.rule_id, v.shelf_index, v.product_ids) == ("sw", 0, ("P1", "P2"))
    assert (v.measured, v.limit) == (0.0, 0.5)
    assert "0 cm apart" in v.message
    spaced = plan(pos(0, 0, "P1", 1), pos(0, 10.5, "P2", 1), pos(0, 30, "P3", 1))
    assert validate(spaced, display(), CAT, half).is_valid
    # an overlap is also a gap shortfall (measured negative); no_overlap reports it as well
    both = book(rules.ShelfWidth(id="sw", gap_cm=0.5), rules.NoOverlap(id="ov"))
    report = validate(plan(pos(0, 0, "P1", 2), pos(0, 15, "P2", 1)), display(), CAT, both)
    assert sorted((v.rule_id, v.measured) for v in report.hard) == [("ov", 5.0), ("sw", -5.0)]


def test_height_clearance() -> None:
    rb = book(rules.HeightClearance(id="hc"))
    cat = catalog(product("P1", height_cm=15.0))
    assert validate(plan(pos(0, 0, "P1", high=2)), display(), cat, rb).is_valid  # 30 <= 30
    v = one(validate(plan(pos(1, 0, "P1", high=3)), display(), cat, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids) == ("hc", 1, ("P1",))
    assert (v.measured, v.limit) == (45.0, 30.0)


def test_depth() -> None:
    rb = book(rules.Depth(id="dp"))
    assert validate(plan(pos(0, 0, "P1", deep=4)), display(), CAT, rb).is_valid  # 40 <= 40
    v = one(validate(plan(pos(2, 10, "P1", deep=5)), display(), CAT, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids, v.measured, v.limit) == (
        "dp",
        2,
        ("P1",),
        50.0,
        40.0,
    )


def test_shelf_load() -> None:
    rb = book(rules.ShelfLoad(id="load"))
    d = display(max_load_kg=10.0)
    ok = plan(pos(0, 0, "P1", 2, 1, 4), pos(0, 20, "P2", 3, 1, 4))  # 20 units x 0.5 = 10 kg
    assert validate(ok, d, CAT, rb).is_valid
    bad = plan(pos(0, 0, "P1", 2, 1, 4), pos(0, 20, "P2", 3, 1, 4), pos(1, 0, "P3", 1))
    heavy = plan(*bad.positions, pos(0, 50, "P3", 1, 1, 2))  # + 1 kg on shelf 0
    v = one(validate(heavy, d, CAT, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids) == ("load", 0, ("P1", "P2", "P3"))
    assert v.measured == pytest.approx(11.0) and v.limit == 10.0


def test_no_overlap_pairs_and_touching() -> None:
    rb = book(rules.NoOverlap(id="ov"))
    touching = plan(pos(0, 0, "P1", 3), pos(0, 30, "P2", 2))
    assert validate(touching, display(), CAT, rb).is_valid
    v = one(validate(plan(pos(0, 0, "P1", 3), pos(0, 20, "P2", 2)), display(), CAT, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids, v.measured, v.limit) == (
        "ov",
        0,
        ("P1", "P2"),
        10.0,
        0.0,
    )
    # a long block overlapping two blocks that do not overlap each other
    long = plan(pos(1, 30, "P3", 1), pos(1, 0, "P1", 5), pos(1, 10, "P2", 1))
    found = {(v.product_ids, v.measured) for v in validate(long, display(), CAT, rb).violations}
    assert found == {(("P1", "P2"), 10.0), (("P1", "P3"), 10.0)}


def test_display_capacity() -> None:
    rb = book(rules.DisplayCapacity(id="cap"))
    d = display(max_slots=5)
    assert validate(plan(pos(0, 0, "P1", 3), pos(1, 0, "P2", 2)), d, CAT, rb).is_valid
    v = one(validate(plan(pos(0, 0, "P1", 3), pos(1, 0, "P2", 3)), d, CAT, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids, v.measured, v.limit) == (
        "cap",
        None,
        ("P1", "P2"),
        6.0,
        5.0,
    )


def test_facings_range_bounds_overrides_and_mandatory_absentees() -> None:
    rb = book(
        rules.FacingsRange(id="fr", min_facings=2, max_facings=4, per_product={"P3": (1, None)}),
        rules.MandatoryProducts(id="must", product_ids=("P4",)),
    )
    ok = plan(pos(0, 0, "P1", 2), pos(1, 0, "P1", 2), pos(0, 20, "P2", 2), pos(0, 40, "P3", 9))
    ok = plan(*ok.positions, pos(2, 0, "P4", 2))
    assert validate(ok, display(), CAT, rb).is_valid
    bad = plan(pos(0, 0, "P1", 1), pos(0, 20, "P2", 3), pos(1, 0, "P2", 2), pos(0, 60, "P3", 1))
    found = {
        (v.product_ids, v.measured, v.limit)
        for v in validate(bad, display(), CAT, rb).violations
        if v.rule_id == "fr"
    }
    assert found == {(("P1",), 1.0, 2.0), (("P2",), 5.0, 4.0), (("P4",), 0.0, 2.0)}
    # an absent product that is not mandatory is not checked
    assert validate(plan(pos(0, 0, "P1", 2)), display(), CAT, book(rb.rules[0])).is_valid


def test_mandatory_products() -> None:
    rb = book(rules.MandatoryProducts(id="must", product_ids=("P2", "P4")))
    assert validate(plan(pos(0, 0, "P2"), pos(1, 0, "P4")), display(), CAT, rb).is_valid
    v = one(validate(plan(pos(0, 0, "P2"), pos(1, 0, "P3")), display(), CAT, rb))
    assert (v.rule_id, v.product_ids, v.measured, v.limit) == ("must", ("P4",), 0.0, 1.0)


def test_regulatory_zone_height_and_forbidden_kinds() -> None:
    rb = book(rules.RegulatoryZone(id="age", min_height_from_floor_cm=100.0))
    cat = catalog(product("B1", age_restricted=True), product("P1"))
    d = display(4)  # shelves at 20, 60, 100, 140 cm
    assert validate(plan(pos(2, 0, "B1"), pos(3, 0, "B1"), pos(0, 0, "P1")), d, cat, rb).is_valid
    v = one(validate(plan(pos(1, 0, "B1"), pos(0, 0, "P1")), d, cat, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids, v.measured, v.limit) == (
        "age",
        1,
        ("B1",),
        60.0,
        100.0,
    )
    checkout = display(4, kind=DisplayKind.CHECKOUT)
    v = one(validate(plan(pos(3, 0, "B1"), pos(0, 0, "P1")), checkout, cat, rb))
    assert (v.shelf_index, v.product_ids, v.measured, v.limit) == (3, ("B1",), None, None)
    assert "checkout" in v.message


def test_category_blocking_within_shelf() -> None:
    rb = book(rules.CategoryBlocking(id="blk", level="subcategory"))
    # Cola, Cola, Energy, Energy (x order differs from planogram order)
    ok = plan(pos(0, 30, "P3"), pos(0, 0, "P1"), pos(0, 40, "P4"), pos(0, 10, "P2"))
    assert validate(ok, display(), CAT, rb).is_valid
    bad = plan(pos(0, 0, "P1"), pos(0, 10, "P3"), pos(0, 20, "P2"), pos(0, 30, "P4"))
    found = {
        (v.shelf_index, v.product_ids, v.measured, v.limit)
        for v in only(validate(bad, display(), CAT, rb))
    }
    assert found == {(0, ("P1", "P2"), 2.0, 1.0), (0, ("P3", "P4"), 2.0, 1.0)}
    # an ungrouped product splits a group; the brand level sees one block
    cat = {**CAT, "X": product("X", subcategory=None)}
    split = plan(pos(1, 0, "P1"), pos(1, 10, "X"), pos(1, 20, "P2"))
    v = one(validate(split, display(), cat, rb))
    assert (v.shelf_index, v.product_ids, v.measured) == (1, ("P1", "P2"), 2.0)
    by_brand = book(rules.CategoryBlocking(id="blk", level="brand"))
    assert only(validate(bad, display(), CAT, by_brand)) != []
    assert validate(split, display(), cat, by_brand).is_valid


def test_category_blocking_across_shelves() -> None:
    rb = book(rules.CategoryBlocking(id="blk", level="subcategory", across_shelves=True))
    column = plan(pos(0, 0, "P1", 3), pos(1, 20, "P2", 3), pos(0, 50, "P3", 2), pos(1, 60, "P4"))
    assert validate(column, display(), CAT, rb).is_valid
    apart = plan(pos(0, 0, "P1", 3), pos(1, 30, "P2", 3))  # [0, 30] and [30, 60]: touching only
    v = one(validate(apart, display(), CAT, rb))
    assert (v.rule_id, v.shelf_index, v.product_ids, v.measured, v.limit) == (
        "blk",
        0,
        ("P1", "P2"),
        0.0,
        0.0,
    )
    skipping = plan(pos(0, 0, "P1", 3), pos(2, 0, "P2", 3))
    v = one(validate(skipping, display(), CAT, rb))
    assert (v.shelf_index, v.product_ids, v.measured, v.limit) == (None, ("P1", "P2"), 1.0, 0.0)
    assert validate(skipping, display(), CAT, book(rules.CategoryBlocking(id="b"))).is_valid


def test_brand_share() -> None:
    # Acme: P1 4 x 10 cm + P2 2 x 10 cm = 60 cm of 100 cm; Bolt 40 cm
    layout = plan(pos(0, 0, "P1", 4), pos(0, 40, "P3", 4), pos(1, 0, "P2", 2))
    ok = book(rules.BrandShare(id="acme", brand="Acme", min_share=0.6, max_share=0.6))
    assert validate(layout, display(), CAT, ok).is_valid
    high = book(rules.BrandShare(id="acme", brand="Acme", max_share=0.5))
    v = one(validate(layout, display(), CAT, high))
    assert (v.rule_id, v.shelf_index, v.product_ids) == ("acme", None, ("P1", "P2"))
    assert v.measured == pytest.approx(0.6) and v.limit == 0.5
    low = book(rules.BrandShare(id="bolt", brand="Bolt", min_share=0.45))
    v = one(validate(layout, display(), CAT, low))
    assert (v.product_ids, v.limit) == (("P3",), 0.45) and v.measured == pytest.approx(0.4)
    absent = book(rules.BrandShare(id="z", brand="Zed", min_share=0.1))
    v = one(validate(layout, display(), CAT, absent))
    assert (v.product_ids, v.measured, v.limit) == ((), 0.0, 0.1)


# ------------------------------------------------------------------------------ input problems
def test_unknown_product_and_shelf() -> None:
    layout = plan(pos(0, 0, "P1"), pos(0, 10, "NOPE", 2), pos(5, 0, "P2"))
    report = validate(layout, display(), CAT, book(rules.DisplayCapacity(id="cap")))
    assert [v.rule_type for v in report.violations] == [UNKNOWN_PRODUCT, UNKNOWN_SHELF]
    unknown, off = report.violations
    assert (unknown.rule_id, unknown.shelf_index, unknown.product_ids) == (
        UNKNOWN_PRODUCT,
        0,
        ("NOPE",),
    )
    assert (off.shelf_index, off.product_ids, off.measured, off.limit) == (5, ("P2",), 5.0, 2.0)
    assert not report.is_valid
    # display rules still count the position on the missing shelf, not the unknown product
    tight = validate(layout, display(max_slots=1), CAT, book(rules.DisplayCapacity(id="cap")))
    assert only(tight, "display_capacity")[0].measured == 2.0


def test_missing_dimension_names_field_and_rule() -> None:
    cat = {**CAT, "W": Product("W", "no size", brand="Acme")}
    rb = book(rules.ShelfWidth(id="sw"), rules.HeightClearance(id="hc"), rules.ShelfLoad(id="load"))
    report = validate(plan(pos(0, 0, "W", 2), pos(0, 20, "W"), pos(1, 0, "P1")), display(), cat, rb)
    found = [(v.rule_id, v.rule_type, v.shelf_index, v.product_ids) for v in report.violations]
    assert found == [
        ("sw", MISSING_DATA, 0, ("W",)),
        ("hc", MISSING_DATA, 0, ("W",)),
        ("load", MISSING_DATA, 0, ("W",)),
    ]
    messages = [v.message for v in report.violations]
    assert "width_cm" in messages[0] and "'sw'" in messages[0]
    assert "height_cm" in messages[1] and "weight_kg" in messages[2]
    assert all(v.severity == Severity.HARD for v in report.violations)


def test_display_kinds_filtering() -> None:
    layout = plan(pos(0, 0, "P1", 6))
    rb = book(rules.DisplayCapacity(id="cap", display_kinds=(DisplayKind.COOLER,)))
    assert validate(layout, display(max_slots=5), CAT, rb).is_valid
    cooler = display(max_slots=5, kind=DisplayKind.COOLER)
    assert one(validate(layout, cooler, CAT, rb)).rule_id == "cap"
    # a mandatory rule for coolers only does not make facings_range check absentees elsewhere
    rb = book(
        rules.FacingsRange(id="fr"),
        rules.MandatoryProducts(
            id="must", product_ids=("P4",), display_kinds=(DisplayKind.COOLER,)
        ),
    )
    assert validate(layout, display(), CAT, rb).is_valid
    assert {v.rule_id for v in validate(layout, cooler, CAT, rb).violations} == {"fr", "must"}


def test_bad_inputs_raise() -> None:
    other = Planogram("D2", 1, ())
    with pytest.raises(InvalidParameterError, match="display_id must match"):
        validate(other, display(), CAT)
    with pytest.raises(
        InvalidParameterError, match="unit_sales_per_day must be finite and >= 0 for product P1"
    ):
        validate(plan(), display(), CAT, unit_sales_per_day={"P1": -1.0})


def test_every_rule_type_has_a_checker() -> None:
    union = typing.get_args(typing.get_args(rules.Rule)[0])
    types = {cls.model_fields["type"].default for cls in union}
    assert types == set(CHECKERS)
    assert set(rules.HARD_RULE_TYPES) < types


# ------------------------------------------------------------------------------ soft rules
def eye_display() -> Display:
    return display(4)  # 20, 60, 100, 140 cm; eye level [110, 165] holds shelf 3 only


def test_eye_level_penalty_grows_with_top_products_away() -> None:
    cat = catalog(*(product(f"M{i}", price=float(10 - i), unit_cost=1.0) for i in range(4)))
    rule = rules.EyeLevel(id="eye", weight=2.0, top_fraction=0.5)  # top 2: M0, M1

    def penalty(shelf_m0: int, shelf_m1: int) -> float:
        layout = plan(
            pos(shelf_m0, 0, "M0"), pos(shelf_m1, 20, "M1"), pos(3, 40, "M2"), pos(0, 40, "M3")
        )
        return validate(layout, eye_display(), cat, book(rule)).soft_penalty

    assert penalty(3, 3) == 0.0
    assert penalty(3, 1) == pytest.approx(1.0)  # 2.0 x 1/2
    assert penalty(0, 1) == pytest.approx(2.0)
    layout = plan(pos(0, 0, "M0"), pos(3, 20, "M1"), pos(3, 40, "M2"), pos(0, 40, "M3"))
    v = one(validate(layout, eye_display(), cat, book(rule)))
    assert (v.severity, v.product_ids, v.measured, v.penalty) == (Severity.SOFT, ("M0",), 0.5, 1.0)
    # no shelf at eye level: skipped
    assert validate(plan(pos(0, 0, "M0")), display(2), cat, book(rule)).violations == ()


def test_vertical_brand_blocks_monotone_in_misalignment() -> None:
    rule = rules.VerticalBrandBlocks(id="vb", weight=1.5)
    penalties = []
    for shift in (0, 10, 20, 30, 40, 50):
        layout = plan(pos(0, 0, "P1", 3), pos(1, shift, "P2", 3), pos(2, 70, "P3"))
        penalties.append(validate(layout, display(), CAT, book(rule)).soft_penalty)
    assert penalties[0] == 0.0
    assert all(a <= b for a, b in itertools.pairwise(penalties))
    assert penalties[1] == pytest.approx(1.5 / 3)  # common 20 of 30 cm
    assert penalties[-1] == pytest.approx(1.5)


def test_adjacency_pairs() -> None:
    rule = rules.Adjacency(
        id="adj", weight=3.0, pairs=(("P1", "P2"), ("Cola", "Energy"), ("P1", "ZZ"))
    )
    near = plan(pos(0, 0, "P1"), pos(0, 10, "P2"), pos(0, 20, "P3"))
    assert validate(near, display(), CAT, book(rule)).violations == ()  # ZZ is absent: not counted
    far = plan(pos(0, 0, "P1"), pos(0, 10, "P3"), pos(0, 20, "P2"))
    v = one(validate(far, display(), CAT, book(rule)))  # Cola|Energy met, P1-P2 not
    assert v.product_ids == ("P1", "P2") and v.penalty == pytest.approx(1.5)  # 3.0 x 1 of 2
    apart = plan(pos(0, 0, "P1"), pos(1, 0, "P2"), pos(2, 0, "P3"))
    report = validate(apart, display(), CAT, book(rule))
    assert [v.product_ids for v in report.violations] == [("P1", "P2"), ("P1", "P2", "P3")]
    assert report.soft_penalty == pytest.approx(3.0)


def test_balanced_days_of_supply() -> None:
    rule = rules.BalancedDaysOfSupply(id="dos", weight=2.0)
    layout = plan(pos(0, 0, "P1", 2, 1, 2), pos(0, 20, "P2", 1, 1, 2))  # 4 and 2 units
    assert validate(layout, display(), CAT, book(rule)).violations == ()  # no sales: skipped
    even = validate(layout, display(), CAT, book(rule), unit_sales_per_day={"P1": 2, "P2": 1})
    assert even.violations == ()
    penalties = [
        validate(
            layout, display(), CAT, book(rule), unit_sales_per_day={"P1": s, "P2": 1.0}
        ).soft_penalty
        for s in (2.0, 1.5, 1.0, 0.5)
    ]
    assert penalties[0] == 0.0 and all(a < b for a, b in itertools.pairwise(penalties))
    assert penalties[2] == pytest.approx(2.0 * (1 / 3))  # days 4 and 2: std 1, mean 3
    target = rules.BalancedDaysOfSupply(id="dos", weight=1.0, target_days=2.0)
    v = one(validate(layout, display(), CAT, book(target), unit_sales_per_day={"P1": 1, "P2": 1}))
    assert v.measured == pytest.approx(0.5) and v.penalty == pytest.approx(0.5)  # (1 + 0) / 2


# ------------------------------------------------------------------------------ summaries
def test_summary_and_frame() -> None:
    rb = book(
        rules.NoOverlap(id="ov"),
        rules.DisplayCapacity(id="cap"),
        rules.EyeLevel(id="eye", weight=2.0),
    )
    layout = plan(pos(0, 0, "P1", 3), pos(0, 20, "P2", 2), pos(2, 0, "P3", 2), pos(2, 10, "P4"))
    report = validate(layout, display(4, max_slots=3), CAT, rb)
    summary = summarize(report)
    assert (summary.is_valid, summary.n_hard, summary.n_soft) == (False, 3, 1)
    tallies = {t.rule_id: (t.count, t.shelves) for t in summary.rules}
    assert tallies == {"ov": (2, (0, 2)), "cap": (1, ()), "eye": (1, ())}
    assert [t.severity for t in summary.rules] == [Severity.HARD, Severity.HARD, Severity.SOFT]
    text = str(summary)
    assert "INVALID" in text and "ov (no_overlap): 2 on shelves 0, 2" in text
    assert summary.to_dict()["n_hard"] == 3
    frame = violations_frame(report)
    assert len(frame) == 4 and frame["shelf_index"].isna().sum() == 2
    assert frame.loc[0, "product_ids"] == "P1,P2"


def test_synthetic_current_practice_planograms_are_valid() -> None:
    from shelfwise.data.synthetic import ChainConfig, generate_chain

    chain = generate_chain(
        ChainConfig(n_stores=4, n_products=20, displays_per_store=2, weeks=4), random_state=0
    )
    cat = {p.product_id: p for p in chain.products}
    displays = {d.display_id: d for d in chain.displays}
    for pg in chain.planograms:
        report = validate(pg, displays[pg.display_id], cat)
        assert report.is_valid, summarize(report)


# ------------------------------------------------------------------------------ property tests
KINDS = list(DisplayKind)
BRANDS = ["A", "B", None]
SUBCATS = ["Cola", "Energy", "Water", None]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Display, dict[str, Product], Planogram]:
    """Random geometry in whole millimetres (and grams), so brute force can count exactly."""
    n = draw(st.integers(1, 4))
    heights = draw(st.lists(st.integers(1, 600), min_size=n, max_size=n))
    shelves = tuple(
        Shelf(
            i,
            width_cm=draw(st.integers(200, 1200)) / 10,
            clearance_cm=draw(st.integers(100, 500)) / 10,
            depth_cm=draw(st.integers(100, 500)) / 10,
            max_load_kg=draw(st.integers(500, 20000)) / 1000,
            height_from_floor_cm=sum(heights[: i + 1]) / 10,
        )
        for i in range(n)
    )
    d = Display("D1", "S1", draw(st.sampled_from(KINDS)), draw(st.integers(1, 30)), shelves)
    cat: dict[str, Product] = {}
    for k in range(draw(st.integers(1, 6))):
        pid = f"P{k}"
        width_mm = draw(
            st.one_of(st.none(), st.integers(20, 300)) if k == 0 else st.integers(20, 300)
        )
        cat[pid] = Product(
            pid,
            pid,
            brand=draw(st.sampled_from(BRANDS)),
            category=draw(st.sampled_from(["Drinks", None])),
            subcategory=draw(st.sampled_from(SUBCATS)),
            width_cm=None if width_mm is None else width_mm / 10,
            height_cm=draw(st.integers(50, 300)) / 10,
            depth_cm=draw(st.integers(50, 200)) / 10,
            weight_kg=draw(st.integers(50, 2000)) / 1000,
            age_restricted=draw(st.booleans()),
        )
    if draw(st.booleans()):  # anything goes: overlaps, overhangs, unknown products and shelves
        pids, top_shelf = [*cat, "UNKNOWN"], n
    else:  # blocks packed left to right with small gaps: mostly valid, touching edges
        pids, top_shelf = list(cat), n - 1
    packed = top_shelf < n
    ends_mm = [0] * (n + 1)
    positions = []
    for _ in range(draw(st.integers(0, 12))):
        s, pid, wide = (
            draw(st.integers(0, top_shelf)),
            draw(st.sampled_from(pids)),
            draw(st.integers(1, 4)),
        )
        width = cat[pid].width_cm if pid in cat else None
        if packed and width is not None:
            x_mm = ends_mm[s] + draw(st.sampled_from([0, 0, 5, 20]))
            ends_mm[s] = x_mm + wide * round(width * 10)
        else:
            x_mm = draw(st.integers(0, 1200))
        high, deep = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        positions.append(Position(s, x_mm / 10, pid, wide, high, deep))
    return d, cat, Planogram("D1", 1, tuple(positions))


def mm(x: float) -> int:
    return round(x * 10)


def known_blocks(
    d: Display, cat: dict[str, Product], pg: Planogram, *, on_shelf: bool
) -> list[tuple[int, Position, Product]]:
    return [
        (i, p, cat[p.product_id])
        for i, p in enumerate(pg.positions)
        if p.product_id in cat and (not on_shelf or p.shelf_index < len(d.shelves))
    ]


def core(report: ValidationReport, rule_type: str) -> list[Violation]:
    return [v for v in report.violations if v.rule_type == rule_type]


def raster(x_mm: int, width_mm: int) -> set[int]:
    """The 1 mm cells a block covers."""
    return set(range(x_mm, x_mm + width_mm))


PROPERTY = settings(max_examples=150, deadline=None)


@PROPERTY
@given(scenarios(), st.integers(0, 20))
def test_property_shelf_width(
    case: tuple[Display, dict[str, Product], Planogram], gap_mm: int
) -> None:
    d, cat, pg = case
    report = validate(pg, d, cat, book(rules.ShelfWidth(id="sw", gap_cm=gap_mm / 10)))
    expected: Counter[tuple[Any, ...]] = Counter()
    for s, sh in enumerate(d.shelves):
        blocks = [
            (p, pr)
            for _, p, pr in known_blocks(d, cat, pg, on_shelf=True)
            if p.shelf_index == s and pr.width_cm
        ]
        total = sum(p.facings_wide * mm(_w(pr)) for p, pr in blocks) + gap_mm * (len(blocks) - 1)
        if blocks and total > mm(sh.width_cm):
            expected[(s, "total", total)] += 1
        for p, pr in blocks:
            cells = raster(mm(p.x_cm), p.facings_wide * mm(_w(pr)))
            if max(cells) >= mm(sh.width_cm):
                expected[(s, "end", max(cells) + 1)] += 1
        if gap_mm:  # neighbours in (x, planogram order) at least gap_mm apart
            ordered = sorted(
                (
                    (mm(p.x_cm), i, p, pr)
                    for i, p, pr in known_blocks(d, cat, pg, on_shelf=True)
                    if p.shelf_index == s and pr.width_cm
                ),
                key=lambda t: (t[0], t[1]),
            )
            for (xa, _, pa, pra), (xb, _, _, _) in itertools.pairwise(ordered):
                clear = xb - (xa + pa.facings_wide * mm(_w(pra)))
                if clear < gap_mm:
                    expected[(s, "gap", clear)] += 1

    def kind(v: Violation) -> str:
        return "total" if "holds" in v.message else "gap" if "apart" in v.message else "end"

    got = Counter((v.shelf_index, kind(v), mm(_f(v.measured))) for v in core(report, "shelf_width"))
    assert got == expected
    assert bool(core(report, MISSING_DATA)) == any(
        cat[p.product_id].width_cm is None for _, p, _ in known_blocks(d, cat, pg, on_shelf=True)
    )


def _w(p: Product) -> float:
    assert p.width_cm is not None
    return p.width_cm


def _f(x: float | None) -> float:
    assert x is not None
    return x


@PROPERTY
@given(scenarios())
def test_property_no_overlap(case: tuple[Display, dict[str, Product], Planogram]) -> None:
    d, cat, pg = case
    report = validate(pg, d, cat, book(rules.NoOverlap(id="ov")))
    blocks = [(p, pr) for _, p, pr in known_blocks(d, cat, pg, on_shelf=True) if pr.width_cm]
    expected: Counter[tuple[Any, ...]] = Counter()
    for (a, pa), (b, pb) in itertools.combinations(blocks, 2):
        if a.shelf_index == b.shelf_index:
            common = raster(mm(a.x_cm), a.facings_wide * mm(_w(pa))) & raster(
                mm(b.x_cm), b.facings_wide * mm(_w(pb))
            )
            if common:
                expected[
                    (a.shelf_index, tuple(sorted((a.product_id, b.product_id))), len(common))
                ] += 1
    got = Counter(
        (v.shelf_index, tuple(sorted(v.product_ids)), mm(_f(v.measured)))
        for v in core(report, "no_overlap")
    )
    assert got == expected


@PROPERTY
@given(scenarios(), st.sampled_from(["height", "depth"]))
def test_property_height_and_depth(
    case: tuple[Display, dict[str, Product], Planogram], which: str
) -> None:
    d, cat, pg = case
    rule = rules.HeightClearance(id="r") if which == "height" else rules.Depth(id="r")
    report = validate(pg, d, cat, book(rule))
    expected: Counter[tuple[Any, ...]] = Counter()
    for _, p, pr in known_blocks(d, cat, pg, on_shelf=True):
        sh = d.shelves[p.shelf_index]
        n, unit, limit = (
            (p.facings_high, pr.height_cm, sh.clearance_cm)
            if which == "height"
            else (p.facings_deep, pr.depth_cm, sh.depth_cm)
        )
        if n * mm(_f(unit)) > mm(limit):
            expected[(p.shelf_index, p.product_id, n * mm(_f(unit)))] += 1
    got = Counter(
        (v.shelf_index, v.product_ids[0], mm(_f(v.measured))) for v in core(report, rule.type)
    )
    assert got == expected


@PROPERTY
@given(scenarios())
def test_property_shelf_load(case: tuple[Display, dict[str, Product], Planogram]) -> None:
    d, cat, pg = case
    report = validate(pg, d, cat, book(rules.ShelfLoad(id="load")))
    grams: Counter[int] = Counter()
    for _, p, pr in known_blocks(d, cat, pg, on_shelf=True):
        for _unit in range(p.units):
            grams[p.shelf_index] += round(_f(pr.weight_kg) * 1000)
    expected = {s: g for s, g in grams.items() if g > round(d.shelves[s].max_load_kg * 1000)}
    got = {_f(v.shelf_index): round(_f(v.measured) * 1000) for v in core(report, "shelf_load")}
    assert got == expected


@PROPERTY
@given(scenarios())
def test_property_display_capacity_and_input_problems(
    case: tuple[Display, dict[str, Product], Planogram],
) -> None:
    d, cat, pg = case
    report = validate(pg, d, cat, book(rules.DisplayCapacity(id="cap")))
    total = sum(p.facings_wide for _, p, _ in known_blocks(d, cat, pg, on_shelf=False))
    caps = core(report, "display_capacity")
    assert [_f(v.measured) for v in caps] == ([float(total)] if total > d.max_slots else [])
    assert len(core(report, UNKNOWN_PRODUCT)) == sum(p.product_id not in cat for p in pg.positions)
    assert len(core(report, UNKNOWN_SHELF)) == sum(
        p.shelf_index >= len(d.shelves) for p in pg.positions
    )
    assert report.is_valid == (
        not caps
        and all(p.product_id in cat and p.shelf_index < len(d.shelves) for p in pg.positions)
    )


@PROPERTY
@given(scenarios(), st.integers(0, 3000))
def test_property_regulatory_zone(
    case: tuple[Display, dict[str, Product], Planogram], min_mm: int
) -> None:
    d, cat, pg = case
    rule = rules.RegulatoryZone(id="age", min_height_from_floor_cm=min_mm / 10)
    report = validate(pg, d, cat, book(rule))
    expected: Counter[tuple[Any, ...]] = Counter()
    for _, p, pr in known_blocks(d, cat, pg, on_shelf=False):
        if not pr.age_restricted:
            continue
        if d.kind == DisplayKind.CHECKOUT:
            expected[(p.shelf_index, p.product_id, "kind")] += 1
        if (
            p.shelf_index < len(d.shelves)
            and mm(d.shelves[p.shelf_index].height_from_floor_cm) < min_mm
        ):
            expected[(p.shelf_index, p.product_id, "height")] += 1
    got = Counter(
        (v.shelf_index, v.product_ids[0], "kind" if v.measured is None else "height")
        for v in core(report, "regulatory_zone")
    )
    assert got == expected


@PROPERTY
@given(scenarios(), st.sampled_from(["category", "subcategory", "brand"]), st.booleans())
def test_property_category_blocking(
    case: tuple[Display, dict[str, Product], Planogram], level: str, across: bool
) -> None:
    d, cat, pg = case
    rule = rules.CategoryBlocking(id="blk", level=level, across_shelves=across)  # type: ignore[arg-type]
    report = validate(pg, d, cat, book(rule))
    blocks = known_blocks(d, cat, pg, on_shelf=True)
    group = {i: getattr(pr, level) for i, _, pr in blocks}
    expected: set[tuple[Any, ...]] = set()
    for s in range(len(d.shelves)):
        here = [(p.x_cm, i) for i, p, _ in blocks if p.shelf_index == s]
        for (xa, a), (xc, c), (xb, b) in itertools.permutations(here, 3):
            # c lies strictly between a and b in the (x, planogram order) sequence
            if (
                (xa, a) < (xc, c) < (xb, b)
                and group[a] is not None
                and group[a] == group[b] != group[c]
            ):
                expected.add(("split", s, group[a]))
    if across:
        for g in {v for v in group.values() if v is not None}:
            shelves = sorted({p.shelf_index for i, p, _ in blocks if group[i] == g})
            if len(shelves) != shelves[-1] - shelves[0] + 1:
                expected.add(("gap", None, g))
            for lo, hi in itertools.pairwise(shelves):
                spans = []
                for s in (lo, hi):
                    cells = [
                        raster(mm(p.x_cm), p.facings_wide * mm(_w(pr)))
                        for i, p, pr in blocks
                        if group[i] == g and p.shelf_index == s and pr.width_cm
                    ]
                    spans.append(
                        set(range(min(map(min, cells)), max(map(max, cells)) + 1))
                        if cells
                        else None
                    )
                if (
                    hi == lo + 1
                    and spans[0] is not None
                    and spans[1] is not None
                    and not spans[0] & spans[1]
                ):
                    expected.add(("apart", lo, g))
    got = set()
    for v in core(report, "category_blocking"):
        g = v.message.split("'")[1]
        kind = "split" if "runs" in v.message else "gap" if "consecutive" in v.message else "apart"
        got.add((kind, v.shelf_index, g))
    assert got == expected


@PROPERTY
@given(scenarios(), st.sampled_from(["A", "B"]), st.integers(0, 100), st.integers(0, 100))
def test_property_brand_share(
    case: tuple[Display, dict[str, Product], Planogram], brand: str, lo: int, hi: int
) -> None:
    d, cat, pg = case
    lo, hi = min(lo, hi), max(lo, hi)
    rule = rules.BrandShare(id="bs", brand=brand, min_share=lo / 100, max_share=hi / 100)
    report = validate(pg, d, cat, book(rule))
    space = [
        (pr.brand, p.facings_wide * mm(_w(pr)))
        for _, p, pr in known_blocks(d, cat, pg, on_shelf=False)
        if pr.width_cm
    ]
    total = sum(w for _, w in space)
    share = Fraction(sum(w for b, w in space if b == brand), total) if total else Fraction(0)
    broken = share < Fraction(lo, 100) or share > Fraction(hi, 100)
    shares = core(report, "brand_share")
    assert len(shares) == int(broken)
    if broken:
        assert shares[0].measured == pytest.approx(float(share))
