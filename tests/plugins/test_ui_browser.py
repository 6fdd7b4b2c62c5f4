"""Every page of the riskcast plugin rendered by headless Chromium from the served app.

Chromium resolves no host but 127.0.0.1, so a page that needs the network (a CDN) shows it
as failed requests or console errors. Screenshots go to ``$SCREENSHOT_DIR`` when set
(``SCREENSHOT_DIR=docs/img`` refreshes the README's), else to the test's tmp folder.
"""

from __future__ import annotations

import os
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


def test_data_docs_render_offline_with_table_and_icons(browser, airflow_ui, tmp_path):
    page, base, token = browser
    docs = Path(airflow_ui[2].data_docs)
    page.set_cookie("_token", token, base)
    load = page.open(base + UI_PREFIX + "/data-docs/index.html", settle_s=1.5)
    _local_only(load, base)
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
