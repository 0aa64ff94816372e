"""Export to ONNX, static INT8 calibration, the INT8 accuracy gate, and publishing a version."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from shelfwise.exceptions import (
    InvalidParameterError,
)
from shelfwise.generative.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_config
from shelfwise.generative.evaluate import (
    EvalCase,
)
from shelfwise.generative.pipelines.planogram import PlanogramPipeline
from shelfwise.generative.registry import ModelRegistry, ModelVersion
from shelfwise.pipeline.generative.data import GenerativeData
from shelfwise.pipeline.generative.serving import (
    ONNX_FP32,
    ONNX_INT8,
    check_compatible,
    open_pipeline,
)
from shelfwise.planogram.validator import validate

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class GateResult:
    """The INT8 accuracy gate: fp32 and INT8 ONNX on the same held-out inputs and noise.

    ``accepted`` when INT8's raw validity (structured and naive decoding) is within
    ``valid_tolerance`` of fp32 (absolute) and its mean revenue proxy within
    ``revenue_tolerance`` (relative).
    """

    accepted: bool
    reason: str
    n: int
    fp32: Mapping[str, float]
    int8: Mapping[str, float]
    valid_tolerance: float
    revenue_tolerance: float


def _gate_metrics(
    loaded: PlanogramPipeline, cases: Sequence[EvalCase], data: GenerativeData, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    outs = [loaded.generate(c.display, c.cluster, rng=rng)[0] for c in cases]
    naive = [
        validate(g.naive, c.display, data.products, data.rulebook).is_valid
        for g, c in zip(outs, cases, strict=True)
        if g.naive is not None
    ]
    revenue = data.revenue
    rev = (
        [
            revenue(c.display.store_id, g.planogram.facings())
            for g, c in zip(outs, cases, strict=True)
        ]
        if revenue is not None
        else [float(sum(g.planogram.facings().values())) for g in outs]
    )
    return {
        "raw_valid": float(np.mean([g.raw_valid for g in outs])),
        "naive_raw_valid": float(np.mean(naive)) if naive else 0.0,
        "revenue_proxy": float(np.mean(rev)),
        "facings_changed": float(np.mean([g.facings_changed for g in outs])),
    }


def accuracy_gate(
    fp32: PlanogramPipeline,
    int8: PlanogramPipeline,
    data: GenerativeData,
    *,
    n_cases: int = 24,
    valid_tolerance: float = 0.05,
    revenue_tolerance: float = 0.03,
    random_state: int = 0,
) -> GateResult:
    """Compare INT8 with fp32 on held-out displays (same noise for both)."""
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise InvalidParameterError(f"n_cases must be an integer >= 1; got {n_cases!r}")
    cases = data.cases(limit=n_cases)
    a = _gate_metrics(fp32, cases, data, random_state)
    b = _gate_metrics(int8, cases, data, random_state)
    problems = []
    for key in ("raw_valid", "naive_raw_valid"):
        if b[key] < a[key] - valid_tolerance:
            problems.append(f"{key} {b[key]:.3f} vs fp32 {a[key]:.3f}")
    rel = abs(b["revenue_proxy"] - a["revenue_proxy"]) / max(abs(a["revenue_proxy"]), 1e-9)
    if rel > revenue_tolerance:
        problems.append(f"revenue proxy differs by {rel:.1%}")
    accepted = not problems
    reason = (
        f"within tolerance on {len(cases)} held-out displays (validity -{valid_tolerance:g}, "
        f"revenue {revenue_tolerance:.0%}); revenue differs by {rel:.1%}"
        if accepted
        else "outside tolerance: " + "; ".join(problems)
    )
    return GateResult(accepted, reason, len(cases), a, b, valid_tolerance, revenue_tolerance)


def calibration_feeds(
    pipe: PlanogramPipeline, data: GenerativeData, *, n_planograms: int = 16, random_state: int = 0
) -> list[dict[str, NDArray[np.generic]]]:
    """Real denoiser inputs for INT8 calibration: the sampler's inputs on training displays.

    Every step of sampling ``n_planograms`` planograms (generate and arrange alternately) is
    recorded, so activation ranges cover the whole schedule, both tasks and real conditions.
    """
    feeds: list[dict[str, NDArray[np.generic]]] = []
    inner = pipe.denoiser

    def recording(
        sample: NDArray[np.float32],
        timestep: NDArray[np.int64],
        conditions: NDArray[np.float32],
        class_labels: NDArray[np.int64],
    ) -> NDArray[np.float32]:
        feeds.append(
            {
                "sample": sample.copy(),
                "timestep": timestep.copy(),
                "conditions": conditions.copy(),
                "class_labels": class_labels.copy(),
            }
        )
        return inner(sample, timestep, conditions, class_labels)

    pipe.denoiser = recording
    try:
        rng = np.random.default_rng(random_state)
        train = data.training_planograms()
        picks = rng.choice(len(train), size=min(n_planograms, len(train)), replace=False)
        for k, i in enumerate(picks):
            plan = train[int(i)]
            d = data.displays[plan.display_id]
            cluster = data.clusters[d.store_id]
            if k % 2:
                pipe.arrange(d, cluster, plan.facings(), rng=rng)
            else:
                pipe.generate(d, cluster, rng=rng)
    finally:
        pipe.denoiser = inner
    return feeds


@dataclass(frozen=True)
class ExportRun:
    """What :func:`export_generative` published."""

    version: ModelVersion
    gate: GateResult
    onnx_bytes: int
    int8_bytes: int
    seconds: float


def export_generative(
    checkpoint: Path,
    data: GenerativeData,
    registry: Path,
    *,
    n_gate: int = 24,
    valid_tolerance: float = 0.05,
    revenue_tolerance: float = 0.03,
    n_calibration: int = 16,
    activate: bool = True,
) -> ExportRun:
    """Export a checkpoint to ONNX, quantise it to static INT8, gate it, and publish a version.

    The new version holds the checkpoint (config and float16 weights), the fp32 ONNX file and
    the INT8 file whether or not the gate accepted it; the gate's verdict decides which one
    ``open_pipeline(precision="auto")`` serves. Nothing is published when a step fails.

    Raises
    ------
    ArtifactMismatchError
        When the checkpoint was trained on another catalog or other store clusters than
        ``data``'s (its calibration and gate would be meaningless).
    """
    from shelfwise.generative import training
    from shelfwise.generative.export import export_onnx, quantize_int8  # torch needed here

    t0 = time.perf_counter()
    est = training.PlanogramDiffusion.load(checkpoint)
    check_compatible(est.codec_, data, model=str(checkpoint))
    data = data.matching(checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        est.save(work, for_inference=True)
        fp32_path = export_onnx(est.model_, work / ONNX_FP32)
        fp32 = open_pipeline(work, precision="fp32", naive=True).pipeline
        feeds = calibration_feeds(fp32, data, n_planograms=n_calibration)
        int8_path = quantize_int8(fp32_path, work / ONNX_INT8, feeds)
        int8 = open_pipeline(work, precision="int8", naive=True).pipeline
        gate = accuracy_gate(
            fp32,
            int8,
            data,
            n_cases=n_gate,
            valid_tolerance=valid_tolerance,
            revenue_tolerance=revenue_tolerance,
        )
        cfg = read_config(work)
        files = {name: work / name for name in (CONFIG_FILE, WEIGHTS_FILE, ONNX_FP32, ONNX_INT8)}
        version = ModelRegistry(registry).publish(
            files,
            metadata={
                "training": cfg.params,
                "n_iterations_done": cfg.n_iterations_done,
                "gate": {"n": gate.n, "fp32": dict(gate.fp32), "int8": dict(gate.int8)},
                "source_checkpoint": str(checkpoint),
            },
            activate=activate,
            int8_accepted=gate.accepted,
            int8_reason=gate.reason,
        )
        sizes = (fp32_path.stat().st_size, int8_path.stat().st_size)
    return ExportRun(version, gate, sizes[0], sizes[1], time.perf_counter() - t0)
