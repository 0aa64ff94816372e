"""Fitting labels into boxes for the planogram renderer (:mod:`shelfwise.planogram.render`).

Text is measured in points from its outline, wrapped greedily (then balanced), shrunk through a
few font sizes and, where that reads better, turned upright.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from matplotlib.axes import Axes
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

_FONT_SIZES = (8.0, 7.5, 7.0, 6.5, 6.0)
_PAD_PT = 2.5
_SAFETY = 1.06  # rendered text runs a little wider than its outline metrics


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


def _put(ax: Axes, x: float, y: float, fit: tuple[str, float, int], **style: Any) -> None:
    """A label from :func:`_fit_label`, centred on (x, y)."""
    text, size, rotation = fit
    ax.text(x, y, text, fontsize=size, rotation=rotation, ha="center", va="center", **style)
