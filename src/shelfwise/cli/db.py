"""``shelfwise db``: database schema commands."""

from __future__ import annotations

import typer

from shelfwise.cli._common import DatabaseOption, console, run_or_exit
from shelfwise.storage import current_revision, head_revision, make_engine, upgrade

app = typer.Typer(help="Create or migrate the shelfwise database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(database_url: DatabaseOption = None) -> None:
    """Create the database schema, or migrate it to the newest revision."""
    engine = run_or_exit(lambda: make_engine(database_url))
    before = run_or_exit(lambda: current_revision(engine))
    reached = run_or_exit(lambda: upgrade(engine))
    if before == reached:
        console.print(f"Database {engine.url!r} already at revision {reached}.")
    else:
        console.print(f"Database {engine.url!r} migrated from {before or 'empty'} to {reached}.")


@app.command("status")
def status_cmd(database_url: DatabaseOption = None) -> None:
    """Show the database's schema revision and the newest one shelfwise ships."""
    engine = run_or_exit(lambda: make_engine(database_url))
    current = run_or_exit(lambda: current_revision(engine))
    console.print(
        f"Database {engine.url!r}: revision {current or 'none'}; newest is {head_revision()}."
    )
