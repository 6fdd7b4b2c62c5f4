"""forecasting.model: panel -> GluonTS entries, estimator config, forecasts, registry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema as S
from forecasting.core.errors import InputError, ModelError
from forecasting.core.lake import Lake, join
from forecasting.model.dataset import (
    UNSEEN,
    Encoders,
    check_panel,
    prediction_entries,
    training_entries,
)
from forecasting.model.deepar import CAP_FACTOR, _bounded
from forecasting.model.estimator import gluonts_freq, model_config
from forecasting.model.samples import ForecastSamples
from tests.support.deepar_panels import AS_OF, HORIZON, SPEC, make_panel, tiny_settings

# ----------------------------------------------------------------------------- encoders


def test_encoders_reserve_zero_for_unseen_and_round_trip_through_json():
    df = make_panel(n_series=3)
    enc = Encoders.fit(df[~df[S.IS_FUTURE]], SPEC)
    assert enc.categories[S.REGION] == ["north", "south"]
    assert enc.encode_cat(S.REGION, "north") == 1
    assert enc.encode_cat(S.REGION, "atlantis") == UNSEEN == 0
    assert enc.encode_cat(S.REGION, None) == UNSEEN
    assert enc.cardinality(SPEC) == [3, 2]
    back = Encoders.from_dict(enc.to_dict())
    assert back == enc
    assert enc.to_dict()["categories"][S.REGION] == {"north": 1, "south": 2}


def test_encoders_standardise_static_reals_with_training_statistics():
    df = make_panel(n_series=3, cold_start=None)
    enc = Encoders.fit(df, SPEC)
    per_site = np.log([20_000, 40_000, 60_000])
    assert enc.real_stats[S.SQFT_LOG] == pytest.approx([per_site.mean(), per_site.std()])
    z = enc.scale_real(S.SQFT_LOG, per_site)
    assert z.mean() == pytest.approx(0, abs=1e-6) and z.std() == pytest.approx(1, abs=1e-5)
    assert enc.scale_real(S.SQFT_LOG, [np.nan])[0] == 0  # missing -> the training mean


def test_single_series_gets_unit_std_not_division_by_zero():
    df = make_panel(n_series=1, cold_start=None)
    enc = Encoders.fit(df, SPEC)
    assert enc.real_stats[S.SQFT_LOG][1] == 1.0
    assert np.isfinite(enc.scale_real(S.SQFT_LOG, [10.0])).all()


# ----------------------------------------------------------------------------- entries


def test_training_entries_keep_nan_as_missing_and_hold_out_the_last_window():
    df = make_panel(n_series=2, periods=20, cold_start=None)
    hist = df[~df[S.IS_FUTURE]].copy()
    first = hist.index[hist[S.UNIQUE_ID] == "WH-00"]
    hist.loc[first[:3], S.Y] = np.nan  # leading gap: trimmed
    hist.loc[first[10], S.Y] = np.nan  # inner gap: stays NaN, never 0
    hist = hist.drop(index=first[12])  # a missing row becomes a NaN period
    enc = Encoders.fit(hist, SPEC)
    train, val = training_entries(hist, SPEC, enc, "W", holdout=HORIZON)
    wh0 = next(e for e in val if e["item_id"] == "WH-00")
    assert len(wh0["target"]) == 17  # 20 weeks - 3 leading NaN
    assert np.isnan(wh0["target"][7]) and np.isnan(wh0["target"][9])
    assert np.isfinite(wh0["target"][0])
    assert wh0["start"] == pd.Period(hist.loc[first[3], S.DS], "W")
    assert wh0["feat_dynamic_real"].shape == (1, 17)
    train0 = next(e for e in train if e["item_id"] == "WH-00")
    assert len(train0["target"]) == 17 - HORIZON
    assert train0["feat_dynamic_real"].shape == (1, 17 - HORIZON)


def test_in_sample_training_keeps_the_validation_window_in_the_training_entries():
    hist = make_panel(n_series=2, periods=20, cold_start=None)
    hist = hist[~hist[S.IS_FUTURE]]
    enc = Encoders.fit(hist, SPEC)
    train, val = training_entries(hist, SPEC, enc, "W", holdout=HORIZON, in_sample=True)
    assert [len(e["target"]) for e in train] == [20, 20]  # every observed period trained on
    assert [len(e["target"]) for e in val] == [20, 20]  # the last window monitors the fit
    np.testing.assert_array_equal(train[0]["target"], val[0]["target"])


def test_cold_start_series_is_not_trained_on_but_is_forecast_from_nan_context():
    df = make_panel(n_series=2)
    enc = Encoders.fit(df[~df[S.IS_FUTURE]], SPEC)
    train, _ = training_entries(df, SPEC, enc, "W", holdout=HORIZON)
    assert [e["item_id"] for e in train] == ["WH-00", "WH-01"]
    entries, starts, maxima, _ = prediction_entries(df, SPEC, enc, "W", HORIZON, 16)
    new = entries[[e["item_id"] for e in entries].index("WH-NEW")]
    assert len(new["target"]) == 16 and np.isnan(new["target"]).all()
    assert new["feat_dynamic_real"].shape == (1, 16 + HORIZON)
    assert set(starts) == {pd.Timestamp(AS_OF)}
    assert np.isnan(maxima[-1]) and np.isfinite(maxima[:-1]).all()


def _late_opener(df: pd.DataFrame, weeks: int) -> pd.DataFrame:
    """``df`` with WH-NEW opening ``weeks`` into the horizon (its earlier rows dropped)."""
    new = df.index[df[S.UNIQUE_ID] == "WH-NEW"]
    return df.drop(index=new[:weeks]).reset_index(drop=True)


def test_site_opening_inside_the_horizon_is_forecast_from_the_panel_start_with_closed_steps():
    df = _late_opener(make_panel(n_series=2), weeks=2)
    enc = Encoders.fit(df[~df[S.IS_FUTURE]], SPEC)
    entries, starts, _, closed = prediction_entries(df, SPEC, enc, "W", HORIZON, 16)
    assert [e["item_id"] for e in entries] == ["WH-00", "WH-01", "WH-NEW"]
    assert set(starts) == {pd.Timestamp(AS_OF)}  # not 2 weeks later: same periods as the rest
    assert closed.tolist() == [0, 0, 2]
    assert entries[-1]["feat_dynamic_real"].shape == (1, 16 + HORIZON)
    # a gap after opening is still an error: only the closed steps may lack covariates
    gap = df.drop(index=df.index[(df[S.UNIQUE_ID] == "WH-NEW")][-1])
    with pytest.raises(InputError, match="WH-NEW"):
        prediction_entries(gap, SPEC, enc, "W", HORIZON, 16)


def test_unseen_category_at_forecast_time_encodes_as_unseen():
    df = make_panel(n_series=2, cold_region="atlantis")
    enc = Encoders.fit(df[df[S.UNIQUE_ID] != "WH-NEW"], SPEC)
    entries, *_ = prediction_entries(df, SPEC, enc, "W", HORIZON, 16)
    assert entries[-1]["feat_static_cat"][0] == UNSEEN


def test_missing_horizon_covariates_name_the_series_and_the_fix():
    df = make_panel(n_series=2, cold_start=None)
    hist = df[~df[S.IS_FUTURE]]
    enc = Encoders.fit(hist, SPEC)
    with pytest.raises(InputError, match="WH-00.*is_future rows with covariates or pass future_df"):
        prediction_entries(hist, SPEC, enc, "W", HORIZON, 16)
    future = df[df[S.IS_FUTURE]].drop(columns=[S.IS_FUTURE])
    entries, *_ = prediction_entries(hist, SPEC, enc, "W", HORIZON, 16, future_df=future)
    assert len(entries) == 2
    with pytest.raises(InputError, match=r"future_df: missing column\(s\) \['is_holiday'\]"):
        prediction_entries(hist, SPEC, enc, "W", HORIZON, 16, future_df=future.drop(columns=[S.IS_HOLIDAY]))


@pytest.mark.parametrize(
    ("value", "match"),
    [(-1.0, "non-negative finite counts"), (np.inf, "non-negative finite counts")],
)
def test_check_panel_rejects_bad_targets_naming_row_and_fix(value, match):
    df = make_panel(n_series=2, cold_start=None)
    df.loc[5, S.Y] = value
    with pytest.raises(InputError, match=f"{match}.*row 5 \\(WH-00"):
        check_panel(df, SPEC)


def test_check_panel_rejects_duplicates_and_missing_columns():
    df = make_panel(n_series=2, cold_start=None)
    with pytest.raises(InputError, match="duplicate"):
        check_panel(pd.concat([df, df.iloc[[3]]]), SPEC)
    with pytest.raises(InputError, match="missing column.*sqft_log"):
        check_panel(df.drop(columns=[S.SQFT_LOG]), SPEC)


def test_off_grid_dates_are_rejected():
    df = make_panel(n_series=1, cold_start=None)
    df.loc[3, S.DS] += pd.Timedelta(days=2)
    enc = Encoders.fit(df, SPEC)
    with pytest.raises(InputError, match="not on the panel's 'W-MON' grid"):
        training_entries(df, SPEC, enc, "W", HORIZON)


# ----------------------------------------------------------------------------- estimator


def test_model_config_defaults_and_frequency_mapping(settings_factory):
    settings = tiny_settings(settings_factory)
    enc = Encoders.fit(make_panel(), SPEC)
    config = model_config(settings, SPEC, enc, longest_series=60)
    assert config["context_length"] == 16  # max(12, 4 x horizon 4)
    assert config["cardinality"] == [3, 2]
    assert max(config["lags_seq"]) < 60  # lags beyond any history are dropped
    assert config["freq"] == "W" and config["panel_freq"] == "W-MON"
    assert gluonts_freq("MS") == "M" and gluonts_freq("D") == "D"
    assert model_config(settings, SPEC, enc, horizon=1)["context_length"] == 12


# ----------------------------------------------------------------------------- samples


def _samples(values, ids=("A", "B")):
    arr = np.asarray(values, dtype="float32")
    return ForecastSamples(list(ids), [pd.Timestamp("2024-03-04")] * len(ids), arr, "W-MON")


def test_forecast_samples_to_frame_has_one_row_per_series_step_with_quantiles():
    samples = np.stack([np.tile(np.arange(10.0)[:, None], (1, 3)), np.full((10, 3), 7.0)])
    frame = _samples(samples).to_frame()
    assert list(frame.columns) == [S.UNIQUE_ID, S.DS, S.STEP, S.MEAN, "q0.05", "q0.5", "q0.9", "q0.95"]
    assert len(frame) == 6 and frame[S.STEP].tolist() == [1, 2, 3, 1, 2, 3]
    assert frame[S.DS].iloc[2] == pd.Timestamp("2024-03-18")
    a = frame[frame[S.UNIQUE_ID] == "A"].iloc[0]
    assert a[S.MEAN] == 4.5 and a["q0.5"] == 4.5 and a["q0.95"] == pytest.approx(8.55)
    assert (frame.loc[frame[S.UNIQUE_ID] == "B", "q0.05"] == 7).all()


def test_forecast_samples_long_frame_dtypes_and_order():
    long = _samples(np.arange(2 * 3 * 2).reshape(2, 3, 2)).to_samples_frame()
    assert list(long.columns) == [S.UNIQUE_ID, S.STEP, S.DS, S.SAMPLE, S.VALUE]
    assert str(long[S.STEP].dtype) == "int32" and str(long[S.SAMPLE].dtype) == "int32"
    assert str(long[S.VALUE].dtype) == "float32"
    row = long[(long[S.UNIQUE_ID] == "B") & (long[S.SAMPLE] == 2) & (long[S.STEP] == 2)]
    assert row[S.VALUE].item() == 11 and row[S.DS].item() == pd.Timestamp("2024-03-11")


def test_sanity_bound_rejects_non_finite_and_diverged_and_caps_strays():
    ok = np.ones((2, 20, 3), dtype="float32")
    maxima = np.array([2.0, np.nan])
    with pytest.raises(ModelError, match="'A' holds NaN/inf"):
        _bounded(np.where(np.arange(3) == 1, np.nan, ok), ["A", "B"], maxima, 5.0)
    diverged = ok.copy()
    diverged[1] = 1e8  # cold start B: bound from the network's largest value (5)
    with pytest.raises(ModelError, match="'B' has a median of 1e\\+08"):
        _bounded(diverged, ["A", "B"], maxima, 5.0)
    stray = ok.copy()
    stray[0, 0, 0] = 1e6
    out, capped = _bounded(stray, ["A", "B"], maxima, 5.0)
    assert capped == 1 and out[0, 0, 0] == CAP_FACTOR * 2.0 and out[1].max() == 1


# ----------------------------------------------------------------------------- registry
# (a real, tiny fitted model: one in-process fit shared by the module)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from forecasting.core.config import load_settings
    from forecasting.model.fit import fit_model
    from tests.support.deepar_panels import TINY_MODEL

    lake = tmp_path_factory.mktemp("fit") / "lake"
    settings = load_settings(None, lake_uri=str(lake), horizon=HORIZON, model=TINY_MODEL)
    return fit_model(make_panel(), SPEC, settings)


def test_forecast_of_a_site_opening_inside_the_horizon_is_zero_before_it_opens(fitted):
    fs = fitted.predict(_late_opener(make_panel(), weeks=2), seed=1)
    new = fs.ids.index("WH-NEW")
    assert fs.samples.shape[2] == HORIZON and fs.starts[new] == pd.Timestamp(AS_OF)
    assert (fs.samples[new, :, :2] == 0).all() and fs.samples[new, :, 2:].sum() > 0
    frame = fs.to_frame()
    assert len(frame) == len(fs.ids) * HORIZON and frame[S.DS].min() == pd.Timestamp(AS_OF)


@pytest.mark.slow
def test_registry_round_trip_versions_gate_and_latest(fitted, settings_factory):
    from forecasting.model.registry import (
        list_models,
        load_predictor,
        register_model,
        set_gate_status,
    )

    settings = tiny_settings(settings_factory)
    df = make_panel()
    version = register_model(settings, fitted, AS_OF, "snap-1", {"val_loss": 1.0})
    assert version.startswith("deepar-20240304-")
    uri = Lake.from_settings(settings).models(version)
    manifest = Lake.from_settings(settings).read_json(join(uri, "manifest.json"))
    assert manifest["snapshot_id"] == "snap-1" and "gate" not in manifest  # verdicts: the database
    assert manifest["settings"]["horizon"] == HORIZON and "pii_key" not in manifest["settings"]
    assert manifest["code_version"].startswith("0.")
    enc = Lake.from_settings(settings).read_json(join(uri, "encoders.json"))
    assert enc["unseen_index"] == 0 and enc["categories"][S.REGION] == {"north": 1, "south": 2}

    with pytest.raises(ModelError, match="passed the calibration gate"):
        load_predictor(settings)
    loaded = load_predictor(settings, version)  # explicit versions load ungated
    # the default (validation=refit, pool_holdout) keeps the early-stopped network as a member
    assert len(fitted.members) == len(loaded.members) == 1 == fitted.metrics["pooled_networks"] - 1
    assert Lake.from_settings(settings).ls(join(uri, "members")) == ["1"]
    a, b = fitted.predict(df, seed=3), loaded.predict(df, seed=3)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.ids[-1] == "WH-NEW" and a.cold_start == ("WH-NEW",)

    set_gate_status(settings, version, True, {"coverage_p95": 0.95})
    assert load_predictor(settings).metrics["model_version"] == version
    assert register_model(settings, fitted, AS_OF, "snap-1", {}) == version  # the same bytes:
    assert list_models(settings)[S.GATE_PASSED].tolist() == [True]  # the verdict still holds
    retrained = dataclasses.replace(fitted, metrics={**fitted.metrics, "epochs": 99})
    again = register_model(settings, retrained, AS_OF, "snap-1", {})
    assert again == version  # a retrain replaces the version and resets its gate
    assert list_models(settings)[S.GATE_PASSED].tolist() == [None]
    other = register_model(settings, fitted, AS_OF, "snap-2", {})
    assert other != version and len(list_models(settings)) == 2
    with pytest.raises(ModelError, match="not registered"):
        load_predictor(settings, "deepar-19990101-0000000000")


@pytest.mark.slow
def test_predict_is_seeded_non_negative_and_covers_every_series(fitted):
    df = make_panel()
    one, two = fitted.predict(df, num_samples=30, seed=1), fitted.predict(df, num_samples=30, seed=1)
    np.testing.assert_array_equal(one.samples, two.samples)
    assert one.samples.shape == (5, 30, HORIZON)
    assert (one.samples >= 0).all() and np.isfinite(one.samples).all()
    assert not np.array_equal(one.samples, fitted.predict(df, num_samples=30, seed=2).samples)
    # pooled networks: paths split between them, the first takes the remainder
    odd = fitted.predict(df, num_samples=31, seed=1).samples
    assert odd.shape == (5, 31, HORIZON)
    np.testing.assert_array_equal(odd[:, :16], fitted.predict(df, num_samples=32, seed=1).samples[:, :16])
    with pytest.raises(ModelError, match="fewer than the model's 2 pooled networks"):
        fitted.predict(df, num_samples=1)


@pytest.fixture(scope="module")
def s3_endpoint():
    from tests.support.deepar_panels import moto_server

    server, endpoint = moto_server()
    yield endpoint
    server.stop()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_registry_on_s3(fitted, s3_endpoint, settings_factory, monkeypatch, tmp_path):
    from forecasting.model.registry import (
        list_models,
        load_predictor,
        register_model,
        set_gate_status,
    )
    from tests.support.deepar_panels import use_s3

    lake_uri = use_s3(monkeypatch, tmp_path, s3_endpoint, "model-registry")
    settings = tiny_settings(settings_factory, lake_uri=lake_uri)
    version = register_model(settings, fitted, AS_OF, "snap-s3", {})
    assert list_models(settings)[S.MODEL_URI].tolist() == [f"{lake_uri}/models/{version}"]
    set_gate_status(settings, version, True, {})
    df = make_panel()
    np.testing.assert_array_equal(
        load_predictor(settings).predict(df, seed=0).samples, fitted.predict(df, seed=0).samples
    )
