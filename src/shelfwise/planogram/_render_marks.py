"""Violation marks for the planogram renderer (:mod:`shelfwise.planogram.render`).

Outlines and numbered badges on what each violation concerns, their legend entries, and the
numbered list of violations (and notes) under the drawing.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

from matplotlib.axes import Axes
from matplotlib.patches import Patch

from shelfwise.domain import Display
from shelfwise.planogram._render_scene import (
    _BOARD_CM,
    EMPTY_GREY,
    SOFT_ORANGE,
    VIOLATION_RED,
    _Block,
    _extent,
    _rect,
    _swatch,
)
from shelfwise.planogram.violations import Severity, Violation

_BADGE: dict[str, Any] = {"boxstyle": "round,pad=0.2", "ec": "white", "lw": 0.6}


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
