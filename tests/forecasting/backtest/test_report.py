"""The backtest report: self-contained HTML that parses and embeds its figures."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from forecasting.backtest.engine import run_backtest
from forecasting.backtest.metrics import metrics_by_step
from forecasting.backtest.report import backtest_sections
from forecasting.core.html import Section, render_report
from tests.support.backtest_toys import FAST, SPEC, toy_fit, toy_panel


class _Collector(HTMLParser):
    """Counts tags and collects every attribute that could fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[str, int] = {}
        self.refs: list[str] = []
        self.h2: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self._in_h2 = tag == "h2"
        for name, value in attrs:
            if name in {"src", "href", "xlink:href"} and value and not value.startswith("#"):
                self.refs.append(value)

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data)
            self._in_h2 = False


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> str:
    from forecasting.core.config import load_settings

    root = tmp_path_factory.mktemp("report")
    settings = load_settings(None, lake_uri=str(root / "lake"), landing_uri=str(root / "landing"))
    res = run_backtest(toy_panel(), SPEC, settings, horizon=6, windows=2, fit=toy_fit([]),
                       models=FAST, num_samples=100)
    return render_report(backtest_sections(res, metrics_by_step(res.frame)), title="toy <backtest>")


def test_report_parses_and_embeds_every_figure(report_html):
    parser = _Collector()
    parser.feed(report_html)
    assert parser.refs == []  # nothing fetched: self-contained
    assert parser.tags.get("svg", 0) >= 5  # heatmap, reliability + PIT, by step, two fan-chart rows
    assert parser.tags.get("table", 0) == 2  # gate figures and one compact score table, no wide tables
    assert parser.h2 == ["Verdict", "Scores by segment", "Reliability diagram",
                         "Coverage by horizon step", "Fan charts", "Tables"]  # plots before tables
    assert "toy &lt;backtest&gt;" in report_html  # titles are escaped
    for model in FAST:
        assert model in report_html


def test_report_bytes_are_deterministic(report_html, tmp_path):
    from forecasting.core.config import load_settings

    settings = load_settings(None, lake_uri=str(tmp_path / "lake"), landing_uri=str(tmp_path / "l"))
    res = run_backtest(toy_panel(), SPEC, settings, horizon=6, windows=2, fit=toy_fit([]),
                       models=FAST, num_samples=100)
    again = render_report(backtest_sections(res, metrics_by_step(res.frame)), title="toy <backtest>")
    assert again == report_html


def test_each_model_keeps_one_colour_in_every_figure():
    from forecasting.backtest.figures import model_colour

    everyone = model_colour(["tsb", "riskcast", "seasonal_naive", "deepar_raw"])
    some = model_colour(["tsb", "riskcast"])
    assert some["tsb"] == everyone["tsb"] and some["riskcast"] == everyone["riskcast"]
    assert len({everyone[m] for m in ["tsb", "riskcast", "seasonal_naive", "deepar_raw"]}) == 4


def test_fan_charts_have_history_legend_and_right_band_labels(report_html):
    fans = report_html.split("<h2>Fan charts</h2>")[1].split("<h2>")[0]
    assert "P5 to P95" in fans and "P50 to P90" in fans and "actual after cutoff" in fans
    assert "P90 band" not in fans and "count per period" in fans
    assert "earlier windows" in fans


def test_render_report_takes_other_sections():
    page = render_report([Section("Reserves", "<p>EUR</p>")], title="r")
    assert page.startswith("<!DOCTYPE html>") and "<h2>Reserves</h2>" in page


@pytest.mark.timeout(120)
def test_report_renders_in_headless_chromium(report_html, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        pytest.skip("Debian's chromium is not installed: the parse test above still checks the page")
    page = tmp_path / "report.html"
    page.write_text(report_html)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
         "--window-size=1200,2400", page.as_uri()],
        check=True, timeout=100, capture_output=True,
    )
    assert shot.stat().st_size > 10_000
