"""Planogram <-> multi-channel tensor encoding: channels, exact decoding, documented losses."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product, Shelf
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram.encoding import CHANNEL_NAMES, PlanogramEncoder

CATALOG = (
    Product("A", "Cola can", category="Soda", width_cm=6.6, height_cm=12.2, weight_kg=0.37,
            price=1.19),
    Product("B", "Water 1 L", category="Water", width_cm=8.0, height_cm=27.0, weight_kg=1.05,
            price=2.69),
    Product("C", "Energy can", category="Energy", width_cm=6.5, height_cm=15.0, weight_kg=0.5,
            price=2.0),
    Product("D", "Mystery", width_cm=10.0),
)  # fmt: skip


def _display(widths: list[float], display_id: str = "D1") -> Display:
    shelves = tuple(
        Shelf(i, w, clearance_cm=30.0, depth_cm=50.0, max_load_kg=80.0,
              height_from_floor_cm=10.0 + 35.0 * i)
        for i, w in enumerate(widths)
    )  # fmt: skip
    return Display(display_id, "S1", DisplayKind.COOLER, max_slots=60, shelves=shelves)


@pytest.fixture
def encoder() -> PlanogramEncoder:
    return PlanogramEncoder(CATALOG, n_shelves=4, n_slots=12)


def test_channels_and_shape(encoder: PlanogramEncoder) -> None:
    assert encoder.channel_names == CHANNEL_NAMES
    assert encoder.channel_names[:6] == ("product", "width", "height", "weight", "category",
                                         "price")  # fmt: skip
    assert encoder.shape == (11, 4, 12) and encoder.n_channels == 11
    assert encoder.categories == ("Energy", "Soda", "Water")
    assert encoder.channel("block_start") == 9
    with pytest.raises(InvalidParameterError, match="name must be one of"):
        encoder.channel("colour")


def test_encoded_values(encoder: PlanogramEncoder) -> None:
    display = _display([120.0, 60.0])  # slots of 10 cm and 5 cm
    plan = Planogram("D1", 1, (
        Position(0, 12.5, "B", facings_wide=3, facings_high=2, facings_deep=5),  # 12.5 .. 36.5
        Position(0, 40.0, "A"),  # 40 .. 46.6
        Position(1, 7.0, "D", facings_wide=2),  # 7 .. 27
    ))  # fmt: skip
    x = encoder.encode(plan, display)
    assert x.dtype == np.float32 and x.shape == (11, 4, 12)
    product, start, offset = x[0], x[9], x[10]
    np.testing.assert_allclose(product[0], [0, 0.5, 0.5, 0.5, 0.25, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(start[0], [0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    assert offset[0, 1] == pytest.approx(0.25) and offset[0, 4] == 0.0
    np.testing.assert_allclose(x[1:6, 0, 2], [0.8, 1.0, 1.0, 1.0, 2.69 / 2.69])
    np.testing.assert_allclose(x[1:6, 0, 4], [0.66, 12.2 / 27, 0.37 / 1.05, 2 / 3, 1.19 / 2.69],
                               rtol=1e-6)  # fmt: skip
    np.testing.assert_array_equal(x[6:9, 0, 1:4], [[3] * 3, [2] * 3, [5] * 3])
    # "Mystery" has no category, weight or price: zeros in those channels
    np.testing.assert_array_equal(start[1, :7], [0, 1, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(x[1:6, 1, 1], [1.0, 0, 0, 0, 0])
    assert offset[1, 1] == pytest.approx(0.4)
    assert not x[:, 2:].any()  # padded shelves are empty


# ----------------------------------------------------------------------------- exact decoding


@st.composite
def valid_planograms(draw: st.DrawFn) -> tuple[Display, Planogram]:
    """Non-overlapping blocks within each shelf, x on the 0.01 cm grid, blocks >= one slot."""
    widths = draw(st.lists(st.integers(40, 150), min_size=1, max_size=4))
    display = _display([float(w) for w in widths])
    positions = []
    for s, width in enumerate(widths):
        cursor = 0  # hundredths of a centimetre
        for _ in range(draw(st.integers(0, 12))):
            product = draw(st.sampled_from(CATALOG))
            wide = draw(st.integers(1, 4))
            start = cursor + draw(st.integers(0, 900))
            x = start / 100
            block = wide * (product.width_cm or 0.0)
            if x + block > width:
                break
            positions.append(Position(s, x, product.product_id, wide, draw(st.integers(1, 3)),
                                      draw(st.integers(1, 12))))  # fmt: skip
            cursor = math.ceil((x + block) * 100 - 1e-6)
    return display, Planogram("D1", 1, tuple(positions))


@settings(max_examples=150, deadline=None)
@given(valid_planograms())
def test_decode_inverts_encode_on_valid_planograms(case: tuple[Display, Planogram]) -> None:
    display, plan = case
    encoder = PlanogramEncoder(CATALOG, n_shelves=4, n_slots=24)
    x = encoder.encode(plan, display)
    assert encoder.decode(x, display).positions == plan.positions
    assert int(x[9].sum()) == len(plan.positions)


def test_synthetic_chain_planograms_decode_exactly() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=4, n_products=20, displays_per_store=2, weeks=6), random_state=3
    )
    displays = {d.display_id: d for d in chain.displays}
    encoder = PlanogramEncoder(
        chain.products,
        n_shelves=max(len(d.shelves) for d in chain.displays),
        n_slots=24,
        category_level="subcategory",
    )
    batch = encoder.encode_many(chain.planograms, displays)
    assert batch.shape == (len(chain.planograms), *encoder.shape)
    decoded = encoder.decode_many(batch, [displays[g.display_id] for g in chain.planograms])
    for got, want in zip(decoded, chain.planograms, strict=True):
        assert got.positions == want.positions
        assert got.display_id == want.display_id and got.provenance == "decoded"


# ----------------------------------------------------------------------------- refusals and losses


def test_refusals(encoder: PlanogramEncoder) -> None:
    display = _display([120.0])
    with pytest.raises(InvalidParameterError, match=r"vocabulary.*'Z'"):
        encoder.encode(Planogram("D1", 1, (Position(0, 0.0, "Z"),)), display)
    with pytest.raises(InvalidParameterError, match="n_shelves=4"):
        encoder.encode(Planogram("D1", 1, ()), _display([50.0] * 5))
    with pytest.raises(InvalidParameterError, match="shelf_index must be < 1"):
        encoder.encode(Planogram("D1", 1, (Position(1, 0.0, "A"),)), display)
    with pytest.raises(InvalidParameterError, match="display_id"):
        encoder.encode(Planogram("D2", 1, ()), display)
    with pytest.raises(InvalidParameterError, match="tensor shape"):
        encoder.decode(np.zeros((11, 4, 13), dtype=np.float32), display)
    with pytest.raises(InvalidParameterError, match="displays must hold"):
        encoder.encode_many([Planogram("D9", 1, ())], {"D1": display})
    # two valid blocks start in one slot of 20 cm: refused, not silently merged
    coarse = PlanogramEncoder(CATALOG, n_shelves=1, n_slots=6)
    two = Planogram("D1", 1, (Position(0, 0.0, "A"), Position(0, 7.0, "C")))
    with pytest.raises(InvalidParameterError, match="use more n_slots"):
        coarse.encode(two, display)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"catalog": ()}, "at least one product"),
        ({"catalog": (*CATALOG, CATALOG[0])}, "unique"),
        ({"catalog": CATALOG, "categories": ["Soda", "Water"]}, "missing \\['Energy'\\]"),
        ({"catalog": CATALOG, "categories": ["Soda", "Soda"]}, "distinct"),
        ({"catalog": CATALOG, "n_slots": 0}, "n_slots"),
        ({"catalog": CATALOG, "n_shelves": 2.0}, "n_shelves"),
    ],
)
def test_bad_configuration(kwargs: dict[str, object], match: str) -> None:
    kwargs = {"n_shelves": 3, **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        PlanogramEncoder(**kwargs)  # type: ignore[arg-type]


def test_overlapping_blocks_are_lossy_as_documented(encoder: PlanogramEncoder) -> None:
    display = _display([120.0])
    # overlapping blocks starting in one slot: only the one further right survives
    same_slot = Planogram("D1", 1, (Position(0, 1.0, "B", 3), Position(0, 4.0, "A")))
    assert encoder.decode(encoder.encode(same_slot, display), display).positions == (
        Position(0, 4.0, "A"),
    )
    # overlapping blocks starting in different slots both come back
    apart = Planogram("D1", 1, (Position(0, 1.0, "B", 3), Position(0, 15.0, "A")))
    assert encoder.decode(encoder.encode(apart, display), display).positions == apart.positions
    # a block running past the shelf's end decodes exactly
    past = Planogram("D1", 1, (Position(0, 115.0, "B", 2),))
    assert encoder.decode(encoder.encode(past, display), display).positions == past.positions
    # x off the 0.01 cm grid is rounded to it
    off_grid = Planogram("D1", 1, (Position(0, 3.14159, "A"),))
    (pos,) = encoder.decode(encoder.encode(off_grid, display), display).positions
    assert pos.x_cm == 3.14


def test_noisy_tensors_decode_tolerantly(encoder: PlanogramEncoder) -> None:
    display = _display([120.0])
    plan = Planogram("D1", 1, (Position(0, 0.0, "A", 2), Position(0, 30.0, "C")))
    x = encoder.encode(plan, display)
    rng = np.random.default_rng(0)
    noisy = x + rng.normal(0.0, 0.01, size=x.shape).astype(np.float32)
    noisy[10] = x[10]  # offsets carry the exact x; noise there moves a block
    noisy[10, 0, 0] = -0.003  # a slightly negative offset clamps to x = 0
    assert encoder.decode(noisy, display).positions == plan.positions
    noisy[0, 0, 3] = 7.0  # an index outside the vocabulary at a block start is skipped
    assert encoder.decode(noisy, display).positions == plan.positions[:1]
