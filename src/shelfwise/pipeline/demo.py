"""The demo: the whole main job on the bundled synthetic chain, ending in one HTML report.

synthesise -> ingest -> cluster -> fit -> recommend -> lay out -> evaluate -> experiment -> report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from shelfwise.data.synthetic import (
    EDGEREC3D_FOLDER,
    ChainConfig,
    SyntheticChain,
    generate_chain,
)
from shelfwise.demand import RBPModel, rank_candidates
from shelfwise.demand.figures import pepf_figure
from shelfwise.evaluation import SalesFeedback
from shelfwise.evaluation.figures import oracle_share_figure
from shelfwise.report import HtmlReport
from shelfwise.spatial.clustering import adjusted_rand
from shelfwise.storage import Repository, sqlite_url
from shelfwise.storage.ingest import IngestReport, ingest_files

from .assortment import RecommendRun, recommend_all
from .evaluate import EvaluationRun, check_n_jobs, evaluate_policies, write_tables
from .experiment import SimulatedExperimentRun, simulate_experiment
from .generative import ArrangeRun, arrange_recommendations, shipped_model_fits
from .models import (
    CURVE_FIGURE,
    MAP_FIGURE,
    ClusterRun,
    FitRun,
    Progress,
    _quiet,
    cluster_stores,
    fit_payoffs,
)

REPORT_FILE = "report.html"


@dataclass(frozen=True)
class DemoOptions:
    """Sizes of the demo's expensive steps, chosen to keep the demo to minutes on 2 cores.

    The replay runs 10 times (``shelfwise evaluate`` runs the paper's 30); the evaluation's
    training-window fits use 300 draws. ``closed_loop`` also scores the policies with sales
    feedback between rounds (:class:`~shelfwise.evaluation.SalesFeedback`, its defaults).
    """

    draws: int = 500
    tune: int = 500
    eval_draws: int = 300
    eval_tune: int = 300
    replay_runs: int = 10
    rounds: int = 10
    closed_loop: bool = True
    ensemble_epochs: int = 200
    compliance_share: float = 0.6
    n_jobs: int | None = 2
    """Worker processes for the evaluation's scoring (:func:`evaluate_policies`)."""
    stages: tuple[str, ...] = ("recommend", "arrange", "evaluate", "experiment")
    """Stages after the fit to run (all by default)."""


@dataclass(frozen=True)
class DemoRun:
    """Everything the demo produced, for printing and for tests."""

    chain: SyntheticChain
    repo: Repository
    ingest: IngestReport
    clusters: ClusterRun
    cluster_ari: float
    """Adjusted Rand index of the found store clusters against the chain's true clusters."""
    fit: FitRun
    seconds: dict[str, float]
    """Wall time per stage."""
    recommend: RecommendRun | None = None
    arrange: ArrangeRun | None = None
    evaluation: EvaluationRun | None = None
    experiment: SimulatedExperimentRun | None = None
    report: Path | None = None
    written: tuple[Path, ...] = field(default=())


def run_demo(
    out: Path,
    *,
    config: ChainConfig | None = None,
    random_state: int = 0,
    draws: int | None = None,
    tune: int | None = None,
    options: DemoOptions | None = None,
    progress: Progress = _quiet,
    on_sampling: Callable[[int, int], None] | None = None,
) -> DemoRun:
    """Run the main job on the bundled chain; artefacts and ``report.html`` go under ``out``.

    ``out`` receives ``data/`` (CSV files), ``shelfwise.db`` (replaced if it exists),
    ``clusters/``, ``rbp-model.npz`` with ``rbp-figures/``, ``recommendations/`` (CSV and
    before/after pictures), ``evaluation/`` (tables, oracle-share figure), ``experiment/`` and
    ``report.html``. ``draws`` / ``tune`` override ``options``.
    """
    opts = options or DemoOptions()
    check_n_jobs(opts.n_jobs)  # before the fit, not only when the evaluation starts
    draws = opts.draws if draws is None else draws
    tune = opts.tune if tune is None else tune
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    db_path = out / "shelfwise.db"
    out.mkdir(parents=True, exist_ok=True)
    for stale in (
        db_path,
        db_path.with_name(db_path.name + "-wal"),
        db_path.with_name(db_path.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    progress("Synthesising the chain")
    chain = generate_chain(config or ChainConfig(), random_state=random_state)
    written = chain.write(out / "data", fmt="csv")
    seconds["synthesise"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Ingesting into SQLite")
    repo = Repository.from_url(sqlite_url(db_path))
    # The EdgeRec3D-layout export repeats the same visits in the published layout; one display's
    # visits may come in one layout only, so the demo stores shelfwise's own.
    own = [p for p in written if p.parent.name != EDGEREC3D_FOLDER]
    report = ingest_files(repo, own)
    seconds["ingest"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Clustering stores")
    clusters = cluster_stores(repo, out / "clusters", random_state=random_state)
    ari = adjusted_rand(clusters.model.labels_, chain.true_cluster)
    seconds["cluster"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress("Fitting the payoff model")
    model = RBPModel(draws=draws, tune=tune, random_state=random_state)
    labels = {s: str(c) for s, c in clusters.model.labels_.items()}
    fit = fit_payoffs(repo, model, out / "rbp-model.npz", clusters=labels, on_progress=on_sampling)
    seconds["fit"] = time.perf_counter() - t0

    rec = evaluation = experiment = None
    extra: list[Path] = []
    if "recommend" in opts.stages:
        t0 = time.perf_counter()
        progress("Recommending and laying out")
        rec = recommend_all(
            repo,
            model,
            clusters=labels,
            out=out / "recommendations",
            random_state=random_state,
        )
        seconds["recommend"] = time.perf_counter() - t0
    arranged = None
    if "arrange" in opts.stages and rec is not None:
        t0 = time.perf_counter()
        if shipped_model_fits(chain):
            progress("Arranging recommendations with the diffusion model")
            # The shipped model's style classes are the chain's segments it was trained on.
            arranged = arrange_recommendations(
                repo,
                style={s: str(c) for s, c in chain.truth.true_cluster.items()},
                out=out / "recommendations",
                run_id=rec.run_id,
                random_state=random_state,
            )
        else:
            progress("No shipped diffusion model for this chain's catalog: arrange skipped")
        seconds["arrange"] = time.perf_counter() - t0
    if "evaluate" in opts.stages:
        t0 = time.perf_counter()
        progress("Evaluating policies")
        evaluation = evaluate_policies(
            repo,
            clusters=labels,
            truth=chain.truth,
            runs=opts.replay_runs,
            rounds=opts.rounds,
            closed_loop=SalesFeedback() if opts.closed_loop else None,
            rbp_options={"draws": opts.eval_draws, "tune": opts.eval_tune},
            ensemble_options={"epochs": opts.ensemble_epochs},
            random_state=random_state,
            n_jobs=opts.n_jobs,
            progress=progress,
        )
        extra += write_tables(evaluation, out / "evaluation")
        seconds["evaluate"] = time.perf_counter() - t0
    if "experiment" in opts.stages and rec is not None:
        t0 = time.perf_counter()
        progress("Simulating a field experiment")
        experiment = simulate_experiment(
            repo,
            chain.truth,
            run_id=rec.run_id,
            compliance_share=opts.compliance_share,
            random_state=random_state,
            out=out / "experiment",
        )
        seconds["experiment"] = time.perf_counter() - t0
    run = DemoRun(
        chain, repo, report, clusters, ari, fit, seconds, rec, arranged, evaluation, experiment
    )
    t0 = time.perf_counter()
    progress("Writing the report")
    path = write_demo_report(run, out / REPORT_FILE, lam_figure=2.0)
    seconds["report"] = time.perf_counter() - t0
    return DemoRun(
        chain,
        repo,
        report,
        clusters,
        ari,
        fit,
        seconds,
        rec,
        arranged,
        evaluation,
        experiment,
        path,
        tuple(extra),
    )


def write_demo_report(run: DemoRun, path: Path, *, lam_figure: float = 2.0) -> Path:
    """One HTML page with every stage's tables and figures."""
    rep = HtmlReport("shelfwise demo: assortment for the bundled synthetic chain")
    chain = run.chain
    rep.paragraph(
        f"{len(chain.stores)} stores, {len(chain.products)} products, {len(chain.displays)} "
        f"displays, {len(chain.visit_log):,} visit rows. Stage times: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in run.seconds.items())
        + "."
    )
    rep.heading("1. Store clusters (SpAGMM profiles + K-means)")
    m = run.clusters.model
    rep.paragraph(
        f"K = {m.k_} chosen by the per-product ANOVA criterion; adjusted Rand index against the "
        f"chain's true clusters {run.cluster_ari:.2f}."
    )
    folder = run.clusters.written[0].parent if run.clusters.written else None
    if folder is not None:
        figs = [
            (folder / f, c)
            for f, c in ((MAP_FIGURE, "stores by cluster"), (CURVE_FIGURE, "K curve"))
        ]
        rep.figures([(f, c) for f, c in figs if f.is_file()])
    rep.heading("2. Payoff model (RBP) and PEPF")
    d = run.fit.model.diagnostics_
    rep.paragraph(
        f"{len(d.products)} products, {d.chains} chains x {d.draws} draws: max R-hat "
        f"{d.rhat_max:.3f}, min bulk ESS {d.ess_bulk_min:.0f}, {d.divergences} divergences, "
        f"{d.sampling_seconds:.0f} s."
    )
    for message in run.fit.warnings:
        rep.paragraph(message, note=True)
    if run.recommend is not None and run.recommend.run.recommendations:
        first = run.recommend.run.recommendations[0]
        products = sorted({it.product_id for it in first.items})
        ranking = rank_candidates(
            run.fit.model,
            first.store_id,
            [(p, 1.0) for p in run.fit.model.product_ids_],
            lam=lam_figure,
        )
        top = ranking.sort_values("mean", ascending=False).head(14)
        rep.figure(
            pepf_figure(
                top, lam=lam_figure, title=f"Top 14 products at {first.store_id}, 1 facing"
            ),
            caption=(
                f"Expected payoff (blue) and PEPF (gold, lambda = {lam_figure:g}) with posterior "
                f"sd, like EdgeRec3D Fig. 9a; display {first.display_id} holds or may add "
                f"{len(set(products) & set(top['product_id']))} of these products."
            ),
        )
    if run.recommend is not None:
        rep.heading("3. Recommendations, laid out")
        recs = run.recommend.run.recommendations
        actions = pd.Series([it.action for r in recs for it in r.items]).value_counts()
        rep.paragraph(
            f"{len(recs)} displays; {sum(r.planogram is not None for r in recs)} laid out by the "
            f"solver with every hard rule met; actions: "
            + ", ".join(f"{a} {n}" for a, n in actions.items())
            + f". Stored as run {run.recommend.run_id}."
        )
        pics = [p for p in run.recommend.written if p.suffix == ".png"]
        for before, after in zip(pics[0::2], pics[1::2], strict=False):
            rep.figures([(before, before.stem), (after, after.stem)])
        for r in recs[:3]:
            rows = [
                {
                    "product": it.product_id,
                    "before": it.previous_facings,
                    "after": it.facings,
                    "action": it.action,
                    "E[r] per day": it.expected_payoff,
                    "PEPF": it.pepf,
                }
                for it in r.items
            ]
            rep.table(pd.DataFrame(rows), caption=f"{r.display_id}: {r.layout_note}")
        for note in run.recommend.notes:
            rep.paragraph(note, note=True)
    ar = run.arrange
    if ar is not None and not ar.table.empty:
        rep.heading("3b. The same recommendations, arranged by the diffusion model")
        rep.paragraph(
            "The shipped planogram diffusion model (trained on the chain's historical "
            "planograms of its training stores; see shelfwise generate) places each "
            "recommended assortment in the style of the store's segment (the model's style "
            "classes are the chain's true segments); the structured decoder, the "
            "validator and repair make every planogram it hands out valid. 'raw valid' is the "
            "decoder's planogram before repair."
        )
        rep.table(ar.table, caption=f"Arranged by the diffusion model ({ar.precision})")
        rep.figures([(p, p.stem) for p in ar.written])
        for note in ar.notes:
            rep.paragraph(note, note=True)
    ev = run.evaluation
    if ev is not None:
        rep.heading("4. Offline evaluation")
        rep.paragraph(
            f"Payoff models fitted on {ev.train_rows:,} intervals before "
            f"{ev.split_at:%Y-%m-%d}; {ev.test_events:,} later visits replayed (Li et al. 2011: "
            "a slot counts when the recommended facings equal the logged ones). Every search "
            "baseline optimises the same clustered RBP posterior mean as EdgeRec3D."
        )
        rep.table(ev.replay_baselines, caption="Replay, baselines (like Table 1)")
        rep.table(ev.replay_ablations, caption="Replay, ablations (like Table 3)")
        if ev.truth_baselines is not None:
            rep.table(
                ev.truth_baselines.table(),
                caption="True expected daily sales per display after the last round, and share "
                "of the oracle (exact best facings under the true demand)",
            )
            rep.figure(
                oracle_share_figure(ev.truth_baselines), caption="Share of the oracle by round"
            )
        if ev.truth_ablations is not None:
            rep.table(ev.truth_ablations.table(), caption="True expected sales, ablations")
        if ev.closed_loop_baselines is not None:
            rep.paragraph(
                "Closed loop: after each round, two weeks of sales of every recommended state "
                "are drawn from the true demand and each policy's payoff model learns from its "
                "own recommendations' sales (a conjugate correction of each store-product level "
                "and of each product's facings curve); candidates are drawn afresh from each "
                "round's state, as in a deployment."
            )
            rep.table(
                ev.closed_loop_baselines.table(),
                caption="Closed loop: true expected sales after the last round, baselines",
            )
            rep.figure(
                oracle_share_figure(
                    ev.closed_loop_baselines, title="Closed loop: share of the oracle by round"
                ),
                caption="Closed loop: share of the oracle by round",
            )
        if ev.closed_loop_ablations is not None:
            rep.table(
                ev.closed_loop_ablations.table(),
                caption="Closed loop: true expected sales, ablations",
            )
        for note in ev.notes:
            rep.paragraph(note, note=True)
    ex = run.experiment
    if ex is not None:
        rep.heading("5. Simulated field experiment")
        rep.paragraph(
            "Within each store, displays are randomly assigned to treatment or control; treated "
            "displays' merchandisers comply with the recommendation with the configured share; "
            "daily sales come from the chain's true demand."
        )
        rep.table(ex.table, caption="Difference in differences (units per display per day)")
        for f in [p for p in ex.written if p.suffix == ".png"]:
            rep.figure(f, caption="Treatment vs control, daily mean sales (like Fig. 3)")
    return rep.write(path)
