"""Calibration in euros: the backtest's held-out paths compounded and judged on booked losses."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves.compound import build_pools
from forecasting.reserves.coverage import loss_coverage

AS_OF = date(2024, 6, 2)
CUTOFF = pd.Timestamp("2024-04-29")
SITES = pd.DataFrame({schema.WAREHOUSE_ID: ["WH-A", "WH-B"], schema.REGION: ["north", "north"]})
WEEKS = pd.date_range("2024-05-06", periods=4, freq="W-MON")


def _lake(tmp_path, paths_value, loss_per_incident: float = 100.0, y: int = 2) -> Lake:
    """Every held-out site-week saw ``y`` incidents of ``loss_per_incident`` EUR each; every
    path forecasts ``paths_value`` (a number, or 'poisson' around y)."""
    lake = Lake(str(tmp_path / "lake"))
    rng = np.random.default_rng(0)
    rows, panel, severity = [], [], []
    for wid in SITES[schema.WAREHOUSE_ID]:
        for step, ds in enumerate(WEEKS, start=1):
            panel.append((wid, ds, float(y)))
            severity += [(wid, ds, "north", loss_per_incident)] * y
            values = rng.poisson(y, 200) if paths_value == "poisson" else np.full(200, paths_value)
            rows += [(wid, CUTOFF, step, ds, s, float(v)) for s, v in enumerate(values)]
    cols = [schema.UNIQUE_ID, schema.CUTOFF, schema.STEP, schema.DS, schema.SAMPLE, schema.VALUE]
    lake.write_parquet(pd.DataFrame(rows, columns=cols), lake.backtest_file(AS_OF, "paths"))
    lake.write_json(lake.backtest_file(AS_OF, "gate"), {"windows": [str(CUTOFF.date())], "passed": True})
    lake.write_parquet(pd.DataFrame(panel, columns=[schema.UNIQUE_ID, schema.DS, schema.Y]), lake.panel_file(AS_OF))
    lake.write_parquet(pd.DataFrame(severity, columns=[schema.WAREHOUSE_ID, schema.DS, schema.REGION,
                                                       schema.SEVERITY_LOSS_EUR]), lake.panel_severity(AS_OF))  # fmt: skip
    return lake


def _pools(loss: float):
    return build_pools(pd.DataFrame({schema.REGION: ["north"] * 40, schema.SEVERITY_LOSS_EUR: [loss] * 40}),
                       ["north"], 30, "severity.parquet")  # fmt: skip


def _run(lake: Lake, pool_loss: float = 100.0) -> dict:
    return loss_coverage(lake, AS_OF, SITES, _pools(pool_loss), 4, np.random.default_rng(1))


def test_paths_at_the_actuals_cover_everything_in_incidents_and_euros(tmp_path):
    out = _run(_lake(tmp_path, 2.0))
    assert out["available"] and out["windows"] == ["2024-04-29"]
    assert out["site_weeks"] == 8 and out["network_weeks"] == 4
    assert out["sites"]["0.95"] == {"incidents": 1.0, "loss_eur": 1.0}
    assert out["network"]["0.5"] == {"incidents": 1.0, "loss_eur": 1.0}


def test_losses_dearer_than_the_pool_are_caught_in_euros_not_in_counts(tmp_path):
    out = _run(_lake(tmp_path, 2.0, loss_per_incident=1_000.0))
    assert out["sites"]["0.95"] == {"incidents": 1.0, "loss_eur": 0.0}
    low = _run(_lake(tmp_path / "low", 0.0))
    assert low["sites"]["0.95"] == {"incidents": 0.0, "loss_eur": 0.0}


def test_noisy_paths_give_shares_between_0_and_1(tmp_path):
    out = _run(_lake(tmp_path, "poisson"))
    for level in ("0.5", "0.9", "0.95"):
        assert 0.0 < out["sites"][level]["incidents"] <= 1.0
    assert out["sites"]["0.5"]["loss_eur"] <= out["sites"]["0.95"]["loss_eur"]


def test_without_paths_nothing_is_claimed(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    assert _run(lake) == {"available": False, "reason": "no backtest sample paths for this date"}
    lake = _lake(tmp_path / "other", 2.0)
    lake.write_json(lake.backtest_file(AS_OF, "gate"), {"windows": ["2023-01-02"]})
    assert _run(lake)["available"] is False


@pytest.mark.parametrize("levels", [{"0.5": 0.5, "0.9": 0.9, "0.95": 0.999}])
def test_each_window_uses_its_own_level_map(tmp_path, levels):
    lake = _lake(tmp_path, "poisson")
    plain = _run(lake)
    lake.write_json(lake.backtest_file(AS_OF, "calibration"), {"window_levels": {"2024-04-29": levels}})
    mapped = _run(lake)
    assert mapped["sites"]["0.95"]["incidents"] >= plain["sites"]["0.95"]["incidents"]
    assert mapped["sites"]["0.5"] == plain["sites"]["0.5"]
