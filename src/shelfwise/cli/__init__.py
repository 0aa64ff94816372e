"""The ``shelfwise`` command line (Typer + Rich): a thin layer over the library."""
