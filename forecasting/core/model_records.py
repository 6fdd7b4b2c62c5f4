"""The ``models`` table of the reserves database: what the model registry trusts.

A model's files live in the lake, which every lake writer can change; so the registry keeps
what it relies on here, where only riskcast's publisher role writes (migration V007):

- at registration, the sha256 of every artefact of the version (``artefacts``: path under
  the version's folder -> digest); loading refuses any other bytes;
- the calibration gate's verdict on exactly those artefacts, with its figures, the panel it
  was judged on and the ensemble weights the same backtest chose; forecast, reserves and
  publish read it here, never from the lake's ``manifest.json``.

Append-only: every registration or verdict is a new row (``seq`` 1, 2, ... per version); a
version's state is its newest row, so a retrain (new artefacts) resets the verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)

from forecasting.core import schema as s
from forecasting.core.database import connect, ensure_schema, lock
from forecasting.core.errors import ModelError

MODELS = "models"
REGISTERED, GATED = "registered", "gated"

_meta = MetaData()
_ID = String(128)
models = Table(
    MODELS, _meta,
    Column(s.MODEL_VERSION, _ID), Column(s.RECORD_SEQ, Integer), Column(s.RECORD_EVENT, String(16)),
    Column(s.AS_OF_DATE, Date), Column(s.SNAPSHOT_ID, _ID), Column(s.CODE_VERSION, _ID),
    Column(s.ARTEFACTS, Text), Column(s.GATE_PASSED, Boolean), Column(s.GATE_AS_OF, Date),
    Column(s.GATE_SNAPSHOT_ID, _ID), Column(s.GATE_FIGURES, Text), Column(s.ENSEMBLE_WEIGHTS, Text),
    Column(s.RECORDED_AT, DateTime(timezone=True)),
)  # fmt: skip


@dataclass(frozen=True)
class ModelRecord:
    """A model version's newest row: its artefacts' digests and the verdict on them (if any)."""

    model_version: str
    seq: int
    event: str
    as_of: date
    snapshot_id: str
    code_version: str
    artefacts: dict[str, str]
    gate_passed: bool | None = None
    gate_as_of: date | None = None
    gate_snapshot_id: str | None = None
    gate_figures: dict[str, Any] = field(default_factory=dict)
    ensemble: dict[str, float] = field(default_factory=dict)


def record_registration(url: str, version: str, as_of: date, snapshot_id: str, code_version: str,
                        artefacts: dict[str, str], *, retrained: bool = True) -> ModelRecord:  # fmt: skip
    """Record new artefacts of ``version`` (no verdict yet); the same artefacts as the newest
    row already hold change nothing. ``retrained`` False (a rerun that reused the lake's
    model): the version must already be recorded with exactly these artefacts, else
    ModelError: the reuse of files nobody vouches for is refused, never recorded."""
    if not artefacts:
        raise ModelError(f"model {version}: no artefacts to record")
    with _transaction(url) as conn:
        lock(conn, f"models:{version}")
        current = _newest(conn, version)
        if current is not None and current.artefacts == artefacts:
            return current
        if not retrained:
            why = "has no registration" if current is None else "holds other files than were registered"
            raise ModelError(
                f"model {version} in the lake {why} in the reserves database, so it is not reused; "
                "retrain it with `riskcast train --force`"
            )
        row = {s.AS_OF_DATE: as_of, s.SNAPSHOT_ID: snapshot_id, s.CODE_VERSION: code_version,
               s.ARTEFACTS: _dumps(artefacts)}  # fmt: skip
        return _append(conn, version, REGISTERED, row, current)


def record_verdict(url: str, version: str, passed: bool, figures: dict[str, Any], *, as_of: date | None,
                   snapshot_id: str | None, ensemble: dict[str, float] | None) -> ModelRecord:  # fmt: skip
    """Record the gate's verdict on the artefacts ``version`` holds now; ModelError when the
    version was never registered here (its digests are unknown, so nothing could be judged)."""
    with _transaction(url) as conn:
        lock(conn, f"models:{version}")
        current = _newest(conn, version)
        if current is None:
            raise ModelError(
                f"model {version} has no registration in the reserves database (no artefact "
                "digests): retrain it with `riskcast train --force` before backtesting it"
            )
        row = {
            s.AS_OF_DATE: current.as_of, s.SNAPSHOT_ID: current.snapshot_id,
            s.CODE_VERSION: current.code_version, s.ARTEFACTS: _dumps(current.artefacts),
            s.GATE_PASSED: bool(passed), s.GATE_AS_OF: as_of, s.GATE_SNAPSHOT_ID: snapshot_id,
            s.GATE_FIGURES: _dumps(figures),
            s.ENSEMBLE_WEIGHTS: _dumps({str(m): float(w) for m, w in (ensemble or {}).items()}),
        }  # fmt: skip
        return _append(conn, version, GATED, row, current)


def current_record(url: str, version: str) -> ModelRecord | None:
    """The newest row of ``version``, or None when it was never registered here."""
    with _transaction(url) as conn:
        return _newest(conn, version)


def current_records(url: str) -> dict[str, ModelRecord]:
    """The newest row of every recorded version."""
    newest = (
        select(models.c[s.MODEL_VERSION], func.max(models.c[s.RECORD_SEQ]).label("top"))
        .group_by(models.c[s.MODEL_VERSION]).subquery()
    )  # fmt: skip
    query = select(models).join(
        newest,
        (models.c[s.MODEL_VERSION] == newest.c[s.MODEL_VERSION])
        & (models.c[s.RECORD_SEQ] == newest.c.top),
    )
    with _transaction(url) as conn:
        return {r.model_version: r for r in map(_record, conn.execute(query).mappings())}


class _transaction:
    """One migrated connection in a transaction, the engine disposed after."""

    def __init__(self, url: str) -> None:
        self.engine = connect(url)

    def __enter__(self) -> Connection:
        ensure_schema(self.engine)
        self._ctx = self.engine.begin()
        return self._ctx.__enter__()

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ctx.__exit__(*exc)
        finally:
            self.engine.dispose()


def _newest(conn: Connection, version: str) -> ModelRecord | None:
    row = conn.execute(
        select(models).where(models.c[s.MODEL_VERSION] == version)
        .order_by(models.c[s.RECORD_SEQ].desc()).limit(1)
    ).mappings().first()  # fmt: skip
    return _record(row) if row is not None else None


def _append(conn: Connection, version: str, event: str, row: dict[str, Any],
            current: ModelRecord | None) -> ModelRecord:  # fmt: skip
    seq = (current.seq if current else 0) + 1
    values = {s.MODEL_VERSION: version, s.RECORD_SEQ: seq, s.RECORD_EVENT: event,
              s.RECORDED_AT: datetime.now(UTC), **row}  # fmt: skip
    conn.execute(insert(models).values(values))
    return _record(values)


def _record(row: Any) -> ModelRecord:
    weights = json.loads(row.get(s.ENSEMBLE_WEIGHTS) or "{}")
    return ModelRecord(
        model_version=row[s.MODEL_VERSION], seq=int(row[s.RECORD_SEQ]), event=row[s.RECORD_EVENT],
        as_of=row[s.AS_OF_DATE], snapshot_id=row[s.SNAPSHOT_ID], code_version=row[s.CODE_VERSION],
        artefacts=json.loads(row[s.ARTEFACTS]), gate_passed=row.get(s.GATE_PASSED),
        gate_as_of=row.get(s.GATE_AS_OF), gate_snapshot_id=row.get(s.GATE_SNAPSHOT_ID),
        gate_figures=json.loads(row.get(s.GATE_FIGURES) or "{}"),
        ensemble={str(k): float(v) for k, v in weights.items()},
    )  # fmt: skip


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, allow_nan=False)
