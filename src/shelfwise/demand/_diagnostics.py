"""Convergence diagnostics: rank-normalised split R-hat and bulk ESS (Vehtari et al., 2021).

Written in numpy for arrays of shape ``(chains, draws, n_params)`` so that a fit needs no
plotting or I/O stack. Both statistics are invariant to monotone transforms, so they are
computed on the sampler's unconstrained draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtri
from scipy.stats import rankdata


class ConvergenceWarning(UserWarning):
    """An RBP fit did not converge well enough to trust (R-hat, ESS or divergences)."""


def _split(x: NDArray[np.float64]) -> NDArray[np.float64]:
    n = x.shape[1]
    half = n // 2
    return np.concatenate([x[:, :half], x[:, n - half :]], axis=0)


def _rank_normal(x: NDArray[np.float64]) -> NDArray[np.float64]:
    m, n, k = x.shape
    flat = x.reshape(m * n, k)
    ranks = rankdata(flat, axis=0, method="average")
    z = ndtri((ranks - 0.375) / (m * n + 0.25))
    return np.asarray(z.reshape(m, n, k))


def _rhat_core(x: NDArray[np.float64]) -> NDArray[np.float64]:
    n = x.shape[1]
    chain_mean = x.mean(axis=1)
    b = n * chain_mean.var(axis=0, ddof=1)
    w = x.var(axis=1, ddof=1).mean(axis=0)
    var_plus = (n - 1) / n * w + b / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / w)
    return np.asarray(np.where(w > 0, r, np.nan))


def rhat(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Rank-normalised split R-hat (max of bulk and folded), per parameter.

    Parameters
    ----------
    x : ndarray, shape (chains, draws, n_params)

    Returns
    -------
    ndarray, shape (n_params,)
    """
    s = _split(np.asarray(x, dtype=np.float64))
    bulk = _rhat_core(_rank_normal(s))
    med = np.median(s.reshape(-1, s.shape[2]), axis=0)
    tail = _rhat_core(_rank_normal(np.abs(s - med)))
    return np.asarray(np.fmax(bulk, tail))


def _ess_core(x: NDArray[np.float64]) -> NDArray[np.float64]:
    m, n, k = x.shape
    centred = x - x.mean(axis=1, keepdims=True)
    size = 2 ** int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(centred, n=size, axis=1)
    acov = np.fft.irfft(f * np.conj(f), n=size, axis=1)[:, :n] / n
    chain_var = acov[:, 0] * n / (n - 1)
    w = chain_var.mean(axis=0)
    b_over_n = x.mean(axis=1).var(axis=0, ddof=1) if m > 1 else np.zeros(k)
    var_plus = (n - 1) / n * w + b_over_n
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (w[None, :] - acov.mean(axis=0)) / var_plus[None, :]
    rho[0] = 1.0
    n_pairs = n // 2
    pairs = rho[: 2 * n_pairs].reshape(n_pairs, 2, k).sum(axis=1)
    positive = pairs > 0
    first_bad = np.where(positive.all(axis=0), n_pairs, np.argmin(positive, axis=0))
    mono = np.minimum.accumulate(np.where(positive, pairs, 0.0), axis=0)
    keep = np.arange(n_pairs)[:, None] < first_bad[None, :]
    tau = -1.0 + 2.0 * np.sum(np.where(keep, mono, 0.0), axis=0)
    tau = np.maximum(tau, 1.0 / np.log10(m * n))
    ess = m * n / tau
    return np.asarray(np.where(w > 0, ess, np.nan))


def ess_bulk(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bulk effective sample size (rank-normalised, split chains), per parameter.

    Parameters
    ----------
    x : ndarray, shape (chains, draws, n_params)

    Returns
    -------
    ndarray, shape (n_params,)
    """
    return _ess_core(_rank_normal(_split(np.asarray(x, dtype=np.float64))))


@dataclass(frozen=True, slots=True)
class ProductDiagnostics:
    """Convergence of one product's chains.

    Attributes
    ----------
    product_id : str
    rhat_max : float
        Largest R-hat over the product's parameters.
    ess_bulk_min : float
        Smallest bulk ESS over its parameters.
    divergences : int
        Divergent transitions after warm-up, all chains.
    mean_tree_size : float
        Mean leapfrog steps per NUTS transition.
    """

    product_id: str
    rhat_max: float
    ess_bulk_min: float
    divergences: int
    mean_tree_size: float


@dataclass(frozen=True, slots=True)
class RBPDiagnostics:
    """Convergence of a whole RBP fit.

    Attributes
    ----------
    rhat_max : float
        Largest R-hat over every sampled parameter.
    ess_bulk_min : float
        Smallest bulk ESS over every sampled parameter.
    divergences : int
        Divergent transitions after warm-up, all products and chains.
    chains, draws, tune : int
        Sampler settings.
    sampling_seconds : float
        Wall time of sampling (compilation included).
    products : tuple of ProductDiagnostics
        Per-product summaries, in product order.
    """

    rhat_max: float
    ess_bulk_min: float
    divergences: int
    chains: int
    draws: int
    tune: int
    sampling_seconds: float
    products: tuple[ProductDiagnostics, ...]

    def problems(self, *, max_rhat: float, min_ess: float) -> list[str]:
        """Readable reasons why the fit is not trustworthy (empty when it is)."""
        out = []
        if not self.rhat_max <= max_rhat:
            worst = max(self.products, key=lambda p: p.rhat_max)
            out.append(
                f"R-hat max is {self.rhat_max:.3f} (> {max_rhat}), worst product {worst.product_id}"
            )
        if not self.ess_bulk_min >= min_ess:
            worst = min(self.products, key=lambda p: p.ess_bulk_min)
            out.append(
                f"bulk ESS min is {self.ess_bulk_min:.0f} (< {min_ess:.0f}), worst product "
                f"{worst.product_id}"
            )
        if self.divergences > 0:
            n_bad = sum(p.divergences > 0 for p in self.products)
            out.append(f"{self.divergences} divergent transition(s) in {n_bad} product(s)")
        return out

    def to_dict(self) -> dict[str, object]:
        """A JSON-able summary (per-product records as lists)."""
        return {
            "rhat_max": self.rhat_max,
            "ess_bulk_min": self.ess_bulk_min,
            "divergences": self.divergences,
            "chains": self.chains,
            "draws": self.draws,
            "tune": self.tune,
            "sampling_seconds": self.sampling_seconds,
            "products": [
                [p.product_id, p.rhat_max, p.ess_bulk_min, p.divergences, p.mean_tree_size]
                for p in self.products
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> RBPDiagnostics:
        """Inverse of :meth:`to_dict`."""
        rows = d["products"]
        if not isinstance(rows, list):
            raise TypeError("products must be a list")
        return cls(
            rhat_max=float(d["rhat_max"]),  # type: ignore[arg-type]
            ess_bulk_min=float(d["ess_bulk_min"]),  # type: ignore[arg-type]
            divergences=int(d["divergences"]),  # type: ignore[call-overload]
            chains=int(d["chains"]),  # type: ignore[call-overload]
            draws=int(d["draws"]),  # type: ignore[call-overload]
            tune=int(d["tune"]),  # type: ignore[call-overload]
            sampling_seconds=float(d["sampling_seconds"]),  # type: ignore[arg-type]
            products=tuple(
                ProductDiagnostics(str(r[0]), float(r[1]), float(r[2]), int(r[3]), float(r[4]))
                for r in rows
            ),
        )
