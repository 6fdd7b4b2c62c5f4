"""Scoring published figures against what happened: realised values, totals, hits, the live
record, coverage and its state against the calibration tolerance (pure frames)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.reserves.track.score import (
    PUBLISHED_COLUMNS,
    SITE_CLOSED,
    TRACK_COLUMNS,
    coverage,
    coverage_state,
    newly_out,
    realised,
    score,
)

SUNDAY = date(2024, 3, 3)
QUANTILES = [schema.INCIDENTS_P50, schema.INCIDENTS_P90, schema.INCIDENTS_P95,
             schema.LOSS_EUR_P50, schema.LOSS_EUR_P90, schema.LOSS_EUR_P95]
SITES = {"WH-A": "north", "WH-B": "north", "WH-C": "south"}


def _published(as_of: date, weeks: int = 2, p95: float = 5.0, loss_p95: float = 5000.0) -> pd.DataFrame:
    """One publication of ``as_of``: its first week holds as_of + 1 (a week under way unless as_of is a Sunday)."""
    day = pd.Timestamp(as_of) + pd.Timedelta(days=1)
    first = day - pd.Timedelta(days=day.weekday())
    rows = []
    for step, start in enumerate(pd.date_range(first, periods=weeks, freq="W-MON"), start=1):
        end = start + pd.Timedelta(days=6)
        figures = [p95 / 3, p95 / 1.5, p95, loss_p95 / 3, loss_p95 / 1.5, loss_p95]
        for wid, region in SITES.items():
            rows.append([as_of, f"run-{as_of}", "warehouse", wid, region, start, end, step, *figures])
        for region in sorted(set(SITES.values())):
            rows.append([as_of, f"run-{as_of}", "region", region, region, start, end, step, *[2 * f for f in figures]])
        rows.append([as_of, f"run-{as_of}", "network", "network", None, start, end, step, *[3 * f for f in figures]])
    frame = pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)
    for col in (schema.AS_OF_DATE, schema.PERIOD_START, schema.PERIOD_END):
        frame[col] = pd.to_datetime(frame[col])
    return frame


def _actuals(values: dict[tuple[str, str], tuple[float, float]]) -> pd.DataFrame:
    rows = [(wid, pd.Timestamp(week), inc, loss) for (wid, week), (inc, loss) in values.items()]
    return pd.DataFrame(rows, columns=[schema.WAREHOUSE_ID, schema.PERIOD_START, schema.INCIDENTS_ACTUAL,
                                       schema.LOSS_EUR_ACTUAL])  # fmt: skip


def test_realised_takes_the_panel_target_and_the_severity_losses_and_keeps_missing_missing():
    panel = pd.DataFrame({
        schema.UNIQUE_ID: ["WH-A", "WH-A", "WH-B", "WH-B"],
        schema.DS: pd.to_datetime(["2024-03-04", "2024-03-11", "2024-03-04", "2024-03-11"]),
        schema.Y: [2.0, np.nan, 0.0, np.nan],
        schema.IS_FUTURE: [False, False, False, True],
    })  # fmt: skip
    severity = pd.DataFrame({
        schema.WAREHOUSE_ID: ["WH-A", "WH-A", "WH-A"], schema.DS: pd.to_datetime(["2024-03-04"] * 2 + ["2024-03-11"]),
        schema.SEVERITY_LOSS_EUR: [100.004, 250.0, 75.0],
    })  # fmt: skip
    got = realised(panel, severity).set_index([schema.WAREHOUSE_ID, schema.PERIOD_START])
    assert not got.pop(SITE_CLOSED).any(), "both sites were open from the first week"
    assert got.loc[("WH-A", pd.Timestamp("2024-03-04"))].tolist() == [2.0, 350.0]
    assert got.loc[("WH-B", pd.Timestamp("2024-03-04"))].tolist() == [0.0, 0.0], "a quiet week is zero"
    missing = got.loc[("WH-A", pd.Timestamp("2024-03-11"))]
    assert missing.isna().all(), "a week with missing data is not measured, never zero"
    assert ("WH-B", pd.Timestamp("2024-03-11")) not in got.index, "the horizon is not realised"


def test_a_site_opening_inside_the_horizon_is_realised_zero_before_it_opened():
    """The forecast publishes zero for the weeks before a site's first panel week (it opens
    inside the horizon): those weeks are realised as zero, so the totals are measured, and
    left out of the warehouse-level coverage (a site that did not exist calibrates nothing)."""
    w1, w2, w3 = (pd.Timestamp(SUNDAY + timedelta(days=1 + 7 * i)) for i in range(3))
    panel = pd.DataFrame({
        schema.UNIQUE_ID: ["WH-A", "WH-A", "WH-A", "WH-B", "WH-C", "WH-C", "WH-C"],
        schema.DS: [w1, w2, w3, w3, w1, w2, w3],
        schema.Y: [1.0, 2.0, np.nan, np.nan, 0.0, 1.0, np.nan],
        schema.IS_FUTURE: [False, False, True, True, False, False, True],  # WH-B opens in w3
    })  # fmt: skip
    severity = pd.DataFrame({schema.WAREHOUSE_ID: ["WH-A"], schema.DS: [w1], schema.SEVERITY_LOSS_EUR: [80.0]})
    actuals = realised(panel, severity)
    b = actuals.loc[actuals[schema.WAREHOUSE_ID] == "WH-B"]
    assert b[schema.PERIOD_START].tolist() == [w1, w2] and b[SITE_CLOSED].all()
    assert b[[schema.INCIDENTS_ACTUAL, schema.LOSS_EUR_ACTUAL]].eq(0.0).all().all()
    assert not actuals.loc[actuals[schema.WAREHOUSE_ID] != "WH-B", SITE_CLOSED].any()
    published = _published(SUNDAY, weeks=2)
    published.loc[published[schema.TRACK_ID] == "WH-B", QUANTILES] = 0.0  # what the forecast publishes
    out = score(published, actuals, SUNDAY + timedelta(days=14))
    net = out.loc[out[schema.TRACK_LEVEL] == "network"]
    assert net[schema.INCIDENTS_ACTUAL].tolist() == [1.0, 3.0], "the network total is measured"
    assert out.loc[out[schema.TRACK_ID] == "WH-B", SITE_CLOSED].all()
    out[schema.SETTLED] = True
    fig = coverage(out, SUNDAY + timedelta(days=28))["windows"]["13"]
    assert fig["warehouse"]["incidents"]["n"] == 4, "WH-A and WH-C, two weeks each: WH-B's closed weeks left out"
    assert fig["network"]["incidents"]["n"] == 2


def test_score_sums_totals_over_the_publications_sites_and_marks_hits():
    published = _published(SUNDAY)
    week = SUNDAY + timedelta(days=1)
    actuals = _actuals({("WH-A", week): (6, 7000.0), ("WH-B", week): (1, 100.0), ("WH-C", week): (0, 0.0)})
    out = score(published, actuals, SUNDAY + timedelta(days=7)).set_index([schema.TRACK_LEVEL, schema.TRACK_ID])
    assert list(out.columns) == [c for c in [*TRACK_COLUMNS, SITE_CLOSED] if c not in (schema.TRACK_LEVEL, schema.TRACK_ID)]
    assert len(out) == 6, "only the week that has ended: 3 sites, 2 regions, the network"
    a = out.loc[("warehouse", "WH-A")]
    assert (a[schema.INCIDENTS_WITHIN_P95], a[schema.LOSS_EUR_WITHIN_P95], a[schema.INCIDENTS_WITHIN_P50]) == (False, False, False)
    assert out.loc[("region", "north"), [schema.INCIDENTS_ACTUAL, schema.LOSS_EUR_ACTUAL]].tolist() == [7, 7100.0]
    assert out.loc[("region", "south"), schema.LOSS_EUR_ACTUAL] == 0.0
    network = out.loc[("network", "network")]
    assert network[schema.INCIDENTS_ACTUAL] == 7 and network[schema.LOSS_EUR_WITHIN_P95] is True  # 7100 <= 15000
    assert out[schema.IN_FORCE].all() and out[schema.SETTLED].eq(False).all()
    assert out[schema.SCORED_AS_OF].eq(pd.Timestamp(SUNDAY + timedelta(days=7))).all()


def test_a_total_with_an_unmeasured_site_is_not_scored():
    week = SUNDAY + timedelta(days=1)
    actuals = _actuals({("WH-A", week): (1, 10.0), ("WH-B", week): (np.nan, np.nan), ("WH-C", week): (0, 0.0)})
    out = score(_published(SUNDAY), actuals, SUNDAY + timedelta(days=7)).set_index([schema.TRACK_LEVEL, schema.TRACK_ID])
    assert pd.isna(out.loc[("region", "north"), schema.LOSS_EUR_ACTUAL])
    assert out.loc[("region", "north"), schema.LOSS_EUR_WITHIN_P95] is None, "not measured: no hit, no miss"
    assert pd.isna(out.loc[("network", "network"), schema.INCIDENTS_ACTUAL])
    assert out.loc[("region", "south"), schema.INCIDENTS_WITHIN_P95] is True


def test_the_live_record_is_the_latest_publication_made_before_the_week_began():
    w1, w2, w3 = (SUNDAY + timedelta(days=1 + 7 * i) for i in range(3))
    thursday = w1 + timedelta(days=3)  # a run inside w1: its first week is w1, under way
    published = pd.concat([_published(SUNDAY), _published(thursday), _published(w2 - timedelta(days=1))])
    actuals = _actuals({(w, d): (1, 10.0) for w in SITES for d in (w1, w2, w3)})
    out = score(published, actuals, w3 + timedelta(days=6))
    assert out.loc[out[schema.AS_OF_DATE] == pd.Timestamp(thursday), schema.PERIOD_START].min() == pd.Timestamp(w1)
    live = out.loc[out[schema.IN_FORCE] & (out[schema.TRACK_ID] == "WH-A")]
    assert dict(zip(live[schema.PERIOD_START].dt.date, live[schema.AS_OF_DATE].dt.date, strict=True)) == {
        w1: SUNDAY,  # not the Thursday run: w1 had begun before it
        w2: w2 - timedelta(days=1),  # the Sunday before w2, not SUNDAY's step 2
        w3: w2 - timedelta(days=1),
    }
    assert out.groupby([schema.TRACK_LEVEL, schema.TRACK_ID, schema.PERIOD_START])[schema.IN_FORCE].sum().eq(1).all()


def test_periods_not_yet_ended_and_publications_of_the_scoring_day_are_left_out():
    published = pd.concat([_published(SUNDAY, weeks=3), _published(SUNDAY + timedelta(days=14))])
    out = score(published, _actuals({}), SUNDAY + timedelta(days=14))
    assert sorted(out[schema.PERIOD_START].dt.date.unique()) == [SUNDAY + timedelta(days=1), SUNDAY + timedelta(days=8)]
    assert (out[schema.AS_OF_DATE] == pd.Timestamp(SUNDAY)).all()
    assert out[schema.INCIDENTS_ACTUAL].isna().all() and out[schema.INCIDENTS_WITHIN_P95].isna().all()


def _weeks_scored(n_weeks: int, misses_per_week: int, sites: int = 20, strict_ties: bool = False) -> pd.DataFrame:
    """In-force, settled warehouse rows: ``misses_per_week`` of ``sites`` above their P95."""
    rows = []
    last_end = pd.Timestamp(SUNDAY)
    for w in range(n_weeks):
        start = last_end - pd.Timedelta(days=6 + 7 * w)
        for s in range(sites):
            actual = 9.0 if s < misses_per_week else (5.0 if strict_ties else 1.0)
            rows.append({schema.TRACK_LEVEL: "warehouse", schema.TRACK_ID: f"WH-{s}", schema.PERIOD_START: start,
                         schema.PERIOD_END: start + pd.Timedelta(days=6), schema.IN_FORCE: True, schema.SETTLED: True,
                         schema.INCIDENTS_ACTUAL: actual, schema.LOSS_EUR_ACTUAL: actual * 100,
                         schema.INCIDENTS_P50: 2.0, schema.INCIDENTS_P90: 4.0, schema.INCIDENTS_P95: 5.0,
                         schema.LOSS_EUR_P50: 200.0, schema.LOSS_EUR_P90: 400.0, schema.LOSS_EUR_P95: 500.0})  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("weeks", "misses", "ties", "state"),
    [
        (13, 1, False, "ok"),  # 95% of site-weeks within the P95
        (13, 3, False, "low"),  # 85%: the reserve was too small
        (13, 0, False, "high"),  # 100%, strictly below: the reserve holds too much
        (13, 0, True, "ok"),  # every value on its P95: at or below 100%, strictly below 0%: no verdict against
        (12, 3, False, "too_few_weeks"),
    ],
)
def test_coverage_state_applies_the_gates_rule_to_the_last_13_settled_weeks(weeks, misses, ties, state):
    scored = _weeks_scored(weeks, misses, strict_ties=ties)
    cov = coverage(scored, SUNDAY + timedelta(days=7))  # settled through SUNDAY
    fig = cov["windows"]["13"]["warehouse"]
    assert fig["weeks"] == min(weeks, 13) and fig["incidents"]["n"] == 20 * min(weeks, 13)
    assert fig["incidents"]["0.95"]["coverage"] == pytest.approx(1 - misses / 20)
    assert coverage_state(cov, 0.025) == {"incidents": state, "loss_eur": state}


def test_coverage_windows_count_only_settled_weeks_of_the_live_record():
    scored = _weeks_scored(60, 1)
    scored.loc[scored[schema.PERIOD_START] == scored[schema.PERIOD_START].max(), schema.SETTLED] = False
    scored.loc[scored[schema.PERIOD_START] == scored[schema.PERIOD_START].min(), schema.IN_FORCE] = False
    cov = coverage(scored, SUNDAY + timedelta(days=7))
    assert cov["windows"]["13"]["warehouse"]["weeks"] == 12, "the newest week is not settled"
    assert cov["windows"]["52"]["warehouse"]["weeks"] == 51
    assert cov["windows"]["13"]["network"]["incidents"]["n"] == 0


def test_the_same_state_twice_alerts_once():
    out = {"incidents": "low", "loss_eur": "ok"}
    assert newly_out(out, None) == {"incidents": "low"}, "the first scoring out of tolerance alerts"
    assert newly_out(out, out) == {}, "the second run in the same state is quiet"
    assert newly_out({"incidents": "low", "loss_eur": "low"}, out) == {"loss_eur": "low"}
    assert newly_out({"incidents": "high", "loss_eur": "ok"}, out) == {"incidents": "high"}
    assert newly_out({"incidents": "ok", "loss_eur": "ok"}, out) == {}, "recovery is shown, not alerted"
    assert newly_out(out, {"incidents": "too_few_weeks"}) == {"incidents": "low"}
