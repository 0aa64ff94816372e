"""Demand models: the Robust Bayesian Payoff model (RBP) and its PEPF ranking statistic.

Follows EdgeRec3D (Jenkins et al., KDD 2024), §3.3, Eq. 5 (RBP) and Eq. 6 (PEPF).
"""

from ._config import FACING_FEATURES, RBPPriors, facing_feature
from ._diagnostics import ConvergenceWarning, ProductDiagnostics, RBPDiagnostics
from ._io import FORMAT_VERSION
from ._posterior import QUANTILE_LEVELS, RBPPosterior
from .pepf import pepf, rank_candidates
from .rbp import PayoffPrediction, RBPModel
from .simulate import RBPTruth, SimulatedPayoffs, random_truth, simulate_payoffs

__all__ = [
    "FACING_FEATURES",
    "FORMAT_VERSION",
    "QUANTILE_LEVELS",
    "ConvergenceWarning",
    "PayoffPrediction",
    "ProductDiagnostics",
    "RBPDiagnostics",
    "RBPModel",
    "RBPPosterior",
    "RBPPriors",
    "RBPTruth",
    "SimulatedPayoffs",
    "facing_feature",
    "pepf",
    "random_truth",
    "rank_candidates",
    "simulate_payoffs",
]
