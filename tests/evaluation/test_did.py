"""Difference-in-differences: hand-computed values, recovery of a known effect, calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.evaluation.compliance import jaccard
from shelfwise.evaluation.did import difference_in_differences, read_panel, unit_changes
from shelfwise.exceptions import DataValidationError, InvalidParameterError


def _panel(
    rng: np.random.Generator,
    *,
    stores: int = 10,
    displays: int = 6,
    days: int = 20,
    effect: float = 0.0,
    noise: float = 1.0,
) -> pd.DataFrame:
    """Displays randomised to treatment within each store; daily sales before and after."""
    rows = []
    for s in range(stores):
        store_level = rng.gamma(4.0, 1.0)
        treated = rng.permutation([True, False] * (displays // 2))
        for j in range(displays):
            base = store_level + rng.normal(0, 0.5)
            for day in range(days):
                post = day >= days // 2
                trend = -0.3 if post else 0.0  # a shared seasonal drop (parallel trends)
                y = base + trend + (effect if (post and treated[j]) else 0.0)
                rows.append(
                    (f"S{s}", f"S{s}-D{j}", bool(treated[j]), post, y + rng.normal(0, noise))
                )
    return pd.DataFrame(rows, columns=["store", "unit", "treated", "post", "outcome"])


def test_hand_computed_two_by_two() -> None:
    # Paper Table 10 numbers: control 5.40 -> 4.40, treatment 5.82 -> 6.77.
    panel = pd.DataFrame(
        {
            "unit": ["c1", "c1", "c2", "c2", "t1", "t1", "t2", "t2"],
            "treated": [False] * 4 + [True] * 4,
            "post": [False, True] * 4,
            "outcome": [5.0, 4.0, 5.8, 4.8, 5.64, 6.54, 6.0, 7.0],
        }
    )
    res = difference_in_differences(panel, n_permutations=100, n_bootstrap=100, random_state=0)
    assert res.estimate == pytest.approx((6.77 - 5.82) - (4.40 - 5.40))
    assert res.estimate_pct == pytest.approx((6.77 / 5.82 - 1) - (4.40 / 5.40 - 1))
    assert res.means.loc["control", "pre"] == pytest.approx(5.40)
    assert res.n_treated == 2 and res.n_control == 2
    # Only 6 distinct relabellings of 4 units: the exact p cannot go below 1/3 here.
    assert res.p_value > 0.2
    assert "DID +1.950 units" in res.summary()


def test_recovers_a_known_effect_within_its_interval() -> None:
    rng = np.random.default_rng(1)
    panel = _panel(rng, effect=1.0)
    res = difference_in_differences(
        panel, stratum="store", n_permutations=2000, n_bootstrap=2000, random_state=2
    )
    assert res.ci_low < 1.0 < res.ci_high
    assert res.estimate == pytest.approx(1.0, abs=0.35)
    assert res.p_value < 0.01


def test_permutation_p_value_is_calibrated_under_no_effect() -> None:
    """Over many simulated null panels, about 5% are significant at alpha = 0.05."""
    rng = np.random.default_rng(7)
    pvals = []
    for i in range(300):
        panel = _panel(rng, stores=6, displays=4, days=8, effect=0.0)
        res = difference_in_differences(
            panel, stratum="store", n_permutations=400, n_bootstrap=1, random_state=i
        )
        pvals.append(res.p_value)
    rejected = float(np.mean(np.array(pvals) < 0.05))
    assert 0.02 <= rejected <= 0.09, rejected
    # and the p-values are roughly uniform, not just right at the 5% point
    assert 0.40 <= float(np.mean(pvals)) <= 0.60


def test_units_missing_a_period_are_counted_and_dropped() -> None:
    panel = pd.DataFrame(
        {
            "unit": ["a", "a", "b", "b", "c"],
            "treated": [True, True, False, False, False],
            "post": [False, True, False, True, False],
            "outcome": [1.0, 2.0, 1.0, 1.5, 3.0],
        }
    )
    units, dropped = unit_changes(panel)
    assert dropped == 1
    assert sorted(units["unit"]) == ["a", "b"]


@pytest.mark.parametrize(
    ("panel", "message"),
    [
        (
            pd.DataFrame({"unit": ["a"], "treated": [True], "post": [True]}),
            r"panel must have columns .* missing \['outcome'\]",
        ),
        (
            pd.DataFrame(
                {
                    "unit": ["a", "a"],
                    "treated": [True, False],
                    "post": [False, True],
                    "outcome": [1.0, 2.0],
                }
            ),
            r"treated must be constant within a unit",
        ),
        (
            pd.DataFrame(
                {
                    "unit": ["a", "a"],
                    "treated": [True, True],
                    "post": [False, True],
                    "outcome": [1.0, 2.0],
                }
            ),
            r"each group needs at least one unit",
        ),
        (
            pd.DataFrame(
                {
                    "unit": ["a", "a"],
                    "treated": [True, True],
                    "post": [False, True],
                    "outcome": ["x", 2.0],
                }
            ),
            r"outcome must be finite numbers",
        ),
    ],
)
def test_bad_panels(panel: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        difference_in_differences(panel, n_permutations=10, n_bootstrap=10)


def test_read_panel_from_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    panel = _panel(rng, stores=3, displays=2, days=4, effect=0.5)
    path = tmp_path / "panel.csv"
    panel.assign(treated=panel["treated"].map({True: "yes", False: "no"})).to_csv(path, index=False)
    back = read_panel(path, stratum="store")
    pd.testing.assert_series_equal(back["treated"], panel["treated"])
    bad = tmp_path / "bad.csv"
    panel.assign(outcome=["n/a"] + [1.0] * (len(panel) - 1)).to_csv(bad, index=False)
    with pytest.raises(
        DataValidationError,
        match=r"bad\.csv, row 1, column 'outcome': "
        r"must be a number; got 'n/a'",
    ):
        read_panel(bad)
    with pytest.raises(DataValidationError, match=r"column 'stores' is required"):
        read_panel(path, stratum="stores")


def test_jaccard_compliance() -> None:
    assert jaccard({"a": 2, "b": 1}, {"a": 2, "b": 1}) == 1.0
    assert jaccard({"a": 2, "b": 1}, {"a": 1, "c": 3}) == pytest.approx(1 / 3)
    assert jaccard({"a": 2, "b": 1}, {"a": 1, "c": 3}, mode="facings") == pytest.approx(1 / 6)
    assert jaccard(["a", "b"], {"b": 0, "c": 1}) == 0.0
    assert jaccard({}, {}) == 1.0
    with pytest.raises(InvalidParameterError, match="mode must be"):
        jaccard({"a": 1}, {"a": 1}, mode="weird")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="facings must be whole numbers >= 0"):
        jaccard({"a": -1}, {"a": 1})


def test_trend_figure_draws_both_groups_and_the_cutover(tmp_path: Path) -> None:
    from shelfwise.evaluation.figures import did_trend_figure

    rng = np.random.default_rng(5)
    panel = _panel(rng, stores=4, displays=4, days=10, effect=1.0)
    panel["date"] = panel.groupby("unit").cumcount()
    res = difference_in_differences(
        panel, stratum="store", n_permutations=200, n_bootstrap=200, random_state=0
    )
    fig = did_trend_figure(panel, res, cutover=4.5)
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # two groups + the cutover line
    assert "DID +" in ax.get_title()
    out = tmp_path / "did.png"
    fig.savefig(out)
    assert out.read_bytes()[:4] == b"\x89PNG"
