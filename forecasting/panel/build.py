"""The model panel: one long frame every model, backtest and reserve reads.

Columns (names from ``forecasting.core.schema``): ``unique_id`` (str), ``ds`` (datetime64[ns],
the period start: Monday for weekly, first of month for monthly), ``y`` (float64; NaN is
missing, never silently zero), then the static and dynamic covariates named by the
``PanelSpec``. Rows with ``is_future`` True carry only covariates, over the forecast horizon.
A target is NaN (missing) on a history row whose site missed a day of one of its sources
in that period (``panel.gaps``); the summary declares those rows and lists the days.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import pandas as pd

from forecasting.audit.matching import Evidence, gather_evidence
from forecasting.audit.stage import read_reporting_rates
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import DataContractError, InputError
from forecasting.core.lake import Lake, join
from forecasting.core.layout import PANEL as PANEL_STAGE
from forecasting.core.layout import PANEL_FILE, SEVERITY_FILE
from forecasting.core.layout import PANEL_SUMMARY_FILE as SUMMARY_FILE
from forecasting.core.panel_spec import PanelSpec, freq_alias
from forecasting.ingest.history import read_snapshot
from forecasting.panel.calendar import EVENT_COLUMNS, event_shares, partly_observed, series_grid
from forecasting.panel.gaps import blank_missing, missing_days, missing_summary
from forecasting.panel.sites import OPENED, site_covariates
from forecasting.panel.targets import TARGET_COLUMNS, severity_table, target_counts
from forecasting.validation.gx.suites import validate_frame

log = logging.getLogger(__name__)

SUITE = "panel"  # expectations/panel.json
PANEL_COLUMNS = [
    schema.UNIQUE_ID,
    schema.DS,
    schema.Y,
    *TARGET_COLUMNS,
    *schema.PANEL_STATIC_REAL,
    *schema.PANEL_STATIC_CAT,
    *schema.PANEL_DYNAMIC_REAL,
    schema.IS_FUTURE,
]


@dataclass
class PanelSummary:
    """What ``build_panel`` wrote (JSON-able via ``to_dict``; also saved as summary.json)."""

    as_of: str
    panel_uri: str
    severity_uri: str
    summary_uri: str
    spec: dict[str, Any]
    snapshot_id: str
    target: str
    estimated_thefts_method: str
    n_series: int
    n_rows: int
    n_history_rows: int
    n_future_rows: int
    history_start: str | None
    history_end: str
    future_end: str
    cold_start: list[str]
    not_yet_open: list[str]
    severity_rows: int
    skipped_unknown_warehouse: dict[str, int]
    validation: dict[str, Any] = field(default_factory=dict)
    # the period holding as_of when as_of does not end it: forecast, its days so far unused
    partly_observed: dict[str, Any] | None = None
    missing_data: dict[str, Any] = field(default_factory=dict)  # gaps.missing_summary: source-days missed
    missing_periods: list[list[str]] = field(default_factory=list)  # [unique_id, ds] left missing

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_panel(settings: Settings, as_of: date) -> PanelSummary:
    """Build, validate and write the panel, severity table and summary for ``as_of``.

    Raises DataContractError when the panel breaks a critical expectation of the panel
    suite (nothing is written then).
    """

    freq = freq_alias(settings.freq)
    lake = Lake.from_settings(settings)
    evidence = gather_evidence(lake, as_of, settings.match_window_days)
    events = read_snapshot(lake, schema.EVENTS.name, as_of, required=False)
    # the 'rate' target reads the audit stage's output (the forecast DAG runs audit first)
    rates = read_reporting_rates(lake, as_of) if settings.estimated_thefts_method == "rate" else None
    missing = missing_days(lake, as_of)
    panel, grid_info = assemble_panel(evidence, events, settings, as_of, rates, missing)
    severity = severity_table(evidence, freq, settings.target)
    validation = validate_panel(
        panel, grid_info["expected_series"], grid_info["expected_future_rows"], grid_info["missing_periods"]
    )
    out = lake.stage(PANEL_STAGE, as_of)
    spec = PanelSpec(
        freq=freq,
        static_real=schema.PANEL_STATIC_REAL,
        static_cat=schema.PANEL_STATIC_CAT,
        dynamic_real=schema.PANEL_DYNAMIC_REAL,
        target=settings.target,
    )
    data = _parquet_bytes(panel)
    hist = panel.loc[~panel[schema.IS_FUTURE]]
    summary = PanelSummary(
        as_of=str(as_of),
        panel_uri=join(out, PANEL_FILE),
        severity_uri=join(out, SEVERITY_FILE),
        summary_uri=join(out, SUMMARY_FILE),
        spec=spec.to_dict(),
        snapshot_id=hashlib.sha256(data).hexdigest(),
        target=settings.target,
        estimated_thefts_method=settings.estimated_thefts_method,
        n_series=int(panel[schema.UNIQUE_ID].nunique()),
        n_rows=len(panel),
        n_history_rows=len(hist),
        n_future_rows=int(panel[schema.IS_FUTURE].sum()),
        history_start=str(hist[schema.DS].min().date()) if len(hist) else None,
        history_end=str(grid_info["history_end"].date()),
        future_end=str(grid_info["future_end"].date()),
        cold_start=grid_info["cold_start"],
        not_yet_open=grid_info["not_yet_open"],
        severity_rows=len(severity),
        skipped_unknown_warehouse=evidence.skipped,
        validation=validation,
        partly_observed=partly_observed(as_of, freq),
        missing_data=missing_summary(missing, str(hist[schema.DS].min().date()) if len(hist) else None,
                                     str(as_of)),
        missing_periods=grid_info["missing_periods"],
    )
    lake.write_bytes(summary.panel_uri, data)
    lake.write_bytes(summary.severity_uri, _parquet_bytes(severity))
    lake.write_json(summary.summary_uri, summary.to_dict())
    log.info(
        "panel %s: %d series, %d rows (%d future), cold start %s",
        as_of,
        summary.n_series,
        summary.n_rows,
        summary.n_future_rows,
        summary.cold_start,
    )
    return summary


def read_panel(settings: Settings, as_of: date) -> tuple[pd.DataFrame, PanelSpec]:
    """The panel ``build_panel`` wrote for ``as_of`` (columns ``PANEL_COLUMNS``) and its spec."""
    lake = Lake.from_settings(settings)
    out = lake.stage(PANEL_STAGE, as_of)
    if not lake.exists(join(out, SUMMARY_FILE)):
        raise InputError(f"no panel at {out}: run `riskcast panel --as-of {as_of}` first")
    spec = PanelSpec.from_dict(lake.read_json(join(out, SUMMARY_FILE))["spec"])
    return lake.read_parquet(join(out, PANEL_FILE)), spec


def validate_lake_panel(settings: Settings, as_of: date) -> dict[str, Any]:
    """Check the written panel before training: same bytes as built, and its suite passes.

    The gate between the panel and the model: a panel changed or damaged after
    ``build_panel`` (snapshot id mismatch) or one breaking ``expectations/panel.json``
    raises DataContractError. Returns the suite digest and the snapshot id.
    """
    lake = Lake.from_settings(settings)
    out = lake.stage(PANEL_STAGE, as_of)
    if not lake.exists(join(out, SUMMARY_FILE)):
        raise InputError(f"no panel at {out}: run `riskcast panel --as-of {as_of}` first")
    summary = lake.read_json(join(out, SUMMARY_FILE))
    data = lake.read_bytes(join(out, PANEL_FILE))
    snapshot = hashlib.sha256(data).hexdigest()
    if snapshot != summary["snapshot_id"]:
        raise DataContractError(
            f"{join(out, PANEL_FILE)} changed after it was built (sha256 {snapshot[:12]} != "
            f"{summary['snapshot_id'][:12]}): rebuild it with `riskcast panel --as-of {as_of}`"
        )
    panel = lake.read_parquet(join(out, PANEL_FILE))
    digest = validate_panel(panel, summary["n_series"], summary["n_future_rows"], summary.get("missing_periods", []))
    return {"as_of": str(as_of), "snapshot_id": snapshot, "validation": digest}


def validate_panel(panel: pd.DataFrame, n_series: int, n_future_rows: int,
                   missing: list[list[str]] = ()) -> dict[str, Any]:  # fmt: skip
    """Run the panel suite (``expectations/panel.json``); raise DataContractError on failure.

    ``n_series`` (sites open by the end of the horizon) and ``n_future_rows`` (horizon rows
    they must have) come from the warehouses and the calendar, not from the panel itself.
    ``missing``: the history rows ([unique_id, ds]) declared missing (``panel.gaps``): the
    suite runs on the other rows, so "no missing target in history" holds wherever no drop
    was missing. Returns the JSON-able digest of the suite result.
    """
    declared = _declared(panel, missing)  # an undeclared missing target still fails the suite
    result = validate_frame(panel.loc[~declared].reset_index(drop=True), SUITE,
                            {"n_series": n_series, "n_future_rows": n_future_rows})  # fmt: skip
    digest = result.to_dict()
    if not result.success:
        failed = "; ".join(
            f"{e.name} (observed {e.observed_value!r}, {e.unexpected_count or 0} bad rows)"
            for e in result.failed
        )
        raise DataContractError(
            f"the panel breaks its contract expectations/{SUITE}.json: {failed}: "
            "nothing was written; fix the bronze inputs or the panel builder"
        )
    return digest


def _declared(panel: pd.DataFrame, missing: list[list[str]]) -> pd.Series:
    """Mask of the rows ``missing`` names."""
    if not len(missing):
        return pd.Series(False, index=panel.index)
    keys = pd.MultiIndex.from_arrays([panel[schema.UNIQUE_ID].astype(str), panel[schema.DS].dt.strftime("%Y-%m-%d")])
    return pd.Series(keys.isin([tuple(m) for m in missing]), index=panel.index)


def assemble_panel(
    evidence: Evidence, events: pd.DataFrame, settings: Settings, as_of: date,
    rates: pd.Series | None = None,
    missing: dict[str, pd.DataFrame] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The panel frame (``PANEL_COLUMNS``, sorted by unique_id, ds) and grid facts.

    ``rates``: the audit's reporting rate per warehouse (``estimated_thefts_method`` 'rate').

    Grid facts: history_end, future_end (Timestamps), cold_start (sites with future rows
    only), not_yet_open (sites opening after the horizon: no rows), missing_periods (the
    rows ``missing``, source -> missing site-days, left without a target: ``panel.gaps``).
    """

    freq = freq_alias(settings.freq)
    sites = site_covariates(evidence.warehouses)
    grid, info = series_grid(sites, evidence.first_day, as_of, freq, settings.horizon)
    counts = target_counts(evidence, freq, settings.estimated_thefts_method, rates)
    counts = counts.rename(columns={schema.WAREHOUSE_ID: schema.UNIQUE_ID})
    counts[schema.DS] = pd.to_datetime(counts[schema.DS]).astype("datetime64[ns]")
    panel = grid.merge(counts, on=[schema.UNIQUE_ID, schema.DS], how="left")
    hist = ~panel[schema.IS_FUTURE]
    for col in TARGET_COLUMNS:
        # zero where the site was open and nothing happened; unknown over the horizon
        panel[col] = panel[col].fillna(0.0).where(hist).astype("float64")
    # ... and unknown where a drop the target counts did not (all) arrive: never zero
    panel, info["missing_periods"] = blank_missing(panel, missing or {}, freq, settings.estimated_thefts_method)
    panel[schema.Y] = panel[settings.target]
    static = sites.rename(columns={schema.WAREHOUSE_ID: schema.UNIQUE_ID})
    panel = panel.merge(static, on=schema.UNIQUE_ID, how="left")
    shares = event_shares(events, sites, freq).rename(
        columns={schema.WAREHOUSE_ID: schema.UNIQUE_ID}
    )
    panel = panel.merge(shares, on=[schema.UNIQUE_ID, schema.DS], how="left")
    for col in EVENT_COLUMNS.values():
        panel[col] = panel[col].fillna(0.0).astype("float64")
    # a site without an opening date counts its age from its first period
    opened = panel[OPENED].fillna(panel.groupby(schema.UNIQUE_ID)[schema.DS].transform("min"))
    age = (panel[schema.DS] - opened).dt.days / 365.25
    panel[schema.SITE_AGE_YEARS] = age.clip(lower=0).astype("float64")
    panel = panel[PANEL_COLUMNS].sort_values([schema.UNIQUE_ID, schema.DS], kind="stable")
    return panel.reset_index(drop=True), info


def _parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, engine="pyarrow")
    return buf.getvalue()
