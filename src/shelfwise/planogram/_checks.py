"""One checker per rule type: each turns (rule, prepared planogram) into :class:`Violation` records.

The checkers see a :class:`CheckContext` built once per validation by
:func:`shelfwise.planogram.validator.validate`. Definitions are in the docstring of each
checker; the shared conventions are:

* A *block* is one position whose product is in the catalog. It spans ``x_cm`` to
  ``x_cm + facings_wide * width_cm`` horizontally. Positions whose product is not in the
  catalog are reported once by the validator and ignored by every rule.
* Shelf rules look at blocks on shelves the display has; display rules (capacity, facings
  range, mandatory products, brand share, the display-kind part of regulatory zones, days of
  supply) also count blocks whose shelf index the display lacks.
* A hard rule that needs a product field the catalog does not give (e.g. ``width_cm``) reports
  one ``missing_data`` violation per product (with the rule's id) and leaves that product's
  blocks out of its own check. Soft rules leave such blocks out silently.
* On a shelf, blocks are ordered by ``x_cm``, ties broken by their order in the planogram.
* Lengths (cm) and loads (kg) are compared with a tolerance of :data:`EPS_CM`; shares and
  penalty amounts with :data:`EPS_SHARE`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shelfwise.domain import Display, Planogram, Position, Product, Shelf
from shelfwise.planogram.rules import (
    Adjacency,
    BalancedDaysOfSupply,
    BrandShare,
    CategoryBlocking,
    Depth,
    DisplayCapacity,
    EyeLevel,
    FacingsRange,
    HeightClearance,
    MandatoryProducts,
    NoOverlap,
    RegulatoryZone,
    ShelfLoad,
    ShelfWidth,
    VerticalBrandBlocks,
)
from shelfwise.planogram.violations import Severity, Violation

EPS_CM = 1e-6
"""Tolerance on lengths (cm) and loads (kg): a block ending 1e-7 cm past the shelf is fine."""
EPS_SHARE = 1e-9
"""Tolerance on shares and normalised penalty amounts."""
MISSING_DATA = "missing_data"
"""``rule_type`` of violations saying a product lacks a field a hard rule needs."""


@dataclass(frozen=True, slots=True)
class Block:
    """A position whose product is known, with its shelf (``None`` if the display lacks it)."""

    index: int
    position: Position
    product: Product
    shelf: Shelf | None

    @property
    def pid(self) -> str:
        """The product id."""
        return self.position.product_id

    @property
    def x0(self) -> float:
        """Left edge (cm)."""
        return self.position.x_cm

    @property
    def width(self) -> float:
        """Linear space: facings_wide x width_cm (needs ``width_cm``)."""
        return self.position.facings_wide * _known(self.product.width_cm)

    @property
    def x1(self) -> float:
        """Right edge (cm; needs ``width_cm``)."""
        return self.position.x_cm + self.width


@dataclass(frozen=True)
class CheckContext:
    """What every checker may read: the inputs and the blocks, prepared once."""

    planogram: Planogram
    display: Display
    catalog: Mapping[str, Product]
    blocks: tuple[Block, ...]
    """Blocks in planogram order (known products, any shelf index)."""
    by_shelf: Mapping[int, tuple[Block, ...]]
    """Blocks on each existing shelf, ordered by ``x_cm`` then planogram order."""
    unit_sales_per_day: Mapping[str, float] | None = None
    mandatory: tuple[str, ...] = ()
    """Products named by mandatory_products rules of the rulebook that act on this display."""

    @property
    def on_shelves(self) -> Iterator[Block]:
        """Blocks on shelves the display has, shelf by shelf."""
        for blocks in self.by_shelf.values():
            yield from blocks


Checker = Callable[[Any, CheckContext], Iterator[Violation]]
CHECKERS: dict[str, Checker] = {}
"""Registry: rule type -> checker."""


def _checks(rule_type: str) -> Callable[[Checker], Checker]:
    def register(fn: Checker) -> Checker:
        CHECKERS[rule_type] = fn
        return fn

    return register


def _known(value: float | None) -> float:
    if value is None:  # pragma: no cover - callers filter on the field first
        raise TypeError("a field checked to be present is None")
    return value


def _g(x: float) -> str:
    return f"{x:.6g}"


def _v(
    rule: Any,
    message: str,
    shelf: int | None = None,
    pids: tuple[str, ...] = (),
    measured: float | None = None,
    limit: float | None = None,
    amount: float = 0.0,
) -> Violation:
    """A violation of ``rule``; for a soft rule the penalty is ``weight * amount``."""
    soft = rule.severity == Severity.SOFT
    return Violation(
        rule.id,
        rule.type,
        rule.severity,
        message,
        shelf_index=shelf,
        product_ids=pids,
        measured=None if measured is None else float(measured),
        limit=None if limit is None else float(limit),
        penalty=rule.weight * amount if soft else 0.0,
    )


def _with_fields(
    rule: Any, blocks: Iterable[Block], fields: Sequence[str], out: list[Violation]
) -> list[Block]:
    """Blocks whose product has every field; append one missing_data violation per product."""
    ok: list[Block] = []
    reported: set[str] = set()
    for b in blocks:
        missing = [f for f in fields if getattr(b.product, f) is None]
        if not missing:
            ok.append(b)
        elif b.pid not in reported:
            reported.add(b.pid)
            msg = f"product {b.pid} has no {' or '.join(missing)}, which rule {rule.id!r} needs"
            shelf = b.position.shelf_index
            out.append(Violation(rule.id, MISSING_DATA, Severity.HARD, msg, shelf, (b.pid,)))
    return ok


def _pids(blocks: Iterable[Block]) -> tuple[str, ...]:
    return tuple(sorted({b.pid for b in blocks}))


# ------------------------------------------------------------------------------ hard rules
@_checks("shelf_width")
def check_shelf_width(rule: ShelfWidth, ctx: CheckContext) -> Iterator[Violation]:
    """Per shelf: ``sum(facings_wide * width_cm) + gap_cm * (blocks - 1) <= shelf width``.

    One violation per shelf whose sum is too large (measured: the sum, limit: the width), and
    one per block whose right edge ``x_cm + facings_wide * width_cm`` lies past the shelf
    width (measured: the right edge). With ``gap_cm > 0`` the gap is also enforced between
    neighbours: for each two consecutive blocks ``a, b`` in the shelf's order, ``b.x_cm -
    a's right edge >= gap_cm``; one violation per pair closer than that (measured: their
    clearance in cm, negative when they overlap; limit: ``gap_cm``). The gap belongs to this
    rule, not to no_overlap, which only forbids overlaps. Needs ``width_cm``.
    """
    out: list[Violation] = []
    for s, shelf_blocks in ctx.by_shelf.items():
        blocks = _with_fields(rule, shelf_blocks, ("width_cm",), out)
        if not blocks:
            continue
        width = ctx.display.shelves[s].width_cm
        total = sum(b.width for b in blocks) + rule.gap_cm * (len(blocks) - 1)
        if total > width + EPS_CM:
            gaps = f" plus {len(blocks) - 1} gaps of {_g(rule.gap_cm)} cm" if rule.gap_cm else ""
            msg = f"shelf {s} holds {_g(total)} cm of facings{gaps}; its width is {_g(width)} cm"
            out.append(_v(rule, msg, s, _pids(blocks), total, width))
        for b in blocks:
            if b.x1 > width + EPS_CM:
                msg = f"product {b.pid} on shelf {s} ends at {_g(b.x1)} cm, past its {_g(width)} cm"
                out.append(_v(rule, msg, s, (b.pid,), b.x1, width))
        if rule.gap_cm > 0:
            for a, b in itertools.pairwise(blocks):
                clear = b.x0 - a.x1
                if clear < rule.gap_cm - EPS_CM:
                    msg = (
                        f"products {a.pid} and {b.pid} on shelf {s} stand {_g(clear)} cm apart; "
                        f"the gap must be at least {_g(rule.gap_cm)} cm"
                    )
                    out.append(_v(rule, msg, s, (a.pid, b.pid), clear, rule.gap_cm))
    yield from out


@_checks("no_overlap")
def check_no_overlap(rule: NoOverlap, ctx: CheckContext) -> Iterator[Violation]:
    """Two blocks on one shelf must not overlap; touching (``a.x1 == b.x0``) is fine.

    One violation per overlapping pair (measured: the overlap length in cm, limit 0), the
    left block first. Needs ``width_cm``.
    """
    out: list[Violation] = []
    for s, shelf_blocks in ctx.by_shelf.items():
        blocks = _with_fields(rule, shelf_blocks, ("width_cm",), out)
        for i, a in enumerate(blocks):  # sorted by x0: later blocks start at or after a.x0
            a_end = a.x1
            for b in blocks[i + 1 :]:
                if b.x0 >= a_end - EPS_CM:
                    break
                overlap = min(a_end, b.x1) - b.x0
                if overlap > EPS_CM:
                    msg = f"products {a.pid} and {b.pid} overlap by {_g(overlap)} cm on shelf {s}"
                    out.append(_v(rule, msg, s, (a.pid, b.pid), overlap, 0.0))
    yield from out


def _per_block_size(
    rule: Any, ctx: CheckContext, field: str, facings: str, limit_field: str
) -> Iterator[Violation]:
    out: list[Violation] = []
    for b in _with_fields(rule, ctx.on_shelves, (field,), out):
        shelf = b.position.shelf_index
        n, unit = getattr(b.position, facings), getattr(b.product, field)
        limit = getattr(ctx.display.shelves[shelf], limit_field)
        if n * unit > limit + EPS_CM:
            msg = (
                f"product {b.pid} on shelf {shelf} needs {_g(n * unit)} cm ({n} x {_g(unit)} cm); "
                f"the shelf's {limit_field} is {_g(limit)} cm"
            )
            out.append(_v(rule, msg, shelf, (b.pid,), n * unit, limit))
    yield from out


@_checks("height_clearance")
def check_height_clearance(rule: HeightClearance, ctx: CheckContext) -> Iterator[Violation]:
    """Per block: ``facings_high * height_cm <= clearance_cm`` of its shelf. Needs ``height_cm``."""
    return _per_block_size(rule, ctx, "height_cm", "facings_high", "clearance_cm")


@_checks("depth")
def check_depth(rule: Depth, ctx: CheckContext) -> Iterator[Violation]:
    """Per block: ``facings_deep * depth_cm <= depth_cm`` of its shelf. Needs ``depth_cm``."""
    return _per_block_size(rule, ctx, "depth_cm", "facings_deep", "depth_cm")


@_checks("shelf_load")
def check_shelf_load(rule: ShelfLoad, ctx: CheckContext) -> Iterator[Violation]:
    """Per shelf: ``sum(units * weight_kg) <= max_load_kg``, units = wide x high x deep.

    Measured: the load in kg when every position is full. Needs ``weight_kg``.
    """
    out: list[Violation] = []
    for s, shelf_blocks in ctx.by_shelf.items():
        blocks = _with_fields(rule, shelf_blocks, ("weight_kg",), out)
        load = sum(b.position.units * _known(b.product.weight_kg) for b in blocks)
        limit = ctx.display.shelves[s].max_load_kg
        if load > limit + EPS_CM:
            msg = f"shelf {s} carries {_g(load)} kg when full; its max load is {_g(limit)} kg"
            out.append(_v(rule, msg, s, _pids(blocks), load, limit))
    yield from out


@_checks("display_capacity")
def check_display_capacity(rule: DisplayCapacity, ctx: CheckContext) -> Iterator[Violation]:
    """Total ``facings_wide`` over every block must be <= the display's ``max_slots``."""
    total = sum(b.position.facings_wide for b in ctx.blocks)
    slots = ctx.display.max_slots
    if total > slots:
        msg = f"display {ctx.display.display_id} has {total} facings; max_slots is {slots}"
        yield _v(rule, msg, None, _pids(ctx.blocks), total, slots)


@_checks("facings_range")
def check_facings_range(rule: FacingsRange, ctx: CheckContext) -> Iterator[Violation]:
    """Per product: total ``facings_wide`` within ``[min, max]`` (``per_product`` overrides).

    Products on the display are checked; a product absent from it is checked (with 0 facings)
    only if a mandatory_products rule acting on this display names it. Measured: the facings,
    limit: the bound broken.
    """
    facings: dict[str, int] = {}
    for b in ctx.blocks:
        facings[b.pid] = facings.get(b.pid, 0) + b.position.facings_wide
    for pid in ctx.mandatory:
        facings.setdefault(pid, 0)
    for pid, n in facings.items():
        lo, hi = rule.per_product.get(pid, (rule.min_facings, rule.max_facings))
        if n < lo:
            yield _v(
                rule, f"product {pid} has {n} facings; at least {lo} required", None, (pid,), n, lo
            )
        elif hi is not None and n > hi:
            yield _v(
                rule, f"product {pid} has {n} facings; at most {hi} allowed", None, (pid,), n, hi
            )


@_checks("mandatory_products")
def check_mandatory_products(rule: MandatoryProducts, ctx: CheckContext) -> Iterator[Violation]:
    """Each listed product must have at least one block on the display (measured 0, limit 1)."""
    present = {b.pid for b in ctx.blocks}
    for pid in rule.product_ids:
        if pid not in present:
            msg = f"mandatory product {pid} is not on display {ctx.display.display_id}"
            yield _v(rule, msg, None, (pid,), 0.0, 1.0)


@_checks("regulatory_zone")
def check_regulatory_zone(rule: RegulatoryZone, ctx: CheckContext) -> Iterator[Violation]:
    """Flagged products (``Product.<flag>`` true) only on allowed shelves and displays.

    One violation per flagged block on a shelf whose ``height_from_floor_cm`` is below
    ``min_height_from_floor_cm`` (measured: the shelf height, limit: the minimum), and one per
    flagged block (on any shelf index) when the display's kind is in
    ``forbidden_display_kinds`` (measured and limit ``None``).
    """
    kind = ctx.display.kind
    lowest = rule.min_height_from_floor_cm
    for b in ctx.blocks:
        if not getattr(b.product, rule.flag):
            continue
        s = b.position.shelf_index
        if kind in rule.forbidden_display_kinds:
            msg = f"{rule.flag} product {b.pid} must not be on a {kind.value} display"
            yield _v(rule, msg, s, (b.pid,))
        if b.shelf is not None and b.shelf.height_from_floor_cm < lowest:
            height = b.shelf.height_from_floor_cm
            msg = (
                f"{rule.flag} product {b.pid} is on shelf {s} at {_g(height)} cm from the "
                f"floor; it must be at or above {_g(lowest)} cm"
            )
            yield _v(rule, msg, s, (b.pid,), height, lowest)


def _group(b: Block, level: str) -> str | None:
    value: str | None = getattr(b.product, level)
    return value


@_checks("category_blocking")
def check_category_blocking(rule: CategoryBlocking, ctx: CheckContext) -> Iterator[Violation]:
    """Each group (the product's ``level`` attribute) forms one contiguous run per shelf.

    Within a shelf (blocks ordered by ``x_cm``, ties by planogram order), a group's blocks
    must be consecutive: no block of another group (or of a product with no group, which
    counts as a group of its own) lies between two of them. One violation per group and shelf
    with more than one run (measured: the number of runs, limit 1).

    With ``across_shelves``, also per group: (a) the shelves holding it are consecutive
    (measured: the number of shelves between its lowest and highest that lack it, limit 0;
    shelf ``None``), and (b) on each two adjacent shelves holding it, its spans
    ``[min x_cm, max right edge]`` overlap by a positive length (measured: the overlap, <= 0;
    limit 0; shelf: the lower one). So the group fills one staircase-free column of shelves
    whose rows each share some width with the row below. (b) needs ``width_cm``.
    """
    level = rule.level
    out: list[Violation] = []
    for s, blocks in ctx.by_shelf.items():
        runs: dict[str, list[Block]] = {}
        n_runs: dict[str, int] = {}
        prev: str | None = None
        for b in blocks:
            g = _group(b, level)
            if g is not None:
                runs.setdefault(g, []).append(b)
                if g != prev:
                    n_runs[g] = n_runs.get(g, 0) + 1
            prev = g
        for g, n in n_runs.items():
            if n > 1:
                msg = f"{level} {g!r} is split into {n} runs on shelf {s}"
                out.append(_v(rule, msg, s, _pids(runs[g]), n, 1))
    if rule.across_shelves:
        _across_shelves(rule, ctx, out)
    yield from out


def _across_shelves(rule: CategoryBlocking, ctx: CheckContext, out: list[Violation]) -> None:
    level = rule.level
    grouped: dict[str, list[Block]] = {}
    for b in ctx.on_shelves:
        g = _group(b, level)
        if g is not None:
            grouped.setdefault(g, []).append(b)
    for g, blocks in grouped.items():
        pids = _pids(blocks)
        shelves = sorted({b.position.shelf_index for b in blocks})
        gaps = shelves[-1] - shelves[0] + 1 - len(shelves)
        if gaps:
            msg = f"{level} {g!r} is on shelves {shelves}, which are not consecutive"
            out.append(_v(rule, msg, None, pids, gaps, 0))
        spans: dict[int, tuple[float, float]] = {}
        for b in _with_fields(rule, blocks, ("width_cm",), out):
            lo, hi = spans.get(b.position.shelf_index, (math.inf, -math.inf))
            spans[b.position.shelf_index] = (min(lo, b.x0), max(hi, b.x1))
        for lower, upper in itertools.pairwise(shelves):
            if upper != lower + 1 or lower not in spans or upper not in spans:
                continue
            (a0, a1), (b0, b1) = spans[lower], spans[upper]
            overlap = min(a1, b1) - max(a0, b0)
            if overlap <= EPS_CM:
                msg = (
                    f"{level} {g!r} spans {_g(a0)}-{_g(a1)} cm on shelf {lower} and "
                    f"{_g(b0)}-{_g(b1)} cm on shelf {upper}; they do not overlap"
                )
                out.append(_v(rule, msg, lower, pids, overlap, 0))


@_checks("brand_share")
def check_brand_share(rule: BrandShare, ctx: CheckContext) -> Iterator[Violation]:
    """Brand's linear space over the display's occupied linear space within [min, max].

    Linear space of a block is ``facings_wide * width_cm``; every block counts, on any shelf
    index. An empty display has share 0. Measured: the share, limit: the bound broken.
    Needs ``width_cm``.
    """
    out: list[Violation] = []
    blocks = _with_fields(rule, ctx.blocks, ("width_cm",), out)
    total = sum(b.width for b in blocks)
    mine = [b for b in blocks if b.product.brand == rule.brand]
    share = sum(b.width for b in mine) / total if total > 0 else 0.0
    bound: tuple[str, float] | None = None
    if share < rule.min_share - EPS_SHARE:
        bound = ("at least", rule.min_share)
    elif share > rule.max_share + EPS_SHARE:
        bound = ("at most", rule.max_share)
    if bound is not None:
        msg = (
            f"brand {rule.brand!r} has {share:.1%} of the linear space; it must have "
            f"{bound[0]} {bound[1]:.1%}"
        )
        out.append(_v(rule, msg, None, _pids(mine), share, bound[1]))
    yield from out


# ------------------------------------------------------------------------------ soft rules
@_checks("eye_level")
def check_eye_level(rule: EyeLevel, ctx: CheckContext) -> Iterator[Violation]:
    """The top products by unit margin should have a block on an eye-level shelf.

    Products on the display's shelves with ``price`` and ``unit_cost`` are ranked by margin
    ``price - unit_cost`` (ties by product id); the top ``ceil(top_fraction * n)`` of them
    should each have at least one block on a shelf with ``min_cm <= height_from_floor_cm <=
    max_cm``. Amount: the share of those top products with no block at eye level. Skipped
    when no shelf of the display is at eye level.
    """
    shelves = ctx.display.shelves
    eye = {s.index for s in shelves if rule.min_cm <= s.height_from_floor_cm <= rule.max_cm}
    if not eye:
        return
    margin: dict[str, float] = {}
    at_eye: set[str] = set()
    for b in ctx.on_shelves:
        p = b.product
        if p.price is not None and p.unit_cost is not None:
            margin[b.pid] = p.price - p.unit_cost
            if b.position.shelf_index in eye:
                at_eye.add(b.pid)
    ranked = sorted(margin, key=lambda pid: (-margin[pid], pid))
    top = ranked[: max(1, math.ceil(rule.top_fraction * len(ranked) - EPS_SHARE))]
    away = tuple(pid for pid in top if pid not in at_eye)
    if away:
        share = len(away) / len(top)
        msg = (
            f"{len(away)} of the {len(top)} highest-margin products are not at eye level "
            f"({_g(rule.min_cm)}-{_g(rule.max_cm)} cm): {', '.join(away)}"
        )
        yield _v(rule, msg, None, away, share, 0.0, amount=share)


@_checks("vertical_brand_blocks")
def check_vertical_brand_blocks(
    rule: VerticalBrandBlocks, ctx: CheckContext
) -> Iterator[Violation]:
    """A brand on several shelves should share one vertical strip across them.

    For a brand on ``k >= 2`` shelves, with span ``[min x_cm, max right edge]`` per shelf,
    ``amount = 1 - clip(common / narrowest, 0, 1)``, where ``common`` is the length of the
    intersection of all its spans and ``narrowest`` the shortest span: 0 when a strip as wide as
    its narrowest span runs through every shelf, 1 when no strip does. Penalty per brand:
    ``weight * amount / B`` with ``B`` the number of brands on two or more shelves, so the
    rule's total lies in ``[0, weight]``. Measured: the brand's amount.
    """
    spans: dict[str, dict[int, tuple[float, float]]] = {}
    pids: dict[str, set[str]] = {}
    for b in ctx.on_shelves:
        brand = b.product.brand
        if brand is None or b.product.width_cm is None:
            continue
        per_shelf = spans.setdefault(brand, {})
        lo, hi = per_shelf.get(b.position.shelf_index, (math.inf, -math.inf))
        per_shelf[b.position.shelf_index] = (min(lo, b.x0), max(hi, b.x1))
        pids.setdefault(brand, set()).add(b.pid)
    multi = {brand: s for brand, s in spans.items() if len(s) >= 2}
    for brand, per_shelf in multi.items():
        common = min(hi for _, hi in per_shelf.values()) - max(lo for lo, _ in per_shelf.values())
        narrowest = min(hi - lo for lo, hi in per_shelf.values())
        amount = 1.0 - min(1.0, max(0.0, common / narrowest))
        if amount > EPS_SHARE:
            msg = (
                f"brand {brand!r} on shelves {sorted(per_shelf)} shares a vertical strip of "
                f"{_g(max(common, 0.0))} cm; its narrowest span is {_g(narrowest)} cm"
            )
            bp = tuple(sorted(pids[brand]))
            yield _v(rule, msg, None, bp, amount, 0.0, amount=amount / len(multi))


def _matches(b: Block, name: str) -> bool:
    return name in (b.pid, b.product.category, b.product.subcategory)


@_checks("adjacency")
def check_adjacency(rule: Adjacency, ctx: CheckContext) -> Iterator[Violation]:
    """Each pair ``(a, b)`` should be neighbours on some shelf.

    A name matches a block when it equals the block's product id, category or subcategory.
    Neighbours are consecutive blocks in a shelf's order. A pair counts only when both names
    match some block on the display's shelves. Penalty per unmet pair:
    ``weight / number of counted pairs`` (total in ``[0, weight]``).
    """
    blocks = list(ctx.on_shelves)
    counted = [
        (a, b)
        for a, b in rule.pairs
        if any(_matches(x, a) for x in blocks) and any(_matches(x, b) for x in blocks)
    ]
    neighbours = [(u, v) for shelf in ctx.by_shelf.values() for u, v in itertools.pairwise(shelf)]
    for a, b in counted:
        if not any(
            (_matches(u, a) and _matches(v, b)) or (_matches(u, b) and _matches(v, a))
            for u, v in neighbours
        ):
            pids = _pids(x for x in blocks if _matches(x, a) or _matches(x, b))
            msg = f"{a} and {b} are not next to each other on any shelf"
            yield _v(rule, msg, None, pids, 1.0, 0.0, amount=1.0 / len(counted))


@_checks("balanced_days_of_supply")
def check_balanced_days_of_supply(
    rule: BalancedDaysOfSupply, ctx: CheckContext
) -> Iterator[Violation]:
    """Days of supply (units capacity / unit sales per day) should be even across products.

    Uses products on the display with positive sales in ``unit_sales_per_day``; skipped when
    the mapping is not given. Without ``target_days`` the amount is the coefficient of
    variation (population std / mean) of days of supply (needs two products); with it, the
    mean of ``|days - target_days| / target_days``. Penalty: ``weight * amount``.
    """
    sales = ctx.unit_sales_per_day
    if sales is None:
        return
    units: dict[str, int] = {}
    for b in ctx.blocks:
        units[b.pid] = units.get(b.pid, 0) + b.position.units
    days = {pid: u / sales[pid] for pid, u in units.items() if sales.get(pid, 0.0) > 0}
    values = list(days.values())
    if rule.target_days is None:
        if len(values) < 2:
            return
        mean = sum(values) / len(values)
        amount = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) / mean
        what = "coefficient of variation of days of supply"
    elif values:
        target = rule.target_days
        amount = sum(abs(v - target) / target for v in values) / len(values)
        what = f"mean relative distance of days of supply to {_g(target)} days"
    else:
        return
    if amount > EPS_SHARE:
        msg = f"{what} is {_g(amount)} (range {_g(min(values))}-{_g(max(values))} days)"
        yield _v(rule, msg, None, tuple(sorted(days)), amount, 0.0, amount=amount)
