"""DDIM sampling (Song, Meng and Ermon, "Denoising Diffusion Implicit Models", ICLR 2021), in numpy.

A step goes from ``x_t`` to ``x_{t'}`` (``t' = t - n_train_steps // n_inference_steps``) by
eq. 12 of the paper::

    x_{t'} = sqrt(a') x0_hat + sqrt(1 - a' - sigma^2) eps + sigma z,
    sigma  = eta sqrt((1 - a') / (1 - a)) sqrt(1 - a / a'),

with ``a = abar_t``, ``a' = abar_{t'}``. ``eta = 0`` is the deterministic DDIM sampler, ``eta = 1``
the DDPM posterior. The arithmetic is that of diffusers' ``DDIMScheduler`` with its defaults
(epsilon prediction, "leading" spacing, ``steps_offset=0``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.schedulers._betas import (
    BetaSchedule,
    FloatArray,
    NoiseSchedule,
    _check_bool,
)


class DDIMScheduler(NoiseSchedule):
    """DDIM sampler, deterministic (``eta=0``) or stochastic (``eta > 0``).

    Parameters
    ----------
    n_train_steps : int, default 1000
        Number of diffusion steps the model is trained with.
    beta_schedule : {"linear", "squaredcos_cap_v2"}, default "squaredcos_cap_v2"
        Beta schedule, see :func:`~shelfwise.generative.schedulers.betas_for`.
    beta_start, beta_end : float, default 1e-4 and 0.02
        Range of the linear schedule (ignored by the cosine one).
    clip_sample : bool, default True
        Clip the predicted clean sample to ``[-clip_range, clip_range]`` before each step.
    clip_range : float, default 1.0
        Half-width of the clipping interval; > 0.
    set_alpha_to_one : bool, default True
        After the last timestep, use ``abar = 1`` (return the predicted clean sample); if False,
        use ``abar_0``.

    Attributes
    ----------
    betas, alphas, alphas_cumprod : numpy.ndarray of float64, shape (n_train_steps,)
        The schedule.
    final_alpha_cumprod : float
        ``abar`` used after the last timestep.
    timesteps : numpy.ndarray of int64
        Timesteps to visit, decreasing; all training steps until :meth:`set_timesteps`.

    Examples
    --------
    >>> import numpy as np
    >>> sched = DDIMScheduler(n_train_steps=100)
    >>> sched.set_timesteps(10)
    >>> x = np.random.default_rng(0).standard_normal((2, 3))
    >>> for t in sched.timesteps:
    ...     x = sched.step(np.zeros_like(x), t, x)  # a real model predicts the noise here
    >>> x.shape
    (2, 3)
    """

    _config_keys = (*NoiseSchedule._config_keys, "set_alpha_to_one")

    def __init__(
        self,
        *,
        n_train_steps: int = 1000,
        beta_schedule: BetaSchedule = "squaredcos_cap_v2",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        clip_sample: bool = True,
        clip_range: float = 1.0,
        set_alpha_to_one: bool = True,
    ) -> None:
        super().__init__(
            n_train_steps=n_train_steps,
            beta_schedule=beta_schedule,
            beta_start=beta_start,
            beta_end=beta_end,
            clip_sample=clip_sample,
            clip_range=clip_range,
        )
        self.set_alpha_to_one = _check_bool("set_alpha_to_one", set_alpha_to_one)
        self.final_alpha_cumprod = 1.0 if self.set_alpha_to_one else float(self.alphas_cumprod[0])

    def step(
        self,
        eps: npt.ArrayLike,
        t: int,
        x_t: npt.ArrayLike,
        *,
        eta: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> FloatArray:
        """Take one DDIM step from ``x_t`` to ``t - n_train_steps // n_inference_steps``.

        Parameters
        ----------
        eps : array_like, shape (batch, ...)
            The model's noise prediction at ``x_t``.
        t : int
            Current timestep, one of :attr:`timesteps`.
        x_t : array_like, same shape as ``eps``
            Current noisy sample.
        eta : float, default 0.0
            Noise level in ``[0, 1]``: 0 is deterministic DDIM, 1 the DDPM posterior variance.
        rng : numpy.random.Generator, optional
            Source of the noise ``z = rng.standard_normal(x_t.shape)``; required when
            ``eta > 0``, unused when ``eta == 0``.

        Returns
        -------
        numpy.ndarray
            ``x_{t'}``, same shape as ``x_t``; float32 for float32 inputs, else float64.

        Raises
        ------
        InvalidParameterError
            If ``t`` is not in :attr:`timesteps`, ``eta`` is outside ``[0, 1]``, ``eta > 0``
            without an ``rng``, or the shapes differ.
        """
        t_int, _ = self._check_timestep(t)
        if (
            isinstance(eta, bool | np.bool_)
            or not isinstance(eta, int | float | np.integer | np.floating)
            or not 0.0 <= float(eta) <= 1.0
        ):
            raise InvalidParameterError(f"eta must be a number in [0, 1]; got {eta!r}")
        eta = float(eta)
        generator: np.random.Generator | None = None
        if eta > 0.0:
            if not isinstance(rng, np.random.Generator):
                raise InvalidParameterError(
                    f"rng must be a numpy.random.Generator when eta > 0 (eta={eta}); "
                    f"got {type(rng).__name__}"
                )
            generator = rng
        x, e = self._as_float_pair("x_t", x_t, "eps", eps)
        prev_t = t_int - self.n_train_steps // self.n_inference_steps

        abar_t = float(self.alphas_cumprod[t_int])
        abar_prev = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else self.final_alpha_cumprod
        variance = (1.0 - abar_prev) / (1.0 - abar_t) * (1.0 - abar_t / abar_prev)
        std = eta * math.sqrt(max(variance, 0.0))

        x0 = self.predict_x0(x, e, t_int)
        direction = math.sqrt(max(1.0 - abar_prev - std**2, 0.0))
        out: FloatArray = x.dtype.type(math.sqrt(abar_prev)) * x0 + x.dtype.type(direction) * e
        if generator is not None:
            noise = generator.standard_normal(x.shape).astype(x.dtype, copy=False)
            out = out + x.dtype.type(std) * noise
        return out
