"""Every column name, dtype and value set of every frame riskcast reads or writes.

Nobody spells a column name as a bare string elsewhere: import the constant from here.
Frames, in data-flow order: raw sources (landing) -> bronze -> panel -> forecasts /
sample paths -> backtest -> reserves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# --------------------------------------------------------------------------- value sets
SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")
REPORT_STATUSES = ("confirmed", "unconfirmed", "false_alarm")
REPORT_CATEGORIES = ("theft", "burglary", "fraud", "vandalism", "other")
REASON_CODES = ("UNEXPLAINED", "DAMAGE", "MISCOUNT", "FOUND", "TRANSFER")
EVENT_SCOPES = ("all", "region", "country", "warehouse")
EVENT_TYPES = ("product_launch", "peak", "holiday")
TARGETS = ("reported_incidents", "unexplained_losses", "estimated_thefts")

# --------------------------------------------------------------------------- shared columns
WAREHOUSE_ID = "warehouse_id"
SKU = "sku"
IS_HVG = "is_hvg"
REGION = "region"
COUNTRY = "country"
REASON = "reason"  # quarantine: why a row was rejected
RAW_LINE = "raw_line"  # quarantine: an unsplittable row's line (pseudonymised for PII sources)
SOURCE_FILE = "source_file"  # lineage: landing file a row came from
SOURCE_ROW = "source_row"  # lineage: 1-based data row in that file
INGEST_DATE = "ingest_date"  # the logical date of the drop

# --------------------------------------------------------------------------- security_reports
REPORT_ID = "report_id"
INCIDENT_AT = "incident_at"
REPORTED_AT = "reported_at"
SEVERITY = "severity"
CATEGORY = "category"
UNITS = "units"
LOSS_VALUE_EUR = "loss_value_eur"
STATUS = "status"
REPORTER_ID = "reporter_id"  # PII: pseudonymised at ingest
NOTES = "notes"  # free text, may hold PII: dropped at ingest
REPORTER_PSEUDONYM = "reporter_pseudonym"  # keyed hash of reporter_id (bronze)
HAS_NOTES = "has_notes"  # whether the dropped notes field was filled (bronze)

# --------------------------------------------------------------------------- reconciliation_logs
RECON_ID = "recon_id"
COUNT_DATE = "count_date"
EXPECTED_UNITS = "expected_units"
COUNTED_UNITS = "counted_units"
UNIT_VALUE_EUR = "unit_value_eur"
REASON_CODE = "reason_code"

# --------------------------------------------------------------------------- warehouses, events
SQFT = "sqft"
OPENED_ON = "opened_on"
WAREHOUSE_NAME = "name"
EVENT_DATE = "date"
SCOPE = "scope"
SCOPE_ID = "scope_id"
EVENT_TYPE = "event_type"
EVENT_NAME = "name"


@dataclass(frozen=True)
class Contract:
    """The data contract of one landing source.

    ``columns`` maps every required column to its logical type: ``str``, ``int``,
    ``float``, ``bool``, ``date`` (calendar day) or ``datetime`` (UTC instant).
    ``key`` is the business key used for deduplication; ``pii`` columns are replaced by a
    keyed hash, ``free_text`` columns are dropped (only whether they were filled is kept).
    ``optional`` columns may be absent or empty.
    """

    name: str
    columns: dict[str, str]
    key: tuple[str, ...]
    pii: dict[str, str] = field(default_factory=dict)  # raw column -> pseudonym column
    free_text: dict[str, str] = field(default_factory=dict)  # raw column -> flag column
    optional: tuple[str, ...] = ()
    daily: bool = True  # one drop per day (False: a reference snapshot)

    @property
    def bronze_columns(self) -> list[str]:
        """Columns of the bronze table, in order (PII replaced, free text flagged)."""
        out = []
        for col in self.columns:
            if col in self.pii:
                out.append(self.pii[col])
            elif col in self.free_text:
                out.append(self.free_text[col])
            else:
                out.append(col)
        return out + [SOURCE_FILE, SOURCE_ROW, INGEST_DATE]


SECURITY_REPORTS = Contract(
    name="security_reports",
    columns={
        REPORT_ID: "str",
        WAREHOUSE_ID: "str",
        INCIDENT_AT: "datetime",
        REPORTED_AT: "datetime",
        SEVERITY: "str",
        CATEGORY: "str",
        SKU: "str",
        IS_HVG: "bool",
        UNITS: "int",
        LOSS_VALUE_EUR: "float",
        STATUS: "str",
        REPORTER_ID: "str",
        NOTES: "str",
    },
    key=(REPORT_ID,),
    pii={REPORTER_ID: REPORTER_PSEUDONYM},
    free_text={NOTES: HAS_NOTES},
    optional=(SKU, NOTES, REPORTER_ID),
)

RECONCILIATION_LOGS = Contract(
    name="reconciliation_logs",
    columns={
        RECON_ID: "str",
        WAREHOUSE_ID: "str",
        COUNT_DATE: "date",
        SKU: "str",
        IS_HVG: "bool",
        EXPECTED_UNITS: "int",
        COUNTED_UNITS: "int",
        UNIT_VALUE_EUR: "float",
        REASON_CODE: "str",
    },
    key=(RECON_ID,),
)

WAREHOUSES = Contract(
    name="warehouses",
    columns={
        WAREHOUSE_ID: "str",
        WAREHOUSE_NAME: "str",
        COUNTRY: "str",
        REGION: "str",
        SQFT: "float",
        OPENED_ON: "date",
    },
    key=(WAREHOUSE_ID,),
    optional=(WAREHOUSE_NAME,),
    daily=False,
)

EVENTS = Contract(
    name="events",
    columns={
        EVENT_DATE: "date",
        SCOPE: "str",
        SCOPE_ID: "str",
        EVENT_TYPE: "str",
        EVENT_NAME: "str",
    },
    key=(EVENT_DATE, SCOPE, SCOPE_ID, EVENT_TYPE),
    optional=(SCOPE_ID, EVENT_NAME),
    daily=False,
)

CONTRACTS: dict[str, Contract] = {
    c.name: c for c in (SECURITY_REPORTS, RECONCILIATION_LOGS, WAREHOUSES, EVENTS)
}
DAILY_SOURCES = tuple(name for name, c in CONTRACTS.items() if c.daily)
REFERENCE_SOURCES = tuple(name for name, c in CONTRACTS.items() if not c.daily)

# --------------------------------------------------------------------------- audit
REPORTED_LOSSES = "reported_losses"  # unexplained HVG losses matched to a report
UNEXPLAINED_LOSSES_N = "unexplained_losses"  # unexplained HVG loss events
REPORTING_RATE = "reporting_rate"
REPORTING_RATE_LO = "reporting_rate_lo"
REPORTING_RATE_HI = "reporting_rate_hi"
AUDIT_LEVEL = "level"  # "warehouse" | "region" | "network"
AUDIT_ID = "id"
AUDIT_LEVELS = ("warehouse", "region", "network")
REPORTING_RATE_RAW = "reporting_rate_raw"  # reported / unexplained before shrinkage (NaN if none)
HVG_REPORTS_N = "hvg_reports"  # HVG reports (not false alarms) with an incident in the audit window
UNMATCHED_REPORTS_N = "unmatched_reports"  # of those, matched to no unexplained loss line

# --------------------------------------------------------------------------- panel (long)
UNIQUE_ID = "unique_id"
DS = "ds"
Y = "y"
REPORTED_INCIDENTS = "reported_incidents"
UNEXPLAINED_LOSSES = "unexplained_losses"
ESTIMATED_THEFTS = "estimated_thefts"
SQFT_LOG = "sqft_log"
SITE_AGE_YEARS = "site_age_years"
IS_LAUNCH = "is_launch"
IS_PEAK = "is_peak"
IS_HOLIDAY = "is_holiday"
IS_FUTURE = "is_future"  # covariate-only rows over the forecast horizon (y missing)

PANEL_STATIC_REAL = (SQFT_LOG,)
PANEL_STATIC_CAT = (REGION, COUNTRY)
PANEL_DYNAMIC_REAL = (IS_LAUNCH, IS_PEAK, IS_HOLIDAY, SITE_AGE_YEARS)

# severity table: empirical loss per incident
SEVERITY_LOSS_EUR = "loss_eur"
SEVERITY_EVIDENCE = "evidence"  # "report" | "matched" | "unexplained_loss": where the amount comes from

# --------------------------------------------------------------------------- forecasts
STEP = "step"  # 1-based horizon step
MEAN = "mean"
SAMPLE = "sample"  # sample path index
VALUE = "value"
MODEL_VERSION = "model_version"
QUANTILE_LEVELS = (0.05, 0.5, 0.9, 0.95)


def quantile_col(q: float) -> str:
    """Column holding the q-quantile forecast, e.g. ``q0.95``."""
    return f"q{q:g}"


# --------------------------------------------------------------------------- model registry
GATE_PASSED = "gate_passed"  # list_models: calibration gate verdict (None until backtested)
MODEL_URI = "uri"  # list_models: where the model version's files lie
# the reserves database's `models` table (forecasting.core.model_records): one row per event
RECORD_SEQ = "seq"  # the event's number within its model version (1, 2, ...)
RECORD_EVENT = "event"  # "registered" (new artefacts, no verdict) | "gated" (a verdict on them)
ARTEFACTS = "artefacts"  # JSON {path under the version's folder: sha256}
GATE_AS_OF = "gate_as_of"  # the as_of whose panel the verdict was judged on
GATE_SNAPSHOT_ID = "gate_snapshot_id"  # that panel's snapshot
GATE_FIGURES = "gate_figures"  # JSON: the gate's figures (GateResult.to_dict)
ENSEMBLE_WEIGHTS = "ensemble_weights"  # JSON {member: weight} the gating backtest chose
RECORDED_AT = "recorded_at"


# --------------------------------------------------------------------------- backtest
MODEL = "model"
CUTOFF = "cutoff"
COLD_START = "cold_start"
METRIC = "metric"
METRIC_VALUE = "value"
SEGMENT = "segment"
PIT_LO = "pit_lo"  # predictive CDF just below the actual, F(y-1), from sample paths
PIT_HI = "pit_hi"  # predictive CDF at the actual, F(y), from sample paths
MASE_SCALE = "mase_scale"  # in-sample seasonal-naive MAE of the series before the cutoff
WINDOW = "window"  # 0-based index of the backtest cutoff (calibration-only windows < 0)
EVAL_QUANTILES = (0.5, 0.9, 0.95)  # quantiles scored by wQL and coverage, and gated

# --------------------------------------------------------------------------- reserves
AS_OF_DATE = "as_of_date"
PERIOD_START = "period_start"
PERIOD_END = "period_end"
INCIDENTS_P50, INCIDENTS_P90, INCIDENTS_P95 = "incidents_p50", "incidents_p90", "incidents_p95"
LOSS_EUR_P50, LOSS_EUR_P90, LOSS_EUR_P95 = "loss_eur_p50", "loss_eur_p90", "loss_eur_p95"
LOSS_EUR_MEAN = "loss_eur_mean"
BACKTEST_COVERAGE_P95 = "backtest_coverage_p95"
CALIBRATION_METHOD = "calibration_method"
ESCALATION_LEVEL = "escalation_level"
RUN_ID = "run_id"
SNAPSHOT_ID = "snapshot_id"
CODE_VERSION = "code_version"
PUBLISHED_AT = "published_at"
TOTAL_LEVEL = "level"  # reserves_totals: "region" | "network"
TOTAL_ID = "id"
TOTAL_LEVELS = ("region", "network")
NETWORK_ID = "network"  # reserves_totals id of the network row
IS_CURRENT = "is_current"  # publications: the run finance reads for that as_of_date
CONTENT_DIGEST = "content_digest"  # publications: sha256 of the published figures
N_ROWS = "n_rows"  # publications: reserves rows in that run
MISSING_DAY = "day"  # missing site-days (ingest.history.missing_site_days): the day without data
MISSING_SOURCE = "source"  # panel summary: which daily source's data is missing
PUBLICATION_REASON = "reason"  # publications: why this run was published (e.g. "restated: ...")
# restatements: a past day re-ingested because its landing files changed (validation.sweep)
RESTATED_SOURCE, RESTATED_DAY, LANDING_DIGEST = "source", "day", "landing_digest"
DETECTED_ON, RESTATEMENT_REASON = "detected_on", "reason"
FILES_ADDED, FILES_CHANGED, FILES_REMOVED = "files_added", "files_changed", "files_removed"
ROWS_BEFORE, ROWS_AFTER, RECORDED_AT = "rows_before", "rows_after", "recorded_at"
# escalation: level 0 none, 1 elevated (P95 > threshold), 2 severe (P95 > factor x threshold)
ESCALATION_LEVELS = ("none", "elevated", "severe")
INCIDENTS_THRESHOLD = "incidents_threshold"
LOSS_EUR_THRESHOLD = "loss_eur_threshold"
THRESHOLD_SOURCE = "threshold_source"  # "setting" | "history" | "none"
CROSSED_ON = "crossed_on"  # escalating sites: "incidents", "EUR" or "incidents and EUR"
# reserves_horizon: totals over spans of several periods (sums of whole scenarios)
PERIOD_KIND = "period_kind"  # one of PERIOD_KINDS
PERIOD_LABEL = "period_label"  # "next 4 weeks", "8 weeks", "January 2026", "Q1 2026"
N_PERIODS = "n_periods"  # forecast periods summed into the span
IS_PARTIAL = "is_partial"  # a calendar month or quarter the horizon covers only in part
PERIOD_KINDS = ("next_4", "horizon", "month", "quarter")

# --------------------------------------------------------------------------- track record
# reserves_track_record: each published figure against what then happened (forecasting.reserves.track)
TRACK_LEVEL, TRACK_ID = "level", "id"  # "warehouse" | "region" | "network", and its id
TRACK_LEVELS = ("warehouse", "region", "network")
# realised value within (at or below) the published quantile; NULL where nothing was measured
INCIDENTS_WITHIN_P50, INCIDENTS_WITHIN_P90, INCIDENTS_WITHIN_P95 = (
    "incidents_within_p50", "incidents_within_p90", "incidents_within_p95",
)
LOSS_EUR_WITHIN_P50, LOSS_EUR_WITHIN_P90, LOSS_EUR_WITHIN_P95 = (
    "loss_eur_within_p50", "loss_eur_within_p90", "loss_eur_within_p95",
)
IN_FORCE = "in_force"  # the latest publication made before the period began: the live record
SETTLED = "settled"  # the period ended long enough before the scoring for late lines to be in
SCORED_AS_OF = "scored_as_of"  # the data (panel as of that day) the realised values come from

# --------------------------------------------------------------------------- explain (root causes)
# Nodes of the weekly causal graph (forecasting.explain.graph), the columns of its node frame,
# and the cause names of the sample network's _truth/anomalies.csv.
NODE_CALENDAR, NODE_ACTIVITY, NODE_REPORTING = "calendar", "activity", "reporting"
NODE_COUNT_ERRORS, NODE_THEFTS, NODE_INCIDENTS = "count_errors", "thefts", "incidents"
NODE_VALUE_MIX, NODE_LOSS_EUR = "value_mix", "loss_eur"
EXPLAIN_NODE = "node"
OUTLIER_SCORE = "outlier_score"  # information-theoretic: -log P(score >= the week's score)
CONTRIBUTION = "contribution"  # a node's Shapley share of the outlier score (nats)
CONTRIBUTION_LO, CONTRIBUTION_HI = "contribution_lo", "contribution_hi"  # bootstrap interval
TARGET_NODE = "target_node"  # the watched node whose outlier is attributed
EXCEEDED_P95 = "exceeded_p95"  # realised incidents or losses above the published P95
FLAGGED = "flagged"
CAUSE_TEXT = "cause_text"  # plain words naming the top causes
ANOMALY_CAUSE = "cause"  # _truth/anomalies.csv: the injected root cause (a node name)
# raw weekly measures behind the nodes (explain/as_of=D/scores.parquet keeps the actuals)
REPORTS_FILED, REPORTED_THEFTS, ACTIVITY_LINES = "reports_filed", "reported_thefts", "activity_lines"
INCIDENTS_ACTUAL, LOSS_EUR_ACTUAL = "incidents_actual", "loss_eur_actual"

# --------------------------------------------------------------------------- sample network truth
# Files under <landing>/_truth/ written by demo_data (never read by the pipeline itself).
TRUTH_DATE = "date"
TRUE_MU = "mu"  # NB mean of the day's thefts
TRUE_DISPERSION = "dispersion"  # NB dispersion k: Var = mu + mu^2 / k
TRUE_THEFTS = "thefts"
TRUE_HVG_THEFTS = "hvg_thefts"
TRUE_REPORTED = "reported"  # thefts that were reported (counted by incident date)
RISK_FACTOR = "risk_factor"
THEFT_ID = "theft_id"
PRODUCT_CATEGORY = "product_category"
INCIDENTS_MEAN = "incidents_mean"
DAYS_OPEN = "days_open"
# keys of each record in _truth/faults.json
FAULT_NAME = "fault"
FAULT_DATE = "date"
FAULT_SOURCE = "source"
FAULT_FILE = "file"
FAULT_IDS = "ids"
FAULT_DETAIL = "detail"
