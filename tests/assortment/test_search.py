"""Heuristic search (Algorithm 2), the exact optimum, and candidate generation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfwise.assortment.candidates import CooccurrenceGraph, generate_candidates
from shelfwise.assortment.search import best_facings, heuristic_search
from shelfwise.domain import Product
from shelfwise.exceptions import InvalidParameterError, NotFittedError


def _concave(scale: float, q_max: int = 8) -> np.ndarray:
    q = np.arange(q_max + 1)
    return scale * (1 - np.exp(-q / 2.0))


def test_search_decays_the_weakest_and_brings_in_the_best_candidate() -> None:
    scores = {
        "weak": _concave(0.5),
        "ok": _concave(2.0),
        "good": _concave(3.0),
        "c_best": _concave(5.0),
        "c_meh": _concave(1.0),
    }
    state = {"weak": 4, "ok": 3, "good": 3}
    res = heuristic_search(
        state,
        ["c_meh", "c_best"],
        scores,
        max_slots=10,
        n_swaps=1,
        epsilon=0.0,
        fill="keep",
        rng=np.random.default_rng(0),
    )
    assert res.decayed == ("weak",)
    assert res.added == ("c_best",)
    assert res.facings == {"weak": 2, "c_best": 2, "good": 3, "ok": 3}


def test_epsilon_one_picks_random_candidates() -> None:
    scores = {f"c{i}": _concave(float(i + 1)) for i in range(20)} | {"s": _concave(0.1)}
    picks = set()
    for seed in range(30):
        res = heuristic_search(
            {"s": 4},
            [f"c{i}" for i in range(20)],
            scores,
            max_slots=4,
            n_swaps=1,
            epsilon=1.0,
            rng=np.random.default_rng(seed),
        )
        picks.update(res.added)
    assert len(picks) > 5


@settings(max_examples=200, deadline=None)
@given(
    state=st.dictionaries(
        st.sampled_from([f"p{i}" for i in range(12)]), st.integers(0, 9), max_size=10
    ),
    n_cand=st.integers(0, 8),
    max_slots=st.integers(1, 40),
    n_swaps=st.integers(0, 4),
    epsilon=st.floats(0, 1),
    seed=st.integers(0, 1000),
)
def test_search_never_exceeds_the_budget(
    state: dict[str, int], n_cand: int, max_slots: int, n_swaps: int, epsilon: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(12)] + [f"c{i}" for i in range(8)]
    scores = {p: _concave(float(rng.uniform(0.1, 5))) for p in ids}
    res = heuristic_search(
        state,
        [f"c{i}" for i in range(n_cand)],
        scores,
        max_slots=max_slots,
        n_swaps=n_swaps,
        epsilon=epsilon,
        rng=rng,
    )
    assert sum(res.facings.values()) <= max_slots
    assert all(q > 0 for q in res.facings.values())
    # decay halves: a decayed product keeps floor(q / 2) at most
    for p in res.decayed:
        assert res.facings.get(p, 0) <= state[p] // 2


def _pepf_total(facings: dict[str, int], scores: dict[str, np.ndarray]) -> float:
    return float(sum(scores[p][q] for p, q in facings.items()))


@settings(max_examples=200, deadline=None)
@given(
    state=st.dictionaries(
        st.sampled_from([f"p{i}" for i in range(12)]), st.integers(1, 8), max_size=10
    ),
    n_cand=st.integers(0, 8),
    max_slots=st.integers(1, 40),
    n_swaps=st.integers(0, 4),
    steps=st.integers(1, 20),
    seed=st.integers(0, 1000),
)
def test_marginal_search_keeps_the_budget_and_never_lowers_total_pepf(
    state: dict[str, int], n_cand: int, max_slots: int, n_swaps: int, steps: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(12)] + [f"c{i}" for i in range(8)]
    # PEPF rows: concave, some negative (a penalty larger than the mean)
    scores = {p: _concave(float(rng.uniform(0.1, 5))) - float(rng.uniform(0, 1)) for p in ids}
    for row in scores.values():
        row[0] = 0.0
    res = heuristic_search(
        state,
        [f"c{i}" for i in range(n_cand)],
        scores,
        max_slots=max_slots,
        n_swaps=n_swaps,
        epsilon=0.0,
        steps=steps,
        fill="marginal",
        rng=rng,
    )
    assert sum(res.facings.values()) <= max_slots
    assert all(0 < q <= 8 for q in res.facings.values())
    assert set(res.facings) <= set(state) | {f"c{i}" for i in range(n_cand)}
    if sum(state.values()) <= max_slots:
        assert _pepf_total(res.facings, scores) >= _pepf_total(state, scores) - 1e-9


def test_marginal_search_grows_a_strong_product_the_literal_reading_cannot() -> None:
    scores = {"strong": _concave(6.0), "weak": _concave(0.3)}
    state = {"strong": 1, "weak": 5}
    rng = np.random.default_rng(0)
    literal = heuristic_search(state, [], scores, max_slots=6, n_swaps=1, epsilon=0.0, rng=rng)
    assert literal.facings["strong"] == 1
    res = heuristic_search(
        state, [], scores, max_slots=6, n_swaps=1, epsilon=0.0, fill="marginal", rng=rng
    )
    # the weak product's last facing earns less than a sixth facing of the strong one
    assert res.facings == {"strong": 6}
    assert res.decayed == ("weak",)


def test_marginal_search_comes_close_to_the_exact_optimum() -> None:
    """On random concave problems the search reaches >= 98% of the exact PEPF optimum over the
    display's products and candidates (mean over 200 problems), from a random start."""
    rng = np.random.default_rng(7)
    ratios = []
    for _ in range(200):
        n_state, n_cand = int(rng.integers(3, 12)), int(rng.integers(0, 12))
        ids = [f"s{i}" for i in range(n_state)] + [f"c{i}" for i in range(n_cand)]
        scores = {
            p: rng.uniform(0.2, 5) * (1 - np.exp(-np.arange(15) / rng.uniform(1, 6)))
            - rng.uniform(0, 0.5) * (np.arange(15) > 0)
            for p in ids
        }
        max_slots = int(rng.integers(5, 40))
        state = {f"s{i}": int(rng.integers(1, 6)) for i in range(n_state)}
        res = heuristic_search(
            state,
            [f"c{i}" for i in range(n_cand)],
            scores,
            max_slots=max_slots,
            epsilon=0.0,
            steps=10,
            fill="marginal",
            rng=rng,
        )
        _, best = best_facings(scores, max_slots)
        ratios.append(_pepf_total(res.facings, scores) / best)
    assert np.mean(ratios) >= 0.98
    assert np.min(ratios) >= 0.8


def test_search_rejects_bad_steps_and_fill() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameterError, match="steps must be an integer >= 1; got 0"):
        heuristic_search({}, [], {}, max_slots=3, steps=0, rng=rng)
    with pytest.raises(InvalidParameterError, match="fill must be 'keep' or 'marginal'"):
        heuristic_search({}, [], {}, max_slots=3, fill="all", rng=rng)  # type: ignore[arg-type]


def test_best_facings_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    for _ in range(40):
        n, q_max, m = 4, 4, int(rng.integers(0, 10))
        # arbitrary (not even monotone) values: the DP must be exact for any table
        values = {f"p{i}": np.concatenate([[0.0], rng.uniform(0, 3, q_max)]) for i in range(n)}
        got, value = best_facings(values, m)
        brute = max(
            (sum(values[f"p{i}"][q] for i, q in enumerate(qs)), qs)
            for qs in itertools.product(range(q_max + 1), repeat=n)
            if sum(qs) <= m
        )
        assert value == pytest.approx(brute[0])
        assert sum(got.values()) <= m
        assert sum(values[p][q] for p, q in got.items()) == pytest.approx(brute[0])


def test_best_facings_gives_the_fewest_facings_among_equal_values() -> None:
    # flat beyond 2 facings: 2, 3 and 4 facings of "a" are worth the same
    values = {"a": np.array([0.0, 1.0, 2.0, 2.0, 2.0]), "b": np.array([0.0, 0.5, 0.5])}
    assert best_facings(values, 6) == ({"a": 2, "b": 1}, 2.5)
    # with only "b" flat from the start, it is left out
    assert best_facings({"b": np.array([0.0, 0.0, 0.0])}, 3) == ({}, 0.0)


def test_best_facings_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="max_slots must be >= 0"):
        best_facings({"a": np.zeros(3)}, -1)
    with pytest.raises(InvalidParameterError, match=r"values\['a'\] must be a 1-d array"):
        best_facings({"a": np.array([0.0, np.nan])}, 3)


def _product(pid: str, sub: str, height: float) -> Product:
    return Product(pid, pid, subcategory=sub, width_cm=6.6, height_cm=height, depth_cm=6.6)


def test_candidates_vote_within_subcategory_and_prune_by_height() -> None:
    products = {
        "a": _product("a", "Water", 20),
        "b": _product("b", "Water", 21),
        "c": _product("c", "Water", 30),
        "d": _product("d", "Energy", 15),
        "e": _product("e", "Water", 18),
    }
    states = [["a", "b", "d"], ["a", "c"], ["a", "e"], ["a", "b"], ["b", "d"]]
    graph = CooccurrenceGraph().fit(states, products)
    assert graph.neighbours("a") == {"b": 2, "c": 1, "e": 1}
    assert graph.neighbours("d") == {}
    cands = generate_candidates(graph, ["a"], products, tau=3, random_state=0)
    # tau = 3 draws all three neighbours of a; b and c are taller than the seed: pruned
    # after the votes were normalised, so e keeps its 1/3 share.
    assert [(c.product_id, c.votes) for c in cands] == [("e", pytest.approx(1 / 3))]
    again = generate_candidates(graph, ["a"], products, tau=3, random_state=0)
    assert again == cands
    low = generate_candidates(graph, ["a", "c"], products, tau=3, clearance_cm=19.0, random_state=0)
    assert all(products[c.product_id].height_cm <= 19.0 for c in low)
    with pytest.raises(NotFittedError, match="CooccurrenceGraph is not fitted yet"):
        generate_candidates(CooccurrenceGraph(), ["a"], products)
    with pytest.raises(InvalidParameterError, match="tau must be >= 1"):
        generate_candidates(graph, ["a"], products, tau=0)
