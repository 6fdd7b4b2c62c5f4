"""Root causes from the explain stage on the reserves page and in escalation details."""

from __future__ import annotations

from datetime import date

import pandas as pd

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves.causes import (
    MARK_START,
    causes_block,
    insert_causes,
    latest_causes,
    refresh_page,
    site_causes,
)

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


def test_page_block_is_inserted_once_and_refreshed(tmp_path) -> None:
    lake = Lake(str(tmp_path))
    as_of = date(2025, 2, 3)
    lake.write_text(lake.reserves_report(as_of), "<html><body><h1>Reserves</h1></body></html>")
    _scores(lake, as_of, TEXT)
    assert refresh_page(lake, as_of) and refresh_page(lake, as_of)
    page = lake.read_text(lake.reserves_report(as_of))
    assert page.count(MARK_START) == 1 and "fell to 12% of its usual rate" in page
    assert page.index("Root causes") < page.index("</body>")
    assert insert_causes(page, causes_block(None, pd.DataFrame())).count(MARK_START) == 1
