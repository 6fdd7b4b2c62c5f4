"""The reserves database's tables (DML); its engine, versioned DDL and locks are
``forecasting.core.database`` (re-exported here, where the reserves stage has always found them).
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from forecasting.core import schema as s
from forecasting.core.database import (  # noqa: F401 - the reserves stage's names for them
    LOCK_TIMEOUT_S,
    PUBLICATIONS,
    PUBLISH_LOCK,
    RESERVES,
    SCHEMA_VERSION,
    TOTALS,
    Migration,
    apply_roles,
    connect,
    ensure_schema,
    latest_version,
    lock,
    migrations,
    safe_url,
    sql_dir,
)

HORIZON = "reserves_horizon"
RESTATEMENTS, PUBLICATION_RESTATEMENTS = "restatements", "publication_restatements"

# ----------------------------------------------------------------------------- tables (DML)
_meta = MetaData()
_EUR = Numeric(14, 2, asdecimal=False)
_ID = String(128)


def _figures() -> list[Column]:
    return [Column(c, Float) for c in (s.INCIDENTS_P50, s.INCIDENTS_P90, s.INCIDENTS_P95)] + [
        Column(c, _EUR) for c in (s.LOSS_EUR_P50, s.LOSS_EUR_P90, s.LOSS_EUR_P95, s.LOSS_EUR_MEAN)
    ]


def _provenance() -> list[Column]:
    return [
        Column(s.BACKTEST_COVERAGE_P95, Float),
        Column(s.CALIBRATION_METHOD, String(200)),
        Column(s.MODEL_VERSION, _ID),
        Column(s.SNAPSHOT_ID, _ID),
        Column(s.CODE_VERSION, _ID),
        Column(s.PUBLISHED_AT, DateTime(timezone=True)),
    ]


def _period() -> list[Column]:
    return [Column(s.PERIOD_START, Date), Column(s.PERIOD_END, Date), Column(s.STEP, Integer)]


publications = Table(
    PUBLICATIONS, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.MODEL_VERSION, _ID),
    Column(s.SNAPSHOT_ID, _ID), Column(s.CODE_VERSION, _ID), Column(s.CONTENT_DIGEST, String(64)),
    Column(s.N_ROWS, Integer), Column(s.PUBLISHED_AT, DateTime(timezone=True)),
    Column(s.IS_CURRENT, Boolean), Column(s.PUBLICATION_REASON, String(2000)),
)  # fmt: skip
_RESTATEMENT_KEY = (s.RESTATED_SOURCE, s.RESTATED_DAY, s.LANDING_DIGEST)
restatements = Table(
    RESTATEMENTS, _meta,
    Column(s.RESTATED_SOURCE, String(64)), Column(s.RESTATED_DAY, Date), Column(s.LANDING_DIGEST, String(64)),
    Column(s.DETECTED_ON, Date), *[Column(c, Text) for c in (s.FILES_ADDED, s.FILES_CHANGED, s.FILES_REMOVED)],
    Column(s.ROWS_BEFORE, Integer), Column(s.ROWS_AFTER, Integer), Column(s.RESTATEMENT_REASON, String(2000)),
    Column(s.RECORDED_AT, DateTime(timezone=True)),
)  # fmt: skip
publication_restatements = Table(
    PUBLICATION_RESTATEMENTS, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.RESTATED_SOURCE, String(64)),
    Column(s.RESTATED_DAY, Date), Column(s.LANDING_DIGEST, String(64)),
)  # fmt: skip
reserves = Table(
    RESERVES, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.WAREHOUSE_ID, _ID),
    Column(s.REGION, _ID), Column(s.COUNTRY, _ID), *_period(), *_figures(),
    Column(s.ESCALATION_LEVEL, Integer), *_provenance(),
)  # fmt: skip
totals = Table(
    TOTALS, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.TOTAL_LEVEL, String(16)),
    Column(s.TOTAL_ID, _ID), *_period(), *_figures(), *_provenance(),
)  # fmt: skip
TRACK_RECORD = "track_record"  # V005; its rows are made by forecasting.reserves.track
track_record = Table(
    TRACK_RECORD, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.TRACK_LEVEL, String(16)),
    Column(s.TRACK_ID, _ID), Column(s.REGION, _ID), *_period(),
    *[Column(c, Float) for c in (s.INCIDENTS_P50, s.INCIDENTS_P90, s.INCIDENTS_P95)],
    *[Column(c, _EUR) for c in (s.LOSS_EUR_P50, s.LOSS_EUR_P90, s.LOSS_EUR_P95)],
    Column(s.INCIDENTS_ACTUAL, Float), Column(s.LOSS_EUR_ACTUAL, _EUR),
    *[Column(c, Boolean) for c in (s.INCIDENTS_WITHIN_P50, s.INCIDENTS_WITHIN_P90, s.INCIDENTS_WITHIN_P95,
                                   s.LOSS_EUR_WITHIN_P50, s.LOSS_EUR_WITHIN_P90, s.LOSS_EUR_WITHIN_P95)],
    Column(s.IN_FORCE, Boolean), Column(s.SETTLED, Boolean), Column(s.SCORED_AS_OF, Date),
)  # fmt: skip
horizon = Table(
    HORIZON, _meta,
    Column(s.AS_OF_DATE, Date), Column(s.RUN_ID, _ID), Column(s.TOTAL_LEVEL, String(16)),
    Column(s.TOTAL_ID, _ID), Column(s.PERIOD_KIND, String(16)), Column(s.PERIOD_LABEL, String(64)),
    Column(s.PERIOD_START, Date), Column(s.PERIOD_END, Date), Column(s.N_PERIODS, Integer),
    Column(s.IS_PARTIAL, Boolean), *_figures(), Column(s.INCIDENTS_MEAN, Float), *_provenance(),
)  # fmt: skip
