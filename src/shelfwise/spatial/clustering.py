"""Store clustering: SpAGMM profiles, K-means, and K chosen by the ANOVA criterion.

EdgeRec3D (Jenkins et al., KDD 2024) clusters stores in two steps (section 3.2): SpAGMM gives
each store a demographic profile, then K-means groups the standardised profiles. The number of
clusters is chosen on sales (section 8.4): for each candidate ``K``, a one-way ANOVA per product
tests whether the product's store-level sales differ across the ``K`` clusters at
``alpha = 0.05``; the share of products that do measures the fit, and ``K`` is "roughly the
point where adding another cluster yields a small increase".
:func:`~shelfwise.spatial.selection.choose_k` makes that rule exact: the smallest ``K`` that no
larger candidate beats by more than ``min_gain``.

Stores in different metros hundreds of km apart would make one SpAGMM's standardised units so
coarse that every store's Gaussian covers its whole metro, so by default stores are split into
metros (single linkage at ``metro_gap_km``), each tract joins its nearest store's metro, and
SpAGMM is fitted per metro; K-means then runs on all profiles together.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.base import BaseEstimator  # type: ignore[import-untyped]
from sklearn.cluster import KMeans  # type: ignore[import-untyped]

from shelfwise import __version__
from shelfwise.domain import Store, Tract
from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFittedError
from shelfwise.perception.sales import SalesTable
from shelfwise.spatial.selection import (
    Correction,
    KCurve,
    benjamini_hochberg,
    check_rates,
    choose_k,
    product_anova,
)
from shelfwise.spatial.spagmm import MIN_TRACTS, SpAGMM, project_km

ARTIFACT_FORMAT = "shelfwise.spatial.StoreClustering"
ARTIFACT_VERSION = 1
_TRACT_BASE = ("tract_id", "lat", "lon", "population", "name")


def _stores_frame(stores: Sequence[Store] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(stores, pd.DataFrame):
        if any(c not in stores.columns for c in ("store_id", "lat", "lon")):
            raise InvalidParameterError(
                f"stores must have columns store_id, lat, lon; got {list(stores.columns)}"
            )
        f = stores[["store_id", "lat", "lon"]].copy()
    else:
        f = pd.DataFrame(
            [(s.store_id, s.lat, s.lon) for s in stores], columns=["store_id", "lat", "lon"]
        )
    f["store_id"] = f["store_id"].astype("str")
    f["lat"] = pd.to_numeric(f["lat"], errors="coerce").astype("float64")
    f["lon"] = pd.to_numeric(f["lon"], errors="coerce").astype("float64")
    if f["store_id"].duplicated().any():
        dup = f.loc[f["store_id"].duplicated(), "store_id"].iloc[0]
        raise InvalidParameterError(f"stores must have unique store_id; got {dup!r} twice")
    return f.sort_values("store_id").reset_index(drop=True)


def _tracts_frame(tracts: Sequence[Tract] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(tracts, pd.DataFrame):
        f = tracts.drop(columns=[c for c in ("name",) if c in tracts.columns]).copy()
    else:
        f = pd.DataFrame(
            [
                {"tract_id": t.tract_id, "lat": t.lat, "lon": t.lon, "population": t.population}
                | dict(t.features)
                for t in tracts
            ],
            columns=None if len(tracts) else ["tract_id", "lat", "lon", "population"],
        )
    if len(f) and any(c not in f.columns for c in ("tract_id", "lat", "lon", "population")):
        raise InvalidParameterError(
            f"tracts must have columns tract_id, lat, lon, population; got {list(f.columns)}"
        )
    feats = [c for c in f.columns if c not in _TRACT_BASE]
    for col in ("lat", "lon", "population", *feats):
        f[col] = pd.to_numeric(f[col], errors="coerce").astype("float64")
    if len(f):
        for col in ("lat", "lon", "population"):
            if f[col].isna().any():
                tid = f.loc[f[col].isna(), "tract_id"].iloc[0]
                what = "a population" if col == "population" else "coordinates"
                raise InvalidParameterError(
                    f"tracts must have {what}; got {col}=NaN for tract {tid!r}"
                )
        bad = f[feats].isna()
        if bad.to_numpy().any():
            row, col_i = (int(v[0]) for v in np.nonzero(bad.to_numpy()))
            raise InvalidParameterError(
                f"tract features must not be NaN; got NaN for feature {feats[col_i]!r} of tract "
                f"{f['tract_id'].iloc[row]!r}"
            )
    if len(f) and not feats:
        raise InvalidParameterError("tracts must carry at least one demographic feature; got none")
    return f.reset_index(drop=True)


def metro_groups(
    stores_latlon: NDArray[np.float64], tracts_latlon: NDArray[np.float64], gap_km: float | None
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Split stores into metros by single linkage at ``gap_km``; tracts join their nearest store.

    Metros with fewer than 3 tracts are merged into the metro of their nearest outside store.

    Returns
    -------
    store_group, tract_group : ndarray of int
        Metro index (0, 1, ... by first store) of each store and tract.
    """
    n_s = stores_latlon.shape[0]
    if gap_km is None or n_s < 2:
        return np.zeros(n_s, dtype=np.int64), np.zeros(tracts_latlon.shape[0], dtype=np.int64)
    origin = (float(stores_latlon[:, 0].mean()), float(stores_latlon[:, 1].mean()))
    s_km = project_km(stores_latlon, origin)
    t_km = project_km(tracts_latlon, origin)
    raw = fcluster(linkage(s_km, method="single"), t=gap_km, criterion="distance")
    _, group = np.unique(raw, return_index=False, return_inverse=True)
    d_ts = np.linalg.norm(t_km[:, None, :] - s_km[None, :, :], axis=2)
    while True:
        t_group = group[d_ts.argmin(axis=1)]
        counts = np.bincount(t_group, minlength=int(group.max()) + 1)
        small = [g for g in np.unique(group) if counts[g] < MIN_TRACTS]
        if not small or np.unique(group).size == 1:
            break
        g = small[0]
        inside = group == g
        d_ss = np.linalg.norm(s_km[inside][:, None, :] - s_km[~inside][None, :, :], axis=2)
        group[inside] = group[~inside][int(np.unravel_index(d_ss.argmin(), d_ss.shape)[1])]
    _, first, inverse = np.unique(group, return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    store_group = rank[inverse].astype(np.int64)
    return store_group, store_group[d_ts.argmin(axis=1)]


class StoreClustering(BaseEstimator):  # type: ignore[misc]
    """SpAGMM store profiles, K-means, and K chosen by the ANOVA criterion (EdgeRec3D 3.2, 8.4).

    Parameters
    ----------
    k : int or None
        Number of clusters; None chooses it from ``k_min..k_max`` by :func:`choose_k`.
    k_min, k_max : int
        Candidate range for K (capped at the number of located stores minus 1).
    alpha : float
        ANOVA test level (the paper's 0.05).
    correction : {"none", "fdr_bh"}
        Count significant products with raw p-values (paper) or Benjamini-Hochberg FDR control.
    min_gain : float
        A larger K must raise the share of significant products by more than this to be chosen.
    metro_gap_km : float or None
        Stores farther apart than this (single linkage) are in different metros, each with its
        own SpAGMM; None fits one SpAGMM to everything, as the paper does.
    population_weighted : bool
        Weight tracts by population in the profiles (shoppers, not places); see
        :func:`~shelfwise.spatial.spagmm.store_profiles`.
    n_init : int
        K-means restarts.
    spagmm_tol, spagmm_max_iter : float, int
        Passed to :class:`SpAGMM`.
    random_state : int or None
        Seed of K-means.

    Attributes
    ----------
    labels_ : Mapping of str to int
        Cluster of every store given to fit.
    k_ : int
        Number of clusters used.
    curve_ : KCurve or None
        The K-selection curve; None when ``k`` was given (nothing was chosen).
    profiles_ : pandas.DataFrame
        Demographic profile per located store (index ``store_id``), in feature units.
    spagmm_ : tuple of SpAGMM
        One fitted SpAGMM per metro.
    metro_ : Mapping of str to int
        Metro of each located store.
    cluster_centers_ : ndarray, shape (k_, n_features)
        K-means centres in standardised profile units (``profile_mean_``, ``profile_scale_``).
    notes_ : tuple of str
        What was done that a user should know (fallbacks, unlocated stores).
    """

    def __init__(
        self,
        *,
        k: int | None = None,
        k_min: int = 2,
        k_max: int = 10,
        alpha: float = 0.05,
        correction: Correction = "none",
        min_gain: float = 0.05,
        metro_gap_km: float | None = 150.0,
        population_weighted: bool = True,
        n_init: int = 10,
        spagmm_tol: float = 1e-4,
        spagmm_max_iter: int = 200,
        random_state: int | None = None,
    ) -> None:
        self.k = k
        self.k_min = k_min
        self.k_max = k_max
        self.alpha = alpha
        self.correction = correction
        self.min_gain = min_gain
        self.metro_gap_km = metro_gap_km
        self.population_weighted = population_weighted
        self.n_init = n_init
        self.spagmm_tol = spagmm_tol
        self.spagmm_max_iter = spagmm_max_iter
        self.random_state = random_state

    def _check_params(self) -> None:
        def is_int(v: object) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        if self.k is not None and (not is_int(self.k) or self.k < 1):
            raise InvalidParameterError(f"k must be None or an integer >= 1; got {self.k!r}")
        if not is_int(self.k_min) or self.k_min < 2:
            raise InvalidParameterError(f"k_min must be an integer >= 2; got {self.k_min!r}")
        if not is_int(self.k_max) or self.k_max < self.k_min:
            raise InvalidParameterError(
                f"k_max must be an integer >= k_min ({self.k_min}); got {self.k_max!r}"
            )
        for name, lo, hi in (("alpha", 0.0, 1.0), ("min_gain", 0.0, 1.0)):
            v = getattr(self, name)
            ok = isinstance(v, int | float) and not isinstance(v, bool) and lo <= v < hi
            if not ok or (name == "alpha" and v == 0):
                raise InvalidParameterError(
                    f"{name} must be a number in ({lo:g}, {hi:g}); got {v!r}"
                )
        if self.correction not in ("none", "fdr_bh"):
            raise InvalidParameterError(
                f"correction must be 'none' or 'fdr_bh'; got {self.correction!r}"
            )
        gap = self.metro_gap_km
        if gap is not None and (
            isinstance(gap, bool) or not isinstance(gap, int | float) or not gap > 0
        ):
            raise InvalidParameterError(f"metro_gap_km must be None or > 0; got {gap!r}")
        if not is_int(self.n_init) or self.n_init < 1:
            raise InvalidParameterError(f"n_init must be an integer >= 1; got {self.n_init!r}")

    def fit(
        self,
        stores: Sequence[Store] | pd.DataFrame,
        tracts: Sequence[Tract] | pd.DataFrame,
        sales: SalesTable | pd.DataFrame | None = None,
    ) -> StoreClustering:
        """Profile, cluster and (when ``k`` is None) choose K.

        Parameters
        ----------
        stores : sequence of Store, or DataFrame with store_id, lat, lon
            Stores; those without coordinates are clustered by sales (see ``notes_``).
        tracts : sequence of Tract, or DataFrame with tract_id, lat, lon, population, features
            Tracts with demographic features (no NaN).
        sales : SalesTable, or DataFrame with store_id, product_id, rate_per_day, optional
            Store sales; required to choose K.

        Returns
        -------
        StoreClustering
            ``self``, fitted.

        Raises
        ------
        InvalidParameterError
            On bad parameters, tracts without coordinates or with NaN features, too few
            located stores for ``k`` (or for K selection), or no sales when K must be chosen.
        """
        self._check_params()
        s = _stores_frame(stores)
        t = _tracts_frame(tracts)
        if len(s) == 0:
            raise InvalidParameterError("stores must hold at least 1 store; got 0")
        rates = None
        if sales is not None:
            rates = check_rates(
                sales.store_product_rates() if isinstance(sales, SalesTable) else sales
            )
        located = s["lat"].notna() & s["lon"].notna()
        notes: list[str] = []
        self.spagmm_: tuple[SpAGMM, ...] = ()
        self.metro_: Mapping[str, int] = MappingProxyType({})
        self.curve_: KCurve | None = None
        if not located.any() or len(t) == 0:
            why = "no store has coordinates" if not located.any() else "there are no tracts"
            notes.append(f"{why}: every store is put in one cluster")
            self._set_single(s, t, notes)
            return self
        loc = s[located].reset_index(drop=True)
        n_loc = len(loc)
        if self.k is not None and n_loc < self.k:
            raise InvalidParameterError(
                f"k must be <= the number of stores with coordinates ({n_loc}); got {self.k}"
            )
        if self.k is None:
            if rates is None:
                raise InvalidParameterError(
                    "sales must be given to choose k (or pass k); got sales=None"
                )
            if n_loc < self.k_min + 1:
                raise InvalidParameterError(
                    f"choosing k needs at least k_min + 1 = {self.k_min + 1} stores with "
                    f"coordinates; got {n_loc}"
                )
        self.profiles_, self.spagmm_, self.metro_ = self._profiles(loc, t)
        z, self.profile_mean_, self.profile_scale_ = _standardise(self.profiles_)
        ids = list(self.profiles_.index)
        if self.k is None and rates is not None:
            ks = list(range(self.k_min, min(self.k_max, n_loc - 1) + 1))
            curve = self._curve(z, ids, rates, ks)
            col = "share_significant" if self.correction == "none" else "share_significant_bh"
            chosen = choose_k(curve, min_gain=self.min_gain, column=col)
            self.curve_ = KCurve(curve, chosen, self.alpha, self.correction, self.min_gain)
            self.k_ = chosen
        else:
            self.k_ = int(self.k or 1)
        km = self._kmeans(self.k_).fit(z)
        labels = {sid: int(c) for sid, c in zip(ids, km.labels_, strict=True)}
        self.cluster_centers_ = np.asarray(km.cluster_centers_, dtype=np.float64)
        missing = s.loc[~located, "store_id"].tolist()
        if missing:
            labels |= self._place_unlocated(missing, labels, rates, notes)
        self.labels_ = MappingProxyType(dict(sorted(labels.items())))
        self.notes_ = tuple(notes)
        return self

    def _kmeans(self, k: int) -> Any:
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)

    def _profiles(
        self, loc: pd.DataFrame, t: pd.DataFrame
    ) -> tuple[pd.DataFrame, tuple[SpAGMM, ...], Mapping[str, int]]:
        s_ll = loc[["lat", "lon"]].to_numpy(dtype=np.float64)
        t_ll = t[["lat", "lon"]].to_numpy(dtype=np.float64)
        s_grp, t_grp = metro_groups(s_ll, t_ll, self.metro_gap_km)
        feats = [c for c in t.columns if c not in _TRACT_BASE]
        parts, models = [], []
        for g in range(int(s_grp.max()) + 1):
            si, ti = np.flatnonzero(s_grp == g), np.flatnonzero(t_grp == g)
            m = SpAGMM(tol=self.spagmm_tol, max_iter=self.spagmm_max_iter).fit(s_ll[si], t_ll[ti])
            pop = t["population"].to_numpy(dtype=np.float64)[ti]
            use_pop = self.population_weighted and pop.sum() > 0
            parts.append(
                m.store_profiles(
                    t.iloc[ti][feats],
                    population=pop if use_pop else None,
                    store_ids=loc["store_id"].iloc[si].tolist(),
                )
            )
            models.append(m)
        profiles = pd.concat(parts).sort_index()
        metro = {sid: int(g) for sid, g in zip(loc["store_id"], s_grp, strict=True)}
        return profiles, tuple(models), MappingProxyType(metro)

    def _curve(
        self, z: NDArray[np.float64], ids: list[str], rates: pd.DataFrame, ks: list[int]
    ) -> pd.DataFrame:
        n_products = int(rates.loc[np.isfinite(rates["rate_per_day"]), "product_id"].nunique())
        rows = []
        for k in ks:
            lab = self._kmeans(k).fit_predict(z)
            res = product_anova(rates, dict(zip(ids, (int(v) for v in lab), strict=True)))
            p = res["p_value"].to_numpy(dtype=np.float64)
            sig = np.nan_to_num(p, nan=1.0) < self.alpha
            bh = benjamini_hochberg(p, self.alpha)
            denom = max(n_products, 1)
            rows.append(
                {
                    "k": k,
                    "n_products": n_products,
                    "n_tested": int(np.isfinite(p).sum()),
                    "n_significant": int(sig.sum()),
                    "share_significant": sig.sum() / denom,
                    "n_significant_bh": int(bh.sum()),
                    "share_significant_bh": bh.sum() / denom,
                    "min_cluster_size": int(np.bincount(lab, minlength=k).min()),
                }
            )
        return pd.DataFrame(rows)

    def _place_unlocated(
        self,
        missing: list[str],
        labels: dict[str, int],
        rates: pd.DataFrame | None,
        notes: list[str],
    ) -> dict[str, int]:
        """Stores without coordinates join the cluster whose mean sales they resemble most."""
        sizes = np.bincount(list(labels.values()), minlength=self.k_)
        largest = int(sizes.argmax())
        out = {sid: largest for sid in missing}
        if rates is not None:
            wide = rates.pivot_table(
                index="store_id", columns="product_id", values="rate_per_day", aggfunc="mean"
            )
            wide = wide.clip(lower=0).transform(np.log1p)
            means = wide.reindex(list(labels)).groupby(pd.Series(labels)).mean()
            for sid in missing:
                if sid not in wide.index:
                    continue
                d = ((means - wide.loc[sid]) ** 2).mean(axis=1, skipna=True)
                if d.notna().any():
                    out[sid] = int(means.index[int(np.nanargmin(d.to_numpy()))])
        notes.append(
            f"{len(missing)} store(s) without coordinates were put in the cluster whose mean "
            "sales (log rates) they are closest to, or the largest cluster without sales"
        )
        return out

    def _set_single(self, s: pd.DataFrame, t: pd.DataFrame, notes: list[str]) -> None:
        feats = [c for c in t.columns if c not in _TRACT_BASE]
        self.k_ = 1
        self.labels_ = MappingProxyType({sid: 0 for sid in s["store_id"]})
        self.profiles_ = pd.DataFrame(columns=feats, index=pd.Index([], name="store_id"))
        self.profile_mean_ = np.zeros(len(feats))
        self.profile_scale_ = np.ones(len(feats))
        self.cluster_centers_ = np.zeros((1, len(feats)))
        self.notes_ = tuple(notes)

    def _check_fitted(self) -> None:
        if not hasattr(self, "labels_"):
            raise NotFittedError("StoreClustering is not fitted yet; call fit()")

    def cluster_sizes(self) -> pd.Series:
        """Number of stores per cluster, indexed by cluster."""
        self._check_fitted()
        return pd.Series(list(self.labels_.values()), dtype="int64").value_counts().sort_index()

    def save(self, path: str | Path) -> Path:
        """Write the fitted clustering to a JSON file (parameters, state, format version)."""
        self._check_fitted()
        curve = self.curve_
        data = {
            "format": ARTIFACT_FORMAT,
            "version": ARTIFACT_VERSION,
            "shelfwise_version": __version__,
            "params": self.get_params(),
            "k": self.k_,
            "labels": dict(self.labels_),
            "metro": dict(self.metro_),
            "notes": list(self.notes_),
            "profiles": json.loads(self.profiles_.to_json(orient="split", double_precision=15)),
            "profile_mean": self.profile_mean_.tolist(),
            "profile_scale": self.profile_scale_.tolist(),
            "cluster_centers": self.cluster_centers_.tolist(),
            "spagmm": [m.to_dict() for m in self.spagmm_],
            "curve": None
            if curve is None
            else {
                "frame": curve.frame.to_dict(orient="list"),
                "chosen_k": curve.chosen_k,
                "alpha": curve.alpha,
                "correction": curve.correction,
                "min_gain": curve.min_gain,
            },
        }
        out = Path(path)
        out.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return out

    @classmethod
    def load(cls, path: str | Path) -> StoreClustering:
        """Read a clustering written by :meth:`save`.

        Raises
        ------
        ArtifactMismatchError
            If the file is not a StoreClustering artifact or has another format version.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ArtifactMismatchError(f"{path} is not a readable JSON artifact: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != ARTIFACT_FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ArtifactMismatchError(f"{path} must hold a {ARTIFACT_FORMAT}; got {got!r}")
        if data.get("version") != ARTIFACT_VERSION:
            raise ArtifactMismatchError(
                f"{path} has artifact version {data.get('version')!r}; this shelfwise reads "
                f"version {ARTIFACT_VERSION} (refit and save again)"
            )
        m = cls(**data["params"])
        m.k_ = int(data["k"])
        m.labels_ = MappingProxyType({str(k): int(v) for k, v in data["labels"].items()})
        m.metro_ = MappingProxyType({str(k): int(v) for k, v in data["metro"].items()})
        m.notes_ = tuple(data["notes"])
        p = data["profiles"]
        m.profiles_ = pd.DataFrame(
            p["data"], columns=p["columns"], index=pd.Index(p["index"], name="store_id")
        ).astype("float64")
        m.profile_mean_ = np.asarray(data["profile_mean"], dtype=np.float64)
        m.profile_scale_ = np.asarray(data["profile_scale"], dtype=np.float64)
        m.cluster_centers_ = np.asarray(data["cluster_centers"], dtype=np.float64)
        m.spagmm_ = tuple(SpAGMM.from_dict(d) for d in data["spagmm"])
        c = data["curve"]
        m.curve_ = (
            None
            if c is None
            else KCurve(
                pd.DataFrame(c["frame"]),
                int(c["chosen_k"]),
                c["alpha"],
                c["correction"],
                c["min_gain"],
            )
        )
        return m


def _standardise(
    profiles: pd.DataFrame,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Z-scores of the profile columns across stores (constant columns get scale 1)."""
    x = profiles.to_numpy(dtype=np.float64)
    mean = x.mean(axis=0)
    sd = x.std(axis=0)
    sd = np.where(sd > 1e-12 * (1 + np.abs(mean)), sd, 1.0)
    return (x - mean) / sd, mean, sd


def adjusted_rand(labels: Mapping[str, int], truth: Mapping[str, int]) -> float:
    """Adjusted Rand index of two store -> cluster maps over their common stores."""
    from sklearn.metrics import adjusted_rand_score  # type: ignore[import-untyped]

    common = sorted(set(labels) & set(truth))
    if not common:
        raise InvalidParameterError("labels and truth must share at least one store; got none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = adjusted_rand_score([truth[s] for s in common], [labels[s] for s in common])
    return float(value) if math.isfinite(value) else float("nan")
