"""Landing retention: raw files (they hold PII) of old days are deleted once safely in bronze.

``purge_landing(settings, run_day)`` looks at every daily source's ``date=D`` folders of the
landing area with ``D`` more than ``landing_retention_days`` before ``run_day`` and deletes a
folder only when its day was ingested (``ingest.json``) and validated (``validation.json``)
and its files are exactly the ones ingested (``ingest.changes``: a late or amended file not
ingested yet is never purged: the day is listed instead). Before deleting, it writes
``landing_purges/<source>/date=D/purge.json`` (the files, sizes and sha256 as ingested, the
run's date): the sweep then knows the files went by retention, not by an amendment, and a
rerun of the day keeps its bronze and says why. Bronze, quarantine and manifests are never
touched. Reference files (one current file per source) are not purged.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from forecasting.core.config import Settings
from forecasting.core.lake import Lake, parse_date
from forecasting.core.schema import DAILY_SOURCES
from forecasting.ingest.changes import compare
from forecasting.ingest.manifest import read_manifest

log = logging.getLogger(__name__)


def purge_landing(settings: Settings, run_day: date, dry_run: bool = False) -> dict[str, Any]:
    """Delete the landing folders past retention (see the module doc); ``dry_run`` only
    says which. Returns ``{"run_day", "cutoff", "purged": [...], "kept": {folder: why}}``."""
    landing, live = Lake.landing_from_settings(settings), Lake.from_settings(settings)
    cutoff = run_day - timedelta(days=settings.landing_retention_days)
    purged: list[str] = []
    kept: dict[str, str] = {}
    for source in DAILY_SOURCES:
        for day in _old_days(landing, source, cutoff):
            folder = landing.landing_day(source, day)
            why = _blocker(landing, live, source, day)
            if why:
                kept[folder] = why
                continue
            if not dry_run:
                record = live.landing_purge(source, day)
                if not live.exists(record):  # a purge cut short keeps its first record
                    manifest = read_manifest(live, source, day)
                    live.write_json(record, {
                        "source": source, "date": day.isoformat(), "purged_on": run_day.isoformat(),
                        "retention_days": settings.landing_retention_days, "files": manifest["files"],
                    })  # fmt: skip
                landing.remove(folder)
            purged.append(folder)
    for folder, why in kept.items():
        log.warning("landing %s kept past retention: %s", folder, why)
    log.info("landing retention %s: %d folder(s) %s before %s", run_day, len(purged),
             "to purge" if dry_run else "purged", cutoff)  # fmt: skip
    return {"run_day": run_day.isoformat(), "cutoff": cutoff.isoformat(), "dry_run": dry_run,
            "purged": purged, "kept": kept}  # fmt: skip


def _old_days(landing: Lake, source: str, cutoff: date) -> list[date]:
    days = []
    for name in landing.ls(landing.landing_day(source, cutoff).rsplit("/", 1)[0]):
        if name.startswith("date="):
            day = parse_date(name[len("date="):], f"landing folder {source}/{name}")
            if day < cutoff:
                days.append(day)
    return sorted(days)


def _blocker(landing: Lake, live: Lake, source: str, day: date) -> str | None:
    """Why the day's landing must stay (None: it may go)."""
    if live.exists(live.landing_purge(source, day)):
        return None  # recorded already: the deletion was cut short, finish it
    if read_manifest(live, source, day) is None:
        return f"never ingested: run `riskcast ingest --date {day}` first"
    if not live.exists(live.validation_manifest(source, day)):
        return f"ingested but never validated: run `riskcast validate --date {day}` first"
    if compare(landing, live, source, day) is not None:
        return f"its files changed since they were ingested: run `riskcast ingest --date {day}` first"
    return None
