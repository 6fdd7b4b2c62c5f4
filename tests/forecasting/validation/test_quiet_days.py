"""Issue 33: a quiet day is not a broken drop; a silent site and a missing drop still alert.

End to end through ``riskcast ingest`` (ingest, validation, alerts) on small clean networks
(``tests.support.quiet_landing``), then the daily panel and the audit on the lake it left.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from forecasting.core import schema as s
from forecasting.core.lake import Lake
from forecasting.validation.volume import count_band, silent_sites
from tests.support.landing import land
from tests.support.quiet_landing import START, quiet_network, site_id

REPORTS = s.SECURITY_REPORTS.name


def _ingest(settings, monkeypatch, days) -> tuple[int, list[dict], list[dict]]:
    """``riskcast ingest --from --to``: (exit code, one summary a day, the alerts sent)."""
    from forecasting.cli import app

    for key, value in (("LANDING_URI", settings.landing_uri), ("LAKE_URI", settings.lake_uri),
                       ("RESERVES_URL", settings.reserves_url)):  # fmt: skip
        monkeypatch.setenv(f"RISKCAST_{key}", value)
    out = CliRunner().invoke(app, ["ingest", "--from", str(days[0]), "--to", str(days[-1]), "--no-sweep"])
    assert out.stdout.strip(), out.output
    summaries = json.loads(out.stdout.strip().splitlines()[-1])  # the summary: the last line
    outbox = Path(Lake.from_settings(settings).outbox)
    alerts = [json.loads(x) for x in outbox.read_text().splitlines()] if outbox.exists() else []
    return out.exit_code, summaries if isinstance(summaries, list) else [summaries], alerts


def _daily_panel(settings, as_of) -> pd.DataFrame:
    from forecasting.panel.build import build_panel, read_panel

    daily = settings.model_copy(update={"freq": "D", "target": "reported_incidents", "horizon": 2})
    build_panel(daily, as_of)
    panel, _ = read_panel(daily, as_of)
    return panel.loc[~panel[s.IS_FUTURE]]


# (sites, reports a site and day): a day without any report is plausible on each network
NETWORKS = {3: 0.6, 6: 0.4, 60: 0.03}


@pytest.mark.parametrize("sites", list(NETWORKS))
def test_a_header_only_day_is_a_day_of_zero_incidents(settings_factory, monkeypatch, sites):
    settings = settings_factory()
    quiet = START + timedelta(days=10)
    days = quiet_network(Path(settings.landing_uri), sites, 12, NETWORKS[sites], seed=sites, quiet=[quiet])
    code, summaries, alerts = _ingest(settings, monkeypatch, days)
    assert code == 0 and not alerts, (code, alerts)
    day = next(x for x in summaries if x["date"] == str(quiet))
    checked = day["validation"]["sources"][REPORTS]
    assert (day["exit_code"], checked["status"], checked["input_rows"]) == (0, "passed", 0)
    lake = Lake.from_settings(settings)
    bronze = lake.read_parquet(lake.bronze_file(REPORTS, quiet))  # an empty partition, typed
    assert len(bronze) == 0 and list(bronze.columns) == s.SECURITY_REPORTS.bronze_columns
    panel = _daily_panel(settings, days[-1])
    that_day = panel.loc[panel[s.DS] == pd.Timestamp(quiet)]
    assert len(that_day) == sites and that_day[s.Y].notna().all() and (that_day[s.Y] == 0).all()
    assert panel[s.Y].notna().all() and panel[s.Y].sum() > 0  # the other days count their reports
    from forecasting.audit.stage import run_audit

    assert run_audit(settings, days[-1]) is not None  # the audit reads the empty partition too


def test_a_site_silent_for_a_week_alerts_once_and_its_rows_stay(settings_factory, monkeypatch):
    settings = settings_factory()
    stop = START + timedelta(days=28)
    rates = [3.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    days = quiet_network(Path(settings.landing_uri), 6, 35, rates, seed=1, silent={site_id(0): stop})
    code, summaries, alerts = _ingest(settings, monkeypatch, days)
    assert code == 1
    flagged = [x["date"] for x in summaries if x["exit_code"]]
    assert flagged == [str(stop + timedelta(days=6))]  # the 7th silent day, once
    checked = summaries[-1]["validation"]["sources"][REPORTS]
    assert checked["status"] == "warnings" and checked["quarantined_rows"] == 0
    assert [f["name"] for f in checked["failed"]] == ["site_silence(warehouse_id)"]
    assert [a["severity"] for a in alerts] == ["warning"] and site_id(0) in alerts[0]["summary"]
    assert "7 days" in alerts[0]["summary"]


def test_a_missing_drop_stays_missing_and_alerts(settings_factory, monkeypatch):
    settings = settings_factory()
    gone = START + timedelta(days=6)
    days = quiet_network(Path(settings.landing_uri), 6, 8, 1.0, seed=2, missing=[gone])
    code, summaries, alerts = _ingest(settings, monkeypatch, days)
    day = next(x for x in summaries if x["date"] == str(gone))
    assert day["exit_code"] == 1 and day["sources"][REPORTS]["arrival"] == "missing"
    assert code == 0 or code == 1
    assert any(a.get("source") == REPORTS and str(gone) in json.dumps(a) for a in alerts)
    panel = _daily_panel(settings, days[-1])
    assert panel.loc[panel[s.DS] == pd.Timestamp(gone), s.Y].isna().all()  # missing, never zero


def test_a_blank_file_is_no_quiet_day_but_a_marker_alone_is(settings_factory, monkeypatch):
    settings = settings_factory()
    landing = Path(settings.landing_uri)
    blank, marked = START + timedelta(days=5), START + timedelta(days=6)
    days = quiet_network(landing, 6, 7, 0.5, seed=3, quiet=[blank, marked])
    land(landing, REPORTS, "part-000.csv", b"", blank)  # 0 bytes: no header, not an export
    (landing / REPORTS / f"date={marked}" / "part-000.csv").unlink()
    land(landing, REPORTS, "_SUCCESS", b"", marked)  # the source says: done, nothing to send
    code, summaries, alerts = _ingest(settings, monkeypatch, days)
    by_day = {x["date"]: x["validation"]["sources"][REPORTS] for x in summaries}
    assert by_day[str(blank)]["status"] == "critical"
    assert by_day[str(blank)]["blocking"] == ["expect_table_row_count_to_be_between(non_empty)"]
    assert any("no header (blank)" in n for n in by_day[str(blank)]["notes"])
    assert by_day[str(marked)]["status"] == "passed" and by_day[str(marked)]["input_rows"] == 0
    alerted = {x["date"]: list(x["alerts"]) for x in summaries if x["alerts"]}
    assert alerted == {str(blank): [f"data quality failure: {REPORTS} {blank}"]}
    assert sum(a.get("severity") == "critical" for a in alerts) == 1
    # with zero_rows_ok off, a header-only day is rejected as before
    strict = settings_factory(lake_uri=str(landing.parent / "strict"),
                              drops={REPORTS: {"zero_rows_ok": False}})  # fmt: skip
    monkeypatch.setenv("RISKCAST_DROPS__SECURITY_REPORTS__ZERO_ROWS_OK", "false")
    _, summaries, _ = _ingest(strict, monkeypatch, days[:-1])
    assert {x["date"]: x["validation"]["sources"][REPORTS]["status"] for x in summaries}[str(blank)] == "critical"


# --------------------------------------------------------------------------- the pure judges
def test_the_volume_band_takes_a_zero_where_the_history_makes_it_plausible():
    small = count_band([2, 0, 3, 1, 4, 2, 1, 0, 2, 3, 1, 2, 2, 1], 1e-6)
    busy = count_band([61, 55, 70, 62, 58, 66, 61, 59, 63, 57, 64, 60, 62, 61], 1e-6)
    assert small.low == 0 and small.judge(0) is None
    assert busy.low > 20 and "fewer than plausible" in busy.judge(0)  # a lost export
    assert busy.judge(600) is not None and busy.judge(61) is None
    assert count_band([5, 6], 1e-6) is None  # too little history: no band


def test_a_site_is_silent_once_its_run_is_implausible_and_reported_once():
    history = {"A": [3, 2, 4, 3, 5, 2, 3, 4, 3, 2, 3, 4, 3, 2], "B": [1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0]}
    found = []
    for run in range(1, 10):
        counts = pd.DataFrame({k: v + [0] * run for k, v in history.items()})
        found.append([(x.site, x.new) for x in silent_sites(counts, min_days=7, tail=1e-4, history_days=28,
                                                            min_history=7)])  # fmt: skip
    assert found[:6] == [[]] * 6  # under a week: not judged
    assert found[6] == [("A", True)] and found[7] == [("A", False)]  # then noted, not re-alerted
    assert all(("B", True) not in f for f in found)  # a site with rows one day in three: plausible
