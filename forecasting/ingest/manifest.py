"""The ingest manifest of a source-day: which landing files were read (name, size, sha256), the
rows each gave, and whether the drop was complete. ``quarantine/<source>/date=D/ingest.json``.

The sweep (``validation.sweep``) compares the landing area with it to find late, amended
and removed files; the panel reads ``incomplete.json`` (written only for an incomplete or
missing day) to leave those site-days missing. Deterministic: a rerun on the same files
writes the same bytes (no clock in it).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from forecasting.core.lake import Lake
from forecasting.ingest.arrival import COMPLETE
from forecasting.ingest.landing import read_landing

ALL_SITES = None  # incomplete.json "missing_sites": every site of the day is missing


def fingerprint(landing: Lake, files: list[tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """Landing-relative name -> ``{"size", "sha256"}`` of each file, read in pieces; an
    unreadable file is an InputError naming it (``landing.read_landing``'s)."""
    out = {}
    for name, uri in files:
        try:
            with landing.open(uri) as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:
            read_landing(landing, name, uri)  # raises the one-line error naming the file
            raise
        out[name] = {"size": landing.size(uri), "sha256": digest}
    return out


def landing_digest(files: dict[str, dict[str, Any]], marker: bool | None = None) -> str:
    """One sha256 of a day's landing state (names, sizes, contents and the marker): the id
    of a version of the day's drop (restatements are named by it)."""
    payload = json.dumps([{n: [f["size"], f["sha256"]] for n, f in sorted(files.items())}, marker],
                         sort_keys=True)  # fmt: skip
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def write_manifest(lake: Lake, source: str, day: date, files: dict[str, dict[str, Any]],
                   rows: dict[str, Any], arrival: dict[str, Any]) -> str:  # fmt: skip
    """Write ``ingest.json`` (and ``incomplete.json`` unless the day is complete) of the
    partition ``lake`` resolves (ingest writes the staged copy). ``files``: ``fingerprint``
    merged with each file's row counts; ``rows``: the day's totals; ``arrival``: ``status``,
    ``marker`` (None: the source writes none), ``missing_sites`` (None: not per-site)."""
    manifest = {
        "source": source,
        "date": day.isoformat(),
        "files": files,
        "landing_digest": landing_digest({n: f for n, f in files.items()}, arrival.get("marker")),
        **rows,
        "arrival": arrival,
    }
    uri = lake.write_json(lake.ingest_manifest(source, day), manifest)
    if arrival["status"] != COMPLETE:
        sites = arrival.get("missing_sites")
        lake.write_json(lake.incomplete_marker(source, day), {
            "source": source, "date": day.isoformat(), "status": arrival["status"],
            "missing_sites": sites if sites else ALL_SITES,
        })  # fmt: skip
    return uri


def read_manifest(lake: Lake, source: str, day: date) -> dict[str, Any] | None:
    """The ingest manifest of the partition ``lake`` resolves, or None (never ingested, or
    ingested before manifests existed)."""
    uri = lake.ingest_manifest(source, day)
    return lake.read_json(uri) if lake.exists(uri) else None
