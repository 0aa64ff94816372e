"""Payoff estimators behind :class:`~shelfwise.assortment.problem.PayoffEstimator`.

Three models give, for one store, the payoff (units sold per day) of each product at 0..Q facings
as a :class:`~shelfwise.assortment.problem.PayoffTable`:

* :class:`RBPPayoffs` wraps a fitted :class:`~shelfwise.demand.RBPModel` (EdgeRec3D, Jenkins et
  al., KDD 2024, §3.3, Eq. 5): posterior predictive mean and sd.
* :class:`LinearPayoffs` is the "without RBP" ablation of the paper's Table 3: a non-Bayesian
  simple linear regression of the payoff on ``x_q = log2(1 + q)`` per (product, cluster), or per
  product for the "without clustering" ablation.
* :class:`DeepEnsemblePayoffs` is the deep-ensembles baseline of §8.1.2 (Lakshminarayanan et al.,
  NeurIPS 2017): Gaussian-head networks trained on the negative log-likelihood, combined as a
  uniform mixture; :meth:`DeepEnsemblePayoffs.epistemic_sd` (the members' disagreement) is the
  penalty a MOPO-style policy uses.
* :class:`OnlinePayoffs` wraps any of them and corrects each (store, product) level by the
  sales observed after the fit (a conjugate Gamma-Poisson update), so a policy can keep
  learning from its own recommendations between refits.

Every table has column 0 equal to 0 (no facings, no sales) with sd 0. A product the estimator
knows nothing about gets mean 0 and sd 0 at every facing count: it never adds payoff, so a policy
maximising the mean never prefers it to a product with a positive mean. Under a PEPF score
``mean - lam * sd`` a known product's score can fall below 0 while the unknown one stays at 0;
a policy that must never pick unknown products should leave out those that
``unknown_products`` names.
"""

from shelfwise.assortment.payoffs.ensemble import DeepEnsemblePayoffs
from shelfwise.assortment.payoffs.linear import LinearFit, LinearPayoffs
from shelfwise.assortment.payoffs.online import OnlinePayoffs, SalesObservation
from shelfwise.assortment.payoffs.rbp import RBPPayoffs

__all__ = [
    "DeepEnsemblePayoffs",
    "LinearFit",
    "LinearPayoffs",
    "OnlinePayoffs",
    "RBPPayoffs",
    "SalesObservation",
]
