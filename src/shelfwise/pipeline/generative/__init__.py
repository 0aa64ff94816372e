"""Workflows of the generative planogram model, by concern.

The library pieces live in :mod:`shelfwise.generative`; these modules wire them to a chain, the
database or ``.psa`` files: ``data`` (sources and the training / held-out split), ``serving``
(training, opening a pipeline, compatibility checks), ``export`` (ONNX, INT8, the accuracy
gate, publishing), ``evaluate`` (the table against baselines, latency) and ``demo`` (arranging a
recommendation run).
"""

from shelfwise.pipeline.generative.data import (
    GenerativeData,
    chain_generative_data,
    load_generative_data,
    psa_generative_data,
    split_stores,
    truth_revenue,
    workspace_generative_data,
)
from shelfwise.pipeline.generative.demo import (
    SHIPPED_MODEL,
    ArrangeRun,
    arrange_recommendations,
    shipped_model_fits,
)
from shelfwise.pipeline.generative.evaluate import Latency, evaluate_generative, sampling_latency
from shelfwise.pipeline.generative.export import (
    ExportRun,
    GateResult,
    accuracy_gate,
    calibration_feeds,
    export_generative,
)
from shelfwise.pipeline.generative.serving import (
    ONNX_FP32,
    ONNX_INT8,
    LoadedModel,
    Precision,
    check_compatible,
    open_pipeline,
    train_generative,
)

__all__ = [
    "ONNX_FP32",
    "ONNX_INT8",
    "SHIPPED_MODEL",
    "ArrangeRun",
    "ExportRun",
    "GateResult",
    "GenerativeData",
    "Latency",
    "LoadedModel",
    "Precision",
    "accuracy_gate",
    "arrange_recommendations",
    "calibration_feeds",
    "chain_generative_data",
    "check_compatible",
    "evaluate_generative",
    "export_generative",
    "load_generative_data",
    "open_pipeline",
    "psa_generative_data",
    "sampling_latency",
    "shipped_model_fits",
    "split_stores",
    "train_generative",
    "truth_revenue",
    "workspace_generative_data",
]
