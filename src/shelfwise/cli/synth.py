"""``shelfwise synth``: write the synthetic retail chain as CSV / Parquet files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from shelfwise.cli._common import console, run_or_exit
from shelfwise.data.synthetic import ChainConfig, SyntheticChain, generate_chain

DEFAULT = ChainConfig()


def build_chain(
    *, stores: int, products: int, displays_per_store: int, weeks: int, metros: str, seed: int
) -> SyntheticChain:
    """Generate a chain from CLI-style arguments (``metros`` comma-separated)."""
    config = ChainConfig(
        n_stores=stores,
        n_products=products,
        displays_per_store=displays_per_store,
        weeks=weeks,
        metros=tuple(m.strip() for m in metros.split(",") if m.strip()),
    )
    return generate_chain(config, random_state=seed)


def synth_cmd(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder to write the files into.")
    ] = Path("shelfwise-data"),
    stores: Annotated[int, typer.Option(help="Number of stores.")] = DEFAULT.n_stores,
    products: Annotated[int, typer.Option(help="Number of products.")] = DEFAULT.n_products,
    displays_per_store: Annotated[int, typer.Option(help="Displays per store.")] = (
        DEFAULT.displays_per_store
    ),
    weeks: Annotated[int, typer.Option(help="Weeks of visits to simulate.")] = DEFAULT.weeks,
    metros: Annotated[str, typer.Option(help="Comma-separated US metro main cities.")] = ",".join(
        DEFAULT.metros
    ),
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives identical files.")
    ] = 0,
    fmt: Annotated[
        Literal["csv", "parquet"], typer.Option("--format", "-f", help="File format.")
    ] = "csv",
) -> None:
    """Generate the synthetic retail chain (the bundled default data) and write its files."""
    with console.status("Generating the chain..."):
        chain = run_or_exit(
            lambda: build_chain(
                stores=stores,
                products=products,
                displays_per_store=displays_per_store,
                weeks=weeks,
                metros=metros,
                seed=seed,
            )
        )
    with console.status(f"Writing {fmt} files..."):
        written = run_or_exit(lambda: chain.write(out, fmt=fmt))
    for path in written:
        console.print(f"  wrote {path}")
    console.print(f"Synthetic chain (seed {seed}) written to {out}/ ({len(written)} files).")
    console.print(
        f"`shelfwise ingest {out}` stores it; {out}/edgerec3d/ holds the same visits in "
        "EdgeRec3D's published log layout (ingest it into another database)."
    )
