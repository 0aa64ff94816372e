"""Assortment end to end: heuristic-search latency, each policy's share of the oracle, demo times.

Measured in one run:

* The whole demo (``run_demo`` with its default options) on the bundled chain (seed 0):
  wall time per stage (synthesise, ingest, cluster, fit, recommend, evaluate, experiment,
  report).
* ``oracle_share``: each policy's true expected daily sales after the last recommendation
  round, as a share of the oracle (exact best facings under the true demand among the
  products that fit each display), baselines and Table 3 ablations, from the demo's evaluation.
  Also the replay table (mean reward per policy).
* ``search_p50_ms`` / ``search_p95_ms``: EdgeRec3D's per-display decision (PEPF scores from
  cached payoff tables + Algorithm 2) over every display of the chain, each timed as the median
  of ``REPEATS`` calls; p50/p95 over displays.
* ``closed_loop_share`` (and ``_ablations``): the same, in a closed loop: after each round
  two weeks of sales of every recommended state are drawn from the truth and each policy's
  payoff model (an :class:`~shelfwise.assortment.payoffs.OnlinePayoffs`) learns from its own
  recommendations; candidates are redrawn from each round's state.
* ``closed_loop_replicates``: the closed-loop baselines run ``REPLICATES`` times per chain,
  each with its own candidate draws and sales noise: every share, their mean and sd.
* ``oracle_share_seeds``: the same ground-truth evaluations, open and closed loop (every
  baseline and ablation, the demo's evaluation settings, no replay) on chains generated with
  ``OTHER_SEEDS``, the default configuration otherwise, and the ceiling ``pool_oracle`` (the
  exact best facings under the true demand among the products each policy may choose from in
  round 1: today's and the candidates; candidates redrawn in the closed loop can pass it).
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _chains import chain_setup

from shelfwise.assortment.payoffs import RBPPayoffs
from shelfwise.assortment.policies import EdgeRec3DPolicy
from shelfwise.evaluation.groundtruth import (
    GroundTruthResult,
    SalesFeedback,
    evaluate_on_truth,
    oracle,
    truth_table,
)
from shelfwise.pipeline.assortment import build_problems, drop_unknown_candidates, load_workspace
from shelfwise.pipeline.demo import DemoOptions, run_demo
from shelfwise.pipeline.evaluate import closed_loop_on_truth
from shelfwise.pipeline.suite import (
    ablation_policies,
    baseline_policies,
)

REPEATS = 7
REPLICATES = 3
"""Closed-loop runs per chain (each with its own candidate draws and sales noise)."""
OTHER_SEEDS = (1, 2)


def _oracle_total(frame: pd.DataFrame) -> float:
    """Sum over displays of the oracle's true sales (a ground-truth result's frame)."""
    return float(frame.drop_duplicates("display_id")["oracle_sales"].sum())


def _pool_ceiling(problems: list[Any], truth: Any) -> float:
    """Sum over displays of the true sales of the best facings among each display's pool."""
    pool = 0.0
    for prob in problems:
        table = truth_table(truth, prob.store_id)
        pool += oracle(table, prob.eligible, prob.max_slots, prob.max_facings)[1]
    return pool


def _closed_loop(
    suite: Any,
    ws: Any,
    problems: list[Any],
    eligible: Any,
    truth: Any,
    seed: int,
    *,
    ablations: bool = False,
    replicate: int = 0,
) -> GroundTruthResult:
    """The demo's closed-loop evaluation (baselines or ablations); replicate 0 is the demo's
    own run, others draw their own candidates and sales noise."""
    return closed_loop_on_truth(
        suite,
        ws,
        problems,
        eligible,
        truth,
        rounds=DemoOptions().rounds,
        ablations=ablations,
        random_state=seed if replicate == 0 else np.random.default_rng([seed, replicate]),
    )


def _replicates(results: list[GroundTruthResult]) -> dict[str, Any]:
    """Per policy: each replicate's share, their mean and sd (ddof=1)."""
    frame = pd.DataFrame([r.share() for r in results])
    return {
        str(name): {
            "shares": [round(float(v), 4) for v in frame[name]],
            "mean": round(float(frame[name].mean()), 4),
            "sd": round(float(frame[name].std(ddof=1)), 4) if len(frame) > 1 else 0.0,
        }
        for name in frame.columns
    }


def _seed_shares(seed: int, tmp: Path) -> dict[str, Any]:
    """Ground-truth shares of the oracle on the chain of ``seed`` (truth only, no replay)."""
    opts = DemoOptions()
    setup = chain_setup(seed, tmp / f"seed{seed}")
    chain, ws, suite = setup.chain, setup.workspace, setup.suite
    problems, eligible = list(setup.problems), setup.eligible
    base, abl = (
        evaluate_on_truth(
            policies,
            problems,
            chain.truth,
            eligible=eligible,
            rounds=opts.rounds,
            random_state=seed,
        )
        for policies in (baseline_policies(suite), ablation_policies(suite))
    )
    loop_base, loop_abl = (
        _closed_loop(suite, ws, problems, eligible, chain.truth, seed, ablations=abl_)
        for abl_ in (False, True)
    )
    extra = [
        _closed_loop(suite, ws, problems, eligible, chain.truth, seed, replicate=r)
        for r in range(1, REPLICATES)
    ]
    return {
        "oracle_share": base.share().round(4).to_dict(),
        "oracle_share_ablations": abl.share().round(4).to_dict(),
        "closed_loop_share": loop_base.share().round(4).to_dict(),
        "closed_loop_share_ablations": loop_abl.share().round(4).to_dict(),
        "closed_loop_replicates": _replicates([loop_base, *extra]),
        "current_practice": round(float(base.share(0).iloc[0]), 4),
        "pool_oracle": round(_pool_ceiling(problems, chain.truth) / _oracle_total(base.frame), 4),
    }


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        demo = run_demo(Path(tmp) / "demo", options=DemoOptions(), random_state=0)
        demo_wall = time.perf_counter() - started
        ev = demo.evaluation
        if ev is None or ev.truth_baselines is None or ev.truth_ablations is None:
            raise RuntimeError("the demo did not evaluate on the truth")
        share = {**ev.truth_baselines.share().round(4).to_dict()}
        share_ablation = ev.truth_ablations.share().round(4).to_dict()
        loop, loop_ablation = ev.closed_loop_baselines, ev.closed_loop_ablations
        if loop is None or loop_ablation is None:
            raise RuntimeError("the demo did not evaluate in a closed loop")
        closed = loop.share().round(4).to_dict()
        closed_ablation = loop_ablation.share().round(4).to_dict()
        round1 = ev.truth_baselines.share(1).round(4).to_dict()

        # search latency on the demo's fitted model and every display
        ws = load_workspace(demo.repo)
        labels = {s: str(c) for s, c in demo.clusters.model.labels_.items()}
        problems, eligible0 = build_problems(ws, clusters=labels, random_state=0)
        payoffs = RBPPayoffs(demo.fit.model)
        policy = EdgeRec3DPolicy(payoffs)
        rng = np.random.default_rng(0)
        for prob in problems:  # warm the payoff cache: the timing is the decision itself
            policy.recommend(prob, rng)
        per_display = []
        for prob in problems:
            times = []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                policy.recommend(prob, rng)
                times.append((time.perf_counter() - t0) * 1000.0)
            per_display.append(statistics.median(times))

        problems0, _ = drop_unknown_candidates(problems, RBPPayoffs(ev.suite.rbp.model))
        extra = [
            _closed_loop(ev.suite, ws, problems0, eligible0, demo.chain.truth, 0, replicate=r)
            for r in range(1, REPLICATES)
        ]
        replicates0 = _replicates([loop, *extra])
        seeds = {str(seed): _seed_shares(seed, Path(tmp)) for seed in OTHER_SEEDS}
        oracle0 = _oracle_total(ev.truth_baselines.frame)

    return {
        "search_p50_ms": round(_percentile(per_display, 50), 4),
        "search_p95_ms": round(_percentile(per_display, 95), 4),
        "search_target_p50_ms": 1.0,
        "displays": len(problems),
        "oracle_share": share,
        "oracle_share_round1": round1,
        "oracle_share_ablations": share_ablation,
        "closed_loop_share": closed,
        "closed_loop_share_ablations": closed_ablation,
        "closed_loop_replicates": replicates0,
        "closed_loop_feedback": {
            "days": SalesFeedback().days,
            "visit_gap_days": SalesFeedback().visit_gap_days,
            "nb_shape": SalesFeedback().nb_shape,
        },
        "pool_oracle": round(_pool_ceiling(problems0, demo.chain.truth) / oracle0, 4),
        "oracle_share_seeds": seeds,
        "rounds": int(DemoOptions().rounds),
        "replay_mean_reward": ev.replay_baselines["mean_reward"].round(4).to_dict(),
        "replay_mean_reward_ablations": ev.replay_ablations["mean_reward"].round(4).to_dict(),
        "replay_runs": int(DemoOptions().replay_runs),
        "replay_events": ev.test_events,
        "demo_stage_seconds": {k: round(v, 2) for k, v in demo.seconds.items()},
        "demo_wall_s": round(demo_wall, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
