"""Every stage of riskcast, declared once: what it runs, reads and writes, and its help.

The ``riskcast`` command of a stage (``forecasting.cli``), the Airflow task that runs it
(``dags/``: task ids are stage names, or ``task_id`` where the DAG gave the task another
name before this table existed) and the stage table of ``docs/architecture.md`` (checked by
``tests/forecasting/test_stages.py``; print it with ``riskcast stages --markdown``) all read
this table, so a stage's function, inputs and help text are written in one place.

A stage's ``run`` takes the settings first, then, by its ``scope``: the logical date
(``DAY``), the run's days (``DAYS``) or a daily source and the days (``SOURCE_DAYS``: one DAG
task per source); a stage that ``takes`` a key of its first upstream task's summary gets that
value as its last argument (the trained model version; the days ingest refused).
``reads`` and ``writes`` name lake areas (``core.layout``), ``landing`` and tables of the
reserves DB; ``failure`` is who a failed task alerts (``data_quality``: security, the data
broke its contract; ``gate``; ``infrastructure``: the platform owner).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from forecasting.audit.stage import run_audit
from forecasting.backtest.run import backtest_lake
from forecasting.explain.stage import explain_lake
from forecasting.forecast import forecast_panel
from forecasting.ingest.retention import purge_landing
from forecasting.panel.build import build_panel, validate_lake_panel
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.escalation import escalate_reserves
from forecasting.reserves.publish import publish_reserves
from forecasting.reserves.report import write_reserves_report
from forecasting.reserves.restatements import sweep_and_record
from forecasting.reserves.track.stage import track_record
from forecasting.train import train_model
from forecasting.validation.runner import (
    ingest_reference_days,
    ingest_source_days,
    validate_source_days,
)

DAY, DAYS, SOURCE_DAYS = "day", "days", "source_days"


@dataclass(frozen=True)
class Stage:
    """One stage: ``name`` (CLI command and DAG task), ``run`` (what both call), ``dag``
    (``riskcast_ingest`` or ``riskcast_forecast``), ``reads``/``writes`` and ``help``."""

    name: str
    run: Callable[..., Any]
    dag: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    help: str
    scope: str = DAY
    failure: str = "infrastructure"
    takes: str | None = None  # a key of the first upstream summary, passed as the last argument
    task_id: str | None = None  # the DAG's task id where it differs from ``name``

    @property
    def task(self) -> str:
        return self.task_id or self.name

    def function(self) -> str:
        """``module.function`` of ``run``, as the docs name it."""
        return f"{self.run.__module__.removeprefix('forecasting.')}.{self.run.__name__}"


INGEST_DAG, FORECAST_DAG = "riskcast_ingest", "riskcast_forecast"

STAGES: tuple[Stage, ...] = (
    Stage(
        "ingest_reference", ingest_reference_days, INGEST_DAG,
        ("landing: warehouses, events",), ("bronze", "quarantine", "data_docs", "alerts"),
        "Snapshot and validate the reference sources (warehouses, events) for the run's days.",
        scope=DAYS, failure="data_quality",
    ),
    Stage(
        "ingest", ingest_source_days, INGEST_DAG,
        ("landing",), ("bronze", "quarantine", "alerts"),
        "Ingest a source's landing drop: read, type, pseudonymise, split into bronze and quarantine.",
        scope=SOURCE_DAYS, failure="data_quality",
    ),
    Stage(
        "validate", validate_source_days, INGEST_DAG,
        ("bronze", "expectations"), ("bronze", "quarantine", "data_docs", "alerts"),
        "Validate a source's bronze with its Great Expectations suite; quarantine failing rows.",
        scope=SOURCE_DAYS, failure="data_quality", takes="rejected_days",
    ),
    Stage(
        "sweep", sweep_and_record, INGEST_DAG,
        ("landing", "ingest manifests"), ("bronze", "quarantine", "restatements", "DB: restatements", "alerts"),
        "Re-ingest and re-validate the past days whose landing files were added, changed or removed since.",
        scope=DAYS, failure="data_quality",
    ),
    Stage(
        "purge_landing", purge_landing, INGEST_DAG,
        ("landing", "ingest manifests"), ("landing", "landing_purges"),
        "Delete landing days past landing_retention_days once ingested and validated (never bronze).",
    ),
    Stage(
        "audit", run_audit, FORECAST_DAG,
        ("bronze",), ("audit",),
        "Positive-unlabeled audit: reporting rate per warehouse and region.",
        failure="data_quality",
    ),
    Stage(
        "panel", build_panel, FORECAST_DAG,
        ("bronze", "audit"), ("panel",),
        "Build the model panel (targets, static and future-known covariates) and validate it.",
        failure="data_quality",
    ),
    Stage(
        "validate_panel", validate_lake_panel, FORECAST_DAG,
        ("panel", "expectations"), (),
        "Check the written panel against the panel suite before anything trains on it.",
        failure="data_quality",
    ),
    Stage(
        "train", train_model, FORECAST_DAG,
        ("panel",), ("models",),
        "Train the global DeepAR (negative binomial) as a Ray Train job and register it.",
    ),
    Stage(
        "backtest", backtest_lake, FORECAST_DAG,
        ("panel", "models", "backtest_windows"), ("backtests", "backtest_windows", "DB: models (gate verdict)", "alerts"),
        "Rolling-origin backtest against baselines, calibration and gate; any panel or the lake's.",
        failure="gate", takes="model_version", task_id="backtest_gate",
    ),
    Stage(
        "forecast", forecast_panel, FORECAST_DAG,
        ("panel", "models"), ("forecasts",),
        "Forecast sample paths and P50/P90/P95 for every warehouse from a gate-passed model.",
        takes="model_version",
    ),
    Stage(
        "track", track_record, FORECAST_DAG,
        ("panel", "DB: reserves, publications", "explain"), ("track", "DB: track_record", "alerts"),
        "Score earlier publications against what happened: realised incidents and loss vs their P50/P90/P95.",
    ),
    Stage(
        "reserves", compute_reserves, FORECAST_DAG,
        ("forecasts", "panel", "backtests"), ("reserves",),
        "Compound incident paths x loss severity into reserves in EUR (P50/P90/P95).",
    ),
    Stage(
        "publish", publish_reserves, FORECAST_DAG,
        ("reserves",), ("DB: reserves, reserves_totals, publications",),
        "Publish the day's reserves to the reserves database in one transaction.",
    ),
    Stage(
        "explain", explain_lake, FORECAST_DAG,
        ("panel", "bronze", "reserves"), ("explain", "alerts"),
        "Score recent warehouse-weeks, attribute outliers to their root causes (DoWhy gcm).",
    ),
    Stage(
        "report", write_reserves_report, FORECAST_DAG,
        ("reserves", "explain", "track", "backtests", "audit"), ("reports",),
        "Write the reserves page and its CSV/Excel downloads: the one writer of the page.",
    ),
    Stage(
        "escalate", escalate_reserves, FORECAST_DAG,
        ("reserves",), ("alerts",),
        "Send escalation alerts for sites whose P95 crosses their threshold.",
    ),
)

BY_NAME = {s.name: s for s in STAGES}


def stage(name: str) -> Stage:
    """The stage called ``name`` (KeyError names the stages there are)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"no stage {name!r}: stages are {', '.join(BY_NAME)}") from None


def markdown_table() -> str:
    """The stage table of docs/architecture.md."""
    rows = ["| stage | DAG task | function | reads | writes |", "|---|---|---|---|---|"]
    for s in STAGES:
        task = f"`{s.task}_<source>`" if s.scope == SOURCE_DAYS else f"`{s.task}`"
        rows.append(
            f"| `{s.name}` | {s.dag}: {task} | `{s.function()}` | {', '.join(s.reads) or '-'} "
            f"| {', '.join(s.writes) or '-'} |"
        )
    return "\n".join(rows)
