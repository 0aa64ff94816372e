"""OnlinePayoffs: the conjugate level correction against hand-computed posteriors."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from shelfwise.assortment.payoffs import OnlinePayoffs, SalesObservation
from shelfwise.assortment.problem import PayoffEstimator, PayoffTable
from shelfwise.exceptions import InvalidParameterError


class FixedModel:
    """A fitted model stand-in: mean ``level[p] * log2(1 + q)``, sd ``cv[p]`` times the mean."""

    name = "fixed"

    def __init__(self, level: dict[str, float], cv: dict[str, float]) -> None:
        self.level = level
        self.cv = cv

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        x = np.log2(1.0 + np.arange(max_facings + 1))
        mean = np.array([self.level[p] * x for p in product_ids])
        sd = np.array([self.cv[p] * self.level[p] * x for p in product_ids])
        return PayoffTable(store_id, tuple(product_ids), mean, sd)


class FixedEnsemble(FixedModel):
    """Also reports an epistemic sd: half the table's sd."""

    def epistemic_sd(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        cluster: str | None = None,
    ) -> NDArray[np.float64]:
        return 0.5 * self.table(store_id, product_ids, max_facings).sd


def test_is_a_payoff_estimator_and_unchanged_without_observations() -> None:
    base = FixedModel({"A": 2.0}, {"A": 0.5})
    online = OnlinePayoffs(base)
    assert isinstance(online, PayoffEstimator)
    assert online.name == "fixed"
    t = online.table("S1", ["A"], 3)
    np.testing.assert_array_equal(t.mean, base.table("S1", ["A"], 3).mean)
    np.testing.assert_array_equal(t.sd, base.table("S1", ["A"], 3).sd)


def test_posterior_matches_hand_computed_gamma_poisson() -> None:
    # m(1) = 2 units/day, cv 0.5 -> a0 = 4. 30 units over 10 days at 1 facing, dispersion 2:
    # a = 4 + 30 / 2 = 19, b = 4 + 20 / 2 = 14; E[theta] = 19/14, sd = sqrt(19)/14.
    base = FixedModel({"A": 2.0, "B": 1.0}, {"A": 0.5, "B": 0.5})
    online = OnlinePayoffs(base, dispersion=2.0, shape_prior_strength=None).observe(
        [SalesObservation("S1", "A", 1, 30.0, 10.0)]
    )
    mean, sd = online.multiplier("S1", "A")
    assert mean == pytest.approx(19 / 14)
    assert sd == pytest.approx(np.sqrt(19) / 14)
    t = online.table("S1", ["A", "B"], 3)
    x = np.log2(1.0 + np.arange(4))
    np.testing.assert_allclose(t.mean[0], 2.0 * x * 19 / 14)
    # the sd scales by sd[theta] / prior sd = (sqrt(19)/14) / (1/2)
    np.testing.assert_allclose(t.sd[0], 0.5 * 2.0 * x * np.sqrt(19) / 14 * 2.0)
    np.testing.assert_allclose(t.mean[1], 1.0 * x)  # B was not observed
    assert online.multiplier("S2", "A") == (1.0, pytest.approx(np.nan, nan_ok=True))
    assert online.n_pairs == 1


def test_observations_accumulate_and_reset_forgets() -> None:
    base = FixedModel({"A": 1.0}, {"A": 1.0})
    online = OnlinePayoffs(base, dispersion=1.0, shape_prior_strength=None)
    online.observe([SalesObservation("S1", "A", 3, 10.0, 5.0)])
    online.observe([SalesObservation("S1", "A", 1, 4.0, 2.0)])
    # a0 = 1 from cv 1; m(3) = 2, m(1) = 1: E = 2 * 5 + 1 * 2 = 12, Y = 14.
    assert online.multiplier("S1", "A")[0] == pytest.approx((1 + 14) / (1 + 12))
    online.reset()
    assert online.n_pairs == 0
    fresh = online.table("S1", ["A"], 2).mean
    np.testing.assert_array_equal(fresh, base.table("S1", ["A"], 2).mean)


def test_learns_the_true_level_from_much_data() -> None:
    base = FixedModel({"A": 1.0}, {"A": 0.2})
    online = OnlinePayoffs(base, dispersion=1.0, shape_prior_strength=None)
    rng = np.random.default_rng(0)
    # truth: 3 times the model's level at 2 facings (m(2) = log2 3)
    units = rng.poisson(3.0 * np.log2(3.0) * 2.0, size=400).sum()
    online.observe([SalesObservation("S1", "A", 2, float(units), 800.0)])
    assert online.multiplier("S1", "A")[0] == pytest.approx(3.0, rel=0.03)


def test_prior_strength_is_clipped() -> None:
    sure = OnlinePayoffs(
        FixedModel({"A": 1.0}, {"A": 1e-6}), max_prior_strength=10.0, shape_prior_strength=None
    )
    sure.observe([SalesObservation("S1", "A", 1, 0.0, 10.0)])
    # a0 = 10 (clipped), dispersion 2: b = 10 + 10 / 2
    assert sure.multiplier("S1", "A")[0] == pytest.approx(10 / 15)
    vague = OnlinePayoffs(
        FixedModel({"A": 1.0}, {"A": 100.0}), min_prior_strength=0.5, shape_prior_strength=None
    )
    vague.observe([SalesObservation("S1", "A", 1, 0.0, 10.0)])
    assert vague.multiplier("S1", "A")[0] == pytest.approx(0.5 / 5.5)


def test_epistemic_sd_used_for_the_prior_and_shrunk() -> None:
    base = FixedEnsemble({"A": 2.0}, {"A": 1.0})  # epistemic cv 0.5 -> a0 = 4
    online = OnlinePayoffs(base, dispersion=2.0, shape_prior_strength=None)
    online.observe([SalesObservation("S1", "A", 1, 30.0, 10.0)])
    assert online.multiplier("S1", "A")[0] == pytest.approx(19 / 14)
    shrink = np.sqrt(19) / 14 * 2.0
    np.testing.assert_allclose(
        online.epistemic_sd("S1", ["A"], 2), base.epistemic_sd("S1", ["A"], 2) * shrink
    )
    with pytest.raises(InvalidParameterError, match="epistemic_sd"):
        OnlinePayoffs(FixedModel({"A": 1.0}, {"A": 1.0})).epistemic_sd("S1", ["A"], 2)


def test_shape_correction_learns_a_facings_curve_shared_by_stores() -> None:
    # The model says log2(1 + q) at level 1 everywhere; the truth saturates: 1.0 at 1 facing,
    # 1.2 at 2 and 3 facings (the model expects 1.585 and 2). Seen at stores S1 and S2 only.
    base = FixedModel({"A": 1.0}, {"A": 0.5})
    online = OnlinePayoffs(base, dispersion=1.0, max_prior_strength=4.0, shape_prior_strength=2.0)
    truth = {1: 1.0, 2: 1.2, 3: 1.2}
    online.observe(
        [
            SalesObservation(s, "A", q, 2000.0 * truth[q] * (1.5 if s == "S2" else 1.0), 2000.0)
            for s in ("S1", "S2")
            for q in (1, 2, 3)
        ]
    )
    # S1's curve: the truth at 1..3 facings, its sd bent with it (the base's sd is half its
    # mean, so the sd stays a constant share of the corrected mean)
    table1 = online.table("S1", ["A"], 3)
    t1 = table1.mean[0]
    np.testing.assert_allclose(t1[1:4], [1.0, 1.2, 1.2], rtol=0.02)
    rel = table1.sd[0, 1:] / t1[1:]
    np.testing.assert_allclose(rel, rel[0])
    assert rel[0] < 0.5
    # beyond 3 facings the model's curve times phi(3), made concave and non-decreasing
    t1 = online.table("S1", ["A"], 8).mean[0]
    assert np.all(np.diff(t1) >= -1e-12)
    assert np.all(np.diff(t1, 2) <= 1e-9)
    # S2 sells 1.5 times as much on the same curve
    np.testing.assert_allclose(online.table("S2", ["A"], 3).mean[0, 1:], [1.5, 1.8, 1.8], rtol=0.02)
    # A store never observed gets the model's level on the learned shape
    t3 = online.table("S3", ["A"], 3).mean[0]
    assert t3[2] / t3[1] == pytest.approx(1.2, rel=0.05)
    # Levels alone cannot bend the curve
    flat = OnlinePayoffs(base, dispersion=1.0, shape_prior_strength=None)
    flat.observe([SalesObservation("S1", "A", q, 2000.0 * truth[q], 2000.0) for q in (1, 2, 3)])
    t = flat.table("S1", ["A"], 3).mean[0]
    assert t[3] / t[1] == pytest.approx(2.0)


def test_curves_asked_between_observations_are_not_kept_stale() -> None:
    # bent curves are cached until the next observe: asking in between must not pin them
    base = FixedEnsemble({"A": 1.0, "B": 2.0}, {"A": 0.5, "B": 0.3})
    first = [SalesObservation("S1", "A", q, 30.0 * q, 14.0) for q in (1, 3)]
    later = [
        SalesObservation("S1", "A", 2, 12.0, 14.0),  # bends A's curve at S1 anew
        SalesObservation("S2", "A", 2, 5.0, 14.0),
        SalesObservation("S1", "B", 4, 9.0, 14.0),
    ]
    stepwise = OnlinePayoffs(base).observe(first)
    early = stepwise.table("S1", ["A", "B"], 6)
    stepwise.epistemic_sd("S1", ["A", "B"], 6)
    stepwise.observe(later)
    at_once = OnlinePayoffs(base).observe(first + later)
    for store in ("S1", "S2"):
        a, b = stepwise.table(store, ["A", "B"], 6), at_once.table(store, ["A", "B"], 6)
        np.testing.assert_array_equal(a.mean, b.mean)
        np.testing.assert_array_equal(a.sd, b.sd)
        np.testing.assert_array_equal(
            stepwise.epistemic_sd(store, ["A", "B"], 6), at_once.epistemic_sd(store, ["A", "B"], 6)
        )
    assert not np.array_equal(early.mean[0], stepwise.table("S1", ["A", "B"], 6).mean[0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dispersion": 0.5}, "dispersion must be a number >= 1; got 0.5"),
        ({"dispersion": True}, "dispersion"),
        ({"min_prior_strength": 0.0}, "min_prior_strength must be a number > 0; got 0.0"),
        ({"max_prior_strength": 0.1}, "max_prior_strength must be a number >= min_prior"),
        ({"shape_prior_strength": 0.0}, "shape_prior_strength must be None or a number > 0"),
    ],
)
def test_bad_parameters_are_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        OnlinePayoffs(FixedModel({"A": 1.0}, {"A": 1.0}), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("S1", "A", 0, 1.0, 1.0), "facings must be >= 1 for product 'A' at store 'S1'; got 0"),
        (("S1", "A", 1.5, 1.0, 1.0), "facings must be an integer"),
        (("S1", "A", 1, -1.0, 1.0), "units must be a finite number >= 0"),
        (("S1", "A", 1, 1.0, 0.0), "days must be a finite number > 0"),
    ],
)
def test_bad_observations_are_named(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        SalesObservation(*args)  # type: ignore[arg-type]


def test_observe_rejects_loose_records() -> None:
    online = OnlinePayoffs(FixedModel({"A": 1.0}, {"A": 1.0}))
    with pytest.raises(InvalidParameterError, match="SalesObservation records; got dict"):
        online.observe([{"store_id": "S1"}])  # type: ignore[list-item]
