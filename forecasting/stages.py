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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from forecasting.audit.stage import run_audit
from forecasting.backtest.run import backtest_lake
from forecasting.core.config import Settings
from forecasting.core.errors import (
    ConfigError,
    DataContractError,
    InputError,
    RiskcastError,
    StorageError,
)
from forecasting.core.lake import Lake, check_storage, parse_date
from forecasting.core.schema import DAILY_SOURCES, REFERENCE_SOURCES
from forecasting.explain.stage import explain_lake
from forecasting.forecast import forecast_panel
from forecasting.ingest.drop import CONTRACT, INFRASTRUCTURE, IngestResult
from forecasting.ingest.retention import purge_landing
from forecasting.panel.build import build_panel, validate_lake_panel
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.escalation import escalate_reserves
from forecasting.reserves.publish import publish_reserves
from forecasting.reserves.report import write_reserves_report
from forecasting.reserves.restatements import sweep_and_record
from forecasting.reserves.track.stage import track_record
from forecasting.train import train_model
from forecasting.validation.alerting import alert_day
from forecasting.validation.checks import SOURCE_ORDER
from forecasting.validation.runner import (
    day_summaries,
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


# --------------------------------------------------------------------------- riskcast ingest
def run_ingest(settings: Settings, days: Sequence[date], validate: bool = True, sweep: bool = True) -> list[dict[str, Any]]:
    """What ``riskcast ingest`` runs: the ingest DAG's stages over ``days``, in the DAG's order,
    each through its ``Stage.run`` of this table: ``ingest_reference``; per daily source
    ``ingest`` then ``validate`` (given the days ingest refused); then ``sweep`` (with
    ``validate`` and ``lookback_days``). A bad lake or landing URI, or a range no daily source
    has a landing folder for (a wrong date or ``landing_uri``), stops it with one error
    before any source runs (``core.lake.check_storage``).

    A stage that raises is recorded for its source and days (exit code 2, alerted once, as
    the DAG alerts a failed task) and the next stage goes on, so one run reports every
    source's problems (the DAG skips the tasks after a failed one: the daily sources after
    ``ingest_reference``, a source's ``validate`` after its ``ingest``); validation only
    validates what this run staged. Without
    ``validate`` only the ingest stages run and the days stay staged, as in the DAG until
    validation swaps them in. Unlike the DAG nothing waits for a drop (one not due yet is an
    error), and ``purge_landing`` is its own command. One summary per day
    (``validation.runner.day_summaries``); the sweep's is the last day's ``sweep``."""
    days = [parse_date(d) for d in days]
    check_storage(settings)
    _check_landed(settings, days)
    ingested: dict[str, dict[str, Any]] = {}
    validated: dict[str, dict[str, Any]] = {}
    reference, failed = _attempt(settings, "ingest_reference", days)
    for source in REFERENCE_SOURCES:
        done = reference.get(source, {})
        if "ingest" in done:
            ingested[source] = done["ingest"]["by_day"]
        if "validate" in done:
            validated[source] = done["validate"]["by_day"]
        elif failed is not None:  # the source the stage stopped at
            (validated if "ingest" in done else ingested)[source] = _failed(settings, failed, days, source)
            break
    for source in DAILY_SOURCES:
        ingest, failed_ingest = _attempt(settings, "ingest", days, source)
        ingested[source] = {**_failed(settings, failed_ingest, days, source), **ingest.get("by_day", {})}
        if validate:
            rejected = {d for d, e in ingested[source].items() if e["exit_code"] == 2}
            checked, failed_check = _attempt(settings, "validate", days, source, rejected)
            validated[source] = {**_failed(settings, failed_check, days, source), **checked.get("by_day", {})}
    out = day_summaries(days, ingested, validated if validate else None)
    if sweep and validate and settings.lookback_days:
        swept, failed = _attempt(settings, "sweep", days)
        out[-1]["sweep"] = swept if failed is None else {"error": str(failed), "exit_code": failed.exit_code}
        out[-1]["exit_code"] = max(out[-1]["exit_code"], out[-1]["sweep"]["exit_code"])
    return out


def run_validate(settings: Settings, day: date) -> dict[str, Any]:
    """What ``riskcast validate --date D`` runs: the ``validate`` stage for every source of
    ``day`` (reference snapshots first), each on a staged copy of its live partition
    (``only_staged=False``), swapped in or kept (``validation.staging``). Returns ``date``,
    ``sources`` (the stage's entries), ``data_docs``, ``alerts``, ``alert_errors``,
    ``errors`` and ``exit_code``."""
    day = parse_date(day)
    check_storage(settings)
    validated = {}
    for source in SOURCE_ORDER:
        checked, failed = _attempt(settings, "validate", [day], source, (), only_staged=False)
        validated[source] = {**_failed(settings, failed, [day], source), **checked.get("by_day", {})}
    summary = day_summaries([day], {}, validated)[0]
    keep = ("date", "exit_code", "errors", "alerts", "alert_errors")
    return {**{k: summary[k] for k in keep}, **summary["validation"]}


def _check_landed(settings: Settings, days: list[date]) -> None:
    """StorageError when no daily source has a landing folder for any of ``days`` and none of
    them was ingested before: one error, not a missing drop per source and day."""
    landing, lake = Lake.landing_from_settings(settings), Lake.from_settings(settings)
    if any(landing.exists(landing.landing_day(s, d)) or lake.exists(lake.ingest_manifest(s, d))
           for d in days for s in DAILY_SOURCES):  # fmt: skip
        return
    span = str(days[0]) if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    raise StorageError(
        f"no landing drop for {span}: no daily source has a folder for it under setting 'landing_uri' "
        "(RISKCAST_LANDING_URI); check the dates and the setting, or wait for the drop to arrive"
    )


def _attempt(settings: Settings, name: str, days: list[date], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Run stage ``name`` (a per-source stage: ``args[0]`` is the source): (its summary,
    None), or (what it did before it failed, the RiskcastError)."""
    s = stage(name)
    source, rest = (args[:1], args[1:]) if s.scope == SOURCE_DAYS else ((), args)
    try:
        return s.run(settings, *source, days, *rest, **kwargs), None
    except RiskcastError as exc:
        return getattr(exc, "partial", {}), exc


def _failed(settings: Settings, exc: RiskcastError | None, days: list[date], source: str) -> dict[str, Any]:
    """The ``by_day`` entries of ``source``'s stage that failed with ``exc``: the days it
    left, each with the error. An error the stage did not alert itself (a setting, the
    storage: contract failures are alerted per day) is alerted once, on the last day."""
    if exc is None:
        return {}
    kind = INFRASTRUCTURE if isinstance(exc, ConfigError) else CONTRACT
    sent: tuple[dict, list] = ({}, [])
    if not isinstance(exc, DataContractError | InputError):
        sent = alert_day(settings, days[-1], [IngestResult(source, days[-1], error=str(exc), error_kind=kind)], [])
    entries = {d.isoformat(): {"error": str(exc), "error_kind": kind, "exit_code": exc.exit_code,
                               "alerts": {}, "alert_errors": []} for d in days}  # fmt: skip
    entries[days[-1].isoformat()].update(alerts=sent[0], alert_errors=sent[1])
    return entries
