"""Sample paths of a large panel in shards of series, in process or as Ray tasks.

GluonTS draws a batch's paths from one torch generator, so which series share a pass decides
their draws. A panel with more series than ``settings.forecast_shard_series`` is cut into
shards of that many series (in the forecast's series order); each network samples each
shard from its own seed, ``SeedSequence([seed, network, shard])``, so the paths depend on
neither how many shards run at once nor where: ``forecast_workers`` 1 (in process), N > 1
(Ray tasks, at most N in flight) and 0 (as many as the cluster's CPUs allow) give identical
samples. Each task declares ``num_cpus = model.num_threads``, the torch thread count the
sampling uses in either path. A panel of at most ``forecast_shard_series`` series samples in
one pass per network, as it always did (the demo's 60 sites never shard).

Ray tasks, not Ray Data: a shard is one coarse, CPU-heavy call returning one array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecasting.core.cluster import ray_map
from forecasting.core.errors import ModelError
from forecasting.model.quiet import quiet, torch_threads

Job = tuple[int, list[dict], int, int, int]  # (network, entries, paths, seed, torch threads)


@dataclass(frozen=True)
class ShardPlan:
    """How ``FittedModel.predict`` samples: shards of ``series`` series, run by ``run``
    ((jobs, the networks) -> the jobs' sample arrays, in order)."""

    series: int
    run: Callable[[list[Job], Sequence[Any]], list[np.ndarray]]


def shard_seed(seed: int, network: int, shard: int) -> int:
    """The torch seed of one network on one shard (independent streams, reproducible)."""
    return int(np.random.SeedSequence([abs(int(seed)), network, shard]).generate_state(1)[0])


def sample(predictor: Any, entries: list[dict], paths: int, seed: int, threads: int) -> np.ndarray:
    """``(len(entries), paths, horizon)`` samples of one network on some series (a task body)."""
    import torch

    devices = list(range(torch.cuda.device_count()))
    with quiet(), torch_threads(threads), torch.random.fork_rng(devices=devices):
        predictor.prediction_net.model.num_parallel_samples = paths
        torch.manual_seed(seed)
        forecasts = list(predictor.predict(entries, num_samples=paths))
    if [f.item_id for f in forecasts] != [e["item_id"] for e in entries]:
        raise ModelError("GluonTS returned forecasts out of order: refusing to publish them")
    if forecasts and not hasattr(forecasts[0], "samples"):  # a quantile network
        return np.stack([quantile_paths(f, paths) for f in forecasts])
    return np.stack([f.samples for f in forecasts])


def quantile_paths(forecast: Any, paths: int) -> np.ndarray:
    """``(paths, horizon)`` counts from a quantile forecast (a direct multi-quantile network):
    path k holds the quantile function at level ``(k + 0.5) / paths`` (linear between the
    trained levels, the outer levels beyond them, quantile crossings sorted away), clipped
    at 0 and rounded half up. Paths are comonotone; ``mixture.vincentized`` lays them out in
    a path member's ranks."""
    levels = np.asarray([float(k) for k in forecast.forecast_keys])
    order = np.argsort(levels)
    values = np.sort(np.asarray(forecast.forecast_array, float)[order], axis=0)  # (levels, horizon)
    grid = (np.arange(paths) + 0.5) / paths
    out = np.stack([np.interp(grid, levels[order], values[:, t]) for t in range(values.shape[1])], axis=1)
    return np.floor(np.clip(out, 0.0, None) + 0.5)


def sharded(predictors: Sequence[Any], shares: list[int], entries: list[dict], seed: int,
            threads: int, plan: ShardPlan) -> list[np.ndarray]:  # fmt: skip
    """Per network, its samples of every series: shards sampled by ``plan.run``, joined."""
    cuts = range(0, len(entries), plan.series)
    jobs = [
        (i, entries[c : c + plan.series], share, shard_seed(seed, i, j), threads)
        for i, share in enumerate(shares)
        for j, c in enumerate(cuts)
    ]
    done = plan.run(jobs, predictors)
    per = len(cuts)
    return [np.concatenate(done[i * per : (i + 1) * per]) for i in range(len(predictors))]


def in_process(jobs: list[Job], predictors: Sequence[Any]) -> list[np.ndarray]:
    return [_sample_job(*job, predictors) for job in jobs]


def _sample_job(network: int, entries: list[dict], paths: int, seed: int, threads: int,
                predictors: Sequence[Any]) -> np.ndarray:  # fmt: skip
    """A shard job's samples (a Ray task's body: ``predictors`` come from the object store)."""
    return sample(predictors[network], entries, paths, seed, threads)


def on_ray(settings: Any, workers: int) -> Callable[[list[Job], Sequence[Any]], list[np.ndarray]]:
    """A ``ShardPlan.run`` that samples shards as Ray tasks (``core.cluster.ray_map``; the
    networks go to the object store once)."""

    def run(jobs: list[Job], predictors: Sequence[Any]) -> list[np.ndarray]:
        return ray_map(settings, _sample_job, jobs, workers, "forecast shards", "forecast_workers",
                       shared=(tuple(predictors),))  # fmt: skip

    return run


def plan(settings: Any) -> ShardPlan:
    """The shard plan ``settings`` ask for (``forecast_shard_series``, ``forecast_workers``)."""
    workers = settings.forecast_workers
    run = in_process if workers == 1 else on_ray(settings, workers)
    return ShardPlan(settings.forecast_shard_series, run)
