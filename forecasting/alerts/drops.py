"""Alerts about landing drops over weeks of operation: a drop late or missing at its deadline,
a past day restated by a late or amended file, an amendment refused, landing files gone.

Each names the source, the day, what arrived and the source's owner (``settings.drops``),
and is sent once (``send.send_alert_once``: its id is stable, so a rerun or the next run's
sweep does not send it again).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from forecasting.alerts.alert import Alert


def overdue_alert(source: str, day: date, status: str, arrived: str, owner: str, due: str) -> Alert:
    """A drop still incomplete or missing at its deadline: ingested as it was, marked so."""
    what = "did not arrive" if status == "missing" else "arrived incomplete"
    summary = (
        f"The {source} drop of {day} {what} by its deadline ({due}). The day was ingested with "
        f"what had arrived and is marked {status}: its site-days count as missing (not zero) in "
        f"the panel and are listed in the forecast and reserves summaries. When the rest lands, "
        f"the next ingest run re-ingests the day (a restatement). Please ask {owner}."
    )
    details = {"status": status, "arrived": arrived, "owner": owner, "deadline": due}
    return Alert("data_quality", "warning", f"drop {status}: {source} {day}", day, source, summary, details)


def restatement_alert(record: dict[str, Any]) -> Alert:
    """A past day re-ingested because its landing files changed (``validation.sweep``)."""
    source, day = record["source"], record["date"]
    delta = (record["rows_after"] or 0) - (record["rows_before"] or 0)
    summary = (
        f"{source} {day} was restated: {record['reason']}. Bronze and quarantine of the day were "
        f"rebuilt from the landing files as they are now ({record['rows_before']} -> "
        f"{record['rows_after']} rows in bronze, {delta:+d}); the next forecast run republishes "
        "the reserves with this reason."
    )
    details = {k: record[k] for k in ("added", "changed", "removed", "rows_before", "rows_after", "detected_on")}
    return Alert("data_quality", "info", f"restated: {source} {day} ({record['landing_digest']})",
                 day, source, summary, details)  # fmt: skip


def refused_alert(source: str, day: date, digest: str, why: str, changes: dict[str, Any]) -> Alert:
    """A changed past day whose new files could not be ingested or were rejected: kept as it was."""
    summary = (
        f"The landing files of {source} {day} changed ({_changes(changes)}) but the day could not "
        f"be re-ingested: {why} The day's previous bronze, quarantine and manifests are kept "
        "unchanged; fix the files, and the next ingest run tries again."
    )
    return Alert("data_quality", "warning", f"amendment refused: {source} {day} ({digest})", day, source,
                 summary, dict(changes))  # fmt: skip


def vanished_alert(source: str, day: date, files: list[str]) -> Alert:
    """Every landing file of an ingested day is gone, and no retention purge deleted them."""
    summary = (
        f"The landing folder of {source} {day} is gone although the day was ingested and no "
        "retention purge was recorded for it. Bronze is kept as ingested (it is the only "
        "pseudonymised copy); restore the folder if the day must be re-ingested."
    )
    return Alert("data_quality", "warning", f"landing gone: {source} {day}", day, source, summary,
                 {"files": files})  # fmt: skip


def _changes(changes: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in changes.items() if v) or "marker"
