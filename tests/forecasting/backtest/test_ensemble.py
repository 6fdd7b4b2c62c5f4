"""The backtest ensemble: weights from earlier windows only, failed members weigh 0."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.backtest.engine import DEEPAR_RAW, RISKCAST, run_backtest
from forecasting.backtest.ensemble import ENSEMBLE, choose_ensemble, greedy_weights, window_arrays
from forecasting.core.schema import CUTOFF, DS, MODEL, STEP, UNIQUE_ID, Y
from forecasting.model.members.gbm import GBM
from forecasting.model.members.local_nb import LOCAL_NB, fit_local
from forecasting.model.mixture import DEEPAR
from forecasting.model.samples import ForecastSamples
from tests.support.backtest_toys import SPEC, toy_fit, wide_panel

MODELS = (RISKCAST, ENSEMBLE, DEEPAR_RAW, LOCAL_NB, GBM)


def _mean_wql(res) -> dict[str, float]:
    m = res.metrics[(res.metrics["metric"] == "mean_wQL") & (res.metrics["segment"] == "all")]
    return dict(zip(m[MODEL], m["value"], strict=True))


class _Wild:
    """A member that diverges: forecasts a billion incidents."""

    def predict(self, ctx, num_samples):
        ids = sorted(ctx[UNIQUE_ID].astype(str).unique())
        last = ctx.groupby(UNIQUE_ID)[DS].max()
        return ForecastSamples(ids, [last[i] + pd.offsets.MonthBegin() for i in ids],
                               np.full((len(ids), num_samples, 6), 1e9, "float32"), "MS")


def _wild(train, spec, settings, *, seed, horizon):
    return _Wild()


def _broken(train, spec, settings, *, seed, horizon):
    raise RuntimeError("member could not fit")


def test_a_poor_deepar_is_helped_by_the_other_members(settings_factory):
    # DeepAR double at a third of the level: local NB and the GBM are far better, the greedy weights see it
    res = run_backtest(wide_panel(), SPEC, settings_factory(), horizon=6, windows=3, num_samples=200,
                       fit=toy_fit([], scale=0.3), models=MODELS)
    assert set(res.frame[MODEL]) == set(MODELS)
    choice = res.ensemble
    assert choice.weights.get(DEEPAR, 0) < 0.5 and abs(sum(choice.weights.values()) - 1) < 1e-9
    assert set(choice.weights) <= {DEEPAR, LOCAL_NB, GBM} and not choice.failed
    wql = _mean_wql(res)
    assert wql[ENSEMBLE] < wql[DEEPAR_RAW]
    first = min(choice.window_weights)
    assert choice.window_weights[first] == {DEEPAR: 1.0}  # the first window has nothing earlier
    assert choice.scores[ENSEMBLE] <= min(choice.scores[DEEPAR], choice.scores[LOCAL_NB]) + 1e-9


def test_diverging_and_failing_members_get_weight_zero_and_are_reported(settings_factory):
    fits = {LOCAL_NB: fit_local, "wild": _wild, "broken": _broken}
    res = run_backtest(wide_panel(), SPEC, settings_factory(), horizon=6, windows=3, num_samples=200,
                       fit=toy_fit([]), models=MODELS, member_fits=fits)
    choice = res.ensemble
    assert "diverged" in choice.failed["wild"][0] and "could not fit" in choice.failed["broken"][0]
    assert len(choice.failed["wild"]) == 4  # every window (calibration window included)
    for weights in [choice.weights, *choice.window_weights.values()]:
        assert "wild" not in weights and "broken" not in weights
    assert set(res.frame[MODEL]) == set(MODELS) - {GBM}  # failed members have no rows; gbm is not asked for
    assert np.isfinite(res.frame[["q0.5", "q0.95"]].to_numpy()).all()
    assert res.frame["q0.95"].max() < 1e3


def test_window_weights_ignore_the_window_and_later_ones():
    """Changing the actuals of window k changes no weight of windows up to k."""
    rng = np.random.default_rng(0)
    cutoffs = pd.date_range("2021-01-01", periods=4, freq="6MS")

    def window(c, scale):
        ids = [f"s{i}" for i in range(20)]
        starts = [c + pd.offsets.MonthBegin()] * 20
        deepar = ForecastSamples(ids, starts, rng.poisson(2.0, (20, 100, 6)).astype("float32"), "MS")
        local = ForecastSamples(ids, starts, rng.poisson(4.0, (20, 100, 6)).astype("float32"), "MS")
        rows = pd.DataFrame({UNIQUE_ID: np.repeat(ids, 6), STEP: np.tile(np.arange(1, 7), 20),
                             DS: np.tile(pd.date_range(starts[0], periods=6, freq="MS"), 20),
                             Y: rng.poisson(4.0 * scale, 120).astype(float), CUTOFF: c})
        return window_arrays(c, rows, deepar, {LOCAL_NB: local})

    rng = np.random.default_rng(0)
    base = [window(c, 1.0) for c in cutoffs]
    changed = [*base[:3], base[3]]
    changed[3].y = changed[3].y * 0 + 50.0
    a = choose_ensemble(base, {}, {LOCAL_NB: fit_local})
    b = choose_ensemble(changed, {}, {LOCAL_NB: fit_local})
    assert a.window_weights == b.window_weights
    assert a.window_weights[str(cutoffs[1].date())][LOCAL_NB] > 0.5  # local is the right level
    assert greedy_weights([], [DEEPAR, LOCAL_NB]) == {DEEPAR: 1.0}
