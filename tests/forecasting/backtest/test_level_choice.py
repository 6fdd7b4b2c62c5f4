"""The level map is applied only where windows it was not fitted on show it helps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.backtest.calibration import (
    Calibration,
    apply_levels,
    fit_levels,
    identity_levels,
    is_identity,
    map_improves,
)
from forecasting.backtest.engine import DEEPAR_RAW, RISKCAST, run_backtest
from forecasting.backtest.metrics import pit_bounds
from forecasting.core.schema import CUTOFF, MODEL, UNIQUE_ID, Y, quantile_col
from tests.support.backtest_toys import SPEC, toy_fit, wide_panel

QCOLS = [quantile_col(q) for q in (0.05, 0.5, 0.9, 0.95)]


def _run(settings, spread: float):
    return run_backtest(wide_panel(), SPEC, settings, horizon=6, windows=3, fit=toy_fit([], spread=spread),
                        models=(RISKCAST, DEEPAR_RAW), num_samples=200, member_fits={})  # DeepAR alone


def _model(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame[MODEL] == name].sort_values([CUTOFF, UNIQUE_ID, "ds"]).reset_index(drop=True)


def test_a_calibrated_raw_model_goes_through_unchanged(settings_factory):
    res = _run(settings_factory(), spread=2.0)  # the toy panel is NB(2): this forecast is right
    assert is_identity(res.calibration.levels)
    assert all(is_identity(lv) for lv in res.window_levels.values())
    pd.testing.assert_frame_equal(_model(res.frame, RISKCAST)[QCOLS], _model(res.frame, DEEPAR_RAW)[QCOLS])
    # what reserves read (calibration.json levels) is the identity too
    data = Calibration.from_dict(res.calibration.to_dict())
    assert is_identity(data.levels) and data.choice["production"]["applied"] is False


def test_a_miscalibrated_model_gets_the_map_only_after_evidence(settings_factory):
    res = _run(settings_factory(), spread=500.0)  # nearly Poisson: far too narrow
    first, *later = sorted(res.window_levels)
    assert is_identity(res.window_levels[first])  # no earlier window showed the map helps
    assert not any(is_identity(res.window_levels[c]) for c in later)
    assert not is_identity(res.calibration.levels)
    production = res.calibration.choice["production"]
    assert production["applied"] and production["mapped"]["mean_wQL"] < production["raw"]["mean_wQL"]
    wql = res.metrics[(res.metrics["metric"] == "mean_wQL") & (res.metrics["segment"] == "all")]
    by_model = dict(zip(wql[MODEL], wql["value"], strict=True))
    assert by_model[RISKCAST] < by_model[DEEPAR_RAW]


def _rows(y: np.ndarray, samples: np.ndarray, levels: dict) -> pd.DataFrame:
    df = pd.DataFrame({Y: y})
    for q, v in apply_levels(samples, levels, axis=1).items():
        df[quantile_col(q)] = v
    return df


def test_a_map_that_helps_calibration_but_costs_wql_is_refused():
    rng = np.random.default_rng(11)
    mean, n = 2.0, 4000
    y = rng.negative_binomial(1, 1 / (1 + mean), size=n).astype(float)
    right = rng.negative_binomial(1, 1 / (1 + mean), size=(n, 400)).astype(float)
    raw = _rows(y, right, identity_levels())
    # a map fitted on a different, wrongly dispersed past moves the right model's levels
    past = rng.negative_binomial(1, 1 / (1 + 4 * mean), size=n).astype(float)
    lo, hi = pit_bounds(right, past)
    moved = fit_levels(lo, hi)
    assert not is_identity(moved)
    ok, figures = map_improves(raw, _rows(y, right, moved))
    assert not ok and figures["applied"] is False
    assert figures["mapped"]["mean_wQL"] > figures["raw"]["mean_wQL"]
    # identical rows improve nothing; no rows is no evidence
    assert not map_improves(raw, raw.copy())[0]
    assert not map_improves(raw.iloc[:0], raw.iloc[:0])[0]

