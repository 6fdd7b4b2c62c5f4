"""The soak: weeks of operation on the real scheduler (`make soak`: 8 weeks; `make stack-test`:
2 weeks with the same events, after the stack scenario, on the same stack).

docker/stack/soak.sh restarts Airflow with catchup on and the timetables starting on the
first day of ``tests.support.soak.Timeline``; the scheduler then makes every run itself (one
ingest run a day, a forecast run a week waiting for the ingest of its Sunday) while the
harness delivers a late and an amended file after the scheduler passed their day and clears
the run of a day whose landing retention purged (the only runs started otherwise). SOAK_WEEKS
sets the weeks (2 by default). Figures are printed (``-s``) for bench/README.md "## soak".
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from forecasting.core import schema as s
from tests.support.soak import AMENDED_REPORT, RECON, REPORTS, SoakLanding, Timeline, drive
from tests.support.stack import ENV_SH, metadata, run, runs, stack_env

pytestmark = [pytest.mark.stack, pytest.mark.timeout(4 * 3600)]
WEEKS = int(os.environ.get("SOAK_WEEKS", "2"))
RECON_TARGETS = (s.UNEXPLAINED_LOSSES, s.ESTIMATED_THEFTS)  # they count reconciliation lines


@pytest.fixture(scope="module")
def soak(tmp_path_factory):
    t0 = time.monotonic()
    tl = Timeline.before(datetime.now(UTC).date(), WEEKS)
    env = {**stack_env(), **tl.env()}
    started = subprocess.run(["bash", str(ENV_SH.parent / "soak.sh")], env=env, capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    env = {**stack_env(), **tl.env()}  # again: env.sh with the keys soak.sh kept
    landing = SoakLanding(env, tl, tmp_path_factory.mktemp("soak") / "landing")
    landing.make()
    landing.upload()
    engine = metadata(env)
    while {r[0] for r in engine.connect().execute(sa.text("SELECT dag_id FROM dag"))} < {"riskcast_ingest", "riskcast_forecast"}:
        assert time.monotonic() - t0 < 900, "the dag-processor did not serialize both DAGs"
        time.sleep(3)
    prepared = time.monotonic() - t0
    for dag_id in ("riskcast_forecast", "riskcast_ingest"):
        run(env, "airflow", "dags", "unpause", dag_id)
    result = drive(env, engine, tl, landing, timeout=WEEKS * 3600)
    reserves = sa.create_engine(env["STACK_PG"] + "/riskcast_reserves")
    yield {"env": env, "tl": tl, "landing": landing, "engine": engine, "reserves": reserves,
           "prepared_s": prepared, "seconds": time.monotonic() - t0, **result}  # fmt: skip
    reserves.dispose()
    engine.dispose()


def _query(soak, sql: str, **params) -> list[dict]:
    with soak["reserves"].connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(sql), params).mappings().all()]


def _parquet(soak, uri: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(soak["landing"].fs.cat_file(uri)))


def _landed(folder: Path) -> pd.DataFrame:
    """The rows of a landing day folder (local copy): csv, jsonl and parquet files."""
    read = {".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True), ".parquet": pd.read_parquet}
    frames = [read[p.suffix](p) for p in sorted(folder.iterdir()) if p.suffix in read]
    return pd.concat(frames) if frames else pd.DataFrame()


def test_the_timetables_made_every_run(soak):
    tl, engine = soak["tl"], soak["engine"]
    ingest, forecast = runs(engine, "riskcast_ingest"), runs(engine, "riskcast_forecast")
    assert {r["run_type"] for r in ingest + forecast} == {"scheduled"}, "no run was triggered by hand"
    assert sorted(r["logical_date"].date() for r in ingest) == tl.days, "one ingest run per day, catchup"
    assert [(r["logical_date"] - timedelta(days=1)).date() for r in forecast] == tl.sundays
    for r in ingest + forecast:
        assert r["state"] == "success" and set(r["tasks"].values()) == {"success"}, (r["run_id"], r["tasks"])
    log = soak["log"]
    print(f"soak {tl.weeks} weeks ({tl.first}..{tl.end}): {len(ingest)} ingest runs, {len(forecast)} forecast "
          f"runs; prepared in {soak['prepared_s']:.0f} s, scheduler done after {log['done']:.0f} s, "
          f"total {soak['seconds']:.0f} s; events at {json.dumps({k: round(v) for k, v in log.items()})}")


def test_each_week_published_once_and_the_next_publication_carries_the_restatements(soak):
    tl = soak["tl"]
    pubs = _query(soak, "SELECT as_of_date, run_id, is_current, reason FROM publications ORDER BY as_of_date")
    assert [p["as_of_date"] for p in pubs] == tl.sundays, "each week published once (one data version each)"
    assert all(p["is_current"] for p in pubs)
    restated = _query(soak, "SELECT source, day, rows_before, rows_after, reason FROM restatements ORDER BY day")
    assert {(r["source"], r["day"]) for r in restated} == {(RECON, tl.late), (REPORTS, tl.amended)}, restated
    by_source = {r["source"]: r for r in restated}
    assert (by_source[REPORTS]["rows_after"] or 0) == (by_source[REPORTS]["rows_before"] or 0) + 1
    assert (by_source[RECON]["rows_after"] or 0) > (by_source[RECON]["rows_before"] or 0)
    first, second = pubs[0], pubs[1]
    assert "restated" not in (first["reason"] or ""), "the first week ran before the late and amended files"
    reason = second["reason"] or ""
    assert f"{RECON} {tl.late}" in reason and f"{REPORTS} {tl.amended}" in reason, reason
    carried = _query(soak, "SELECT as_of_date, source, day FROM publication_restatements")
    assert {(c["as_of_date"], c["source"], c["day"]) for c in carried} == {
        (second["as_of_date"], RECON, tl.late), (second["as_of_date"], REPORTS, tl.amended)}
    print(f"publications {len(pubs)}; restatements {len(restated)}: {[r['reason'] for r in restated]}; "
          f"carried by {second['as_of_date']}: {reason!r}")


def test_the_late_and_amended_rows_are_in_bronze(soak):
    tl, landing = soak["tl"], soak["landing"]
    late = _parquet(soak, landing.lake.bronze_file(RECON, tl.late))
    expected = set(_landed(landing.root / RECON / f"date={tl.late}")[s.RECON_ID])
    assert expected and set(late[s.RECON_ID]) == expected
    amended = _parquet(soak, landing.lake.bronze_file(REPORTS, tl.amended))
    assert AMENDED_REPORT in set(amended[s.REPORT_ID])


def test_the_missing_site_day_was_alerted_and_is_missing_not_zero(soak):
    tl, landing = soak["tl"], soak["landing"]
    outbox = [json.loads(line) for line in landing.fs.cat_file(landing.lake.outbox).decode().splitlines()]
    titles = [a["title"] for a in outbox]
    incomplete = [a for a in outbox if str(tl.missing) in a["title"] and RECON in a["title"]]
    assert len(incomplete) == 1 and landing.site in json.dumps(incomplete[0]), titles
    assert sum(str(tl.late) in t and RECON in t and "missing" in t for t in titles) == 1, titles
    week = pd.Timestamp(tl.missing_week)
    for as_of in tl.sundays:
        panel = _parquet(soak, landing.lake.panel_file(as_of))
        rows = panel[panel[s.DS] == week]
        site = rows[rows[s.UNIQUE_ID] == landing.site]
        assert len(site) == 1 and site[list(RECON_TARGETS)].isna().all(axis=None), site
        others = rows[rows[s.UNIQUE_ID] != landing.site]
        assert others[s.REPORTED_INCIDENTS].notna().all()
        if as_of > tl.sundays[0]:  # restated by then: the late day counts for the other sites
            assert others[list(RECON_TARGETS)].notna().all(axis=None), others
    mails = list((Path(soak["env"]["STACK"]) / "mail" / "new").iterdir())
    print(f"alerts in the outbox: {len(outbox)} ({sorted(set(t.split(':')[0] for t in titles))}); mails {len(mails)}")


def test_the_purged_day_rerun_kept_its_bronze_and_no_bronze_was_lost(soak):
    tl, landing = soak["tl"], soak["landing"]
    assert landing.fs.exists(landing.lake.landing_purge(REPORTS, tl.purged))
    assert not landing.fs.exists(landing.landing.landing_day(REPORTS, tl.purged))
    for source, files in soak["before_rerun"].items():
        assert files and landing.partition(source, tl.purged) == files, source
    for day in tl.days:
        for source in (REPORTS, RECON):
            rows = len(_landed(landing.root / source / f"date={day}"))
            if rows:  # the local copy keeps what retention purged from the landing
                assert len(_parquet(soak, landing.lake.bronze_file(source, day))) == rows, (source, day)


def test_the_track_record_holds_every_week_whose_outcome_is_known(soak):
    tl = soak["tl"]
    rows = _query(soak, "SELECT as_of_date, level, id, period_start, period_end, incidents_actual, scored_as_of "
                        "FROM reserves_track_record ORDER BY as_of_date, level, id, period_start")  # fmt: skip
    scored = {(r["as_of_date"], r["period_start"]) for r in rows if r["level"] == "network"}
    known = {(sunday, sunday + timedelta(days=1 + 7 * k)) for sunday in tl.sundays
             for k in range(int(soak["env"]["RISKCAST_HORIZON"])) if sunday + timedelta(days=7 * (k + 1)) <= tl.sundays[-1]}
    assert known <= scored, sorted(known - scored)
    sites = {r["id"] for r in rows if r["level"] == "warehouse"}
    unmeasured = [r for r in rows if r["level"] == "warehouse" and r["incidents_actual"] is None
                  and not (r["id"] == soak["landing"].site and r["period_start"] == tl.missing_week)]
    assert not unmeasured, unmeasured
    print(f"track record: {len(rows)} rows, {len(known)} publication-weeks known, {len(sites)} sites")
    cov = _query(soak, "SELECT AVG(CASE WHEN incidents_within_p95 THEN 1.0 ELSE 0.0 END) AS p95, COUNT(*) AS n "
                       "FROM reserves_track_record WHERE level = 'warehouse' AND in_force AND incidents_actual IS NOT NULL")
    print(f"live P95 coverage (incidents, warehouse-weeks in force): {cov[0]['p95']} over {cov[0]['n']}")


def test_each_as_of_panel_equals_one_computed_on_a_lake_truncated_to_its_days(soak, tmp_path):
    """No look-ahead: the panel each weekly run wrote (while later days were being ingested)
    equals the audit + panel recomputed here, in process, on a copy of the lake holding only
    the days up to its as-of. The first week is left out: its late and amended files came after."""
    from forecasting.audit.stage import run_audit
    from forecasting.core.config import Settings
    from forecasting.panel.build import build_panel

    tl, landing = soak["tl"], soak["landing"]
    env = {k: v for k, v in soak["env"].items() if k.startswith("RISKCAST_")}
    for as_of in tl.sundays[1:]:
        root = tmp_path / f"lake-{as_of}"
        for area in ("bronze", "quarantine"):
            for path in landing.fs.find(f"{landing.lake.uri}/{area}"):
                part = next((p for p in path.split("/") if p.startswith("date=")), None)
                if part is None or datetime.fromisoformat(part[5:]).date() <= as_of:
                    local = root / path[len(landing.lake.uri.removeprefix("s3://")) + 1:]
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_bytes(landing.fs.cat_file(path))
        with mock.patch.dict(os.environ, {**env, "RISKCAST_LAKE_URI": str(root),
                                          "RISKCAST_RESERVES_URL": f"sqlite:///{tmp_path}/r.db"}, clear=False):  # fmt: skip
            settings = Settings()
            run_audit(settings, as_of)
            build_panel(settings, as_of)
        mine = pd.read_parquet(root / landing.lake.panel_file(as_of)[len(landing.lake.uri) + 1:])
        theirs = _parquet(soak, landing.lake.panel_file(as_of))
        pd.testing.assert_frame_equal(mine, theirs)
        assert np.isnan(mine.loc[(mine[s.UNIQUE_ID] == landing.site) & (mine[s.DS] == pd.Timestamp(tl.missing_week)),
                                 s.ESTIMATED_THEFTS]).all()  # fmt: skip
