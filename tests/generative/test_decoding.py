"""Decoders of generated tensors: raw reading, structured decoding, arranging an assortment."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.data.synthetic.world import SyntheticChain
from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.data import MODEL_CHANNELS, PlanogramCodec
from shelfwise.generative.decoding import (
    GUARANTEED_RULE_TYPES,
    ArrangeResult,
    decode_arrange,
    decode_naive,
    decode_structured,
)
from shelfwise.planogram.rules import (
    CategoryBlocking,
    DisplayCapacity,
    FacingsRange,
    RegulatoryZone,
    Rulebook,
    ShelfWidth,
    default_rulebook,
)
from shelfwise.planogram.validator import validate

# The families the brief asks the structured decoder to guarantee, written out independently
# of the module, plus the validator's input problems (which a decoder must never cause).
FAMILIES = {
    "shelf_width",
    "height_clearance",
    "depth",
    "shelf_load",
    "no_overlap",
    "display_capacity",
    "regulatory_zone",
    "category_blocking",
}
NEVER = FAMILIES | {"unknown_product", "unknown_shelf", "missing_data"}

# --------------------------------------------------------------------------- hand-made world
A = Product(
    "A",
    "Cola",
    brand="X",
    category="Drinks",
    subcategory="Soda",
    width_cm=10.0,
    height_cm=20.0,
    depth_cm=7.0,
    weight_kg=0.5,
    price=1.0,
)
B = Product(
    "B",
    "Water",
    brand="Y",
    category="Drinks",
    subcategory="Water",
    width_cm=6.0,
    height_cm=20.0,
    depth_cm=7.0,
    weight_kg=0.5,
    price=1.0,
)
C = Product(
    "C",
    "Tall",
    brand="X",
    category="Drinks",
    subcategory="Soda",
    width_cm=8.0,
    height_cm=40.0,
    depth_cm=7.0,
    weight_kg=0.5,
    price=1.0,
)
S = Product(
    "S",
    "Soda Z",
    brand="Z",
    category="Drinks",
    subcategory="Soda",
    width_cm=5.0,
    height_cm=20.0,
    depth_cm=7.0,
    weight_kg=0.5,
    price=1.0,
)
HAND = (A, B, C, S)


def _display(
    *, max_slots: int = 30, max_load_kg: float = 50.0, n_shelves: int = 2, width_cm: float = 60.0
) -> Display:
    shelves = tuple(
        Shelf(i, width_cm, clearance_cm=30.0, depth_cm=40.0, max_load_kg=max_load_kg,
              height_from_floor_cm=20.0 + 50.0 * i)
        for i in range(n_shelves)
    )  # fmt: skip
    return Display("D1", "S1", DisplayKind.SHELF, max_slots=max_slots, shelves=shelves)


@pytest.fixture(scope="module")
def hand_codec() -> PlanogramCodec:
    return PlanogramCodec(HAND, n_shelves=4, n_slots=12)  # 60 cm shelves: 5 cm slots


def _empty(codec: PlanogramCodec) -> NDArray[np.float32]:
    return np.full((codec.n_channels, codec.n_shelves, codec.n_slots), -1.0, dtype=np.float32)


def _paint(
    x: NDArray[np.float32], codec: PlanogramCodec, shelf: int, slots: range, pid: str
) -> None:
    x[:, shelf, slots.start : slots.stop] = codec.attributes[codec.index[pid]][:, None]


def _positions(plan: Planogram) -> list[tuple[int, float, str, int, int, int]]:
    return [
        (p.shelf_index, p.x_cm, p.product_id, p.facings_wide, p.facings_high, p.facings_deep)
        for p in plan.positions
    ]


def _broken(
    plan: Planogram, display: Display, catalog: Mapping[str, Product], rulebook: Rulebook
) -> list[str]:
    report = validate(plan, display, catalog, rulebook)
    return [v.message for v in report.violations if v.rule_type in NEVER]


def test_guaranteed_families_are_the_documented_ones() -> None:
    assert set(GUARANTEED_RULE_TYPES) == FAMILIES


# ------------------------------------------------------------------------------ naive
def test_naive_reads_hand_made_tensor(hand_codec: PlanogramCodec) -> None:
    display = _display()
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 4), "A")  # A, 2 facings: 0..20 cm -> slots 0..3
    _paint(x, hand_codec, 0, range(4, 8), "B")  # B, 3 facings: 20..38 cm -> slots 4..7
    _paint(x, hand_codec, 1, range(5, 7), "A")  # A, 1 facing: 25..35 cm -> slots 5..6
    expected = [
        (0, 0.0, "A", 2, 1, 5),  # facings deep: floor(40 / 7) = 5
        (0, 20.0, "B", 3, 1, 5),
        (1, 25.0, "A", 1, 1, 5),
    ]
    # the hand-painted tensor is exactly the codec's encoding of the expected planogram
    truth = Planogram("D1", 1, tuple(Position(*p) for p in expected))
    np.testing.assert_array_equal(hand_codec.encode(truth, display), x)
    noisy = x + np.random.default_rng(0).normal(0.0, 0.03, size=x.shape).astype(np.float32)
    for tensor in (x, noisy):
        plan = decode_naive(tensor, display, hand_codec, provenance="test:naive")
        assert _positions(plan) == expected
        assert plan.version == 1 and plan.provenance == "test:naive"
        assert plan.display_id == "D1"


def test_naive_enforces_nothing_structured_does(hand_codec: PlanogramCodec) -> None:
    display = _display(max_slots=2)
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 4), "C")  # C is 40 cm tall; clearance is 30 cm
    _paint(x, hand_codec, 0, range(4, 12), "A")
    naive = decode_naive(x, display, hand_codec)
    assert "C" in naive.facings()
    assert sum(naive.facings().values()) > 2
    rule_types = {
        v.rule_type for v in validate(naive, display, {p.product_id: p for p in HAND}).hard
    }
    assert {"height_clearance", "display_capacity"} <= rule_types
    structured = decode_structured(x, display, hand_codec)
    assert "C" not in structured.facings()
    assert sum(structured.facings().values()) <= 2
    assert _broken(structured, display, {p.product_id: p for p in HAND}, default_rulebook()) == []


# ------------------------------------------------------------------------ chain round trip
@pytest.fixture(scope="module", params=[1, 2])
def chain(request: pytest.FixtureRequest) -> SyntheticChain:
    return generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4),
        random_state=request.param,
    )


@pytest.fixture(scope="module")
def codec(chain: SyntheticChain) -> PlanogramCodec:
    return PlanogramCodec(chain.products, n_clusters=1)


def test_round_trip_of_chain_planograms(chain: SyntheticChain, codec: PlanogramCodec) -> None:
    displays = {d.display_id: d for d in chain.displays}
    catalog = {p.product_id: p for p in chain.products}
    assert len(chain.planograms) >= 10
    for plan in chain.planograms:
        display = displays[plan.display_id]
        assert validate(plan, display, catalog).is_valid
        x = codec.encode(plan, display)
        for decoded in (decode_naive(x, display, codec), decode_structured(x, display, codec)):
            assert dict(decoded.facings()) == dict(plan.facings())
            assert decoded.positions == plan.positions  # exact: same x, facings, depth


# ----------------------------------------------------------------- random tensors, structured
def _blocky(
    rng: np.random.Generator, codec: PlanogramCodec, occupancy: float, noise: float
) -> NDArray[np.float64]:
    """Runs of random products (as a model would paint them), with noise."""
    x = np.full((codec.n_channels, codec.n_shelves, codec.n_slots), -1.0)
    for s in range(codec.n_shelves):
        k = 0
        while k < codec.n_slots:
            length = int(rng.integers(1, 7))
            if rng.uniform() < occupancy:
                p = int(rng.integers(codec.n_products))
                x[:, s, k : k + length] = codec.attributes[p][:, None]
            k += length
    return np.clip(x + rng.normal(0.0, noise, size=x.shape), -1.0, 1.0)


def _shelf_candidates(
    x: NDArray[np.float64], display: Display, codec: PlanogramCodec, rulebook: Rulebook
) -> list[set[str]]:
    """Per shelf, the products the tensor puts there: brute-force nearest allowed product."""
    allowed = codec.allowed(display, rulebook)
    out = []
    for s in range(len(display.shelves)):
        found: set[str] = set()
        for k in range(codec.n_slots):
            if x[MODEL_CHANNELS.index("occupied"), s, k] <= 0:
                continue
            best = min(
                (float(np.sum((x[:, s, k] - codec.attributes[p]) ** 2)), p)
                for p in range(codec.n_products)
                if allowed[s, p]
            )
            found.add(codec.product_ids[best[1]])
        out.append(found)
    return out


def test_structured_random_tensors_break_no_guaranteed_rule(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    rng = np.random.default_rng(7)
    catalog = {p.product_id: p for p in chain.products}
    rulebook = default_rulebook()
    n_positions = 0
    for trial in range(120):
        display = chain.displays[trial % len(chain.displays)]
        if trial % 2:
            x = rng.uniform(-1.0, 1.0, size=(codec.n_channels, codec.n_shelves, codec.n_slots))
        else:
            x = _blocky(rng, codec, occupancy=float(rng.uniform(0.3, 1.0)), noise=0.2)
        plan = decode_structured(x, display, codec)
        assert _broken(plan, display, catalog, rulebook) == []
        n_positions += len(plan.positions)
        allowed = codec.allowed(display, rulebook)
        for pos in plan.positions:
            assert allowed[pos.shelf_index, codec.index[pos.product_id]]
        # no invented products: read slot by slot (switch_cost 0), each product on a shelf is
        # the nearest allowed product of one of that shelf's occupied slots
        per_slot = decode_structured(x, display, codec, switch_cost=0.0)
        assert _broken(per_slot, display, catalog, rulebook) == []
        candidates = _shelf_candidates(x, display, codec, rulebook)
        for pos in per_slot.positions:
            assert pos.product_id in candidates[pos.shelf_index]
        keys = [(p.shelf_index, p.x_cm) for p in plan.positions]
        assert keys == sorted(keys)
        assert all(round(p.x_cm, 2) == p.x_cm for p in plan.positions)
    assert n_positions > 600  # the decoder keeps most of what it reads


RULEBOOKS = (
    default_rulebook(),
    Rulebook(
        name="strict",
        rules=(
            ShelfWidth(id="w", gap_cm=1.5),
            DisplayCapacity(id="cap"),
            FacingsRange(id="fr", min_facings=1, max_facings=3, per_product={"P0002": (1, 1)}),
            RegulatoryZone(id="age", min_height_from_floor_cm=60.0),
            CategoryBlocking(id="sub", level="subcategory"),
            CategoryBlocking(id="brand", level="brand"),  # cuts across subcategories
        ),
    ),
    Rulebook(
        name="coolers-only",
        rules=(
            CategoryBlocking(id="brand", level="brand", display_kinds=(DisplayKind.COOLER,)),
            RegulatoryZone(id="age", forbidden_display_kinds=(DisplayKind.END_CAP,)),
        ),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    which=st.integers(0, 50),
    book=st.integers(0, len(RULEBOOKS) - 1),
    occupancy=st.floats(0.0, 1.0),
    noise=st.floats(0.0, 1.0),
)
def test_structured_property_any_rulebook(
    chain: SyntheticChain,
    codec: PlanogramCodec,
    seed: int,
    which: int,
    book: int,
    occupancy: float,
    noise: float,
) -> None:
    rng = np.random.default_rng(seed)
    display = chain.displays[which % len(chain.displays)]
    rulebook = RULEBOOKS[book]
    catalog = {p.product_id: p for p in chain.products}
    x = _blocky(rng, codec, occupancy, noise)
    plan = decode_structured(x, display, codec, rulebook)
    assert _broken(plan, display, catalog, rulebook) == []
    report = validate(plan, display, catalog, rulebook)
    assert not [v for v in report.violations if v.rule_type == "facings_range"]
    if rulebook.name == "strict":
        assert plan.facings().get("P0002", 0) <= 1
        assert max(plan.facings().values(), default=0) <= 3


def test_cross_cutting_levels_drop_the_smaller_run(hand_codec: PlanogramCodec) -> None:
    # products: A (X, Soda), B (Y, Water), D (Y, Soda), E (X, Water)
    d = Product(
        "D",
        "Soda Y",
        brand="Y",
        subcategory="Soda",
        width_cm=5.0,
        height_cm=20.0,
        depth_cm=7.0,
        weight_kg=0.5,
    )
    e = Product("E", "Water X", brand="X", subcategory="Water", width_cm=5.0, height_cm=20.0,
                depth_cm=7.0, weight_kg=0.5)  # fmt: skip
    catalog = (A, B, d, e)
    codec = PlanogramCodec(catalog, n_shelves=4, n_slots=12)
    display = _display(width_cm=60.0)
    x = _empty(codec)
    _paint(x, codec, 0, range(0, 4), "A")  # Soda X, 2 facings
    _paint(x, codec, 0, range(4, 5), "D")  # Soda Y, 1 facing
    _paint(x, codec, 0, range(5, 6), "B")  # Water Y, 1 facing
    _paint(x, codec, 0, range(6, 7), "E")  # Water X, 1 facing
    rulebook = Rulebook(
        rules=(
            CategoryBlocking(id="sub", level="subcategory"),
            CategoryBlocking(id="brand", level="brand"),
        )
    )
    plan = decode_structured(x, display, codec, rulebook)
    # subcategory groups: Soda [A, D], Water [B, E] -> brands X Y Y X: X is split; its runs
    # hold 2 (A) and 1 (E) facings, so E goes.
    assert [p.product_id for p in plan.positions] == ["A", "D", "B"]
    by_id = {p.product_id: p for p in catalog}
    assert validate(plan, display, by_id, rulebook).is_valid


def test_stable_category_grouping_keeps_first_appearance(hand_codec: PlanogramCodec) -> None:
    display = _display()
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 2), "B")  # Water, then Soda, then Water again
    _paint(x, hand_codec, 0, range(2, 4), "A")
    _paint(x, hand_codec, 0, range(4, 6), "B")
    plan = decode_structured(x, display, hand_codec)
    # Water first (it appears first), the two B blocks merged, then Soda; packed from 0
    assert [(p.product_id, p.x_cm, p.facings_wide) for p in plan.positions] == [
        ("B", 0.0, 3),
        ("A", 18.0, 1),
    ]
    naive = decode_naive(x, display, hand_codec)
    assert [p.product_id for p in naive.positions] == ["B", "A", "B"]


def test_capacity_takes_from_largest_and_load_from_heaviest(hand_codec: PlanogramCodec) -> None:
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 8), "A")  # A, 4 facings: 0..40 cm
    _paint(x, hand_codec, 0, range(8, 10), "B")  # B, 1 facing: 40..46 cm
    assert _positions(decode_structured(x, _display(), hand_codec)) == [
        (0, 0.0, "A", 4, 1, 5),
        (0, 40.0, "B", 1, 1, 5),
    ]
    # max_slots 3: A 4 -> 3 -> 2 (always the largest block)
    assert _positions(decode_structured(x, _display(max_slots=3), hand_codec)) == [
        (0, 0.0, "A", 2, 1, 5),
        (0, 20.0, "B", 1, 1, 5),
    ]
    # each facing wide weighs 0.5 kg x 5 deep = 2.5 kg: 12.5 kg > 6 kg; the heaviest position
    # (A) loses facings until 2.5 (A) + 2.5 (B) = 5 kg <= 6 kg
    assert _positions(decode_structured(x, _display(max_load_kg=6.0), hand_codec)) == [
        (0, 0.0, "A", 1, 1, 5),
        (0, 10.0, "B", 1, 1, 5),
    ]


def test_overflow_facings_drop_at_shelf_end(hand_codec: PlanogramCodec) -> None:
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 12), "A")  # 12 slots of A read as 6 facings = 60 cm
    _paint(x, hand_codec, 1, range(0, 12), "A")
    rulebook = Rulebook(rules=(ShelfWidth(id="w", gap_cm=0.0),))
    plan = decode_structured(x, _display(width_cm=55.0), hand_codec, rulebook)
    # 55 cm shelves of 4.58 cm slots: 12 slots -> right edge 52.7 cm -> 5 facings, all fit
    assert [(p.shelf_index, p.facings_wide) for p in plan.positions] == [(0, 5), (1, 5)]


def test_empty_tensor_gives_empty_planograms(hand_codec: PlanogramCodec) -> None:
    display = _display()
    x = _empty(hand_codec)
    assert decode_naive(x, display, hand_codec).positions == ()
    assert decode_structured(x, display, hand_codec).positions == ()
    # arranging still places the given facings (the tensor only guides where)
    result = decode_arrange(x, display, hand_codec, {"A": 2, "B": 0})
    assert _positions(result.planogram) == [(0, 0.0, "A", 2, 1, 5)]
    assert result.planogram.provenance == "diffusion:arrange"
    assert dict(result.unplaced) == {}
    shelfless = Display("D1", "S1", DisplayKind.SHELF, max_slots=30)
    nowhere = decode_arrange(x, shelfless, hand_codec, {"A": 2, "B": 0})
    assert nowhere.planogram.positions == () and dict(nowhere.unplaced) == {"A": 2}


# -------------------------------------------------------------------------------- arrange
def test_arrange_follows_the_model_shelf_and_order(hand_codec: PlanogramCodec) -> None:
    display = _display()
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 6), "B")
    _paint(x, hand_codec, 1, range(0, 6), "A")
    result = decode_arrange(x, display, hand_codec, {"A": 2, "B": 3})
    assert isinstance(result, ArrangeResult)
    assert _positions(result.planogram) == [(0, 0.0, "B", 3, 1, 5), (1, 0.0, "A", 2, 1, 5)]
    assert dict(result.unplaced) == {}
    # within a shelf: the model put B left of A, so B comes first whatever the mapping's order
    y = _empty(hand_codec)
    _paint(y, hand_codec, 0, range(0, 4), "B")
    _paint(y, hand_codec, 0, range(4, 8), "A")
    plan = decode_arrange(y, display, hand_codec, {"A": 1, "B": 1}).planogram
    assert _positions(plan) == [(0, 0.0, "B", 1, 1, 5), (0, 6.0, "A", 1, 1, 5)]


def test_arrange_groups_categories_and_respects_load(hand_codec: PlanogramCodec) -> None:
    display = _display()
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 2), "A")  # Soda
    _paint(x, hand_codec, 0, range(2, 4), "B")  # Water
    _paint(x, hand_codec, 0, range(4, 6), "S")  # Soda again
    result = decode_arrange(x, display, hand_codec, {"B": 1, "S": 1, "A": 1})
    # model order A, B, S; Soda is grouped where it first appears: A, S, then B
    assert _positions(result.planogram) == [
        (0, 0.0, "A", 1, 1, 5),
        (0, 10.0, "S", 1, 1, 5),
        (0, 15.0, "B", 1, 1, 5),
    ]
    # a facing wide of A weighs 0.5 kg x 5 deep = 2.5 kg: two per 6 kg shelf, one left over
    light = _display(max_load_kg=6.0)
    loaded = decode_arrange(x, light, hand_codec, {"A": 5})
    assert sorted((p.shelf_index, p.facings_wide) for p in loaded.planogram.positions) == [
        (0, 2),
        (1, 2),
    ]
    assert dict(loaded.unplaced) == {"A": 1}


def test_arrange_splits_and_reports_unplaced(hand_codec: PlanogramCodec) -> None:
    display = _display()  # two 60 cm shelves, 30 slots
    x = _empty(hand_codec)
    _paint(x, hand_codec, 1, range(0, 12), "A")
    result = decode_arrange(x, display, hand_codec, {"A": 10})
    assert sorted((p.shelf_index, p.facings_wide) for p in result.planogram.positions) == [
        (0, 4),
        (1, 6),
    ]  # 6 fit on the model's shelf (1), the other 4 on shelf 0
    assert dict(result.unplaced) == {}
    over = decode_arrange(x, display, hand_codec, {"A": 20, "B": 3})
    placed = over.planogram.facings()
    assert placed["A"] + over.unplaced["A"] == 20
    assert placed.get("B", 0) + over.unplaced.get("B", 0) == 3
    assert sum(placed.values()) <= display.max_slots
    assert (
        _broken(over.planogram, display, {p.product_id: p for p in HAND}, default_rulebook()) == []
    )
    assert "C" not in decode_arrange(x, display, hand_codec, {"C": 1}).planogram.facings()


def test_arrange_chain_assortments(chain: SyntheticChain, codec: PlanogramCodec) -> None:
    displays = {d.display_id: d for d in chain.displays}
    catalog = {p.product_id: p for p in chain.products}
    complete = 0
    for plan in chain.planograms:
        display = displays[plan.display_id]
        given_facings = dict(plan.facings())
        result = decode_arrange(codec.encode(plan, display), display, codec, given_facings)
        placed = result.planogram.facings()
        for pid, q in given_facings.items():
            assert placed.get(pid, 0) + result.unplaced.get(pid, 0) == q
        assert set(placed) <= set(given_facings)
        assert _broken(result.planogram, display, catalog, default_rulebook()) == []
        complete += not result.unplaced
    assert complete >= len(chain.planograms) - 2  # they fit by construction; greedy may miss


def test_arrange_random_tensors_and_assortments(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    rng = np.random.default_rng(11)
    catalog = {p.product_id: p for p in chain.products}
    rulebook = RULEBOOKS[1]
    for trial in range(60):
        display = chain.displays[trial % len(chain.displays)]
        x = _blocky(rng, codec, occupancy=float(rng.uniform(0.0, 1.0)), noise=0.3)
        chosen = rng.choice(codec.n_products, size=int(rng.integers(1, 12)), replace=False)
        wanted = {codec.product_ids[i]: int(rng.integers(0, 6)) for i in chosen}
        result = decode_arrange(x, display, codec, wanted, rulebook, temperature=0.2)
        placed = result.planogram.facings()
        for pid, q in wanted.items():
            assert placed.get(pid, 0) + result.unplaced.get(pid, 0) == q
        assert all(v > 0 for v in result.unplaced.values())
        assert set(placed) <= {pid for pid, q in wanted.items() if q > 0}
        assert _broken(result.planogram, display, catalog, rulebook) == []


# ------------------------------------------------------------------------------ bad input
BAD_CALLS = [
    (
        lambda c, d, x: decode_naive(x[:, :2], d, c),
        r"tensor shape must be \((\d+), 4, 12\).*got \(\1, 2, 12\)",
    ),
    (
        lambda c, d, x: decode_structured(x[1:], d, c),
        r"tensor shape must be \((\d+), 4, 12\).*got \(\d+, 4, 12\)",
    ),
    (
        lambda c, d, x: decode_arrange(x[:, :, :8], d, c, {"A": 1}),
        r"tensor shape must be \((\d+), 4, 12\).*got \(\1, 4, 8\)",
    ),
    (
        lambda c, d, x: decode_naive(np.where(x > 0, np.nan, x), d, c),
        r"tensor must be finite; got \d+ NaN or infinite values",
    ),
    (
        lambda c, d, x: decode_naive(x, _display(n_shelves=5), c),
        "display D1 has 5 shelves; .* n_shelves=4",
    ),
    (
        lambda c, d, x: decode_structured(x, d, c, rulebook="default"),
        "rulebook must be a Rulebook or None; got str",
    ),
    (
        lambda c, d, x: decode_naive(x, d, "codec"),
        "codec must be a PlanogramCodec; got str",
    ),
    (
        lambda c, d, x: decode_arrange(x, d, c, {"Z": 1}),
        "facings must name products .* got 'Z'",
    ),
    (
        lambda c, d, x: decode_arrange(x, d, c, {"A": -1}),
        "facings must be integers >= 0; got -1 for product 'A'",
    ),
    (
        lambda c, d, x: decode_arrange(x, d, c, {"A": 1.5}),
        "facings must be integers >= 0; got 1.5 for product 'A'",
    ),
    (
        lambda c, d, x: decode_arrange(x, d, c, {"A": True}),
        "facings must be integers >= 0; got True",
    ),
    (
        lambda c, d, x: decode_arrange(x, d, c, [("A", 1)]),
        "facings must be a mapping .* got list",
    ),
    (
        lambda c, d, x: decode_arrange(x, d, c, {"A": 1}, temperature=0.0),
        "temperature must be a finite number > 0; got 0.0",
    ),
]


@pytest.mark.parametrize(("call", "match"), BAD_CALLS)
def test_bad_input_names_parameter_and_value(
    hand_codec: PlanogramCodec, call: object, match: str
) -> None:
    x = _empty(hand_codec)
    _paint(x, hand_codec, 0, range(0, 4), "A")
    assert callable(call)
    with pytest.raises(InvalidParameterError, match=match):
        call(hand_codec, _display(), x)


def test_segmentation_reads_noisy_blocks_as_the_products_they_are(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    """MAP segmentation recovers a noisy planogram's products better than slot by slot."""
    rng = np.random.default_rng(3)
    displays = {d.display_id: d for d in chain.displays}
    err_viterbi, err_slot, blocks_viterbi, blocks_slot = 0.0, 0.0, 0, 0
    for plan in chain.planograms[:12]:
        display = displays[plan.display_id]
        truth = set(plan.facings())
        x = codec.encode(plan, display) + rng.normal(0.0, 0.45, size=(codec.n_channels, 1, 1))
        x = x + rng.normal(0.0, 0.45, size=x.shape)
        x[MODEL_CHANNELS.index("occupied")] = codec.encode(plan, display)[0]
        smooth = decode_structured(x, display, codec)
        slot = decode_structured(x, display, codec, switch_cost=0.0)
        err_viterbi += 1.0 - len(truth & set(smooth.facings())) / len(truth | set(smooth.facings()))
        err_slot += 1.0 - len(truth & set(slot.facings())) / len(truth | set(slot.facings()))
        blocks_viterbi += len(smooth.positions)
        blocks_slot += len(slot.positions)
    assert err_viterbi < err_slot
    assert blocks_viterbi < blocks_slot
