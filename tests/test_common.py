"""Contract checks every shelfwise estimator must pass (STYLE.md): ``__init__`` only stores its
keyword arguments, fitting is seeded and deterministic, fitted state ends in ``_`` and is
absent before ``fit``, a clone is unfitted with equal parameters, and save -> load round-trips.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import clone as sklearn_clone  # type: ignore[import-untyped]

from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain
from shelfwise.demand import ConvergenceWarning, RBPModel
from shelfwise.exceptions import NotFittedError
from shelfwise.perception.sales import sales_from_visits
from shelfwise.pipeline import observations_from_visits
from shelfwise.spatial import SpAGMM, StoreClustering


@pytest.fixture(scope="module")
def chain() -> SyntheticChain:
    return generate_chain(
        ChainConfig(n_stores=8, n_products=8, displays_per_store=1, weeks=4), random_state=5
    )


@dataclass
class Case:
    name: str
    make: Callable[[int], Any]
    fit: Callable[[Any, SyntheticChain], Any]
    fitted: Callable[[Any], Any]
    """A summary of the fitted state to compare between fits."""
    save: Callable[[Any, Path], Any] | None = None
    load: Callable[[Path], Any] | None = None


def _xy(chain: SyntheticChain) -> tuple[np.ndarray, np.ndarray]:
    stores = np.array([[s.lat, s.lon] for s in chain.stores], dtype=float)
    tracts = np.array([[t.lat, t.lon] for t in chain.tracts], dtype=float)
    return stores, tracts


def _rbp_fit(model: RBPModel, chain: SyntheticChain) -> RBPModel:
    """A deliberately short fit (60 + 60 draws): only the contract is tested here."""
    obs, _ = observations_from_visits(chain.to_frames()["visits"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(obs, {s: str(c) for s, c in chain.true_cluster.items()})


CASES = [
    Case(
        "SpAGMM",
        lambda seed: SpAGMM(random_state=seed),
        lambda m, c: m.fit(*_xy(c)),
        lambda m: np.asarray(m.covariances_),
    ),
    Case(
        "StoreClustering",
        lambda seed: StoreClustering(k=3, random_state=seed),
        lambda m, c: m.fit(
            list(c.stores), list(c.tracts), sales_from_visits(c.to_frames()["visits"])
        ),
        lambda m: dict(m.labels_),
        lambda m, p: m.save(p / "clustering.json"),
        lambda p: StoreClustering.load(p / "clustering.json"),
    ),
    Case(
        "RBPModel",
        lambda seed: RBPModel(draws=60, tune=60, chains=2, random_state=seed),
        _rbp_fit,
        lambda m: np.asarray(m.posterior_.store_coef),
        lambda m, p: m.save(p / "rbp.npz"),
        lambda p: RBPModel.load(p / "rbp.npz"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_init_only_stores_keyword_arguments(case: Case) -> None:
    model = case.make(3)
    params = inspect.signature(type(model).__init__).parameters
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "self")
    assert not [k for k in vars(model) if k.endswith("_") and not k.startswith("_")]
    for name in params:
        if name != "self":
            assert hasattr(model, name)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_seeded_fit_is_deterministic_and_clone_is_unfitted(
    case: Case, chain: SyntheticChain, tmp_path: Path
) -> None:
    a = case.fit(case.make(7), chain)
    b = case.fit(case.make(7), chain)
    fa, fb = case.fitted(a), case.fitted(b)
    if isinstance(fa, np.ndarray):
        np.testing.assert_array_equal(fa, fb)
    else:
        assert fa == fb
    fresh = a.clone() if hasattr(a, "clone") else sklearn_clone(a)
    assert fresh.get_params() == a.get_params()
    assert not [k for k in vars(fresh) if k.endswith("_") and not k.startswith("_")]
    if case.save is not None and case.load is not None:
        case.save(a, tmp_path)
        back = case.load(tmp_path)
        fc = case.fitted(back)
        if isinstance(fa, np.ndarray):
            np.testing.assert_array_equal(fa, fc)
        else:
            assert fa == fc


def test_unfitted_models_refuse_to_predict() -> None:
    with pytest.raises(NotFittedError, match=r"RBPModel is not fitted yet; call fit\(\)"):
        RBPModel().predict("P1", "S1", 2)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        StoreClustering().cluster_sizes()
