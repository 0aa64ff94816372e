"""The layout problem in integers, and its CP-SAT model (shared by the solver and repair).

Lengths are scaled to integer micro-units (``LENGTH_SCALE`` per cm, 10 µm) and weights to
milligrams, rounding product sizes up and shelf limits down, so an integer-feasible layout is
feasible in floating point too. Every hard rule of the rulebook is posted behind its own
assumption literal, so an infeasible model yields a set of rule ids that conflict
(:func:`shelfwise.planogram.solver.explain_infeasibility`).

Decision variables, per candidate product ``i`` and shelf ``s``: ``f[i, s]`` facings wide of
``i`` on ``s`` (one block per product and shelf) and ``y[i, s]`` whether ``i`` is on ``s`` at
all; ``t[i]`` the product's total facings and ``p[i]`` whether it is on the display.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from shelfwise.domain import Display, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram.rules import (
    Adjacency,
    BalancedDaysOfSupply,
    BrandShare,
    CategoryBlocking,
    EyeLevel,
    FacingsRange,
    MandatoryProducts,
    RegulatoryZone,
    Rule,
    Rulebook,
    ShelfWidth,
    VerticalBrandBlocks,
)

LENGTH_SCALE = 1000
"""Integer length units per centimetre."""
WEIGHT_SCALE = 1_000_000
"""Integer weight units per kilogram."""
SHARE_SCALE = 1_000_000
"""Integer units per share of 1."""
REQUEST_ID = "requested-facings"
"""Pseudo rule id of the request itself (every requested product with exactly its facings)."""


def _up(value: float, scale: int) -> int:
    return math.ceil(value * scale - 1e-6)


def _down(value: float, scale: int) -> int:
    return math.floor(value * scale + 1e-6)


def fits(length: float, unit: float) -> int:
    """How many units of ``unit`` fit in ``length`` (floor with a small tolerance)."""
    return math.floor(length / unit + 1e-9)


def group_levels(rulebook: Rulebook, display: Display) -> tuple[str, ...]:
    """Attributes blocked by the rulebook's category-blocking rules, broadest first."""
    wanted = {
        r.level
        for r in rulebook.of_type("category_blocking")
        if isinstance(r, CategoryBlocking) and r.applies_to(display.kind)
    }
    return tuple(level for level in ("category", "subcategory", "brand") if level in wanted)


def group_key(product: Product, levels: Sequence[str]) -> tuple[str, ...]:
    """The blocking group of a product: its values at ``levels`` ("" where unknown)."""
    return tuple(str(getattr(product, level) or "") for level in levels)


def margin(product: Product) -> float | None:
    """Unit margin (price - unit cost), or ``None`` if either is unknown."""
    if product.price is None or product.unit_cost is None:
        return None
    return product.price - product.unit_cost


@dataclass
class Problem:
    """A display, the candidate products and every quantity the model needs, in integers.

    Attributes
    ----------
    upper : list of int
        Most facings each candidate may get (the request, or the current facings in repair).
    exact : list of bool
        Whether the request literal pins the product at ``upper`` (and absent when 0).
    high, deep : list of list of int
        ``facings_high`` and ``facings_deep`` the product would get on each shelf.
    forbid : dict
        ``(i, s) -> rule ids`` that keep product ``i`` off shelf ``s``.
    """

    display: Display
    rulebook: Rulebook
    products: list[Product]
    upper: list[int]
    exact: bool
    high: list[list[int]]
    deep: list[list[int]]
    width: list[int] = field(default_factory=list)
    shelf_width: list[int] = field(default_factory=list)
    load: list[int] = field(default_factory=list)
    forbid: dict[tuple[int, int], list[str]] = field(default_factory=dict)
    sales: list[float | None] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.products)

    @property
    def m(self) -> int:
        return len(self.display.shelves)

    def rules(self) -> list[str]:
        """Hard rule ids acting on this display, in rulebook order."""
        return [
            r.id for r in self.rulebook.rules if r.type in _HARD and r.applies_to(self.display.kind)
        ]

    def hard(self, rule_type: str) -> list[Rule]:
        """Rules of one type acting on this display."""
        return [r for r in self.rulebook.of_type(rule_type) if r.applies_to(self.display.kind)]

    def gap(self) -> int:
        gaps = [r.gap_cm for r in self.hard("shelf_width") if isinstance(r, ShelfWidth)]
        return _up(max(gaps, default=0.0), LENGTH_SCALE)

    def gap_cm(self) -> float:
        return max(
            (r.gap_cm for r in self.hard("shelf_width") if isinstance(r, ShelfWidth)), default=0.0
        )

    def index(self) -> dict[str, int]:
        return {p.product_id: i for i, p in enumerate(self.products)}


_HARD = frozenset(
    {
        "shelf_width",
        "height_clearance",
        "depth",
        "shelf_load",
        "display_capacity",
        "facings_range",
        "mandatory_products",
        "regulatory_zone",
        "category_blocking",
        "brand_share",
    }
)
# no_overlap holds by construction: blocks are laid out left to right without overlap.


def build_problem(
    display: Display,
    products: Sequence[Product],
    upper: Sequence[int],
    rulebook: Rulebook,
    *,
    exact: bool,
    high: Sequence[int] | None = None,
    deep: Sequence[int | None] | None = None,
    unit_sales_per_day: Mapping[str, float] | None = None,
) -> Problem:
    """Scale a display and candidate products into a :class:`Problem`.

    ``high`` gives ``facings_high`` per product (default 1; capped by each shelf's clearance).
    ``facings_deep`` is ``floor(shelf depth / product depth)`` (at least 1), capped by
    ``deep[i]`` when that is given and not ``None``.
    """
    for p in products:
        if p.width_cm is None or p.height_cm is None or p.depth_cm is None:
            raise InvalidParameterError(
                f"width_cm, height_cm and depth_cm are required to place product {p.product_id} "
                f"on display {display.display_id}; got {p.width_cm!r}, {p.height_cm!r}, "
                f"{p.depth_cm!r}"
            )
    shelves = display.shelves
    hi_rows: list[list[int]] = []
    deep_rows: list[list[int]] = []
    for i, p in enumerate(products):
        h = p.height_cm or 1.0
        d = p.depth_cm or 1.0
        hi_rows.append(
            [
                max(1, min(high[i] if high else 1, fits(sh.clearance_cm, h)))
                for s, sh in enumerate(shelves)
            ]
        )
        cap = deep[i] if deep is not None else None
        deep_rows.append(
            [max(1, min(fits(sh.depth_cm, d), cap if cap is not None else 10**6)) for sh in shelves]
        )
    prob = Problem(
        display=display,
        rulebook=rulebook,
        products=list(products),
        upper=[int(u) for u in upper],
        exact=exact,
        high=hi_rows,
        deep=deep_rows,
    )
    prob.width = [_up(p.width_cm or 0.0, LENGTH_SCALE) for p in products]
    prob.shelf_width = [_down(s.width_cm, LENGTH_SCALE) for s in shelves]
    prob.load = [_down(s.max_load_kg, WEIGHT_SCALE) for s in shelves]
    sales = unit_sales_per_day or {}
    prob.sales = [sales.get(p.product_id) for p in products]
    for i, p in enumerate(products):
        for s, sh in enumerate(shelves):
            reasons: list[str] = []
            for r in prob.hard("height_clearance"):
                if hi_rows[i][s] * (p.height_cm or 0.0) > sh.clearance_cm + 1e-9:
                    reasons.append(r.id)
            for r in prob.hard("depth"):
                if deep_rows[i][s] * (p.depth_cm or 0.0) > sh.depth_cm + 1e-9:
                    reasons.append(r.id)
            for r in prob.hard("shelf_width"):
                if (p.width_cm or 0.0) > sh.width_cm + 1e-9:
                    reasons.append(r.id)
            for r in prob.hard("regulatory_zone"):
                if (
                    isinstance(r, RegulatoryZone)
                    and getattr(p, r.flag)
                    and (
                        display.kind in r.forbidden_display_kinds
                        or sh.height_from_floor_cm < r.min_height_from_floor_cm
                    )
                ):
                    reasons.append(r.id)
            if reasons:
                prob.forbid[(i, s)] = reasons
    return prob


def unit_weight(prob: Problem, i: int, s: int) -> int:
    """Integer weight of one facing wide of product ``i`` on shelf ``s`` (high x deep units)."""
    w = prob.products[i].weight_kg or 0.0
    return _up(w * prob.high[i][s] * prob.deep[i][s], WEIGHT_SCALE)


@dataclass
class CpLayout:
    """A built CP-SAT model with handles to its variables and assumption literals."""

    model: cp_model.CpModel
    f: list[list[cp_model.IntVar]]
    y: list[list[cp_model.IntVar]]
    t: list[cp_model.IntVar]
    p: list[cp_model.IntVar]
    assumptions: dict[str, cp_model.IntVar]
    starts: dict[tuple[int, int], cp_model.IntVar] = field(default_factory=dict)
    """(fine group index, shelf) -> start, when the across-shelves x model is posted
    (``shelfwise.planogram._layout``)."""


def facings_bounds(prob: Problem) -> tuple[list[int], list[int | None], dict[int, list[str]]]:
    """Per-product (min when present, max) facings from every facings-range rule, with ids."""
    lo = [0] * prob.n
    hi: list[int | None] = [None] * prob.n
    by: dict[int, list[str]] = {}
    for r in prob.hard("facings_range"):
        if not isinstance(r, FacingsRange):
            continue
        for i, p in enumerate(prob.products):
            a, b = r.per_product.get(p.product_id, (r.min_facings, r.max_facings))
            lo[i] = max(lo[i], a)
            if b is not None:
                hi[i] = b if hi[i] is None else min(hi[i] or b, b)
            by.setdefault(i, []).append(r.id)
    return lo, hi, by


def build_cp(prob: Problem) -> CpLayout:
    """Post the hard rules of ``prob`` as a CP-SAT model, each rule behind an assumption."""
    model = cp_model.CpModel()
    n, m = prob.n, prob.m
    ub = [max(0, u) for u in prob.upper]
    lo, _, _ = facings_bounds(prob)
    for i in range(n):
        ub[i] = max(ub[i], lo[i])
    f = [[model.new_int_var(0, ub[i], f"f{i}_{s}") for s in range(m)] for i in range(n)]
    y = [[model.new_bool_var(f"y{i}_{s}") for s in range(m)] for i in range(n)]
    t = [model.new_int_var(0, ub[i], f"t{i}") for i in range(n)]
    p = [model.new_bool_var(f"p{i}") for i in range(n)]
    lits: dict[str, cp_model.IntVar] = {}

    def lit(rule_id: str) -> cp_model.IntVar:
        if rule_id not in lits:
            lits[rule_id] = model.new_bool_var(f"rule:{rule_id}")
        return lits[rule_id]

    for i in range(n):
        model.add(t[i] == sum(f[i]))
        model.add(t[i] >= p[i])
        model.add(t[i] <= ub[i] * p[i])
        model.add(sum(y[i]) >= p[i])  # redundant: tightens the LP bound of the objective
        for s in range(m):
            model.add(f[i][s] <= ub[i] * y[i][s])
            model.add(f[i][s] >= y[i][s])
            model.add(y[i][s] <= p[i])
    if prob.exact:
        req = lit(REQUEST_ID)
        for i in range(n):
            model.add(t[i] == prob.upper[i]).only_enforce_if(req)
    for (i, s), reasons in prob.forbid.items():
        for rid in reasons:
            model.add(y[i][s] == 0).only_enforce_if(lit(rid))
    gap = prob.gap()
    for r in prob.hard("shelf_width"):
        a = lit(r.id)
        for s in range(m):
            used = sum(prob.width[i] * f[i][s] + gap * y[i][s] for i in range(n))
            model.add(used <= prob.shelf_width[s] + gap).only_enforce_if(a)
    for r in prob.hard("shelf_load"):
        a = lit(r.id)
        for s in range(m):
            model.add(
                sum(unit_weight(prob, i, s) * f[i][s] for i in range(n)) <= prob.load[s]
            ).only_enforce_if(a)
    for r in prob.hard("display_capacity"):
        model.add(sum(t) <= prob.display.max_slots).only_enforce_if(lit(r.id))
    for r in prob.hard("facings_range"):
        if not isinstance(r, FacingsRange):
            continue
        a = lit(r.id)
        for i, prod in enumerate(prob.products):
            rlo, rhi = r.per_product.get(prod.product_id, (r.min_facings, r.max_facings))
            if rlo > 0:
                model.add(t[i] >= rlo).only_enforce_if([a, p[i]])
            if rhi is not None:
                model.add(t[i] <= rhi).only_enforce_if(a)
    index = prob.index()
    for r in prob.hard("mandatory_products"):
        if not isinstance(r, MandatoryProducts):
            continue
        for pid in r.product_ids:
            if pid in index:
                model.add(p[index[pid]] == 1).only_enforce_if(lit(r.id))
    _post_brand_share(prob, model, t, lit)
    _post_blocking(prob, model, y, lit)
    return CpLayout(model, f, y, t, p, lits)


def _post_brand_share(
    prob: Problem,
    model: cp_model.CpModel,
    t: list[cp_model.IntVar],
    lit: Callable[[str], cp_model.IntVar],
) -> None:
    """Brand's linear space (facings wide x width) over the display's occupied linear space."""
    total = sum(prob.width[i] * t[i] for i in range(prob.n))
    for r in prob.hard("brand_share"):
        if not isinstance(r, BrandShare):
            continue
        a = lit(r.id)
        brand = sum(prob.width[i] * t[i] for i, p in enumerate(prob.products) if p.brand == r.brand)
        lo = _up(r.min_share, SHARE_SCALE)
        hi = _down(r.max_share, SHARE_SCALE)
        if lo > 0:
            model.add(SHARE_SCALE * brand >= lo * total).only_enforce_if(a)
        if hi < SHARE_SCALE:
            model.add(SHARE_SCALE * brand <= hi * total).only_enforce_if(a)


def _post_blocking(
    prob: Problem,
    model: cp_model.CpModel,
    y: list[list[cp_model.IntVar]],
    lit: Callable[[str], cp_model.IntVar],
) -> None:
    """Blocking constraints that the left-to-right order cannot meet on its own.

    Contiguity of one level within a shelf needs no constraint: the layout sorts each shelf by
    group. With several levels (say subcategory and brand), the layout sorts by the broadest
    level first, which keeps a finer group contiguous when it lies within one broader group on
    each shelf; that nesting is posted here (a sufficient condition: it also rules out some
    interleavings that would happen to work). Across shelves, a group's shelves must form one
    unbroken run.
    """
    rules = [r for r in prob.hard("category_blocking") if isinstance(r, CategoryBlocking)]
    order = ("category", "subcategory", "brand")
    ranked = sorted(rules, key=lambda r: order.index(r.level))
    for coarse, fine in itertools.combinations(ranked, 2):
        if coarse.level == fine.level:
            continue
        both = [lit(coarse.id), lit(fine.id)]
        pairs: dict[str, dict[str, list[int]]] = {}
        for i, p in enumerate(prob.products):
            g = getattr(p, fine.level)
            if g is not None:
                pairs.setdefault(g, {}).setdefault(str(getattr(p, coarse.level)), []).append(i)
        for g, by_coarse in sorted(pairs.items()):
            if len(by_coarse) < 2:
                continue
            for s in range(prob.m):
                on = []
                for c, members in sorted(by_coarse.items()):
                    v = model.new_bool_var(f"nest:{fine.id}:{g}:{c}:{s}")
                    model.add_max_equality(v, [y[i][s] for i in members])
                    on.append(v)
                model.add(sum(on) <= 1).only_enforce_if(both)
    for r in prob.hard("category_blocking"):
        if not isinstance(r, CategoryBlocking) or not r.across_shelves:
            continue
        a = lit(r.id)
        groups: dict[str, list[int]] = {}
        for i, p in enumerate(prob.products):
            if getattr(p, r.level) is not None:  # as the validator: no value, no group
                groups.setdefault(str(getattr(p, r.level)), []).append(i)
        for g, members in sorted(groups.items()):
            on = [model.new_bool_var(f"g{r.id}:{g}:{s}") for s in range(prob.m)]
            for s in range(prob.m):
                model.add_max_equality(on[s], [y[i][s] for i in members])
            # no shelf s between two shelves of the group without the group
            for s1 in range(prob.m):
                for s2 in range(s1 + 2, prob.m):
                    for s in range(s1 + 1, s2):
                        model.add_bool_or([on[s1].Not(), on[s2].Not(), on[s]]).only_enforce_if(a)


def top_margin(prob: Problem, top_fraction: float) -> list[int]:
    """Candidates among the top ``ceil(top_fraction * n)`` by unit margin (ties by id)."""
    scored = [
        (mg, p.product_id, i)
        for i, p in enumerate(prob.products)
        if prob.upper[i] > 0 and (mg := margin(p)) is not None
    ]
    scored.sort(key=lambda x: (-x[0], x[1]))
    k = max(1, math.ceil(top_fraction * len(scored) - 1e-9)) if scored else 0
    return [i for _, _, i in scored[:k]]


def post_soft_objective(prob: Problem, cp: CpLayout) -> list[cp_model.LinearExprT]:
    """Soft-rule terms (integers; lower is better) for the exact-facings solver."""
    model, y = cp.model, cp.y
    shelves = prob.display.shelves
    terms: list[cp_model.LinearExprT] = []
    for r in prob.rulebook.rules:
        if not r.applies_to(prob.display.kind):
            continue
        if isinstance(r, EyeLevel) and r.weight > 0:
            eye = [
                s for s, sh in enumerate(shelves) if r.min_cm <= sh.height_from_floor_cm <= r.max_cm
            ]
            for i in top_margin(prob, r.top_fraction) if eye else []:
                # a top product needs one block at eye level (validator: share of top products)
                miss = model.new_bool_var(f"eye{i}")
                model.add(miss + sum(y[i][s] for s in eye) >= cp.p[i])
                terms.append(round(1000 * r.weight) * miss)
        elif isinstance(r, Adjacency) and r.weight > 0:
            terms.extend(_adjacency_terms(prob, cp, r))
        elif isinstance(r, BalancedDaysOfSupply) and r.weight > 0:
            terms.extend(_days_of_supply_terms(prob, cp, r))
    for i in range(prob.n):  # splitting a product over shelves is a last resort
        terms.append(30 * sum(y[i]) - 30 * cp.p[i])
    return terms


def post_brand_objective(prob: Problem, cp: CpLayout) -> list[cp_model.LinearExprT]:
    """Terms for the vertical-brand-blocks soft rules (kept apart from
    :func:`post_soft_objective`, whose terms the backend benchmark mirrors in HiGHS)."""
    terms: list[cp_model.LinearExprT] = []
    for r in prob.rulebook.rules:
        if isinstance(r, VerticalBrandBlocks) and r.weight > 0 and r.applies_to(prob.display.kind):
            terms.extend(_brand_spread_terms(prob, cp, r))
    return terms


def _on_any(
    model: cp_model.CpModel, items: Sequence[cp_model.IntVar], name: str
) -> cp_model.IntVar:
    v = model.new_bool_var(name)
    model.add_max_equality(v, list(items))
    return v


def _adjacency_terms(prob: Problem, cp: CpLayout, rule: Adjacency) -> list[cp_model.LinearExprT]:
    """A pair (product ids, categories or subcategories, as the validator matches them) costs
    ``weight / pairs`` when both are on the display but share no shelf; the layout then puts
    them next to each other on a shared shelf where blocking allows."""
    model, y = cp.model, cp.y
    out: list[cp_model.LinearExprT] = []
    coef = max(1, round(2000 * rule.weight / max(1, len(rule.pairs))))
    for k, (a, b) in enumerate(rule.pairs):
        ia = [i for i, p in enumerate(prob.products) if a in _names(p) and prob.upper[i] > 0]
        ib = [i for i, p in enumerate(prob.products) if b in _names(p) and prob.upper[i] > 0]
        if not ia or not ib:
            continue
        both_here = [
            _on_any(model, [y[i][s] for i in ia], f"adjA{rule.id}:{k}:{s}") for s in range(prob.m)
        ]
        shared = []
        for s in range(prob.m):
            on_b = _on_any(model, [y[i][s] for i in ib], f"adjB{rule.id}:{k}:{s}")
            t = model.new_bool_var(f"adj{rule.id}:{k}:{s}")
            model.add_implication(t, both_here[s])
            model.add_implication(t, on_b)
            shared.append(t)
        present_a = _on_any(model, [cp.p[i] for i in ia], f"adjPA{rule.id}:{k}")
        present_b = _on_any(model, [cp.p[i] for i in ib], f"adjPB{rule.id}:{k}")
        apart = model.new_bool_var(f"apart{rule.id}:{k}")
        model.add(apart + sum(shared) >= present_a + present_b - 1)
        out.append(coef * apart)
    return out


def _names(product: Product) -> tuple[str | None, ...]:
    return (product.product_id, product.category, product.subcategory)


def _brand_spread_terms(
    prob: Problem, cp: CpLayout, rule: VerticalBrandBlocks
) -> list[cp_model.LinearExprT]:
    """Each shelf a brand stands on beyond its first costs ``weight``-scaled points.

    The vertical-brand-blocks rule penalises brands on two or more shelves whose spans share
    no common strip; a brand kept on one shelf cannot be penalised, and a brand on fewer
    shelves is easier to align. This is cheaper than the eye-level term, so a top-margin
    product still goes to eye level.
    """
    model, y = cp.model, cp.y
    brands: dict[str, list[int]] = {}
    for i, p in enumerate(prob.products):
        if p.brand is not None and prob.upper[i] > 0:
            brands.setdefault(p.brand, []).append(i)
    coef = max(1, round(400 * rule.weight))
    out: list[cp_model.LinearExprT] = []
    for brand, members in sorted(brands.items()):
        on = [_on_any(model, [y[i][s] for i in members], f"vb{brand}:{s}") for s in range(prob.m)]
        present = _on_any(model, [cp.p[i] for i in members], f"vbp{brand}")
        model.add(sum(on) >= present)  # redundant: tightens the LP bound
        if prob.exact and REQUEST_ID in cp.assumptions and prob.shelf_width:
            # with the request, the brand's width needs at least this many shelves
            need = sum(prob.width[i] * prob.upper[i] for i in members)
            k = min(prob.m, -(-need // max(1, max(prob.shelf_width))))
            if k > 1:
                model.add(sum(on) >= k).only_enforce_if(cp.assumptions[REQUEST_ID])
        out.append(coef * (sum(on) - present))
    return out


def _days_of_supply_terms(
    prob: Problem, cp: CpLayout, rule: BalancedDaysOfSupply
) -> list[cp_model.LinearExprT]:
    """|days of supply - target| / target in per cent, times the rule weight."""
    out: list[cp_model.LinearExprT] = []
    rows = [
        (i, sale)
        for i, sale in enumerate(prob.sales)
        if sale is not None and sale > 0 and prob.upper[i] > 0
    ]
    if not rows:
        return out
    target = rule.target_days
    if target is None:
        days = [prob.upper[i] * max(prob.high[i]) * max(prob.deep[i]) / sale for i, sale in rows]
        target = sum(days) / len(days)
    for i, sale in rows:
        units = sum(prob.high[i][s] * prob.deep[i][s] * cp.f[i][s] for s in range(prob.m))
        goal = target * sale  # units giving the target days
        coef = max(1, round(100 * rule.weight / goal))  # weight x per cent of deviation
        dev = cp.model.new_int_var(0, 10**9, f"dos{i}")
        k = round(goal)
        cp.model.add(dev >= units - k)
        cp.model.add(dev >= k - units)
        out.append(coef * dev)
    return out
