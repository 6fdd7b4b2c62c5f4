"""Airflow 3 notifiers that deliver riskcast alerts (``on_failure_callback`` and friends).

``RiskcastAlertNotifier(kind=...)`` reads the failing task's context (DAG, task, logical
date, exception, run, try, optional upstream XCom summaries), builds the alert with
``forecasting.alerts.alert.task_failure_alert`` and delivers it on the configured routes
(``settings.alerts.routes``: outbox file, SMTP, webhook, SNS). What the alert says is built
in the library; this module only reads Airflow's context. Imported by DAG files at parse
time, so nothing heavy is imported at module level.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from forecasting.alerts.alert import task_failure_alert
from forecasting.alerts.send import send_alert
from forecasting.core.config import load_settings
from riskcast_airflow.runtime import as_of, settings

KINDS = ("data_quality", "contract", "infrastructure", "gate", "escalation")


class RiskcastAlertNotifier(BaseNotifier):
    """Send a riskcast alert about a failed task or DAG run.

    ``kind``: ``data_quality`` (security teams: data broke its contract), ``infrastructure``
    (platform owner), ``gate``, ``contract`` or ``escalation``. ``xcom_task_ids``: upstream
    tasks whose returned summaries (stage ``to_dict()``) are attached. ``config``: a YAML
    settings file; default the task's settings (env / ``RISKCAST_CONFIG`` + run params).
    """

    template_fields = ("title",)

    def __init__(
        self,
        kind: str = "infrastructure",
        *,
        title: str | None = None,
        xcom_task_ids: Sequence[str] = (),
        config: str | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"RiskcastAlertNotifier kind {kind!r}: use one of {KINDS}")
        self.kind = kind
        self.title = title
        self.xcom_task_ids = list(xcom_task_ids)
        self.config = config

    def notify(self, context: dict[str, Any]) -> None:

        alert = self.build_alert(context)
        send_alert(self._settings(context), alert)
        self.log.info("riskcast %s alert %s sent: %s", self.kind, alert.alert_id, alert.title)

    def build_alert(self, context: dict[str, Any]) -> Any:
        """The ``forecasting.alerts.alert.Alert`` this notifier sends for ``context``."""

        ti = context.get("ti") or context.get("task_instance")
        dag_id = _first(ti, "dag_id") or _first(context.get("dag"), "dag_id")
        dag_id = dag_id or _first(context.get("dag_run"), "dag_id") or "unknown_dag"
        task_id = _first(ti, "task_id") or _first(context.get("task"), "task_id")
        alert = task_failure_alert(
            self.kind,
            dag_id,
            task_id,
            _logical_day(context),
            context.get("exception") or context.get("reason"),
            run_id=context.get("run_id")
            or _first(ti, "run_id")
            or _first(context.get("dag_run"), "run_id"),
            try_number=_first(ti, "try_number"),
            summary=self._summaries(ti),
            links={"log": url} if (url := _first(ti, "log_url")) else None,
        )
        if self.title:
            alert.title = self.title
        return alert

    def _summaries(self, ti: Any) -> dict[str, Any] | None:
        if not self.xcom_task_ids or ti is None:
            return None
        out = {}
        for task_id in self.xcom_task_ids:
            try:
                out[task_id] = ti.xcom_pull(task_ids=task_id)
            except Exception as exc:  # noqa: BLE001 - a missing summary must not block the alert
                out[task_id] = f"unavailable: {type(exc).__name__}"
        return out

    def _settings(self, context: dict[str, Any]) -> Any:
        if self.config:

            return load_settings(self.config)

        return settings(context)


def _first(obj: Any, attr: str) -> Any:
    return getattr(obj, attr, None) if obj is not None else None


def _logical_day(context: dict[str, Any]) -> date | None:
    """The day the failed run worked on, the one way every task derives it
    (``runtime.as_of``); None where the context cannot say (the alert still goes out)."""
    try:
        return as_of(context)
    except (ValueError, TypeError):
        return None
