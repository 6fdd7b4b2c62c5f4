"""Backfill partitions as Ray work (``settings.intake_workers``): ingest and GX screens.

A backfill has two kinds of independent work: ingesting one (source, day) drop (read,
type, pseudonymise, split into bronze and quarantine: nothing reads another day), and the
GX screen of one batch of days (``validation_batch``: one suite run over many days' rows;
it reads those days' bronze and the warehouse snapshots, nothing a later settle writes).
``intake_workers`` N > 1 runs both on N long-lived Ray actors (``IntakeWorker``: the GX
context, suites and batch definitions are built once per actor, not per partition), chunks
of days per call; 0 as many actors as the Ray cluster has CPUs. 1 (the default) runs them
in this process. Settling a day (its bronze, quarantine, manifest, Data Docs) stays in the
caller, in date order, because a day's volume bounds are read from the days before it.

The outputs are identical whatever the worker count: a partition's files depend only on
its own inputs and are written atomically by whichever process runs it, and a day's screen
only decides whether that day is settled from the batch run or from its own run (the same
files either way). A single day, or a range shorter than two chunks, stays in process: the
Ray start (seconds) would cost more than it saves.

Actors rather than Ray Data: the work is a few hundred coarse partitions whose outputs are
files in the lake, and the GX context is per-process state worth keeping between them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from pydantic import SecretStr

from forecasting.core.cluster import cluster_cpus, start_ray
from forecasting.core.config import Settings
from forecasting.core.errors import ClusterError, RiskcastError
from forecasting.core.progress import progress_task
from forecasting.core.schema import CONTRACTS

log = logging.getLogger(__name__)


def use_ray(settings: Settings, chunks: int) -> bool:
    """Whether ``chunks`` units of backfill work go to Ray actors: ``intake_workers`` is not 1
    and there are at least two (one chunk gains nothing from the Ray start)."""
    return settings.intake_workers != 1 and chunks >= 2


def ingest_lookup(settings: Settings, source: str | None, days: Sequence[date]) -> Callable[[date], Any]:
    """``get(day)``: what ingesting ``source`` (None: every source, ``ingest_date``) for
    ``day`` returns, raising what it raises. In process, ``get`` ingests the day when asked;
    on Ray (``use_ray``) every day is ingested first by the actors, chunks of
    ``validation.batch_days`` days per call, and ``get`` returns the day's result."""
    chunk = max(settings.validation.batch_days, 1)
    chunks = [list(days[i:i + chunk]) for i in range(0, len(days), chunk)]
    if not use_ray(settings, len(chunks)):
        return lambda day: _ingest(settings, source, day)
    done: dict[date, Any] = {}
    for part in _map(settings, "ingest", source, chunks, f"ingest {source or 'every source'} (Ray)"):
        done.update(part)

    def get(day: date) -> Any:
        if isinstance(done[day], Exception):
            raise done[day]
        for result in done[day] if isinstance(done[day], list) else [done[day]]:
            for warning in result.warnings:
                log.warning("%s", warning)
            if result.error:
                log.error("%s %s: %s", result.source, day, result.error)
        return done[day]

    return get


def _ingest(settings: Settings, source: str | None, day: date) -> Any:
    from forecasting.intake.ingest import ingest_date, ingest_source

    return ingest_date(settings, day) if source is None else ingest_source(settings, source, day)


def screen_in_parallel(settings: Settings, source: str, batches: Sequence[Sequence[date]]) -> set[date]:
    """The days of ``batches`` that their batch's GX screen cleared (``_screen``), from Ray
    actors, one batch per call."""
    cleared: set[date] = set()
    for part in _map(settings, "screen", source, [list(b) for b in batches], f"screen {source} (Ray)"):
        cleared |= part
    return cleared


class IntakeWorker:
    """A long-lived intake worker (a Ray actor): one GX context for all its calls."""

    def __init__(self, settings: Settings) -> None:
        from forecasting.intake.suites import warm_up

        # what a day's ingest warns about or fails on comes back in its result and is logged
        # by the caller, once, in date order (a worker's lines would interleave on the driver)
        logging.getLogger("forecasting").setLevel(logging.CRITICAL)
        self.settings = settings
        warm_up()

    def ingest(self, source: str | None, days: list[date]) -> dict[date, Any]:
        out: dict[date, Any] = {}
        for day in days:
            try:
                out[day] = _ingest(self.settings, source, day)
            except RiskcastError as exc:  # the caller alerts and records it, as in process
                out[day] = exc
        return out

    def screen(self, source: str, days: list[date]) -> set[date]:
        from forecasting.intake.validation_batch import screen_batch

        return screen_batch(self.settings, source, days)


def _map(settings: Settings, method: str, source: str | None, chunks: list[list[date]], label: str) -> list[Any]:
    """``IntakeWorker.<method>(source, chunk)`` for every chunk on a pool of actors; results
    in the order of ``chunks``. A day's RiskcastError comes back in its chunk's result; a
    lost worker (killed, node gone) raises ClusterError once the pool is torn down."""
    import ray
    from ray.util import ActorPool

    start_ray(settings)
    n = settings.intake_workers or max(int(cluster_cpus()), 1)
    n = max(1, min(n, len(chunks)))
    actor = ray.remote(num_cpus=1, max_restarts=0)(IntakeWorker)
    shipped = _with_resolved_key(settings, source)
    actors = [actor.remote(shipped) for _ in range(n)]
    try:
        pool = ActorPool(actors)
        results = []
        with progress_task(label, len(chunks)) as advance:
            for result in pool.map(lambda a, c: getattr(a, method).remote(source, c), chunks):
                results.append(result)
                advance()
        return results
    except ray.exceptions.RayError as exc:
        raise ClusterError(
            f"{label}: a Ray worker was lost ({type(exc).__name__}); every partition written is "
            "whole (atomic writes), none half-written: rerun the same range to complete it"
        ) from exc
    finally:
        for a in actors:
            ray.kill(a)


def _with_resolved_key(settings: Settings, source: str | None) -> Settings:
    """Settings whose PII key is the resolved one: an actor on another node cannot read
    this process's Airflow connection. Work without PII columns gets no key at all."""
    sources = list(CONTRACTS) if source is None else [source]
    if not any(CONTRACTS[s].pii for s in sources):
        return settings.model_copy(update={"pii_key": None})
    from forecasting.intake.pii import resolve_pii_key

    return settings.model_copy(update={"pii_key": SecretStr(resolve_pii_key(settings).decode("utf-8"))})
