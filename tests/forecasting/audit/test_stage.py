"""The positive-unlabeled audit: matching rules, rate intervals, the audit stage end to end."""

from __future__ import annotations

import random
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from forecasting.audit.matching import (
    LAG_DAYS,
    filed_reports,
    match_reports,
    unexplained_losses,
)
from forecasting.audit.rates import jeffreys_interval, shrink_rates
from forecasting.audit.stage import run_audit
from forecasting.core import schema as s
from forecasting.core.lake import Lake
from tests.support.pu_bronze import bronze_frame, recon, report, site, write_bronze, write_days

D0 = date(2024, 3, 4)


def _match(reports: list[dict], losses: list[dict], window: int = 7) -> pd.DataFrame:
    rep = filed_reports(bronze_frame("security_reports", reports, D0))
    loss = unexplained_losses(bronze_frame("reconciliation_logs", losses, D0))
    return match_reports(rep, loss, window)


def _pairs(m: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(m[s.REPORT_ID], m[s.RECON_ID], strict=True))


# --------------------------------------------------------------------------- matching
@pytest.mark.parametrize(
    ("lag", "matched"), [(-1, False), (0, True), (3, True), (7, True), (8, False)]
)
def test_match_window_edges(lag: int, matched: bool) -> None:
    m = _match([report("R1", "A", "S1", D0)], [recon("G1", "A", "S1", D0 + timedelta(lag))])
    assert _pairs(m) == ({("R1", "G1")} if matched else set())
    if matched:
        assert m[LAG_DAYS].tolist() == [lag]


def test_match_needs_same_warehouse_and_sku() -> None:
    m = _match(
        [report("R1", "A", "S1", D0), report("R2", "A", None, D0)],
        [recon("G1", "B", "S1", D0), recon("G2", "A", "S2", D0)],
    )
    assert m.empty  # other warehouse, other sku, report without sku: no match


def test_match_is_one_to_one_closest_first() -> None:
    # two reports compete for one loss line: the closer incident wins
    m = _match(
        [report("R1", "A", "S1", D0), report("R2", "A", "S1", D0 + timedelta(2))],
        [recon("G1", "A", "S1", D0 + timedelta(3))],
    )
    assert _pairs(m) == {("R2", "G1")}
    # one report, two loss lines: the closer count wins, the other stays unexplained
    m = _match(
        [report("R1", "A", "S1", D0)],
        [recon("G1", "A", "S1", D0 + timedelta(5)), recon("G2", "A", "S1", D0 + timedelta(1))],
    )
    assert _pairs(m) == {("R1", "G2")}
    # two and two: each line used once
    m = _match(
        [report("R1", "A", "S1", D0), report("R2", "A", "S1", D0 + timedelta(1))],
        [recon("G1", "A", "S1", D0 + timedelta(1)), recon("G2", "A", "S1", D0 + timedelta(2))],
    )
    assert _pairs(m) == {("R2", "G1"), ("R1", "G2")} or _pairs(m) == {("R1", "G1"), ("R2", "G2")}
    assert m[s.RECON_ID].is_unique and m[s.REPORT_ID].is_unique


def test_match_ties_break_by_ids_whatever_the_input_order() -> None:
    reports = [report(f"R{i}", "A", "S1", D0) for i in (3, 1, 2)]
    losses = [recon(f"G{i}", "A", "S1", D0 + timedelta(2)) for i in (2, 1)]
    first = _match(reports, losses)
    assert _pairs(first) == {("R1", "G1"), ("R2", "G2")}
    random.Random(0).shuffle(reports)
    random.Random(1).shuffle(losses)
    assert _match(reports, losses).equals(first)


def test_false_alarms_and_explained_lines_never_match() -> None:
    reports = [
        report("R1", "A", "S1", D0),
        report("R2", "A", "S2", D0, status="unconfirmed"),  # filed: the count corroborates it
        report("R3", "A", "S3", D0, status="false_alarm"),
        report("R4", "A", "S4", D0, hvg=False),
    ]
    losses = [
        recon("G1", "A", "S1", D0),
        recon("G2", "A", "S2", D0),
        recon("G3", "A", "S3", D0),
        recon("G4", "A", "S4", D0, hvg=False),
        recon("G5", "A", "S1", D0, reason="DAMAGE"),
        recon("G6", "A", "S2", D0, lost=0),
        recon("G7", "A", "S4", D0, lost=-2),  # a surplus is not a loss
    ]
    rep = filed_reports(bronze_frame("security_reports", reports, D0))
    assert rep[s.REPORT_ID].tolist() == ["R1", "R2", "R4"]
    hvg = filed_reports(bronze_frame("security_reports", reports, D0), hvg_only=True)
    assert hvg[s.REPORT_ID].tolist() == ["R1", "R2"]
    loss = unexplained_losses(bronze_frame("reconciliation_logs", losses, D0))
    assert loss[s.RECON_ID].tolist() == ["G1", "G2", "G3"]  # HVG lines by default
    everything = unexplained_losses(bronze_frame("reconciliation_logs", losses, D0), hvg_only=False)
    assert everything[s.RECON_ID].tolist() == ["G1", "G2", "G3", "G4"]
    assert _pairs(match_reports(rep, everything, 7)) == {("R1", "G1"), ("R2", "G2"), ("R4", "G4")}


# --------------------------------------------------------------------------- intervals
def test_intervals_contain_the_truth_on_a_simulated_binomial() -> None:
    rng = np.random.default_rng(42)
    means = {"r1": 0.3, "r2": 0.5, "r3": 0.7, "r4": 0.45}
    group = pd.Series(rng.choice(list(means), 400))
    m = group.map(means).to_numpy()
    p = rng.beta(m * 12, (1 - m) * 12)
    n = pd.Series(rng.integers(3, 250, len(p)))
    k = pd.Series(rng.binomial(n, p))
    est = shrink_rates(k, n, group)
    covered = ((est["lo"] <= p) & (p <= est["hi"])).mean()
    assert 0.9 <= covered <= 0.99, covered  # nominal 95 %
    # shrinkage helps where data are thin, and never costs overall
    raw_err = np.abs(k / n - p)
    eb_err = np.abs(est["rate"] - p)
    small = n < 20
    assert eb_err[small].mean() < raw_err[small].mean()
    assert eb_err.mean() <= raw_err.mean()
    lo, hi = jeffreys_interval(k.to_numpy(), n.to_numpy())
    assert 0.9 <= ((lo <= p) & (p <= hi)).mean() <= 0.99


def test_jeffreys_edges() -> None:
    lo, hi = jeffreys_interval(np.array([0, 5, 0]), np.array([10, 5, 0]))
    assert lo[0] == 0 and 0 < hi[0] < 0.3
    assert hi[1] == 1 and 0.5 < lo[1] < 1
    assert (lo[2], hi[2]) == (0, 1)


# --------------------------------------------------------------------------- stage
FIRST, AS_OF = date(2024, 1, 1), date(2024, 4, 30)


def _write_network(lake: Lake) -> None:
    write_bronze(
        lake,
        "warehouses",
        FIRST,
        [
            site("WH-A", "north", "DE", date(2020, 1, 1)),
            site("WH-B", "north", "NL", date(2020, 1, 1)),
            site("WH-C", "south", "ES", date(2020, 1, 1)),
        ],
    )
    reports, losses = [], []
    day = FIRST + timedelta(days=20)
    # A: 8 of 10 losses reported; B: 2 of 10; C: none of 4; a theft at WH-X (unknown) too
    for i in range(10):
        d = day + timedelta(days=7 * i)
        for wh, reported in (("WH-A", i < 8), ("WH-B", i < 2)):
            sku = f"S{i}"
            losses.append(recon(f"G-{wh}-{i}", wh, sku, d + timedelta(days=2)))
            if reported:
                reports.append(report(f"R-{wh}-{i}", wh, sku, d))
        if i < 4:
            losses.append(recon(f"G-C-{i}", "WH-C", f"S{i}", d))
    reports.append(report("R-X", "WH-X", "S1", day))
    losses.append(recon("G-X", "WH-X", "S1", day))
    # a loss too recent to judge: its report may not have arrived yet
    losses.append(recon("G-A-late", "WH-A", "S99", AS_OF - timedelta(days=2)))
    reports_by_day = [dict(r, _day=r[s.INCIDENT_AT].date()) for r in reports]
    write_days(lake, "security_reports", FIRST, AS_OF, reports_by_day, "_day")
    write_days(lake, "reconciliation_logs", FIRST, AS_OF, losses, s.COUNT_DATE)


def test_run_audit_writes_rates_per_site_region_network(settings_factory) -> None:
    settings = settings_factory(match_window_days=7)
    lake = Lake.from_settings(settings)
    _write_network(lake)
    summary = run_audit(settings, AS_OF)
    table = lake.read_parquet(summary.audit_uri)
    by_id = table.set_index(s.AUDIT_ID)
    assert by_id.loc["WH-A", [s.UNEXPLAINED_LOSSES_N, s.REPORTED_LOSSES]].tolist() == [10, 8]
    assert by_id.loc["WH-B", [s.UNEXPLAINED_LOSSES_N, s.REPORTED_LOSSES]].tolist() == [10, 2]
    assert by_id.loc["north", [s.UNEXPLAINED_LOSSES_N, s.REPORTED_LOSSES]].tolist() == [20, 10]
    assert by_id.loc["network", s.UNEXPLAINED_LOSSES_N] == 24
    assert by_id.loc["north", s.REPORTING_RATE] == pytest.approx(0.5)
    assert "WH-X" not in by_id.index  # unknown warehouse: skipped, counted, no crash
    assert summary.skipped_unknown_warehouse == {"security_reports": 1, "reconciliation_logs": 1}
    rates = by_id.loc[["WH-A", "WH-B", "WH-C"]]
    assert (rates[s.REPORTING_RATE_LO] <= rates[s.REPORTING_RATE]).all()
    assert (rates[s.REPORTING_RATE] <= rates[s.REPORTING_RATE_HI]).all()
    # shrunk towards the region, but the sites keep their order
    assert 0.5 < by_id.loc["WH-A", s.REPORTING_RATE] < 0.8
    assert 0.2 < by_id.loc["WH-B", s.REPORTING_RATE] < 0.5
    assert set(table[s.AUDIT_LEVEL]) == set(s.AUDIT_LEVELS)
    assert summary.network_rate == pytest.approx(10 / 24)
    md = lake.read_text(summary.report_md_uri)
    assert "41.7%" in md and "WH-B" in md and "1 reconciliation_logs" in md
    assert "<table>" in lake.read_text(summary.report_html_uri)
    # a rerun of the same logical date gives byte-identical outputs
    before = {u: lake.read_bytes(u) for u in (summary.audit_uri, summary.report_md_uri)}
    run_audit(settings, AS_OF)
    assert {u: lake.read_bytes(u) for u in before} == before


def test_run_audit_on_an_empty_lake_says_so(settings_factory) -> None:
    settings = settings_factory()
    lake = Lake.from_settings(settings)
    write_bronze(lake, "warehouses", FIRST, [site("WH-A", "north", "DE", date(2020, 1, 1))])
    summary = run_audit(settings, AS_OF)
    assert summary.network_rate is None and summary.unexplained_losses == 0
    assert "no reporting rate" in lake.read_text(summary.report_md_uri)


# --------------------------------------------------------------------------- S3 lake
@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_audit_and_panel_read_an_s3_lake(
    s3_endpoint, settings_factory, monkeypatch, tmp_path
) -> None:
    import boto3

    from forecasting.panel.build import build_panel, read_panel

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="pu-lake")
    settings = settings_factory(lake_uri="s3://pu-lake/lake", match_window_days=7, horizon=2)
    lake = Lake.from_settings(settings)
    first, as_of = date(2024, 1, 1), date(2024, 2, 25)
    write_bronze(lake, "warehouses", first, [site("WH-A", "north", "DE", date(2020, 1, 1))])
    write_bronze(lake, "events", first, [])
    rows = [dict(report("R1", "WH-A", "S1", date(2024, 1, 15)), _d=date(2024, 1, 15))]
    write_days(lake, "security_reports", first, as_of, rows, "_d")
    losses = [
        recon("G1", "WH-A", "S1", date(2024, 1, 16)),
        recon("G2", "WH-A", "S2", date(2024, 1, 22)),
    ]
    write_days(lake, "reconciliation_logs", first, as_of, losses, s.COUNT_DATE)
    audit = run_audit(settings, as_of)
    assert (audit.unexplained_losses, audit.reported_losses) == (2, 1)
    assert audit.audit_uri.startswith("s3://pu-lake/lake/audit/as_of=2024-02-25/")
    build_panel(settings, as_of)
    panel, _ = read_panel(settings, as_of)
    assert panel.loc[~panel[s.IS_FUTURE], s.Y].sum() == 2  # R1 = G1 once, G2 alone
