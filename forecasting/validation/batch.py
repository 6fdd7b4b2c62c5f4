"""Backfills validate in batches: many days of one source in one GX run, same files as day by day.

A suite run costs a fixed ~0.26 CPU-s whatever its row count, so a backfill validated day by
day paid it once per source and day. Here the days of a batch (``settings.validation``
``batch_days`` / ``batch_rows``) are screened together in ONE GX run; each day is then
settled on its own, in date order, exactly as its own run would settle it:

- the screen runs the source's suite on the rows of every day of the batch (each row keeps
  its day). Per-day parameters are made batch-wide so that the screen is never more lenient
  than a day's own run: a row's time columns (those the suite checks against
  ``max_timestamp``, ``min_timestamp``, ``max_date``, ``min_date``) are shifted by
  (batch's last day - the row's day), which moves each day's time window onto the last
  day's; known warehouse ids are the intersection of the days' snapshots; table-level row
  counts are checked per day, with each day's own bounds (volume bounds from the days
  before it, already settled);
- a day the screen passes and whose row count is within its bounds is settled with an
  all-passed result (``suites.passed_result``): bronze, manifest and notes are the ones its
  own run writes (nothing to quarantine, no Data Docs page: a clean backfill day gets none);
- every other day (a failing row, a table-level failure, no input, the backfill's last day,
  which gets Data Docs) runs through ``validation.validate_source`` on its own, as before.

The screen only ever sends a day to its own run, never the other way round: a duplicate id
across two days or a site known on only some days makes both days run on their own. A suite
with an expectation the screen cannot reason about (``screenable``) is validated day by day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import date
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.errors import DataContractError, InputError
from forecasting.core.lake import Lake
from forecasting.core.schema import CONTRACTS, WAREHOUSES, Contract
from forecasting.ingest.actors import run_on_actors, use_ray
from forecasting.validation.checks import settle, validate_source
from forecasting.validation.gx.suites import (
    load_suite,
    passed_result,
    suite_parameters,
    validate_frame,
    warm_up,
)
from forecasting.validation.inputs import input_frame, known_warehouse_ids
from forecasting.validation.inputs import suite_parameters as day_parameters
from forecasting.validation.results import SourceValidation
from forecasting.validation.staging import conclude, not_revalidated, prepare
from forecasting.validation.stream import bronze_rows

log = logging.getLogger(__name__)

ROW_COUNT = "expect_table_row_count_to_be_between"  # checked per day, in Python
TIME_PARAMS = frozenset({"max_timestamp", "min_timestamp", "max_date", "min_date"})
KNOWN_IDS = "known_warehouse_ids"
DAY_FREE_PARAMS = frozenset({"sqft_min", "sqft_max"})  # from settings: the same every day
# a row's result does not change when its time columns move by the same amount
_SHIFT_SAFE = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_of_type",
    "expect_column_values_to_be_in_type_list",
    "expect_column_values_to_be_unique",  # across days: only more failures (conservative)
    "expect_compound_columns_to_be_unique",
    "expect_column_pair_values_a_to_be_greater_than_b",
    "expect_column_values_to_be_between",  # only with time parameters (checked below)
    "expect_table_columns_to_match_set",
})
# one row's result depends only on that row (or, for uniqueness, fails more in a batch)
_ROW_LOCAL = _SHIFT_SAFE | {"expect_column_values_to_be_in_set"}

Outcome = SourceValidation | DataContractError | InputError


def validate_days(settings: Settings, source: str, days: Sequence[date], docs_day: date | None,
                  only_staged: bool = False) -> Iterator[tuple[date, Outcome]]:  # fmt: skip
    """(day, what validating it did) for each of ``days`` in order, batch by batch.

    The same as ``validate_source(settings, source, day, raise_on_critical=False,
    docs=day == docs_day)`` for each day in turn (the files it leaves are identical); a
    day's DataContractError / InputError is yielded, not raised, so the next days go on.
    Each day is validated on its staged copy and swapped in (or kept) as soon as it is
    settled (``validation.staging``); with ``only_staged`` a day this run did not ingest
    anew is not validated again. With ``intake_workers`` != 1 the batches' screens run
    first, on Ray actors (``intake.parallel``); the days are settled here, in date order.
    """
    contract = CONTRACTS[source]
    base = Lake.from_settings(settings)
    fresh = [d for d in days if prepare(base, source, d, only_staged) is not None]
    lake = base.with_staged({(source, d) for d in fresh})
    shifted = screenable(load_suite(source))
    size = settings.validation.batch_days if shifted is not None else 1
    batches = [list(days[i:i + size]) for i in range(0, len(days), size)]
    remote = None
    if size > 1 and use_ray(settings, len(batches)):  # every batch's screen first, on the actors
        screens = run_on_actors(settings, partial(screen_batch, source=source, staged=fresh), batches,
                                f"screen {source} (Ray)", warm=warm_up)  # fmt: skip
        remote = set().union(*screens)
    for batch in batches:
        if remote is not None:
            cleared = {d: input_frame(lake, contract, d) for d in batch if d in remote}
        else:
            cleared = _screen_batch(settings, lake, contract, shifted, batch) if size > 1 else {}
        for d in batch:
            if (source, d) not in lake.staged:
                yield d, not_revalidated(source, d)
                continue
            outcome = _settle_day(settings, lake, contract, d, cleared.get(d), d == docs_day)
            yield d, conclude(lake, source, d, outcome)


def screen_batch(settings: Settings, days: Sequence[date], source: str, staged: Sequence[date] = ()) -> set[date]:
    """The days of one batch that its screen clears (an ``IntakeWorker`` call); ``staged``:
    the days whose staged copy is validated."""
    contract = CONTRACTS[source]
    lake = Lake.from_settings(settings).with_staged({(source, d) for d in staged})
    shifted = screenable(load_suite(source))
    return set(_screen_batch(settings, lake, contract, shifted, days)) if shifted is not None else set()


def _screen_batch(
    settings: Settings, lake: Lake, contract: Contract, shifted: set[str], days: Sequence[date]
) -> dict[date, tuple[pd.DataFrame | None, list[str]]]:
    """{cleared day: its input frame and notes} for a batch, split at ``batch_rows`` rows."""
    cleared: dict[date, tuple[pd.DataFrame | None, list[str]]] = {}
    batch: dict[date, tuple[pd.DataFrame | None, list[str]]] = {}
    rows = 0
    for i, day in enumerate(days):
        if bronze_rows(lake, contract, day) > settings.validation.block_rows:
            continue  # a large day runs on its own, in blocks (validation_stream)
        batch[day] = input_frame(lake, contract, day)
        rows += 0 if batch[day][0] is None else len(batch[day][0])
        if rows >= settings.validation.batch_rows or i == len(days) - 1:
            ok = _screen(settings, lake, contract, batch, shifted) if len(batch) > 1 else set()
            cleared.update({d: batch[d] for d in ok})
            batch, rows = {}, 0
    return cleared


def screenable(doc: dict[str, Any]) -> set[str] | None:
    """The columns to shift to screen ``doc`` on many days at once, or None if it cannot be."""
    shifted: set[str] = set()
    for exp in doc["expectations"]:
        kind, kw, needed = exp["type"], exp["kwargs"], set(suite_parameters(exp))
        if kind == ROW_COUNT:
            if set(kw) - {"min_value", "max_value"}:
                return None
            continue
        if kind not in _ROW_LOCAL or needed - TIME_PARAMS - DAY_FREE_PARAMS - {KNOWN_IDS}:
            return None
        if needed & TIME_PARAMS:
            if kind != "expect_column_values_to_be_between" or not _bounds_are(kw, TIME_PARAMS):
                return None
            shifted.add(kw["column"])
        if KNOWN_IDS in needed and kind != "expect_column_values_to_be_in_set":
            return None
    for exp in doc["expectations"]:
        kw = exp["kwargs"]
        cols = {kw[k] for k in ("column", "column_A", "column_B") if k in kw} | set(kw.get("column_list", []))
        touched = cols & shifted
        if not touched:
            if any(name in str(kw.get("row_condition", "")) for name in shifted):
                return None
            continue
        if exp["type"] not in _SHIFT_SAFE or "row_condition" in kw:
            return None
        if exp["type"] == "expect_column_values_to_be_between" and not _bounds_are(kw, TIME_PARAMS):
            return None
        if exp["type"] == "expect_column_pair_values_a_to_be_greater_than_b" and touched != cols:
            return None
    return shifted


def _bounds_are(kw: dict[str, Any], names: frozenset[str]) -> bool:
    """Every bound given is a parameter from ``names``."""
    bounds = [kw[k] for k in ("min_value", "max_value") if kw.get(k) is not None]
    return all(isinstance(b, dict) and b.get("$PARAMETER") in names for b in bounds)


def _screen(
    settings: Settings,
    lake: Lake,
    contract: Contract,
    batch: dict[date, tuple[pd.DataFrame | None, list[str]]],
    shifted: set[str],
) -> set[date]:
    """The days of ``batch`` that pass the one GX run (their own run would pass them too)."""
    usable = [d for d, (frame, _) in batch.items() if frame is not None and len(frame)]
    if len(usable) < 2:
        return set()
    ref = usable[-1]
    dtypes = batch[ref][0].dtypes
    usable = [d for d in usable if batch[d][0].dtypes.equals(dtypes)]
    known: dict[date, list[str] | None] = dict.fromkeys(usable)
    if contract.name != WAREHOUSES.name:
        known = {d: known_warehouse_ids(lake, d) for d in usable}
        usable = [d for d in usable if (known[d] is None) == (known[ref] is None)]
    params, _ = day_parameters(settings, lake, contract, ref)
    params.update(min_rows=None, max_rows=None)  # row counts: per day, not per batch
    if known.get(ref) is not None:
        params[KNOWN_IDS] = sorted(set.intersection(*(set(known[d]) for d in usable)))
    lengths = [len(batch[d][0]) for d in usable]
    view = pd.concat([batch[d][0] for d in usable], ignore_index=True)
    day_of_row = np.repeat(np.arange(len(usable)), lengths)
    offsets = pd.to_timedelta(np.repeat([(ref - d).days for d in usable], lengths), unit="D")
    try:
        for col in shifted:
            if not pd.api.types.is_datetime64_any_dtype(view[col]):
                return set()
            view[col] = view[col] + pd.Series(offsets, index=view.index)
    except (OverflowError, pd.errors.OutOfBoundsDatetime, KeyError) as exc:
        log.info("%s: batch of %d days not screened (%s): day by day", contract.name, len(usable), exc)
        return set()
    result = validate_frame(view, contract.name, params)
    flagged = np.zeros(len(usable), dtype=bool)
    for e in result.failed:
        if not e.quarantines_rows:  # a table-level failure or an error: no day is cleared
            return set()
        flagged[np.unique(day_of_row[e.rows])] = True
    return {d for d, bad in zip(usable, flagged, strict=True) if not bad}


def _settle_day(
    settings: Settings,
    lake: Lake,
    contract: Contract,
    day: date,
    cleared: tuple[pd.DataFrame, list[str]] | None,
    docs: bool,
) -> Outcome:
    """Settle a day the screen cleared (its input frame and notes); any other runs on its own."""
    try:
        if cleared is not None and not docs:
            frame, notes = cleared
            params, param_notes = day_parameters(settings, lake, contract, day)
            if _row_counts_pass(contract.name, params, len(frame)):
                result = passed_result(contract.name, params, len(frame))
                return settle(settings, lake, contract, day, frame, (notes, param_notes), result)
        return validate_source(settings, contract.name, day, raise_on_critical=False, docs=docs, lake=lake)
    except (DataContractError, InputError) as exc:
        return exc


def _row_counts_pass(source: str, params: dict[str, Any], rows: int) -> bool:
    """Every row-count expectation of the suite passes for a day of ``rows`` rows."""
    for exp in load_suite(source)["expectations"]:
        if exp["type"] != ROW_COUNT:
            continue
        bounds = []
        for key in ("min_value", "max_value"):
            value = exp["kwargs"].get(key)
            if isinstance(value, dict):
                value = params[value["$PARAMETER"]]
                if value is None:  # the day's own run skips this expectation
                    bounds = []
                    break
            bounds.append((key, value))
        for key, value in bounds:
            if value is not None and (rows < value if key == "min_value" else rows > value):
                return False
    return True
