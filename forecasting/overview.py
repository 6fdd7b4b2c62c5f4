"""Where to look after a run: the published reserves and the artefacts of a date.

``riskcast show --as-of DATE`` prints this; ``make demo`` ends with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import make_url, text
from sqlalchemy.exc import SQLAlchemyError

from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import PublishError
from forecasting.core.lake import Lake
from forecasting.reserves.db import connect, safe_url

SHOWN_COLUMNS = (
    schema.AS_OF_DATE,
    schema.WAREHOUSE_ID,
    schema.REGION,
    schema.PERIOD_START,
    schema.STEP,
    schema.INCIDENTS_P50,
    schema.INCIDENTS_P95,
    schema.LOSS_EUR_P50,
    schema.LOSS_EUR_P90,
    schema.LOSS_EUR_P95,
    schema.ESCALATION_LEVEL,
)


@dataclass
class RunOverview:
    """The published figures and the artefact locations of one as-of date."""

    as_of: str
    reserves_rows: int
    warehouses: int
    latest: pd.DataFrame = field(repr=False)
    paths: dict[str, str] = field(default_factory=dict)
    published_as_of: list[str] = field(default_factory=list)  # as-of dates in reserves_latest

    @property
    def has_publication(self) -> bool:
        """Whether ``reserves_latest`` holds rows published for ``as_of`` itself."""
        return self.as_of in self.published_as_of

    def notice(self) -> str:
        """One sentence when the rows shown are not the asked day's publication, else ''."""
        if self.has_publication:
            return ""
        held = ", ".join(self.published_as_of) or "nothing"
        return (f"no publication for {self.as_of}: reserves_latest holds {held}; "
                f"run `riskcast publish --as-of {self.as_of}` to publish that day")  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("latest")
        return data


def read_latest(settings: Settings) -> pd.DataFrame:
    """All rows of the ``reserves_latest`` view, ordered by warehouse and period."""

    _sqlite_file_exists(settings.reserves_url)
    engine = connect(settings.reserves_url)  # a missing driver or a down server: one clear line
    try:
        with engine.connect() as conn:
            df = pd.read_sql(text("SELECT * FROM reserves_latest"), conn)
    except SQLAlchemyError as exc:
        safe = safe_url(settings.reserves_url)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise PublishError(
            f"cannot read reserves_latest from {safe}: {reason}. Has anything been published "
            "there? Run `riskcast publish --as-of DATE` (or check reserves_url)"
        ) from exc
    finally:
        engine.dispose()
    keys = [c for c in (schema.WAREHOUSE_ID, schema.PERIOD_START) if c in df.columns]
    return df.sort_values(keys).reset_index(drop=True) if keys else df


def _sqlite_file_exists(url: str) -> None:
    """Reading never creates a database: a SQLite URL must name an existing file."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - connect() names the bad URL
        return
    db = parsed.database
    if parsed.get_backend_name() == "sqlite" and db and db != ":memory:" and not Path(db).is_file():
        raise PublishError(
            f"no reserves database at {db}: nothing has been published with this reserves_url "
            "(RISKCAST_RESERVES_URL); run `riskcast publish --as-of DATE` or fix the URL"
        )


def describe_run(settings: Settings, as_of: date) -> RunOverview:
    """Read ``reserves_latest`` and list where Data Docs, reports and alerts are."""
    lake = Lake.from_settings(settings)
    latest = read_latest(settings)
    paths = {
        "reserves_db": safe_url(settings.reserves_url),
        "data_docs": lake.data_docs_index,
        "backtest_report": lake.backtest_file(as_of, "report"),
        "reserves_report": lake.reserves_report(as_of),
        "audit_report": lake.audit_report(as_of),
        "alert_outbox": settings.alerts.outbox_path or lake.outbox,
    }
    return RunOverview(
        as_of=as_of.isoformat(),
        reserves_rows=len(latest),
        warehouses=int(latest[schema.WAREHOUSE_ID].nunique()) if schema.WAREHOUSE_ID in latest else 0,
        latest=latest,
        paths={k: v for k, v in paths.items() if "://" in v or not k.endswith("report") or lake.exists(v)},
        published_as_of=_as_of_dates(latest),
    )


def _as_of_dates(latest: pd.DataFrame) -> list[str]:
    if schema.AS_OF_DATE not in latest.columns:
        return []
    days = pd.to_datetime(latest[schema.AS_OF_DATE].dropna()).dt.date.unique()
    return sorted(d.isoformat() for d in days)
