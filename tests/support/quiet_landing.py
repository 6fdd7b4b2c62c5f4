"""Small clean networks for the quiet-day and silence tests: n sites, Poisson rows a site and day.

``quiet_network`` writes ``warehouses.csv`` / ``events.csv`` and one ``part-000.csv`` per
daily source and day (a header-only file on a day without rows, as a real export writes
it). Every report is a confirmed SEV2 HVG theft whose incident happens on its drop day, so
the daily panel's ``reported_incidents`` counts it there.
``quiet`` days get a header-only reports file; sites in ``silent`` send no report from
their first silent day on; days in ``missing`` get no reports folder at all.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from forecasting.core import schema as s
from tests.support.landing import csv_text, land, recon, report

START = date(2024, 1, 1)
REGIONS = (("DE", "DACH"), ("FR", "France"), ("PL", "CEE"))


def site_id(i: int) -> str:
    return f"WH-{REGIONS[i % 3][0]}-{i:03d}"


def quiet_network(root: Path, sites: int, days: int, rate: float | list[float], *, seed: int = 0,
                  quiet: Collection[date] = (), silent: dict[str, date] | None = None,
                  missing: Collection[date] = ()) -> list[date]:  # fmt: skip
    """Write the network's landing drops; return its days. ``rate``: reports a site and day
    (one for all, or one per site)."""
    rng = np.random.default_rng(seed)
    rates = np.broadcast_to(np.asarray(rate, dtype=float), (sites,))
    root.mkdir(parents=True, exist_ok=True)
    rows = [f"{site_id(i)},Site {i},{REGIONS[i % 3][0]},{REGIONS[i % 3][1]},{50_000 + 1000 * i},2015-04-01"
            for i in range(sites)]  # fmt: skip
    (root / "warehouses.csv").write_text("warehouse_id,name,country,region,sqft,opened_on\n" + "\n".join(rows) + "\n")
    (root / "events.csv").write_text("date,scope,scope_id,event_type,name\n2024-01-01,all,,holiday,New year\n")
    out, n_rep, n_rec = [], 0, 0
    for k in range(days):
        day = START + timedelta(days=k)
        out.append(day)
        counts = rng.poisson(rates)
        reports = []
        for i in range(sites):
            stopped = silent and site_id(i) in silent and day >= silent[site_id(i)]
            for _ in range(0 if day in quiet or stopped else int(counts[i])):
                at = f"{day}T{8 + n_rep % 10:02d}:15:00Z"
                reports.append(report(n_rep, **{s.WAREHOUSE_ID: site_id(i), s.INCIDENT_AT: at, s.REPORTED_AT: at,
                                                s.SEVERITY: "SEV2", s.IS_HVG: "true"}))
                n_rep += 1
        if day not in missing:
            land(root, s.SECURITY_REPORTS.name, "part-000.csv", _csv(reports, report(0)), day)
        lines = [recon(n_rec + j, **{s.WAREHOUSE_ID: site_id(j % sites), s.COUNT_DATE: str(day)}) for j in range(2)]
        n_rec += 2
        land(root, s.RECONCILIATION_LOGS.name, "part-000.csv", csv_text(lines), day)
    return out


def _csv(rows: list[dict[str, str]], like: dict[str, str]) -> str:
    return csv_text(rows) if rows else ",".join(like) + "\n"  # header only: a day without rows
