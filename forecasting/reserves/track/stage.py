"""The track stage: score every published reserve whose weeks have happened (``riskcast track``).

``track_record(settings, as_of)`` reads the panel of ``as_of`` (its history holds what
happened, restatements included: the panel is rebuilt from bronze as of its day) and the
current publications before ``as_of`` from the reserves database, and:

1. scores every published warehouse, region and network row whose period ended by
   ``as_of`` and within the last 53 weeks (``score.score``);
2. replaces those rows in the database table ``track_record`` (view
   ``reserves_track_record``), keeping rows a scoring on later data wrote;
3. writes ``track/as_of=D/track_record.parquet`` (the rows as scored on D: what the
   reserves page of D shows) and ``coverage.json`` (live coverage over 13 and 52 weeks,
   its state against ``calibration_tolerance``, the previous scoring's state, the alert);
4. sends one escalation alert when the 13-week live P95 coverage has just left the tolerance
   (a state the previous scoring did not have): the second run in the same state is quiet.

Idempotent: no clock but ``as_of``; a rerun writes the same rows, files and alert id.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError

from forecasting.alerts.send import send_alert
from forecasting.core import schema
from forecasting.core.config import Settings
from forecasting.core.errors import InputError, PublishError
from forecasting.core.lake import Lake
from forecasting.panel.build import read_panel
from forecasting.reserves import db
from forecasting.reserves.track.alert import coverage_alert
from forecasting.reserves.track.files import latest_scoring
from forecasting.reserves.track.score import (
    ALERT_LEVEL,
    ALERT_Q,
    ALERT_WINDOW,
    SETTLE_DAYS,
    TRACK_COLUMNS,
    WINDOWS_WEEKS,
    coverage,
    coverage_state,
    newly_out,
    realised,
    score,
)
from forecasting.reserves.track.store import read_published, write_scored

log = logging.getLogger(__name__)


@dataclass
class TrackSummary:
    """What ``track_record`` scored and decided (JSON-able through ``to_dict``)."""

    as_of: str
    publications: int
    rows: int
    periods: int
    db: dict[str, int]
    p95_coverage: dict[str, Any]  # window -> level -> measure -> coverage (live, settled)
    state: dict[str, str]
    previous: str | None
    alert: str | None
    alerts_sent: list[str] = field(default_factory=list)
    uris: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rescore_since(as_of: date) -> date:
    """Periods ending after this day are (re)scored: the 52 settled weeks of the longest
    coverage window and the unsettled days after them."""
    return as_of - timedelta(days=SETTLE_DAYS) - timedelta(weeks=max(WINDOWS_WEEKS))


def track_record(settings: Settings, as_of: date) -> TrackSummary:
    """Score the publications before ``as_of`` on the data of ``as_of``; see the module doc."""
    lake = Lake.from_settings(settings)
    panel, spec = read_panel(settings, as_of)
    severity_uri = lake.panel_severity(as_of)
    if not lake.exists(severity_uri):
        raise InputError(f"{severity_uri} does not exist: run `riskcast panel --as-of {as_of}` first")
    actuals = realised(panel, lake.read_parquet(severity_uri))
    since = rescore_since(as_of)
    engine = db.connect(settings.reserves_url)
    try:
        db.ensure_schema(engine)
        with engine.begin() as conn:
            db.lock(conn, f"track:{as_of}")
            scored = score(read_published(conn, as_of, since, spec.freq), actuals, as_of)
            counts = write_scored(conn, scored, since)
    except DBAPIError as exc:
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise PublishError(
            f"scoring {as_of} into {db.safe_url(settings.reserves_url)} failed and was rolled "
            f"back (the previous track record is intact): {reason}"
        ) from exc
    finally:
        engine.dispose()

    cov = coverage(scored, as_of)
    state = coverage_state(cov, settings.calibration_tolerance)
    previous_day = latest_scoring(lake, as_of, before=True)
    previous = lake.read_json(lake.track_coverage(previous_day)) if previous_day else {}
    new = newly_out(state, previous.get("state"))
    uris = {"track_record": lake.track_file(as_of), "coverage": lake.track_coverage(as_of)}
    alert = None
    if new:
        links = {**uris, "reserve report": lake.reserves_report(as_of)}
        alert = coverage_alert(as_of, cov, state, new, settings.calibration_tolerance, scored,
                               links, settings.alerts.max_rows)  # fmt: skip
    record = {
        "as_of": str(as_of), **cov, "tolerance": settings.calibration_tolerance,
        "alert_rule": {"window_weeks": ALERT_WINDOW, "level": ALERT_LEVEL, "quantile": ALERT_Q},
        "state": state, "previous": {"as_of": previous_day and str(previous_day), "state": previous.get("state")},
        "alert": None if alert is None else {"id": alert.alert_id, "title": alert.title, "newly_out": new},
    }  # fmt: skip
    lake.write_parquet(scored[TRACK_COLUMNS], uris["track_record"])
    lake.write_json(uris["coverage"], record)
    summary = TrackSummary(
        as_of=str(as_of),
        publications=int(scored[[schema.AS_OF_DATE, schema.RUN_ID]].drop_duplicates().shape[0]),
        rows=len(scored),
        periods=int(scored[schema.PERIOD_START].nunique()),
        db=counts,
        p95_coverage={w: {lvl: {m: f[m][f"{ALERT_Q:g}"]["coverage"] for m in ("incidents", "loss_eur")}
                          for lvl, f in levels.items()} for w, levels in cov["windows"].items()},  # fmt: skip
        state=state,
        previous=previous_day and str(previous_day),
        alert=None if alert is None else alert.alert_id,
        uris=uris,
    )
    if alert is not None:  # after the files: a failed delivery is retried by a rerun, same id
        send_alert(settings, alert)
        summary.alerts_sent.append(alert.alert_id)
    log.info("track %s: %d rows of %d publications, state %s", as_of, summary.rows,
             summary.publications, state)  # fmt: skip
    return summary
