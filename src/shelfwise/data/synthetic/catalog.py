"""The synthetic beverage catalog: subcategories, brands, pack sizes, prices and GTIN-12 codes.

The five subcategories are the ones EdgeRec3D's cooler experiments use (Jenkins et al., KDD
2024, section 4): Sparkling, Water, Isotonic, Rejuvenate and Energy. Brand names are invented.
Pack dimensions are those of common US packs (a 12 oz can is about 6.6 cm wide and 12.2 cm
high, a 20 oz bottle about 7.4 x 23 cm, a 1 L bottle about 8 x 27 cm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Product

SUBCATEGORIES: tuple[str, ...] = ("Sparkling", "Water", "Isotonic", "Rejuvenate", "Energy")
"""Subcategory names, in the order used by every subcategory-indexed array."""

CATEGORY = "Beverages"


@dataclass(frozen=True, slots=True)
class PackType:
    """A container format: outer dimensions of one unit, weight, and its usual price band."""

    label: str
    width_cm: float
    height_cm: float
    depth_cm: float
    weight_kg: float
    price_low: float
    price_high: float


PACKS: dict[str, PackType] = {
    "can12": PackType("12 oz can", 6.6, 12.2, 6.6, 0.37, 0.99, 1.79),
    "can16": PackType("16 oz can", 6.6, 16.8, 6.6, 0.50, 2.29, 3.99),
    "btl169": PackType("16.9 oz bottle", 6.5, 21.0, 6.5, 0.53, 0.99, 2.29),
    "btl20": PackType("20 oz bottle", 7.4, 23.0, 7.4, 0.62, 1.79, 2.79),
    "btl1l": PackType("1 L bottle", 8.0, 27.0, 8.0, 1.05, 1.49, 3.29),
}

# Per subcategory: brands (name, GS1 company prefix), flavours, and pack mix.
_BRANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Sparkling": (
        ("Crown Cola", "081234"),
        ("Fizzberry", "081311"),
        ("Polar Peak", "081452"),
        ("Citrus Jack", "081573"),
    ),
    "Water": (("Clearspring", "082016"), ("Alpine Well", "082127"), ("Aquabloom", "082238")),
    "Isotonic": (("Hydrafuel", "083045"), ("Stride", "083156"), ("Electro+", "083267")),
    "Rejuvenate": (
        ("Greenleaf Tea", "084078"),
        ("Kombuchi", "084189"),
        ("Vital Roots", "084290"),
        ("Sunpress", "084301"),
    ),
    "Energy": (
        ("Voltage", "085012"),
        ("Red Comet", "085123"),
        ("Nitro Bolt", "085234"),
        ("Zenergy", "085345"),
    ),
}
_HARD_SELTZER_BRANDS: tuple[tuple[str, str], ...] = (
    ("Highline Hard Seltzer", "086056"),
    ("Cove Hard Seltzer", "086167"),
)
_FLAVOURS: dict[str, tuple[str, ...]] = {
    "Sparkling": (
        "Original",
        "Zero Sugar",
        "Cherry",
        "Lemon Lime",
        "Orange",
        "Root Beer",
        "Ginger",
    ),
    "Water": ("Spring", "Purified", "Alkaline", "Sparkling Lime", "Electrolyte"),
    "Isotonic": ("Lemon Lime", "Fruit Punch", "Glacier", "Orange", "Grape", "Zero Berry"),
    "Rejuvenate": ("Green Tea", "Peach Tea", "Ginger Kombucha", "Cold Brew", "Orange Juice"),
    "Energy": ("Original", "Sugar Free", "Tropical", "Berry", "Mango", "Citrus"),
}
_SELTZER_FLAVOURS: tuple[str, ...] = (
    "Black Cherry",
    "Mango",
    "Lime",
    "Grapefruit",
    "Raspberry",
    "Watermelon",
    "Peach",
    "Variety",
)
_PACK_MIX: dict[str, tuple[tuple[str, float], ...]] = {
    "Sparkling": (("can12", 0.45), ("btl20", 0.4), ("btl1l", 0.15)),
    "Water": (("btl169", 0.45), ("btl20", 0.2), ("btl1l", 0.35)),
    "Isotonic": (("btl20", 0.7), ("btl1l", 0.3)),
    "Rejuvenate": (("btl169", 0.5), ("btl20", 0.3), ("can12", 0.2)),
    "Energy": (("can16", 0.6), ("can12", 0.4)),
}
_SUBCATEGORY_SHARE = np.array([0.30, 0.17, 0.15, 0.15, 0.23])


def gtin12(body: str) -> str:
    """Append the GS1 mod-10 check digit to an 11-digit UPC-A body.

    Parameters
    ----------
    body : str
        Eleven digits: number-system digit, company prefix and item reference.

    Returns
    -------
    str
        The 12-digit GTIN-12 (UPC-A).
    """
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - total % 10) % 10)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Products plus the per-product arrays the generator needs, all in catalog order.

    Attributes
    ----------
    products : tuple of Product
        The products; ``product_id`` is ``"P0001"``, ``"P0002"``, ...
    subcategory : ndarray of int, shape (n_products,)
        Index into :data:`SUBCATEGORIES`.
    pack : tuple of str
        Key into :data:`PACKS` per product.
    """

    products: tuple[Product, ...]
    subcategory: NDArray[np.int64]
    pack: tuple[str, ...]

    @property
    def age_restricted(self) -> NDArray[np.bool_]:
        """Whether each product needs an age check."""
        return np.array([p.age_restricted for p in self.products], dtype=bool)


def _price(pack: PackType, rng: np.random.Generator) -> float:
    """A shelf price inside the pack's band, ending in 9 cents, within 0.99-3.99 USD."""
    raw = rng.uniform(pack.price_low, pack.price_high)
    price = np.floor(raw * 10.0) / 10.0 + 0.09
    return float(np.clip(np.round(price, 2), 0.99, 3.99))


def _capacity(subcategory: str) -> int:
    """How many distinct regular (brand, flavour, pack) products a subcategory can hold."""
    return len(_BRANDS[subcategory]) * len(_FLAVOURS[subcategory]) * len(_PACK_MIX[subcategory])


def _subcategory_counts(n_products: int, n_seltzers: int, rng: np.random.Generator) -> list[int]:
    """How many products each subcategory gets: at least one each, none beyond capacity."""
    cap = np.array([_capacity(s) for s in SUBCATEGORIES], dtype=np.int64)
    cap[0] += n_seltzers
    counts = 1 + rng.multinomial(n_products - len(SUBCATEGORIES), _SUBCATEGORY_SHARE)
    counts[0] = max(int(counts[0]), n_seltzers + 1)
    while counts.sum() > n_products:
        others = np.where(np.arange(counts.size) == 0, 0, counts)
        counts[int(np.argmax(others))] -= 1
    while np.any(counts > cap):
        over = int(np.argmax(counts - cap))
        counts[over] -= 1
        counts[int(np.argmax(cap - counts))] += 1
    return [int(c) for c in counts]


def build_catalog(
    n_products: int, *, age_restricted_share: float, rng: np.random.Generator
) -> Catalog:
    """Draw a beverage catalog.

    Parameters
    ----------
    n_products : int
        Number of products (>= 5).
    age_restricted_share : float
        Share of products that are hard seltzers (Sparkling, age-restricted).
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Catalog
        Products sorted by subcategory, with valid GTIN-12 codes, prices of 0.99-3.99 USD and
        unit costs of 45-70% of the price.
    """
    n_seltzers = round(age_restricted_share * n_products)
    n_seltzers = min(
        n_seltzers,
        n_products - len(SUBCATEGORIES),
        len(_HARD_SELTZER_BRANDS) * len(_SELTZER_FLAVOURS),
    )
    counts = _subcategory_counts(n_products, n_seltzers, rng)
    products: list[Product] = []
    subcats: list[int] = []
    packs: list[str] = []
    for s, subcategory in enumerate(SUBCATEGORIES):
        specs: list[tuple[str, str, str, str, bool]] = []
        n_regular = counts[s] - (n_seltzers if s == 0 else 0)
        combos = [
            (brand, prefix, flavour, pack)
            for brand, prefix in _BRANDS[subcategory]
            for flavour in _FLAVOURS[subcategory]
            for pack, _ in _PACK_MIX[subcategory]
        ]
        weights = np.array([dict(_PACK_MIX[subcategory])[c[3]] for c in combos], dtype=np.float64)
        chosen = rng.choice(len(combos), size=n_regular, replace=False, p=weights / weights.sum())
        specs.extend((*combos[int(j)], False) for j in chosen)
        if s == 0 and n_seltzers > 0:
            seltzers = [
                (brand, prefix, flavour, "can12")
                for brand, prefix in _HARD_SELTZER_BRANDS
                for flavour in _SELTZER_FLAVOURS
            ]
            picked = rng.choice(len(seltzers), size=n_seltzers, replace=False)
            specs.extend((*seltzers[int(j)], True) for j in picked)
        specs.sort(key=lambda x: (x[0], x[3], x[2]))
        for brand, prefix, flavour, pack_key, restricted in specs:
            index = len(products) + 1
            pack = PACKS[pack_key]
            price = _price(pack, rng)
            cost = round(price * float(rng.uniform(0.45, 0.70)), 2)
            products.append(
                Product(
                    product_id=f"P{index:04d}",
                    name=f"{brand} {flavour} {pack.label}",
                    brand=brand,
                    category=CATEGORY,
                    subcategory=subcategory,
                    width_cm=pack.width_cm,
                    height_cm=pack.height_cm,
                    depth_cm=pack.depth_cm,
                    weight_kg=pack.weight_kg,
                    price=price,
                    unit_cost=cost,
                    currency="USD",
                    gtin=gtin12("0" + prefix + f"{index:04d}"),
                    age_restricted=restricted,
                )
            )
            subcats.append(s)
            packs.append(pack_key)
    return Catalog(tuple(products), np.array(subcats, dtype=np.int64), tuple(packs))
