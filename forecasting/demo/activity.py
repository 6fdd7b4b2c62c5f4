"""What happens at the sample network's sites: true thefts, reports and count discrepancies.

Times are int64 seconds since the Unix epoch (UTC), days are int indices from the first
day; ``demo_drops`` formats both. Internal columns start with ``_`` and never reach a file.

Invariants the audit and the tests rely on:
- every true theft is one ``UNEXPLAINED`` reconciliation line (counted < expected) for its
  sku, 0..3 days (HVG) or 0..10 days (other goods) after the incident; no other line is
  ``UNEXPLAINED``;
- a theft is reported with its site's reporting rate; every report with category theft,
  burglary or fraud and status confirmed/unconfirmed is exactly one true theft; noise
  reports are vandalism/other, or theft/burglary with status ``false_alarm``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.core.schema import (
    CATEGORY,
    COUNT_DATE,
    COUNTED_UNITS,
    COUNTRY,
    EXPECTED_UNITS,
    INCIDENT_AT,
    IS_HVG,
    LOSS_VALUE_EUR,
    NOTES,
    REASON_CODE,
    RECON_ID,
    REGION,
    REPORT_ID,
    REPORTED_AT,
    REPORTER_ID,
    REPORTING_RATE,
    SEVERITY,
    SKU,
    SQFT,
    STATUS,
    THEFT_ID,
    TRUE_REPORTED,
    UNIT_VALUE_EUR,
    UNITS,
    WAREHOUSE_ID,
)
from forecasting.demo.network import COUNTRIES, TrueProcess
from forecasting.demo.text import ReporterPool, draw_notes

W, DAY, THEFT = "_w", "_day", "_theft"  # internal: warehouse index, drop day, theft id
DAY_S = 86_400
_NIGHT_HEAVY = np.array(
    [3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3], float
)


def draw_losses(
    rng: np.random.Generator, price: np.ndarray, catalog: pd.DataFrame, process: TrueProcess
) -> dict[str, np.ndarray]:
    """Severity of ``len(price)`` thefts: ``sku`` (catalog row), ``is_hvg``, ``units``,
    ``unit_value_eur`` (catalog price x the site's region price level) and ``loss_eur``.
    The truth simulation calls this same function, so its losses are exact."""
    n = len(price)
    hvg = rng.random(n) < process.hvg_share
    cat_hvg = catalog[IS_HVG].to_numpy(dtype=bool)
    pools = np.flatnonzero(cat_hvg), np.flatnonzero(~cat_hvg)
    u = rng.random(n)
    sku = np.where(
        hvg, pools[0][(u * len(pools[0])).astype(int)], pools[1][(u * len(pools[1])).astype(int)]
    )
    lam = np.where(hvg, process.units_extra_mean_hvg, process.units_extra_mean_other)
    units = 1 + rng.poisson(lam)
    unit_value = np.round(catalog[UNIT_VALUE_EUR].to_numpy()[sku] * price, 2)
    return {"sku": sku, "is_hvg": hvg, "units": units, "unit_value": unit_value,
            "loss": np.round(units * unit_value, 2)}  # fmt: skip


def site_price(warehouses: pd.DataFrame, process: TrueProcess) -> np.ndarray:
    return warehouses[REGION].map(process.region_price).to_numpy(dtype=float)


def draw_thefts(
    rng: np.random.Generator,
    counts: np.ndarray,
    warehouses: pd.DataFrame,
    catalog: pd.DataFrame,
    process: TrueProcess,
    epoch_day0: int,
) -> pd.DataFrame:
    """One row per true theft from the (W, D) count matrix, with its report and count plan.

    Columns: ``_w``, ``_day`` (incident day), ``theft_id``, ``warehouse_id``,
    ``incident_at`` / ``reported_at`` (s), ``sku``, ``is_hvg``, ``units``,
    ``unit_value_eur``, ``loss_value_eur``, ``reported`` (bool), ``category``, ``status``,
    ``severity``, ``count_date`` (day index of the reconciliation line).
    """
    w, d = np.nonzero(counts)
    w, d = np.repeat(w, counts[w, d]), np.repeat(d, counts[w, d])
    n = len(w)
    loss = draw_losses(rng, site_price(warehouses, process)[w], catalog, process)
    hour = rng.choice(24, size=n, p=_NIGHT_HEAVY / _NIGHT_HEAVY.sum())
    incident = (epoch_day0 + d) * DAY_S + hour * 3600 + rng.integers(0, 60, n) * 60
    delay_min = rng.integers(0, process.report_delay_max_hours * 60 + 1, n)
    reported = rng.random(n) < warehouses[REPORTING_RATE].to_numpy()[w]
    category = np.array(["theft", "burglary", "fraud"])[rng.choice(3, size=n, p=[0.75, 0.1, 0.15])]
    status = np.where(rng.random(n) < 0.9, "confirmed", "unconfirmed")
    max_delay = np.where(
        loss["is_hvg"], process.count_delay_max_days_hvg, process.count_delay_max_days_other
    )
    count_day = d + rng.integers(0, max_delay + 1)
    hvg, value = loss["is_hvg"], loss["loss"]
    severity = np.where(
        (hvg & (value >= 2500)) | (value >= 5000),
        "SEV1",
        np.where(hvg | (value >= 1000), "SEV2", "SEV3"),
    )
    return pd.DataFrame(
        {
            W: w, DAY: d, THEFT_ID: [f"T-{i + 1:07d}" for i in range(n)],
            WAREHOUSE_ID: warehouses[WAREHOUSE_ID].to_numpy()[w],
            INCIDENT_AT: incident, REPORTED_AT: incident + delay_min * 60,
            SKU: catalog[SKU].to_numpy()[loss["sku"]], IS_HVG: hvg, UNITS: loss["units"],
            UNIT_VALUE_EUR: loss["unit_value"], LOSS_VALUE_EUR: value, TRUE_REPORTED: reported,
            CATEGORY: category, STATUS: status, SEVERITY: severity, COUNT_DATE: count_day,
        }
    )  # fmt: skip


def theft_reports(
    rng: np.random.Generator, thefts: pd.DataFrame, warehouses: pd.DataFrame, pool: ReporterPool
) -> pd.DataFrame:
    """The reports of reported thefts (report frame columns, see ``noise_reports``)."""
    t = thefts[thefts[TRUE_REPORTED].to_numpy()]
    w = t[W].to_numpy()
    notes = draw_notes(
        rng, t[CATEGORY].to_numpy(), t[SKU].to_numpy(), t[UNITS].to_numpy(), _phones(warehouses, w)
    )
    return pd.DataFrame(
        {
            W: w, WAREHOUSE_ID: t[WAREHOUSE_ID].to_numpy(), INCIDENT_AT: t[INCIDENT_AT].to_numpy(),
            REPORTED_AT: t[REPORTED_AT].to_numpy(), SEVERITY: t[SEVERITY].to_numpy(),
            CATEGORY: t[CATEGORY].to_numpy(), SKU: t[SKU].to_numpy(), IS_HVG: t[IS_HVG].to_numpy(),
            UNITS: t[UNITS].to_numpy(), LOSS_VALUE_EUR: t[LOSS_VALUE_EUR].to_numpy(),
            STATUS: t[STATUS].to_numpy(), REPORTER_ID: pool.draw(rng, w), NOTES: notes,
            THEFT: t[THEFT_ID].to_numpy(),
        }
    )  # fmt: skip


def noise_reports(
    rng: np.random.Generator,
    w: np.ndarray,
    d: np.ndarray,
    warehouses: pd.DataFrame,
    pool: ReporterPool,
    epoch_day0: int,
) -> pd.DataFrame:
    """One incident report that is not a theft per (warehouse index, day index) pair.

    Columns: ``_w``, then SECURITY_REPORTS columns without ``report_id`` (times in
    seconds, ``sku`` None), then ``_theft`` (None).
    """
    n = len(w)
    kinds = np.array(["vandalism", "other", "false_theft", "false_burglary"])[
        rng.choice(4, size=n, p=[0.4, 0.4, 0.1, 0.1])
    ]
    category = np.char.replace(kinds, "false_", "")
    status = np.array(["confirmed", "unconfirmed", "false_alarm"])[
        rng.choice(3, size=n, p=[0.75, 0.15, 0.1])
    ]
    status = np.where(np.char.startswith(kinds, "false_"), "false_alarm", status)
    incident = (epoch_day0 + d) * DAY_S + rng.integers(5 * 60, 23 * 60, n) * 60
    reported = incident + rng.integers(0, 24 * 60 + 1, n) * 60
    damage = np.round(rng.lognormal(np.log(180.0), 0.8, n), 2)
    loss = np.where((kinds == "vandalism") & (status != "false_alarm"), damage, 0.0)
    severity = np.where(rng.random(n) < 0.3, "SEV3", "SEV4")
    no_sku = np.full(n, None, dtype=object)
    notes = draw_notes(rng, kinds, no_sku, np.zeros(n, int), _phones(warehouses, w))
    return pd.DataFrame(
        {
            W: w, WAREHOUSE_ID: warehouses[WAREHOUSE_ID].to_numpy()[w], INCIDENT_AT: incident,
            REPORTED_AT: reported, SEVERITY: severity, CATEGORY: category, SKU: no_sku,
            IS_HVG: np.zeros(n, bool), UNITS: np.zeros(n, np.int64), LOSS_VALUE_EUR: loss,
            STATUS: status, REPORTER_ID: pool.draw(rng, w), NOTES: notes, THEFT: no_sku,
        }
    )  # fmt: skip


def _phones(warehouses: pd.DataFrame, w: np.ndarray) -> np.ndarray:
    prefix = {c: v[1] for c, v in COUNTRIES.items()}
    return warehouses[COUNTRY].map(prefix).to_numpy()[w]


def assign_report_ids(reports: pd.DataFrame, epoch_day0: int, first: int = 1) -> pd.DataFrame:
    """Sort by (reported_at, site, incident_at), number ``SR-00000001``..., add ``_day``
    (drop day = day of reported_at)."""
    order = np.lexsort(
        (reports[INCIDENT_AT].to_numpy(), reports[W].to_numpy(), reports[REPORTED_AT].to_numpy())
    )
    out = reports.iloc[order].reset_index(drop=True)
    out.insert(0, REPORT_ID, [f"SR-{first + i:08d}" for i in range(len(out))])
    out[DAY] = out[REPORTED_AT].to_numpy() // DAY_S - epoch_day0
    return out


def theft_recon(thefts: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The UNEXPLAINED count line of every theft (recon frame columns, see ``noise_recon``)."""
    units = thefts[UNITS].to_numpy()
    expected = units + rng.poisson(35, len(thefts))
    return pd.DataFrame(
        {
            W: thefts[W].to_numpy(), WAREHOUSE_ID: thefts[WAREHOUSE_ID].to_numpy(),
            COUNT_DATE: thefts[COUNT_DATE].to_numpy(), SKU: thefts[SKU].to_numpy(),
            IS_HVG: thefts[IS_HVG].to_numpy(), EXPECTED_UNITS: expected, COUNTED_UNITS: expected - units,
            UNIT_VALUE_EUR: thefts[UNIT_VALUE_EUR].to_numpy(), REASON_CODE: "UNEXPLAINED",
            THEFT: thefts[THEFT_ID].to_numpy(),
        }
    )  # fmt: skip


def noise_recon(
    rng: np.random.Generator,
    w: np.ndarray,
    d: np.ndarray,
    warehouses: pd.DataFrame,
    catalog: pd.DataFrame,
    process: TrueProcess,
) -> pd.DataFrame:
    """One explained discrepancy line per (warehouse index, day index) pair.

    Columns: ``_w``, RECONCILIATION_LOGS columns without ``recon_id`` (``count_date`` a
    day index), ``_theft`` (None). Reasons: MISCOUNT (+/-), DAMAGE (loss), FOUND (gain),
    TRANSFER (+/-); never UNEXPLAINED.
    """
    n = len(w)
    reason = np.array(["MISCOUNT", "DAMAGE", "FOUND", "TRANSFER"])[
        rng.choice(4, size=n, p=[0.45, 0.25, 0.15, 0.15])
    ]
    size = 1 + rng.poisson(np.select([reason == "TRANSFER", reason == "DAMAGE"], [4.0, 1.5], 1.0))
    sign = np.where(rng.random(n) < 0.5, -1, 1)
    sign = np.select([reason == "DAMAGE", reason == "FOUND"], [-1, 1], sign)
    delta = sign * size
    expected = size + 1 + rng.poisson(35, n)
    sku = rng.integers(len(catalog), size=n)
    value = np.round(
        catalog[UNIT_VALUE_EUR].to_numpy()[sku] * site_price(warehouses, process)[w], 2
    )
    return pd.DataFrame(
        {
            W: w, WAREHOUSE_ID: warehouses[WAREHOUSE_ID].to_numpy()[w], COUNT_DATE: d,
            SKU: catalog[SKU].to_numpy()[sku], IS_HVG: catalog[IS_HVG].to_numpy(dtype=bool)[sku],
            EXPECTED_UNITS: expected, COUNTED_UNITS: expected + delta, UNIT_VALUE_EUR: value,
            REASON_CODE: reason, THEFT: np.full(n, None, dtype=object),
        }
    )  # fmt: skip


def assign_recon_ids(recon: pd.DataFrame, first: int = 1) -> pd.DataFrame:
    """Sort by (count day, site, sku), number ``RC-00000001``..., add ``_day`` (= count day)."""
    order = np.lexsort(
        (recon[SKU].to_numpy().astype(str), recon[W].to_numpy(), recon[COUNT_DATE].to_numpy())
    )
    out = recon.iloc[order].reset_index(drop=True)
    out.insert(0, RECON_ID, [f"RC-{first + i:08d}" for i in range(len(out))])
    out[DAY] = out[COUNT_DATE].to_numpy()
    return out


def open_pairs(
    rng: np.random.Generator, rate: np.ndarray, open_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(warehouse, day) index pairs, each repeated Poisson(rate_w) times on open days."""
    counts = rng.poisson(np.broadcast_to(rate[:, None], open_mask.shape)) * open_mask
    w, d = np.nonzero(counts)
    return np.repeat(w, counts[w, d]), np.repeat(d, counts[w, d])


def noise_rates(warehouses: pd.DataFrame, process: TrueProcess) -> tuple[np.ndarray, np.ndarray]:
    """Per-site daily rates of noise reports and of explained count lines."""
    rel = warehouses[SQFT].to_numpy() / process.sqft_ref
    return process.noise_reports_per_day * rel**0.3, process.noise_recon_per_day * rel**0.4
