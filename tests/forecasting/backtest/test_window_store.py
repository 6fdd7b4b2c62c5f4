"""Stored backtest windows: reuse, invalidation by a restated day, warm starts that never see later data."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from forecasting.backtest.engine import fit_riskcast, run_backtest
from forecasting.backtest.ensemble import member_fits
from forecasting.backtest.run import BacktestOptions, backtest_cli
from forecasting.backtest.window_store import WindowStore, config_digest
from forecasting.backtest.windows import window_frames
from forecasting.core.errors import CalibrationGateError
from forecasting.core.lake import Lake
from forecasting.core.schema import CUTOFF, DS, MODEL, REGION, UNIQUE_ID, Y
from tests.support.backtest_toys import FAST, SPEC, toy_fit, toy_panel

FILES = ("backtest.parquet", "metrics.csv", "metrics_by_step.csv", "calibration.json", "gate.json", "ensemble.json")
TINY = {"max_epochs": 3, "batches_per_epoch": 4, "batch_size": 16, "num_samples": 40, "patience": 2}


def _cli(settings, tmp_path, df, out, log, windows=2):
    path = tmp_path / f"panel-{len(df)}-{abs(hash(df[Y].sum()))}.csv"
    df.to_csv(path, index=False)
    opts = BacktestOptions(panel_path=str(path), out_dir=str(out), freq="MS", horizon=6, windows=windows,
                           static_cat=(REGION,))
    try:
        return backtest_cli(settings, opts, fit=toy_fit(log), models=FAST)
    except CalibrationGateError as exc:
        return exc.summary


def _fits(log) -> list[pd.Timestamp]:
    return [e[1] for e in log if e[0] == "fit"]


def _bytes(out) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in FILES}


def test_a_rerun_reuses_every_window_and_writes_the_same_bytes(settings_factory, tmp_path):
    settings, out, df = settings_factory(), tmp_path / "out", toy_panel(42)
    first, second = [], []
    s1 = _cli(settings, tmp_path, df, out, first)
    cold = _bytes(out)
    s2 = _cli(settings, tmp_path, df, out, second)
    assert len(_fits(first)) == 3 and _fits(second) == []  # calibration + 2 evaluated windows
    assert set(s1.window_origins.values()) == {"fitted"} and set(s2.window_origins.values()) == {"reused"}
    assert _bytes(out) == cold


def test_next_weeks_panel_reuses_the_anchored_windows(settings_factory, tmp_path):
    settings, log = settings_factory(), []
    grown = toy_panel(42)  # cutoffs on the grid of 6 months from 2000-01: the same for 41 and 42 periods
    _cli(settings, tmp_path, grown[grown[DS] < grown[DS].max()], tmp_path / "a", log)  # last week's panel
    later: list = []
    summary = _cli(settings, tmp_path, grown, tmp_path / "a", later)
    assert set(summary.window_origins.values()) == {"reused"} and _fits(later) == []


def test_a_restated_day_invalidates_exactly_the_windows_that_saw_it(settings_factory, tmp_path):
    settings, out, df = settings_factory(), tmp_path / "out", toy_panel(42)
    log: list = []
    summary = _cli(settings, tmp_path, df, out, log, windows=3)
    cutoffs = [pd.Timestamp(c) for c in summary.window_origins]
    restated_day = cutoffs[1] - pd.offsets.MonthBegin()  # after cutoff 0, on or before cutoffs 1..
    restated = df.copy()
    restated.loc[(restated[DS] == restated_day) & (restated[UNIQUE_ID] == "s3"), Y] += 7
    again: list = []
    reused = _cli(settings, tmp_path, restated, out, again, windows=3)
    assert _fits(again) == [c for c in cutoffs if c >= restated_day], (_fits(again), cutoffs, restated_day)
    assert reused.window_origins[str(cutoffs[0].date())] == "reused"
    # what is reused is what a cold run on the restated panel gives (its scores see the restated actual)
    cold = _cli(settings, tmp_path, restated, tmp_path / "cold", [], windows=3)
    assert cold.window_origins == dict.fromkeys(reused.window_origins, "fitted")
    a, b = pd.read_parquet(out / "backtest.parquet"), pd.read_parquet(tmp_path / "cold" / "backtest.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_a_damaged_stored_window_is_fitted_again(settings_factory, tmp_path):
    settings, out, df = settings_factory(), tmp_path / "out", toy_panel(42)
    _cli(settings, tmp_path, df, out, [])
    cold = _bytes(out)
    damaged = sorted((out / "backtest_windows").rglob("forecasts.npz"))[0]
    damaged.write_bytes(damaged.read_bytes()[:-10] + b"0123456789")
    log: list = []
    summary = _cli(settings, tmp_path, df, out, log)
    assert len(_fits(log)) == 1 and sorted(summary.window_origins.values()).count("reused") == 2
    assert _bytes(out) == cold


def _deepar_weights(settings, lake, df, cutoff):
    digest = config_digest(settings, SPEC, horizon=6, seed=0, num_samples=40, deepar=True, fit=fit_riskcast,
                           member_fits=member_fits(settings))
    store = WindowStore(lake, digest)
    return store.load_weights(store.locate(window_frames(df, SPEC, cutoff, 6, [])))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_warm_window_depends_only_on_data_up_to_its_cutoff(settings_factory, tmp_path):
    """Real DeepAR: perturbing data after the second cutoff leaves windows 1 and 2 (the second
    warm-started from the first) identical to the last bit, and changes the third."""
    settings = settings_factory(model=TINY, backtest_cutoffs="latest")
    models = ("riskcast", "deepar_raw", "local_nb", "gbm")
    base = toy_panel(40)
    res = run_backtest(base, SPEC, settings, horizon=6, windows=2, models=models, store_lake=Lake(str(tmp_path / "a")))
    cutoffs = [*res.plan.calibration, *res.plan.cutoffs]
    assert list(res.origins.values()) == ["fitted", f"warm start from {cutoffs[0].date()}",
                                          f"warm start from {cutoffs[1].date()}"]
    later = base.copy()
    later.loc[later[DS] > cutoffs[1], Y] *= 3
    other = run_backtest(later, SPEC, settings, horizon=6, windows=2, models=models,
                         store_lake=Lake(str(tmp_path / "b")))
    for k, cutoff in enumerate(cutoffs):
        wa = _deepar_weights(settings, Lake(str(tmp_path / "a")), base, cutoff)
        wb = _deepar_weights(settings, Lake(str(tmp_path / "b")), later, cutoff)
        same = all(torch.equal(x[n], y[n]) for x, y in zip(wa, wb, strict=True) for n in x)
        assert same == (k < 2), cutoff
    rows = [f[(f[MODEL] == "deepar_raw") & (f[CUTOFF] == cutoffs[1])].drop(columns=["y", "pit_lo", "pit_hi"])
            for f in (res.frame, other.frame)]
    pd.testing.assert_frame_equal(rows[0].reset_index(drop=True), rows[1].reset_index(drop=True), check_exact=True)
