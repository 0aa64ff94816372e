"""``shelfwise cluster``: sales from scans, SpAGMM store profiles, K-means with K by ANOVA."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shelfwise.cli._common import DatabaseOption, console, progress_bar, run_or_exit
from shelfwise.pipeline import ClusterRun, cluster_stores
from shelfwise.storage import Repository


def _run(database_url: str | None, k: int | None, k_max: int, seed: int, out: Path) -> ClusterRun:
    with progress_bar() as bar:
        task = bar.add_task("Clustering", total=4)

        def step(message: str) -> None:
            bar.update(task, advance=1, description=message)

        repo = Repository.from_url(database_url, create=False)
        run = cluster_stores(repo, out, k=k, k_max=k_max, random_state=seed, progress=step)
        bar.update(task, completed=4, description="Done")
    return run


def _print(run: ClusterRun) -> None:
    s = run.sales
    flags = Table(title="Sales from scans (Eq. 4)", show_header=True)
    flags.add_column("flag")
    flags.add_column("intervals", justify="right")
    for flag, n in s.counts.items():
        if n:
            flags.add_row(flag.value, f"{n:,}")
    console.print(flags)
    for note in s.notes:
        console.print(f"[dim]note:[/] {note}", highlight=False)
    m = run.model
    if m.curve_ is not None:
        c = m.curve_
        t = Table(title=f"K selection (ANOVA per product, alpha {c.alpha:g})")
        for col in ("K", "significant", "share", "share (BH)", "smallest cluster"):
            t.add_column(col, justify="right")
        for row in c.frame.itertuples():
            mark = " <" if row.k == c.chosen_k else ""
            t.add_row(
                f"{row.k}{mark}",
                f"{row.n_significant}/{row.n_products}",
                f"{row.share_significant:.0%}",
                f"{row.share_significant_bh:.0%}",
                f"{row.min_cluster_size}",
            )
        console.print(t)
        console.print(
            f"Chosen K = {c.chosen_k}: the smallest K that no larger K beats by more than "
            f"{c.min_gain:.0%} of products."
        )
    sizes = Table(title=f"Clusters (K = {m.k_})")
    sizes.add_column("cluster", justify="right")
    sizes.add_column("stores", justify="right")
    for cluster, n in m.cluster_sizes().items():
        sizes.add_row(str(cluster), str(n))
    console.print(sizes)
    for note in m.notes_:
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    console.print("Wrote " + ", ".join(str(p) for p in run.written))


def cluster_cmd(
    database_url: DatabaseOption = None,
    k: Annotated[
        int | None,
        typer.Option("--k", "-k", help="Number of clusters (default: chosen by ANOVA).", min=1),
    ] = None,
    k_max: Annotated[
        int, typer.Option("--k-max", help="Largest K tried when choosing K.", min=2)
    ] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of K-means.")] = 0,
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for the labels CSV, model JSON and figures."),
    ] = Path("cluster-output"),
) -> None:
    """Cluster stores by the demographics around them (SpAGMM + K-means), K chosen on sales."""
    _print(run_or_exit(lambda: _run(database_url, k, k_max, seed, out)))
