"""Decoders: a generated model tensor -> a :class:`~shelfwise.domain.Planogram`.

A diffusion model over :class:`~shelfwise.generative.data.PlanogramCodec` tensors outputs a
float array of shape ``(n_channels, n_shelves, n_slots)`` in model space ([-1, 1]; channels
``MODEL_CHANNELS``). Row ``s`` is shelf ``s`` of the display (rows past the display's shelves
are padding and are ignored); shelf ``s`` is cut into ``n_slots`` equal slots of width
``shelf.width_cm / n_slots``. Three decoders read such a tensor:

:func:`decode_naive`
    The raw reading, with no rule enforced: how good the model is on its own.
:func:`decode_structured`
    The generate task: the same reading, constrained shelf by shelf so that a family of hard
    rules holds by construction (:data:`GUARANTEED_RULE_TYPES`).
:func:`decode_arrange`
    The arrange task: a *given* assortment (product -> facings) laid out on the display in the
    style the model generated.

Reading slots and blocks
------------------------
A slot is occupied when its ``occupied`` channel is > 0. Its product is the nearest product
(Euclidean distance over all model channels to the product's vector in ``codec.attributes``).
Consecutive occupied slots with the same product on a shelf form a *block*.

Facings wide are read where each block's right edge falls, the inverse of
:meth:`~shelfwise.planogram.PlanogramEncoder.encode`: a block of slots ``a..b`` whose next
slot holds another block ends inside slot ``b + 1`` (the encoder lets the next block overwrite
the shared slot), so its right edge is estimated at ``(b + 1.5) * slot``; a block followed by
an empty slot or the shelf's end ends inside slot ``b``, estimated at ``(b + 0.5) * slot``. A
*segment* (maximal run of occupied slots) starts at its first slot's left edge and its blocks
follow one another without gaps (the picture the encoder gives of a packed shelf), so block
``k`` starts at ``x_k = max(x_{k-1} + f_{k-1} * width_{k-1}, a_k * slot)`` and gets
``f_k = max(1, round((end_k - x_k) / width_k))`` facings. Each estimated edge is within half a
slot of the truth, so when the slot width is below the narrowest product's width the reading
is exact: ``decode_naive(codec.encode(p, d), d, codec)`` gives back ``p``'s positions for every
planogram ``p`` that is packed from ``x = 0`` without gaps with ``x_cm`` on the 0.01 cm grid,
``facings_high = 1`` and ``facings_deep = floor(shelf depth / product depth)`` (every planogram
of the synthetic chain). ``facings_high`` is always 1 and ``facings_deep`` is
``max(1, floor(shelf depth / product depth))``, as the synthetic chain packs shelves.

Positions come sorted by ``(shelf_index, x_cm)``, ``x_cm`` on the 0.01 cm grid (rounded up,
so blocks packed edge to edge never overlap by a rounding error), version 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, Planogram
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative._blocks import (
    _OCCUPIED,
    _Block,
    _Catalog,
    _labels,
    _planogram,
    _read_row,
    _segment_labels,
)
from shelfwise.generative._structure import (
    _FIT_EPS_CM,
    _LOAD_EPS_KG,
    _caps,
    _contiguous,
    _enforce_capacity,
    _enforce_caps,
    _enforce_load,
    _gap_cm,
    _levels,
    _merge,
    _pack,
    _stable_group,
)
from shelfwise.generative.data import PlanogramCodec
from shelfwise.planogram.rules import (
    Rulebook,
    default_rulebook,
)

__all__ = [
    "GUARANTEED_RULE_TYPES",
    "ArrangeResult",
    "decode_arrange",
    "decode_naive",
    "decode_structured",
]

GUARANTEED_RULE_TYPES: Final = (
    "shelf_width",
    "height_clearance",
    "depth",
    "shelf_load",
    "no_overlap",
    "display_capacity",
    "regulatory_zone",
    "category_blocking",
)
"""Hard rule families that :func:`decode_structured` and :func:`decode_arrange` never break.

``category_blocking`` is guaranteed within each shelf only: a rule with ``across_shelves=True``
may still report its across-shelves part. ``facings_range`` maxima are also guaranteed by
:func:`decode_structured` (not by :func:`decode_arrange`, whose facings are the caller's); see
the decoders' docstrings for the exact statements.
"""


@dataclass(frozen=True, slots=True)
class ArrangeResult:
    """What :func:`decode_arrange` made of a given assortment.

    Attributes
    ----------
    planogram : Planogram
        The placed facings.
    unplaced : Mapping[str, int]
        Facings wide per product that fit nowhere (only products with at least one); for each
        product, placed + unplaced facings equal the facings asked for.
    """

    planogram: Planogram
    unplaced: Mapping[str, int]


def _check_codec(codec: PlanogramCodec) -> None:
    if not isinstance(codec, PlanogramCodec):
        raise InvalidParameterError(f"codec must be a PlanogramCodec; got {type(codec).__name__}")


def _check_tensor(
    tensor: NDArray[np.floating] | NDArray[np.float32], display: Display, codec: PlanogramCodec
) -> NDArray[np.float64]:
    _check_codec(codec)
    if not isinstance(display, Display):
        raise InvalidParameterError(f"display must be a Display; got {type(display).__name__}")
    try:
        arr = np.asarray(tensor, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"tensor must be a numeric array; got {type(tensor).__name__}"
        ) from exc
    expected = (codec.n_channels, codec.n_shelves, codec.n_slots)
    if arr.shape != expected:
        raise InvalidParameterError(
            f"tensor shape must be {expected} (n_channels, n_shelves, n_slots); got {arr.shape}"
        )
    bad = int(np.count_nonzero(~np.isfinite(arr)))
    if bad:
        raise InvalidParameterError(f"tensor must be finite; got {bad} NaN or infinite values")
    if len(display.shelves) > codec.n_shelves:
        raise InvalidParameterError(
            f"display {display.display_id} has {len(display.shelves)} shelves; the codec holds "
            f"at most n_shelves={codec.n_shelves}"
        )
    return arr


def _check_rulebook(rulebook: Rulebook | None) -> Rulebook:
    if rulebook is None:
        return default_rulebook()
    if not isinstance(rulebook, Rulebook):
        raise InvalidParameterError(
            f"rulebook must be a Rulebook or None; got {type(rulebook).__name__}"
        )
    return rulebook


def _check_facings(facings: Mapping[str, int], codec: PlanogramCodec) -> dict[int, int]:
    """Product index -> facings (> 0 only), in the mapping's order."""
    if not isinstance(facings, Mapping):
        raise InvalidParameterError(
            f"facings must be a mapping of product id to facings wide; got {type(facings).__name__}"
        )
    out: dict[int, int] = {}
    for pid, q in facings.items():
        if pid not in codec.index:
            raise InvalidParameterError(
                f"facings must name products of the codec's vocabulary of {codec.n_products} "
                f"products; got {pid!r}"
            )
        if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 0:
            raise InvalidParameterError(
                f"facings must be integers >= 0; got {q!r} for product {pid!r}"
            )
        if q > 0:
            out[codec.index[pid]] = int(q)
    return out


def decode_naive(
    tensor: NDArray[np.floating] | NDArray[np.float32],
    display: Display,
    codec: PlanogramCodec,
    *,
    provenance: str = "diffusion:naive",
) -> Planogram:
    """The raw reading of a generated tensor: no rule is enforced.

    Slot by slot, a slot with ``occupied > 0`` holds the nearest product among *all* products
    of ``codec`` (Euclidean distance over all model channels); consecutive slots of one
    product form a block. Facings and left edges are read as the module docstring says (each
    run of occupied slots starts at its first slot's left edge, its blocks follow one another
    and each gets ``max(1, round(span / product width))`` facings, the span running to where
    the block's right edge falls). ``facings_high = 1``, ``facings_deep = max(1, floor(shelf
    depth / product depth))``.

    The result may break any rule: products too tall or too deep for their shelf, blocks
    running past the shelf's end, overlapping runs, too many facings, age-restricted products
    low down, split category blocks. On a tensor encoding a packed planogram (see the module
    docstring) it gives back that planogram's positions exactly.

    Parameters
    ----------
    tensor : ndarray, shape (n_channels, n_shelves, n_slots)
        A generated (or encoded) planogram in model space.
    display : Display
        The display it is for; gives slot widths and shelf depths.
    codec : PlanogramCodec
        The encoding the model was trained on.
    provenance : str
        Provenance of the returned planogram.

    Returns
    -------
    Planogram
        Version 1, positions sorted by ``(shelf_index, x_cm)``.

    Raises
    ------
    InvalidParameterError
        If the tensor's shape is wrong or it holds NaN or infinite values, or the display has
        more shelves than ``codec.n_shelves``.
    """
    arr = _check_tensor(tensor, display, codec)
    cat = _Catalog.of(codec)
    attributes = codec.attributes.astype(np.float64)
    everyone = np.ones(codec.n_products, dtype=bool)
    shelves = []
    for s, shelf in enumerate(display.shelves):
        labels = _labels(arr, s, attributes, everyone)
        shelves.append(_read_row(labels, shelf.width_cm / codec.n_slots, cat.width))
    return _planogram(display, shelves, codec, cat, provenance)


def decode_structured(
    tensor: NDArray[np.floating] | NDArray[np.float32],
    display: Display,
    codec: PlanogramCodec,
    rulebook: Rulebook | None = None,
    *,
    switch_cost: float = 1.5,
    provenance: str = "diffusion:structured",
) -> Planogram:
    """The model's planogram, constrained so that the physical and zoning rules hold.

    Shelf by shelf, in this order:

    1. Read blocks as :func:`decode_naive` does, but with the products
       ``codec.allowed(display, rulebook)`` lets stand on that shelf (height <= clearance,
       depth <= shelf depth, width <= shelf width, age zone) as the only candidates, and
       slots labelled by MAP segmentation rather than one by one: each slot is explained by
       a product or by "empty" at its squared distance, and each change along the shelf
       costs ``switch_cost`` (Viterbi). A shelf on which no product is allowed stays empty.
    2. Merge adjacent blocks of one product; group blocks stably (order of first appearance,
       not a sort) at the level of each ``category_blocking`` rule acting on the display, the
       first rule's level outermost; where two levels cut across each other (e.g.
       subcategory and brand) and a group is still split, keep its run with the most facings
       and drop its other runs. Within the innermost group, blocks of one product are brought
       together too, so each product forms one block per shelf (as merchandisers place them).
    3. Cap each product's facings at the smallest ``max_facings`` of the ``facings_range``
       rules acting on the display (``per_product`` overrides), taking facings off the
       product's largest blocks first.
    4. Pack blocks left to right from ``x = 0`` in that order, ``gap_cm`` apart (the largest
       of the ``shelf_width`` rules), dropping facings that would run past the shelf's end (a
       block with no facing left goes; a later, narrower block that still fits stays).
    5. Take facings off the heaviest positions (``weight_kg x facings_wide x facings_deep``)
       until the full shelf is within ``max_load_kg``.
    6. Over the display, take facings off the largest blocks until the total facings wide is
       within ``display.max_slots``.
    7. Merge blocks of one product made adjacent by the drops and pack again.

    Products are never invented: every position holds a product the tensor put on that shelf
    (a tensor with no occupied slot gives an empty planogram).

    Guarantees (what :func:`~shelfwise.planogram.validate` with ``rulebook`` and the codec's
    catalog never reports): no violation of type ``shelf_width`` (including its gap),
    ``height_clearance``, ``depth``, ``shelf_load``, ``no_overlap``, ``display_capacity``,
    ``regulatory_zone``, ``category_blocking`` within shelves (the ``across_shelves`` part is
    not guaranteed), the maximum of ``facings_range``, ``unknown_product``, ``unknown_shelf``
    or ``missing_data`` (:data:`GUARANTEED_RULE_TYPES`). Physical rules (width, height,
    depth, load, overlap, capacity) hold whether or not the rulebook names them.

    Not guaranteed, left to the caller's repair step: ``mandatory_products``, ``brand_share``,
    the minimum of ``facings_range`` (a product on the display has at least one facing, so
    only minima above 1 or mandatory products absent from the planogram can fail) and
    ``category_blocking`` across shelves; soft rules are not considered.

    Parameters
    ----------
    tensor : ndarray, shape (n_channels, n_shelves, n_slots)
        A generated planogram in model space.
    display : Display
        The display it is for.
    codec : PlanogramCodec
        The encoding the model was trained on.
    rulebook : Rulebook, optional
        Rules to build in; :func:`~shelfwise.planogram.rules.default_rulebook` when ``None``.
    provenance : str
        Provenance of the returned planogram.

    Returns
    -------
    Planogram
        Version 1, positions sorted by ``(shelf_index, x_cm)``.

    Raises
    ------
    InvalidParameterError
        If the tensor's shape is wrong or it holds NaN or infinite values, the display has
        more shelves than ``codec.n_shelves``, or ``rulebook`` is not a Rulebook.
    """
    arr = _check_tensor(tensor, display, codec)
    rulebook = _check_rulebook(rulebook)
    cat = _Catalog.of(codec)
    attributes = codec.attributes.astype(np.float64)
    allowed = codec.allowed(display, rulebook)
    levels = _levels(rulebook, display)
    gap = _gap_cm(rulebook, display)
    shelves: list[list[_Block]] = []
    for s, shelf in enumerate(display.shelves):
        labels = _segment_labels(arr, s, attributes, allowed[s], switch_cost)
        blocks = _read_row(labels, shelf.width_cm / codec.n_slots, cat.width)
        # one block per product and shelf: products are grouped inside the rule levels
        blocks = _merge(_stable_group(_merge(blocks), [*levels, "product_id"], cat))
        blocks, _ = _contiguous(blocks, levels, cat)
        shelves.append(_merge(blocks))
    _enforce_caps(shelves, _caps(rulebook, display, codec.product_ids))
    for s, shelf in enumerate(display.shelves):
        shelves[s] = _pack(shelves[s], shelf.width_cm, gap, cat.width)
        unit_kg = cat.weight * cat.deep(shelf.depth_cm)
        _enforce_load(shelves[s], shelf.max_load_kg, unit_kg)
    _enforce_capacity(shelves, display.max_slots)
    for s, shelf in enumerate(display.shelves):
        shelves[s] = _pack(_merge(shelves[s]), shelf.width_cm, gap, cat.width)
    return _planogram(display, shelves, codec, cat, provenance)


def decode_arrange(
    tensor: NDArray[np.floating] | NDArray[np.float32],
    display: Display,
    codec: PlanogramCodec,
    facings: Mapping[str, int],
    rulebook: Rulebook | None = None,
    *,
    temperature: float = 0.05,
    provenance: str = "diffusion:arrange",
) -> ArrangeResult:
    """Lay a given assortment out on the display in the style the model generated.

    1. *Soft assignment.* Each occupied slot (``occupied > 0``) of each shelf spreads one unit
       of weight over the given products (those with facings > 0):
       ``r = softmax(-distance^2 / temperature)`` over the products' vectors in
       ``codec.attributes``. A (product, shelf) pair scores the sum of the product's weight
       over the shelf's occupied slots; its *mean slot* on the shelf is the weighted mean
       slot index.
    2. *Shelves.* Pairs are visited by score, highest first (ties: the product given first,
       then the lower shelf); a product not placed yet goes whole onto the pair's shelf when
       the shelf allows it (``codec.allowed``: height, depth, width, age zone) and it fits:
       width (with the ``shelf_width`` gap), full load (``weight x facings_wide x
       facings_deep``) and the display's ``max_slots``. A product that fits whole on no shelf
       is then split: as many facings as fit on each allowed shelf, best score first.
    3. *Order.* On each shelf, products by their mean slot there (their mean over all shelves
       when the model put nothing like them on this shelf), then grouped stably at the levels
       of the ``category_blocking`` rules (as :func:`decode_structured`; a product dropped to
       keep cross-cutting levels contiguous goes to ``unplaced``), packed left to right from
       ``x = 0``; ``facings_high = 1``, ``facings_deep = max(1, floor(shelf depth / product
       depth))``.

    Facings that fit nowhere are not placed and are counted in ``unplaced``; the caller's
    repair step reports or fixes them. For every product, placed + unplaced facings equal the
    facings given. The planogram never breaks the rule families of
    :data:`GUARANTEED_RULE_TYPES` (``category_blocking`` within shelves) and holds no product
    that was not given; ``facings_range``, ``mandatory_products`` and ``brand_share`` are the
    caller's (the facings are given).

    Parameters
    ----------
    tensor : ndarray, shape (n_channels, n_shelves, n_slots)
        A generated planogram in model space (typically from the model conditioned on the
        assortment's mix).
    display : Display
        The display to fill.
    codec : PlanogramCodec
        The encoding the model was trained on.
    facings : Mapping[str, int]
        Product id -> facings wide to place (0 allowed: the product is left out).
    rulebook : Rulebook, optional
        Rules to build in; :func:`~shelfwise.planogram.rules.default_rulebook` when ``None``.
    temperature : float
        Softmax temperature of the soft assignment, > 0 (model-space squared distance).
    provenance : str
        Provenance of the returned planogram.

    Returns
    -------
    ArrangeResult
        The planogram and the facings left unplaced.

    Raises
    ------
    InvalidParameterError
        On a tensor of the wrong shape or with NaN or infinite values, a display with more
        shelves than ``codec.n_shelves``, a product outside the codec's vocabulary, facings
        that are not integers >= 0, a temperature that is not a finite number > 0, or a
        ``rulebook`` that is not a Rulebook.
    """
    arr = _check_tensor(tensor, display, codec)
    wanted = _check_facings(facings, codec)
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not math.isfinite(temperature)
        or temperature <= 0
    ):
        raise InvalidParameterError(f"temperature must be a finite number > 0; got {temperature!r}")
    rulebook = _check_rulebook(rulebook)
    cat = _Catalog.of(codec)
    shelves = display.shelves
    n_shelves = len(shelves)
    given = list(wanted)  # product indices, in the mapping's order
    remaining = dict(wanted)
    placed: list[list[_Block]] = [[] for _ in shelves]
    if given and n_shelves:
        score, mean_slot = _soft_assignment(arr, codec, given, float(temperature), n_shelves)
        allowed = codec.allowed(display, rulebook)[:, given]  # (S, G)
        gap = _gap_cm(rulebook, display)
        deep = np.stack([cat.deep(sh.depth_cm) for sh in shelves])  # (S, P)
        used = [0.0] * n_shelves
        load = [0.0] * n_shelves
        budget = display.max_slots

        def room(s: int, p: int) -> int:
            shelf = shelves[s]
            extra_gap = gap if placed[s] else 0.0
            w = float(cat.width[p])
            by_width = math.floor((shelf.width_cm + _FIT_EPS_CM - used[s] - extra_gap) / w)
            unit = float(cat.weight[p]) * int(deep[s, p])
            by_load = (
                math.floor((shelf.max_load_kg + _LOAD_EPS_KG - load[s]) / unit)
                if unit > 0
                else budget
            )
            return max(0, min(by_width, by_load, budget))

        def put(s: int, p: int, k: int) -> None:
            nonlocal budget
            used[s] += (gap if placed[s] else 0.0) + k * float(cat.width[p])
            load[s] += k * float(cat.weight[p]) * int(deep[s, p])
            placed[s].append(_Block(p, k))
            remaining[p] -= k
            budget -= k

        pairs = sorted(
            ((s, j) for s in range(n_shelves) for j in range(len(given)) if allowed[s, j]),
            key=lambda sj: (-score[sj[0], sj[1]], sj[1], sj[0]),
        )
        for s, j in pairs:
            p = given[j]
            if remaining[p] == wanted[p] and room(s, p) >= wanted[p]:
                put(s, p, wanted[p])
        for s, j in pairs:  # split what fitted whole nowhere, best shelves first
            p = given[j]
            if remaining[p] > 0:
                k = min(remaining[p], room(s, p))
                if k > 0:
                    put(s, p, k)
        overall = _overall_mean(score, mean_slot)
        position = {p: j for j, p in enumerate(given)}
        levels = _levels(rulebook, display)
        for s, shelf in enumerate(shelves):

            def where(b: _Block, s: int = s) -> tuple[float, int]:
                j = position[b.product]
                m = mean_slot[s, j] if score[s, j] > 0 else overall[j]
                return (float(m), j)

            blocks = _stable_group(sorted(placed[s], key=where), levels, cat)
            blocks, dropped = _contiguous(blocks, levels, cat)
            for b in dropped:
                remaining[b.product] += b.facings
            packed = _pack(blocks, shelf.width_cm, gap, cat.width)
            for b in blocks:
                remaining[b.product] += b.facings
            for b in packed:
                remaining[b.product] -= b.facings
            placed[s] = packed
    plan = _planogram(display, placed, codec, cat, provenance)
    unplaced = {codec.product_ids[p]: q for p, q in remaining.items() if q > 0}
    return ArrangeResult(plan, MappingProxyType(unplaced))


def _soft_assignment(
    arr: NDArray[np.float64],
    codec: PlanogramCodec,
    given: Sequence[int],
    temperature: float,
    n_shelves: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Score (S, G): the products' summed soft weight over each shelf's occupied slots; and
    each product's weighted mean slot index on each shelf (NaN where its weight is 0)."""
    cells = arr[:, :n_shelves, :].transpose(1, 2, 0)  # (S, N, C)
    vectors = codec.attributes[list(given)].astype(np.float64)  # (G, C)
    d2 = ((cells[:, :, None, :] - vectors[None, None, :, :]) ** 2).sum(axis=3)  # (S, N, G)
    logits = -d2 / temperature
    logits -= logits.max(axis=2, keepdims=True)
    weights = np.exp(logits)
    weights /= weights.sum(axis=2, keepdims=True)
    weights *= (arr[_OCCUPIED, :n_shelves, :] > 0)[:, :, None]
    score = weights.sum(axis=1)  # (S, G)
    slots = np.arange(arr.shape[2], dtype=np.float64)
    moment = (weights * slots[None, :, None]).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_slot = np.where(score > 0, moment / score, np.nan)
    return score, mean_slot


def _overall_mean(
    score: NDArray[np.float64], mean_slot: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Each product's weighted mean slot over all shelves (+inf where the model has none)."""
    total = score.sum(axis=0)
    moment = np.where(score > 0, score * np.nan_to_num(mean_slot), 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, moment / total, np.inf)
