"""The stack scenario, run once: `make stack-test` starts the stack (docker/stack/up.sh), then
these tests let its scheduler run both DAGs and check what they did. Skipped unless
STACK_TEST=1 (make stack-test sets it), so `make test` never needs the stack."""

from __future__ import annotations

import csv
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.stack import metadata, run, runs, stack_env, wait_for_runs

WAREHOUSES, DAYS = 5, 182
FINANCE = "riskcast_finance_svc"


def pytest_collection_modifyitems(config, items):
    # the soak restarts Airflow with its own settings (docker/stack/soak.sh): it runs last
    items.sort(key=lambda item: item.nodeid.startswith("tests/stack/test_soak.py"))
    if os.environ.get("STACK_TEST") == "1":
        return
    skip = pytest.mark.skip(reason="needs `make stack`: run `make stack-test` (sets STACK_TEST=1)")
    for item in items:
        if "stack" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def ray_token_client():
    """This process talks to the stack's Ray like Airflow does: with the cluster's token (the
    root conftest turned Ray's token auth off for the local Rays of the other tests)."""
    if os.environ.get("STACK_TEST") != "1":
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "token")
        mp.setenv("RAY_AUTH_TOKEN_PATH", stack_env()["RAY_AUTH_TOKEN_PATH"])
        yield


def _latest(env: dict, as_of: date):
    url = env["STACK_PG"].replace("//postgres@", f"//{FINANCE}@") + "/riskcast_reserves"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT * FROM reserves_latest WHERE as_of_date = :d ORDER BY warehouse_id, period_start"
        ), {"d": as_of}).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]


def _break_rows(path: Path, n: int = 1) -> list[dict]:
    """Give ``n`` rows of yesterday's drop negative units (a data-quality fault GX quarantines)."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows[:n]:
        row["units"] = "-3"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows[:n]


@pytest.fixture(scope="session")
def scenario():
    """Sample network -> S3 landing; history ingested by the CLI; then the SCHEDULER runs
    riskcast_ingest on its timetable (yesterday) and riskcast_forecast on the bronze assets;
    the ingest run is cleared, the scheduler runs it again, the forecast follows again."""
    env = stack_env()
    t0 = time.monotonic()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    start = yesterday - timedelta(days=DAYS - 1)
    landing = Path(env["STACK"]) / "landing"
    run(env, "riskcast", "demo-data", "--out", str(landing), "--warehouses", str(WAREHOUSES),
        "--start", start.isoformat(), "--days", str(DAYS), "--seed", "3")
    bad = _break_rows(landing / "security_reports" / f"date={yesterday}" / "part-000.csv")
    aws = {"AWS_ACCESS_KEY_ID": env["STACK_AWS_KEY"], "AWS_SECRET_ACCESS_KEY": env["STACK_AWS_SECRET"],
           "AWS_ENDPOINT_URL": env["STACK_S3"], "AWS_DEFAULT_REGION": "us-east-1"}
    put = "import fsspec, sys; fsspec.filesystem('s3').put(sys.argv[1], sys.argv[2], recursive=True)"
    run(env, "python", "-c", put, f"{landing}/", env["RISKCAST_LANDING_URI"] + "/", extra=aws)
    # the history before yesterday: a one-off bulk load (CLI, local, clean data: the ingest
    # DAG's stages, validated in batches of days, since only validation makes a day bronze),
    # then copied into the S3 lake; no Airflow run, no assets
    history = Path(env["STACK"]) / "history-lake"
    pii = (Path(env["STACK"]) / "pii.key").read_text().strip()
    run(env, "riskcast", "ingest", "--from", start.isoformat(), "--to", (yesterday - timedelta(days=1)).isoformat(),
        "--no-sweep", timeout=900,
        extra={"RISKCAST_PII_KEY": pii, "RISKCAST_LANDING_URI": str(landing), "RISKCAST_LAKE_URI": str(history)})
    run(env, "python", "-c", put, f"{history}/", env["RISKCAST_LAKE_URI"] + "/", extra=aws)
    engine = metadata(env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # the dag-processor has serialized both DAGs
        with engine.connect() as conn:
            found = {r[0] for r in conn.execute(sa.text("SELECT dag_id FROM dag"))}
        if {"riskcast_ingest", "riskcast_forecast"} <= found:
            break
        time.sleep(3)
    for dag_id in ("riskcast_forecast", "riskcast_ingest"):
        run(env, "airflow", "dags", "unpause", dag_id)
    ingest = wait_for_runs(engine, env, "riskcast_ingest", 1, 420)
    forecast = wait_for_runs(engine, env, "riskcast_forecast", 1, 720)
    first = _latest(env, yesterday)
    run(env, "airflow", "tasks", "clear", "riskcast_ingest", "--yes")
    deadline = time.monotonic() + 420
    while time.monotonic() < deadline and len(runs(engine, "riskcast_forecast")) < 2:
        time.sleep(5)
    forecast = wait_for_runs(engine, env, "riskcast_forecast", 2, 720)
    second = _latest(env, yesterday)
    yield {
        "env": env, "engine": engine, "as_of": yesterday, "ingest": runs(engine, "riskcast_ingest"),
        "forecast": forecast, "first": first, "second": second, "landing": landing,
        "seconds": time.monotonic() - t0, "first_ingest": ingest, "bad_rows": bad, "pii_key": pii,
    }
    engine.dispose()
