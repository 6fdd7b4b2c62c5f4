"""Forecast sample paths in shards of series: the same paths whatever runs the shards.

A tiny DeepAR on a 7-series panel, sampled in shards of 3 series (3 shards per network):
in process, as Ray tasks on 2 workers, and in a different shard order of execution, the
samples are identical; a panel at or under the shard size samples as it always did.
"""

from __future__ import annotations

import numpy as np
import pytest

from forecasting.model.shards import ShardPlan, in_process, on_ray, shard_seed
from tests.support.deepar_panels import HORIZON, SPEC, TINY_MODEL, make_panel


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    from forecasting.core.config import load_settings
    from forecasting.model.fit import fit_model

    lake = tmp_path_factory.mktemp("fit") / "lake"
    settings = load_settings(None, lake_uri=str(lake), horizon=HORIZON, model=TINY_MODEL)
    return fit_model(make_panel(n_series=6), SPEC, settings)


def test_shards_give_the_same_paths_in_any_order(fitted):
    df = make_panel(n_series=6)  # + one cold-start site: 7 series
    plain = fitted.predict(df, num_samples=20, seed=5)
    again = fitted.predict(df, num_samples=20, seed=5, shards=ShardPlan(7, in_process))
    np.testing.assert_array_equal(plain.samples, again.samples)  # at the shard size: one pass

    one = fitted.predict(df, num_samples=20, seed=5, shards=ShardPlan(3, in_process))
    backwards = ShardPlan(3, lambda jobs, nets: in_process(jobs[::-1], nets)[::-1])
    np.testing.assert_array_equal(one.samples, fitted.predict(df, num_samples=20, seed=5, shards=backwards).samples)
    assert one.samples.shape == plain.samples.shape and one.ids == plain.ids
    assert not np.array_equal(one.samples, plain.samples)  # other seeds per shard


def test_shard_seeds_are_distinct_and_stable():
    seeds = {shard_seed(7, i, j) for i in range(3) for j in range(50)}
    assert len(seeds) == 150 and shard_seed(7, 1, 2) == shard_seed(7, 1, 2)


@pytest.mark.slow
def test_two_ray_workers_give_the_in_process_paths(fitted, ray_local, settings_factory):
    settings = settings_factory(forecast_workers=2, forecast_shard_series=3, model={"num_threads": 1})
    df = make_panel(n_series=6)
    here = fitted.predict(df, num_samples=20, seed=5, shards=ShardPlan(3, in_process))
    there = fitted.predict(df, num_samples=20, seed=5, shards=ShardPlan(3, on_ray(settings, 2)))
    np.testing.assert_array_equal(here.samples, there.samples)
