"""Ancestral DDPM sampling (Ho, Jain and Abbeel, NeurIPS 2020), in numpy.

Each step draws ``x_{t'}`` from the Gaussian posterior ``q(x_{t'} | x_t, x0_hat)`` of the forward
process, where ``t'`` is the next (smaller) timestep of the schedule and ``x0_hat`` is the clean
sample predicted from the model's noise estimate. With fewer inference steps than training steps
the posterior is that of the strided chain (``alpha = abar_t / abar_{t'}``), as in diffusers'
``DDPMScheduler``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.schedulers._betas import BetaSchedule, FloatArray, NoiseSchedule

#: Floor of the posterior variance (diffusers clamps it the same way before taking logs).
_MIN_VARIANCE = 1e-20


class DDPMScheduler(NoiseSchedule):
    """Ancestral DDPM sampler with the "fixed_small" posterior variance.

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

    Attributes
    ----------
    betas, alphas, alphas_cumprod : numpy.ndarray of float64, shape (n_train_steps,)
        The schedule.
    timesteps : numpy.ndarray of int64
        Timesteps to visit, decreasing; all training steps until :meth:`set_timesteps`.

    Examples
    --------
    >>> import numpy as np
    >>> sched = DDPMScheduler(n_train_steps=100)
    >>> sched.set_timesteps(10)
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((2, 3)).astype(np.float32)
    >>> for t in sched.timesteps:
    ...     eps = np.zeros_like(x)  # a real model predicts the noise here
    ...     x = sched.step(eps, t, x, rng=rng)
    >>> x.dtype
    dtype('float32')
    """

    def __init__(
        self,
        *,
        n_train_steps: int = 1000,
        beta_schedule: BetaSchedule = "squaredcos_cap_v2",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        clip_sample: bool = True,
        clip_range: float = 1.0,
    ) -> None:
        super().__init__(
            n_train_steps=n_train_steps,
            beta_schedule=beta_schedule,
            beta_start=beta_start,
            beta_end=beta_end,
            clip_sample=clip_sample,
            clip_range=clip_range,
        )

    def previous_timestep(self, t: int) -> int:
        """Return the timestep after ``t`` in :attr:`timesteps`, or -1 after the last one.

        Parameters
        ----------
        t : int
            One of :attr:`timesteps`.

        Returns
        -------
        int
            The next (smaller) timestep of the schedule, -1 when ``t`` is the last one.

        Raises
        ------
        InvalidParameterError
            If ``t`` is not in :attr:`timesteps`.
        """
        _, index = self._check_timestep(t)
        if index == len(self.timesteps) - 1:
            return -1
        return int(self.timesteps[index + 1])

    def step(
        self,
        eps: npt.ArrayLike,
        t: int,
        x_t: npt.ArrayLike,
        *,
        rng: np.random.Generator,
    ) -> FloatArray:
        """Take one ancestral step from ``x_t`` to the next timestep ``t'`` of the schedule.

        With ``a = abar_t``, ``a' = abar_{t'}`` (1 when ``t`` is the last timestep) and
        ``beta = 1 - a / a'``, the posterior mean is (Ho et al. 2020, eq. 7)
        ``sqrt(a') beta / (1 - a') x0_hat + sqrt(1 - beta) (1 - a') / (1 - a) x_t``
        with ``x0_hat`` from :meth:`predict_x0` (clipped if ``clip_sample``); for ``t > 0``
        the noise ``sqrt(var) z`` is added, ``var = (1 - a') / (1 - a) beta`` ("fixed_small") and
        ``z = rng.standard_normal(x_t.shape)``. At ``t = 0`` the mean is returned and ``rng`` is
        not used.

        Parameters
        ----------
        eps : array_like, shape (batch, ...)
            The model's noise prediction at ``x_t``.
        t : int
            Current timestep, one of :attr:`timesteps`.
        x_t : array_like, same shape as ``eps``
            Current noisy sample.
        rng : numpy.random.Generator
            Source of the step's noise.

        Returns
        -------
        numpy.ndarray
            ``x_{t'}``, same shape as ``x_t``; float32 for float32 inputs, else float64.

        Raises
        ------
        InvalidParameterError
            If ``t`` is not in :attr:`timesteps`, the shapes differ or ``rng`` is not a
            ``numpy.random.Generator``.
        """
        t_int, index = self._check_timestep(t)
        if not isinstance(rng, np.random.Generator):
            raise InvalidParameterError(
                f"rng must be a numpy.random.Generator; got {type(rng).__name__}"
            )
        x, e = self._as_float_pair("x_t", x_t, "eps", eps)
        prev_t = -1 if index == len(self.timesteps) - 1 else int(self.timesteps[index + 1])

        abar_t = float(self.alphas_cumprod[t_int])
        abar_prev = float(self.alphas_cumprod[prev_t]) if prev_t >= 0 else 1.0
        alpha_t = abar_t / abar_prev
        beta_t = 1.0 - alpha_t

        x0 = self.predict_x0(x, e, t_int)
        coef_x0 = np.sqrt(abar_prev) * beta_t / (1.0 - abar_t)
        coef_xt = np.sqrt(alpha_t) * (1.0 - abar_prev) / (1.0 - abar_t)
        out: FloatArray = x.dtype.type(coef_x0) * x0 + x.dtype.type(coef_xt) * x
        if t_int > 0:
            variance = max((1.0 - abar_prev) / (1.0 - abar_t) * beta_t, _MIN_VARIANCE)
            noise = rng.standard_normal(x.shape).astype(x.dtype, copy=False)
            out = out + x.dtype.type(np.sqrt(variance)) * noise
        return out
