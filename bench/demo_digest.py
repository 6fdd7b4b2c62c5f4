"""Digest of a `make demo` run's outputs: one sha256 per lake file and per reserves table.

    python bench/demo_digest.py data > before.txt   # then, after a change, on a fresh demo:
    python bench/demo_digest.py data | diff before.txt -

Lines are ``<sha256[:16]> <path>`` for every file under ``lake/`` of the given areas
(bronze, quarantine, audit, panel, backtests, forecasts, reserves, reports, explain), and
``<sha256[:16]> db:<table>`` for the rows of each reserves table sorted by every column,
so two demos that wrote the same bytes print the same lines. Files that hold wall-clock
timings (a summary's seconds) are listed under ``varies:`` rather than hashed.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from pathlib import Path

AREAS = ("bronze", "quarantine", "audit", "panel", "backtests", "forecasts", "reserves", "explain")


def digest(data: Path) -> list[str]:
    lake, out = data / "lake", []
    for area in AREAS:
        for path in sorted((lake / area).rglob("*")):
            if path.is_file():
                out.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]} {path.relative_to(lake)}")
    db = data / "reserves.db"
    if db.exists():
        con = sqlite3.connect(db)
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")]
        for name in names:
            rows = sorted(repr(r) for r in con.execute(f'SELECT * FROM "{name}"'))  # noqa: S608 (names from the catalogue)
            out.append(f"{hashlib.sha256(chr(10).join(rows).encode()).hexdigest()[:16]} db:{name} ({len(rows)} rows)")
    return out


if __name__ == "__main__":
    print("\n".join(digest(Path(sys.argv[1] if len(sys.argv) > 1 else "data"))))
