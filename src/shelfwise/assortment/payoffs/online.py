"""A payoff model that keeps learning from the sales its recommendations bring (closed loop).

EdgeRec3D is a bandit: each visit rescans the display, the sales since the last visit become new
payoff observations, and the payoff model is updated before the next recommendation (the paper
retrains its models as logs arrive; its epsilon exploration and uncertainty penalty only pay off
because of this feedback). Refitting RBP by MCMC after every round costs minutes, so
:class:`OnlinePayoffs` updates any fitted model cheaply with conjugate Gamma-Poisson
corrections: of each (store, product) level, and of each product's facings curve:

* Prior. The fitted model predicts the mean payoff ``m(q)`` (units per day) of the product at
  the store at ``q`` facings, with an uncertainty ``u(q)`` (the epistemic sd where the model
  reports one, else its table's sd). The pair's true payoff is taken to be ``theta * m(q)``
  with a multiplier ``theta ~ Gamma(a0, a0)``: mean 1, coefficient of variation
  ``1 / sqrt(a0) = u(q0) / m(q0)``, the model's own relative uncertainty at the facings ``q0``
  first observed (``a0`` is floored at ``min_prior_strength`` so a wildly uncertain model
  does not give an improper prior, and capped at ``max_prior_strength``, which bounds how much
  a model misspecified in its facings curve can outweigh what the shelf then shows).
* Likelihood. Units sold over ``d`` days at ``q`` facings are Poisson with mean
  ``theta * m(q) * d``, over-dispersed by ``D = dispersion`` (each unit counts ``1 / D``, the
  usual quasi-Poisson tempering).
* Posterior. ``theta ~ Gamma(a0 + Y / D, a0 + E / D)`` with ``Y`` the units and ``E`` the
  units the model expected (``sum m(q_t) d_t``); exact when the curve is not corrected
  (``shape_prior_strength=None``). The corrected table has mean
  ``E[theta] m(q)`` and uncertainty ``u(q) * sd[theta] * sqrt(a0)`` (``u(q)`` when nothing was
  observed), so PEPF's penalty shrinks as a product's sales are seen.
* Facings curve (``shape_prior_strength`` not ``None``, the default). A single facings feature
  (RBP's ``log2(1 + q)``) misjudges how fast a product saturates, so each product also gets a
  multiplier ``phi_p(q) ~ Gamma(a_s, a_s)`` per facing count, shared by all stores (a
  product's curve shape is a property of the product; its level is the store's). Units at
  ``(store, product, q)`` are then Poisson with mean ``theta_sp * phi_p(q) * m(q) * d``. The
  joint posterior is no longer conjugate; each factor is Gamma given the others, so levels and
  curve multipliers are found by coordinate ascent (mean-field: each updated at the others'
  posterior means until nothing moves by more than 1e-6, at most 100 sweeps), an
  approximation of their posterior means. Between observed facing counts ``phi`` is interpolated
  linearly, beyond them held constant, and the corrected curve is made non-decreasing and
  concave (its least concave majorant), as sales against facings are.

A product the model predicts to sell nothing (mean 0, e.g. one it was not fitted on) stays at 0:
a multiplier cannot lift it. The model's hyperparameters (cluster levels, scales) are held
fixed: the multipliers are updated given the model's prediction as prior, not a refit of the
whole hierarchy. The uncertainty follows the corrected curve (it is scaled as the
mean was bent) and is shrunk by the level's posterior only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from shelfwise.assortment.problem import PayoffEstimator, PayoffTable
from shelfwise.exceptions import InvalidParameterError


@dataclass(frozen=True, slots=True)
class SalesObservation:
    """Units of one product sold at one store over some days at some facings.

    Attributes
    ----------
    store_id, product_id : str
    facings : int
        Facings in place over the period (>= 1).
    units : float
        Units sold (>= 0).
    days : float
        Length of the period in days (> 0).
    """

    store_id: str
    product_id: str
    facings: int
    units: float
    days: float

    def __post_init__(self) -> None:
        if isinstance(self.facings, bool) or not isinstance(self.facings, int | np.integer):
            raise InvalidParameterError(
                f"facings must be an integer >= 1 for product {self.product_id!r} at store "
                f"{self.store_id!r}; got {self.facings!r}"
            )
        if self.facings < 1:
            raise InvalidParameterError(
                f"facings must be >= 1 for product {self.product_id!r} at store "
                f"{self.store_id!r}; got {self.facings}"
            )
        if not np.isfinite(self.units) or self.units < 0:
            raise InvalidParameterError(
                f"units must be a finite number >= 0 for product {self.product_id!r} at store "
                f"{self.store_id!r}; got {self.units!r}"
            )
        if not np.isfinite(self.days) or self.days <= 0:
            raise InvalidParameterError(
                f"days must be a finite number > 0 for product {self.product_id!r} at store "
                f"{self.store_id!r}; got {self.days!r}"
            )


@dataclass(slots=True)
class _Evidence:
    """Gamma-Poisson statistics of one (store, product) multiplier, per facing count."""

    prior: float
    units: float = 0.0
    cells: dict[int, list[float]] = field(default_factory=dict)
    """facings -> [units, expected units under the model]"""


def _concave_envelope(y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Least concave majorant of ``y`` on ``0..len(y) - 1`` (upper hull, linear between)."""
    hull: list[int] = []
    for x in range(len(y)):
        while len(hull) >= 2:
            x0, x1 = hull[-2], hull[-1]
            # drop x1 when it lies on or below the chord from x0 to x
            if (y[x1] - y[x0]) * (x - x0) <= (y[x] - y[x0]) * (x1 - x0):
                hull.pop()
            else:
                break
        hull.append(x)
    return np.interp(np.arange(len(y)), hull, y[hull])


class OnlinePayoffs:
    """A fitted payoff model corrected, pair by pair, by the sales observed since it was fitted.

    See the module docstring for the model. :meth:`observe` adds sales; :meth:`table` (and
    :meth:`epistemic_sd` when the base model has one) return the corrected predictions;
    :meth:`reset` forgets every observation. The base model is never changed, so several
    ``OnlinePayoffs`` may share one fitted model (one per policy in a closed-loop evaluation).

    Parameters
    ----------
    base : PayoffEstimator
        The fitted model (e.g. :class:`~shelfwise.assortment.payoffs.RBPPayoffs`).
    dispersion : float
        Over-dispersion of unit sales relative to a Poisson (variance / mean, >= 1).
    min_prior_strength, max_prior_strength : float
        Bounds of ``a0``, the prior's weight in units of ``1 / dispersion`` sold at the model's
        rate (``0 < min <= max``). The default cap of 5 lets two weeks of a product's sales
        outweigh the fitted model (on the synthetic chain of seed 0 a cap of 50 left
        EdgeRec3D's closed-loop share at 0.950, 5 gave 0.966; seeds 1 and 2 were not used to
        choose it).
    shape_prior_strength : float or None
        Weight ``a_s`` of the prior ``Gamma(a_s, a_s)`` on each product's facings-curve
        correction ``phi_p(q)``, shared by all stores; ``None`` corrects levels only.
    name : str, optional
        Name in reports (default: the base model's).
    """

    def __init__(
        self,
        base: PayoffEstimator,
        *,
        dispersion: float = 2.0,
        min_prior_strength: float = 0.5,
        max_prior_strength: float = 5.0,
        shape_prior_strength: float | None = 2.0,
        name: str | None = None,
    ) -> None:
        self.base = base
        self.dispersion = dispersion
        self.min_prior_strength = min_prior_strength
        self.max_prior_strength = max_prior_strength
        self.shape_prior_strength = shape_prior_strength
        self.name = base.name if name is None else name
        self._check_params()
        self._evidence: dict[tuple[str, str], _Evidence] = {}
        self._level: dict[tuple[str, str], tuple[float, float]] = {}
        self._shape: dict[str, dict[int, float]] = {}
        self._bent: dict[tuple[str, bytes], NDArray[np.float64]] = {}
        """Bent curves by (product, base row's bytes), valid until the next solve."""
        self._table_q = 1
        """Largest ``max_facings`` asked of :meth:`table`: observations read the base model's
        table at that width, so they share its cached predictions."""

    def __repr__(self) -> str:
        return (
            f"OnlinePayoffs(base={self.base!r}, dispersion={self.dispersion!r}, "
            f"min_prior_strength={self.min_prior_strength!r}, "
            f"max_prior_strength={self.max_prior_strength!r}, "
            f"shape_prior_strength={self.shape_prior_strength!r}, name={self.name!r})"
        )

    def _check_params(self) -> None:
        def number(value: object) -> bool:
            return not isinstance(value, bool) and isinstance(value, int | float)

        if not number(self.dispersion) or not self.dispersion >= 1.0:
            raise InvalidParameterError(
                f"dispersion must be a number >= 1; got {self.dispersion!r}"
            )
        low, hi = self.min_prior_strength, self.max_prior_strength
        if not number(low) or not low > 0:
            raise InvalidParameterError(f"min_prior_strength must be a number > 0; got {low!r}")
        if not number(hi) or not hi >= low:
            raise InvalidParameterError(
                f"max_prior_strength must be a number >= min_prior_strength ({low!r}); got {hi!r}"
            )
        shape = self.shape_prior_strength
        if shape is not None and (not number(shape) or not shape > 0):
            raise InvalidParameterError(
                f"shape_prior_strength must be None or a number > 0; got {shape!r}"
            )

    @property
    def n_pairs(self) -> int:
        """How many (store, product) pairs have observations."""
        return len(self._evidence)

    def reset(self) -> None:
        """Forget every observation."""
        self._evidence.clear()
        self._level.clear()
        self._shape.clear()
        self._bent.clear()

    def _uncertainty(
        self, store_id: str, product_ids: Sequence[str], max_facings: int, cluster: str | None
    ) -> tuple[PayoffTable, NDArray[np.float64]]:
        table = self.base.table(store_id, product_ids, max_facings, cluster=cluster)
        sd = self._base_epistemic(store_id, product_ids, max_facings, cluster)
        return table, np.asarray(table.sd, dtype=float) if sd is None else sd

    def _base_epistemic(
        self, store_id: str, product_ids: Sequence[str], max_facings: int, cluster: str | None
    ) -> NDArray[np.float64] | None:
        """The base model's epistemic sd, or ``None`` when it reports none."""
        epistemic = getattr(self.base, "epistemic_sd", None)
        if not callable(epistemic):
            return None
        return np.asarray(epistemic(store_id, product_ids, max_facings, cluster=cluster), float)

    def observe(
        self, observations: Iterable[SalesObservation], *, clusters: dict[str, str] | None = None
    ) -> OnlinePayoffs:
        """Add sales observations.

        Parameters
        ----------
        observations : iterable of SalesObservation
            Sales since the model was fitted (or since the last :meth:`observe`).
        clusters : dict of store_id to cluster label, optional
            For stores the base model never saw (passed to its ``table``).

        Returns
        -------
        OnlinePayoffs
            ``self``.

        Raises
        ------
        InvalidParameterError
            An observation that is not a :class:`SalesObservation`, or a product the base
            model's table does not know.
        """
        obs = list(observations)
        for o in obs:
            if not isinstance(o, SalesObservation):
                raise InvalidParameterError(
                    f"observations must be SalesObservation records; got {type(o).__name__}"
                )
        by_store: dict[str, list[SalesObservation]] = {}
        for o in obs:
            by_store.setdefault(o.store_id, []).append(o)
        for store, rows in by_store.items():
            products = tuple(dict.fromkeys(o.product_id for o in rows))
            q_max = max(self._table_q, max(o.facings for o in rows))
            cluster = None if clusters is None else clusters.get(store)
            table, unc = self._uncertainty(store, products, q_max, cluster)
            for o in rows:
                i = table.row(o.product_id)
                m = float(table.mean[i, o.facings])
                ev = self._evidence.get((store, o.product_id))
                if ev is None:
                    cv = float(unc[i, o.facings]) / m if m > 0 else np.inf
                    a0 = 1.0 / cv**2 if cv > 0 else self.max_prior_strength
                    a0 = float(np.clip(a0, self.min_prior_strength, self.max_prior_strength))
                    ev = self._evidence[(store, o.product_id)] = _Evidence(prior=a0)
                ev.units += float(o.units)
                cell = ev.cells.setdefault(int(o.facings), [0.0, 0.0])
                cell[0] += float(o.units)
                cell[1] += m * float(o.days)
        self._solve()
        return self

    def _solve(self, max_sweeps: int = 100, tol: float = 1e-6) -> None:
        """Levels and (with a shape prior) curve multipliers by coordinate ascent.

        Each level's Gamma posterior is ``(prior + units / D, prior + sum_q e_q s_pq / D)``
        given the curve multipliers ``s_pq``; each multiplier's is
        ``(a_s + units_pq / D, a_s + sum e_q E[theta] / D)`` over the stores' cells with a
        prediction (``e_q > 0``) given the levels. The two updates alternate until no
        multiplier moves by ``tol``. Arrays over all cells, so a sweep costs a few
        ``bincount`` calls however many pairs were observed.
        """
        big_d = self.dispersion
        keys = list(self._evidence)
        n = len(keys)
        prior = np.array([self._evidence[k].prior for k in keys], dtype=float)
        units = np.array([self._evidence[k].units for k in keys], dtype=float)
        pq_index: dict[tuple[str, int], int] = {}
        cell_key: list[int] = []
        cell_pq: list[int] = []
        cell_y: list[float] = []
        cell_e: list[float] = []
        for i, key in enumerate(keys):
            for q, (y, e) in self._evidence[key].cells.items():
                cell_key.append(i)
                cell_pq.append(pq_index.setdefault((key[1], q), len(pq_index)))
                cell_y.append(y)
                cell_e.append(e)
        ck, cp = np.array(cell_key, dtype=np.intp), np.array(cell_pq, dtype=np.intp)
        cy, ce = np.array(cell_y, dtype=float), np.array(cell_e, dtype=float)
        n_pq = len(pq_index)
        shape = np.ones(n_pq)
        a = prior + units / big_d
        b = prior + np.bincount(ck, weights=ce * shape[cp], minlength=n) / big_d
        has = np.zeros(n_pq, dtype=bool)
        a_s = self.shape_prior_strength
        if a_s is not None:
            # a cell the model predicts at 0 has no curve to bend: it says nothing about s_pq
            used = ce > 0
            uk, up, ue = ck[used], cp[used], ce[used]
            y_pq = np.bincount(up, weights=cy[used], minlength=n_pq)
            has = np.bincount(up, minlength=n_pq) > 0
            for _ in range(max_sweeps):
                exposure = np.bincount(up, weights=ue * a[uk] / b[uk], minlength=n_pq)
                new = np.where(has, (a_s + y_pq / big_d) / (a_s + exposure / big_d), 1.0)
                moved = float(np.max(np.abs(new - shape), initial=0.0))
                shape = new
                b = prior + np.bincount(ck, weights=ce * shape[cp], minlength=n) / big_d
                if moved < tol:
                    break
        self._level = {key: (float(a[i]), float(b[i])) for i, key in enumerate(keys)}
        self._shape = {}
        self._bent = {}
        for (p, q), j in pq_index.items():
            if has[j]:
                self._shape.setdefault(p, {})[q] = float(shape[j])

    def multiplier(self, store_id: str, product_id: str) -> tuple[float, float]:
        """Posterior mean and sd of the pair's multiplier ``theta`` (1 and ``nan`` unseen)."""
        ab = self._level.get((str(store_id), str(product_id)))
        if ab is None:
            return 1.0, float("nan")
        a, b = ab
        return a / b, float(np.sqrt(a) / b)

    def _corrected(
        self, table: PayoffTable, extra: NDArray[np.float64] | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
        n = len(table.product_ids)
        level, spread = np.ones(n), np.ones(n)
        mean = np.array(table.mean, dtype=float)
        cols = np.arange(mean.shape[1])
        for i, p in enumerate(table.product_ids):
            ab = self._level.get((table.store_id, p))
            if ab is not None:
                a, b = ab
                prior = self._evidence[(table.store_id, p)].prior
                level[i], spread[i] = a / b, np.sqrt(a) / b * np.sqrt(prior)
            sh = self._shape.get(p)
            if sh:
                key = (p, mean[i].tobytes())
                row = self._bent.get(key)
                if row is None:
                    qs = np.array(sorted(sh), dtype=float)
                    factor = np.interp(cols, qs, [sh[int(q)] for q in qs])
                    row = self._bent[key] = _concave_envelope(
                        np.maximum.accumulate(mean[i] * factor)
                    )
                mean[i] = row
        # The uncertainty is relative to the curve: scale it as the mean was bent, then shrink
        # it by the level's posterior.
        base = np.asarray(table.mean, dtype=float)
        bent = np.divide(mean, base, out=np.ones_like(mean), where=base > 0)
        scale = bent * spread[:, None]
        new_extra = None if extra is None else extra * scale
        return mean * level[:, None], np.asarray(table.sd, float) * scale, new_extra

    def table(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        *,
        cluster: str | None = None,
    ) -> PayoffTable:
        """The base model's table with each observed pair's level corrected.

        Arguments as for the base model's ``table``.
        """
        self._table_q = max(self._table_q, int(max_facings))
        base = self.base.table(store_id, product_ids, max_facings, cluster=cluster)
        if not self._evidence:
            return base
        mean, sd, _ = self._corrected(base)
        return PayoffTable(base.store_id, base.product_ids, mean, sd)

    def epistemic_sd(
        self,
        store_id: str,
        product_ids: Sequence[str],
        max_facings: int,
        cluster: str | None = None,
    ) -> NDArray[np.float64]:
        """The base model's epistemic sd, bent and shrunk as :meth:`table`'s sd is.

        Present on every ``OnlinePayoffs`` (so it meets MOPO's ensemble protocol), it works
        only when the base model reports an epistemic sd.

        Raises
        ------
        InvalidParameterError
            The base model reports no epistemic sd.
        """
        sd = self._base_epistemic(store_id, product_ids, max_facings, cluster)
        if sd is None:
            raise InvalidParameterError(
                f"base model {self.name!r} reports no epistemic_sd; use table().sd"
            )
        if not self._evidence:
            return sd
        base = self.base.table(store_id, product_ids, max_facings, cluster=cluster)
        return self._corrected(base, sd)[2]  # type: ignore[return-value]
