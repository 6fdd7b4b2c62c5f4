"""The global gradient-boosted member: fits and predicts on a tiny panel, learns covariates,
forecasts cold starts from static covariates, keeps path levels, is deterministic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.core.config import Settings
from forecasting.core.errors import InputError
from forecasting.core.panel_spec import PanelSpec
from forecasting.core.schema import DS, IS_FUTURE, UNIQUE_ID, Y
from forecasting.model.members.gbm import MAX_DISPERSION, _dispersion, _dispersion_by_level, fit_gbm

SPEC = PanelSpec(freq="W-MON", static_real=("sqft",), static_cat=("region",), dynamic_real=("peak",))
WEEK = pd.offsets.Week(weekday=0)


def _panel(n_sites: int = 24, n_periods: int = 80, horizon: int = 4) -> pd.DataFrame:
    """Sites whose level grows with sqft, doubling in 'peak' weeks (known ahead); the last
    ``horizon`` weeks are covariate-only future rows; site 'new' has no history at all."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-03", periods=n_periods + horizon, freq="W-MON")
    peak = (np.arange(len(ds)) % 5 == 0).astype(float)
    rows = []
    for k in range(n_sites):
        sqft, region = 1000.0 * (1 + k % 6), "north" if k % 2 else "south"
        level = sqft / 1000.0 * (1.5 if region == "north" else 1.0)
        y = rng.negative_binomial(5, 5 / (5 + level * (1 + peak))).astype(float)
        for t, d in enumerate(ds):
            future = t >= n_periods
            rows.append((f"s{k:02d}", d, np.nan if future else y[t], future, sqft, region, peak[t]))
    for t, d in enumerate(ds):  # cold start: a big northern site opening now
        rows.append(("new", d, np.nan, t >= n_periods, 6000.0, "north", peak[t]))
    return pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y, IS_FUTURE, "sqft", "region", "peak"])


@pytest.fixture(scope="module")
def fitted():
    df = _panel()
    train = df[~df[IS_FUTURE] & df[Y].notna()]
    return df, fit_gbm(train, SPEC, Settings(), seed=1, horizon=4)


def test_fit_predict_shapes_starts_cold_start_and_determinism(fitted):
    df, model = fitted
    fs = model.predict(df, num_samples=300)
    assert fs.samples.shape == (25, 300, 4) and fs.samples.dtype == np.float32
    assert "new" in fs.ids and fs.cold_start == ("new",)
    last = df[~df[IS_FUTURE]][DS].max()
    assert set(fs.starts) == {last + WEEK}  # the cold site starts with the others
    assert (fs.samples >= 0).all() and np.isfinite(fs.samples).all()
    np.testing.assert_array_equal(fs.samples, model.predict(df, num_samples=300).samples)
    again = fit_gbm(df[~df[IS_FUTURE] & df[Y].notna()], SPEC, Settings(), seed=1, horizon=4)
    assert again.booster == model.booster and again.dispersion == model.dispersion


def test_levels_follow_static_and_dynamic_covariates(fitted):
    df, model = fitted
    fs = model.predict(df, num_samples=1000)
    means = fs.samples.mean(axis=1)  # (25, 4)
    small, big = fs.ids.index("s00"), fs.ids.index("s05")  # sqft 1,000 vs 6,000
    assert means[big].mean() > 2.5 * means[small].mean()
    future = df[df[IS_FUTURE] & (df[UNIQUE_ID] == "s05")].sort_values(DS)["peak"].to_numpy()
    assert future.max() == 1 and future.min() == 0
    assert means[big][future == 1].mean() > 1.3 * means[big][future == 0].mean()
    new = fs.ids.index("new")
    assert means[new].mean() > 2 * means[small].mean()  # cold start read from sqft and region


def test_a_path_keeps_its_level_and_dispersion_is_estimated(fitted):
    df, model = fitted
    assert np.median(model.dispersion) < 50  # the panel is NB(5): clearly overdispersed
    assert len(model.dispersion) == len(model.level_edges) + 1
    paths = model.predict(df, num_samples=4000).samples[5].astype(float)
    assert paths.sum(axis=1).var() > 1.3 * paths.var(axis=0).sum()
    assert np.corrcoef(paths[:, 0], paths[:, 3])[0, 1] > 0.1


def test_dispersion_by_moments():
    rng = np.random.default_rng(0)
    mu = rng.uniform(1, 10, 20000)
    assert _dispersion(rng.poisson(mu).astype(float), mu) > 50
    r = _dispersion(rng.negative_binomial(2, 2 / (2 + mu)).astype(float), mu)
    assert 1.5 < r < 2.7
    assert _dispersion(mu, mu) == MAX_DISPERSION
    # small means Poisson, large ones NB(2): one r per level bin
    y = np.where(mu < 5, rng.poisson(mu), rng.negative_binomial(2, 2 / (2 + mu))).astype(float)
    edges, r = _dispersion_by_level(y, mu, bins=4)
    assert len(r) == len(edges) + 1 == 4 and r[0] > 20 and 1.2 < r[-1] < 3.5


def test_a_panel_without_positive_targets_is_refused():
    df = _panel(n_sites=3)
    train = df[~df[IS_FUTURE]].assign(**{Y: 0.0})
    with pytest.raises(InputError, match="no observed positive targets"):
        fit_gbm(train, SPEC, Settings(), seed=0, horizon=4)


def test_a_daily_horizon_longer_than_the_season_fits_and_predicts():
    rng = np.random.default_rng(1)
    ds = pd.date_range("2023-01-02", periods=120, freq="D")
    rows = [(f"r{k}", d, float(rng.poisson(3 + 2 * (d.dayofweek < 5)))) for k in range(6) for d in ds]
    df = pd.DataFrame(rows, columns=[UNIQUE_ID, DS, Y])
    spec = PanelSpec(freq="D")
    model = fit_gbm(df, spec, Settings(), seed=0, horizon=14)  # 14 steps > the 7-day season
    fs = model.predict(df, num_samples=50)
    assert fs.samples.shape == (6, 50, 14) and np.isfinite(fs.samples).all()
