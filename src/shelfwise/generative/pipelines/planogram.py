"""From noise to a valid planogram: sampler, structured decoder, validator, repair.

A :class:`PlanogramPipeline` runs a denoiser (torch or onnxruntime, anything with the
:class:`~shelfwise.generative.serving.Denoiser` call) through a DDPM or DDIM scheduler, decodes
the tensor with the structured decoder (*generate*: products and facings chosen by the model;
*arrange*: a given assortment placed in the model's style), judges it with the independent
validator and repairs it when a hard rule is broken. What leaves the pipeline is always valid
(repair raises rather than return an invalid planogram); each result says what the decoder
produced, how the validator judged it, and how much repair changed.

This module imports neither torch nor diffusers, so it serves from onnxruntime alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from shelfwise.domain import Display, Planogram, Product
from shelfwise.exceptions import InvalidParameterError
from shelfwise.generative.data import PlanogramCodec
from shelfwise.generative.decoding import decode_arrange, decode_naive, decode_structured
from shelfwise.generative.schedulers import BetaSchedule, DDIMScheduler, DDPMScheduler
from shelfwise.generative.serving import Denoiser
from shelfwise.planogram.repair import RepairResult, repair
from shelfwise.planogram.rules import Rulebook
from shelfwise.planogram.validator import validate
from shelfwise.planogram.violations import ValidationReport

Guide = Callable[[NDArray[np.float32], Sequence[Display]], NDArray[np.float32]]
"""``guide(x0_estimate, displays) -> moved x0_estimate`` (same shape), used during sampling."""


def facings_distance(a: Mapping[str, int], b: Mapping[str, int]) -> int:
    """Sum over products of ``|a[p] - b[p]|`` (facings wide)."""
    return sum(abs(a.get(p, 0) - b.get(p, 0)) for p in set(a) | set(b))


def _wanted(facings: Mapping[str, int], name: str = "facings") -> dict[str, int]:
    """The products with facings > 0 of an assortment, after checking it."""
    if not isinstance(facings, Mapping):
        raise InvalidParameterError(
            f"{name} must be a mapping of product id to facings wide; got {type(facings).__name__}"
        )
    for pid, q in facings.items():
        if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 0:
            raise InvalidParameterError(
                f"{name} must give whole numbers of facings >= 0; got {q!r} for product {pid!r}"
            )
    wanted = {p: int(q) for p, q in facings.items() if q > 0}
    if not wanted:
        raise InvalidParameterError(
            f"{name} must give at least one product with facings > 0; got {dict(facings)!r}"
        )
    return wanted


@dataclass(frozen=True)
class GeneratedPlanogram:
    """One planogram out of the pipeline.

    Attributes
    ----------
    planogram : Planogram
        The valid planogram handed out.
    raw : Planogram
        What the decoder made of the model's tensor, before repair.
    raw_report : ValidationReport
        The validator's verdict on ``raw``.
    repair : RepairResult or None
        The repair (``None`` when ``raw`` was already valid).
    reference : Mapping[str, int]
        Facings the result is compared with: the requested assortment (arrange) or the raw
        decode (generate).
    facings_changed : int
        ``facings_distance(reference, planogram.facings())``.
    naive : Planogram or None
        The slot-by-slot nearest-product decode of the same tensor (model's own validity).
    tensor : ndarray
        The sampled tensor (model space).
    sample_ms, decode_ms, repair_ms : float
        Wall time of each stage for this planogram (sampling time is the batch's divided
        by its size).
    """

    planogram: Planogram
    raw: Planogram
    raw_report: ValidationReport
    repair: RepairResult | None
    reference: Mapping[str, int]
    facings_changed: int
    naive: Planogram | None
    tensor: NDArray[np.float32] = field(repr=False)
    sample_ms: float = 0.0
    decode_ms: float = 0.0
    repair_ms: float = 0.0
    unplaced: Mapping[str, int] = field(default_factory=dict)
    """Arrange: facings of the requested assortment the decoder found no room for (before
    repair; they count in ``facings_changed``)."""

    @property
    def raw_valid(self) -> bool:
        """Whether the decoder's planogram met every hard rule before repair."""
        return self.raw_report.is_valid

    @property
    def total_ms(self) -> float:
        """Sampling + decoding + validation and repair."""
        return self.sample_ms + self.decode_ms + self.repair_ms


def finish(
    raw: Planogram,
    display: Display,
    catalog: Mapping[str, Product],
    rulebook: Rulebook,
    *,
    reference: Mapping[str, int] | None = None,
    tensor: NDArray[np.float32] | None = None,
    sample_ms: float = 0.0,
    decode_ms: float = 0.0,
    naive: Planogram | None = None,
    repair_time_limit_s: float = 10.0,
    unplaced: Mapping[str, int] | None = None,
) -> GeneratedPlanogram:
    """Validate a planogram and repair it when a hard rule is broken.

    Shared by the pipeline and the baselines of the evaluation, so every method is judged and
    repaired the same way.

    Raises
    ------
    InfeasiblePlanogramError
        When no repair meets the hard rules (nothing invalid is ever returned).
    """
    t0 = time.perf_counter()
    report = validate(raw, display, catalog, rulebook)
    fixed: RepairResult | None = None
    final = raw
    if not report.is_valid:
        fixed = repair(raw, display, catalog, rulebook, time_limit_s=repair_time_limit_s)
        final = fixed.planogram
    repair_ms = (time.perf_counter() - t0) * 1000.0
    ref = dict(reference) if reference is not None else dict(raw.facings())
    return GeneratedPlanogram(
        planogram=final,
        raw=raw,
        raw_report=report,
        repair=fixed,
        reference=ref,
        facings_changed=facings_distance(ref, final.facings()),
        naive=naive,
        unplaced=dict(unplaced or {}),
        tensor=tensor if tensor is not None else np.zeros((0,), dtype=np.float32),
        sample_ms=sample_ms,
        decode_ms=decode_ms,
        repair_ms=repair_ms,
    )


class PlanogramPipeline:
    """Sample, decode, validate and repair planograms.

    Parameters
    ----------
    denoiser : Denoiser
        ``denoiser(sample, timestep, conditions, class_labels) -> eps``.
    codec : PlanogramCodec
        The model's encoding.
    rulebook : Rulebook
        Rules of validation and repair.
    scheduler : {"ddim", "ddpm"}
        Sampler.
    n_steps : int
        Denoising steps.
    eta : float
        DDIM stochasticity (0 deterministic, 1 DDPM-like); ignored by DDPM.
    guidance_scale : float
        Classifier-free guidance weight on the class label; 1.0 runs the conditional model
        only (half the cost).
    n_train_steps, beta_schedule
        The training noise schedule (from the checkpoint).
    guide : callable, optional
        ``guide(x0_estimate, displays) -> x0`` applied to the sampler's clean estimate at every
        step (e.g. :class:`~shelfwise.generative.guidance.ConstraintGuidance`); the step then
        continues with the noise the moved estimate implies. ``None``: no guidance.
    naive : bool
        Also decode every tensor slot by slot (for evaluation).
    repair_time_limit_s : float
        Repair's CP-SAT budget.
    """

    def __init__(
        self,
        denoiser: Denoiser,
        codec: PlanogramCodec,
        rulebook: Rulebook,
        *,
        scheduler: Literal["ddim", "ddpm"] = "ddim",
        n_steps: int = 20,
        eta: float = 1.0,
        guidance_scale: float = 1.0,
        n_train_steps: int = 1000,
        beta_schedule: BetaSchedule = "squaredcos_cap_v2",
        guide: Guide | None = None,
        naive: bool = False,
        repair_time_limit_s: float = 10.0,
    ) -> None:
        if scheduler not in ("ddim", "ddpm"):
            raise InvalidParameterError(f"scheduler must be 'ddim' or 'ddpm'; got {scheduler!r}")
        if isinstance(eta, bool) or not isinstance(eta, int | float) or not 0.0 <= eta <= 1.0:
            raise InvalidParameterError(f"eta must be a number in [0, 1]; got {eta!r}")
        if (
            isinstance(guidance_scale, bool)
            or not isinstance(guidance_scale, int | float)
            or guidance_scale < 0
        ):
            raise InvalidParameterError(
                f"guidance_scale must be a number >= 0; got {guidance_scale!r}"
            )
        self.denoiser = denoiser
        self.codec = codec
        self.rulebook = rulebook
        self.scheduler_name = scheduler
        self.eta = float(eta)
        self.guidance_scale = float(guidance_scale)
        self.naive = naive
        self.guide = guide
        self.repair_time_limit_s = repair_time_limit_s
        self.scheduler: DDIMScheduler | DDPMScheduler = (
            DDIMScheduler(n_train_steps=n_train_steps, beta_schedule=beta_schedule)
            if scheduler == "ddim"
            else DDPMScheduler(n_train_steps=n_train_steps, beta_schedule=beta_schedule)
        )
        self.scheduler.set_timesteps(n_steps)
        self.n_steps = n_steps
        self.catalog: dict[str, Product] = {p.product_id: p for p in codec.catalog}

    # -------------------------------------------------------------- sampling
    def _eps(
        self, x: NDArray[np.float32], t: int, cond: NDArray[np.float32], labels: NDArray[np.int64]
    ) -> NDArray[np.float32]:
        b = x.shape[0]
        if self.guidance_scale == 1.0:
            return self.denoiser(x, np.full(b, t, dtype=np.int64), cond, labels)
        null = np.full(b, self.codec.null_class, dtype=np.int64)
        out = self.denoiser(
            np.concatenate([x, x]),
            np.full(2 * b, t, dtype=np.int64),
            np.concatenate([cond, cond]),
            np.concatenate([labels, null]),
        )
        cond_eps, uncond = out[:b], out[b:]
        return (uncond + self.guidance_scale * (cond_eps - uncond)).astype(np.float32)

    def sample(
        self,
        conditions: NDArray[np.float32],
        class_labels: NDArray[np.int64],
        *,
        rng: np.random.Generator,
        displays: Sequence[Display] | None = None,
    ) -> NDArray[np.float32]:
        """Run the reverse process for a batch; returns tensors clipped to [-1, 1].

        ``displays`` (one per sample) is needed only by a ``guide``.
        """
        if not isinstance(rng, np.random.Generator):
            raise InvalidParameterError(
                f"rng must be a numpy.random.Generator; got {type(rng).__name__}"
            )
        cond = np.ascontiguousarray(conditions, dtype=np.float32)
        labels = np.ascontiguousarray(class_labels, dtype=np.int64)
        if cond.ndim != 4 or cond.shape[1:] != (
            self.codec.n_conditions,
            self.codec.n_shelves,
            self.codec.n_slots,
        ):
            raise InvalidParameterError(
                f"conditions must have shape (B, {self.codec.n_conditions}, "
                f"{self.codec.n_shelves}, {self.codec.n_slots}); got {cond.shape}"
            )
        b = cond.shape[0]
        shape = (b, self.codec.n_channels, self.codec.n_shelves, self.codec.n_slots)
        x = rng.standard_normal(shape).astype(np.float32)
        if self.guide is not None and (displays is None or len(displays) != b):
            raise InvalidParameterError(
                f"displays must give one display per sample ({b}) when a guide is set"
            )
        abar = self.scheduler.alphas_cumprod
        for t in self.scheduler.timesteps:
            eps = self._eps(x, int(t), cond, labels)
            if self.guide is not None and displays is not None:
                a = float(abar[int(t)])
                x0 = np.clip((x - np.sqrt(1.0 - a) * eps) / np.sqrt(a), -1.0, 1.0)
                moved = self.guide(x0.astype(np.float32), displays)
                eps = ((x - np.sqrt(a) * moved) / np.sqrt(1.0 - a)).astype(np.float32)
            if isinstance(self.scheduler, DDIMScheduler):
                x = self.scheduler.step(eps, int(t), x, eta=self.eta, rng=rng)
            else:
                x = self.scheduler.step(eps, int(t), x, rng=rng)
            x = np.asarray(x, dtype=np.float32)
        return np.clip(x, -1.0, 1.0)

    # -------------------------------------------------------------- tasks
    def generate(
        self,
        display: Display,
        cluster: int,
        *,
        n_samples: int = 1,
        rng: np.random.Generator,
    ) -> list[GeneratedPlanogram]:
        """New planograms for a display in the style of a store cluster.

        Parameters
        ----------
        display : Display
            Geometry to fill.
        cluster : int
            The store's cluster (0-based, as in training).
        n_samples : int
            Planograms to draw (one batch).
        rng : numpy.random.Generator
            Source of the noise.
        """
        if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
            raise InvalidParameterError(f"n_samples must be an integer >= 1; got {n_samples!r}")
        cond = self.codec.conditions(display, self.rulebook)
        label = self.codec.class_label(cluster, display.kind)
        return self._run(display, cond, label, n_samples, None, rng)

    def arrange(
        self,
        display: Display,
        cluster: int,
        facings: Mapping[str, int],
        *,
        rng: np.random.Generator,
    ) -> GeneratedPlanogram:
        """Place a given assortment (product -> facings wide) in a store cluster's style.

        Raises
        ------
        InvalidParameterError
            When ``facings`` names a product outside the model's vocabulary, gives facings
            that are not whole numbers >= 0, or no product with facings > 0; or on an unknown
            cluster.
        """
        wanted = _wanted(facings)
        cond = self.codec.conditions(display, self.rulebook, facings=wanted)
        label = self.codec.class_label(cluster, display.kind)
        return self._run(display, cond, label, 1, wanted, rng)[0]

    def arrange_many(
        self,
        displays: Sequence[Display],
        clusters: Sequence[int],
        facings: Sequence[Mapping[str, int]],
        *,
        rng: np.random.Generator,
    ) -> list[GeneratedPlanogram]:
        """:meth:`arrange` for a batch of displays (one sampling batch).

        Raises
        ------
        InvalidParameterError
            When the three sequences differ in length or are empty, or on any entry
            :meth:`arrange` would reject.
        """
        if not len(displays) == len(clusters) == len(facings):
            raise InvalidParameterError(
                f"displays, clusters and facings must have one entry each per display; got "
                f"{len(displays)}, {len(clusters)} and {len(facings)}"
            )
        if not displays:
            raise InvalidParameterError("displays must hold at least one display; got none")
        wanted = [_wanted(f, f"facings[{k}]") for k, f in enumerate(facings)]
        conds = np.stack(
            [
                self.codec.conditions(d, self.rulebook, facings=f)
                for d, f in zip(displays, wanted, strict=True)
            ]
        )
        labels = np.array(
            [self.codec.class_label(c, d.kind) for d, c in zip(displays, clusters, strict=True)],
            dtype=np.int64,
        )
        t0 = time.perf_counter()
        tensors = self.sample(conds, labels, rng=rng, displays=list(displays))
        per = (time.perf_counter() - t0) * 1000.0 / len(displays)
        return [
            self._decode(d, tensors[k], f, per)
            for k, (d, f) in enumerate(zip(displays, wanted, strict=True))
        ]

    def _run(
        self,
        display: Display,
        cond: NDArray[np.float32],
        label: int,
        n: int,
        wanted: Mapping[str, int] | None,
        rng: np.random.Generator,
    ) -> list[GeneratedPlanogram]:
        t0 = time.perf_counter()
        tensors = self.sample(
            np.repeat(cond[None], n, axis=0),
            np.full(n, label, dtype=np.int64),
            rng=rng,
            displays=[display] * n,
        )
        per = (time.perf_counter() - t0) * 1000.0 / n
        return [self._decode(display, tensors[k], wanted, per) for k in range(n)]

    def _decode(
        self,
        display: Display,
        tensor: NDArray[np.float32],
        wanted: Mapping[str, int] | None,
        sample_ms: float,
    ) -> GeneratedPlanogram:
        t0 = time.perf_counter()
        unplaced: Mapping[str, int] = {}
        if wanted is None:
            raw = decode_structured(tensor, display, self.codec, self.rulebook)
        else:
            arranged = decode_arrange(tensor, display, self.codec, wanted, self.rulebook)
            raw, unplaced = arranged.planogram, arranged.unplaced
        decode_ms = (time.perf_counter() - t0) * 1000.0
        naive = decode_naive(tensor, display, self.codec) if self.naive else None
        return finish(
            raw,
            display,
            self.catalog,
            self.rulebook,
            reference=wanted,
            tensor=tensor,
            sample_ms=sample_ms,
            decode_ms=decode_ms,
            naive=naive,
            repair_time_limit_s=self.repair_time_limit_s,
            unplaced=unplaced,
        )
