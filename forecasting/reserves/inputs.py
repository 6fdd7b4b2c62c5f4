"""Everything the reserves stage reads, loaded and checked into one ``ReserveInputs``.

Reads (``D`` = as-of date): ``forecasts/as_of=D/samples.parquet`` + ``quantiles.parquet``,
``panel/as_of=D/panel.parquet`` + ``severity.parquet`` + ``summary.json``,
``backtests/as_of=D/calibration.json`` (optional), ``models/<version>/manifest.json``
(optional). Bad input raises InputError naming the file, row, column and the fix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

import forecasting
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake
from forecasting.core.panel_spec import freq_alias
from forecasting.reserves import compound

log = logging.getLogger(__name__)

UNKNOWN = "unknown"  # region / country of a forecast warehouse the panel does not know
NO_CALIBRATION = "none"
_NOMINAL = (0.05, 0.5, 0.9, 0.95)


@dataclass(frozen=True)
class ReserveInputs:
    """Inputs of one as-of date, aligned: ``counts[w, h, s]`` is site ``sites.iloc[w]``,
    period ``periods.iloc[h]``, sample path ``s`` (int64, >= 0)."""

    as_of: date
    sites: pd.DataFrame  # warehouse_id, region, country; sorted by warehouse_id
    periods: pd.DataFrame  # period_start, period_end (datetime64), step (1-based)
    counts: np.ndarray
    history: pd.DataFrame  # unique_id, ds, y: observed periods up to as_of
    pools: compound.SeverityPools
    levels: dict[float, float]  # nominal -> calibrated level
    calibration_method: str
    coverage_p95: float  # held-out backtest coverage of P95 (NaN without a backtest)
    model_version: str
    snapshot_id: str
    code_version: str
    unknown_warehouses: tuple[str, ...]


def load_inputs(lake: Lake, as_of: date, settings: Settings) -> ReserveInputs:
    """Load and validate the forecasts, panel, severity, calibration and model manifest."""
    samples_uri = lake.forecast_samples(as_of)
    samples = _read(lake, samples_uri, f"riskcast forecast --as-of {as_of}")
    _require(
        samples,
        [schema.UNIQUE_ID, schema.STEP, schema.DS, schema.SAMPLE, schema.VALUE],
        samples_uri,
    )
    panel_uri = lake.panel_file(as_of)
    panel = _read(lake, panel_uri, f"riskcast panel --as-of {as_of}")
    _require(
        panel, [schema.UNIQUE_ID, schema.DS, schema.Y, schema.REGION, schema.COUNTRY], panel_uri
    )
    severity_uri = lake.panel_severity(as_of)
    severity = _read(lake, severity_uri, f"riskcast panel --as-of {as_of}")
    _require(severity, [schema.REGION, schema.SEVERITY_LOSS_EUR], severity_uri)
    summary_uri = lake.panel_summary(as_of)
    panel_summary = lake.read_json(summary_uri) if lake.exists(summary_uri) else {}

    counts, ids, periods = _cube(samples, samples_uri, _freq(panel_summary, settings))
    sites, unknown = _sites(panel, ids)
    pools = compound.build_pools(
        severity, sites[schema.REGION].tolist(), settings.reserves.min_region_losses, severity_uri
    )
    model_version = _model_version(lake, as_of, samples)
    manifest_uri = lake.model_manifest(model_version)
    manifest = lake.read_json(manifest_uri) if lake.exists(manifest_uri) else {}
    method, levels, coverage = _calibration(lake, lake.backtest_file(as_of, "calibration"))
    return ReserveInputs(
        as_of=as_of,
        sites=sites,
        periods=periods,
        counts=counts,
        history=_history(panel, as_of),
        pools=pools,
        levels=levels,
        calibration_method=method,
        coverage_p95=coverage,
        model_version=model_version,
        snapshot_id=str(manifest.get("snapshot_id") or panel_summary.get("snapshot_id") or UNKNOWN),
        code_version=str(manifest.get("code_version") or forecasting.__version__),
        unknown_warehouses=unknown,
    )


def _read(lake: Lake, uri: str, fix: str) -> pd.DataFrame:
    if not lake.exists(uri):
        raise InputError(f"{uri} does not exist: run `{fix}` first")
    return lake.read_parquet(uri)


def _require(df: pd.DataFrame, columns: list[str], uri: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{uri} lacks columns {missing} (has {list(df.columns)}): rebuild it")


def _freq(panel_summary: dict, settings: Settings) -> str:
    spec = panel_summary.get("spec") or {}
    return freq_alias(spec.get("freq") or settings.freq)


def _cube(samples: pd.DataFrame, uri: str, freq: str) -> tuple[np.ndarray, list[str], pd.DataFrame]:
    """Counts (warehouses, steps, samples), sorted warehouse ids, and the period frame."""
    values = pd.to_numeric(samples[schema.VALUE], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{uri} row {row} ({schema.UNIQUE_ID}={samples[schema.UNIQUE_ID].iloc[row]!r}): "
            f"column {schema.VALUE} is {samples[schema.VALUE].iloc[row]!r}, expected a finite "
            f"count >= 0 ({int(bad.sum())} such rows): re-run the forecast"
        )
    df = samples.assign(**{schema.VALUE: np.rint(values).astype(np.int64)})
    df[schema.UNIQUE_ID] = df[schema.UNIQUE_ID].astype(str)
    key = [schema.UNIQUE_ID, schema.STEP, schema.SAMPLE]
    dup = df.duplicated(key)
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        raise InputError(f"{uri} row {row}: duplicate ({', '.join(key)}): re-run the forecast")
    ids = sorted(df[schema.UNIQUE_ID].unique())
    steps = sorted(df[schema.STEP].unique())
    paths = sorted(df[schema.SAMPLE].unique())
    full = pd.MultiIndex.from_product([ids, steps, paths], names=key)
    cube = df.set_index(key)[schema.VALUE].reindex(full)
    if cube.isna().any():
        hole = cube.index[cube.isna().to_numpy()][0]
        raise InputError(
            f"{uri}: no sample for ({', '.join(key)}) = {hole}: every warehouse needs every "
            f"step and sample path ({len(steps)} x {len(paths)}); re-run the forecast"
        )
    counts = cube.to_numpy(dtype=np.int64).reshape(len(ids), len(steps), len(paths))
    starts = df.groupby(schema.STEP)[schema.DS].agg(["min", "max"])
    if (starts["min"] != starts["max"]).any():
        step = starts.index[(starts["min"] != starts["max"]).to_numpy()][0]
        raise InputError(f"{uri}: step {step} has several {schema.DS} values across warehouses")
    start = pd.to_datetime(starts["min"]).dt.normalize()
    periods = pd.DataFrame(
        {
            schema.PERIOD_START: start.to_numpy(),
            schema.PERIOD_END: (start + to_offset(freq) - timedelta(days=1)).to_numpy(),
            schema.STEP: np.asarray(steps, dtype=np.int64),
        }
    )
    return counts, ids, periods


def _sites(panel: pd.DataFrame, ids: list[str]) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Region and country of each forecast warehouse (latest panel row); unknown ones kept."""
    cols = [schema.UNIQUE_ID, schema.REGION, schema.COUNTRY]
    latest = (
        panel[cols + [schema.DS]]
        .dropna(subset=[schema.REGION])
        .assign(**{schema.UNIQUE_ID: lambda d: d[schema.UNIQUE_ID].astype(str)})
        .sort_values([schema.UNIQUE_ID, schema.DS])
        .drop_duplicates(schema.UNIQUE_ID, keep="last")
        .set_index(schema.UNIQUE_ID)
    )
    sites = latest.reindex(ids)[[schema.REGION, schema.COUNTRY]].astype(object)
    unknown = tuple(sites.index[sites[schema.REGION].isna()])
    if unknown:
        log.warning("%d forecast warehouses are not in the panel: region %r", len(unknown), UNKNOWN)
    sites = sites.fillna(UNKNOWN).astype(str).rename_axis(schema.WAREHOUSE_ID).reset_index()
    return sites, unknown


def _history(panel: pd.DataFrame, as_of: date) -> pd.DataFrame:
    observed = panel[schema.Y].notna() & (pd.to_datetime(panel[schema.DS]) <= pd.Timestamp(as_of))
    if schema.IS_FUTURE in panel.columns:
        observed &= ~panel[schema.IS_FUTURE].fillna(False).astype(bool)
    hist = panel.loc[observed, [schema.UNIQUE_ID, schema.DS, schema.Y]]
    return hist.assign(**{schema.UNIQUE_ID: hist[schema.UNIQUE_ID].astype(str)}).reset_index(
        drop=True
    )


def _model_version(lake: Lake, as_of: date, samples: pd.DataFrame) -> str:
    uri = lake.forecast_quantiles(as_of)
    source = lake.read_parquet(uri) if lake.exists(uri) else samples
    if schema.MODEL_VERSION not in source.columns:
        return UNKNOWN
    versions = sorted(source[schema.MODEL_VERSION].dropna().astype(str).unique())
    if len(versions) != 1:
        raise InputError(
            f"{uri}: expected one {schema.MODEL_VERSION}, found {versions}: re-run the forecast"
        )
    return versions[0]


def _calibration(lake: Lake, uri: str) -> tuple[str, dict[float, float], float]:
    """(method, nominal -> calibrated level, held-out coverage of P95); identity without a file."""
    if not lake.exists(uri):
        log.warning(
            "%s is absent: reserves use uncalibrated levels (method %r)", uri, NO_CALIBRATION
        )
        return NO_CALIBRATION, {q: q for q in _NOMINAL}, float("nan")
    data = lake.read_json(uri)
    levels = {}
    for q in _NOMINAL:
        raw = (data.get("levels") or {}).get(f"{q:g}", q)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = float("nan")
        if not 0.0 <= value <= 1.0:
            raise InputError(
                f"{uri}: levels[{q:g}] is {raw!r}, expected a level in [0, 1]: re-run the backtest"
            )
        levels[q] = value
    coverage = _held_out_coverage(data.get("held_out") or {}, 0.95)
    method = str(data.get("method") or NO_CALIBRATION)
    return method, compound.monotone_levels(levels), coverage


def _held_out_coverage(held_out: dict, q: float) -> float:
    """Held-out coverage of the q-quantile: ``coverage_<q>`` or the gate's ``figures[q]``."""
    value = held_out.get(f"coverage_{q:g}")
    if value is None:
        value = ((held_out.get("figures") or {}).get(f"{q:g}") or {}).get("coverage")
    return float("nan") if value is None else float(value)
