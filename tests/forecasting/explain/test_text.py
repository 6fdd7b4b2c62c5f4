"""Plain words: the alert text names the top cause and its share of the outlier."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.explain.graph import NODES, render_text
from forecasting.explain.text import cause_text, root_cause_alerts


def _contrib(**values: float) -> pd.DataFrame:
    return pd.DataFrame({schema.EXPLAIN_NODE: list(values), schema.CONTRIBUTION: list(values.values())})


def test_cause_text_names_the_collapse_of_reporting_and_its_share() -> None:
    text = cause_text(
        "WH-FR-002",
        _contrib(reporting=5.0, thefts=1.0, calendar=-0.5, activity=1.0),
        {schema.NODE_REPORTING: math.log(0.12)},
    )
    assert text.startswith("reporting at WH-FR-002 fell to 12% of its usual rate: 71% of the outlier")
    assert "thefts at WH-FR-002" in text and "14% of the outlier" in text
    assert "calendar" not in text  # negative contributions are no cause


def test_cause_text_value_mix_and_count_errors() -> None:
    assert "value of goods lost at WH-A (value mix) ran 6.0 standard deviations above" in cause_text(
        "WH-A", _contrib(value_mix=4.0), {schema.NODE_VALUE_MIX: 6.0}
    )
    assert "count errors" in cause_text(
        "WH-A", _contrib(count_errors=4.0), {schema.NODE_COUNT_ERRORS: 3.2}
    )


def _weeks(node: str, text: str) -> pd.DataFrame:
    return pd.DataFrame([{
        schema.WAREHOUSE_ID: "WH-FR-002", schema.PERIOD_START: pd.Timestamp("2025-01-06"),
        schema.OUTLIER_SCORE: 6.2, schema.EXCEEDED_P95: True, schema.EXPLAIN_NODE: node,
        schema.CAUSE_TEXT: text,
    }])  # fmt: skip


def test_alerts_name_the_cause_data_problems_apart() -> None:
    text = "reporting at WH-FR-002 fell to 12% of its usual rate: 71% of the outlier"
    [alert] = root_cause_alerts(date(2025, 2, 3), _weeks(schema.NODE_REPORTING, text), {})
    assert alert.kind == "root_cause" and alert.title.startswith("Data problems behind unusual weeks")
    assert text in alert.render_text() and "WH-FR-002" in alert.summary
    [alert] = root_cause_alerts(date(2025, 2, 3), _weeks(schema.NODE_THEFTS, "thefts at ..."), {})
    assert alert.kind == "root_cause" and alert.title.startswith("Unusual weeks and their causes")
    assert root_cause_alerts(date(2025, 2, 3), _weeks(schema.NODE_THEFTS, "x").iloc[:0], {}) == []


def test_the_worst_week_heads_the_alert_and_no_p95_breach_is_info() -> None:
    weeks = pd.concat([_weeks(schema.NODE_THEFTS, f"thefts at WH-{i}") for i in range(3)], ignore_index=True)
    weeks[schema.WAREHOUSE_ID] = ["WH-AA-001", "WH-ZZ-009", "WH-MM-005"]
    weeks[schema.OUTLIER_SCORE] = [53.0, 124.5, 60.0]
    weeks[schema.EXCEEDED_P95] = False
    [alert] = root_cause_alerts(date(2025, 2, 3), weeks, {})
    assert alert.summary.startswith("Most unusual: WH-ZZ-009") and "124.5" in alert.summary
    assert [r[schema.WAREHOUSE_ID] for r in alert.rows] == ["WH-ZZ-009", "WH-MM-005", "WH-AA-001"]
    assert alert.severity == "info" and "0 of the 3 week(s) went above" in alert.summary


def test_the_docs_figure_is_the_code_graph() -> None:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "explain.md").read_text()
    assert render_text() in doc, "regenerate the figure: python -c 'from forecasting.explain.graph import render_text; print(render_text())'"
    assert all(n in doc for n in NODES)
