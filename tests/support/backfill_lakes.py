"""Shared by the backfill tests (batched, on Ray): a faulty network and lake readers."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

START = date(2024, 1, 1)
FIRST, LAST = date(2024, 2, 10), date(2024, 3, 25)  # every fault the generator injects lies in here


def faulty_network(tmp_path_factory) -> Path:
    """6 warehouses, 90 days from START, every fault injected."""
    from forecasting.demo.generate import generate_network

    out = tmp_path_factory.mktemp("landing")
    generate_network(str(out), 6, START, 90, seed=5, faults=True)
    return out


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def lake_files(root: Path) -> dict[str, bytes]:
    """Every lake file but the Data Docs site and the alert outbox, by relative path."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] not in ("data_docs", "alerts")
    }
