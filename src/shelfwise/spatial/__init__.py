"""Spatial models: SpAGMM store-tract probabilities, store profiles and store clustering.

EdgeRec3D (Jenkins et al., KDD 2024), section 3.2 and Algorithm 1 (SpAGMM), section 8.4
(choosing the number of clusters). Figures live in :mod:`shelfwise.spatial.figures`.
"""

from shelfwise.spatial.clustering import StoreClustering, adjusted_rand, metro_groups
from shelfwise.spatial.selection import KCurve, benjamini_hochberg, choose_k, product_anova
from shelfwise.spatial.spagmm import SpAGMM, project_km, store_profiles

__all__ = [
    "KCurve",
    "SpAGMM",
    "StoreClustering",
    "adjusted_rand",
    "benjamini_hochberg",
    "choose_k",
    "metro_groups",
    "product_anova",
    "project_km",
    "store_profiles",
]
