"""Selection that needs evidence: a blend that wins by noise is refused, one that wins clearly is taken."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.backtest.ensemble import Rule, choose_ensemble, select, window_arrays
from forecasting.backtest.evidence import paired_test
from forecasting.core.schema import CUTOFF, DS, STEP, UNIQUE_ID, Y
from forecasting.model.members.local_nb import LOCAL_NB
from forecasting.model.mixture import DEEPAR
from forecasting.model.samples import ForecastSamples

N, S, H = 150, 200, 6


def _windows(deepar_rate: float, local_rate: float, true_rate: float = 3.0, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for c in pd.date_range("2021-01-01", periods=k, freq="6MS"):
        ids = [f"s{i}" for i in range(N)]
        starts = [c + pd.offsets.MonthBegin()] * N
        deepar = ForecastSamples(ids, starts, rng.poisson(deepar_rate, (N, S, H)).astype("float32"), "MS")
        local = ForecastSamples(ids, starts, rng.poisson(local_rate, (N, S, H)).astype("float32"), "MS")
        rows = pd.DataFrame({UNIQUE_ID: np.repeat(ids, H), STEP: np.tile(np.arange(1, H + 1), N),
                             DS: np.tile(pd.date_range(starts[0], periods=H, freq="MS"), N),
                             Y: rng.poisson(true_rate, N * H).astype(float), CUTOFF: c})
        out.append(window_arrays(c, rows, deepar, {LOCAL_NB: local}))
    return out


def _every(windows):
    return [(w, ~np.isnan(w.y)) for w in windows]


def test_a_member_that_wins_by_noise_is_refused():
    # both members draw from the true distribution: any gain of a blend is chance
    ev = select(_every(_windows(3.0, 3.0)), [DEEPAR, LOCAL_NB], Rule())
    assert not ev.taken and ev.published == {ev.best: 1.0}
    assert ev.p > 0.05 or list(ev.blend) == [ev.best]
    assert ev.series == N and ev.windows


def test_a_blend_that_wins_clearly_is_taken_and_shrunk_toward_the_best():
    # one member too low, the other too high: their quantile average is close to the truth
    ev = select(_every(_windows(2.2, 4.0)), [DEEPAR, LOCAL_NB], Rule(shrinkage=0.5))
    assert ev.taken and ev.p <= 0.05 and ev.improvement > 0.02 and ev.interval[0] > 0
    assert set(ev.published) == {DEEPAR, LOCAL_NB} and ev.published[ev.best] >= 0.5
    assert ev.blend_wql < ev.best_wql


def test_the_choice_and_its_evidence_are_per_window_and_for_production():
    choice = choose_ensemble(_windows(2.2, 4.0, k=4), {}, {LOCAL_NB: None})
    first, *later = sorted(choice.window_weights)
    assert choice.window_weights[first] == {DEEPAR: 1.0}  # nothing earlier: DeepAR alone
    assert set(choice.evidence) == {*choice.window_weights, "production"}
    assert choice.evidence["production"]["published"] == choice.weights
    assert all(set(choice.window_blends[c]) <= {DEEPAR, LOCAL_NB} for c in later)


def test_paired_test_is_reproducible_and_one_sided():
    rng = np.random.default_rng(1)
    best = rng.gamma(2.0, 1.0, 500)
    assert paired_test(best, best * 0.9) == paired_test(best, best * 0.9)
    p_better, gain, (lo, hi) = paired_test(best, best * 0.9)
    assert p_better == 0.0 and abs(gain - 0.1) < 1e-9 and lo - 1e-9 <= 0.1 <= hi + 1e-9
    assert paired_test(best, best * 1.1)[0] == 1.0
