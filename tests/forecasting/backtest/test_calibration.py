"""Quantile-level recalibration and the gate, on count distributions with known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest.calibration import (
    Calibration,
    already_calibrated,
    apply_levels,
    evaluate_gate,
    expanding_levels,
    fit_levels,
    identity_levels,
    is_identity,
    recalibrate_pit,
)
from forecasting.backtest.metrics import coverage, pit_bounds, pit_cdf
from forecasting.core.schema import CUTOFF, DS, PIT_HI, PIT_LO, Y, quantile_col

GATED = (0.5, 0.9, 0.95)
TOL = 0.025


def _overdispersed(rng, n: int, mean: float) -> np.ndarray:
    """Negative binomial counts (dispersion 1): far wider than a Poisson of the same mean."""
    return rng.negative_binomial(1, 1 / (1 + mean), size=n).astype(float)


def _frame(y: np.ndarray, quantiles: dict[float, np.ndarray]) -> pd.DataFrame:
    df = pd.DataFrame({Y: y})
    for q, v in quantiles.items():
        df[quantile_col(q)] = v
    return df


def _too_narrow_forecast(rng, n: int, mean: float = 3.0, num_samples: int = 400):
    """Actuals are NB, the forecast samples Poisson: the upper quantiles under-cover."""
    y = _overdispersed(rng, n, mean)
    samples = rng.poisson(mean, size=(n, num_samples)).astype(float)
    return y, samples


def test_fitted_levels_restore_coverage_on_fresh_data():
    rng = np.random.default_rng(0)
    y_fit, s_fit = _too_narrow_forecast(rng, 4000)
    y_new, s_new = _too_narrow_forecast(rng, 4000)
    raw = apply_levels(s_new, identity_levels(), axis=1)
    assert coverage(_frame(y_new, raw), 0.95) < 0.95 - TOL  # miscalibrated before
    levels = fit_levels(*pit_bounds(s_fit, y_fit))
    assert levels[0.95] > 0.95 and levels[0.9] > 0.9
    cal = _frame(y_new, apply_levels(s_new, levels, axis=1))
    for q in GATED:
        assert coverage(cal, q, strict=True) <= q + TOL
        assert coverage(cal, q) >= q - TOL


def test_recalibrated_pit_is_uniform_on_fresh_data():
    rng = np.random.default_rng(4)
    past_lo, past_hi = pit_bounds(*reversed(_too_narrow_forecast(rng, 4000)))
    new_lo, new_hi = pit_bounds(*reversed(_too_narrow_forecast(rng, 4000)))
    grid = np.array([0.1, 0.5, 0.9, 0.95])
    raw = pit_cdf(new_lo, new_hi, grid)
    cal = pit_cdf(recalibrate_pit(past_lo, past_hi, new_lo), recalibrate_pit(past_lo, past_hi, new_hi), grid)
    assert np.abs(raw - grid).max() > 0.05  # the raw PIT is far from uniform
    np.testing.assert_allclose(cal, grid, atol=0.02)
    assert np.array_equal(recalibrate_pit([], [], np.array([0.3])), np.array([0.3]))


def test_levels_of_a_calibrated_forecast_stay_near_nominal():
    rng = np.random.default_rng(1)
    n = 6000
    y = _overdispersed(rng, n, 2.0)
    samples = np.stack([_overdispersed(rng, 500, 2.0) for _ in range(n)])
    levels = fit_levels(*pit_bounds(samples, y))
    for q in (0.5, 0.9, 0.95):
        assert levels[q] == pytest.approx(q, abs=0.02)


def test_apply_levels_shapes_string_keys_and_integer_values():
    samples = np.arange(2 * 100 * 3, dtype=float).reshape(2, 100, 3) % 7
    out = apply_levels(samples, {"0.5": 0.5, "0.95": 0.97}, axis=1)
    assert set(out) == {0.5, 0.95}
    assert out[0.95].shape == (2, 3)
    assert np.all(out[0.95] == np.round(out[0.95]))  # an actual sample value: counts stay counts
    assert np.all(out[0.95] >= out[0.5])


def test_empty_pit_gives_identity_and_json_round_trip():
    assert fit_levels(np.array([]), np.array([])) == identity_levels()
    cal = Calibration("m", {0.95: 0.97, 0.5: 0.49}, ["2020-01-01"], 10, {"passed": True})
    data = cal.to_dict()
    assert data["levels"] == {"0.5": 0.49, "0.95": 0.97}
    assert Calibration.from_dict(data) == cal


def test_expanding_levels_use_only_actuals_known_at_each_cutoff():
    cutoffs = pd.to_datetime(["2020-01-01", "2020-02-01", "2020-03-01"])
    rows = pd.DataFrame({
        CUTOFF: cutoffs.repeat(2),
        DS: (cutoffs + pd.offsets.MonthBegin()).repeat(2),
        PIT_LO: [0.0, 0.0, 0.99, 0.99, 0.0, 0.0],
        PIT_HI: [0.01, 0.01, 1.0, 1.0, 0.01, 0.01],
    })
    levels = expanding_levels(rows, list(cutoffs))
    assert levels[cutoffs[0]] == (identity_levels(), [])  # nothing observed yet
    assert levels[cutoffs[1]][1] == ["2020-01-01"]
    assert levels[cutoffs[2]][1] == ["2020-01-01", "2020-02-01"]
    # the window whose actuals lie after the cutoff cannot move the levels
    assert levels[cutoffs[1]][0][0.5] < 0.02


def test_gate_blocks_a_miscalibrated_model_and_names_the_figures():
    rng = np.random.default_rng(2)
    y, samples = _too_narrow_forecast(rng, 3000)
    raw = _frame(y, apply_levels(samples, identity_levels(), axis=1))
    gate = evaluate_gate(raw, "riskcast", TOL, ["2020-01-01"])
    assert not gate.passed
    assert not gate.figures["0.95"]["ok"]
    text = gate.describe()
    assert "q=0.95" in text and "FAIL" in text and f"{gate.figures['0.95']['coverage']:.3f}" in text


def test_gate_passes_a_calibrated_model_and_fails_without_evidence():
    rng = np.random.default_rng(3)
    y = _overdispersed(rng, 4000, 2.0)
    samples = np.stack([_overdispersed(rng, 400, 2.0) for _ in range(4000)])
    ok = evaluate_gate(_frame(y, apply_levels(samples, identity_levels(), axis=1)), "m", TOL, ["w"])
    assert ok.passed, ok.describe()
    empty = evaluate_gate(_frame(np.array([]), {q: np.array([]) for q in GATED}), "m", TOL, [])
    assert not empty.passed and "held-out" in empty.reason


def _rows(y: np.ndarray, samples: np.ndarray, cutoff: str) -> pd.DataFrame:
    """Backtest-like raw rows: actuals, sample quantiles and PIT bounds, one window."""
    df = _frame(y, apply_levels(samples, identity_levels(), axis=1))
    df[PIT_LO], df[PIT_HI] = pit_bounds(samples, y)
    return df.assign(**{CUTOFF: pd.Timestamp(cutoff), DS: pd.Timestamp(cutoff) + pd.offsets.MonthBegin()})


def test_a_calibrated_model_keeps_the_identity_map_a_miscalibrated_one_is_refitted():
    rng = np.random.default_rng(5)
    mean = 2.0
    y = _overdispersed(rng, 3000, mean)
    right = rng.negative_binomial(1, 1 / (1 + mean), size=(3000, 400)).astype(float)
    narrow = rng.poisson(mean, size=(3000, 400)).astype(float)
    cutoffs = [pd.Timestamp("2020-01-01"), pd.Timestamp("2020-03-01")]
    for samples, expect_identity in ((right, True), (narrow, False)):
        rows = _rows(y, samples, "2020-01-01")
        assert already_calibrated(rows, TOL) is expect_identity
        levels = expanding_levels(rows, cutoffs, tolerance=TOL)[cutoffs[1]]
        assert levels[1] == ["2020-01-01"]
        assert is_identity(levels[0]) is expect_identity
        # without a tolerance the map is always fitted: it moves even for the right model
        assert not is_identity(expanding_levels(rows, cutoffs)[cutoffs[1]][0])
    assert not already_calibrated(rows.iloc[:0], TOL)  # no evidence: never "calibrated"
