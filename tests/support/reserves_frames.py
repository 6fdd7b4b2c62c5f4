"""Small reserves-stage frames (reserves, totals, thresholds) built directly, for page tests."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from forecasting.core import schema

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
