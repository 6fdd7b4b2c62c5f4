"""A small audit table (the shape ``forecasting.audit.stage`` writes) and its summary."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from forecasting.core import schema

# warehouse -> (region, unexplained losses, reported); WH-Z has no data
SITES = {"WH-A": ("north", 12, 5), "WH-B": ("north", 8, 7), "WH-C": ("south", 10, 2), "WH-Z": ("south", 0, 0)}


def audit_table() -> pd.DataFrame:
    rows = []
    for wid, (region, n, k) in SITES.items():
        raw = k / n if n else np.nan
        rate = raw if n else 0.51  # the model's prior: no information, must not be ranked
        rows.append(("warehouse", wid, region, n, k, rate, max(rate - 0.2, 0.0), min(rate + 0.2, 1.0), raw, k + 1, 1))
    for ident, region in (("north", "north"), ("south", "south"), ("network", None)):
        ns = [s for s in SITES.values() if region is None or s[0] == region]
        n, k = sum(s[1] for s in ns), sum(s[2] for s in ns)
        rows.append(("region" if region else "network", ident, region, n, k, k / n, k / n - 0.1, k / n + 0.1, k / n, k, 2))
    cols = [
        schema.AUDIT_LEVEL, schema.AUDIT_ID, schema.REGION, schema.UNEXPLAINED_LOSSES_N, schema.REPORTED_LOSSES,
        schema.REPORTING_RATE, schema.REPORTING_RATE_LO, schema.REPORTING_RATE_HI, schema.REPORTING_RATE_RAW,
        schema.HVG_REPORTS_N, schema.UNMATCHED_REPORTS_N,
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=cols)


def audit_summary() -> SimpleNamespace:
    return SimpleNamespace(
        as_of="2024-06-02", interval_level=0.9, network_rate=14 / 30, network_rate_lo=0.37,
        network_rate_hi=0.57, reported_losses=14, unexplained_losses=30, warehouses=4,
        match_window_days=7, window_start="2024-01-01", window_end="2024-05-20", hvg_reports=20,
        skipped_unknown_warehouse={},
    )  # fmt: skip
