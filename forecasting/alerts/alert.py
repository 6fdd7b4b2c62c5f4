"""Alerts to security teams and operators: what they say (``forecasting.alerts.send`` delivers them).

An ``Alert`` is plain data (JSON-able with ``to_dict``) rendered as text, HTML or a
Slack-compatible payload (``forecasting.alerts.render``: the wording for people). Builders: ``data_quality_alert`` (failed expectations, counts,
offending rows), ``contract_alert`` (a drop that broke its file contract),
``task_failure_alert`` (an Airflow task failed; used by ``riskcast_airflow.notifiers``).
Routes are settings (``alerts.routes``): ``file`` (JSON Lines outbox, the embedded
default), ``smtp``, ``webhook`` (Slack-compatible), ``sns`` (Amazon provider); see
``forecasting.alerts.routes``. Offending rows carry business and pseudonymised ids only:
raw PII and free-text columns are never copied into an alert.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from forecasting.alerts import render
from forecasting.core.jsonable import plain, records
from forecasting.core.schema import CONTRACTS

log = logging.getLogger(__name__)

ALERT_KINDS = ("data_quality", "contract", "infrastructure", "gate", "escalation", "root_cause", "digest")
ALERT_SEVERITIES = ("critical", "warning", "info")
# Raw columns that may hold personal data or free text: never shown, whatever the caller passes.
_NEVER_SHOWN = frozenset(c for k in CONTRACTS.values() for c in (*k.pii, *k.free_text))


@dataclass
class Alert:
    """One alert. ``rows``: offending rows (safe columns only); ``links``: name -> URI;
    ``raised_at``: when it was sent (``send_alert`` stamps it; not part of ``alert_id``)."""

    kind: str
    severity: str
    title: str
    date: date | str | None
    source: str | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)
    raised_at: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS or self.severity not in ALERT_SEVERITIES:
            raise ValueError(
                f"alert kind {self.kind!r} / severity {self.severity!r}: use {ALERT_KINDS} / {ALERT_SEVERITIES}"
            )
        self.rows = [
            {k: plain(v) for k, v in r.items() if k not in _NEVER_SHOWN} for r in self.rows
        ]

    @property
    def alert_id(self) -> str:
        """Stable id of the event (kind, date, source, title): reruns repeat it, receivers dedupe."""
        key = json.dumps([self.kind, str(self.date), self.source, self.title])
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def subject(self) -> str:
        return f"[riskcast {self.severity}] {self.title}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.alert_id,
            "kind": self.kind,
            "severity": self.severity,
            "title": self.title,
            "date": None if self.date is None else str(self.date),
            "source": self.source,
            "summary": self.summary,
            "details": plain(self.details),
            "rows": self.rows,
            "links": dict(self.links),
            "raised_at": self.raised_at,
        }

    def render_text(self) -> str:
        return render.text(self)

    def render_html(self) -> str:
        return render.html_page(self)

    def render_slack(self) -> dict[str, Any]:
        """Slack-compatible webhook payload: ``text`` fallback plus Block Kit ``blocks``."""
        return render.slack(self)


# --------------------------------------------------------------------------- builders
def data_quality_alert(
    source: str,
    day: date,
    *,
    severity: str,
    summary: str,
    failed: Iterable[dict[str, Any]] = (),
    counts: dict[str, int] | None = None,
    rows: pd.DataFrame | list[dict[str, Any]] | None = None,
    links: dict[str, str] | None = None,
    notes: Iterable[str] = (),
) -> Alert:
    """Failed expectations of a source on a day: names, severities, counts, offending rows."""
    failed = list(failed)
    details: dict[str, Any] = dict(counts or {})
    details["failed expectations"] = [
        f"{f['name']} [{f.get('severity', '?')}]"
        + (f": {f['unexpected_count']} rows" if f.get("unexpected_count") else "")
        for f in failed
    ]
    if notes:
        details["notes"] = list(notes)
    title = f"data quality {'failure' if severity == 'critical' else 'warning'}: {source} {day}"
    return Alert(
        "data_quality",
        severity,
        title,
        day,
        source,
        summary,
        details,
        _records(rows),
        dict(links or {}),
    )


def contract_alert(
    source: str, day: date, message: str, links: dict[str, str] | None = None
) -> Alert:
    """A landing drop that broke its file contract (missing column, wrong format): nothing ingested."""
    title = f"contract broken: {source} {day}"
    summary = f"{message.rstrip('. ')}. Nothing of {source} for {day} was written to bronze."
    return Alert("contract", "critical", title, day, source, summary, links=dict(links or {}))


def infrastructure_alert(source: str, day: date, message: str) -> Alert:
    """A source-day that could not be ingested because of the platform, not the data (a
    missing PII key, an unreachable store): for the platform owner, not the data's owners."""
    title = f"infrastructure: {source} {day} not ingested"
    summary = (
        f"{message} Nothing of {source} for {day} was written to bronze. This is a platform "
        "setting or service, not a problem of the landing data: the platform owner must fix "
        "it, then rerun the day."
    )
    return Alert("infrastructure", "critical", title, day, source, summary)


def task_failure_alert(
    kind: str,
    dag_id: str,
    task_id: str | None,
    day: date | str | None,
    exception: BaseException | str | None,
    *,
    run_id: str | None = None,
    try_number: int | None = None,
    summary: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
) -> Alert:
    """An Airflow task (or DAG run) failed: which, when, why, and the stage's last summary."""
    what = f"{dag_id}.{task_id}" if task_id else dag_id
    reason = (
        f"{type(exception).__name__}: {exception}"
        if isinstance(exception, BaseException)
        else str(exception or "failed")
    )
    details = {
        k: v
        for k, v in {
            "dag_id": dag_id,
            "task_id": task_id,
            "run_id": run_id,
            "try_number": try_number,
        }.items()
        if v is not None
    }
    if summary:
        details["summary"] = summary
    severity = "warning" if kind == "gate" else "critical"
    return Alert(
        kind,
        severity,
        f"{kind.replace('_', ' ')}: {what} failed",
        day,
        None,
        reason[:2000],
        details,
        links=dict(links or {}),
    )


def offending_rows(
    frame: pd.DataFrame, columns: Iterable[str], max_rows: int
) -> list[dict[str, Any]]:
    """The first ``max_rows`` rows of ``frame`` restricted to ``columns`` (minus raw PII/free text)."""
    cols = [c for c in dict.fromkeys(columns) if c in frame.columns and c not in _NEVER_SHOWN]
    return _records(frame.loc[:, cols].head(max_rows))


# --------------------------------------------------------------------------- helpers
def _records(rows: pd.DataFrame | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if rows is None:
        return []
    if isinstance(rows, pd.DataFrame):
        return records(rows)
    return [dict(r) for r in rows]
