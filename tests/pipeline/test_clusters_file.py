"""A clusters file is read strictly: every bad row is named, nothing is guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.exceptions import InvalidParameterError
from shelfwise.pipeline.models import check_clusters, read_clusters


def test_reads_a_clusters_file(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("store_id,cluster\nS1,0\nS2, 1\n", encoding="utf-8")
    assert read_clusters(path) == {"S1": "0", "S2": "1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("store,cluster\nS1,0\n", "must have columns store_id and cluster"),
        ("store_id,cluster\nS1,\n", r"row 2: store_id and cluster must be non-empty"),
        ("store_id,cluster\nS1,0\nS1,1\n", r"row 3: store 'S1' is given two clusters"),
        ("store_id,cluster\n", "has no rows"),
    ],
)
def test_bad_clusters_files_are_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidParameterError, match=message):
        read_clusters(path)


def test_missing_file_and_unknown_stores(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="does not exist or is not a file"):
        read_clusters(tmp_path / "nope.csv")
    with pytest.raises(InvalidParameterError, match=r"names store 'S9'.*1 unknown"):
        check_clusters({"S1": "0", "S9": "1"}, ["S1", "S2"], source="clusters.csv")
