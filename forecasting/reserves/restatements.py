"""Restatements in the reserves database, and the reason a publication carries.

The ingest runs' sweep (``validation.sweep``) records each restated day in the lake
(``restatements/<source>/date=D/<landing digest>.json``). ``record_restatements`` copies the
records the database lacks into table ``restatements`` (the ingest DAG's
``record_restatements`` task, ``riskcast ingest``; ``publish_reserves`` too, so none is ever
missed). When a new run is published, every restatement of a day on or before its as-of
date, detected on or before it, that no publication carried yet becomes its ``publications.reason``
(``restated: reconciliation_logs 2025-03-04, +12 rows``) and is linked to it in
``publication_restatements``: carried once, by the next new publication. Detected on or
before: a scheduled run waits for the ingest run of its as-of date, so it read what that run's
sweep and the ones before found, and nothing a later ingest run found while it was running
(catchup, a slow run); those are carried by the next publication.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from typing import Any

from fsspec.core import strip_protocol
from sqlalchemy import Connection, and_, exists, select

from forecasting.core import schema as s
from forecasting.core.config import Settings
from forecasting.core.errors import PublishError
from forecasting.core.lake import Lake, parse_date
from forecasting.reserves import db
from forecasting.validation.sweep import sweep_after

log = logging.getLogger(__name__)
RESTATED = "restated"  # validation.sweep's record status for a day swapped in
REASON_PREFIX, MAX_REASON = "restated: ", 2000
_KEY = (s.RESTATED_SOURCE, s.RESTATED_DAY, s.LANDING_DIGEST)


def sweep_and_record(settings: Settings, days: list[date]) -> dict[str, Any]:
    """After an ingest run of ``days``: sweep the days before them (``validation.sweep``) and
    record what was restated in the database (the DAG's ``sweep`` task and ``riskcast
    ingest`` call this). ``exit_code`` 1 when an amendment was refused, a landing folder
    vanished, an alert route or the database failed (the lake keeps the records: the next
    publish records them); else 0."""
    out = sweep_after(settings, days)
    if out["restated"]:
        try:
            out["database"] = record_restatements(settings)
        except PublishError as exc:
            log.error("restatements not recorded in the reserves database (the next publish will): %s", exc)
            out["database"] = {"error": str(exc)}
    trouble = out["refused"] or out["vanished"] or out["alert_errors"] or "error" in out.get("database", {})
    out["exit_code"] = 1 if trouble else 0
    return out


def record_restatements(settings: Settings) -> dict[str, Any]:
    """Copy the lake's restatement records the database lacks into ``restatements``;
    returns ``{"recorded": [reasons], "url"}``."""
    engine = db.connect(settings.reserves_url)
    try:
        db.ensure_schema(engine)
        with engine.begin() as conn:
            db.lock(conn, "restatements")
            added = sync(conn, Lake.from_settings(settings))
    finally:
        engine.dispose()
    return {"recorded": added, "url": db.safe_url(settings.reserves_url)}


def sync(conn: Connection, lake: Lake) -> list[str]:
    """Insert the lake's restated days the database lacks (the caller holds a transaction);
    returns their reasons. Only new records are read: the key is in each record's path."""
    table = db.restatements
    known = {tuple(row) for row in conn.execute(select(*(table.c[k] for k in _KEY))).all()}
    root = strip_protocol(lake.restatements_root)
    paths = lake.fs.glob(f"{root}/*/date=*/*.json") if lake.exists(lake.restatements_root) else []
    added = []
    for path in sorted(paths):
        source, folder, name = path.rsplit("/", 3)[-3:]
        key = (source, parse_date(folder[len("date="):], f"restatement {path}"), name[: -len(".json")])
        if key in known:
            continue
        record = json.loads(lake.fs.cat_file(path))
        if record["status"] != RESTATED:
            continue  # refused: alerted, kept in the lake; nothing was restated
        conn.execute(table.insert().values(_row(key, record)))
        added.append(record["reason"])
    if added:
        log.info("recorded %d restatement(s): %s", len(added), "; ".join(added))
    return added


def pending(conn: Connection, as_of: date) -> tuple[str | None, list[tuple]]:
    """(reason, keys) of the restatements of days on or before ``as_of``, detected on or
    before it, that no publication carried yet; (None, []) when there is none."""
    r, link = db.restatements.c, db.publication_restatements.c
    carried = exists().where(and_(*(link[k] == r[k] for k in _KEY)))
    rows = conn.execute(
        select(*(r[k] for k in _KEY), r[s.RESTATEMENT_REASON])
        .where(r[s.RESTATED_DAY] <= as_of, r[s.DETECTED_ON] <= as_of, ~carried)
        .order_by(r[s.RESTATED_DAY], r[s.RESTATED_SOURCE], r[s.DETECTED_ON], r[s.LANDING_DIGEST])
    ).all()
    if not rows:
        return None, []
    reason = REASON_PREFIX + "; ".join(row[-1] for row in rows)
    if len(reason) > MAX_REASON:
        reason = reason[: MAX_REASON - 40] + f"... ({len(rows)} restatements)"
    return reason, [tuple(row[:3]) for row in rows]


def link(conn: Connection, as_of: date, run_id: str, keys: list[tuple]) -> None:
    """Record that publication (as_of, run_id) carried the restatements ``keys``."""
    if keys:
        conn.execute(db.publication_restatements.insert(), [
            {s.AS_OF_DATE: as_of, s.RUN_ID: run_id, **dict(zip(_KEY, key, strict=True))} for key in keys
        ])  # fmt: skip


def carried_by(conn: Connection, as_of: date, run_id: str) -> list[tuple]:
    """The restatement keys publication (as_of, run_id) carried."""
    link_c = db.publication_restatements.c
    rows = conn.execute(select(*(link_c[k] for k in _KEY)).where(
        link_c[s.AS_OF_DATE] == as_of, link_c[s.RUN_ID] == run_id))  # fmt: skip
    return [tuple(row) for row in rows]


def _row(key: tuple, record: dict[str, Any]) -> dict[str, Any]:
    return {
        **dict(zip(_KEY, key, strict=True)),
        s.DETECTED_ON: parse_date(record["detected_on"]),
        s.FILES_ADDED: json.dumps(record["added"]),
        s.FILES_CHANGED: json.dumps(record["changed"]),
        s.FILES_REMOVED: json.dumps(record["removed"]),
        s.ROWS_BEFORE: record["rows_before"],
        s.ROWS_AFTER: record["rows_after"],
        s.RESTATEMENT_REASON: record["reason"],
        s.RECORDED_AT: datetime.now(UTC).replace(microsecond=0),  # when it was recorded, not an input
    }
