"""Alerts written for people: plain checks, warehouse and date first, whole numbers, euros,
causes as sentences, a technical block; one e-mail of each kind rendered in Chromium."""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from forecasting.alerts.alert import (
    ALERT_KINDS,
    Alert,
    contract_alert,
    data_quality_alert,
    infrastructure_alert,
    task_failure_alert,
)
from forecasting.alerts.digest import digest_alert
from forecasting.alerts.render import (
    check_text,
    failed_checks,
    plain_words,
    row_columns,
    value_text,
)
from forecasting.core import schema as s
from forecasting.core.lake import Lake
from forecasting.explain.text import root_cause_alerts
from forecasting.reserves.escalation import build_escalation_alert
from tests.support.browser import CHROMIUM, chromium_page

DAY = date(2024, 3, 4)


def test_checks_read_as_plain_words():
    assert check_text("expect_column_values_to_be_between(units)") == "units is outside its allowed range"
    assert check_text("expect_column_pair_values_a_to_be_greater_than_b(reported_at,incident_at)") == (
        "reported_at is earlier (or smaller) than incident_at")
    assert check_text("expect_table_row_count_to_be_between(non_empty)") == "the day has no rows at all"
    assert check_text("expect_something_new(x)") == "something new (x)"
    assert failed_checks(["expect_column_values_to_be_in_set(severity) [warning]: 2 rows"]) == [
        "severity holds a value that is not allowed: 2 rows (warning)"]
    assert failed_checks(["site_silence(warehouse_id) [warning]: 1 rows"]) == [  # a silence counts sites
        "a site sent no rows for an implausibly long run of days: 1 site (warning)"]
    text = plain_words("batch rejected by expect_table_row_count_to_be_between(volume); all 644 rows moved")
    assert "expect_" not in text and "usual volume" in text


def test_values_are_whole_numbers_and_euros():
    assert value_text("validated input rows", 7.0) == "7" and value_text("n", 1234) == "1,234"
    assert value_text("loss_eur_p95", 3819.96) == "€3,820" and value_text("outlier_score", 53.25) == "53.25"
    assert value_text("tolerance", 0.025) == "0.025" and value_text("coverage", 0.88136) == "0.8814"
    assert value_text("exceeded_p95", True) == "yes" and value_text("x", None) == ""
    cols = row_columns([{"reason": "r", "units": 3, "incident_at": "t", "source_row": 1, "warehouse_id": "W", "report_id": "R"}])
    assert cols == ["warehouse_id", "incident_at", "units", "report_id", "reason", "source_row"]


def _dq() -> Alert:
    rows = pd.DataFrame({s.REPORT_ID: ["SR-1", "SR-2"], s.UNITS: [-3.0, 12.0], s.WAREHOUSE_ID: ["WH-DE-001", "WH-DK-002"],
                         s.REASON: ["expect_column_values_to_be_between(units)"] * 2, "source_row": [8.0, 9.0]})  # fmt: skip
    return data_quality_alert(
        "security_reports", DAY, severity="warning", summary="2 rows held back by validation",
        failed=[{"name": "expect_column_values_to_be_between(units)", "severity": "warning", "unexpected_count": 2}],
        counts={"validated input rows": 13.0, "validation quarantined": 2}, rows=rows,
        links={"validation page": "https://airflow.example/riskcast/data-docs/validations/x.html"},
    )  # fmt: skip


def test_a_data_quality_alert_reads_for_people():
    alert = _dq()
    alert.raised_at = "2024-03-05 06:10 UTC"
    text = alert.render_text()
    findings, tech = text.split("Technical details:")
    assert "expect_" not in findings and "units is outside its allowed range: 2 rows (warning)" in findings
    assert "raised 2024-03-05 06:10 UTC · for 2024-03-04 · source: security_reports" in text
    assert "validated input rows: 13" in findings and "13.0" not in text
    header = next(line for line in findings.splitlines() if line.startswith("warehouse_id"))
    assert header.split() == ["warehouse_id", "report_id", "units", "reason", "source_row"] and "-3 " in findings
    assert "units is outside its allowed range" in findings.split("reason")[-1]  # the row's reason, in words
    assert "expect_column_values_to_be_between(units)" in tech  # the GX name, for engineers
    html = alert.render_html()
    assert "<details><summary>Technical details</summary>" in html
    assert re.search(r"<tr><th[^>]*>warehouse_id</th>", html)


def _one_of_each(tmp_path: Path) -> dict[str, Alert]:
    sites = pd.DataFrame({
        s.WAREHOUSE_ID: ["WH-IT-008", "WH-FR-007"], s.REGION: ["Italy", "France"], s.COUNTRY: ["IT", "FR"],
        s.ESCALATION_LEVEL: [2, 1], s.PERIOD_START: pd.to_datetime(["2026-01-05", "2026-01-12"]),
        s.INCIDENTS_P95: [9.0, 7.0], s.LOSS_EUR_P95: [3819.96, 2500.0], s.INCIDENTS_THRESHOLD: [4.0, 6.0],
        s.LOSS_EUR_THRESHOLD: [5000.0, 4100.5], s.THRESHOLD_SOURCE: ["history", "history"],
    })  # fmt: skip
    weeks = pd.DataFrame({
        s.WAREHOUSE_ID: ["WH-AT-001", "WH-AT-003"], s.PERIOD_START: pd.to_datetime(["2025-11-03", "2025-12-08"]),
        s.OUTLIER_SCORE: [53.0, 124.5], s.EXCEEDED_P95: [False, True], s.EXPLAIN_NODE: [s.NODE_THEFTS] * 2,
        s.CAUSE_TEXT: ["thefts at WH-AT-001 ran 2.7 standard deviations above usual: 80% of the outlier",
                       "count activity (transfers, damage) at WH-AT-003 rose to 8.1x its usual rate: 100% of the outlier"],
    })  # fmt: skip
    held = [_dq(), contract_alert("reconciliation_logs", date(2025, 6, 22), "part-000.csv: required column 'reason_code' is missing.")]
    alerts = {
        "data_quality": _dq(),
        "contract": held[1],
        "infrastructure": infrastructure_alert("events", DAY, "RISKCAST_PII_KEY is not set."),
        "gate": task_failure_alert("gate", "riskcast_forecast", "backtest_gate", DAY, "calibration gate failed: P95 coverage 0.88"),
        "escalation": build_escalation_alert(date(2026, 1, 1), sites, Lake(str(tmp_path / "lake"))),
        "root_cause": root_cause_alerts(date(2026, 1, 1), weeks, {"attributions": "https://airflow.example/x"})[0],
        "digest": digest_alert("ingest security_reports", date(2024, 1, 1), date(2025, 12, 31), held),
    }
    assert set(alerts) == set(ALERT_KINDS)
    for alert in alerts.values():
        alert.raised_at = "2026-01-02 06:00 UTC"
    return alerts


def test_escalation_root_cause_and_digest_alerts_say_what_they_are(tmp_path):
    alerts = _one_of_each(tmp_path)
    esc = alerts["escalation"].render_text()
    assert "WH-IT-008" in esc.split("WH-FR-007")[0] and "€3,820" in esc and "incidents" in esc
    assert "crossed_on" in esc and "severe" in esc and "in incidents or in EUR" in esc
    cause = alerts["root_cause"]
    assert cause.kind == "root_cause" and cause.summary.startswith("Most unusual: WH-AT-003")
    digest = alerts["digest"]
    assert digest.kind == "digest" and digest.severity == "critical" and "2 alert(s) on 2 day(s)" in digest.title
    assert digest.rows[0]["kind"] == "contract"  # the worst first


@pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason="chromium not installed")
def test_every_kind_of_e_mail_renders_in_chromium(tmp_path):
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    with chromium_page() as page:
        for kind, alert in _one_of_each(tmp_path).items():
            path = tmp_path / f"{kind}.html"
            path.write_text(alert.render_html())
            load = page.open(path.as_uri(), settle_s=0.2)
            assert load.errors == [] and [u for u in load.requested if not u.startswith("file:")] == []
            assert page.overflow(1280) <= 0, kind  # nothing cut off at 1280 px
            assert page.low_contrast() == [], kind
            assert "expect_" not in page.eval("document.body.innerText.split('Technical details')[0]")
            if alert.rows:
                assert page.eval("document.querySelector('table th').textContent") in {"warehouse_id", "date"}
            if kind == "escalation":
                page.screenshot(shots / "alert_email.png")
