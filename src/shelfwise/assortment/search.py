"""EdgeRec3D's heuristic search (Algorithm 2, §3.5) and the exact knapsack optimum.

The search keeps high-payoff products and slowly trades low-payoff ones for better ones while
accounting for uncertainty: products are scored by PEPF (Eq. 6, E[r] - lambda * sd[r]); the
``n_swaps`` (V) lowest-scoring products on the display have their facings decayed,
delta(t, q0) = floor(q0 / 2^t); the freed facings go to a candidate chosen epsilon-greedily
(a random candidate with probability epsilon, else the highest-PEPF one); the rest of the
budget (max_slots) is filled with the high-PEPF products already on the display, best first.

Decay without memory: floor(floor(q0 / 2^t) / 2) = floor(q0 / 2^(t+1)), so halving the current
facings at each recommendation follows the paper's schedule exactly, with no state to keep.

Two readings of the fill step are implemented (``fill``):

* ``"keep"`` (the paper's pseudo-code read literally, one pass): the products already on the
  display keep their current facings, best PEPF first, until the budget is used. A product's
  facings can then only fall, and budget the display did not use stays unused. Measured on the
  bundled chain this barely moves a display in ten recommendations (see the README).
* ``"marginal"`` (the default of :class:`~shelfwise.assortment.policies.EdgeRec3DPolicy`):
  "fill the remaining budget with the high PEPF products already in the state" is read as
  filling it facing by facing, each to the product on the display whose PEPF gains most from
  one more facing (so a strong product can grow), and the paper's time steps T (``steps``)
  are run within one recommendation: each step decays the V weakest products, brings in one
  candidate per decayed product with a single facing, refills by marginal PEPF, and is kept
  only when it raises the display's total PEPF (the "keep high payoff products" principle).
  Exploration (a random candidate with probability epsilon) happens in the first step only and
  is kept whatever its score, so a call explores about as much as the literal reading does.
  A step that does not raise the total marks its decayed products as tried, and the next
  step decays the weakest untried ones; the search ends after ``steps`` steps or when every
  product on the display has been tried. Products are ranked for decay by PEPF
  per facing (what each facing of theirs earns), not by total PEPF, which would protect a
  weak product merely because it holds many facings.

This follows the paper's text (V swaps, then fill); the pseudo-code's inner ``while B > 0``
loop, read literally, would decay most of the display per call, which the text does not
describe.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shelfwise.exceptions import InvalidParameterError


@dataclass(frozen=True)
class SearchResult:
    """A recommended display state and what the search changed."""

    facings: dict[str, int]
    """Recommended facings per product (products with 0 facings are left out)."""
    decayed: tuple[str, ...]
    """Products whose facings were decayed (the V lowest PEPF)."""
    added: tuple[str, ...]
    """Candidates brought in with the freed facings."""


def _score(scores: Mapping[str, np.ndarray], product: str, q: int) -> float:
    row = scores.get(product)
    if row is None or q <= 0:
        return float("-inf") if row is None else 0.0
    return float(row[min(q, len(row) - 1)])


def heuristic_search(
    state: Mapping[str, int],
    candidates: Sequence[str],
    scores: Mapping[str, np.ndarray],
    *,
    max_slots: int,
    n_swaps: int = 2,
    epsilon: float = 0.05,
    steps: int = 1,
    fill: Literal["keep", "marginal"] = "keep",
    rng: np.random.Generator,
) -> SearchResult:
    """Recommend facings per product for one display (Algorithm 2).

    Parameters
    ----------
    state : mapping of product_id to facings
        The display's current (observed) state S.
    candidates : sequence of product_id
        Candidate set C (products not on the display), e.g. from
        :func:`~shelfwise.assortment.candidates.generate_candidates`.
    scores : mapping of product_id to array
        PEPF score of each product at q facings, ``scores[p][q]`` for q = 0..Q (index 0 is
        ignored; q beyond Q uses the last entry). Products without scores are never chosen.
    max_slots : int
        Facings budget M of the display.
    n_swaps : int
        V, products decayed and replaced per step.
    epsilon : float
        Probability of a random (instead of the best) candidate for each swap.
    steps : int
        T, search steps within this recommendation (``fill="marginal"`` only; the literal
        reading makes one pass).
    fill : {"keep", "marginal"}
        How the rest of the budget is filled (see the module docstring).
    rng : numpy.random.Generator
        Randomness of the epsilon-greedy choice.

    Returns
    -------
    SearchResult
    """
    if isinstance(max_slots, bool) or not isinstance(max_slots, int | np.integer) or max_slots < 1:
        raise InvalidParameterError(f"max_slots must be an integer >= 1; got {max_slots!r}")
    if isinstance(n_swaps, bool) or not isinstance(n_swaps, int | np.integer) or n_swaps < 0:
        raise InvalidParameterError(f"n_swaps must be an integer >= 0; got {n_swaps!r}")
    if not 0.0 <= epsilon <= 1.0:
        raise InvalidParameterError(f"epsilon must be in [0, 1]; got {epsilon}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise InvalidParameterError(f"steps must be an integer >= 1; got {steps!r}")
    if fill == "keep":
        return _literal(state, candidates, scores, int(max_slots), int(n_swaps), epsilon, rng)
    if fill == "marginal":
        return _marginal(
            state, candidates, scores, int(max_slots), int(n_swaps), epsilon, int(steps), rng
        )
    raise InvalidParameterError(f"fill must be 'keep' or 'marginal'; got {fill!r}")


def _literal(
    state: Mapping[str, int],
    candidates: Sequence[str],
    scores: Mapping[str, np.ndarray],
    max_slots: int,
    n_swaps: int,
    epsilon: float,
    rng: np.random.Generator,
) -> SearchResult:
    """One pass of Algorithm 2 with the products on the display kept at their facings."""
    current = {p: int(q) for p, q in state.items() if q > 0}
    ranked = sorted(current, key=lambda p: (_score(scores, p, current[p]), p))
    pool = [c for c in dict.fromkeys(candidates) if c not in current and c in scores]
    out: dict[str, int] = {}
    decayed: list[str] = []
    added: list[str] = []
    budget = max_slots
    for p in ranked[:n_swaps]:
        q = current[p]
        kept = q // 2
        freed = q - kept
        decayed.append(p)
        if kept:
            out[p] = min(kept, budget)
            budget -= out[p]
        if not pool or budget <= 0:
            continue
        if rng.random() < epsilon:
            pick = pool[int(rng.integers(len(pool)))]
        else:
            pick = max(pool, key=lambda c: (_score(scores, c, freed), c))
        pool.remove(pick)
        give = min(freed, budget)
        if give > 0:
            out[pick] = give
            added.append(pick)
            budget -= give
    for p in reversed(ranked[n_swaps:]):
        if budget <= 0:
            break
        give = min(current[p], budget)
        out[p] = give
        budget -= give
    return SearchResult({p: q for p, q in out.items() if q > 0}, tuple(decayed), tuple(added))


def _refill(
    x: dict[str, int],
    scores: Mapping[str, Sequence[float]],
    budget: int,
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Give ``budget`` facings one by one to the product of ``x`` gaining most PEPF (> 0),
    no product above its entry in ``caps`` (default: its table's last column)."""
    x = dict(x)
    caps = caps or {}
    heap: list[tuple[float, str]] = []
    limit: dict[str, int] = {}
    for p, q in x.items():
        row = scores[p]
        top = min(len(row) - 1, caps.get(p, len(row) - 1))
        limit[p] = top
        if q < top:
            heap.append((row[q] - row[q + 1], p))
    heapq.heapify(heap)
    while budget > 0 and heap:
        neg, p = heap[0]
        if not neg < 0.0:
            break
        q = x[p] + 1
        x[p] = q
        budget -= 1
        if q < limit[p]:
            row = scores[p]
            heapq.heapreplace(heap, (row[q] - row[q + 1], p))
        else:
            heapq.heappop(heap)
    return x


def _allocate(
    members: Sequence[str],
    scores: Mapping[str, Sequence[float]],
    budget: int,
    caps: Mapping[str, int],
) -> dict[str, int]:
    """The products' facings, one each, then the rest by marginal PEPF (within ``caps``)."""
    x = {p: 1 for p in members[:budget]}
    return _refill(x, scores, budget - len(x), caps)


def _total(x: Mapping[str, int], scores: Mapping[str, Sequence[float]]) -> float:
    return float(sum(float(scores[p][q]) for p, q in x.items() if q > 0))


def _marginal(
    state: Mapping[str, int],
    candidates: Sequence[str],
    table: Mapping[str, np.ndarray],
    max_slots: int,
    n_swaps: int,
    epsilon: float,
    steps: int,
    rng: np.random.Generator,
) -> SearchResult:
    """Algorithm 2 over ``steps`` time steps with the marginal-PEPF fill (module docstring)."""
    # Python lists: the search reads single entries many times (much faster than numpy).
    scores: dict[str, Sequence[float]] = {
        p: np.asarray(table[p], dtype=np.float64).tolist()
        for p in dict.fromkeys([*state, *candidates])
        if p in table
    }
    # The display's products (with scores), facings clipped to their tables; more products
    # than facings: the ones earning most per facing stay. Then the budget by marginal PEPF.
    on = {
        p: min(int(q), len(scores[p]) - 1)
        for p, q in state.items()
        if q > 0 and p in scores and len(scores[p]) > 1
    }
    members = sorted(on, key=lambda p: (-_per_facing(scores, p, on[p]), p))[:max_slots]
    x = _allocate(sorted(members), scores, max_slots, {})
    pool = [c for c in dict.fromkeys(candidates) if c not in x and len(scores.get(c, ())) > 1]
    decayed: list[str] = []
    added: list[str] = []
    rejected: set[str] = set()
    for t in range(steps):
        ranked = sorted(
            (p for p in x if p not in rejected), key=lambda p: (_per_facing(scores, p, x[p]), p)
        )
        if not ranked:
            break
        y = dict(x)
        step_pool = list(pool)
        step_decayed: list[str] = []
        step_added: list[str] = []
        explored = False
        for p in ranked[:n_swaps]:
            y[p] //= 2
            if y[p] == 0:
                del y[p]
                step_pool.append(p)
            step_decayed.append(p)
            choices = [c for c in step_pool if c not in y]
            if not choices:
                continue
            if t == 0 and rng.random() < epsilon:
                pick = choices[int(rng.integers(len(choices)))]
                explored = True
            else:
                pick = max(choices, key=lambda c: (float(scores[c][1]), c))
            y[pick] = 1
            step_added.append(pick)
        caps = {p: y[p] for p in step_decayed if p in y}
        only_decayed = [p for p in y if p not in step_added]
        y = _allocate(sorted(y), scores, max_slots, caps)
        if not explored and step_added:
            # The decay alone (its facings refilled on the display) may do better than a swap.
            z = _allocate(sorted(only_decayed), scores, max_slots, caps)
            if _total(z, scores) > _total(y, scores) + 1e-12:
                y, step_added = z, []
        if y == x or (not explored and _total(y, scores) <= _total(x, scores) + 1e-12):
            rejected.update(step_decayed)
            continue
        decayed += [p for p in step_decayed if y.get(p, 0) < x.get(p, 0)]
        added += [p for p in step_added if p in y and p not in x]
        pool = [c for c in dict.fromkeys(pool + [p for p in x if p not in y]) if c not in y]
        x = y
    kept_added = tuple(dict.fromkeys(p for p in added if p in x and p not in state))
    return SearchResult(dict(x), tuple(dict.fromkeys(decayed)), kept_added)


def _per_facing(scores: Mapping[str, Sequence[float]], product: str, q: int) -> float:
    return float(scores[product][q]) / q if q > 0 else float("-inf")


def best_facings(
    values: Mapping[str, np.ndarray],
    max_slots: int,
) -> tuple[dict[str, int], float]:
    """Exact optimum of sum_i v_i(q_i) subject to sum_i q_i <= max_slots (dynamic programming).

    Parameters
    ----------
    values : mapping of product_id to array
        ``values[p][q]`` = expected reward of product p with q facings, q = 0..Q_p
        (``values[p][0]`` is normally 0). Q_p caps p's facings.
    max_slots : int
        The facings budget.

    Returns
    -------
    (dict, float)
        Facings per product (products at 0 left out) and the optimal value. Among equal
        values a product gets the fewest facings.

    Notes
    -----
    Each product's step builds a ``(min(Q_p, max_slots) + 1, max_slots + 1)`` array: memory
    ``O(Q * max_slots)``, time ``O(n * Q * max_slots)``.
    """
    if max_slots < 0:
        raise InvalidParameterError(f"max_slots must be >= 0; got {max_slots}")
    ids = sorted(values)
    m = max_slots
    best = np.zeros(m + 1)
    budgets = np.arange(m + 1)
    choice = np.zeros((len(ids), m + 1), dtype=np.int64)
    for i, pid in enumerate(ids):
        v = np.asarray(values[pid], dtype=float)
        if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
            raise InvalidParameterError(
                f"values[{pid!r}] must be a 1-d array of finite numbers; got {values[pid]!r}"
            )
        base = v - v[0]
        # cand[q, b]: best of the products before with b - q facings, plus q of this one;
        # argmax takes the first maximum, so ties go to the fewest facings
        qs = np.arange(min(len(v) - 1, m) + 1)[:, None]
        src = budgets[None, :] - qs
        cand = np.where(src >= 0, best[np.maximum(src, 0)] + base[qs], -np.inf)
        arg = np.argmax(cand, axis=0)
        best, choice[i] = cand[arg, budgets], arg
    out: dict[str, int] = {}
    budget = int(np.argmax(best))
    total = float(best[budget]) + float(sum(np.asarray(values[p], dtype=float)[0] for p in ids))
    for i in range(len(ids) - 1, -1, -1):
        q = int(choice[i, budget])
        if q:
            out[ids[i]] = q
            budget -= q
    return out, total
