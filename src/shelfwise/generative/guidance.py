"""Constraint guidance during sampling (torch): push the clean estimate down the penalties.

At each denoising step the sampler's estimate of the clean planogram,
``x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``, is moved against the gradient of the
constraint penalties of :mod:`shelfwise.generative.losses` (the same terms as training's
L_constraint), ``x0' = x0 - scale * grad``, and the step continues with the noise that
``x0'`` implies. This is the "universal guidance" idea applied to hard rules; whether it helps
is measured in ``benchmarks/bench_generative.py`` rather than assumed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from shelfwise.domain import Display
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.data import Geometry, PlanogramCodec
from shelfwise.generative.losses import LossContext, geometry_tensors, penalties
from shelfwise.planogram.rules import Rulebook


class ConstraintGuidance:
    """A guide for :class:`~shelfwise.generative.pipelines.PlanogramPipeline`.

    Parameters
    ----------
    codec : PlanogramCodec
        The model's encoding.
    rulebook : Rulebook
        Rules whose penalties guide the sampler.
    scale : float
        Step size of the gradient move on the clean estimate (model-space units).
    """

    def __init__(self, codec: PlanogramCodec, rulebook: Rulebook, *, scale: float = 0.5) -> None:
        if isinstance(scale, bool) or not isinstance(scale, int | float) or scale < 0:
            raise InvalidParameterError(f"scale must be a number >= 0; got {scale!r}")
        self.codec = codec
        self.rulebook = rulebook
        self.scale = float(scale)
        self._ctx = LossContext.of(codec, rulebook)

    def __call__(self, x0: NDArray[np.float32], displays: Sequence[Display]) -> NDArray[np.float32]:
        """The moved clean estimate, clipped to [-1, 1]; same shape as ``x0``."""
        if len(displays) != x0.shape[0]:
            raise InvalidParameterError(
                f"displays must have one entry per sample ({x0.shape[0]}); got {len(displays)}"
            )
        geo = geometry_tensors(
            Geometry.of(list(displays), self.codec.n_shelves, self.rulebook), slice(None)
        )
        x = torch.tensor(x0, dtype=torch.float32, requires_grad=True)
        with torch.enable_grad():
            total = sum(v.sum() for v in penalties(x, geo, self._ctx).values())
            (grad,) = torch.autograd.grad(total, x)  # type: ignore[arg-type]
        moved = x0 - self.scale * grad.numpy()
        return np.clip(moved, -1.0, 1.0).astype(np.float32)
