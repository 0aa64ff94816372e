"""Offline replay evaluation of assortment policies on display logs (Li et al., 2011).

EdgeRec3D (§4.1, Tables 1 and 3) evaluates search policies on logged display visits with the
replay method of Li, Chu, Langford and Wang (WSDM 2011): logged events are replayed in time
order; the policy recommends an action from what it has seen so far; when its action equals
the logged one, the logged reward is revealed to it and counted, otherwise the event is
skipped. For uniformly random logging this is unbiased; the paper thins the log to 50% of its
events at random to reduce temporal dependence and reports mean, sd and median over 30 runs.

Display logs have slots: a visit logs, per product, the facings in place since the previous
visit and the payoff (units sold since then). A policy recommends facings per product for the
display; a *slot* (visit, product) matches when the recommended facings equal the logged
facings, and then its payoff is the reward. A run's value is the mean payoff over matched
slots. The same evaluator runs on any slot log (event id, slot, logged action, reward), e.g.
the data of Open Bandit Pipeline, where a slot is a position and an action an item.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from shelfwise.exceptions import InvalidParameterError


@dataclass(frozen=True)
class SlotContext:
    """What a policy may see when it decides for one logged event (never its outcome).

    ``previous_state`` is the display's logged state at its previous event (facings per
    product), which a merchandiser knows at decision time.
    """

    event_id: str
    store_id: str
    display_id: str
    time: datetime | None
    max_slots: int | None
    previous_state: Mapping[str, int]


@dataclass(frozen=True)
class SlotEvent:
    """One logged event (a display visit): per slot (product) the logged action and reward."""

    context: SlotContext
    slots: tuple[str, ...]
    actions: tuple[int, ...]
    rewards: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.slots) == len(self.actions) == len(self.rewards):
            raise InvalidParameterError(
                f"slots, actions and rewards must have equal lengths for event "
                f"{self.context.event_id}; got {len(self.slots)}, {len(self.actions)}, "
                f"{len(self.rewards)}"
            )


class ReplayPolicy(Protocol):
    """A policy as the replay evaluator drives it.

    ``reset`` starts a run with its own random generator; ``recommend`` returns the action per
    slot (facings per product; slots it does not name count as 0); ``update`` reveals the
    rewards of the matched slots of that event.
    """

    name: str

    def reset(self, rng: np.random.Generator) -> None:
        """Forget everything learned; use ``rng`` for any randomness of this run."""

    def recommend(self, context: SlotContext) -> Mapping[str, int]:
        """The action per slot for this event."""

    def update(self, context: SlotContext, matched: Mapping[str, tuple[int, float]]) -> None:
        """Feedback: for each matched slot, the (action, reward) that was logged."""


@dataclass(frozen=True)
class ReplayResult:
    """Replay value of one policy over several thinned runs."""

    policy: str
    run_values: tuple[float, ...]
    """Mean reward per matched slot, one per run (NaN for a run with no match)."""
    matched_slots: tuple[int, ...]
    """Matched slots per run."""
    events_per_run: int

    @property
    def mean(self) -> float:
        """Mean over runs of the per-run value."""
        return float(np.nanmean(self.run_values))

    @property
    def sd(self) -> float:
        """Standard deviation over runs."""
        return float(np.nanstd(self.run_values, ddof=1)) if len(self.run_values) > 1 else 0.0

    @property
    def median(self) -> float:
        """Median over runs."""
        return float(np.nanmedian(self.run_values))


def events_from_log(frame: pd.DataFrame) -> list[SlotEvent]:
    """Slot events from a display log in EdgeRec3D's layout as stored by shelfwise.

    ``frame`` is :meth:`Repository.visits_frame` output (or any frame with visit_id, store_id,
    display_id, visited_at, product_id, prev_facings, payoff and optionally max_slots). Rows
    without visit id, payoff or facings are skipped. Events are in time order per display.
    """
    needed = [
        "visit_id",
        "store_id",
        "display_id",
        "visited_at",
        "product_id",
        "prev_facings",
        "payoff",
    ]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InvalidParameterError(f"log must have columns {needed}; missing {missing}")
    log = frame.dropna(subset=["visit_id", "prev_facings", "payoff", "product_id"])
    log = log.sort_values(["visited_at", "display_id", "visit_id", "product_id"], kind="stable")
    if log.empty:
        return []
    # Visits in order of first appearance, each visit's rows in sorted order; the columns
    # are read once as Python lists and sliced per visit (no per-visit pandas calls).
    codes, _ = pd.factorize(log["visit_id"], sort=False)
    rows = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[rows]) != 0])
    ends = np.r_[starts[1:], len(rows)]
    first = rows[starts]
    visit_ids = log["visit_id"].to_numpy()[first].tolist()
    stores = log["store_id"].to_numpy()[first].tolist()
    displays = log["display_id"].to_numpy()[first].tolist()
    times = log["visited_at"].iloc[first].tolist()
    has_slots = "max_slots" in log.columns
    slots_of: list[Any] = log["max_slots"].iloc[first].tolist() if has_slots else [0] * len(first)
    products = log["product_id"].astype(str).to_numpy()[rows].tolist()
    facings = log["prev_facings"].astype(int).to_numpy()[rows].tolist()
    payoffs = log["payoff"].astype(float).to_numpy()[rows].tolist()
    events: list[SlotEvent] = []
    previous: dict[str, dict[str, int]] = {}
    for i, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        display = str(displays[i])
        state = dict(zip(products[lo:hi], facings[lo:hi], strict=True))
        ctx = SlotContext(
            event_id=str(visit_ids[i]),
            store_id=str(stores[i]),
            display_id=display,
            time=pd.Timestamp(times[i]).to_pydatetime(),
            max_slots=int(slots_of[i]) if has_slots else None,
            previous_state=previous.get(display, {}),
        )
        events.append(SlotEvent(ctx, tuple(state), tuple(state.values()), tuple(payoffs[lo:hi])))
        previous[display] = state
    return events


def replay(
    policy: ReplayPolicy,
    events: Sequence[SlotEvent],
    *,
    runs: int = 30,
    keep: float = 0.5,
    random_state: int | np.random.Generator | None = None,
) -> ReplayResult:
    """Replay ``events`` ``runs`` times, each on a random ``keep`` share of them.

    Parameters
    ----------
    policy : ReplayPolicy
        The policy; it is reset at the start of each run.
    events : sequence of SlotEvent
        The log, in time order.
    runs : int
        Independent thinned replays.
    keep : float
        Share of events kept in each run (0.5 in the paper), in (0, 1].
    random_state : int, Generator or None
        Seeds the thinning and each run's policy generator.
    """
    if runs < 1:
        raise InvalidParameterError(f"runs must be >= 1; got {runs}")
    if not 0.0 < keep <= 1.0:
        raise InvalidParameterError(f"keep must be in (0, 1]; got {keep}")
    rng = np.random.default_rng(random_state)
    values, matched_counts = [], []
    n_keep = max(1, round(keep * len(events)))
    for _ in range(runs):
        mask = np.zeros(len(events), dtype=bool)
        mask[rng.choice(len(events), size=n_keep, replace=False)] = True
        policy.reset(np.random.default_rng(rng.integers(2**63)))
        total, count = 0.0, 0
        for event, kept in zip(events, mask, strict=True):
            if not kept:
                continue
            rec = policy.recommend(event.context)
            matched: dict[str, tuple[int, float]] = {}
            for slot, action, reward in zip(event.slots, event.actions, event.rewards, strict=True):
                if int(rec.get(slot, 0)) == action:
                    matched[slot] = (action, reward)
            if matched:
                total += sum(r for _, r in matched.values())
                count += len(matched)
                policy.update(event.context, matched)
        values.append(total / count if count else float("nan"))
        matched_counts.append(count)
    return ReplayResult(policy.name, tuple(values), tuple(matched_counts), n_keep)


def replay_table(results: Sequence[ReplayResult]) -> pd.DataFrame:
    """Mean, sd and median reward per policy, laid out like EdgeRec3D's Tables 1 and 3."""
    return pd.DataFrame(
        {
            "policy": [r.policy for r in results],
            "mean_reward": [r.mean for r in results],
            "sd": [r.sd for r in results],
            "median_reward": [r.median for r in results],
            "matched_slots_per_run": [float(np.mean(r.matched_slots)) for r in results],
        }
    ).set_index("policy")
