"""Ground truth of the sample network (``<out>/_truth/``) and exact period quantiles.

Files (CSV, UTF-8, header = the column order below):

- ``warehouses.csv``: warehouse_id, name, country, region, sqft, opened_on, risk_factor,
  reporting_rate, cold_start
- ``daily.csv``: warehouse_id, date, mu, dispersion, is_launch, is_peak, is_holiday,
  thefts, hvg_thefts, loss_eur, reported (one row per open warehouse-day of the range;
  ``reported`` counts thefts by incident date, even when the report lands after the range)
- ``horizon.csv``: warehouse_id, date, mu, dispersion, is_launch, is_peak, is_holiday for
  the days after the range that ``events.csv`` covers (forecasts can be scored on it)
- ``thefts.csv``: one row per true theft with its report (if any) and count line
- ``skus.csv``: the SKU catalog (sku, product_category, is_hvg, unit_value_eur)
- ``params.json``: the run (seed, start, end, ...) and every ``TrueProcess`` parameter
- ``faults.json``: one record per injected fault (empty list without ``--faults``)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.core.errors import ConfigError, InputError
from forecasting.core.lake import Lake, join
from forecasting.core.panel_spec import freq_alias
from forecasting.core.schema import (
    CATEGORY,
    COUNT_DATE,
    DAYS_OPEN,
    INCIDENT_AT,
    INCIDENTS_MEAN,
    IS_HOLIDAY,
    IS_HVG,
    IS_LAUNCH,
    IS_PEAK,
    LOSS_EUR_MEAN,
    LOSS_VALUE_EUR,
    PERIOD_START,
    RECON_ID,
    REGION,
    REPORT_ID,
    REPORTED_AT,
    SEVERITY,
    SEVERITY_LOSS_EUR,
    STATUS,
    THEFT_ID,
    TRUE_DISPERSION,
    TRUE_HVG_THEFTS,
    TRUE_MU,
    TRUE_REPORTED,
    TRUE_THEFTS,
    TRUTH_DATE,
    UNITS,
    WAREHOUSE_ID,
)
from forecasting.demo import activity as act
from forecasting.demo.activity import draw_losses
from forecasting.demo.drops import iso_days, iso_seconds
from forecasting.demo.network import TrueProcess

TRUTH_DIR = "_truth"
PARAMS_FILE = "params.json"
_SIM_CELLS = 2_000_000  # sims x warehouse-days simulated at once (bounds memory)


def write_truth(
    lake: Lake, frames: dict[str, pd.DataFrame], params: dict[str, Any], faults: list
) -> None:
    """Write ``frames`` (file stem -> frame) as CSV, ``params.json`` and ``faults.json``."""
    root = join(lake.uri, TRUTH_DIR)
    for stem, df in sorted(frames.items()):
        df = df.copy()
        for col in df.select_dtypes(bool).columns:  # same spelling as the landing files
            df[col] = np.where(df[col], "true", "false")
        text = df.to_csv(index=False, lineterminator="\n", float_format="%.10g")
        lake.write_text(join(root, f"{stem}.csv"), text)
    lake.write_json(join(root, PARAMS_FILE), params)
    lake.write_json(join(root, "faults.json"), faults)


def daily_truth(
    wh: pd.DataFrame,
    dates: pd.DatetimeIndex,
    mu: np.ndarray,
    k: float,
    flags: dict[str, np.ndarray],
    counts: np.ndarray | None,
    is_open: np.ndarray,
    thefts: pd.DataFrame | None,
    offset: int = 0,
) -> pd.DataFrame:
    """One row per open warehouse-day of ``dates`` (``mu``, ``is_open``: (W, len(dates));
    ``flags`` start ``offset`` days earlier); with ``counts`` also the realised thefts."""
    w, d = np.nonzero(is_open)
    df = pd.DataFrame({
        WAREHOUSE_ID: wh[WAREHOUSE_ID].to_numpy()[w], TRUTH_DATE: dates[d].strftime("%Y-%m-%d"),
        TRUE_MU: mu[w, d], TRUE_DISPERSION: k,
        **{col: flags[col][w, d + offset] for col in (IS_LAUNCH, IS_PEAK, IS_HOLIDAY)},
    })  # fmt: skip
    if counts is not None:
        cell = thefts[act.W].to_numpy() * counts.shape[1] + thefts[act.DAY].to_numpy()
        per_cell = counts.size
        hvg = np.bincount(cell, weights=thefts[IS_HVG].to_numpy(), minlength=per_cell)
        loss = np.bincount(cell, weights=thefts[LOSS_VALUE_EUR].to_numpy(), minlength=per_cell)
        rep = np.bincount(cell, weights=thefts[TRUE_REPORTED].to_numpy(), minlength=per_cell)
        flat = w * counts.shape[1] + d
        df[TRUE_THEFTS] = counts[w, d]
        df[TRUE_HVG_THEFTS] = hvg[flat].astype(np.int64)
        df[SEVERITY_LOSS_EUR] = np.round(loss[flat], 2)
        df[TRUE_REPORTED] = rep[flat].astype(np.int64)
    return df


def thefts_truth(
    thefts: pd.DataFrame, reports: pd.DataFrame, recon: pd.DataFrame, epoch0: int
) -> pd.DataFrame:
    """thefts.csv: each true theft with the ids of its report (if reported) and count line."""
    df = thefts.drop(columns=[act.W, act.DAY]).copy()
    report_of = reports.dropna(subset=[act.THEFT]).set_index(act.THEFT)[REPORT_ID]
    recon_of = recon.dropna(subset=[act.THEFT]).set_index(act.THEFT)[RECON_ID]
    df[REPORT_ID] = df[THEFT_ID].map(report_of)
    df[RECON_ID] = df[THEFT_ID].map(recon_of)
    df[INCIDENT_AT] = iso_seconds(df[INCIDENT_AT].to_numpy())
    reported = df[TRUE_REPORTED].to_numpy()
    df[REPORTED_AT] = iso_seconds(df[REPORTED_AT].to_numpy())
    for col in (REPORTED_AT, CATEGORY, STATUS, SEVERITY):  # only a filed report has them
        df[col] = np.where(reported, df[col].to_numpy(), None)
    df[COUNT_DATE] = iso_days(df[COUNT_DATE].to_numpy(), epoch0)
    df[UNITS] = df[UNITS].astype(np.int64)
    return df


def quantile_name(prefix: str, q: float) -> str:
    """``incidents`` / ``loss_eur`` column of quantile q, e.g. ``incidents_p95``."""
    return f"{prefix}_p{round(q * 100, 4):g}"


def true_period_quantiles(
    truth_dir: str,
    freq: str = "W",
    quantiles: Sequence[float] = (0.5, 0.9, 0.95),
    n_sims: int = 1000,
    seed: int = 0,
    include_horizon: bool = True,
) -> pd.DataFrame:
    """True quantiles of theft counts and losses per warehouse and period.

    Simulates ``n_sims`` draws from the true NB of every open warehouse-day (range, plus
    the horizon after it when ``include_horizon``) and the true severity process, sums
    them per period (``D``; ``W``: Monday..Sunday, labelled by the Monday; ``M``), and
    takes quantiles (``inverted_cdf``: an attainable value). ``truth_dir`` is the
    ``_truth`` folder or the landing folder holding it.

    Returns one row per (warehouse, period), sorted: ``warehouse_id``, ``period_start``
    (datetime64), ``days_open``, ``incidents_mean``, ``incidents_p50``..., ``loss_eur_mean``,
    ``loss_eur_p50``... (one column per requested quantile).
    """
    if n_sims < 1 or not quantiles or any(not 0 < q < 1 for q in quantiles):
        raise ConfigError(
            "true_period_quantiles needs n_sims >= 1 and quantiles strictly in (0, 1)"
        )
    lake = Lake(truth_dir)
    if not lake.exists(join(lake.uri, PARAMS_FILE)):
        lake = Lake(join(truth_dir, TRUTH_DIR))
    params = _read_json(lake, PARAMS_FILE)
    process = TrueProcess.from_dict(params["process"])
    days = _read_csv(lake, "daily.csv")
    if include_horizon and lake.exists(join(lake.uri, "horizon.csv")):
        days = pd.concat([days, _read_csv(lake, "horizon.csv")], ignore_index=True)
    sites = _read_csv(lake, "warehouses.csv")
    catalog = _read_csv(lake, "skus.csv")

    days[TRUTH_DATE] = pd.to_datetime(days[TRUTH_DATE])
    days[PERIOD_START] = _period_start(days[TRUTH_DATE], freq)
    days = days.sort_values([WAREHOUSE_ID, PERIOD_START, TRUTH_DATE], kind="stable").reset_index(
        drop=True
    )
    keys = days.groupby([WAREHOUSE_ID, PERIOD_START], sort=False).size()
    group = np.repeat(np.arange(len(keys)), keys.to_numpy())
    price = days[WAREHOUSE_ID].map(sites.set_index(WAREHOUSE_ID)[REGION].map(process.region_price))
    mu, k = days[TRUE_MU].to_numpy(float), days[TRUE_DISPERSION].to_numpy(float)

    rng = np.random.default_rng(seed)
    counts = np.zeros((n_sims, len(keys)), dtype=np.int64)
    losses = np.zeros((n_sims, len(keys)))
    for g0, g1 in _blocks(keys.to_numpy(), max(1, _SIM_CELLS // n_sims)):
        r0, r1 = np.searchsorted(group, [g0, g1])
        c, lo = _simulate_block(rng, mu[r0:r1], k[r0:r1], price.to_numpy(float)[r0:r1],
                                group[r0:r1] - g0, g1 - g0, n_sims, catalog, process)  # fmt: skip
        counts[:, g0:g1], losses[:, g0:g1] = c, lo

    out = keys.rename(DAYS_OPEN).reset_index()
    out[INCIDENTS_MEAN] = counts.mean(axis=0)
    qs = list(quantiles)
    for q, row in zip(qs, np.quantile(counts, qs, axis=0, method="inverted_cdf"), strict=True):
        out[quantile_name("incidents", q)] = row
    out[LOSS_EUR_MEAN] = losses.mean(axis=0)
    for q, row in zip(qs, np.quantile(losses, qs, axis=0, method="inverted_cdf"), strict=True):
        out[quantile_name("loss_eur", q)] = row
    return out


def _simulate_block(
    rng: np.random.Generator,
    mu: np.ndarray,
    k: np.ndarray,
    price: np.ndarray,
    group: np.ndarray,
    n_groups: int,
    n_sims: int,
    catalog: pd.DataFrame,
    process: TrueProcess,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and losses of ``n_sims`` draws per row (rows: warehouse-days with NB ``mu``,
    ``k``, region ``price`` level, 0-based ``group``), summed per group: two
    (n_sims, n_groups) arrays."""
    n_rows = len(mu)
    draws = rng.negative_binomial(k, k / (k + mu), size=(n_sims, n_rows))
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    counts = np.add.reduceat(draws, starts, axis=1)
    flat = draws.ravel()
    hit = np.flatnonzero(flat)
    idx = np.repeat(hit, flat[hit])
    sim, row = idx // n_rows, idx % n_rows
    loss = draw_losses(rng, price[row], catalog, process)["loss"]
    cell = sim * n_groups + group[row]
    losses = np.bincount(cell, weights=loss, minlength=n_sims * n_groups).reshape(n_sims, n_groups)
    return counts, losses


def _blocks(sizes: np.ndarray, max_rows: int) -> list[tuple[int, int]]:
    """Consecutive group ranges [g0, g1) of at most ``max_rows`` rows (at least one group)."""
    out, g0, rows = [], 0, 0
    for g, size in enumerate(sizes):
        if rows and rows + size > max_rows:
            out.append((g0, g))
            g0, rows = g, 0
        rows += int(size)
    if len(sizes):
        out.append((g0, len(sizes)))
    return out


def _period_start(dates: pd.Series, freq: str) -> pd.Series:
    alias = freq_alias(freq)
    if alias == "D":
        return dates
    if alias == "W-MON":
        return dates - pd.to_timedelta(dates.dt.dayofweek, unit="D")
    if alias == "MS":
        return dates.dt.to_period("M").dt.start_time
    raise ConfigError(f"freq {freq!r} is not supported: use D, W (Monday weeks) or M")


def _read_csv(lake: Lake, name: str) -> pd.DataFrame:
    uri = join(lake.uri, name)
    if not lake.exists(uri):
        raise InputError(
            f"{uri} does not exist: point truth_dir at the _truth folder demo-data wrote"
        )
    return pd.read_csv(io.StringIO(lake.read_text(uri)), keep_default_na=False, na_values=[""])


def _read_json(lake: Lake, name: str) -> Any:
    uri = join(lake.uri, name)
    if not lake.exists(uri):
        raise InputError(
            f"{uri} does not exist: point truth_dir at the _truth folder demo-data wrote"
        )
    return lake.read_json(uri)
