"""The deep-ensembles baseline: Gaussian-head MLPs trained on the negative log-likelihood."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from shelfwise.assortment.payoffs._common import (
    _FEATURE,
    _check_bool,
    _check_int,
    _check_table_args,
    _normalise_clusters,
    _Observations,
    _resolve_cluster,
    _validate_observations,
)
from shelfwise.assortment.problem import PayoffTable
from shelfwise.demand import facing_feature
from shelfwise.exceptions import InvalidParameterError, NotFittedError


class _GaussianNet(nn.Module):
    """Fully connected ReLU network with a Gaussian head: mean and softplus variance."""

    def __init__(self, n_in: int, hidden: tuple[int, ...], min_var: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2)
        self.min_var = min_var

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.body(x))
        return out[:, 0], nn.functional.softplus(out[:, 1]) + self.min_var


@dataclass(frozen=True, slots=True, eq=False)
class _Cells:
    """Observations reduced to one row per distinct network input (product, cluster, q)."""

    product: NDArray[np.int64]
    cluster: NDArray[np.int64]
    facings: NDArray[np.float64]
    n: NDArray[np.float64]
    mean: NDArray[np.float64]
    var: NDArray[np.float64]
    """Within-cell variance of the rates (divided by n, not n - 1)."""


class DeepEnsemblePayoffs:
    """Deep ensembles (EdgeRec3D §8.1.2; Lakshminarayanan et al., NeurIPS 2017).

    ``n_members`` fully connected ReLU networks, each with a Gaussian head (mean and softplus
    variance), are trained to minimise the Gaussian negative log-likelihood
    (:class:`torch.nn.GaussianNLLLoss`) of the daily payoff. Inputs: one-hot product, one-hot
    cluster (with ``by_cluster``), ``x_q = log2(1 + q)`` and ``q`` divided by the largest facing
    count seen in fitting. Members differ by their initial weights and the order of their
    minibatches. The prediction is the uniform mixture of the members' Gaussians:
    ``mean = mean_m(mu_m)`` and ``sd = sqrt(mean_m(var_m + mu_m ** 2) - mean ** 2)``, the total
    (noise plus disagreement) predictive sd; :meth:`epistemic_sd` is the disagreement alone.
    Column 0 is forced to 0. The mean is not constrained to be >= 0.

    Training on sufficient statistics. The network sees only (product, cluster, q), so all rows
    with one input share one prediction ``(mu, var)``, and their summed NLL is exactly
    ``n * [NLL(mu, var; rbar) + s2 / (2 var)]`` with ``n``, ``rbar``, ``s2`` the count, mean and
    within-cell variance of the rows. Fitting works on these cells (the bundled chain's 132,664
    observations are 936 cells), weighted by ``n``: an epoch is one pass over the
    cells, in minibatches of ``batch_size`` cells, and sees every observation once, at a small
    fraction of the cost of a pass over rows. Rates are divided by their standard deviation for
    training and the predictions scaled back.

    Parameters
    ----------
    n_members : int
        Networks in the ensemble (the paper: 5).
    hidden : tuple of int
        Hidden layer widths (the paper: 256, 256, 256).
    epochs : int
        Passes over the cells. The paper trains 1000 epochs (of rows, on a GPU). The default,
        200, fits the bundled chain's observations (936 cells, whether 25,000 or all 132,664
        rows) in about 30 s on one CPU core with the default sizes; by then the training loss
        has levelled off (400 epochs lowered it by under 3% and did not bring the means
        closer to the chain's true expected sales).
    batch_size : int
        Cells per minibatch.
    learning_rate : float
        Adam step size.
    by_cluster : bool
        Give the network the store's cluster (default), or not (one global model).
    random_state : int or None
        Seed; the same seed gives identical tables.
    name : str
        Name of the estimator in reports.

    Attributes
    ----------
    members_ : list of torch.nn.Module
    product_ids_, cluster_labels_ : tuple of str
        One-hot vocabularies (products and clusters with observations).
    store_clusters_ : dict of str to str
    q_scale_, rate_scale_ : float
        Divisors of ``q`` and of the rate.
    loss_history_ : ndarray, shape (n_members, epochs)
        Mean NLL per observation (scaled rates, without the constant) after each epoch.
    n_cells_ : int
    fit_seconds_ : float

    Notes
    -----
    Fitting runs torch on one thread (restored afterwards): the networks are small, and one
    thread keeps results bit-identical for a seed.
    """

    def __init__(
        self,
        *,
        n_members: int = 5,
        hidden: tuple[int, ...] = (256, 256, 256),
        epochs: int = 200,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        by_cluster: bool = True,
        random_state: int | None = None,
        name: str = "deep_ensemble",
    ) -> None:
        self.n_members = n_members
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.by_cluster = by_cluster
        self.random_state = random_state
        self.name = name

    def __repr__(self) -> str:
        return (
            f"DeepEnsemblePayoffs(n_members={self.n_members!r}, hidden={self.hidden!r}, "
            f"epochs={self.epochs!r}, batch_size={self.batch_size!r}, "
            f"learning_rate={self.learning_rate!r}, by_cluster={self.by_cluster!r}, "
            f"random_state={self.random_state!r}, name={self.name!r})"
        )

    def _validate_params(self) -> tuple[int, ...]:
        _check_int("n_members", self.n_members, 1)
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_bool("by_cluster", self.by_cluster)
        hidden = tuple(self.hidden) if isinstance(self.hidden, tuple | list) else None
        if not hidden or any(
            isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1 for h in hidden
        ):
            raise InvalidParameterError(
                f"hidden must be a non-empty tuple of integers >= 1; got {self.hidden!r}"
            )
        lr = self.learning_rate
        if (
            isinstance(lr, bool)
            or not isinstance(lr, int | float)
            or not (math.isfinite(lr) and lr > 0)
        ):
            raise InvalidParameterError(f"learning_rate must be a finite number > 0; got {lr!r}")
        if self.random_state is not None:
            _check_int("random_state", self.random_state, 0)
        return tuple(int(h) for h in hidden)

    # ------------------------------------------------------------------ fitting
    def _cells(self, obs: _Observations, clusters: Mapping[str, str]) -> _Cells:
        p_index = {p: i for i, p in enumerate(self.product_ids_)}
        k_index = {k: i for i, k in enumerate(self.cluster_labels_)}
        frame = pd.DataFrame(
            {
                "p": [p_index[p] for p in obs.product_id],
                "k": [k_index[clusters[s]] for s in obs.store_id] if self.by_cluster else 0,
                "q": obs.facings,
                "r": obs.rate / self.rate_scale_,
            }
        )
        g = frame.groupby(["p", "k", "q"], sort=True)["r"].agg(["size", "mean", "var"])
        n = g["size"].to_numpy(dtype=np.float64)
        var = np.nan_to_num(g["var"].to_numpy(dtype=np.float64)) * np.maximum(n - 1.0, 0.0) / n
        idx = g.index.to_frame(index=False)
        return _Cells(
            product=idx["p"].to_numpy(dtype=np.int64),
            cluster=idx["k"].to_numpy(dtype=np.int64),
            facings=idx["q"].to_numpy(dtype=np.float64),
            n=n,
            mean=g["mean"].to_numpy(dtype=np.float64),
            var=var,
        )

    def _features(
        self, product: NDArray[np.int64], cluster: NDArray[np.int64], q: NDArray[np.float64]
    ) -> torch.Tensor:
        n_p, n_k = len(self.product_ids_), len(self.cluster_labels_) if self.by_cluster_ else 0
        x = np.zeros((q.size, n_p + n_k + 2), dtype=np.float32)
        rows = np.arange(q.size)
        x[rows, product] = 1.0
        if n_k:
            x[rows, n_p + cluster] = 1.0
        x[:, n_p + n_k] = facing_feature(q, _FEATURE)
        x[:, n_p + n_k + 1] = q / self.q_scale_
        return torch.from_numpy(x)

    def fit(
        self, observations: pd.DataFrame, store_clusters: Mapping[str, object] | None = None
    ) -> DeepEnsemblePayoffs:
        """Train the members.

        Parameters
        ----------
        observations : pandas.DataFrame
            Columns ``store_id``, ``product_id``, ``facings`` (>= 1) and ``rate`` (>= 0, units
            per day), as :func:`shelfwise.pipeline.observations_from_visits` returns them.
        store_clusters : mapping of store_id to cluster label, optional
            Required when ``by_cluster``; must cover every store in ``observations``.

        Returns
        -------
        DeepEnsemblePayoffs
            ``self``.
        """
        hidden = self._validate_params()
        obs = _validate_observations(observations)
        by_cluster = bool(self.by_cluster)
        clusters = _normalise_clusters(store_clusters, obs.store_id, required=by_cluster)
        started = time.perf_counter()
        self.by_cluster_ = by_cluster
        self.product_ids_ = tuple(sorted(set(obs.product_id.tolist())))
        self.cluster_labels_ = (
            tuple(sorted({clusters[s] for s in set(obs.store_id.tolist())})) if by_cluster else ()
        )
        self.store_clusters_ = clusters if by_cluster else {}
        self.q_scale_ = float(obs.facings.max())
        sd = float(obs.rate.std())
        self.rate_scale_ = sd if sd > 0 else 1.0
        cells = self._cells(obs, clusters)
        x = self._features(cells.product, cells.cluster, cells.facings)
        target = torch.from_numpy(cells.mean.astype(np.float32))
        within = torch.from_numpy(cells.var.astype(np.float32))
        weight = torch.from_numpy((cells.n / cells.n.sum()).astype(np.float32))
        seeds = np.random.SeedSequence(self.random_state).spawn(int(self.n_members))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            members, history = [], []
            for seed in seeds:
                net, losses = self._train_member(hidden, x, target, within, weight, seed)
                members.append(net)
                history.append(losses)
        finally:
            torch.set_num_threads(threads)
        self.members_ = members
        self.loss_history_ = np.asarray(history, dtype=np.float64)
        self.n_cells_ = int(cells.n.size)
        self._cache: dict[tuple[str | None, int], dict[str, tuple[NDArray[np.float64], ...]]]
        self._cache = {}
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _train_member(
        self,
        hidden: tuple[int, ...],
        x: torch.Tensor,
        target: torch.Tensor,
        within: torch.Tensor,
        weight: torch.Tensor,
        seed: np.random.SeedSequence,
    ) -> tuple[_GaussianNet, list[float]]:
        init_seed, shuffle_seed = seed.generate_state(2)
        min_var = 1e-6
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(init_seed))
            net = _GaussianNet(x.shape[1], hidden, min_var)
        rng = np.random.default_rng(int(shuffle_seed))
        nll = nn.GaussianNLLLoss(reduction="none", eps=min_var)
        opt = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        n_cells = x.shape[0]
        batch = min(int(self.batch_size), n_cells)
        losses: list[float] = []
        net.train()
        for _ in range(int(self.epochs)):
            order = torch.from_numpy(rng.permutation(n_cells))
            total = 0.0
            for start in range(0, n_cells, batch):
                idx = order[start : start + batch]
                mu, var = net(x[idx])
                # Summed NLL of the cell's rows over the data's total count; rescaled so the
                # minibatch is an unbiased estimate of the mean NLL per observation.
                cell = nll(mu, target[idx], var) + 0.5 * within[idx] / var
                loss = (weight[idx] * cell).sum()
                opt.zero_grad()
                (loss * (n_cells / idx.numel())).backward()
                opt.step()
                total += float(loss.detach())
            losses.append(total)
        net.eval()
        return net, losses

    # ------------------------------------------------------------------ prediction
    def _check_fitted(self) -> None:
        if not hasattr(self, "members_"):
            raise NotFittedError("DeepEnsemblePayoffs is not fitted yet; call fit()")

    def unknown_products(self, product_ids: Sequence[str]) -> tuple[str, ...]:
        """The products of ``product_ids`` without observations at fit time (mean 0, sd 0)."""
        self._check_fitted()
        known = set(self.product_ids_)
        return tuple(str(p) for p in product_ids if str(p) not in known)

    def _predict(
        self, store_id: str, product_ids: Sequence[str], max_facings: int, cluster: str | None
    ) -> tuple[str, tuple[str, ...], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        self._check_fitted()
        store, products = _check_table_args(store_id, product_ids, max_facings)
        q_max = int(max_facings)
        label = None
        if self.by_cluster_:
            label = _resolve_cluster(store, cluster, self.store_clusters_, self.cluster_labels_)
        rows = self._cache.setdefault((label, q_max), {})
        p_index = {p: i for i, p in enumerate(self.product_ids_)}
        todo = [p for p in products if p in p_index and p not in rows]
        if todo:
            q = np.tile(np.arange(1, q_max + 1, dtype=np.float64), len(todo))
            prod = np.repeat(np.asarray([p_index[p] for p in todo], dtype=np.int64), q_max)
            k = 0 if label is None else self.cluster_labels_.index(label)
            x = self._features(prod, np.full(q.size, k, dtype=np.int64), q)
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                with torch.no_grad():
                    outs = [net(x) for net in self.members_]
            finally:
                torch.set_num_threads(threads)
            mu = np.stack([o[0].numpy().astype(np.float64) for o in outs]) * self.rate_scale_
            var = np.stack([o[1].numpy().astype(np.float64) for o in outs]) * self.rate_scale_**2
            mean = mu.mean(axis=0)
            total = np.sqrt(np.maximum((var + mu**2).mean(axis=0) - mean**2, 0.0))
            epistemic = mu.std(axis=0)
            shape = (len(todo), q_max)
            for i, p in enumerate(todo):
                rows[p] = tuple(
                    np.concatenate([[0.0], a.reshape(shape)[i]]) for a in (mean, total, epistemic)
                )
        out = np.zeros((3, len(products), q_max + 1))
        for i, p in enumerate(products):
            if p in rows:
                for j in range(3):
                    out[j, i] = rows[p][j]
        return store, products, out[0], out[1], out[2]

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        """Mixture mean and total sd of the payoff at 0..``max_facings`` facings.

        Parameters
        ----------
        store_id : str
            A store; with ``by_cluster``, one not in the fitted ``store_clusters`` needs
            ``cluster``. Ignored (like ``cluster``) when ``by_cluster=False``.
        product_ids : sequence of str
            Rows of the table, distinct.
        max_facings : int
            Q, the last column.
        cluster : str or None
            Cluster label (overrides the store's fitted label).

        Returns
        -------
        PayoffTable
        """
        store, products, mean, sd, _ = self._predict(store_id, product_ids, max_facings, cluster)
        return PayoffTable(store_id=store, product_ids=products, mean=mean, sd=sd)

    def epistemic_sd(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        cluster: str | None = None,
    ) -> NDArray[np.float64]:
        """Sd of the members' means (their disagreement), shape ``(n_products, Q + 1)``.

        The uncertainty penalty of a MOPO-style policy; column 0 and unknown products are 0.
        Arguments as for :meth:`table`.
        """
        return self._predict(store_id, product_ids, max_facings, cluster)[4]
