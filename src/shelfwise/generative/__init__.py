"""Generative planograms: a diffusion model that learns stores' style (paper ``shared/papers/000``).

Laid out like diffusers:

* :mod:`~shelfwise.generative.models` (torch): the conditioned U-Net and its numpy wrapper;
* :mod:`~shelfwise.generative.schedulers` (numpy): DDPM and DDIM samplers;
* :mod:`~shelfwise.generative.pipelines`: noise -> tensor -> structured decoder -> validator ->
  repair, so every planogram handed out is valid;
* :mod:`~shelfwise.generative.training` (torch): ``PlanogramDiffusion``, DDPM training with the
  constraint and revenue losses of :mod:`~shelfwise.generative.losses`;
* :mod:`~shelfwise.generative.export` (torch, onnx): ONNX export and static INT8 quantisation;
  :mod:`~shelfwise.generative.serving` (onnxruntime only) and
  :mod:`~shelfwise.generative.registry` (versions, rollback);
* :mod:`~shelfwise.generative.evaluate`: the evaluation table against honest baselines.

This package's top level imports neither torch nor onnx, so a serving process needs only numpy
and onnxruntime; import the torch parts from their modules.
"""

from shelfwise.generative.checkpoint import CheckpointConfig, read_config
from shelfwise.generative.data import PlanogramCodec, TrainingSet, build_training_set
from shelfwise.generative.decoding import decode_arrange, decode_naive, decode_structured
from shelfwise.generative.pipelines.planogram import (
    GeneratedPlanogram,
    PlanogramPipeline,
    finish,
)
from shelfwise.generative.registry import ModelRegistry, ModelVersion
from shelfwise.generative.serving import Denoiser, OnnxDenoiser

__all__ = [
    "CheckpointConfig",
    "Denoiser",
    "GeneratedPlanogram",
    "ModelRegistry",
    "ModelVersion",
    "OnnxDenoiser",
    "PlanogramCodec",
    "PlanogramPipeline",
    "TrainingSet",
    "build_training_set",
    "decode_arrange",
    "decode_naive",
    "decode_structured",
    "finish",
    "read_config",
]
