"""Outlier scores: tail probabilities under each site's usual week, one way per node."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.explain.scores import outlier_scores

SITES, REF_WEEKS = 12, 40
PEAK = 3.0  # every site's mean in the peak week


def _network(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Weekly measures (sites x REF_WEEKS reference weeks + 2 weeks to explain) and losses.

    Site means 1..6 incidents and 6..11 reports a week; week REF_WEEKS (the first explained)
    is a network-wide peak (x PEAK, calendar 0 as if nobody had planned it); losses per
    incident lognormal around 200 EUR.
    """
    rng, lines = np.random.default_rng(seed), np.random.default_rng(seed + 100)
    weeks = pd.date_range("2024-01-01", periods=REF_WEEKS + 2, freq="W-MON")
    rows, losses = [], []
    for s in range(SITES):
        m, r = 1.0 + s * 5 / (SITES - 1), 6.0 + s * 5 / (SITES - 1)
        for t, week in enumerate(weeks):
            f = PEAK if t == REF_WEEKS else 1.0
            y = int(rng.negative_binomial(8, 8 / (8 + m * f)))
            each = np.round(rng.lognormal(np.log(200), 1.0, y), 2)
            losses += [(f"WH-{s:02d}", week, v) for v in each]
            rows.append({schema.WAREHOUSE_ID: f"WH-{s:02d}", schema.PERIOD_START: week,
                         schema.NODE_INCIDENTS: float(y), schema.NODE_CALENDAR: 0.0,
                         schema.LOSS_EUR_ACTUAL: float(each.sum()),
                         schema.REPORTS_FILED: float(rng.poisson(r * f)),
                         schema.ACTIVITY_LINES: float(lines.poisson(8))})  # fmt: skip
    per_incident = pd.DataFrame(losses, columns=[schema.WAREHOUSE_ID, schema.PERIOD_START, schema.LOSS_EUR_ACTUAL])
    return pd.DataFrame(rows), per_incident


def _scores(measures: pd.DataFrame, per_incident: pd.DataFrame) -> pd.DataFrame:
    reference = measures[schema.PERIOD_START] < measures[schema.PERIOD_START].max() - pd.Timedelta(days=7)
    out = outlier_scores(measures, reference, ~reference, per_incident)
    return measures.loc[out.index, [schema.WAREHOUSE_ID, schema.PERIOD_START]].join(out)


def _set(measures: pd.DataFrame, site: str, **values: float) -> pd.DataFrame:
    out = measures.copy()
    row = (out[schema.WAREHOUSE_ID] == site) & (out[schema.PERIOD_START] == out[schema.PERIOD_START].max())
    for col, v in values.items():
        out.loc[row, col] = v
    return out


def test_each_watched_node_flags_its_own_outlier() -> None:
    measures, per_incident = _network()
    last = measures[schema.PERIOD_START].max()
    m = _set(measures, "WH-00", **{schema.NODE_INCIDENTS: 9.0, schema.LOSS_EUR_ACTUAL: 1800.0})  # usual 1 a week
    m = _set(m, "WH-05", **{schema.REPORTS_FILED: 0.0})  # reporting collapse
    m = _set(m, "WH-08", **{schema.LOSS_EUR_ACTUAL: 200.0 * 4 * 30})  # usual count, 30x the value
    m = _set(m, "WH-10", **{schema.ACTIVITY_LINES: 60.0})  # goods moved: an unannounced launch
    extra = pd.DataFrame({schema.WAREHOUSE_ID: "WH-08", schema.PERIOD_START: last, schema.LOSS_EUR_ACTUAL: [1.0]})
    s = _scores(m, pd.concat([per_incident, extra], ignore_index=True)).set_index(schema.WAREHOUSE_ID)
    s = s.loc[s[schema.PERIOD_START] == last]
    expected = {"WH-00": schema.NODE_INCIDENTS, "WH-05": schema.NODE_REPORTING, "WH-08": schema.NODE_LOSS_EUR,
                "WH-10": schema.NODE_ACTIVITY}  # fmt: skip
    for site, node in expected.items():
        assert s.loc[site, schema.TARGET_NODE] == node, site
        assert s.loc[site, schema.OUTLIER_SCORE] > 6, site
    others = s.drop(index=list(expected))
    assert (others[schema.OUTLIER_SCORE] < 6).all()


def test_fewer_incidents_or_more_reports_are_not_outliers() -> None:
    measures, per_incident = _network()
    m = _set(measures, "WH-11", **{schema.NODE_INCIDENTS: 0.0, schema.LOSS_EUR_ACTUAL: 0.0, schema.REPORTS_FILED: 40.0})
    s = _scores(m, per_incident)
    row = s.loc[(s[schema.WAREHOUSE_ID] == "WH-11") & (s[schema.PERIOD_START] == s[schema.PERIOD_START].max())]
    assert row[schema.OUTLIER_SCORE].iloc[0] < 1.0


def test_a_network_wide_peak_is_not_an_outlier_anywhere() -> None:
    # no planned event explains it, but every site rose: the peer factor absorbs it
    measures, per_incident = _network(seed=3)
    s = _scores(measures, per_incident)
    peak = s.loc[s[schema.PERIOD_START] == s[schema.PERIOD_START].min()]
    assert len(peak) == SITES
    assert (peak[schema.OUTLIER_SCORE] < 4.0).all()


def test_scores_are_reproducible_and_index_the_explained_rows() -> None:
    measures, per_incident = _network(seed=1)
    a, b = _scores(measures, per_incident), _scores(measures, per_incident)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 2 * SITES
    watched = (schema.NODE_INCIDENTS, schema.NODE_LOSS_EUR, schema.NODE_REPORTING, schema.NODE_ACTIVITY)
    assert {f"score_{n}" for n in watched} <= set(a)
    assert a[schema.OUTLIER_SCORE].min() >= 0


def _flat(mean: float, n_sites: int = 40, n_weeks: int = 60, seed: int = 7) -> pd.DataFrame:
    """Weekly counts of ``n_sites`` alike sites (NB mean ``mean``, size 8), no calendar, no loss."""
    rng, lines = np.random.default_rng(seed), np.random.default_rng(seed + 100)
    rows = [
        {schema.WAREHOUSE_ID: f"WH-{s:02d}", schema.PERIOD_START: pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=t),
         schema.NODE_INCIDENTS: float(rng.negative_binomial(8, 8 / (8 + mean))), schema.NODE_CALENDAR: 0.0,
         schema.LOSS_EUR_ACTUAL: 0.0, schema.REPORTS_FILED: float(rng.poisson(8)),
         schema.ACTIVITY_LINES: float(lines.poisson(8))}
        for s in range(n_sites) for t in range(n_weeks)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _flat_scores(m: pd.DataFrame, explained_from: int = 40) -> pd.DataFrame:
    explained = m[schema.PERIOD_START] >= pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=explained_from)
    empty = pd.DataFrame(columns=[schema.WAREHOUSE_ID, schema.PERIOD_START, schema.LOSS_EUR_ACTUAL])
    return m.loc[explained, [schema.WAREHOUSE_ID, schema.PERIOD_START]].join(
        outlier_scores(m, ~explained, explained, empty)
    )


def test_two_high_weeks_in_a_row_flag_where_one_would_not() -> None:
    m = _flat(1.0)
    weeks = sorted(m[schema.PERIOD_START].unique())
    site = m[schema.WAREHOUSE_ID] == "WH-00"
    m.loc[site & m[schema.PERIOD_START].isin(weeks[50:52]), schema.NODE_INCIDENTS] = 4.0
    m.loc[site & (m[schema.PERIOD_START] == weeks[55]), schema.NODE_INCIDENTS] = 4.0  # alone
    m.loc[site & m[schema.PERIOD_START].isin([weeks[54], weeks[56]]), schema.NODE_INCIDENTS] = 0.0
    s = _flat_scores(m).set_index([schema.WAREHOUSE_ID, schema.PERIOD_START])[schema.OUTLIER_SCORE]
    assert s[("WH-00", weeks[50])] >= 5.0 and s[("WH-00", weeks[51])] >= 5.0
    assert s[("WH-00", weeks[55])] < 5.0


def test_a_quiet_week_next_to_an_outlier_is_not_flagged() -> None:
    m = _flat(1.0)
    weeks = sorted(m[schema.PERIOD_START].unique())
    site = m[schema.WAREHOUSE_ID] == "WH-00"
    m.loc[site & (m[schema.PERIOD_START] == weeks[50]), schema.NODE_INCIDENTS] = 15.0
    m.loc[site & m[schema.PERIOD_START].isin([weeks[49], weeks[51]]), schema.NODE_INCIDENTS] = 1.0
    s = _flat_scores(m).set_index([schema.WAREHOUSE_ID, schema.PERIOD_START])[f"score_{schema.NODE_INCIDENTS}"]
    assert s[("WH-00", weeks[50])] > 10
    assert s[("WH-00", weeks[49])] < 5.0 and s[("WH-00", weeks[51])] < 5.0


@pytest.mark.parametrize("mean", [1.0, 6.0])
def test_scores_of_normal_weeks_are_calibrated(mean: float) -> None:
    # a usual week scores >= s about exp(-s) of the time, at small and large sites alike
    s = _flat_scores(_flat(mean))
    share = (s[f"score_{schema.NODE_INCIDENTS}"] >= 3.0).mean()
    assert share <= 3 * np.exp(-3.0)
