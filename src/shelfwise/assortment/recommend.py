"""From a policy's facings to what a merchandiser receives: items with actions, and a layout.

A policy returns facings per product. :func:`recommend_display` turns them into a
:class:`~shelfwise.domain.DisplayRecommendation`: one item per product that was or will be on
the display, with its action (keep, decay, add, raise, drop), predicted payoff and PEPF score,
and, when the display's products have sizes, a planogram laid out by the CP-SAT solver that
meets every hard rule. When the requested facings cannot all be placed (too wide for the
shelves, say), a first-fit layout is repaired to validity instead, which drops as few facings as
it can; the items then carry the facings actually placed and ``layout_note`` says what changed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from shelfwise.domain import (
    Display,
    DisplayRecommendation,
    Planogram,
    Product,
    RecommendedItem,
)
from shelfwise.exceptions import InfeasiblePlanogramError
from shelfwise.planogram.repair import repair
from shelfwise.planogram.rules import Rulebook
from shelfwise.planogram.solver import greedy_layout, solve_layout

from .problem import (
    AssortmentPolicy,
    DisplayProblem,
    PayoffEstimator,
    check_recommendation,
)


def _action(before: int, after: int) -> str:
    if before == 0:
        return "add"
    if after == 0:
        return "drop"
    if after < before:
        return "decay"
    if after > before:
        return "raise"
    return "keep"


def lay_out(
    display: Display,
    facings: Mapping[str, int],
    catalog: Mapping[str, Product],
    rulebook: Rulebook | None = None,
    *,
    time_limit_s: float = 5.0,
    random_state: int = 0,
) -> tuple[Planogram | None, str]:
    """Place recommended facings on the display so that every hard rule holds.

    Returns
    -------
    (Planogram or None, str)
        The layout (``None`` when some product lacks width, height or depth, or the display has
        no shelves) and a note saying how it was made or why there is none.
    """
    wanted = {p: int(q) for p, q in facings.items() if q > 0}
    if not wanted:
        return None, "nothing to place"
    if not display.shelves:
        return None, f"display {display.display_id} has no shelf geometry; no layout"
    unsized = sorted(p for p in wanted if p not in catalog or not catalog[p].has_dimensions)
    if unsized:
        return None, f"no layout: products without dimensions ({', '.join(unsized[:5])})"
    need = sum(float(catalog[p].width_cm or 0.0) * q for p, q in wanted.items())
    have = sum(float(shelf.width_cm) for shelf in display.shelves)
    if need > have + 1e-9:
        # Cannot fit whatever the arrangement; the solver would only spend its time limit.
        reason = f"the facings need {need:.0f} cm of shelf width, the display has {have:.0f} cm"
        return _repaired(display, wanted, catalog, rulebook, reason, time_limit_s, random_state)
    try:
        plan = solve_layout(
            display,
            wanted,
            catalog,
            rulebook,
            time_limit_s=time_limit_s,
            random_state=random_state,
            explain=False,
        )
        return plan, "laid out by the CP-SAT solver; every hard rule met"
    except InfeasiblePlanogramError as err:
        reason = str(err).split(";")[0]
        return _repaired(display, wanted, catalog, rulebook, reason, time_limit_s, random_state)


def _repaired(
    display: Display,
    wanted: Mapping[str, int],
    catalog: Mapping[str, Product],
    rulebook: Rulebook | None,
    reason: str,
    time_limit_s: float,
    random_state: int,
) -> tuple[Planogram | None, str]:
    """A first-fit layout of ``wanted`` repaired to validity, with a note saying why.

    The repair gets a fifth of the layout's time limit: it stops at the best valid repair
    found by then (every hard rule met; possibly not the fewest facings dropped).
    """
    first = greedy_layout(display, wanted, catalog)
    fixed = repair(
        first,
        display,
        catalog,
        rulebook,
        time_limit_s=time_limit_s / 5.0,
        random_state=random_state,
    )
    lost = fixed.facings_before - fixed.facings_after
    return (
        fixed.planogram,
        f"requested facings do not fit ({reason}); repaired first-fit layout, "
        f"{lost} facing(s) dropped",
    )


def recommend_display(
    problem: DisplayProblem,
    policy: AssortmentPolicy,
    payoffs: PayoffEstimator,
    *,
    rng: np.random.Generator,
    lam: float = 1.0,
    display: Display | None = None,
    catalog: Mapping[str, Product] | None = None,
    rulebook: Rulebook | None = None,
    layout_time_limit_s: float = 5.0,
) -> DisplayRecommendation:
    """Recommend facings for one display, score them and lay them out.

    Parameters
    ----------
    problem : DisplayProblem
        The display's state, candidates and budget.
    policy : AssortmentPolicy
        Decides the facings.
    payoffs : PayoffEstimator
        Scores the items (predicted mean payoff and PEPF at the recommended facings, or at the
        previous facings for a dropped product).
    rng : numpy.random.Generator
        The policy's randomness.
    lam : float
        PEPF penalty for the reported scores.
    display, catalog, rulebook
        Needed for the layout; without ``display`` and ``catalog`` no layout is made.
    layout_time_limit_s : float
        CP-SAT budget per display.
    """
    facings = policy.recommend(problem, rng)
    check_recommendation(problem, facings)
    plan: Planogram | None = None
    note = "no display geometry or catalog given; no layout"
    if display is not None and catalog is not None:
        plan, note = lay_out(display, facings, catalog, rulebook, time_limit_s=layout_time_limit_s)
        if plan is not None:
            facings = dict(plan.facings())
    before = {p: int(q) for p, q in problem.state.items() if q > 0}
    products = sorted(set(before) | {p for p, q in facings.items() if q > 0})
    table = payoffs.table(problem.store_id, products, problem.max_facings, cluster=problem.cluster)
    score = table.pepf(lam)
    q_max = table.max_facings
    items = []
    for p in products:
        q0, q1 = before.get(p, 0), int(facings.get(p, 0))
        at = min(q1 if q1 > 0 else q0, q_max)
        row = table.row(p)
        items.append(
            RecommendedItem(
                product_id=p,
                facings=q1,
                previous_facings=q0,
                action=_action(q0, q1),
                expected_payoff=float(table.mean[row, at]),
                pepf=float(score[row, at]),
            )
        )
    return DisplayRecommendation(
        display_id=problem.display_id,
        store_id=problem.store_id,
        items=tuple(items),
        planogram=plan,
        layout_note=note,
    )
