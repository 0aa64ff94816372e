"""The CLI end to end through Typer's CliRunner (small sizes so it stays fast)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.planogram.io import write_planograms
from shelfwise.storage import Repository, sqlite_url
from tests.storage.test_ingest import VISITS, write, write_valid

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["db"], ["synth"], ["ingest"], ["demo"], ["db", "upgrade"]])
def test_help_everywhere(args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_db_upgrade_reports_what_it_did(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "x.db")
    first = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert first.exit_code == 0, first.output
    assert "migrated from empty to 0002" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert "already at revision 0002" in again.output


def test_ingest_prints_what_it_stored_and_rejects_bad_files(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "x.db")
    paths = [str(p) for p in write_valid(tmp_path / "ok")]
    ok = runner.invoke(app, ["ingest", *paths, "--database-url", url])
    assert ok.exit_code == 0, ok.output
    assert "Stored 20 new row(s) from 6 file(s)." in ok.output
    before = Repository.from_url(url).counts()
    bad = write(
        tmp_path / "bad",
        "visits",
        VISITS.assign(visit_id=["V9"] * 2 + ["V8"] * 2, product_id=["P1", "P1", "P2", "ZZ"]),
    )
    result = runner.invoke(app, ["ingest", str(bad), "--database-url", url])
    assert result.exit_code == 1
    assert "nothing was stored" in result.output
    assert "visits.csv, row 2, column 'visit_id/product_id'" in result.output
    assert Repository.from_url(url).counts() == before


def test_synth_then_ingest_then_demo(tmp_path: Path) -> None:
    small = ["--stores", "6", "--products", "20", "--weeks", "2"]
    out = tmp_path / "chain"
    synth = runner.invoke(app, ["synth", "--out", str(out), *small, "--displays-per-store", "2"])
    assert synth.exit_code == 0, synth.output
    assert (out / "visits.csv").is_file()
    assert (out / "edgerec3d" / "edgerec3d_visits.csv").is_file()
    url = sqlite_url(tmp_path / "chain.db")
    ingest = runner.invoke(app, ["ingest", str(out), "--database-url", url])
    assert ingest.exit_code == 0, ingest.output
    assert Repository.from_url(url).counts().stores == 6
    quick = ["--draws", "60", "--tune", "60", "--eval-draws", "40", "--replay-runs", "2"]
    quick += ["--rounds", "2", "--ensemble-epochs", "5"]
    demo = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), *small, *quick])
    assert demo.exit_code == 0, demo.output
    folder = tmp_path / "demo"
    assert (folder / "shelfwise.db").is_file()
    assert (folder / "clusters" / "store_clusters.csv").is_file()
    assert (folder / "rbp-model.npz").is_file()
    assert list((folder / "rbp-figures").glob("rbp_pepf_*.png"))
    assert "Store clusters: K =" in demo.output
    assert "Stage times: synthesise" in demo.output
    assert "visit_items" in demo.output
    for stage in ("recommend", "evaluate", "experiment", "report"):
        assert f"{stage} " in demo.output.split("Stage times:")[1]
    report = (folder / "report.html").read_text(encoding="utf-8")
    for section in ("Store clusters", "Recommendations, laid out", "Offline evaluation"):
        assert section in report
    assert "Simulated field experiment" in report
    assert report.count("data:image/png;base64,") >= 6
    assert (folder / "recommendations" / "recommendations.csv").is_file()
    assert list((folder / "recommendations").glob("*_after.png"))
    assert (folder / "evaluation" / "replay_baselines.csv").is_file()
    assert (folder / "evaluation" / "oracle_share.png").is_file()
    assert (folder / "evaluation" / "oracle_share_closed_loop.png").is_file()
    closed = pd.read_csv(folder / "evaluation" / "closed_loop_baselines.csv", index_col=0)
    assert {"EdgeRec3D", "Dynamic Program", "oracle"} <= set(closed.index)
    assert closed["share"].max() <= 1.0 + 1e-9
    assert "Closed loop" in report
    assert (folder / "experiment" / "experiment_trend.png").is_file()
    url = sqlite_url(folder / "shelfwise.db")
    runs = Repository.from_url(url).recommendation_runs()
    assert list(runs["policy"]) == ["EdgeRec3D"]

    # the stand-alone commands on the demo's database and model
    rec = runner.invoke(
        app,
        ["recommend", "-d", url, "-m", str(folder / "rbp-model.npz"), "-o", str(tmp_path / "r")],
    )
    assert rec.exit_code == 0, rec.output
    assert "Stored as recommendation run 2." in rec.output
    exp = runner.invoke(
        app,
        [
            "experiment",
            "--simulate",
            "-d",
            url,
            *small[:4],
            "--weeks",
            "2",
            "--permutations",
            "200",
            "--bootstrap",
            "100",
            "-o",
            str(tmp_path / "e"),
        ],
    )
    assert exp.exit_code == 0, exp.output
    assert "true_effect" in exp.output or "true effect" in exp.output
    wrong = runner.invoke(app, ["experiment", "--simulate", "-d", url, "--truth-seed", "7"])
    assert wrong.exit_code == 1
    assert "does not hold the synthetic chain of seed 7" in wrong.output


def _demo_db(tmp_path: Path) -> str:
    """A small chain synthesised and ingested (what the demo does first), without the fit."""
    small = ["--stores", "4", "--products", "20", "--weeks", "2"]
    data = tmp_path / "data"
    result = runner.invoke(app, ["synth", "--out", str(data), *small])
    assert result.exit_code == 0, result.output
    url = sqlite_url(tmp_path / "chain.db")
    result = runner.invoke(app, ["ingest", str(data), "-d", url])
    assert result.exit_code == 0, result.output
    return url


def test_planogram_commands_end_to_end(tmp_path: Path) -> None:
    url = _demo_db(tmp_path)
    display = Repository.from_url(url).list_displays()[0].display_id
    ok = runner.invoke(app, ["planogram", "validate", "--display", display, "-d", url])
    assert ok.exit_code == 0, ok.output
    assert f"display {display}: valid" in ok.output
    psa = tmp_path / "p.psa"
    exported = runner.invoke(
        app, ["planogram", "export", "--display", display, "--to", str(psa), "-d", url]
    )
    assert exported.exit_code == 0, exported.output
    as_json = runner.invoke(app, ["planogram", "validate", str(psa), "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert '"is_valid": true' in as_json.output
    png = tmp_path / "solved.png"
    solved = runner.invoke(
        app, ["planogram", "solve", "--display", display, "--out", str(png), "--save", "-d", url]
    )
    assert solved.exit_code == 0, solved.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Stored as version" in solved.output
    svg = tmp_path / "p.svg"
    rendered = runner.invoke(app, ["planogram", "render", str(psa), "--out", str(svg)])
    assert rendered.exit_code == 0, rendered.output
    assert svg.read_text().lstrip().startswith("<?xml")


def test_planogram_validate_exits_1_on_hard_violation_and_repair_fixes_it(tmp_path: Path) -> None:
    url = _demo_db(tmp_path)
    repo = Repository.from_url(url)
    display = repo.list_displays()[0]
    plano = repo.latest_planogram(display.display_id)
    first = plano.positions[0]
    crowded = [*plano.positions, replace(first, facings_wide=first.facings_wide + 20)]
    bad = tmp_path / "bad.csv"
    write_planograms([replace(plano, positions=tuple(crowded[1:]), version=99)], bad)
    result = runner.invoke(app, ["planogram", "validate", str(bad), "-d", url])
    assert result.exit_code == 1, result.output
    assert "INVALID" in result.output
    fixed = tmp_path / "fixed.csv"
    repaired = runner.invoke(app, ["planogram", "repair", str(bad), "--out", str(fixed), "-d", url])
    assert repaired.exit_code == 0, repaired.output
    assert "Facings removed" in repaired.output
    again = runner.invoke(app, ["planogram", "validate", str(fixed), "-d", url])
    assert again.exit_code == 0, again.output


def test_planogram_bad_inputs_are_clear(tmp_path: Path) -> None:
    none = runner.invoke(app, ["planogram", "validate"])
    assert none.exit_code == 1
    assert "give a planogram FILE or --display ID" in none.output
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {id: x, type: brand_share, brand: A, min_share: 2}\n")
    psa = tmp_path / "missing.psa"
    missing = runner.invoke(app, ["planogram", "validate", str(psa), "--rules", str(rules)])
    assert missing.exit_code == 1
    assert "missing.psa" in missing.output


def test_planogram_cli_refuses_bad_inputs_without_tracebacks(tmp_path: Path) -> None:
    url = _demo_db(tmp_path)
    display = Repository.from_url(url).list_displays()[0].display_id
    facings = tmp_path / "facings.csv"
    facings.write_text("product_id,facings\nP0001,two\nNOPE,1\nP0002,\n")
    result = runner.invoke(
        app, ["planogram", "solve", "--display", display, "--facings", str(facings), "-d", url]
    )
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "facings.csv, row 1, column 'facings': must be a whole number >= 0; got 'two'" in (
        result.output
    )
    assert "row 2, column 'product_id': must be a product in the database; got 'NOPE'" in (
        result.output
    )
    assert "nothing was stored" not in result.output
    readme = tmp_path / "README.md"
    readme.write_text("hello")
    wrong = runner.invoke(app, ["planogram", "validate", str(readme)])
    assert wrong.exit_code == 1
    assert "FILE must end in one of .psa, .csv, .parquet, .pq" in wrong.output
    nodb = runner.invoke(
        app,
        ["planogram", "validate", "--display", display, "-d", sqlite_url(tmp_path / "absent.db")],
    )
    assert nodb.exit_code == 1
    assert "no database at" in nodb.output
    assert not (tmp_path / "absent.db").exists()
