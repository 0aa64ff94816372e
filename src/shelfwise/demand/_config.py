"""Typed defaults of the RBP model: prior hyperparameters and the facings feature.

User configuration (``model_config`` of :class:`~shelfwise.demand.RBPModel`) is merged over
:class:`RBPPriors`; unknown keys and out-of-range values are refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from shelfwise.exceptions import InvalidParameterError

FacingFeature = Literal["log2", "linear", "sqrt"]
"""How the facing count ``q`` enters the Gamma mean ``x_q * beta``.

``"log2"`` (default): ``x_q = log2(1 + q)``, concave like real facing responses, with
``x_1 = 1`` so ``beta`` is the expected positive payoff at one facing. ``"linear"``:
``x_q = q`` (the paper's literal reading). ``"sqrt"``: ``x_q = sqrt(q)``.
"""

FACING_FEATURES: tuple[str, ...] = ("log2", "linear", "sqrt")

PARAMETERIZATIONS: tuple[str, ...] = ("auto", "centred", "noncentred")
"""How store coefficients ``beta_il`` are sampled (see :mod:`shelfwise.demand._model`)."""

AUTO_NONCENTRED_RATIO = 2.0
"""With ``parameterization="auto"``, a product is sampled non-centred when, over its stores, the
median of ``sd_data(beta_il) / b_i`` exceeds this: its stores' own data say less about their
coefficients than the spread of stores around the cluster does (see
:func:`shelfwise.demand._model.choose_noncentred`)."""


def facing_feature(q: ArrayLike, kind: str) -> NDArray[np.float64]:
    """``x_q`` for facing counts ``q`` (``x_0 = 0``, ``x_1 = 1`` for every kind).

    Parameters
    ----------
    q : array_like of float
        Facing counts (>= 0).
    kind : {"log2", "linear", "sqrt"}
        The feature.

    Returns
    -------
    ndarray of float64
    """
    qq = np.asarray(q, dtype=np.float64)
    if kind == "log2":
        return np.asarray(np.log2(1.0 + qq))
    if kind == "linear":
        return np.asarray(qq)
    if kind == "sqrt":
        return np.asarray(np.sqrt(qq))
    raise InvalidParameterError(f"facing_feature must be one of {FACING_FEATURES}; got {kind!r}")


@dataclass(frozen=True, slots=True)
class RBPPriors:
    """Prior hyperparameters of RBP (EdgeRec3D Eq. 5) and of its zero hurdle.

    Attributes
    ----------
    sigma0 : float
        Scale of ``beta_ik ~ HalfNormal(sigma0)`` (cluster-level coefficient).
    sigma1 : float
        Scale of ``b_i ~ HalfNormal(sigma1)`` (Laplace scale of store deviations).
    sigma2 : float
        Scale of ``sigma_r ~ HalfNormal(sigma2)`` (Gamma standard deviation).
    hurdle_alpha_sd : float
        ``alpha_ik ~ Normal(0, hurdle_alpha_sd)``: cluster-level complementary-log-log
        intercept of ``P(r > 0)``.
    hurdle_tau_sd : float
        ``tau_i ~ HalfNormal(hurdle_tau_sd)``: sd of store-level intercept deviations.
    hurdle_slope_mean, hurdle_slope_sd : float
        ``c_i ~ Normal(hurdle_slope_mean, hurdle_slope_sd)``: effect of ``log x_q`` on the
        hurdle (1 is a Poisson process whose rate is proportional to ``x_q``).
    """

    sigma0: float = 2.0
    sigma1: float = 1.0
    sigma2: float = 3.0
    hurdle_alpha_sd: float = 2.0
    hurdle_tau_sd: float = 1.0
    hurdle_slope_mean: float = 1.0
    hurdle_slope_sd: float = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidParameterError(f"{f.name} must be a number; got {value!r}")
            if not math.isfinite(value):
                raise InvalidParameterError(f"{f.name} must be finite; got {value!r}")
            if f.name != "hurdle_slope_mean" and value <= 0:
                raise InvalidParameterError(f"{f.name} must be > 0; got {value!r}")

    def to_dict(self) -> dict[str, float]:
        """The hyperparameters as a plain JSON-able mapping."""
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def merged(cls, base: RBPPriors, overrides: Mapping[str, object] | None) -> RBPPriors:
        """``base`` with the keys of ``overrides`` replaced; unknown keys are refused."""
        if not overrides:
            return base
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InvalidParameterError(
                f"model_config has unknown key(s) {unknown}; known keys are {sorted(known)}"
            )
        return replace(base, **overrides)  # type: ignore[arg-type]
