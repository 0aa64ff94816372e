"""Making blocks lawful on a display: grouping, packing and the caps of the hard rules.

Private to :mod:`shelfwise.generative.decoding`: each function reshapes the decoders' lists of
blocks (:mod:`shelfwise.generative._blocks`) so that one family of hard rules holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative._blocks import _Block, _Catalog, _snap_up
from shelfwise.planogram.rules import CategoryBlocking, FacingsRange, Rulebook, ShelfWidth

_FIT_EPS_CM: Final = 1e-7  # below the validator's 1e-6 tolerance
_LOAD_EPS_KG: Final = 1e-9


def _levels(rulebook: Rulebook, display: Display) -> list[str]:
    """Grouping levels of the category_blocking rules acting on the display, in rule order."""
    levels: list[str] = []
    for rule in rulebook.of_type("category_blocking"):
        if (
            isinstance(rule, CategoryBlocking)
            and rule.applies_to(display.kind)
            and rule.level not in levels
        ):
            levels.append(rule.level)
    return levels


def _gap_cm(rulebook: Rulebook, display: Display) -> float:
    gaps = [
        r.gap_cm
        for r in rulebook.of_type("shelf_width")
        if isinstance(r, ShelfWidth) and r.applies_to(display.kind)
    ]
    return max(gaps, default=0.0)


def _caps(rulebook: Rulebook, display: Display, product_ids: Sequence[str]) -> dict[int, int]:
    """Most facings per product allowed by the facings_range rules acting on the display."""
    caps: dict[int, int] = {}
    for rule in rulebook.of_type("facings_range"):
        if not isinstance(rule, FacingsRange) or not rule.applies_to(display.kind):
            continue
        for i, pid in enumerate(product_ids):
            hi = rule.per_product[pid][1] if pid in rule.per_product else rule.max_facings
            if hi is not None:
                caps[i] = min(caps.get(i, hi), hi)
    return caps


def _group_of(product: Product, level: str) -> str | None:
    value: str | None = getattr(product, level)
    return value


def _stable_group(blocks: list[_Block], levels: Sequence[str], cat: _Catalog) -> list[_Block]:
    """Blocks of one group together, groups in order of first appearance, nested by level.

    A block whose product has no group at a level is a group of its own there.
    """
    if not levels:
        return blocks
    groups: dict[tuple[str, str | int], list[_Block]] = {}
    for i, b in enumerate(blocks):
        g = _group_of(cat.products[b.product], levels[0])
        key: tuple[str, str | int] = ("group", g) if g is not None else ("none", i)
        groups.setdefault(key, []).append(b)
    return [b for members in groups.values() for b in _stable_group(members, levels[1:], cat)]


def _contiguous(
    blocks: list[_Block], levels: Sequence[str], cat: _Catalog
) -> tuple[list[_Block], list[_Block]]:
    """Drop blocks until every group of every level forms one run (kept, dropped).

    For a group in several runs, the run with the most facings stays (the first on a tie).
    Nested levels (category > subcategory) never need a drop after :func:`_stable_group`;
    levels that cut across each other (subcategory and brand) may. Dropping blocks never splits
    a run, so one pass over the levels suffices.
    """
    dropped: list[_Block] = []
    for level in levels:
        runs: list[tuple[str | None, list[int]]] = []
        for i, b in enumerate(blocks):
            g = _group_of(cat.products[b.product], level)
            if runs and g is not None and runs[-1][0] == g:
                runs[-1][1].append(i)
            else:
                runs.append((g, [i]))
        by_group: dict[str, list[list[int]]] = {}
        for g, members in runs:
            if g is not None:
                by_group.setdefault(g, []).append(members)
        drop: set[int] = set()
        for group_runs in by_group.values():
            if len(group_runs) > 1:
                sizes = [sum(blocks[i].facings for i in r) for r in group_runs]
                keep = sizes.index(max(sizes))
                for j, r in enumerate(group_runs):
                    if j != keep:
                        drop.update(r)
        dropped.extend(blocks[i] for i in sorted(drop))
        blocks = [b for i, b in enumerate(blocks) if i not in drop]
    return blocks, dropped


def _merge(blocks: list[_Block]) -> list[_Block]:
    """Adjacent blocks of one product become one block."""
    out: list[_Block] = []
    for b in blocks:
        if out and out[-1].product == b.product:
            out[-1].facings += b.facings
        else:
            out.append(_Block(b.product, b.facings, b.x_cm))
    return out


def _pack(
    blocks: list[_Block], width_cm: float, gap_cm: float, widths: NDArray[np.float64]
) -> list[_Block]:
    """Blocks left to right from x = 0 (``gap_cm`` apart); facings past the shelf's end drop."""
    out: list[_Block] = []
    end: float | None = None
    for b in blocks:
        x = 0.0 if end is None else _snap_up(end + gap_cm)
        w = float(widths[b.product])
        k = min(b.facings, math.floor((width_cm + _FIT_EPS_CM - x) / w)) if x < width_cm else 0
        if k < 1:
            continue
        out.append(_Block(b.product, k, x))
        end = x + k * w
    return out


def _largest(
    shelves: Sequence[list[_Block]],
    key: NDArray[np.float64] | None = None,
    product: int | None = None,
) -> tuple[int, int]:
    """(shelf, index) of the block with the most facings (or the largest ``key``), last on ties."""
    best: tuple[float, int, int] | None = None
    for s, blocks in enumerate(shelves):
        for i, b in enumerate(blocks):
            if product is not None and b.product != product:
                continue
            size = float(b.facings) if key is None else float(key[b.product]) * b.facings
            if best is None or size >= best[0]:
                best = (size, s, i)
    if best is None:  # pragma: no cover - callers only ask when such a block exists
        raise InvalidParameterError("no block to take a facing from")
    return best[1], best[2]


def _take_one(shelves: list[list[_Block]], s: int, i: int) -> None:
    shelves[s][i].facings -= 1
    if shelves[s][i].facings == 0:
        del shelves[s][i]


def _enforce_caps(shelves: list[list[_Block]], caps: Mapping[int, int]) -> None:
    totals: dict[int, int] = {}
    for blocks in shelves:
        for b in blocks:
            totals[b.product] = totals.get(b.product, 0) + b.facings
    for p, total in totals.items():
        for _ in range(total - caps.get(p, total)):
            s, i = _largest(shelves, product=p)
            _take_one(shelves, s, i)


def _enforce_load(blocks: list[_Block], max_load_kg: float, unit_kg: NDArray[np.float64]) -> None:
    """Take facings off the heaviest positions until the full shelf is within its load.

    ``unit_kg`` is the weight of one facing wide (weight x facings deep) of each product.
    """
    shelf = [blocks]
    while blocks and sum(unit_kg[b.product] * b.facings for b in blocks) > (
        max_load_kg + _LOAD_EPS_KG
    ):
        s, i = _largest(shelf, key=unit_kg)
        _take_one(shelf, s, i)


def _enforce_capacity(shelves: list[list[_Block]], max_slots: int) -> None:
    total = sum(b.facings for blocks in shelves for b in blocks)
    for _ in range(total - max_slots):
        s, i = _largest(shelves)
        _take_one(shelves, s, i)
