"""Small reserves-stage frames (reserves, totals, thresholds, horizon) built directly, for
page tests; ``write_stage`` puts them in a lake as the reserves stage would."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from forecasting.core import schema
from forecasting.core.layout import (
    COVERAGE_FILE,
    HORIZON_FILE,
    RESERVES_FILE,
    THRESHOLDS_FILE,
    TOTALS_FILE,
)
from forecasting.reserves.horizon import horizon_spans

AS_OF = date(2024, 6, 2)
SITES = {"WH-A": ("north", "DE"), "WH-B": ("north", "NL"), "WH-C": ("south", "ES")}


def _figures(rng: np.random.Generator, scale: float) -> dict[str, float]:
    inc = np.sort(rng.uniform(1, 10, 3) * scale)
    loss = np.sort(rng.uniform(1_000, 20_000, 3) * scale)
    return {
        schema.INCIDENTS_P50: inc[0], schema.INCIDENTS_P90: inc[1], schema.INCIDENTS_P95: inc[2],
        schema.LOSS_EUR_P50: loss[0], schema.LOSS_EUR_P90: loss[1], schema.LOSS_EUR_P95: loss[2],
        schema.LOSS_EUR_MEAN: (loss[0] + loss[1]) / 2,
    }  # fmt: skip


def reserve_frames(
    as_of: date = AS_OF,
    horizon: int = 4,
    scale: float = 1.0,
    hot: str | None = "WH-A",
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(reserves, totals, thresholds) of ``as_of``; ``hot`` escalates (level 2) in week 2."""
    rng = np.random.default_rng(seed)
    starts = pd.date_range(
        pd.Timestamp(as_of) + pd.offsets.Week(weekday=0), periods=horizon, freq="W-MON"
    )
    prov = {
        schema.AS_OF_DATE: pd.Timestamp(as_of), schema.BACKTEST_COVERAGE_P95: 0.953,
        schema.CALIBRATION_METHOD: "identity", schema.MODEL_VERSION: "m-test-1",
        schema.SNAPSHOT_ID: "snap-1", schema.CODE_VERSION: "0.0.test",
    }  # fmt: skip
    rows, totals = [], []
    for wid, (region, country) in SITES.items():
        for step, start in enumerate(starts, start=1):
            level = 2 if (wid == hot and step == 2) else 0
            rows.append(
                {
                    schema.WAREHOUSE_ID: wid,
                    schema.REGION: region,
                    schema.COUNTRY: country,
                    schema.PERIOD_START: start,
                    schema.PERIOD_END: start + pd.Timedelta(days=6),
                    schema.STEP: step,
                    **_figures(rng, scale),
                    schema.ESCALATION_LEVEL: level,
                    **prov,
                }
            )
    for level, ident in [("region", "north"), ("region", "south"), ("network", schema.NETWORK_ID)]:
        for step, start in enumerate(starts, start=1):
            totals.append(
                {
                    schema.TOTAL_LEVEL: level,
                    schema.TOTAL_ID: ident,
                    schema.PERIOD_START: start,
                    schema.PERIOD_END: start + pd.Timedelta(days=6),
                    schema.STEP: step,
                    **_figures(rng, scale * (3 if ident == schema.NETWORK_ID else 1.5)),
                    **prov,
                }
            )
    thresholds = pd.DataFrame({
        schema.WAREHOUSE_ID: list(SITES), schema.INCIDENTS_THRESHOLD: [2.0, 50.0, 50.0],
        schema.LOSS_EUR_THRESHOLD: [5_000.0, 90_000.0, 90_000.0], schema.THRESHOLD_SOURCE: ["setting", "history", "history"],
    })  # fmt: skip
    return pd.DataFrame(rows), pd.DataFrame(totals), thresholds


def horizon_rows(totals: pd.DataFrame, shrink: float = 0.8) -> pd.DataFrame:
    """Horizon spans of ``totals``' periods per total: ``shrink`` x the sum of the weekly
    figures (scenario totals are below the sum of weekly quantiles)."""
    rows = []
    for (level, ident), g in totals.groupby([schema.TOTAL_LEVEL, schema.TOTAL_ID], sort=True):
        g = g.sort_values(schema.PERIOD_START).reset_index(drop=True)
        for sp in horizon_spans(g):
            part = g.iloc[list(sp.steps)]
            figures = {c: float(part[c].sum()) * shrink for c in (*_INC, *_LOSS_COLS)}
            rows.append({
                schema.AS_OF_DATE: g[schema.AS_OF_DATE].iloc[0], schema.TOTAL_LEVEL: level,
                schema.TOTAL_ID: ident, schema.PERIOD_KIND: sp.kind, schema.PERIOD_LABEL: sp.label,
                schema.PERIOD_START: sp.start, schema.PERIOD_END: sp.end, schema.N_PERIODS: len(sp.steps),
                schema.IS_PARTIAL: sp.partial, **figures,
                schema.INCIDENTS_MEAN: figures[schema.INCIDENTS_P50],
                **{c: g[c].iloc[0] for c in _PROVENANCE},
            })  # fmt: skip
    return pd.DataFrame(rows)


_INC = (schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95)
_LOSS_COLS = (schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95, schema.LOSS_EUR_MEAN)
_PROVENANCE = (schema.BACKTEST_COVERAGE_P95, schema.CALIBRATION_METHOD, schema.MODEL_VERSION,
               schema.SNAPSHOT_ID, schema.CODE_VERSION)  # fmt: skip
COVERAGE = {
    "available": True, "windows": ["2024-04-01", "2024-04-29"], "site_weeks": 96, "network_weeks": 8,
    "sites": {"0.5": {"incidents": 0.61, "loss_eur": 0.52}, "0.9": {"incidents": 0.91, "loss_eur": 0.9},
              "0.95": {"incidents": 0.958, "loss_eur": 0.938}},
    "network": {"0.5": {"incidents": 0.5, "loss_eur": 0.5}, "0.9": {"incidents": 0.875, "loss_eur": 0.875},
                "0.95": {"incidents": 1.0, "loss_eur": 1.0}},
}  # fmt: skip


def write_stage(lake, as_of: date = AS_OF, coverage: dict | None = COVERAGE, **kw) -> None:
    """Write ``reserve_frames(as_of, **kw)`` (and their horizon, ``coverage``) as the reserves
    stage's files of ``as_of``."""
    res, tot, thr = reserve_frames(as_of, **kw)
    for frame, name in ((res, RESERVES_FILE), (tot, TOTALS_FILE), (thr, THRESHOLDS_FILE),
                        (horizon_rows(tot), HORIZON_FILE)):  # fmt: skip
        lake.write_parquet(frame, lake.reserves_file(as_of, name))
    if coverage is not None:
        lake.write_json(lake.reserves_file(as_of, COVERAGE_FILE), coverage)
