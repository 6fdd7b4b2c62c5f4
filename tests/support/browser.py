"""Headless Chromium driven over the DevTools protocol (websockets only, no Selenium).

``chromium_page()`` starts Debian's ``chromium`` with every host name but 127.0.0.1
unresolvable (no network but the server under test) and yields a ``Page``: ``open(url)``
loads a page and records console errors, uncaught exceptions, failed requests and every URL
requested; ``count(selector)``, ``eval(js)`` and ``screenshot(path)`` inspect it.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Load:
    """What happened while a page loaded."""

    url: str
    errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Page:
    """One browser tab."""

    def __init__(self, ws_url: str) -> None:
        self._ws = connect(ws_url, max_size=None, open_timeout=30)
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=60))
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._events.append(msg)

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.call("Network.setCookie", name=name, value=value, url=url)

    def open(self, url: str, settle_s: float = 1.0) -> Load:
        """Navigate and wait for the load event, then ``settle_s`` more for scripts."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while not any(e.get("method") == "Page.loadEventFired" for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load in 60 s")
            self._events.append(json.loads(self._ws.recv(timeout=60)))
        end = time.monotonic() + settle_s
        while time.monotonic() < end:
            try:
                self._events.append(json.loads(self._ws.recv(timeout=max(end - time.monotonic(), 0.01))))
            except TimeoutError:
                break
        return self._summary(self.eval("location.href"))

    def eval(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return res.get("result", {}).get("value")

    def count(self, selector: str) -> int:
        return int(self.eval(f"document.querySelectorAll({json.dumps(selector)}).length"))

    def low_contrast(self, minimum: float = 4.5) -> list[str]:
        """HTML text (not SVG) whose contrast with its background is below ``minimum`` (WCAG):
        ``tag: text (ratio)`` for each; the background is the nearest opaque one above it."""
        return self.eval(_CONTRAST_JS.replace("MINIMUM", str(minimum)))

    def overflow(self, width: int = 1280) -> int:
        """How many pixels the page is wider than ``width`` (0: no horizontal scrolling)."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        try:
            return int(self.eval("document.documentElement.scrollWidth")) - width
        finally:
            self.call("Emulation.clearDeviceMetricsOverride")

    def screenshot(self, path: Path, width: int = 1280) -> None:
        height = int(self.eval("Math.min(document.documentElement.scrollHeight, 6000)"))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        self.call("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        self._ws.close()

    def _summary(self, url: str) -> Load:
        load = Load(url)
        for e in self._events:
            method, p = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in {"error", "assert"}:
                load.errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                load.errors.append(p.get("exceptionDetails", {}).get("exception", {}).get("description", "exception"))
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                load.errors.append(f"{p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif method == "Network.requestWillBeSent":
                load.requested.append(p["request"]["url"])
            elif method == "Network.loadingFailed" and not p.get("canceled"):
                load.failed.append(p.get("errorText", ""))
        return load


_CONTRAST_JS = """
(() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
                     return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
                     if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c; } return [255, 255, 255]; };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg') || !el.offsetParent && el.tagName !== 'BODY') continue;
    const own = [...el.childNodes].filter(n => n.nodeType === 3 && n.textContent.trim()).map(n => n.textContent.trim()).join(' ');
    if (!own) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(bg(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < MINIMUM) out.push(el.tagName.toLowerCase() + ': ' + own.slice(0, 40) + ' (' + ratio.toFixed(2) + ')');
  }
  return out;
})()
"""


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A fresh headless Chromium (own profile, no network but 127.0.0.1) and one tab."""
    assert CHROMIUM, "chromium is not installed: apt-get install -y chromium"
    profile = tempfile.mkdtemp(prefix="riskcast-chromium-")
    cmd = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
        "--disable-background-networking", "--disable-component-update", "--remote-debugging-port=0",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1", f"--user-data-dir={profile}",
        "--window-size=1280,1000", "about:blank",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    page = None
    try:
        port = _devtools_port(proc)
        threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            tabs = [t for t in json.load(resp) if t.get("type") == "page"]
        page = Page(tabs[0]["webSocketDebuggerUrl"])
        yield page
    finally:
        if page is not None:
            page.close()
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        if found:
            return int(found.group(1))
        if not line and proc.poll() is not None:
            break
    raise RuntimeError("chromium did not start its DevTools endpoint")
