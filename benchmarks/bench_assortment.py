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

from shelfwise.assortment.payoffs import RBPPayoffs
from shelfwise.assortment.policies import EdgeRec3DPolicy
from shelfwise.pipeline.assortment import build_problems, load_workspace
from shelfwise.pipeline.demo import DemoOptions, run_demo

REPEATS = 7


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
        round1 = ev.truth_baselines.share(1).round(4).to_dict()

        # search latency on the demo's fitted model and every display
        ws = load_workspace(demo.repo)
        labels = {s: str(c) for s, c in demo.clusters.model.labels_.items()}
        problems, _ = build_problems(ws, clusters=labels, random_state=0)
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

    return {
        "search_p50_ms": round(_percentile(per_display, 50), 4),
        "search_p95_ms": round(_percentile(per_display, 95), 4),
        "search_target_p50_ms": 1.0,
        "displays": len(problems),
        "oracle_share": share,
        "oracle_share_round1": round1,
        "oracle_share_ablations": share_ablation,
        "rounds": int(DemoOptions().rounds),
        "replay_mean_reward": ev.replay_baselines["mean_reward"].round(4).to_dict(),
        "replay_mean_reward_ablations": ev.replay_ablations["mean_reward"].round(4).to_dict(),
        "replay_runs": int(DemoOptions().replay_runs),
        "replay_events": ev.test_events,
        "demo_stage_seconds": {k: round(v, 2) for k, v in demo.seconds.items()},
        "demo_wall_s": round(demo_wall, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
