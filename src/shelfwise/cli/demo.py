"""``shelfwise demo``: run the main job end to end on the bundled synthetic chain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shelfwise.cli._common import console, print_ingest_report, progress_bar, run_or_exit
from shelfwise.cli.synth import DEFAULT, build_chain
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import ingest_files


def demo_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder (data, database).")
    ] = Path("demo-output"),
    stores: Annotated[int, typer.Option(help="Number of stores.")] = DEFAULT.n_stores,
    products: Annotated[int, typer.Option(help="Number of products.")] = DEFAULT.n_products,
    weeks: Annotated[int, typer.Option(help="Weeks of visits to simulate.")] = DEFAULT.weeks,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Synthesise the default chain, ingest it into a fresh SQLite database, and summarise."""
    data_dir = out / "data"
    db_path = out / "shelfwise.db"
    out.mkdir(parents=True, exist_ok=True)
    for stale in (
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)

    with progress_bar() as bar:
        task = bar.add_task("Synthesising the chain", total=3)
        chain = run_or_exit(
            lambda: build_chain(
                stores=stores,
                products=products,
                displays_per_store=DEFAULT.displays_per_store,
                weeks=weeks,
                metros=",".join(DEFAULT.metros),
                seed=seed,
            )
        )
        bar.update(task, advance=1, description="Writing CSV files")
        written = run_or_exit(lambda: chain.write(data_dir, fmt="csv"))
        bar.update(task, advance=1, description="Ingesting into SQLite")
        repo = run_or_exit(lambda: Repository.from_url(sqlite_url(db_path)))
        # The EdgeRec3D-layout export holds the same visits again in the published layout; the
        # demo stores shelfwise's own layout only (`shelfwise ingest` accepts either).
        own = [p for p in written if not p.name.startswith("edgerec3d")]
        report = run_or_exit(lambda: ingest_files(repo, own))
        bar.update(task, advance=1, description="Done")

    print_ingest_report(report)
    counts = repo.counts()
    table = Table(title=f"Database {db_path}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, value in vars(counts).items():
        table.add_row(name, f"{value:,}")
    console.print(table)
    console.print(chain.summary())
    console.print(f"Files in {data_dir}/, database at {db_path}.")
