"""Root causes from the explain stage on the reserves page and in escalation details."""

from __future__ import annotations

from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves.causes import causes_body, latest_causes, site_causes

TEXT = "reporting at WH-FR-002 fell to 12% of its usual rate: 71% of the outlier"


def _scores(lake: Lake, day: date, text: str) -> None:
    lake.write_parquet(pd.DataFrame({
        schema.WAREHOUSE_ID: ["WH-FR-002", "WH-DE-001"],
        schema.PERIOD_START: pd.to_datetime(["2025-01-06", "2025-01-06"]),
        schema.OUTLIER_SCORE: [6.2, 1.0], schema.EXCEEDED_P95: [True, False],
        schema.FLAGGED: [True, False], schema.CAUSE_TEXT: [text, None],
    }), lake.explain_file(day, "scores"))  # fmt: skip


def test_latest_explain_on_or_before_as_of_is_read(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    assert latest_causes(lake, date(2025, 2, 3))[0] is None
    _scores(lake, date(2025, 1, 27), "old")
    _scores(lake, date(2025, 2, 3), TEXT)
    _scores(lake, date(2025, 2, 10), "later")
    day, causes = latest_causes(lake, date(2025, 2, 3))
    assert day == date(2025, 2, 3) and list(causes[schema.WAREHOUSE_ID]) == ["WH-FR-002"]
    assert site_causes(causes, ["WH-FR-002", "WH-XX-001"]) == {"WH-FR-002": f"week of 2025-01-06: {TEXT}"}


def test_causes_are_a_table_most_unusual_first(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    as_of = date(2025, 2, 3)
    assert "No root-cause analysis yet" in causes_body(*latest_causes(lake, as_of))
    _scores(lake, as_of, TEXT)
    body = causes_body(*latest_causes(lake, as_of))
    assert "fell to 12% of its usual rate" in body and body.count("<tr>") == 2  # header + 1 week
    assert "No outlier week as of 2025-02-03" in causes_body(as_of, pd.DataFrame())
