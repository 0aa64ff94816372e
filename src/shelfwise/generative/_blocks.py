"""Blocks of facings on a shelf: reading them from a model tensor, turning them into positions.

Private to :mod:`shelfwise.generative.decoding` (its module docstring says how slots are read).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, Planogram, Position, Product
from shelfwise.generative.data import MODEL_CHANNELS, PlanogramCodec

_OCCUPIED: Final = MODEL_CHANNELS.index("occupied")
_X_STEPS_PER_CM: Final = 100


@dataclass(slots=True)
class _Block:
    """A product block while decoding: product index (codec order), facings wide, left edge."""

    product: int
    facings: int
    x_cm: float = 0.0


@dataclass(frozen=True, slots=True)
class _Catalog:
    """Per-product arrays of a codec's vocabulary."""

    products: tuple[Product, ...]
    width: NDArray[np.float64]
    depth: NDArray[np.float64]
    weight: NDArray[np.float64]

    @classmethod
    def of(cls, codec: PlanogramCodec) -> _Catalog:
        products = codec.catalog
        return cls(
            products=products,
            width=np.array([p.width_cm or 0.0 for p in products], dtype=np.float64),
            depth=np.array([p.depth_cm or 0.0 for p in products], dtype=np.float64),
            weight=np.array([p.weight_kg or 0.0 for p in products], dtype=np.float64),
        )

    def deep(self, shelf_depth_cm: float) -> NDArray[np.int64]:
        """Facings deep of each product on a shelf of this depth (at least 1)."""
        with np.errstate(divide="ignore"):
            n = np.floor_divide(shelf_depth_cm, self.depth)
        return np.maximum(1, np.where(np.isfinite(n), n, 1)).astype(np.int64)


def _nearest(
    cells: NDArray[np.float64], attributes: NDArray[np.float64], allowed: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Index of the nearest allowed product of each cell, shape (K,) from (K, C) and (P, C)."""
    d2 = ((cells[:, None, :] - attributes[None, :, :]) ** 2).sum(axis=2)
    d2[:, ~allowed] = np.inf
    best: NDArray[np.int64] = np.argmin(d2, axis=1).astype(np.int64)
    return best


def _snap_up(x_cm: float) -> float:
    """``x_cm`` rounded up to the 0.01 cm grid (a hair below a grid point counts as on it)."""
    steps = math.ceil(x_cm * _X_STEPS_PER_CM - 1e-6)
    return max(0, steps) / _X_STEPS_PER_CM


def _read_row(
    labels: NDArray[np.int64], slot_cm: float, widths: NDArray[np.float64]
) -> list[_Block]:
    """Blocks of one shelf row (``labels``: product index per slot, -1 when empty).

    See the module docstring: segments start at their first slot's left edge, blocks of a
    segment follow one another, facings are read where each block's right edge falls.
    """
    n = labels.size
    out: list[_Block] = []
    k = 0
    end = 0.0
    while k < n:
        p = int(labels[k])
        if p < 0:
            k += 1
            continue
        a = k
        while k + 1 < n and labels[k + 1] == p:
            k += 1
        b = k
        segment_start = a == 0 or labels[a - 1] < 0
        x = _snap_up(a * slot_cm if segment_start else max(end, a * slot_cm))
        next_occupied = b + 1 < n and labels[b + 1] >= 0
        right = (b + (1.5 if next_occupied else 0.5)) * slot_cm
        w = float(widths[p])
        f = max(1, round((right - x) / w))
        out.append(_Block(p, f, x))
        end = x + f * w
        k += 1
    return out


def _labels(
    arr: NDArray[np.float64],
    s: int,
    attributes: NDArray[np.float64],
    allowed: NDArray[np.bool_],
) -> NDArray[np.int64]:
    """Product index per slot of shelf row ``s`` (-1: empty or no product allowed)."""
    n_slots = arr.shape[2]
    labels = np.full(n_slots, -1, dtype=np.int64)
    occupied = arr[_OCCUPIED, s] > 0
    if occupied.any() and allowed.any():
        labels[occupied] = _nearest(arr[:, s, occupied].T, attributes, allowed)
    return labels


def _segment_labels(
    arr: NDArray[np.float64],
    s: int,
    attributes: NDArray[np.float64],
    allowed: NDArray[np.bool_],
    switch_cost: float,
) -> NDArray[np.int64]:
    """Product index per slot of row ``s`` by MAP segmentation (-1: empty).

    Occupancy is read from the ``occupied`` channel as in :func:`decode_naive`; an occupied
    slot is explained by an allowed product at its squared distance, and every change of
    label along the shelf costs ``switch_cost``. The cheapest labelling (Viterbi) reads
    products as the blocks they are in real planograms instead of a product per slot, so
    noise in a few channels no longer splits a block into several products. With
    ``switch_cost = 0`` this is the slot-by-slot nearest allowed product.
    """
    cells = arr[:, s, :].T  # (K, C)
    cand = np.flatnonzero(allowed)
    occupied = arr[_OCCUPIED, s] > 0
    if cand.size == 0 or not occupied.any():
        return np.full(cells.shape[0], -1, dtype=np.int64)
    d2 = ((cells[:, None, :] - attributes[cand][None, :, :]) ** 2).sum(axis=2)  # (K, P')
    empty = np.where(occupied, np.inf, 0.0)[:, None]
    cost = np.hstack([np.where(occupied[:, None], d2, np.inf), empty])  # (K, M)
    n_slots, m = cost.shape
    acc = cost[0].copy()
    back = np.zeros((n_slots, m), dtype=np.int64)
    same = np.arange(m)
    for k in range(1, n_slots):
        j = int(np.argmin(acc))
        switch = acc[j] + switch_cost
        moved = switch < acc
        back[k] = np.where(moved, j, same)
        acc = np.where(moved, switch, acc) + cost[k]
    path = np.empty(n_slots, dtype=np.int64)
    path[-1] = int(np.argmin(acc))
    for k in range(n_slots - 1, 0, -1):
        path[k - 1] = back[k, path[k]]
    labels = np.where(path < cand.size, cand[np.minimum(path, cand.size - 1)], -1)
    return labels.astype(np.int64)


def _position(s: int, b: _Block, product_ids: Sequence[str], deep: int) -> Position:
    return Position(
        shelf_index=s,
        x_cm=b.x_cm,
        product_id=product_ids[b.product],
        facings_wide=b.facings,
        facings_high=1,
        facings_deep=deep,
    )


def _planogram(
    display: Display,
    shelves: Sequence[list[_Block]],
    codec: PlanogramCodec,
    cat: _Catalog,
    provenance: str,
) -> Planogram:
    positions: list[Position] = []
    for s, blocks in enumerate(shelves):
        deep = cat.deep(display.shelves[s].depth_cm)
        positions.extend(_position(s, b, codec.product_ids, int(deep[b.product])) for b in blocks)
    positions.sort(key=lambda p: (p.shelf_index, p.x_cm))
    return Planogram(
        display_id=display.display_id,
        version=1,
        positions=tuple(positions),
        provenance=provenance,
    )
