"""``shelfwise generate``: train, sample, arrange, export and evaluate the diffusion model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich import box
from rich.table import Table

from shelfwise.cli._common import DatabaseOption, console, err_console, progress_bar, run_or_exit
from shelfwise.domain import Display
from shelfwise.exceptions import InvalidParameterError, NotFoundError
from shelfwise.generative.pipelines.planogram import GeneratedPlanogram
from shelfwise.generative.registry import ModelRegistry
from shelfwise.pipeline.generative import (
    SHIPPED_MODEL,
    GenerativeData,
    LoadedModel,
    evaluate_generative,
    export_generative,
    load_generative_data,
    open_pipeline,
    sampling_latency,
    train_generative,
)
from shelfwise.planogram.io import write_planograms
from shelfwise.planogram.render import render_to_file
from shelfwise.planogram.sources import read_facings

app = typer.Typer(
    help="Diffusion model of planograms: learn stores' style from historical planograms, "
    "generate or arrange valid planograms, export to ONNX/INT8, evaluate.",
    no_args_is_help=True,
)

SyntheticOpt = Annotated[
    int | None,
    typer.Option(
        "--synthetic-seed",
        help="Use the bundled synthetic chain of this seed in memory (true segments as "
        "clusters, true demand as revenue) instead of the database.",
    ),
]
PsaOpt = Annotated[
    Path | None,
    typer.Option("--psa", help="A folder of .psa files (one planogram each) to learn from."),
]
ClustersOpt = Annotated[
    Path | None,
    typer.Option("--clusters", "-c", help="CSV store_id,cluster (default: one cluster)."),
]
TruthOpt = Annotated[
    int | None,
    typer.Option(
        "--truth-seed", help="The database holds the default synthetic chain of this seed."
    ),
]
ModelOpt = Annotated[
    Path,
    typer.Option(
        "--model",
        "-m",
        help="A model registry folder (its active version) or a checkpoint folder.",
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        help="auto (INT8 if its accuracy gate passed, else fp32 ONNX, else torch), int8, fp32 "
        "or torch."
    ),
]
StepsOpt = Annotated[int, typer.Option("--steps", help="Denoising steps.")]
EtaOpt = Annotated[float, typer.Option(help="DDIM eta: 0 deterministic, 1 stochastic.")]
RegistryOpt = Annotated[
    Path, typer.Option("--registry", help="Model registry folder (versions, rollback).")
]
ClusterOpt = Annotated[
    str | None, typer.Option(help="Store cluster whose style to use (default: the store's).")
]
SeedOpt = Annotated[int, typer.Option(help="Random seed.")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Output folder.")]
DEFAULT_REGISTRY = Path("models/generative")


def _data(
    database_url: str | None,
    clusters: Path | None,
    truth_seed: int | None,
    synthetic_seed: int | None,
    psa: Path | None = None,
) -> GenerativeData:
    data = load_generative_data(
        database_url=database_url,
        clusters=clusters,
        truth_seed=truth_seed,
        synthetic_seed=synthetic_seed,
        psa=psa,
    )
    for note in data.notes:
        err_console.print(f"[bold yellow]Note:[/] {note}", highlight=False)
    return data


@app.command("train")
def train_cmd(
    database_url: DatabaseOption = None,
    clusters: ClustersOpt = None,
    truth_seed: TruthOpt = None,
    synthetic_seed: SyntheticOpt = None,
    psa: PsaOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint folder to write.")] = Path(
        "generative-checkpoint"
    ),
    iterations: Annotated[int, typer.Option(help="Optimizer steps in total.")] = 3000,
    lambda_constraint: Annotated[float, typer.Option(help="Weight of L_constraint.")] = 0.1,
    lambda_revenue: Annotated[float, typer.Option(help="Weight of L_revenue.")] = 0.02,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    resume: Annotated[
        bool, typer.Option(help="Continue from the training state saved in --out.")
    ] = False,
    for_inference: Annotated[
        bool, typer.Option(help="Write weights and config only (a small file to ship).")
    ] = False,
) -> None:
    """Train the diffusion model on the training stores' historical planograms."""

    def work() -> None:
        data = _data(database_url, clusters, truth_seed, synthetic_seed, psa)
        console.print(
            f"Training on {len(data.training_planograms())} planograms of "
            f"{len(data.train_stores)} stores; {len(data.eval_stores)} stores held out."
        )
        with progress_bar() as bar:
            task = bar.add_task("training", total=iterations)

            def step(i: int, n: int, losses: object) -> None:
                bar.update(task, completed=i)

            est = train_generative(
                data,
                n_iterations=iterations,
                lambda_constraint=lambda_constraint,
                lambda_revenue=lambda_revenue,
                random_state=seed,
                callback=step,
                resume_from=out if resume else None,
                checkpoint_dir=None if for_inference else out,
            )
        est.save(out, for_inference=for_inference)
        tail = est.loss_history_.tail(100).mean(numeric_only=True)
        console.print(
            f"Saved {out} after {est.n_iterations_done_} iterations; last-100 mean losses: "
            + ", ".join(f"{k} {tail[k]:.4f}" for k in tail.index if k != "iteration")
        )

    run_or_exit(work, stores=False)


@app.command("export")
def export_cmd(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint folder from `generate train`.")],
    registry: RegistryOpt = DEFAULT_REGISTRY,
    database_url: DatabaseOption = None,
    clusters: ClustersOpt = None,
    truth_seed: TruthOpt = None,
    synthetic_seed: SyntheticOpt = None,
    psa: PsaOpt = None,
    gate_displays: Annotated[int, typer.Option(help="Held-out displays of the gate.")] = 24,
    valid_tolerance: Annotated[float, typer.Option(help="Gate: validity drop allowed.")] = 0.05,
    revenue_tolerance: Annotated[
        float, typer.Option(help="Gate: relative revenue difference allowed.")
    ] = 0.03,
    activate: Annotated[bool, typer.Option(help="Make the new version the active one.")] = True,
) -> None:
    """Export to ONNX, quantise to static INT8, run the accuracy gate, publish a version."""

    def work() -> None:
        data = _data(database_url, clusters, truth_seed, synthetic_seed, psa)
        with console.status("exporting, calibrating and gating"):
            run = export_generative(
                checkpoint,
                data,
                registry,
                n_gate=gate_displays,
                valid_tolerance=valid_tolerance,
                revenue_tolerance=revenue_tolerance,
                activate=activate,
            )
        table = Table(title="INT8 accuracy gate", box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("metric")
        table.add_column("fp32", justify="right")
        table.add_column("int8", justify="right")
        for key in run.gate.fp32:
            table.add_row(key, f"{run.gate.fp32[key]:.3f}", f"{run.gate.int8[key]:.3f}")
        console.print(table)
        verdict = "accepted" if run.gate.accepted else "REJECTED (fp32 is served)"
        console.print(f"INT8 {verdict}: {run.gate.reason}")
        console.print(
            f"Published version {run.version.version} in {registry} (ONNX fp32 "
            f"{run.onnx_bytes / 1e6:.1f} MB, INT8 {run.int8_bytes / 1e6:.1f} MB) in "
            f"{run.seconds:.0f} s."
        )

    run_or_exit(work, stores=False)


def _display_and_cluster(
    display_id: str,
    cluster: str | None,
    clusters: Path | None,
    database_url: str | None,
    synthetic_seed: int | None,
    psa: Path | None,
    model: LoadedModel,
) -> tuple[Display, int, str]:
    data = load_generative_data(
        database_url=database_url,
        clusters=clusters,
        synthetic_seed=synthetic_seed,
        psa=psa,
    )
    if display_id not in data.displays:
        raise InvalidParameterError(f"--display {display_id!r} is not a known display")
    display = data.displays[display_id]
    codec = model.pipeline.codec
    if cluster is None:
        label = data.cluster_names[data.clusters[display.store_id]]
        if label not in codec.cluster_names:
            label = codec.cluster_names[0]
            err_console.print(
                f"[bold yellow]Note:[/] store {display.store_id}'s cluster is not one of the "
                f"model's; using cluster {label!r}",
                highlight=False,
            )
    else:
        label = cluster
    return display, codec.cluster_index(label), label


def _model_path(model: Path) -> Path:
    """The default registry, or the shipped checkpoint when there is none yet."""
    if model == DEFAULT_REGISTRY and not model.exists():
        err_console.print(
            f"[bold yellow]Note:[/] no model registry at {model} yet (shelfwise generate "
            f"export publishes one); using the shipped checkpoint {SHIPPED_MODEL}",
            highlight=False,
        )
        return SHIPPED_MODEL
    return model


def _open_for(
    model: Path,
    precision: str,
    steps: int,
    eta: float,
    display_id: str,
    cluster: str | None,
    clusters: Path | None,
    database_url: str | None,
    synthetic_seed: int | None,
    psa: Path | None,
) -> tuple[LoadedModel, Display, int]:
    loaded = open_pipeline(_model_path(model), precision=precision, n_steps=steps, eta=eta)  # type: ignore[arg-type]
    if loaded.note:
        err_console.print(f"[bold yellow]Note:[/] {loaded.note}", highlight=False)
    display, idx, _ = _display_and_cluster(
        display_id, cluster, clusters, database_url, synthetic_seed, psa, loaded
    )
    return loaded, display, idx


def _report(
    outs: list[GeneratedPlanogram], display: Display, model: LoadedModel, out: Path, stem: str
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    catalog = {p.product_id: p for p in model.pipeline.codec.catalog}
    table = Table(title=f"{stem} for {display.display_id}", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in (
        "#",
        "products",
        "facings",
        "raw valid",
        "raw violations",
        "facings changed",
        "ms",
        "picture",
    ):
        table.add_column(col, justify="right")
    plans = []
    for k, g in enumerate(outs, start=1):
        plan = replace(g.planogram, version=k)
        plans.append(plan)
        png = render_to_file(
            plan,
            display,
            catalog,
            out / f"{stem}-{display.display_id}-{k}.png",
            title=f"{display.display_id} — {stem} {k} ({model.precision})",
        )
        broken = sorted({v.rule_type for v in g.raw_report.hard})
        table.add_row(
            str(k),
            str(len(plan.facings())),
            str(sum(plan.facings().values())),
            "yes" if g.raw_valid else "no",
            ", ".join(broken) or "-",
            str(g.facings_changed),
            f"{g.total_ms:.0f}",
            str(png),
        )
    write_planograms(plans, out / f"{stem}-{display.display_id}.csv")
    console.print(table)
    for k, g in enumerate(outs, start=1):
        if g.unplaced:
            lost = ", ".join(f"{p} x{q}" for p, q in sorted(g.unplaced.items()))
            err_console.print(
                f"[bold yellow]Note:[/] #{k}: {sum(g.unplaced.values())} requested facing(s) "
                f"found no room: {lost}",
                highlight=False,
            )
    console.print(f"Every planogram above passed the validator. Planograms: {out}")


@app.command("sample")
def sample_cmd(
    display_id: Annotated[str, typer.Option("--display", help="Display to fill.")],
    model: ModelOpt = DEFAULT_REGISTRY,
    n: Annotated[int, typer.Option("--n", help="Planograms to draw.")] = 4,
    cluster: ClusterOpt = None,
    database_url: DatabaseOption = None,
    clusters: ClustersOpt = None,
    synthetic_seed: SyntheticOpt = None,
    psa: PsaOpt = None,
    precision: PrecisionOpt = "auto",
    steps: StepsOpt = 20,
    eta: EtaOpt = 1.0,
    seed: SeedOpt = 0,
    out: OutOpt = Path("generated"),
) -> None:
    """Generate new planograms for a display in its store cluster's style (always valid)."""

    def work() -> None:
        loaded, display, idx = _open_for(
            model,
            precision,
            steps,
            eta,
            display_id,
            cluster,
            clusters,
            database_url,
            synthetic_seed,
            psa,
        )
        outs = loaded.pipeline.generate(display, idx, n_samples=n, rng=np.random.default_rng(seed))
        _report(outs, display, loaded, out, "generated")

    run_or_exit(work, stores=False)


@app.command("arrange")
def arrange_cmd(
    display_id: Annotated[str, typer.Option("--display", help="Display to arrange.")],
    facings: Annotated[
        Path | None,
        typer.Option(help="CSV product_id,facings to place (default: the newest recommendation)."),
    ] = None,
    model: ModelOpt = DEFAULT_REGISTRY,
    cluster: ClusterOpt = None,
    database_url: DatabaseOption = None,
    clusters: ClustersOpt = None,
    synthetic_seed: SyntheticOpt = None,
    psa: PsaOpt = None,
    precision: PrecisionOpt = "auto",
    steps: StepsOpt = 20,
    eta: EtaOpt = 1.0,
    seed: SeedOpt = 0,
    out: OutOpt = Path("generated"),
) -> None:
    """Place a given assortment on a display in its store cluster's style (always valid)."""

    def work() -> None:
        loaded, display, idx = _open_for(
            model,
            precision,
            steps,
            eta,
            display_id,
            cluster,
            clusters,
            database_url,
            synthetic_seed,
            psa,
        )
        catalog = {p.product_id: p for p in loaded.pipeline.codec.catalog}
        if facings is not None:
            wanted = read_facings(facings, catalog=catalog)
        else:
            if synthetic_seed is not None:
                raise InvalidParameterError(
                    "give --facings with --synthetic-seed (recommendations live in the database)"
                )
            from shelfwise.storage import Repository

            frame = Repository.from_url(database_url, create=False).recommendations_frame()
            rows = frame[(frame["display_id"] == display_id) & (frame["facings"] > 0)]
            if rows.empty:
                raise InvalidParameterError(
                    f"the newest recommendation run has no items for display {display_id!r}; "
                    "give --facings"
                )
            wanted = {
                str(p): int(q) for p, q in zip(rows["product_id"], rows["facings"], strict=True)
            }
        result = loaded.pipeline.arrange(display, idx, wanted, rng=np.random.default_rng(seed))
        _report([result], display, loaded, out, "arranged")

    run_or_exit(work, stores=False)


@app.command("evaluate")
def evaluate_cmd(
    model: ModelOpt = DEFAULT_REGISTRY,
    database_url: DatabaseOption = None,
    clusters: ClustersOpt = None,
    truth_seed: TruthOpt = None,
    synthetic_seed: SyntheticOpt = None,
    psa: PsaOpt = None,
    displays: Annotated[int, typer.Option(help="Held-out displays.")] = 24,
    samples: Annotated[int, typer.Option(help="Generated planograms per display.")] = 2,
    precision: PrecisionOpt = "auto",
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the table (JSON).")] = (
        Path("generative-evaluation.json")
    ),
) -> None:
    """Baselines vs the model on held-out stores: validity, repair, revenue, style, latency."""

    def work() -> None:
        data = _data(database_url, clusters, truth_seed, synthetic_seed, psa)
        loaded = open_pipeline(_model_path(model), precision=precision, naive=True)  # type: ignore[arg-type]
        data = data.matching(Path(loaded.source))
        name = f"diffusion-{loaded.precision}"
        with console.status("evaluating") as status:
            results = evaluate_generative(
                data,
                {name: loaded.pipeline},
                n_cases=displays,
                n_samples=samples,
                progress=lambda s: status.update(f"evaluating {s}"),
            )
            case = data.cases(limit=1)[0]
            lat = sampling_latency(name, loaded.pipeline, case.display, case.cluster, n=30)
        table = Table(title="Generative planograms on held-out stores", box=box.SIMPLE_HEAD)
        cols = (
            "task",
            "method",
            "raw valid",
            "naive valid",
            "valid after repair",
            "facings changed",
            "revenue/day",
            "style layout",
            "diversity",
            "p50 ms",
            "p95 ms",
        )
        for col in cols:
            table.add_column(col, justify="right")
        for r in results:
            table.add_row(
                r.task,
                r.method,
                f"{r.raw_valid:.3f}",
                "-" if r.naive_raw_valid is None else f"{r.naive_raw_valid:.3f}",
                f"{r.valid_after_repair:.3f}",
                f"{r.facings_changed:.2f}",
                f"{r.revenue_per_day:.1f}",
                f"{r.style_layout:.3f}",
                f"{r.diversity:.3f}",
                f"{r.p50_ms:.0f}",
                f"{r.p95_ms:.0f}",
            )
        console.print(table)
        console.print(
            f"Sampling one planogram ({loaded.pipeline.n_steps} steps, {loaded.precision}): "
            f"p50 {lat.p50_ms:.1f} ms, p95 {lat.p95_ms:.1f} ms."
        )
        payload = {
            "methods": {f"{r.task}/{r.method}": r.to_dict() for r in results},
            "sampling_latency": {"p50_ms": lat.p50_ms, "p95_ms": lat.p95_ms, "precision": name},
        }
        out.write_text(json.dumps(payload, indent=2) + "\n")
        console.print(f"Table written to {out}")

    run_or_exit(work, stores=False)


@app.command("versions")
def versions_cmd(registry: RegistryOpt = DEFAULT_REGISTRY) -> None:
    """List the registry's model versions (the active one is marked)."""

    def work() -> None:
        reg = ModelRegistry(registry)
        versions = reg.versions()
        if not versions:
            raise InvalidParameterError(f"registry {registry} holds no versions yet")
        try:
            active: int | None = reg.current().version
        except NotFoundError:  # versions published without activating any
            active = None
        table = Table(title=f"Model versions in {registry}", box=box.SIMPLE_HEAD)
        for col in ("version", "active", "created (UTC)", "iterations", "INT8"):
            table.add_column(col)
        for v in versions:
            table.add_row(
                str(v.version),
                "*" if v.version == active else "",
                v.created_at.strftime("%Y-%m-%d %H:%M"),
                str(v.metadata.get("n_iterations_done", "?")),
                ("accepted" if v.int8_accepted else "rejected") + f": {v.int8_reason}",
            )
        console.print(table)

    run_or_exit(work, stores=False)


@app.command("activate")
def activate_cmd(
    version: Annotated[int, typer.Argument(help="Version number to make active.")],
    registry: RegistryOpt = DEFAULT_REGISTRY,
) -> None:
    """Make a version the active one (its files' checksums are verified first)."""

    def work() -> None:
        v = ModelRegistry(registry).activate(version)
        console.print(f"Active version is now {v.version} ({v.path}).")

    run_or_exit(work, stores=False)


@app.command("rollback")
def rollback_cmd(registry: RegistryOpt = DEFAULT_REGISTRY) -> None:
    """Re-activate the version that was active before the current one."""

    def work() -> None:
        v = ModelRegistry(registry).rollback()
        console.print(f"Active version is now {v.version} ({v.path}).")

    run_or_exit(work, stores=False)
