"""The CLI end to end through Typer's CliRunner (small sizes so it stays fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
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
    assert "migrated from empty to 0001" in first.output
    again = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert "already at revision 0001" in again.output


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
    assert (out / "visits.csv").is_file() and (out / "edgerec3d_visits.csv").is_file()
    url = sqlite_url(tmp_path / "chain.db")
    ingest = runner.invoke(app, ["ingest", str(out), "--database-url", url])
    assert ingest.exit_code == 0, ingest.output
    assert Repository.from_url(url).counts().stores == 6
    demo = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), *small])
    assert demo.exit_code == 0, demo.output
    assert (tmp_path / "demo" / "shelfwise.db").is_file()
    assert "visit_items" in demo.output
