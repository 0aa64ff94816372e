"""Robust Bayesian Payoffs (RBP): the hierarchical payoff model of EdgeRec3D.

Jenkins et al., "Personalized Product Assortment with Real-time 3D Perception and Bayesian
Payoff Estimation", KDD 2024, §3.3 (Eq. 5). See :mod:`shelfwise.demand._model` for the exact
density (truncated-Laplace store coefficients, Gamma payoffs, a complementary-log-log hurdle for
zero payoffs) and :mod:`shelfwise.demand._sampler` for the exact, per-product NUTS sampler.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from shelfwise import __version__
from shelfwise.exceptions import InvalidParameterError, NotFittedError

from ._config import FACING_FEATURES, PARAMETERIZATIONS, RBPPriors
from ._diagnostics import ConvergenceWarning, RBPDiagnostics
from ._io import read_artifact, write_artifact
from ._model import choose_noncentred
from ._posterior import (
    QUANTILE_LEVELS,
    PredictiveDraws,
    PredictiveMoments,
    RBPPosterior,
    parameter_draws,
    predictive,
    predictive_moments,
    to_posterior,
)
from ._refit import Thresholds, diagnose, refit_failing
from ._sampler import sample
from ._stats import CellStats, cell_stats, normalise_clusters, validate_observations

_PARAM_NAMES: tuple[str, ...] = (
    "sigma0",
    "sigma1",
    "sigma2",
    "facing_feature",
    "parameterization",
    "draws",
    "tune",
    "chains",
    "target_accept",
    "max_tree_depth",
    "batch_size",
    "n_jobs",
    "max_rhat",
    "min_ess",
    "refit",
    "model_config",
    "random_state",
)


@dataclass(frozen=True, slots=True, eq=False)
class PayoffPrediction:
    """Posterior predictive ``p(r | q)`` of one product in one store at some facing counts.

    Attributes
    ----------
    product_id, store_id : str
    cluster : str
        Cluster label used for the store.
    store_seen : bool
        Whether the store had data for this product (else a new store coefficient is drawn from
        the cluster level, ``Laplace(beta_ik, b_i)`` truncated at 0).
    facings : ndarray, shape (n,)
    mean, sd, p_zero : ndarray, shape (n,)
        ``E[r]``, ``sd(r)``, ``P(r = 0)``.
    sd_mean : ndarray, shape (n,)
        Posterior sd of ``E[r]`` (epistemic uncertainty only; ``sd`` adds the payoff's own
        noise).
    quantile_levels : tuple of float
    quantiles : ndarray, shape (n, n_levels)
    draws : ndarray, shape (n, n_samples)
        Predictive draws of ``r``.
    """

    product_id: str
    store_id: str
    cluster: str
    store_seen: bool
    facings: NDArray[np.float64]
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]
    p_zero: NDArray[np.float64]
    sd_mean: NDArray[np.float64]
    quantile_levels: tuple[float, ...]
    quantiles: NDArray[np.float64]
    draws: NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class _Parameters:
    """Flat parameter draws for one (product, store) and the generator they were drawn from."""

    q: NDArray[np.float64]
    beta: NDArray[np.float64]
    sig: NDArray[np.float64]
    eta0: NDArray[np.float64]
    slope: NDArray[np.float64]
    rng: np.random.Generator
    seen: bool
    cluster: str


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}; got {value!r}")


class RBPModel:
    """Hierarchical Bayesian payoff model (EdgeRec3D Eq. 5) with a zero hurdle.

    Parameters
    ----------
    sigma0, sigma1, sigma2 : float
        HalfNormal scales of ``beta_ik``, ``b_i`` and ``sigma_r``.
    facing_feature : {"log2", "linear", "sqrt"}
        ``x_q``: ``log2(1 + q)`` (default, concave, ``x_1 = 1``), ``q`` or ``sqrt(q)``.
    parameterization : {"auto", "centred", "noncentred"}
        How store coefficients are sampled (both are exact; see :mod:`._model`). ``"auto"``
        (default) samples a product non-centred when its stores' own data say little next to
        the spread of stores (sparse products), centred otherwise; see
        :func:`shelfwise.demand._model.choose_noncentred`. With ``refit=True`` a product that
        fails the convergence checks is sampled again on its own (same form, then the other
        form; longer warm-up, more draws thinned back, higher ``target_accept``; see
        :mod:`shelfwise.demand._refit`); new draws are kept when they pass (or fail less
        badly). ``refit_products_`` names the products whose draws were replaced.
    draws, tune, chains : int
        Kept draws and warm-up iterations per chain; chains per product.
    target_accept : float
        Target acceptance of NUTS step-size adaptation, in (0, 1).
    max_tree_depth : int
        Maximum NUTS tree doublings.
    batch_size : int
        Products sampled together in one vectorised run. The runs of a batch advance in
        lock-step, so each NUTS iteration waits for the batch's longest trajectory: small
        batches waste less and let ``n_jobs`` threads share the work. On the bundled chain
        (60 products, 150 + 150 iterations, 2 threads) one batch of 60 took 106 s, batches of
        15 took 62 s and of 8, 65 s; ``benchmarks/bench_rbp.py`` measures it side by side.
        Products are batched fewest stores first, so the sparse products whose trees run
        deepest share batches (training window of the bundled chain, 300 + 300 iterations,
        batches of 16: 60 s in catalog order, 44 s grouped).
    n_jobs : int
        Batches run at once (threads).
    max_rhat : float
        A fit whose largest R-hat exceeds this warns.
    min_ess : float or None
        A fit whose smallest bulk ESS is below this warns (default ``100 * chains``).
    refit : bool
        Re-run the products that fail the checks of ``max_rhat``, ``min_ess`` and divergences
        (see ``parameterization``). Off by default: on the bundled chain at 500 draws about 55
        of 60 products miss R-hat <= 1.01 on some store coefficient, so a re-run roughly
        triples the fit time; turn it on when the time is worth it. ``False`` keeps the first
        run's draws whatever they are (a failing fit still warns).
    model_config : mapping or None
        Further prior hyperparameters merged over :class:`RBPPriors` (hurdle priors).
    random_state : int or None
        Seed; the same seed gives the same draws.
    """

    def __init__(
        self,
        *,
        sigma0: float = 2.0,
        sigma1: float = 1.0,
        sigma2: float = 3.0,
        facing_feature: str = "log2",
        parameterization: str = "auto",
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 2,
        target_accept: float = 0.8,
        max_tree_depth: int = 8,
        batch_size: int = 16,
        n_jobs: int = 2,
        max_rhat: float = 1.01,
        min_ess: float | None = None,
        refit: bool = False,
        model_config: Mapping[str, float] | None = None,
        random_state: int | None = None,
    ) -> None:
        self.sigma0 = sigma0
        self.sigma1 = sigma1
        self.sigma2 = sigma2
        self.facing_feature = facing_feature
        self.parameterization = parameterization
        self.draws = draws
        self.tune = tune
        self.chains = chains
        self.target_accept = target_accept
        self.max_tree_depth = max_tree_depth
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.max_rhat = max_rhat
        self.min_ess = min_ess
        self.refit = refit
        self.model_config = model_config
        self.random_state = random_state

    # ------------------------------------------------------------------ params
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, by name."""
        return {name: getattr(self, name) for name in _PARAM_NAMES}

    def clone(self) -> RBPModel:
        """An unfitted copy with the same arguments."""
        params = self.get_params()
        if params["model_config"] is not None:
            params["model_config"] = dict(params["model_config"])
        return RBPModel(**params)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"RBPModel({args})"

    def priors(self) -> RBPPriors:
        """Typed prior hyperparameters: the named sigmas and ``model_config`` over defaults."""
        base = RBPPriors(sigma0=self.sigma0, sigma1=self.sigma1, sigma2=self.sigma2)
        return RBPPriors.merged(base, self.model_config)

    def _validate_params(self) -> RBPPriors:
        if self.facing_feature not in FACING_FEATURES:
            raise InvalidParameterError(
                f"facing_feature must be one of {FACING_FEATURES}; got {self.facing_feature!r}"
            )
        if self.parameterization not in PARAMETERIZATIONS:
            raise InvalidParameterError(
                f"parameterization must be one of {PARAMETERIZATIONS}; "
                f"got {self.parameterization!r}"
            )
        _check_int("draws", self.draws, 10)
        _check_int("tune", self.tune, 10)
        _check_int("chains", self.chains, 1)
        _check_int("max_tree_depth", self.max_tree_depth, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("n_jobs", self.n_jobs, 1)
        if not isinstance(self.refit, bool):
            raise InvalidParameterError(f"refit must be True or False; got {self.refit!r}")
        ta = self.target_accept
        if isinstance(ta, bool) or not isinstance(ta, int | float) or not 0 < ta < 1:
            raise InvalidParameterError(f"target_accept must be in (0, 1); got {ta!r}")
        if self.random_state is not None:
            _check_int("random_state", self.random_state, 0)
        return self.priors()

    # ------------------------------------------------------------------ fitting
    def build_model(self, observations: pd.DataFrame, store_clusters: object) -> CellStats:
        """Validate the inputs and reduce them to the sufficient statistics the sampler uses.

        Parameters
        ----------
        observations : pandas.DataFrame
            ``store_id``, ``product_id``, ``facings`` (>= 1) and ``rate`` (payoff, >= 0).
        store_clusters : mapping, Series or DataFrame
            Cluster of every store (see :func:`._stats.normalise_clusters`); may include stores
            without observations (they can be predicted at the cluster level).

        Returns
        -------
        CellStats
        """
        self._validate_params()
        clusters = normalise_clusters(store_clusters)
        return cell_stats(validate_observations(observations), clusters)

    def fit(
        self,
        observations: pd.DataFrame,
        store_clusters: object,
        *,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> RBPModel:
        """Sample the posterior of every product.

        Parameters
        ----------
        observations, store_clusters
            See :meth:`build_model`.
        on_progress : callable or None
            ``on_progress(products_done, n_products)`` after each batch of products.

        Returns
        -------
        RBPModel
            ``self``, with ``posterior_``, ``diagnostics_``, ``product_ids_``, ``store_ids_``,
            ``cluster_labels_``, ``store_clusters_`` and ``refit_products_`` set.

        Warns
        -----
        ConvergenceWarning
            When R-hat, bulk ESS or divergences show that the draws cannot be trusted.
        """
        priors = self._validate_params()
        stats = self.build_model(observations, store_clusters)
        seed = (
            int(np.random.default_rng().integers(2**31 - 1))
            if self.random_state is None
            else int(self.random_state)
        )
        started = time.perf_counter()
        noncentred = choose_noncentred(stats, self.parameterization, feature=self.facing_feature)
        common: dict[str, Any] = {
            "feature": self.facing_feature,
            "chains": self.chains,
            "max_tree_depth": self.max_tree_depth,
            "batch_size": self.batch_size,
            "n_jobs": self.n_jobs,
        }
        raw = sample(
            stats,
            priors,
            tune=self.tune,
            draws=self.draws,
            seed=seed,
            target_accept=float(self.target_accept),
            noncentred=noncentred,
            on_batch=on_progress,
            **common,
        )
        replaced = np.zeros(0, dtype=np.int64)
        if self.refit:
            raw, replaced = refit_failing(
                raw,
                stats,
                priors,
                limits=self._thresholds(),
                tune=self.tune,
                draws=self.draws,
                target_accept=float(self.target_accept),
                seed=seed,
                sampler_options=common,
            )
        seconds = time.perf_counter() - started
        self.posterior_ = to_posterior(raw, stats)
        self.diagnostics_ = diagnose(raw, stats, seconds, tune=self.tune)
        self.refit_products_ = tuple(stats.product_ids[int(i)] for i in replaced)
        self.product_ids_ = stats.product_ids
        self.store_ids_ = stats.store_ids
        self.cluster_labels_ = stats.cluster_labels
        self.store_clusters_ = {
            s: stats.cluster_labels[int(k)]
            for s, k in zip(stats.store_ids, stats.store_cluster, strict=True)
        }
        self.n_obs_ = {p: int(n) for p, n in zip(stats.product_ids, stats.n_obs, strict=True)}
        self.seed_ = seed
        self._warn_if_bad()
        return self

    def _thresholds(self) -> Thresholds:
        min_ess = 100.0 * self.chains if self.min_ess is None else float(self.min_ess)
        return Thresholds(max_rhat=float(self.max_rhat), min_ess=min_ess)

    def _warn_if_bad(self) -> None:
        lim = self._thresholds()
        problems = self.diagnostics_.problems(max_rhat=lim.max_rhat, min_ess=lim.min_ess)
        if problems:
            warnings.warn(
                "RBPModel fit may not be trustworthy: "
                + "; ".join(problems)
                + ". Increase tune/draws, raise target_accept, or inspect diagnostics_.",
                ConvergenceWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "posterior_"):
            raise NotFittedError("RBPModel is not fitted yet; call fit()")

    def _locate(
        self, product_id: str, store_id: str, cluster: object
    ) -> tuple[int, int | None, int]:
        try:
            p = self.product_ids_.index(str(product_id))
        except ValueError:
            raise InvalidParameterError(
                f"product_id must be a product the model was fitted on; got {product_id!r}"
            ) from None
        store = str(store_id)
        label = str(cluster) if cluster is not None else self.store_clusters_.get(store)
        if label is None:
            raise InvalidParameterError(
                f"store {store!r} was not in the fitted store clusters; pass cluster= to "
                f"predict it at the cluster level (one of {list(self.cluster_labels_)})"
            )
        if label not in self.cluster_labels_:
            raise InvalidParameterError(
                f"cluster must be one of {list(self.cluster_labels_)}; got {cluster!r}"
            )
        s = self.store_ids_.index(store) if store in self.store_clusters_ else None
        if s is not None and self.store_clusters_[store] != label:
            s = None  # the store is asked about as if in another cluster: a new store there
        return p, s, self.cluster_labels_.index(label)

    def _parameters(
        self, product_id: str, store_id: str, facings: ArrayLike, cluster: object
    ) -> _Parameters:
        self._check_fitted()
        q = np.atleast_1d(np.asarray(facings, dtype=np.float64))
        if q.ndim != 1 or not np.all(np.isfinite(q)) or np.any(q < 0):
            raise InvalidParameterError(f"facings must be finite numbers >= 0; got {facings!r}")
        p, s, k = self._locate(product_id, store_id, cluster)
        rng = np.random.default_rng(
            [self.seed_, p, zlib.crc32(str(store_id).encode()), k, zlib.crc32(q.tobytes())]
        )
        beta, sig, eta0, slope = parameter_draws(self.posterior_, p, s, k, rng)
        seen = s is not None and bool(np.isfinite(self.posterior_.store_coef[0, 0, p, s]))
        return _Parameters(q, beta, sig, eta0, slope, rng, seen, self.cluster_labels_[k])

    def _predictive(
        self, product_id: str, store_id: str, facings: ArrayLike, cluster: object
    ) -> tuple[PredictiveDraws, bool, str]:
        par = self._parameters(product_id, store_id, facings, cluster)
        out = predictive(
            par.beta, par.sig, par.eta0, par.slope, par.q, self.facing_feature, par.rng
        )
        return out, par.seen, par.cluster

    def _predictive_moments(
        self, product_id: str, store_id: str, facings: ArrayLike, cluster: object
    ) -> tuple[PredictiveMoments, bool]:
        par = self._parameters(product_id, store_id, facings, cluster)
        out = predictive_moments(par.beta, par.sig, par.eta0, par.slope, par.q, self.facing_feature)
        return out, par.seen

    def predict(
        self,
        product_id: str,
        store_id: str,
        facings: ArrayLike,
        *,
        cluster: object = None,
    ) -> PayoffPrediction:
        """Posterior predictive of the payoff of a product in a store at ``facings``.

        Parameters
        ----------
        product_id : str
            A product the model was fitted on.
        store_id : str
            Any store: one with data uses its store-level posterior; one in the fitted clusters
            without data for this product, or a new store (give ``cluster``), draws a new store
            coefficient from the cluster level.
        facings : float or array_like of float
            Facing counts (>= 0; 0 facings gives a payoff of 0).
        cluster : object, optional
            Cluster label; needed for a store that was not in the fitted clusters.

        Returns
        -------
        PayoffPrediction
        """
        out, seen, label = self._predictive(product_id, store_id, facings, cluster)
        return PayoffPrediction(
            product_id=str(product_id),
            store_id=str(store_id),
            cluster=label,
            store_seen=seen,
            facings=np.atleast_1d(np.asarray(facings, dtype=np.float64)),
            mean=out.mean,
            sd=out.sd,
            p_zero=out.p_zero,
            sd_mean=out.sd_mean,
            quantile_levels=QUANTILE_LEVELS,
            quantiles=out.quantiles,
            draws=out.draws,
        )

    def predict_frame(self, frame: pd.DataFrame, *, quantiles: bool = True) -> pd.DataFrame:
        """Vectorised :meth:`predict` over rows ``product_id, store_id, facings[, cluster]``.

        Parameters
        ----------
        frame : pandas.DataFrame
            One row per prediction.
        quantiles : bool
            Also give the predictive quantiles. They need one predictive draw per posterior
            draw; without them only the moments are computed (the same ``mean, sd, sd_mean,
            p_zero`` as with them, from the same parameter draws), which is faster.

        Returns
        -------
        pandas.DataFrame
            The input columns plus ``mean, sd, sd_mean, p_zero``, then ``q05, q25, q50, q75,
            q95`` when ``quantiles``, then ``store_seen``, in the input's row order.
        """
        self._check_fitted()
        if not isinstance(quantiles, bool):
            raise InvalidParameterError(f"quantiles must be True or False; got {quantiles!r}")
        missing = [c for c in ("product_id", "store_id", "facings") if c not in frame.columns]
        if missing:
            raise InvalidParameterError(
                f"frame must have columns product_id, store_id, facings; missing {missing}"
            )
        has_cluster = "cluster" in frame.columns
        n = len(frame)
        cols = {c: np.full(n, np.nan) for c in ("mean", "sd", "sd_mean", "p_zero")}
        quant = np.full((n, len(QUANTILE_LEVELS) if quantiles else 0), np.nan)
        seen = np.zeros(n, dtype=bool)
        keys = ["product_id", "store_id"] + (["cluster"] if has_cluster else [])
        work = frame.reset_index(drop=True)
        facings = work["facings"].to_numpy(dtype=np.float64)
        for key, rows in work.groupby(keys, sort=False).groups.items():
            idx = np.asarray(rows)
            parts = tuple(key) if isinstance(key, tuple) else (key,)
            prod, store = str(parts[0]), str(parts[1])
            clus = parts[2] if has_cluster else None
            out: PredictiveDraws | PredictiveMoments
            if quantiles:
                out, was_seen, _ = self._predictive(prod, store, facings[idx], clus)
                quant[idx] = out.quantiles
            else:
                out, was_seen = self._predictive_moments(prod, store, facings[idx], clus)
            cols["mean"][idx], cols["sd"][idx] = out.mean, out.sd
            cols["sd_mean"][idx], cols["p_zero"][idx] = out.sd_mean, out.p_zero
            seen[idx] = was_seen
        result = frame.copy()
        for c, v in cols.items():
            result[c] = v
        if quantiles:
            for j, level in enumerate(QUANTILE_LEVELS):
                result[f"q{round(level * 100):02d}"] = quant[:, j]
        result["store_seen"] = seen
        return result

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the fitted model (config, version, draws, diagnostics) to ``path`` (.npz)."""
        self._check_fitted()
        params = self.get_params()
        params["model_config"] = None if self.model_config is None else dict(self.model_config)
        header = {
            "shelfwise_version": __version__,
            "config": params,
            "product_ids": list(self.product_ids_),
            "store_ids": list(self.store_ids_),
            "cluster_labels": list(self.cluster_labels_),
            "store_clusters": self.store_clusters_,
            "n_obs": self.n_obs_,
            "refit_products": list(self.refit_products_),
            "seed": self.seed_,
            "diagnostics": self.diagnostics_.to_dict(),
        }
        return write_artifact(Path(path), header, dict(self.posterior_.arrays()))

    @classmethod
    def load(cls, path: str | Path) -> RBPModel:
        """Read a model written by :meth:`save`.

        Raises
        ------
        ArtifactMismatchError
            If the file is of another kind, format version or configuration schema.
        """
        header, arrays = read_artifact(Path(path), set(_PARAM_NAMES))
        model = cls(**header["config"])
        names = {f.name for f in fields(RBPPosterior)}
        model.posterior_ = RBPPosterior(**{k: arrays[k] for k in names})
        model.diagnostics_ = RBPDiagnostics.from_dict(header["diagnostics"])
        model.product_ids_ = tuple(header["product_ids"])
        model.store_ids_ = tuple(header["store_ids"])
        model.cluster_labels_ = tuple(header["cluster_labels"])
        model.store_clusters_ = dict(header["store_clusters"])
        model.n_obs_ = dict(header["n_obs"])
        model.refit_products_ = tuple(header.get("refit_products", ()))
        model.seed_ = int(header["seed"])
        return model
