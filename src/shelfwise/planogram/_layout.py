"""Left-to-right order of blocks on a shelf, their x positions, and the across-shelves x model.

Shared by the solver and repair (``shelfwise.planogram._model`` holds the facings model).

Order. Every product belongs to a *fine group*: its values at the blocked levels (broadest
first, see :func:`~shelfwise.planogram._model.group_levels`). One global order of fine groups
holds on every shelf: sorted by key (unknown values last), then adjusted so that the groups of
an adjacency pair naming categories or subcategories become neighbours where that keeps every
blocking level contiguous. Within a group, blocks go by brand, then product id; then product
blocks are moved next to their adjacency partner where that keeps every group contiguous.

x model. With ``category_blocking`` rules ``across_shelves``, each fine group ``g`` on shelf
``s`` gets a start ``X[g, s]`` (integer length units) and a width ``W[g, s]`` (its blocks and
the gaps between them); groups keep the global order with at least the gap between them and
end on the shelf, and for each blocked value present on two adjacent shelves the spans
``[min X, max X + W]`` overlap by at least :data:`MIN_OVERLAP`. This is exactly the validator's
across-shelves condition (b), posted behind the rule's assumption literal; the validator's
condition (a) (consecutive shelves) is posted in ``_model``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from ortools.sat.python import cp_model

from shelfwise.domain import Position, Product
from shelfwise.planogram._model import LENGTH_SCALE, CpLayout, Problem, build_cp, group_levels
from shelfwise.planogram.rules import Adjacency, CategoryBlocking

FineKey = tuple[tuple[bool, str], ...]
"""Per blocked level: (value unknown, value)."""

MIN_OVERLAP = LENGTH_SCALE // 10
"""Least overlap (1 mm in length units) of a group's spans on adjacent shelves; it absorbs the
rounding up of product widths to whole length units."""


def fine_key(product: Product, levels: Sequence[str]) -> FineKey:
    """The fine group of a product (unknown values sort last)."""
    return tuple((getattr(product, lv) is None, str(getattr(product, lv) or "")) for lv in levels)


def matches(product: Product, name: str) -> bool:
    """Whether an adjacency name means this product (as the validator reads it)."""
    return name in (product.product_id, product.category, product.subcategory)


def adjacency_pairs(prob: Problem) -> list[tuple[str, str]]:
    """Adjacency pairs of the soft rules acting on the display (weight > 0)."""
    return [
        pair
        for r in prob.rulebook.rules
        if isinstance(r, Adjacency) and r.weight > 0 and r.applies_to(prob.display.kind)
        for pair in r.pairs
    ]


def _runs_ok(values: Sequence[object]) -> bool:
    """Each value other than ``None`` forms one run."""
    seen: set[object] = set()
    prev: object = None
    for v in values:
        if v is not None and v != prev:
            if v in seen:
                return False
            seen.add(v)
        prev = v
    return True


def _prefix_contiguous(keys: Sequence[FineKey]) -> bool:
    depth = len(keys[0]) if keys else 0
    return all(_runs_ok([k[: j + 1] for k in keys]) for j in range(depth))


def _moves(seq: list[int], u: int, v: int) -> list[list[int]]:
    """Sequences with ``v`` moved right after or before ``u`` (and ``u`` next to ``v``)."""
    out = []
    for mover, anchor in ((v, u), (u, v)):
        rest = [k for k in seq if k != mover]
        at = rest.index(anchor)
        out.append([*rest[: at + 1], mover, *rest[at + 1 :]])
        out.append([*rest[:at], mover, *rest[at:]])
    return out


def group_order(prob: Problem) -> list[FineKey]:
    """The global left-to-right order of fine groups (see the module docstring)."""
    levels = group_levels(prob.rulebook, prob.display)
    keys = sorted({fine_key(p, levels) for p in prob.products})
    if not levels:
        return keys
    for a, b in adjacency_pairs(prob):
        ka = {fine_key(p, levels) for p in prob.products if matches(p, a)}
        kb = {fine_key(p, levels) for p in prob.products if matches(p, b)}
        if not ka or not kb or ka & kb:
            continue
        idx = list(range(len(keys)))
        if any({keys[s], keys[t]} & ka and {keys[s], keys[t]} & kb for s, t in _pairs(idx)):
            continue
        for u, v in itertools.product(sorted(ka), sorted(kb)):
            trials = _moves(idx, keys.index(u), keys.index(v))
            ok = [t for t in trials if _prefix_contiguous([keys[k] for k in t])]
            if ok:
                keys = [keys[k] for k in ok[0]]
                break
    return keys


def _pairs(seq: Sequence[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(seq))


def shelf_order(
    prob: Problem, present: Sequence[int], order: Sequence[FineKey], *, fixed_groups: bool
) -> list[int]:
    """Products on one shelf, left to right (see the module docstring).

    With ``fixed_groups`` (the x model is in use) products move only within their group.
    """
    levels = group_levels(prob.rulebook, prob.display)
    rank = {k: r for r, k in enumerate(order)}
    products = prob.products

    def key(i: int) -> tuple[object, ...]:
        p = products[i]
        return (rank[fine_key(p, levels)], p.brand is None, p.brand or "", p.product_id)

    here = sorted(present, key=key)
    pairs = adjacency_pairs(prob)
    if not pairs or len(here) < 2:
        return here

    def met(seq: Sequence[int]) -> int:
        return sum(
            any(
                (matches(products[u], a) and matches(products[v], b))
                or (matches(products[u], b) and matches(products[v], a))
                for u, v in itertools.pairwise(seq)
            )
            for a, b in pairs
        )

    def allowed(seq: Sequence[int]) -> bool:
        if fixed_groups:
            groups = [rank[fine_key(products[i], levels)] for i in seq]
            if groups != sorted(groups):
                return False
        return all(
            _runs_ok([getattr(products[i], lv) for i in seq]) for lv in levels
        )  # as the validator counts runs: unknown values belong to no group

    score = met(here)
    for a, b in pairs:
        us = [i for i in here if matches(products[i], a)]
        vs = [i for i in here if matches(products[i], b)]
        done = False
        for u, v in itertools.product(us, vs):
            if u == v or done:
                continue
            for trial in _moves(here, u, v):
                if allowed(trial) and met(trial) > score:
                    here, score, done = trial, met(trial), True
                    break
    return here


def build_layout_cp(prob: Problem) -> CpLayout:
    """:func:`~shelfwise.planogram._model.build_cp` plus the across-shelves x model."""
    cp = build_cp(prob)
    post_x_model(prob, cp)
    return cp


def post_x_model(prob: Problem, cp: CpLayout) -> None:
    """Post group starts and the span-overlap condition (into ``cp.starts``), if needed."""
    model, f, y = cp.model, cp.f, cp.y

    def lit(rule_id: str) -> cp_model.IntVar:
        if rule_id not in cp.assumptions:
            cp.assumptions[rule_id] = model.new_bool_var(f"rule:{rule_id}")
        return cp.assumptions[rule_id]

    rules = [r for r in prob.hard("category_blocking") if isinstance(r, CategoryBlocking)]
    across = [r for r in rules if r.across_shelves]
    if not across:
        return
    levels = group_levels(prob.rulebook, prob.display)
    order = group_order(prob)
    members = [[i for i, p in enumerate(prob.products) if fine_key(p, levels) == k] for k in order]
    gap = prob.gap()
    xon = model.new_bool_var("x-layout")
    for r in across:
        model.add_implication(lit(r.id), xon)
    width_lits = [lit(r.id) for r in prob.hard("shelf_width")]
    big = sum(prob.width[i] * max(prob.upper[i], 1) + gap for i in range(prob.n)) + max(
        prob.shelf_width, default=0
    )
    on: dict[tuple[int, int], cp_model.IntVar] = {}
    wide: dict[tuple[int, int], cp_model.IntVar] = {}
    start: dict[tuple[int, int], cp_model.IntVar] = {}
    for s in range(prob.m):
        for g, mem in enumerate(members):
            on[g, s] = model.new_bool_var(f"xon{g}_{s}")
            model.add_max_equality(on[g, s], [y[i][s] for i in mem])
            wide[g, s] = model.new_int_var(0, big, f"w{g}_{s}")
            used = sum(prob.width[i] * f[i][s] + gap * y[i][s] for i in mem)
            model.add(wide[g, s] == used - gap * on[g, s])
            start[g, s] = model.new_int_var(0, big, f"x{g}_{s}")
            for wl in width_lits:
                model.add(start[g, s] + wide[g, s] <= prob.shelf_width[s]).only_enforce_if(
                    [xon, wl]
                )
        for g, h in itertools.combinations(range(len(members)), 2):
            model.add(start[h, s] >= start[g, s] + wide[g, s] + gap).only_enforce_if(
                [xon, on[g, s], on[h, s]]
            )
    for r in across:
        a = lit(r.id)
        j = levels.index(r.level)
        values = sorted({k[j][1] for k in order if not k[j][0]})
        for value in values:
            gs = [g for g, k in enumerate(order) if k[j] == (False, value)]
            lo: list[cp_model.LinearExpr] = []
            hi: list[cp_model.LinearExpr] = []
            here: list[cp_model.IntVar] = []
            for s in range(prob.m):
                if len(gs) == 1:
                    here.append(on[gs[0], s])
                    lo.append(start[gs[0], s])
                    hi.append(start[gs[0], s] + wide[gs[0], s])
                    continue
                any_on = model.new_bool_var(f"xc{r.id}:{value}:{s}")
                model.add_max_equality(any_on, [on[g, s] for g in gs])
                first = model.new_int_var(0, big, f"xlo{r.id}:{value}:{s}")
                last = model.new_int_var(0, 2 * big, f"xhi{r.id}:{value}:{s}")
                firsts, lasts = [], []
                for g in gs:
                    x0 = model.new_int_var(0, big, f"x0{g}_{s}")
                    x1 = model.new_int_var(0, 2 * big, f"x1{g}_{s}")
                    model.add(x0 == start[g, s]).only_enforce_if(on[g, s])
                    model.add(x0 == big).only_enforce_if(on[g, s].Not())
                    model.add(x1 == start[g, s] + wide[g, s]).only_enforce_if(on[g, s])
                    model.add(x1 == 0).only_enforce_if(on[g, s].Not())
                    firsts.append(x0)
                    lasts.append(x1)
                model.add_min_equality(first, firsts)
                model.add_max_equality(last, lasts)
                here.append(any_on)
                lo.append(first)
                hi.append(last)
            for s in range(prob.m - 1):
                both = [a, here[s], here[s + 1]]
                model.add(hi[s] >= lo[s + 1] + MIN_OVERLAP).only_enforce_if(both)
                model.add(hi[s + 1] >= lo[s] + MIN_OVERLAP).only_enforce_if(both)
    cp.starts.update(start)


def layout_positions(
    prob: Problem,
    counts: Sequence[Sequence[int]],
    starts: dict[tuple[int, int], int] | None = None,
) -> tuple[Position, ...]:
    """Blocks per shelf in :func:`shelf_order`, packed from the left with the gap between them.

    With ``starts`` (fine group index, shelf) -> length units, each group starts there (the x
    model's solution) instead. Positions are computed in integer length units (widths rounded
    up), so every gap is at least the rulebook's and every block ends where the model says.
    """
    levels = group_levels(prob.rulebook, prob.display)
    order = group_order(prob)
    rank = {k: r for r, k in enumerate(order)}
    gap = prob.gap()
    out: list[Position] = []
    for s in range(prob.m):
        present = [i for i in range(prob.n) if counts[i][s] > 0]
        here = shelf_order(prob, present, order, fixed_groups=starts is not None)
        x = 0
        current: int | None = None
        for i in here:
            g = rank[fine_key(prob.products[i], levels)]
            if starts is not None and g != current:
                x, current = starts[(g, s)], g
            out.append(
                Position(
                    shelf_index=s,
                    x_cm=x / LENGTH_SCALE,
                    product_id=prob.products[i].product_id,
                    facings_wide=int(counts[i][s]),
                    facings_high=prob.high[i][s],
                    facings_deep=prob.deep[i][s],
                )
            )
            x += counts[i][s] * prob.width[i] + gap
    return tuple(out)
