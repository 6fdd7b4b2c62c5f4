"""Horizon totals: spans of weeks, quantiles of whole scenarios, in the database and on the page."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from forecasting.core import schema
from forecasting.core.html import eur
from forecasting.core.lake import Lake
from forecasting.core.layout import HORIZON_FILE, TOTALS_FILE
from forecasting.reserves.compute import compute_reserves
from forecasting.reserves.horizon import horizon_spans
from forecasting.reserves.publish import publish_reserves
from forecasting.reserves.report import write_reserves_report
from tests.support.reserves_lake import AS_OF, write_inputs


def _weeks(first: str, n: int) -> pd.DataFrame:
    start = pd.date_range(first, periods=n, freq="W-MON")
    return pd.DataFrame({schema.PERIOD_START: start, schema.PERIOD_END: start + pd.Timedelta(days=6)})


def test_spans_name_months_and_quarters_by_the_thursday_and_say_partial():
    spans = {(s.kind, s.label): s for s in horizon_spans(_weeks("2025-12-29", 8))}
    assert list(spans) == [("next_4", "next 4 weeks"), ("horizon", "8 weeks"), ("month", "January 2026"),
                           ("month", "February 2026"), ("quarter", "Q1 2026")]  # fmt: skip
    jan, feb = spans["month", "January 2026"], spans["month", "February 2026"]
    # the week of Mon 29 Dec to Sun 4 Jan has its Thursday on 1 Jan: January
    assert jan.start == pd.Timestamp("2025-12-29") and jan.end == pd.Timestamp("2026-02-01")
    assert len(jan.steps) == 5 and not jan.partial
    assert feb.partial and feb.end == pd.Timestamp("2026-02-22") and spans["quarter", "Q1 2026"].partial
    assert spans["horizon", "8 weeks"].end == pd.Timestamp("2026-02-22")
    # daily periods: one month span per calendar month
    days = pd.date_range("2024-01-30", periods=3, freq="D")
    daily = horizon_spans(pd.DataFrame({schema.PERIOD_START: days, schema.PERIOD_END: days}))
    assert [(s.kind, s.label, s.partial) for s in daily] == [
        ("horizon", "3 days", False), ("month", "January 2024", True),
        ("month", "February 2024", True), ("quarter", "Q1 2024", True)]  # fmt: skip


def test_horizon_totals_are_quantiles_of_summed_scenarios(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri, horizon=8, paths=400)
    summary = compute_reserves(settings, AS_OF)
    lake = Lake.from_settings(settings)
    spans = lake.read_parquet(lake.reserves_file(AS_OF, HORIZON_FILE))
    totals = lake.read_parquet(lake.reserves_file(AS_OF, TOTALS_FILE))
    assert set(spans[schema.TOTAL_ID]) == {"network", "north", "south"}
    assert set(spans[schema.PERIOD_KIND]) == {"next_4", "horizon", "month", "quarter"}
    net = spans[spans[schema.TOTAL_ID] == schema.NETWORK_ID].set_index(schema.PERIOD_KIND)
    weekly = totals[totals[schema.TOTAL_ID] == schema.NETWORK_ID]
    whole = net.loc["horizon"]
    assert whole[schema.N_PERIODS] == 8 and summary.network_loss_eur_p95_horizon == whole[schema.LOSS_EUR_P95]
    # means add up over weeks (the same scenarios); P95s do not: bad weeks rarely follow each other
    assert whole[schema.LOSS_EUR_MEAN] == pytest.approx(weekly[schema.LOSS_EUR_MEAN].sum(), abs=0.1)
    assert whole[schema.LOSS_EUR_P95] < weekly[schema.LOSS_EUR_P95].sum()
    assert whole[schema.LOSS_EUR_P95] > weekly[schema.LOSS_EUR_P95].max()
    four = net.loc["next_4"]
    assert four[schema.PERIOD_END] == weekly.sort_values(schema.PERIOD_START)[schema.PERIOD_END].iloc[3]
    for cols in ([schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95],
                 [schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95]):  # fmt: skip
        assert (np.diff(spans[cols].to_numpy(float), axis=1) >= 0).all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'reserves.db'}"
    return request.getfixturevalue("pg_schema_url")


def test_the_stored_8_week_p95_is_the_pages_not_the_sum_of_weekly_p95s(settings_factory, db_url):
    settings = settings_factory(reserves_url=db_url)
    write_inputs(settings.lake_uri, horizon=8, paths=400, reserves_url=db_url)
    compute_reserves(settings, AS_OF)
    published = publish_reserves(settings, AS_OF)
    assert published.horizon_rows == 18  # 3 totals x (next 4 weeks, 8 weeks, June, July, Q2, Q3)
    engine = create_engine(settings.reserves_url)
    with engine.connect() as conn:
        stored = pd.read_sql_query(
            "SELECT * FROM reserves_horizon_latest WHERE id = 'network' AND period_kind = 'horizon'", conn)
        weekly = pd.read_sql_query("SELECT loss_eur_p95 FROM reserves_totals_latest WHERE id = 'network'", conn)
    engine.dispose()
    assert len(stored) == 1 and str(stored[schema.PERIOD_LABEL].iloc[0]) == "8 weeks"
    p95 = float(stored[schema.LOSS_EUR_P95].iloc[0])
    page = Lake.from_settings(settings).read_text(write_reserves_report(settings, AS_OF).page)
    assert f"8 weeks P95</div><div class='v'>{eur(p95)}</div>" in page
    assert p95 < float(weekly[schema.LOSS_EUR_P95].sum()) and len(weekly) == 8
    assert f"would give {eur(float(weekly[schema.LOSS_EUR_P95].sum()))}" in page
