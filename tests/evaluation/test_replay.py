"""Replay evaluation: a hand-computed example and agreement with an independent implementation."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.evaluation.replay import (
    SlotContext,
    SlotEvent,
    events_from_log,
    replay,
    replay_table,
)
from shelfwise.exceptions import InvalidParameterError


class FixedPolicy:
    """Always recommends the same facings per product."""

    def __init__(self, name: str, facings: Mapping[str, int]) -> None:
        self.name = name
        self.facings = dict(facings)
        self.feedback: list[dict[str, tuple[int, float]]] = []

    def reset(self, rng: np.random.Generator) -> None:
        self.feedback = []

    def recommend(self, context: SlotContext) -> Mapping[str, int]:
        return self.facings

    def update(self, context: SlotContext, matched: Mapping[str, tuple[int, float]]) -> None:
        self.feedback.append(dict(matched))


class CopyPreviousPolicy:
    """Recommends what the display held at its previous event (learns nothing)."""

    name = "copy-previous"

    def reset(self, rng: np.random.Generator) -> None:
        pass

    def recommend(self, context: SlotContext) -> Mapping[str, int]:
        return context.previous_state

    def update(self, context: SlotContext, matched: Mapping[str, tuple[int, float]]) -> None:
        pass


def _event(i: int, facings: dict[str, int], payoffs: dict[str, float]) -> SlotEvent:
    ctx = SlotContext(f"e{i}", "S1", "D1", None, 10, {})
    return SlotEvent(
        ctx, tuple(facings), tuple(facings.values()), tuple(payoffs[p] for p in facings)
    )


def test_hand_computed_example() -> None:
    events = [
        _event(0, {"a": 2, "b": 1}, {"a": 3.0, "b": 1.0}),  # a and b match: 3 + 1
        _event(1, {"a": 1, "b": 1}, {"a": 5.0, "b": 2.0}),  # b matches: 2
        _event(2, {"a": 2, "b": 0}, {"a": 4.0, "b": 0.0}),  # a matches: 4
        _event(3, {"a": 3, "b": 2}, {"a": 9.0, "b": 9.0}),  # nothing
    ]
    policy = FixedPolicy("fixed", {"a": 2, "b": 1})
    result = replay(policy, events, runs=1, keep=1.0, random_state=0)
    assert result.run_values == ((3.0 + 1.0 + 2.0 + 4.0) / 4,)
    assert result.matched_slots == (4,)
    # only matched slots were revealed, and only for events with a match
    assert policy.feedback == [
        {"a": (2, 3.0), "b": (1, 1.0)},
        {"b": (1, 2.0)},
        {"a": (2, 4.0)},
    ]


def test_agrees_with_an_independent_implementation_on_a_generic_slot_log() -> None:
    """On a uniformly logged slot bandit, a fixed policy's replay value equals the
    Open Bandit Pipeline ReplayMethod estimate sum(r * 1[a = pi]) / sum(1[a = pi]) computed
    independently here with numpy on the same thinned events."""
    rng = np.random.default_rng(11)
    n_events, n_slots, n_actions = 400, 3, 4
    actions = rng.integers(0, n_actions, size=(n_events, n_slots))
    true_mean = np.array([0.2, 0.5, 0.9, 0.4])
    rewards = rng.binomial(1, true_mean[actions]).astype(float)
    slots = tuple(f"pos{k}" for k in range(n_slots))
    events = [
        SlotEvent(
            SlotContext(f"e{i}", "s", "d", None, None, {}),
            slots,
            tuple(int(a) for a in actions[i]),
            tuple(float(r) for r in rewards[i]),
        )
        for i in range(n_events)
    ]
    pi = {"pos0": 2, "pos1": 2, "pos2": 1}
    result = replay(FixedPolicy("fixed", pi), events, runs=5, keep=0.5, random_state=3)
    # independent: redraw the same thinning masks from the same generator stream
    rng2 = np.random.default_rng(3)
    expected = []
    for _ in range(5):
        keep = np.zeros(n_events, dtype=bool)
        keep[rng2.choice(n_events, size=n_events // 2, replace=False)] = True
        rng2.integers(2**63)  # the evaluator's per-run policy seed
        target = np.array([pi[s] for s in slots])
        match = (actions == target) & keep[:, None]
        expected.append(float((rewards * match).sum() / match.sum()))
    np.testing.assert_allclose(result.run_values, expected)
    # and it estimates the policy's true value (unbiased under uniform logging)
    truth = float(np.mean([true_mean[pi[s]] for s in slots]))
    assert result.mean == pytest.approx(truth, abs=0.08)


def test_events_from_the_published_layout_and_a_table() -> None:
    chain = generate_chain(
        ChainConfig(n_stores=3, n_products=15, displays_per_store=1, weeks=3), random_state=1
    )
    log = chain.to_frames()["edgerec3d"].rename(
        columns={
            "last_scanned_datetime": "visited_at",
            "previous_post_scan_num_facings": "prev_facings",
        }
    )
    log["visit_id"] = log["display_id"] + "@" + log["visited_at"].astype(str)
    events = events_from_log(log)
    assert len(events) == log["visit_id"].nunique()
    assert events[0].context.previous_state == {}
    later = [e for e in events if e.context.display_id == events[0].context.display_id]
    assert later[1].context.previous_state == dict(
        zip(later[0].slots, later[0].actions, strict=True)
    )
    copy = replay(CopyPreviousPolicy(), events, runs=3, keep=0.5, random_state=0)
    table = replay_table([copy])
    assert list(table.columns) == ["mean_reward", "sd", "median_reward", "matched_slots_per_run"]
    assert table.loc["copy-previous", "matched_slots_per_run"] > 0


def test_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="keep must be in"):
        replay(CopyPreviousPolicy(), [], keep=0.0)
    with pytest.raises(InvalidParameterError, match="runs must be >= 1"):
        replay(CopyPreviousPolicy(), [], runs=0)
    with pytest.raises(InvalidParameterError, match="missing"):
        events_from_log(pd.DataFrame({"visit_id": ["v"]}))


def test_events_from_a_log_without_usable_rows_are_none() -> None:
    log = pd.DataFrame(
        {
            "visit_id": ["v1"],
            "store_id": ["S1"],
            "display_id": ["D1"],
            "visited_at": [pd.Timestamp("2026-01-05")],
            "product_id": ["P1"],
            "prev_facings": [None],
            "payoff": [1.0],
        }
    )
    assert events_from_log(log) == []
    assert events_from_log(log.iloc[:0]) == []


def _events_one_visit_at_a_time(log: pd.DataFrame) -> list[SlotEvent]:
    """events_from_log read literally: one pandas group per visit, in order of first row."""
    log = log.dropna(subset=["visit_id", "prev_facings", "payoff", "product_id"])
    log = log.sort_values(["visited_at", "display_id", "visit_id", "product_id"], kind="stable")
    events, previous = [], {}
    for vid, g in log.groupby("visit_id", sort=False):
        first = g.iloc[0]
        state = {str(p): int(q) for p, q in zip(g["product_id"], g["prev_facings"], strict=True)}
        ctx = SlotContext(
            str(vid),
            str(first["store_id"]),
            str(first["display_id"]),
            pd.Timestamp(first["visited_at"]).to_pydatetime(),
            int(first["max_slots"]),
            previous.get(str(first["display_id"]), {}),
        )
        payoffs = tuple(float(v) for v in g["payoff"])
        events.append(SlotEvent(ctx, tuple(state), tuple(state.values()), payoffs))
        previous[str(first["display_id"])] = state
    return events


def test_events_equal_one_group_per_visit_on_a_shuffled_log_with_split_visits() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for v in range(40):
        display = f"D{v % 3}"
        day = pd.Timestamp("2026-01-01") + pd.Timedelta(days=v // 3)
        for p in rng.choice(8, size=int(rng.integers(1, 5)), replace=False):
            rows.append(
                (
                    f"v{v:02d}",
                    "S1",
                    display,
                    day,
                    f"P{p}",
                    int(rng.integers(0, 4)),
                    float(rng.gamma(2.0)),
                    12,
                )
            )
    log = pd.DataFrame(
        rows,
        columns=[
            "visit_id",
            "store_id",
            "display_id",
            "visited_at",
            "product_id",
            "prev_facings",
            "payoff",
            "max_slots",
        ],
    )
    # one visit's rows logged at two times: after sorting they are not next to each other
    log.loc[log["visit_id"] == "v05", "visited_at"] = [
        pd.Timestamp("2026-01-02") + pd.Timedelta(days=3 * i)
        for i in range(int((log["visit_id"] == "v05").sum()))
    ]
    log.loc[3, "payoff"] = None  # skipped
    log = log.sample(frac=1.0, random_state=4)
    got = events_from_log(log)
    assert got == _events_one_visit_at_a_time(log)
    assert [type(a) for e in got for a in e.actions] == [int] * sum(len(e.actions) for e in got)
