"""The backtest driver: windows, no leakage across cutoffs, bad input, cold start, the gate.

The DeepAR fit is replaced by a small deterministic count model (a test double for the
*model*; the backtest code, the statsforecast baselines, calibration, metrics and files
are the real ones). The real DeepAR path runs in ``test_backtest_cli_runs_real_deepar``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecasting.backtest.engine import DEEPAR_RAW, RISKCAST, run_backtest
from forecasting.backtest.run import BacktestOptions, backtest_cli, backtest_panel
from forecasting.core.errors import CalibrationGateError, InputError
from forecasting.core.lake import Lake
from forecasting.core.schema import CUTOFF, DS, METRIC, MODEL, REGION, SEGMENT, UNIQUE_ID, Y
from tests.support.backtest_toys import FAST, SPEC, toy_fit, toy_panel


def _run(settings, df=None, **kw):
    log: list = []
    kw.setdefault("fit", toy_fit(log))
    kw.setdefault("models", FAST)
    res = run_backtest(df if df is not None else toy_panel(), SPEC, settings, horizon=6, num_samples=200, **kw)
    return res, log


def test_cutoffs_frame_and_metrics(settings_factory):
    res, _ = _run(settings_factory(backtest_cutoffs="latest"), windows=3)
    assert [str(c.date()) for c in res.plan.cutoffs] == ["2021-10-01", "2022-04-01", "2022-10-01"]
    assert [str(c.date()) for c in res.plan.calibration] == ["2021-04-01"]
    frame = res.frame
    assert set(frame[MODEL]) == set(FAST)
    assert frame.groupby(MODEL).size().nunique() == 1  # every model scored on the same rows
    assert len(frame) == len(FAST) * 8 * 3 * 6
    for col in ("model", "unique_id", "cutoff", "ds", "step", "y", "mean", "q0.05", "q0.5", "q0.9", "q0.95"):
        assert col in frame.columns
    qs = frame[["q0.05", "q0.5", "q0.9", "q0.95"]].to_numpy()
    assert (np.diff(qs, axis=1) >= 0).all()
    assert set(res.metrics[SEGMENT]) == {"all", "north", "south"}
    assert {"mean_wQL", "coverage_strict_0.95", "interval_coverage_0.90", "MASE"} <= set(res.metrics[METRIC])


def test_anchored_cutoffs_stay_put_as_the_panel_grows(settings_factory):
    settings = settings_factory()  # backtest_cutoffs: anchored (the default)
    plans = [_run(settings, toy_panel(n), windows=2)[0].plan for n in (40, 41, 42, 43, 44, 45)]
    grid = {(c.year - 2000) * 12 + c.month - 1 for p in plans for c in [*p.calibration, *p.cutoffs]}
    assert all(g % 6 == 0 for g in grid)  # every cutoff on the grid of 6 months from 2000-01
    assert len({tuple(p.cutoffs) for p in plans}) <= 2  # a new cutoff joins once per 6 months
    assert all(p.periods[-1] - p.cutoffs[-1] >= pd.Timedelta(days=6 * 28) for p in plans)


def test_no_future_data_reaches_a_fit_or_forecast(settings_factory):
    settings = settings_factory()
    base = toy_panel()
    spiked = base.copy()
    last = spiked[DS].max()
    spiked.loc[spiked[DS] == last, Y] = 1e6  # only the final period changes
    res_a, log = _run(settings, base, windows=3)
    res_b, _ = _run(settings, spiked, windows=3)
    cutoffs = [*res_a.plan.calibration, *res_a.plan.cutoffs]
    fits = [entry for entry in log if entry[0] == "fit"]
    preds = [entry for entry in log if entry[0] == "predict"]
    assert [f[1] for f in fits] == cutoffs and [p[1] for p in preds] == cutoffs
    forecast_cols = ["mean", "q0.05", "q0.5", "q0.9", "q0.95"]
    a, b = res_a.frame, res_b.frame
    pd.testing.assert_frame_equal(a[forecast_cols], b[forecast_cols])  # every model, every window
    assert res_a.window_levels == res_b.window_levels
    assert res_a.ensemble.window_weights == res_b.ensemble.window_weights  # fitted on earlier windows
    assert (b.loc[b[DS] == last, Y] == 1e6).all()


def test_refit_setting_reuses_onetoy_fit(settings_factory):
    _, log = _run(settings_factory(refit_every_window=False), windows=2)
    assert sum(1 for e in log if e[0] == "fit") == 1
    assert sum(1 for e in log if e[0] == "predict") == 3


def test_cold_start_series_never_reach_atoy_fit(settings_factory):
    res, log = _run(settings_factory(), windows=2, cold_start_share=0.25, seed=3)
    assert len(res.cold_start) == 2
    for kind, _, ids in log:
        if kind == "fit":
            assert not ids & set(res.cold_start)
    seg = res.metrics[res.metrics[SEGMENT] == "cold_start"]
    assert set(seg[MODEL]) == set(FAST)


def test_too_short_panel_names_the_maximum_windows(settings_factory):
    with pytest.raises(InputError, match=r"maximum is --windows 4"):
        _run(settings_factory(), windows=9)  # 40 periods, 13 training + 6 per window
    with pytest.raises(InputError, match="horizon .* longer than the history"):
        run_backtest(toy_panel(5), SPEC, settings_factory(), horizon=6, windows=1, fit=toy_fit([]), models=FAST)


def test_all_missing_series_are_skipped_and_gappy_ones_scored_where_observed(settings_factory):
    df = toy_panel()
    df.loc[df[UNIQUE_ID] == "s1", Y] = np.nan
    gap = df[DS].max()
    df.loc[(df[UNIQUE_ID] == "s2") & (df[DS] == gap), Y] = np.nan  # a drop that never arrived
    res, _ = _run(settings_factory(), df, windows=2)
    assert res.checks.all_missing == ["s1"] and res.checks.missing_in_windows == ["s2"]
    assert "s1" not in set(res.frame[UNIQUE_ID])
    s2 = res.frame[res.frame[UNIQUE_ID] == "s2"]
    assert len(s2) and gap not in set(s2[DS]) and s2[Y].notna().all()  # scored, never on the gap


def test_a_period_missing_at_every_site_does_not_empty_the_backtest(settings_factory):
    df = toy_panel()
    df.loc[df[DS] == df[DS].max(), Y] = np.nan  # one whole drop lost
    res, _ = _run(settings_factory(), df, windows=2)
    assert not res.checks.all_missing and len(res.frame) and res.frame[Y].notna().all()


def _csv(tmp_path, df) -> str:
    path = tmp_path / "panel.csv"
    df.rename(columns={UNIQUE_ID: "part", DS: "month", Y: "sales"}).to_csv(path, index=False)
    return str(path)


def _opts(path, out, **kw) -> BacktestOptions:
    base = dict(panel_path=path, out_dir=str(out), freq="M", horizon=6, windows=2,
                id_col="part", time_col="month", target_col="sales")
    base.update(kw)
    return BacktestOptions(**base)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda d: d.assign(part=d["part"].where(d.index != 7, None)), "part"),
        (lambda d: d.assign(sales=d["sales"].astype(object).where(d.index != 3, "seven")), "sales"),
    ],
    ids=["missing-id", "string-target"],
)
def test_bad_user_panels_raise_input_errors(tmp_path, settings_factory, mutate, match):
    raw = toy_panel().rename(columns={UNIQUE_ID: "part", DS: "month", Y: "sales"})
    path = tmp_path / "bad.csv"
    mutate(raw).to_csv(path, index=False)
    with pytest.raises(InputError, match=match):
        backtest_cli(settings_factory(), _opts(str(path), tmp_path / "out"))


def test_gate_blocks_a_miscalibrated_model_after_writing_the_evidence(tmp_path, settings_factory):
    settings = settings_factory()
    out = str(tmp_path / "bt")
    # a nearly Poisson forecast at a tenth of the real level: no choice of levels fixes it
    miscalibrated = toy_fit([], spread=500.0, scale=0.1)
    with pytest.raises(CalibrationGateError, match=r"q=0\.95: coverage_strict .* FAIL") as err:
        backtest_panel(settings, toy_panel(), SPEC, Lake(out), out, source="toy", horizon=6, windows=3,
                       fit=miscalibrated, models=FAST, member_fits={})  # no member to rescue it
    assert "FAIL" in str(err.value)
    assert "alert sent" in str(err.value)
    gate = json.loads((tmp_path / "bt" / "gate.json").read_text())
    assert gate["passed"] is False
    for name in ("backtest.parquet", "metrics.csv", "calibration.json", "report.html"):
        assert (tmp_path / "bt" / name).exists()
    outbox = Lake.from_settings(settings).outbox
    alerts = [json.loads(line) for line in Lake.from_settings(settings).read_text(outbox).splitlines()]
    assert [a["kind"] for a in alerts] == ["gate"]
    assert "q=0.95" in alerts[0]["summary"] and alerts[0]["links"]["report"].endswith("report.html")


def test_backtest_cli_writes_the_files_for_a_usertoy_panel(tmp_path, settings_factory):
    log: list = []
    path = _csv(tmp_path, toy_panel())
    opts = _opts(path, tmp_path / "out", static_cat=(REGION,))
    try:
        summary = backtest_cli(settings_factory(), opts, fit=toy_fit(log), models=FAST).to_dict()
    except CalibrationGateError:  # the toy model need not pass; the files must exist anyway
        summary = None
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert list(metrics.columns) == ["model", "metric", "value", "segment"]
    assert {RISKCAST, DEEPAR_RAW} <= set(metrics["model"])
    frame = pd.read_parquet(tmp_path / "out" / "backtest.parquet")
    assert frame[CUTOFF].nunique() == 2
    assert (tmp_path / "out" / "report.html").stat().st_size > 10_000
    ensemble = json.loads((tmp_path / "out" / "ensemble.json").read_text())
    assert abs(sum(ensemble["weights"].values()) - 1) < 1e-9 and "deepar" in ensemble["members"]
    # the evaluated windows' sample paths, which the reserves stage judges in euros
    paths = pd.read_parquet(tmp_path / "out" / "paths.parquet")
    assert set(paths[CUTOFF]) == set(frame[CUTOFF]) and paths["sample"].nunique() > 1
    one = paths[(paths[CUTOFF] == paths[CUTOFF].min()) & (paths["sample"] == 0)]
    assert len(one) == frame[frame["model"] == RISKCAST].groupby(CUTOFF).size().iloc[0]
    calibration = json.loads((tmp_path / "out" / "calibration.json").read_text())
    assert set(calibration["window_levels"]) == {str(c.date()) for c in frame[CUTOFF].unique()}
    report = (tmp_path / "out" / "report.html").read_text()
    assert "Published (quantiles combination)" in report and "paired bootstrap p =" in report
    assert {"ensemble", "local_nb"} <= set(metrics["model"]) and {"ensemble", "local_nb"} <= set(frame["model"])
    if summary is not None:
        assert summary["files"]["report"].endswith("report.html")
        json.dumps(summary)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_backtest_cli_runs_real_deepar(tmp_path, settings_factory):
    """The whole path with the production fit (DeepAR NB) and plain GluonTS, tiny budget."""
    settings = settings_factory(
        model={"max_epochs": 2, "batches_per_epoch": 4, "batch_size": 16, "num_samples": 50, "patience": 2},
        backtest_cutoffs="latest",
    )
    path = _csv(tmp_path, toy_panel(36))
    opts = _opts(path, tmp_path / "out", windows=2, static_cat=(REGION,))
    try:
        summary = backtest_cli(settings, opts).to_dict()
    except CalibrationGateError as exc:  # two epochs need not calibrate; the evidence must exist
        summary = exc.summary.to_dict()
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert set(metrics["model"]) == {"riskcast", "ensemble", "best_member", "deepar_raw", "local_nb", "gbm",
                                     "seasonal_naive", "croston_sba", "tsb", "adida"}  # plain GluonTS: opt-in
    assert summary["timings"]["train"] > 0 and summary["cutoffs"] == ["2021-12-01", "2022-06-01"]
    frame = pd.read_parquet(tmp_path / "out" / "backtest.parquet")
    raw = frame[frame[MODEL] == DEEPAR_RAW]
    assert raw["pit_lo"].between(0, 1).all() and (raw["pit_lo"] <= raw["pit_hi"]).all()


def test_backtest_lake_writes_the_stage_files(settings_factory):
    from datetime import date

    from forecasting.backtest.run import backtest_lake
    from forecasting.core.lake import join

    settings = settings_factory(horizon=6, backtest_windows=2, backtest_cutoffs="latest")
    lake, as_of = Lake.from_settings(settings), date(2023, 4, 30)
    panel = toy_panel().assign(is_future=False)
    future = panel[panel[DS] == panel[DS].max()].assign(
        **{DS: panel[DS].max() + pd.offsets.MonthBegin(), Y: np.nan, "is_future": True})
    stage = lake.stage("panel", as_of)
    lake.write_parquet(pd.concat([panel, future], ignore_index=True), join(stage, "panel.parquet"))
    lake.write_json(join(stage, "summary.json"), {"spec": SPEC.to_dict()})
    try:
        summary = backtest_lake(settings, as_of, fit=toy_fit([]), models=FAST).to_dict()
    except CalibrationGateError as exc:
        summary = exc.summary.to_dict()
    out = lake.stage("backtests", as_of)
    assert summary["out_dir"] == out
    for name in ("backtest.parquet", "metrics.csv", "calibration.json", "gate.json", "report.html"):
        assert lake.exists(join(out, name)), name
    cal = lake.read_json(join(out, "calibration.json"))
    assert set(cal["levels"]) == {"0.05", "0.5", "0.9", "0.95"} and cal["fitted_on_windows"]
    frame = lake.read_parquet(join(out, "backtest.parquet"))
    assert frame[DS].max() == panel[DS].max()  # covariate-only future rows are never scored


def test_a_user_panel_backtest_never_alerts_and_records_nothing(tmp_path, settings_factory):
    settings = settings_factory()
    path = _csv(tmp_path, toy_panel())
    miscalibrated = toy_fit([], spread=500.0, scale=0.1)
    with pytest.raises(CalibrationGateError, match="no alert, nothing recorded") as err:
        backtest_cli(settings, _opts(path, tmp_path / "out"), fit=miscalibrated, models=FAST, member_fits={})
    assert "\n" not in str(err.value)
    lake = Lake.from_settings(settings)
    assert not lake.exists(lake.outbox), "an experiment on a user's panel must not page anyone"


def test_backtest_as_of_records_the_verdict_on_the_registered_version(settings_factory):
    from datetime import date

    from forecasting.backtest.run import backtest_lake
    from forecasting.core.lake import join
    from forecasting.model.registry import (
        gate_status,
        model_record,
        model_version,
        record_registration,
    )

    settings = settings_factory(horizon=6, backtest_windows=2, backtest_cutoffs="latest")
    lake, as_of = Lake.from_settings(settings), date(2023, 4, 30)
    stage = lake.stage("panel", as_of)
    panel = toy_panel().assign(is_future=False)
    future = panel[panel[DS] == panel[DS].max()].assign(
        **{DS: panel[DS].max() + pd.offsets.MonthBegin(), Y: np.nan, "is_future": True})
    lake.write_parquet(pd.concat([panel, future], ignore_index=True), join(stage, "panel.parquet"))
    lake.write_json(join(stage, "summary.json"), {"spec": SPEC.to_dict(), "snapshot_id": "snap-x"})
    version = model_version(settings, as_of, "snap-x")
    lake.write_json(lake.model_manifest(version), {
        "model_version": version, "as_of": str(as_of), "snapshot_id": "snap-x", "code_version": "t"})
    lake.write_json(join(lake.models(version), "model.json"), {})  # an artefact to record
    record_registration(settings, version)
    assert gate_status(settings, version, as_of) == (False, "no gate verdict")
    try:
        backtest_lake(settings, as_of, fit=toy_fit([]), models=FAST)
        passed = True
    except CalibrationGateError:
        passed = False
    record = model_record(settings, version)  # the verdict is in the reserves database
    assert abs(sum(record.ensemble.values()) - 1) < 1e-9 and "deepar" in record.ensemble
    assert record.gate_passed is passed and record.gate_snapshot_id == "snap-x" and record.gate_as_of == as_of
    assert gate_status(settings, version, as_of)[0] is passed
    # a rebuilt panel (another snapshot) is not covered by that verdict
    lake.write_json(join(stage, "summary.json"), {"spec": SPEC.to_dict(), "snapshot_id": "snap-y"})
    assert gate_status(settings, version, as_of)[0] is False
