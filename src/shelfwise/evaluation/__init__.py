"""Evaluation: replay evaluation of policies on logs, ground-truth evaluation against the
oracle on the synthetic chain, difference-in-differences with permutation tests, simulated
field experiments, compliance, figures.
"""

from shelfwise.evaluation.compliance import jaccard
from shelfwise.evaluation.did import (
    DIDResult,
    difference_in_differences,
    read_panel,
    unit_changes,
)
from shelfwise.evaluation.experiment import (
    ExperimentAnalysis,
    FieldExperiment,
    analyse_experiment,
    simulate_field_experiment,
)
from shelfwise.evaluation.figures import did_trend_figure, oracle_share_figure
from shelfwise.evaluation.groundtruth import (
    DemandTruth,
    GroundTruthResult,
    SalesFeedback,
    evaluate_on_truth,
    oracle,
    truth_table,
)
from shelfwise.evaluation.problems import (
    candidate_refresher,
    display_problems,
    eligible_products,
    keep_pool,
)
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
    "DemandTruth",
    "ExperimentAnalysis",
    "FieldExperiment",
    "GroundTruthResult",
    "ReplayPolicy",
    "ReplayResult",
    "SalesFeedback",
    "SlotContext",
    "SlotEvent",
    "analyse_experiment",
    "candidate_refresher",
    "did_trend_figure",
    "difference_in_differences",
    "display_problems",
    "eligible_products",
    "evaluate_on_truth",
    "events_from_log",
    "jaccard",
    "keep_pool",
    "oracle",
    "oracle_share_figure",
    "read_panel",
    "replay",
    "replay_table",
    "simulate_field_experiment",
    "truth_table",
    "unit_changes",
]
