"""Validation stage: a day's bronze partitions -> GX suites -> clean bronze + quarantine.

Per source and logical date D (reference snapshots first, then the daily sources):

- input = ``bronze/<source>/date=D/part.parquet`` as ingest wrote it; on a rerun, the rows
  an earlier validation moved out are joined back (``validation.json`` records the sha256
  of the bronze file it left, so a fresh ingest is never mixed with stale quarantine);
- the suite ``expectations/<source>.json`` runs with the day's parameters (end of D,
  known warehouse ids, volume bounds from recent days, plausible sqft);
- row-level (``warning``) failures: those rows go to
  ``quarantine/<source>/date=D/validation.parquet`` (bronze columns + ``reason`` listing
  the failing expectation names, ``; ``-separated); bronze keeps the rest;
- batch-level (``critical``) failures or a bad-row share above
  ``settings.validation.max_bad_row_share``: every row goes to quarantine (reason names the
  batch failure) and the bronze partition is removed: nothing of that source and date is
  left for later stages;
- a site silent for longer than its history makes plausible is a warning
  (``validation.silence``): the day's rows stay, the alert names the site.

Input rows = bronze rows + quarantined rows, always. Reruns give byte-identical files.
All of it happens on the day's staged copy (``validation.staging``), swapped in at the end:
a rejected rerun keeps the day's previous files.
Exit codes: 0 clean, 1 rows quarantined / warnings, 2 a batch failed.
"""

from __future__ import annotations

import io
import logging
from datetime import date

import numpy as np
import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.errors import DataContractError
from forecasting.core.lake import Lake, parse_date
from forecasting.core.schema import (
    CONTRACTS,
    DAILY_SOURCES,
    REASON,
    REFERENCE_SOURCES,
    Contract,
)
from forecasting.validation.gx.datadocs import publish_data_docs
from forecasting.validation.gx.suites import (
    ExpectationResult,
    SuiteResult,
    load_suite,
    validate_frame,
)
from forecasting.validation.inputs import (
    input_frame,
    sha256,
    suite_parameters,
)
from forecasting.validation.results import (
    CRITICAL,
    SKIPPED,
    WARNINGS,
    SourceValidation,
)
from forecasting.validation.silence import rows_per_site, with_silence
from forecasting.validation.staging import conclude, missing_day, prepare
from forecasting.validation.stream import bronze_rows, check_streamed, splittable
from forecasting.validation.verdict import judge, record, row_reasons, rows_of_held_sites

__all__ = [
    "ExpectationResult",
    "SourceValidation",
    "SuiteResult",
    "validate_frame",
    "validate_source",
]

log = logging.getLogger(__name__)

SOURCE_ORDER = REFERENCE_SOURCES + DAILY_SOURCES  # known warehouse ids come from the snapshot


def validate_source(
    settings: Settings,
    source: str,
    day: date,
    raise_on_critical: bool = True,
    docs: bool = True,
    lake: Lake | None = None,
) -> SourceValidation:
    """Validate one source's bronze partition of ``day``; DataContractError if the batch fails.

    Works on the day's staged copy (``validation.staging``): its new ingest, else a copy of
    the live partition; then swaps it in, or keeps the live one when a good copy would be
    lost. The files are written before raising (quarantine, no bronze, Data Docs). With
    ``raise_on_critical=False`` a rejected batch is returned (status ``critical``) instead,
    e.g. to alert with its rows (``validation_alerts.alert_day``) before failing the task.
    ``docs=False`` builds Data Docs only when the day has a problem (backfills: a page per
    clean day would cost more than its validation). ``lake``: the caller staged the day
    and concludes it itself (``validation.batch``).
    """
    day = parse_date(day)
    own = lake is None
    lake = prepare(Lake.from_settings(settings), source, day, only_staged=False) if own else lake
    checked, suite_result = check_source(settings, lake, source, day)
    if docs or checked.status in (WARNINGS, CRITICAL):
        write_docs(settings, day, [(checked, suite_result)])
    if own:
        conclude(lake, source, day, checked)
    if checked.status == CRITICAL and raise_on_critical:
        raise DataContractError(checked.message)
    return checked


# --------------------------------------------------------------------------- one source
def check_source(
    settings: Settings, lake: Lake, source: str, day: date
) -> tuple[SourceValidation, SuiteResult | None]:
    """Run the suite on the day's input and write bronze / quarantine (Data Docs come later)."""
    contract = CONTRACTS[source]
    missing = missing_day(lake, source, day)
    if missing is not None:
        return missing, None
    if bronze_rows(lake, contract, day) > settings.validation.block_rows:
        why = splittable(load_suite(source), contract)
        if why is None:
            return check_streamed(settings, lake, contract, day)
        log.warning("%s %s: validated whole although large: %s", source, day, why)
    frame, notes = input_frame(lake, contract, day)
    if frame is None:
        return SourceValidation(source, day, SKIPPED, notes=notes), None
    params, param_notes = suite_parameters(settings, lake, contract, day)
    result = validate_frame(frame, source, params)
    return settle(settings, lake, contract, day, frame, (notes, param_notes), result), result


def settle(
    settings: Settings,
    lake: Lake,
    contract: Contract,
    day: date,
    frame: pd.DataFrame,
    notes: tuple[list[str], list[str]],
    result: SuiteResult,
) -> SourceValidation:
    """Act on a suite result for the day's input ``frame``: write bronze / quarantine /
    manifest and say what happened (``notes``: the input's and the parameters' notes)."""
    notes, param_notes = notes[0].copy(), notes[1]
    result = with_silence(settings, lake, contract, day, rows_per_site(frame), result, notes)
    bad = result.bad_rows()
    reasons = row_reasons(result, frame.index)
    site_held = rows_of_held_sites(lake, contract, day, frame, reasons, notes)
    sv, bad, batch = judge(settings, contract.name, day, result, bad | site_held, site_held,
                           (notes, param_notes))  # fmt: skip
    if batch:  # the whole batch goes: every row is held back, naming the batch failure
        reasons = (reasons + "; " + batch).fillna(batch)
    _write(lake, contract, day, frame, bad, reasons, sv)
    return sv


def _write(lake: Lake, contract: Contract, day: date, frame: pd.DataFrame, bad: np.ndarray,
           reasons: pd.Series, sv: SourceValidation) -> None:  # fmt: skip
    """Bronze = good rows (none on a batch failure), quarantine = bad rows + reason, manifest."""
    bronze_dir = lake.bronze(contract.name, day)
    bronze_uri, quarantine_uri = (
        lake.bronze_file(contract.name, day),
        lake.validation_quarantine(contract.name, day),
    )
    digest = None
    if sv.status == CRITICAL:
        lake.remove(bronze_dir)
    else:
        buf = io.BytesIO()
        frame[~bad].to_parquet(buf, index=False, engine="pyarrow")
        sv.bronze_uri = lake.write_bytes(bronze_uri, buf.getvalue())
        digest = sha256(buf.getvalue())
    if bad.any():
        held = frame[bad].assign(**{REASON: reasons[bad].astype("string")})
        sv.quarantine_uri = lake.write_parquet(held.reset_index(drop=True), quarantine_uri)
    elif lake.exists(quarantine_uri):
        lake.remove(quarantine_uri)
    record(lake, contract.name, day, sv, digest)


def write_docs(
    settings: Settings, day: date, runs: list[tuple[SourceValidation, SuiteResult | None]]
) -> None:
    """Data Docs for the day's runs; a rendering failure is noted, never undoes the files."""

    done = [(checked, result) for checked, result in runs if result is not None]
    if not done:
        return
    try:
        links = publish_data_docs(settings, [(r, f"{c.source}-{day}") for c, r in done], day)
    except Exception as exc:  # noqa: BLE001 - a GX rendering bug must not fail the validation
        log.error("Data Docs for %s not built: %s", day, exc)
        for checked, _ in done:
            checked.notes.append(f"Data Docs not built: {type(exc).__name__}: {exc}")
        return
    for (checked, _), link in zip(done, links, strict=True):
        checked.data_docs = link.to_dict()
