"""Reports: one self-contained HTML file with tables and figures."""

from shelfwise.report.html import HtmlReport

__all__ = ["HtmlReport"]
