"""Validation on the staged copy of a day, then the swap: the good copy survives a rejected rerun.

Ingest writes a day's new partition aside (``ingest.partition``); validation reads and
writes that staged copy, and ``conclude`` decides what goes live:

- the validation passed (or only quarantined rows): the staged partition is swapped in;
- the batch was rejected (critical) or validation failed, and the day has a good copy (a
  live bronze partition that a validation passed): the live partition stays byte-identical,
  the attempt stays staged, marked rejected (its quarantine is what the alert shows), and
  the result says so;
- rejected with no good copy to keep (a first ingest, or a day ingested without
  validation): swapped in, as before (every row in the quarantine, no bronze).

A validation run without a new ingest (``riskcast validate``) first copies the live
partition into staging (``stage_live``), so a day that no longer passes keeps its files too.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from forecasting.core.lake import Lake
from forecasting.ingest import partition
from forecasting.ingest.arrival import MISSING
from forecasting.ingest.manifest import read_manifest
from forecasting.validation.results import CRITICAL, SKIPPED, SourceValidation

log = logging.getLogger(__name__)


def prepare(lake: Lake, source: str, day: date, only_staged: bool) -> Lake | None:
    """The lake to validate (source, day) on: its ingest attempt when one waits in staging,
    else (``only_staged`` False) a staged copy of the live partition, else None (nothing new
    to validate: the day's ingest failed or its landing was purged)."""
    if partition.has_attempt(lake, source, day):
        return partition.staged(lake, source, day)
    return None if only_staged else partition.stage_live(partition.live(lake), source, day)


def not_revalidated(source: str, day: date) -> SourceValidation:
    """The result for a day ``prepare`` found nothing new for."""
    return SourceValidation(source, day, SKIPPED, notes=[
        f"{source} {day}: not validated again: this run ingested nothing new for it (its ingest "
        "failed, or its landing was purged); the live partition is unchanged"])  # fmt: skip


def missing_day(lake: Lake, source: str, day: date) -> SourceValidation | None:
    """A SKIPPED result when the staged ingest recorded the day as missing (nothing arrived
    by the deadline: alerted at ingest, and never a day of zero rows), else None."""
    manifest = read_manifest(lake, source, day)
    if manifest is None or manifest["arrival"]["status"] != MISSING:
        return None
    return SourceValidation(source, day, SKIPPED, notes=[
        f"{source} {day}: nothing arrived by the deadline; the day is recorded as missing"])  # fmt: skip


def good_copy(lake: Lake, source: str, day: date) -> bool:
    """Whether the live partition of (source, day) holds bronze that a validation passed."""
    manifest = lake.validation_manifest(source, day)
    if not (lake.exists(lake.bronze_file(source, day)) and lake.exists(manifest)):
        return False
    return lake.read_json(manifest).get("status") != CRITICAL


def conclude(lake: Lake, source: str, day: date, outcome: Any) -> Any:
    """Swap the staged attempt of (source, day) in, or keep the live partition (see the
    module doc); returns ``outcome`` with its URIs pointing where its files now are. ``lake``
    must resolve the day to its staged copy; it stops doing so (``lake.staged`` shrinks)."""
    base = partition.live(lake)
    failed = not isinstance(outcome, SourceValidation) or outcome.status == CRITICAL
    lake.staged = lake.staged - {(source, day)}
    if failed and good_copy(base, source, day):
        where = partition.reject(base, source, day)
        note = (f"{source} {day}: this attempt was rejected; the day's previous bronze, quarantine "
                f"and manifests stay live unchanged; the rejected rows are in {where}")  # fmt: skip
        log.error("%s", note)
        if isinstance(outcome, SourceValidation):
            outcome.kept = note
            outcome.notes.append(note)
        return outcome
    if failed and not isinstance(outcome, SourceValidation):
        partition.discard(base, source, day)  # nothing to show, nothing to keep: live stays
        return outcome
    partition.swap_in(base, source, day)
    if outcome.bronze_uri:
        outcome.bronze_uri = base.bronze_file(source, day)
    if outcome.quarantine_uri:
        outcome.quarantine_uri = base.validation_quarantine(source, day)
    return outcome
