"""The temporal fusion transformer member: fits and forecasts counts from quantiles, keeps the
covariates' effect, and is deterministic for a seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.core.config import Settings
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, IS_FUTURE, UNIQUE_ID, Y
from forecasting.model.members.tft import fit_tft
from forecasting.model.shards import quantile_paths

SPEC = PanelSpec(freq="W-MON", static_real=("sqft",), static_cat=("region",), dynamic_real=("peak",))
TINY = {"max_epochs": 3, "batches_per_epoch": 8, "batch_size": 32, "patience": 2, "num_samples": 100}


def _panel(n_sites: int = 16, n_periods: int = 60, horizon: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-03", periods=n_periods + horizon, freq="W-MON")
    peak = (np.arange(len(ds)) % 5 == 0).astype(float)
    rows = []
    for k in range(n_sites):
        sqft, region = 1000.0 * (1 + k % 4), "north" if k % 2 else "south"
        y = rng.poisson(sqft / 1000.0 * (1 + peak)).astype(float)
        for t, d in enumerate(ds):
            future = t >= n_periods
            rows.append((f"s{k:02d}", d, np.nan if future else y[t], future, sqft, region, peak[t]))
    return pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y, IS_FUTURE, "sqft", "region", "peak"])


def test_quantiles_become_sorted_count_paths():
    class _Quantiles:
        forecast_keys = ["0.9", "0.1", "0.5"]  # any order; crossings sorted away
        forecast_array = np.array([[5.2, 9.0], [0.4, -1.0], [2.6, 3.0]])

    paths = quantile_paths(_Quantiles(), 10)
    assert paths.shape == (10, 2) and (paths >= 0).all() and np.array_equal(paths, np.round(paths))
    assert (np.diff(paths, axis=0) >= 0).all()  # path k holds level (k + 0.5) / 10
    assert paths[5, 0] == 3.0 and paths[0, 0] == 0.0 and paths[-1, 0] == 5.0


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tft_fits_forecasts_and_is_deterministic():
    settings = Settings(model=TINY)
    df = _panel()
    train = df[~df[IS_FUTURE]]
    first = fit_tft(train, SPEC, settings, seed=3, horizon=4)
    again = fit_tft(train, SPEC, settings, seed=3, horizon=4)
    a, b = first.predict(df, num_samples=100), again.predict(df, num_samples=100)
    assert a.samples.shape == (16, 100, 4) and np.array_equal(a.samples, b.samples)
    assert np.isfinite(a.samples).all() and (a.samples >= 0).all()
    assert np.array_equal(a.samples, np.round(a.samples))
    med = np.median(a.samples, axis=1).mean(axis=1)
    big = [i for i, s in enumerate(a.ids) if int(s[1:]) % 4 == 3]  # sqft 4,000: rate about 4-8
    small = [i for i, s in enumerate(a.ids) if int(s[1:]) % 4 == 0]  # sqft 1,000: rate about 1-2
    assert med[big].mean() > med[small].mean()
