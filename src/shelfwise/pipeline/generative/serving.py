"""Training on generative data, and opening a sampling pipeline from a checkpoint or registry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal, cast

from shelfwise.domain import Product
from shelfwise.exceptions import (
    ArtifactMismatchError,
    InvalidParameterError,
)
from shelfwise.generative.checkpoint import WEIGHTS_FILE, read_config
from shelfwise.generative.data import PlanogramCodec
from shelfwise.generative.pipelines.planogram import PlanogramPipeline
from shelfwise.generative.registry import ModelRegistry
from shelfwise.generative.schedulers import BETA_SCHEDULES, BetaSchedule
from shelfwise.generative.serving import Denoiser, OnnxDenoiser
from shelfwise.pipeline.generative.data import GenerativeData

if TYPE_CHECKING:
    from shelfwise.generative.training import PlanogramDiffusion, ProgressCallback


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
