"""The lake's layout: every stage folder and file name, defined once.

``root`` is ``lake_uri`` (a local folder or ``s3://bucket/prefix``)::

    bronze/<source>/date=D/part.parquet                  accepted rows
    quarantine/<source>/date=D/ingest.parquet            rows rejected at ingest (+ reason)
    quarantine/<source>/date=D/validation.parquet        rows rejected by the GX suite (+ reason)
    quarantine/<source>/date=D/validation.json           what the validation of that day read
    quarantine/<source>/date=D/ingest.json               what ingest read: landing files (size,
                                                         sha256), rows, arrival (complete or not)
    quarantine/<source>/date=D/incomplete.json           only for a day ingested incomplete
    _staging/bronze|quarantine/<source>/date=D/...       a rerun's day, written aside, swapped in
                                                         on success (``ingest.partition``)
    restatements/<source>/date=D/<landing digest>.json   a past day re-ingested by the sweep
    landing_purges/<source>/date=D/purge.json            landing files deleted by retention
    alerts/sent/<alert id>.json                          alerts sent once (not again on a rerun)
    data_docs/index.html                                 GX Data Docs
    audit/as_of=D/audit.parquet, report.md, report.html  positive-unlabeled audit
    panel/as_of=D/panel.parquet, severity.parquet, summary.json
    models/<model_version>/manifest.json, model.json, encoders.json, predictor/, members/<i>/predictor/
    forecasts/as_of=D/samples.parquet, quantiles.parquet
    backtests/as_of=D/backtest.parquet, metrics.csv, metrics_by_step.csv, calibration.json,
                      gate.json, ensemble.json, paths.parquet, report.html
    backtest_windows/<config digest>/cutoff=D/<data digest>/window.json, forecasts.npz,
                      baselines.parquet, weights.pt          one stored backtest window
    reserves/as_of=D/reserves.parquet, totals.parquet, thresholds.parquet, horizon.parquet,
                      coverage.json
    reports/as_of=D/reserves.html, exports/<EXPORT_FILES>  the reserves page and its downloads
    explain/as_of=D/attributions.parquet, scores.parquet, explain.json   root causes of outliers
    track/as_of=D/track_record.parquet, coverage.json    published reserves against what happened
    alerts/outbox.jsonl                                  the file alert route

A stage that reads another stage's output asks for the path here (``Layout`` is a base
of ``forecasting.core.lake.Lake``: ``lake.forecast_samples(as_of)``); nobody else spells
a lake folder or file name. Identifiers that become path segments are validated.
"""

from __future__ import annotations

import re
from datetime import date

from forecasting.core.errors import ConfigError

# ------------------------------------------------------------------ folders
BRONZE, QUARANTINE, DATA_DOCS, MODELS, ALERTS = "bronze", "quarantine", "data_docs", "models", "alerts"
AUDIT, PANEL, FORECASTS, BACKTESTS, RESERVES, REPORTS = (
    "audit", "panel", "forecasts", "backtests", "reserves", "reports",
)
EXPLAIN = "explain"
TRACK = "track"
STAGING, RESTATEMENTS, LANDING_PURGES, SENT = "_staging", "restatements", "landing_purges", "sent"
BACKTEST_WINDOWS = "backtest_windows"  # stored windows, reused by later backtests
STAGES = (AUDIT, PANEL, FORECASTS, BACKTESTS, RESERVES, REPORTS, EXPLAIN, TRACK)

# ------------------------------------------------------------------ files
BRONZE_FILE = "part.parquet"
INGEST_QUARANTINE_FILE = "ingest.parquet"
VALIDATION_QUARANTINE_FILE = "validation.parquet"
VALIDATION_MANIFEST_FILE = "validation.json"
DATA_DOCS_INDEX = "index.html"
INGEST_MANIFEST_FILE, INCOMPLETE_FILE, PURGE_FILE = "ingest.json", "incomplete.json", "purge.json"
SUCCESS_MARKER = "_SUCCESS"  # a landing day folder's "the drop is complete" file (not data)
SWAP_MARKER, REJECTED_MARKER = "_SWAP", "_REJECTED"  # a staged day: being swapped in / refused
OUTBOX_FILE = "outbox.jsonl"

AUDIT_FILE, AUDIT_REPORT_MD, AUDIT_REPORT_HTML = "audit.parquet", "report.md", "report.html"
PANEL_FILE, SEVERITY_FILE, PANEL_SUMMARY_FILE = "panel.parquet", "severity.parquet", "summary.json"
SAMPLES_FILE, QUANTILES_FILE = "samples.parquet", "quantiles.parquet"
RESERVES_FILE, TOTALS_FILE, THRESHOLDS_FILE = "reserves.parquet", "totals.parquet", "thresholds.parquet"
RESERVES_REPORT_FILE = "reserves.html"
HORIZON_FILE = "horizon.parquet"  # reserves over the next 4 weeks, the horizon, months, quarters
COVERAGE_FILE = "coverage.json"  # held-out coverage of the incident and loss (EUR) quantiles
EXPORTS_DIR = "exports"
# the reserves page's downloads (under reports/as_of=D/exports/): name -> file
EXPORT_FILES = {
    "warehouse_week": "warehouse_week.csv",
    "region_week": "region_week.csv",
    "horizon": "horizon_totals.csv",
    "workbook": "reserves.xlsx",
}
ATTRIBUTIONS_FILE, EXPLAIN_SCORES_FILE, EXPLAIN_SUMMARY_FILE = (
    "attributions.parquet", "scores.parquet", "explain.json",
)
TRACK_FILE, TRACK_COVERAGE_FILE = "track_record.parquet", "coverage.json"

# model registry: one folder per version
MANIFEST_FILE, MODEL_FILE, ENCODERS_FILE = "manifest.json", "model.json", "encoders.json"
PREDICTOR_DIR, MEMBERS_DIR = "predictor", "members"
WEIGHTS_FILE = "prediction-net-state.pt"  # GluonTS' name for a predictor's network weights

# a stored backtest window (forecasting.backtest.window_store)
WINDOW_FILE, WINDOW_FORECASTS_FILE, WINDOW_BASELINES_FILE, WINDOW_WEIGHTS_FILE = (
    "window.json", "forecasts.npz", "baselines.parquet", "weights.pt",
)

# backtest evidence: under backtests/as_of=D/ or a user's --out folder
BACKTEST_FILES = {
    "backtest": "backtest.parquet",
    "metrics": "metrics.csv",
    "metrics_by_step": "metrics_by_step.csv",
    "calibration": "calibration.json",
    "gate": "gate.json",
    "ensemble": "ensemble.json",
    "paths": "paths.parquet",  # sample paths of the evaluated windows (the EUR coverage)
    "report": "report.html",
}

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it is safe as a path segment or SQL name, else raise.

    Allowed: letters, digits, ``_ . -``, starting with a letter or digit, no ``..``.
    """
    if not isinstance(value, str) or not _SAFE_ID.match(value) or ".." in value:
        raise ConfigError(
            f"{what} {value!r} is not a safe identifier: use letters, digits, '_', '.', '-' "
            "(no '/', no '..', at most 128 characters)"
        )
    return value


def join(root: str, *parts: str) -> str:
    """Join URI parts with '/' (works for local paths and s3://)."""
    out = root.rstrip("/")
    for p in parts:
        p = str(p).strip("/")
        if p:
            out = f"{out}/{p}"
    return out


class Layout:
    """Paths under one lake root. Methods return URIs; nothing is read or written here.

    ``staged``: (source, day) partitions whose bronze and quarantine folders resolve under
    ``_staging/`` instead (a rerun written aside; ``Lake.with_staged``). Listings of a
    source's partitions (``bronze_root``) always see the live ones."""

    uri: str
    staged: frozenset[tuple[str, date]] = frozenset()

    # ------------------------------------------------------------------ intake
    def bronze_root(self, source: str) -> str:
        return join(self.uri, BRONZE, validate_identifier(source, "source"))

    def bronze(self, source: str, day: date) -> str:
        return join(self._partition_base(source, day), BRONZE, validate_identifier(source, "source"), f"date={day}")

    def bronze_file(self, source: str, day: date) -> str:
        return join(self.bronze(source, day), BRONZE_FILE)

    def quarantine(self, source: str, day: date) -> str:
        return join(self._partition_base(source, day), QUARANTINE, validate_identifier(source, "source"), f"date={day}")

    def _partition_base(self, source: str, day: date) -> str:
        return join(self.uri, STAGING) if (source, day) in self.staged else self.uri

    @property
    def staging_root(self) -> str:
        return join(self.uri, STAGING)

    def ingest_manifest(self, source: str, day: date) -> str:
        return join(self.quarantine(source, day), INGEST_MANIFEST_FILE)

    def incomplete_marker(self, source: str, day: date) -> str:
        return join(self.quarantine(source, day), INCOMPLETE_FILE)

    def quarantine_root(self, source: str) -> str:
        return join(self.uri, QUARANTINE, validate_identifier(source, "source"))

    def restatement(self, source: str, day: date, digest: str) -> str:
        return join(self.uri, RESTATEMENTS, validate_identifier(source, "source"), f"date={day}",
                    f"{validate_identifier(digest, 'landing digest')}.json")

    @property
    def restatements_root(self) -> str:
        return join(self.uri, RESTATEMENTS)

    def landing_purge(self, source: str, day: date) -> str:
        return join(self.uri, LANDING_PURGES, validate_identifier(source, "source"), f"date={day}", PURGE_FILE)

    def sent_alert(self, alert_id: str) -> str:
        return join(self.uri, ALERTS, SENT, f"{validate_identifier(alert_id, 'alert id')}.json")

    def ingest_quarantine(self, source: str, day: date) -> str:
        return join(self.quarantine(source, day), INGEST_QUARANTINE_FILE)

    def validation_quarantine(self, source: str, day: date) -> str:
        return join(self.quarantine(source, day), VALIDATION_QUARANTINE_FILE)

    def validation_manifest(self, source: str, day: date) -> str:
        return join(self.quarantine(source, day), VALIDATION_MANIFEST_FILE)

    def landing_day(self, source: str, day: date) -> str:
        """A landing area's day folder of a daily source (this layout rooted at ``landing_uri``)."""
        return join(self.uri, validate_identifier(source, "source"), f"date={day}")

    @property
    def data_docs(self) -> str:
        return join(self.uri, DATA_DOCS)

    @property
    def data_docs_index(self) -> str:
        return join(self.data_docs, DATA_DOCS_INDEX)

    @property
    def outbox(self) -> str:
        return join(self.uri, ALERTS, OUTBOX_FILE)

    # ------------------------------------------------------------------ as-of stages
    def stage(self, stage: str, as_of: date) -> str:
        return join(self.uri, validate_identifier(stage, "stage"), f"as_of={as_of}")

    def audit_table(self, as_of: date) -> str:
        return join(self.stage(AUDIT, as_of), AUDIT_FILE)

    def audit_report(self, as_of: date, markdown: bool = False) -> str:
        return join(self.stage(AUDIT, as_of), AUDIT_REPORT_MD if markdown else AUDIT_REPORT_HTML)

    def panel_file(self, as_of: date) -> str:
        return join(self.stage(PANEL, as_of), PANEL_FILE)

    def panel_severity(self, as_of: date) -> str:
        return join(self.stage(PANEL, as_of), SEVERITY_FILE)

    def panel_summary(self, as_of: date) -> str:
        return join(self.stage(PANEL, as_of), PANEL_SUMMARY_FILE)

    def forecast_samples(self, as_of: date) -> str:
        return join(self.stage(FORECASTS, as_of), SAMPLES_FILE)

    def forecast_quantiles(self, as_of: date) -> str:
        return join(self.stage(FORECASTS, as_of), QUANTILES_FILE)

    def backtest_file(self, as_of: date, kind: str) -> str:
        """``kind`` is a key of ``BACKTEST_FILES`` (``gate``, ``calibration``, ``report``, ...)."""
        return join(self.stage(BACKTESTS, as_of), BACKTEST_FILES[kind])

    def reserves_file(self, as_of: date, name: str = RESERVES_FILE) -> str:
        """``name``: ``RESERVES_FILE``, ``TOTALS_FILE``, ``THRESHOLDS_FILE``, ``HORIZON_FILE``
        or ``COVERAGE_FILE``."""
        return join(self.stage(RESERVES, as_of), name)

    def reserves_report(self, as_of: date) -> str:
        return join(self.stage(REPORTS, as_of), RESERVES_REPORT_FILE)

    def reserves_export(self, as_of: date, name: str) -> str:
        """``name``: a key of ``EXPORT_FILES`` (``warehouse_week``, ..., ``workbook``)."""
        return join(self.stage(REPORTS, as_of), EXPORTS_DIR, EXPORT_FILES[name])

    def explain_attributions(self, as_of: date) -> str:
        return join(self.stage(EXPLAIN, as_of), ATTRIBUTIONS_FILE)

    def explain_file(self, as_of: date, kind: str) -> str:
        """``kind``: ``attributions``, ``scores`` (every scored warehouse-week) or ``summary``."""
        name = {"attributions": ATTRIBUTIONS_FILE, "scores": EXPLAIN_SCORES_FILE,
                "summary": EXPLAIN_SUMMARY_FILE}[kind]  # fmt: skip
        return join(self.stage(EXPLAIN, as_of), name)

    def track_file(self, as_of: date) -> str:
        """Every published week that had ended by ``as_of``, scored on the data of ``as_of``."""
        return join(self.stage(TRACK, as_of), TRACK_FILE)

    def track_coverage(self, as_of: date) -> str:
        """Live coverage over the last 13 and 52 weeks, its state and the alert it raised."""
        return join(self.stage(TRACK, as_of), TRACK_COVERAGE_FILE)

    def stage_dates(self, stage: str) -> str:
        """The folder holding a stage's ``as_of=D`` partitions (list it with ``Lake.ls``)."""
        return join(self.uri, validate_identifier(stage, "stage"))

    def backtest_windows(self, config: str | None = None, cutoff: date | None = None, data: str | None = None) -> str:
        """``backtest_windows/[<config digest>/[cutoff=D/[<data digest>/]]]``: stored windows."""
        parts = [validate_identifier(config, "window config")] if config else []
        if config and cutoff is not None:
            parts.append(f"cutoff={cutoff}")
            if data:
                parts.append(validate_identifier(data, "window data digest"))
        return join(self.uri, BACKTEST_WINDOWS, *parts)

    # ------------------------------------------------------------------ model registry
    def models(self, version: str | None = None) -> str:
        base = join(self.uri, MODELS)
        return join(base, validate_identifier(version, "model version")) if version else base

    def model_manifest(self, version: str) -> str:
        return join(self.models(version), MANIFEST_FILE)
