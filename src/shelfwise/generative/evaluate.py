"""Judging generated planograms against honest baselines, on held-out stores.

Every method hands out planograms through the same finish step (validator, then repair when a
hard rule is broken), and every output is scored the same way:

``raw_valid``            share meeting every hard rule before repair (a case the method failed
                         on counts as invalid, here and in ``valid_after_repair``);
                         ``raw_valid_by_family`` the share free of each rule family's violations
``naive_raw_valid``      (diffusion only) the same for the slot-by-slot nearest-product decode
                         of the very same tensors: the model's own validity, no structure added
``valid_after_repair``   share valid after repair (1.0 unless repair failed)
``facings_changed``      mean ``sum_p |reference_p - final_p|`` per planogram (reference: the
                         requested assortment, or the raw decode of a generated one)
``revenue_per_day``      mean expected revenue per day of the final planograms (a callable:
                         the chain's truth, or a fitted demand model)
``style_layout``         total-variation distance between the planogram's (shelf x
                         subcategory) facings shares and the store display's own history
                         (mean over its versions); 0 = same arrangement statistics
``style_products``       mean Jaccard distance between the product set and the history's
``diversity``            mean pairwise Jaccard distance of (shelf, product) pairs between the
                         samples drawn for one display (0 for a deterministic method)
``novelty``              share of planograms whose (shelf, product, facings) set equals no
                         training planogram's
``p50_ms``, ``p95_ms``   wall time per planogram: sampling + decoding + validation + repair
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import numpy as np

from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import InfeasiblePlanogramError, InvalidParameterError
from shelfwise.generative.pipelines.planogram import GeneratedPlanogram, finish
from shelfwise.planogram.rules import HARD_RULE_TYPES, Rulebook
from shelfwise.planogram.solver import greedy_layout, solve_layout
from shelfwise.planogram.validator import validate

RevenueFn = Callable[[str, Mapping[str, int]], float]
"""``revenue(store_id, facings) -> expected revenue per day``."""


@dataclass(frozen=True)
class EvalCase:
    """One held-out display: where it is, its style class, its history and current facings."""

    display: Display
    cluster: int
    history: tuple[Planogram, ...]

    @property
    def facings(self) -> Mapping[str, int]:
        """The latest historical planogram's facings (the assortment to arrange)."""
        return self.history[-1].facings()


def eval_cases(
    planograms: Sequence[Planogram],
    displays: Mapping[str, Display],
    clusters: Mapping[str, int],
    store_ids: Iterable[str],
) -> list[EvalCase]:
    """A case per display of the given stores that has a planogram history."""
    keep = set(store_ids)
    by_display: dict[str, list[Planogram]] = {}
    for p in planograms:
        d = displays.get(p.display_id)
        if d is not None and d.store_id in keep:
            by_display.setdefault(p.display_id, []).append(p)
    out = []
    for did in sorted(by_display):
        d = displays[did]
        hist = tuple(sorted(by_display[did], key=lambda p: p.version))
        out.append(EvalCase(display=d, cluster=int(clusters[d.store_id]), history=hist))
    return out


def _profile(
    plan: Planogram, display: Display, catalog: Mapping[str, Product]
) -> dict[tuple[int, str], float]:
    out: dict[tuple[int, str], float] = {}
    total = 0.0
    for pos in plan.positions:
        sub = catalog[pos.product_id].subcategory or "?" if pos.product_id in catalog else "?"
        out[(pos.shelf_index, sub)] = out.get((pos.shelf_index, sub), 0.0) + pos.facings_wide
        total += pos.facings_wide
    return {k: v / total for k, v in out.items()} if total else {}


def _tv(a: Mapping[tuple[int, str], float], b: Mapping[tuple[int, str], float]) -> float:
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


def _jaccard_distance(a: AbstractSet[object], b: AbstractSet[object]) -> float:
    union = a | b
    return 1.0 - len(a & b) / len(union) if union else 0.0


def _signature(plan: Planogram) -> frozenset[tuple[int, str, int]]:
    return frozenset((p.shelf_index, p.product_id, p.facings_wide) for p in plan.positions)


def style_distances(
    plan: Planogram, case: EvalCase, catalog: Mapping[str, Product]
) -> tuple[float, float]:
    """(layout, products) distances of a planogram to its store display's history."""
    mine = _profile(plan, case.display, catalog)
    hist = [_profile(h, case.display, catalog) for h in case.history]
    keys = set().union(*hist) if hist else set()
    mean = {k: float(np.mean([h.get(k, 0.0) for h in hist])) for k in keys}
    products = set(plan.facings())
    prod = float(np.mean([_jaccard_distance(products, set(h.facings())) for h in case.history]))
    return _tv(mine, mean), prod


@dataclass(frozen=True)
class MethodResult:
    """Scores of one method on one task (see the module docstring)."""

    method: str
    task: str
    n: int
    raw_valid: float
    raw_valid_by_family: Mapping[str, float]
    valid_after_repair: float
    facings_changed: float
    facings_changed_share: float
    revenue_per_day: float
    style_layout: float
    style_products: float
    diversity: float
    novelty: float
    p50_ms: float
    p95_ms: float
    naive_raw_valid: float | None = None
    naive_raw_valid_by_family: Mapping[str, float] | None = None
    failures: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        """Plain-JSON form (the keys of ``generative.json``)."""
        out: dict[str, object] = {
            "task": self.task,
            "n": self.n,
            "raw_valid": round(self.raw_valid, 4),
            "raw_valid_by_family": {k: round(v, 4) for k, v in self.raw_valid_by_family.items()},
            "valid_after_repair": round(self.valid_after_repair, 4),
            "facings_changed": round(self.facings_changed, 3),
            "facings_changed_share": round(self.facings_changed_share, 4),
            "revenue_per_day": round(self.revenue_per_day, 3),
            "style_layout": round(self.style_layout, 4),
            "style_products": round(self.style_products, 4),
            "diversity": round(self.diversity, 4),
            "novelty": round(self.novelty, 4),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "failures": self.failures,
        }
        if self.naive_raw_valid is not None:
            out["naive_raw_valid"] = round(self.naive_raw_valid, 4)
        if self.naive_raw_valid_by_family is not None:
            out["naive_raw_valid_by_family"] = {
                k: round(v, 4) for k, v in self.naive_raw_valid_by_family.items()
            }
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def score(
    method: str,
    task: str,
    outputs: Sequence[Sequence[GeneratedPlanogram]],
    cases: Sequence[EvalCase],
    catalog: Mapping[str, Product],
    rulebook: Rulebook,
    *,
    revenue: RevenueFn,
    training: Iterable[Planogram] = (),
    failures: int = 0,
) -> MethodResult:
    """Score a method's outputs; ``outputs[k]`` are the samples drawn for ``cases[k]``."""
    if len(outputs) != len(cases):
        raise InvalidParameterError(
            f"outputs must hold one list per case ({len(cases)}); got {len(outputs)}"
        )
    flat = [(g, c) for gs, c in zip(outputs, cases, strict=True) for g in gs]
    if not flat:
        raise InvalidParameterError(f"outputs of method {method!r} hold no planogram")
    seen = {_signature(p) for p in training}
    fam: dict[str, list[bool]] = {f: [] for f in HARD_RULE_TYPES}
    naive: list[bool] = []
    naive_fam: dict[str, list[bool]] = {f: [] for f in HARD_RULE_TYPES}
    for g, c in flat:
        broken = {v.rule_type for v in g.raw_report.hard}
        for f in fam:
            fam[f].append(f not in broken)
        if g.naive is not None:
            naive_report = validate(g.naive, c.display, catalog, rulebook)
            naive.append(naive_report.is_valid)
            naive_broken = {v.rule_type for v in naive_report.hard}
            for f in naive_fam:
                naive_fam[f].append(f not in naive_broken)
    present = {f for f in fam if any(not ok for ok in fam[f])} | {
        r.type for r in rulebook.rules if r.type in HARD_RULE_TYPES
    }
    styles = [style_distances(g.planogram, c, catalog) for g, c in flat]
    div: list[float] = []
    for gs in outputs:
        sets = [{(p.shelf_index, p.product_id) for p in g.planogram.positions} for g in gs]
        div.extend(_jaccard_distance(a, b) for a, b in itertools.combinations(sets, 2))
    ms = np.array([g.total_ms for g, _ in flat])
    ref = np.array([max(1, sum(g.reference.values())) for g, _ in flat], dtype=float)
    changed = np.array([g.facings_changed for g, _ in flat], dtype=float)
    return MethodResult(
        method=method,
        task=task,
        n=len(flat),
        raw_valid=float(sum(g.raw_valid for g, _ in flat) / (len(flat) + failures)),
        raw_valid_by_family={f: float(np.mean(v)) for f, v in fam.items() if f in present},
        valid_after_repair=float(
            sum(validate(g.planogram, c.display, catalog, rulebook).is_valid for g, c in flat)
            / (len(flat) + failures)
        ),
        facings_changed=float(changed.mean()),
        facings_changed_share=float(changed.sum() / ref.sum()),
        revenue_per_day=float(
            np.mean([revenue(c.display.store_id, g.planogram.facings()) for g, c in flat])
        ),
        style_layout=float(np.mean([s[0] for s in styles])),
        style_products=float(np.mean([s[1] for s in styles])),
        diversity=float(np.mean(div)) if div else 0.0,
        novelty=float(np.mean([_signature(g.planogram) not in seen for g, _ in flat])),
        p50_ms=float(np.percentile(ms, 50)),
        p95_ms=float(np.percentile(ms, 95)),
        naive_raw_valid=float(np.mean(naive)) if naive else None,
        naive_raw_valid_by_family=(
            {f: float(np.mean(v)) for f, v in naive_fam.items() if f in present} if naive else None
        ),
        failures=failures,
    )


# ------------------------------------------------------------------ baselines
def popular_assortment(
    display: Display,
    cluster_history: Sequence[Planogram],
    catalog: Mapping[str, Product],
    allowed: Callable[[str], bool],
) -> dict[str, int]:
    """The greedy generator's assortment: the cluster's most stocked products, median facings.

    Products are ranked by how many of the cluster's historical planograms (of displays of the
    same kind) hold them; each comes with its median facings there, while the total stays
    within ``max_slots`` and only products that fit some shelf of the display are taken.
    """
    count: dict[str, int] = {}
    facings: dict[str, list[int]] = {}
    for plan in cluster_history:
        for pid, q in plan.facings().items():
            count[pid] = count.get(pid, 0) + 1
            facings.setdefault(pid, []).append(q)
    out: dict[str, int] = {}
    total = 0
    for pid in sorted(count, key=lambda p: (-count[p], p)):
        if pid not in catalog or not allowed(pid):
            continue
        q = max(1, int(np.median(facings[pid])))
        if total + q > display.max_slots:
            continue
        out[pid] = q
        total += q
    return out


def run_baseline(
    method: str,
    cases: Sequence[EvalCase],
    assortments: Sequence[Mapping[str, int]],
    catalog: Mapping[str, Product],
    rulebook: Rulebook,
    *,
    time_limit_s: float = 10.0,
) -> tuple[list[list[GeneratedPlanogram]], int]:
    """Lay out each case's assortment with ``"solver"`` (CP-SAT) or ``"greedy"`` first fit.

    Returns the outputs (one per case; a case the solver finds infeasible is left out and
    counted) and the number of failures.
    """
    if method not in ("solver", "greedy"):
        raise InvalidParameterError(f"method must be 'solver' or 'greedy'; got {method!r}")
    if len(assortments) != len(cases):
        raise InvalidParameterError(
            f"assortments must hold one assortment per case ({len(cases)}); got {len(assortments)}"
        )
    outputs: list[list[GeneratedPlanogram]] = []
    failures = 0
    for case, wanted in zip(cases, assortments, strict=True):
        t0 = time.perf_counter()
        try:
            if method == "solver":
                raw = solve_layout(
                    case.display, wanted, catalog, rulebook, time_limit_s=time_limit_s
                )
            else:
                raw = greedy_layout(case.display, wanted, catalog)
            made = (time.perf_counter() - t0) * 1000.0
            outputs.append(
                [finish(raw, case.display, catalog, rulebook, reference=wanted, decode_ms=made)]
            )
        except InfeasiblePlanogramError:
            failures += 1
            outputs.append([])
    return outputs, failures
