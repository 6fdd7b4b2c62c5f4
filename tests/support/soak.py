"""The soak (tests/stack/test_soak.py, docs/operations.md "The soak"): weeks of daily drops
replayed by the stack's own scheduler with catchup, and the events a data engineer meets.

``Timeline`` places the weeks before today: ``weeks`` full weeks Monday..Sunday, then the
Monday after (a day later than the last forecast's as-of, so that forecast runs while the
lake already holds a later day). The events fall in the first two weeks, so the 2-week CI
variant and the 8-week ``make soak`` meet the same ones: a site's file missing for a day
(never delivered), a reconciliation drop landing three days late, a security report amended
a week later, and the first day's landing purged by retention and its run cleared (rerun).
``SoakLanding`` makes the sample network's landing (the reconciliation logs of the soak's
days as one file per site), loads the history before the first day in bulk and puts the late
and amended files in place when the harness sees the scheduler pass their day.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import fsspec
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sqlalchemy as sa

from forecasting.core import schema as s
from forecasting.core.lake import Lake
from forecasting.core.layout import ALERTS
from forecasting.core.panel_spec import weekly_schedule
from tests.support.stack import run, runs

WAREHOUSES, HISTORY_DAYS = 5, 182
REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name
AMENDED_REPORT = "SR-SOAK-AMENDED"


@dataclass(frozen=True)
class Timeline:
    """The soak's days. ``weeks`` >= 3: the events fall in the first full week (Monday purged
    and rerun, Wednesday's report amended 7 days later, Thursday a site missing, Friday's
    reconciliation 3 days late), retention 9 days. ``weeks`` == 2 (CI) compresses them into
    the two days before the first Sunday: Friday purged and rerun, Saturday a site missing,
    Sunday's reconciliation 3 days late and its report amended 3 days later, retention 5 days."""

    weeks: int
    first_sunday: date  # the first forecast run's as-of

    @classmethod
    def before(cls, today: date, weeks: int) -> Timeline:
        """``weeks`` weekly runs, the last one's Sunday at least two days before ``today``."""
        assert weeks >= 2, "the soak needs a publication before the restatements and one after"
        last_sunday = today - timedelta(days=2)
        last_sunday -= timedelta(days=(last_sunday.weekday() + 1) % 7)
        return cls(weeks, last_sunday - timedelta(days=7 * (weeks - 1)))

    @property
    def compressed(self) -> bool:
        return self.weeks < 3

    @property
    def first(self) -> date:  # the first day the scheduler ingests
        return self.first_sunday - timedelta(days=2 if self.compressed else 6)

    @property
    def end(self) -> date:  # the last day ingested: the Monday after the last Sunday
        return self.sundays[-1] + timedelta(days=1)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=k) for k in range((self.end - self.first).days + 1)]

    @property
    def sundays(self) -> list[date]:  # the forecast runs' as-of days
        return [self.first_sunday + timedelta(days=7 * k) for k in range(self.weeks)]

    def _day(self, full: int, compressed: int) -> date:
        return self.first + timedelta(days=compressed if self.compressed else full)

    purged = property(lambda self: self._day(0, 0))  # purged by retention, then its run cleared
    missing = property(lambda self: self._day(3, 1))  # one site's file never comes
    amended = property(lambda self: self._day(2, 2))  # its security report amended later
    late = property(lambda self: self._day(4, 2))  # its reconciliation logs come 3 days late
    amend_delay = property(lambda self: 3 if self.compressed else 7)
    retention_days = property(lambda self: 5 if self.compressed else 9)

    @property
    def missing_week(self) -> date:  # the Monday of the week with the missing site-day
        return self.missing - timedelta(days=self.missing.weekday())

    def env(self) -> dict[str, str]:
        """The soak's settings for Airflow (docker/stack/soak.sh)."""
        return {
            "RISKCAST_SCHEDULE_START": self.first.isoformat(),
            "RISKCAST_SCHEDULE_END": self.end.isoformat(),
            "AIRFLOW__SCHEDULER__CATCHUP_BY_DEFAULT": "True",
            "RISKCAST_FORECAST_SCHEDULE": weekly_schedule(),
            "RISKCAST_LANDING_RETENTION_DAYS": str(self.retention_days),
            "RISKCAST_DROPS__RECONCILIATION_LOGS__PER_SITE_FILES": "true",
            # tiny model settings: the soak shows operation over weeks, not accuracy
            "RISKCAST_BACKTEST_WINDOWS": "1",
            "RISKCAST_ENSEMBLE_MEMBERS": "[]",
            "RISKCAST_BACKTEST_BASELINES": '["seasonal_naive"]',
        }


def s3(env: dict[str, str]) -> fsspec.AbstractFileSystem:
    """The stack's S3 with the admin keys, no cached listings (the scheduler writes meanwhile)."""
    return fsspec.filesystem("s3", key=env["STACK_AWS_KEY"], secret=env["STACK_AWS_SECRET"], skip_instance_cache=True,
                             use_listings_cache=False, client_kwargs={"endpoint_url": env["STACK_S3"]})  # fmt: skip


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _csv(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _split_by_site(folder: Path, sites: list[str]) -> None:
    """A day's files -> one file per site, ``<site>.csv`` (header only on a quiet day), and
    ``<site>.1.<ext>`` for the rows of a second part (``part-001.jsonl`` / ``.parquet``)."""
    for path in sorted(folder.iterdir()):
        suffix = "" if path.name.startswith("part-000") else ".1"
        if path.suffix == ".csv":
            text = path.read_text()
            header, rows = text.splitlines()[0].split(","), _rows(text)
            for site in sites:
                (folder / f"{site}{suffix}.csv").write_text(_csv(header, [r for r in rows if r[s.WAREHOUSE_ID] == site]))
        elif path.suffix == ".jsonl":
            lines = path.read_text().splitlines()
            for site in sites:
                mine = [line for line in lines if json.loads(line)[s.WAREHOUSE_ID] == site]
                if mine:
                    (folder / f"{site}{suffix}.jsonl").write_text("\n".join(mine) + "\n")
        else:
            table = pq.read_table(path)
            for site in sites:
                mine = table.filter(pc.equal(table[s.WAREHOUSE_ID], site))
                if mine.num_rows:
                    pq.write_table(mine, folder / f"{site}{suffix}.parquet")
        path.unlink()


class SoakLanding:
    """The landing of the soak under ``root`` (local) and in the stack's S3; the held-back files."""

    def __init__(self, env: dict[str, str], tl: Timeline, root: Path) -> None:
        self.env, self.tl, self.root, self.fs = env, tl, root, s3(env)
        self.landing, self.lake = Lake(env["RISKCAST_LANDING_URI"]), Lake(env["RISKCAST_LAKE_URI"])
        self.held: dict[str, dict[str, bytes]] = {}  # event -> {landing relative path: bytes}
        self.site = ""  # the site whose file of ``tl.missing`` never comes

    def make(self) -> None:
        """Sample network, per-site reconciliation files of the soak's days, events held back."""
        start = self.tl.first - timedelta(days=HISTORY_DAYS)
        run(self.env, "riskcast", "demo-data", "--out", str(self.root), "--warehouses", str(WAREHOUSES),
            "--start", start.isoformat(), "--days", str((self.tl.end - start).days + 1), "--seed", "3")  # fmt: skip
        shutil.rmtree(self.root / "_truth", ignore_errors=True)
        sites = sorted(r[s.WAREHOUSE_ID] for r in _rows((self.root / "warehouses.csv").read_text()))
        self.site = sites[0]
        for day in self.tl.days:
            _split_by_site(self.root / RECON / f"date={day}", sites)
        (self.root / RECON / f"date={self.tl.missing}" / f"{self.site}.csv").unlink()
        late = self.root / RECON / f"date={self.tl.late}"
        self.held["late"] = {str(p.relative_to(self.root)): p.read_bytes() for p in sorted(late.iterdir())}
        shutil.rmtree(late)
        report = self.root / REPORTS / f"date={self.tl.amended}" / "part-000.csv"
        text = report.read_text()
        rows = _rows(text)
        extra = {**rows[0], s.REPORT_ID: AMENDED_REPORT, "notes": "confirmed after investigation"}
        self.held["amended"] = {str(report.relative_to(self.root)): _csv(text.splitlines()[0].split(","), [*rows, extra]).encode()}

    def upload(self) -> None:
        """The landing to S3, then the history before the first day as a bulk load into the lake
        (CLI, validated as tests/stack does: an unvalidated day stays staged, not bronze; no
        sweep), its alerts left out: the soak's outbox holds what the scheduled runs raised."""
        self.fs.put(f"{self.root}/", self.landing.uri + "/", recursive=True)
        history = self.root.parent / "soak-history-lake"
        shutil.rmtree(history, ignore_errors=True)
        pii = (Path(self.env["STACK"]) / "pii.key").read_text().strip()
        start = self.tl.first - timedelta(days=HISTORY_DAYS)
        run(self.env, "riskcast", "ingest", "--from", start.isoformat(), "--to",
            (self.tl.first - timedelta(days=1)).isoformat(), "--no-sweep", timeout=900,
            extra={"RISKCAST_PII_KEY": pii, "RISKCAST_LANDING_URI": str(self.root), "RISKCAST_LAKE_URI": str(history),
                   "RISKCAST_DROPS__RECONCILIATION_LOGS__PER_SITE_FILES": "false"})  # fmt: skip
        shutil.rmtree(history / ALERTS, ignore_errors=True)
        self.fs.put(f"{history}/", self.lake.uri + "/", recursive=True)

    def deliver(self, event: str) -> None:
        """Put the held-back files of ``event`` into the S3 landing (and the local copy)."""
        for rel, data in self.held[event].items():
            (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.root / rel).write_bytes(data)
            self.fs.pipe(f"{self.landing.uri}/{rel}", data)

    def partition(self, source: str, day: date) -> dict[str, bytes]:
        """Every file of the live bronze and quarantine of a source-day, by path."""
        out = {}
        for folder in (self.lake.bronze(source, day), self.lake.quarantine(source, day)):
            for path in sorted(self.fs.find(folder)):
                out[path] = self.fs.cat_file(path)
        return out


def drive(env: dict[str, str], engine: sa.Engine, tl: Timeline, landing: SoakLanding, timeout: float) -> dict:
    """Watch the scheduler work through the timeline; deliver the late and amended files once
    it passed their day, clear the purged day's run once its landing went. Returns what
    happened when (seconds from the start) and the purged day's partitions before the rerun."""
    t0, log, ended = time.monotonic(), {}, None
    before: dict[str, dict[str, bytes]] = {}
    purge_record = landing.lake.landing_purge(REPORTS, tl.purged)
    while time.monotonic() - t0 < timeout:
        ingest, forecast = runs(engine, "riskcast_ingest"), runs(engine, "riskcast_forecast")
        failed = [r for r in ingest + forecast if r["state"] == "failed"]
        assert not failed, f"a run failed: {failed[0]['run_id']} {failed[0]['tasks']}; logs under {env['AIRFLOW_HOME']}/logs"
        done = {r["logical_date"].date(): r for r in ingest if r["state"] == "success"}
        if "late" not in log and tl.late + timedelta(days=3) in done:
            landing.deliver("late")
            log["late"] = time.monotonic() - t0
        if "amended" not in log and tl.amended + timedelta(days=tl.amend_delay) in done:
            landing.deliver("amended")
            log["amended"] = time.monotonic() - t0
        if "cleared" not in log and tl.purged in done and landing.fs.exists(purge_record):
            before = {src: landing.partition(src, tl.purged) for src in (REPORTS, RECON)}
            ended = done[tl.purged]["end_date"]
            day = tl.purged.isoformat()
            run(env, "airflow", "tasks", "clear", "riskcast_ingest", "-s", day, "-e", day, "--yes")
            log["cleared"] = time.monotonic() - t0
        rerun = done.get(tl.purged)
        rerun_done = "cleared" in log and rerun is not None and rerun["end_date"] > ended
        weekly = [r for r in forecast if r["state"] == "success"]
        if set(tl.days) <= set(done) and len(weekly) >= tl.weeks and rerun_done:
            log["done"] = time.monotonic() - t0
            return {"log": log, "before_rerun": before}
        time.sleep(10)
    raise AssertionError(f"the soak did not finish in {timeout:.0f} s: {log}; ingest runs done "
                         f"{len(done)}/{len(tl.days)}, forecast runs {[r['state'] for r in forecast]}")
