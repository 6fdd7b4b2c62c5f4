"""The one Ray every stage uses: a local Ray started here, or a cluster by address.

``ray.address`` (settings) or ``RAY_ADDRESS`` names a running cluster (``ray start --head``
on one machine, ``ray start --address`` on the others); without either, ``start_ray``
starts a local Ray in this process with a small object store and no dashboard. Training
(Ray Train), the backtest's windows and the intake's backfill partitions all go through it.
"""

from __future__ import annotations

import os

from forecasting.core.config import Settings
from forecasting.core.progress import libraries_quiet

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


def cluster_cpus() -> float:
    """CPUs of the Ray this process joined (``start_ray`` first)."""
    import ray

    return float(ray.cluster_resources().get("CPU", 0))
