"""``shelfwise ingest``: validate CSV / Parquet files and store them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shelfwise.cli._common import DatabaseOption, print_ingest_report, progress_bar, run_or_exit
from shelfwise.data.layouts import LayoutName
from shelfwise.storage import Repository
from shelfwise.storage.ingest import IngestReport, expand_paths, ingest_files


def ingest_cmd(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="CSV / Parquet files, or folders of them. The layout of each file is recognised "
            "from its columns: stores, products, displays, shelves, tracts, planograms, visits, or "
            "EdgeRec3D's published log layout.",
            show_default=False,
        ),
    ],
    database_url: DatabaseOption = None,
    kind: Annotated[
        LayoutName | None,
        typer.Option(
            "--kind", "-k", help="Force one layout for every file instead of recognising it."
        ),
    ] = None,
) -> None:
    """Validate files and store them; a file with any bad row is rejected and nothing stored."""

    def work() -> IngestReport:
        repo = Repository.from_url(database_url)
        total = len(expand_paths(paths))
        with progress_bar() as bar:
            task = bar.add_task("Validating", total=total)

            def advance(path: Path, done: int, _total: int) -> None:
                bar.update(task, completed=done, description=f"Validated {path.name}")

            report = ingest_files(repo, paths, layout=kind, on_file=advance)
            bar.update(task, description="Stored")
        return report

    print_ingest_report(run_or_exit(work))
