"""A synthetic beverage retail chain: the bundled default dataset and the ground truth for
evaluating store clustering, payoff models and assortment policies.

The chain follows the setting of EdgeRec3D (Jenkins et al., "Personalized Product Assortment
with Real-time 3D Perception and Bayesian Payoff Estimation", KDD 2024): stores in real US
metros with demographic tracts around them (section 3.2), beverage displays restocked by
merchandisers who pre- and post-scan them with a noisy 3D counter (section 3.1, Eq. 4), and
store preferences with the cluster/store hierarchy of the RBP model (section 3.3, Eq. 5).

Examples
--------
>>> from shelfwise.data.synthetic import ChainConfig, generate_chain
>>> chain = generate_chain(ChainConfig(n_stores=6, n_products=20, displays_per_store=2, weeks=4))
>>> chain.expected_sales("S01", "P0001", 0)
0.0
"""

from .catalog import CATEGORY, PACKS, SUBCATEGORIES, PackType, gtin12
from .config import ChainConfig
from .geography import FEATURE_NAMES, haversine_km
from .operations import PROVENANCE, scan
from .planograms import AGE_RESTRICTED_MIN_HEIGHT_CM
from .truth import DAY_OF_WEEK_MULTIPLIERS, ChainTruth
from .world import DEFAULT_CONFIG, SyntheticChain, generate_chain
from .writer import EDGEREC3D_FOLDER, FILE_STEMS, edgerec3d_frame, write_frames

__all__ = [
    "AGE_RESTRICTED_MIN_HEIGHT_CM",
    "CATEGORY",
    "DAY_OF_WEEK_MULTIPLIERS",
    "DEFAULT_CONFIG",
    "EDGEREC3D_FOLDER",
    "FEATURE_NAMES",
    "FILE_STEMS",
    "PACKS",
    "PROVENANCE",
    "SUBCATEGORIES",
    "ChainConfig",
    "ChainTruth",
    "PackType",
    "SyntheticChain",
    "edgerec3d_frame",
    "generate_chain",
    "gtin12",
    "haversine_km",
    "scan",
    "write_frames",
]
