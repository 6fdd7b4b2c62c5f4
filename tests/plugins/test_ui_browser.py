"""Every page of the riskcast plugin rendered by headless Chromium from the served app, for
users of each role: pages of their role render, others show the 403 page naming the role;
Data Docs run sandboxed and a script planted in a lake page never runs.

Chromium resolves no host but 127.0.0.1, so a page that needs the network (a CDN) shows it
as failed requests or console errors. Screenshots go to ``$SCREENSHOT_DIR`` when set
(``SCREENSHOT_DIR=docs/img`` refreshes the README's), else to the test's tmp folder.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from urllib.parse import urlparse

import pytest

from forecasting.core.links import UI_PREFIX
from tests.support.browser import CHROMIUM, chromium_page

pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"), reason="chromium not installed (.ci/run installs it)"
)
# page -> (screenshot name, least number of <svg> charts)
PAGES = {
    "/reserves/latest": ("reserves.png", 3),
    "/backtest/latest": ("backtest.png", 5),
    "/audit/latest": ("audit.png", 1),
    "/data-docs/index.html": ("data_docs.png", 0),
}


@pytest.fixture(scope="module")
def browser(airflow_ui):
    base, token, _ = airflow_ui
    with chromium_page() as page:
        yield page, base, token


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)


def _local_only(load, base: str) -> None:
    host = urlparse(base).netloc
    outside = [u for u in load.requested if not u.startswith(("data:", "about:")) and urlparse(u).netloc != host]
    assert outside == [], f"{load.url} fetched from outside: {outside}"
    assert load.failed == [], f"{load.url}: failed requests {load.failed}"
    assert load.errors == [], f"{load.url}: console errors {load.errors}"


def test_without_a_session_the_browser_lands_on_the_login_page(browser):
    page, base, _ = browser
    page.call("Network.clearBrowserCookies")
    for path in PAGES:
        load = page.open(base + UI_PREFIX + path, settle_s=0.3)
        assert "/login" in load.url, load.url
        assert "riskcast" not in (page.eval("document.title") or "").lower()
        assert page.count("figure svg") == 0


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_renders_with_charts_and_no_errors(browser, path, tmp_path):
    page, base, token = browser
    page.set_cookie("_token", token, base)
    load = page.open(base + UI_PREFIX + path)
    assert load.url.endswith(path.split("/")[-1]) or "latest" in path, load.url
    _local_only(load, base)
    name, charts = PAGES[path]
    assert page.count("svg") >= charts
    if not path.startswith("/data-docs"):  # our pages (GX draws its own)
        assert page.overflow(1280) <= 0, f"{path} scrolls sideways at 1280 px"
        assert page.low_contrast() == [], path
        assert page.eval("Math.max(...[...document.querySelectorAll('figure svg')].map(s => s.getBoundingClientRect().width))") <= 1280
    page.screenshot(_shots(tmp_path) / name)


def test_data_docs_render_offline_with_table_and_icons(browser, airflow_ui, role_tokens, tmp_path):
    page, base, _ = browser
    docs = Path(airflow_ui[2].data_docs)
    page.set_cookie("_token", role_tokens["security"], base)
    load = page.open(base + UI_PREFIX + "/data-docs/index.html", settle_s=1.5)
    _local_only(load, base)
    # self-contained: the sandboxed page asks the server for nothing more (data: URLs only)
    assert [u for u in load.requested if not u.startswith("data:")] == [load.url]
    assert page.eval("self.origin") == "null"  # sandboxed: an opaque origin, not Airflow's
    assert page.eval("typeof jQuery") == "function"
    assert page.count("table tbody tr") >= 4  # the index table is built by bootstrap-table
    assert page.count("table tbody tr i.fas, table tbody tr i.fa") >= 4  # status icons
    validation = sorted((docs / "validations").rglob("*.html"))[0].relative_to(docs).as_posix()
    load = page.open(f"{base}{UI_PREFIX}/data-docs/{validation}", settle_s=1.0)
    _local_only(load, base)
    icons = page.eval(
        "Array.from(document.querySelectorAll('i.fas, i.fa')).map(i => getComputedStyle(i).fontFamily).join('|')"
    )
    assert icons and "Font Awesome" in icons  # pass/fail icons drawn by the vendored font
    loaded = "[...document.fonts].some(f => f.family.includes('Font Awesome') && f.status === 'loaded')"
    assert page.eval(loaded)  # the woff2 came from the vendored copy
    page.screenshot(_shots(tmp_path) / "data_docs_validation.png")


def test_a_finance_user_gets_the_reserves_and_a_403_page_for_the_data_docs(browser, role_tokens, tmp_path):
    page, base, _ = browser
    page.set_cookie("_token", role_tokens["finance"], base)
    page.open(base + UI_PREFIX + "/reserves/latest")
    assert page.count("svg") >= 3
    page.open(base + UI_PREFIX + "/data-docs/index.html", settle_s=0.3)
    text = page.eval("document.body.innerText")
    assert "403: not for your role" in text and "security or admin" in text and "fin" in text
    assert page.count("table") == 0
    page.screenshot(_shots(tmp_path) / "forbidden.png")
    page.open(base + UI_PREFIX + "/", settle_s=0.3)
    assert page.count("a[href^='reserves/']") >= 1 and page.count("a[href^='data-docs']") == 0


def test_a_script_planted_in_a_lake_page_does_not_run(browser, airflow_ui, role_tokens):
    """A lake writer's script in a report or in the Data Docs: blocked by the CSP, or sandboxed."""
    page, base, _ = browser
    lake = airflow_ui[2]
    planted = ("<p>report</p><script>document.title = 'pwned'; fetch('/api/v2/dags')</script>"
               "<img src='data:,' onerror=\"document.title='pwned'\">")  # fmt: skip
    lake.write_text(lake.backtest_file(date(2020, 1, 6), "report"), planted)
    lake.write_text(lake.data_docs + "/planted.html", planted.replace("report", "docs"))
    page.set_cookie("_token", role_tokens["admin"], base)
    load = page.open(base + UI_PREFIX + "/backtest/2020-01-06", settle_s=0.5)
    assert page.eval("document.title") != "pwned" and "report" in page.eval("document.body.innerText")
    assert any("Content Security Policy" in e for e in load.errors), load.errors
    load = page.open(base + UI_PREFIX + "/data-docs/planted.html", settle_s=0.5)
    # the sandbox lets GX's scripts run, but in an opaque origin (no session) that may connect nowhere
    assert page.eval("self.origin") == "null"
    assert not [u for u in load.requested if "/api/v2/" in u], load.requested
    assert any("Content Security Policy" in e for e in load.errors), load.errors
