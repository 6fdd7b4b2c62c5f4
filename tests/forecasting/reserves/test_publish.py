"""Publish: idempotent, atomic, concurrent, migrated, role-separated; SQLite and PostgreSQL.

PostgreSQL tests run in a fresh schema per test (dropped after), so parallel runs on the
same server never see each other's tables.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import ProgrammingError
from typer.testing import CliRunner

from forecasting.cli import app
from forecasting.core import database
from forecasting.core.errors import CalibrationGateError, PublishError
from forecasting.core.lake import Lake, join
from forecasting.reserves import db as reserves_db
from forecasting.reserves import publish
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.publish import publish_reserves
from tests.support.reserves_lake import AS_OF, record_model, write_inputs

TABLES = ("schema_version", "publications", "reserves", "reserves_totals", "reserves_horizon")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reserves.db'}"
    return request.getfixturevalue("pg_schema_url")


@pytest.fixture
def staged(settings_factory, db_url):
    """Settings on ``db_url`` with the reserves stage of AS_OF computed."""
    settings = settings_factory(reserves_url=db_url)
    write_inputs(settings.lake_uri, reserves_url=db_url)
    compute_reserves(settings, AS_OF)
    return settings


def _dump(url: str) -> dict[str, list[tuple]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            return {
                t: sorted(map(tuple, conn.exec_driver_sql(f"SELECT * FROM {t}").all()), key=repr)
                for t in TABLES
                if t in names
            }
    finally:
        engine.dispose()


def _query(url: str, sql: str) -> pd.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(text(sql), conn)
    finally:
        engine.dispose()


def test_latest_view_has_one_ordered_row_per_warehouse_and_period(staged):
    summary = publish_reserves(staged, AS_OF)
    assert (
        summary.status == "published" and summary.reserves_rows == 9
        and summary.schema_version == reserves_db.latest_version()
    )
    latest = _query(staged.reserves_url, "SELECT * FROM reserves_latest")
    assert len(latest) == 9 and not latest.duplicated(["warehouse_id", "period_start"]).any()
    for kind in ("incidents", "loss_eur"):
        p50, p90, p95 = (latest[f"{kind}_p{q}"].astype(float) for q in (50, 90, 95))
        assert ((p50 <= p90) & (p90 <= p95)).all()
    assert set(latest["run_id"]) == {summary.run_id}
    assert latest["published_at"].notna().all() and latest["snapshot_id"].eq("snap-1").all()
    totals = _query(staged.reserves_url, "SELECT * FROM reserves_totals_latest")
    assert sorted(totals["id"].unique()) == ["network", "north", "south"] and len(totals) == 9


def test_publishing_again_changes_nothing(staged):
    first = publish_reserves(staged, AS_OF)
    before = _dump(staged.reserves_url)
    again = publish_reserves(staged, AS_OF)
    assert again.status == "unchanged" and again.run_id == first.run_id
    assert again.published_at == first.published_at
    assert _dump(staged.reserves_url) == before


def test_a_new_run_replaces_the_current_one_and_history_is_kept(staged):
    first = publish_reserves(staged, AS_OF)
    second = publish_reserves(staged, AS_OF, run_id="rerun-2")
    assert second.status == "published" and second.replaced_run_id == first.run_id
    pubs = _query(
        staged.reserves_url, "SELECT run_id, is_current FROM publications ORDER BY run_id"
    )
    assert dict(zip(pubs["run_id"], pubs["is_current"].astype(bool), strict=True)) == {
        first.run_id: False,
        "rerun-2": True,
    }
    assert set(_query(staged.reserves_url, "SELECT run_id FROM reserves_latest")["run_id"]) == {
        "rerun-2"
    }
    assert len(_query(staged.reserves_url, "SELECT * FROM reserves")) == 18  # both runs kept
    back = publish_reserves(staged, AS_OF)  # the first run again: current again, nothing rewritten
    assert back.status == "restored" and back.replaced_run_id == "rerun-2"
    assert set(_query(staged.reserves_url, "SELECT run_id FROM reserves_latest")["run_id"]) == {
        first.run_id
    }


def test_same_run_id_with_other_figures_is_refused(staged):
    publish_reserves(staged, AS_OF, run_id="r1")
    lake = Lake.from_settings(staged)
    uri = join(lake.stage("reserves", AS_OF), "reserves.parquet")
    res = lake.read_parquet(uri)
    res["loss_eur_p95"] += 1.0
    lake.write_parquet(res, uri)
    with pytest.raises(
        PublishError, match="run r1 of 2024-06-02 was already published with different figures"
    ):
        publish_reserves(staged, AS_OF, run_id="r1")


def test_a_warehouse_new_to_the_table_is_inserted(staged):
    publish_reserves(staged, AS_OF)
    later = AS_OF + timedelta(days=7)
    write_inputs(staged.lake_uri, later, extra_forecast_sites={"WH-NEW": 2.0}, reserves_url=staged.reserves_url)
    compute_reserves(staged, later)
    publish_reserves(staged, later)
    latest = _query(staged.reserves_url, "SELECT * FROM reserves_latest")
    assert sorted(latest["warehouse_id"].unique()) == ["WH-A", "WH-B", "WH-C", "WH-NEW"]
    assert (latest.loc[latest["warehouse_id"] == "WH-NEW", "region"] == "unknown").all()
    current = _query(staged.reserves_url, "SELECT DISTINCT as_of_date FROM reserves_current")
    assert len(current) == 2  # the earlier date's figures stay queryable


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("loss_eur_p90", np.nan, "column loss_eur_p90 is NaN, infinite or missing"),
        ("incidents_p50", -1.0, "column incidents_p50 is negative"),
        (
            "loss_eur_p50",
            1e9,
            r"quantiles \['loss_eur_p50', 'loss_eur_p90', 'loss_eur_p95'\] are not P50 <= P90 <= P95",
        ),
    ],
)
def test_bad_figures_are_refused_and_nothing_is_written(staged, column, value, message):
    publish_reserves(staged, AS_OF, run_id="good")
    before = _dump(staged.reserves_url)
    lake = Lake.from_settings(staged)
    uri = join(lake.stage("reserves", AS_OF), "reserves.parquet")
    res = lake.read_parquet(uri)
    res.loc[4, column] = value
    lake.write_parquet(res, uri)
    with pytest.raises(
        PublishError, match=rf"reserves\.parquet row 4 \(warehouse_id='WH-B'.*{message}"
    ):
        publish_reserves(staged, AS_OF, run_id="bad")
    assert _dump(staged.reserves_url) == before


def test_database_constraint_failure_mid_insert_rolls_back(staged, monkeypatch):
    publish_reserves(staged, AS_OF, run_id="good")
    before = _dump(staged.reserves_url)
    lake = Lake.from_settings(staged)
    uri = join(lake.stage("reserves", AS_OF), "reserves.parquet")
    res = lake.read_parquet(uri)
    res.loc[len(res) - 1, "incidents_p50"] = 1e6  # last row breaks P50 <= P90: a CHECK constraint
    lake.write_parquet(res, uri)
    monkeypatch.setattr(publish, "_check", lambda *args: None)  # let it reach the database
    with pytest.raises(PublishError, match="rolled back .*previous version is intact"):
        publish_reserves(staged, AS_OF, run_id="broken")
    assert _dump(staged.reserves_url) == before


_CHILD = """
import os, signal, sys, time
from forecasting.reserves import publish
from forecasting.core.config import load_settings
from forecasting.core.lake import parse_date
lake, url, day, run_id, mode, barrier = sys.argv[1:7]
insert = publish._insert_rows
def crash(conn, table, rows):
    if table.name == "reserves":
        insert(conn, table, rows[: len(rows) // 2])
        os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction, half the rows in
    insert(conn, table, rows)
def slow(conn, table, rows):
    insert(conn, table, rows)
    time.sleep(0.5)  # hold the transaction open so the other publisher must wait
publish._insert_rows = crash if mode == "crash" else slow
settings = load_settings(None, lake_uri=lake, reserves_url=url)
open(barrier + "." + str(os.getpid()), "w").close()
while len([p for p in os.listdir(os.path.dirname(barrier)) if p.startswith(os.path.basename(barrier) + ".")]) < int(mode == "race") + 1:
    time.sleep(0.01)
print(publish.publish_reserves(settings, parse_date(day), None if run_id == "-" else run_id).status)
"""


def _child(tmp_path: Path, settings, run_id: str, mode: str) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    args = [
        sys.executable,
        str(script),
        settings.lake_uri,
        settings.reserves_url,
        str(AS_OF),
        run_id,
        mode,
        str(tmp_path / "barrier" / "go"),
    ]
    (tmp_path / "barrier").mkdir(exist_ok=True)
    return subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_crash_mid_publish_leaves_the_previous_version(staged, tmp_path):
    publish_reserves(staged, AS_OF, run_id="previous")
    before = _dump(staged.reserves_url)
    proc = _child(tmp_path, staged, "crashing", "crash")
    _, err = proc.communicate(timeout=100)
    assert proc.returncode == -signal.SIGKILL, err
    assert _dump(staged.reserves_url) == before
    assert set(_query(staged.reserves_url, "SELECT run_id FROM reserves_latest")["run_id"]) == {
        "previous"
    }
    assert (
        publish_reserves(staged, AS_OF, run_id="crashing").status == "published"
    )  # nothing left locked


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("same_run", [True, False], ids=["same-run", "two-runs"])
def test_concurrent_publishes_end_in_one_consistent_version(staged, tmp_path, same_run):
    procs = [_child(tmp_path, staged, "-" if same_run else f"run-{i}", "race") for i in range(2)]
    outs = [p.communicate(timeout=100) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    statuses = sorted(o[0].strip() for o in outs)
    pubs = _query(staged.reserves_url, "SELECT run_id, is_current FROM publications")
    assert pubs["is_current"].astype(bool).sum() == 1
    latest = _query(staged.reserves_url, "SELECT * FROM reserves_latest")
    assert len(latest) == 9 and latest["run_id"].nunique() == 1
    assert not latest.duplicated(["warehouse_id", "period_start"]).any()
    if same_run:
        assert statuses == ["published", "unchanged"] and len(pubs) == 1
        assert len(_query(staged.reserves_url, "SELECT * FROM reserves")) == 9
    else:
        assert statuses == ["published", "published"] and len(pubs) == 2
        assert len(_query(staged.reserves_url, "SELECT * FROM reserves")) == 18


def _empty(url: str) -> None:
    """Drop every view and table (the model record write_inputs made included)."""
    engine = create_engine(url)
    with engine.begin() as conn:
        cascade = " CASCADE" if conn.dialect.name == "postgresql" else ""
        for view in inspect(conn).get_view_names():
            conn.exec_driver_sql(f"DROP VIEW IF EXISTS {view}{cascade}")
        for table in inspect(conn).get_table_names():
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}{cascade}")
    engine.dispose()


def test_a_v1_table_from_an_older_version_is_migrated(staged):
    _empty(staged.reserves_url)
    engine = create_engine(staged.reserves_url)
    with engine.begin() as conn:
        for statement in reserves_db.migrations()[0].statements:
            conn.exec_driver_sql(statement)
        conn.execute(
            text(
                "INSERT INTO reserves VALUES ('2024-05-26', 'WH-OLD', '2024-05-27', 1, 2, 3, "
                "100, 200, 300, 'm-old', '2024-05-26 08:00:00+00:00')"
            )
        )
    engine.dispose()
    record_model(staged.reserves_url, "m-test-1", AS_OF, True)  # migrates the v1 database on the way
    summary = publish_reserves(staged, AS_OF)
    assert summary.schema_version == reserves_db.latest_version() >= 8
    versions = _query(staged.reserves_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions["version"].tolist() == list(range(1, reserves_db.latest_version() + 1))
    old = _query(
        staged.reserves_url, "SELECT * FROM reserves_current WHERE warehouse_id = 'WH-OLD'"
    )
    assert (
        len(old) == 1
        and old["run_id"].iloc[0] == "legacy-v1"
        and float(old["loss_eur_p95"].iloc[0]) == 300
    )
    assert set(
        _query(staged.reserves_url, "SELECT warehouse_id FROM reserves_latest")["warehouse_id"]
    ) == {"WH-A", "WH-B", "WH-C"}


def test_an_unknown_table_layout_is_not_touched(staged):
    _empty(staged.reserves_url)
    engine = create_engine(staged.reserves_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE reserves (something INTEGER)")
    engine.dispose()
    with pytest.raises(PublishError, match="not riskcast's v1 layout"):
        publish_reserves(staged, AS_OF)


def test_unreachable_database_names_the_url_without_its_password(settings_factory):
    url = "postgresql+psycopg://finance:s3cret-pw@127.0.0.1:1/reserves"
    reachable = settings_factory()
    write_inputs(reachable.lake_uri)
    compute_reserves(reachable, AS_OF)
    settings = reachable.model_copy(update={"reserves_url": url})
    with pytest.raises(PublishError) as info:
        publish_reserves(settings, AS_OF)
    assert "postgresql+psycopg://finance:***@127.0.0.1:1/reserves cannot be reached" in str(
        info.value
    )
    assert "s3cret-pw" not in str(info.value)


def test_cli_publish_exit_codes(settings_factory, monkeypatch, tmp_path):
    settings = settings_factory()
    write_inputs(settings.lake_uri)
    compute_reserves(settings, AS_OF)
    monkeypatch.setenv("RISKCAST_LAKE_URI", settings.lake_uri)
    monkeypatch.setenv("RISKCAST_RESERVES_URL", settings.reserves_url)
    ok = CliRunner().invoke(app, ["publish", "--as-of", str(AS_OF)])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["status"] == "published"
    monkeypatch.setenv("RISKCAST_RESERVES_URL", f"sqlite:///{tmp_path / 'a-file'}/sub/reserves.db")
    (tmp_path / "a-file").write_text("not a folder")
    bad = CliRunner().invoke(app, ["publish", "--as-of", str(AS_OF)])
    assert bad.exit_code == 2 and "cannot be reached" in bad.output and "a-file" in bad.output


@pytest.mark.postgres
def test_finance_reads_but_cannot_write_and_publisher_publishes(settings_factory, pg_schema_url):
    settings = settings_factory(reserves_url=pg_schema_url)
    write_inputs(settings.lake_uri, reserves_url=pg_schema_url)
    compute_reserves(settings, AS_OF)
    publish_reserves(settings, AS_OF, run_id="by-owner")
    engine = reserves_db.connect(pg_schema_url)
    reserves_db.apply_roles(engine)
    reserves_db.apply_roles(engine)  # idempotent
    # the publisher role publishes a new run (options -c role=...: the session runs as it)
    as_publisher = make_url(pg_schema_url).update_query_dict(
        {"options": make_url(pg_schema_url).query["options"] + " -crole=riskcast_publisher"}
    )
    pub_settings = settings_factory(
        lake_uri=settings.lake_uri, reserves_url=as_publisher.render_as_string(False)
    )
    assert publish_reserves(pub_settings, AS_OF, run_id="by-publisher").status == "published"
    with engine.connect() as conn:
        conn.exec_driver_sql("SET ROLE riskcast_finance")
        assert conn.exec_driver_sql("SELECT count(*) FROM reserves_latest").scalar() == 9
        assert conn.exec_driver_sql("SELECT count(*) FROM reserves").scalar() == 18  # history too
        # the horizon totals: one row per total and span (3 weeks: the horizon, June, Q2)
        assert conn.exec_driver_sql("SELECT count(*) FROM reserves_horizon_latest").scalar() == 9
    for statement in (
        "INSERT INTO publications (as_of_date, run_id, model_version, snapshot_id, code_version, "
        "content_digest, n_rows, published_at) VALUES ('2024-01-01', 'x', 'm', 's', 'c', 'd', 0, now())",
        "UPDATE reserves SET loss_eur_p95 = 0",
        "INSERT INTO reserves_horizon SELECT * FROM reserves_horizon",
        "DELETE FROM publications",
        "CREATE TABLE sneaky (a int)",
    ):
        with engine.connect() as conn, pytest.raises(ProgrammingError) as info:
            conn.exec_driver_sql("SET ROLE riskcast_finance")
            conn.exec_driver_sql(statement)
        assert info.value.orig.sqlstate == "42501", statement  # insufficient_privilege
    engine.dispose()


def test_a_model_that_failed_the_calibration_gate_is_not_published(settings_factory, tmp_path):
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    compute_reserves(settings, AS_OF)
    record_model(settings.reserves_url, "m-test-1", AS_OF, False)  # the backtest failed it since
    manifest = join(lake.models("m-test-1"), "manifest.json")  # the lake claiming a pass is ignored
    lake.write_json(manifest, {**lake.read_json(manifest), "gate": {"passed": True, "snapshot_id": "snap-1"}})
    with pytest.raises(CalibrationGateError, match=r"model m-test-1 is not publishable .*gate failed"):
        publish_reserves(settings, AS_OF)
    assert _query(settings.reserves_url, "SELECT count(*) AS n FROM publications")["n"][0] == 0


@pytest.mark.parametrize("gate", [None, False])
def test_ungated_reserves_need_the_audited_override_on_every_path(settings_factory, tmp_path, gate):
    settings = settings_factory()
    write_inputs(settings.lake_uri, gate=gate)
    with pytest.raises(CalibrationGateError, match="--allow-ungated") as err:
        compute_reserves(settings, AS_OF)
    assert "\n" not in str(err.value)
    env = {"RISKCAST_LAKE_URI": settings.lake_uri, "RISKCAST_RESERVES_URL": settings.reserves_url}
    refused = CliRunner().invoke(app, ["reserves", "--as-of", str(AS_OF)], env=env)
    assert refused.exit_code == 2 and "not publishable" in refused.output
    ok = CliRunner().invoke(app, ["reserves", "--as-of", str(AS_OF), "--allow-ungated"], env=env)
    assert ok.exit_code == 0, ok.output
    with pytest.raises(CalibrationGateError, match="publish them with --allow-ungated"):
        publish_reserves(settings, AS_OF)
    assert _query(settings.reserves_url, "SELECT count(*) AS n FROM publications")["n"][0] == 0
    publish_reserves(settings, AS_OF, allow_ungated=True)
    engine = create_engine(settings.reserves_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT calibration_method, backtest_coverage_p95 FROM reserves_latest").fetchall()
    engine.dispose()
    reason = "no gate verdict" if gate is None else "gate failed"
    assert rows and all(m.startswith(f"UNGATED (--allow-ungated, {reason})") for m, _ in rows)
    assert all(c is None for _, c in rows), "no backtest coverage is claimed without a verdict"


@pytest.mark.postgres
def test_history_is_append_only_and_finance_cannot_hold_the_publish_lock(
    settings_factory, pg_schema_url, monkeypatch
):
    settings = settings_factory(reserves_url=pg_schema_url)
    write_inputs(settings.lake_uri, reserves_url=pg_schema_url)
    compute_reserves(settings, AS_OF)
    publish_reserves(settings, AS_OF, run_id="by-owner")
    engine = reserves_db.connect(pg_schema_url)
    reserves_db.apply_roles(engine)
    for role, statement in (
        ("riskcast_publisher", "UPDATE reserves SET loss_eur_p95 = 0"),
        ("riskcast_publisher", "UPDATE publications SET content_digest = 'x'"),
        ("riskcast_publisher", "UPDATE reserves_totals SET loss_eur_p95 = 0"),
        ("riskcast_publisher", "DELETE FROM reserves"),
        ("riskcast_finance", "LOCK TABLE publish_lock IN ACCESS SHARE MODE"),
        ("riskcast_finance", "SELECT * FROM publish_lock"),
    ):
        with engine.begin() as conn, pytest.raises(ProgrammingError) as info:
            conn.exec_driver_sql(f"SET LOCAL ROLE {role}")
            conn.exec_driver_sql(statement)
        assert info.value.orig.sqlstate == "42501", statement  # insufficient_privilege
    # a session holding the lock makes publish fail quickly with a clear message, not hang
    monkeypatch.setattr(database, "LOCK_TIMEOUT_S", 1)  # the lock lives in core.database
    compute_reserves(settings, AS_OF)
    with engine.begin() as holder:
        holder.exec_driver_sql("LOCK TABLE publish_lock IN EXCLUSIVE MODE")
        with pytest.raises(PublishError, match="held by another session for more than 1 s"):
            publish_reserves(settings, AS_OF, run_id="blocked")
    assert publish_reserves(settings, AS_OF, run_id="after").status == "published"
    engine.dispose()


@pytest.mark.parametrize("url", ["mysql://finance:s3cret-pw@db/reserves", "postgresql+pg8000://u:s3cret-pw@h/r"])
def test_a_missing_database_driver_is_a_publish_error_without_the_password(url):
    with pytest.raises(PublishError, match="driver is not installed") as err:
        reserves_db.connect(url)
    assert "s3cret-pw" not in str(err.value)
