"""Realistic data faults the sample network can inject into its landing drops.

``FAULTS`` is the one table of fault names -> (source, level, injector); validation and
ingest tests refer to these names, and ``_truth/faults.json`` records each injection
(date, source, file, affected ids, detail). Every fault gets its own day in the second
half of the range, never in the last 3 days, so a clean as-of date remains at the end.
Injected rows are fresh realistic noise rows with fresh ids, so the true thefts, their
reports and their count lines stay intact; only ``empty_day`` and ``missing_column``
take real rows away (their ids are recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    FAULT_DATE,
    FAULT_DETAIL,
    FAULT_FILE,
    FAULT_IDS,
    FAULT_NAME,
    FAULT_SOURCE,
    INCIDENT_AT,
    NOTES,
    REASON_CODE,
    RECON_ID,
    REPORT_ID,
    REPORTED_AT,
    SEVERITY,
    STATUS,
    UNITS,
    WAREHOUSE_ID,
)
from forecasting.demo.activity import THEFT
from forecasting.demo.drops import DropFile, to_csv_bytes

REPORTS, RECON = "security_reports", "reconciliation_logs"
CLEAN_TAIL_DAYS = 3
EXTRA_COLUMN = "shift_code"
PATH_LIKE_ID = "../x"


@dataclass
class FaultContext:
    """What injectors act on: drops per source and day, day names, a generator, and a
    factory of fresh realistic rows ``fresh(source, day, n) -> string frame with ids``."""

    drops: dict[str, dict[int, list[DropFile]]]
    day_names: list[str]
    rng: np.random.Generator
    fresh: Callable[[str, int, int], pd.DataFrame]


def _main(ctx: FaultContext, source: str, day: int) -> DropFile:
    return ctx.drops[source][day][0]


def _append(ctx: FaultContext, source: str, day: int, rows: pd.DataFrame) -> tuple[str, list[str]]:
    main = _main(ctx, source, day)
    main.frame = pd.concat([main.frame, rows], ignore_index=True)
    key = REPORT_ID if source == REPORTS else RECON_ID
    return main.name, rows[key].tolist()


def _next_name(ctx: FaultContext, source: str, day: int, ext: str) -> str:
    return f"part-{len(ctx.drops[source][day]):03d}.{ext}"


def _stamp(day_name: str, hhmm: str, plus_days: int = 0) -> str:
    base = pd.Timestamp(day_name) + pd.Timedelta(days=plus_days)
    return f"{base.date()}T{hhmm}:00Z"


# ----------------------------------------------------------------- row-level (reports)
def _unknown_warehouse(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 2)
    rows[WAREHOUSE_ID] = [f"{w[:6]}999" for w in rows[WAREHOUSE_ID]]  # WH-DE-999: not a site
    name, ids = _append(ctx, REPORTS, day, rows)
    return {
        FAULT_FILE: name,
        FAULT_IDS: ids,
        FAULT_DETAIL: f"warehouse_id {sorted(set(rows[WAREHOUSE_ID]))}",
    }


def _negative_units(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 2)
    rows[UNITS] = ["-3", "-1"]
    name, ids = _append(ctx, REPORTS, day, rows)
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "units < 0"}


def _future_timestamp(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 2)
    rows[INCIDENT_AT] = _stamp(ctx.day_names[day], "08:00", plus_days=2)
    rows[REPORTED_AT] = _stamp(ctx.day_names[day], "09:30", plus_days=2)
    name, ids = _append(ctx, REPORTS, day, rows)
    return {
        FAULT_FILE: name,
        FAULT_IDS: ids,
        FAULT_DETAIL: "incident_at and reported_at 2 days after the drop date",
    }


def _reported_before_incident(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 2)
    rows[INCIDENT_AT] = _stamp(ctx.day_names[day], "15:40")
    rows[REPORTED_AT] = _stamp(ctx.day_names[day], "07:10")
    name, ids = _append(ctx, REPORTS, day, rows)
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "reported_at < incident_at"}


def _duplicate_report_id(ctx: FaultContext, day: int) -> dict[str, Any]:
    main = _main(ctx, REPORTS, day)
    noise = main.frame[main.frame[THEFT].isna()]  # keep the true theft reports unambiguous
    if noise.empty:
        _append(ctx, REPORTS, day, ctx.fresh(REPORTS, day, 1))
        noise = main.frame.iloc[-1:]
    rows = ctx.fresh(REPORTS, day, min(2, len(noise)))
    rows[REPORT_ID] = noise[REPORT_ID].tolist()[: len(rows)]
    rows[STATUS] = "unconfirmed"
    rows[NOTES] = "Resubmitted after system timeout."
    name, ids = _append(ctx, REPORTS, day, rows)
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "same report_id, different content"}


def _severity_out_of_set(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 2)
    rows[SEVERITY] = "SEV9"
    name, ids = _append(ctx, REPORTS, day, rows)
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "severity SEV9"}


def _wrong_type(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 1)
    rows[UNITS] = "twelve"
    name, ids = _append(ctx, REPORTS, day, rows)
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "units = 'twelve'"}


def _non_utf8_bytes(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 1)
    note = f"Übergabe an Lagerleitung geprüft ({rows[REPORT_ID].iloc[0]})."
    rows[NOTES] = note
    name, ids = _append(ctx, REPORTS, day, rows)
    # an upstream export in Windows-1252: the row's notes are not valid UTF-8
    _main(ctx, REPORTS, day).patches.append(
        lambda b: b.replace(note.encode("utf-8"), note.encode("cp1252"))
    )
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "notes encoded as Windows-1252"}


def _extra_column(ctx: FaultContext, day: int) -> dict[str, Any]:
    main = _main(ctx, REPORTS, day)
    n = len(main.frame)
    main.frame[EXTRA_COLUMN] = np.array(["A", "B", "N"], dtype=object)[ctx.rng.integers(3, size=n)]
    ids = main.frame[REPORT_ID].tolist()
    return {FAULT_FILE: main.name, FAULT_IDS: ids, FAULT_DETAIL: f"extra column {EXTRA_COLUMN!r}"}


def _format_mismatch(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(REPORTS, day, 3)
    visible = rows[[c for c in rows.columns if not c.startswith("_")]]
    name = _next_name(ctx, REPORTS, day, "parquet")
    raw = to_csv_bytes(visible)
    ctx.drops[REPORTS][day].append(DropFile(name, rows, raw=raw))
    return {
        FAULT_FILE: name,
        FAULT_IDS: rows[REPORT_ID].tolist(),
        FAULT_DETAIL: "CSV text in a .parquet file",
    }


# ----------------------------------------------------------------- day-level (reports)
def _volume_spike(ctx: FaultContext, day: int) -> dict[str, Any]:
    # 10x extra over a usual day: the median of the 14 days before (a volume check's
    # window), not this day's own, maybe quiet, count
    history = [sum(f.rows for f in ctx.drops[REPORTS][d]) for d in range(max(0, day - 14), day)]
    usual = max(1, int(np.ceil(np.median(history)))) if history else 1
    extra = 10 * usual
    name, ids = _append(ctx, REPORTS, day, ctx.fresh(REPORTS, day, extra))
    return {
        FAULT_FILE: name,
        FAULT_IDS: ids,
        FAULT_DETAIL: f"{extra} extra rows (a usual day has {usual})",
    }


def _empty_day(ctx: FaultContext, day: int) -> dict[str, Any]:
    files = ctx.drops[REPORTS][day]
    ids = [i for f in files if f.frame is not None for i in f.frame[REPORT_ID]]
    empty = files[0].frame.iloc[0:0].copy()
    ctx.drops[REPORTS][day] = [DropFile("part-000.csv", empty)]
    return {
        FAULT_FILE: "part-000.csv",
        FAULT_IDS: ids,
        FAULT_DETAIL: f"header only; {len(ids)} rows withheld",
    }


# ----------------------------------------------------------------- reconciliation logs
def _path_like_id(ctx: FaultContext, day: int) -> dict[str, Any]:
    rows = ctx.fresh(RECON, day, 2)
    rows.loc[0, RECON_ID] = PATH_LIKE_ID
    rows.loc[1, WAREHOUSE_ID] = PATH_LIKE_ID
    name, ids = _append(ctx, RECON, day, rows)
    return {
        FAULT_FILE: name,
        FAULT_IDS: ids,
        FAULT_DETAIL: f"recon_id and warehouse_id {PATH_LIKE_ID!r}",
    }


def _truncated_file(ctx: FaultContext, day: int) -> dict[str, Any]:
    name, ids = _append(ctx, RECON, day, ctx.fresh(RECON, day, 1))

    def cut(data: bytes) -> bytes:  # the export died half-way through the last line
        body = data.rstrip(b"\n")
        start = body.rfind(b"\n") + 1
        return body[: start + (len(body) - start) // 2]

    _main(ctx, RECON, day).patches.append(cut)
    return {FAULT_FILE: name, FAULT_IDS: ids, FAULT_DETAIL: "last line cut half-way, no newline"}


def _empty_file(ctx: FaultContext, day: int) -> dict[str, Any]:
    name = _next_name(ctx, RECON, day, "csv")
    ctx.drops[RECON][day].append(DropFile(name, raw=b""))
    return {FAULT_FILE: name, FAULT_IDS: [], FAULT_DETAIL: "0-byte file"}


def _missing_column(ctx: FaultContext, day: int) -> dict[str, Any]:
    main = _main(ctx, RECON, day)
    main.frame = main.frame.drop(columns=[REASON_CODE])
    ids = main.frame[RECON_ID].tolist()
    return {
        FAULT_FILE: main.name,
        FAULT_IDS: ids,
        FAULT_DETAIL: f"required column {REASON_CODE!r} missing",
    }


Injector = Callable[[FaultContext, int], dict[str, Any]]
# name -> (source, level, injector). Level "day" faults break a whole drop; they never
# share a day with row- or file-level ones (every fault has its own day).
FAULTS: dict[str, tuple[str, str, Injector]] = {
    "unknown_warehouse": (REPORTS, "row", _unknown_warehouse),
    "negative_units": (REPORTS, "row", _negative_units),
    "future_timestamp": (REPORTS, "row", _future_timestamp),
    "reported_before_incident": (REPORTS, "row", _reported_before_incident),
    "duplicate_report_id": (REPORTS, "row", _duplicate_report_id),
    "severity_out_of_set": (REPORTS, "row", _severity_out_of_set),
    "wrong_type": (REPORTS, "row", _wrong_type),
    "non_utf8_bytes": (REPORTS, "row", _non_utf8_bytes),
    "extra_column": (REPORTS, "file", _extra_column),
    "format_mismatch": (REPORTS, "file", _format_mismatch),
    "volume_spike": (REPORTS, "day", _volume_spike),
    "empty_day": (REPORTS, "day", _empty_day),
    "path_like_id": (RECON, "row", _path_like_id),
    "truncated_file": (RECON, "file", _truncated_file),
    "empty_file": (RECON, "file", _empty_file),
    "missing_column": (RECON, "day", _missing_column),
}
FAULT_NAMES = tuple(FAULTS)


def min_days_for_faults() -> int:
    """Fewest days whose second half (less the clean tail) gives each fault its own day."""
    days = 1
    while days - days // 2 - CLEAN_TAIL_DAYS < len(FAULTS):
        days += 1
    return days


def fault_days(rng: np.random.Generator, n_days: int) -> dict[str, int]:
    """Each fault's day index: distinct, in [n_days // 2, n_days - 1 - CLEAN_TAIL_DAYS]."""
    candidates = np.arange(n_days // 2, n_days - CLEAN_TAIL_DAYS)
    picked = rng.choice(candidates, size=len(FAULTS), replace=False)
    return {name: int(d) for name, d in zip(FAULTS, picked, strict=True)}


def inject_faults(ctx: FaultContext, days: dict[str, int]) -> list[dict[str, Any]]:
    """Apply every fault on its day; return the faults.json records sorted by date."""
    records = []
    for name, (source, _level, injector) in FAULTS.items():
        day = days[name]
        rec = injector(ctx, day)
        rec[FAULT_FILE] = f"{source}/date={ctx.day_names[day]}/{rec[FAULT_FILE]}"
        records.append(
            {FAULT_NAME: name, FAULT_DATE: ctx.day_names[day], FAULT_SOURCE: source, **rec}
        )
    return sorted(records, key=lambda r: (r[FAULT_DATE], r[FAULT_NAME]))
