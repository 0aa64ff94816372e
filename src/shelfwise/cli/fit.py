"""``shelfwise fit``: fit the RBP payoff model on the stored visits and save it with figures."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich import box
from rich.table import Table

from shelfwise.cli._common import DatabaseOption, console, err_console, progress_bar, run_or_exit
from shelfwise.demand import ConvergenceWarning, RBPModel, rank_candidates
from shelfwise.demand.figures import pepf_figure, posterior_predictive_figure
from shelfwise.exceptions import InvalidParameterError
from shelfwise.storage import Repository


def observations_from_visits(visits: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Payoff observations (store_id, product_id, facings, rate) from a visit frame.

    Uses :func:`shelfwise.perception.sales.sales_from_visits` (Eq. 4, flags kept) and keeps
    the intervals with an estimate and at least one facing in place.

    Returns
    -------
    (pandas.DataFrame, int)
        The observations and the number of estimated intervals left out for having no facings.
    """
    from shelfwise.perception.sales import ESTIMATED_FLAGS, sales_from_visits

    table = sales_from_visits(visits).frame
    estimated = (
        table["flag"].isin([f.value for f in ESTIMATED_FLAGS]) & table["rate_per_day"].notna()
    )
    sales = table[estimated]
    usable = sales["facings"].fillna(0) >= 1
    obs = pd.DataFrame(
        {
            "store_id": sales.loc[usable, "store_id"].astype(str),
            "product_id": sales.loc[usable, "product_id"].astype(str),
            "facings": sales.loc[usable, "facings"].astype(float),
            "rate": sales.loc[usable, "rate_per_day"].astype(float).clip(lower=0.0),
        }
    ).reset_index(drop=True)
    return obs, int((~usable).sum())


def read_clusters(path: Path) -> dict[str, str]:
    """Read a ``store_id,cluster`` CSV into ``{store_id: cluster}``."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"store_id", "cluster"} <= set(reader.fieldnames):
            raise InvalidParameterError(
                f"{path} must have columns store_id and cluster; got {reader.fieldnames}"
            )
        return {row["store_id"]: row["cluster"] for row in reader}


def _print_diagnostics(model: RBPModel) -> None:
    d = model.diagnostics_
    table = Table(title="RBP fit", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("products", "chains x draws", "R-hat max", "bulk ESS min", "divergences", "s"):
        table.add_column(col, justify="right")
    table.add_row(
        str(len(d.products)),
        f"{d.chains} x {d.draws}",
        f"{d.rhat_max:.3f}",
        f"{d.ess_bulk_min:.0f}",
        str(d.divergences),
        f"{d.sampling_seconds:.1f}",
    )
    console.print(table)
    worst = sorted(d.products, key=lambda p: p.ess_bulk_min)[:5]
    detail = Table(title="Slowest-mixing products", box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("product", "R-hat max", "bulk ESS min", "divergences", "mean tree"):
        detail.add_column(col, justify="right")
    for p in worst:
        detail.add_row(
            p.product_id,
            f"{p.rhat_max:.3f}",
            f"{p.ess_bulk_min:.0f}",
            str(p.divergences),
            f"{p.mean_tree_size:.1f}",
        )
    console.print(detail)


def _write_figures(model: RBPModel, obs: pd.DataFrame, folder: Path, lam: float) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    counts = obs.groupby(["product_id", "store_id"]).size().sort_values(ascending=False)
    for product, store in list(counts.index[:3]):
        fig = posterior_predictive_figure(model, str(product), str(store), observations=obs)
        path = folder / f"rbp_predictive_{product}_{store}.png"
        fig.savefig(path, dpi=110)
        written.append(path)
    store = str(obs["store_id"].value_counts().index[0])
    cands = [(p, 2.0) for p in model.product_ids_]
    ranking = rank_candidates(model, store, cands, lam=lam).head(15)
    fig = pepf_figure(ranking, lam=lam, title=f"PEPF at {store}, 2 facings each")
    path = folder / f"rbp_pepf_{store}.png"
    fig.savefig(path, dpi=110)
    written.append(path)
    return written


def fit_cmd(
    database_url: DatabaseOption = None,
    clusters: Annotated[
        Path | None,
        typer.Option(
            "--clusters",
            "-c",
            help="CSV with columns store_id,cluster (default: every store in one cluster).",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to save the fitted model (.npz).")
    ] = Path("rbp-model.npz"),
    figures: Annotated[
        Path | None,
        typer.Option(help="Folder for figures (default: beside --out, 'rbp-figures')."),
    ] = None,
    draws: Annotated[int, typer.Option(help="Kept draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(help="Warm-up iterations per chain.")] = 1000,
    chains: Annotated[int, typer.Option(help="Chains per product.")] = 2,
    feature: Annotated[
        str, typer.Option(help="Facings feature x_q: log2 (default), linear or sqrt.")
    ] = "log2",
    batch_size: Annotated[int, typer.Option(help="Products sampled together.")] = 32,
    lam: Annotated[float, typer.Option(help="PEPF penalty lambda for the ranking figure.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same fit.")] = 0,
) -> None:
    """Fit the Robust Bayesian Payoff model (EdgeRec3D Eq. 5) on the stored visits."""

    def load() -> tuple[pd.DataFrame, dict[str, str], int]:
        repo = Repository.from_url(database_url)
        obs, no_facings = observations_from_visits(repo.visits_frame())
        if obs.empty:
            raise InvalidParameterError(
                "the database has no visit intervals with sales and facings to fit on; "
                "ingest visits first (shelfwise ingest)"
            )
        if clusters is None:
            labels = {s: "all" for s in sorted(set(obs["store_id"]))}
        else:
            labels = read_clusters(clusters)
        return obs, labels, no_facings

    obs, labels, no_facings = run_or_exit(load)
    console.print(
        f"{len(obs):,} payoff observations: {obs['product_id'].nunique()} products, "
        f"{obs['store_id'].nunique()} stores, {len(set(labels.values()))} cluster(s); "
        f"{(obs['rate'] == 0).mean():.0%} zero payoffs"
        + (f"; {no_facings:,} interval(s) without facings left out" if no_facings else "")
    )
    model = RBPModel(
        draws=draws,
        tune=tune,
        chains=chains,
        facing_feature=feature,
        batch_size=batch_size,
        random_state=seed,
    )

    def work() -> RBPModel:
        with progress_bar() as bar:
            task = bar.add_task("Sampling products", total=obs["product_id"].nunique())

            def advance(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model.fit(obs, labels, on_progress=advance)
        for w in caught:
            err_console.print(f"[bold yellow]Warning:[/] {w.message}", highlight=False)
        return model

    run_or_exit(work)
    _print_diagnostics(model)
    saved = run_or_exit(lambda: model.save(out))
    console.print(f"Saved the model to {saved}")
    folder = figures if figures is not None else out.parent / "rbp-figures"
    for path in run_or_exit(lambda: _write_figures(model, obs, folder, lam)):
        console.print(f"Wrote {path}")
