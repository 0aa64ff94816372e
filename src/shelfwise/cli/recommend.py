"""``shelfwise recommend``: EdgeRec3D recommendations for every display, laid out and stored."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import Annotated

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
from shelfwise.demand import RBPModel
from shelfwise.pipeline import read_clusters
from shelfwise.pipeline.assortment import RecommendRun, recommend_all
from shelfwise.storage import Repository


class Uncertainty(StrEnum):
    """The standard deviation PEPF penalises."""

    epistemic = "epistemic"
    predictive = "predictive"


class Fill(StrEnum):
    """How the heuristic search fills the facings budget."""

    marginal = "marginal"
    keep = "keep"


def print_recommendations(run: RecommendRun) -> None:
    """Summary of a recommendation run: counts of actions, first displays' changes, notes."""
    recs = run.run.recommendations
    actions: Counter[str] = Counter(it.action for r in recs for it in r.items)
    laid = sum(1 for r in recs if r.planogram is not None)
    repaired = sum(1 for r in recs if "repaired" in r.layout_note)
    table = Table(title="Recommendations", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("displays", "laid out", "repaired", "keep", "decay", "add", "raise", "drop"):
        table.add_column(col, justify="right")
    table.add_row(
        str(len(recs)),
        str(laid),
        str(repaired),
        *(str(actions.get(a, 0)) for a in ("keep", "decay", "add", "raise", "drop")),
    )
    console.print(table)
    detail = Table(title="First displays", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("display", "product", "before", "after", "action", "E[r]/day", "PEPF"):
        detail.add_column(col, justify="right" if col not in ("display", "action") else "left")
    for rec in recs[:2]:
        for it in rec.items:
            if it.action == "keep":
                continue
            detail.add_row(
                rec.display_id,
                it.product_id,
                str(it.previous_facings),
                str(it.facings),
                it.action,
                f"{it.expected_payoff:.2f}" if it.expected_payoff is not None else "",
                f"{it.pepf:.2f}" if it.pepf is not None else "",
            )
    console.print(detail)
    for note in run.notes:
        err_console.print(f"[bold yellow]Note:[/] {note}", highlight=False)
    if run.run_id is not None:
        console.print(f"Stored as recommendation run {run.run_id}.")
    for path in run.written:
        console.print(f"Wrote {path}")
    console.print(f"{run.seconds:.1f} s")


def recommend_cmd(
    database_url: DatabaseOption = None,
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Fitted payoff model (shelfwise fit).")
    ] = Path("rbp-model.npz"),
    clusters: Annotated[
        Path | None,
        typer.Option(
            "--clusters",
            "-c",
            help="CSV store_id,cluster (default: the clusters the model was fitted with).",
        ),
    ] = None,
    display: Annotated[
        list[str] | None,
        typer.Option("--display", help="Only this display (repeat for several)."),
    ] = None,
    lam: Annotated[float, typer.Option(help="PEPF penalty lambda (Eq. 6).")] = 1.0,
    swaps: Annotated[int, typer.Option(help="Products decayed and replaced per display (V).")] = 2,
    epsilon: Annotated[float, typer.Option(help="Chance of a random candidate per swap.")] = 0.05,
    tau: Annotated[int, typer.Option(help="Neighbours drawn per product for candidates.")] = 5,
    uncertainty: Annotated[
        Uncertainty,
        typer.Option(
            help="The sd PEPF penalises: posterior sd of the expected payoff (epistemic) or "
            "the payoff's predictive sd (the paper's Eq. 6)."
        ),
    ] = Uncertainty.epistemic,
    fill: Annotated[
        Fill,
        typer.Option(
            help="Search fill: 'marginal' (facing by facing, over several improving steps) or "
            "'keep' (Algorithm 2 read literally)."
        ),
    ] = Fill.marginal,
    layout: Annotated[bool, typer.Option(help="Lay recommendations out with the solver.")] = True,
    store: Annotated[bool, typer.Option(help="Store the run in the database.")] = True,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for recommendations.csv and pictures.")
    ] = Path("recommendations"),
    pictures: Annotated[int, typer.Option(help="Displays drawn before/after.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Recommend products and facings per display (EdgeRec3D), lay them out and store them."""

    def work() -> RecommendRun:
        repo = Repository.from_url(database_url, create=False)
        fitted = RBPModel.load(model)
        labels = None if clusters is None else read_clusters(clusters)
        with progress_bar() as bar:
            task = bar.add_task("Recommending", total=None)

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            return recommend_all(
                repo,
                fitted,
                clusters=labels,
                lam=lam,
                n_swaps=swaps,
                epsilon=epsilon,
                tau=tau,
                uncertainty=uncertainty.value,
                fill=fill.value,
                display_ids=display,
                layout=layout,
                store=store,
                out=out,
                pictures=pictures,
                random_state=seed,
                on_progress=advance,
            )

    print_recommendations(run_or_exit(work))
