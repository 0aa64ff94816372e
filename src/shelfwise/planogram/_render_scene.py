"""Shared pieces of the planogram renderer (:mod:`shelfwise.planogram.render`).

Colours and constants, positions resolved to drawable blocks, the checks of the inputs, fill
colours, and the drawing of a display's frame, shelves, blocks, labels and axes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, to_hex, to_rgb
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MultipleLocator

from shelfwise.domain import Display, Planogram, Position, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram._render_labels import _fit_label, _put

ColorBy = Literal["category", "subcategory", "brand", "sales"]
Catalog = Mapping[str, Product] | Iterable[Product]
Color = str | tuple[float, float, float, float]

COLOR_MODES: tuple[str, ...] = ("brand", "category", "sales", "subcategory")
SUFFIXES: tuple[str, ...] = (".png", ".svg")
#: Okabe & Ito (2008) colour-blind-safe palette without black and grey (grey reads as empty
#: space); vermillion last, as it is close to the red of violation marks. Groups beyond the
#: seventh reuse the hues darker, then lighter, so lightness tells them apart.
OKABE_ITO = ("#0072B2", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#CC79A7", "#D55E00")
VIOLATION_RED = "#D00000"
SOFT_ORANGE = "#B35900"
EMPTY_GREY = "#D9D9D9"
HEADROOM_GREY = "#F4F4F4"
BOARD_GREY = "#6E6E6E"
NO_DATA_GREY = "#BDBDBD"
_BOARD_CM = 2.0


@dataclass(frozen=True, slots=True)
class _Block:
    """A position resolved to geometry, in cm from the floor and the shelf's left end."""

    position: Position
    product: Product
    x: float
    y: float
    facing_w: float
    facing_h: float

    @property
    def w(self) -> float:
        return self.facing_w * self.position.facings_wide

    @property
    def h(self) -> float:
        return self.facing_h * self.position.facings_high


# ------------------------------------------------------------------------------ inputs
def _as_catalog(catalog: Catalog) -> Mapping[str, Product]:
    return catalog if isinstance(catalog, Mapping) else {p.product_id: p for p in catalog}


def _resolve(
    planogram: Planogram, display: Display, catalog: Mapping[str, Product]
) -> tuple[list[_Block], list[str]]:
    """Blocks that can be drawn, and notes on the positions that cannot."""
    if planogram.display_id != display.display_id:
        raise InvalidParameterError(
            f"planogram.display_id must match display.display_id {display.display_id!r}; "
            f"got {planogram.display_id!r}"
        )
    blocks: list[_Block] = []
    notes: list[str] = []
    for pos in planogram.positions:
        product = catalog.get(pos.product_id)
        where = f"{pos.product_id} on shelf {pos.shelf_index} not drawn"
        if product is None:
            notes.append(f"{where}: not in the catalog")
        elif product.width_cm is None or product.height_cm is None:
            notes.append(f"{where}: width or height unknown")
        elif pos.shelf_index >= len(display.shelves):
            notes.append(f"{where}: the display has no such shelf")
        else:
            y = display.shelves[pos.shelf_index].height_from_floor_cm
            blocks.append(_Block(pos, product, pos.x_cm, y, product.width_cm, product.height_cm))
    return blocks, notes


def _color_mode(color_by: str | None, unit_sales: Mapping[str, float] | None) -> str:
    mode = (
        color_by if color_by is not None else "sales" if unit_sales is not None else "subcategory"
    )
    if mode not in COLOR_MODES:
        raise InvalidParameterError(f"color_by must be one of {list(COLOR_MODES)}; got {mode!r}")
    if mode == "sales" and unit_sales is None:
        raise InvalidParameterError("unit_sales must be given when color_by='sales'; got None")
    for pid, value in (unit_sales or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise InvalidParameterError(f"unit_sales must be >= 0 for product {pid}; got {value!r}")
        if not math.isfinite(value):
            raise InvalidParameterError(
                f"unit_sales must be finite for product {pid}; got {value!r}"
            )
    return mode


def _check_suffix(path: str | Path) -> str:
    suffix = Path(path).suffix
    if suffix.lower() not in SUFFIXES:
        raise InvalidParameterError(
            f"path suffix must be one of {list(SUFFIXES)} for {str(path)!r}; got {suffix!r}"
        )
    return suffix.lower()


# ------------------------------------------------------------------------------ colours
def _group(product: Product, mode: str) -> str:
    value = {"brand": product.brand, "category": product.category}.get(mode, product.subcategory)
    return value or "(none)"


def _palette(groups: Iterable[str]) -> dict[str, str]:
    present = set(groups)
    out: dict[str, str] = {}
    for i, g in enumerate(sorted(present - {"(none)"})):
        base = to_rgb(OKABE_ITO[i % len(OKABE_ITO)])
        cycle = (i // len(OKABE_ITO)) % 3  # base, darker, lighter
        r, gr, b = (0.55 * c if cycle == 1 else c + (1 - c) * 0.55 * (cycle == 2) for c in base)
        out[g] = to_hex((r, gr, b))
    if "(none)" in present:
        out["(none)"] = NO_DATA_GREY
    return out


def _text_color(face: Color) -> str:
    """Black or white, whichever contrasts more with ``face`` (WCAG relative luminance)."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(face)]
    lum = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    return "black" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "white"


def _sales_per_facing(planogram: Planogram, unit_sales: Mapping[str, float]) -> dict[str, float]:
    return {p: float(unit_sales[p]) / n for p, n in planogram.facings().items() if p in unit_sales}


def _faces(
    blocks: Sequence[_Block], mode: str, per_facing: Mapping[str, float]
) -> tuple[list[Color], dict[str, str], Normalize | None]:
    """Fill colour per block, the legend (label -> colour) and, for the heat map, its norm."""
    if mode != "sales":
        palette = _palette(_group(b.product, mode) for b in blocks)
        return [palette[_group(b.product, mode)] for b in blocks], palette, None
    norm = Normalize(0.0, max(per_facing.values(), default=0.0) or 1.0)
    cmap = mpl.colormaps["viridis"]
    faces: list[Color] = [
        cmap(norm(per_facing[b.product.product_id]))
        if b.product.product_id in per_facing
        else NO_DATA_GREY
        for b in blocks
    ]
    return faces, ({"no sales data": NO_DATA_GREY} if NO_DATA_GREY in faces else {}), norm


# ------------------------------------------------------------------------------ drawing
def _rect(ax: Axes, x: float, y: float, w: float, h: float, **style: Any) -> None:
    ax.add_patch(Rectangle((x, y), w, h, **style))


def _swatch(color: Color, label: str, **style: Any) -> Patch:
    return Patch(
        label=label, **{"facecolor": color, "edgecolor": "#303030", "linewidth": 0.6, **style}
    )


def _extent(display: Display, blocks: Sequence[_Block]) -> tuple[float, float, float]:
    """Left, right and top of the drawn frame in cm (the floor is at 0)."""
    right = max([s.width_cm for s in display.shelves] + [b.x + b.w for b in blocks] + [1.0])
    tops = [s.height_from_floor_cm + s.clearance_cm for s in display.shelves]
    return -3.0, right + 3.0, max(tops + [b.y + b.h for b in blocks] + [1.0]) + 3.0


def _draw_structure(
    ax: Axes, display: Display, blocks: Sequence[_Block], pt_per_cm: float | None
) -> None:
    """Frame, floor, headroom, empty linear space (labelled when ``pt_per_cm``) and boards."""
    x0, x1, y1 = _extent(display, blocks)
    _rect(ax, x0 + 1, 0, x1 - x0 - 2, y1 - 1, facecolor="white", edgecolor="#404040", lw=1.5)
    ax.plot([x0, x1], [0, 0], color="#404040", linewidth=1.5, zorder=1)
    for shelf in display.shelves:
        y, width, clear = shelf.height_from_floor_cm, shelf.width_cm, shelf.clearance_cm
        _rect(ax, 0, y, width, clear, facecolor=HEADROOM_GREY, edgecolor="none", zorder=1)
        used = sorted((b.x, b.x + b.w) for b in blocks if b.position.shelf_index == shelf.index)
        cursor = 0.0
        for start, end in [*used, (width, width)]:
            gap = min(start, width) - cursor
            if gap >= 0.5:
                _rect(ax, cursor, y, gap, clear, facecolor=EMPTY_GREY, lw=0, zorder=1.5)
                fit = pt_per_cm and _fit_label(
                    f"{gap:.0f} cm free", (), gap * pt_per_cm, clear * pt_per_cm
                )
                if fit and "…" not in fit[0]:
                    _put(ax, cursor + gap / 2, y + clear / 2, fit, color="#555", zorder=1.6)
            cursor = max(cursor, end)
        _rect(ax, 0, y - _BOARD_CM, width, _BOARD_CM, facecolor=BOARD_GREY, lw=0, zorder=2)


def _draw_blocks(
    ax: Axes, blocks: Sequence[_Block], faces: Sequence[Color], *, thin: bool = False
) -> None:
    lw = 0.3 if thin else 0.6
    for b, face in zip(blocks, faces, strict=True):
        for i in range(b.position.facings_wide):
            for j in range(b.position.facings_high):
                x, y = b.x + i * b.facing_w, b.y + j * b.facing_h
                _rect(ax, x, y, b.facing_w, b.facing_h, fc=face, ec="white", lw=lw, zorder=3)
        _rect(ax, b.x, b.y, b.w, b.h, fc="none", ec="#303030", lw=lw * 4 / 3, zorder=3.5)


def _draw_labels(
    ax: Axes,
    blocks: Sequence[_Block],
    faces: Sequence[Color],
    extras: Sequence[Sequence[str]],
    pt_per_cm: float,
) -> None:
    """One label per block, on a box of the block's colour that masks facing lines and hatch."""
    for block, face, extra in zip(blocks, faces, extras, strict=True):
        fit = _fit_label(block.product.name, extra, block.w * pt_per_cm, block.h * pt_per_cm)
        if fit is None:
            continue
        box = {"boxstyle": "round,pad=0.15", "fc": face, "ec": "none"}
        style = {"color": _text_color(face), "linespacing": 1.05, "zorder": 6, "bbox": box}
        _put(ax, block.x + block.w / 2, block.y + block.h / 2, fit, clip_on=True, **style)


def _style_axes(ax: Axes, display: Display) -> None:
    """Shelf index and height on the left, height in cm on the right, width in cm below."""
    ax.set_yticks(
        [s.height_from_floor_cm for s in display.shelves],
        [f"shelf {s.index}\n{s.height_from_floor_cm:.0f} cm" for s in display.shelves],
        fontsize=8,
    )
    ax.tick_params(axis="y", length=0, pad=4)
    ax.xaxis.set_major_locator(MultipleLocator(20 if ax.get_xlim()[1] > 120 else 10))
    ax.tick_params(axis="x", labelsize=7.5)
    ax.set_xlabel("width from the left end of the shelf (cm)", fontsize=8)
    right = ax.secondary_yaxis("right")
    right.yaxis.set_major_locator(MultipleLocator(20))
    right.tick_params(labelsize=7)
    right.set_ylabel("height from floor (cm)", fontsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
