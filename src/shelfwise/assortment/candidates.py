"""Candidate generation from a product co-occurrence graph (EdgeRec3D §3.4).

Graph: one node per product, an edge weighted by how many observed display states held both
products, with edges only between products of the same subcategory. Sampling: for each seed
product (those on the display now) draw ``tau`` neighbours without replacement with
probability proportional to edge weight; each draw is a vote; votes are summed over seeds and
normalised. Pruning: drop candidates taller than the tallest seed product or than the display's
shelf clearance (when heights are known), and the seeds themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from shelfwise.domain import Product
from shelfwise.exceptions import InvalidParameterError, NotFittedError


@dataclass(frozen=True)
class Candidate:
    """A product proposed for a display, with its normalised vote share."""

    product_id: str
    votes: float


class CooccurrenceGraph:
    """Weighted product co-occurrence graph, restricted to within-subcategory edges.

    Parameters
    ----------
    within_subcategory : bool
        Keep only edges between products of the same subcategory (the paper's partition).
        Products without a subcategory then have no edges.
    """

    def __init__(self, *, within_subcategory: bool = True) -> None:
        self.within_subcategory = within_subcategory

    def fit(
        self, states: Iterable[Iterable[str]], products: Mapping[str, Product]
    ) -> CooccurrenceGraph:
        """Count co-occurrences over observed display states (each a set of product ids)."""
        ids = sorted(products)
        index = {p: i for i, p in enumerate(ids)}
        sub = [products[p].subcategory for p in ids]
        weights = np.zeros((len(ids), len(ids)), dtype=np.int64)
        n_states = 0
        for state in states:
            members = sorted({index[p] for p in state if p in index})
            n_states += 1
            for a, b in combinations(members, 2):
                if self.within_subcategory and (sub[a] is None or sub[a] != sub[b]):
                    continue
                weights[a, b] += 1
                weights[b, a] += 1
        self.product_ids_ = tuple(ids)
        self.index_ = index
        self.weights_ = weights
        self.n_states_ = n_states
        return self

    @classmethod
    def from_visits(
        cls,
        visits: pd.DataFrame,
        products: Mapping[str, Product],
        *,
        within_subcategory: bool = True,
    ) -> CooccurrenceGraph:
        """Build from a visits frame (``Repository.visits_frame``): one state per visit.

        A product is in a visit's state when its facings (after restock, or ``prev_facings``
        in EdgeRec3D's layout) are above 0.
        """
        facings = visits["facings"].astype("Float64")
        if "prev_facings" in visits.columns:
            facings = facings.fillna(visits["prev_facings"].astype("Float64"))
        present = visits.loc[(facings.fillna(0) > 0).to_numpy(dtype=bool)]
        states = present.groupby("visit_id", sort=False)["product_id"].agg(list)
        return cls(within_subcategory=within_subcategory).fit(states.tolist(), products)

    def neighbours(self, product_id: str) -> dict[str, int]:
        """Products sharing a display state with ``product_id``, with edge weights."""
        self._check()
        i = self.index_.get(product_id)
        if i is None:
            return {}
        row = self.weights_[i]
        return {self.product_ids_[j]: int(row[j]) for j in np.flatnonzero(row)}

    def _check(self) -> None:
        if not hasattr(self, "weights_"):
            raise NotFittedError("CooccurrenceGraph is not fitted yet; call fit()")


def generate_candidates(
    graph: CooccurrenceGraph,
    seeds: Iterable[str],
    products: Mapping[str, Product],
    *,
    tau: int = 5,
    clearance_cm: float | None = None,
    random_state: int | np.random.Generator | None = None,
) -> list[Candidate]:
    """Sample, vote and prune candidates for a display whose current products are ``seeds``.

    Parameters
    ----------
    graph : CooccurrenceGraph
        Fitted co-occurrence graph.
    seeds : iterable of str
        Products on the display now (the seed set).
    products : mapping of product_id to Product
        Catalog (for heights).
    tau : int
        Neighbours drawn per seed, without replacement, proportional to edge weight.
    clearance_cm : float, optional
        The display's largest shelf clearance; taller candidates are pruned.
    random_state : int, Generator or None
        Seed of the sampling.

    Returns
    -------
    list of Candidate
        Kept candidates, highest vote share first (ties by id); pruned ones are not returned.
    """
    if tau < 1:
        raise InvalidParameterError(f"tau must be >= 1; got {tau}")
    graph._check()
    rng = np.random.default_rng(random_state)
    seed_list = sorted(set(seeds))
    votes: dict[str, float] = {}
    for seed in seed_list:
        nbrs = graph.neighbours(seed)
        if not nbrs:
            continue
        ids = sorted(nbrs)
        w = np.array([nbrs[i] for i in ids], dtype=float)
        k = min(tau, len(ids))
        drawn = rng.choice(len(ids), size=k, replace=False, p=w / w.sum())
        for j in drawn:
            votes[ids[j]] = votes.get(ids[j], 0.0) + 1.0
    seed_set = set(seed_list)
    total = sum(v for p, v in votes.items() if p not in seed_set)
    heights = [products[s].height_cm for s in seed_list if s in products]
    known = [h for h in heights if h is not None]
    max_seed = max(known) if known else None
    out = []
    for pid, v in votes.items():
        if pid in seed_set:
            continue
        h = products[pid].height_cm if pid in products else None
        if h is not None and max_seed is not None and h > max_seed + 1e-9:
            continue
        if h is not None and clearance_cm is not None and h > clearance_cm + 1e-9:
            continue
        out.append(Candidate(pid, v / total if total else 0.0))
    out.sort(key=lambda c: (-c.votes, c.product_id))
    return out
