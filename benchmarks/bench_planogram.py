"""Planogram layout: solve time and quality of the CP-SAT solver against greedy first fit.

Measured in one run:

* ``COOLER_INSTANCES`` random realistic 5-shelf coolers with 30 products each (products drawn
  from the synthetic chain's catalog, facings 1 + a multinomial share of about 85% of the
  display's slots, daily sales for the days-of-supply rule): solve time p50/p95, share of
  returned planograms meeting every hard rule (judged by the validator), mean soft penalty,
  and the same figures for :func:`greedy_layout`.
* A batch of ``BATCH_DISPLAYS`` displays of the synthetic chain (coolers, shelves, end caps,
  checkouts) with the facings of their first planogram: total and per-display times.
* The backend comparison behind the choice of CP-SAT: the same core model (every hard rule,
  the same integer objective) built for CP-SAT and for HiGHS (``highspy``) on the first
  ``BACKEND_INSTANCES`` coolers; times, statuses and objective values.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any

import highspy
import numpy as np
from ortools.sat.python import cp_model

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import Display, DisplayKind, Planogram, Product, Shelf
from shelfwise.exceptions import InfeasiblePlanogramError
from shelfwise.planogram._model import (
    Problem,
    build_cp,
    build_problem,
    facings_bounds,
    post_soft_objective,
    top_margin,
    unit_weight,
)
from shelfwise.planogram.rules import (
    BalancedDaysOfSupply,
    BrandShare,
    CategoryBlocking,
    EyeLevel,
    MandatoryProducts,
    default_rulebook,
)
from shelfwise.planogram.solver import greedy_layout, solve_layout
from shelfwise.planogram.validator import validate

COOLER_INSTANCES = 50
BATCH_DISPLAYS = 200
BACKEND_INSTANCES = 30
N_PRODUCTS = 30
TIME_LIMIT_S = 10.0


def cooler_instance(
    catalog: list[Product], index: int
) -> tuple[Display, dict[str, int], dict[str, float]]:
    """A 5-shelf reach-in cooler with 30 products, their facings and daily sales."""
    rng = np.random.default_rng(1000 + index)
    width = float(rng.choice([76.0, 91.0]))
    depth = float(np.round(rng.uniform(50.0, 62.0), 1))
    load = float(np.round(rng.uniform(60.0, 90.0)))
    shelves, height = [], 12.0
    for s in range(5):
        clearance = float(np.round(rng.uniform(28.0, 31.0), 1))
        shelves.append(Shelf(s, width, clearance, depth, load, round(height, 1)))
        height += clearance + 3.0
    slots = int(5 * width // 7.0)
    display = Display(f"C{index:03d}", "S", DisplayKind.COOLER, slots, tuple(shelves))
    chosen = rng.choice(len(catalog), size=N_PRODUCTS, replace=False)
    extra = rng.multinomial(int(0.85 * slots) - N_PRODUCTS, np.full(N_PRODUCTS, 1 / N_PRODUCTS))
    facings = {catalog[int(c)].product_id: 1 + int(e) for c, e in zip(chosen, extra, strict=True)}
    sales = {pid: float(np.round(rng.gamma(2.0, 1.5), 2)) for pid in facings}
    return display, facings, sales


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def _timed_solve(
    display: Display,
    facings: dict[str, int],
    catalog: dict[str, Product],
    sales: dict[str, float] | None,
) -> tuple[float, Any]:
    started = time.perf_counter()
    try:
        out: Any = solve_layout(
            display, facings, catalog, time_limit_s=TIME_LIMIT_S, unit_sales_per_day=sales
        )
    except InfeasiblePlanogramError as exc:
        out = exc
    return time.perf_counter() - started, out


def _quality(
    display: Display,
    facings: dict[str, int],
    catalog: dict[str, Product],
    sales: dict[str, float] | None,
    result: Any,
) -> tuple[bool | None, float | None, bool, float]:
    """(solver valid, solver soft penalty, greedy valid, greedy soft penalty)."""
    greedy = validate(
        greedy_layout(display, facings, catalog), display, catalog, unit_sales_per_day=sales
    )
    if isinstance(result, InfeasiblePlanogramError):
        return None, None, greedy.is_valid, greedy.soft_penalty
    rep = validate(result, display, catalog, unit_sales_per_day=sales)
    return rep.is_valid, rep.soft_penalty, greedy.is_valid, greedy.soft_penalty


# ------------------------------------------------------------------ HiGHS twin of the model
def _highs_solve(prob: Problem) -> tuple[str, float | None, float]:
    """The CP-SAT model of ``_model.build_cp`` + ``post_soft_objective`` as a HiGHS MIP.

    Every rule enforced (no assumption literals: HiGHS has none), same integer objective.
    Returns (model status, objective, seconds including model building).
    """
    started = time.perf_counter()
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.silent()
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    n, m = prob.n, prob.m
    lo, hi, _ = facings_bounds(prob)
    ub = [max(prob.upper[i], lo[i]) for i in range(n)]
    f = [[h.addIntegral(0, ub[i]) for _ in range(m)] for i in range(n)]
    y = [[h.addIntegral(0, 0 if (i, s) in prob.forbid else 1) for s in range(m)] for i in range(n)]
    t = [h.addIntegral(prob.upper[i], prob.upper[i]) for i in range(n)]
    p = [h.addIntegral(0, 1) for _ in range(n)]
    for i in range(n):
        h.addConstr(t[i] - sum(f[i]) == 0)
        h.addConstr(t[i] - p[i] >= 0)
        h.addConstr(t[i] - ub[i] * p[i] <= 0)
        for s in range(m):
            h.addConstr(f[i][s] - ub[i] * y[i][s] <= 0)
            h.addConstr(f[i][s] - y[i][s] >= 0)
        if lo[i] > 0:
            h.addConstr(t[i] - lo[i] * p[i] >= 0)
        if hi[i] is not None:
            h.addConstr(t[i] <= float(hi[i] or 0))
    gap = prob.gap()
    for s in range(m):
        h.addConstr(
            sum(prob.width[i] * f[i][s] + gap * y[i][s] for i in range(n))
            <= prob.shelf_width[s] + gap
        )
        h.addConstr(sum(unit_weight(prob, i, s) * f[i][s] for i in range(n)) <= prob.load[s])
    h.addConstr(sum(t) <= prob.display.max_slots)
    index = prob.index()
    for r in prob.hard("mandatory_products"):
        if isinstance(r, MandatoryProducts):
            for pid in r.product_ids:
                if pid in index:
                    h.addConstr(p[index[pid]] >= 1)
    for r in prob.hard("brand_share"):
        if isinstance(r, BrandShare):
            total = sum(prob.width[i] * t[i] for i in range(n))
            brand = sum(
                prob.width[i] * t[i] for i, q in enumerate(prob.products) if q.brand == r.brand
            )
            h.addConstr(brand - r.min_share * total >= 0)
            h.addConstr(brand - r.max_share * total <= 0)
    for r in prob.hard("category_blocking"):
        if isinstance(r, CategoryBlocking) and r.across_shelves:
            raise NotImplementedError("the benchmark rulebook blocks within shelves only")
    objective: Any = 0
    for r in prob.rulebook.rules:
        if isinstance(r, EyeLevel) and r.weight > 0:
            eye = [
                s
                for s, sh in enumerate(prob.display.shelves)
                if r.min_cm <= sh.height_from_floor_cm <= r.max_cm
            ]
            for i in top_margin(prob, r.top_fraction) if eye else []:
                miss = h.addIntegral(0, 1)
                h.addConstr(miss + sum(y[i][s] for s in eye) - p[i] >= 0)
                objective = objective + round(1000 * r.weight) * miss
        elif isinstance(r, BalancedDaysOfSupply) and r.weight > 0:
            objective = objective + _highs_dos(h, prob, f, r)
    for i in range(n):
        objective = objective + 30 * sum(y[i]) - 30 * p[i]
    h.minimize(objective)
    status = h.modelStatusToString(h.getModelStatus())
    value = h.getInfo().objective_function_value if status == "Optimal" else None
    return status, value, time.perf_counter() - started


def _highs_dos(
    h: highspy.Highs, prob: Problem, f: list[list[Any]], rule: BalancedDaysOfSupply
) -> Any:
    rows = [
        (i, s) for i, s in enumerate(prob.sales) if s is not None and s > 0 and prob.upper[i] > 0
    ]
    if not rows:
        return 0
    target = rule.target_days
    if target is None:
        days = [prob.upper[i] * max(prob.high[i]) * max(prob.deep[i]) / s for i, s in rows]
        target = sum(days) / len(days)
    out: Any = 0
    for i, sale in rows:
        units = sum(prob.high[i][s] * prob.deep[i][s] * f[i][s] for s in range(prob.m))
        goal = target * sale
        k = round(goal)
        dev = h.addIntegral(0, 10**9)
        h.addConstr(dev - units >= -k)
        h.addConstr(dev + units >= k)
        out = out + max(1, round(100 * rule.weight / goal)) * dev
    return out


def _cpsat_core(prob: Problem) -> tuple[str, float | None, float]:
    """The same model through CP-SAT, as :func:`solve_layout` builds it."""
    started = time.perf_counter()
    cp = build_cp(prob)
    cp.model.minimize(sum(post_soft_objective(prob, cp)))
    for lit in cp.assumptions.values():
        cp.model.add(lit == 1)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = TIME_LIMIT_S
    status = solver.solve(cp.model)
    name = solver.status_name(status)
    value = solver.objective_value if status == cp_model.OPTIMAL else None
    return name, value, time.perf_counter() - started


def compare_backends(catalog: dict[str, Product], products: list[Product]) -> dict[str, Any]:
    """Time CP-SAT and HiGHS on the same core model of ``BACKEND_INSTANCES`` coolers."""
    rulebook = default_rulebook()
    cps, his, agree, statuses = [], [], 0, {"cp_sat": {}, "highs": {}}  # type: ignore[var-annotated]
    for k in range(BACKEND_INSTANCES):
        display, facings, sales = cooler_instance(products, k)
        ids = sorted(facings)
        prob = build_problem(
            display,
            [catalog[p] for p in ids],
            [facings[p] for p in ids],
            rulebook,
            exact=True,
            unit_sales_per_day=sales,
        )
        c_status, c_val, c_s = _cpsat_core(prob)
        h_status, h_val, h_s = _highs_solve(prob)
        cps.append(c_s)
        his.append(h_s)
        statuses["cp_sat"][c_status] = statuses["cp_sat"].get(c_status, 0) + 1
        statuses["highs"][h_status] = statuses["highs"].get(h_status, 0) + 1
        agree += int(c_val is not None and h_val is not None and abs(c_val - h_val) < 1e-6)
    return {
        "instances": BACKEND_INSTANCES,
        "cp_sat_p50_s": round(statistics.median(cps), 4),
        "cp_sat_p95_s": round(_pct(cps, 95), 4),
        "cp_sat_mean_s": round(statistics.fmean(cps), 4),
        "highs_p50_s": round(statistics.median(his), 4),
        "highs_p95_s": round(_pct(his, 95), 4),
        "highs_mean_s": round(statistics.fmean(his), 4),
        "same_optimum": agree,
        "statuses": statuses,
    }


def run() -> dict[str, Any]:
    """Measure and return the figures for ``results/planogram.json``."""
    chain = generate_chain(
        ChainConfig(n_stores=67, n_products=60, displays_per_store=3, weeks=2), random_state=0
    )
    catalog = {p.product_id: p for p in chain.products}
    products = list(chain.products)
    times: list[float] = []
    ok: list[bool] = []
    soft: list[float] = []
    g_ok: list[bool] = []
    g_soft: list[float] = []
    infeasible = 0
    for k in range(COOLER_INSTANCES):
        display, facings, sales = cooler_instance(products, k)
        elapsed, result = _timed_solve(display, facings, catalog, sales)
        times.append(elapsed)
        valid, pen, gv, gp = _quality(display, facings, catalog, sales, result)
        infeasible += valid is None
        if valid is not None:
            ok.append(valid)
            soft.append(pen or 0.0)
        g_ok.append(gv)
        g_soft.append(gp)
    first: dict[str, Planogram] = {}
    for pg in chain.planograms:
        first.setdefault(pg.display_id, pg)
    displays = [d for d in chain.displays if d.display_id in first][:BATCH_DISPLAYS]
    b_times: list[float] = []
    b_ok: list[bool] = []
    b_g_ok: list[bool] = []
    b_infeasible = 0
    for d in displays:
        facings = dict(first[d.display_id].facings())
        elapsed, result = _timed_solve(d, facings, catalog, None)
        b_times.append(elapsed)
        valid, _, gv, _ = _quality(d, facings, catalog, None, result)
        b_infeasible += valid is None
        if valid is not None:
            b_ok.append(valid)
        b_g_ok.append(gv)
    batch_total = sum(b_times)
    backends = compare_backends(catalog, products)
    return {
        "instances": COOLER_INSTANCES,
        "products_per_instance": N_PRODUCTS,
        "shelves_per_instance": 5,
        "solve_p50_s": round(statistics.median(times), 4),
        "solve_p95_s": round(_pct(times, 95), 4),
        "solve_max_s": round(max(times), 4),
        "solver_infeasible": infeasible,
        "hard_satisfaction": round(sum(ok) / len(ok), 4) if ok else None,
        "greedy_hard_satisfaction": round(sum(g_ok) / len(g_ok), 4),
        "soft_penalty_mean": round(statistics.fmean(soft), 4) if soft else None,
        "greedy_soft_penalty_mean": round(statistics.fmean(g_soft), 4),
        "batch_displays": len(displays),
        "batch_solve_total_s": round(batch_total, 2),
        "batch_solve_p50_s": round(statistics.median(b_times), 4),
        "batch_solve_p95_s": round(_pct(b_times, 95), 4),
        "batch_solver_infeasible": b_infeasible,
        "batch_hard_satisfaction": round(sum(b_ok) / len(b_ok), 4) if b_ok else None,
        "batch_greedy_hard_satisfaction": round(sum(b_g_ok) / len(b_g_ok), 4),
        "target_p50_s": 1.0,
        "meets_target": statistics.median(times) < 1.0 and all(ok),
        "backends": backends,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
    }
