"""Evaluation: replay evaluation of policies on logs, difference-in-differences with
permutation tests, compliance, figures. (Ground-truth evaluation of policies on the synthetic
chain comes with the assortment work.)
"""

from shelfwise.evaluation.compliance import jaccard
from shelfwise.evaluation.did import (
    DIDResult,
    difference_in_differences,
    read_panel,
    unit_changes,
)
from shelfwise.evaluation.figures import did_trend_figure
from shelfwise.evaluation.replay import (
    ReplayPolicy,
    ReplayResult,
    SlotContext,
    SlotEvent,
    events_from_log,
    replay,
    replay_table,
)

__all__ = [
    "DIDResult",
    "ReplayPolicy",
    "ReplayResult",
    "SlotContext",
    "SlotEvent",
    "did_trend_figure",
    "difference_in_differences",
    "events_from_log",
    "jaccard",
    "read_panel",
    "replay",
    "replay_table",
    "unit_changes",
]
