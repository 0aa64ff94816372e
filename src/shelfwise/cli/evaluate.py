"""``shelfwise evaluate``: EdgeRec3D vs baselines and ablations, by replay and on the truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.table import Table

from shelfwise.cli._common import (
    DatabaseOption,
    console,
    err_console,
    progress_bar,
    run_or_exit,
)
from shelfwise.cli.synth import DEFAULT
from shelfwise.data.synthetic import ChainConfig
from shelfwise.evaluation import SalesFeedback
from shelfwise.pipeline import read_clusters
from shelfwise.pipeline.evaluate import EvaluationRun, evaluate_policies, write_tables
from shelfwise.pipeline.models import chain_truth
from shelfwise.storage import Repository


def print_frame(frame: pd.DataFrame, title: str) -> None:
    """Print a DataFrame as a Rich table (floats to 3 decimals)."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(str(frame.index.name or ""), justify="left")
    for col in frame.columns:
        table.add_column(str(col), justify="right")
    for idx, row in frame.iterrows():
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.tolist()]
        table.add_row(str(idx), *cells)
    console.print(table)


def print_evaluation(run: EvaluationRun) -> None:
    """The replay tables (Tables 1 and 3) and the ground-truth tables, if any."""
    console.print(
        f"Models fitted on {run.train_rows:,} intervals before {run.split_at:%Y-%m-%d %H:%M}; "
        f"{run.test_events:,} later visits replayed."
    )
    print_frame(run.replay_baselines, "Replay: baselines (like EdgeRec3D Table 1)")
    print_frame(
        run.replay_ablations, "Replay: ablations (like Table 3; C clustering, R RBP, H search)"
    )
    if run.truth_baselines is not None:
        print_frame(run.truth_baselines.table(), "True expected sales: baselines")
    if run.truth_ablations is not None:
        print_frame(run.truth_ablations.table(), "True expected sales: ablations")
    if run.closed_loop_baselines is not None:
        print_frame(run.closed_loop_baselines.table(), "Closed loop: baselines")
    if run.closed_loop_ablations is not None:
        print_frame(run.closed_loop_ablations.table(), "Closed loop: ablations")
    for note in run.notes:
        err_console.print(f"[bold yellow]Note:[/] {note}", highlight=False)
    times = ", ".join(f"{k} {v:.1f} s" for k, v in run.seconds.items())
    console.print(f"Times: {times}.")


def evaluate_cmd(
    database_url: DatabaseOption = None,
    clusters: Annotated[
        Path | None,
        typer.Option("--clusters", "-c", help="CSV store_id,cluster (default: one cluster)."),
    ] = None,
    truth_seed: Annotated[
        int | None,
        typer.Option(
            help="The database holds the synthetic chain of this seed (with --stores, "
            "--products, --weeks): also score on its true demand against the oracle.",
        ),
    ] = None,
    stores: Annotated[int, typer.Option(help="Chain stores (with --truth-seed).")] = (
        DEFAULT.n_stores
    ),
    products: Annotated[int, typer.Option(help="Chain products (with --truth-seed).")] = (
        DEFAULT.n_products
    ),
    weeks: Annotated[int, typer.Option(help="Chain weeks (with --truth-seed).")] = DEFAULT.weeks,
    holdout: Annotated[float, typer.Option(help="Share of the log's time span replayed.")] = 0.25,
    runs: Annotated[int, typer.Option(help="Replay runs.")] = 30,
    keep: Annotated[float, typer.Option(help="Share of events kept per run.")] = 0.5,
    rounds: Annotated[int, typer.Option(help="Recommendation rounds on the truth.")] = 10,
    lam: Annotated[float, typer.Option(help="PEPF penalty lambda.")] = 1.0,
    closed_loop: Annotated[
        bool,
        typer.Option(
            help="With --truth-seed, also score in a closed loop: each round's sales are drawn "
            "from the truth and every policy's model learns from its own recommendations.",
        ),
    ] = False,
    draws: Annotated[int, typer.Option(help="RBP draws per chain.")] = 500,
    tune: Annotated[int, typer.Option(help="RBP warm-up per chain.")] = 500,
    ensemble: Annotated[
        bool, typer.Option(help="Train the deep ensemble (Deep Ensembles, MOPO).")
    ] = True,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for tables and figures.")] = (
        Path("evaluation")
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    n_jobs: Annotated[
        int,
        typer.Option(
            help="Worker processes for scoring the policies after the fits (-1: every core); "
            "the results do not depend on it."
        ),
    ] = 2,
) -> None:
    """Compare EdgeRec3D with baselines and ablations (replay; truth and oracle on the chain).

    Payoff models are fitted on the visits before a time split and the later visits are
    replayed (Li et al. 2011; EdgeRec3D Tables 1 and 3). With --truth-seed, each policy's
    recommendations are also scored on the synthetic chain's true demand against the oracle.
    """

    def work() -> tuple[EvaluationRun, list[Path]]:
        repo = Repository.from_url(database_url, create=False)
        labels = None if clusters is None else read_clusters(clusters)
        truth = None
        if truth_seed is not None:
            config = ChainConfig(n_stores=stores, n_products=products, weeks=weeks)
            truth = chain_truth(repo, config, seed=truth_seed)
        with progress_bar() as bar:
            task = bar.add_task("Evaluating", total=None)

            def step(message: str) -> None:
                bar.update(task, description=message)

            run = evaluate_policies(
                repo,
                clusters=labels,
                truth=truth,
                holdout=holdout,
                runs=runs,
                keep=keep,
                rounds=rounds,
                lam=lam,
                closed_loop=SalesFeedback() if closed_loop else None,
                rbp_options={"draws": draws, "tune": tune},
                with_ensemble=ensemble,
                random_state=seed,
                n_jobs=n_jobs,
                progress=step,
            )
            bar.update(task, description="Done")
        return run, write_tables(run, out)

    run, written = run_or_exit(work, stores=False)
    print_evaluation(run)
    for path in written:
        console.print(f"Wrote {path}")
