"""The track stage over weeks of operation, on SQLite and PostgreSQL: the table and its view,
reruns, restated data, older scorings, the one escalation alert, the CLI and the roles."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

import pandas as pd
import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core import schema
from forecasting.core.lake import Lake
from forecasting.reserves import db as reserves_db
from forecasting.reserves.track.score import TRACK_COLUMNS
from forecasting.reserves.track.stage import track_record
from tests.support.pg_schema import fresh_schema
from tests.support.track_weeks import Truth, operate_week, sundays, write_panel

FIRST = date(2024, 1, 7)  # a Sunday
DATES = [schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END, schema.SCORED_AS_OF]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reserves.db'}"
    else:
        with fresh_schema(request.getfixturevalue("postgres_url")) as url:
            yield url


def _view(url: str, table: str = "reserves_track_record") -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(f"SELECT {', '.join(TRACK_COLUMNS)} FROM {table}", conn)
    finally:
        engine.dispose()
    return _normal(frame)


def _normal(frame: pd.DataFrame) -> pd.DataFrame:
    """Types as the lake file has them, rows in key order: one frame to compare."""
    out = frame[TRACK_COLUMNS].copy()
    for col in DATES:
        out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
    for col in out.columns:
        if col.endswith(("_within_p50", "_within_p90", "_within_p95")) or col in (schema.IN_FORCE, schema.SETTLED):
            out[col] = out[col].map(lambda v: None if v is None or pd.isna(v) else bool(v)).astype(object)
        elif out[col].dtype.kind in "if" and col != schema.STEP:
            out[col] = out[col].astype(float)
    out[schema.STEP] = out[schema.STEP].astype(int)
    out[schema.REGION] = out[schema.REGION].astype(object).where(out[schema.REGION].notna(), None)
    keys = [schema.AS_OF_DATE, schema.RUN_ID, schema.TRACK_LEVEL, schema.TRACK_ID, schema.PERIOD_START]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def _digest(lake: Lake, day: date) -> str:
    return hashlib.sha256(lake.read_bytes(lake.track_file(day)) + lake.read_bytes(lake.track_coverage(day))).hexdigest()


def test_weeks_of_operation_fill_the_track_record_and_a_rerun_changes_nothing(settings_factory, db_url):
    settings = settings_factory(reserves_url=db_url, horizon=3)
    truth, days = Truth(), sundays(FIRST, 5)
    for day in days:
        _, scored = operate_week(settings, day, truth)
    last = days[-1]
    lake = Lake.from_settings(settings)
    file_rows = _normal(lake.read_parquet(lake.track_file(last)))
    # 4 earlier publications x the weeks of each that ended by `last` (3, 3, 2, 1) x 6 ids
    assert scored.rows == len(file_rows) == (3 + 3 + 2 + 1) * 6 and scored.publications == 4
    pd.testing.assert_frame_equal(_view(db_url), file_rows)
    sites = file_rows.loc[file_rows[schema.TRACK_LEVEL] == "warehouse"]
    for row in sites.to_dict("records"):
        key = (row[schema.TRACK_ID], row[schema.PERIOD_START])
        assert row[schema.INCIDENTS_ACTUAL] == truth.y[key]
        assert row[schema.LOSS_EUR_ACTUAL] == pytest.approx(truth.loss.get(key, 0.0), abs=0.006)
    live = file_rows.loc[file_rows[schema.IN_FORCE]]
    assert (live[schema.STEP] == 1).all(), "a Sunday publication is in force for the next week"
    assert sorted(live[schema.PERIOD_START].dt.date.unique()) == [d + timedelta(days=1) for d in days[:-1]]

    before, digest = _view(db_url), _digest(lake, last)
    again = track_record(settings, last)
    assert again.db == {"written": scored.rows, "kept_newer": 0, "replaced": scored.rows}
    pd.testing.assert_frame_equal(_view(db_url), before)
    assert _digest(lake, last) == digest, "a rerun writes byte-identical files"


def test_restated_data_is_rescored_and_an_older_scoring_never_overwrites_it(settings_factory, db_url):
    settings = settings_factory(reserves_url=db_url, horizon=3)
    truth, days = Truth(), sundays(FIRST, 4)
    for day in days:
        operate_week(settings, day, truth)
    lake = Lake.from_settings(settings)
    last, week = days[-1], pd.Timestamp(days[0] + timedelta(days=1))
    older = _digest(lake, days[-2])
    # an amended report: WH-A had 4 more incidents in the first week than its panel said
    truth.y[("WH-A", week)] += 4
    extra = pd.DataFrame([{**truth.incidents.iloc[0].to_dict(), schema.WAREHOUSE_ID: "WH-A", schema.DS: week,
                           schema.SEVERITY_LOSS_EUR: 2500.0}] * 4)  # fmt: skip
    truth.incidents = pd.concat([truth.incidents, extra], ignore_index=True)
    write_panel(lake, last, truth)  # the panel of `last` rebuilt from the restated bronze
    before = _view(db_url).set_index([schema.AS_OF_DATE, schema.TRACK_LEVEL, schema.TRACK_ID, schema.PERIOD_START])
    track_record(settings, last)
    after = _view(db_url).set_index(before.index.names)
    changed = after.index[(after[schema.INCIDENTS_ACTUAL] != before[schema.INCIDENTS_ACTUAL]).to_numpy()]
    assert sorted({(lvl, i) for _, lvl, i, _ in changed}) == [("network", "network"), ("region", "north"), ("warehouse", "WH-A")]
    assert {p for *_, p in changed} == {week}
    a = after.loc[(pd.Timestamp(days[0]), "warehouse", "WH-A", week)]
    assert a[schema.INCIDENTS_ACTUAL] == truth.y[("WH-A", week)]
    assert a[schema.LOSS_EUR_ACTUAL] == pytest.approx(before.loc[a.name, schema.LOSS_EUR_ACTUAL] + 10_000, abs=0.01)

    # scoring the week before again (its panel holds the data of that day) keeps the newer rows
    redo = track_record(settings, days[-2])
    assert redo.db["kept_newer"] == redo.rows > 0 and redo.db["written"] == 0
    pd.testing.assert_frame_equal(_view(db_url).set_index(before.index.names), after)
    assert _digest(lake, days[-2]) == older, "the older day's files are what it measured then"


def test_the_cli_scores_and_names_a_missing_panel_in_one_line(settings_factory, tmp_path):
    settings = settings_factory(horizon=3)
    truth = Truth()
    for day in sundays(FIRST, 2):
        operate_week(settings, day, truth)
    env = {"RISKCAST_LAKE_URI": settings.lake_uri, "RISKCAST_RESERVES_URL": settings.reserves_url}
    done = CliRunner().invoke(app, ["--json", "track", "--as-of", str(FIRST + timedelta(weeks=1))], env=env)
    assert done.exit_code == 0, done.output
    summary = json.loads(done.output.strip().splitlines()[-1])
    assert summary["rows"] == 6 and summary["state"] == {"incidents": "too_few_weeks", "loss_eur": "too_few_weeks"}
    missing = CliRunner().invoke(app, ["track", "--as-of", "2024-06-30"], env=env)
    assert missing.exit_code == 2
    assert "riskcast panel --as-of 2024-06-30" in missing.output and "Traceback" not in missing.output


@pytest.mark.slow
def test_live_coverage_leaving_the_tolerance_alerts_finance_once(settings_factory):
    """16 weekly runs; from week 11 thefts quadruple at every site. The first run whose 13
    settled weeks fall out of tolerance alerts; the next run, in the same state, does not; a
    rerun of the alerting day repeats the same alert id (receivers dedupe)."""
    settings = settings_factory(horizon=3)
    days = sundays(FIRST, 17)
    truth = Truth(factor={pd.Timestamp(d + timedelta(days=1)): 4.0 for d in days[10:]})
    lake, summaries, digests = Lake.from_settings(settings), [], {}
    for day in days:
        summaries.append(operate_week(settings, day, truth)[1])
        digests[day] = _digest(lake, day)
    alerting = [s for s in summaries if s.alerts_sent]
    assert len(alerting) == 1, [(s.as_of, s.state) for s in summaries]
    first = alerting[0]
    assert first.state == {"incidents": "low", "loss_eur": "low"}
    later = summaries[summaries.index(first) + 1 :]
    assert later and all(s.state == first.state and not s.alerts_sent for s in later)
    assert all(s.state["incidents"] in ("ok", "too_few_weeks") for s in summaries[: summaries.index(first)])
    outbox = [json.loads(line) for line in lake.read_text(lake.outbox).splitlines()]
    ours = [a for a in outbox if a["source"] == "track_record"]
    assert [a["id"] for a in ours] == [first.alert]
    assert ours[0]["kind"] == "escalation" and ours[0]["severity"] == "critical"
    assert ours[0]["details"]["for"] == "finance; platform owner" and "understated" in ours[0]["summary"]
    again = track_record(settings, date.fromisoformat(first.as_of))
    assert again.alert == first.alert and again.alerts_sent == [first.alert]
    assert _digest(lake, date.fromisoformat(first.as_of)) == digests[date.fromisoformat(first.as_of)]
    # every week's files are what that week computed: nothing learnt later leaks into them
    assert all(_digest(lake, d) == digests[d] for d in days)
    page = lake.read_text(lake.reserves_report(days[-1]))
    assert "How past reserves held up" in page and "Out of tolerance" in page
    quiet = lake.read_text(lake.reserves_report(days[8]))
    assert "Out of tolerance" not in quiet and "not judged yet" in quiet


@pytest.mark.postgres
def test_the_publisher_role_rescores_and_finance_only_reads(settings_factory, postgres_url):
    with fresh_schema(postgres_url) as url:
        settings = settings_factory(reserves_url=url, horizon=3)
        truth = Truth()
        for day in sundays(FIRST, 3):
            operate_week(settings, day, truth)
        engine = reserves_db.connect(url)
        reserves_db.apply_roles(engine)
        options = make_url(url).query["options"] + " -crole=riskcast_publisher"
        as_publisher = make_url(url).update_query_dict({"options": options}).render_as_string(False)
        publisher = settings_factory(lake_uri=settings.lake_uri, reserves_url=as_publisher, horizon=3)
        rescored = track_record(publisher, FIRST + timedelta(weeks=2))
        assert rescored.db["replaced"] == rescored.rows > 0, "the publisher replaces the derived rows"
        with engine.connect() as conn:
            conn.exec_driver_sql("SET ROLE riskcast_finance")
            assert conn.exec_driver_sql("SELECT count(*) FROM reserves_track_record").scalar() == rescored.rows
        for role, statement in (
            ("riskcast_finance", "DELETE FROM track_record"),
            ("riskcast_finance", "UPDATE track_record SET settled = TRUE"),
            ("riskcast_publisher", "UPDATE track_record SET loss_eur_actual = 0"),
            ("riskcast_publisher", "DELETE FROM reserves"),
        ):
            with engine.begin() as conn, pytest.raises(ProgrammingError) as info:
                conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
                conn.exec_driver_sql(statement)
            assert info.value.orig.sqlstate == "42501", statement
        engine.dispose()
