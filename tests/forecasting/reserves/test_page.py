"""The reserves page for finance: headline, status and lineage, fans, human tables."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

from forecasting.core import schema
from forecasting.core.html import count, eur, pct
from forecasting.core.lake import Lake
from forecasting.core.layout import TOTALS_FILE
from forecasting.reserves.page import PageContext
from forecasting.reserves.report import previous_as_of, render_reserves_page, write_reserves_report
from tests.support.reserves_frames import AS_OF, reserve_frames

GATE = {
    "passed": True,
    "model": "riskcast",
    "tolerance": 0.03,
    "windows": ["2024-04-01", "2024-04-29"],
    "n": 120,
    "figures": {"0.95": {"coverage": 0.958, "coverage_strict": 0.93, "ok": True}},
    "reason": "",
}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.refs: list[str] = []
        self.th: list[str] = []
        self._th = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self._th = tag == "th"
        self.refs += [
            v
            for k, v in attrs
            if k in {"src", "href", "xlink:href"} and v and not v.startswith("#")
        ]

    def handle_data(self, data):
        if self._th:
            self.th.append(data)
            self._th = False


def _page(ctx: PageContext | None = None, **kw) -> str:
    res, tot, thr = reserve_frames(**kw)
    return render_reserves_page(res, tot, thr, AS_OF, ctx or PageContext(gate=GATE))


def test_formats_are_for_people():
    assert (
        eur(12345.6) == "€12,346"
        and eur(-250, signed=True) == "−€250"
        and eur(3, signed=True) == "+€3"
    )
    assert eur(float("nan")) == "-" and count(10.0) == "10" and count(2.5) == "3"
    assert pct(0.9534) == "95.3%" and pct(-0.016, signed=True) == "-1.6%"


def test_page_is_self_contained_with_charts_and_human_headers():
    page = _page()
    tags = _Tags()
    tags.feed(page)
    assert tags.refs == []  # nothing fetched
    assert tags.tags.get("svg", 0) >= 3  # network fan, region fans, escalation chart
    assert "warehouse_id" not in tags.th and "loss_eur_p95" not in tags.th
    assert {"Warehouse", "Loss P95", "Incidents P95", "Week starting"} <= set(tags.th)
    assert "10.00" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S)  # counts are integers


def test_headline_status_and_lineage_come_first():
    page = _page()
    status, headline, how = (
        page.index("id='status'"),
        page.index("id='headline'"),
        page.index("How to read this"),
    )
    assert status < headline < how
    assert "Calibration check passed" in page and "95.8%" in page  # the gate's own P95 coverage
    assert "m-test-1" in page and "snap-1" in page
    res, tot, _ = reserve_frames()
    net = tot[tot[schema.TOTAL_ID] == schema.NETWORK_ID].sort_values(schema.PERIOD_START).iloc[0]
    assert eur(net[schema.LOSS_EUR_P95]) in page[headline:how]
    assert "No earlier publication" in page


def test_failed_or_missing_gate_is_said_plainly():
    failed = _page(PageContext(gate={**GATE, "passed": False, "reason": "P95 too low."}))
    assert (
        "Calibration check FAILED" in failed
        and "not published" in failed
        and "passed" not in failed.split("id='headline'")[0]
    )
    assert "No calibration check was run" in _page(PageContext())


def test_network_total_first_and_horizon_cards():
    page = _page(
        PageContext(
            gate=GATE,
            horizon={
                schema.LOSS_EUR_P50: 40_000.0,
                schema.LOSS_EUR_P90: 52_000.0,
                schema.LOSS_EUR_P95: 55_500.0,
            },
        )
    )
    totals = page.split("Totals (network first, then regions)")[1]
    first_row = totals.split("<tbody>")[1].split("</tr>")[0]
    assert "network" in first_row and "class='total'" in first_row
    assert "4 weeks P95" in page and "€55,500" in page


def test_change_against_previous_publication(tmp_path):
    lake = Lake(str(tmp_path / "lake"))
    prev_day = AS_OF - timedelta(days=7)
    _, prev_totals, _ = reserve_frames(prev_day, scale=0.5)
    lake.write_parquet(prev_totals, lake.reserves_file(prev_day, TOTALS_FILE))
    assert previous_as_of(lake, AS_OF) == prev_day and previous_as_of(lake, prev_day) is None
    res, tot, thr = reserve_frames()
    uri = write_reserves_report(lake, AS_OF, res, tot, thr)
    page = lake.read_text(uri)
    assert f"publication of {prev_day}" in page and "P95, previous publication" in page
    assert re.search(r"class='d up'>\+€[\d,]+ \(\+\d", page)  # loss went up: red, signed
    assert "No calibration check was run" in page  # no gate.json for this date in the lake


def test_escalating_sites_chart_and_table():
    page = _page()
    assert "Escalating sites (1)" in page and "severe" in page and "black tick" in page
    quiet = _page(hot=None)
    assert "No site crosses its escalation threshold." in quiet
