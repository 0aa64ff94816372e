"""Ground-truth evaluation: the oracle against brute force, shares of hand-made policies,
and invariants on the bundled synthetic chain."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from shelfwise.assortment.candidates import CooccurrenceGraph
from shelfwise.assortment.payoffs import OnlinePayoffs
from shelfwise.assortment.policies import DynamicProgrammingPolicy, RandomPolicy
from shelfwise.assortment.problem import DisplayProblem, PayoffTable
from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.evaluation.figures import oracle_share_figure
from shelfwise.evaluation.groundtruth import (
    DemandTruth,
    SalesFeedback,
    evaluate_on_truth,
    oracle,
    oracle_recommendations,
    truth_table,
)
from shelfwise.evaluation.problems import (
    candidate_refresher,
    display_problems,
    eligible_products,
    keep_pool,
)
from shelfwise.exceptions import InvalidParameterError


class TinyTruth:
    """A hand-made truth: expected daily sales of 4 products at 2 stores, 0..3 facings."""

    store_ids = ("S1", "S2")
    product_ids = ("A", "B", "C", "D")
    day_of_week = np.ones(7)

    def __init__(self) -> None:
        self.table = np.array(
            [
                [  # S1: A saturates fast, B is linear, C is the best seller, D is poor
                    [0.0, 2.0, 2.5, 2.6],
                    [0.0, 1.0, 2.0, 3.0],
                    [0.0, 3.0, 5.0, 6.5],
                    [0.0, 0.2, 0.3, 0.35],
                ],
                [  # S2: tastes differ
                    [0.0, 0.5, 0.9, 1.2],
                    [0.0, 2.5, 4.0, 5.0],
                    [0.0, 0.4, 0.6, 0.7],
                    [0.0, 1.5, 2.8, 3.9],
                ],
            ]
        )

    def expected_sales_table(self, *, max_facings: int = 14) -> NDArray[np.float64]:
        return np.asarray(self.table[:, :, : max_facings + 1])


def _brute_force(values: Mapping[str, NDArray[np.float64]], max_slots: int) -> float:
    ids = sorted(values)
    best = 0.0
    for qs in itertools.product(*(range(len(values[p])) for p in ids)):
        if sum(qs) <= max_slots:
            best = max(best, sum(float(values[p][q]) for p, q in zip(ids, qs, strict=True)))
    return best


class FixedPolicy:
    """Recommends given facings per display (the state when a display is not listed)."""

    def __init__(self, name: str, facings: Mapping[str, Mapping[str, int]]) -> None:
        self.name = name
        self.facings = facings

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        return dict(self.facings.get(problem.display_id, problem.state))


class KeepPolicy:
    """Current practice: the state, unchanged."""

    name = "keep"

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        return dict(problem.state)


class PoolBestPolicy:
    """The best facings under the truth among the problem's eligible products only."""

    def __init__(self, truth: DemandTruth) -> None:
        self.name = "pool-best"
        self.truth = truth

    def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
        table = truth_table(self.truth, problem.store_id, max_facings=problem.max_facings)
        return oracle(table, problem.eligible, problem.max_slots, problem.max_facings)[0]


def _tiny_problems() -> list[DisplayProblem]:
    return [
        DisplayProblem("S1", "S1-D1", {"A": 2, "D": 2}, ("B", "C"), max_slots=4, max_facings=3),
        DisplayProblem("S2", "S2-D1", {"A": 1, "C": 1}, ("B", "D"), max_slots=3, max_facings=3),
    ]


TINY_ELIGIBLE = {"S1-D1": ("A", "B", "C", "D"), "S2-D1": ("A", "B", "C", "D")}


@pytest.mark.parametrize("store", ["S1", "S2"])
@pytest.mark.parametrize("max_slots", [1, 3, 5, 8])
@pytest.mark.parametrize("eligible", [("A", "B", "C", "D"), ("A", "B", "D"), ("D",)])
def test_oracle_equals_brute_force(store: str, max_slots: int, eligible: tuple[str, ...]) -> None:
    truth = TinyTruth()
    table = truth_table(truth, store, max_facings=3)
    facings, value = oracle(table, eligible, max_slots, 3)
    row = truth.store_ids.index(store)
    values = {p: truth.table[row, truth.product_ids.index(p)] for p in eligible}
    assert value == pytest.approx(_brute_force(values, max_slots))
    assert set(facings) <= set(eligible)
    assert sum(facings.values()) <= max_slots
    assert table.value(facings) == pytest.approx(value)


def test_oracle_caps_facings_per_product() -> None:
    # With max_facings 1, S1's best 3 facings are one each of C, A, B: 3 + 2 + 1.
    table = truth_table(TinyTruth(), "S1", max_facings=3)
    facings, value = oracle(table, ("A", "B", "C", "D"), 3, 1)
    assert facings == {"A": 1, "B": 1, "C": 1}
    assert value == pytest.approx(6.0)
    with pytest.raises(InvalidParameterError, match="max_facings"):
        oracle(table, ("A",), 3, 4)


def test_policy_returning_the_oracle_gets_share_one() -> None:
    truth, problems = TinyTruth(), _tiny_problems()
    best = oracle_recommendations(problems, truth, eligible=TINY_ELIGIBLE)
    res = evaluate_on_truth(
        [FixedPolicy("oracle-copy", best)],
        problems,
        truth,
        eligible=TINY_ELIGIBLE,
        rounds=2,
        random_state=0,
    )
    assert res.share(1)["oracle-copy"] == pytest.approx(1.0)
    assert res.share()["oracle-copy"] == pytest.approx(1.0)
    assert res.oracle_states == best
    # S1-D1 (4 slots, at most 3 each): C@3 + A@1 = 6.5 + 2.0 = 8.5 beats C@2 + A@1 + B@1 = 8.0
    # and C@2 + A@2 = 7.5.
    assert best["S1-D1"] == {"A": 1, "C": 3}
    at_1 = res.frame.loc[res.frame["round"] == 1].set_index("display_id")
    assert at_1.loc["S1-D1", "oracle_sales"] == pytest.approx(8.5)


def test_current_practice_keeps_the_current_share() -> None:
    truth, problems = TinyTruth(), _tiny_problems()
    res = evaluate_on_truth(
        [KeepPolicy()], problems, truth, eligible=TINY_ELIGIBLE, rounds=3, random_state=0
    )
    # Today's true sales: S1-D1 A@2 + D@2 = 2.5 + 0.3; S2-D1 A@1 + C@1 = 0.5 + 0.4.
    # Oracles: S1-D1 (4 slots) = 8.5; S2-D1 (3 slots) = B@2 + D@1 = 4.0 + 1.5 = 5.5.
    expected = (2.8 + 0.9) / (8.5 + 5.5)
    for r in range(4):
        assert res.share(r)["keep"] == pytest.approx(expected)
    table = res.table()
    assert table.loc["current practice", "share"] == pytest.approx(expected)
    assert table.loc["keep", "sales_per_display"] == pytest.approx((2.8 + 0.9) / 2)
    assert table.loc["oracle", "share"] == pytest.approx(1.0)
    assert len(res.frame) == 1 * 2 * 4


def test_rounds_chain_states_and_keep_pool() -> None:
    truth, problems = TinyTruth(), _tiny_problems()
    # Round 1 moves S1-D1 to B@3; round 2 (problem built by keep_pool) must see B as the state
    # and A, D back among the candidates.
    seen: list[DisplayProblem] = []

    class Recorder:
        name = "recorder"

        def recommend(self, problem: DisplayProblem, rng: np.random.Generator) -> dict[str, int]:
            seen.append(problem)
            return {"B": 3} if problem.display_id == "S1-D1" else dict(problem.state)

    res = evaluate_on_truth(
        [Recorder()], problems[:1], truth, eligible=TINY_ELIGIBLE, rounds=2, random_state=0
    )
    assert seen[1].state == {"B": 3}
    assert set(seen[1].eligible) == {"A", "B", "C", "D"}
    assert res.states[("recorder", "S1-D1", 2)] == {"B": 3}
    sales = res.frame.set_index("round")["true_sales"]
    assert sales[0] == pytest.approx(2.8)
    assert sales[1] == pytest.approx(3.0)
    direct = keep_pool(problems[0], {"C": 3})
    assert direct.state == {"C": 3}
    assert direct.candidates == ("B", "A", "D")


def test_recommendations_are_checked() -> None:
    truth, problems = TinyTruth(), _tiny_problems()
    over = FixedPolicy("over", {"S1-D1": {"C": 3, "A": 2}})
    with pytest.raises(InvalidParameterError, match=r"'over'.*max_slots"):
        evaluate_on_truth([over], problems, truth, eligible=TINY_ELIGIBLE, random_state=0)
    # B is a candidate but does not fit S1-D1 physically: the oracle would not be a bound.
    misfit = FixedPolicy("misfit", {"S1-D1": {"B": 1}})
    narrow = {"S1-D1": ("A", "C", "D"), "S2-D1": TINY_ELIGIBLE["S2-D1"]}
    with pytest.raises(InvalidParameterError, match="do not fit"):
        evaluate_on_truth([misfit], problems, truth, eligible=narrow, random_state=0)
    with pytest.raises(InvalidParameterError, match="eligible must name"):
        evaluate_on_truth([KeepPolicy()], problems, truth, eligible={}, random_state=0)
    with pytest.raises(InvalidParameterError, match="rounds"):
        evaluate_on_truth(
            [KeepPolicy()], problems, truth, eligible=TINY_ELIGIBLE, rounds=0, random_state=0
        )
    with pytest.raises(InvalidParameterError, match="distinct names"):
        evaluate_on_truth([KeepPolicy(), KeepPolicy()], problems, truth, eligible=TINY_ELIGIBLE)


# ------------------------------------------------------------------------------------------
# Closed loop: sales feedback between rounds


class SkewedModel:
    """TinyTruth seen through a wrong lens: every product's sales scaled by ``factor[p]``,
    with a 50% relative uncertainty."""

    name = "skewed"

    def __init__(self, truth: TinyTruth, factor: Mapping[str, float]) -> None:
        self.truth = truth
        self.factor = factor

    def table(
        self, store_id: str, product_ids: list[str], max_facings: int, *, cluster: str | None = None
    ) -> PayoffTable:
        t = truth_table(self.truth, store_id, max_facings=max_facings)
        mean = np.array([t.mean[t.row(p)] * self.factor[p] for p in product_ids])
        return PayoffTable(store_id, tuple(product_ids), mean, 0.5 * mean)


def test_sales_feedback_draws_the_true_mean() -> None:
    truth = TinyTruth()
    table = truth_table(truth, "S1", max_facings=3)
    fb = SalesFeedback(days=14, visit_gap_days=2, nb_shape=3.0)
    rng = np.random.default_rng(0)
    draws = [fb.simulate(table, {"C": 2, "D": 1}, rng) for _ in range(2000)]
    assert [(o.product_id, o.facings, o.days) for o in draws[0]] == [("C", 2, 14.0), ("D", 1, 14.0)]
    c_units = np.array([d[0].units for d in draws])
    # C at 2 facings sells 5 a day: 70 units in 14 days; negative binomial variance per visit
    # 10 + 10^2 / 3, seven visits: sd of the 2000-draw mean about 0.38.
    assert c_units.mean() == pytest.approx(70.0, abs=4 * np.sqrt(7 * (10 + 100 / 3) / 2000))
    assert fb.simulate(table, {"C": 0}, rng) == []
    with pytest.raises(InvalidParameterError, match=r"visit_gap_days must divide days \(2\)"):
        SalesFeedback(days=2, visit_gap_days=3)
    with pytest.raises(InvalidParameterError, match="nb_shape must be a number > 0; got 0"):
        SalesFeedback(nb_shape=0)


def test_feedback_lets_a_learning_policy_correct_a_wrong_model() -> None:
    truth, problems = TinyTruth(), _tiny_problems()
    # The model undervalues A and overvalues D, both on today's displays.
    wrong = SkewedModel(truth, {"A": 0.3, "B": 1.0, "C": 1.0, "D": 3.0})
    fixed = DynamicProgrammingPolicy(wrong, name="DP as fitted")
    levels = OnlinePayoffs(wrong, shape_prior_strength=None)
    learning = DynamicProgrammingPolicy(levels, name="DP learning")
    res = evaluate_on_truth(
        [fixed, learning],
        problems,
        truth,
        eligible=TINY_ELIGIBLE,
        rounds=4,
        feedback=SalesFeedback(days=56),
        random_state=0,
    )
    # (rounds of eight weeks)
    # Today's states hold A at both stores and D at S1, so round 0's sales reveal both
    # mistakes where the oracle needs them corrected (it stocks A at S1 and D at S2).
    assert res.share()["DP as fitted"] < 0.85
    # S2's best (D@1 + B@2 = 5.5) and runner-up (D@2 + B@1 = 5.3) are near tied: sales noise
    # picks either (over seeds 0..19 the share was 1.0 fifteen times and 0.986 five times)
    assert res.share()["DP learning"] >= 0.98
    assert res.share()["DP learning"] > res.share()["DP as fitted"]
    # Without feedback the learning model learns nothing.
    open_loop = evaluate_on_truth(
        [learning], problems, truth, eligible=TINY_ELIGIBLE, rounds=4, random_state=0
    )
    assert open_loop.share()["DP learning"] == pytest.approx(res.share()["DP as fitted"])
    # Each evaluation starts from the fitted model: the same seed gives the same result.
    again = evaluate_on_truth(
        [fixed, learning],
        problems,
        truth,
        eligible=TINY_ELIGIBLE,
        rounds=4,
        feedback=SalesFeedback(days=56),
        random_state=0,
    )
    pd.testing.assert_frame_equal(again.frame, res.frame)


# ------------------------------------------------------------------------------------------
# The bundled chain


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(ChainConfig(), random_state=0)


def test_bundled_chain_shares_are_bounded_by_the_oracle(chain: SyntheticChain) -> None:
    graph = CooccurrenceGraph.from_visits(
        chain.visit_log, {p.product_id: p for p in chain.products}
    )
    problems = display_problems(
        chain.displays, chain.products, chain.visit_log, graph, random_state=0
    )
    displays = {d.display_id: d for d in chain.displays}
    eligible = {d: eligible_products(displays[d], chain.products) for d in displays}
    assert len(problems) == len(chain.displays)
    for prob in problems:
        assert set(prob.eligible) <= set(eligible[prob.display_id])
        assert sum(prob.state.values()) <= prob.max_slots
    policies = [KeepPolicy(), PoolBestPolicy(chain.truth)]
    rounds = 2
    refresh = candidate_refresher(chain.displays, chain.products, graph, random_state=1)
    res = evaluate_on_truth(
        policies,
        problems,
        chain.truth,
        eligible=eligible,
        rounds=rounds,
        next_problem=refresh,
        random_state=0,
    )
    assert len(res.frame) == len(policies) * len(problems) * (rounds + 1)
    assert list(res.frame.columns) == [
        "policy",
        "display_id",
        "store_id",
        "round",
        "true_sales",
        "oracle_sales",
    ]
    assert (res.frame["true_sales"] <= res.frame["oracle_sales"] + 1e-9).all()
    for r in range(rounds + 1):
        assert (res.share(r) <= 1 + 1e-9).all()
    # Keeping the state is feasible for the pool-best policy, and its state stays in its next
    # pool, so its true sales never fall from round to round and start at current practice.
    wide = res.frame.pivot_table(
        index=["policy", "display_id"], columns="round", values="true_sales"
    ).loc["pool-best"]
    assert (wide[1] >= wide[0] - 1e-9).all() and (wide[2] >= wide[1] - 1e-9).all()
    assert res.share(0)["keep"] == pytest.approx(res.share(0)["pool-best"])
    assert res.share()["keep"] == pytest.approx(res.share(0)["keep"])
    assert res.share()["pool-best"] > res.share(0)["keep"]
    # The oracle reproduces the truth: its states' true sales equal the oracle column.
    one = res.frame.drop_duplicates("display_id").set_index("display_id")
    for d in list(one.index)[:10]:
        table = truth_table(chain.truth, one.loc[d, "store_id"])
        assert table.value(res.oracle_states[d]) == pytest.approx(one.loc[d, "oracle_sales"])


def test_oracle_share_figure_plots_each_policy() -> None:
    truth, problems = TinyTruth(), _tiny_problems()
    best = oracle_recommendations(problems, truth, eligible=TINY_ELIGIBLE)
    res = evaluate_on_truth(
        [KeepPolicy(), FixedPolicy("oracle-copy", best)],
        problems,
        truth,
        eligible=TINY_ELIGIBLE,
        rounds=2,
        random_state=0,
    )
    fig = oracle_share_figure(res)
    lines = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}
    assert set(lines) == {"keep", "oracle-copy", "oracle"}
    np.testing.assert_allclose(lines["keep"].get_ydata(), [res.share(r)["keep"] for r in range(3)])
    np.testing.assert_allclose(lines["oracle-copy"].get_ydata(), [res.share(0)["keep"], 1.0, 1.0])


def test_closed_loop_results_do_not_depend_on_policy_order(chain: SyntheticChain) -> None:
    catalog = {p.product_id: p for p in chain.products}
    graph = CooccurrenceGraph.from_visits(chain.visit_log, catalog)
    problems = display_problems(
        chain.displays[:12], chain.products, chain.visit_log, graph, random_state=0
    )
    displays = {d.display_id: d for d in chain.displays}
    eligible = {p.display_id: eligible_products(displays[p.display_id], catalog) for p in problems}
    allowed = sorted(catalog)[::2]

    def run(policies: list[object]) -> pd.DataFrame:
        refresh = candidate_refresher(
            chain.displays, chain.products, graph, allowed=allowed, random_state=3
        )
        res = evaluate_on_truth(
            policies,  # type: ignore[arg-type]
            problems,
            chain.truth,
            eligible=eligible,
            rounds=3,
            next_problem=refresh,
            feedback=SalesFeedback(),
            random_state=0,
        )
        return res.frame.sort_values(["policy", "display_id", "round"]).reset_index(drop=True)

    best = PoolBestPolicy(chain.truth)
    # the pool-best policy's result depends on the candidates it is offered: they must not
    # depend on which policy ran first
    pd.testing.assert_frame_equal(run([KeepPolicy(), best]), run([best, KeepPolicy()]))
    # a stochastic policy's own draws are seeded by its name, not by its place in the list:
    # its result is the same whichever policies run beside it
    alone = run([RandomPolicy()])
    mixed = run([KeepPolicy(), best, RandomPolicy()])
    pd.testing.assert_frame_equal(
        alone, mixed[mixed["policy"] == alone["policy"].iloc[0]].reset_index(drop=True)
    )
    # ... and the name enters the seed: the same policy under another name draws otherwise
    renamed = run([RandomPolicy(name="random-b")])
    assert not np.array_equal(renamed["true_sales"].to_numpy(), alone["true_sales"].to_numpy())
    # candidates redrawn by the refresher stay within `allowed` (today's state may not)
    refresh = candidate_refresher(chain.displays, chain.products, graph, allowed=allowed)
    for prob in problems:
        nxt = refresh(prob, prob.state)
        assert set(nxt.candidates) <= set(allowed)
        assert nxt.state == prob.state
