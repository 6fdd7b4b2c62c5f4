"""Backtest windows as Ray tasks: the in-process results exactly, and in process where they must be."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pandas as pd
import pytest

from forecasting.backtest import parallel
from forecasting.backtest.engine import run_backtest
from forecasting.core.errors import ConfigError
from tests.support.backtest_toys import FAST, SPEC, toy_fit, toy_panel

# the production fit (DeepAR NB, refit + holdout), local NB, plain GluonTS, statsforecast: tiny budget
TINY = {"max_epochs": 2, "batches_per_epoch": 4, "batch_size": 16, "num_samples": 50, "patience": 2}


def _no_ray(*args, **kwargs):
    raise AssertionError("these windows must run in process")


def test_one_worker_runs_the_windows_in_process(settings_factory, monkeypatch):
    monkeypatch.setattr(parallel, "_independent", _no_ray)
    log: list = []
    run_backtest(toy_panel(), SPEC, settings_factory(), horizon=6, windows=2, fit=toy_fit(log), models=FAST)
    assert sum(1 for e in log if e[0] == "fit") == 3  # calibration window + 2 evaluated


def test_without_refit_one_fit_serves_every_window_in_process(settings_factory, monkeypatch):
    monkeypatch.setattr(parallel, "_independent", _no_ray)
    log: list = []
    settings = settings_factory(refit_every_window=False, backtest_workers=2)
    run_backtest(toy_panel(), SPEC, settings, horizon=6, windows=2, fit=toy_fit(log), models=FAST)
    assert [e[0] for e in log].count("fit") == 1 and [e[0] for e in log].count("predict") == 3


def test_warm_started_windows_run_in_process_in_cutoff_order(settings_factory, monkeypatch):
    monkeypatch.setattr(parallel, "_independent", _no_ray)
    seen: list = []

    def warm_fit(train, spec, settings, *, seed, horizon, init=None, patience=None):
        seen.append((train["ds"].max(), init, patience))
        model = toy_fit([])(train, spec, settings, seed=seed, horizon=horizon)
        model.warm_state = lambda: [{"cutoff": train["ds"].max()}]
        return model

    run_backtest(toy_panel(), SPEC, settings_factory(backtest_workers=2), horizon=6, windows=2, fit=warm_fit,
                 models=FAST)
    cutoffs = [c for c, _, _ in seen]
    assert cutoffs == sorted(cutoffs) and len(cutoffs) == 3
    assert seen[0][1] is None and seen[0][2] is None  # the first from scratch, default patience
    assert [i[0]["cutoff"] for _, i, _ in seen[1:]] == cutoffs[:-1]  # each from the window before
    assert {p for _, _, p in seen[1:]} == {1}


def test_backtest_workers_is_a_setting(settings_factory, monkeypatch):
    monkeypatch.setenv("RISKCAST_BACKTEST_WORKERS", "0")
    assert settings_factory().backtest_workers == 0
    with pytest.raises(ConfigError, match="backtest_workers"):
        settings_factory(backtest_workers=-1)


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_ray_workers_give_the_sequential_frame_and_metrics(ray_local, settings_factory, monkeypatch):
    on_ray = []
    real = parallel._independent
    monkeypatch.setattr(parallel, "_independent", lambda *a: on_ray.append(a[3].backtest_workers) or real(*a))
    res, wall = {}, {}
    for workers in (1, 2):
        t0 = time.perf_counter()
        # warm-started windows form a chain (in process): independent windows go to Ray
        settings = settings_factory(backtest_workers=workers, model=TINY, backtest_warm_start=False,
                                    backtest_baselines=("gluonts_deepar", "seasonal_naive", "croston_sba"))
        res[workers] = run_backtest(toy_panel(36), SPEC, settings, horizon=6, windows=2)
        wall[workers] = time.perf_counter() - t0
    print(f"backtest wall: in process {wall[1]:.1f} s, 2 Ray workers {wall[2]:.1f} s")
    assert on_ray == [2]
    seq, par = res[1], res[2]
    assert {"riskcast", "deepar_raw", "local_nb", "gluonts_deepar", "croston_sba"} <= set(seq.frame["model"])
    pd.testing.assert_frame_equal(seq.frame, par.frame, check_exact=True)
    pd.testing.assert_frame_equal(seq.metrics, par.metrics, check_exact=True)
    assert _same(asdict(seq.calibration), asdict(par.calibration))
    assert _same(asdict(seq.ensemble), asdict(par.ensemble))
    assert seq.window_levels == par.window_levels and seq.capped == par.capped
    assert set(seq.timings) == set(par.timings)


@pytest.mark.slow
def test_windows_that_need_more_cpus_than_local_ray_has_fail_fast(ray_local, settings_factory):
    settings = settings_factory(backtest_workers=2, model={"num_threads": 3}, backtest_warm_start=False)
    with pytest.raises(ConfigError, match="model.num_threads=3 CPUs but the local Ray has 2"):
        run_backtest(toy_panel(), SPEC, settings, horizon=6, windows=2, fit=toy_fit([]), models=FAST)
