"""Generative data: a chain, the database or .psa files, split into training and held-out stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from shelfwise.data.synthetic import SyntheticChain
from shelfwise.data.synthetic.truth import ChainTruth
from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import (
    ArtifactMismatchError,
    InvalidParameterError,
)
from shelfwise.generative.checkpoint import read_config
from shelfwise.generative.data import PlanogramCodec, TrainingSet, build_training_set
from shelfwise.generative.evaluate import (
    EvalCase,
    RevenueFn,
    eval_cases,
)
from shelfwise.planogram.rules import Rulebook, default_rulebook
from shelfwise.storage import Repository

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class GenerativeData:
    """Everything the generative workflows need, split into training and held-out stores.

    Attributes
    ----------
    codec : PlanogramCodec
        The encoding (catalog, grid, clusters).
    planograms : tuple of Planogram
        Every historical planogram.
    displays : dict
        Displays by id.
    products : dict
        Products by id.
    clusters : dict
        Store id -> cluster index (0-based).
    cluster_names : tuple of str
        The cluster labels behind the indices.
    train_stores, eval_stores : tuple of str
        Stores whose planograms train the model, and held-out stores it is judged on.
    revenue_per_facing : dict or None
        Store id -> expected revenue per facing per day of each product (codec order).
    revenue : callable or None
        ``revenue(store_id, facings)``: expected revenue per day of an assortment.
    rulebook : Rulebook
        The rules.
    notes : tuple of str
        How the workflows degrade for lack of data.
    """

    codec: PlanogramCodec
    planograms: tuple[Planogram, ...]
    displays: dict[str, Display]
    products: dict[str, Product]
    clusters: dict[str, int]
    cluster_names: tuple[str, ...]
    train_stores: tuple[str, ...]
    eval_stores: tuple[str, ...]
    revenue_per_facing: dict[str, NDArray[np.float64]] | None
    revenue: RevenueFn | None
    rulebook: Rulebook = field(default_factory=default_rulebook)
    notes: tuple[str, ...] = ()

    def training_set(self, *, stores: Sequence[str] | None = None) -> TrainingSet:
        """Encoded planograms of the training stores (or of ``stores``)."""
        keep = set(self.train_stores if stores is None else stores)
        plans = [p for p in self.planograms if self.displays[p.display_id].store_id in keep]
        return build_training_set(
            self.codec,
            plans,
            self.displays,
            self.clusters,
            rulebook=self.rulebook,
            revenue=self.revenue_per_facing,
        )

    def training_planograms(self) -> list[Planogram]:
        """Historical planograms of the training stores."""
        keep = set(self.train_stores)
        return [p for p in self.planograms if self.displays[p.display_id].store_id in keep]

    def with_held_out(self, stores: Sequence[str]) -> GenerativeData:
        """The same data with ``stores`` held out (a model's own split, from its checkpoint).

        Raises
        ------
        ArtifactMismatchError
            If a held-out store is not in the data (the model was trained on other data).
        """
        known = set(self.train_stores) | set(self.eval_stores)
        missing = sorted(set(stores) - known)
        if missing:
            raise ArtifactMismatchError(
                f"the model's held-out stores must be in the data; {len(missing)} are not, e.g. "
                f"{missing[0]!r}"
            )
        held = tuple(sorted(set(stores)))
        train = tuple(s for s in sorted(known) if s not in set(held))
        return GenerativeData(**{**self.__dict__, "train_stores": train, "eval_stores": held})

    def matching(self, model: Path) -> GenerativeData:
        """This data split as ``model`` (a checkpoint or registry version folder) was trained.

        Checkpoints without a recorded split keep this data's split.
        """
        held = read_config(model).raw.get("held_out_stores") or []
        return self.with_held_out([str(s) for s in held]) if held else self

    def cases(self, *, limit: int | None = None) -> list[EvalCase]:
        """Held-out displays with their history (at most ``limit``, spread over stores)."""
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise InvalidParameterError(f"limit must be an integer >= 1 or None; got {limit!r}")
        cases = eval_cases(self.planograms, self.displays, self.clusters, self.eval_stores)
        if limit is not None and limit < len(cases):
            step = len(cases) / limit
            cases = [cases[int(k * step)] for k in range(limit)]
        return cases


def split_stores(
    stores: Sequence[str], *, holdout_share: float, random_state: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Deterministic split of stores into (training, held-out)."""
    if not 0.0 < holdout_share < 1.0:
        raise InvalidParameterError(f"holdout_share must be in (0, 1); got {holdout_share!r}")
    ordered = sorted(stores)
    if len(ordered) < 2:
        raise InvalidParameterError(
            f"at least 2 stores are needed to hold some out; got {len(ordered)}"
        )
    rng = np.random.default_rng(random_state)
    n_out = min(len(ordered) - 1, max(1, round(holdout_share * len(ordered))))
    out = set(rng.choice(len(ordered), size=n_out, replace=False).tolist())
    train = tuple(s for k, s in enumerate(ordered) if k not in out)
    held = tuple(s for k, s in enumerate(ordered) if k in out)
    return train, held


def truth_revenue(
    truth: ChainTruth, products: Sequence[Product]
) -> tuple[dict[str, NDArray[np.float64]], RevenueFn]:
    """Revenue per facing (at one facing) per store and the revenue of an assortment, from truth."""
    price = np.array([p.price or 0.0 for p in products])
    pidx = np.array([truth.product_index(p.product_id) for p in products])
    one = truth.expected_sales_table(max_facings=1)[:, :, 1]
    per_facing = {s: one[truth.store_index(s)][pidx] * price for s in truth.store_ids}
    price_of = {p.product_id: p.price or 0.0 for p in products}

    def revenue(store_id: str, facings: Mapping[str, int]) -> float:
        items = [(p, q) for p, q in facings.items() if q > 0]
        if not items:
            return 0.0
        s = truth.store_index(store_id)
        idx = [truth.product_index(p) for p, _ in items]
        sales = truth.expected_sales_many(s, idx, [q for _, q in items])
        return float(sum(price_of[p] * x for (p, _), x in zip(items, sales, strict=True)))

    return per_facing, revenue


def chain_generative_data(
    chain: SyntheticChain,
    *,
    holdout_share: float = 0.2,
    random_state: int = 0,
    clusters: Literal["truth"] | Mapping[str, str] = "truth",
    rulebook: Rulebook | None = None,
) -> GenerativeData:
    """Generative data of a synthetic chain, with the truth as revenue.

    ``clusters="truth"`` uses the chain's true store segments; pass a store -> label mapping
    (e.g. from ``shelfwise cluster``) to use estimated ones.
    """
    labels = (
        {s: str(c) for s, c in chain.truth.true_cluster.items()}
        if clusters == "truth"
        else dict(clusters)
    )
    return _assemble(
        list(chain.products),
        list(chain.displays),
        list(chain.planograms),
        labels,
        [s.store_id for s in chain.stores],
        truth=chain.truth,
        holdout_share=holdout_share,
        random_state=random_state,
        rulebook=rulebook,
    )


def workspace_generative_data(
    repo: Repository,
    *,
    clusters: Mapping[str, str] | None = None,
    truth: ChainTruth | None = None,
    holdout_share: float = 0.2,
    random_state: int = 0,
    rulebook: Rulebook | None = None,
) -> GenerativeData:
    """Generative data from the database: every display's planogram history.

    Without ``clusters`` every store is in one cluster (noted); without ``truth`` there is
    no revenue term and no revenue score (noted).
    """
    stores = [s.store_id for s in repo.list_stores()]
    displays = repo.list_displays()
    plans: list[Planogram] = []
    for d in displays:
        plans.extend(repo.planograms(d.display_id))
    notes = []
    if clusters is None:
        clusters = {s: "all" for s in stores}
        notes.append("no store clusters given: every store is in one cluster (one style)")
    missing = sorted(set(stores) - set(clusters))
    if missing:
        raise InvalidParameterError(
            f"clusters must give a cluster for every store; {len(missing)} missing, e.g. "
            f"{missing[0]!r}"
        )
    if truth is None:
        notes.append(
            "no demand truth: the model trains without the revenue term and revenue is not scored"
        )
    data = _assemble(
        repo.list_products(),
        displays,
        plans,
        dict(clusters),
        stores,
        truth=truth,
        holdout_share=holdout_share,
        random_state=random_state,
        rulebook=rulebook,
    )
    return GenerativeData(**{**data.__dict__, "notes": tuple(notes) + data.notes})


def _label_order(label: str) -> tuple[int, int, str]:
    """Numeric labels in numeric order ("2" before "10"), then the rest alphabetically."""
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def _assemble(
    products: Sequence[Product],
    displays: Sequence[Display],
    planograms: Sequence[Planogram],
    labels: Mapping[str, str],
    stores: Sequence[str],
    *,
    truth: ChainTruth | None,
    holdout_share: float,
    random_state: int,
    rulebook: Rulebook | None,
) -> GenerativeData:
    if not planograms:
        raise InvalidParameterError(
            "there are no planograms to learn from; ingest planograms first (shelfwise ingest)"
        )
    unsized = [p.product_id for p in products if not p.has_dimensions or p.weight_kg is None]
    if unsized:
        raise InvalidParameterError(
            f"the generative model needs width, height, depth and weight of every product; "
            f"{len(unsized)} product(s) lack them, e.g. {unsized[0]!r}"
        )
    names = tuple(sorted(set(labels.values()), key=_label_order))
    clusters = {s: names.index(c) for s, c in labels.items()}
    n_shelves = max(4, -(-max(len(d.shelves) for d in displays) // 4) * 4)
    codec = PlanogramCodec(
        products, n_shelves=n_shelves, n_slots=24, n_clusters=len(names), cluster_names=names
    )
    train, held = split_stores(stores, holdout_share=holdout_share, random_state=random_state)
    per_facing: dict[str, NDArray[np.float64]] | None = None
    revenue: RevenueFn | None = None
    if truth is not None:
        per_facing, revenue = truth_revenue(truth, products)
    return GenerativeData(
        codec=codec,
        planograms=tuple(planograms),
        displays={d.display_id: d for d in displays},
        products={p.product_id: p for p in products},
        clusters=clusters,
        cluster_names=names,
        train_stores=train,
        eval_stores=held,
        revenue_per_facing=per_facing,
        revenue=revenue,
        rulebook=rulebook if rulebook is not None else default_rulebook(),
    )


# --------------------------------------------------------------------------- sources
def psa_generative_data(
    path: Path,
    *,
    clusters: Mapping[str, str] | None = None,
    holdout_share: float = 0.2,
    random_state: int = 0,
) -> GenerativeData:
    """Generative data from ``.psa`` files (a folder of them, or one file).

    Each file gives a display, its products and one planogram. A product or display defined
    differently by two files is an error naming both files. Without ``clusters`` every store is
    in one cluster; there is no revenue (the model trains without the revenue term).
    """
    from shelfwise.planogram.psa import read_psa

    if not path.exists():
        raise InvalidParameterError(f"path must be an existing .psa file or folder; got {path}")
    files = sorted(path.glob("*.psa")) if path.is_dir() else [path]
    if not files:
        raise InvalidParameterError(f"path must hold .psa files; folder {path} has none")
    products: dict[str, tuple[Product, Path]] = {}
    displays: dict[str, tuple[Display, Path]] = {}
    plans: list[Planogram] = []
    seen: dict[tuple[str, int], Path] = {}
    for f in files:
        doc = read_psa(f)
        for prod in doc.products:
            old = products.setdefault(prod.product_id, (prod, f))
            if old[0] != prod:
                raise InvalidParameterError(
                    f"product {prod.product_id} is defined differently in {old[1]} and {f}"
                )
        d = doc.display
        old_d = displays.setdefault(d.display_id, (d, f))
        if old_d[0] != d:
            raise InvalidParameterError(
                f"display {d.display_id} has different geometry in {old_d[1]} and {f}"
            )
        key = (doc.planogram.display_id, doc.planogram.version)
        if key in seen:
            raise InvalidParameterError(
                f"planogram version {key[1]} of display {key[0]} is in both {seen[key]} and {f}"
            )
        seen[key] = f
        plans.append(doc.planogram)
    stores = sorted({d.store_id for d, _ in displays.values()})
    notes = []
    if clusters is None:
        clusters = {s: "all" for s in stores}
        notes.append("no store clusters given: every store is in one cluster (one style)")
    notes.append("no demand truth: the model trains without the revenue term")
    data = _assemble(
        [p for p, _ in products.values()],
        [d for d, _ in displays.values()],
        plans,
        dict(clusters),
        stores,
        truth=None,
        holdout_share=holdout_share,
        random_state=random_state,
        rulebook=None,
    )
    return GenerativeData(**{**data.__dict__, "notes": tuple(notes)})


def load_generative_data(
    *,
    database_url: str | None = None,
    clusters: Path | None = None,
    truth_seed: int | None = None,
    synthetic_seed: int | None = None,
    psa: Path | None = None,
    holdout_share: float = 0.2,
    random_state: int = 0,
) -> GenerativeData:
    """Generative data from a generated chain, a folder of ``.psa`` files, or the database.

    With ``psa`` (a folder or one file) every ``.psa`` file is one display's planogram.

    With ``synthetic_seed`` the default chain of that seed is generated in memory (its true
    segments are the clusters and its truth the revenue; ``database_url``, ``clusters`` and
    ``truth_seed`` must then be left out). Otherwise the database is read; ``clusters`` is a
    ``store_id,cluster`` CSV and ``truth_seed`` says the database holds the default chain of
    that seed (for revenue).
    """
    from shelfwise.data.synthetic import generate_chain
    from shelfwise.pipeline.models import chain_truth, check_clusters, read_clusters

    if psa is not None:
        if synthetic_seed is not None or database_url is not None or truth_seed is not None:
            raise InvalidParameterError(
                "--psa reads planogram files only: leave out --synthetic-seed, --database-url "
                "and --truth-seed"
            )
        labels_psa = read_clusters(clusters) if clusters is not None else None
        return psa_generative_data(
            psa, clusters=labels_psa, holdout_share=holdout_share, random_state=random_state
        )
    if synthetic_seed is not None:
        if database_url is not None or clusters is not None or truth_seed is not None:
            raise InvalidParameterError(
                "--synthetic-seed reads no database: leave out --database-url, --clusters and "
                "--truth-seed"
            )
        return chain_generative_data(
            generate_chain(random_state=synthetic_seed),
            holdout_share=holdout_share,
            random_state=random_state,
        )
    from shelfwise.data.synthetic import ChainConfig

    repo = Repository.from_url(database_url, create=False)
    labels = read_clusters(clusters) if clusters is not None else None
    if labels is not None:
        check_clusters(labels, [s.store_id for s in repo.list_stores()], source=str(clusters))
    truth = chain_truth(repo, ChainConfig(), seed=truth_seed) if truth_seed is not None else None
    return workspace_generative_data(
        repo,
        clusters=labels,
        truth=truth,
        holdout_share=holdout_share,
        random_state=random_state,
    )
