"""Planograms: rulebook, independent validator, layout solver and repair, KPIs, files, pictures.

Everything that produces planograms (the layout solver, the assortment recommender, generative
models) is judged by :func:`validate`, which knows nothing about how a planogram was made.
"""

from shelfwise.planogram.encoding import PlanogramEncoder
from shelfwise.planogram.io import read_planograms, write_planograms
from shelfwise.planogram.kpis import PlanogramKPIs, planogram_kpis
from shelfwise.planogram.psa import PsaDocument, read_psa, write_psa
from shelfwise.planogram.render import render_grid, render_planogram, render_to_file, save_figure
from shelfwise.planogram.repair import Change, ChangeKind, RepairResult, repair
from shelfwise.planogram.rules import Rulebook, default_rulebook, load_rulebook
from shelfwise.planogram.solver import greedy_layout, solve_layout
from shelfwise.planogram.sources import PlanogramBundle, load_from_database, load_from_file
from shelfwise.planogram.validator import (
    ValidationSummary,
    summarize,
    validate,
    violations_frame,
)
from shelfwise.planogram.violations import Severity, ValidationReport, Violation

__all__ = [
    "Change",
    "ChangeKind",
    "PlanogramBundle",
    "PlanogramEncoder",
    "PlanogramKPIs",
    "PsaDocument",
    "RepairResult",
    "Rulebook",
    "Severity",
    "ValidationReport",
    "ValidationSummary",
    "Violation",
    "default_rulebook",
    "greedy_layout",
    "load_from_database",
    "load_from_file",
    "load_rulebook",
    "planogram_kpis",
    "read_planograms",
    "read_psa",
    "render_grid",
    "render_planogram",
    "render_to_file",
    "repair",
    "save_figure",
    "solve_layout",
    "summarize",
    "validate",
    "violations_frame",
    "write_planograms",
    "write_psa",
]
