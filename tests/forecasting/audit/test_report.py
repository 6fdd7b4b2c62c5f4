"""The audit report: forest plot grouped by region, zero-data sites unranked, no repeated columns."""

from __future__ import annotations

import pandas as pd

from forecasting.audit.report import render_html, render_markdown
from tests.support.audit_table import audit_summary, audit_table


def _section(md: str, heading: str) -> list[str]:
    part = md.split(heading)[1].split("\n## ")[0]
    return [line for line in part.splitlines() if line.startswith("|")]


def test_sites_without_data_are_listed_last_and_not_ranked():
    md = render_markdown(audit_table(), audit_summary(), pd.Series([1.0, 3.0]))
    rows = _section(md, "## Warehouses")
    ids = [r.split("|")[1].strip() for r in rows[2:]]
    assert ids == ["WH-C", "WH-A", "WH-B", "WH-Z"]  # lowest rate first, no-data last
    assert "no data" in rows[-1] and "51.0%" not in rows[-1]


def test_tables_do_not_repeat_columns():
    md = render_markdown(audit_table(), audit_summary(), pd.Series([1.0]))
    header = [c.strip() for c in _section(md, "## Regions")[0].split("|")[1:-1]]
    assert header == ["region", "unexplained losses", "reported", "reporting rate", "interval",
                      "reports without a loss"]
    site_header = [c.strip() for c in _section(md, "## Warehouses")[0].split("|")[1:-1]]
    assert len(site_header) == len(set(site_header)) and "lo" not in site_header and "hi" not in site_header


def test_html_has_the_forest_plot_before_the_tables():
    table = audit_table()
    md = render_markdown(table, audit_summary(), pd.Series([1.0]))
    page = render_html(md, "riskcast audit <x>", table)
    assert page.index("<svg") < page.index("<table>")
    assert "Reporting rate per site" in page and "north (region)" in page and "WH-Z: no data" in page
    assert "riskcast audit &lt;x&gt;" in page
    assert "<svg" not in render_html(md, "t")  # without the table: the Markdown only
