"""Tiny synthetic lake inputs of the reserves stage (forecasts, panel, severity, calibration).

Shared by test_reserves, test_publish and test_escalation; written through ``Lake`` in the
agreed stage layouts, so the tests exercise the real readers.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.core import model_records, schema
from forecasting.core.lake import Lake, join

AS_OF = date(2024, 6, 2)  # a Sunday: the first forecast period starts Monday 2024-06-03
SITES = {  # warehouse -> (region, country, weekly incident rate)
    "WH-A": ("north", "DE", 3.0),
    "WH-B": ("north", "NL", 1.0),
    "WH-C": ("south", "ES", 2.0),
}
HISTORY_WEEKS = 20


def write_inputs(
    lake_uri: str,
    as_of: date = AS_OF,
    *,
    horizon: int = 3,
    paths: int = 200,
    sites: dict[str, tuple[str, str, float]] | None = None,
    extra_forecast_sites: dict[str, float] | None = None,
    calibration: dict | None = None,
    rate_factor: float = 1.0,
    model_version: str = "m-test-1",
    seed: int = 7,
    gate: bool | None = True,
    reserves_url: str | None = None,
) -> Lake:
    """Write forecasts, panel, severity (and calibration, manifest) for ``as_of``, and record
    the model in the reserves database (``reserves_url``; default: ``reserves.db`` beside the
    lake folder, as ``settings_factory`` makes it).

    ``gate``: the verdict recorded on the model for this panel snapshot (None: never gated).

    ``extra_forecast_sites``: warehouses forecast but absent from the panel (id -> rate).
    ``rate_factor`` scales the forecast rates (not the history): > 1 makes sites escalate.
    """
    sites = sites or SITES
    rng = np.random.default_rng(seed)
    lake = Lake(lake_uri)
    first = pd.Timestamp(as_of) + pd.offsets.Week(weekday=0)  # next Monday
    hist_ds = pd.date_range(end=first - timedelta(days=7), periods=HISTORY_WEEKS, freq="W-MON")
    fut_ds = pd.date_range(start=first, periods=horizon, freq="W-MON")
    panel_rows, sample_rows = [], []
    for wid, (region, country, rate) in sites.items():
        for ds, y in zip(hist_ds, rng.poisson(rate, HISTORY_WEEKS), strict=True):
            panel_rows.append((wid, ds, float(y), region, country, False))
        for ds in fut_ds:
            panel_rows.append((wid, ds, np.nan, region, country, True))
    forecast_rates = {wid: s[2] * rate_factor for wid, s in sites.items()}
    forecast_rates.update(extra_forecast_sites or {})
    for wid, rate in forecast_rates.items():
        for step, ds in enumerate(fut_ds, start=1):
            for sample, value in enumerate(rng.poisson(rate, paths)):
                sample_rows.append((wid, step, ds, sample, float(value)))
    cols = [schema.UNIQUE_ID, schema.DS, schema.Y, schema.REGION, schema.COUNTRY, schema.IS_FUTURE]
    panel = pd.DataFrame(panel_rows, columns=cols)
    samples = pd.DataFrame(
        sample_rows, columns=[schema.UNIQUE_ID, schema.STEP, schema.DS, schema.SAMPLE, schema.VALUE]
    )
    quantiles = (
        samples.groupby([schema.UNIQUE_ID, schema.DS, schema.STEP])[schema.VALUE]
        .agg(**{schema.MEAN: "mean", schema.quantile_col(0.95): lambda v: v.quantile(0.95)})
        .reset_index()
        .assign(**{schema.MODEL_VERSION: model_version})
    )
    severity = pd.DataFrame(
        {
            schema.REGION: ["north"] * 60 + ["south"] * 5,
            schema.CATEGORY: (["theft", "burglary", "fraud"] * 22)[:65],
            schema.SEVERITY_LOSS_EUR: np.round(rng.lognormal(7.0, 1.0, 65), 2),
        }
    )
    panel_dir, fc_dir = lake.stage("panel", as_of), lake.stage("forecasts", as_of)
    lake.write_parquet(panel, join(panel_dir, "panel.parquet"))
    lake.write_parquet(severity, join(panel_dir, "severity.parquet"))
    lake.write_json(
        join(panel_dir, "summary.json"), {"snapshot_id": "snap-1", "spec": {"freq": "W-MON"}}
    )
    lake.write_parquet(samples, join(fc_dir, "samples.parquet"))
    lake.write_parquet(quantiles, join(fc_dir, "quantiles.parquet"))
    lake.write_json(
        join(lake.models(model_version), "manifest.json"),
        {"model_version": model_version, "as_of": str(as_of), "snapshot_id": "snap-1", "code_version": "abc123"},
    )
    record_model(reserves_url or f"sqlite:///{Path(lake_uri).parent / 'reserves.db'}", model_version, as_of, gate)
    if calibration is not None:
        lake.write_json(join(lake.stage("backtests", as_of), "calibration.json"), calibration)
    return lake


def record_model(reserves_url: str, model_version: str, as_of: date, gate: bool | None) -> None:
    """Record ``model_version`` (snapshot ``snap-1``) and, unless ``gate`` is None, a verdict on it."""
    model_records.record_registration(reserves_url, model_version, as_of, "snap-1", "abc123",
                                      {"model.json": "0" * 64})  # fmt: skip
    if gate is not None:
        model_records.record_verdict(reserves_url, model_version, gate, {}, as_of=as_of,
                                     snapshot_id="snap-1", ensemble=None)  # fmt: skip
