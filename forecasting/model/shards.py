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

from forecasting.core.cluster import start_ray
from forecasting.core.errors import ModelError
from forecasting.model.quiet import quiet, torch_threads

Job = tuple[Any, list[dict], int, int, int]  # (predictor, entries, paths, seed, torch threads)


@dataclass(frozen=True)
class ShardPlan:
    """How ``FittedModel.predict`` samples: shards of ``series`` series, run by ``run``
    (a list of jobs -> their sample arrays, in order)."""

    series: int
    run: Callable[[list[Job]], list[np.ndarray]]


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
    return np.stack([f.samples for f in forecasts])


def sharded(predictors: Sequence[Any], shares: list[int], entries: list[dict], seed: int,
            threads: int, plan: ShardPlan) -> list[np.ndarray]:  # fmt: skip
    """Per network, its samples of every series: shards sampled by ``plan.run``, joined."""
    cuts = range(0, len(entries), plan.series)
    jobs = [
        (predictor, entries[c : c + plan.series], share, shard_seed(seed, i, j), threads)
        for i, (predictor, share) in enumerate(zip(predictors, shares, strict=True))
        for j, c in enumerate(cuts)
    ]
    done = plan.run(jobs)
    per = len(cuts)
    return [np.concatenate(done[i * per : (i + 1) * per]) for i in range(len(predictors))]


def in_process(jobs: list[Job]) -> list[np.ndarray]:
    return [sample(*job) for job in jobs]


def on_ray(settings: Any, workers: int) -> Callable[[list[Job]], list[np.ndarray]]:
    """A ``ShardPlan.run`` that samples shards as Ray tasks (``forecasting.core.cluster``)."""

    def run(jobs: list[Job]) -> list[np.ndarray]:
        import ray

        start_ray(settings)
        task = ray.remote(num_cpus=settings.model.num_threads)(sample)
        shared = {id(p): ray.put(p) for p, *_ in jobs}
        limit = workers or len(jobs)
        refs: list[Any] = []
        pending: list[Any] = []
        for predictor, entries, paths, seed, threads in jobs:
            while len(pending) >= limit:
                _, pending = ray.wait(pending, num_returns=1)
            ref = task.remote(shared[id(predictor)], entries, paths, seed, threads)
            refs.append(ref)
            pending.append(ref)
        return ray.get(refs)

    return run


def plan(settings: Any) -> ShardPlan:
    """The shard plan ``settings`` ask for (``forecast_shard_series``, ``forecast_workers``)."""
    workers = settings.forecast_workers
    run = in_process if workers == 1 else on_ray(settings, workers)
    return ShardPlan(settings.forecast_shard_series, run)
