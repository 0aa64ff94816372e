"""Beta schedules and the forward (noising) process they define, shared by the samplers.

A beta schedule fixes the forward process of a diffusion model,
``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` with ``abar_t = prod_{s<=t} (1 - beta_s)``
(Ho, Jain and Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020). Everything
that depends only on the schedule lives here: the betas, noising a clean sample, predicting the
clean sample back from a noise estimate, timestep spacing, validation and the JSON config. The
samplers (:class:`~shelfwise.generative.schedulers.DDPMScheduler`,
:class:`~shelfwise.generative.schedulers.DDIMScheduler`) add their own ``step``.

Only numpy is imported here, so the schedulers run in a serving process that has numpy and
onnxruntime but no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self, get_args

import numpy as np
import numpy.typing as npt

from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError

BetaSchedule = Literal["linear", "squaredcos_cap_v2"]
"""Names of the supported beta schedules (the same names as in diffusers)."""

BETA_SCHEDULES: tuple[str, ...] = get_args(BetaSchedule)

#: Largest beta of the cosine schedule (Nichol and Dhariwal clip at 0.999 to avoid a singularity
#: at t = T).
_MAX_BETA = 0.999
#: Offset ``s`` of the cosine schedule (Nichol and Dhariwal 2021, eq. 17).
_COSINE_OFFSET = 0.008

FloatArray = npt.NDArray[np.floating[Any]]


def _check_int(name: str, value: object, low: int, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` if it is an integer in ``[low, high]``, else raise."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_):
        ivalue = int(value)
        if ivalue >= low and (high is None or ivalue <= high):
            return ivalue
    rule = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    raise InvalidParameterError(f"{name} must be {rule}; got {value!r}")


def _check_real(name: str, value: object) -> float:
    """Return ``value`` as a finite ``float`` or raise."""
    if (
        isinstance(value, bool | np.bool_)
        or not isinstance(value, int | float | np.integer | np.floating)
        or not math.isfinite(float(value))
    ):
        raise InvalidParameterError(f"{name} must be a finite real number; got {value!r}")
    return float(value)


def _check_bool(name: str, value: object) -> bool:
    """Return ``value`` if it is a ``bool`` or raise."""
    if not isinstance(value, bool | np.bool_):
        raise InvalidParameterError(f"{name} must be True or False; got {value!r}")
    return bool(value)


def betas_for(
    schedule: BetaSchedule,
    n_train_steps: int = 1000,
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
) -> npt.NDArray[np.float64]:
    """Return the per-step noise variances ``beta_0 .. beta_{T-1}`` of a named schedule.

    The numbers are those of diffusers' schedulers for the same ``beta_schedule`` name, computed
    in float64 (diffusers rounds them to float32).

    Parameters
    ----------
    schedule : {"linear", "squaredcos_cap_v2"}
        ``"linear"``: ``beta`` evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al.
        2020). ``"squaredcos_cap_v2"``: the cosine schedule of Nichol and Dhariwal, "Improved
        Denoising Diffusion Probabilistic Models" (ICML 2021), eq. 17,
        ``abar(t) = cos(((t/T + s) / (1 + s)) pi / 2)^2`` with ``s = 0.008``, and
        ``beta_i = min(1 - abar((i+1)/T) / abar(i/T), 0.999)``; it ignores ``beta_start`` and
        ``beta_end``.
    n_train_steps : int, default 1000
        Number of diffusion steps ``T`` the model is trained with; >= 1.
    beta_start, beta_end : float, default 1e-4 and 0.02
        First and last beta of the linear schedule; ``0 < beta_start <= beta_end < 1``.

    Returns
    -------
    numpy.ndarray of float64, shape (n_train_steps,)
        The betas, each in ``(0, 1)``.

    Raises
    ------
    InvalidParameterError
        For an unknown schedule name, ``n_train_steps < 1`` or betas outside ``(0, 1)``.

    Examples
    --------
    >>> betas = betas_for("linear", 1000)
    >>> float(betas[0]), float(betas[-1])
    (0.0001, 0.02)
    """
    if schedule not in BETA_SCHEDULES:
        allowed = ", ".join(repr(s) for s in BETA_SCHEDULES)
        raise InvalidParameterError(f"beta_schedule must be one of {allowed}; got {schedule!r}")
    n = _check_int("n_train_steps", n_train_steps, 1)
    start = _check_real("beta_start", beta_start)
    end = _check_real("beta_end", beta_end)
    if not 0.0 < start < 1.0:
        raise InvalidParameterError(f"beta_start must be in (0, 1); got {beta_start!r}")
    if not 0.0 < end < 1.0:
        raise InvalidParameterError(f"beta_end must be in (0, 1); got {beta_end!r}")
    if start > end:
        raise InvalidParameterError(f"beta_start must be <= beta_end ({end!r}); got {beta_start!r}")
    if schedule == "linear":
        return np.linspace(start, end, n, dtype=np.float64)

    def alpha_bar(t: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = (
            np.cos((t + _COSINE_OFFSET) / (1.0 + _COSINE_OFFSET) * math.pi / 2.0) ** 2
        )
        return out

    grid = np.arange(n + 1, dtype=np.float64) / n
    abar = alpha_bar(grid)
    return np.minimum(1.0 - abar[1:] / abar[:-1], _MAX_BETA)


class NoiseSchedule:
    """Forward process of a discrete-time diffusion model; the base of the samplers.

    Holds the betas and the timesteps a sampler visits, noises clean samples and predicts them
    back from a noise estimate. Subclasses add ``step``.

    Parameters
    ----------
    n_train_steps : int, default 1000
        Number of diffusion steps the model is trained with.
    beta_schedule : {"linear", "squaredcos_cap_v2"}, default "squaredcos_cap_v2"
        See :func:`betas_for`.
    beta_start, beta_end : float, default 1e-4 and 0.02
        Range of the linear schedule.
    clip_sample : bool, default True
        Clip the predicted clean sample to ``[-clip_range, clip_range]``.
    clip_range : float, default 1.0
        Half-width of the clipping interval; > 0.

    Attributes
    ----------
    betas, alphas, alphas_cumprod : numpy.ndarray of float64, shape (n_train_steps,)
        ``beta_t``, ``alpha_t = 1 - beta_t`` and ``abar_t = prod_{s<=t} alpha_s``.
    timesteps : numpy.ndarray of int64
        Timesteps visited by sampling, in decreasing order; all ``n_train_steps`` of them until
        :meth:`set_timesteps` is called.
    n_inference_steps : int
        ``len(timesteps)``.
    """

    #: Names of the constructor arguments saved by :meth:`to_dict`, in order.
    _config_keys: ClassVar[tuple[str, ...]] = (
        "n_train_steps",
        "beta_schedule",
        "beta_start",
        "beta_end",
        "clip_sample",
        "clip_range",
    )

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
        self.betas = betas_for(beta_schedule, n_train_steps, beta_start, beta_end)
        self.n_train_steps = int(n_train_steps)
        self.beta_schedule: BetaSchedule = beta_schedule
        self.beta_start = float(beta_start)
        self.beta_end = float(beta_end)
        self.clip_sample = _check_bool("clip_sample", clip_sample)
        self.clip_range = _check_real("clip_range", clip_range)
        if self.clip_range <= 0.0:
            raise InvalidParameterError(f"clip_range must be > 0; got {clip_range!r}")
        self.alphas: npt.NDArray[np.float64] = (1.0 - self.betas).astype(np.float64)
        self.alphas_cumprod: npt.NDArray[np.float64] = np.cumprod(self.alphas, dtype=np.float64)
        self.n_inference_steps = self.n_train_steps
        self.timesteps: npt.NDArray[np.int64] = np.arange(self.n_train_steps, dtype=np.int64)[
            ::-1
        ].copy()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._config_keys)
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ timesteps

    def set_timesteps(self, n_steps: int) -> None:
        """Choose the ``n_steps`` timesteps sampling visits ("leading" spacing, offset 0).

        With ``k = n_train_steps // n_steps`` the timesteps are
        ``(n_steps - 1) k, ..., 2k, k, 0``, as diffusers' default ``timestep_spacing="leading"``
        with ``steps_offset=0``.

        Parameters
        ----------
        n_steps : int
            Number of denoising steps, in ``[1, n_train_steps]``.

        Raises
        ------
        InvalidParameterError
            If ``n_steps`` is not an integer in ``[1, n_train_steps]``.
        """
        n = _check_int("n_steps", n_steps, 1, self.n_train_steps)
        ratio = self.n_train_steps // n
        self.n_inference_steps = n
        self.timesteps = (np.arange(n, dtype=np.int64) * ratio)[::-1].copy()

    def _check_timestep(self, t: object) -> tuple[int, int]:
        """Return ``(t, position of t in timesteps)`` if ``t`` is one of them, else raise."""
        if isinstance(t, np.ndarray) and t.ndim == 0:
            t = t.item()
        if isinstance(t, int | np.integer) and not isinstance(t, bool | np.bool_):
            hits = np.flatnonzero(self.timesteps == int(t))
            if hits.size:
                return int(t), int(hits[0])
        shown = [str(v) for v in self.timesteps.tolist()]
        listing = ", ".join(shown if len(shown) <= 6 else [*shown[:3], "...", *shown[-2:]])
        raise InvalidParameterError(
            f"t must be one of the {len(shown)} timesteps set by set_timesteps ({listing}); "
            f"got {t!r}"
        )

    def _check_train_timesteps(self, t: npt.ArrayLike, batch: int) -> npt.NDArray[np.int64]:
        """Validate per-item training timesteps; return them with shape ``(batch,)``."""
        arr = np.asarray(t)
        if not np.issubdtype(arr.dtype, np.integer):
            raise InvalidParameterError(f"t must hold integers; got dtype {arr.dtype}")
        if arr.ndim == 0:
            arr = np.full(batch, arr, dtype=np.int64)
        if arr.ndim != 1 or arr.shape[0] != batch:
            raise InvalidParameterError(
                f"t must be a scalar or have shape ({batch},), one per batch item; "
                f"got shape {arr.shape}"
            )
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_train_steps):
            bad = arr[(arr < 0) | (arr >= self.n_train_steps)][0]
            raise InvalidParameterError(
                f"t must be in [0, {self.n_train_steps - 1}]; got {int(bad)}"
            )
        return arr.astype(np.int64, copy=False)

    # ------------------------------------------------------------------ forward process

    @staticmethod
    def _as_float_pair(
        name_a: str, a: npt.ArrayLike, name_b: str, b: npt.ArrayLike
    ) -> tuple[FloatArray, FloatArray]:
        """Two same-shape arrays (ndim >= 1) in a common float dtype (float32 stays float32)."""
        xa, xb = np.asarray(a), np.asarray(b)
        if xa.ndim < 1:
            raise InvalidParameterError(
                f"{name_a} must have a batch axis (ndim >= 1); got shape {xa.shape}"
            )
        if xa.shape != xb.shape:
            raise InvalidParameterError(
                f"{name_b} must have the shape of {name_a} {xa.shape}; got {xb.shape}"
            )
        dtype = np.result_type(xa.dtype, xb.dtype, np.float32)
        return xa.astype(dtype, copy=False), xb.astype(dtype, copy=False)

    @staticmethod
    def _per_item(values: npt.NDArray[np.float64], like: FloatArray) -> FloatArray:
        """Reshape per-item coefficients to ``(batch, 1, ..., 1)`` in ``like``'s dtype."""
        shape = (values.shape[0],) + (1,) * (like.ndim - 1)
        return values.reshape(shape).astype(like.dtype)

    def add_noise(self, x0: npt.ArrayLike, noise: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """Sample the forward process: ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``.

        Parameters
        ----------
        x0 : array_like, shape (batch, ...)
            Clean samples.
        noise : array_like, same shape as ``x0``
            Standard normal noise ``eps``.
        t : int or array_like of int, shape (batch,)
            Training timestep of each batch item (one ``int`` applies to all), in
            ``[0, n_train_steps - 1]``.

        Returns
        -------
        numpy.ndarray
            ``x_t``, same shape as ``x0``; float32 for float32 inputs, else float64.

        Raises
        ------
        InvalidParameterError
            On mismatched shapes or timesteps out of range.
        """
        x, eps = self._as_float_pair("x0", x0, "noise", noise)
        ts = self._check_train_timesteps(t, x.shape[0])
        abar = self.alphas_cumprod[ts]
        out: FloatArray = (
            self._per_item(np.sqrt(abar), x) * x + self._per_item(np.sqrt(1.0 - abar), x) * eps
        )
        return out

    def predict_x0(self, x_t: npt.ArrayLike, eps: npt.ArrayLike, t: npt.ArrayLike) -> FloatArray:
        """Predict the clean sample from a noise estimate (Ho et al. 2020, eq. 15).

        ``x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``, then clipped to
        ``[-clip_range, clip_range]`` when ``clip_sample`` is True.

        Parameters
        ----------
        x_t : array_like, shape (batch, ...)
            Noisy samples.
        eps : array_like, same shape as ``x_t``
            Predicted noise.
        t : int or array_like of int, shape (batch,)
            Timestep of each batch item (one ``int`` applies to all).

        Returns
        -------
        numpy.ndarray
            Predicted ``x0``, same shape and float dtype as ``x_t``.

        Raises
        ------
        InvalidParameterError
            On mismatched shapes or timesteps out of range.
        """
        x, e = self._as_float_pair("x_t", x_t, "eps", eps)
        ts = self._check_train_timesteps(t, x.shape[0])
        abar = self.alphas_cumprod[ts]
        x0: FloatArray = (x - self._per_item(np.sqrt(1.0 - abar), x) * e) / self._per_item(
            np.sqrt(abar), x
        )
        if self.clip_sample:
            x0 = np.clip(x0, -self.clip_range, self.clip_range)
        return x0

    # ------------------------------------------------------------------ config

    def to_dict(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-ready dict.

        The dict also holds ``"_class_name"``. The timesteps chosen by :meth:`set_timesteps`
        are not part of the config (as in diffusers): call it again after loading.

        Returns
        -------
        dict
            ``{"_class_name": ..., "n_train_steps": ..., ...}``.
        """
        config: dict[str, Any] = {"_class_name": type(self).__name__}
        for key in self._config_keys:
            config[key] = getattr(self, key)
        return config

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> Self:
        """Build a scheduler from a dict made by :meth:`to_dict` (e.g. read back from JSON).

        Parameters
        ----------
        config : mapping
            Constructor arguments; ``"_class_name"`` is optional, missing arguments take their
            defaults.

        Returns
        -------
        scheduler
            A new instance of this class.

        Raises
        ------
        ArtifactMismatchError
            If ``"_class_name"`` names another scheduler class.
        InvalidParameterError
            For unknown keys or invalid values.
        """
        values = dict(config)
        name = values.pop("_class_name", cls.__name__)
        if name != cls.__name__:
            raise ArtifactMismatchError(
                f"config is for {name!r}, not {cls.__name__!r}; load it with {name}.from_dict"
            )
        unknown = sorted(set(values) - set(cls._config_keys))
        if unknown:
            raise InvalidParameterError(
                f"config keys must be among {', '.join(cls._config_keys)}; "
                f"got unknown key(s) {', '.join(map(repr, unknown))}"
            )
        return cls(**values)
