"""The local negative-binomial member: fits and predicts on a tiny panel, keeps path levels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, IS_FUTURE, UNIQUE_ID, Y
from forecasting.model.members.local_nb import LocalCountModel, fit_local


def _panel(n_periods: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2023-01-02", periods=n_periods, freq="W-MON")
    rows = [("a", d, float(rng.negative_binomial(1, 1 / (1 + 4.0)))) for d in ds]
    rows += [("b", d, 2.0) for d in ds]  # constant: variance below the mean -> Poisson
    rows += [("c", d, np.nan) for d in ds]  # no history: cold start
    return pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y])


def test_fit_predict_shapes_starts_and_cold_start():
    spec = PanelSpec(freq="W-MON")
    df = _panel()
    model = fit_local(df, spec, Settings(), seed=3, horizon=4)
    future = df[df[UNIQUE_ID] == "a"].tail(1).assign(**{DS: df[DS].max() + pd.offsets.Week(weekday=0),
                                                          Y: np.nan, IS_FUTURE: True})
    fs = model.predict(pd.concat([df.assign(**{IS_FUTURE: False}), future]), num_samples=500)
    assert fs.ids == ["a", "b", "c"] and fs.samples.shape == (3, 500, 4) and fs.samples.dtype == np.float32
    assert all(s == df[DS].max() + pd.offsets.Week(weekday=0) for s in fs.starts)  # future rows ignored
    assert fs.cold_start == ("c",)
    assert (fs.samples >= 0).all() and np.isfinite(fs.samples).all()
    recent = df[df[UNIQUE_ID] == "a"].tail(52)[Y]
    assert abs(fs.samples[0].mean() - recent.mean()) < 0.25 * recent.mean()
    assert fs.samples[1].var() < 1.5 * fs.samples[1].mean()  # Poisson-like for the constant series
    assert 0 < fs.samples[2].mean()  # the cold-start site gets the pooled level, not zero
    again = model.predict(df, num_samples=500)
    np.testing.assert_array_equal(again.samples, model.predict(df, num_samples=500).samples)


def test_a_path_keeps_its_level_over_the_horizon():
    """Steps of one path share its rate: period totals are wider than independent NB steps."""
    model = LocalCountModel("W-MON", horizon=8, window=52)
    fs = model.predict(_panel(), num_samples=4000)
    paths = fs.samples[0].astype(float)  # the overdispersed series
    totals = paths.sum(axis=1)
    assert totals.var() > 1.5 * paths.var(axis=0).sum()
    steps = np.corrcoef(paths[:, 0], paths[:, 7])[0, 1]
    assert steps > 0.2
