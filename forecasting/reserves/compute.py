"""Reserves in EUR: DeepAR incident sample paths compounded with empirical loss severity.

``compute_reserves(settings, as_of)`` reads ``forecasts/as_of=D/samples.parquet`` (one row per
warehouse, step and sample path), the panel's sites and ``severity.parquet``, the backtest's
``calibration.json``, and writes to ``reserves/as_of=D/``:

- ``reserves.parquet``: one row per warehouse and period (``RESERVE_COLUMNS``): incidents and
  loss_eur at P50/P90/P95 (calibrated quantiles of the compound distribution), mean loss,
  provenance and the escalation level.
- ``totals.parquet``: the same per region and for the network (``TOTAL_COLUMNS``), from paths
  summed across warehouses before taking quantiles, so totals are coherent.
- ``thresholds.parquet``: the escalation threshold used per warehouse.
- ``horizon.parquet``: region and network totals over the next 4 periods, the whole horizon
  and each calendar month and quarter it covers (``HORIZON_COLUMNS``, ``reserves.horizon``).

The reserves page is rendered from these files by ``forecasting.reserves.report`` (the
``report`` stage), never written here.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from forecasting.backtest.calibration import apply_levels
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.lake import Lake, join
from forecasting.core.layout import (
    COVERAGE_FILE,
    HORIZON_FILE,
    RESERVES,
    RESERVES_FILE,
    THRESHOLDS_FILE,
    TOTALS_FILE,
)
from forecasting.model.registry import require_gate, ungated_label
from forecasting.reserves import compound, escalation
from forecasting.reserves.coverage import loss_coverage
from forecasting.reserves.horizon import horizon_frame
from forecasting.reserves.inputs import ReserveInputs, load_inputs
from forecasting.reserves.weeks import FirstPeriod

log = logging.getLogger(__name__)

# nominal level -> (incidents column, loss column); the table is fixed to these three
LEVEL_COLUMNS = {
    0.5: (schema.INCIDENTS_P50, schema.LOSS_EUR_P50),
    0.9: (schema.INCIDENTS_P90, schema.LOSS_EUR_P90),
    0.95: (schema.INCIDENTS_P95, schema.LOSS_EUR_P95),
}
INCIDENT_COLUMNS = [v[0] for v in LEVEL_COLUMNS.values()]
LOSS_COLUMNS = [v[1] for v in LEVEL_COLUMNS.values()]
_PERIOD = [schema.PERIOD_START, schema.PERIOD_END, schema.STEP]
_FIGURES = INCIDENT_COLUMNS + LOSS_COLUMNS + [schema.LOSS_EUR_MEAN]
RESERVE_COLUMNS = (
    [schema.AS_OF_DATE, schema.WAREHOUSE_ID, schema.REGION, schema.COUNTRY]
    + _PERIOD
    + _FIGURES
    + [schema.BACKTEST_COVERAGE_P95, schema.CALIBRATION_METHOD, schema.ESCALATION_LEVEL]
    + [schema.MODEL_VERSION, schema.SNAPSHOT_ID, schema.CODE_VERSION]
)
TOTAL_COLUMNS = (
    [schema.AS_OF_DATE, schema.TOTAL_LEVEL, schema.TOTAL_ID]
    + _PERIOD
    + _FIGURES
    + [schema.BACKTEST_COVERAGE_P95, schema.CALIBRATION_METHOD]
    + [schema.MODEL_VERSION, schema.SNAPSHOT_ID, schema.CODE_VERSION]
)
HORIZON_COLUMNS = (
    [schema.AS_OF_DATE, schema.TOTAL_LEVEL, schema.TOTAL_ID, schema.PERIOD_KIND, schema.PERIOD_LABEL]
    + [schema.PERIOD_START, schema.PERIOD_END, schema.N_PERIODS, schema.IS_PARTIAL]
    + _FIGURES
    + [schema.INCIDENTS_MEAN, schema.BACKTEST_COVERAGE_P95, schema.CALIBRATION_METHOD]
    + [schema.MODEL_VERSION, schema.SNAPSHOT_ID, schema.CODE_VERSION]
)


@dataclass
class ReservesSummary:
    """What ``compute_reserves`` wrote; JSON-able through ``to_dict``."""

    as_of: date
    warehouses: int
    periods: int
    paths: int
    draws_per_path: int
    model_version: str
    snapshot_id: str
    calibration_method: str
    levels: dict[str, float]
    network_loss_eur_p95_first_period: float
    network_loss_eur_p95_horizon: float
    loss_coverage_p95: float | None
    first_period: str = ""
    # first_period when as_of falls inside it: its days so far are not in the forecast
    partly_observed: dict[str, Any] | None = None
    escalating_warehouses: list[str] = field(default_factory=list)
    unknown_warehouses: list[str] = field(default_factory=list)
    severity_fallback_regions: list[str] = field(default_factory=list)
    uris: dict[str, str] = field(default_factory=dict)
    missing_data: dict[str, Any] = field(default_factory=dict)  # the panel's: drops that had not arrived

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        return data


def compute_reserves(settings: Settings, as_of: date, *, allow_ungated: bool = False) -> ReservesSummary:
    """Compound the as-of forecasts into reserves per warehouse, region and network; write them.

    The forecasts' model must have passed the calibration gate on this as_of's panel
    (CalibrationGateError otherwise); ``allow_ungated`` goes on and labels every row
    ``UNGATED (...)`` in ``calibration_method``, with no backtest coverage claimed.
    """
    lake = Lake.from_settings(settings)
    inputs = load_inputs(lake, as_of, settings)
    ungated = require_gate(settings, inputs.model_version, as_of, allow_ungated=allow_ungated)
    if ungated:  # no verdict on this model and panel: no coverage to quote
        label = ungated_label(inputs.calibration_method, ungated)
        inputs = replace(inputs, calibration_method=label, coverage_p95=float("nan"))
    rng = np.random.default_rng([settings.reserves.seed, as_of.toordinal()])
    losses = _simulate(inputs, settings.reserves.draws_per_path, rng)
    counts = np.repeat(inputs.counts, settings.reserves.draws_per_path, axis=-1).astype(float)
    reserves = _site_frame(inputs, counts, losses)
    totals = _total_frame(inputs, counts, losses)
    regions = inputs.sites[schema.REGION].to_numpy()
    spans = horizon_frame(
        regions, inputs.periods, counts, losses, lambda c, v: _figures(c, v, inputs.levels)
    ).assign(**_provenance(inputs))
    thresholds = escalation.resolve_thresholds(
        settings, inputs.sites, inputs.history, inputs.pools, as_of
    )
    reserves[schema.ESCALATION_LEVEL] = escalation.escalation_levels(
        reserves, thresholds, settings.escalation.severe_factor
    )
    check_monotone(reserves, "reserves")
    check_monotone(totals, "totals")
    check_monotone(spans, "horizon")
    out = lake.stage(RESERVES, as_of)
    uris = {
        "reserves": lake.write_parquet(reserves[RESERVE_COLUMNS], join(out, RESERVES_FILE)),
        "totals": lake.write_parquet(totals[TOTAL_COLUMNS], join(out, TOTALS_FILE)),
        "thresholds": lake.write_parquet(thresholds, join(out, THRESHOLDS_FILE)),
        "horizon": lake.write_parquet(spans[HORIZON_COLUMNS], join(out, HORIZON_FILE)),
    }
    held = loss_coverage(lake, as_of, inputs.sites, inputs.pools, settings.reserves.draws_per_path,
                         np.random.default_rng([settings.reserves.seed, as_of.toordinal(), 2]))  # fmt: skip
    uris["coverage"] = lake.write_json(join(out, COVERAGE_FILE), held)
    network = totals[totals[schema.TOTAL_LEVEL] == schema.NETWORK_ID]
    first = FirstPeriod.of(as_of, network)
    whole = spans[(spans[schema.TOTAL_ID] == schema.NETWORK_ID)
                  & (spans[schema.PERIOD_KIND] == "horizon")]  # fmt: skip
    escalating = reserves.loc[reserves[schema.ESCALATION_LEVEL] > 0, schema.WAREHOUSE_ID]
    summary = ReservesSummary(
        as_of=as_of,
        warehouses=len(inputs.sites),
        periods=len(inputs.periods),
        paths=inputs.counts.shape[-1],
        draws_per_path=settings.reserves.draws_per_path,
        model_version=inputs.model_version,
        snapshot_id=inputs.snapshot_id,
        calibration_method=inputs.calibration_method,
        levels={f"{q:g}": v for q, v in inputs.levels.items()},
        network_loss_eur_p95_first_period=float(network[schema.LOSS_EUR_P95].iloc[0]),
        first_period=str(first.start),
        partly_observed=first.to_dict(),
        network_loss_eur_p95_horizon=float(whole[schema.LOSS_EUR_P95].iloc[0]),
        loss_coverage_p95=((held.get("sites") or {}).get("0.95") or {}).get("loss_eur"),
        escalating_warehouses=sorted(escalating.unique().tolist()),
        unknown_warehouses=list(inputs.unknown_warehouses),
        severity_fallback_regions=list(inputs.pools.fallback),
        uris=uris,
        missing_data=_missing_data(lake, as_of),
    )
    log.info("reserves %s: %d warehouses x %d periods", as_of, summary.warehouses, summary.periods)
    return summary


def _missing_data(lake: Lake, as_of: date) -> dict[str, Any]:
    """The panel summary's ``missing_data`` (``panel.gaps``), {} when there is none."""
    uri = lake.panel_summary(as_of)
    return (lake.read_json(uri).get("missing_data") or {}) if lake.exists(uri) else {}


def check_monotone(frame: pd.DataFrame, what: str) -> None:
    """Raise AssertionError unless P50 <= P90 <= P95 for incidents and loss on every row."""
    for cols in (INCIDENT_COLUMNS, LOSS_COLUMNS):
        values = frame[cols].to_numpy(dtype=float)
        assert (np.diff(values, axis=1) >= 0).all(), f"{what}: {cols} not non-decreasing"


def _simulate(inputs: ReserveInputs, draws: int, rng: np.random.Generator) -> np.ndarray:
    """Compound losses, shape (warehouses, periods, paths x draws)."""
    counts = np.repeat(inputs.counts, draws, axis=-1)
    regions = inputs.sites[schema.REGION].tolist()
    names = sorted(set(regions))
    pools = [inputs.pools.pool_of(r) for r in names]
    site_pool = np.array([names.index(r) for r in regions])
    pool_index = np.broadcast_to(site_pool[:, None, None], counts.shape).ravel()
    return compound.simulate_losses(counts.ravel(), pool_index, pools, rng).reshape(counts.shape)


def _figures(
    counts: np.ndarray, losses: np.ndarray, levels: dict[float, float]
) -> dict[str, np.ndarray]:
    """Calibrated quantile columns and mean loss for arrays of shape (..., samples)."""
    # the backtest's own level map (inverted CDF: a calibrated P95 is an actual path value)
    wanted = {q: levels[q] for q in LEVEL_COLUMNS}
    inc, loss = apply_levels(counts, wanted, axis=-1), apply_levels(losses, wanted, axis=-1)
    out = {}
    for q, (inc_col, loss_col) in LEVEL_COLUMNS.items():
        out[inc_col] = np.round(inc[q], 2)
        out[loss_col] = np.round(loss[q], 2)
    out[schema.LOSS_EUR_MEAN] = np.round(losses.mean(axis=-1), 2)
    return out


def _provenance(inputs: ReserveInputs) -> dict[str, Any]:
    return {
        schema.AS_OF_DATE: pd.Timestamp(inputs.as_of),
        schema.BACKTEST_COVERAGE_P95: inputs.coverage_p95,
        schema.CALIBRATION_METHOD: inputs.calibration_method,
        schema.MODEL_VERSION: inputs.model_version,
        schema.SNAPSHOT_ID: inputs.snapshot_id,
        schema.CODE_VERSION: inputs.code_version,
    }


def _site_frame(inputs: ReserveInputs, counts: np.ndarray, losses: np.ndarray) -> pd.DataFrame:
    """One row per (warehouse, period), warehouses then steps ascending."""
    n_sites, n_periods = counts.shape[:2]
    figures = _figures(counts, losses, inputs.levels)
    frame = pd.DataFrame({k: v.ravel() for k, v in figures.items()})
    sites = inputs.sites.loc[inputs.sites.index.repeat(n_periods)].reset_index(drop=True)
    periods = pd.concat([inputs.periods] * n_sites, ignore_index=True)
    frame = pd.concat([sites, periods, frame], axis=1)
    return frame.assign(**_provenance(inputs))


def _total_frame(inputs: ReserveInputs, counts: np.ndarray, losses: np.ndarray) -> pd.DataFrame:
    """Region rows (sorted) then the network row, per period: sums of paths, then quantiles."""
    regions = inputs.sites[schema.REGION].to_numpy()
    groups = [(schema.TOTAL_LEVELS[0], r, regions == r) for r in sorted(set(regions))]
    groups.append((schema.TOTAL_LEVELS[1], schema.NETWORK_ID, np.ones(len(regions), bool)))
    parts = []
    for level, ident, mask in groups:
        figures = _figures(counts[mask].sum(axis=0), losses[mask].sum(axis=0), inputs.levels)
        part = pd.DataFrame(figures)
        part.insert(0, schema.TOTAL_ID, ident)
        part.insert(0, schema.TOTAL_LEVEL, level)
        parts.append(pd.concat([part, inputs.periods], axis=1))
    return pd.concat(parts, ignore_index=True).assign(**_provenance(inputs))
