"""``shelfwise experiment``: difference-in-differences on a panel, or a simulated field test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfwise.cli._common import DatabaseOption, console, run_or_exit
from shelfwise.cli.evaluate import print_frame
from shelfwise.cli.synth import DEFAULT
from shelfwise.data.synthetic import ChainConfig
from shelfwise.exceptions import InvalidParameterError
from shelfwise.pipeline.experiment import (
    PanelExperimentRun,
    SimulatedExperimentRun,
    analyse_panel_file,
    simulate_experiment,
)
from shelfwise.pipeline.models import chain_truth
from shelfwise.storage import Repository


def experiment_cmd(
    panel: Annotated[
        Path | None,
        typer.Option("--panel", help="A unit x period panel (CSV/Parquet) to analyse with DID."),
    ] = None,
    unit: Annotated[str, typer.Option(help="Panel column: unit id (store or display).")] = "unit",
    treated: Annotated[str, typer.Option(help="Panel column: treated (true/false).")] = ("treated"),
    post: Annotated[str, typer.Option(help="Panel column: after the change (true/false).")] = (
        "post"
    ),
    outcome: Annotated[str, typer.Option(help="Panel column: the outcome (units).")] = "outcome",
    stratum: Annotated[
        str | None, typer.Option(help="Panel column: randomisation stratum (e.g. store).")
    ] = None,
    time: Annotated[
        str | None, typer.Option(help="Panel column to draw the trend over (date/period).")
    ] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            help="Simulate a within-store randomised test of the newest stored recommendations "
            "on the synthetic chain of --truth-seed."
        ),
    ] = False,
    database_url: DatabaseOption = None,
    truth_seed: Annotated[int, typer.Option(help="Seed of the synthetic chain.")] = 0,
    stores: Annotated[int, typer.Option(help="Chain stores.")] = DEFAULT.n_stores,
    products: Annotated[int, typer.Option(help="Chain products.")] = DEFAULT.n_products,
    weeks: Annotated[int, typer.Option(help="Chain weeks.")] = DEFAULT.weeks,
    run_id: Annotated[
        int | None, typer.Option(help="Recommendation run to test (default: newest).")
    ] = None,
    compliance: Annotated[
        float, typer.Option(help="Share of treated displays whose merchandiser complies.")
    ] = 0.6,
    pre_days: Annotated[int, typer.Option(help="Days before the change.")] = 21,
    post_days: Annotated[int, typer.Option(help="Days after the change.")] = 28,
    permutations: Annotated[int, typer.Option(help="Permutation-test resamples.")] = 5000,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 2000,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for table and figure.")] = (
        Path("experiment")
    ),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Difference-in-differences on your panel (--panel) or a simulated field test (--simulate).

    Reports the estimate, a within-stratum permutation p-value and a bootstrap interval; the
    simulation also splits treated displays by compliance and shows the true effect.
    """

    def work() -> PanelExperimentRun | SimulatedExperimentRun:
        if (panel is None) == (not simulate):
            raise InvalidParameterError("give exactly one of --panel FILE and --simulate")
        if panel is not None:
            return analyse_panel_file(
                panel,
                unit=unit,
                treated=treated,
                post=post,
                outcome=outcome,
                stratum=stratum,
                time=time,
                permutations=permutations,
                bootstrap=bootstrap,
                random_state=seed,
                out=out,
            )
        repo = Repository.from_url(database_url, create=False)
        config = ChainConfig(n_stores=stores, n_products=products, weeks=weeks)
        truth = chain_truth(repo, config, seed=truth_seed)
        return simulate_experiment(
            repo,
            truth,
            run_id=run_id,
            compliance_share=compliance,
            pre_days=pre_days,
            post_days=post_days,
            permutations=permutations,
            bootstrap=bootstrap,
            random_state=seed,
            out=out,
        )

    run = run_or_exit(work, stores=False)
    if isinstance(run, PanelExperimentRun):
        console.print(run.result.summary(), highlight=False)
        print_frame(run.result.means, "Group means")
    else:
        print_frame(run.table, "Simulated field experiment (DID, units per display per day)")
    for path in run.written:
        console.print(f"Wrote {path}")
