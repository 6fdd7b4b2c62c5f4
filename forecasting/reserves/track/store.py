"""The track record in the reserves database: what was published, and the scored rows.

``read_published(conn, as_of, since, freq)`` reads the current run of every as-of date
before ``as_of`` whose periods end in ``(since, as_of]``, warehouses and totals as one frame
(``score.PUBLISHED_COLUMNS``). ``write_scored(conn, scored, since)`` replaces the scored
rows of those periods, unless a scoring on later data holds them already: a rerun of
``riskcast track --as-of D`` writes identical rows, and re-scoring an older day never
overwrites what a newer one measured. The caller holds the transaction and the lock.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, and_, delete, literal, select, union_all

from forecasting.core import schema
from forecasting.panel.calendar import period_end
from forecasting.reserves import db
from forecasting.reserves.track.score import (
    LEVELS,
    PUBLISHED_COLUMNS,
    QUANTILE_COLUMNS,
    TRACK_COLUMNS,
)

_INSERT_BATCH = 1000
_DATES = (schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END, schema.SCORED_AS_OF)
_LONGEST_PERIOD = timedelta(days=31)  # a period ending after `since` starts after since - this


def read_published(conn: Connection, as_of: date, since: date, freq: str) -> pd.DataFrame:
    """Published rows (current runs, as-of dates before ``as_of``) of periods ending in (since, as_of]."""
    pub = db.publications.c

    def current(table):  # rows of the current run of their date
        on = and_(table.c[schema.AS_OF_DATE] == pub[schema.AS_OF_DATE], table.c[schema.RUN_ID] == pub[schema.RUN_ID])
        return table.join(db.publications, on), [
            pub[schema.IS_CURRENT], table.c[schema.AS_OF_DATE] < as_of,
            table.c[schema.PERIOD_START] > since - _LONGEST_PERIOD, table.c[schema.PERIOD_START] <= as_of,
        ]  # fmt: skip

    r, t = db.reserves.c, db.totals.c
    site_from, site_where = current(db.reserves)
    total_from, total_where = current(db.totals)
    common = [schema.PERIOD_START, schema.PERIOD_END, schema.STEP, *QUANTILE_COLUMNS]
    sites = select(
        r[schema.AS_OF_DATE], r[schema.RUN_ID], literal(LEVELS[0]).label(schema.TRACK_LEVEL),
        r[schema.WAREHOUSE_ID].label(schema.TRACK_ID), r[schema.REGION], *[r[c] for c in common],
    ).select_from(site_from).where(*site_where)  # fmt: skip
    totals = select(
        t[schema.AS_OF_DATE], t[schema.RUN_ID], t[schema.TOTAL_LEVEL].label(schema.TRACK_LEVEL),
        t[schema.TOTAL_ID].label(schema.TRACK_ID), t[schema.TOTAL_ID].label(schema.REGION),
        *[t[c] for c in common],
    ).select_from(total_from).where(*total_where)  # fmt: skip
    frame = pd.DataFrame(conn.execute(union_all(sites, totals)).mappings().all(), columns=PUBLISHED_COLUMNS)
    for col in (schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END):
        frame[col] = pd.to_datetime(frame[col])
    # v1 rows (run legacy-v1) have no period_end: the period of their start
    missing = frame[schema.PERIOD_END].isna()
    frame.loc[missing, schema.PERIOD_END] = [period_end(s, freq) for s in frame.loc[missing, schema.PERIOD_START]]
    network = frame[schema.TRACK_LEVEL] == LEVELS[2]
    frame[schema.REGION] = frame[schema.REGION].astype(object).where(~network, None)
    frame[QUANTILE_COLUMNS] = frame[QUANTILE_COLUMNS].astype(float)
    keep = (frame[schema.PERIOD_END] > pd.Timestamp(since)) & (frame[schema.PERIOD_END] <= pd.Timestamp(as_of))
    return frame.loc[keep].reset_index(drop=True)


def write_scored(conn: Connection, scored: pd.DataFrame, since: date) -> dict[str, int]:
    """Replace the rows of ``scored``'s publications for periods ending after ``since``;
    keep rows a later scoring wrote. Returns counts: written, kept_newer, replaced."""
    if scored.empty:
        return {"written": 0, "kept_newer": 0, "replaced": 0}
    tr = db.track_record.c
    as_of = pd.Timestamp(scored[schema.SCORED_AS_OF].iloc[0]).date()
    key = [schema.AS_OF_DATE, schema.RUN_ID, schema.TRACK_LEVEL, schema.TRACK_ID, schema.PERIOD_START]
    in_window = [tr[schema.PERIOD_END] > since, tr[schema.AS_OF_DATE] < as_of]
    newer = pd.DataFrame(
        conn.execute(select(*[tr[k] for k in key]).where(*in_window, tr[schema.SCORED_AS_OF] > as_of)).all(),
        columns=key,
    )
    rows = scored
    if len(newer):
        newer[schema.AS_OF_DATE] = pd.to_datetime(newer[schema.AS_OF_DATE])
        newer[schema.PERIOD_START] = pd.to_datetime(newer[schema.PERIOD_START])
        mark = rows[key].merge(newer.assign(_newer=True), on=key, how="left")["_newer"].fillna(False)
        rows = rows.loc[~mark.to_numpy(dtype=bool)]
    replaced = 0
    for (day, run), _ in rows.groupby([schema.AS_OF_DATE, schema.RUN_ID], sort=True):
        done = conn.execute(delete(db.track_record).where(
            *in_window, tr[schema.AS_OF_DATE] == pd.Timestamp(day).date(), tr[schema.RUN_ID] == run,
            tr[schema.SCORED_AS_OF] <= as_of,
        ))  # fmt: skip
        replaced += done.rowcount or 0
    records = _records(rows)
    for start in range(0, len(records), _INSERT_BATCH):
        conn.execute(db.track_record.insert(), records[start : start + _INSERT_BATCH])
    return {"written": len(records), "kept_newer": len(scored) - len(rows), "replaced": replaced}


def read_scored(conn: Connection, since: date | None = None) -> pd.DataFrame:
    """The table's rows (``TRACK_COLUMNS``), of periods ending after ``since`` if given."""
    tr = db.track_record.c
    query = select(*[tr[c] for c in TRACK_COLUMNS])
    if since is not None:
        query = query.where(tr[schema.PERIOD_END] > since)
    return pd.DataFrame(conn.execute(query).all(), columns=TRACK_COLUMNS)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain Python values (dates, floats, bools; NaN -> None: SQL NULL, never NaN)."""
    columns = {}
    for col in TRACK_COLUMNS:
        values = frame[col]
        if col in _DATES:
            values = pd.to_datetime(values).dt.date
        columns[col] = [None if _missing(v) else v for v in values.tolist()]
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value))
