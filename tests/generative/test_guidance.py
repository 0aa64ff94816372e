"""Constraint guidance: the moved estimate has smaller penalties, and sampling accepts it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shelfwise.data.synthetic import ChainConfig, generate_chain
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.data import Geometry, PlanogramCodec
from shelfwise.generative.guidance import ConstraintGuidance
from shelfwise.generative.losses import LossContext, geometry_tensors, penalties
from shelfwise.planogram.rules import default_rulebook


@pytest.fixture(scope="module")
def setup() -> tuple[PlanogramCodec, list]:  # type: ignore[type-arg]
    chain = generate_chain(
        ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4), random_state=1
    )
    return PlanogramCodec(chain.products, n_clusters=1), list(chain.displays[:4])


def _total(x: np.ndarray, displays: list, codec: PlanogramCodec) -> float:  # type: ignore[type-arg]
    rb = default_rulebook()
    geo = geometry_tensors(Geometry.of(displays, codec.n_shelves, rb), slice(None))
    pen = penalties(torch.from_numpy(x), geo, LossContext.of(codec, rb))
    return float(sum(v.sum() for v in pen.values()))


def test_guidance_lowers_penalties_of_random_estimates(setup: tuple) -> None:  # type: ignore[type-arg]
    codec, displays = setup
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (len(displays), codec.n_channels, codec.n_shelves, codec.n_slots))
    x0 = x0.astype(np.float32)
    guide = ConstraintGuidance(codec, default_rulebook(), scale=0.05)
    before = _total(x0, displays, codec)
    moved = guide(x0, displays)
    assert moved.shape == x0.shape and moved.dtype == np.float32
    assert np.all(np.abs(moved) <= 1.0)
    assert _total(moved, displays, codec) < before
    assert np.array_equal(
        ConstraintGuidance(codec, default_rulebook(), scale=0.0)(x0, displays), x0
    )


def test_guidance_checks_its_inputs(setup: tuple) -> None:  # type: ignore[type-arg]
    codec, displays = setup
    with pytest.raises(InvalidParameterError, match="scale must be a number >= 0; got -1"):
        ConstraintGuidance(codec, default_rulebook(), scale=-1)
    guide = ConstraintGuidance(codec, default_rulebook())
    x0 = np.zeros((2, codec.n_channels, codec.n_shelves, codec.n_slots), dtype=np.float32)
    with pytest.raises(InvalidParameterError, match="one entry per sample \\(2\\); got 1"):
        guide(x0, displays[:1])


def test_pipeline_calls_the_guide_every_step(setup: tuple) -> None:  # type: ignore[type-arg]
    from shelfwise.generative.pipelines.planogram import PlanogramPipeline

    codec, displays = setup
    calls: list[int] = []

    def denoiser(x, t, c, y):  # type: ignore[no-untyped-def]
        return np.zeros_like(x)

    def guide(x0, ds):  # type: ignore[no-untyped-def]
        calls.append(len(ds))
        return x0

    pipe = PlanogramPipeline(denoiser, codec, default_rulebook(), n_steps=5, guide=guide)
    out = pipe.generate(displays[0], 0, n_samples=2, rng=np.random.default_rng(0))
    assert calls == [2] * 5
    assert len(out) == 2
    cond = codec.conditions(displays[0])[None]
    with pytest.raises(InvalidParameterError, match="one display per sample"):
        pipe.sample(cond, np.zeros(1, dtype=np.int64), rng=np.random.default_rng(0))
