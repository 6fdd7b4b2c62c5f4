"""Where to look after a run: the published reserves and the artefacts of a date.

``describe_run(settings, as_of=None)`` reads the reserves database's latest views
(``reserves_latest``, ``reserves_horizon_latest``) and lists where the run's pages and
files are; ``riskcast show`` prints it (``forecasting.cli.show``), ``make demo`` ends with it.
Without ``as_of`` it describes the date ``reserves_latest`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Connection, inspect, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import PublishError
from forecasting.core.jsonable import records
from forecasting.core.lake import Lake
from forecasting.reserves.db import HORIZON, connect, safe_url

SHOWN_COLUMNS = (
    schema.WAREHOUSE_ID,
    schema.REGION,
    schema.PERIOD_START,
    schema.INCIDENTS_P50,
    schema.INCIDENTS_P95,
    schema.LOSS_EUR_P50,
    schema.LOSS_EUR_P95,
    schema.ESCALATION_LEVEL,
)
HORIZON_COLUMNS = (
    schema.TOTAL_ID, schema.PERIOD_LABEL, schema.IS_PARTIAL, schema.PERIOD_START, schema.PERIOD_END,
    schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95,
)  # fmt: skip
_HORIZON_VIEW = f"{HORIZON}_latest"
_ALWAYS = ("reserves_db", "data_docs", "alert_outbox")  # listed even before they exist


@dataclass
class RunOverview:
    """The published figures and the artefact locations of one as-of date.

    ``latest``: every row of ``reserves_latest`` (warehouse x period); ``horizon``: the
    network and region horizon totals of ``reserves_horizon_latest`` (empty before schema
    v6); ``published_as_of``: the as-of dates ``reserves_latest`` holds.
    """

    as_of: str
    reserves_rows: int
    warehouses: int
    latest: pd.DataFrame = field(repr=False)
    paths: dict[str, str] = field(default_factory=dict)
    published_as_of: list[str] = field(default_factory=list)
    horizon: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

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

    def escalating(self) -> pd.DataFrame:
        """One row per escalating warehouse: its worst level, first at that level, worst first."""
        hot = self.latest[self.latest[schema.ESCALATION_LEVEL].fillna(0) > 0] if len(self.latest) else self.latest
        if not len(hot):
            return hot
        hot = hot.sort_values([schema.WAREHOUSE_ID, schema.ESCALATION_LEVEL, schema.PERIOD_START],
                              ascending=[True, False, True]).drop_duplicates(schema.WAREHOUSE_ID)  # fmt: skip
        return hot.sort_values([schema.ESCALATION_LEVEL, schema.LOSS_EUR_P95, schema.WAREHOUSE_ID],
                               ascending=[False, False, True]).reset_index(drop=True)  # fmt: skip

    def largest(self, n: int) -> pd.DataFrame:
        """The ``n`` warehouses with the largest loss P95, each at its worst period."""
        if not len(self.latest):
            return self.latest
        order = self.latest.sort_values([schema.LOSS_EUR_P95, schema.WAREHOUSE_ID, schema.PERIOD_START],
                                        ascending=[False, True, True])  # fmt: skip
        return order.drop_duplicates(schema.WAREHOUSE_ID).head(n).reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the counts, notice, paths, horizon totals, escalating sites and every row."""
        shown = [c for c in SHOWN_COLUMNS if c in self.latest.columns]
        return {
            "as_of": self.as_of,
            "published_as_of": self.published_as_of,
            "notice": self.notice() or None,
            "reserves_rows": self.reserves_rows,
            "warehouses": self.warehouses,
            "horizon": records(_dated(self.horizon[[c for c in HORIZON_COLUMNS if c in self.horizon]])),
            "escalating": records(_dated(self.escalating()[shown])) if shown else [],
            "rows": records(_dated(self.latest[shown])) if shown else [],
            "paths": self.paths,
        }


def read_latest(settings: Settings) -> pd.DataFrame:
    """All rows of the ``reserves_latest`` view, ordered by warehouse and period."""
    return _read(settings, "reserves_latest", [schema.WAREHOUSE_ID, schema.PERIOD_START])


def read_horizon(settings: Settings) -> pd.DataFrame:
    """``reserves_horizon_latest``, network first, then regions (empty if the view is absent)."""
    df = _read(settings, _HORIZON_VIEW, [], optional=True)
    if not len(df):
        return df
    kind = df[schema.PERIOD_KIND].map({k: i for i, k in enumerate(schema.PERIOD_KINDS)})
    df = df.assign(_net=df[schema.TOTAL_ID] != schema.NETWORK_ID, _kind=kind,
                   **{schema.IS_PARTIAL: df[schema.IS_PARTIAL].astype(bool)})  # SQLite: 0/1
    df = df.sort_values(["_net", schema.TOTAL_ID, "_kind", schema.PERIOD_START], kind="stable")
    return df.drop(columns=["_net", "_kind"]).reset_index(drop=True)


def _read(settings: Settings, view: str, keys: list[str], optional: bool = False) -> pd.DataFrame:
    _sqlite_file_exists(settings.reserves_url)
    engine = connect(settings.reserves_url)  # a missing driver or a down server: one clear line
    try:
        with engine.connect() as conn:
            if optional and not _has_view(conn, view):
                return pd.DataFrame()
            df = pd.read_sql(text(f"SELECT * FROM {view}"), conn)
    except SQLAlchemyError as exc:
        safe = safe_url(settings.reserves_url)
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise PublishError(
            f"cannot read {view} from {safe}: {reason}. Has anything been published "
            "there? Run `riskcast publish --as-of DATE` (or check reserves_url)"
        ) from exc
    finally:
        engine.dispose()
    keys = [c for c in keys if c in df.columns]
    return df.sort_values(keys).reset_index(drop=True) if keys else df


def _has_view(conn: Connection, name: str) -> bool:
    found = inspect(conn)
    return name in found.get_view_names() or name in found.get_table_names()


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


def describe_run(settings: Settings, as_of: date | None = None) -> RunOverview:
    """Read the latest views and list where Data Docs, reports and alerts are; ``as_of``
    None: the date ``reserves_latest`` holds."""
    latest = read_latest(settings)
    held = _as_of_dates(latest)
    day = as_of or (date.fromisoformat(held[-1]) if held else None)
    lake = Lake.from_settings(settings)
    paths = {"reserves_db": safe_url(settings.reserves_url)}
    if day is not None:
        paths |= {
            "reserves_page": lake.reserves_report(day),
            "reserves_workbook": lake.reserves_export(day, "workbook"),
            "backtest_report": lake.backtest_file(day, "report"),
            "audit_report": lake.audit_report(day),
        }
    paths |= {"data_docs": lake.data_docs_index, "alert_outbox": settings.alerts.outbox_path or lake.outbox}
    return RunOverview(
        as_of=day.isoformat() if day else "",
        reserves_rows=len(latest),
        warehouses=int(latest[schema.WAREHOUSE_ID].nunique()) if schema.WAREHOUSE_ID in latest else 0,
        latest=latest,
        paths={k: v for k, v in paths.items() if k in _ALWAYS or "://" in v or lake.exists(v)},
        published_as_of=held,
        horizon=read_horizon(settings),
    )


def _as_of_dates(latest: pd.DataFrame) -> list[str]:
    if schema.AS_OF_DATE not in latest.columns:
        return []
    days = pd.to_datetime(latest[schema.AS_OF_DATE].dropna()).dt.date.unique()
    return sorted(d.isoformat() for d in days)


def _dated(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in (schema.PERIOD_START, schema.PERIOD_END):
        if col in out:
            out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    return out
