"""Repair: any planogram -> the nearest planogram that meets every hard rule, with what changed.

"Nearest" is lexicographic: first as few facings removed as possible, then as few facings
moved to another shelf, then as little width pushed onto a shelf beyond the free room at its
right end (so a block that must move goes to a shelf with room rather than shifting the blocks
of a full one), then as few new blocks; x positions stay as close to the originals as the
shelf allows. The facings per (product, shelf) come from the solver's CP-SAT model
(``shelfwise.planogram._model``) with the current layout as the objective's anchor; x
positions from a two-pass placement that keeps each shelf's original order within blocking
groups: left to right ``x = max(original x, end of previous block + gap)``, then right to left
``x = min(x, start of next block - gap - width)`` so that the last block ends on the shelf.
When that breaks an across-shelves category block (its spans on adjacent shelves must
overlap), the groups are placed where the model's x layout puts them instead
(``shelfwise.planogram._layout``). The result is checked with the validator before it is
returned.

Inputs may be broken in any way: overlaps, wrong or unknown shelves, products not in the
catalog (dropped), products lacking sizes a hard rule needs (dropped), too many facings.
A planogram the validator already accepts is returned unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ortools.sat.python import cp_model

from shelfwise.domain import Display, Planogram, Position, Product
from shelfwise.exceptions import InfeasiblePlanogramError, InvalidParameterError
from shelfwise.planogram._layout import build_layout_cp, layout_positions
from shelfwise.planogram._model import (
    LENGTH_SCALE,
    CpLayout,
    Problem,
    build_problem,
    facings_bounds,
    group_key,
    group_levels,
)
from shelfwise.planogram.rules import MandatoryProducts, Rulebook, default_rulebook
from shelfwise.planogram.solver import _params, explain_infeasibility, guard, solution
from shelfwise.planogram.validator import validate
from shelfwise.planogram.violations import ValidationReport

__all__ = ["Change", "ChangeKind", "RepairResult", "repair"]

_EPS = 1e-6


class ChangeKind(StrEnum):
    """What happened to a product."""

    DROPPED = "dropped"
    """Every facing of the product was removed."""
    FACINGS_REDUCED = "facings_reduced"
    """Fewer facings wide than before (still on the display)."""
    FACINGS_RAISED = "facings_raised"
    """More facings wide than before, to reach a facings-range minimum."""
    MOVED_SHELF = "moved_shelf"
    """Facings moved to another shelf (``facings_after`` counts the facings moved)."""
    MOVED_X = "moved_x"
    """Same shelf, new left edge."""
    STACK_REDUCED = "stack_reduced"
    """Fewer facings high or deep on a shelf (clearance, depth or load)."""
    ADDED = "added"
    """A mandatory product that was missing was added."""


@dataclass(frozen=True, slots=True)
class Change:
    """One change made by :func:`repair`.

    Parameters
    ----------
    kind : ChangeKind
        What changed.
    product_id : str
        The product.
    shelf_before, shelf_after : int or None
        Shelves concerned (``None`` when not on one).
    x_before, x_after : float or None
        Left edges for ``MOVED_X``.
    facings_before, facings_after : int
        Total facings wide before and after (facings moved for ``MOVED_SHELF``).
    message : str
        In words.
    """

    kind: ChangeKind
    product_id: str
    shelf_before: int | None
    shelf_after: int | None
    x_before: float | None
    x_after: float | None
    facings_before: int
    facings_after: int
    message: str


@dataclass(frozen=True, slots=True)
class RepairResult:
    """The repaired planogram, what changed, and the validation reports before and after."""

    planogram: Planogram
    changes: tuple[Change, ...]
    before: ValidationReport
    after: ValidationReport
    facings_before: int
    facings_after: int

    def count(self, kind: ChangeKind) -> int:
        """Number of changes of one kind."""
        return sum(1 for c in self.changes if c.kind == kind)

    @property
    def n_moved_shelf(self) -> int:
        """Products with facings moved to another shelf."""
        return self.count(ChangeKind.MOVED_SHELF)

    @property
    def n_moved_x(self) -> int:
        """Blocks moved along their shelf."""
        return self.count(ChangeKind.MOVED_X)

    @property
    def n_dropped(self) -> int:
        """Products removed altogether."""
        return self.count(ChangeKind.DROPPED)

    @property
    def n_reduced(self) -> int:
        """Products that kept fewer facings."""
        return self.count(ChangeKind.FACINGS_REDUCED)

    @property
    def facings_removed(self) -> int:
        """Facings wide removed (dropped or reduced products), net of none added."""
        return sum(
            c.facings_before - c.facings_after
            for c in self.changes
            if c.kind in (ChangeKind.DROPPED, ChangeKind.FACINGS_REDUCED)
        )

    @property
    def facings_dropped_share(self) -> float:
        """Facings removed over the facings before (0 when there were none)."""
        return self.facings_removed / self.facings_before if self.facings_before else 0.0

    @property
    def changed(self) -> bool:
        """Whether anything changed."""
        return bool(self.changes)


@dataclass
class _Before:
    total: dict[str, int]
    on: dict[str, dict[int, int]]  # product -> shelf index (any int) -> facings
    x: dict[tuple[str, int], float]  # leftmost x per (product, shelf)
    high: dict[str, int]
    deep: dict[str, int]


def _before(planogram: Planogram) -> _Before:
    b = _Before({}, {}, {}, {}, {})
    for pos in planogram.positions:
        pid, s = pos.product_id, pos.shelf_index
        b.total[pid] = b.total.get(pid, 0) + pos.facings_wide
        b.on.setdefault(pid, {})[s] = b.on.get(pid, {}).get(s, 0) + pos.facings_wide
        b.x[(pid, s)] = min(b.x.get((pid, s), math.inf), pos.x_cm)
        b.high[pid] = max(b.high.get(pid, 1), pos.facings_high)
        b.deep[pid] = max(b.deep.get(pid, 1), pos.facings_deep)
    return b


def _needed_fields(rulebook: Rulebook, display: Display) -> tuple[str, ...]:
    need = ["width_cm", "height_cm", "depth_cm"]
    if any(r.type == "shelf_load" and r.applies_to(display.kind) for r in rulebook.rules):
        need.append("weight_kg")
    return tuple(need)


def repair(
    planogram: Planogram,
    display: Display,
    catalog: Mapping[str, Product],
    rulebook: Rulebook | None = None,
    *,
    time_limit_s: float = 10.0,
    random_state: int = 0,
) -> RepairResult:
    """Make a planogram meet every hard rule with as little change as possible.

    Parameters
    ----------
    planogram : Planogram
        Any planogram of ``display`` (it may break any rule).
    display : Display
        The display with its shelves.
    catalog : Mapping[str, Product]
        Products by id.
    rulebook : Rulebook, optional
        Defaults to :func:`~shelfwise.planogram.rules.default_rulebook`.
    time_limit_s : float
        CP-SAT budget in deterministic time units (about seconds).
    random_state : int
        CP-SAT's seed.

    Returns
    -------
    RepairResult
        The repaired planogram (version + 1, provenance ``"repair:<old provenance>"``; the
        input itself when already valid), the changes and both validation reports.

    Raises
    ------
    InfeasiblePlanogramError
        When even removing facings cannot meet the hard rules (e.g. a mandatory product fits
        no shelf); the message names the conflicting rules. Also when the repaired planogram
        would still break a hard rule of ``rulebook`` (checked with the validator; a model
        bug, never expected): the message names the rules broken. A returned result's
        ``after`` report is therefore always valid.
    InvalidParameterError
        If the planogram is for another display or the display has no shelves.
    """
    rulebook = rulebook if rulebook is not None else default_rulebook()
    before_report = validate(planogram, display, catalog, rulebook)
    old = _before(planogram)
    n_before = sum(old.total.values())
    if before_report.is_valid:
        return RepairResult(planogram, (), before_report, before_report, n_before, n_before)
    if not display.shelves:
        raise InvalidParameterError(f"display {display.display_id} must have shelves; it has none")
    solver = _params(time_limit_s, random_state)
    need = _needed_fields(rulebook, display)
    usable = sorted(
        pid
        for pid in old.total
        if pid in catalog and all(getattr(catalog[pid], f) is not None for f in need)
    )
    mandatory: list[str] = []
    for r in rulebook.of_type("mandatory_products"):
        if isinstance(r, MandatoryProducts) and r.applies_to(display.kind):
            for pid in r.product_ids:
                if pid not in catalog:
                    raise InfeasiblePlanogramError(
                        f"no repair of display {display.display_id} meets rule {r.id!r} "
                        f"(mandatory_products): mandatory product {pid} is not in the catalog"
                    )
                if pid not in old.total and pid not in mandatory:
                    mandatory.append(pid)
    ids = usable + sorted(mandatory)
    products = [catalog[pid] for pid in ids]
    prob = build_problem(
        display,
        products,
        [old.total.get(pid, 0) for pid in ids],
        rulebook,
        exact=False,
        high=[old.high.get(pid, 1) for pid in ids],
        deep=[old.deep.get(pid) for pid in ids],
    )
    lo, _, _ = facings_bounds(prob)
    for k, pid in enumerate(ids):  # a missing mandatory product comes in at its minimum
        if pid not in old.total:
            prob.upper[k] = max(1, lo[k])
    cp = build_layout_cp(prob)
    cp.model.minimize(sum(_objective(prob, cp, old, planogram, catalog)))
    cp.model.add_assumptions(list(cp.assumptions.values()))
    model = cp.model
    status = solver.solve(model)
    if status == cp_model.INFEASIBLE:
        raise InfeasiblePlanogramError(
            explain_infeasibility(prob, time_limit_s=time_limit_s).replace(
                "no layout", "no repair", 1
            )
        )
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise InfeasiblePlanogramError(
            f"no repair of display {display.display_id} was found within time_limit_s="
            f"{time_limit_s:g} (status {solver.status_name(status)})"
        )
    counts, starts = solution(solver, cp)

    def planned(positions: tuple[Position, ...]) -> Planogram:
        return Planogram(
            display.display_id,
            planogram.version + 1,
            positions,
            provenance=f"repair:{planogram.provenance}",
            effective_from=planogram.effective_from,
        )

    out = planned(_place(prob, counts, old))
    after_report = validate(out, display, catalog, rulebook)
    if not after_report.is_valid and starts is not None:
        # the original order broke an across-shelves block: use the model's group positions
        out = planned(layout_positions(prob, counts, starts))
        after_report = validate(out, display, catalog, rulebook)
    guard(after_report, "repair")
    changes = _changes(old, out, catalog, need)
    return RepairResult(
        out, changes, before_report, after_report, n_before, sum(out.facings().values())
    )


def _objective(
    prob: Problem, cp: CpLayout, old: _Before, planogram: Planogram, catalog: Mapping[str, Product]
) -> list[cp_model.LinearExprT]:
    """Lexicographic costs: facings removed >> facings moved off their shelf >> blocks of
    others displaced by a new block >> new blocks.

    Per facing removed 1e6, per facing kept on its shelf -1e4, per new (product, shelf) block
    100 plus, when the block would not fit in the free space where :func:`_place` puts it
    (after its group's last block on the shelf, else after the last block), 200 per block
    of the shelf pushed aside and 1 per mm it lacks. So a block that must move goes to a
    shelf with room rather than shifting the blocks of a full one.
    """
    model = cp.model
    levels = group_levels(prob.rulebook, prob.display)
    gap = prob.gap()
    on_shelf: list[list[tuple[int, int, tuple[str, ...]]]] = [[] for _ in range(prob.m)]
    for pos in planogram.positions:
        p = catalog.get(pos.product_id)
        if p is not None and p.width_cm is not None and 0 <= pos.shelf_index < prob.m:
            x0 = math.floor(pos.x_cm * LENGTH_SCALE)
            x1 = math.ceil((pos.x_cm + pos.facings_wide * p.width_cm) * LENGTH_SCALE)
            on_shelf[pos.shelf_index].append((x0, x1, group_key(p, levels)))
    for blocks in on_shelf:
        blocks.sort()
    out: list[cp_model.LinearExprT] = []
    for i, p in enumerate(prob.products):
        pid = p.product_id
        if pid in old.total:
            out.append(1_000_000 * (prob.upper[i] - cp.t[i]))
        for s in range(prob.m):
            f0 = old.on.get(pid, {}).get(s, 0)
            if f0 > 0:
                kept = model.new_int_var(0, f0, f"kept{i}_{s}")
                model.add(kept <= cp.f[i][s])
                out.append(-10_000 * kept)
            else:
                need = prob.width[i] * max(1, prob.upper[i])
                cost = 100 + _displaced(on_shelf[s], group_key(p, levels), need, gap, prob, s)
                out.append(cost * cp.y[i][s])
    return out


def _displaced(
    blocks: list[tuple[int, int, tuple[str, ...]]],
    key: tuple[str, ...],
    need: int,
    gap: int,
    prob: Problem,
    s: int,
) -> int:
    """Cost of the blocks a new block of ``need`` length units would push aside on a shelf."""
    same = [k for k, b in enumerate(blocks) if b[2] == key]
    at = max(same) + 1 if same else len(blocks)  # the new block goes before blocks[at]
    left = blocks[at - 1][1] + gap if at else 0
    right = blocks[at][0] - gap if at < len(blocks) else prob.shelf_width[s]
    short = need - (right - left)
    if short <= 0:
        return 0
    pushed = len(blocks) - at if at < len(blocks) else len(blocks)
    return 200 * pushed + -(-short // (LENGTH_SCALE // 10))


def _place(prob: Problem, counts: list[list[int]], old: _Before) -> tuple[Position, ...]:
    """Blocks per shelf in their original order within blocking groups, x near the original."""
    levels = group_levels(prob.rulebook, prob.display)
    gap = prob.gap_cm()
    out: list[Position] = []
    for s, shelf in enumerate(prob.display.shelves):
        here = [i for i in range(prob.n) if counts[i][s] > 0]
        anchor = {i: old.x.get((prob.products[i].product_id, s), math.inf) for i in here}
        rank: dict[tuple[str | None, ...], float] = {}
        keys = {i: tuple(getattr(prob.products[i], lv) for lv in levels) for i in here}
        for i in here:
            for j in range(1, len(levels) + 1):
                pre = keys[i][:j]
                rank[pre] = min(rank.get(pre, math.inf), anchor[i])

        def order(i: int) -> tuple[object, ...]:
            k = keys[i]  # noqa: B023 - used at once by sorted below
            parts: list[object] = []
            for j in range(1, len(levels) + 1):
                parts += [rank[k[:j]], k[j - 1] is None, str(k[j - 1] or "")]  # noqa: B023
            return (*parts, anchor[i], prob.products[i].product_id)  # noqa: B023

        here.sort(key=order)
        widths = [counts[i][s] * (prob.products[i].width_cm or 0.0) for i in here]
        xs: list[float] = []
        end = -gap
        for k, i in enumerate(here):  # left to right: no overlap
            target = anchor[i] if math.isfinite(anchor[i]) else end + gap
            xs.append(max(target, end + gap, 0.0))
            end = xs[-1] + widths[k]
        limit = shelf.width_cm
        for k in range(len(here) - 1, -1, -1):  # right to left: end on the shelf
            xs[k] = max(0.0, min(xs[k], limit - widths[k]))
            limit = xs[k] - gap
        for k, i in enumerate(here):
            out.append(
                Position(
                    s,
                    round(xs[k], 9),  # 1e-9: far below the validator's tolerance on gaps
                    prob.products[i].product_id,
                    counts[i][s],
                    prob.high[i][s],
                    prob.deep[i][s],
                )
            )
    return tuple(out)


def _changes(
    old: _Before, new: Planogram, catalog: Mapping[str, Product], need: tuple[str, ...]
) -> tuple[Change, ...]:
    now = _before(new)
    out: list[Change] = []
    stack = {(p.product_id, p.shelf_index): (p.facings_high, p.facings_deep) for p in new.positions}
    for pid in sorted(old.total.keys() | now.total.keys()):
        t0, t1 = old.total.get(pid, 0), now.total.get(pid, 0)
        if t1 == 0:
            why = (
                "not in the catalog"
                if pid not in catalog
                else "lacks a size a hard rule needs"
                if any(getattr(catalog[pid], f) is None for f in need)
                else "no room for it under the hard rules"
            )
            out.append(
                Change(
                    ChangeKind.DROPPED,
                    pid,
                    None,
                    None,
                    None,
                    None,
                    t0,
                    0,
                    f"product {pid} dropped ({t0} facings): {why}",
                )
            )
            continue
        if t0 == 0:
            out.append(
                Change(
                    ChangeKind.ADDED,
                    pid,
                    None,
                    min(now.on[pid]),
                    None,
                    None,
                    0,
                    t1,
                    f"mandatory product {pid} added with {t1} facings",
                )
            )
            continue
        if t1 != t0:
            kind = ChangeKind.FACINGS_REDUCED if t1 < t0 else ChangeKind.FACINGS_RAISED
            out.append(
                Change(
                    kind,
                    pid,
                    None,
                    None,
                    None,
                    None,
                    t0,
                    t1,
                    f"product {pid} now has {t1} facings instead of {t0}",
                )
            )
        a, b = old.on[pid], now.on[pid]
        lost = {s: f - b.get(s, 0) for s, f in a.items() if f > b.get(s, 0)}
        gained = {s: f - a.get(s, 0) for s, f in b.items() if f > a.get(s, 0)}
        moved = min(sum(lost.values()), sum(gained.values()))
        if moved > 0:
            src = max(lost, key=lambda s: (lost[s], -s))
            dst = max(gained, key=lambda s: (gained[s], -s))
            out.append(
                Change(
                    ChangeKind.MOVED_SHELF,
                    pid,
                    src,
                    dst,
                    None,
                    None,
                    t0,
                    moved,
                    f"{moved} facings of product {pid} moved from shelf {src} to shelf {dst}",
                )
            )
        for s in sorted(set(a) & set(b)):
            x0, x1 = old.x[(pid, s)], now.x[(pid, s)]
            if abs(x0 - x1) > _EPS:
                out.append(
                    Change(
                        ChangeKind.MOVED_X,
                        pid,
                        s,
                        s,
                        x0,
                        x1,
                        t0,
                        t1,
                        f"product {pid} on shelf {s} moved from x={x0:g} to x={x1:g} cm",
                    )
                )
            hd = stack[(pid, s)]
            if hd[0] < old.high[pid] or hd[1] < old.deep[pid]:
                out.append(
                    Change(
                        ChangeKind.STACK_REDUCED,
                        pid,
                        s,
                        s,
                        None,
                        None,
                        t0,
                        t1,
                        f"product {pid} on shelf {s} is now {hd[0]} high x {hd[1]} deep "
                        f"(was {old.high[pid]} x {old.deep[pid]})",
                    )
                )
    return tuple(out)
