"""Backfill partitions as Ray work (``settings.intake_workers``): a pool of intake actors.

A backfill has two kinds of independent work: ingesting one (source, day) drop (read,
type, pseudonymise, split into bronze and quarantine: nothing reads another day,
``ingest.ingest_days``), and the GX screen of one batch of days (``validation_batch``: one
suite run over many days' rows; it reads those days' bronze and the warehouse snapshots,
nothing a later settle writes). ``intake_workers`` N > 1 runs such chunks of work on N
long-lived Ray actors (``IntakeWorker``: the GX context, suites and batch definitions are
built once per actor, not per partition); 0 as many actors as the Ray cluster has CPUs; 1
(the default) in this process. Settling a day (its bronze, quarantine, manifest, Data
Docs) stays in the caller, in date order, because a day's volume bounds are read from the
days before it.

The outputs are identical whatever the worker count: a partition's files depend only on
its own inputs and are written atomically by whichever process runs it, and a day's screen
only decides whether that day is settled from the batch run or from its own run (the same
files either way). A single day, or a range of one chunk, stays in process: the Ray start
(seconds) would cost more than it saves.

Actors rather than Ray Data: the work is a few hundred coarse partitions whose outputs are
files in the lake, and the GX context is per-process state worth keeping between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import SecretStr

from forecasting.core.cluster import cluster_cpus, start_ray
from forecasting.core.config import Settings
from forecasting.core.errors import ClusterError
from forecasting.core.progress import progress_task
from forecasting.core.schema import CONTRACTS
from forecasting.core.worker_settings import for_workers
from forecasting.ingest.pii import optional_pii_key, resolve_pii_key

log = logging.getLogger(__name__)

Work = Callable[[Settings, list[Any]], Any]  # a module-level function: (settings, chunk) -> result


def use_ray(settings: Settings, chunks: int) -> bool:
    """Whether ``chunks`` units of backfill work go to Ray actors: ``intake_workers`` is not 1
    and there are at least two (one chunk gains nothing from the Ray start)."""
    return settings.intake_workers != 1 and chunks >= 2


class IntakeWorker:
    """A long-lived intake worker (a Ray actor): per-process state (a validation pool's GX
    context, through ``warm``) is built once for all its calls."""

    def __init__(self, settings: Settings, warm: Callable[[], Any] | None = None,
                 pii_key: bytes | None = None) -> None:  # fmt: skip
        # what a day's ingest warns about or fails on comes back in its result and is logged
        # by the caller, once, in date order (a worker's lines would interleave on the driver)
        logging.getLogger("forecasting").setLevel(logging.CRITICAL)
        key = SecretStr(pii_key.decode("utf-8")) if pii_key is not None else None
        self.settings = settings.model_copy(update={"pii_key": key})
        if warm is not None:
            warm()

    def run(self, work: Work, chunk: list[Any]) -> Any:
        return work(self.settings, chunk)


def run_on_actors(settings: Settings, work: Work, chunks: list[list[Any]], label: str,
                  sources: Sequence[str] = (), warm: Callable[[], Any] | None = None) -> list[Any]:
    """``work(settings, chunk)`` for every chunk on a pool of ``IntakeWorker`` actors;
    results in the order of ``chunks``. ``sources``: whose rows the work reads (their PII
    decides whether the actors get the key); ``warm``: called once in each actor before its
    first chunk (the validation pool builds its GX context there). An exception the work raises comes back as
    itself; a lost worker (killed, node gone) raises ClusterError. Actors end either way."""
    import ray
    from ray.util import ActorPool

    start_ray(settings)
    n = settings.intake_workers or max(int(cluster_cpus()), 1)
    n = max(1, min(n, len(chunks)))
    actor = ray.remote(num_cpus=1, max_restarts=0)(IntakeWorker)
    shipped, key = for_workers(settings), _resolved_key(settings, sources)
    actors = [actor.remote(shipped, warm, key) for _ in range(n)]
    try:
        pool = ActorPool(actors)
        results = []
        with progress_task(label, len(chunks)) as advance:
            for result in pool.map(lambda a, c: a.run.remote(work, c), chunks):
                results.append(result)
                advance()
        return results
    except ray.exceptions.RayTaskError as exc:  # the work itself raised (a bug): its own error
        raise exc.as_instanceof_cause() from None
    except ray.exceptions.RayError as exc:  # a worker process or node was lost
        raise ClusterError(
            f"{label}: a Ray worker was lost ({type(exc).__name__}); every partition written is "
            "whole (atomic writes), none half-written: rerun the same range to complete it"
        ) from exc
    finally:
        for a in actors:
            ray.kill(a)


def _resolved_key(settings: Settings, sources: Sequence[str]) -> bytes | None:
    """The resolved PII key for actors whose work hashes PII (an actor on another node
    cannot read this process's Airflow connection); None for work without PII columns.
    It travels as the actor's argument only: the actor's settings are ``for_workers``'
    allow-list, and no environment variable ever holds it."""
    if not any(CONTRACTS[s].pii for s in sources):  # the PII screen hashes with it where there is one
        return optional_pii_key(settings) if settings.pii_screen.enabled and sources else None
    return resolve_pii_key(settings)
