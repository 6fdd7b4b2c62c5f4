"""forecasting.model.fit: fit_model on awkward panels, divergence, the refit, too-short panels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema as S
from forecasting.core.errors import ModelError
from forecasting.core.panel_spec import PanelSpec
from forecasting.model.fit import fit_model
from tests.support.deepar_panels import (
    AS_OF,
    HORIZON,
    SPEC,
    make_panel,
    tiny_settings,
)


def _awkward_panel() -> pd.DataFrame:
    """Normal sites plus: all zeros, 6 weeks only (< context), 40% NaN targets, and a
    site opening in a region and country never seen in training."""
    df = make_panel(n_series=4, cold_start="WH-NEW", cold_region="atlantis")
    df.loc[df[S.UNIQUE_ID] == "WH-NEW", S.COUNTRY] = "XX"
    hist = ~df[S.IS_FUTURE]
    df.loc[(df[S.UNIQUE_ID] == "WH-00") & hist, S.Y] = 0.0
    short = df[(df[S.UNIQUE_ID] == "WH-01") & hist].index[:-6]
    df = df.drop(index=short)
    gaps = df[(df[S.UNIQUE_ID] == "WH-02") & ~df[S.IS_FUTURE]].index
    df.loc[gaps[np.arange(len(gaps)) % 5 < 2], S.Y] = np.nan
    return df.reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_fit_and_forecast_awkward_panel(settings_factory):
    settings = tiny_settings(settings_factory)
    df = _awkward_panel()
    fitted = fit_model(df, SPEC, settings)
    assert fitted.metrics["series"] == 4  # the cold-start site has nothing to train on
    assert fitted.metrics["diverged_epoch"] is None and fitted.metrics["epochs"] >= 1
    fs = fitted.predict(df)
    assert fs.ids == ["WH-00", "WH-01", "WH-02", "WH-03", "WH-NEW"]
    assert fs.cold_start == ("WH-NEW",)
    assert fs.samples.shape == (5, 20, HORIZON)
    assert np.isfinite(fs.samples).all() and (fs.samples >= 0).all()
    assert set(fs.starts) == {pd.Timestamp(AS_OF)}
    zeros = fs.samples[0].mean()
    assert zeros < fs.samples[3].mean()  # an all-zero site forecasts below a rate-4 site


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_single_series_without_covariates(settings_factory):
    settings = tiny_settings(settings_factory)
    df = make_panel(n_series=1, cold_start=None)
    df = df[~df[S.IS_FUTURE]][[S.UNIQUE_ID, S.DS, S.Y]]  # a bare user panel
    spec = PanelSpec(freq="W-MON")
    fitted = fit_model(df, spec, settings)
    fs = fitted.predict(df)
    assert fs.ids == ["WH-00"] and fs.samples.shape == (1, 20, HORIZON)
    assert fs.starts == [pd.Timestamp(AS_OF)]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_diverging_loss_fails_naming_the_epoch(settings_factory):
    settings = tiny_settings(settings_factory, model={"lr": 1e3})
    with pytest.raises(ModelError, match=r"training diverged at epoch \d+ .*nothing was registered"):
        fit_model(make_panel(), SPEC, settings)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_refit_trains_on_every_period_for_the_holdout_runs_best_epoch_count(settings_factory, monkeypatch):
    import forecasting.model.fit as train

    runs = []
    real_fit = train._fit

    def recording_fit(config, entries, val, settings, use_ray, init=None):
        runs.append((dict(config), [len(e["target"]) for e in entries], len(val)))
        return real_fit(config, entries, val, settings, use_ray, init)

    monkeypatch.setattr(train, "_fit", recording_fit)
    settings = tiny_settings(settings_factory, model={"validation": "refit", "max_epochs": 4, "patience": 1})
    df = make_panel(n_series=3, periods=30, cold_start=None)
    fitted = fit_model(df, SPEC, settings)
    (first, first_lengths, n_val), (second, second_lengths, n_val_refit) = runs
    assert n_val == 3 and n_val_refit == 0
    # the refit sees the held-out window: every series is HORIZON periods longer
    assert [n - HORIZON for n in second_lengths] == first_lengths
    holdout = fitted.metrics["holdout"]
    epochs = holdout["best_epoch"] + 1
    assert fitted.metrics["refit_epochs"] == epochs == second["max_epochs"] == fitted.config["max_epochs"]
    assert fitted.metrics["epochs"] == epochs  # a fixed count: no early stopping in the refit
    assert first["early_stop"] is True and second["early_stop"] is False
    fs = fitted.predict(df)
    assert fs.samples.shape == (3, 20, HORIZON) and np.isfinite(fs.samples).all()


def test_no_series_long_enough_fails_before_training(settings_factory):
    settings = tiny_settings(settings_factory)
    df = make_panel(n_series=2, periods=HORIZON - 1, cold_start=None)
    with pytest.raises(ModelError, match=f"no series has {HORIZON} observed periods"):
        fit_model(df, SPEC, settings)
