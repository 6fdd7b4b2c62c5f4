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
A rerun resets the day: it replaces bronze and clears the quarantine partition
(including the validation stage's ``validation.parquet``, which described the old bronze).

Duplicates: a row with the same business key AND the same content as an earlier one (a
re-delivered row or file) is quarantined as ``duplicate of <file> row <n>``. Rows that
share a key but differ in content are both kept: which one is right is a business rule,
and the validation stage's uniqueness expectation quarantines them by name.
Duplicates are found within one source and day only.

File-level problems (not the claimed format, a required column missing, unreadable) fail
the source for that day: InputError naming the file and column, nothing left in bronze.
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
from forecasting.core.errors import ConfigError, DataContractError, RiskcastError, StorageError
from forecasting.core.lake import Lake, join
from forecasting.core.progress import progress_task
from forecasting.core.schema import CONTRACTS, DAILY_SOURCES, Contract
from forecasting.ingest.bronze import account_rows, parquet_bytes, split_rows
from forecasting.ingest.landing import day_files, read_landing, reference_files
from forecasting.ingest.pii import resolve_pii_key
from forecasting.ingest.raw import RawFile
from forecasting.ingest.reader import read_file
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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date.isoformat()
        return data


def ingest_source(settings: Settings, source: str, day: date) -> IngestResult:
    """Ingest one source's drop for ``day``; raise InputError / StorageError when it fails.

    On failure the day's bronze and quarantine partitions of the source are removed, so
    nothing half-ingested is left behind.
    """
    contract = CONTRACTS.get(source)
    if contract is None:
        raise ConfigError(f"unknown source {source!r}: use one of {sorted(CONTRACTS)}")
    landing = Lake.landing_from_settings(settings)
    lake = Lake.from_settings(settings)
    result = IngestResult(source, day)
    try:
        files, result.warnings = _landing_files(landing, contract, day)
        result.files = [name for name, _ in files]
        key = resolve_pii_key(settings) if contract.pii else None
        if _landed_bytes(landing, files) > settings.intake_block_bytes:
            return _ingest_streamed(landing, lake, files, contract, key, result, settings)
        raws = _read_all(landing, files, contract, source, day, Caps.from_settings(settings))
        split = split_rows(raws, contract, key, day)
    except RiskcastError:
        _clear(lake, source, day, keep_bronze=False)
        raise
    for raw in raws:
        result.warnings.extend(raw.warnings)
    result.read = sum(raw.read for raw in raws)
    result.accepted, result.quarantined = split.bronze.num_rows, split.quarantine.num_rows
    result.duplicates = split.duplicates
    try:
        result.file_rows = account_rows(raws, split)
    except DataContractError:
        _clear(lake, source, day, keep_bronze=False)
        raise
    bronze = parquet_bytes(split.bronze, contract.key)
    return _publish(lake, contract, result, lambda uri: lake.write_bytes(uri, bronze), split.quarantine)


def _ingest_streamed(landing: Lake, lake: Lake, files: list[tuple[str, str]], contract: Contract,
                     key: bytes | None, result: IngestResult, settings: Settings) -> IngestResult:  # fmt: skip
    """``ingest_source`` for a day larger than ``intake_block_bytes``: ``stream.streamed_split``."""
    day = result.date
    caps = Caps.from_settings(settings)
    with streamed_split(landing, files, contract, key, day, settings.intake_block_bytes, caps) as split:
        result.warnings.extend(split.warnings)
        result.read, result.accepted = split.read, split.accepted
        result.quarantined, result.duplicates = split.quarantine.num_rows, split.duplicates
        result.file_rows = split.file_rows
        put = partial(lake.put_file, split.bronze_path)
        return _publish(lake, contract, result, put, split.quarantine)


def _publish(lake: Lake, contract: Contract, result: IngestResult, put_bronze: Callable[[str], str],
             quarantine: pa.Table) -> IngestResult:  # fmt: skip
    """Replace the day's partitions: bronze (``put_bronze(uri)`` writes it) and the
    quarantine when rows were held back; log what the ingest did."""
    source, day = contract.name, result.date
    _clear(lake, source, day, keep_bronze=True)
    result.bronze_uri = put_bronze(lake.bronze_file(source, day))
    if quarantine.num_rows:
        uri = lake.ingest_quarantine(source, day)
        result.quarantine_uri = lake.write_bytes(uri, parquet_bytes(quarantine, contract.key))
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


def ingest_date(settings: Settings, day: date) -> list[IngestResult]:
    """Ingest every source of ``schema.CONTRACTS`` for ``day``.

    Raises StorageError when no daily source has a landing folder for ``day`` (the drop is
    missing); otherwise a failing source is recorded in its result's ``error``.
    """
    landing = Lake.landing_from_settings(settings)
    folders = [_day_folder(landing, name, day) for name in DAILY_SOURCES]
    if not any(landing.exists(f) for f in folders):
        raise StorageError(
            f"no landing drop for {day}: none of {folders} exists; check --date and "
            "RISKCAST_LANDING_URI, or wait for the drop to arrive"
        )
    results = []
    for source in CONTRACTS:
        try:
            results.append(ingest_source(settings, source, day))
        except RiskcastError as exc:
            log.error("%s %s: %s", source, day, exc)
            # a setting (e.g. no PII key) is the platform's problem, not the data's
            kind = INFRASTRUCTURE if isinstance(exc, ConfigError) else CONTRACT
            results.append(IngestResult(source, day, error=str(exc), error_kind=kind))
        except Exception as exc:  # noqa: BLE001 - a bug in one source must not stop the others
            log.exception("%s %s: unexpected error", source, day)
            _clear(Lake.from_settings(settings), source, day, keep_bronze=False)
            error = f"unexpected {type(exc).__name__} while ingesting (a riskcast bug): {exc}"
            results.append(IngestResult(source, day, error=error, error_kind=INFRASTRUCTURE))
    return results


def ingest_days(settings: Settings, days: list[date], source: str | None = None) -> dict[date, Any]:
    """``{day: ingest_source's result (source None: ingest_date's) or the RiskcastError it
    raised}`` for each of ``days``: one chunk of a backfill (``intake.parallel``)."""
    out: dict[date, Any] = {}
    for day in days:
        try:
            out[day] = ingest_day(settings, day, source)
        except RiskcastError as exc:  # the caller alerts and records it, as in process
            out[day] = exc
    return out


def ingest_day(settings: Settings, day: date, source: str | None = None) -> Any:
    """``ingest_source(settings, source, day)``; every source (``ingest_date``) when None."""
    return ingest_date(settings, day) if source is None else ingest_source(settings, source, day)


# ---------------------------------------------------------------------------- landing
def _day_folder(landing: Lake, source: str, day: date) -> str:
    return join(landing.uri, source, f"date={day}")


def _landing_files(
    landing: Lake, contract: Contract, day: date
) -> tuple[list[tuple[str, str]], list[str]]:
    """[(landing-relative name, uri)] of the source's files for ``day``, sorted, and warnings."""
    folder = _day_folder(landing, contract.name, day)
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


def _clear(lake: Lake, source: str, day: date, keep_bronze: bool) -> None:
    """Remove the day's quarantine partition (and bronze, unless it is about to be replaced)."""
    targets = [lake.quarantine(source, day)] + ([] if keep_bronze else [lake.bronze(source, day)])
    for uri in targets:
        try:
            lake.remove(uri)
        except RiskcastError as exc:  # the lake itself is unreachable: report the first error
            log.error("could not clear %s: %s", uri, exc)
