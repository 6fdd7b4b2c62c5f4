"""A day's partition written aside and swapped in on success: a failed rerun keeps the good copy.

A source-day's partition is its bronze folder and its quarantine folder (ingest and
validation quarantines and manifests). Every ingest attempt writes into a staged copy under
``_staging/`` (``Layout.staged``) and validation works there too; only an attempt that
succeeded is swapped in (``swap_in``). A rerun that fails (landing purged, no PII key, an
unreadable or broken file, a batch the contract rejects) leaves the live partition
byte-identical; a rejected attempt stays staged, marked, for the alert and for inspection.

Why copy and not rename or a pointer: object stores (S3) have no rename, and a pointer file
per partition would cost every reader (``history`` reads ~1,000 days in one glob) one more
request per day. So the swap copies file by file, each copy atomic (local: temp file +
rename; S3: one PUT per object), in an order that keeps every state a reader can meet
consistent: data files first, then the live files the attempt no longer has are deleted,
then the manifests (``validation.json`` decides whether validation joins the quarantine
back into a day's input; ``ingest.json`` is what the sweep compares). A ``_SWAP`` marker
written before the first copy makes the swap roll forward: a process killed mid-swap leaves
the marker, and the next attempt on that day (or ``finish_swap``) completes it first.
"""

from __future__ import annotations

import logging
from datetime import date

from forecasting.core.lake import Lake, join
from forecasting.core.layout import (
    INCOMPLETE_FILE,
    INGEST_MANIFEST_FILE,
    REJECTED_MARKER,
    SWAP_MARKER,
    VALIDATION_MANIFEST_FILE,
    validate_identifier,
)

log = logging.getLogger(__name__)
MANIFESTS_LAST = (INCOMPLETE_FILE, VALIDATION_MANIFEST_FILE, INGEST_MANIFEST_FILE)  # swapped in this order


def live(lake: Lake) -> Lake:
    """The lake without staged partitions."""
    return lake.with_staged(()) if lake.staged else lake


def staged(lake: Lake, source: str, day: date) -> Lake:
    """``lake`` with (source, day) resolving to its staged copy (other staged days kept)."""
    return lake.with_staged(lake.staged | {(source, day)})


def begin(lake: Lake, source: str, day: date) -> Lake:
    """A fresh attempt on (source, day): finish an interrupted swap, clear an earlier
    attempt; returns the lake whose partition of that day is the (empty) staged copy."""
    finish_swap(lake, source, day)
    discard(lake, source, day)
    return staged(lake, source, day)


def has_attempt(lake: Lake, source: str, day: date) -> bool:
    """Whether an ingest attempt of (source, day) waits in staging to be validated and
    swapped in (a rejected attempt, kept for inspection, does not)."""
    finish_swap(lake, source, day)
    return lake.exists(staged(lake, source, day).ingest_manifest(source, day)) and not lake.exists(
        _marker(lake, REJECTED_MARKER, source, day)
    )


def stage_live(lake: Lake, source: str, day: date) -> Lake:
    """Copy the live partition into staging (a re-validation works on the copy, so that a
    rejection keeps the live one); returns the staged lake."""
    target = begin(lake, source, day)
    for src_dir, dst_dir in _folders(lake, source, day, reverse=True):
        for rel in lake.files(src_dir):
            lake.copy(join(src_dir, rel), join(dst_dir, rel))
    return target


def swap_in(lake: Lake, source: str, day: date) -> list[str]:
    """Make the staged attempt of (source, day) the live partition; the live files written."""
    marker = _marker(lake, SWAP_MARKER, source, day)
    lake.write_text(marker, f"{source} {day}\n")
    return _apply(lake, source, day)


def finish_swap(lake: Lake, source: str, day: date) -> None:
    """Complete a swap a killed process left half done (its ``_SWAP`` marker is there)."""
    if lake.exists(_marker(lake, SWAP_MARKER, source, day)):
        log.warning("%s %s: completing a swap an earlier process left unfinished", source, day)
        _apply(lake, source, day)


def reject(lake: Lake, source: str, day: date) -> str:
    """Mark the staged attempt as refused (the live partition stays); its staged quarantine
    folder, where the refused rows are."""
    lake.write_text(_marker(lake, REJECTED_MARKER, source, day), f"{source} {day}\n")
    return staged(lake, source, day).quarantine(source, day)


def discard(lake: Lake, source: str, day: date) -> None:
    """Remove the staged attempt of (source, day), if any."""
    for staged_dir, _ in _folders(lake, source, day):
        lake.remove(staged_dir)
    lake.remove(_marker(lake, REJECTED_MARKER, source, day))


def _apply(lake: Lake, source: str, day: date) -> list[str]:
    folders = _folders(lake, source, day)
    copies, manifests, stale = [], [], []
    for staged_dir, live_dir in folders:
        new = lake.files(staged_dir)
        for rel in new:
            pair = (join(staged_dir, rel), join(live_dir, rel))
            (manifests if rel in MANIFESTS_LAST else copies).append(pair)
        old = lake.files(live_dir)
        stale += [join(live_dir, rel) for rel in old if rel not in new] if new else [live_dir] * bool(old)
    manifests.sort(key=lambda pair: MANIFESTS_LAST.index(pair[1].rsplit("/", 1)[-1]))
    written = [lake.copy(src, dst) for src, dst in copies]
    for uri in stale:
        lake.remove(uri)
    written += [lake.copy(src, dst) for src, dst in manifests]
    lake.remove(_marker(lake, SWAP_MARKER, source, day))  # before the staged files go: see module doc
    discard(lake, source, day)
    return written


def _folders(lake: Lake, source: str, day: date, reverse: bool = False) -> list[tuple[str, str]]:
    """(staged folder, live folder) of the partition's bronze and quarantine."""
    base, aside = live(lake), staged(lake, source, day)
    pairs = [(aside.bronze(source, day), base.bronze(source, day)),
             (aside.quarantine(source, day), base.quarantine(source, day))]  # fmt: skip
    return [(b, a) for a, b in pairs] if reverse else pairs


def _marker(lake: Lake, name: str, source: str, day: date) -> str:
    return join(lake.staging_root, name, validate_identifier(source, "source"), f"date={day}")
