"""Data Docs render offline: every CDN asset of a GX page is a vendored copy in the site."""

from __future__ import annotations

import re

from forecasting.core.lake import Lake
from forecasting.stages import run_validate
from forecasting.validation.gx.offline import (
    ASSETS,
    VENDOR_DIR,
    offline_html,
    page_depth,
    vendor_files,
)
from tests.support.validation_frames import DAY, write_day

_FETCHES = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=\"(https?://[^\"]+)\"", re.I)


def test_every_mapped_asset_is_vendored():
    names = {rel for rel, _ in vendor_files()}
    assert {a for a in ASSETS.values() if a} <= names
    assert {"webfonts/fa-solid-900.woff2", "webfonts/fa-regular-400.woff2"} <= names
    css = (VENDOR_DIR / "css" / "fontawesome-6.6.0.all.min.css").read_text()
    assert "../webfonts/fa-solid-900.woff2" in css


def test_links_are_rewritten_relative_to_the_page_and_idempotent():
    page = (
        '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>\n'
        '<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>\n'
        '<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" '
        'integrity="sha384-x" crossorigin="anonymous"></script>\n<a href="https://greatexpectations.io">GX</a>'
    )
    out = offline_html(page, 2)
    assert 'href="../../static/vendor/css/bootstrap-4.3.1.min.css"' in out
    assert 'src="../../static/vendor/js/bootstrap-4.3.1.min.js"></script>' in out
    assert "vega" not in out and "integrity" not in out
    assert '<a href="https://greatexpectations.io">' in out  # a link, not a fetch
    assert offline_html(out, 2) == out
    assert offline_html(page, 0).count('"./static/vendor/') == 2
    favicon = '<link rel="icon" href="../../../static/images/favicon.ico">'
    assert offline_html(favicon, 4) == '<link rel="icon" href="../../../../static/images/favicon.ico">'
    assert page_depth("/l/data_docs", "/l/data_docs/validations/a/b/c.html") == 3


def test_built_data_docs_fetch_nothing_from_the_network(settings_factory, tmp_path):
    settings = settings_factory()
    lake = Lake.from_settings(settings)
    write_day(lake, DAY)
    run_validate(settings, DAY)
    docs = tmp_path / "lake" / "data_docs"
    pages = sorted(p for p in docs.rglob("*.html") if "vendor" not in p.parts)
    assert any(p.parent == docs for p in pages) and any("validations" in p.parts for p in pages)
    for page in pages:
        assert _FETCHES.findall(page.read_text()) == [], page
    index = (docs / "index.html").read_text()
    assert 'src="./static/vendor/js/jquery-3.7.1.min.js"' in index
    assert (docs / "static" / "vendor" / "js" / "jquery-3.7.1.min.js").exists()
