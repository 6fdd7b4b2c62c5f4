"""Which scorings the lake holds: ``track/as_of=D/`` partitions with their ``coverage.json``.

The reserves page of D shows the latest scoring on or before D; the track stage compares its
coverage state with the latest scoring before D. Both read only partitions up to their own
day, so re-rendering an old day never shows what was learnt later.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from forecasting.core.errors import ConfigError
from forecasting.core.lake import Lake, parse_date
from forecasting.core.layout import TRACK


def latest_scoring(lake: Lake, day: date, *, before: bool = False) -> date | None:
    """The latest scored day on or before ``day`` (strictly before with ``before``), or None."""
    days = []
    for name in lake.ls(lake.stage_dates(TRACK)):
        try:
            scored = parse_date(name.partition("=")[2], "track partition")
        except ConfigError:
            continue
        if scored < day or (scored == day and not before):
            days.append(scored)
    for scored in sorted(days, reverse=True):
        if lake.exists(lake.track_coverage(scored)) and lake.exists(lake.track_file(scored)):
            return scored
    return None


def read_scoring(lake: Lake, day: date) -> tuple[pd.DataFrame, dict]:
    """(rows, coverage.json) of the scoring of ``day``."""
    return lake.read_parquet(lake.track_file(day)), lake.read_json(lake.track_coverage(day))
