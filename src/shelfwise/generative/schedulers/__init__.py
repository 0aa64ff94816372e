"""Diffusion noise schedulers in numpy: beta schedules, the DDPM and the DDIM samplers.

Laid out like diffusers' schedulers (``set_timesteps`` then ``step`` per timestep), but numpy
only, so that sampling runs in a serving process with numpy and onnxruntime and no torch.
"""

from shelfwise.generative.schedulers._betas import (
    BETA_SCHEDULES,
    BetaSchedule,
    NoiseSchedule,
    betas_for,
)
from shelfwise.generative.schedulers.ddim import DDIMScheduler
from shelfwise.generative.schedulers.ddpm import DDPMScheduler

__all__ = [
    "BETA_SCHEDULES",
    "BetaSchedule",
    "DDIMScheduler",
    "DDPMScheduler",
    "NoiseSchedule",
    "betas_for",
]
