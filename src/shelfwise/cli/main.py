"""The ``shelfwise`` Typer application."""

from __future__ import annotations

from typing import Annotated

import typer

from shelfwise import __version__
from shelfwise.cli import db, generate, planogram
from shelfwise.cli.cluster import cluster_cmd
from shelfwise.cli.demo import demo_cmd
from shelfwise.cli.evaluate import evaluate_cmd
from shelfwise.cli.experiment import experiment_cmd
from shelfwise.cli.fit import fit_cmd
from shelfwise.cli.ingest import ingest_cmd
from shelfwise.cli.recommend import recommend_cmd
from shelfwise.cli.synth import synth_cmd

app = typer.Typer(
    name="shelfwise",
    help="shelfwise turns a retailer's shelf data into store-ready shelf decisions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db.app, name="db")
app.add_typer(planogram.app, name="planogram")
app.add_typer(generate.app, name="generate")
app.command("synth")(synth_cmd)
app.command("ingest")(ingest_cmd)
app.command("demo")(demo_cmd)
app.command("cluster")(cluster_cmd)
app.command("fit")(fit_cmd)
app.command("recommend")(recommend_cmd)
app.command("evaluate")(evaluate_cmd)
app.command("experiment")(experiment_cmd)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"shelfwise {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """shelfwise turns a retailer's shelf data into store-ready shelf decisions."""
