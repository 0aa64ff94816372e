"""EdgeRec3D's heuristic search (Algorithm 2, §3.5) and the exact knapsack optimum.

The search keeps high-payoff products and slowly trades low-payoff ones for better ones while
accounting for uncertainty: products are scored by PEPF (Eq. 6, E[r] - lambda * sd[r]); the
``n_swaps`` (V) lowest-scoring products on the display have their facings decayed,
delta(t, q0) = floor(q0 / 2^t); the freed facings go to a candidate chosen epsilon-greedily
(a random candidate with probability epsilon, else the highest-PEPF one); the rest of the
budget (max_slots) is filled with the high-PEPF products already on the display, best first.

Decay without memory: floor(floor(q0 / 2^t) / 2) = floor(q0 / 2^(t+1)), so halving the current
facings at each recommendation follows the paper's schedule exactly, with no state to keep.

This follows the paper's text (V swaps, then fill); the pseudo-code's outer ``while B > 0``
loop, read literally, would decay most of the display per call, which the text does not
describe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
        V, products decayed and replaced per recommendation.
    epsilon : float
        Probability of a random (instead of the best) candidate for each swap.
    rng : numpy.random.Generator
        Randomness of the epsilon-greedy choice.
    """
    if max_slots < 1:
        raise InvalidParameterError(f"max_slots must be >= 1; got {max_slots}")
    if n_swaps < 0:
        raise InvalidParameterError(f"n_swaps must be >= 0; got {n_swaps}")
    if not 0.0 <= epsilon <= 1.0:
        raise InvalidParameterError(f"epsilon must be in [0, 1]; got {epsilon}")
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
        Facings per product (products at 0 left out) and the optimal value.
    """
    if max_slots < 0:
        raise InvalidParameterError(f"max_slots must be >= 0; got {max_slots}")
    ids = sorted(values)
    m = max_slots
    best = np.zeros(m + 1)
    choice = np.zeros((len(ids), m + 1), dtype=np.int64)
    for i, pid in enumerate(ids):
        v = np.asarray(values[pid], dtype=float)
        if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
            raise InvalidParameterError(
                f"values[{pid!r}] must be a 1-d array of finite numbers; got {values[pid]!r}"
            )
        base = v - v[0]
        new = best.copy()
        arg = np.zeros(m + 1, dtype=np.int64)
        for q in range(1, min(len(v) - 1, m) + 1):
            cand = np.full(m + 1, -np.inf)
            cand[q:] = best[: m + 1 - q] + base[q]
            better = cand > new
            new[better] = cand[better]
            arg[better] = q
        best, choice[i] = new, arg
    out: dict[str, int] = {}
    budget = int(np.argmax(best))
    total = float(best[budget]) + float(sum(np.asarray(values[p], dtype=float)[0] for p in ids))
    for i in range(len(ids) - 1, -1, -1):
        q = int(choice[i, budget])
        if q:
            out[ids[i]] = q
            budget -= q
    return out, total
