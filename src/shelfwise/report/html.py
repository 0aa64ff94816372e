"""One self-contained HTML report: headings, text, tables and figures embedded as PNG.

The report has no external assets (images are base64 data URIs), so it can be mailed or
archived as one file. Tables come from pandas; figures are matplotlib figures or PNG files.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from shelfwise import __version__
from shelfwise.exceptions import InvalidParameterError

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #2b6cb0; padding-bottom: .2em; }
h2 { margin-top: 2em; color: #2b6cb0; }
table { border-collapse: collapse; margin: .8em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; }
th { background: #edf2f7; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
figcaption { color: #555; font-size: 0.9em; }
img { max-width: 100%; border: 1px solid #ddd; }
.note { background: #fffbea; border-left: 4px solid #d69e2e; padding: .5em .8em; }
.meta { color: #666; font-size: 0.85em; }
.row { display: flex; gap: 1em; flex-wrap: wrap; }
.row figure { flex: 1 1 45%; }
"""


@dataclass
class HtmlReport:
    """Build a report section by section, then :meth:`write` it.

    Parameters
    ----------
    title : str
        The report's title (``<h1>``).
    """

    title: str
    _parts: list[str] = field(default_factory=list)

    def heading(self, text: str) -> HtmlReport:
        """A section heading (``<h2>``)."""
        self._parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def paragraph(self, text: str, *, note: bool = False) -> HtmlReport:
        """A paragraph of plain text (escaped); ``note`` draws it as a call-out."""
        cls = ' class="note"' if note else ""
        self._parts.append(f"<p{cls}>{html.escape(text)}</p>")
        return self

    def items(self, lines: list[str]) -> HtmlReport:
        """A bulleted list of plain-text lines."""
        body = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        self._parts.append(f"<ul>{body}</ul>")
        return self

    def table(
        self, frame: pd.DataFrame, *, caption: str = "", float_format: str = "{:.3f}"
    ) -> HtmlReport:
        """A table from a DataFrame (index shown when it is named)."""
        show_index = frame.index.name is not None or any(n is not None for n in frame.index.names)
        body = frame.to_html(
            index=show_index,
            float_format=float_format.format,
            border=0,
            na_rep="",
            escape=True,
        )
        cap = f"<p class='meta'>{html.escape(caption)}</p>" if caption else ""
        self._parts.append(body + cap)
        return self

    def figure(self, fig: Figure | str | Path, *, caption: str = "") -> HtmlReport:
        """A figure: a matplotlib figure (rendered to PNG at 110 dpi) or a PNG file."""
        self._parts.append(_figure_html(fig, caption))
        return self

    def figures(self, figs: list[tuple[Figure | str | Path, str]]) -> HtmlReport:
        """Several figures side by side, each with its caption."""
        body = "".join(_figure_html(f, c) for f, c in figs)
        self._parts.append(f"<div class='row'>{body}</div>")
        return self

    def render(self) -> str:
        """The whole document as a string."""
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M")
        head = (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(self.title)}</h1>"
            f"<p class='meta'>shelfwise {html.escape(__version__)}, written {stamp}</p>"
        )
        return head + "\n".join(self._parts) + "</body></html>"

    def write(self, path: str | Path) -> Path:
        """Write the document (UTF-8) and return its path."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.render(), encoding="utf-8")
        return out


def _figure_html(fig: Figure | str | Path, caption: str) -> str:
    if isinstance(fig, Figure):
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        data = buf.getvalue()
    else:
        p = Path(fig)
        if p.suffix.lower() != ".png" or not p.is_file():
            raise InvalidParameterError(
                f"figure must be a matplotlib Figure or a PNG file; got {p}"
            )
        data = p.read_bytes()
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f"<figure><img src='{uri}' alt='{html.escape(caption)}'>{cap}</figure>"
