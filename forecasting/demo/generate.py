"""Sample network generator: a European logistics network with a known true theft process.

``generate_network`` writes a landing folder the pipeline ingests as if it were real::

    <out>/security_reports/date=YYYY-MM-DD/part-000.csv (+ part-001.jsonl|parquet some days)
    <out>/reconciliation_logs/date=YYYY-MM-DD/part-000.csv (...)
    <out>/warehouses.csv, <out>/events.csv
    <out>/_truth/  true intensities, NB parameters, reporting rates, thefts, faults

Modules: ``demo_network`` (sites, catalog, process parameters), ``demo_calendar``
(events), ``demo_activity`` (thefts, reports, count lines), ``demo_text`` (notes, PII),
``demo_drops`` (files), ``demo_faults`` (fault table), ``demo_truth`` (truth, quantiles).
Each part draws from its own generator seeded by ``(seed, part)``, so ``--faults`` changes
nothing but the injected faults, and a rerun writes byte-identical files.
See docs/data.md.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.errors import ConfigError
from forecasting.core.lake import Lake, join
from forecasting.core.schema import (
    EVENT_DATE,
    EVENTS,
    INCIDENT_AT,
    OPENED_ON,
    RECON_ID,
    RECONCILIATION_LOGS,
    REPORT_ID,
    REPORTED_AT,
    SECURITY_REPORTS,
    SQFT,
    WAREHOUSES,
)  # fmt: skip
from forecasting.demo import activity as act
from forecasting.demo import anomalies as anom
from forecasting.demo.calendar import build_events, event_flags
from forecasting.demo.drops import build_drops, format_frame, write_drops
from forecasting.demo.faults import FaultContext, fault_days, inject_faults, min_days_for_faults
from forecasting.demo.network import TrueProcess, build_catalog, build_warehouses, log_mu
from forecasting.demo.text import ReporterPool
from forecasting.demo.truth import PARAMS_FILE, TRUTH_DIR, daily_truth, thefts_truth, write_truth

HORIZON_DAYS = 120  # events (future covariates) and truth run this far past the last day
MIN_DAYS, MAX_WAREHOUSES = 28, 2000
_PARTS = ("network", "catalog", "events", "thefts", "reports", "noise_reports", "recon",
          "noise_recon", "files", "faults", "anomalies")  # fmt: skip
_OWNED = (
    SECURITY_REPORTS.name,
    RECONCILIATION_LOGS.name,
    "warehouses.csv",
    "events.csv",
    TRUTH_DIR,
)


@dataclass
class NetworkSummary:
    """What ``generate_network`` wrote: rows per source and the injected fault names."""

    out: str
    warehouses: int
    days: int
    start: str
    end: str
    seed: int
    rows: dict[str, int]
    thefts: int
    faults: list[str]
    anomalies: int = 0  # injected anomaly weeks (_truth/anomalies.csv)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate_network(
    out: str, warehouses: int, start: date, days: int, seed: int, faults: bool,
    anomalies: bool = False,
) -> NetworkSummary:
    """Write a sample network's landing drops for ``days`` days from ``start`` and its truth.

    Deterministic for ``seed``. Overwrites a folder an earlier run wrote; refuses a folder
    holding other landing data. With ``faults`` every name in ``demo_faults.FAULTS`` is
    injected once (see ``_truth/faults.json``); with ``anomalies`` the root causes of
    ``demo_anomalies`` (see ``_truth/anomalies.csv``).
    """
    _check(warehouses, days, seed, faults)
    lake = Lake(out if "://" in out else os.path.abspath(out))
    _clear_previous(lake)
    rng = {part: np.random.default_rng([seed, i]) for i, part in enumerate(_PARTS)}
    process = TrueProcess()
    end, horizon_end = (
        start + timedelta(days=days - 1),
        start + timedelta(days=days - 1 + HORIZON_DAYS),
    )
    epoch0 = (start - date(1970, 1, 1)).days

    wh = build_warehouses(rng["network"], warehouses, days, start, process)
    catalog = build_catalog(rng["catalog"])
    events = build_events(rng["events"], wh, start, horizon_end)
    dates = pd.date_range(start, horizon_end, freq="D")
    flags = event_flags(events, wh, dates)
    mu = np.exp(log_mu(process, wh, flags, dates))
    opened = np.array([(d - start).days for d in wh[OPENED_ON]])
    is_open = np.arange(len(dates))[None, :] >= opened[:, None]

    k = process.dispersion
    counts = rng["thefts"].negative_binomial(k, k / (k + mu[:, :days])) * is_open[:, :days]
    plan = anom.plan_anomalies(rng["anomalies"], wh, start, days, mu) if anomalies else None
    if plan is not None:
        counts = anom.extra_thefts(rng["anomalies"], plan, counts, mu[:, :days], is_open[:, :days])
    thefts = act.draw_thefts(rng["thefts"], counts, wh, catalog, process, epoch0)
    if plan is not None:
        thefts = anom.alter_thefts(plan, thefts, warehouses, days)
    pool = ReporterPool(rng["reports"], warehouses)
    rate_reports, rate_recon = act.noise_rates(wh, process)
    noise_w, noise_d = act.open_pairs(rng["noise_reports"], rate_reports, is_open[:, :days])
    if plan is not None:
        noise_w, noise_d = anom.keep_noise_reports(plan, noise_w, noise_d, warehouses, days)
    reports = act.assign_report_ids(pd.concat([
        act.theft_reports(rng["reports"], thefts, wh, pool),
        act.noise_reports(rng["noise_reports"], noise_w, noise_d, wh, pool, epoch0),
    ], ignore_index=True), epoch0)  # fmt: skip
    recon_w, recon_d = act.open_pairs(rng["noise_recon"], rate_recon, is_open[:, :days])
    recon = act.assign_recon_ids(pd.concat([
        act.theft_recon(thefts, rng["recon"]),
        act.noise_recon(rng["noise_recon"], recon_w, recon_d, wh, catalog, process),
        *([anom.extra_recon(rng["anomalies"], plan, wh, catalog, process, rate_recon,
                            is_open[:, :days])] if plan is not None else []),
    ], ignore_index=True))  # fmt: skip

    day_names = [str(start + timedelta(days=d)) for d in range(days)]
    drops = {
        SECURITY_REPORTS.name: build_drops(
            format_frame(reports[reports[act.DAY] < days], SECURITY_REPORTS, epoch0), days, rng["files"]),
        RECONCILIATION_LOGS.name: build_drops(
            format_frame(recon[recon[act.DAY] < days], RECONCILIATION_LOGS, epoch0), days, rng["files"]),
    }  # fmt: skip
    records: list[dict[str, Any]] = []
    if faults:
        fresh = _FreshRows(rng["faults"], wh, catalog, process, pool, is_open, epoch0,
                           len(reports) + 1, len(recon) + 1)  # fmt: skip
        ctx = FaultContext(drops, day_names, rng["faults"], fresh)
        records = inject_faults(ctx, fault_days(rng["faults"], days))

    rows = {src: write_drops(lake, src, d, day_names) for src, d in drops.items()}
    rows[WAREHOUSES.name] = _write_reference(lake, "warehouses.csv", _warehouses_file(wh))
    rows[EVENTS.name] = _write_reference(lake, "events.csv", _events_file(events))
    truth = {
        "warehouses": wh,
        "daily": daily_truth(wh, dates[:days], mu[:, :days], k, flags, counts, is_open[:, :days], thefts),
        "horizon": daily_truth(wh, dates[days:], mu[:, days:], k, flags, None, is_open[:, days:], None, days),
        "thefts": thefts_truth(thefts, reports, recon, epoch0),
        "skus": catalog,
    }  # fmt: skip
    if plan is not None:
        truth[anom.ANOMALIES_STEM] = anom.truth_frame(plan, wh, start)
    params = {"seed": seed, "start": str(start), "end": str(end), "days": days,
              "warehouses": warehouses, "events_end": str(horizon_end), "faults": faults,
              "process": process.to_dict(), **({"anomalies": True} if plan is not None else {})}  # fmt: skip
    write_truth(lake, truth, params, records)
    return NetworkSummary(lake.uri, warehouses, days, str(start), str(end), seed, rows,
                          len(thefts), [r["fault"] for r in records],
                          0 if plan is None else len(truth[anom.ANOMALIES_STEM]))  # fmt: skip


def _check(warehouses: int, days: int, seed: int, faults: bool) -> None:
    if not 2 <= warehouses <= MAX_WAREHOUSES:
        raise ConfigError(
            f"--warehouses {warehouses}: use 2..{MAX_WAREHOUSES} (one site is the cold-start site)"
        )
    need = max(MIN_DAYS, min_days_for_faults()) if faults else MIN_DAYS
    if days < need:
        raise ConfigError(
            f"--days {days}: use at least {need}"
            + (" with --faults (one day per fault)" if faults else "")
        )
    if seed < 0:
        raise ConfigError(f"--seed {seed}: use a non-negative integer")


def _clear_previous(lake: Lake) -> None:
    """Remove what an earlier run wrote; refuse to touch landing data it did not write."""
    present = [name for name in _OWNED if lake.exists(join(lake.uri, name))]
    if present and not lake.exists(join(lake.uri, TRUTH_DIR, PARAMS_FILE)):
        raise ConfigError(
            f"{lake.uri} already holds {present} not written by demo-data: pick an empty --out folder"
        )
    for name in present:
        lake.remove(join(lake.uri, name))


class _FreshRows:
    """Fresh realistic noise rows with fresh ids on a given day (for fault injection)."""

    def __init__(
        self,
        rng: np.random.Generator,
        wh: pd.DataFrame,
        catalog: pd.DataFrame,
        process: TrueProcess,
        pool: ReporterPool,
        is_open: np.ndarray,
        epoch0: int,
        next_report: int,
        next_recon: int,
    ) -> None:
        self.rng, self.wh, self.catalog, self.process, self.pool = rng, wh, catalog, process, pool
        self.is_open, self.epoch0 = is_open, epoch0
        self.next = {SECURITY_REPORTS.name: next_report, RECONCILIATION_LOGS.name: next_recon}

    def __call__(self, source: str, day: int, n: int) -> pd.DataFrame:
        w = self.rng.choice(np.flatnonzero(self.is_open[:, day]), size=n)
        d = np.full(n, day)
        first, self.next[source] = self.next[source], self.next[source] + n
        if source == SECURITY_REPORTS.name:
            df = act.noise_reports(self.rng, w, d, self.wh, self.pool, self.epoch0)
            # land in this day's drop: reported within the hour, before midnight
            df[REPORTED_AT] = df[INCIDENT_AT] + self.rng.integers(0, 60, n) * 60
            df.insert(0, REPORT_ID, [f"SR-{first + i:08d}" for i in range(n)])
            contract = SECURITY_REPORTS
        else:
            df = act.noise_recon(self.rng, w, d, self.wh, self.catalog, self.process)
            df.insert(0, RECON_ID, [f"RC-{first + i:08d}" for i in range(n)])
            contract = RECONCILIATION_LOGS
        df[act.DAY] = day
        return format_frame(df, contract, self.epoch0)


def _write_reference(lake: Lake, name: str, df: pd.DataFrame) -> int:
    lake.write_text(join(lake.uri, name), df.to_csv(index=False, lineterminator="\n"))
    return len(df)


def _warehouses_file(wh: pd.DataFrame) -> pd.DataFrame:
    df = wh[list(WAREHOUSES.columns)].copy()
    df[SQFT] = [f"{x:.0f}" for x in df[SQFT]]
    df[OPENED_ON] = [str(d) for d in df[OPENED_ON]]
    return df


def _events_file(events: pd.DataFrame) -> pd.DataFrame:
    df = events[list(EVENTS.columns)].copy()
    df[EVENT_DATE] = [str(d) for d in df[EVENT_DATE]]
    return df
