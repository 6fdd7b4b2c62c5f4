"""Digest of a `make demo` run's outputs: one sha256 per lake file and per reserves table.

    python bench/demo_digest.py data > before.txt   # then, after a change, on a fresh demo:
    python bench/demo_digest.py data | diff before.txt -

Lines are ``<sha256[:16]> <path>`` for every file under ``lake/`` of the data areas
(bronze, quarantine, audit, panel, backtests, forecasts, reserves, explain), and
``<sha256[:16]> db:<table>`` for the rows of each reserves table sorted by every column,
so two demos that wrote the same bytes print the same lines. The code's own identity is
part of some outputs (``code_version``: the git commit; a publication's ``run_id`` and
``content_digest`` derive from it; ``published_at`` is when it was published): with
``--without-lineage`` those columns are left out of the hash (Parquet files that hold them
are hashed as their other columns), so a refactoring shows as no change at all. Two demos
compare only under the same PII key (``data/pii.key``): bronze holds the keyed hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sqlite3
from pathlib import Path

import pyarrow.parquet as pq

AREAS = ("bronze", "quarantine", "audit", "panel", "backtests", "forecasts", "reserves", "explain")
LINEAGE = ("code_version", "run_id", "content_digest", "published_at", "applied_at")


def _file_hash(path: Path, without: tuple[str, ...]) -> str:
    data = path.read_bytes()
    if without and path.suffix == ".parquet":
        table = pq.read_table(io.BytesIO(data))
        drop = [c for c in without if c in table.column_names]
        if drop:
            buf = io.BytesIO()
            pq.write_table(table.drop_columns(drop), buf)
            data = buf.getvalue()
    return hashlib.sha256(data).hexdigest()[:16]


def digest(data: Path, without: tuple[str, ...] = ()) -> list[str]:
    lake, out = data / "lake", []
    for area in AREAS:
        for path in sorted((lake / area).rglob("*")):
            if path.is_file():
                out.append(f"{_file_hash(path, without)} {path.relative_to(lake)}")
    db = data / "reserves.db"
    if db.exists():
        con = sqlite3.connect(db)
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")]
        for name in names:
            cur = con.execute(f'SELECT * FROM "{name}"')  # noqa: S608 (names from the catalogue)
            keep = [i for i, d in enumerate(cur.description) if d[0] not in without]
            rows = sorted(repr(tuple(r[i] for i in keep)) for r in cur)
            out.append(f"{hashlib.sha256(chr(10).join(rows).encode()).hexdigest()[:16]} db:{name} ({len(rows)} rows)")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default="data", help="the demo's data folder")
    parser.add_argument("--without-lineage", action="store_true", help=f"leave {', '.join(LINEAGE)} out")
    args = parser.parse_args()
    print("\n".join(digest(Path(args.data), LINEAGE if args.without_lineage else ())))
