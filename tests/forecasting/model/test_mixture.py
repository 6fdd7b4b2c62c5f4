"""Mixtures of member paths: shares, whole paths, alignment."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.core.errors import ModelError
from forecasting.model.mixture import DEEPAR, mix_forecasts, mix_samples, mixture_shares
from forecasting.model.samples import ForecastSamples


def test_shares_sum_to_the_paths_and_follow_the_weights():
    assert mixture_shares([0.7, 0.3], 200) == [140, 60]
    assert sum(mixture_shares([1, 1, 1], 100)) == 100
    assert mixture_shares([1.0, 0.0], 7) == [7, 0]
    with pytest.raises(ValueError):
        mixture_shares([0.0, 0.0], 10)


def test_every_mixed_path_is_a_whole_member_path_so_totals_survive():
    rng = np.random.default_rng(0)
    a = rng.poisson(1.0, size=(3, 100, 6)).astype(float)
    b = 100 + rng.poisson(50.0, size=(3, 100, 6)).astype(float)
    mix = mix_samples([a, b], [0.75, 0.25])
    assert mix.shape == (3, 100, 6)
    np.testing.assert_array_equal(mix[:, :75], a[:, :75])
    np.testing.assert_array_equal(mix[:, 75:], b[:, :25])
    # period totals of the mixture are the members' own path totals (no path is spliced)
    totals = mix.sum(axis=2)
    assert set(np.round(totals[0], 6)) <= set(np.round(a[0].sum(axis=1), 6)) | set(np.round(b[0].sum(axis=1), 6))


def _fs(ids, samples, start="2024-01-01"):
    return ForecastSamples(list(ids), [pd.Timestamp(start)] * len(ids), samples, "MS")


def test_mix_forecasts_aligns_members_on_deepar_series_and_refuses_others():
    deepar = _fs(["a", "b"], np.zeros((2, 10, 3), "float32"))
    local = _fs(["b", "a"], np.stack([np.full((10, 3), 2.0), np.full((10, 3), 1.0)]).astype("float32"))
    mixed = mix_forecasts({DEEPAR: deepar, "local_nb": local}, {DEEPAR: 0.5, "local_nb": 0.5})
    assert mixed.ids == ["a", "b"] and (mixed.samples[0, 5:] == 1.0).all() and (mixed.samples[1, 5:] == 2.0).all()
    assert mix_forecasts({DEEPAR: deepar, "local_nb": local}, {DEEPAR: 1.0}) is deepar
    other = _fs(["a", "b"], np.zeros((2, 10, 3), "float32"), start="2024-02-01")
    with pytest.raises(ModelError, match="other periods"):
        mix_forecasts({DEEPAR: deepar, "x": other}, {DEEPAR: 0.5, "x": 0.5})


def test_lenient_mixture_keeps_deepar_paths_where_a_member_starts_elsewhere():
    deepar = _fs(["a", "b"], np.zeros((2, 10, 3), "float32"))
    local = ForecastSamples(["a", "b"], [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-03-01")],
                            np.ones((2, 10, 3), "float32"), "MS")
    mixed = mix_forecasts({DEEPAR: deepar, "local_nb": local}, {DEEPAR: 0.5, "local_nb": 0.5}, strict=False)
    assert (mixed.samples[0, 5:] == 1.0).all()  # same start: the member's paths join
    assert (mixed.samples[1] == 0.0).all()  # site b starts later for the member: DeepAR's paths only


def test_quantile_average_keeps_the_median_between_the_members_medians():
    from forecasting.model.mixture import vincentized

    rng = np.random.default_rng(3)
    low, high = rng.poisson(1.0, (50, 400, 4)), rng.poisson(6.0, (50, 400, 4))
    for w in (0.1, 0.5, 0.9):
        out = vincentized([low, high], [w, 1 - w], low)
        med = np.median(out, axis=1)
        assert (np.median(low, axis=1) <= med).all() and (med <= np.median(high, axis=1)).all()
        assert np.array_equal(out, np.round(out))  # counts stay counts


def test_schaake_paths_keep_the_reference_members_dependence_across_steps():
    from forecasting.model.mixture import vincentized

    rng = np.random.default_rng(4)
    level = rng.gamma(2.0, 1.5, (30, 500, 1))  # one level per path: steps move together
    ref = rng.poisson(np.repeat(level, 8, axis=2)).astype(float)
    other = rng.poisson(3.0, (30, 500, 8)).astype(float)  # independent steps
    out = vincentized([ref, other], [0.5, 0.5], ref)
    totals = out.sum(axis=2)
    shuffled = np.take_along_axis(out, rng.permuted(np.tile(np.arange(500)[None, :, None], (30, 1, 8)), axis=1), 1)
    corr = [np.corrcoef(totals[i], ref.sum(axis=2)[i])[0, 1] for i in range(30)]
    assert np.median(corr) > 0.9  # totals follow the reference's paths
    assert totals.var(axis=1).mean() > 2 * shuffled.sum(axis=2).var(axis=1).mean()
    same = vincentized([ref], [1.0], ref)
    assert np.array_equal(same, ref)  # one member: its own paths
