"""Alerts to security teams and operators: what they say (``forecasting.alerts.send`` delivers them).

An ``Alert`` is plain data (JSON-able with ``to_dict``) rendered as text, HTML or a
Slack-compatible payload. Builders: ``data_quality_alert`` (failed expectations, counts,
offending rows), ``contract_alert`` (a drop that broke its file contract),
``task_failure_alert`` (an Airflow task failed; used by ``riskcast_airflow.notifiers``).
Routes are settings (``alerts.routes``): ``file`` (JSON Lines outbox, the embedded
default), ``smtp``, ``webhook`` (Slack-compatible), ``sns`` (Amazon provider); see
``forecasting.alerts.routes``. Offending rows carry business and pseudonymised ids only:
raw PII and free-text columns are never copied into an alert.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from forecasting.core.jsonable import plain, records
from forecasting.core.schema import CONTRACTS

log = logging.getLogger(__name__)

ALERT_KINDS = ("data_quality", "contract", "infrastructure", "gate", "escalation")
ALERT_SEVERITIES = ("critical", "warning", "info")
# Raw columns that may hold personal data or free text: never shown, whatever the caller passes.
_NEVER_SHOWN = frozenset(c for k in CONTRACTS.values() for c in (*k.pii, *k.free_text))


@dataclass
class Alert:
    """One alert. ``rows``: offending rows (safe columns only); ``links``: name -> URI."""

    kind: str
    severity: str
    title: str
    date: date | str | None
    source: str | None = None
    summary: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)

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
        }

    def render_text(self) -> str:
        lines = [self.subject, ""]
        lines += [f"date: {self.date}"] + ([f"source: {self.source}"] if self.source else [])
        lines += ["", self.summary] if self.summary else []
        for key, value in self.details.items():
            lines.append(f"{key}: {_compact(value)}")
        if self.rows:
            lines += ["", f"offending rows (first {len(self.rows)}):", *_table(self.rows)]
        if self.links:
            lines += ["", *[f"{name}: {uri}" for name, uri in self.links.items()]]
        return "\n".join(lines) + "\n"

    def render_html(self) -> str:
        e = html.escape
        parts = [f"<h2>{e(self.subject)}</h2>", f"<p>date: {e(str(self.date))}"]
        parts[-1] += f"<br>source: {e(self.source)}</p>" if self.source else "</p>"
        if self.summary:
            parts.append(f"<p>{e(self.summary)}</p>")
        if self.details:
            items = "".join(
                f"<li><b>{e(k)}</b>: {e(_compact(v))}</li>" for k, v in self.details.items()
            )
            parts.append(f"<ul>{items}</ul>")
        if self.rows:
            cols = list(dict.fromkeys(k for r in self.rows for k in r))
            head = "".join(f"<th>{e(c)}</th>" for c in cols)
            body = "".join(
                "<tr>" + "".join(f"<td>{e(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                for r in self.rows
            )
            parts.append(f'<table border="1" cellpadding="3"><tr>{head}</tr>{body}</table>')
        if self.links:
            parts.append(
                "<p>"
                + "<br>".join(f'{e(n)}: <a href="{e(u)}">{e(u)}</a>' for n, u in self.links.items())
                + "</p>"
            )
        return "<html><body>" + "\n".join(parts) + "</body></html>\n"

    def render_slack(self) -> dict[str, Any]:
        """Slack-compatible webhook payload: ``text`` fallback plus Block Kit ``blocks``."""
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": self.subject[:150]}},
        ]
        body = "\n".join(
            [self.summary] + [f"*{k}*: {_compact(v)}" for k, v in self.details.items()]
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body[:2900] or " "}})
        if self.rows:
            table = "\n".join(_table(self.rows))
            blocks.append(
                {"type": "section", "text": {"type": "mrkdwn", "text": f"```{table[:2800]}```"}}
            )
        if self.links:
            links = " | ".join(
                f"<{u}|{n}>" if "://" in u else f"{n}: {u}" for n, u in self.links.items()
            )
            blocks.append(
                {"type": "context", "elements": [{"type": "mrkdwn", "text": links[:2900]}]}
            )
        return {"text": f"{self.subject}: {self.summary}"[:3000], "blocks": blocks}


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
    summary = f"{message} Nothing of {source} for {day} was written to bronze."
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


def _compact(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(plain(value), sort_keys=True)
    return str(value)


def _table(rows: list[dict[str, Any]]) -> list[str]:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in cols] for r in rows]
    widths = [min(60, max(len(c), *(len(row[i]) for row in cells))) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}.{w}}}" for w in widths)
    return [fmt.format(*cols)] + [fmt.format(*row) for row in cells]
