"""Fixtures shared by the intake tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.backfill_lakes import faulty_network


@pytest.fixture(scope="module")
def faulty_landing(tmp_path_factory) -> Path:
    """A 6-warehouse, 90-day network with every fault injected (one per test module)."""
    return faulty_network(tmp_path_factory)
