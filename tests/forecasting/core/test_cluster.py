"""A backfill and a backtest on a real two-node Ray cluster through ``ray.address``.

The cluster is two ``ray start`` nodes of one CPU each (``tests.support.ray_cluster``); the
CLI runs in a subprocess that joins it by ``RAY_ADDRESS``, with two one-CPU workers, so one
worker must run on each node. The outputs must be those of the in-process run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.support.backtest_toys import toy_panel
from tests.support.keys import TEST_PII_KEY
from tests.support.ray_cluster import Cluster, two_node_cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]
RISKCAST = str(Path(sys.executable).parent / "riskcast")


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    with two_node_cluster(cpus=1) as c:
        yield c


def _cli(args: list[str], env: dict[str, str], address: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in {**os.environ, **env}.items() if k != "RAY_ADDRESS"}
    if address:
        env["RAY_ADDRESS"] = address
    return subprocess.run([RISKCAST, *args], env=env, capture_output=True, text=True, timeout=900)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in ("data_docs", "alerts")}


def test_a_backfill_on_two_nodes_writes_the_in_process_files(cluster, tmp_path):
    from forecasting.demo.generate import generate_network

    landing = tmp_path / "landing"
    generate_network(str(landing), 5, date(2024, 1, 1), 40, seed=3, faults=True)
    runs = {}
    for lake, workers, address in (("one", "1", None), ("two", "2", cluster.address)):
        env = {"RISKCAST_LANDING_URI": str(landing), "RISKCAST_LAKE_URI": str(tmp_path / lake),
               "RISKCAST_PII_KEY": TEST_PII_KEY, "RISKCAST_VALIDATION__BATCH_DAYS": "8",
               "RISKCAST_VALIDATION__MAX_BAD_ROW_SHARE": "0.5"}
        runs[lake] = _cli(["ingest", "--from", "2024-01-01", "--to", "2024-02-09", "--workers", workers], env, address)
    assert runs["one"].returncode == runs["two"].returncode, runs["two"].stderr[-3000:]
    assert len(cluster.nodes_that_ran("IntakeWorker")) == 2  # one actor on each node
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert len(one) > 100 and sorted(one) == sorted(two)
    assert [k for k in one if one[k] != two[k]] == []


def test_a_backtest_on_two_nodes_gives_the_in_process_scores(cluster, tmp_path):
    panel = tmp_path / "panel.csv"
    toy_panel(36).to_csv(panel, index=False)
    tiny = {"RISKCAST_MODEL__MAX_EPOCHS": "2", "RISKCAST_MODEL__BATCHES_PER_EPOCH": "4",
            "RISKCAST_MODEL__BATCH_SIZE": "16", "RISKCAST_MODEL__NUM_SAMPLES": "50",
            "RISKCAST_MODEL__PATIENCE": "2", "RISKCAST_LAKE_URI": str(tmp_path / "lake"),
            # warm-started windows form a chain in process: independent windows go to the cluster
            "RISKCAST_BACKTEST_WARM_START": "false"}
    runs = {}
    for out, workers, address in (("one", "1", None), ("two", "2", cluster.address)):
        runs[out] = _cli(["backtest", "--panel", str(panel), "--freq", "M", "--horizon", "6", "--windows", "2",
                          "--workers", workers, "--out", str(tmp_path / out)], tiny, address)
        assert runs[out].returncode in (0, 2) and (tmp_path / out / "metrics.csv").exists(), runs[out].stderr[-3000:]
    assert runs["one"].returncode == runs["two"].returncode
    assert len(cluster.nodes_that_ran("_window_task")) == 2  # windows ran on both nodes
    for name in ("metrics.csv", "backtest.parquet", "ensemble.json", "calibration.json"):
        a, b = tmp_path / "one" / name, tmp_path / "two" / name
        if name.endswith(".parquet"):
            pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b), check_exact=True)
        else:
            assert a.read_bytes() == b.read_bytes(), name
