"""Shelf views of planograms, drawn to scale in centimetres, as matplotlib figures (SVG or PNG).

* :func:`render_planogram` -- one display: the frame, each shelf as a board at its height with
  its clearance above it, one rectangle per facing (``facings_wide`` x ``facings_high`` per
  position) labelled with the product name and its depth (``"x6 deep"``), empty shelf space in
  grey, and violations outlined in red with hatch, numbered and listed under the drawing.
* :func:`render_grid` -- many displays as unlabelled thumbnails at one common scale, with one
  shared legend, for reports.
* :func:`save_figure` / :func:`render_to_file` -- write ``.svg`` (text kept as text) or ``.png``
  (150 dpi), chosen by the suffix.

Colour modes (``color_by``): ``"category"``, ``"subcategory"`` or ``"brand"`` fill each block
with its group's colour from the Okabe-Ito palette (safe for colour-blind readers) and add a
legend; ``"sales"`` is a heat map of units sold per day per facing (a product's ``unit_sales``
divided by its total facings wide on the display) in the viridis colour map, with a colour
bar. ``color_by=None`` (the default) means ``"sales"`` when ``unit_sales`` is given, else
``"subcategory"``.

Figures are :class:`matplotlib.figure.Figure` objects with their own Agg canvas, never made
through ``pyplot``: rendering is thread-safe and leaves no figure registered anywhere.
"""

from __future__ import annotations

import math
import textwrap
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, to_hex, to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle
from matplotlib.textpath import text_to_path
from matplotlib.ticker import MultipleLocator

from shelfwise.domain import Display, Planogram, Position, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram.violations import Severity, Violation

__all__ = [
    "COLOR_MODES",
    "OKABE_ITO",
    "PNG_DPI",
    "SUFFIXES",
    "Catalog",
    "ColorBy",
    "render_grid",
    "render_planogram",
    "render_to_file",
    "save_figure",
]

ColorBy = Literal["category", "subcategory", "brand", "sales"]
Catalog = Mapping[str, Product] | Iterable[Product]
Color = str | tuple[float, float, float, float]

COLOR_MODES: tuple[str, ...] = ("brand", "category", "sales", "subcategory")
SUFFIXES: tuple[str, ...] = (".png", ".svg")
PNG_DPI = 150
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
_FONT_SIZES = (8.0, 7.5, 7.0, 6.5, 6.0)
_PAD_PT = 2.5
_SAFETY = 1.06  # rendered text runs a little wider than its outline metrics
_SVG_LOCK = threading.Lock()
_BADGE: dict[str, Any] = {"boxstyle": "round,pad=0.2", "ec": "white", "lw": 0.6}
_LEGEND: dict[str, Any] = {
    "fontsize": 8,
    "frameon": False,
    "title_fontproperties": {"size": 8.5, "weight": "bold"},
}


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


# ------------------------------------------------------------------------------ label fitting
@lru_cache(maxsize=16384)
def _width_pt(text: str, size: float) -> float:
    width, _, _ = text_to_path.get_text_width_height_descent(text, FontProperties(size=size), False)
    return float(width)


def _wrap(text: str, size: float, length: float, max_lines: int) -> tuple[list[str], bool] | None:
    """Greedy word wrap measured in points; the last line ends in an ellipsis when cut.

    Returns the lines and whether the whole text fits, or None when not 3 characters fit.
    """
    words, lines, line = text.split(), list[str](), ""
    while words:
        candidate = f"{line} {words[0]}".strip()
        if _width_pt(candidate, size) <= length:
            line = candidate
            words.pop(0)
        elif line and len(lines) < max_lines - 1:
            lines.append(line)
            line = ""
        else:
            break
    if not words:
        return [*lines, line], True
    cut = f"{line} {words[0]}".strip()
    while cut and _width_pt(cut.rstrip() + "…", size) > length:
        cut = cut[:-1]
    if len(cut.strip()) < 3 and not lines:
        return None
    return [*lines, cut.rstrip() + "…"], False


def _balance(text: str, size: float, length: float, n_lines: int) -> list[str]:
    """The narrowest wrap of ``text`` into ``n_lines`` lines (avoids a lone last word)."""
    lo, hi, best = 0.0, length, _wrap(text, size, length, n_lines)
    for _ in range(8):
        trial = _wrap(text, size, (lo + hi) / 2, n_lines)
        if trial is not None and trial[1]:
            hi, best = (lo + hi) / 2, trial
        else:
            lo = (lo + hi) / 2
    return best[0] if best is not None else [text]


def _fit_label(
    name: str, extra: Sequence[str], w_pt: float, h_pt: float
) -> tuple[str, float, int] | None:
    """The best label for a box: (text, font size, rotation), or None if nothing legible fits.

    Prefers, in order: the whole name, more of the extra lines, a larger font, fewer lines
    (rotated text counts two lines more, as it reads less easily).
    """
    best: tuple[tuple[bool, int, float, int], tuple[str, float, int]] | None = None
    for rotation, length, thick in ((0, w_pt, h_pt), (90, h_pt, w_pt)):
        length, thick = length / _SAFETY - 2 * _PAD_PT, thick - 2 * _PAD_PT
        for size in _FONT_SIZES:
            max_lines = int(thick // (size * 1.2))
            wrapped = _wrap(name, size, length, max_lines) if max_lines >= 1 else None
            if wrapped is None:
                continue
            lines, complete = wrapped
            if complete:
                lines = _balance(name, size, length, len(lines))
            room = max_lines - len(lines) if complete else 0
            extras = [e for e in extra if _width_pt(e, size) <= length][:room]
            score = (complete, len(extras), size, -(len(lines) + len(extras) + rotation // 45))
            if best is None or score > best[0]:
                best = (score, ("\n".join(lines + extras), size, rotation))
    return None if best is None else best[1]


# ------------------------------------------------------------------------------ drawing
def _rect(ax: Axes, x: float, y: float, w: float, h: float, **style: Any) -> None:
    ax.add_patch(Rectangle((x, y), w, h, **style))


def _put(ax: Axes, x: float, y: float, fit: tuple[str, float, int], **style: Any) -> None:
    """A label from :func:`_fit_label`, centred on (x, y)."""
    text, size, rotation = fit
    ax.text(x, y, text, fontsize=size, rotation=rotation, ha="center", va="center", **style)


def _marks_legend(violations: Sequence[Violation]) -> list[Patch]:
    """Legend entries for empty space and for the kinds of violation present."""
    out = [_swatch(EMPTY_GREY, "empty shelf space", linewidth=0)]
    if any(v.severity == Severity.HARD for v in violations):
        red = {"edgecolor": VIOLATION_RED, "hatch": "///", "linewidth": 1.8}
        out.append(_swatch("none", "hard rule violation", **red))
    if any(v.severity != Severity.HARD for v in violations):
        soft = {"edgecolor": SOFT_ORANGE, "linestyle": (0, (3, 1.5)), "linewidth": 1.8}
        out.append(_swatch("none", "soft rule violation", **soft))
    return out


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


def _highlight(
    ax: Axes,
    display: Display,
    blocks: Sequence[_Block],
    violations: Sequence[Violation],
    *,
    badges: bool,
) -> None:
    """Outline what each violation concerns, with its number as a badge.

    Hard violations are drawn in red with hatch, soft ones in dark orange with dashes. The
    blocks of the products named (on the violation's shelf, if it names one) are outlined. A
    violation naming every block in its scope (a shelf, or the display) is about that
    container, not about products: the shelf gets an outline and a hatched board, the display
    an outline of its frame. So does a violation naming a shelf but no block on it, and one
    naming neither shelf nor product.
    """
    marks: dict[tuple[float, float], list[tuple[int, bool]]] = {}
    for number, v in enumerate(violations, start=1):
        hard = v.severity == Severity.HARD
        style = {"edgecolor": VIOLATION_RED if hard else SOFT_ORANGE, "zorder": 5}
        scope = [k for k, b in enumerate(blocks) if v.shelf_index in (None, b.position.shelf_index)]
        hit = [k for k in scope if blocks[k].product.product_id in v.product_ids]
        whole = len(hit) > 1 and len(hit) == len(scope)
        shelf = v.shelf_index if v.shelf_index in range(len(display.shelves)) else None
        if hit and not whole:
            for b in (blocks[k] for k in hit):
                product = {"hatch": "///"} if hard else {"ls": (0, (3, 1.5))}
                _rect(ax, b.x, b.y, b.w, b.h, fc="none", lw=2.2, **product, **style)
                marks.setdefault((b.x, b.y + b.h), []).append((number, hard))
        elif shelf is not None:
            s = display.shelves[shelf]
            y = s.height_from_floor_cm
            _rect(ax, 0, y, s.width_cm, s.clearance_cm, fc="none", lw=2.2, ls="--", **style)
            board = {"fc": "#F6C7C7", "hatch": "////", "lw": 1.5}
            _rect(ax, 0, y - _BOARD_CM, s.width_cm, _BOARD_CM, **board, **style)
            marks.setdefault((0.0, y + s.clearance_cm), []).append((number, hard))
        elif whole or not v.product_ids:
            x0, x1, y1 = _extent(display, blocks)
            _rect(ax, x0 + 1, 0, x1 - x0 - 2, y1 - 1, fc="none", lw=2.5, ls="--", **style)
            marks.setdefault((x0 + 1, y1 - 1), []).append((number, hard))
    for (x, y), found in marks.items() if badges else ():
        text = ",".join(dict.fromkeys(str(n) for n, _ in found))
        box = {**_BADGE, "fc": VIOLATION_RED if any(h for _, h in found) else SOFT_ORANGE}
        badge: dict[str, Any] = {"color": "white", "fontweight": "bold", "va": "center"}
        ax.text(x + 0.6, y, text, fontsize=7, bbox=box, zorder=7, **badge)


# ------------------------------------------------------------------------------ public API
def render_planogram(
    planogram: Planogram,
    display: Display,
    catalog: Catalog,
    *,
    violations: Sequence[Violation] = (),
    unit_sales: Mapping[str, float] | None = None,
    title: str | None = None,
    color_by: ColorBy | None = None,
) -> Figure:
    """Draw one planogram on its display, to scale in centimetres.

    Parameters
    ----------
    planogram : Planogram
        The positions to draw; its ``display_id`` must be ``display``'s.
    display : Display
        The fixture, with shelf geometry.
    catalog : mapping of product_id to Product, or iterable of Product
        Products with ``width_cm`` and ``height_cm``. Positions of products that are missing
        or lack dimensions, or that name a shelf the display lacks, are left out and named in
        a note under the drawing.
    violations : sequence of Violation
        Highlighted in red: the blocks of the products concerned (on the violation's shelf
        when it names one), else the shelf, else the whole frame; numbered and listed below.
    unit_sales : mapping of product_id to float, optional
        Units sold per day (>= 0). Turns on the heat map (see ``color_by``) and adds units
        per day per facing to the labels.
    title : str, optional
        Defaults to the display id, name and kind, and the planogram version.
    color_by : {"category", "subcategory", "brand", "sales"} or None
        Fill colours; None means "sales" when ``unit_sales`` is given, else "subcategory".

    Returns
    -------
    matplotlib.figure.Figure
        A new figure with its own Agg canvas; write it with :func:`save_figure`.

    Raises
    ------
    InvalidParameterError
        For an unknown ``color_by``, "sales" without ``unit_sales``, negative or non-finite
        sales, or a planogram of another display.
    """
    mode = _color_mode(color_by, unit_sales)
    blocks, notes = _resolve(planogram, display, _as_catalog(catalog))
    per_facing = _sales_per_facing(planogram, unit_sales) if unit_sales is not None else {}
    faces, legend, norm = _faces(blocks, mode, per_facing)
    x0, x1, y1 = _extent(display, blocks)
    scale = min(0.07, 12.5 / y1, 9.0 / (x1 - x0))  # inches per cm
    draw_w, draw_h = (x1 - x0) * scale, y1 * scale
    fig_w = max(1.25 + draw_w + 0.75 + (1.6 if norm else 2.8), 6.5)
    lines = _notes(violations, notes, width_chars=int((fig_w - 0.5) * 72 / (7.5 * 0.55)))
    notes_h = 0.2 + 0.16 * sum(t.count("\n") + 1 for t, _ in lines) if lines else 0.0
    fig_h, base = 0.85 + draw_h + 0.55 + notes_h, 0.55 + notes_h
    fig = Figure(figsize=(fig_w, fig_h))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((1.25 / fig_w, base / fig_h, draw_w / fig_w, draw_h / fig_h))
    ax.set_xlim(x0, x1)
    ax.set_ylim(0.0, y1)
    _draw_structure(ax, display, blocks, 72 * scale)
    _draw_blocks(ax, blocks, faces)
    extras = [
        ([f"{per_facing[pid]:.1f}/facing"] if (pid := b.product.product_id) in per_facing else [])
        + [f"x{b.position.facings_deep} deep"]
        for b in blocks
    ]
    _highlight(ax, display, blocks, violations, badges=True)
    _draw_labels(ax, blocks, faces, extras, 72 * scale)
    _style_axes(ax, display)
    named = f" · {display.name}" if display.name else ""
    head = title or (
        f"{display.display_id}{named} ({display.kind.value}) · planogram v{planogram.version}"
    )
    fig.text(0.02, 1 - 0.15 / fig_h, head, fontsize=11, fontweight="bold", va="top")
    facings = planogram.facings()
    sub = (
        f"{len(facings)} products · {sum(facings.values())}/{display.max_slots} facings · "
        f"{len(display.shelves)} shelves · source: {planogram.provenance}"
    )
    fig.text(0.02, 1 - 0.45 / fig_h, sub, fontsize=8, color="#444444", va="top")
    left = (1.25 + draw_w + 0.75) / fig_w
    counts: dict[str, int] = {}
    for b in blocks:
        key = _group(b.product, mode)
        counts[key] = counts.get(key, 0) + b.position.facings_wide
    handles = [
        _swatch(c, f"{g} ({counts[g]} facing{'s' * (counts[g] != 1)})" if g in counts else g)
        for g, c in legend.items()
    ]
    handles.extend(_marks_legend(violations))
    if norm is not None:  # the colour bar under the legend, at most 5 in tall
        top = max(draw_h - 0.2 * len(handles) - 0.35, 0.5 * draw_h)
        bottom = max(top - 5.0, 0.05 * draw_h)
        cax = fig.add_axes((left, (base + bottom) / fig_h, 0.18 / fig_w, (top - bottom) / fig_h))
        bar = fig.colorbar(ScalarMappable(norm=norm, cmap="viridis"), cax=cax)
        bar.set_label("units sold per day per facing", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    anchor = (left - 0.05 / fig_w, (base + draw_h) / fig_h)
    heading = None if norm else mode.capitalize()
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=anchor, title=heading, **_LEGEND)
    y = notes_h - 0.12
    for text, color in lines:
        fig.text(0.25 / fig_w, y / fig_h, text, fontsize=7.5, color=color, va="top")
        y -= 0.16 * (text.count("\n") + 1)
    return fig


def render_grid(
    planograms_with_displays: Sequence[tuple[Planogram, Display]],
    catalog: Catalog,
    *,
    ncols: int = 3,
    titles: Sequence[str] | None = None,
    color_by: Literal["category", "subcategory", "brand"] = "subcategory",
    violations: Sequence[Sequence[Violation]] | None = None,
) -> Figure:
    """Draw many displays as thumbnails at one common scale, with one shared legend.

    Parameters
    ----------
    planograms_with_displays : sequence of (Planogram, Display)
        What to draw, in reading order (left to right, then down).
    catalog : mapping of product_id to Product, or iterable of Product
        Products with dimensions.
    ncols : int
        Thumbnails per row (>= 1).
    titles : sequence of str, optional
        One per display; defaults to display id, name, version and facings used.
    color_by : {"category", "subcategory", "brand"}
        Fill colour group, shared by every thumbnail.
    violations : sequence of sequences of Violation, optional
        One sequence per display; outlined in red and counted under the thumbnail.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    InvalidParameterError
        For no displays, ``ncols`` < 1, ``titles`` or ``violations`` of the wrong length, or
        an unknown ``color_by``.
    """
    n = len(planograms_with_displays)
    if n == 0:
        raise InvalidParameterError("planograms_with_displays must not be empty; got 0 items")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise InvalidParameterError(f"ncols must be an int >= 1; got {ncols!r}")
    for name, seq in (("titles", titles), ("violations", violations)):
        if seq is not None and len(seq) != n:
            raise InvalidParameterError(
                f"{name} must have one entry per display ({n}); got {len(seq)}"
            )
    if str(color_by) == "sales" or color_by not in COLOR_MODES:
        raise InvalidParameterError(
            f"color_by must be one of ['brand', 'category', 'subcategory']; got {color_by!r}"
        )
    cat = _as_catalog(catalog)
    resolved = [_resolve(pg, d, cat)[0] for pg, d in planograms_with_displays]
    palette = _palette(_group(b.product, color_by) for blocks in resolved for b in blocks)
    spans = [_extent(d, bl) for (_, d), bl in zip(planograms_with_displays, resolved, strict=True)]
    xspan, yspan = max(s[1] for s in spans) + 3.0, max(s[2] for s in spans)
    scale = min(2.6 / xspan, 4.0 / yspan)
    cw, ch = xspan * scale, yspan * scale
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    legend_h = 0.35 + 0.2 * math.ceil((len(palette) + 3) / 4)
    fig_w = max(ncols * (cw + 0.4) + 0.2, 6.0)
    fig_h = 0.55 + nrows * (ch + 0.65) + legend_h
    fig = Figure(figsize=(fig_w, fig_h))
    FigureCanvasAgg(fig)
    heading = "Planograms (all displays drawn to the same scale)"
    fig.suptitle(heading, fontsize=10, fontweight="bold", y=1 - 0.12 / fig_h, va="top")
    margin = 0.2 + (fig_w - 0.2 - ncols * (cw + 0.4)) / 2
    for k, (pg, display) in enumerate(planograms_with_displays):
        blocks = resolved[k]
        row, col = divmod(k, ncols)
        left, bottom = margin + col * (cw + 0.4), fig_h - 0.55 - (row + 1) * (ch + 0.65) + 0.25
        ax = fig.add_axes((left / fig_w, bottom / fig_h, cw / fig_w, ch / fig_h))
        ax.set_xlim(-3.0, xspan - 3.0)
        ax.set_ylim(0.0, yspan)
        ax.set_axis_off()
        _draw_structure(ax, display, blocks, None)
        _draw_blocks(ax, blocks, [palette[_group(b.product, color_by)] for b in blocks], thin=True)
        vs = violations[k] if violations is not None else ()
        _highlight(ax, display, blocks, vs, badges=False)
        label = (
            f"{display.display_id} · {display.name or display.kind.value}\n"
            f"v{pg.version} · {sum(pg.facings().values())}/{display.max_slots} facings"
        )
        label = titles[k] if titles is not None else label
        top = _extent(display, blocks)[2]
        ax.text(-2.0, top + 0.04 / scale, label, fontsize=7.5, va="bottom", clip_on=False)
        if vs:
            hard = sum(v.severity == Severity.HARD for v in vs)
            text = f"{hard} hard, {len(vs) - hard} soft violations"
            ax.text(-2.0, -0.08 / scale, text, fontsize=7, color=VIOLATION_RED, va="top")
    handles = [_swatch(c, g) for g, c in palette.items()]
    handles.extend(_marks_legend([v for vs in violations or () for v in vs]))
    anchor, heading = (0.5, 0.1 / fig_h), color_by.capitalize()
    fig.legend(
        handles=handles,
        loc="lower center",
        ncols=4,
        bbox_to_anchor=anchor,
        title=heading,
        **_LEGEND,
    )
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as SVG (text kept as ``<text>`` elements) or PNG at 150 dpi, by suffix.

    Raises
    ------
    InvalidParameterError
        When the suffix is not ``.svg`` or ``.png`` (case-insensitive).
    """
    out = Path(path)
    if _check_suffix(out) == ".png":
        fig.savefig(out, format="png", dpi=PNG_DPI, facecolor="white")
    else:
        # The SVG backend reads svg.fonttype from the global rcParams; the lock keeps
        # concurrent saves from this module from stepping on each other.
        with _SVG_LOCK, mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "shelfwise"}):
            fig.savefig(out, format="svg", facecolor="white", metadata={"Date": None})
    return out


def render_to_file(
    planogram: Planogram,
    display: Display,
    catalog: Catalog,
    path: str | Path,
    *,
    violations: Sequence[Violation] = (),
    unit_sales: Mapping[str, float] | None = None,
    title: str | None = None,
    color_by: ColorBy | None = None,
) -> Path:
    """:func:`render_planogram`, then :func:`save_figure`; returns the path written.

    The suffix is checked before drawing.
    """
    _check_suffix(path)
    fig = render_planogram(
        planogram,
        display,
        catalog,
        violations=violations,
        unit_sales=unit_sales,
        title=title,
        color_by=color_by,
    )
    return save_figure(fig, path)


# ------------------------------------------------------------------------------ page furniture
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


def _notes(
    violations: Sequence[Violation], notes: Sequence[str], *, width_chars: int, shown: int = 12
) -> list[tuple[str, str]]:
    """(wrapped text, colour) per entry of the list under the drawing."""
    out: list[tuple[str, str]] = []
    for number, v in enumerate(violations[:shown], start=1):
        hard = v.severity == Severity.HARD
        text = f"{number}. [{'HARD' if hard else 'soft'}] {v.rule_id}: {v.message}"
        wrapped = textwrap.fill(text, width_chars, subsequent_indent="     ")
        out.append((wrapped, VIOLATION_RED if hard else SOFT_ORANGE))
    if len(violations) > shown:
        out.append((f"... and {len(violations) - shown} more violation(s)", VIOLATION_RED))
    out.extend((textwrap.fill(f"Note: {note}", width_chars), "#444444") for note in notes[:5])
    if len(notes) > 5:
        out.append((f"Note: ... and {len(notes) - 5} more position(s) not drawn", "#444444"))
    return out
