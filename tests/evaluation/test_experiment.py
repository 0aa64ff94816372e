"""Simulated field experiment: recovery of a known effect, a null effect, compliance, design."""

from __future__ import annotations

import numpy as np
import pytest

from shelfwise.assortment.problem import DisplayProblem
from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.evaluation.compliance import jaccard
from shelfwise.evaluation.experiment import (
    _adopt,
    analyse_experiment,
    simulate_field_experiment,
)
from shelfwise.evaluation.groundtruth import oracle_recommendations, truth_table
from shelfwise.evaluation.problems import display_problems, eligible_products
from shelfwise.exceptions import InvalidParameterError


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(ChainConfig(), random_state=0)


@pytest.fixture(scope="module")
def problems(chain: SyntheticChain) -> list[DisplayProblem]:
    return display_problems(chain.displays, chain.products, chain.visit_log, random_state=0)


@pytest.fixture(scope="module")
def best(chain: SyntheticChain, problems: list[DisplayProblem]) -> dict[str, dict[str, int]]:
    eligible = {d.display_id: eligible_products(d, chain.products) for d in chain.displays}
    return oracle_recommendations(problems, chain.truth, eligible=eligible)


def test_full_compliance_with_the_oracle_recovers_the_true_effect(
    chain: SyntheticChain, problems: list[DisplayProblem], best: dict[str, dict[str, int]]
) -> None:
    exp = simulate_field_experiment(
        chain.truth, problems, best, compliance_share=1.0, random_state=0
    )
    res = analyse_experiment(exp, permutations=2000, bootstrap=1000, random_state=0).overall
    assert exp.true_effect > 0
    assert res.ci_low <= exp.true_effect <= res.ci_high
    assert res.p_value < 0.05
    # Every treatment display adopted its recommendation; controls kept today's state.
    states = {p.display_id: p.state for p in problems}
    for d, arm in exp.assignment.items():
        expected = best[d] if arm == "treatment" else states[d]
        assert exp.observed_states[d] == expected
    assert (exp.compliance == 1.0).all()
    # The true effect is the mean over treatment displays of the oracle's gain.
    gains = [
        truth_table(chain.truth, p.store_id).value(best[p.display_id])
        - truth_table(chain.truth, p.store_id).value(p.state)
        for p in problems
        if exp.assignment[p.display_id] == "treatment"
    ]
    assert exp.true_effect == pytest.approx(float(np.mean(gains)))


def test_recommending_the_current_state_has_no_effect(
    chain: SyntheticChain, problems: list[DisplayProblem]
) -> None:
    same = {p.display_id: dict(p.state) for p in problems}
    exp = simulate_field_experiment(
        chain.truth, problems, same, compliance_share=1.0, random_state=1
    )
    assert exp.true_effect == 0.0
    res = analyse_experiment(exp, permutations=500, bootstrap=1000, random_state=1).overall
    assert res.ci_low <= 0.0 <= res.ci_high
    # Resampling within stores (one or two displays per arm) understates the spread; the
    # permutation test is the same either way.
    strat = analyse_experiment(
        exp, permutations=500, bootstrap=1000, bootstrap_strata=True, random_state=1
    ).overall
    assert strat.ci_high - strat.ci_low < res.ci_high - res.ci_low
    assert strat.p_value == res.p_value


def test_null_interval_coverage(chain: SyntheticChain, problems: list[DisplayProblem]) -> None:
    # 40 experiments without an effect: a 95% interval should miss 0 about twice; at 0.85 the
    # chance of failing by bad luck is below 0.1% (binomial), and a within-store bootstrap
    # (about 80% coverage here) would usually fail.
    same = {p.display_id: dict(p.state) for p in problems}
    covered = 0
    for seed in range(40):
        exp = simulate_field_experiment(
            chain.truth, problems, same, compliance_share=1.0, random_state=100 + seed
        )
        res = analyse_experiment(exp, permutations=20, bootstrap=400, random_state=seed).overall
        covered += res.ci_low <= 0.0 <= res.ci_high
    assert covered / 40 >= 0.85


def test_partial_compliance_and_its_measurement(
    chain: SyntheticChain, problems: list[DisplayProblem], best: dict[str, dict[str, int]]
) -> None:
    full = simulate_field_experiment(
        chain.truth, problems, best, compliance_share=1.0, random_state=2
    )
    exp = simulate_field_experiment(
        chain.truth, problems, best, compliance_share=0.6, random_state=2
    )
    # The assignment stream does not depend on compliance_share.
    assert full.assignment.equals(exp.assignment)
    states = {p.display_id: p.state for p in problems}
    treated = exp.displays.loc[exp.displays["arm"] == "treatment"]
    assert 0 < treated["compliant"].sum() < len(treated)
    for d, row in treated.iterrows():
        if row["compliant"]:
            assert row["compliance"] == 1.0
            assert exp.observed_states[d] == best[d]
        else:  # non-compliant merchandisers keep today's state by default
            assert exp.observed_states[d] == states[d]
            assert row["compliance"] == pytest.approx(jaccard(best[d], states[d]))
            assert row["effect"] == 0.0
    analysis = analyse_experiment(exp, permutations=200, bootstrap=200, random_state=0)
    table = analysis.table()
    high = exp.compliance.index[exp.compliance >= 0.5]
    assert table.loc["high", "treated"] == len(high)
    assert table.loc["all", "treated"] == len(treated)
    assert table.loc["all", "true_effect"] == pytest.approx(exp.true_effect)
    assert table.loc["high", "true_effect"] == pytest.approx(treated.loc[high, "effect"].mean())
    assert table.loc["all", "control"] == table.loc["high", "control"]


def test_within_store_assignment_has_both_arms(
    chain: SyntheticChain, problems: list[DisplayProblem], best: dict[str, dict[str, int]]
) -> None:
    arms = set()
    for seed in range(5):
        exp = simulate_field_experiment(
            chain.truth, problems, best, compliance_share=1.0, random_state=seed
        )
        per_store = exp.displays.groupby("store_id")["arm"].nunique()
        assert (per_store == 2).all()
        arms.add(tuple(exp.assignment))
    assert len(arms) == 5  # the assignment is random, not fixed
    # The panel holds every display on every day, pre then post.
    assert len(exp.panel) == len(problems) * (21 + 28)
    day = exp.panel.loc[exp.panel["display_id"] == problems[0].display_id]
    assert (day["period"] == np.where(np.arange(49) < 21, "pre", "post")).all()
    assert exp.cutover == day["date"].iloc[21]


def test_daily_sales_follow_the_true_means(
    chain: SyntheticChain, problems: list[DisplayProblem], best: dict[str, dict[str, int]]
) -> None:
    # Poisson counts summed over many display-days match the summed true means (weekday
    # multipliers included): sum ~ Poisson(total mean), so a 4-sigma band is a tight check.
    exp = simulate_field_experiment(
        chain.truth, problems, best, compliance_share=1.0, pre_days=70, random_state=3
    )
    w = chain.truth.day_of_week[exp.panel["date"].dt.day_of_week.to_numpy()]
    level = np.where(
        exp.panel["period"] == "post",
        exp.displays.loc[exp.panel["display_id"], "post_sales"].to_numpy(),
        exp.displays.loc[exp.panel["display_id"], "current_sales"].to_numpy(),
    )
    mean = float((level * w).sum())
    assert abs(exp.panel["units"].sum() - mean) < 4 * np.sqrt(mean)


def test_partial_adoption_stays_within_budget_and_between_states() -> None:
    rng = np.random.default_rng(0)
    current = {"A": 3, "B": 2}
    rec = {"A": 1, "C": 4}
    assert _adopt(current, rec, 1.0, 5, rng) == rec
    assert _adopt(current, rec, 0.0, 5, rng) == current
    for _ in range(200):
        out = _adopt(current, rec, 0.5, 5, rng)
        assert sum(out.values()) <= 5
        for p in "ABC":
            lo, hi = sorted((current.get(p, 0), rec.get(p, 0)))
            assert lo <= out.get(p, 0) <= hi


def test_bad_inputs_are_refused(
    chain: SyntheticChain, problems: list[DisplayProblem], best: dict[str, dict[str, int]]
) -> None:
    with pytest.raises(InvalidParameterError, match="compliance_share"):
        simulate_field_experiment(chain.truth, problems, best, compliance_share=1.5)
    with pytest.raises(InvalidParameterError, match="cover every display"):
        simulate_field_experiment(chain.truth, problems, {}, compliance_share=1.0)
    first = problems[0]
    over = dict(best)
    over[first.display_id] = {first.candidates[0]: first.max_facings} | {
        p: first.max_facings for p in first.state
    }
    with pytest.raises(InvalidParameterError, match="max_slots"):
        simulate_field_experiment(chain.truth, problems, over, compliance_share=1.0)
    with pytest.raises(InvalidParameterError, match="post_days"):
        simulate_field_experiment(chain.truth, problems, best, compliance_share=1.0, post_days=0)
    lone = [first]
    with pytest.raises(InvalidParameterError, match="both a treatment and a control"):
        simulate_field_experiment(chain.truth, lone, best, compliance_share=1.0, random_state=0)


def test_trend_figure_draws_both_groups_and_the_intervention(
    chain: SyntheticChain, problems: list[DisplayProblem], best: dict[str, dict[str, int]]
) -> None:
    exp = simulate_field_experiment(
        chain.truth, problems, best, compliance_share=0.6, random_state=4
    )
    analysis = analyse_experiment(exp, permutations=100, bootstrap=100, random_state=0)
    fig = analysis.figure("high")
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels[:2] == ["high compliance", "control"]
    high = fig.axes[0].get_lines()[0].get_ydata()
    members = exp.compliance.index[exp.compliance >= 0.5]
    daily = exp.panel.loc[exp.panel["display_id"].isin(members)].groupby("date")["units"].mean()
    np.testing.assert_allclose(high, daily.to_numpy())
    with pytest.raises(InvalidParameterError, match="group"):
        analysis.figure("middle")  # type: ignore[arg-type]
