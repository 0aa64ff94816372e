"""The HTML report is one self-contained, escaped document."""

from __future__ import annotations

import base64
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import pytest

from shelfwise.exceptions import InvalidParameterError
from shelfwise.report import HtmlReport


def test_report_embeds_tables_and_figures(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = tmp_path / "a.png"
    fig.savefig(png)
    frame = pd.DataFrame({"policy": ["EdgeRec3D", "DP"], "share": [0.97, 0.9]}).set_index("policy")
    out = (
        HtmlReport("Demo <report>")
        .heading("Results & tables")
        .paragraph("sales <up>", note=True)
        .table(frame, caption="shares")
        .figure(fig, caption="line")
        .figures([(png, "file"), (fig, "again")])
        .write(tmp_path / "r" / "report.html")
    )
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "Demo &lt;report&gt;" in text and "Results &amp; tables" in text
    assert "sales &lt;up&gt;" in text
    assert "<td>0.970</td>" in text and "EdgeRec3D" in text
    assert text.count("data:image/png;base64,") == 3
    payload = text.split("data:image/png;base64,")[2].split("'")[0]
    assert base64.b64decode(payload) == png.read_bytes()
    assert "src='http" not in text
    plt.close(fig)


def test_report_refuses_non_png(tmp_path: Path) -> None:
    bad = tmp_path / "x.svg"
    bad.write_text("<svg/>")
    with pytest.raises(InvalidParameterError, match="PNG file"):
        HtmlReport("r").figure(bad)
