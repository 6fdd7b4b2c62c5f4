"""``demo-data --anomalies``: known root causes, recorded with the graph's node names."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from forecasting.core import schema
from forecasting.demo.anomalies import CAUSES, window_mondays
from forecasting.demo.generate import generate_network
from forecasting.explain.graph import NODES

START, DAYS = date(2024, 1, 1), 260


def test_anomalies_are_recorded_as_graph_nodes_in_the_window(tmp_path) -> None:
    summary = generate_network(str(tmp_path / "a"), 10, START, DAYS, 3, False, True)
    truth = pd.read_csv(tmp_path / "a" / "_truth" / "anomalies.csv")
    assert list(truth.columns) == [schema.WAREHOUSE_ID, schema.PERIOD_START, schema.ANOMALY_CAUSE]
    assert set(truth[schema.ANOMALY_CAUSE]) == set(CAUSES) <= set(NODES)
    mondays = {str(d) for d in window_mondays(START, DAYS)}
    assert set(truth[schema.PERIOD_START]) <= mondays
    assert max(window_mondays(START, DAYS)) + timedelta(days=6) < START + timedelta(days=DAYS - 7)
    assert summary.anomalies == len(truth)
    assert truth.groupby(schema.WAREHOUSE_ID)[schema.ANOMALY_CAUSE].nunique().max() == 1


def test_without_anomalies_nothing_changes(tmp_path) -> None:
    generate_network(str(tmp_path / "plain"), 6, START, 60, 5, False)
    generate_network(str(tmp_path / "again"), 6, START, 60, 5, False, False)
    assert not (tmp_path / "plain" / "_truth" / "anomalies.csv").exists()
    for f in sorted((tmp_path / "plain").rglob("*.csv")):
        assert f.read_bytes() == (tmp_path / "again" / f.relative_to(tmp_path / "plain")).read_bytes()
