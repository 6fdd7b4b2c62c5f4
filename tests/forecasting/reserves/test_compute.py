"""Reserves: compound Monte Carlo, calibrated quantiles, coherent totals, bad input."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake, join
from forecasting.reserves import compound
from forecasting.reserves.compute import INCIDENT_COLUMNS, LOSS_COLUMNS, compute_reserves
from tests.support.reserves_lake import AS_OF, SITES, write_inputs

CALIBRATION = {
    "method": "quantile-level recalibration",
    "levels": {"0.05": 0.03, "0.5": 0.5, "0.9": 0.93, "0.95": 0.975},
    "held_out": {"coverage_0.95": 0.947},
}


def _read(settings, name):
    lake = Lake.from_settings(settings)
    return lake.read_parquet(join(lake.stage("reserves", AS_OF), name))


def test_one_row_per_warehouse_and_period_with_ordered_quantiles(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri, calibration=CALIBRATION)
    summary = compute_reserves(settings, AS_OF)
    res = _read(settings, "reserves.parquet")
    assert summary.warehouses == 3 and summary.periods == 3 and summary.paths == 200
    assert len(res) == 9 and not res.duplicated([schema.WAREHOUSE_ID, schema.PERIOD_START]).any()
    for cols in (INCIDENT_COLUMNS, LOSS_COLUMNS):
        assert (np.diff(res[cols].to_numpy(), axis=1) >= 0).all()
    assert (res[LOSS_COLUMNS[0]] > 0).all()
    first = res[res[schema.STEP] == 1].iloc[0]
    assert first[schema.PERIOD_START] == pd.Timestamp("2024-06-03")  # the Monday after as_of
    assert first[schema.PERIOD_END] == pd.Timestamp("2024-06-09")  # W-MON: start + 6 days
    assert set(res[schema.REGION]) == {"north", "south"} and set(res[schema.COUNTRY]) == {
        "DE",
        "NL",
        "ES",
    }
    assert (res[schema.CALIBRATION_METHOD] == CALIBRATION["method"]).all()
    assert (res[schema.BACKTEST_COVERAGE_P95] == 0.947).all()
    assert (res[schema.MODEL_VERSION] == "m-test-1").all() and (
        res[schema.SNAPSHOT_ID] == "snap-1"
    ).all()
    assert (res[schema.CODE_VERSION] == "abc123").all()
    assert summary.severity_fallback_regions == ["south"]  # 5 losses < min_region_losses


def test_rerun_writes_byte_identical_files(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri)
    compute_reserves(settings, AS_OF)
    lake = Lake.from_settings(settings)
    names = ["reserves.parquet", "totals.parquet", "thresholds.parquet", "horizon.parquet", "coverage.json"]
    before = {n: lake.read_bytes(join(lake.stage("reserves", AS_OF), n)) for n in names}
    compute_reserves(settings, AS_OF)
    after = {n: lake.read_bytes(join(lake.stage("reserves", AS_OF), n)) for n in names}
    assert before == after


def test_totals_are_sums_of_paths_not_sums_of_quantiles(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri)
    compute_reserves(settings, AS_OF)
    res, tot = _read(settings, "reserves.parquet"), _read(settings, "totals.parquet")
    net = tot[tot[schema.TOTAL_LEVEL] == schema.NETWORK_ID].set_index(schema.STEP)
    by_step = res.groupby(schema.STEP)
    # means add up exactly (same paths); P95s of independent sites do not (diversification)
    assert np.allclose(net[schema.LOSS_EUR_MEAN], by_step[schema.LOSS_EUR_MEAN].sum(), atol=0.05)
    assert (net[schema.LOSS_EUR_P95] < by_step[schema.LOSS_EUR_P95].sum()).all()
    assert (net[schema.LOSS_EUR_P95] > by_step[schema.LOSS_EUR_P95].max()).all()
    # a region with one site has exactly that site's figures
    south = tot[(tot[schema.TOTAL_LEVEL] == "region") & (tot[schema.TOTAL_ID] == "south")]
    site = res[res[schema.WAREHOUSE_ID] == "WH-C"]
    cols = INCIDENT_COLUMNS + LOSS_COLUMNS
    assert np.array_equal(south[cols].to_numpy(), site[cols].to_numpy())
    assert sorted(tot[schema.TOTAL_ID].unique()) == ["network", "north", "south"]


def test_calibration_levels_move_the_quantiles_and_its_absence_is_recorded(settings_factory):
    plain = settings_factory(lake_uri=str(settings_factory().lake_uri) + "-plain")
    write_inputs(plain.lake_uri)
    calibrated = settings_factory()
    write_inputs(calibrated.lake_uri, calibration=CALIBRATION)
    s_plain, s_cal = compute_reserves(plain, AS_OF), compute_reserves(calibrated, AS_OF)
    lake_p, lake_c = Lake.from_settings(plain), Lake.from_settings(calibrated)
    p = lake_p.read_parquet(join(lake_p.stage("reserves", AS_OF), "reserves.parquet"))
    c = lake_c.read_parquet(join(lake_c.stage("reserves", AS_OF), "reserves.parquet"))
    assert s_plain.calibration_method == "none" and (p[schema.CALIBRATION_METHOD] == "none").all()
    assert p[schema.BACKTEST_COVERAGE_P95].isna().all()
    assert s_cal.levels["0.95"] == 0.975
    assert (c[schema.LOSS_EUR_P95] >= p[schema.LOSS_EUR_P95]).all()
    assert (c[schema.LOSS_EUR_P95] > p[schema.LOSS_EUR_P95]).any()
    assert np.array_equal(c[schema.LOSS_EUR_P50], p[schema.LOSS_EUR_P50])  # level 0.5 -> 0.5


def test_crossing_calibrated_levels_are_made_monotone():
    assert compound.monotone_levels({0.5: 0.52, 0.9: 0.96, 0.95: 0.94}) == {
        0.5: 0.52,
        0.9: 0.96,
        0.95: 0.96,
    }


def test_unknown_warehouse_is_kept_not_dropped(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri, extra_forecast_sites={"WH-NEW": 1.5})
    summary = compute_reserves(settings, AS_OF)
    res = _read(settings, "reserves.parquet")
    new = res[res[schema.WAREHOUSE_ID] == "WH-NEW"]
    assert summary.unknown_warehouses == ["WH-NEW"] and len(new) == 3
    assert (new[schema.REGION] == "unknown").all() and (new[schema.LOSS_EUR_P95] > 0).all()


def test_daily_periods_end_on_their_start(settings_factory):
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    lake.write_json(
        join(lake.stage("panel", AS_OF), "summary.json"),
        {"snapshot_id": "snap-1", "spec": {"freq": "D"}},
    )
    compute_reserves(settings, AS_OF)
    res = _read(settings, "reserves.parquet")
    assert (res[schema.PERIOD_END] == res[schema.PERIOD_START]).all()


def test_compound_sums_draws_exactly():
    counts = np.array([0, 1, 3, 10])
    out = compound.simulate_losses(
        counts, np.zeros(4, int), [np.array([250.0])], np.random.default_rng(0)
    )
    assert out.tolist() == [0.0, 250.0, 750.0, 2500.0]
    two = compound.simulate_losses(
        counts, np.array([0, 0, 1, 1]), [np.array([1.0]), np.array([5.0])], np.random.default_rng(0)
    )
    assert two.tolist() == [0.0, 1.0, 15.0, 50.0]


def test_compound_is_chunk_invariant_and_survives_diverged_counts(monkeypatch):
    counts = np.random.default_rng(0).poisson(40, 5000)
    pool = [np.arange(1.0, 101.0)]
    a = compound.simulate_losses(counts, np.zeros(len(counts), int), pool, np.random.default_rng(3))
    monkeypatch.setattr(compound, "MAX_DRAWS_PER_CHUNK", 997)
    b = compound.simulate_losses(counts, np.zeros(len(counts), int), pool, np.random.default_rng(3))
    assert np.array_equal(a, b)
    huge = compound.simulate_losses(
        np.array([10**8]), np.zeros(1, int), pool, np.random.default_rng(0)
    )
    assert huge[0] == pytest.approx(50.5e8, rel=1e-3)  # CLT path: no 1e8-element allocation


@pytest.mark.parametrize("value", [np.nan, -1.0, np.inf])
def test_bad_sample_value_names_file_row_and_column(settings_factory, value):
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    uri = join(lake.stage("forecasts", AS_OF), "samples.parquet")
    samples = lake.read_parquet(uri)
    samples.loc[7, schema.VALUE] = value
    lake.write_parquet(samples, uri)
    with pytest.raises(InputError, match=r"samples\.parquet row 7 .*column value"):
        compute_reserves(settings, AS_OF)


def test_missing_and_incomplete_inputs_raise_with_the_fix(settings_factory):
    settings = settings_factory()
    with pytest.raises(InputError, match="riskcast forecast --as-of 2024-06-02"):
        compute_reserves(settings, AS_OF)
    lake = write_inputs(settings.lake_uri)
    uri = join(lake.stage("forecasts", AS_OF), "samples.parquet")
    lake.write_parquet(lake.read_parquet(uri).iloc[1:], uri)
    with pytest.raises(InputError, match="every warehouse needs every step and sample path"):
        compute_reserves(settings, AS_OF)


def test_negative_severity_is_refused(settings_factory):
    settings = settings_factory()
    lake = write_inputs(settings.lake_uri)
    uri = join(lake.stage("panel", AS_OF), "severity.parquet")
    sev = lake.read_parquet(uri)
    sev.loc[3, schema.SEVERITY_LOSS_EUR] = -10.0
    lake.write_parquet(sev, uri)
    with pytest.raises(InputError, match=r"severity\.parquet row 3: column loss_eur"):
        compute_reserves(settings, AS_OF)


def test_the_stage_writes_data_only_never_the_page(settings_factory):
    settings = settings_factory(
        escalation={"incidents_p95": {"WH-A": 1.0, "WH-B": 99.0, "WH-C": 99.0}}
    )
    write_inputs(settings.lake_uri)
    summary = compute_reserves(settings, AS_OF)
    lake = Lake.from_settings(settings)
    assert not lake.exists(lake.reserves_report(AS_OF))  # the report stage renders it
    assert set(summary.uris) == {"reserves", "totals", "thresholds", "horizon", "coverage"}
    assert summary.escalating_warehouses == ["WH-A"]
    assert lake.read_json(summary.uris["coverage"]) == {
        "available": False, "reason": "no backtest sample paths for this date"}


def test_seed_comes_from_the_date(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri)
    write_inputs(settings.lake_uri, AS_OF + timedelta(days=7))
    compute_reserves(settings, AS_OF)
    compute_reserves(settings, AS_OF + timedelta(days=7))
    lake = Lake.from_settings(settings)
    a = lake.read_parquet(join(lake.stage("reserves", AS_OF), "reserves.parquet"))
    b = lake.read_parquet(
        join(lake.stage("reserves", AS_OF + timedelta(days=7)), "reserves.parquet")
    )
    # same incident paths (same synthetic seed), another date: other severity draws
    assert len(a) == len(b) == 3 * len(SITES)
    assert np.array_equal(a[INCIDENT_COLUMNS].to_numpy(), b[INCIDENT_COLUMNS].to_numpy())
    assert not np.array_equal(a[LOSS_COLUMNS].to_numpy(), b[LOSS_COLUMNS].to_numpy())
