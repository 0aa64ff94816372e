"""``shelfwise demo``: run the main job end to end on the bundled synthetic chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shelfwise.cli._common import (
    console,
    err_console,
    print_ingest_report,
    progress_bar,
    run_or_exit,
)
from shelfwise.cli.evaluate import print_evaluation, print_frame
from shelfwise.cli.fit import _print_diagnostics
from shelfwise.cli.recommend import print_recommendations
from shelfwise.cli.synth import DEFAULT
from shelfwise.data.synthetic import ChainConfig
from shelfwise.pipeline import DemoRun, run_demo
from shelfwise.pipeline.demo import DemoOptions


def demo_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (data, database, figures, model).")
    ] = Path("demo-output"),
    stores: Annotated[int, typer.Option(help="Number of stores.")] = DEFAULT.n_stores,
    products: Annotated[int, typer.Option(help="Number of products.")] = DEFAULT.n_products,
    weeks: Annotated[int, typer.Option(help="Weeks of visits to simulate.")] = DEFAULT.weeks,
    draws: Annotated[int, typer.Option(help="Posterior draws per chain for the fit.")] = 500,
    tune: Annotated[int, typer.Option(help="Warm-up iterations per chain for the fit.")] = 500,
    eval_draws: Annotated[
        int, typer.Option(help="Draws (= warm-up) of the evaluation's training-window fits.")
    ] = DemoOptions.eval_draws,
    replay_runs: Annotated[int, typer.Option(help="Replay runs.")] = DemoOptions.replay_runs,
    rounds: Annotated[
        int, typer.Option(help="Recommendation rounds on the truth.")
    ] = DemoOptions.rounds,
    ensemble_epochs: Annotated[
        int, typer.Option(help="Training epochs of the deep ensemble.")
    ] = DemoOptions.ensemble_epochs,
    closed_loop: Annotated[
        bool,
        typer.Option(
            help="Also score the policies in a closed loop (each round's sales drawn from the "
            "truth, every model learning from its own recommendations); about 40 s more with "
            "--n-jobs 2.",
        ),
    ] = DemoOptions.closed_loop,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    n_jobs: Annotated[
        int,
        typer.Option(help="Worker processes for the evaluation's scoring (-1: every core)."),
    ] = 2,  # DemoOptions.n_jobs; a plain int here, as Typer cannot show None
) -> None:
    """Run the main job on the bundled chain and write one HTML report.

    Synthesise -> ingest -> cluster -> fit -> recommend -> lay out -> evaluate -> experiment.
    """
    config = run_or_exit(
        lambda: ChainConfig(n_stores=stores, n_products=products, weeks=weeks), stores=False
    )
    options = DemoOptions(
        draws=draws,
        tune=tune,
        eval_draws=eval_draws,
        eval_tune=eval_draws,
        replay_runs=replay_runs,
        rounds=rounds,
        ensemble_epochs=ensemble_epochs,
        closed_loop=closed_loop,
        n_jobs=n_jobs,
    )
    order = (
        "Synthesising",
        "Ingesting",
        "Clustering",
        "Fitting the payoff",
        "Recommending",
        "Evaluating",
        "Simulating",
        "Writing",
    )
    with progress_bar() as bar:
        stage = bar.add_task("Demo", total=len(order))
        sampling = bar.add_task("Sampling products", total=None, visible=False)

        def step(message: str) -> None:
            completed = next((i for i, k in enumerate(order) if message.startswith(k)), None)
            if completed is None:
                bar.update(stage, description=message)
            else:
                bar.update(stage, completed=completed, description=message)

        def sampled(done: int, total: int) -> None:
            bar.update(sampling, completed=done, total=total, visible=True)

        run: DemoRun = run_or_exit(
            lambda: run_demo(
                out,
                config=config,
                random_state=seed,
                options=options,
                progress=step,
                on_sampling=sampled,
            )
        )
        bar.update(stage, completed=len(order), description="Done")

    print_ingest_report(run.ingest)
    counts = run.repo.counts()
    table = Table(title=f"Database {out / 'shelfwise.db'}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, value in vars(counts).items():
        table.add_row(name, f"{value:,}")
    console.print(table)
    console.print(run.chain.summary())
    model = run.clusters.model
    sizes = " / ".join(str(int(n)) for n in model.cluster_sizes().tolist())
    console.print(
        f"Store clusters: K = {model.k_} ({sizes} stores); adjusted Rand index against the "
        f"chain's true clusters {run.cluster_ari:.2f}."
    )
    for message in run.fit.warnings:
        err_console.print(f"[bold yellow]Warning:[/] {message}", highlight=False)
    _print_diagnostics(run.fit.model)
    if run.recommend is not None:
        print_recommendations(run.recommend)
    if run.evaluation is not None:
        print_evaluation(run.evaluation)
    if run.experiment is not None:
        print_frame(run.experiment.table, "Simulated field experiment (DID, units/display/day)")
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
    console.print(f"Stage times: {stages}.")
    console.print(
        f"Outputs in {out}/: data/ (CSV), shelfwise.db, clusters/, rbp-model.npz, rbp-figures/, "
        "recommendations/, evaluation/, experiment/."
    )
    if run.report is not None:
        console.print(f"Report: {run.report}")
