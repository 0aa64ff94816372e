"""Workflows of the generative planogram model: data, training, export, serving, evaluation.

The library pieces live in :mod:`shelfwise.generative`; this module wires them to a chain or
the database and to files: which stores train and which are held out, the revenue the model
is taught and judged by, the model registry, and the evaluation table.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from shelfwise.data.synthetic import SyntheticChain
from shelfwise.data.synthetic.truth import ChainTruth
from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import (
    ArtifactMismatchError,
    InfeasiblePlanogramError,
    InvalidParameterError,
)
from shelfwise.generative.checkpoint import CONFIG_FILE, WEIGHTS_FILE, read_config
from shelfwise.generative.data import PlanogramCodec, TrainingSet, build_training_set
from shelfwise.generative.evaluate import (
    EvalCase,
    MethodResult,
    RevenueFn,
    eval_cases,
    popular_assortment,
    run_baseline,
    score,
)
from shelfwise.generative.pipelines.planogram import GeneratedPlanogram, PlanogramPipeline
from shelfwise.generative.registry import ModelRegistry, ModelVersion
from shelfwise.generative.schedulers import BETA_SCHEDULES, BetaSchedule
from shelfwise.generative.serving import Denoiser, OnnxDenoiser
from shelfwise.planogram.rules import Rulebook, default_rulebook
from shelfwise.planogram.validator import validate
from shelfwise.storage import Repository

if TYPE_CHECKING:
    from shelfwise.generative.training import PlanogramDiffusion, ProgressCallback


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


# --------------------------------------------------------------------------- training
def train_generative(
    data: GenerativeData,
    *,
    n_iterations: int = 3000,
    lambda_constraint: float = 0.1,
    lambda_revenue: float = 0.02,
    batch_size: int = 64,
    random_state: int = 0,
    callback: ProgressCallback | None = None,
    resume_from: Path | None = None,
    checkpoint_dir: Path | None = None,
    checkpoint_every: int = 500,
) -> PlanogramDiffusion:
    """Train the diffusion model on the training stores' planograms (see ``PlanogramDiffusion``)."""
    from shelfwise.generative.training import PlanogramDiffusion  # torch needed here

    est = PlanogramDiffusion(
        n_iterations=n_iterations,
        lambda_constraint=lambda_constraint,
        lambda_revenue=lambda_revenue if data.revenue_per_facing is not None else 0.0,
        batch_size=batch_size,
        random_state=random_state,
    )
    est.held_out_stores_ = tuple(data.eval_stores)
    return est.fit(
        data.training_set(),
        data.codec,
        data.rulebook,
        callback=callback,
        resume_from=resume_from,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
    )


# --------------------------------------------------------------------------- serving
Precision = Literal["auto", "int8", "fp32", "torch"]
ONNX_FP32, ONNX_INT8 = "model.onnx", "model.int8.onnx"


@dataclass(frozen=True)
class LoadedModel:
    """A ready pipeline and where it came from."""

    pipeline: PlanogramPipeline
    precision: str
    source: str
    version: int | None
    note: str = ""


def _schedule(config: Mapping[str, object], folder: Path) -> BetaSchedule:
    name = str(config.get("beta_schedule", "squaredcos_cap_v2"))
    if name not in BETA_SCHEDULES:
        raise ArtifactMismatchError(
            f"checkpoint {folder} names beta_schedule {name!r}; known: {list(BETA_SCHEDULES)}"
        )
    return cast("BetaSchedule", name)


def open_pipeline(
    model: Path,
    *,
    precision: Precision = "auto",
    n_steps: int = 20,
    eta: float = 1.0,
    guidance_scale: float = 1.0,
    naive: bool = False,
    n_threads: int | None = None,
    constraint_guidance: float = 0.0,
) -> LoadedModel:
    """A sampling pipeline from a model registry (its active version) or a checkpoint folder.

    ``constraint_guidance > 0`` moves the sampler's clean estimate down the constraint
    penalties' gradient at every step with that step size (needs torch; see
    :mod:`shelfwise.generative.guidance`).

    ``precision="auto"`` serves the INT8 ONNX file when the export's accuracy gate accepted
    it, else the fp32 ONNX file, else (a bare training checkpoint) torch. ``"torch"`` needs
    torch and a checkpoint's weights; the ONNX precisions need only onnxruntime. A registry
    version's files are checked against their checksums first.

    Raises
    ------
    InvalidParameterError
        On an unknown precision, or one whose file the folder lacks.
    NotFoundError
        When the registry has no active version.
    ArtifactMismatchError
        When the folder holds no checkpoint config or a registry file fails its checksum.
    """
    if precision not in ("auto", "int8", "fp32", "torch"):
        raise InvalidParameterError(
            f"precision must be one of auto, int8, fp32, torch; got {precision!r}"
        )
    folder, version, accepted, reason = Path(model), None, False, ""
    if (folder / "CURRENT").is_file() or (folder / "versions").is_dir():
        current = ModelRegistry(folder).current()
        current.verify()  # never serve a file that no longer matches its checksum
        version, accepted = current.version, current.int8_accepted
        reason = current.int8_reason
        folder = current.path
    cfg = read_config(folder)
    has = {name: (folder / name).is_file() for name in (ONNX_FP32, ONNX_INT8, WEIGHTS_FILE)}
    note = ""
    chosen: str = precision
    if precision == "auto":
        if has[ONNX_INT8] and accepted:
            chosen = "int8"
        elif has[ONNX_FP32]:
            chosen = "fp32"
            if has[ONNX_INT8] and version is None:
                note = (
                    "INT8 model outside a model registry has no accuracy-gate verdict; serving fp32"
                )
            elif has[ONNX_INT8]:
                note = f"INT8 model not accepted by the accuracy gate ({reason}); serving fp32"
        else:
            chosen = "torch"
    denoiser: Denoiser
    if chosen == "torch":
        if not has[WEIGHTS_FILE]:
            raise InvalidParameterError(f"precision 'torch' needs {WEIGHTS_FILE} in {folder}")
        from shelfwise.generative import training  # torch only here
        from shelfwise.generative.models.denoiser import TorchDenoiser

        net = training.PlanogramDiffusion.load(folder).model_
        denoiser = TorchDenoiser(net, n_threads=n_threads)
    else:
        name = ONNX_INT8 if chosen == "int8" else ONNX_FP32
        if not has[name]:
            raise InvalidParameterError(
                f"precision {chosen!r} needs {name} in {folder}; export the model first "
                "(shelfwise generate export)"
            )
        denoiser = OnnxDenoiser(folder / name, intra_op_threads=n_threads)
    guide = None
    if constraint_guidance > 0:
        from shelfwise.generative.guidance import ConstraintGuidance  # torch needed here

        guide = ConstraintGuidance(cfg.codec, cfg.rulebook, scale=constraint_guidance)
    pipe = PlanogramPipeline(
        denoiser,
        cfg.codec,
        cfg.rulebook,
        n_steps=n_steps,
        eta=eta,
        guidance_scale=guidance_scale,
        n_train_steps=int(cfg.scheduler.get("n_train_steps", 1000)),
        beta_schedule=_schedule(cfg.scheduler, folder),
        naive=naive,
        guide=guide,
    )
    return LoadedModel(pipe, chosen, str(folder), version, note)


#: Product fields a model depends on: its encoding channels and the rules' geometry.
_MODEL_FIELDS = (
    "product_id",
    "width_cm",
    "height_cm",
    "depth_cm",
    "weight_kg",
    "price",
    "category",
    "subcategory",
    "brand",
    "age_restricted",
)


def check_compatible(codec: PlanogramCodec, data: GenerativeData, *, model: str) -> None:
    """Raise unless a model's codec has the data's catalog and store clusters.

    Products are compared on the fields the model depends on (id, dimensions, weight, price,
    category, subcategory, brand, age restriction); names and codes may differ.

    Raises
    ------
    ArtifactMismatchError
        Naming the first product or the clusters that differ.
    """

    def key(p: Product) -> tuple[object, ...]:
        return tuple(getattr(p, f) for f in _MODEL_FIELDS)

    mine, theirs = codec.catalog, data.codec.catalog
    if [key(p) for p in mine] != [key(p) for p in theirs]:
        if len(mine) != len(theirs):
            what = f"{len(mine)} products, the data {len(theirs)}"
        else:
            k = next(
                i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if key(a) != key(b)
            )
            what = (
                f"product {k} is {mine[k].product_id!r} ({mine[k].name}), the data's "
                f"{theirs[k].product_id!r} ({theirs[k].name})"
            )
        raise ArtifactMismatchError(
            f"model {model} was trained on another catalog than the data's: its {what}"
        )
    if tuple(codec.cluster_names) != tuple(data.cluster_names):
        raise ArtifactMismatchError(
            f"model {model} has store clusters {list(codec.cluster_names)}; the data has "
            f"{list(data.cluster_names)}"
        )


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class GateResult:
    """The INT8 accuracy gate: fp32 and INT8 ONNX on the same held-out inputs and noise.

    ``accepted`` when INT8's raw validity (structured and naive decoding) is within
    ``valid_tolerance`` of fp32 (absolute) and its mean revenue proxy within
    ``revenue_tolerance`` (relative).
    """

    accepted: bool
    reason: str
    n: int
    fp32: Mapping[str, float]
    int8: Mapping[str, float]
    valid_tolerance: float
    revenue_tolerance: float


def _gate_metrics(
    loaded: PlanogramPipeline, cases: Sequence[EvalCase], data: GenerativeData, seed: int
) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    outs = [loaded.generate(c.display, c.cluster, rng=rng)[0] for c in cases]
    naive = [
        validate(g.naive, c.display, data.products, data.rulebook).is_valid
        for g, c in zip(outs, cases, strict=True)
        if g.naive is not None
    ]
    revenue = data.revenue
    rev = (
        [
            revenue(c.display.store_id, g.planogram.facings())
            for g, c in zip(outs, cases, strict=True)
        ]
        if revenue is not None
        else [float(sum(g.planogram.facings().values())) for g in outs]
    )
    return {
        "raw_valid": float(np.mean([g.raw_valid for g in outs])),
        "naive_raw_valid": float(np.mean(naive)) if naive else 0.0,
        "revenue_proxy": float(np.mean(rev)),
        "facings_changed": float(np.mean([g.facings_changed for g in outs])),
    }


def accuracy_gate(
    fp32: PlanogramPipeline,
    int8: PlanogramPipeline,
    data: GenerativeData,
    *,
    n_cases: int = 24,
    valid_tolerance: float = 0.05,
    revenue_tolerance: float = 0.03,
    random_state: int = 0,
) -> GateResult:
    """Compare INT8 with fp32 on held-out displays (same noise for both)."""
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise InvalidParameterError(f"n_cases must be an integer >= 1; got {n_cases!r}")
    cases = data.cases(limit=n_cases)
    a = _gate_metrics(fp32, cases, data, random_state)
    b = _gate_metrics(int8, cases, data, random_state)
    problems = []
    for key in ("raw_valid", "naive_raw_valid"):
        if b[key] < a[key] - valid_tolerance:
            problems.append(f"{key} {b[key]:.3f} vs fp32 {a[key]:.3f}")
    rel = abs(b["revenue_proxy"] - a["revenue_proxy"]) / max(abs(a["revenue_proxy"]), 1e-9)
    if rel > revenue_tolerance:
        problems.append(f"revenue proxy differs by {rel:.1%}")
    accepted = not problems
    reason = (
        f"within tolerance on {len(cases)} held-out displays (validity -{valid_tolerance:g}, "
        f"revenue {revenue_tolerance:.0%}); revenue differs by {rel:.1%}"
        if accepted
        else "outside tolerance: " + "; ".join(problems)
    )
    return GateResult(accepted, reason, len(cases), a, b, valid_tolerance, revenue_tolerance)


def calibration_feeds(
    pipe: PlanogramPipeline, data: GenerativeData, *, n_planograms: int = 16, random_state: int = 0
) -> list[dict[str, NDArray[np.generic]]]:
    """Real denoiser inputs for INT8 calibration: the sampler's inputs on training displays.

    Every step of sampling ``n_planograms`` planograms (generate and arrange alternately) is
    recorded, so activation ranges cover the whole schedule, both tasks and real conditions.
    """
    feeds: list[dict[str, NDArray[np.generic]]] = []
    inner = pipe.denoiser

    def recording(
        sample: NDArray[np.float32],
        timestep: NDArray[np.int64],
        conditions: NDArray[np.float32],
        class_labels: NDArray[np.int64],
    ) -> NDArray[np.float32]:
        feeds.append(
            {
                "sample": sample.copy(),
                "timestep": timestep.copy(),
                "conditions": conditions.copy(),
                "class_labels": class_labels.copy(),
            }
        )
        return inner(sample, timestep, conditions, class_labels)

    pipe.denoiser = recording
    try:
        rng = np.random.default_rng(random_state)
        train = data.training_planograms()
        picks = rng.choice(len(train), size=min(n_planograms, len(train)), replace=False)
        for k, i in enumerate(picks):
            plan = train[int(i)]
            d = data.displays[plan.display_id]
            cluster = data.clusters[d.store_id]
            if k % 2:
                pipe.arrange(d, cluster, plan.facings(), rng=rng)
            else:
                pipe.generate(d, cluster, rng=rng)
    finally:
        pipe.denoiser = inner
    return feeds


@dataclass(frozen=True)
class ExportRun:
    """What :func:`export_generative` published."""

    version: ModelVersion
    gate: GateResult
    onnx_bytes: int
    int8_bytes: int
    seconds: float


def export_generative(
    checkpoint: Path,
    data: GenerativeData,
    registry: Path,
    *,
    n_gate: int = 24,
    valid_tolerance: float = 0.05,
    revenue_tolerance: float = 0.03,
    n_calibration: int = 16,
    activate: bool = True,
) -> ExportRun:
    """Export a checkpoint to ONNX, quantise it to static INT8, gate it, and publish a version.

    The new version holds the checkpoint (config and float16 weights), the fp32 ONNX file and
    the INT8 file whether or not the gate accepted it; the gate's verdict decides which one
    ``open_pipeline(precision="auto")`` serves. Nothing is published when a step fails.

    Raises
    ------
    ArtifactMismatchError
        When the checkpoint was trained on another catalog or other store clusters than
        ``data``'s (its calibration and gate would be meaningless).
    """
    from shelfwise.generative import training
    from shelfwise.generative.export import export_onnx, quantize_int8  # torch needed here

    t0 = time.perf_counter()
    est = training.PlanogramDiffusion.load(checkpoint)
    check_compatible(est.codec_, data, model=str(checkpoint))
    data = data.matching(checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        est.save(work, for_inference=True)
        fp32_path = export_onnx(est.model_, work / ONNX_FP32)
        fp32 = open_pipeline(work, precision="fp32", naive=True).pipeline
        feeds = calibration_feeds(fp32, data, n_planograms=n_calibration)
        int8_path = quantize_int8(fp32_path, work / ONNX_INT8, feeds)
        int8 = open_pipeline(work, precision="int8", naive=True).pipeline
        gate = accuracy_gate(
            fp32,
            int8,
            data,
            n_cases=n_gate,
            valid_tolerance=valid_tolerance,
            revenue_tolerance=revenue_tolerance,
        )
        cfg = read_config(work)
        files = {name: work / name for name in (CONFIG_FILE, WEIGHTS_FILE, ONNX_FP32, ONNX_INT8)}
        version = ModelRegistry(registry).publish(
            files,
            metadata={
                "training": cfg.params,
                "n_iterations_done": cfg.n_iterations_done,
                "gate": {"n": gate.n, "fp32": dict(gate.fp32), "int8": dict(gate.int8)},
                "source_checkpoint": str(checkpoint),
            },
            activate=activate,
            int8_accepted=gate.accepted,
            int8_reason=gate.reason,
        )
        sizes = (fp32_path.stat().st_size, int8_path.stat().st_size)
    return ExportRun(version, gate, sizes[0], sizes[1], time.perf_counter() - t0)


# --------------------------------------------------------------------------- evaluation
def evaluate_generative(
    data: GenerativeData,
    models: Mapping[str, PlanogramPipeline],
    *,
    n_cases: int = 24,
    n_samples: int = 2,
    baselines: bool = True,
    random_state: int = 0,
    progress: Callable[[str], None] | None = None,
) -> list[MethodResult]:
    """The evaluation table on held-out displays: baselines and each model, both tasks.

    *arrange*: each held-out display's latest planogram's facings are laid out by the CP-SAT
    solver, the greedy first-fit layout, and each model. *generate*: the greedy generator (the
    store cluster's most stocked products at their median facings, first fit) and the same
    assortment through the solver, against each model generating ``n_samples`` planograms
    per display from the display and the store's cluster alone. A display that repair cannot
    make valid counts as a failure (every sample of it for *generate*), for the baselines and
    the models alike.

    Raises
    ------
    InvalidParameterError
        Without demand truth, or on a bad ``n_cases``.
    ArtifactMismatchError
        When a model was trained on another catalog or other store clusters than ``data``'s.
    """
    if data.revenue is None:
        raise InvalidParameterError(
            "the evaluation scores revenue and needs demand truth (a synthetic chain)"
        )
    revenue = data.revenue
    if isinstance(n_cases, bool) or not isinstance(n_cases, int) or n_cases < 1:
        raise InvalidParameterError(f"n_cases must be an integer >= 1; got {n_cases!r}")
    cases = data.cases(limit=n_cases)
    train = data.training_planograms()
    say = progress if progress is not None else (lambda _: None)
    results: list[MethodResult] = []

    def add(
        method: str, task: str, outs: Sequence[Sequence[GeneratedPlanogram]], failures: int = 0
    ) -> None:
        results.append(
            score(
                method,
                task,
                outs,
                cases,
                data.products,
                data.rulebook,
                revenue=revenue,
                training=train,
                failures=failures,
            )
        )

    if baselines:
        current = [dict(c.facings) for c in cases]
        for method in ("solver", "greedy"):
            say(f"arrange: {method}")
            outs, failed = run_baseline(method, cases, current, data.products, data.rulebook)
            add(method, "arrange", outs, failed)
        by_kind: dict[tuple[int, str], list[Planogram]] = {}
        for plan in train:
            d = data.displays[plan.display_id]
            by_kind.setdefault((data.clusters[d.store_id], d.kind.value), []).append(plan)
        popular = []
        for c in cases:
            fits = np.flatnonzero(data.codec.allowed(c.display, data.rulebook).any(axis=0))
            ok = {data.codec.product_ids[int(k)] for k in fits}
            popular.append(
                popular_assortment(
                    c.display,
                    by_kind.get((c.cluster, c.display.kind.value), train),
                    data.products,
                    lambda pid, ok=ok: pid in ok,  # type: ignore[misc]
                )
            )
        for method in ("greedy", "solver"):
            say(f"generate: {method}")
            outs, failed = run_baseline(method, cases, popular, data.products, data.rulebook)
            add(method, "generate", outs, failed)
    for name, pipe in models.items():
        check_compatible(pipe.codec, data, model=name)
    for name, pipe in models.items():
        for task in ("arrange", "generate"):
            rng = np.random.default_rng(random_state)
            say(f"{task}: {name}")
            made: list[list[GeneratedPlanogram]] = []
            failed = 0
            for c in cases:
                try:  # like the baselines, a case repair cannot save counts as a failure
                    if task == "arrange":
                        made.append([pipe.arrange(c.display, c.cluster, c.facings, rng=rng)])
                    else:
                        made.append(
                            pipe.generate(c.display, c.cluster, n_samples=n_samples, rng=rng)
                        )
                except InfeasiblePlanogramError:
                    made.append([])
                    failed += 1 if task == "arrange" else n_samples
            add(name, task, made, failed)
    return results


@dataclass(frozen=True)
class Latency:
    """Sampling latency of one planogram (batch 1), in milliseconds."""

    name: str
    n: int
    p50_ms: float
    p95_ms: float


def sampling_latency(
    name: str,
    pipe: PlanogramPipeline,
    display: Display,
    cluster: int,
    *,
    n: int = 50,
    warmup: int = 3,
    random_state: int = 0,
) -> Latency:
    """Wall time of sampling one planogram tensor (``pipe.n_steps`` denoiser calls)."""
    for key, value, low in (("n", n, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidParameterError(f"{key} must be an integer >= {low}; got {value!r}")
    cond = pipe.codec.conditions(display, pipe.rulebook)[None]
    label = np.array([pipe.codec.class_label(cluster, display.kind)], dtype=np.int64)
    rng = np.random.default_rng(random_state)
    times = []
    for k in range(warmup + n):
        t0 = time.perf_counter()
        pipe.sample(cond, label, rng=rng)
        if k >= warmup:
            times.append((time.perf_counter() - t0) * 1000.0)
    arr = np.array(times)
    return Latency(name, n, float(np.percentile(arr, 50)), float(np.percentile(arr, 95)))


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


# --------------------------------------------------------------------------- demo
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "generative" / "assets" / "default"
"""The small checkpoint shipped with shelfwise (``make generative-model`` retrains it)."""


def shipped_model_fits(chain: SyntheticChain) -> bool:
    """Whether the shipped checkpoint exists and was trained on this chain's catalog."""
    if not (SHIPPED_MODEL / CONFIG_FILE).is_file():
        return False
    try:
        codec = read_config(SHIPPED_MODEL).codec
        check_compatible(codec, chain_generative_data(chain), model=str(SHIPPED_MODEL))
    except ArtifactMismatchError:
        return False
    return True


@dataclass(frozen=True)
class ArrangeRun:
    """Recommended assortments arranged by the diffusion model."""

    table: pd.DataFrame
    written: tuple[Path, ...]
    notes: tuple[str, ...]
    precision: str


def arrange_recommendations(
    repo: Repository,
    *,
    style: Mapping[str, str],
    out: Path,
    model: Path = SHIPPED_MODEL,
    run_id: int | None = None,
    pictures: int = 3,
    precision: Precision = "torch",
    random_state: int = 0,
) -> ArrangeRun:
    """Arrange a recommendation run's assortments with the diffusion model, render them.

    Parameters
    ----------
    repo : Repository
        Holds the recommendation run and the displays.
    style : Mapping[str, str]
        Store id -> the label of the model's cluster whose style to use.
    out : Path
        Folder for ``<display>_generated.png``.
    model : Path
        Checkpoint folder or registry (default: the shipped checkpoint).
    run_id : int, optional
        Recommendation run (default: the newest).
    pictures : int
        Displays to arrange (the first ones of the run with facings).
    precision : {"auto", "int8", "fp32", "torch"}
        See :func:`open_pipeline`.
    random_state : int
        Seed of the sampler.
    """
    from shelfwise.planogram.render import render_to_file

    loaded = open_pipeline(model, precision=precision)
    pipe = loaded.pipeline
    frame = repo.recommendations_frame(run_id)
    frame = frame[frame["facings"] > 0]
    displays = {d.display_id: d for d in repo.list_displays()}
    notes = [loaded.note] if loaded.note else []
    unknown = sorted(set(frame["product_id"]) - set(pipe.codec.product_ids))
    if unknown:
        notes.append(
            f"{len(unknown)} recommended product(s) are not in the model's catalog (e.g. "
            f"{unknown[0]}); displays holding them are skipped"
        )
    rng = np.random.default_rng(random_state)
    rows: list[dict[str, object]] = []
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    catalog = {p.product_id: p for p in pipe.codec.catalog}
    for display_id, items in frame.groupby("display_id", sort=True):
        if len(rows) >= pictures:
            break
        display = displays.get(str(display_id))
        if display is None or not display.shelves or set(items["product_id"]) & set(unknown):
            continue
        wanted = {
            str(p): int(q) for p, q in zip(items["product_id"], items["facings"], strict=True)
        }
        if display.store_id not in style:
            raise InvalidParameterError(
                f"style must give a cluster for store {display.store_id!r} (display "
                f"{display.display_id}); got none"
            )
        cluster = pipe.codec.cluster_index(style[display.store_id])
        g = pipe.arrange(display, cluster, wanted, rng=rng)
        path = render_to_file(
            g.planogram,
            display,
            catalog,
            out / f"{display.display_id}_generated.png",
            title=f"{display.display_id} recommended, arranged by the diffusion model",
        )
        written.append(path)
        rows.append(
            {
                "display": display.display_id,
                "products": len(wanted),
                "facings asked": sum(wanted.values()),
                "raw valid": g.raw_valid,
                "raw violations": ", ".join(sorted({v.rule_type for v in g.raw_report.hard}))
                or "-",
                "facings changed": g.facings_changed,
                "ms": round(g.total_ms),
            }
        )
    return ArrangeRun(pd.DataFrame(rows), tuple(written), tuple(notes), loaded.precision)
