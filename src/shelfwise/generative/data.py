"""Planograms as diffusion-ready tensors, their conditions, and training sets.

The paper in ``shared/papers/000`` encodes a planogram "as multi-channel tensors (SKU,
dimensions, weight, category, price)". :class:`PlanogramCodec` builds on the lossless
:class:`~shelfwise.planogram.PlanogramEncoder` of the planogram package (shelves x slots grid,
each slot carrying the attributes of the product block covering it) and maps it to the model's
space: ``MODEL_CHANNELS`` channels, each ``2 v - 1`` for a value ``v`` in [0, 1], so an empty
slot is -1 everywhere. Shelves are padded to ``n_shelves`` (a multiple of 4, which the U-Net's
two down-samplings need).

Model channels (``MODEL_CHANNELS``; ``v`` before the ``2 v - 1`` map)
----------------------------------------------------------------------
``occupied``        1 where a product block covers the slot
``product``         (vocabulary index + 1) / n_products
``width``, ``height``, ``depth``, ``weight``, ``price``
                    the product's value / the catalog's largest
``subcategory``     (index + 1) / n_subcategories
``brand``           (index + 1) / n_brands
``age_restricted``  1 for an age-restricted product
``code0`` ...       bit ``b`` of (vocabulary index + 1): a binary product code, one channel
                    per bit (6 for 60 products). The scalar ``product`` channel alone spaces
                    products 2 / n_products apart, so a little sampling noise changes the
                    product; the code channels are 2 apart per differing bit, which makes the
                    nearest-product decoding robust (measured: with the scalar channel alone a
                    model picked 16-20 distinct products where stores stock 9-18)

Condition channels (``CONDITION_CHANNELS``, constant along a shelf)
-------------------------------------------------------------------
``shelf_exists``, ``clearance`` (cm / 50), ``shelf_depth`` (cm / 100), ``max_load`` (kg / 100),
``height_from_floor`` (cm / 200), ``shelf_width`` (cm / 150), ``max_slots`` (/ 100, the same on
every row), ``age_allowed`` (1 where the rulebook lets age-restricted products stand), then one
channel per subcategory with its share of the display's facings (the *mix*, for the arrange
task) and ``mix_given`` (1 when the mix channels are set, 0 when they are left out).

The class label is ``cluster * n_kinds + kind`` (store cluster and display kind); label
``n_classes`` is the "no class" label of classifier-free guidance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, DisplayKind, Planogram, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram.encoding import PlanogramEncoder
from shelfwise.planogram.rules import RegulatoryZone, Rulebook, default_rulebook

MODEL_CHANNELS: Final = (
    "occupied",
    "product",
    "width",
    "height",
    "depth",
    "weight",
    "price",
    "subcategory",
    "brand",
    "age_restricted",
)
GEOMETRY_CHANNELS: Final = (
    "shelf_exists",
    "clearance",
    "shelf_depth",
    "max_load",
    "height_from_floor",
    "shelf_width",
    "max_slots",
    "age_allowed",
)
GEOMETRY_SCALES: Final = {
    "clearance": 50.0,
    "shelf_depth": 100.0,
    "max_load": 100.0,
    "height_from_floor": 200.0,
    "shelf_width": 150.0,
    "max_slots": 100.0,
}
KINDS: Final = tuple(DisplayKind)


def _scale(values: Sequence[float | None]) -> float:
    known = [v for v in values if v is not None and v > 0]
    return max(known) if known else 1.0


def age_allowed(display: Display, rulebook: Rulebook) -> NDArray[np.bool_]:
    """Per shelf: may age-restricted products stand there under the rulebook's zone rules."""
    ok = np.ones(len(display.shelves), dtype=bool)
    for rule in rulebook.of_type("regulatory_zone"):
        if not isinstance(rule, RegulatoryZone) or not rule.applies_to(display.kind):
            continue
        if display.kind in rule.forbidden_display_kinds:
            ok[:] = False
        for s, shelf in enumerate(display.shelves):
            if shelf.height_from_floor_cm < rule.min_height_from_floor_cm:
                ok[s] = False
    return ok


class PlanogramCodec:
    """Map planograms of displays to and from the diffusion model's tensors.

    Parameters
    ----------
    catalog : sequence of Product
        Product vocabulary, in order. Products need width, height, depth and weight.
    n_shelves : int
        Rows of the tensor, a multiple of 4; displays with fewer shelves are padded.
    n_slots : int
        Slots per shelf, a multiple of 4.
    n_clusters : int
        Number of store clusters of the class label.
    cluster_names : sequence of str, optional
        Labels of the clusters (e.g. from ``shelfwise cluster``), ``n_clusters`` of them;
        defaults to "0", "1", ...

    Raises
    ------
    InvalidParameterError
        On sizes that are not multiples of 4, or a product without dimensions or weight.
    """

    def __init__(
        self,
        catalog: Sequence[Product],
        *,
        n_shelves: int = 8,
        n_slots: int = 24,
        n_clusters: int = 1,
        cluster_names: Sequence[str] | None = None,
    ) -> None:
        for name, value in (("n_shelves", n_shelves), ("n_slots", n_slots)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 4 or value % 4:
                raise InvalidParameterError(
                    f"{name} must be a positive multiple of 4 for PlanogramCodec; got {value!r}"
                )
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 1:
            raise InvalidParameterError(f"n_clusters must be an integer >= 1; got {n_clusters!r}")
        names = (
            tuple(str(c) for c in range(n_clusters))
            if cluster_names is None
            else tuple(str(c) for c in cluster_names)
        )
        if len(names) != n_clusters or len(set(names)) != len(names):
            raise InvalidParameterError(
                f"cluster_names must be {n_clusters} distinct labels (n_clusters); got "
                f"{list(names)}"
            )
        self.cluster_names = names
        products = tuple(catalog)
        for p in products:
            for field in ("width_cm", "height_cm", "depth_cm", "weight_kg"):
                if getattr(p, field) is None:
                    raise InvalidParameterError(
                        f"{field} must be known for every product of a generative model; "
                        f"product {p.product_id} has none"
                    )
        self.encoder = PlanogramEncoder(
            products, n_shelves=n_shelves, n_slots=n_slots, category_level="subcategory"
        )
        self.catalog = products
        self.product_ids = self.encoder.product_ids
        self.n_shelves = n_shelves
        self.n_slots = n_slots
        self.n_clusters = n_clusters
        self.subcategories: tuple[str, ...] = self.encoder.categories
        self.brands: tuple[str, ...] = tuple(sorted({p.brand for p in products if p.brand}))
        self.depth_scale_cm = _scale([p.depth_cm for p in products])
        self.n_code_bits = max(1, len(products).bit_length())
        self.channel_names: tuple[str, ...] = (
            *MODEL_CHANNELS,
            *(f"code{b}" for b in range(self.n_code_bits)),
        )
        self.condition_names: tuple[str, ...] = (
            *GEOMETRY_CHANNELS,
            *(f"mix:{c}" for c in self.subcategories),
            "mix_given",
        )
        self.index = {pid: i for i, pid in enumerate(self.product_ids)}
        self.attributes = self._attribute_matrix()

    # ------------------------------------------------------------------ sizes
    @property
    def n_channels(self) -> int:
        """Model channels."""
        return len(self.channel_names)

    @property
    def n_conditions(self) -> int:
        """Condition channels."""
        return len(self.condition_names)

    @property
    def n_classes(self) -> int:
        """Class labels (cluster x display kind), not counting the null label."""
        return self.n_clusters * len(KINDS)

    @property
    def null_class(self) -> int:
        """The label meaning "no class" (classifier-free guidance)."""
        return self.n_classes

    @property
    def n_products(self) -> int:
        """Products in the vocabulary."""
        return len(self.product_ids)

    # ------------------------------------------------------------ attributes
    def _attribute_matrix(self) -> NDArray[np.float32]:
        """Each product's model-space vector, shape (n_products, n_channels); ``occupied`` = 1."""
        enc = self.encoder
        sub = {c: i for i, c in enumerate(self.subcategories)}
        brand = {b: i for i, b in enumerate(self.brands)}
        n_sub, n_brand, n = max(1, len(sub)), max(1, len(brand)), self.n_products
        rows = []
        for i, p in enumerate(self.catalog):
            rows.append(
                (
                    1.0,
                    (i + 1) / n,
                    (p.width_cm or 0.0) / enc.width_scale_cm,
                    (p.height_cm or 0.0) / enc.height_scale_cm,
                    (p.depth_cm or 0.0) / self.depth_scale_cm,
                    (p.weight_kg or 0.0) / enc.weight_scale_kg,
                    (p.price or 0.0) / enc.price_scale,
                    0.0 if p.subcategory is None else (sub[p.subcategory] + 1) / n_sub,
                    0.0 if p.brand is None else (brand[p.brand] + 1) / n_brand,
                    1.0 if p.age_restricted else 0.0,
                )
            )
        bits = [[float(((i + 1) >> b) & 1) for b in range(self.n_code_bits)] for i in range(n)]
        values = np.hstack([np.asarray(rows, dtype=np.float32), np.asarray(bits, np.float32)])
        return (2.0 * values - 1.0).astype(np.float32)

    def cluster_index(self, name: str) -> int:
        """Index of a cluster label."""
        if str(name) not in self.cluster_names:
            raise InvalidParameterError(
                f"cluster must be one of the model's clusters {list(self.cluster_names)}; "
                f"got {name!r}"
            )
        return self.cluster_names.index(str(name))

    def class_label(self, cluster: int, kind: DisplayKind) -> int:
        """The class label of a store cluster and display kind."""
        if isinstance(cluster, bool) or not isinstance(cluster, int | np.integer):
            raise InvalidParameterError(f"cluster must be an integer; got {cluster!r}")
        if not 0 <= int(cluster) < self.n_clusters:
            raise InvalidParameterError(
                f"cluster must be in [0, {self.n_clusters - 1}] (n_clusters={self.n_clusters}); "
                f"got {cluster}"
            )
        return int(cluster) * len(KINDS) + KINDS.index(kind)

    # --------------------------------------------------------------- encoding
    def encode(self, planogram: Planogram, display: Display) -> NDArray[np.float32]:
        """The model tensor of a planogram, shape ``(n_channels, n_shelves, n_slots)``."""
        base = self.encoder.encode(planogram, display)
        prod = base[self.encoder.channel("product")]
        idx = np.rint(prod * self.n_products).astype(np.int64) - 1
        out = np.full((self.n_channels, self.n_shelves, self.n_slots), -1.0, dtype=np.float32)
        occ = idx >= 0
        out[:, occ] = self.attributes[idx[occ]].T
        return out

    def mix(self, facings: Mapping[str, int]) -> NDArray[np.float32]:
        """Each subcategory's share of the facings (zeros when there are none)."""
        shares = np.zeros(len(self.subcategories), dtype=np.float32)
        sub = {c: i for i, c in enumerate(self.subcategories)}
        for pid, q in facings.items():
            if pid not in self.index:
                raise InvalidParameterError(
                    f"product_id must be in the model's vocabulary of {self.n_products} "
                    f"products; got {pid!r}"
                )
            cat = self.catalog[self.index[pid]].subcategory
            if cat is not None and q > 0:
                shares[sub[cat]] += q
        total = shares.sum()
        return shares / total if total > 0 else shares

    def conditions(
        self,
        display: Display,
        rulebook: Rulebook | None = None,
        *,
        facings: Mapping[str, int] | None = None,
    ) -> NDArray[np.float32]:
        """Condition channels of a display, shape ``(n_conditions, n_shelves, n_slots)``.

        Parameters
        ----------
        display : Display
            Its shelves give the geometry rows.
        rulebook : Rulebook, optional
            Where age-restricted products may stand (default rulebook when ``None``).
        facings : Mapping[str, int], optional
            The assortment to arrange; its subcategory mix fills the mix channels. ``None``
            leaves them at 0 with ``mix_given`` = 0.
        """
        self.encoder._check_display(display)
        rulebook = rulebook if rulebook is not None else default_rulebook()
        out = np.zeros((self.n_conditions, self.n_shelves, self.n_slots), dtype=np.float32)
        allowed = age_allowed(display, rulebook)
        for s, shelf in enumerate(display.shelves):
            row = (
                1.0,
                shelf.clearance_cm / GEOMETRY_SCALES["clearance"],
                shelf.depth_cm / GEOMETRY_SCALES["shelf_depth"],
                shelf.max_load_kg / GEOMETRY_SCALES["max_load"],
                shelf.height_from_floor_cm / GEOMETRY_SCALES["height_from_floor"],
                shelf.width_cm / GEOMETRY_SCALES["shelf_width"],
                display.max_slots / GEOMETRY_SCALES["max_slots"],
                1.0 if allowed[s] else 0.0,
            )
            out[: len(row), s, :] = np.asarray(row, dtype=np.float32)[:, None]
        out[GEOMETRY_CHANNELS.index("max_slots")] = display.max_slots / GEOMETRY_SCALES["max_slots"]
        if facings is not None:
            n_geo, n_sub = len(GEOMETRY_CHANNELS), len(self.subcategories)
            out[n_geo : n_geo + n_sub] = self.mix(facings)[:, None, None]
            out[-1] = 1.0
        return out

    def allowed(self, display: Display, rulebook: Rulebook | None = None) -> NDArray[np.bool_]:
        """Which product may stand on which shelf (size, depth, age zone), shape (shelves, P)."""
        rulebook = rulebook if rulebook is not None else default_rulebook()
        h = np.array([p.height_cm or 0.0 for p in self.catalog])
        w = np.array([p.width_cm or 0.0 for p in self.catalog])
        d = np.array([p.depth_cm or 0.0 for p in self.catalog])
        restricted = np.array([p.age_restricted for p in self.catalog])
        zone = age_allowed(display, rulebook)
        out = np.zeros((len(display.shelves), self.n_products), dtype=bool)
        for s, shelf in enumerate(display.shelves):
            ok = (h <= shelf.clearance_cm) & (d <= shelf.depth_cm) & (w <= shelf.width_cm)
            if not zone[s]:
                ok &= ~restricted
            out[s] = ok
        return out


@dataclass(frozen=True, slots=True)
class Geometry:
    """Per-sample display geometry in physical units, for the constraint loss.

    Arrays are ``(N, n_shelves)`` (padded shelves are 0 and ``exists`` False) and ``(N,)``.
    """

    exists: NDArray[np.bool_]
    width_cm: NDArray[np.float32]
    clearance_cm: NDArray[np.float32]
    depth_cm: NDArray[np.float32]
    max_load_kg: NDArray[np.float32]
    age_allowed: NDArray[np.bool_]
    max_slots: NDArray[np.float32]

    @classmethod
    def of(
        cls, displays: Sequence[Display], n_shelves: int, rulebook: Rulebook | None = None
    ) -> Geometry:
        """Geometry of displays, padded to ``n_shelves``."""
        rulebook = rulebook if rulebook is not None else default_rulebook()
        n = len(displays)
        exists = np.zeros((n, n_shelves), dtype=bool)
        allowed = np.zeros((n, n_shelves), dtype=bool)
        vals = np.zeros((4, n, n_shelves), dtype=np.float32)
        for k, d in enumerate(displays):
            s = len(d.shelves)
            exists[k, :s] = True
            allowed[k, :s] = age_allowed(d, rulebook)
            for j, shelf in enumerate(d.shelves):
                vals[:, k, j] = (
                    shelf.width_cm,
                    shelf.clearance_cm,
                    shelf.depth_cm,
                    shelf.max_load_kg,
                )
        return cls(
            exists=exists,
            width_cm=vals[0],
            clearance_cm=vals[1],
            depth_cm=vals[2],
            max_load_kg=vals[3],
            age_allowed=allowed,
            max_slots=np.array([d.max_slots for d in displays], dtype=np.float32),
        )


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """Encoded planograms with everything training needs, aligned on the first axis.

    Attributes
    ----------
    x0 : ndarray, shape (N, n_channels, n_shelves, n_slots)
        The planograms in model space.
    conditions : ndarray, shape (N, n_conditions, n_shelves, n_slots)
        Display geometry (and the subcategory mix of each planogram's own facings).
    class_labels : ndarray of int64, shape (N,)
        ``cluster * n_kinds + kind``.
    geometry : Geometry
        Physical geometry for the constraint loss.
    revenue : ndarray, shape (N, n_products) or None
        Expected revenue per facing per day of each product in the planogram's store (for
        the revenue loss); ``None`` when no demand model was given.
    display_ids, store_ids : tuple of str
        Where each planogram comes from.
    versions : tuple of int
        Planogram versions.
    """

    x0: NDArray[np.float32]
    conditions: NDArray[np.float32]
    class_labels: NDArray[np.int64]
    geometry: Geometry
    revenue: NDArray[np.float32] | None
    display_ids: tuple[str, ...]
    store_ids: tuple[str, ...]
    versions: tuple[int, ...]

    def __len__(self) -> int:
        return int(self.x0.shape[0])


def build_training_set(
    codec: PlanogramCodec,
    planograms: Sequence[Planogram],
    displays: Mapping[str, Display],
    clusters: Mapping[str, int],
    *,
    rulebook: Rulebook | None = None,
    revenue: Mapping[str, NDArray[np.floating]] | None = None,
) -> TrainingSet:
    """Encode historical planograms with their conditions.

    Parameters
    ----------
    codec : PlanogramCodec
        The encoding.
    planograms : sequence of Planogram
        Historical planograms (any versions).
    displays : Mapping[str, Display]
        Displays by id; every planogram's display must be there.
    clusters : Mapping[str, int]
        Store id -> cluster (0-based). Stores missing from it are an error.
    rulebook : Rulebook, optional
        For the age-zone condition; default rulebook when ``None``.
    revenue : Mapping[str, ndarray], optional
        Store id -> revenue per facing per day of each product of ``codec``'s vocabulary.

    Raises
    ------
    InvalidParameterError
        On an empty input, a missing display or cluster, or a product outside the vocabulary.
    """
    if not planograms:
        raise InvalidParameterError("planograms must hold at least one planogram; got none")
    rulebook = rulebook if rulebook is not None else default_rulebook()
    xs, cs, labels, disp, rev = [], [], [], [], []
    for plan in planograms:
        if plan.display_id not in displays:
            raise InvalidParameterError(
                f"displays must hold display {plan.display_id!r} of planogram version "
                f"{plan.version}"
            )
        d = displays[plan.display_id]
        if d.store_id not in clusters:
            raise InvalidParameterError(
                f"clusters must give a cluster for store {d.store_id!r} (display {d.display_id})"
            )
        xs.append(codec.encode(plan, d))
        cs.append(codec.conditions(d, rulebook, facings=plan.facings()))
        labels.append(codec.class_label(int(clusters[d.store_id]), d.kind))
        disp.append(d)
        if revenue is not None:
            if d.store_id not in revenue:
                raise InvalidParameterError(
                    f"revenue must give a row for store {d.store_id!r} (display {d.display_id})"
                )
            row = np.asarray(revenue[d.store_id], dtype=np.float32)
            if row.shape != (codec.n_products,):
                raise InvalidParameterError(
                    f"revenue for store {d.store_id} must have shape ({codec.n_products},); "
                    f"got {row.shape}"
                )
            rev.append(row)
    return TrainingSet(
        x0=np.stack(xs),
        conditions=np.stack(cs),
        class_labels=np.asarray(labels, dtype=np.int64),
        geometry=Geometry.of(disp, codec.n_shelves, rulebook),
        revenue=np.stack(rev) if revenue is not None else None,
        display_ids=tuple(p.display_id for p in planograms),
        store_ids=tuple(d.store_id for d in disp),
        versions=tuple(p.version for p in planograms),
    )
