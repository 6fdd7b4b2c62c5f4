"""Ingest: a day's landing drop -> bronze (typed, pseudonymised, deduplicated) + quarantine.

Reads ``<landing>/<source>/date=D/*.{csv,parquet,jsonl}`` (reference sources, which are
not daily, come from that folder when present, else ``<landing>/<source>.{csv,...}``),
casts every column to the contract (``forecasting.ingest.coercion``), replaces PII by a keyed hash
and free text by a filled/empty flag, drops exact duplicates, and writes

- ``bronze/<source>/date=D/part.parquet``: ``Contract.bronze_columns``, sorted by the
  business key then ``source_file``/``source_row`` (so reruns give identical bytes);
- ``quarantine/<source>/date=D/ingest.parquet``: rejected rows, every value column as
  the raw string (PII pseudonymised, free text flagged) plus ``reason``, ``source_file``,
  ``source_row``, ``ingest_date``. Written only when a row was rejected.

Every row read lands in exactly one of the two: ``read == accepted + quarantined``.
Both, and ``quarantine/<source>/date=D/ingest.json`` (``ingest.manifest``: the landing files'
names, sizes and sha256, the rows each gave, whether the drop was complete), are written to
the day's STAGED partition (``ingest.partition``); validation swaps it in. So a rerun that
fails (purged landing, no PII key, a broken file) leaves the live partition untouched, and a
rerun that succeeds replaces it whole (the old ``validation.parquet`` included).

Duplicates: a row with the same business key AND the same content as an earlier one (a
re-delivered row or file) is quarantined as ``duplicate of <file> row <n>``. Rows that
share a key but differ in content are both kept: which one is right is a business rule,
and the validation stage's uniqueness expectation quarantines them by name.
Duplicates are found within one source and day only.

File-level problems (not the claimed format, a required column missing, unreadable) fail
the source for that day: InputError naming the file and column; nothing is staged and the
day's earlier bronze, if any, stays as it was.

A day folder holding only the ``_SUCCESS`` marker is a day that arrived with no row: an
empty bronze partition (the contract's columns) is staged, like a header-only file's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import partial
from typing import Any

import pyarrow as pa

from forecasting.core.config import Settings
from forecasting.core.errors import ConfigError, RiskcastError, StorageError
from forecasting.core.lake import Lake, join
from forecasting.core.layout import SUCCESS_MARKER
from forecasting.core.progress import progress_task
from forecasting.core.schema import CONTRACTS, DAILY_SOURCES, Contract
from forecasting.ingest import arrival, partition
from forecasting.ingest.bronze import account_rows, parquet_bytes, split_rows
from forecasting.ingest.landing import day_files, read_landing, reference_files, refuse_not_folder
from forecasting.ingest.manifest import fingerprint, write_manifest
from forecasting.ingest.pii import optional_pii_key, resolve_pii_key
from forecasting.ingest.raw import RawFile
from forecasting.ingest.reader import read_file
from forecasting.ingest.screen import Screen
from forecasting.ingest.stream import streamed_split
from forecasting.ingest.unpack import Caps

log = logging.getLogger(__name__)
CONTRACT, INFRASTRUCTURE = "contract", "infrastructure"  # IngestResult.error_kind



@dataclass
class IngestResult:
    """What ingesting one source for one day did. ``read == accepted + quarantined``;
    ``duplicates`` are part of ``quarantined``; ``error`` is set when the source failed.
    ``file_rows``: landing file -> ``{"read", "accepted", "quarantined"}``, checked to add up."""

    source: str
    date: date
    files: list[str] = field(default_factory=list)
    file_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    bronze_uri: str | None = None
    quarantine_uri: str | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None  # "contract" (the data) or "infrastructure" (the platform)
    arrival: str = "complete"  # ingest.arrival: complete, incomplete or missing
    missing_sites: list[str] | None = None  # per-site sources: open sites without a file
    kept: str | None = None  # why the live partition was kept as it was (landing purged)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date.isoformat()
        return data


def ingest_source(settings: Settings, source: str, day: date, overdue: bool | None = None,
                  swap: bool = True) -> IngestResult:  # fmt: skip
    """Ingest one source's drop for ``day``; raise InputError / StorageError / ConfigError
    when it fails. With ``swap`` the day goes live at once (ingest without validation);
    without, it stays staged (``ingest.partition``) and validation swaps it in.

    A failure leaves the live partition as it was (the good copy survives) and no staged
    attempt. ``overdue``: the drop's deadline has passed (the DAG's sensor says so; None:
    judged by the clock); then a day whose folder never arrived is recorded as missing
    instead of failing. An incomplete day is marked so (``ingest.arrival``). A day whose
    landing was purged by retention keeps its bronze and returns with a note.
    """
    contract = CONTRACTS.get(source)
    if contract is None:
        raise ConfigError(f"unknown source {source!r}: use one of {sorted(CONTRACTS)}")
    live = Lake.from_settings(settings)
    lake = partition.begin(live, source, day)
    result = _stage(settings, contract, live, lake, IngestResult(source, day), overdue)
    if swap and partition.has_attempt(live, source, day):
        partition.swap_in(live, source, day)
        result.bronze_uri = result.bronze_uri and live.bronze_file(source, day)
        result.quarantine_uri = result.quarantine_uri and live.ingest_quarantine(source, day)
    return result


def _stage(settings: Settings, contract: Contract, live: Lake, lake: Lake, result: IngestResult,
           overdue: bool | None) -> IngestResult:  # fmt: skip
    """``ingest_source`` into the staged partition ``lake`` resolves (nothing staged on failure)."""
    source, day = contract.name, result.date
    landing = Lake.landing_from_settings(settings)
    try:
        if contract.daily:  # a source or day "folder" that is a file: one line, not a traceback
            refuse_not_folder(landing, landing.landing_day(source, day), f"{source}/date={day}")
        if contract.daily and not landing.exists(landing.landing_day(source, day)):
            return _absent(settings, live, lake, result, overdue)
        files, result.warnings = _landing_files(landing, contract, day)
        if contract.daily and not files and not landing.exists(join(landing.landing_day(source, day), SUCCESS_MARKER)):
            return _absent(settings, live, lake, result, overdue)  # an empty day folder: nothing arrived
        result.files = [name for name, _ in files]
        arrived = _arrival(settings, landing, live, contract, day)
        prints = fingerprint(landing, files)
        key = resolve_pii_key(settings) if contract.pii else optional_pii_key(settings)
        screen = Screen.from_settings(settings, key)
        if _landed_bytes(landing, files) > settings.intake_block_bytes:
            return _ingest_streamed(landing, lake, files, (contract, key, screen), result, settings, (prints, arrived))
        raws = _read_all(landing, files, contract, source, day, Caps.from_settings(settings))
        split = split_rows(raws, contract, key, day, screen)
        for raw in raws:
            result.warnings.extend(raw.warnings)
        result.read = sum(raw.read for raw in raws)
        result.accepted, result.quarantined = split.bronze.num_rows, split.quarantine.num_rows
        result.duplicates = split.duplicates
        result.file_rows = account_rows(raws, split)
        bronze = parquet_bytes(split.bronze, contract.key)
        return _publish(lake, contract, result, lambda uri: lake.write_bytes(uri, bronze), split.quarantine,
                        (prints, arrived))  # fmt: skip
    except RiskcastError:
        partition.discard(live, source, day)
        raise


def _absent(settings: Settings, live: Lake, lake: Lake, result: IngestResult, overdue: bool | None) -> IngestResult:
    """A daily source-day without landing files: purged (bronze kept, a note), gone after
    ingest (StorageError, bronze kept), past its deadline (recorded missing), or not yet due."""
    source, day = result.source, result.date
    landing = Lake.landing_from_settings(settings)
    folder = landing.landing_day(source, day)
    gone = f"{folder} does not exist" if not landing.exists(folder) else f"{folder} holds no data file"
    purge = live.landing_purge(source, day)
    if live.exists(purge):
        result.kept = (f"the landing files of {source} {day} were deleted by retention on "
                       f"{live.read_json(purge)['purged_on']}; the day's bronze is kept as ingested")  # fmt: skip
        result.warnings.append(result.kept)
        log.warning("%s", result.kept)
        return result
    if live.exists(live.bronze_file(source, day)):
        raise StorageError(
            f"no landing drop for {source} on {day}: {gone}, yet the day was "
            "ingested before and no retention purge is recorded: the bronze of the day is kept "
            "unchanged; restore the landing folder to re-ingest it"
        )
    drop = settings.drop(source)
    if not (arrival.is_overdue(day, drop, arrival.now()) if overdue is None else overdue):
        raise StorageError(
            f"no landing drop for {source} on {day}: {gone}; it is due by "
            f"{arrival.deadline(day, drop):%Y-%m-%d %H:%M} UTC: check the date and "
            "RISKCAST_LANDING_URI, or wait for the drop to arrive"
        )
    result.arrival = arrival.MISSING
    result.warnings.append(f"{source} {day}: nothing arrived by the deadline: the day is missing")
    write_manifest(lake, source, day, {}, _totals(result), {"status": arrival.MISSING, "marker": None,
                                                             "missing_sites": None})  # fmt: skip
    return result


def _arrival(settings: Settings, landing: Lake, live: Lake, contract: Contract, day: date) -> dict[str, Any]:
    """The day's arrival record for its manifest (see ``ingest.arrival``)."""
    if not contract.daily:
        return {"status": arrival.COMPLETE, "marker": None, "missing_sites": None}
    drop = settings.drop(contract.name)
    sites = arrival.expected_sites(live, day) if drop.per_site_files else None
    state = arrival.look(landing, contract.name, day, sites)
    return {"status": state.status(drop), "marker": state.marker if drop.success_marker else None,
            "missing_sites": state.missing_sites}  # fmt: skip


def _totals(result: IngestResult) -> dict[str, int]:
    return {k: getattr(result, k) for k in ("read", "accepted", "quarantined", "duplicates")}


def _ingest_streamed(landing: Lake, lake: Lake, files: list[tuple[str, str]],
                     how: tuple[Contract, bytes | None, Screen | None], result: IngestResult,
                     settings: Settings, record: tuple[dict, dict]) -> IngestResult:  # fmt: skip
    """``ingest_source`` for a day larger than ``intake_block_bytes``: ``stream.streamed_split``
    (``how``: the contract, the PII key and the PII screen)."""
    day, (contract, key, screen) = result.date, how
    caps = Caps.from_settings(settings)
    with streamed_split(landing, files, contract, key, day, settings.intake_block_bytes, caps, screen) as split:
        result.warnings.extend(split.warnings)
        result.read, result.accepted = split.read, split.accepted
        result.quarantined, result.duplicates = split.quarantine.num_rows, split.duplicates
        result.file_rows = split.file_rows
        put = partial(lake.put_file, split.bronze_path)
        return _publish(lake, contract, result, put, split.quarantine, record)


def _publish(lake: Lake, contract: Contract, result: IngestResult, put_bronze: Callable[[str], str],
             quarantine: pa.Table, record: tuple[dict, dict]) -> IngestResult:  # fmt: skip
    """Write the day's staged partition: bronze (``put_bronze(uri)`` writes it), the
    quarantine when rows were held back, the manifest (``record``: the landing files'
    fingerprints and the arrival); log what the ingest did."""
    source, day = contract.name, result.date
    result.bronze_uri = put_bronze(lake.bronze_file(source, day))
    if quarantine.num_rows:
        uri = lake.ingest_quarantine(source, day)
        result.quarantine_uri = lake.write_bytes(uri, parquet_bytes(quarantine, contract.key))
    prints, arrived = record
    files = {name: {**prints[name], **result.file_rows.get(name, {})} for name in result.files}
    write_manifest(lake, source, day, files, _totals(result), arrived)
    result.arrival, result.missing_sites = arrived["status"], arrived["missing_sites"]
    _log(result)
    return result


def _landed_bytes(landing: Lake, files: list[tuple[str, str]]) -> int:
    return sum(landing.size(uri) for _, uri in files)


def _log(result: IngestResult) -> None:
    for warning in result.warnings:
        log.warning("%s", warning)
    log.info(
        "%s %s: read %d, accepted %d, quarantined %d (duplicates %d)",
        result.source,
        result.date,
        result.read,
        result.accepted,
        result.quarantined,
        result.duplicates,
    )


def ingest_date(settings: Settings, day: date, overdue: bool | None = None, swap: bool = True) -> list[IngestResult]:
    """Ingest every source of ``schema.CONTRACTS`` for ``day`` (``overdue``, ``swap``: see
    ``ingest_source``).

    Raises StorageError when no daily source has a landing folder for ``day`` and the day
    was never ingested (a wrong date or URI, or a drop not due yet); otherwise a failing
    source is recorded in its result's ``error``.
    """
    landing, lake = Lake.landing_from_settings(settings), Lake.from_settings(settings)
    folders = [landing.landing_day(name, day) for name in DAILY_SOURCES]
    known = [lake.ingest_manifest(name, day) for name in DAILY_SOURCES]
    if not overdue and not any(landing.exists(f) for f in folders) and not any(lake.exists(k) for k in known):
        raise StorageError(
            f"no landing drop for {day}: none of {folders} exists; check --date and "
            "RISKCAST_LANDING_URI, or wait for the drop to arrive"
        )
    results = []
    for source in CONTRACTS:
        try:
            results.append(ingest_source(settings, source, day, overdue, swap))
        except RiskcastError as exc:
            log.error("%s %s: %s", source, day, exc)
            # a setting (e.g. no PII key) is the platform's problem, not the data's
            kind = INFRASTRUCTURE if isinstance(exc, ConfigError) else CONTRACT
            results.append(IngestResult(source, day, error=str(exc), error_kind=kind))
        except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the others
            log.exception("%s %s: unexpected error", source, day)
            partition.discard(Lake.from_settings(settings), source, day)
            error = f"unexpected {type(exc).__name__} while ingesting (a riskcast bug): {exc}"
            results.append(IngestResult(source, day, error=error, error_kind=INFRASTRUCTURE))
    return results


def ingest_days(settings: Settings, days: list[date], source: str | None = None, swap: bool = True) -> dict[date, Any]:
    """``{day: ingest_source's result (source None: ingest_date's) or the RiskcastError it
    raised}`` for each of ``days``: one chunk of a backfill (``intake.parallel``)."""
    out: dict[date, Any] = {}
    for day in days:
        try:
            out[day] = ingest_day(settings, day, source, swap)
        except RiskcastError as exc:  # the caller alerts and records it, as in process
            out[day] = exc
    return out


def ingest_day(settings: Settings, day: date, source: str | None = None, swap: bool = True) -> Any:
    """``ingest_source(settings, source, day)``; every source (``ingest_date``) when None."""
    if source is None:
        return ingest_date(settings, day, swap=swap)
    return ingest_source(settings, source, day, swap=swap)


# ---------------------------------------------------------------------------- landing
def _landing_files(
    landing: Lake, contract: Contract, day: date
) -> tuple[list[tuple[str, str]], list[str]]:
    """[(landing-relative name, uri)] of the source's files for ``day``, sorted, and warnings."""
    folder = landing.landing_day(contract.name, day)
    if landing.exists(folder):
        return day_files(landing, folder, f"{contract.name}/date={day}")
    if contract.daily:
        raise StorageError(
            f"no landing drop for {contract.name} on {day}: {folder} does not exist; check the "
            "date and RISKCAST_LANDING_URI, or wait for the drop to arrive"
        )
    return reference_files(landing, contract.name, folder), []


def _read_all(
    landing: Lake, files: list[tuple[str, str]], contract: Contract, source: str, day: date, caps: Caps
) -> list[RawFile]:
    raws = []
    with progress_task(f"{source} {day}", len(files)) as advance:
        for name, uri in files:
            raws.append(read_file(name, read_landing(landing, name, uri), contract, caps))
            advance()
    return raws
