"""The landing sweep: late, amended and removed files of past days become restatements.

Every ingest run (the DAG's ``sweep`` task, ``riskcast ingest``) compares the landing area of
the ``lookback_days`` days before its date with what was ingested (``ingest.json``: names,
sizes, sha256 of the files, the ``_SUCCESS`` marker). A day whose files were added, changed
or removed since is ingested and validated again on its staged copy (``ingest.partition``):
its bronze and quarantine become byte-identical to an on-time ingest of the final files.

- restated: swapped in; ``restatements/<source>/date=D/<landing digest>.json`` records the
  day, source, files and rows before/after, and one info alert says so. The next forecast
  run republishes with the reason (``reserves.restatements``);
- refused: the new files cannot be ingested or validation rejects them: the day's good copy
  stays, the record says why, one alert; the same files are not tried again (new ones are);
- a day purged by retention (``landing_purges/``) is not an amendment: skipped;
- a day whose whole folder is gone without a purge: one alert, bronze kept, nothing re-run;
- a day never ingested (no manifest) is not the sweep's: its own run ingests it.

Cost: one listing per day and a sha256 of each file whose size did not change (``bench/sweep.py``).
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from forecasting.alerts.drops import refused_alert, restatement_alert, vanished_alert
from forecasting.alerts.send import send_alert_once
from forecasting.core.config import Settings
from forecasting.core.errors import AlertError, RiskcastError
from forecasting.core.lake import Lake
from forecasting.core.schema import DAILY_SOURCES
from forecasting.ingest.changes import Change, compare
from forecasting.ingest.drop import ingest_source
from forecasting.ingest.manifest import read_manifest
from forecasting.validation.checks import validate_source
from forecasting.validation.results import CRITICAL
from forecasting.validation.staging import conclude, good_copy, prepare

log = logging.getLogger(__name__)
RESTATED, REFUSED = "restated", "refused"


def sweep_landing(settings: Settings, run_day: date, skip: set[date] = frozenset()) -> dict[str, Any]:
    """Sweep the ``lookback_days`` days before ``run_day`` (minus ``skip``: days this run
    ingested itself); returns ``{"run_day", "days_checked", "restated", "refused",
    "vanished", "alerts", "alert_errors"}`` (the records, JSON-able)."""
    live, landing = Lake.from_settings(settings), Lake.landing_from_settings(settings)
    days = [run_day - timedelta(days=k) for k in range(settings.lookback_days, 0, -1)]
    out: dict[str, Any] = {"run_day": run_day.isoformat(), "days_checked": 0, RESTATED: [],
                           REFUSED: [], "vanished": [], "alerts": {}, "alert_errors": []}  # fmt: skip
    for source in DAILY_SOURCES:
        for day in (d for d in days if d not in skip):
            out["days_checked"] += 1
            found = compare(landing, live, source, day)
            if found is None:
                continue
            if isinstance(found, list):  # the folder is gone: no purge, no re-ingest
                out["vanished"].append({"source": source, "date": day.isoformat(), "files": found})
                _alert(settings, vanished_alert(source, day, found), out)
                continue
            record = restate(settings, live, found, run_day)
            if record is not None:
                out[record["status"]].append(record)
    log.info("sweep of %d day(s) before %s: %d restated, %d refused, %d vanished", len(days), run_day,
             len(out[RESTATED]), len(out[REFUSED]), len(out["vanished"]))  # fmt: skip
    return out


def sweep_after(settings: Settings, days: list[date]) -> dict[str, Any]:
    """The sweep an ingest run of ``days`` makes: the lookback before its last day, minus
    the days it ingested itself (what the DAG's ``sweep`` task and ``riskcast ingest`` call)."""
    return sweep_landing(settings, max(days), set(days))


def restate(settings: Settings, live: Lake, change: Change, run_day: date) -> dict[str, Any] | None:
    """Ingest and validate the changed day again; swap it in (restated) or keep the good
    copy (refused); record it and alert once. None when these files were refused before."""
    source, day = change.source, change.day
    uri = live.restatement(source, day, change.digest)
    if live.exists(uri) and live.read_json(uri)["status"] == REFUSED:
        return None  # the same files again: alerted already; new files get a new digest
    before = _rows(live, source, day)
    record: dict[str, Any] = {"source": source, "date": day.isoformat(), "detected_on": run_day.isoformat(),
                              "landing_digest": change.digest, **change.to_dict(), "rows_before": before}  # fmt: skip
    why = None
    try:
        ingest_source(settings, source, day, swap=False)
        lake = prepare(live, source, day, only_staged=True)
        checked = validate_source(settings, source, day, raise_on_critical=False, lake=lake)
    except RiskcastError as exc:
        why = str(exc)
    else:
        kept = checked.status == CRITICAL and good_copy(live, source, day)
        conclude(lake, source, day, checked)
        why = checked.message if kept else None
    if why is None:
        after = _rows(live, source, day)
        delta = (after or 0) - (before or 0)
        record.update(status=RESTATED, rows_after=after, reason=f"{source} {day}, {delta:+d} rows")
        live.write_json(uri, record)
        _alert(settings, restatement_alert(record), record)
    else:
        record.update(status=REFUSED, rows_after=before, reason=why)
        live.write_json(uri, record)
        _alert(settings, refused_alert(source, day, change.digest, why, change.to_dict()), record)
    log.warning("%s %s %s: %s", source, day, record["status"], record["reason"])
    return record


def _rows(live: Lake, source: str, day: date) -> int | None:
    """Rows in the day's live bronze by its manifests (None: the day had no bronze)."""
    validated = live.validation_manifest(source, day)
    if live.exists(validated):
        found = live.read_json(validated)
        return found["validated_rows"] if found.get("bronze_sha256") else None
    manifest = read_manifest(live, source, day)
    return None if manifest is None or not live.exists(live.bronze_file(source, day)) else manifest["accepted"]


def _alert(settings: Settings, alert: Any, into: dict[str, Any]) -> None:
    try:
        into.setdefault("alerts", {})[alert.title] = send_alert_once(settings, alert)
    except AlertError as exc:  # a dead route never hides the restatement itself
        log.error("%s", exc)
        into.setdefault("alert_errors", []).append(str(exc))
