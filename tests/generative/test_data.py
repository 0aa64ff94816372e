"""The diffusion model's view of planograms: codec, conditions, class labels, training sets.

Every expectation is computed here from the domain records (positions, shelves, products)
with plain loops, not by calling the planogram encoder the codec is built on.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.data.synthetic.world import SyntheticChain
from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.data import (
    GEOMETRY_CHANNELS,
    GEOMETRY_SCALES,
    KINDS,
    MODEL_CHANNELS,
    Geometry,
    PlanogramCodec,
    age_allowed,
    build_training_set,
)
from shelfwise.planogram.rules import RegulatoryZone, Rulebook

N_CLUSTERS = 4  # the chain's true clusters are 0..3
# What the default rulebook's age zone says (written out, not read from the rulebook):
AGE_MIN_HEIGHT_CM = 100.0
AGE_FORBIDDEN_KINDS = {DisplayKind.CHECKOUT}


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )


@pytest.fixture(scope="module")
def codec(chain: SyntheticChain) -> PlanogramCodec:
    return PlanogramCodec(chain.products, n_clusters=N_CLUSTERS)


@pytest.fixture(scope="module")
def displays(chain: SyntheticChain) -> dict[str, Display]:
    return {d.display_id: d for d in chain.displays}


def _slot_products(
    plan: Planogram, display: Display, catalog: list[Product], n_shelves: int, n_slots: int
) -> NDArray[np.int64]:
    """Brute force: index of the product covering each slot (-1 when empty).

    Slot ``k`` of a shelf covers ``[k w / n, (k + 1) w / n)``; a block covers it when the two
    intervals overlap by a positive length. Where two blocks share a slot, the block further
    right (later in x) shows, as the module docstring of the planogram encoder says.
    """
    index = {p.product_id: i for i, p in enumerate(catalog)}
    out = np.full((n_shelves, n_slots), -1, dtype=np.int64)
    for pos in sorted(plan.positions, key=lambda p: (p.shelf_index, p.x_cm)):
        slot = display.shelves[pos.shelf_index].width_cm / n_slots
        unit = catalog[index[pos.product_id]].width_cm
        assert unit is not None
        start, end = pos.x_cm, pos.x_cm + pos.facings_wide * unit
        for k in range(n_slots):
            if k * slot < end and (k + 1) * slot > start:
                out[pos.shelf_index, k] = index[pos.product_id]
    return out


# ----------------------------------------------------------------------- attributes
def test_attribute_matrix_follows_the_documented_scaling(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    products = list(chain.products)
    n = len(products)
    subs = sorted({p.subcategory for p in products if p.subcategory})
    brands = sorted({p.brand for p in products if p.brand})
    widest = max(p.width_cm or 0.0 for p in products)
    tallest = max(p.height_cm or 0.0 for p in products)
    deepest = max(p.depth_cm or 0.0 for p in products)
    heaviest = max(p.weight_kg or 0.0 for p in products)
    dearest = max(p.price or 0.0 for p in products)
    n_bits = n.bit_length()  # 20 products: codes 1..20 need 5 bits
    assert codec.channel_names == (*MODEL_CHANNELS, *(f"code{b}" for b in range(n_bits)))
    assert codec.attributes.shape == (n, len(MODEL_CHANNELS) + n_bits)
    for i, p in enumerate(products):
        assert p.width_cm and p.height_cm and p.depth_cm and p.weight_kg and p.price
        v = [
            1.0,
            (i + 1) / n,
            p.width_cm / widest,
            p.height_cm / tallest,
            p.depth_cm / deepest,
            p.weight_kg / heaviest,
            p.price / dearest,
            (subs.index(p.subcategory) + 1) / len(subs) if p.subcategory else 0.0,
            (brands.index(p.brand) + 1) / len(brands) if p.brand else 0.0,
            1.0 if p.age_restricted else 0.0,
            *(float(((i + 1) >> b) & 1) for b in range(n_bits)),
        ]
        np.testing.assert_allclose(codec.attributes[i], 2.0 * np.array(v) - 1.0, atol=1e-6)
    # Every product is told apart by its code, and two codes differ by at least one bit (2 in
    # model space).
    codes = codec.attributes[:, len(MODEL_CHANNELS) :]
    gaps = np.abs(codes[:, None, :] - codes[None, :, :]).max(axis=-1) + 2.0 * np.eye(n)
    assert gaps.min() == 2.0


# ------------------------------------------------------------------------- encoding
def test_encode_matches_the_slots_each_block_covers(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    catalog = list(chain.products)
    n_covered = 0
    for plan in chain.planograms:
        d = displays[plan.display_id]
        x = codec.encode(plan, d)
        assert x.shape == (codec.n_channels, codec.n_shelves, codec.n_slots)
        assert x.dtype == np.float32
        who = _slot_products(plan, d, catalog, codec.n_shelves, codec.n_slots)
        covered = who >= 0
        n_covered += int(covered.sum())
        occupied = x[MODEL_CHANNELS.index("occupied")]
        # The occupied channel is exactly +1 on covered slots and -1 elsewhere.
        np.testing.assert_array_equal(occupied, np.where(covered, 1.0, -1.0))
        # Attribute channels of a covered slot are the attributes of the product covering it.
        np.testing.assert_array_equal(x[:, covered], codec.attributes[who[covered]].T)
        # Empty slots are -1 in every channel, and so are the padded shelves.
        assert np.all(x[:, ~covered] == -1.0)
        assert np.all(x[:, len(d.shelves) :, :] == -1.0)
    assert n_covered > 0


def test_encode_rejects_a_product_outside_the_vocabulary(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    plan = chain.planograms[0]
    bad = dataclasses.replace(
        plan, positions=(*plan.positions, Position(shelf_index=0, x_cm=55.0, product_id="ZZZ"))
    )
    with pytest.raises(InvalidParameterError, match="ZZZ"):
        codec.encode(bad, displays[plan.display_id])


# ----------------------------------------------------------------------- conditions
def test_condition_rows_are_the_shelf_geometry_scaled(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    n_geo = len(GEOMETRY_CHANNELS)
    assert codec.condition_names[:n_geo] == GEOMETRY_CHANNELS
    assert codec.condition_names[-1] == "mix_given"
    for d in chain.displays:
        c = codec.conditions(d)
        assert c.shape == (codec.n_conditions, codec.n_shelves, codec.n_slots)
        for s in range(codec.n_shelves):
            row = c[:n_geo, s, :]
            # Constant along the shelf.
            assert np.all(row == row[:, :1])
            got = dict(zip(GEOMETRY_CHANNELS, row[:, 0].tolist(), strict=True))
            # max_slots / 100 on every row, padded ones too.
            assert got["max_slots"] == pytest.approx(d.max_slots / 100.0)
            if s >= len(d.shelves):
                assert all(got[k] == 0.0 for k in GEOMETRY_CHANNELS if k != "max_slots")
                continue
            shelf = d.shelves[s]
            assert got["shelf_exists"] == 1.0
            assert got["clearance"] == pytest.approx(shelf.clearance_cm / 50.0)
            assert got["shelf_depth"] == pytest.approx(shelf.depth_cm / 100.0)
            assert got["max_load"] == pytest.approx(shelf.max_load_kg / 100.0)
            assert got["height_from_floor"] == pytest.approx(shelf.height_from_floor_cm / 200.0)
            assert got["shelf_width"] == pytest.approx(shelf.width_cm / 150.0)
            allowed = (
                shelf.height_from_floor_cm >= AGE_MIN_HEIGHT_CM
                and d.kind not in AGE_FORBIDDEN_KINDS
            )
            assert got["age_allowed"] == (1.0 if allowed else 0.0)
        # Without facings the mix channels and their flag are 0.
        assert np.all(c[n_geo:] == 0.0)
    # The scales the docstring lists are the ones used.
    assert GEOMETRY_SCALES == {
        "clearance": 50.0,
        "shelf_depth": 100.0,
        "max_load": 100.0,
        "height_from_floor": 200.0,
        "shelf_width": 150.0,
        "max_slots": 100.0,
    }


def test_mix_channels_hold_each_subcategorys_share_of_the_facings(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    subcategory = {p.product_id: p.subcategory for p in chain.products}
    n_geo, n_sub = len(GEOMETRY_CHANNELS), len(codec.subcategories)
    for plan in chain.planograms:
        d = displays[plan.display_id]
        facings = plan.facings()
        c = codec.conditions(d, facings=facings)
        total: dict[str, float] = {}
        for pos in plan.positions:
            sub = subcategory[pos.product_id]
            assert sub is not None
            total[sub] = total.get(sub, 0.0) + pos.facings_wide
        want = np.array([total.get(g, 0.0) for g in codec.subcategories]) / sum(total.values())
        mix = c[n_geo : n_geo + n_sub]
        assert np.all(mix == mix[:, :1, :1])  # constant over the whole grid
        np.testing.assert_allclose(mix[:, 0, 0], want, atol=1e-6)
        assert mix[:, 0, 0].sum() == pytest.approx(1.0, abs=1e-6)
        assert np.all(c[-1] == 1.0)
        # The geometry rows do not depend on the mix.
        np.testing.assert_array_equal(c[:n_geo], codec.conditions(d)[:n_geo])


def test_mix_rejects_an_unknown_product(codec: PlanogramCodec) -> None:
    with pytest.raises(InvalidParameterError, match="NOPE"):
        codec.mix({"NOPE": 2})


def test_conditions_reject_a_display_with_too_many_shelves(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    d = chain.displays[0]
    shelves = tuple(
        dataclasses.replace(d.shelves[0], index=i, height_from_floor_cm=10.0 + 20.0 * i)
        for i in range(codec.n_shelves + 1)
    )
    with pytest.raises(InvalidParameterError, match="n_shelves"):
        codec.conditions(dataclasses.replace(d, shelves=shelves))


# --------------------------------------------------------------------- class labels
def test_class_labels_cover_cluster_by_kind_and_leave_a_null_label(
    codec: PlanogramCodec,
) -> None:
    assert codec.n_classes == N_CLUSTERS * len(DisplayKind)
    assert codec.null_class == codec.n_classes
    labels = {
        (c, kind): codec.class_label(c, kind) for c in range(N_CLUSTERS) for kind in DisplayKind
    }
    for (c, kind), label in labels.items():
        assert label == c * len(KINDS) + list(DisplayKind).index(kind)
    assert sorted(labels.values()) == list(range(codec.n_classes))
    assert codec.null_class not in labels.values()
    numpy_int = codec.class_label(np.int64(2), DisplayKind.SHELF)  # type: ignore[arg-type]
    assert numpy_int == labels[(2, DisplayKind.SHELF)]


@pytest.mark.parametrize("bad", [-1, N_CLUSTERS, True, 1.0, "1"])
def test_class_label_rejects_a_bad_cluster(codec: PlanogramCodec, bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="cluster"):
        codec.class_label(bad, DisplayKind.COOLER)  # type: ignore[arg-type]


def test_cluster_index_reads_names(chain: SyntheticChain) -> None:
    named = PlanogramCodec(chain.products, n_clusters=3, cluster_names=["value", "urban", "x"])
    assert [named.cluster_index(n) for n in ("value", "urban", "x")] == [0, 1, 2]
    default = PlanogramCodec(chain.products, n_clusters=3)
    assert default.cluster_names == ("0", "1", "2")
    assert default.cluster_index("2") == 2
    with pytest.raises(InvalidParameterError, match="'suburb'"):
        named.cluster_index("suburb")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_shelves": 6}, "n_shelves"),
        ({"n_shelves": 0}, "n_shelves"),
        ({"n_slots": 26}, "n_slots"),
        ({"n_slots": 24.0}, "n_slots"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 2, "cluster_names": ["a"]}, "cluster_names"),
        ({"n_clusters": 2, "cluster_names": ["a", "a"]}, "cluster_names"),
    ],
)
def test_codec_rejects_bad_sizes(
    chain: SyntheticChain, kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        PlanogramCodec(chain.products, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["width_cm", "height_cm", "depth_cm", "weight_kg"])
def test_codec_rejects_a_product_without_dimensions(chain: SyntheticChain, field: str) -> None:
    products = list(chain.products)
    unknown: dict[str, Any] = {field: None}
    products[3] = dataclasses.replace(products[3], **unknown)
    with pytest.raises(InvalidParameterError, match=rf"{field}.*{products[3].product_id}"):
        PlanogramCodec(products)


# ----------------------------------------------------------------- allowed / age zone
def _displays_with_checkout(chain: SyntheticChain) -> list[Display]:
    """The chain's displays plus checkout copies of them (every age zone case)."""
    out = list(chain.displays)
    out += [dataclasses.replace(d, kind=DisplayKind.CHECKOUT) for d in chain.displays[:3]]
    return out


def test_allowed_agrees_with_a_brute_force_check(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    seen = {True: 0, False: 0}
    restricted_on_low = 0
    for d in _displays_with_checkout(chain):
        got = codec.allowed(d)
        assert got.shape == (len(d.shelves), codec.n_products)
        for s, shelf in enumerate(d.shelves):
            zone_ok = (
                shelf.height_from_floor_cm >= AGE_MIN_HEIGHT_CM
                and d.kind not in AGE_FORBIDDEN_KINDS
            )
            for i, p in enumerate(chain.products):
                assert p.height_cm and p.depth_cm and p.width_cm
                want = (
                    p.height_cm <= shelf.clearance_cm
                    and p.depth_cm <= shelf.depth_cm
                    and p.width_cm <= shelf.width_cm
                    and (zone_ok or not p.age_restricted)
                )
                assert bool(got[s, i]) == want, (d.display_id, s, p.product_id)
                seen[want] += 1
                restricted_on_low += int(p.age_restricted and not zone_ok)
    # Both answers occur, and the age zone is what says no at least once.
    assert seen[True] > 0 and seen[False] > 0
    assert restricted_on_low > 0


def test_allowed_says_no_to_products_that_do_not_fit(
    chain: SyntheticChain, codec: PlanogramCodec
) -> None:
    d = chain.displays[0]
    tallest = max(p.height_cm or 0.0 for p in chain.products)
    low = dataclasses.replace(d.shelves[0], clearance_cm=tallest - 1.0, depth_cm=7.0)
    d2 = dataclasses.replace(d, shelves=(low, *d.shelves[1:]))
    got = codec.allowed(d2)[0]
    for i, p in enumerate(chain.products):
        assert p.height_cm and p.depth_cm
        fits = p.height_cm <= tallest - 1.0 and p.depth_cm <= 7.0 and not p.age_restricted
        assert bool(got[i]) == fits
    assert not got.all() and got.any()


def test_age_allowed_follows_the_rulebook(chain: SyntheticChain) -> None:
    d = next(d for d in chain.displays if d.kind == DisplayKind.COOLER)
    heights = np.array([s.height_from_floor_cm for s in d.shelves])
    # No zone rule: everywhere.
    assert age_allowed(d, Rulebook()).all()
    # A custom height.
    rb = Rulebook(rules=(RegulatoryZone(id="z", min_height_from_floor_cm=50.0),))
    np.testing.assert_array_equal(age_allowed(d, rb), heights >= 50.0)
    # A forbidden kind: nowhere.
    rb = Rulebook(
        rules=(
            RegulatoryZone(id="z", min_height_from_floor_cm=0.0, forbidden_display_kinds=(d.kind,)),
        )
    )
    assert not age_allowed(d, rb).any()
    # A rule limited to other display kinds does not act.
    rb = Rulebook(
        rules=(
            RegulatoryZone(
                id="z", min_height_from_floor_cm=500.0, display_kinds=(DisplayKind.SHELF,)
            ),
        )
    )
    assert age_allowed(d, rb).all()


# --------------------------------------------------------------------- training sets
def _revenue(chain: SyntheticChain, n_products: int) -> dict[str, NDArray[np.float64]]:
    rng = np.random.default_rng(0)
    return {s.store_id: rng.uniform(0.5, 3.0, n_products) for s in chain.stores}


def test_build_training_set_aligns_everything(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    clusters = chain.truth.true_cluster
    revenue = _revenue(chain, codec.n_products)
    plans = list(chain.planograms)
    ts = build_training_set(codec, plans, displays, clusters, revenue=revenue)
    n = len(plans)
    assert len(ts) == n
    assert ts.x0.shape == (n, codec.n_channels, codec.n_shelves, codec.n_slots)
    assert ts.conditions.shape == (n, codec.n_conditions, codec.n_shelves, codec.n_slots)
    assert ts.class_labels.dtype == np.int64 and ts.class_labels.shape == (n,)
    assert ts.revenue is not None and ts.revenue.shape == (n, codec.n_products)
    for i, plan in enumerate(plans):
        d = displays[plan.display_id]
        assert ts.display_ids[i] == plan.display_id
        assert ts.store_ids[i] == d.store_id
        assert ts.versions[i] == plan.version
        np.testing.assert_array_equal(ts.x0[i], codec.encode(plan, d))
        np.testing.assert_array_equal(ts.conditions[i], codec.conditions(d, facings=plan.facings()))
        assert ts.class_labels[i] == clusters[d.store_id] * len(KINDS) + KINDS.index(d.kind)
        np.testing.assert_allclose(ts.revenue[i], revenue[d.store_id], rtol=1e-6)
        # Geometry in physical units, padded with zeros / False.
        g = ts.geometry
        k = len(d.shelves)
        assert g.exists[i, :k].all() and not g.exists[i, k:].any()
        np.testing.assert_allclose(g.width_cm[i, :k], [s.width_cm for s in d.shelves])
        np.testing.assert_allclose(g.clearance_cm[i, :k], [s.clearance_cm for s in d.shelves])
        np.testing.assert_allclose(g.depth_cm[i, :k], [s.depth_cm for s in d.shelves])
        np.testing.assert_allclose(g.max_load_kg[i, :k], [s.max_load_kg for s in d.shelves])
        assert np.all(g.width_cm[i, k:] == 0.0)
        assert g.max_slots[i] == d.max_slots
        heights = np.array([s.height_from_floor_cm for s in d.shelves])
        np.testing.assert_array_equal(g.age_allowed[i, :k], heights >= AGE_MIN_HEIGHT_CM)
        assert not g.age_allowed[i, k:].any()
    # Without revenue data the field is None.
    assert build_training_set(codec, plans, displays, clusters).revenue is None


def test_geometry_of_a_checkout_forbids_age_restricted_everywhere(
    chain: SyntheticChain,
) -> None:
    d = dataclasses.replace(chain.displays[0], kind=DisplayKind.CHECKOUT)
    g = Geometry.of([d], 8)
    assert g.exists[0, : len(d.shelves)].all()
    assert not g.age_allowed.any()


def test_build_training_set_errors_name_the_problem(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    plans = list(chain.planograms)
    clusters = dict(chain.truth.true_cluster)
    first = plans[0]
    store = displays[first.display_id].store_id
    with pytest.raises(InvalidParameterError, match="planograms"):
        build_training_set(codec, [], displays, clusters)
    missing_display = {k: v for k, v in displays.items() if k != first.display_id}
    with pytest.raises(InvalidParameterError, match=rf"displays.*{first.display_id}"):
        build_training_set(codec, plans, missing_display, clusters)
    missing_cluster = {k: v for k, v in clusters.items() if k != store}
    with pytest.raises(InvalidParameterError, match=rf"clusters.*{store}"):
        build_training_set(codec, plans, displays, missing_cluster)
    with pytest.raises(InvalidParameterError, match="cluster must be in"):
        build_training_set(codec, plans, displays, {**clusters, store: N_CLUSTERS})
    revenue = _revenue(chain, codec.n_products)
    with pytest.raises(InvalidParameterError, match=rf"revenue.*{store}"):
        build_training_set(
            codec,
            plans,
            displays,
            clusters,
            revenue={k: v for k, v in revenue.items() if k != store},
        )
    short = {**revenue, store: revenue[store][:-1]}
    with pytest.raises(InvalidParameterError, match=rf"revenue for store {store}.*shape"):
        build_training_set(codec, plans, displays, clusters, revenue=short)
    # A planogram naming a product outside the codec's vocabulary.
    small = PlanogramCodec(
        [p for p in chain.products if p.product_id != first.positions[0].product_id],
        n_clusters=N_CLUSTERS,
    )
    with pytest.raises(InvalidParameterError, match=first.positions[0].product_id):
        build_training_set(small, plans, displays, clusters)


def test_training_set_rows_follow_their_own_version(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    # A second version of one display without its bottom shelf's blocks: each row must follow
    # its own planogram (tensor and mix), not just its display.
    plan = chain.planograms[0]
    v2 = dataclasses.replace(
        plan, version=2, positions=tuple(p for p in plan.positions if p.shelf_index != 0)
    )
    ts = build_training_set(codec, [plan, v2], displays, chain.truth.true_cluster)
    assert ts.versions == (1, 2)
    assert ts.display_ids == (plan.display_id, plan.display_id)
    assert np.all(ts.x0[1, :, 0, :] == -1.0)
    assert np.any(ts.x0[0, :, 0, :] != -1.0)
    np.testing.assert_array_equal(ts.x0[0, :, 1:], ts.x0[1, :, 1:])
    n_geo = len(GEOMETRY_CHANNELS)
    mix = codec.mix(v2.facings())
    np.testing.assert_allclose(ts.conditions[1, n_geo:-1, 0, 0], mix)
    assert not np.allclose(ts.conditions[0, n_geo:-1, 0, 0], mix)
    np.testing.assert_array_equal(ts.geometry.exists[0], ts.geometry.exists[1])
