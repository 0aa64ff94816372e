"""The layout solver (OR-Tools CP-SAT) and the greedy first-fit baseline.

:func:`solve_layout` places a set of products, each with its total facings wide (EdgeRec3D's
``q_i``), on a display so that every hard rule of a rulebook holds, while optimising the soft
rules; or raises :class:`~shelfwise.exceptions.InfeasiblePlanogramError` naming a small set of
rules that cannot hold together. The model (``shelfwise.planogram._model``) decides how many
facings of each product stand on each shelf; the x order within a shelf is then fixed by the
blocking groups, so contiguity holds by construction, and blocks are packed from the left with
the rulebook's gap between them.

Choices
-------
* One block per product and shelf; a product is split over shelves only when it must be (a
  split costs in the objective).
* ``facings_high = 1`` (products are not stacked: bottles stand badly on each other, and the
  shelf load stays low); ``facings_deep = floor(shelf depth / product depth)``.
* CP-SAT over HiGHS on measured evidence (see ``benchmarks/bench_planogram.py`` and
  ARCHITECTURE.md): with one worker and a fixed seed CP-SAT is deterministic, and its
  assumption literals give the conflicting rules when there is no layout.

The model knows nothing of the validator (:mod:`shelfwise.planogram.validator`), the
independent judge of its output. The validator is called once, on the finished layout, as a
last line of defence: a layout breaking a hard rule is never returned; it raises
:class:`~shelfwise.exceptions.InfeasiblePlanogramError` naming the rules broken.

With ``category_blocking`` rules ``across_shelves``, the model also places each blocking
group along its shelves (``shelfwise.planogram._layout``) so that its spans on adjacent
shelves overlap, as the validator requires; groups keep one left-to-right order on every shelf
(an order-dependent restriction: a layout needing another order is reported as infeasible).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ortools.sat.python import cp_model

from shelfwise.domain import Display, Planogram, Position, Product
from shelfwise.exceptions import InfeasiblePlanogramError, InvalidParameterError
from shelfwise.planogram._layout import build_layout_cp, layout_positions
from shelfwise.planogram._model import (
    REQUEST_ID,
    CpLayout,
    Problem,
    build_problem,
    facings_bounds,
    fits,
    post_brand_objective,
    post_soft_objective,
)
from shelfwise.planogram.rules import (
    BrandShare,
    MandatoryProducts,
    Rulebook,
    default_rulebook,
)
from shelfwise.planogram.validator import validate
from shelfwise.planogram.violations import ValidationReport

__all__ = ["explain_infeasibility", "greedy_layout", "layout_shelves", "solve_layout"]


def _check_facings(facings: Mapping[str, int], catalog: Mapping[str, Product], where: str) -> None:
    for pid, q in facings.items():
        if isinstance(q, bool) or not isinstance(q, int) or q < 0:
            raise InvalidParameterError(
                f"facings must be integers >= 0 for product {pid}{where}; got {q!r}"
            )
        if pid not in catalog:
            raise InvalidParameterError(f"product {pid} must be in the catalog{where}; it is not")


def _params(time_limit_s: float, random_state: int) -> cp_model.CpSolver:
    if not (isinstance(time_limit_s, int | float) and math.isfinite(time_limit_s)) or (
        time_limit_s <= 0
    ):
        raise InvalidParameterError(
            f"time_limit_s must be a finite number > 0; got {time_limit_s!r}"
        )
    if isinstance(random_state, bool) or not isinstance(random_state, int):
        raise InvalidParameterError(f"random_state must be an int; got {random_state!r}")
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = random_state % (2**31)
    # full linear relaxation: much tighter bounds on the max-equality (on-shelf) objective terms
    solver.parameters.linearization_level = 2
    # deterministic stop: the same seed gives the same layout whatever the machine's load
    solver.parameters.max_deterministic_time = float(time_limit_s)
    solver.parameters.max_time_in_seconds = 4.0 * float(time_limit_s)
    return solver


def solve_layout(
    display: Display,
    facings: Mapping[str, int],
    catalog: Mapping[str, Product],
    rulebook: Rulebook | None = None,
    *,
    time_limit_s: float = 10.0,
    random_state: int = 0,
    unit_sales_per_day: Mapping[str, float] | None = None,
    explain: bool = True,
) -> Planogram:
    """Lay out products with given facings on a display, meeting every hard rule.

    Parameters
    ----------
    display : Display
        The display, with its shelf geometry.
    facings : Mapping[str, int]
        Total facings wide per product (EdgeRec3D's ``q_i``); products with 0 are left out.
        Every requested facing is placed, or the request is reported as infeasible.
    catalog : Mapping[str, Product]
        Products by id; placed products need width, height and depth (and weight for loads).
    rulebook : Rulebook, optional
        Hard and soft rules; :func:`~shelfwise.planogram.rules.default_rulebook` when ``None``.
    time_limit_s : float
        Search budget in CP-SAT deterministic time units (about seconds), which keeps the
        result reproducible; wall time is capped at four times this.
    random_state : int
        CP-SAT's seed.
    unit_sales_per_day : Mapping[str, float], optional
        Daily unit sales per product, for the balanced-days-of-supply soft rule.
    explain : bool
        On an infeasible request, name a minimal set of conflicting rules (a dozen extra
        solves, each up to ``time_limit_s``). ``False`` raises at once with a short message,
        for callers that fall back to repair anyway.

    Returns
    -------
    Planogram
        Version 1, provenance ``"solver:cp-sat"``, positions sorted by shelf then ``x_cm``.

    Raises
    ------
    InfeasiblePlanogramError
        No layout meets the hard rules; the message names a minimal set of conflicting rule
        ids (``"requested-facings"`` stands for the request itself). Also raised, naming the
        broken rules, if the finished layout failed the validator (a model bug; never
        expected), so a returned planogram always passes :func:`validate` on its hard rules.
    InvalidParameterError
        Unknown products, negative facings, a display without shelves, products lacking sizes
        (and ``weight_kg`` when a shelf_load rule acts on the display).
    """
    rulebook = rulebook if rulebook is not None else default_rulebook()
    where = f" for display {display.display_id}"
    _check_facings(facings, catalog, where)
    solver = _params(time_limit_s, random_state)
    if not display.shelves:
        raise InvalidParameterError(f"display {display.display_id} must have shelves; it has none")
    wanted = {pid: q for pid, q in facings.items() if q > 0}
    missing = _mandatory_outside_catalog(display, rulebook, catalog)
    if missing:
        rid, pid = missing
        raise InfeasiblePlanogramError(
            f"no layout for display {display.display_id} meets rule {rid!r} "
            f"(mandatory_products): mandatory product {pid} is not in the catalog"
        )
    extra = sorted(_mandatory(display, rulebook) - wanted.keys())
    ids = sorted(wanted) + extra
    products = [catalog[pid] for pid in ids]
    if any(r.type == "shelf_load" and r.applies_to(display.kind) for r in rulebook.rules):
        for p in products:
            if p.weight_kg is None:
                raise InvalidParameterError(
                    f"weight_kg is required to place product {p.product_id} on display "
                    f"{display.display_id} under a shelf_load rule; got None"
                )
    upper = [wanted.get(pid, 0) for pid in ids]
    prob = build_problem(
        display, products, upper, rulebook, exact=True, unit_sales_per_day=unit_sales_per_day
    )
    cp = build_layout_cp(prob)
    base = post_soft_objective(prob, cp)
    cp.model.minimize(sum(base))
    cp.model.add_assumptions(list(cp.assumptions.values()))
    status = solver.solve(cp.model)
    if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        counts, starts = solution(solver, cp)
        counts, starts = _brand_phase(prob, cp, base, solver, (counts, starts), time_limit_s)
        positions = layout_shelves(prob, counts, starts)
        plan = Planogram(display.display_id, 1, positions, provenance="solver:cp-sat")
        guard(validate(plan, display, catalog, rulebook), "layout")
        return plan
    if status == cp_model.INFEASIBLE:
        if not explain:
            raise InfeasiblePlanogramError(
                f"no layout for display {display.display_id} meets every hard rule with these "
                "facings (explain=True names the conflicting rules)"
            )
        raise InfeasiblePlanogramError(explain_infeasibility(prob, time_limit_s=time_limit_s))
    raise InfeasiblePlanogramError(
        f"no layout for display {display.display_id} was found within time_limit_s="
        f"{time_limit_s:g}; none was proven impossible either (status {solver.status_name(status)})"
    )


BRAND_PHASE_S = 0.2
"""Deterministic-time budget of the second solve, which adds the vertical-brand-block terms."""


def _brand_phase(
    prob: Problem,
    cp: CpLayout,
    base: list[cp_model.LinearExprT],
    first: cp_model.CpSolver,
    found: tuple[list[list[int]], dict[tuple[int, int], int] | None],
    time_limit_s: float,
) -> tuple[list[list[int]], dict[tuple[int, int], int] | None]:
    """Re-solve with the vertical-brand-block terms, from the first solution as a hint.

    With those terms in the one objective, proving optimality took seconds on 30-product
    coolers (bin packing of brands over shelves); solved in a second, short, deterministic
    phase from the first optimum, the layouts score as well and stay well under a second.
    The first solution is kept if the second phase finds nothing better.
    """
    extra = post_brand_objective(prob, cp)
    if not extra:
        return found
    for rows in (cp.f, cp.y):
        for row in rows:
            for v in row:
                cp.model.add_hint(v, first.value(v))
    cp.model.minimize(sum([*base, *extra]))
    second = _params(min(time_limit_s, BRAND_PHASE_S), int(first.parameters.random_seed))
    if second.solve(cp.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return solution(second, cp)
    return found


def solution(
    solver: cp_model.CpSolver, cp: CpLayout
) -> tuple[list[list[int]], dict[tuple[int, int], int] | None]:
    """Facings per (product, shelf) and, with the x model, group starts, from a solved model."""
    counts = [[int(solver.value(v)) for v in row] for row in cp.f]
    starts = {k: int(solver.value(v)) for k, v in cp.starts.items()} if cp.starts else None
    return counts, starts


def guard(report: ValidationReport, what: str) -> None:
    """Last line of defence: raise rather than return a result breaking a hard rule.

    The model is built to meet every hard rule, so this should never fire; if it does, the
    error names the rules the validator found broken.
    """
    if report.is_valid:
        return
    broken = sorted({(v.rule_id, v.rule_type) for v in report.hard})
    named = ", ".join(f"{rid!r} ({rtype})" for rid, rtype in broken)
    raise InfeasiblePlanogramError(
        f"the {what} found for display {report.display_id} breaks these rules: {named} "
        f"({report.hard[0].message}); no layout meeting them was found"
    )


def _mandatory(display: Display, rulebook: Rulebook) -> set[str]:
    out: set[str] = set()
    for r in rulebook.of_type("mandatory_products"):
        if isinstance(r, MandatoryProducts) and r.applies_to(display.kind):
            out.update(r.product_ids)
    return out


def _mandatory_outside_catalog(
    display: Display, rulebook: Rulebook, catalog: Mapping[str, Product]
) -> tuple[str, str] | None:
    for r in rulebook.of_type("mandatory_products"):
        if isinstance(r, MandatoryProducts) and r.applies_to(display.kind):
            for pid in r.product_ids:
                if pid not in catalog:
                    return r.id, pid
    return None


def _feasible(prob: Problem, keep: Sequence[str], time_limit_s: float) -> int:
    """CP-SAT status of the model with only the rules ``keep`` enforced."""
    cp = build_layout_cp(prob)
    on = [cp.assumptions[r] for r in keep if r in cp.assumptions]
    off = [lit for r, lit in cp.assumptions.items() if r not in keep]
    for lit in off:
        cp.model.add(lit == 0)
    cp.model.add_assumptions(on)
    solver = _params(time_limit_s, 0)
    return int(solver.solve(cp.model))


def explain_infeasibility(prob: Problem, *, time_limit_s: float = 10.0) -> str:
    """A message naming a minimal set of rules that cannot hold together on ``prob``.

    Every hard rule sits behind an assumption literal. A deletion filter drops one rule at a
    time (re-solving with the others) and keeps the drop while the rest is still infeasible;
    what is left is a minimal conflicting set. The request itself is tried first, so rules are
    named rather than the request where both would explain the conflict (a tall *mandatory*
    product names the mandatory rule and the clearance rule). With about a dozen rules this
    costs a dozen small solves, paid only on the infeasible path.
    """
    rules = [REQUEST_ID] if prob.exact else []
    rules += prob.rules()
    keep = list(rules)
    for r in rules:  # deletion filter: what is left is infeasible, and minimal
        trial = [k for k in keep if k != r]
        if _feasible(prob, trial, time_limit_s) == cp_model.INFEASIBLE:
            keep = trial
    types = {r.id: r.type for r in prob.rulebook.rules}
    named = ", ".join(f"{r!r} ({types.get(r, 'the request')})" for r in keep)
    hints = _hints(prob, keep)
    return (
        f"no layout for display {prob.display.display_id} meets these rules together: {named}"
        + (f"; {hints}" if hints else "")
    )


def _hints(prob: Problem, keep: Sequence[str]) -> str:
    """Short facts behind a conflict: products fitting no shelf, totals over the capacity."""
    out: list[str] = []
    kept = set(keep)
    for i, p in enumerate(prob.products):
        blocked = [s for s in range(prob.m) if kept.intersection(prob.forbid.get((i, s), ()))]
        if prob.m and len(blocked) == prob.m:
            why = sorted(kept.intersection(r for s in blocked for r in prob.forbid[(i, s)]))
            out.append(f"product {p.product_id} may stand on no shelf under {', '.join(why)}")
    if REQUEST_ID in kept:
        total = sum(prob.upper)
        if any(r.id in kept for r in prob.hard("display_capacity")):
            out.append(f"{total} facings requested; max_slots is {prob.display.max_slots}")
        named = {
            pid
            for r in prob.hard("mandatory_products")
            if isinstance(r, MandatoryProducts) and r.id in kept
            for pid in r.product_ids
        }
        absent = [
            p.product_id
            for i, p in enumerate(prob.products)
            if prob.upper[i] == 0 and p.product_id in named
        ]
        if absent:
            out.append(f"mandatory products not requested: {', '.join(absent)}")
        lo, hi, _ = facings_bounds(prob)
        for i, p in enumerate(prob.products):
            q = prob.upper[i]
            if q and (q < lo[i] or (hi[i] is not None and q > (hi[i] or 0))):
                out.append(
                    f"product {p.product_id} requests {q} facings, outside [{lo[i]}, {hi[i]}]"
                )
        for r in prob.hard("brand_share"):
            if isinstance(r, BrandShare) and r.id in kept:
                total_w = sum(
                    q * (p.width_cm or 0.0) for q, p in zip(prob.upper, prob.products, strict=True)
                )
                mine = sum(
                    q * (p.width_cm or 0.0)
                    for q, p in zip(prob.upper, prob.products, strict=True)
                    if p.brand == r.brand
                )
                share = mine / total_w if total_w else 0.0
                out.append(
                    f"the request gives brand {r.brand!r} {share:.1%} of the linear space; "
                    f"rule {r.id!r} needs {r.min_share:.1%}-{r.max_share:.1%}"
                )
    return "; ".join(out[:6])


def layout_shelves(
    prob: Problem,
    counts: Sequence[Sequence[int]],
    starts: dict[tuple[int, int], int] | None = None,
) -> tuple[Position, ...]:
    """Blocks from facings per (product, shelf), ordered by group and placed left to right.

    Every shelf keeps one global order of blocking groups (adjusted for adjacency pairs of
    categories or subcategories); products of an adjacency pair are made neighbours where
    that keeps every group contiguous. Blocks are packed from the left with the rulebook's
    gap between them, or, with ``starts`` from the across-shelves x model, each group starts
    where the model put it (see ``shelfwise.planogram._layout``).
    """
    return layout_positions(prob, counts, starts)


def greedy_layout(
    display: Display, facings: Mapping[str, int], catalog: Mapping[str, Product]
) -> Planogram:
    """First-fit baseline: no search and no rulebook, so it may break rules.

    Products are taken in the mapping's order; each goes, with all its facings, on the lowest
    shelf with enough free width and clearance for it, or else on the shelf with the most
    free width (where it may overhang). ``facings_high = 1``, ``facings_deep = floor(shelf
    depth / product depth)`` (at least 1). Load, zones, blocking and capacity are not looked at.

    Returns
    -------
    Planogram
        Version 1, provenance ``"solver:greedy"``.
    """
    where = f" for display {display.display_id}"
    _check_facings(facings, catalog, where)
    if not display.shelves:
        raise InvalidParameterError(f"display {display.display_id} must have shelves; it has none")
    used = [0.0] * len(display.shelves)
    out: list[Position] = []
    for pid, q in facings.items():
        if q <= 0:
            continue
        p = catalog[pid]
        w = p.width_cm or 0.0
        h = p.height_cm or 0.0
        fit = [
            s.index
            for s in display.shelves
            if used[s.index] + q * w <= s.width_cm + 1e-9 and h <= s.clearance_cm
        ]
        s = (
            fit[0]
            if fit
            else max(range(len(used)), key=lambda k: (display.shelves[k].width_cm - used[k], -k))
        )
        shelf = display.shelves[s]
        deep = max(1, fits(shelf.depth_cm, p.depth_cm or shelf.depth_cm))
        out.append(Position(s, round(used[s], 6), pid, q, 1, deep))
        used[s] += q * w
    out.sort(key=lambda pos: (pos.shelf_index, pos.x_cm))
    return Planogram(display.display_id, 1, tuple(out), provenance="solver:greedy")
