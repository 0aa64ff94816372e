"""Sampling pipelines (no torch): noise to valid planograms."""

from shelfwise.generative.pipelines.planogram import (
    GeneratedPlanogram,
    PlanogramPipeline,
    facings_distance,
    finish,
)

__all__ = ["GeneratedPlanogram", "PlanogramPipeline", "facings_distance", "finish"]
