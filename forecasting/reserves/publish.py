"""Publish the reserves stage to the reserves database finance reads (``riskcast publish``).

``publish_reserves(settings, as_of, run_id)`` reads ``reserves/as_of=D/reserves.parquet``,
``totals.parquet`` and ``horizon.parquet``, refuses bad figures (and those of a model whose manifest records a
failed calibration gate) before touching the database, migrates the schema
(``forecasting.reserves.db``), then in ONE transaction under a per-date lock inserts the
run into ``publications``, ``reserves``, ``reserves_totals`` and ``reserves_horizon`` and
makes it the current
run of its date. So:

- idempotent: the same date and run again finds its identical publication and writes nothing;
- atomic: a failure or crash before commit leaves the previous current run untouched;
- concurrent: a second publisher of the date waits for the lock, then sees the first's run;
- history: every run stays in the tables; views ``reserves_latest`` / ``reserves_current``
  show the current one;
- reasons: a new run carries the restatements (late or amended data) no publication
  carried yet in ``publications.reason`` (``reserves.restatements``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, select, update
from sqlalchemy.exc import DBAPIError

from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import CalibrationGateError, InputError, PublishError
from forecasting.core.lake import Lake, validate_identifier
from forecasting.core.layout import HORIZON_FILE, RESERVES_FILE, TOTALS_FILE
from forecasting.model.registry import UNGATED, require_gate
from forecasting.reserves import db, restatements
from forecasting.reserves.compute import (
    HORIZON_COLUMNS,
    INCIDENT_COLUMNS,
    LOSS_COLUMNS,
    RESERVE_COLUMNS,
    TOTAL_COLUMNS,
)

log = logging.getLogger(__name__)

_DATES = (schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END)
_REQUIRED_NUMBERS = INCIDENT_COLUMNS + LOSS_COLUMNS
_INSERT_BATCH = 1000


@dataclass
class PublishSummary:
    """Outcome: ``status`` is ``published`` (new run, now current), ``unchanged`` (this run
    was already current) or ``restored`` (this run was published before and is current again)."""

    as_of: date
    run_id: str
    status: str
    reserves_rows: int
    totals_rows: int
    horizon_rows: int
    replaced_run_id: str | None
    published_at: str
    schema_version: int
    url: str
    reason: str | None = None  # why this run was published (restatements it carries), if new

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def publish_reserves(
    settings: Settings, as_of: date, run_id: str | None = None, *, allow_ungated: bool = False
) -> PublishSummary:
    """Publish the reserves of ``as_of`` as run ``run_id`` (default: deterministic, see ``default_run_id``).

    Refuses (CalibrationGateError) unless the rows' model passed the calibration gate on
    this as_of's panel; ``allow_ungated`` publishes rows computed with ``--allow-ungated``
    (their ``calibration_method`` says ``UNGATED``), never silently relabelled ones.
    """
    lake = Lake.from_settings(settings)
    site_rows = _load(lake, lake.reserves_file(as_of, RESERVES_FILE), RESERVE_COLUMNS, as_of)
    total_rows = _load(lake, lake.reserves_file(as_of, TOTALS_FILE), TOTAL_COLUMNS, as_of)
    span_rows = _load(lake, lake.reserves_file(as_of, HORIZON_FILE), HORIZON_COLUMNS, as_of)
    digest = content_digest(site_rows, total_rows, span_rows)
    first = site_rows[0]
    _check_gate(settings, as_of, first, allow_ungated)
    run_id = validate_identifier(
        run_id
        or default_run_id(as_of, first[schema.MODEL_VERSION], first[schema.SNAPSHOT_ID], digest),
        "--run-id",
    )
    engine = db.connect(settings.reserves_url)
    try:
        version = db.ensure_schema(engine)
        with engine.begin() as conn:
            db.lock(conn, f"publish:{as_of}")
            restatements.sync(conn, lake)  # none the ingest side recorded is ever missed
            status, replaced, published_at = _swap(
                conn, as_of, run_id, digest, (site_rows, total_rows, span_rows)
            )
            reason = conn.execute(select(db.publications.c[schema.PUBLICATION_REASON]).where(
                db.publications.c[schema.AS_OF_DATE] == as_of, db.publications.c[schema.RUN_ID] == run_id)).scalar()
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise PublishError(
            f"publishing {as_of} run {run_id} to {db.safe_url(settings.reserves_url)} failed and was "
            f"rolled back (the previous version is intact): {reason}"
        ) from exc
    finally:
        engine.dispose()
    log.info("publish %s run %s: %s", as_of, run_id, status)
    return PublishSummary(
        as_of=as_of,
        run_id=run_id,
        status=status,
        reserves_rows=len(site_rows),
        totals_rows=len(total_rows),
        horizon_rows=len(span_rows),
        replaced_run_id=replaced,
        published_at=published_at.isoformat(),
        schema_version=version,
        url=db.safe_url(settings.reserves_url),
        reason=reason,
    )


def default_run_id(as_of: date, model_version: str, snapshot_id: str, digest: str) -> str:
    """``<as_of>_<model_version>_<hash>``: same date, model, snapshot and figures, same id."""
    tag = hashlib.sha256(f"{snapshot_id}\n{digest}".encode()).hexdigest()[:12]
    return f"{as_of:%Y%m%d}_{str(model_version)[:80]}_{tag}"


def content_digest(*tables: list[dict[str, Any]]) -> str:
    """sha256 of the figures and provenance of every table (not run_id, not published_at)."""
    payload = json.dumps(list(tables), sort_keys=True, default=str, allow_nan=False)
    return hashlib.sha256(payload.encode()).hexdigest()


def _check_gate(settings: Settings, as_of: date, row: dict[str, Any], allow_ungated: bool) -> None:
    """Refuse figures of a model without a passing gate verdict on this panel, and rows that
    claim a gate they never had: an override must be the reserves stage's, on every row."""
    version = validate_identifier(str(row[schema.MODEL_VERSION]), "model_version")
    labelled = str(row[schema.CALIBRATION_METHOD] or "").startswith(UNGATED)
    why = require_gate(settings, version, as_of, allow_ungated=allow_ungated or labelled)
    if labelled and not allow_ungated:
        raise CalibrationGateError(
            f"the reserves of {as_of} were computed with --allow-ungated (model {version}): "
            "publish them with --allow-ungated too, or run backtest and reserves again"
        )
    if why and not labelled:
        raise CalibrationGateError(
            f"model {version} is not publishable for {as_of} ({why}) and its reserves do not say "
            f"so: run `riskcast reserves --as-of {as_of} --allow-ungated` first to label them"
        )


def _swap(
    conn: Connection,
    as_of: date,
    run_id: str,
    digest: str,
    tables: tuple[list[dict[str, Any]], ...],
) -> tuple[str, str | None, datetime]:
    """Insert the run (unless present) and make it current; caller holds lock + transaction.

    ``tables``: the rows of ``reserves``, ``reserves_totals`` and ``reserves_horizon``."""
    site_rows = tables[0]
    pub = db.publications.c
    same_date = pub[schema.AS_OF_DATE] == as_of
    existing = (
        conn.execute(select(db.publications).where(same_date, pub[schema.RUN_ID] == run_id))
        .mappings()
        .first()
    )
    current = conn.execute(
        select(pub[schema.RUN_ID]).where(same_date, pub[schema.IS_CURRENT])
    ).scalar()
    if existing is not None:
        if existing[schema.CONTENT_DIGEST] != digest:
            raise PublishError(
                f"run {run_id} of {as_of} was already published with different figures "
                f"(digest {existing[schema.CONTENT_DIGEST][:12]} != {digest[:12]}); published runs "
                "are immutable history: publish these figures under a new --run-id"
            )
        published_at = _utc(existing[schema.PUBLISHED_AT])
        if existing[schema.IS_CURRENT]:
            return "unchanged", None, published_at
        _make_current(conn, as_of, run_id)
        return "restored", current, published_at
    # when this run was first published: a fact about the publish, not an input of the figures
    published_at = datetime.now(UTC).replace(microsecond=0)
    stamp = {schema.RUN_ID: run_id, schema.PUBLISHED_AT: published_at}
    provenance = (schema.AS_OF_DATE, schema.MODEL_VERSION, schema.SNAPSHOT_ID, schema.CODE_VERSION)
    publication = {k: site_rows[0][k] for k in provenance} | stamp
    reason, carried = restatements.pending(conn, as_of)
    publication |= {
        schema.CONTENT_DIGEST: digest,
        schema.N_ROWS: len(site_rows),
        schema.IS_CURRENT: False,
        schema.PUBLICATION_REASON: reason,
    }
    conn.execute(db.publications.insert().values(publication))
    restatements.link(conn, as_of, run_id, carried)
    for table, rows in zip((db.reserves, db.totals, db.horizon), tables, strict=True):
        _insert_rows(conn, table, [{**r, **stamp} for r in rows])
    _make_current(conn, as_of, run_id)
    return "published", current, published_at


def _make_current(conn: Connection, as_of: date, run_id: str) -> None:
    pub = db.publications.c
    same_date = pub[schema.AS_OF_DATE] == as_of
    # clear first: the partial unique index allows one current run per date at any moment
    conn.execute(
        update(db.publications)
        .where(same_date, pub[schema.IS_CURRENT])
        .values({schema.IS_CURRENT: False})
    )
    conn.execute(
        update(db.publications)
        .where(same_date, pub[schema.RUN_ID] == run_id)
        .values({schema.IS_CURRENT: True})
    )


def _insert_rows(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _INSERT_BATCH):
        conn.execute(table.insert(), rows[start : start + _INSERT_BATCH])


# ----------------------------------------------------------------------------- validation
def _load(lake: Lake, uri: str, columns: list[str], as_of: date) -> list[dict[str, Any]]:
    """Rows of a reserves stage file as plain Python values; PublishError on any bad figure."""
    if not lake.exists(uri):
        raise InputError(f"{uri} does not exist: run `riskcast reserves --as-of {as_of}` first")
    frame = lake.read_parquet(uri)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PublishError(
            f"{uri} lacks columns {missing}: re-run `riskcast reserves --as-of {as_of}`"
        )
    if frame.empty:
        raise PublishError(f"{uri} has no rows: nothing to publish; re-run the reserves stage")
    frame = frame[columns].copy()
    for col in _DATES:
        frame[col] = pd.to_datetime(frame[col]).dt.date
    _check(frame, uri, as_of)
    rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{k: _plain(v) for k, v in r.items()} for r in rows]


def _check(frame: pd.DataFrame, uri: str, as_of: date) -> None:
    fix = f"re-run `riskcast reserves --as-of {as_of}` (nothing was written)"
    ident = schema.WAREHOUSE_ID if schema.WAREHOUSE_ID in frame else schema.TOTAL_ID

    def fail(mask: np.ndarray, what: str) -> None:
        if mask.any():
            row = int(np.flatnonzero(mask)[0])
            raise PublishError(
                f"{uri} row {row} ({ident}={frame[ident].iloc[row]!r}, {schema.PERIOD_START}="
                f"{frame[schema.PERIOD_START].iloc[row]}): {what} ({int(mask.sum())} row(s)): {fix}"
            )

    for col in _REQUIRED_NUMBERS:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        fail(~np.isfinite(values), f"column {col} is NaN, infinite or missing, not a number")
        fail(values < 0, f"column {col} is negative")
    for cols in (INCIDENT_COLUMNS, LOSS_COLUMNS):
        values = frame[cols].to_numpy(dtype=float)
        fail(
            (np.diff(values, axis=1) < 0).any(axis=1), f"quantiles {cols} are not P50 <= P90 <= P95"
        )
    fail(
        (frame[schema.AS_OF_DATE] != as_of).to_numpy(), f"column {schema.AS_OF_DATE} is not {as_of}"
    )
    key = [ident, schema.PERIOD_START] + ([schema.TOTAL_LEVEL] if ident == schema.TOTAL_ID else [])
    key += [schema.PERIOD_KIND] if schema.PERIOD_KIND in frame else []
    fail(frame.duplicated(key).to_numpy(), f"duplicate ({', '.join(key)})")
    if schema.ESCALATION_LEVEL in frame:
        levels = pd.to_numeric(frame[schema.ESCALATION_LEVEL], errors="coerce")
        fail(
            ~levels.isin(range(len(schema.ESCALATION_LEVELS))).to_numpy(),
            "escalation_level is not 0, 1 or 2",
        )


def _utc(stamp: datetime) -> datetime:
    """SQLite hands timestamps back naive; they were written in UTC."""
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python; NaN -> None (SQL NULL)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
