"""Escalation: thresholds (setting, default from history), levels, and the alert to security."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecasting.core import schema
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake, join
from forecasting.reserves import compound, escalation
from forecasting.reserves.compute import compute_reserves
from tests.support.reserves_lake import AS_OF, write_inputs


def _pools():
    severity = pd.DataFrame(
        {
            schema.REGION: ["north"] * 40,
            schema.CATEGORY: ["theft"] * 40,
            schema.SEVERITY_LOSS_EUR: np.linspace(100, 4000, 40),
        }
    )
    return compound.build_pools(severity, ["north"], 30, "severity.parquet")


def _history(values: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        (wid, pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=i), y)
        for wid, ys in values.items()
        for i, y in enumerate(ys)
    ]
    return pd.DataFrame(rows, columns=[schema.UNIQUE_ID, schema.DS, schema.Y])


def test_settings_win_history_is_the_default_and_short_history_has_none(settings_factory):
    settings = settings_factory(
        escalation={
            "incidents_p95": {"W1": 4.0, "W5": 1.0},
            "loss_eur_p95": {"W1": 9000.0, "W2": 5000.0},
        }
    )
    ids = ["W1", "W2", "W3", "W4", "W5"]
    sites = pd.DataFrame({schema.WAREHOUSE_ID: ids, schema.REGION: ["north"] * 5})
    history = _history(
        {
            "W1": [1.0] * 20,
            "W2": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] * 2,
            "W3": [0.0] * 20,
            "W4": [5.0] * 3,
        }
    )
    thr = escalation.resolve_thresholds(settings, sites, history, _pools(), AS_OF)
    thr = thr.set_index(schema.WAREHOUSE_ID)
    inc, loss, source = (
        thr[schema.INCIDENTS_THRESHOLD],
        thr[schema.LOSS_EUR_THRESHOLD],
        thr[schema.THRESHOLD_SOURCE],
    )
    assert (inc["W1"], loss["W1"], source["W1"]) == (4.0, 9000.0, "setting")
    # W2: q95 of its history is 9 (method "higher"); x 1.25 margin = 11.25 -> 12 whole incidents
    assert (inc["W2"], loss["W2"], source["W2"]) == (12.0, 5000.0, "setting+history")
    # W3 never had an incident: at least one, x margin, whole -> 2; its loss default is the
    # P95 of two severity draws (pool 100..4000, mean 2050)
    assert inc["W3"] == 2.0 and source["W3"] == "history"
    assert 2 * 2050.0 < loss["W3"] <= 2 * 4000.0
    # W4: 3 observed periods < min_history_periods: no threshold at all
    assert np.isnan(inc["W4"]) and np.isnan(loss["W4"]) and source["W4"] == "none"
    # W5: incidents set (no history), loss derived from it
    assert inc["W5"] == 1.0 and source["W5"] == "setting" and 100.0 <= loss["W5"] <= 4000.0


def test_levels_take_the_worse_metric_and_ignore_missing_thresholds():
    reserves = pd.DataFrame(
        {
            schema.WAREHOUSE_ID: ["A", "B", "C", "D", "E"],
            schema.INCIDENTS_P95: [3.0, 5.0, 11.0, 50.0, 1.0],
            schema.LOSS_EUR_P95: [100.0, 100.0, 100.0, 100.0, 2500.0],
        }
    )
    thresholds = pd.DataFrame(
        {
            schema.WAREHOUSE_ID: ["A", "B", "C", "E"],
            schema.INCIDENTS_THRESHOLD: [5.0, 4.0, 5.0, 10.0],
            schema.LOSS_EUR_THRESHOLD: [1000.0, 1000.0, 1000.0, 1000.0],
        }
    )
    levels = escalation.escalation_levels(reserves, thresholds, severe_factor=2.0)
    # A below; B above (1); C above 2x (2); D has no threshold (0); E loss above 2x (2)
    assert levels.tolist() == [0, 1, 2, 0, 2]


def test_a_surge_escalates_and_the_alert_reaches_security(settings_factory):
    settings = settings_factory()
    write_inputs(settings.lake_uri, rate_factor=4.0)  # forecasts 4x the sites' history
    summary = compute_reserves(settings, AS_OF)
    assert summary.escalating_warehouses == ["WH-A", "WH-B", "WH-C"]
    result = escalation.escalate_reserves(settings, AS_OF)
    assert result.escalating == 3 and result.severe >= 1 and result.sent
    assert result.sites[0][schema.ESCALATION_LEVEL] == 2  # worst first
    lake = Lake.from_settings(settings)
    sent = [json.loads(line) for line in lake.read_text(lake.outbox).splitlines()]
    escalations = [a for a in sent if a.get("kind") == escalation.ALERT_KIND]
    assert len(escalations) == 1
    text = json.dumps(escalations[0])
    assert all(w in text for w in ("WH-A", "WH-B", "WH-C")) and "reserves.html" in text


def test_quiet_sites_send_nothing(settings_factory):
    settings = settings_factory(
        escalation={
            "incidents_p95": {w: 99.0 for w in ("WH-A", "WH-B", "WH-C")},
            "loss_eur_p95": {w: 1e9 for w in ("WH-A", "WH-B", "WH-C")},
        }
    )
    write_inputs(settings.lake_uri)
    compute_reserves(settings, AS_OF)
    result = escalation.escalate_reserves(settings, AS_OF)
    assert result.escalating == 0 and result.sent == [] and result.to_dict()["as_of"] == str(AS_OF)
    lake = Lake.from_settings(settings)
    assert not lake.exists(lake.outbox)
    levels = lake.read_parquet(join(lake.stage("reserves", AS_OF), "reserves.parquet"))[
        schema.ESCALATION_LEVEL
    ]
    assert (levels == 0).all()


def test_escalate_without_reserves_says_what_to_run(settings_factory):
    with pytest.raises(InputError, match="riskcast reserves --as-of 2024-06-02"):
        escalation.escalate_reserves(settings_factory(), AS_OF)
