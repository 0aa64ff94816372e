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
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import matplotlib as mpl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from shelfwise.domain import Display, Planogram
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram._render_marks import _highlight, _marks_legend, _notes
from shelfwise.planogram._render_scene import BOARD_GREY as BOARD_GREY
from shelfwise.planogram._render_scene import (
    COLOR_MODES,
    OKABE_ITO,
    SUFFIXES,
    Catalog,
    ColorBy,
    _as_catalog,
    _check_suffix,
    _color_mode,
    _draw_blocks,
    _draw_labels,
    _draw_structure,
    _extent,
    _faces,
    _group,
    _palette,
    _resolve,
    _sales_per_facing,
    _style_axes,
    _swatch,
)
from shelfwise.planogram._render_scene import EMPTY_GREY as EMPTY_GREY
from shelfwise.planogram._render_scene import HEADROOM_GREY as HEADROOM_GREY
from shelfwise.planogram._render_scene import NO_DATA_GREY as NO_DATA_GREY
from shelfwise.planogram._render_scene import SOFT_ORANGE as SOFT_ORANGE
from shelfwise.planogram._render_scene import VIOLATION_RED as VIOLATION_RED
from shelfwise.planogram._render_scene import Color as Color
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

PNG_DPI = 150
_SVG_LOCK = threading.Lock()
_LEGEND: dict[str, Any] = {
    "fontsize": 8,
    "frameon": False,
    "title_fontproperties": {"size": 8.5, "weight": "bold"},
}


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
