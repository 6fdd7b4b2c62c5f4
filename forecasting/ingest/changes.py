"""How a past day's landing files differ from what was ingested (its ``ingest.json``).

Names and sizes first (one listing); a file of unchanged size is compared by sha256. The
``_SUCCESS`` marker arriving after an ingest without it is a change too (the day was
incomplete). A day purged by retention (``landing_purges/``) or never ingested has no
change; a day whose whole folder is gone without a purge is reported as such. The sweep
(``validation.sweep``) re-ingests changed days; the retention purge (``ingest.retention``)
never deletes a day with a change it has not ingested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from forecasting.core.lake import Lake
from forecasting.core.layout import SUCCESS_MARKER
from forecasting.ingest import partition
from forecasting.ingest.manifest import fingerprint, landing_digest, read_manifest


@dataclass
class Change:
    """How a day's landing differs from its ingest manifest (landing-relative names)."""

    source: str
    day: date
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    marker: bool = False  # the _SUCCESS marker arrived since
    digest: str = ""  # landing_digest of the files as they are now

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed,
                "marker_arrived": self.marker}  # fmt: skip


def compare(landing: Lake, live: Lake, source: str, day: date) -> Change | list[str] | None:
    """The day's change since its ingest (None: none, not ingested, or purged); the list of
    its ingested files when its whole landing folder is gone without a retention purge."""
    partition.finish_swap(live, source, day)
    manifest = read_manifest(live, source, day)
    if manifest is None or live.exists(live.landing_purge(source, day)):
        return None
    folder = landing.landing_day(source, day)
    rel = f"{source}/date={day}"
    now = {f"{rel}/{n}": info for n, info in landing.files(folder).items()}
    marker = now.pop(f"{rel}/{SUCCESS_MARKER}", None) is not None
    old = manifest["files"]
    if not now and old and not landing.exists(folder):
        return sorted(old)
    change = Change(source, day, sorted(set(now) - set(old)), [], sorted(set(old) - set(now)))
    same_size = [n for n in now if n in old and now[n]["size"] == old[n]["size"]]
    change.changed = sorted(n for n in now if n in old and now[n]["size"] != old[n]["size"])
    prints = fingerprint(landing, [(n, f"{landing.uri}/{n}") for n in same_size])
    change.changed = sorted(change.changed + [n for n in same_size if prints[n]["sha256"] != old[n]["sha256"]])
    was_marked = manifest["arrival"].get("marker")
    change.marker = was_marked is False and marker
    if not (change.added or change.changed or change.removed or change.marker):
        return None
    prints.update(fingerprint(landing, [(n, f"{landing.uri}/{n}") for n in now if n not in prints]))
    change.digest = landing_digest(prints, marker if was_marked is not None else None)
    return change
