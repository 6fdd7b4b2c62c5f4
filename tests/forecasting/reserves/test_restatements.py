"""Restatements in the reserves database (SQLite and PostgreSQL): recorded from the lake once,
carried by the next new publication as its reason, never twice."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import create_engine, make_url, text

from forecasting.core.lake import Lake
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.publish import publish_reserves
from forecasting.reserves.restatements import record_restatements
from tests.support.reserves_lake import AS_OF, write_inputs

RECON = "reconciliation_logs"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reserves.db'}"
        return
    name = f"riskcast_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(request.getfixturevalue("postgres_url"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
    url = make_url(admin.url).update_query_dict({"options": f"-csearch_path={name}"})
    yield url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
    admin.dispose()


def _restated(lake: Lake, day: date, digest: str, before: int, after: int, status: str = "restated",
              detected_on: str = "2024-05-30") -> None:
    """A record as ``validation.sweep.restate`` writes it."""
    lake.write_json(lake.restatement(RECON, day, digest), {
        "source": RECON, "date": day.isoformat(), "detected_on": detected_on, "landing_digest": digest,
        "added": [f"{RECON}/date={day}/part-001.csv"], "changed": [], "removed": [], "marker_arrived": False,
        "rows_before": before, "rows_after": after, "status": status,
        "reason": f"{RECON} {day}, {after - before:+d} rows",
    })  # fmt: skip


def _rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql)).all()]
    finally:
        engine.dispose()


def test_restatements_are_recorded_once_and_carried_by_the_next_new_publication(settings_factory, db_url):
    settings = settings_factory(reserves_url=db_url)
    lake = write_inputs(settings.lake_uri, reserves_url=settings.reserves_url)
    compute_reserves(settings, AS_OF)
    _restated(lake, date(2024, 5, 28), "aaaa", 40, 52)
    _restated(lake, date(2024, 5, 29), "bbbb", 10, 10, status="refused")  # kept in the lake only
    _restated(lake, date(2024, 6, 9), "cccc", 5, 6)  # after the as-of: not this publication's

    assert record_restatements(settings)["recorded"] == [f"{RECON} 2024-05-28, +12 rows", f"{RECON} 2024-06-09, +1 rows"]
    assert record_restatements(settings)["recorded"] == []  # once
    rows = _rows(db_url, "SELECT source, day, rows_before, rows_after, files_added FROM restatements ORDER BY day")
    assert [(r[0], str(r[1]), r[2], r[3]) for r in rows] == [(RECON, "2024-05-28", 40, 52), (RECON, "2024-06-09", 5, 6)]
    assert "part-001.csv" in rows[0][4]

    first = publish_reserves(settings, AS_OF)
    assert first.status == "published" and first.reason == f"restated: {RECON} 2024-05-28, +12 rows"
    again = publish_reserves(settings, AS_OF)  # the same run: nothing new is published or carried
    assert again.status == "unchanged" and again.reason == first.reason
    links = _rows(db_url, "SELECT as_of_date, run_id, landing_digest FROM publication_restatements")
    assert [(str(a), r, d) for a, r, d in links] == [(str(AS_OF), first.run_id, "aaaa")]

    write_inputs(settings.lake_uri, rate_factor=1.5, reserves_url=settings.reserves_url)  # new data: a new run of the same as-of
    compute_reserves(settings, AS_OF)
    second = publish_reserves(settings, AS_OF)
    assert second.status == "published" and second.run_id != first.run_id and second.reason is None
    reasons = _rows(db_url, "SELECT run_id, reason FROM publications ORDER BY published_at, run_id")
    assert dict(reasons)[first.run_id] == first.reason and dict(reasons)[second.run_id] is None


def test_a_restatement_found_after_the_as_of_is_carried_by_the_next_publication(settings_factory, tmp_path):
    """Catchup or a slow run: the ingest run of a later day restates a day before the as-of
    while the run of that as-of is under way. Its panel was read before: it does not carry it."""
    settings = settings_factory(reserves_url=f"sqlite:///{tmp_path / 'r.db'}")
    lake = write_inputs(settings.lake_uri, reserves_url=settings.reserves_url)
    compute_reserves(settings, AS_OF)
    _restated(lake, date(2024, 5, 31), "ffff", 3, 5, detected_on="2024-06-04")
    summary = publish_reserves(settings, AS_OF)
    assert summary.status == "published" and summary.reason is None
    assert _rows(f"sqlite:///{tmp_path / 'r.db'}", "SELECT count(*) FROM publication_restatements") == [(0,)]


def test_publish_records_what_the_ingest_side_could_not(settings_factory, tmp_path):
    settings = settings_factory(reserves_url=f"sqlite:///{tmp_path / 'r.db'}")
    lake = write_inputs(settings.lake_uri, reserves_url=settings.reserves_url)
    compute_reserves(settings, AS_OF)
    _restated(lake, date(2024, 5, 20), "dddd", 3, 1)
    summary = publish_reserves(settings, AS_OF)  # never recorded by the ingest side: publish does
    assert summary.reason == f"restated: {RECON} 2024-05-20, -2 rows"
