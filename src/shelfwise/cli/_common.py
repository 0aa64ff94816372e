"""Shared CLI helpers: the console, error reporting and progress bars."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shelfwise.exceptions import DataValidationError, ShelfwiseError
from shelfwise.storage.ingest import IngestReport

# Piped or captured output (files, CI logs) is not limited to 80 columns, so tables stay whole.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)

T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        "-d",
        envvar="SHELFWISE_DATABASE_URL",
        help="SQLAlchemy URL, e.g. sqlite:///shelfwise.db or postgresql+psycopg://user@host/db "
        "(default: $SHELFWISE_DATABASE_URL, else sqlite:///shelfwise.db).",
        show_default=False,
    ),
]


def run_or_exit(fn: Callable[[], T], *, stores: bool = True) -> T:
    """Run ``fn``; print a shelfwise error readably and exit 1 instead of a traceback.

    ``stores`` says whether ``fn`` would have written to the database (then a rejection also
    says that nothing was stored).
    """
    try:
        return fn()
    except DataValidationError as exc:
        count = f"at least {len(exc.problems)}" if exc.truncated else str(len(exc.problems))
        tail = "; nothing was stored." if stores else "."
        err_console.print(
            f"[bold red]Rejected:[/] {count} problem(s){tail}",
            highlight=False,
            soft_wrap=True,
        )
        for p in exc.problems[:20]:
            err_console.print(f"  {p}", highlight=False, markup=False, soft_wrap=True)
        if len(exc.problems) > 20:
            err_console.print(f"  ... and {len(exc.problems) - 20} more", highlight=False)
        raise typer.Exit(1) from exc
    except ShelfwiseError as exc:
        err_console.print(
            f"[bold red]Error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(1) from exc


@contextmanager
def progress_bar() -> Iterator[Progress]:
    """A Rich progress bar that writes to stderr (so stdout stays clean for piping)."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        yield progress


def print_ingest_report(report: IngestReport) -> None:
    """Print what an ingest stored, per file and in total."""
    table = Table(title="Ingested", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("file", "layout", "rows", "table", "new", "updated", "same"):
        numeric = col in {"rows", "new", "updated", "same"}
        table.add_column(
            col, justify="right" if numeric else "left", no_wrap=numeric, overflow="fold"
        )
    for f in report.files:
        for i, w in enumerate(f.writes):
            table.add_row(
                Path(f.file).name if i == 0 else "",
                f.layout.value if i == 0 else "",
                f"{f.rows:,}" if i == 0 else "",
                w.table,
                f"{w.new:,}",
                f"{w.updated:,}",
                f"{w.unchanged:,}",
            )
    console.print(table)
    new = sum(w.new for w in report.totals().values())
    console.print(f"Stored {new:,} new row(s) from {len(report.files)} file(s).")
