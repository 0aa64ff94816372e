"""The differentiable planogram penalties and the soft expected revenue.

Valid planograms of the synthetic chain (checked with the rule validator, an independent
oracle) must score about zero; each penalty family must fire on a tensor edited to break its
rule, with the value computed here by hand from the catalog and the shelf geometry wherever the
formula is documented.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import pytest
import torch
from numpy.typing import NDArray

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.data.synthetic.world import SyntheticChain
from shelfwise.domain import Display, DisplayKind, Planogram, Position, Product
from shelfwise.generative.data import (
    MODEL_CHANNELS,
    Geometry,
    PlanogramCodec,
    TrainingSet,
    build_training_set,
)
from shelfwise.generative.losses import (
    PENALTY_NAMES,
    LossContext,
    expected_revenue,
    geometry_tensors,
    penalties,
    soft_assignment,
)
from shelfwise.planogram.rules import (
    BrandShare,
    FacingsRange,
    MandatoryProducts,
    Rulebook,
    default_rulebook,
)
from shelfwise.planogram.validator import validate

CH = {name: i for i, name in enumerate(MODEL_CHANNELS)}


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )


@pytest.fixture(scope="module")
def codec(chain: SyntheticChain) -> PlanogramCodec:
    return PlanogramCodec(chain.products, n_clusters=4)


@pytest.fixture(scope="module")
def displays(chain: SyntheticChain) -> dict[str, Display]:
    return {d.display_id: d for d in chain.displays}


@pytest.fixture(scope="module")
def data(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> TrainingSet:
    return build_training_set(codec, chain.planograms, displays, chain.truth.true_cluster)


@pytest.fixture(scope="module")
def plan(chain: SyntheticChain) -> Planogram:
    """S01-D1: a 4-shelf cooler (61 cm shelves), age-restricted seltzer on its top shelf."""
    return chain.planograms[0]


def _catalog(chain: SyntheticChain) -> dict[str, Product]:
    return {p.product_id: p for p in chain.products}


def _products_in_slots(x: NDArray[np.float32], codec: PlanogramCodec) -> NDArray[np.int64]:
    """(S, K) index of the product whose attribute vector a slot holds exactly; -1 if none."""
    flat = x.reshape(x.shape[0], -1).T  # (S*K, C)
    eq = np.all(flat[:, None, :] == codec.attributes[None, :, :], axis=-1)
    idx = np.where(eq.any(axis=1), eq.argmax(axis=1), -1)
    return idx.reshape(x.shape[1:])


def _score(
    x: NDArray[np.float32] | torch.Tensor,
    display: Display,
    codec: PlanogramCodec,
    rulebook: Rulebook | None = None,
    *,
    temperature: float | None = None,
) -> dict[str, float]:
    """Penalties of one planogram tensor on one display, as floats."""
    rulebook = rulebook if rulebook is not None else default_rulebook()
    ctx = LossContext.of(codec, rulebook)
    if temperature is not None:
        ctx = dataclasses.replace(ctx, temperature=temperature)
    geo = geometry_tensors(Geometry.of([display], codec.n_shelves, rulebook), slice(None))
    t = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(x))
    out = penalties(t[None] if t.ndim == 3 else t, geo, ctx)
    return {k: float(v[0]) for k, v in out.items()}


def _with_shelf(display: Display, s: int, **changes: float) -> Display:
    shelves = list(display.shelves)
    shelves[s] = dataclasses.replace(shelves[s], **changes)  # type: ignore[arg-type]
    return dataclasses.replace(display, shelves=tuple(shelves))


def _leak(n_levels: int, width: float) -> float:
    """Soft membership of a neighbouring level, ``exp(-spacing^2 / width)``.

    ``width`` is the Gaussian width the module uses (0.02 for subcategories, 0.005 for brands);
    neighbouring levels are ``2 / n_levels`` apart in model space.
    """
    return math.exp(-((2.0 / n_levels) ** 2) / width)


# ---------------------------------------------------------------- valid planograms
def test_valid_chain_planograms_score_about_zero(
    chain: SyntheticChain,
    codec: PlanogramCodec,
    displays: Mapping[str, Display],
    data: TrainingSet,
) -> None:
    catalog = _catalog(chain)
    rulebook = default_rulebook()
    for p in chain.planograms:  # the oracle: the rule validator finds nothing hard
        assert not validate(p, displays[p.display_id], catalog, rulebook).hard
    ctx = LossContext.of(codec, rulebook)
    x = torch.from_numpy(data.x0)
    pen = penalties(x, geometry_tensors(data.geometry, slice(None)), ctx)
    assert tuple(pen) == PENALTY_NAMES
    assert all(v.shape == (len(data),) for v in pen.values())
    # These are exact: a valid planogram puts nothing on padded shelves, every product under
    # its clearance, within the shelf depth, no age-restricted product below 100 cm, and the
    # default rulebook has no brand, mandatory or maximum-facings rule. The chain loads its
    # shelves far below their max load, so even the over-estimated load (full depth, slot
    # spans) stays under it.
    for name in (
        "shelf_exists",
        "height_clearance",
        "depth",
        "shelf_load",
        "regulatory_zone",
        "brand_share",
        "mandatory_products",
        "facings_range",
    ):
        assert float(pen[name].abs().max()) == 0.0, name
    live = (data.x0[:, CH["occupied"]] > 0) & data.geometry.exists[:, :, None]
    n_sub = len(codec.subcategories)
    leak = _leak(n_sub, 0.02)
    for i, p in enumerate(chain.planograms):
        d = displays[p.display_id]
        # display_capacity counts a block as (slots it touches x slot width) / product width:
        # the covered span exceeds the block's own width by less than two slots (one partly
        # covered slot at each end), so it overcounts each block by < 2 slot / width facings.
        # Over the display's max_slots, which the real facings respect, that is the bound.
        over = sum(
            pos.facings_wide
            + 2.0
            * d.shelves[pos.shelf_index].width_cm
            / codec.n_slots
            / (catalog[pos.product_id].width_cm or 1.0)
            for pos in p.positions
        )
        bound = max(0.0, over - d.max_slots) / d.max_slots
        assert 0.0 <= float(pen["display_capacity"][i]) <= bound + 1e-6
        # category_blocking: the soft membership of a group leaks into a neighbouring
        # subcategory's slots by at most exp(-(2/G)^2 / 0.02) (e^-8 for G = 5), so the dip
        # summed over groups is at most G * leak per live slot (then divided by n_slots).
        cb = float(pen["category_blocking"][i])
        assert 0.0 <= cb <= n_sub * leak * live[i].sum() / codec.n_slots
    assert float(pen["category_blocking"].max()) < 1e-3


def test_capacity_overcount_on_a_display_filled_to_the_limit(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    # The same planogram on a display whose max_slots is exactly its facings: still valid for
    # the validator, but the slot spans overcount the facings a little (as bounded above).
    catalog = _catalog(chain)
    d = displays[plan.display_id]
    facings = sum(p.facings_wide for p in plan.positions)
    tight = dataclasses.replace(d, max_slots=facings)
    assert not validate(plan, tight, catalog).hard
    x = codec.encode(plan, tight)
    got = _score(x, tight, codec)["display_capacity"]
    slots = [d.shelves[p.shelf_index].width_cm / codec.n_slots for p in plan.positions]
    widths = [catalog[p.product_id].width_cm or 1.0 for p in plan.positions]
    slack = sum(2.0 * s / w for s, w in zip(slots, widths, strict=True))
    assert 0.0 < got <= slack / facings
    # The value is the documented formula: sum over live slots of slot / width, less the cap.
    who = _products_in_slots(x, codec)
    est = sum(
        d.shelves[s].width_cm / codec.n_slots / (chain.products[who[s, k]].width_cm or 1.0)
        for s, k in zip(*np.nonzero(who >= 0), strict=True)
    )
    assert got == pytest.approx((est - facings) / facings, rel=1e-5)


def test_soft_assignment_is_sharp_on_encoded_products(
    codec: PlanogramCodec, data: TrainingSet
) -> None:
    ctx = LossContext.of(codec, default_rulebook())
    a = soft_assignment(torch.from_numpy(data.x0), ctx)
    assert a.shape == (len(data), codec.n_products, codec.n_shelves, codec.n_slots)
    torch.testing.assert_close(a.sum(dim=1), torch.ones(a.shape[0], *a.shape[2:]))
    occupied = data.x0[:, CH["occupied"]] > 0
    truth = np.stack([_products_in_slots(x, codec) for x in data.x0])
    assert np.array_equal(truth >= 0, occupied)
    # The encoded vector is a catalog row, so its own product has logit 0 and every other
    # product -d2 / T, d2 = squared distance / channels: the own product's weight is at least
    # 1 / (1 + (P - 1) exp(-min d2 / T)).
    attrs = codec.attributes
    d2 = ((attrs[:, None] - attrs[None]) ** 2).sum(-1) / attrs.shape[1]
    np.fill_diagonal(d2, np.inf)
    floor = 1.0 / (1.0 + (codec.n_products - 1) * math.exp(-d2.min() / ctx.temperature))
    own = a.numpy().transpose(0, 2, 3, 1)[occupied, truth[occupied]]
    assert own.min() >= floor - 1e-6
    assert floor > 0.999  # the binary code channels keep products far apart


# ---------------------------------------------------------------- each family fires
def test_occupancy_on_a_padded_shelf(
    codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    x = codec.encode(plan, d)
    assert len(d.shelves) == 4
    x[:, 6, 2:7] = codec.attributes[0][:, None]  # 5 slots on a shelf the display lacks
    got = _score(x, d, codec)
    assert got["shelf_exists"] == pytest.approx(5 / (codec.n_shelves * codec.n_slots))
    # The other terms ignore what stands on a shelf that does not exist.
    assert got["height_clearance"] == 0.0 and got["display_capacity"] == 0.0


def test_tall_products_on_a_low_shelf(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    low = _with_shelf(d, 0, clearance_cm=20.0)
    assert validate(plan, low, _catalog(chain)).hard  # the oracle agrees it is broken
    x = codec.encode(plan, low)
    who = _products_in_slots(x, codec)[0]
    tallest = max(p.height_cm or 0.0 for p in chain.products)
    want = (
        sum(max(0.0, (chain.products[i].height_cm or 0.0) - 20.0) / tallest for i in who if i >= 0)
        / codec.n_slots
    )
    got = _score(x, low, codec)
    assert want > 0.05
    assert got["height_clearance"] == pytest.approx(want, rel=1e-5)
    assert _score(x, d, codec)["height_clearance"] == 0.0


def test_deep_products_on_a_shallow_shelf(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    shallow = _with_shelf(d, 1, depth_cm=7.0)
    x = codec.encode(plan, shallow)
    who = _products_in_slots(x, codec)[1]
    deepest = max(p.depth_cm or 0.0 for p in chain.products)
    want = (
        sum(max(0.0, (chain.products[i].depth_cm or 0.0) - 7.0) / deepest for i in who if i >= 0)
        / codec.n_slots
    )
    assert want > 0
    assert _score(x, shallow, codec)["depth"] == pytest.approx(want, rel=1e-5)


def test_overloaded_shelf(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    weak = _with_shelf(d, 0, max_load_kg=2.0)
    assert validate(plan, weak, _catalog(chain)).hard
    x = codec.encode(plan, weak)
    who = _products_in_slots(x, codec)[0]
    shelf = weak.shelves[0]
    slot = shelf.width_cm / codec.n_slots
    # Documented: sum over slots of (slot / width) facings x weight x (shelf depth / depth).
    load = 0.0
    for i in who[who >= 0]:
        p = chain.products[i]
        assert p.width_cm and p.weight_kg and p.depth_cm
        load += slot / p.width_cm * p.weight_kg * shelf.depth_cm / p.depth_cm
    assert load > 2.0
    assert _score(x, weak, codec)["shelf_load"] == pytest.approx((load - 2.0) / 2.0, rel=1e-5)


def test_display_over_capacity(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = dataclasses.replace(displays[plan.display_id], max_slots=10)
    x = codec.encode(plan, d)
    who = _products_in_slots(x, codec)
    est = sum(
        d.shelves[s].width_cm / codec.n_slots / (chain.products[who[s, k]].width_cm or 1.0)
        for s, k in zip(*np.nonzero(who >= 0), strict=True)
    )
    assert est > 10
    assert _score(x, d, codec)["display_capacity"] == pytest.approx((est - 10) / 10, rel=1e-5)


def test_age_restricted_product_on_a_low_shelf_or_a_checkout(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    restricted = next(i for i, p in enumerate(chain.products) if p.age_restricted)
    x = codec.encode(plan, d)
    top = _products_in_slots(x, codec)[3]
    n_top = int(np.sum([chain.products[i].age_restricted for i in top if i >= 0]))
    assert n_top > 0 and d.shelves[3].height_from_floor_cm >= 100.0
    assert _score(x, d, codec)["regulatory_zone"] == 0.0  # top shelf: allowed
    low = x.copy()
    low[:, 0, 0:4] = codec.attributes[restricted][:, None]  # shelf 0 stands 12 cm high
    assert d.shelves[0].height_from_floor_cm < 100.0
    assert _score(low, d, codec)["regulatory_zone"] == pytest.approx(4 / codec.n_slots)
    # On a checkout every shelf is forbidden: the top shelf's seltzer counts too.
    checkout = dataclasses.replace(d, kind=DisplayKind.CHECKOUT)
    assert _score(x, checkout, codec)["regulatory_zone"] == pytest.approx(n_top / codec.n_slots)
    # A rulebook without the zone rule allows it.
    assert _score(low, d, codec, Rulebook())["regulatory_zone"] == 0.0


def test_split_subcategory_is_penalised_and_a_contiguous_one_is_not(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    sub = [p.subcategory for p in chain.products]
    energy = sub.index("Energy")  # first and last of the 5 subcategory levels: far apart
    water = sub.index("Water")
    assert codec.subcategories[0] == "Energy" and codec.subcategories[-1] == "Water"
    empty = np.full((codec.n_channels, codec.n_shelves, codec.n_slots), -1.0, np.float32)
    contiguous = empty.copy()
    contiguous[:, 0, 0:8] = codec.attributes[energy][:, None]
    contiguous[:, 0, 8:12] = codec.attributes[water][:, None]
    split = empty.copy()
    split[:, 0, 0:4] = codec.attributes[energy][:, None]
    split[:, 0, 4:8] = codec.attributes[water][:, None]
    split[:, 0, 8:12] = codec.attributes[energy][:, None]
    assert _score(contiguous, d, codec)["category_blocking"] < 1e-9
    # Energy's membership dips from 1 to ~0 over the 4 water slots between its two runs. The
    # neighbouring levels' leaked memberships (<= e^-8 each, e.g. Isotonic's in the energy
    # slots) add dips of at most G * leak per live slot.
    tol = len(codec.subcategories) * _leak(len(codec.subcategories), 0.02) * 12 / codec.n_slots
    assert _score(split, d, codec)["category_blocking"] == pytest.approx(4 / codec.n_slots, abs=tol)
    # The same on a real shelf: one water slot in the middle of shelf 2's energy run.
    x = codec.encode(plan, d)
    who = _products_in_slots(x, codec)[2]
    runs = [k for k in range(codec.n_slots) if who[k] >= 0 and sub[who[k]] == "Energy"]
    mid = runs[len(runs) // 2]
    assert runs == list(range(runs[0], runs[-1] + 1)) and runs[0] < mid < runs[-1]
    broken = x.copy()
    broken[:, 2, mid] = codec.attributes[water]
    base = _score(x, d, codec)["category_blocking"]
    assert _score(broken, d, codec)["category_blocking"] - base == pytest.approx(
        1 / codec.n_slots, abs=1e-3
    )


def test_empty_space_inside_a_group_does_not_split_it(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    # Two energy blocks with 10 cm of empty shelf between them: one run for the validator
    # (no block of another group lies between them), so no penalty either.
    d = displays[plan.display_id]
    gap = dataclasses.replace(
        plan,
        positions=(
            Position(shelf_index=2, x_cm=0.0, product_id="P0015", facings_wide=2),
            Position(shelf_index=2, x_cm=23.2, product_id="P0018", facings_wide=2),
        ),
    )
    assert {chain.products[codec.index[p]].subcategory for p in ("P0015", "P0018")} == {"Energy"}
    assert not validate(gap, d, _catalog(chain)).hard
    x = codec.encode(gap, d)
    assert np.any(x[CH["occupied"], 2, :8] < 0)  # the gap shows as empty slots
    assert _score(x, d, codec)["category_blocking"] == 0.0
    # A water block in the gap does split the energy group.
    split = dataclasses.replace(
        gap,
        positions=(*gap.positions, Position(shelf_index=2, x_cm=13.5, product_id="P0008")),
    )
    assert validate(split, d, _catalog(chain)).hard
    assert _score(codec.encode(split, d), d, codec)["category_blocking"] > 1 / codec.n_slots


def test_brand_share_rule(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    x = codec.encode(plan, d)
    who = _products_in_slots(x, codec)
    brand = "Highline Hard Seltzer"
    # All shelves of the display are equally wide, so the share of linear space is the share
    # of occupied slots.
    assert len({s.width_cm for s in d.shelves}) == 1
    live = who[who >= 0]
    share = float(np.mean([chain.products[i].brand == brand for i in live]))
    assert 0.05 < share < 0.5
    # The soft brand membership leaks into neighbouring brand levels (2 / n_brands apart)
    # by at most exp(-(2/15)^2 / 0.005) = 0.028, which bounds the soft share's error.
    tol = _leak(len(codec.brands), 0.005)
    low = Rulebook(rules=(BrandShare(id="b", brand=brand, min_share=0.9),))
    got = _score(x, d, codec, low)["brand_share"]
    assert got == pytest.approx(0.9 - share, abs=tol)
    high = Rulebook(rules=(BrandShare(id="b", brand=brand, max_share=0.0),))
    assert _score(x, d, codec, high)["brand_share"] == pytest.approx(share, abs=tol)
    ok = Rulebook(rules=(BrandShare(id="b", brand=brand, min_share=0.0, max_share=0.5),))
    assert _score(x, d, codec, ok)["brand_share"] == 0.0
    # A rule on a brand outside the catalog is ignored.
    other = Rulebook(rules=(BrandShare(id="b", brand="Nobody", min_share=0.9),))
    assert _score(x, d, codec, other)["brand_share"] == 0.0


def test_mandatory_products(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    x = codec.encode(plan, d)
    present = sorted({p.product_id for p in plan.positions})
    absent = [p.product_id for p in chain.products if p.product_id not in present]
    assert absent
    attrs = codec.attributes
    on_display = [codec.index[p] for p in present]
    ctx = LossContext.of(codec, default_rulebook())
    for pid in absent:
        rb = Rulebook(rules=(MandatoryProducts(id="m", product_ids=(pid,)),))
        got = _score(x, d, codec, rb)["mandatory_products"]
        # Each slot holds another product exactly, so the absent product's weight there is at
        # most exp(-d2 / T) with d2 its squared distance (per channel) to that product.
        d2 = ((attrs[on_display] - attrs[codec.index[pid]]) ** 2).sum(-1) / attrs.shape[1]
        assert got >= 1.0 - math.exp(-d2.min() / ctx.temperature)
        assert got == pytest.approx(1.0, abs=1e-4)
    both = Rulebook(rules=(MandatoryProducts(id="m", product_ids=(present[0], absent[0])),))
    assert _score(x, d, codec, both)["mandatory_products"] == pytest.approx(1.0, abs=1e-4)
    here = Rulebook(rules=(MandatoryProducts(id="m", product_ids=tuple(present)),))
    assert _score(x, d, codec, here)["mandatory_products"] == pytest.approx(0.0, abs=1e-4)


def test_facings_range_maximum(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    x = codec.encode(plan, d)
    who = _products_in_slots(x, codec)
    est: dict[int, float] = {}
    for s, k in zip(*np.nonzero(who >= 0), strict=True):
        i = int(who[s, k])
        est[i] = est.get(i, 0.0) + d.shelves[s].width_cm / codec.n_slots / (
            chain.products[i].width_cm or 1.0
        )
    want = sum(max(0.0, v - 2.0) for v in est.values())
    assert want > 1.0  # P0012 has 5 facings, the seltzer 7
    rb = Rulebook(rules=(FacingsRange(id="f", max_facings=2),))
    assert _score(x, d, codec, rb)["facings_range"] == pytest.approx(want, rel=1e-4)
    roomy = Rulebook(rules=(FacingsRange(id="f", max_facings=20),))
    assert _score(x, d, codec, roomy)["facings_range"] == 0.0


# ------------------------------------------------------------------------ gradients
def test_gradients_reach_the_offending_slots(
    codec: PlanogramCodec, displays: Mapping[str, Display], plan: Planogram
) -> None:
    d = displays[plan.display_id]
    low = _with_shelf(d, 0, clearance_cm=20.0)
    x = torch.from_numpy(codec.encode(plan, low)).requires_grad_(True)
    geo = geometry_tensors(Geometry.of([low], codec.n_shelves), slice(None))
    ctx = LossContext.of(codec, default_rulebook())
    pen = penalties(x[None], geo, ctx)
    pen["height_clearance"].sum().backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None
    g = x.grad[CH["height"]]
    tall = x.detach()[CH["height"], 0] > 2.0 * 20.0 / 27.0 - 1.0  # taller than 20 cm
    assert tall.any() and not tall.all()
    # Taller products there make it worse; elsewhere the height does not matter.
    assert torch.all(g[0][tall] > 0)
    assert torch.all(g[0][~tall] == 0) and torch.all(g[1:] == 0)
    # Lowering the occupancy of an offending slot helps.
    assert torch.all(x.grad[CH["occupied"], 0][tall] > 0)


@pytest.mark.parametrize(
    "name", ["shelf_exists", "regulatory_zone", "category_blocking", "shelf_load"]
)
def test_every_violated_family_has_a_gradient(
    chain: SyntheticChain,
    codec: PlanogramCodec,
    displays: Mapping[str, Display],
    plan: Planogram,
    name: str,
) -> None:
    d = displays[plan.display_id]
    x = codec.encode(plan, d)
    restricted = next(i for i, p in enumerate(chain.products) if p.age_restricted)
    water = [p.subcategory for p in chain.products].index("Water")
    x[:, 6, 0:3] = codec.attributes[0][:, None]  # padded shelf
    x[:, 0, 0:2] = codec.attributes[restricted][:, None]  # low shelf, splits the water run
    x[:, 2, 10] = codec.attributes[water]  # splits shelf 2's energy run
    weak = _with_shelf(d, 1, max_load_kg=1.0)
    t = torch.from_numpy(x).requires_grad_(True)
    geo = geometry_tensors(Geometry.of([weak], codec.n_shelves), slice(None))
    pen = penalties(t[None], geo, LossContext.of(codec, default_rulebook()))
    assert float(pen[name][0].detach()) > 0
    pen[name].sum().backward()  # type: ignore[no-untyped-call]
    assert t.grad is not None and float(t.grad.abs().sum()) > 0


# -------------------------------------------------------------------------- revenue
def test_expected_revenue_of_one_product_by_hand(
    chain: SyntheticChain, codec: PlanogramCodec, displays: Mapping[str, Display]
) -> None:
    d = next(d for d in chain.displays if d.shelves[0].width_cm == 76.0)
    p = codec.index["P0002"]
    width = chain.products[p].width_cm
    assert width is not None
    x = np.full((codec.n_channels, codec.n_shelves, codec.n_slots), -1.0, np.float32)
    x[:, 1, 3:9] = codec.attributes[p][:, None]  # 6 slots of 76/24 cm
    x[:, 7, 0:5] = codec.attributes[p][:, None]  # a shelf the display lacks: not counted
    assert len(d.shelves) < 8
    revenue = np.random.default_rng(0).uniform(0.5, 3.0, (1, codec.n_products))
    ctx = dataclasses.replace(LossContext.of(codec, default_rulebook()), temperature=1e-3)
    xt = torch.from_numpy(x)[None]
    a = soft_assignment(xt, ctx)
    assert float(a[0, p, 1, 3:9].min()) > 1.0 - 1e-9  # one-hot to float precision
    geo = geometry_tensors(Geometry.of([d], codec.n_shelves), slice(None))
    got = expected_revenue(xt, geo, torch.from_numpy(revenue).float(), ctx)
    want = 6 * (76.0 / codec.n_slots) / width * revenue[0, p]
    assert got.shape == (1,)
    assert float(got[0]) == pytest.approx(want, abs=1e-4)
    # A precomputed assignment gives the same.
    again = expected_revenue(xt, geo, torch.from_numpy(revenue).float(), ctx, assignment=a)
    assert float(again[0]) == float(got[0])


def test_expected_revenue_of_chain_planograms_at_the_default_temperature(
    chain: SyntheticChain, codec: PlanogramCodec, data: TrainingSet
) -> None:
    rng = np.random.default_rng(1)
    revenue = rng.uniform(0.5, 3.0, (len(data), codec.n_products)).astype(np.float32)
    ctx = LossContext.of(codec, default_rulebook())
    got = expected_revenue(
        torch.from_numpy(data.x0),
        geometry_tensors(data.geometry, slice(None)),
        torch.from_numpy(revenue),
        ctx,
    ).numpy()
    want = np.zeros(len(data))
    for i, x in enumerate(data.x0):
        who = _products_in_slots(x, codec)
        for s, k in zip(*np.nonzero(who >= 0), strict=True):
            p = int(who[s, k])
            slot = float(data.geometry.width_cm[i, s]) / codec.n_slots
            want[i] += slot / (chain.products[p].width_cm or 1.0) * revenue[i, p]
    # The assignment is sharp to ~3e-5 (see test_soft_assignment_is_sharp_on_encoded_products);
    # the other products' revenue per cm is within a factor 10, hence 1e-3 relative.
    np.testing.assert_allclose(got, want, rtol=1e-3)


# ------------------------------------------------------------------ context helpers
def test_loss_context_reads_the_rulebook(codec: PlanogramCodec) -> None:
    rb = Rulebook(
        rules=(
            BrandShare(id="b1", brand=codec.brands[2], min_share=0.1, max_share=0.4),
            BrandShare(id="b2", brand="Nobody", min_share=0.5),
            MandatoryProducts(id="m1", product_ids=("P0005", "NOPE")),
            MandatoryProducts(id="m2", product_ids=("P0002", "P0005")),
            FacingsRange(id="f1", max_facings=6),
            FacingsRange(id="f2", max_facings=4),
        )
    )
    ctx = LossContext.of(codec, rb)
    level = 2.0 * 3 / len(codec.brands) - 1.0
    assert len(ctx.brand_rules) == 1
    assert ctx.brand_rules[0] == pytest.approx((level, 0.1, 0.4))
    assert ctx.mandatory.tolist() == [codec.index["P0002"], codec.index["P0005"]]
    assert ctx.max_facings == 4.0
    # The brand level is the one the codec writes into the brand channel.
    b = next(i for i, p in enumerate(codec.catalog) if p.brand == codec.brands[2])
    assert codec.attributes[b, CH["brand"]] == pytest.approx(level)
    default = LossContext.of(codec, default_rulebook())
    assert default.brand_rules == () and default.mandatory.numel() == 0
    assert default.max_facings is None
    levels = [codec.attributes[i, CH["subcategory"]] for i in range(codec.n_products)]
    assert set(np.round(levels, 6)) == set(np.round(default.subcategory_levels.numpy(), 6))


def test_geometry_tensors_pick_samples(data: TrainingSet) -> None:
    idx = np.array([3, 0, 3])
    geo = geometry_tensors(data.geometry, idx)
    assert set(geo) == {
        "exists",
        "width_cm",
        "clearance_cm",
        "depth_cm",
        "max_load_kg",
        "age_allowed",
        "max_slots",
    }
    for key, value in geo.items():
        assert value.dtype == torch.float32
        src = getattr(data.geometry, key)
        np.testing.assert_array_equal(value.numpy(), src[idx].astype(np.float32))
