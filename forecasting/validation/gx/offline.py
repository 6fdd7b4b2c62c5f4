"""GX Data Docs without a network: CDN links rewritten to vendored copies.

GX 1.24 pages load Bootstrap, Font Awesome, jQuery and bootstrap-table from CDNs; offline the
index (built by JavaScript) is blank and the pass/fail icons vanish. ``offline_html`` rewrites
every such link to ``static/vendor/...`` relative to the page (dropping the SRI attributes,
which pin CDN responses), drops the tags of assets the pages do not need (dark-mode CSS,
vega) and points GX's own ``static/`` links at the right depth (its deepest pages miss by one). ``make_offline`` copies the vendored files next to GX's own ``static/`` folder of the
site and rewrites the given pages. Both are idempotent.

``self_contained`` goes one step further for serving a page in a sandbox (the Airflow plugin
serves Data Docs with ``Content-Security-Policy: sandbox``, where the page's origin is opaque
and its requests for ``static/`` files would carry no session): the vendored scripts and
styles are inlined from this package (fonts as ``data:`` URLs) and the site's own images from
the site, so the page makes no request at all.
"""

from __future__ import annotations

import base64
import mimetypes
import re
from collections.abc import Callable
from pathlib import Path

from forecasting.core.lake import Lake, join

VENDOR_DIR = Path(__file__).with_name("vendor")
SITE_VENDOR = ("static", "vendor")  # under the Data Docs site root, beside GX's static/
# CDN address -> vendored file (None: the tag is dropped)
ASSETS: dict[str, str | None] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "css/bootstrap-4.3.1.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "js/bootstrap-4.3.1.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "js/jquery-3.7.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "js/popper-1.12.9.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "css/fontawesome-6.6.0.all.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "css/bootstrap-table-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "js/bootstrap-table-1.19.1.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "css/bootstrap-table-filter-control-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "css/bootstrap-table-filter-control-1.19.1.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "js/bootstrap-table-filter-control-1.19.1.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "css/bootstrap-datepicker-1.9.0.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "js/bootstrap-datepicker-1.9.0.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": None,
    "https://cdn.jsdelivr.net/npm/vega@5": None,
    "https://cdn.jsdelivr.net/npm/vega-lite@5": None,
    "https://cdn.jsdelivr.net/npm/vega-embed@6": None,
}  # fmt: skip
LOGO_URL = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png"
LOGO_FILE = ("static", "images", "logo-long.png")  # shipped by GX in the site's static/
_TAG = re.compile(r"<(link|script)\b[^>]*?\b(?:href|src)=\"(https?://[^\"]+)\"[^>]*>(?:\s*</script>)?", re.I)
_STATIC = re.compile(r"\b(href|src)=\"(?:\./|(?:\.\./)+)static/")  # GX puts depth-4 pages' favicon 3 up
_SRI = re.compile(r"\s+(?:integrity|crossorigin)=\"[^\"]*\"", re.I)


def offline_html(text: str, depth: int) -> str:
    """``text`` with CDN assets replaced by vendored copies; ``depth``: folders between the
    site root and the page (0 for the index)."""
    up = "../" * depth if depth else "./"
    vendor = up + "/".join(SITE_VENDOR) + "/"

    def swap(match: re.Match[str]) -> str:
        tag, url = match.group(0), match.group(2)
        if url not in ASSETS:
            return tag
        local = ASSETS[url]
        return "" if local is None else _SRI.sub("", tag.replace(url, vendor + local))

    text = _STATIC.sub(lambda m: f'{m.group(1)}="{up}static/', _TAG.sub(swap, text))
    return text.replace(LOGO_URL, up + "/".join(LOGO_FILE))


_LOCAL_TAG = re.compile(
    r"<(script|link)\b[^>]*?\b(?:src|href)=\"(?:\./|(?:\.\./)+)static/vendor/([a-z]+/[A-Za-z0-9_.\-]+)\"[^>]*>"
    r"(?:\s*</script>)?", re.I,
)
_LOCAL_IMAGE = re.compile(r"\b(src|href)=\"(?:\./|(?:\.\./)+)static/images/([A-Za-z0-9_.\-]+)\"")
_FONT = re.compile(r"url\(\.\./webfonts/([A-Za-z0-9_.\-]+\.woff2)\)")


def self_contained(text: str, read_site_image: Callable[[str], bytes | None]) -> str:
    """``text`` (an ``offline_html`` page) with every vendored script and stylesheet inlined from
    this package and every ``static/images/`` file of the site as a ``data:`` URL
    (``read_site_image(name)``: its bytes, None when absent: the reference is dropped)."""

    def inline(match: re.Match[str]) -> str:
        kind, rel = match.group(1).lower(), match.group(2)
        path = VENDOR_DIR / rel
        if not path.is_file() or VENDOR_DIR not in path.resolve().parents:
            return ""
        body = path.read_text(encoding="utf-8")
        if kind == "script":
            return "<script>" + body.replace("</script", "<\\/script") + "</script>"
        return "<style>" + _FONT.sub(_font_url, body) + "</style>"

    def image(match: re.Match[str]) -> str:
        data = read_site_image(match.group(2))
        if data is None:
            return f'{match.group(1)}=""'
        media = mimetypes.guess_type(match.group(2))[0] or "application/octet-stream"
        return f'{match.group(1)}="data:{media};base64,{base64.b64encode(data).decode()}"'

    return _LOCAL_IMAGE.sub(image, _LOCAL_TAG.sub(inline, text))


def _font_url(match: re.Match[str]) -> str:
    path = VENDOR_DIR / "webfonts" / match.group(1)
    if not path.is_file():
        return match.group(0)
    return f"url(data:font/woff2;base64,{base64.b64encode(path.read_bytes()).decode()})"


def page_depth(site_root: str, page_uri: str) -> int:
    """Folders between ``site_root`` and ``page_uri``."""
    rel = page_uri[len(site_root.rstrip("/")) :].strip("/")
    return rel.count("/")


def vendor_files() -> list[tuple[str, Path]]:
    """(path relative to the vendor folder, file) of every vendored asset, sorted."""
    skip = {"README.md"}
    return sorted(
        (p.relative_to(VENDOR_DIR).as_posix(), p)
        for p in VENDOR_DIR.rglob("*")
        if p.is_file() and p.name not in skip and p.parent.name != "licenses"
    )


def make_offline(lake: Lake, site_root: str, pages: list[str]) -> None:
    """Copy the vendored assets into the site (if missing) and rewrite ``pages`` (URIs)."""
    target = join(site_root, *SITE_VENDOR)
    for rel, path in vendor_files():
        uri = join(target, rel)
        if not lake.exists(uri):
            lake.write_bytes(uri, path.read_bytes())
    for page in dict.fromkeys(pages):
        if lake.exists(page):
            text = lake.read_text(page)
            new = offline_html(text, page_depth(site_root, page))
            if new != text:
                lake.write_text(page, new)
