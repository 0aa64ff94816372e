"""Planograms as multi-channel tensors on a shelves x slots grid, for learning.

Following the diffusion planogram generator of the paper in ``shared/papers/000`` (planograms
"encoded as multi-channel tensors (SKU, dimensions, weight, category, price)"), a planogram of a
display becomes a float32 array of shape ``(channels, n_shelves, n_slots)``. Row ``s`` is shelf
``s`` counted from the bottom; shelves the display lacks are padded with zeros. Each shelf is
cut into ``n_slots`` equal slots of width ``shelf.width_cm / n_slots``; a block of
``facings_wide`` facings of a product of width ``w`` starting at ``x_cm`` covers the slots its
span ``[x_cm, x_cm + facings_wide * w)`` touches, and every covered slot carries the block's
values. Empty slots are zero in every channel.

Channels (``PlanogramEncoder.channel_names``)
---------------------------------------------
``product``       (vocabulary index + 1) / n_products; 0 for an empty slot
``width``         product width / the widest product of the catalog
``height``        product height / the tallest product of the catalog
``weight``        product weight / the heaviest product of the catalog
``category``      (category index + 1) / n_categories; 0 when unknown
``price``         product price / the highest price of the catalog
``facings_wide``  the block's facings wide (a count)
``facings_high``  the block's facings high
``facings_deep``  the block's facings deep
``block_start``   1 in the slot where a block starts, else 0
``x_offset``      in the start slot: (x_cm - slot's left edge) / slot width, in [0, 1)

Unknown attributes (``None``) encode as 0. The first six channels lie in [0, 1]; the facings
channels are raw counts, which a model may rescale.

Decoding reads one position from each slot with ``block_start > 0.5``: the product from the
``product`` channel (rounded to the nearest index), facings rounded to whole numbers (at least
1), and ``x_cm = round((slot + x_offset) * slot_width * x_steps_per_cm) / x_steps_per_cm``.

What is exact and what is lossy
-------------------------------
``decode(encode(p), display)`` returns ``p``'s positions exactly when ``p`` is valid (no two
blocks overlap), its positions are sorted by ``(shelf_index, x_cm)`` (as every shelfwise
producer makes them), each ``x_cm`` lies on the grid of ``1 / x_steps_per_cm`` cm (default
0.01 cm; the synthetic chain places on millimetres) and no two blocks start in one slot.
Otherwise:

* two non-overlapping blocks starting in one slot (a block narrower than a slot) make
  :meth:`PlanogramEncoder.encode` raise; use more slots;
* overlapping blocks (an invalid planogram) that start in one slot keep only the block
  further right; overlapping blocks starting in different slots decode exactly, but their
  shared slots show the block further right;
* ``x_cm`` off the grid is rounded to it; blocks running past the shelf's end are clipped in
  the tensor but decode exactly (the start slot keeps ``x_offset`` and the facings);
* positions come back sorted by shelf, then x.

Tensors from a generative model decode tolerantly: slots whose product index is outside the
vocabulary are skipped, and a negative ``x_cm`` is clamped to 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, Planogram, Position, Product
from shelfwise.exceptions import InvalidParameterError

CHANNEL_NAMES: Final = (
    "product",
    "width",
    "height",
    "weight",
    "category",
    "price",
    "facings_wide",
    "facings_high",
    "facings_deep",
    "block_start",
    "x_offset",
)
_PRODUCT, _FW, _FH, _FD, _START, _OFFSET = 0, 6, 7, 8, 9, 10
_ATTRIBUTES = slice(1, 6)  # width, height, weight, category, price


def _scale(values: Sequence[float | None]) -> float:
    known = [v for v in values if v is not None and v > 0]
    return max(known) if known else 1.0


class PlanogramEncoder:
    """Encode planograms of displays as ``(channels, n_shelves, n_slots)`` float32 tensors.

    Parameters
    ----------
    catalog : sequence of Product
        The product vocabulary, in order; also the source of the attribute channels.
    categories : sequence of str, optional
        Category vocabulary, in order. Defaults to the sorted distinct categories of the
        catalog (at ``category_level``).
    n_shelves : int
        Shelves of the tensor; displays with fewer are padded with empty shelves.
    n_slots : int
        Slots per shelf.
    category_level : {"category", "subcategory"}
        Which product field fills the ``category`` channel.
    x_steps_per_cm : int
        Grid on which ``x_cm`` decodes exactly (100: 0.1 mm).

    Raises
    ------
    InvalidParameterError
        On an empty or duplicated vocabulary, non-positive sizes, or a product whose category
        is missing from ``categories``.
    """

    def __init__(
        self,
        catalog: Sequence[Product],
        *,
        categories: Sequence[str] | None = None,
        n_shelves: int,
        n_slots: int = 24,
        category_level: Literal["category", "subcategory"] = "category",
        x_steps_per_cm: int = 100,
    ) -> None:
        for name, value in (
            ("n_shelves", n_shelves),
            ("n_slots", n_slots),
            ("x_steps_per_cm", x_steps_per_cm),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"{name} must be an integer >= 1 for PlanogramEncoder; got {value!r}"
                )
        if category_level not in ("category", "subcategory"):
            raise InvalidParameterError(
                f"category_level must be 'category' or 'subcategory'; got {category_level!r}"
            )
        products = tuple(catalog)
        if not products:
            raise InvalidParameterError("catalog must hold at least one product; got none")
        ids = [p.product_id for p in products]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise InvalidParameterError(f"catalog product ids must be unique; got {dup!r} twice")
        cats = [getattr(p, category_level) for p in products]
        vocab = (
            tuple(sorted({c for c in cats if c is not None}))
            if categories is None
            else (tuple(categories))
        )
        if len(set(vocab)) != len(vocab):
            raise InvalidParameterError(f"categories must be distinct; got {list(vocab)}")
        missing = sorted({c for c in cats if c is not None and c not in vocab})
        if missing:
            raise InvalidParameterError(
                f"categories must include every {category_level} of the catalog; missing {missing}"
            )
        self.catalog = products
        self.product_ids: tuple[str, ...] = tuple(ids)
        self.categories: tuple[str, ...] = vocab
        self.n_shelves = n_shelves
        self.n_slots = n_slots
        self.category_level = category_level
        self.x_steps_per_cm = x_steps_per_cm
        self.channel_names: tuple[str, ...] = CHANNEL_NAMES
        self.width_scale_cm = _scale([p.width_cm for p in products])
        self.height_scale_cm = _scale([p.height_cm for p in products])
        self.weight_scale_kg = _scale([p.weight_kg for p in products])
        self.price_scale = _scale([p.price for p in products])
        self._index = {pid: i for i, pid in enumerate(ids)}
        cat_index = {c: i for i, c in enumerate(vocab)}
        attrs = np.zeros((len(products), 5), dtype=np.float64)
        for i, (p, cat) in enumerate(zip(products, cats, strict=True)):
            attrs[i] = (
                (p.width_cm or 0.0) / self.width_scale_cm,
                (p.height_cm or 0.0) / self.height_scale_cm,
                (p.weight_kg or 0.0) / self.weight_scale_kg,
                0.0 if cat is None else (cat_index[cat] + 1) / len(vocab),
                (p.price or 0.0) / self.price_scale,
            )
        self._attributes = attrs.astype(np.float32)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channel_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Shape of one encoded planogram: ``(channels, n_shelves, n_slots)``."""
        return (self.n_channels, self.n_shelves, self.n_slots)

    def channel(self, name: str) -> int:
        """Index of the channel called ``name``."""
        if name not in self.channel_names:
            raise InvalidParameterError(
                f"name must be one of {list(self.channel_names)}; got {name!r}"
            )
        return self.channel_names.index(name)

    def _check_display(self, display: Display) -> None:
        if len(display.shelves) > self.n_shelves:
            raise InvalidParameterError(
                f"display {display.display_id} has {len(display.shelves)} shelves; the encoder "
                f"holds at most n_shelves={self.n_shelves}"
            )

    def encode(self, planogram: Planogram, display: Display) -> NDArray[np.float32]:
        """Encode one planogram of ``display``.

        Returns
        -------
        ndarray of float32, shape (channels, n_shelves, n_slots)

        Raises
        ------
        InvalidParameterError
            If the planogram belongs to another display, the display has more shelves than
            ``n_shelves``, a position names a shelf the display lacks or a product outside the
            vocabulary, or two non-overlapping blocks start in one slot.
        """
        if planogram.display_id != display.display_id:
            raise InvalidParameterError(
                f"planogram.display_id must equal display.display_id; got "
                f"{planogram.display_id!r} and {display.display_id!r}"
            )
        self._check_display(display)
        out = np.zeros(self.shape, dtype=np.float32)
        where = f"planogram of display {display.display_id} version {planogram.version}"
        for pos in planogram.positions:
            if pos.product_id not in self._index:
                raise InvalidParameterError(
                    f"product_id must be in the encoder's vocabulary of {len(self._index)} "
                    f"products for the {where}; got {pos.product_id!r}"
                )
            if pos.shelf_index >= len(display.shelves):
                raise InvalidParameterError(
                    f"shelf_index must be < {len(display.shelves)} for product "
                    f"{pos.product_id} in the {where}; got {pos.shelf_index}"
                )
        by_shelf: dict[int, list[Position]] = {}
        for pos in planogram.positions:
            by_shelf.setdefault(pos.shelf_index, []).append(pos)
        for s, positions in by_shelf.items():
            self._encode_shelf(out[:, s, :], positions, display.shelves[s].width_cm, where)
        return out

    def _encode_shelf(
        self, grid: NDArray[np.float32], positions: list[Position], width_cm: float, where: str
    ) -> None:
        n = self.n_slots
        slot = width_cm / n
        starts: dict[int, tuple[Position, float]] = {}
        for pos in sorted(positions, key=lambda p: p.x_cm):
            i = self._index[pos.product_id]
            unit = self.catalog[i].width_cm or 0.0
            end = pos.x_cm + pos.facings_wide * unit
            s0 = min(math.floor(pos.x_cm / slot), n - 1)
            s1 = min(max(math.ceil(end / slot) - 1, s0), n - 1)
            if s0 in starts:
                other, other_end = starts[s0]
                if other_end <= pos.x_cm:
                    raise InvalidParameterError(
                        f"blocks of {other.product_id} (x_cm={other.x_cm}) and "
                        f"{pos.product_id} (x_cm={pos.x_cm}) on shelf {pos.shelf_index} start "
                        f"in one slot of {slot:.3g} cm in the {where}; use more n_slots "
                        f"(now {n})"
                    )
            starts[s0] = (pos, end)
            span = slice(s0, s1 + 1)
            grid[_PRODUCT, span] = (i + 1) / len(self.product_ids)
            grid[_ATTRIBUTES, span] = self._attributes[i][:, None]
            grid[_FW, span] = pos.facings_wide
            grid[_FH, span] = pos.facings_high
            grid[_FD, span] = pos.facings_deep
            grid[_START, span] = 0.0
            grid[_OFFSET, span] = 0.0
            grid[_START, s0] = 1.0
            grid[_OFFSET, s0] = (pos.x_cm - s0 * slot) / slot

    def encode_many(
        self, planograms: Sequence[Planogram], displays: Mapping[str, Display]
    ) -> NDArray[np.float32]:
        """Encode a batch; ``displays`` maps each planogram's ``display_id`` to its display.

        Returns
        -------
        ndarray of float32, shape (N, channels, n_shelves, n_slots)
        """
        out = np.zeros((len(planograms), *self.shape), dtype=np.float32)
        for k, plan in enumerate(planograms):
            if plan.display_id not in displays:
                raise InvalidParameterError(
                    f"displays must hold display {plan.display_id!r} of planogram {k}"
                )
            out[k] = self.encode(plan, displays[plan.display_id])
        return out

    def decode(
        self,
        tensor: NDArray[np.floating] | NDArray[np.float32],
        display: Display,
        *,
        version: int = 1,
        provenance: str = "decoded",
        effective_from: datetime | None = None,
    ) -> Planogram:
        """The planogram a tensor describes on ``display`` (see the module docstring).

        Parameters
        ----------
        tensor : ndarray, shape (channels, n_shelves, n_slots)
            An encoded (or generated) planogram.
        display : Display
            The display it is for; gives the slot widths.
        version, provenance, effective_from
            Fields of the returned planogram.

        Raises
        ------
        InvalidParameterError
            If the tensor's shape is wrong or the display has more shelves than ``n_shelves``.
        """
        arr = np.asarray(tensor, dtype=np.float64)
        if arr.shape != self.shape:
            raise InvalidParameterError(
                f"tensor shape must be {self.shape} (channels, n_shelves, n_slots); got {arr.shape}"
            )
        self._check_display(display)
        n_products = len(self.product_ids)
        steps = self.x_steps_per_cm
        positions = []
        for s, shelf in enumerate(display.shelves):
            slot = shelf.width_cm / self.n_slots
            for k in np.flatnonzero(arr[_START, s] > 0.5):
                idx = round(float(arr[_PRODUCT, s, k]) * n_products)
                if not 1 <= idx <= n_products:
                    continue
                x = round((int(k) + float(arr[_OFFSET, s, k])) * slot * steps) / steps
                positions.append(
                    Position(
                        shelf_index=s,
                        x_cm=max(0.0, x),
                        product_id=self.product_ids[idx - 1],
                        facings_wide=max(1, round(float(arr[_FW, s, k]))),
                        facings_high=max(1, round(float(arr[_FH, s, k]))),
                        facings_deep=max(1, round(float(arr[_FD, s, k]))),
                    )
                )
        return Planogram(
            display_id=display.display_id,
            version=version,
            positions=tuple(positions),
            provenance=provenance,
            effective_from=effective_from,
        )

    def decode_many(
        self,
        tensors: NDArray[np.floating] | NDArray[np.float32],
        displays: Sequence[Display],
        *,
        provenance: str = "decoded",
    ) -> list[Planogram]:
        """Decode a batch ``(N, channels, n_shelves, n_slots)``; ``displays`` aligned with it."""
        arr = np.asarray(tensors)
        if arr.ndim != 4 or arr.shape[0] != len(displays):
            raise InvalidParameterError(
                f"tensors must have shape (N, {', '.join(map(str, self.shape))}) with N = "
                f"{len(displays)} displays; got {arr.shape}"
            )
        return [
            self.decode(t, d, provenance=provenance) for t, d in zip(arr, displays, strict=True)
        ]
