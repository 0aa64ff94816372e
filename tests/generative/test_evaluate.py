"""The evaluation of generated planograms: cases, style distances, scores and baselines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.domain import DisplayKind, Planogram, Position
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.evaluate import (
    EvalCase,
    MethodResult,
    eval_cases,
    popular_assortment,
    run_baseline,
    score,
    style_distances,
)
from shelfwise.generative.pipelines.planogram import GeneratedPlanogram, finish
from shelfwise.pipeline.generative import GenerativeData, chain_generative_data
from shelfwise.planogram import validate
from shelfwise.planogram.rules import HARD_RULE_TYPES, MandatoryProducts, Rulebook


@pytest.fixture(scope="module")
def data() -> GenerativeData:
    chain = generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )
    return chain_generative_data(chain, holdout_share=0.34)


def _facings_count(store_id: str, facings: dict[str, int] | object) -> float:
    """A revenue stand-in: one per facing."""
    assert isinstance(store_id, str)
    return float(sum(facings.values()))  # type: ignore[attr-defined]


def _plan(display_id: str, *positions: tuple[int, float, str, int], version: int = 1) -> Planogram:
    return Planogram(
        display_id,
        version,
        tuple(Position(s, x, p, q) for s, x, p, q in positions),
        provenance="test",
    )


def _too_wide(plan: Planogram) -> Planogram:
    """The planogram with its first block 40 facings wider (past its shelf's end)."""
    first = plan.positions[0]
    return replace(
        plan, positions=(replace(first, facings_wide=first.facings_wide + 40), *plan.positions[1:])
    )


# ------------------------------------------------------------------ cases and style
def test_eval_cases_cover_the_held_out_displays(data: GenerativeData) -> None:
    cases = eval_cases(data.planograms, data.displays, data.clusters, data.eval_stores)
    expected = sorted(d for d, disp in data.displays.items() if disp.store_id in data.eval_stores)
    assert [c.display.display_id for c in cases] == expected
    for c in cases:
        assert c.cluster == data.clusters[c.display.store_id]
        assert [h.version for h in c.history] == sorted(h.version for h in c.history)
        assert all(h.display_id == c.display.display_id for h in c.history)
        assert c.facings == c.history[-1].facings()
    assert data.cases() == cases
    assert len(data.cases(limit=2)) == 2
    assert eval_cases(data.planograms, data.displays, data.clusters, []) == []


def test_a_planogram_is_at_distance_zero_from_its_own_history(data: GenerativeData) -> None:
    for plan in data.planograms[:6]:
        case = EvalCase(data.displays[plan.display_id], 0, (plan,))
        assert style_distances(plan, case, data.products) == (0.0, 0.0)


def test_style_distances_by_hand(data: GenerativeData) -> None:
    display = data.displays["S01-D1"]
    # P0001 is "Sparkling"; P0012 (Greenleaf Tea) is in another subcategory
    sub = {p: data.products[p].subcategory for p in ("P0001", "P0005", "P0012")}
    assert sub["P0001"] == sub["P0005"] != sub["P0012"]
    mine = _plan("S01-D1", (0, 0.0, "P0001", 2))
    v1 = _plan("S01-D1", (0, 0.0, "P0001", 1), (1, 0.0, "P0012", 1))
    v2 = _plan("S01-D1", (0, 0.0, "P0005", 3), version=2)
    one = EvalCase(display, 0, (v1,))
    # shares: mine {(0, S): 1}; v1 {(0, S): .5, (1, G): .5} -> TV 0.5; products {1} vs {1, 12}
    assert style_distances(mine, one, data.products) == pytest.approx((0.5, 0.5))
    both = EvalCase(display, 0, (v1, v2))
    # mean history shares {(0, S): .75, (1, G): .25} -> TV .25; Jaccard .5 and 1 -> .75
    assert style_distances(mine, both, data.products) == pytest.approx((0.25, 0.75))


# ------------------------------------------------------------------ score
def _finished(plan: Planogram, data: GenerativeData, **kw: object) -> GeneratedPlanogram:
    return finish(plan, data.displays[plan.display_id], data.products, data.rulebook, **kw)  # type: ignore[arg-type]


def test_score_by_hand(data: GenerativeData) -> None:
    cases = data.cases()[:2]
    training = data.training_planograms()
    a, b = cases
    copy = next(p for p in training if p.display_id.startswith("S01"))  # a training planogram
    copy = replace(copy, display_id=a.display.display_id, version=7)
    assert validate(copy, a.display, data.products, data.rulebook).is_valid
    # case a: two identical samples (diversity 0), one a copy of a training planogram
    same = [_finished(copy, data), _finished(copy, data)]
    # case b: its own planogram, and one with a block too wide, repaired
    wanted = dict(b.facings)
    plan_b = b.history[-1]
    ok_b = _finished(plan_b, data, reference=wanted)
    bad_b = _finished(_too_wide(plan_b), data, reference=wanted)
    assert not bad_b.raw_valid and bad_b.repair is not None
    outputs = [same, [ok_b, bad_b]]
    r = score(
        "m",
        "arrange",
        outputs,
        cases,
        data.products,
        data.rulebook,
        revenue=_facings_count,
        training=training,
    )
    assert isinstance(r, MethodResult)
    assert (r.method, r.task, r.n, r.failures) == ("m", "arrange", 4, 0)
    assert r.raw_valid == 0.75
    broken = {v.rule_type for v in bad_b.raw_report.hard}
    assert "shelf_width" in broken
    # every hard family of the rulebook is reported; the ones bad_b broke at 3/4
    ruled = {rule.type for rule in data.rulebook.rules if rule.type in HARD_RULE_TYPES}
    assert set(r.raw_valid_by_family) == ruled | broken
    assert r.raw_valid_by_family == {f: 0.75 if f in broken else 1.0 for f in ruled | broken}
    assert r.valid_after_repair == 1.0
    changed = [0, 0, 0, bad_b.facings_changed]
    reference = [sum(copy.facings().values())] * 2 + [sum(wanted.values())] * 2
    assert r.facings_changed == pytest.approx(np.mean(changed))
    assert r.facings_changed_share == pytest.approx(sum(changed) / sum(reference))
    # the training copy is not novel (twice); b's own planograms are held out, so novel
    seen = {
        frozenset((p.shelf_index, p.product_id, p.facings_wide) for p in t.positions)
        for t in training
    }
    assert frozenset((p.shelf_index, p.product_id, p.facings_wide) for p in copy.positions) in seen
    assert r.novelty == 0.5
    # diversity: case a's pair is identical; case b's pair by hand
    pairs_b = [
        {(p.shelf_index, p.product_id) for p in g.planogram.positions} for g in (ok_b, bad_b)
    ]
    jac = 1 - len(pairs_b[0] & pairs_b[1]) / len(pairs_b[0] | pairs_b[1])
    assert r.diversity == pytest.approx((0.0 + jac) / 2)
    finals = [g.planogram for g in (*same, ok_b, bad_b)]
    assert r.revenue_per_day == pytest.approx(np.mean([sum(p.facings().values()) for p in finals]))
    ms = [g.total_ms for g in (*same, ok_b, bad_b)]
    assert r.p50_ms == pytest.approx(np.percentile(ms, 50))
    assert r.p95_ms == pytest.approx(np.percentile(ms, 95))
    assert r.naive_raw_valid is None
    layouts = [
        style_distances(g.planogram, c, data.products)
        for g, c in [(same[0], a), (same[1], a), (ok_b, b), (bad_b, b)]
    ]
    assert r.style_layout == pytest.approx(np.mean([s[0] for s in layouts]))
    assert r.style_products == pytest.approx(np.mean([s[1] for s in layouts]))
    row = r.to_dict()
    assert row["n"] == 4 and row["novelty"] == 0.5 and "naive_raw_valid" not in row
    assert row["raw_valid_by_family"]["shelf_width"] == 0.75  # type: ignore[index]


def test_score_counts_failures_and_naive_decodes(data: GenerativeData) -> None:
    cases = data.cases()[:2]
    plans = [c.history[-1] for c in cases]
    naive_bad = _too_wide(plans[0])
    outs = [
        [_finished(plans[0], data, naive=naive_bad)],
        [_finished(plans[1], data, naive=plans[1])],
    ]
    r = score(
        "m",
        "generate",
        outs,
        cases,
        data.products,
        data.rulebook,
        revenue=_facings_count,
        failures=2,
    )
    # two planograms handed out, both valid, and two that repair could not save
    assert r.valid_after_repair == 0.5
    assert r.failures == 2 and r.n == 2
    assert r.naive_raw_valid == 0.5
    assert r.to_dict()["naive_raw_valid"] == 0.5
    # no training set: everything is novel; one sample per case: no diversity
    assert r.novelty == 1.0 and r.diversity == 0.0


def test_score_rejects_bad_outputs(data: GenerativeData) -> None:
    cases = data.cases()[:2]
    g = _finished(cases[0].history[-1], data)
    with pytest.raises(InvalidParameterError, match="one list per case"):
        score("m", "arrange", [[g]], cases, data.products, data.rulebook, revenue=_facings_count)
    with pytest.raises(InvalidParameterError, match="hold no planogram"):
        score("m", "arrange", [[], []], cases, data.products, data.rulebook, revenue=_facings_count)


# ------------------------------------------------------------------ baselines
def test_popular_assortment_by_hand(data: GenerativeData) -> None:
    display = replace(data.displays["S01-D1"], max_slots=8)
    history = [
        _plan("X", (0, 0.0, "P0001", 2), (0, 20.0, "P0002", 1), (1, 0.0, "P0005", 4)),
        _plan("X", (0, 0.0, "P0001", 4), (1, 0.0, "P0005", 5)),
        _plan("X", (0, 0.0, "P0001", 3), (0, 30.0, "P0003", 1)),
    ]
    # counts: P0001 3 (median 3), P0005 2 (median 4.5 -> 4), P0002 1, P0003 1 (ties by id)
    got = popular_assortment(display, history, data.products, lambda p: True)
    assert got == {"P0001": 3, "P0005": 4, "P0002": 1}
    assert list(got) == ["P0001", "P0005", "P0002"]  # in rank order
    assert sum(got.values()) <= display.max_slots
    # P0005 does not fit within 2 slots; the smaller ones still do
    small = replace(display, max_slots=5)
    assert popular_assortment(small, history, data.products, lambda p: True) == {
        "P0001": 3,
        "P0002": 1,
        "P0003": 1,
    }
    # the filter and the catalog decide what may come in
    no_cola = popular_assortment(display, history, data.products, lambda p: p != "P0001")
    assert no_cola == {"P0005": 4, "P0002": 1, "P0003": 1}
    catalog = {k: v for k, v in data.products.items() if k != "P0005"}
    assert "P0005" not in popular_assortment(display, history, catalog, lambda p: True)
    assert popular_assortment(display, [], data.products, lambda p: True) == {}


@pytest.mark.parametrize("method", ["solver", "greedy"])
def test_baselines_hand_out_valid_planograms(data: GenerativeData, method: str) -> None:
    cases = data.cases()
    wanted = [dict(c.facings) for c in cases]
    outs, failures = run_baseline(
        method, cases, wanted, data.products, data.rulebook, time_limit_s=5.0
    )
    assert failures == 0 and len(outs) == len(cases)
    for (g,), c, w in zip(outs, cases, wanted, strict=True):
        assert validate(g.planogram, c.display, data.products, data.rulebook).is_valid
        assert g.reference == w
        assert g.planogram.display_id == c.display.display_id
        if method == "solver":  # the solver places every requested facing, valid as made
            assert g.raw_valid and g.facings_changed == 0
        assert g.decode_ms > 0.0


def test_baseline_failures_are_counted_not_raised(data: GenerativeData) -> None:
    """A mandatory product outside the catalog on end caps: no layout, no repair there."""
    rules = Rulebook(
        name="impossible-end-caps",
        rules=(
            *data.rulebook.rules,
            MandatoryProducts(
                id="ghost", product_ids=("NOPE",), display_kinds=(DisplayKind.END_CAP,)
            ),
        ),
    )
    cases = data.cases()
    kinds = [c.display.kind for c in cases]
    assert DisplayKind.END_CAP in kinds and DisplayKind.COOLER in kinds
    wanted = [dict(c.facings) for c in cases]
    for method in ("solver", "greedy"):
        outs, failures = run_baseline(method, cases, wanted, data.products, rules, time_limit_s=5)
        assert failures == kinds.count(DisplayKind.END_CAP)
        for out, kind in zip(outs, kinds, strict=True):
            assert (out == []) == (kind == DisplayKind.END_CAP)
        r = score(
            method,
            "arrange",
            outs,
            cases,
            data.products,
            rules,
            revenue=_facings_count,
            failures=failures,
        )
        assert r.valid_after_repair == pytest.approx(1 - failures / len(cases))


def test_run_baseline_rejects_an_unknown_method(data: GenerativeData) -> None:
    with pytest.raises(InvalidParameterError, match="method must be 'solver' or 'greedy'"):
        run_baseline("random", data.cases(), [], data.products, data.rulebook)
    with pytest.raises(InvalidParameterError, match="one assortment per case"):
        run_baseline("greedy", data.cases(), [{}], data.products, data.rulebook)
