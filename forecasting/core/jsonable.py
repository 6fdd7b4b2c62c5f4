"""Frames and values -> JSON-able Python: the one converter alerts, summaries and XCom use."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd


def plain(value: Any) -> Any:
    """JSON-able: NA -> None, timestamps -> ISO text, numpy scalars -> Python, containers recursed."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and value != value)
    ):
        return None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (bool, int, float, str)) else str(value)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One JSON-able dict per row of ``frame`` (columns in order)."""
    return [{k: plain(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
