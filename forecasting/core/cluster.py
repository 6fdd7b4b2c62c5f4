"""The one Ray every stage uses: a local Ray started here, or a cluster by address.

``ray.address`` (settings) or ``RAY_ADDRESS`` names a running cluster (``ray start --head``
on one machine, ``ray start --address`` on the others); without either, ``start_ray``
starts a local Ray in this process with a small object store and no dashboard. Training
(Ray Train), the backtest's windows and the intake's backfill partitions all go through it;
``ray_map`` runs independent tasks (backtest windows, forecast shards) on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError
from forecasting.core.progress import libraries_quiet, progress_task
from forecasting.core.worker_settings import for_workers

LOCAL_OBJECT_STORE = 512 * 1024**2


def ray_address(settings: Settings) -> str:
    """``settings.ray.address``, else ``RAY_ADDRESS``, else ``local`` (a Ray started here)."""
    return settings.ray.address or os.environ.get("RAY_ADDRESS") or "local"


def start_ray(settings: Settings) -> None:
    """Join ``settings.ray.address`` or ``RAY_ADDRESS``; else start a local Ray."""
    import ray

    if ray.is_initialized():
        return
    address = ray_address(settings)
    if address == "local":
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        # No dashboard (memory, start-up) means no state API, so Ray Train's placement
        # group cleaner warns every few seconds that it cannot query it: log errors only.
        # the CLI keeps worker output (Lightning, GluonTS) off the terminal: it stays in
        # Ray's session logs; errors still surface as the job's exception
        ray.init(address="local", include_dashboard=False, log_to_driver=not libraries_quiet(),
                 object_store_memory=LOCAL_OBJECT_STORE,
                 logging_config=ray.LoggingConfig(log_level="ERROR"))
    else:
        ray.init(address=address)


def _shippable(value: Any) -> Any:
    return for_workers(value) if isinstance(value, Settings) else value


def cluster_cpus() -> float:
    """CPUs of the Ray this process joined (``start_ray`` first)."""
    import ray

    return float(ray.cluster_resources().get("CPU", 0))


def ray_map(settings: Settings, fn: Callable[..., Any], jobs: Sequence[tuple], workers: int,
            label: str, setting: str, shared: tuple = ()) -> list[Any]:  # fmt: skip
    """``fn(*job, *shared)`` of every job as Ray tasks, results in job order.

    At most ``workers`` in flight (0: all at once, Ray schedules them); each task declares
    ``num_cpus = model.num_threads``, the torch thread count it uses; ``shared`` objects go
    to the object store once. A ``Settings`` among the jobs' or shared arguments travels as
    ``worker_settings.for_workers`` of it: no secret, no URL credential. A task's error is raised here (its own type) and the tasks
    still running are cancelled. ``setting`` names the worker setting in messages.
    """
    import ray

    start_ray(settings)
    cpus = settings.model.num_threads
    have = cluster_cpus()
    if ray_address(settings) == "local" and have < cpus:  # such a task would wait forever
        raise ConfigError(
            f"{setting}={workers} runs each task on model.num_threads={cpus} CPUs but the local "
            f"Ray has {have:g}: lower model.num_threads, set {setting}: 1, or set ray.address "
            "to a cluster"
        )
    task = ray.remote(num_cpus=cpus)(fn)
    jobs = [tuple(_shippable(x) for x in job) for job in jobs]
    refs = [ray.put(_shippable(x)) for x in shared]
    limit = workers or len(jobs)
    order: dict[Any, int] = {}
    done: dict[int, Any] = {}

    def collect(advance: Callable[[], None]) -> None:
        ready, _ = ray.wait(list(order), num_returns=1)
        for ref in ready:
            done[order.pop(ref)] = ray.get(ref)
            advance()

    with progress_task(label, len(jobs)) as advance:
        try:
            for i, job in enumerate(jobs):
                while len(order) >= limit:
                    collect(advance)
                order[task.remote(*job, *refs)] = i
            while order:
                collect(advance)
        except BaseException:
            for ref in order:
                ray.cancel(ref)
            raise
    return [done[i] for i in range(len(jobs))]
