"""``shelfwise planogram``: validate, solve, repair, render and export planograms."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from shelfwise.cli._common import DatabaseOption, console, err_console, run_or_exit
from shelfwise.domain import Planogram
from shelfwise.exceptions import InvalidParameterError
from shelfwise.planogram.io import write_planograms
from shelfwise.planogram.psa import PsaDocument, write_psa
from shelfwise.planogram.render import render_to_file
from shelfwise.planogram.repair import repair
from shelfwise.planogram.rules import Rulebook, default_rulebook, load_rulebook
from shelfwise.planogram.solver import solve_layout
from shelfwise.planogram.sources import (
    PLANOGRAM_SUFFIXES,
    PlanogramBundle,
    load_from_database,
    load_from_file,
    read_facings,
    read_unit_sales,
)
from shelfwise.planogram.validator import summarize, validate, violations_frame
from shelfwise.storage import Repository

app = typer.Typer(
    help="Validate, solve, repair, render and export planograms.", no_args_is_help=True
)

FileArg = Annotated[
    Path | None,
    typer.Argument(
        help="A .psa file (self-contained) or a CSV / Parquet positions file (display and "
        "products come from the database). Omit to use --display.",
        show_default=False,
    ),
]
DisplayOpt = Annotated[
    str | None, typer.Option("--display", help="Display id of a planogram in the database.")
]
VersionOpt = Annotated[
    int | None, typer.Option("--version", help="Planogram version (default: the latest).")
]
RulesOpt = Annotated[
    Path | None,
    typer.Option("--rules", help="Rulebook YAML/JSON file (default: the built-in rulebook)."),
]
SalesOpt = Annotated[
    Path | None,
    typer.Option(
        "--sales",
        help="CSV with product_id and units_per_day (sales heat map, days of supply).",
    ),
]


def _bundle(
    file: Path | None, display: str | None, version: int | None, database_url: str | None
) -> PlanogramBundle:
    if file is None and display is None:
        raise InvalidParameterError("give a planogram FILE or --display ID; got neither")
    if file is not None:
        suffix = file.suffix.lower()
        if suffix not in PLANOGRAM_SUFFIXES:
            raise InvalidParameterError(
                f"FILE must end in one of {', '.join(PLANOGRAM_SUFFIXES)}; got {file}"
            )
        if suffix == ".psa":
            if display is not None or version is not None:
                raise InvalidParameterError(
                    "--display and --version do not apply to a .psa file (it holds one "
                    f"planogram); got --display {display!r} --version {version!r}"
                )
            return load_from_file(file)
    repo = Repository.from_url(database_url, create=False)
    if file is not None:
        return load_from_file(file, repo=repo, display_id=display, version=version)
    return load_from_database(repo, display or "", version=version)


def _rules(path: Path | None) -> Rulebook:
    return default_rulebook() if path is None else load_rulebook(path)


def _sales(path: Path | None) -> dict[str, float] | None:
    return None if path is None else read_unit_sales(path)


def _write(
    bundle: PlanogramBundle,
    path: Path,
    *,
    sales: dict[str, float] | None = None,
    rules: Rulebook | None = None,
) -> Path:
    """Write a planogram by the target's suffix (.psa, .csv, .parquet, .svg, .png)."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".psa":
        products = tuple(
            bundle.catalog[pid]
            for pid in sorted(
                {p.product_id for p in bundle.planogram.positions} & set(bundle.catalog)
            )
        )
        write_psa(
            PsaDocument(bundle.project_name, bundle.display, products, bundle.planogram), path
        )
    elif suffix in (".csv", ".parquet", ".pq"):
        write_planograms([bundle.planogram], path)
    elif suffix in (".svg", ".png"):
        report = validate(
            bundle.planogram,
            bundle.display,
            bundle.catalog,
            rules or default_rulebook(),
            unit_sales_per_day=sales,
        )
        render_to_file(
            bundle.planogram,
            bundle.display,
            bundle.catalog,
            path,
            violations=report.violations,
            unit_sales=sales,
        )
    else:
        raise InvalidParameterError(
            f"--to/--out suffix must be one of .psa, .csv, .parquet, .svg, .png; got {suffix!r}"
        )
    return path


def _save(database_url: str | None, planogram: Planogram, provenance: str) -> Planogram:
    repo = Repository.from_url(database_url)
    versions = repo.planograms(planogram.display_id)
    new = replace(
        planogram, version=(versions[-1].version + 1) if versions else 1, provenance=provenance
    )
    repo.add_planograms([new])
    return new


@app.command("validate")
def validate_cmd(
    file: FileArg = None,
    display: DisplayOpt = None,
    version: VersionOpt = None,
    rules: RulesOpt = None,
    sales: SalesOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Check a planogram against the rulebook; exit 1 when a hard rule is broken."""
    bundle = run_or_exit(lambda: _bundle(file, display, version, database_url), stores=False)
    book = run_or_exit(lambda: _rules(rules), stores=False)
    unit_sales = run_or_exit(lambda: _sales(sales), stores=False)
    report = run_or_exit(
        lambda: validate(
            bundle.planogram, bundle.display, bundle.catalog, book, unit_sales_per_day=unit_sales
        )
    )
    summary = summarize(report)
    if as_json:
        payload = summary.to_dict()
        violations = json.loads(violations_frame(report).to_json(orient="records"))
        for v in violations:
            v["product_ids"] = [p for p in (v["product_ids"] or "").split(",") if p]
        payload["violations"] = violations
        payload["soft_penalty"] = round(float(summary.soft_penalty), 6)
        typer.echo(json.dumps(payload, indent=2))
    else:
        console.print(str(summary), highlight=False, markup=False)
        if report.violations:
            table = Table(title="Violations")
            for col in ("severity", "rule", "shelf", "products", "measured", "limit", "message"):
                table.add_column(col, overflow="fold")
            for v in report.violations:
                table.add_row(
                    v.severity.value,
                    v.rule_id,
                    "" if v.shelf_index is None else str(v.shelf_index),
                    ", ".join(v.product_ids),
                    "" if v.measured is None else f"{v.measured:.4g}",
                    "" if v.limit is None else f"{v.limit:.4g}",
                    v.message,
                )
            console.print(table)
    if not report.is_valid:
        raise typer.Exit(1)


@app.command("solve")
def solve_cmd(
    display: Annotated[str, typer.Option("--display", help="Display id in the database.")],
    facings: Annotated[
        Path | None,
        typer.Option(
            "--facings",
            help="CSV with product_id and facings (default: the display's latest "
            "planogram's facings).",
        ),
    ] = None,
    rules: RulesOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the solved planogram (.psa, .csv, .parquet, .svg, .png)."
        ),
    ] = None,
    save: Annotated[
        bool,
        typer.Option("--save", help="Store the result as the display's next planogram version."),
    ] = False,
    time_limit: Annotated[float, typer.Option(help="Solver time limit in seconds.")] = 10.0,
    sales: SalesOpt = None,
    database_url: DatabaseOption = None,
) -> None:
    """Lay out a product -> facings set on a display, meeting every hard rule."""

    def work() -> PlanogramBundle:
        repo = Repository.from_url(database_url, create=False)
        disp = repo.get_display(display)
        catalog = {p.product_id: p for p in repo.list_products()}
        if facings is None:
            wanted = dict(repo.latest_planogram(display).facings())
        else:
            wanted = read_facings(facings, catalog=catalog)
        plan = solve_layout(
            disp,
            wanted,
            catalog,
            _rules(rules),
            time_limit_s=time_limit,
            unit_sales_per_day=_sales(sales),
        )
        return PlanogramBundle(plan, disp, catalog)

    with console.status("Solving..."):
        bundle = run_or_exit(work, stores=False)
    _report_and_store(bundle, out, save, database_url, "solver", rules)


@app.command("repair")
def repair_cmd(
    file: FileArg = None,
    display: DisplayOpt = None,
    version: VersionOpt = None,
    rules: RulesOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the repaired planogram (.psa, .csv, .parquet, .svg, .png)."
        ),
    ] = None,
    save: Annotated[
        bool,
        typer.Option("--save", help="Store the result as the display's next planogram version."),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Turn any planogram into the nearest valid one and report what changed."""
    bundle = run_or_exit(lambda: _bundle(file, display, version, database_url), stores=False)
    book = run_or_exit(lambda: _rules(rules), stores=False)
    with console.status("Repairing..."):
        result = run_or_exit(
            lambda: repair(bundle.planogram, bundle.display, bundle.catalog, book), stores=False
        )
    if not result.changed:
        console.print("Already valid; nothing changed.")
        save = False
    else:
        table = Table(title=f"Changes ({len(result.changes)})")
        for col in ("change", "product", "detail"):
            table.add_column(col, overflow="fold")
        for c in result.changes:
            table.add_row(c.kind.value, c.product_id, c.message)
        console.print(table)
        console.print(
            f"Facings removed: {result.facings_removed} "
            f"({result.facings_dropped_share:.1%} of the input's facings)."
        )
    _report_and_store(
        bundle.with_planogram(result.planogram), out, save, database_url, "repair", rules
    )


def _report_and_store(
    bundle: PlanogramBundle,
    out: Path | None,
    save: bool,
    database_url: str | None,
    provenance: str,
    rules: Path | None,
) -> None:
    """Print the result's validation; write and store it only when every hard rule holds."""
    book = run_or_exit(lambda: _rules(rules), stores=False)
    report = validate(bundle.planogram, bundle.display, bundle.catalog, book)
    console.print(str(summarize(report)), highlight=False, markup=False)
    if out is not None:
        written = run_or_exit(lambda: _write(bundle, out, rules=book), stores=False)
        console.print(f"Wrote {written}")
    if not report.is_valid:
        err_console.print(
            "[bold red]The result breaks a hard rule[/]; it was not stored.", soft_wrap=True
        )
        raise typer.Exit(1)
    if save:
        stored = run_or_exit(lambda: _save(database_url, bundle.planogram, provenance))
        console.print(f"Stored as version {stored.version} of display {stored.display_id}.")


@app.command("render")
def render_cmd(
    file: FileArg = None,
    display: DisplayOpt = None,
    version: VersionOpt = None,
    out: Annotated[Path, typer.Option("--out", help="Image to write (.png or .svg).")] = Path(
        "planogram.png"
    ),
    rules: RulesOpt = None,
    sales: SalesOpt = None,
    database_url: DatabaseOption = None,
) -> None:
    """Draw a planogram to scale (violations highlighted; a heat map with --sales)."""

    def work() -> Path:
        if out.suffix.lower() not in (".png", ".svg"):
            raise InvalidParameterError(f"--out must end in .png or .svg; got {out.suffix!r}")
        bundle = _bundle(file, display, version, database_url)
        return _write(bundle, out, sales=_sales(sales), rules=_rules(rules))

    console.print(f"Wrote {run_or_exit(work, stores=False)}")


@app.command("export")
def export_cmd(
    file: FileArg = None,
    to: Annotated[
        Path,
        typer.Option(
            "--to",
            help="Target file; its suffix picks the format (.psa, .csv, .parquet, .svg, .png).",
        ),
    ] = Path("out.psa"),
    display: DisplayOpt = None,
    version: VersionOpt = None,
    database_url: DatabaseOption = None,
) -> None:
    """Convert a planogram between formats by the target's suffix."""
    bundle = run_or_exit(lambda: _bundle(file, display, version, database_url), stores=False)
    written = run_or_exit(lambda: _write(bundle, to), stores=False)
    console.print(f"Wrote {written}")
