"""Baselines: hand-checked seasonal naive, statsforecast conformal baselines, plain GluonTS."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest import baselines as bl
from forecasting.core.schema import DS, MEAN, STEP, UNIQUE_ID, Y, quantile_col

QCOLS = [quantile_col(q) for q in (0.05, 0.5, 0.9, 0.95)]


def _history(values: dict[str, list[float]], start="2020-01-01", freq="MS") -> pd.DataFrame:
    rows = []
    for uid, ys in values.items():
        for d, y in zip(pd.date_range(start, periods=len(ys), freq=freq), ys, strict=True):
            rows.append((uid, d, y))
    return pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y])


def test_seasonal_naive_by_hand():
    # y = 1..24: the value a year earlier, and every seasonal difference is 12
    out = bl.seasonal_naive(_history({"a": list(range(1, 25))}), horizon=3, freq="MS")
    assert list(out[DS]) == list(pd.date_range("2022-01-01", periods=3, freq="MS"))
    assert list(out[STEP]) == [1, 2, 3]
    np.testing.assert_allclose(out[MEAN], [13, 14, 15])
    for col in QCOLS:
        np.testing.assert_allclose(out[col], [25, 26, 27])


def test_seasonal_naive_short_series_and_gaps():
    # 5 periods < one season: last value, lag-1 differences; leading NaN trimmed, inner NaN = 0
    out = bl.seasonal_naive(_history({"b": [np.nan, 2, np.nan, 4, 4]}), horizon=2, freq="MS")
    np.testing.assert_allclose(out[MEAN], [4, 4])
    assert (out[QCOLS].to_numpy() >= 0).all()


def test_statsforecast_baselines_have_ordered_nonnegative_quantiles():
    rng = np.random.default_rng(0)
    hist = _history({f"s{i}": list(rng.poisson(lam, 30).astype(float)) for i, lam in enumerate([0.3, 2, 5])})
    short = _history({"tiny": [0.0, 1.0, 0.0, 2.0]})  # too short for conformal windows
    out = bl.statsforecast_baselines(pd.concat([hist, short]), horizon=4, freq="MS")
    assert set(out) == set(bl.STATS_BASELINES)
    for name, fc in out.items():
        assert len(fc) == 4 * 4, name
        q = fc[QCOLS].to_numpy()
        assert (q >= 0).all() and (np.diff(q, axis=1) >= 0).all(), name
        wide = fc[fc[UNIQUE_ID] == "s2"]
        assert (wide[quantile_col(0.95)] > wide[quantile_col(0.5)]).all(), name
        tiny = fc[fc[UNIQUE_ID] == "tiny"]
        np.testing.assert_allclose(tiny[quantile_col(0.95)], tiny[MEAN])  # point only
        firsts = fc.groupby(UNIQUE_ID)[DS].min()
        assert firsts["s0"] == pd.Timestamp("2022-07-01") and firsts["tiny"] == pd.Timestamp("2020-05-01")


def test_samples_frame_quantiles_and_levels():
    samples = np.tile(np.arange(100, dtype=float)[None, :, None], (2, 1, 3))
    fr = bl.samples_frame(["a", "b"], [pd.Timestamp("2021-01-04")] * 2, samples, "W-MON")
    assert list(fr[DS].iloc[:3]) == list(pd.date_range("2021-01-04", periods=3, freq="W-MON"))
    assert fr[quantile_col(0.95)].iloc[0] == 94.0  # inverted CDF: an actual sample value
    shifted = bl.samples_frame(["a", "b"], [pd.Timestamp("2021-01-04")] * 2, samples, "W-MON",
                               {0.05: 0.05, 0.5: 0.5, 0.9: 0.9, 0.95: 0.99})
    assert shifted[quantile_col(0.95)].iloc[0] == 98.0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_plain_gluonts_deepar_forecasts_every_series():
    rng = np.random.default_rng(1)
    hist = _history({f"s{i}": list(rng.poisson(lam, 36).astype(float)) for i, lam in enumerate([0.5, 3])})
    fc = bl.gluonts_deepar(hist, horizon=3, freq="MS", seed=0, num_samples=50, epochs=1, batches=2)
    assert len(fc) == 2 * 3
    assert list(fc[DS].iloc[:3]) == list(pd.date_range("2023-01-01", periods=3, freq="MS"))
    assert np.isfinite(fc[QCOLS].to_numpy()).all()
