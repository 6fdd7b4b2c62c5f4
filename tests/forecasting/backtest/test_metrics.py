"""Metrics on hand-computed cases, including strict vs non-strict coverage on zero-heavy data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest import metrics as mt
from forecasting.core.schema import (
    COLD_START,
    CUTOFF,
    DS,
    MASE_SCALE,
    MEAN,
    METRIC,
    METRIC_VALUE,
    MODEL,
    REGION,
    SEGMENT,
    STEP,
    UNIQUE_ID,
    Y,
    quantile_col,
)


def _frame(y, q, **extra) -> pd.DataFrame:
    """Rows with actuals ``y`` and every quantile column set to ``q`` (or per-q dict)."""
    n = len(y)
    qs = q if isinstance(q, dict) else {lvl: q for lvl in (0.05, 0.5, 0.9, 0.95)}
    mean = np.broadcast_to(np.asarray(extra.pop("mean", qs[0.5]), float), (n,))
    df = pd.DataFrame({Y: np.asarray(y, float), MEAN: mean})
    for lvl, v in qs.items():
        df[quantile_col(lvl)] = np.broadcast_to(np.asarray(v, float), (n,))
    df[UNIQUE_ID] = extra.pop(UNIQUE_ID, "a")
    df[CUTOFF] = pd.Timestamp("2020-01-01")
    df[MASE_SCALE] = extra.pop(MASE_SCALE, 1.0)
    for k, v in extra.items():
        df[k] = v
    return df


def test_pinball_and_weighted_quantile_loss_by_hand():
    y, qhat = np.array([0.0, 2.0, 5.0]), np.array([1.0, 1.0, 1.0])
    # diff y - qhat = [-1, 1, 4]; q=0.9: max(0.9 d, -0.1 d) = [0.1, 0.9, 3.6]
    np.testing.assert_allclose(mt.pinball_loss(y, qhat, 0.9), [0.1, 0.9, 3.6])
    df = _frame(y, 1.0)
    assert mt.weighted_quantile_loss(df, 0.9) == pytest.approx(2 * 4.6 / 7)
    # q=0.5: 0.5 * (1 + 1 + 4) = 3 -> 2 * 3 / 7
    assert mt.weighted_quantile_loss(df, 0.5) == pytest.approx(6 / 7)
    assert np.isnan(mt.weighted_quantile_loss(_frame([0, 0], 1.0), 0.5))


def test_coverage_strict_and_non_strict_on_zero_heavy_counts():
    y = [0] * 8 + [1, 3]
    at_zero = _frame(y, 0.0)
    # a P95 of 0 "covers" 80% (y <= 0) but strictly covers nothing (y < 0)
    assert mt.coverage(at_zero, 0.95) == pytest.approx(0.8)
    assert mt.coverage(at_zero, 0.95, strict=True) == 0.0
    at_one = _frame(y, 1.0)
    assert mt.coverage(at_one, 0.9) == pytest.approx(0.9)
    assert mt.coverage(at_one, 0.9, strict=True) == pytest.approx(0.8)
    # the calibrated-count condition strict <= q <= coverage holds for q=0.85 at q-hat=1
    assert mt.coverage(at_one, 0.9, strict=True) <= 0.85 <= mt.coverage(at_one, 0.9)


def test_interval_coverage_is_two_sided():
    df = _frame([0, 1, 2, 5], {0.05: 1.0, 0.5: 2.0, 0.9: 3.0, 0.95: 4.0})
    # inside [1, 4]: 1 and 2 -> 0.5
    assert mt.interval_coverage(df) == pytest.approx(0.5)


def test_mase_per_series_then_mean_and_zero_scale_excluded():
    a = _frame([1, 3], 2.0, **{UNIQUE_ID: "a", MASE_SCALE: 2.0})  # mean|e| = 1 -> 0.5
    b = _frame([0, 4], 0.0, **{UNIQUE_ID: "b", MASE_SCALE: 1.0})  # mean|e| = 2 -> 2.0
    c = _frame([5, 5], 0.0, **{UNIQUE_ID: "c", MASE_SCALE: 0.0})  # flat history: excluded
    assert mt.mase(pd.concat([a, b, c], ignore_index=True)) == pytest.approx(1.25)


def test_bias_is_relative_sum_of_mean_errors():
    df = _frame([2, 2], 0.0, mean=[3.0, 3.0])
    assert mt.bias(df) == pytest.approx(0.5)


def test_pit_bounds_and_nonrandomised_pit_cdf():
    samples = np.array([[0, 0, 1, 2], [5, 5, 5, 5]], float)
    lo, hi = mt.pit_bounds(samples, np.array([1.0, 5.0]))
    np.testing.assert_allclose(lo, [0.5, 0.0])
    np.testing.assert_allclose(hi, [0.75, 1.0])
    # first actual: uniform on [0.5, 0.75]; second: uniform on [0, 1]
    cdf = mt.pit_cdf(lo, hi, np.array([0.25, 0.625, 1.0]))
    np.testing.assert_allclose(cdf, [(0 + 0.25) / 2, (0.5 + 0.625) / 2, 1.0])
    draws = mt.randomized_pit(np.repeat(lo, 500), np.repeat(hi, 500), seed=1)
    assert ((draws >= np.repeat(lo, 500)) & (draws <= np.repeat(hi, 500))).all()
    # point masses (F(y-1) == F(y)) step at their value
    assert mt.pit_cdf(np.array([0.3]), np.array([0.3]), np.array([0.29, 0.3]))[0] == 0.0


def test_metrics_table_has_every_metric_segment_and_model():
    rows = []
    for model, shift in (("m1", 0.0), ("m2", 1.0)):
        for uid, region, cold in (("a", "north", False), ("b", "south", True)):
            df = _frame([0, 1, 2], 1.0 + shift, **{UNIQUE_ID: uid, REGION: region, COLD_START: cold})
            df[MODEL], df[STEP], df[DS] = model, [1, 2, 3], pd.date_range("2020-02-01", periods=3, freq="MS")
            rows.append(df)
    bt = pd.concat(rows, ignore_index=True)
    table = mt.metrics_table(bt)
    assert list(table.columns) == [MODEL, METRIC, METRIC_VALUE, SEGMENT]
    assert set(table[SEGMENT]) == {"all", "cold_start", "north", "south"}
    assert set(table[METRIC]) == set(mt.metric_names())
    for name in ("mean_wQL", "wQL_0.5", "coverage_strict_0.95", "interval_coverage_0.90", "MASE"):
        assert name in set(table[METRIC])
    m1 = table[(table[MODEL] == "m1") & (table[SEGMENT] == "all")].set_index(METRIC)[METRIC_VALUE]
    assert m1["coverage_0.5"] == pytest.approx(4 / 6)
    assert m1["coverage_strict_0.5"] == pytest.approx(2 / 6)
    assert m1["mean_wQL"] == pytest.approx(np.mean([m1["wQL_0.5"], m1["wQL_0.9"], m1["wQL_0.95"]]))
    steps = mt.metrics_by_step(bt)
    assert sorted(steps[STEP].unique()) == [1, 2, 3]
