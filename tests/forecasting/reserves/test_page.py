"""The reserves page for finance: a document built from the stages' frames (no lake here)."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pandas as pd

from forecasting.core import schema
from forecasting.core.html import count, eur, pct
from forecasting.reserves.page import ReservesPage
from forecasting.reserves.report import SECTIONS, render_reserves_page
from tests.support.audit_table import audit_table
from tests.support.reserves_frames import AS_OF, COVERAGE, horizon_rows, reserve_frames

GATE = {
    "passed": True,
    "model": "riskcast",
    "tolerance": 0.025,
    "windows": ["2024-04-01", "2024-04-29"],
    "n": 120,
    "figures": {"0.95": {"coverage": 0.958, "coverage_strict": 0.93, "ok": True}},
    "reason": "",
}
LINKS = {"backtest": "https://airflow.example/riskcast/backtest/2024-06-02",
         "audit": "https://airflow.example/riskcast/audit/2024-06-02"}  # fmt: skip
EXPORTS = {k: f"https://airflow.example/riskcast/reserves/2024-06-02/exports/{k}" for k in
           ("warehouse_week", "region_week", "horizon", "workbook")}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.src: list[str] = []
        self.href: list[str] = []
        self.th: list[str] = []
        self._th = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self._th = tag == "th"
        self.src += [v for k, v in attrs if k in {"src", "xlink:href"} and v and not v.startswith("#")]
        self.href += [v for k, v in attrs if k == "href" and v and not v.startswith("#")]

    def handle_data(self, data):
        if self._th:
            self.th.append(data)
            self._th = False


def _inputs(**kw) -> ReservesPage:
    res, tot, thr = reserve_frames(**{k: kw.pop(k) for k in ("hot", "scale") if k in kw})
    base = ReservesPage(
        as_of=AS_OF, reserves=res, totals=tot, thresholds=thr, horizon=horizon_rows(tot),
        gate=GATE, coverage=COVERAGE, model={"version": "deepar-x", "ensemble": {"gbm": 0.5, "deepar": 0.3, "local_nb": 0.2}},
        reporting=audit_table().query("level != 'warehouse'").reset_index(drop=True),
        rules={"history_margin": 1.25, "severe_factor": 2.0, "quantile": 0.95},
        links=LINKS, exports=EXPORTS,
    )  # fmt: skip
    return replace(base, **kw)


def _page(**kw) -> str:
    return render_reserves_page(_inputs(**kw))[0]


def test_formats_are_for_people():
    assert eur(12345.6) == "€12,346" and eur(-250, signed=True) == "−€250" and eur(3, signed=True) == "+€3"
    assert eur(float("nan")) == "-" and count(10.0) == "10" and count(2.5) == "3"
    assert pct(0.9534) == "95.3%" and pct(-0.016, signed=True) == "-1.6%"


def test_page_fetches_nothing_and_links_only_its_downloads_and_evidence():
    page = _page()
    tags = _Tags()
    tags.feed(page)
    assert tags.src == []  # nothing fetched: inline CSS and SVG
    assert set(tags.href) == set(LINKS.values()) | set(EXPORTS.values())
    assert tags.tags.get("svg", 0) >= 3  # network fan, region fans, escalation chart
    assert "warehouse_id" not in tags.th and "loss_eur_p95" not in tags.th
    assert {"Warehouse", "Loss P95", "Incidents P95", "Period", "From", "To"} <= set(tags.th)
    assert "10.00" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S)  # counts are integers


def test_sections_in_reading_order_with_lineage_at_the_foot():
    page = _page()
    order = ["id='status'", "id='headline'", "Reserve over the horizon", "Downloads and evidence",
             "What the figures rest on", "Loss over the horizon, week by week", "Escalating sites",
             "Root causes of recent outliers", "Totals per week", "Reserves per warehouse",
             "Glossary", "id='lineage'"]  # fmt: skip
    at = [page.index(s) for s in order]
    assert at == sorted(at)
    lead = page[: page.index("id='lineage'")]
    assert "snap-1" not in lead and "snap-1" in page  # the snapshot hash lives in the footer only
    assert len(SECTIONS) == 11  # with the track record and the missing data, where the lake holds them


def test_horizon_totals_with_dates_and_the_sum_of_weekly_p95s_for_contrast():
    inp = _inputs()
    page = render_reserves_page(inp)[0]
    h = inp.horizon
    whole = h[(h[schema.TOTAL_ID] == schema.NETWORK_ID) & (h[schema.PERIOD_KIND] == "horizon")].iloc[0]
    weekly = inp.totals.loc[inp.totals[schema.TOTAL_ID] == schema.NETWORK_ID, schema.LOSS_EUR_P95].sum()
    assert eur(whole[schema.LOSS_EUR_P95]) in page[: page.index("Downloads and evidence")]
    assert f"would give {eur(weekly)}" in page and eur(weekly) != eur(whole[schema.LOSS_EUR_P95])
    section = page[page.index("Reserve over the horizon"): page.index("Downloads and evidence")]
    assert "June 2024" in section and "Q2 2024 (partial)" in section
    assert "2024-06-03" in section and "2024-06-30" in section  # where the span starts and ends


def test_model_calibration_in_euros_and_reporting_rate_are_stated():
    page = _page()
    basis = page[page.index("What the figures rest on"): page.index("Loss over the horizon")]
    assert "gbm (50%), deepar (30%), local_nb (20%)" in basis and "deepar-x" in basis
    assert "Loss in EUR (site-weeks)" in basis and "93.8%" in basis
    assert "In euros, the loss booked stayed at or below the loss P95 in 93.8% of 96 site-weeks" in page
    assert "Reporting rate." in basis and "reported to security" in basis
    nothing = _page(coverage={"available": False, "reason": "no backtest sample paths for this date"})
    assert "check in euros was not available" in nothing and "no backtest sample paths" in nothing


def test_failed_missing_or_overridden_gate_is_said_plainly():
    failed = _page(gate={**GATE, "passed": False, "reason": "P95 too low."})
    assert "Calibration check FAILED" in failed and "not published" in failed
    assert "No calibration check was run" in _page(gate=None)
    res = _inputs().reserves.assign(**{schema.CALIBRATION_METHOD: "UNGATED (no verdict)"})
    assert "--allow-ungated" in _page(reserves=res)


def test_escalation_rules_in_words_and_what_crossed():
    page = _page()
    section = page[page.index("Escalating sites (1)"): page.index("Root causes")]
    assert "in incidents <i>or</i> in EUR" in section and "1.25× the 95% quantile" in section
    assert "Crossed on" in section and "incidents and EUR" in section and "severe" in section
    assert "No site crosses its escalation threshold." in _page(hot=None)


def test_change_against_previous_publication():
    _, prev, _ = reserve_frames(scale=0.5)
    page = _page(previous_as_of=pd.Timestamp("2024-05-26").date(), previous_totals=prev)
    assert "publication of 2024-05-26" in page and "P95, previous publication" in page
    assert re.search(r"class='d up'>\+€[\d,]+ \(\+\d", page)  # loss went up: red, signed
    assert "No earlier publication" in _page()


def test_causes_are_rendered_from_the_explain_output():
    causes = pd.DataFrame({
        schema.WAREHOUSE_ID: ["WH-A"], schema.PERIOD_START: pd.to_datetime(["2024-05-20"]),
        schema.OUTLIER_SCORE: [7.5], schema.EXCEEDED_P95: [True], schema.CAUSE_TEXT: ["reporting at WH-A fell"],
    })  # fmt: skip
    page = _page(causes=(AS_OF, causes))
    assert "reporting at WH-A fell" in page and "No root-cause analysis yet" in _page()
