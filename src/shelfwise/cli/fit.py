"""``shelfwise fit``: fit the RBP payoff model on the stored visits and save it with figures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from shelfwise.cli._common import DatabaseOption, console, err_console, progress_bar, run_or_exit
from shelfwise.demand import RBPModel
from shelfwise.pipeline import FitRun, fit_payoffs, read_clusters
from shelfwise.storage import Repository


def _print_diagnostics(model: RBPModel) -> None:
    d = model.diagnostics_
    table = Table(title="RBP fit", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("products", "chains x draws", "R-hat max", "bulk ESS min", "divergences", "s"):
        table.add_column(col, justify="right")
    table.add_row(
        str(len(d.products)),
        f"{d.chains} x {d.draws}",
        f"{d.rhat_max:.3f}",
        f"{d.ess_bulk_min:.0f}",
        str(d.divergences),
        f"{d.sampling_seconds:.1f}",
    )
    console.print(table)
    worst = sorted(d.products, key=lambda p: p.ess_bulk_min)[:5]
    detail = Table(title="Slowest-mixing products", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("product", "R-hat max", "bulk ESS min", "divergences", "mean tree"):
        detail.add_column(col, justify="right")
    for p in worst:
        detail.add_row(
            p.product_id,
            f"{p.rhat_max:.3f}",
            f"{p.ess_bulk_min:.0f}",
            str(p.divergences),
            f"{p.mean_tree_size:.1f}",
        )
    console.print(detail)


def fit_cmd(
    database_url: DatabaseOption = None,
    clusters: Annotated[
        Path | None,
        typer.Option(
            "--clusters",
            "-c",
            help="CSV with columns store_id,cluster (default: every store in one cluster).",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to save the fitted model (.npz).")
    ] = Path("rbp-model.npz"),
    figures: Annotated[
        Path | None,
        typer.Option(help="Folder for figures (default: beside --out, 'rbp-figures')."),
    ] = None,
    draws: Annotated[int, typer.Option(help="Kept draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Warm-up iterations per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Chains per product.")] = 2,
    feature: Annotated[
        str, typer.Option(help="Facings feature x_q: log2 (default), linear or sqrt.")
    ] = "log2",
    batch_size: Annotated[int, typer.Option(help="Products sampled together.")] = 16,
    lam: Annotated[float, typer.Option(help="PEPF penalty lambda for the ranking figure.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same fit.")] = 0,
) -> None:
    """Fit the Robust Bayesian Payoff model (EdgeRec3D Eq. 5) on the stored visits."""

    model = RBPModel(
        draws=draws,
        tune=tune,
        chains=chains,
        facing_feature=feature,
        batch_size=batch_size,
        random_state=seed,
    )

    def work() -> FitRun:
        repo = Repository.from_url(database_url, create=False)
        labels = None if clusters is None else read_clusters(clusters)
        with progress_bar() as bar:
            task = bar.add_task("Sampling products", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return fit_payoffs(
                repo, model, out, clusters=labels, figures=figures, lam=lam, on_progress=advance
            )

    run = run_or_exit(work)
    obs = run.observations
    console.print(
        f"{len(obs):,} payoff observations: {obs['product_id'].nunique()} products, "
        f"{obs['store_id'].nunique()} stores, {len(set(run.model.store_clusters_.values()))} "
        f"cluster(s); {(obs['rate'] == 0).mean():.0%} zero payoffs"
        + (f"; {run.no_facings:,} interval(s) without facings left out" if run.no_facings else "")
    )
    for message in run.warnings:
        err_console.print(f"[bold yellow]Warning:[/] {message}", highlight=False)
    _print_diagnostics(run.model)
    console.print(f"Saved the model to {run.written[0]}")
    for path in run.written[1:]:
        console.print(f"Wrote {path}")
