"""Training the planogram diffusion model: DDPM with constraint and revenue losses.

``L = L_diffusion + lambda_constraint * L_constraint + lambda_revenue * L_revenue`` (the paper's
Eq. 6). ``L_diffusion`` is the usual noise-prediction MSE (Ho et al., 2020); the two other terms
(:mod:`shelfwise.generative.losses`) act on the model's estimate of the clean planogram and are
weighted by ``abar_t``, so they count where that estimate is meaningful (little noise).
Classifier-free guidance: the class label (store cluster x display kind) is replaced by the null
label with probability ``class_dropout``; the subcategory mix is left out (zeros,
``mix_given = 0``) with probability ``mix_dropout``, so one model serves both the *generate*
task (no mix) and the *arrange* task (the given assortment's mix).

A checkpoint is a folder: ``config.json`` (format version, shelfwise version, catalog, grid,
rulebook, network and scheduler configs, training options, iterations done) and
``weights.pt`` (the network's weights in float16, which keeps the default model under 3 MB);
``training_state.pt`` (optimizer, random states, loss history; float32 weights) is written too
unless ``for_inference=True``, and lets :meth:`PlanogramDiffusion.fit` resume.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import shelfwise
from shelfwise.exceptions import ArtifactMismatchError, InvalidParameterError, NotFittedError
from shelfwise.generative.checkpoint import FORMAT_VERSION, WEIGHTS_FILE, read_config
from shelfwise.generative.data import PlanogramCodec, TrainingSet
from shelfwise.generative.losses import (
    PENALTY_NAMES,
    LossContext,
    expected_revenue,
    geometry_tensors,
    penalties,
    soft_assignment,
)
from shelfwise.generative.models import PlanogramUNet, UNetConfig
from shelfwise.generative.schedulers import BetaSchedule, DDPMScheduler
from shelfwise.planogram.rules import Rulebook, default_rulebook

ProgressCallback = Callable[[int, int, Mapping[str, float]], None]
"""Called as ``callback(iteration, n_iterations, losses)`` after every iteration."""


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}; got {value!r}")


def _check_float(name: str, value: object, low: float, high: float = math.inf) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidParameterError(f"{name} must be a number in [{low}, {high}]; got {value!r}")


class PlanogramDiffusion:
    """A DDPM over planograms of a chain's displays, conditioned on geometry and store style.

    Parameters
    ----------
    block_out_channels : tuple of int
        Widths of the U-Net's three levels (the default model has 1.17M weights).
    n_train_steps : int
        Diffusion steps T.
    beta_schedule : {"squaredcos_cap_v2", "linear"}
        Noise schedule.
    lambda_constraint, lambda_revenue : float
        Weights of L_constraint and L_revenue (0 switches a term off).
    n_iterations : int
        Optimizer steps in total (a resumed fit continues up to this number).
    batch_size : int
        Planograms per step.
    learning_rate : float
        AdamW learning rate (cosine decay to a tenth, after 100 warm-up steps).
    class_dropout, mix_dropout : float
        Probabilities of dropping the class label and the mix (classifier-free guidance).
    random_state : int
        Seed of weight initialisation, batches, noise and dropout.

    Attributes
    ----------
    model_ : PlanogramUNet
        The trained network.
    codec_ : PlanogramCodec
        The encoding the model was trained with.
    rulebook_ : Rulebook
        The rules of the constraint loss.
    loss_history_ : pandas.DataFrame
        One row per iteration: ``iteration``, ``loss``, ``diffusion``, ``constraint``,
        ``revenue``.
    n_iterations_done_ : int
        Optimizer steps taken so far.
    training_seconds_ : float
        Wall time of training so far (resumed runs add up).
    held_out_stores_ : tuple of str
        Stores kept out of training (set by the caller, e.g.
        :func:`shelfwise.pipeline.generative.train_generative`; saved with the checkpoint so
        that export and evaluation use the same held-out stores).
    revenue_scale_ : float
        Mean expected revenue per day of the training planograms (L_revenue's divisor; 1.0
        without revenue data).
    """

    held_out_stores_: tuple[str, ...]

    def __init__(
        self,
        *,
        block_out_channels: tuple[int, int, int] = (32, 64, 64),
        n_train_steps: int = 1000,
        beta_schedule: BetaSchedule = "squaredcos_cap_v2",
        lambda_constraint: float = 0.1,
        lambda_revenue: float = 0.02,
        n_iterations: int = 4000,
        batch_size: int = 64,
        learning_rate: float = 1e-3,
        class_dropout: float = 0.1,
        mix_dropout: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.block_out_channels = block_out_channels
        self.n_train_steps = n_train_steps
        self.beta_schedule = beta_schedule
        self.lambda_constraint = lambda_constraint
        self.lambda_revenue = lambda_revenue
        self.n_iterations = n_iterations
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.class_dropout = class_dropout
        self.mix_dropout = mix_dropout
        self.random_state = random_state

    # ----------------------------------------------------------------- options
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, as given."""
        return {
            "block_out_channels": list(self.block_out_channels),
            "n_train_steps": self.n_train_steps,
            "beta_schedule": self.beta_schedule,
            "lambda_constraint": self.lambda_constraint,
            "lambda_revenue": self.lambda_revenue,
            "n_iterations": self.n_iterations,
            "batch_size": self.batch_size,
            "learning_rate": self.learning_rate,
            "class_dropout": self.class_dropout,
            "mix_dropout": self.mix_dropout,
            "random_state": self.random_state,
        }

    def _validate_params(self) -> None:
        _check_int("n_train_steps", self.n_train_steps, 2)
        _check_int("n_iterations", self.n_iterations, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("random_state", self.random_state, 0)
        _check_float("lambda_constraint", self.lambda_constraint, 0.0)
        _check_float("lambda_revenue", self.lambda_revenue, 0.0)
        _check_float("learning_rate", self.learning_rate, 1e-8, 1.0)
        _check_float("class_dropout", self.class_dropout, 0.0, 1.0)
        _check_float("mix_dropout", self.mix_dropout, 0.0, 1.0)

    def scheduler(self) -> DDPMScheduler:
        """The training noise schedule."""
        return DDPMScheduler(n_train_steps=self.n_train_steps, beta_schedule=self.beta_schedule)

    # --------------------------------------------------------------------- fit
    def fit(
        self,
        data: TrainingSet,
        codec: PlanogramCodec,
        rulebook: Rulebook | None = None,
        *,
        callback: ProgressCallback | None = None,
        resume_from: str | Path | None = None,
        checkpoint_dir: str | Path | None = None,
        checkpoint_every: int = 500,
    ) -> PlanogramDiffusion:
        """Train (or resume training) on encoded historical planograms.

        Parameters
        ----------
        data : TrainingSet
            From :func:`~shelfwise.generative.data.build_training_set` with ``codec``.
        codec : PlanogramCodec
            The encoding of ``data``.
        rulebook : Rulebook, optional
            Rules of the constraint loss; the default rulebook when ``None``.
        callback : callable, optional
            ``callback(iteration, n_iterations, losses)`` after each step (progress bars).
        resume_from : path, optional
            A checkpoint written by :meth:`save` with its training state; training continues
            from its iteration up to ``n_iterations`` with the same options.
        checkpoint_dir : path, optional
            Where to save a resumable checkpoint every ``checkpoint_every`` iterations.
        checkpoint_every : int
            Iterations between checkpoints.

        Returns
        -------
        PlanogramDiffusion
            ``self``, fitted.
        """
        self._validate_params()
        _check_int("checkpoint_every", checkpoint_every, 1)
        if data.x0.shape[1:] != (codec.n_channels, codec.n_shelves, codec.n_slots):
            raise InvalidParameterError(
                f"data.x0 must have shape (N, {codec.n_channels}, {codec.n_shelves}, "
                f"{codec.n_slots}) for this codec; got {data.x0.shape}"
            )
        rulebook = rulebook if rulebook is not None else default_rulebook()
        config = UNetConfig(
            n_channels=codec.n_channels,
            n_conditions=codec.n_conditions,
            n_classes=codec.n_classes,
            n_shelves=codec.n_shelves,
            n_slots=codec.n_slots,
            block_out_channels=tuple(self.block_out_channels),  # type: ignore[arg-type]
        )
        with torch.random.fork_rng():  # seed the initial weights without touching global state
            torch.manual_seed(self.random_state)
            model = PlanogramUNet(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=self.learning_rate, weight_decay=0.0)
        rng = np.random.default_rng(self.random_state)
        gen = torch.Generator().manual_seed(self.random_state)
        start, history = 0, []
        state: dict[str, Any] = {}
        if resume_from is not None:
            state = _load_training_state(Path(resume_from), self, codec)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            rng.bit_generator.state = state["numpy_rng"]
            gen.set_state(state["torch_rng"])
            start, history = int(state["iteration"]), list(state["history"])
        self.model_, self.codec_, self.rulebook_ = model, codec, rulebook
        abar = torch.from_numpy(self.scheduler().alphas_cumprod.astype(np.float32))
        ctx = LossContext.of(codec, rulebook)
        use_revenue = self.lambda_revenue > 0 and data.revenue is not None
        self.revenue_scale_ = 1.0
        if data.revenue is not None:
            all_geo = geometry_tensors(data.geometry, slice(None))
            with torch.no_grad():
                rev = expected_revenue(
                    torch.from_numpy(data.x0), all_geo, torch.from_numpy(data.revenue), ctx
                )
            self.revenue_scale_ = max(float(rev.mean()), 1e-6)
        n = len(data)
        n_mix = len(codec.subcategories) + 1
        started = time.perf_counter()
        previous_seconds = float(state.get("seconds", 0.0)) if resume_from is not None else 0.0
        self.training_seconds_ = previous_seconds
        model.train()
        for it in range(start, self.n_iterations):
            lr = self._lr(it)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = rng.integers(0, n, size=self.batch_size)
            x0 = torch.from_numpy(data.x0[idx])
            cond = torch.from_numpy(data.conditions[idx].copy())
            drop_mix = torch.from_numpy(rng.random(self.batch_size) < self.mix_dropout)
            cond[drop_mix, -n_mix:] = 0.0
            labels = torch.from_numpy(data.class_labels[idx].copy())
            drop_class = torch.from_numpy(rng.random(self.batch_size) < self.class_dropout)
            labels[drop_class] = codec.null_class
            t = torch.randint(0, self.n_train_steps, (self.batch_size,), generator=gen)
            noise = torch.randn(x0.shape, generator=gen)
            ab = abar[t][:, None, None, None]
            xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
            eps = model(xt, t, cond, labels)
            diffusion = torch.mean((eps - noise) ** 2)
            losses = {"diffusion": float(diffusion.detach())}
            loss = diffusion
            if self.lambda_constraint > 0 or use_revenue:
                x0_hat = ((xt - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1.0, 1.0)
                geo = geometry_tensors(data.geometry, idx)
                w = ab.flatten()
                assign = soft_assignment(x0_hat, ctx)
                if self.lambda_constraint > 0:
                    pen = penalties(x0_hat, geo, ctx, assignment=assign)
                    constraint = torch.mean(w * sum(pen[k] for k in PENALTY_NAMES))
                    loss = loss + self.lambda_constraint * constraint
                    losses["constraint"] = float(constraint.detach())
                if use_revenue and data.revenue is not None:
                    r = torch.from_numpy(data.revenue[idx])
                    revenue = torch.mean(
                        w * expected_revenue(x0_hat, geo, r, ctx, assignment=assign)
                    )
                    loss = loss - self.lambda_revenue * revenue / self.revenue_scale_
                    losses["revenue"] = float(revenue.detach()) / self.revenue_scale_
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            losses["loss"] = float(loss.detach())
            history.append({"iteration": it + 1, **losses})
            self.n_iterations_done_ = it + 1
            self.training_seconds_ = previous_seconds + time.perf_counter() - started
            if callback is not None:
                callback(it + 1, self.n_iterations, losses)
            if checkpoint_dir is not None and (it + 1) % checkpoint_every == 0:
                self.loss_history_ = pd.DataFrame(history)
                self.save(checkpoint_dir, _state=(optimizer, rng, gen, history))
        model.eval()
        self.n_iterations_done_ = max(start, self.n_iterations)
        self.loss_history_ = pd.DataFrame(
            history, columns=["iteration", "loss", "diffusion", "constraint", "revenue"]
        )
        self._state = (optimizer, rng, gen, history)
        return self

    def _lr(self, it: int) -> float:
        warm = 100
        if it < warm:
            return self.learning_rate * (it + 1) / warm
        frac = (it - warm) / max(1, self.n_iterations - warm)
        return self.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))

    # ------------------------------------------------------------- save/load
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("PlanogramDiffusion is not fitted; call fit() or load() first")

    def save(
        self,
        path: str | Path,
        *,
        for_inference: bool = False,
        _state: tuple[Any, ...] | None = None,
    ) -> Path:
        """Write a checkpoint folder (see the module docstring); returns its path.

        ``for_inference=True`` leaves out the training state (a small file to ship).
        """
        self._check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        codec = self.codec_
        config = {
            "format_version": FORMAT_VERSION,
            "shelfwise_version": shelfwise.__version__,
            "params": self.get_params(),
            "unet": self.model_.config.to_dict(),
            "scheduler": self.scheduler().to_dict(),
            "codec": {
                "n_shelves": codec.n_shelves,
                "n_slots": codec.n_slots,
                "n_clusters": codec.n_clusters,
                "cluster_names": list(codec.cluster_names),
                "catalog": [asdict(p) for p in codec.catalog],
            },
            "rulebook": self.rulebook_.model_dump(mode="json"),
            "n_iterations_done": self.n_iterations_done_,
            "revenue_scale": self.revenue_scale_,
            "training_seconds": round(getattr(self, "training_seconds_", 0.0), 1),
            "held_out_stores": list(getattr(self, "held_out_stores_", ())),
        }
        tmp = out / "config.json.tmp"
        tmp.write_text(json.dumps(config, indent=1))
        half = {k: v.detach().to(torch.float16) for k, v in self.model_.state_dict().items()}
        torch.save(half, out / WEIGHTS_FILE)
        tmp.replace(out / "config.json")
        state = _state if _state is not None else getattr(self, "_state", None)
        if not for_inference and state is not None:
            optimizer, rng, gen, history = state
            torch.save(
                {
                    "model": self.model_.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "numpy_rng": rng.bit_generator.state,
                    "torch_rng": gen.get_state(),
                    "iteration": self.n_iterations_done_,
                    "history": history,
                    "params": self.get_params(),
                    "seconds": getattr(self, "training_seconds_", 0.0),
                },
                out / "training_state.pt",
            )
        return out

    @classmethod
    def load(cls, path: str | Path) -> PlanogramDiffusion:
        """Load a checkpoint folder written by :meth:`save` (weights in float32).

        Raises
        ------
        ArtifactMismatchError
            If the folder lacks its files or was written by another format version.
        """
        folder = Path(path)
        weights = folder / WEIGHTS_FILE
        cfg = read_config(folder)
        if not weights.is_file():
            raise ArtifactMismatchError(f"checkpoint folder {folder} must hold {WEIGHTS_FILE}")
        params = dict(cfg.params)
        params["block_out_channels"] = tuple(params["block_out_channels"])
        self = cls(**params)
        self.codec_ = cfg.codec
        self.rulebook_ = cfg.rulebook
        config = cfg.raw
        self.model_ = PlanogramUNet(UNetConfig.from_dict(config["unet"]))
        state = torch.load(weights, map_location="cpu", weights_only=True)
        self.model_.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
        self.model_.eval()
        self.n_iterations_done_ = int(config["n_iterations_done"])
        self.revenue_scale_ = float(config["revenue_scale"])
        self.training_seconds_ = float(config.get("training_seconds", 0.0))
        self.held_out_stores_ = tuple(str(x) for x in config.get("held_out_stores", ()))
        self.loss_history_ = pd.DataFrame(
            columns=["iteration", "loss", "diffusion", "constraint", "revenue"]
        )
        return self


def _load_training_state(
    folder: Path, est: PlanogramDiffusion, codec: PlanogramCodec
) -> dict[str, Any]:
    path = folder / "training_state.pt"
    if not path.is_file():
        raise ArtifactMismatchError(
            f"resume_from must be a checkpoint folder with training_state.pt; {folder} has none"
        )
    # The weights only mean something for the encoding they were trained with: another catalog
    # (or order), grid or set of clusters must not be resumed, even when the sizes agree.
    saved_codec = read_config(folder).codec
    codec_differs = [
        name
        for name, a, b in (
            ("catalog", saved_codec.catalog, codec.catalog),
            ("n_shelves", saved_codec.n_shelves, codec.n_shelves),
            ("n_slots", saved_codec.n_slots, codec.n_slots),
            ("cluster_names", saved_codec.cluster_names, codec.cluster_names),
        )
        if a != b
    ]
    if codec_differs:
        raise ArtifactMismatchError(
            f"resume_from {folder} was trained with another codec ({', '.join(codec_differs)}); "
            f"resume with the codec of the checkpoint"
        )
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    saved = dict(state["params"])
    current = est.get_params()
    differs = sorted(k for k in current if k != "n_iterations" and saved.get(k) != current[k])
    if differs:
        raise ArtifactMismatchError(
            f"resume_from {folder} was trained with other options ({', '.join(differs)}); "
            f"resume with the same options (only n_iterations may change)"
        )
    return state
