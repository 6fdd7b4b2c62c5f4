"""forecasting.forecast: quantiles and sample paths for every site, from a registered model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema as S
from forecasting.core.errors import ModelError
from forecasting.forecast import forecast_panel
from tests.support.deepar_panels import (
    AS_OF,
    HORIZON,
    SPEC,
    TINY_MODEL,
    make_panel,
    tiny_settings,
    write_lake_panel,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from forecasting.core.config import load_settings
    from forecasting.model.fit import fit_model

    lake = tmp_path_factory.mktemp("fit") / "lake"
    settings = load_settings(None, lake_uri=str(lake), horizon=HORIZON, model=TINY_MODEL)
    return fit_model(make_panel(), SPEC, settings)


@pytest.fixture
def lake_with_model(fitted, settings_factory):
    """Settings whose lake has the AS_OF panel and one registered, gate-passed model."""
    from forecasting.model.registry import register_model, set_gate_status

    settings = tiny_settings(settings_factory)
    snapshot = write_lake_panel(settings, make_panel())
    version = register_model(settings, fitted, AS_OF, snapshot, fitted.metrics)
    set_gate_status(settings, version, True, {"coverage_p95": 0.95})
    return settings, version


def test_forecast_writes_quantiles_and_paths_for_every_site(lake_with_model):
    settings, version = lake_with_model
    summary = forecast_panel(settings, AS_OF)
    assert summary.model_version == version and summary.series == 5
    assert summary.cold_start == ["WH-NEW"] and summary.capped_values == 0
    assert summary.first_period == str(AS_OF) and summary.horizon == HORIZON
    assert summary.partly_observed["days_observed"] == 1, "a Monday's week is under way, not next week"
    q = pd.read_parquet(summary.quantiles_uri)
    assert list(q.columns) == [S.UNIQUE_ID, S.DS, S.STEP, S.MEAN, "q0.05", "q0.5", "q0.9", "q0.95",
                               S.MODEL_VERSION]
    assert sorted(q[S.UNIQUE_ID].unique()) == ["WH-00", "WH-01", "WH-02", "WH-03", "WH-NEW"]
    assert len(q) == 5 * HORIZON and (q[S.MODEL_VERSION] == version).all()
    levels = q[["q0.05", "q0.5", "q0.9", "q0.95"]].to_numpy()
    assert (np.diff(levels, axis=1) >= 0).all() and (levels >= 0).all()
    assert q.loc[q[S.UNIQUE_ID] == "WH-NEW", "q0.95"].notna().all()

    paths = pd.read_parquet(summary.samples_uri)
    assert list(paths.columns) == [S.UNIQUE_ID, S.STEP, S.DS, S.SAMPLE, S.VALUE]
    assert len(paths) == 5 * settings.model.num_samples * HORIZON
    assert str(paths[S.VALUE].dtype) == "float32" and str(paths[S.SAMPLE].dtype) == "int32"
    p95 = paths.groupby([S.UNIQUE_ID, S.STEP])[S.VALUE].quantile(0.95).to_numpy()
    np.testing.assert_allclose(p95, q["q0.95"].to_numpy(), rtol=1e-5)


def test_rerun_writes_byte_identical_files(lake_with_model):
    settings, _ = lake_with_model
    first = forecast_panel(settings, AS_OF)
    before = {u: Path(u).read_bytes() for u in (first.quantiles_uri, first.samples_uri)}
    forecast_panel(settings, AS_OF)
    assert {u: Path(u).read_bytes() for u in before} == before


def test_every_version_needs_a_gate_verdict_on_this_panel_or_the_audited_override(
    fitted, settings_factory
):
    from typer.testing import CliRunner

    from forecasting.cli import app
    from forecasting.model.registry import register_model

    settings = tiny_settings(settings_factory)
    snapshot = write_lake_panel(settings, make_panel())
    version = register_model(settings, fitted, AS_OF, snapshot, {})
    with pytest.raises(ModelError, match="passed the calibration gate"):
        forecast_panel(settings, AS_OF)
    env = {"RISKCAST_LAKE_URI": settings.lake_uri, "RISKCAST_HORIZON": str(HORIZON),
           "RISKCAST_MODEL__NUM_SAMPLES": "20", "RISKCAST_RESERVES_URL": settings.reserves_url}
    runner = CliRunner()
    refused = runner.invoke(app, ["forecast", "--as-of", str(AS_OF)], env=env)
    assert refused.exit_code == 2 and "calibration gate" in refused.output
    # the refusal names the way around it: the registered version, with the audited override
    assert f"--model-version {version} --allow-ungated" in " ".join(refused.output.split())
    explicit = runner.invoke(app, ["forecast", "--as-of", str(AS_OF), "--model-version", version], env=env)
    assert explicit.exit_code == 2 and "no gate verdict" in explicit.output
    assert "riskcast backtest --as-of" in explicit.output and "--allow-ungated" in explicit.output
    ok = runner.invoke(app, ["forecast", "--as-of", str(AS_OF), "--model-version", version,
                             "--allow-ungated"], env=env)
    assert ok.exit_code == 0, ok.output
    assert version in ok.output and "no gate verdict" in ok.output


def test_forecast_publishes_the_ensemble_the_backtest_chose_as_whole_paths(lake_with_model):
    from forecasting.model.members.local_nb import LOCAL_NB, fit_local
    from forecasting.model.registry import ensemble_weights, load_predictor, set_gate_status
    from forecasting.panel.build import read_panel

    settings, version = lake_with_model
    settings = settings.model_copy(update={"ensemble_combination": "paths"})  # whole-path mixing
    alone = forecast_panel(settings, AS_OF)
    assert alone.ensemble == {"deepar": 1.0}  # no weights recorded with the verdict: DeepAR alone
    deepar_paths = pd.read_parquet(alone.samples_uri)
    # the registry round-trips the ensemble the gating backtest chose, next to the DeepAR it mixes
    set_gate_status(settings, version, True, {}, ensemble={"deepar": 0.5, LOCAL_NB: 0.5, "gone": 0.0})
    assert ensemble_weights(settings, version) == {"deepar": 0.5, LOCAL_NB: 0.5}
    assert load_predictor(settings, version).metrics["model_version"] == version
    summary = forecast_panel(settings, AS_OF)
    assert summary.ensemble == {"deepar": 0.5, LOCAL_NB: 0.5}
    paths = pd.read_parquet(summary.samples_uri)
    n = settings.model.num_samples
    half = paths[S.SAMPLE] < n // 2
    pd.testing.assert_frame_equal(paths[half].reset_index(drop=True),
                                  deepar_paths[deepar_paths[S.SAMPLE] < n // 2].reset_index(drop=True))
    df, spec = read_panel(settings, AS_OF)
    local = fit_local(df, spec, settings, seed=settings.model.seed, horizon=HORIZON).predict(
        df, num_samples=n, seed=settings.model.seed)
    # each published path of the second half is a whole local path: its period total too
    totals = paths[~half].groupby([S.UNIQUE_ID, S.SAMPLE])[S.VALUE].sum().unstack().to_numpy()
    np.testing.assert_allclose(totals, local.samples[:, : n - n // 2].sum(axis=2))


def test_forecast_mixes_the_gbm_member_and_falls_back_to_deepar_when_a_member_fails(lake_with_model, monkeypatch):
    from forecasting import forecast as stage
    from forecasting.core.errors import InputError
    from forecasting.model.members.gbm import GBM, fit_gbm
    from forecasting.model.members.local_nb import LOCAL_NB
    from forecasting.model.mixture import mixture_shares
    from forecasting.model.registry import set_gate_status
    from forecasting.panel.build import read_panel

    settings, version = lake_with_model
    settings = settings.model_copy(update={"ensemble_combination": "paths"})  # whole-path mixing
    alone = pd.read_parquet(forecast_panel(settings, AS_OF).samples_uri)
    weights = {"deepar": 0.4, LOCAL_NB: 0.3, GBM: 0.3}
    set_gate_status(settings, version, True, {}, ensemble=weights)
    summary = forecast_panel(settings, AS_OF)
    assert summary.ensemble == weights
    paths = pd.read_parquet(summary.samples_uri)
    n = settings.model.num_samples
    df, spec = read_panel(settings, AS_OF)
    gbm = fit_gbm(df, spec, settings, seed=settings.model.seed, horizon=HORIZON).predict(
        df, num_samples=n, seed=settings.model.seed)
    # the members' blocks of paths follow the recorded order; gbm's block is its first paths
    order = list(summary.ensemble)
    shares = mixture_shares([summary.ensemble[m] for m in order], n)
    start = sum(shares[: order.index(GBM)])
    block = paths[paths[S.SAMPLE].between(start, start + shares[order.index(GBM)] - 1)]
    totals = block.groupby([S.UNIQUE_ID, S.SAMPLE])[S.VALUE].sum().unstack()
    np.testing.assert_allclose(totals.to_numpy(), gbm.samples[:, : shares[order.index(GBM)]].sum(axis=2))

    def broken(*args, **kwargs):
        raise InputError("gbm member: no observed positive targets to learn from")

    monkeypatch.setitem(stage.MEMBER_FITS, GBM, broken)
    fallback = forecast_panel(settings, AS_OF)
    assert fallback.ensemble == {"deepar": 1.0}
    pd.testing.assert_frame_equal(pd.read_parquet(fallback.samples_uri), alone)


def test_forecast_averages_member_quantiles_in_deepars_path_ranks(lake_with_model):
    from forecasting.model.members.local_nb import LOCAL_NB, fit_local
    from forecasting.model.registry import set_gate_status
    from forecasting.panel.build import read_panel

    settings, version = lake_with_model  # ensemble_combination: quantiles (the default)
    set_gate_status(settings, version, True, {}, ensemble={"deepar": 1.0})
    deepar = pd.read_parquet(forecast_panel(settings, AS_OF).samples_uri)
    set_gate_status(settings, version, True, {}, ensemble={"deepar": 0.6, LOCAL_NB: 0.4})
    paths = pd.read_parquet(forecast_panel(settings, AS_OF).samples_uri)
    n = settings.model.num_samples
    df, spec = read_panel(settings, AS_OF)
    local = fit_local(df, spec, settings, seed=settings.model.seed, horizon=HORIZON).predict(
        df, num_samples=n, seed=settings.model.seed)

    def cube(frame):
        return frame.sort_values([S.UNIQUE_ID, S.SAMPLE, S.STEP])[S.VALUE].to_numpy().reshape(len(local.ids), n, -1)

    mixed, ref = cube(paths), cube(deepar)
    lo, hi = np.minimum(np.median(ref, 1), np.median(local.samples, 1)), np.maximum(
        np.median(ref, 1), np.median(local.samples, 1))
    med = np.median(mixed, axis=1)
    assert ((lo <= med) & (med <= hi)).all()  # the median stays where the members put it
    assert np.array_equal(mixed, np.round(mixed))
    ranks = np.argsort(np.argsort(ref, axis=1, kind="stable"), axis=1, kind="stable")
    assert np.array_equal(np.take_along_axis(np.sort(mixed, axis=1), ranks, axis=1), mixed)  # DeepAR's ranks
