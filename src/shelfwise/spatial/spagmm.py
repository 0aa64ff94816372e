"""SpAGMM: the Spatially Anchored Gaussian Mixture Model of EdgeRec3D, and store profiles.

Jenkins et al., "Personalized Product Assortment with Real-time 3D Perception and Bayesian
Payoff Estimation" (KDD 2024), section 3.2 and Algorithm 1: one Gaussian component per store,
its mean fixed at the store's standardised coordinates; EM learns each component's covariance
(MAP under a Normal-inverse-Wishart prior, against the collapsing-variance problem) and the
mixture weights from the tract coordinates. The responsibility of store ``l`` for tract ``z``
is read as the probability that shoppers of tract ``z`` visit store ``l``, and a store's
demographic profile is ``X_l = sum_z pi_lz x_z`` (section 3.2.1).

Choices where Algorithm 1 is loose (all documented on :class:`SpAGMM`):

* Coordinates. Latitude/longitude are first projected to km (sinusoidal projection about the
  tracts' mean, exact enough over a few hundred km) so that both axes measure distance the same
  way; then standardised. Algorithm 1 standardises stores and tracts each with their own mean
  and standard deviation, which puts the anchors in a different frame from the data whenever
  the stores are not spread like the tracts; the default here (``standardize="joint"``) applies
  the tracts' transform to both. ``standardize="separate"`` reproduces the paper.
* Covariance update, as written: ``Sigma_k = (Y_0 + Y_k) / (r_k + 2D + 4)`` with
  ``Y_0 = I_D / L^(1/D)``, ``Y_k = sum_z Pi_zk (C_z - mu_k)(C_z - mu_k)^T`` and
  ``r_k = sum_z Pi_zk``: the MAP estimate under NIW(m_0, kappa_0 -> 0, nu_0 = D + 2, Y_0) with
  the mean held fixed (Murphy, 2012, section 11.4.2.8). ``prior_scale`` and ``prior_dof``
  override ``1 / L^(1/D)`` and ``nu_0``.
* Weights: ``pi_k = r_k / Z`` (Algorithm 1 writes ``pi_k <- Pi_k``, the usual GMM update).
* Convergence: the paper tracks the sum of unweighted densities and stops once it falls by at
  most 5 %; here EM stops when the relative change of the quantity EM increases, the
  log-likelihood plus the log prior of the covariances, is at most ``tol``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import logsumexp
from sklearn.base import BaseEstimator  # type: ignore[import-untyped]

from shelfwise.exceptions import InvalidParameterError, NotFittedError

EARTH_RADIUS_KM = 6371.0088
D = 2
"""Dimension of the coordinates (a (lat, lon) or (x, y) pair)."""
MIN_TRACTS = D + 1
"""Fewest tracts SpAGMM accepts: they must span the plane to be standardised."""

Coordinates = Literal["latlon", "planar"]
Standardize = Literal["joint", "separate"]


def project_km(lat_lon: NDArray[np.float64], origin: tuple[float, float]) -> NDArray[np.float64]:
    """Sinusoidal projection of ``(lat, lon)`` degrees to ``(x, y)`` km about ``origin``.

    Parameters
    ----------
    lat_lon : ndarray, shape (n, 2)
        Latitude and longitude in degrees.
    origin : (float, float)
        Latitude and longitude of the projection's centre.

    Returns
    -------
    ndarray, shape (n, 2)
        East (x) and north (y) km from the origin; distances are within 1 % of great-circle
        distances over a few hundred km at mid latitudes.
    """
    lat = np.radians(lat_lon[:, 0])
    dlon = np.radians(lat_lon[:, 1] - origin[1])
    x = EARTH_RADIUS_KM * dlon * np.cos(lat)
    y = EARTH_RADIUS_KM * (lat - math.radians(origin[0]))
    return np.column_stack([x, y])


def _as_points(value: ArrayLike, name: str, coordinates: Coordinates) -> NDArray[np.float64]:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"{name} must be an (n, 2) array of coordinates; got {type(value).__name__}"
        ) from exc
    if arr.ndim != 2 or arr.shape[1] != D:
        raise InvalidParameterError(
            f"{name} must have shape (n, 2) ({'lat, lon' if coordinates == 'latlon' else 'x, y'}"
            f" per row); got shape {arr.shape}"
        )
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"{name} must have finite coordinates in every row (tracts and stores without "
            f"coordinates cannot be placed); got {arr[row].tolist()} in row {row}"
        )
    if (
        coordinates == "latlon"
        and arr.size
        and (np.abs(arr[:, 0]).max() > 90 or np.abs(arr[:, 1]).max() > 180)
    ):
        raise InvalidParameterError(
            f"{name} must hold latitudes in [-90, 90] and longitudes in [-180, 180] "
            f"(column order lat, lon); got up to {np.abs(arr).max(axis=0).tolist()}"
        )
    return arr


def _gauss_logpdf(
    points: NDArray[np.float64], means: NDArray[np.float64], covs: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Log densities (n_points, n_components) and the centred points (n_points, n_comp, 2)."""
    diff = points[:, None, :] - means[None, :, :]
    a, b, c = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * c - b * b
    quad = (
        c * diff[..., 0] ** 2 - 2 * b * diff[..., 0] * diff[..., 1] + a * diff[..., 1] ** 2
    ) / det
    return -0.5 * (quad + np.log(det) + D * math.log(2 * math.pi)), diff


class SpAGMM(BaseEstimator):  # type: ignore[misc]
    """Spatially Anchored Gaussian Mixture Model (Algorithm 1 of EdgeRec3D).

    Parameters
    ----------
    tol : float
        EM stops when the relative change of the penalised log-likelihood (log-likelihood of the
        tracts plus the log NIW prior of the covariances) between iterations is at most ``tol``.
    max_iter : int
        Most EM iterations; ``converged_`` is False if they run out.
    coordinates : {"latlon", "planar"}
        ``"latlon"``: rows are (latitude, longitude) degrees, projected to km first;
        ``"planar"``: rows are (x, y) in any length unit.
    standardize : {"joint", "separate"}
        ``"joint"`` (default): stores and tracts are standardised with the tracts' mean and
        standard deviation per axis, so anchors and data share one frame. ``"separate"``: each
        set with its own statistics, as Algorithm 1 writes it (needs >= 2 distinct stores).
    prior_scale : float or None
        Scale ``s`` of the prior matrix ``Y_0 = s I``; None gives the paper's ``1 / L^(1/D)``
        for ``L`` stores (in standardised units).
    prior_dof : float or None
        NIW degrees of freedom ``nu_0`` (> D - 1); None gives the paper's ``D + 2``, for which
        the update's denominator is ``r_k + 2D + 4``.
    random_state : int or None
        Accepted for the common estimator interface; EM here is deterministic (uniform weights,
        identity covariances to start) and draws no random numbers.

    Attributes
    ----------
    means_ : ndarray, shape (n_stores, 2)
        Fixed component means: the standardised store coordinates.
    covariances_ : ndarray, shape (n_stores, 2, 2)
        MAP covariances in standardised units.
    weights_ : ndarray, shape (n_stores,)
        Mixture weights (sum to 1).
    responsibilities_ : ndarray, shape (n_stores, n_tracts)
        ``Pi[l, z]``: probability that tract ``z``'s shoppers go to store ``l``; each column
        sums to 1 over stores (Algorithm 1 normalises over components).
    log_likelihood_ : float
        Log-likelihood of the tract coordinates (standardised units) at the final parameters.
    log_posterior_ : float
        ``log_likelihood_`` plus the log prior; the quantity EM increases.
    history_ : list of float
        ``log_posterior_`` after each E-step.
    n_iter_ : int
        M-steps performed.
    converged_ : bool
        Whether the ``tol`` criterion was met.
    center_, scale_ : ndarray, shape (2,)
        Tract standardisation (in km for ``"latlon"``); ``store_center_`` and ``store_scale_``
        are the stores' (equal to these when ``standardize="joint"``).
    origin_ : tuple of float or None
        Projection centre (lat, lon) for ``"latlon"``.
    """

    def __init__(
        self,
        *,
        tol: float = 1e-4,
        max_iter: int = 200,
        coordinates: Coordinates = "latlon",
        standardize: Standardize = "joint",
        prior_scale: float | None = None,
        prior_dof: float | None = None,
        random_state: int | None = None,
    ) -> None:
        self.tol = tol
        self.max_iter = max_iter
        self.coordinates = coordinates
        self.standardize = standardize
        self.prior_scale = prior_scale
        self.prior_dof = prior_dof
        self.random_state = random_state

    def _check_params(self) -> None:
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 < tol < 1:
            raise InvalidParameterError(f"tol must be a number in (0, 1); got {tol!r}")
        mi = self.max_iter
        if isinstance(mi, bool) or not isinstance(mi, int) or mi < 1:
            raise InvalidParameterError(f"max_iter must be an integer >= 1; got {mi!r}")
        if self.coordinates not in ("latlon", "planar"):
            raise InvalidParameterError(
                f"coordinates must be 'latlon' or 'planar'; got {self.coordinates!r}"
            )
        if self.standardize not in ("joint", "separate"):
            raise InvalidParameterError(
                f"standardize must be 'joint' or 'separate'; got {self.standardize!r}"
            )
        for name, low in (("prior_scale", 0.0), ("prior_dof", D - 1.0)):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool)
                or not isinstance(v, int | float)
                or not math.isfinite(v)
                or v <= low
            ):
                raise InvalidParameterError(f"{name} must be None or a number > {low:g}; got {v!r}")

    def _to_plane(self, pts: NDArray[np.float64]) -> NDArray[np.float64]:
        return pts if self.origin_ is None else project_km(pts, self.origin_)

    def fit(self, stores_xy: ArrayLike, tracts_xy: ArrayLike) -> SpAGMM:
        """Learn the covariances and weights of the store-anchored mixture from the tracts.

        Parameters
        ----------
        stores_xy : array_like, shape (n_stores, 2)
            Store coordinates, (lat, lon) or (x, y) per ``coordinates``.
        tracts_xy : array_like, shape (n_tracts, 2)
            Tract coordinates (at least 3, not all on one line parallel to an axis).

        Returns
        -------
        SpAGMM
            ``self``, fitted.

        Raises
        ------
        InvalidParameterError
            On bad parameters, missing or out-of-range coordinates, fewer than 1 store or 3
            tracts, tracts without spread on an axis, or (``"separate"``) stores without spread.
        """
        self._check_params()
        stores = _as_points(stores_xy, "stores_xy", self.coordinates)
        tracts = _as_points(tracts_xy, "tracts_xy", self.coordinates)
        if stores.shape[0] < 1:
            raise InvalidParameterError("stores_xy must hold at least 1 store; got 0 rows")
        if tracts.shape[0] < MIN_TRACTS:
            raise InvalidParameterError(
                f"tracts_xy must hold at least {MIN_TRACTS} tracts; got {tracts.shape[0]}"
            )
        self.origin_: tuple[float, float] | None = None
        if self.coordinates == "latlon":
            self.origin_ = (float(tracts[:, 0].mean()), float(tracts[:, 1].mean()))
        s_plane, t_plane = self._to_plane(stores), self._to_plane(tracts)
        center, scale = t_plane.mean(axis=0), t_plane.std(axis=0)
        if not (scale > 0).all():
            raise InvalidParameterError(
                f"tracts_xy must spread along both axes to be standardised; got standard "
                f"deviations {scale.tolist()}"
            )
        s_center, s_scale = center, scale
        if self.standardize == "separate":
            s_center, s_scale = s_plane.mean(axis=0), s_plane.std(axis=0)
            if not (s_scale > 0).all():
                raise InvalidParameterError(
                    "stores_xy must spread along both axes for standardize='separate'; got "
                    f"standard deviations {s_scale.tolist()}"
                )
        mu = (s_plane - s_center) / s_scale
        c = (t_plane - center) / scale
        n_l, n_z = mu.shape[0], c.shape[0]
        y0 = np.eye(D) * (n_l ** (-1.0 / D) if self.prior_scale is None else self.prior_scale)
        nu0 = D + 2.0 if self.prior_dof is None else float(self.prior_dof)
        y0_inv_tr = np.array([y0[0, 0], y0[0, 1], y0[1, 1]])

        covs = np.tile(np.eye(D), (n_l, 1, 1))
        log_w = np.full(n_l, -math.log(n_l))
        history: list[float] = []
        n_iter, converged = 0, False
        while True:
            log_n, diff = _gauss_logpdf(c, mu, covs)
            joint = log_n + log_w[None, :]
            lse = logsumexp(joint, axis=1)
            log_resp = joint - lse[:, None]
            ll = float(lse.sum())
            history.append(ll + _log_prior(covs, y0_inv_tr, nu0))
            if len(history) >= 2 and abs(history[-1] - history[-2]) <= self.tol * abs(history[-2]):
                converged = True
                break
            if n_iter >= self.max_iter:
                break
            resp = np.exp(log_resp)
            r = resp.sum(axis=0)
            yk = np.einsum("zl,zld,zle->lde", resp, diff, diff)
            covs = (y0[None] + yk) / (r + nu0 + D + 2.0)[:, None, None]
            log_w = np.log(np.maximum(r / n_z, np.finfo(np.float64).tiny))
            n_iter += 1

        self.means_ = mu
        self.covariances_ = covs
        self.weights_ = np.exp(log_w)
        self.log_responsibilities_ = log_resp.T.copy()
        self.responsibilities_ = np.exp(self.log_responsibilities_)
        self.log_likelihood_ = ll
        self.log_posterior_ = history[-1]
        self.history_ = history
        self.n_iter_ = n_iter
        self.converged_ = converged
        self.center_, self.scale_ = center, scale
        self.store_center_, self.store_scale_ = s_center, s_scale
        self.n_stores_, self.n_tracts_ = n_l, n_z
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "covariances_"):
            raise NotFittedError("SpAGMM is not fitted yet; call fit()")

    def store_tract_log_proba(self, tracts_xy: ArrayLike | None = None) -> NDArray[np.float64]:
        """Log of :meth:`store_tract_proba`, exact where the probabilities underflow."""
        self._check_fitted()
        if tracts_xy is None:
            return np.asarray(self.log_responsibilities_)
        pts = _as_points(tracts_xy, "tracts_xy", self.coordinates)
        c = (self._to_plane(pts) - self.center_) / self.scale_
        log_n, _ = _gauss_logpdf(c, self.means_, self.covariances_)
        joint = log_n + np.log(self.weights_)[None, :]
        return np.asarray((joint - logsumexp(joint, axis=1)[:, None]).T)

    def store_tract_proba(self, tracts_xy: ArrayLike | None = None) -> NDArray[np.float64]:
        """The stores x tracts matrix ``Pi``: P(store l | tract z), columns summing to 1.

        Parameters
        ----------
        tracts_xy : array_like, shape (n, 2), optional
            Tracts to evaluate (same coordinate kind as in fit); default: the fitted tracts,
            for which this is ``responsibilities_``.

        Returns
        -------
        ndarray, shape (n_stores, n)
            Responsibilities of the fitted components.
        """
        return np.exp(self.store_tract_log_proba(tracts_xy))

    def store_profiles(
        self,
        tract_features: pd.DataFrame | ArrayLike,
        *,
        population: ArrayLike | None = None,
        store_ids: list[str] | None = None,
    ) -> pd.DataFrame:
        """Demographic profile of every fitted store; see :func:`store_profiles`.

        Computed from the log responsibilities, so a store far from every tract still gets the
        profile of its nearest tracts instead of 0 / 0.
        """
        self._check_fitted()
        return _profiles(
            self.log_responsibilities_, tract_features, population=population, store_ids=store_ids
        )

    def to_dict(self) -> dict[str, Any]:
        """Parameters and fitted state as JSON-ready values (see :meth:`from_dict`)."""
        self._check_fitted()
        return {
            "params": self.get_params(),
            "means": self.means_.tolist(),
            "covariances": self.covariances_.tolist(),
            "weights": self.weights_.tolist(),
            "log_responsibilities": self.log_responsibilities_.tolist(),
            "log_likelihood": self.log_likelihood_,
            "history": list(self.history_),
            "n_iter": self.n_iter_,
            "converged": self.converged_,
            "center": self.center_.tolist(),
            "scale": self.scale_.tolist(),
            "store_center": self.store_center_.tolist(),
            "store_scale": self.store_scale_.tolist(),
            "origin": list(self.origin_) if self.origin_ is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpAGMM:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        m = cls(**data["params"])
        m.means_ = np.asarray(data["means"], dtype=np.float64)
        m.covariances_ = np.asarray(data["covariances"], dtype=np.float64)
        m.weights_ = np.asarray(data["weights"], dtype=np.float64)
        m.log_responsibilities_ = np.asarray(data["log_responsibilities"], dtype=np.float64)
        m.responsibilities_ = np.exp(m.log_responsibilities_)
        m.log_likelihood_ = float(data["log_likelihood"])
        m.history_ = [float(h) for h in data["history"]]
        m.log_posterior_ = m.history_[-1]
        m.n_iter_ = int(data["n_iter"])
        m.converged_ = bool(data["converged"])
        m.center_ = np.asarray(data["center"], dtype=np.float64)
        m.scale_ = np.asarray(data["scale"], dtype=np.float64)
        m.store_center_ = np.asarray(data["store_center"], dtype=np.float64)
        m.store_scale_ = np.asarray(data["store_scale"], dtype=np.float64)
        m.origin_ = None if data["origin"] is None else (data["origin"][0], data["origin"][1])
        m.n_stores_, m.n_tracts_ = m.log_responsibilities_.shape
        return m


def _log_prior(covs: NDArray[np.float64], y0: NDArray[np.float64], nu0: float) -> float:
    """Log NIW prior (kappa_0 -> 0, mean fixed) of the covariances, up to a constant."""
    a, b, c = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * c - b * b
    # tr(Y0 Sigma^-1) with Sigma^-1 = [[c, -b], [-b, a]] / det and symmetric Y0 = [[p, q], [q, s]]
    tr = (y0[0] * c - 2 * y0[1] * b + y0[2] * a) / det
    return float(np.sum(-0.5 * (nu0 + D + 2.0) * np.log(det) - 0.5 * tr))


def _profiles(
    log_pi: NDArray[np.float64],
    tract_features: pd.DataFrame | ArrayLike,
    *,
    population: ArrayLike | None,
    store_ids: list[str] | None,
) -> pd.DataFrame:
    if isinstance(tract_features, pd.DataFrame):
        names = [str(c) for c in tract_features.columns]
        try:
            x = tract_features.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"tract_features must be numeric; got dtypes {tract_features.dtypes.tolist()}"
            ) from exc
    else:
        x = np.asarray(tract_features, dtype=np.float64)
        names = [f"x{j}" for j in range(x.shape[1])] if x.ndim == 2 else []
    if x.ndim != 2 or x.shape[1] < 1:
        raise InvalidParameterError(
            f"tract_features must be a (n_tracts, n_features) table; got shape {x.shape}"
        )
    n_l, n_z = log_pi.shape
    if x.shape[0] != n_z:
        raise InvalidParameterError(
            f"tract_features must have one row per tract ({n_z}); got {x.shape[0]}"
        )
    bad = ~np.isfinite(x)
    if bad.any():
        z, j = (int(v[0]) for v in np.nonzero(bad))
        raise InvalidParameterError(
            f"tract_features must be finite; got {float(x[z, j])!r} for feature {names[j]!r} "
            f"of tract row {z}"
        )
    log_w = log_pi.copy()
    if population is not None:
        pop = np.asarray(population, dtype=np.float64)
        if pop.shape != (n_z,) or not np.isfinite(pop).all() or (pop < 0).any() or pop.sum() <= 0:
            raise InvalidParameterError(
                f"population must be {n_z} finite values >= 0 with a positive sum; got "
                f"shape {pop.shape}"
            )
        with np.errstate(divide="ignore"):
            log_w = log_w + np.log(pop)[None, :]
    if store_ids is not None and len(store_ids) != n_l:
        raise InvalidParameterError(
            f"store_ids must name every store ({n_l}); got {len(store_ids)}"
        )
    w = np.exp(log_w - logsumexp(log_w, axis=1, keepdims=True))
    return pd.DataFrame(
        w @ x,
        columns=names,
        index=pd.Index(store_ids if store_ids is not None else range(n_l), name="store_id"),
    )


def store_profiles(
    pi: ArrayLike,
    tract_features: pd.DataFrame | ArrayLike,
    *,
    population: ArrayLike | None = None,
    store_ids: list[str] | None = None,
) -> pd.DataFrame:
    """Store demographic profiles ``X_l = sum_z w_lz x_z`` from a stores x tracts matrix.

    The paper writes ``X_l = sum_z pi_lz x_z`` with ``pi`` from SpAGMM, whose columns sum to 1
    over stores. Used as is, ``X_l`` would scale with the size of the store's catchment, so the
    weights are normalised over tracts for each store: ``w_lz = pi_lz n_z / sum_z' pi_lz' n_z'``,
    the share of the store's expected shoppers who live in tract ``z`` when ``n_z`` is the
    tract's population (``pi_lz n_z`` shoppers of tract ``z`` go to store ``l``), and
    ``pi_lz / sum_z' pi_lz'`` without a population. ``X_l`` is then a weighted mean of tract
    features, in the features' own units (the paper's section 2 allows any weighted average).

    Parameters
    ----------
    pi : array_like, shape (n_stores, n_tracts)
        Non-negative store-tract probabilities (e.g. :meth:`SpAGMM.store_tract_proba`).
    tract_features : DataFrame or array_like, shape (n_tracts, n_features)
        Demographic features; no NaN.
    population : array_like, shape (n_tracts,), optional
        Tract populations; weights shoppers by where they live.
    store_ids : list of str, optional
        Row labels.

    Returns
    -------
    pandas.DataFrame
        One row per store (index ``store_id``), one column per feature.

    Raises
    ------
    InvalidParameterError
        On mismatched shapes, NaN or infinite features, negative probabilities, or a store
        whose weights are all zero.
    """
    p = np.asarray(pi, dtype=np.float64)
    if p.ndim != 2 or not np.isfinite(p).all() or (p < 0).any():
        raise InvalidParameterError(
            f"pi must be a finite, non-negative (n_stores, n_tracts) matrix; got shape {p.shape}"
        )
    empty = p.sum(axis=1) <= 0
    if empty.any():
        raise InvalidParameterError(
            f"pi must give every store some weight; got an all-zero row {int(np.argmax(empty))}"
        )
    with np.errstate(divide="ignore"):
        return _profiles(np.log(p), tract_features, population=population, store_ids=store_ids)
