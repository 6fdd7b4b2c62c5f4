"""Sample network truth: exact period quantiles and the reporting rate the audit must recover."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.core.schema import (
    CATEGORY,
    DAYS_OPEN,
    INCIDENT_AT,
    INCIDENTS_MEAN,
    PERIOD_START,
    REASON_CODE,
    RECON_ID,
    RECONCILIATION_LOGS,
    REPORTING_RATE,
    SECURITY_REPORTS,
    STATUS,
    TRUE_MU,
    TRUTH_DATE,
    WAREHOUSE_ID,
)
from forecasting.demo.generate import generate_network
from forecasting.demo.truth import true_period_quantiles
from tests.support.demo_landing import (
    DAYS,
    START,
    THEFT_CATEGORIES,
    make_network,
    read_source,
    read_truth,
)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    return make_network(tmp_path_factory, "clean", False)


def test_true_period_quantiles_match_the_nbread_truth(clean: Path) -> None:
    from scipy.stats import nbinom

    weekly = true_period_quantiles(str(clean), "W", (0.5, 0.9, 0.95), n_sims=4000, seed=1)
    assert {"incidents_p50", "incidents_p90", "incidents_p95", "loss_eur_p95"} <= set(
        weekly.columns
    )
    assert (pd.to_datetime(weekly[PERIOD_START]).dt.dayofweek == 0).all()
    assert (weekly["incidents_p50"] <= weekly["incidents_p90"]).all()
    assert (weekly["incidents_p90"] <= weekly["incidents_p95"]).all()
    assert (weekly["loss_eur_p90"] <= weekly["loss_eur_p95"]).all()
    assert pd.to_datetime(weekly[PERIOD_START]).max().date() > START + timedelta(days=DAYS)

    days = pd.concat([read_truth(clean, "daily.csv"), read_truth(clean, "horizon.csv")])
    assert weekly[DAYS_OPEN].sum() == len(days)
    assert weekly[INCIDENTS_MEAN].sum() == pytest.approx(days[TRUE_MU].sum(), rel=0.03)
    # one day: the simulated quantile is the NB's own quantile (up to sampling at a step)
    daily = true_period_quantiles(str(clean / "_truth"), "D", (0.95,), n_sims=4000, seed=2)
    row = days.iloc[0]
    k = float(row["dispersion"])
    exact = nbinom.ppf(0.95, k, k / (k + row[TRUE_MU]))
    at = pd.Timestamp(row[TRUTH_DATE])
    got = daily[(daily[WAREHOUSE_ID] == row[WAREHOUSE_ID]) & (daily[PERIOD_START] == at)]
    assert abs(got["incidents_p95"].iloc[0] - exact) <= 1


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_empirical_reporting_rate_recovers_the_true_rate(tmp_path: Path) -> None:
    """What the PU audit computes from the landing files: theft reports / UNEXPLAINED lines."""
    days = 730
    generate_network(str(tmp_path), 20, START, days, 5, False)
    sites = read_truth(tmp_path, "warehouses.csv").set_index(WAREHOUSE_ID)
    cutoff = str(START + timedelta(days=days - 12))  # both report and count line have landed
    reports = read_source(tmp_path, SECURITY_REPORTS.name)
    recon = read_source(tmp_path, RECONCILIATION_LOGS.name)
    reported = reports[reports[CATEGORY].isin(THEFT_CATEGORIES) & (reports[STATUS] != "false_alarm")
                       & (reports[INCIDENT_AT].str[:10] < cutoff)].groupby(WAREHOUSE_ID).size()  # fmt: skip
    thefts = read_truth(tmp_path, "thefts.csv")
    lines = recon[recon[REASON_CODE] == "UNEXPLAINED"].merge(
        thefts[[RECON_ID, INCIDENT_AT]], on=RECON_ID
    )
    losses = lines[lines[INCIDENT_AT].str[:10] < cutoff].groupby(WAREHOUSE_ID).size()
    losses = losses[losses >= 30]  # the cold-start and late sites have too few to judge
    rate = reported.reindex(losses.index, fill_value=0) / losses
    truth = sites.loc[losses.index, REPORTING_RATE]
    se = np.sqrt(truth * (1 - truth) / losses)
    assert (np.abs(rate - truth) < 4 * se).all(), pd.DataFrame({"got": rate, "true": truth})
    pooled = reported.reindex(losses.index, fill_value=0).sum() / losses.sum()
    assert pooled == pytest.approx((truth * losses).sum() / losses.sum(), abs=0.03)
