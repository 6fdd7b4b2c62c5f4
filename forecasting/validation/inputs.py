"""What a validation run reads: the rows ingest delivered for a day, and the suite parameters.

``input_frame`` rebuilds the day's input from bronze, joining back the rows an earlier
validation quarantined when ``validation.json`` shows bronze is still the file that run
left (its sha256); after a fresh ingest only bronze counts. ``suite_parameters`` gives
the end of the logical date, known warehouse ids (latest snapshot on or before the date),
the floor of the ``non_empty`` expectation (``min_day_rows``: 0 for a quiet day the drop
vouches for) and the volume band (``volume.count_band`` over recent partitions' row counts).
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from forecasting.core.config import Settings
from forecasting.core.lake import Lake, parse_date
from forecasting.core.schema import (
    INGEST_DATE,
    REASON,
    SOURCE_FILE,
    SOURCE_ROW,
    WAREHOUSE_ID,
    WAREHOUSES,
    Contract,
)
from forecasting.ingest.arrival import COMPLETE
from forecasting.ingest.manifest import read_manifest
from forecasting.validation.volume import MIN_VOLUME_HISTORY, count_band

_BRONZE_DTYPES = {
    "str": "string[pyarrow]",
    "int": "Int64",
    "float": "float64",
    "bool": "boolean",
    "date": "datetime64[ns]",
    "datetime": "datetime64[ns, UTC]",
}


def input_frame(lake: Lake, contract: Contract, day: date) -> tuple[pd.DataFrame | None, list[str]]:
    """The rows ingest delivered for ``day``, whatever an earlier validation did with them.

    None for a reference source without a snapshot that day; an empty typed frame (with a
    note) for a daily source ingest wrote nothing for. Rows sorted by key, then lineage.
    """
    bronze_uri = lake.bronze_file(contract.name, day)
    quarantine_uri = lake.validation_quarantine(contract.name, day)
    data = lake.read_bytes(bronze_uri) if lake.exists(bronze_uri) else None
    ours = validated_bronze(lake, contract, day, sha256(data))
    parts = [] if data is None else [pd.read_parquet(io.BytesIO(data))]
    if ours and lake.exists(quarantine_uri):
        parts.append(lake.read_parquet(quarantine_uri).drop(columns=[REASON]))
    parts = [p for p in parts if len(p)] or parts[:1]
    if not parts:
        if not ours and not contract.daily:
            return None, [f"no {contract.name} snapshot for {day}"]
        note = [] if ours else [f"no bronze partition for {day}: ingest wrote none"]
        return empty_frame(contract), note
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    order = [*contract.key, SOURCE_FILE, SOURCE_ROW]
    return frame.sort_values(order, kind="mergesort", na_position="last", ignore_index=True), []


def empty_frame(contract: Contract) -> pd.DataFrame:
    dtypes = {}
    for col, kind in contract.columns.items():
        if col in contract.pii:
            dtypes[contract.pii[col]] = _BRONZE_DTYPES["str"]
        elif col in contract.free_text:
            dtypes[contract.free_text[col]] = _BRONZE_DTYPES["bool"]
        else:
            dtypes[col] = _BRONZE_DTYPES[kind]
    dtypes.update(
        {SOURCE_FILE: _BRONZE_DTYPES["str"], SOURCE_ROW: "Int64", INGEST_DATE: "datetime64[ns]"}
    )
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in dtypes.items()})


def sha256(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def lake_sha256(lake: Lake, uri: str) -> str | None:
    """sha256 of a lake file, read in pieces (None when it does not exist)."""
    if not lake.exists(uri):
        return None
    with lake.open(uri) as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def validated_bronze(lake: Lake, contract: Contract, day: date, digest: str | None) -> bool:
    """Whether bronze (sha256 ``digest``, None: no file) is what an earlier validation left
    (or removed): then that run's quarantine joins back into the day's input."""
    uri = lake.validation_manifest(contract.name, day)
    manifest = lake.read_json(uri) if lake.exists(uri) else None
    return manifest is not None and manifest.get("bronze_sha256") == digest


# --------------------------------------------------------------------------- parameters
def suite_parameters(
    settings: Settings, lake: Lake, contract: Contract, day: date
) -> tuple[dict[str, Any], list[str]]:
    """Suite parameters for ``day`` and notes on the checks they switch off."""
    notes = []
    ids = known_warehouse_ids(lake, day) if contract.name != WAREHOUSES.name else None
    if ids is None and contract.name != WAREHOUSES.name:
        notes.append(f"no warehouses snapshot on or before {day}: referential check skipped")
    low, high, note = _volume_bounds(settings, lake, contract, day)
    floor, why = min_day_rows(settings, lake, contract, day)
    notes += [n for n in (note, why) if n]
    end_of_day = pd.Timestamp(day + timedelta(days=1), tz="UTC")
    age = settings.validation.max_row_age_days
    oldest = None if age is None else day - timedelta(days=age)
    params = {
        "max_timestamp": end_of_day,  # strict: up to the last instant of the logical date
        "max_date": pd.Timestamp(day),
        "min_timestamp": None if oldest is None else pd.Timestamp(oldest, tz="UTC"),
        "min_date": None if oldest is None else pd.Timestamp(oldest),
        "known_warehouse_ids": ids,
        "min_day_rows": floor,
        "min_rows": low,
        "max_rows": high,
        "sqft_min": settings.validation.sqft_min,
        "sqft_max": settings.validation.sqft_max,
    }
    return params, notes


def partition_dates(lake: Lake, source: str) -> list[date]:
    names = lake.ls(lake.bronze_root(source))
    return sorted(parse_date(n.split("=", 1)[1]) for n in names if n.startswith("date="))


def held_warehouse_ids(lake: Lake, day: date) -> tuple[list[str], date | None]:
    """Sites the referential check's snapshot held back (quarantined at ingest or validation)
    and so does not list: (sorted ids, snapshot date). Their rows are rejected as such, by
    name, and do not count towards the day's bad-row share: one bad site row is not a bad day.
    """
    snap = _snapshot_date(lake, day)
    if snap is None:
        return [], None
    known = set(known_warehouse_ids(lake, day) or [])
    held: set[str] = set()
    for uri in (
        lake.ingest_quarantine(WAREHOUSES.name, snap),
        lake.validation_quarantine(WAREHOUSES.name, snap),
    ):
        if lake.exists(uri):
            ids = lake.read_parquet(uri)[WAREHOUSE_ID].dropna().astype(str)
            held |= set(ids)
    return sorted(held - known), snap


def _snapshot_date(lake: Lake, day: date) -> date | None:
    """The date of the latest warehouses snapshot with a bronze partition on or before ``day``."""
    for snap in reversed([d for d in partition_dates(lake, WAREHOUSES.name) if d <= day]):
        if lake.exists(lake.bronze_file(WAREHOUSES.name, snap)):
            return snap
    return None


def known_warehouse_ids(lake: Lake, day: date) -> list[str] | None:
    """Warehouse ids of the latest validated snapshot dated on or before ``day``."""
    for snap in reversed([d for d in partition_dates(lake, WAREHOUSES.name) if d <= day]):
        uri = lake.bronze_file(WAREHOUSES.name, snap)
        if lake.exists(uri):
            ids = lake.read_parquet(uri)[WAREHOUSE_ID].dropna()
            return sorted(set(ids.astype(str)))
    return None


def _volume_bounds(
    settings: Settings, lake: Lake, contract: Contract, day: date
) -> tuple[int | None, int | None, str | None]:
    """The volume band (``volume.count_band``) from the earlier partitions' row counts
    (None, None: no history yet)."""
    if not contract.daily:
        return None, None, None
    counts = earlier_counts(lake, contract, day, settings.validation.volume_window_days)
    band = count_band(counts, settings.validation.volume_tail)
    if band is None:
        return None, None, f"volume check skipped: {len(counts)} earlier partitions (< {MIN_VOLUME_HISTORY})"
    return band.low, band.high, band.note


def earlier_counts(lake: Lake, contract: Contract, day: date, window: int) -> list[int]:
    """Row counts (Parquet footers) of the last ``window`` bronze partitions before ``day``;
    a day with no partition (missing, or rejected) has no count, a quiet day counts 0."""
    counts = []
    for d in partition_dates(lake, contract.name)[::-1]:
        if len(counts) == window:
            break
        uri = lake.bronze_file(contract.name, d)
        if d < day and lake.exists(uri):
            with lake.fs.open(uri, "rb") as fh:
                counts.append(pq.ParquetFile(fh).metadata.num_rows)
    return counts[::-1]


def min_day_rows(settings: Settings, lake: Lake, contract: Contract, day: date) -> tuple[int, str | None]:
    """The ``non_empty`` expectation's floor: 0 when a day without rows is a quiet day (the
    drop arrived complete, every file held a header or only the marker came, and the source's
    ``drops.<source>.zero_rows_ok``), else 1; and a note when a zero is not vouched for."""
    if not contract.daily or not settings.drop(contract.name).zero_rows_ok:
        return 1, None
    manifest = read_manifest(lake, contract.name, day)
    if manifest is None:
        return 1, "no ingest manifest for the day: a day without rows is not taken as a quiet day"
    if manifest["arrival"]["status"] != COMPLETE:
        return 1, f"the drop is {manifest['arrival']['status']}: a day without rows is not a quiet day"
    blank = sorted(name for name, f in manifest["files"].items() if f.get("blank"))
    if blank:
        return 1, f"{', '.join(blank)}: no header (blank): a day without rows is not a quiet day"
    return 0, None
