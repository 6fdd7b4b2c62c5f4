"""Typed results of running an expectation suite on a frame (``suites.validate_frame``).

``ExpectationResult``: one expectation (name, severity, success, counts, offending row
positions). ``SuiteResult``: all of them plus what a stage needs to act: batch-blocking
failures, the bad-row mask and one quarantine reason per bad row.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

CRITICAL, WARNING = "critical", "warning"


@dataclass
class ExpectationResult:
    """One expectation on one batch. ``rows``: positions (0..n-1) of offending rows, or None."""

    name: str
    type: str
    severity: str
    success: bool
    skipped: bool = False
    unexpected_count: int | None = None
    element_count: int | None = None
    observed_value: Any = None
    error: str | None = None
    note: str | None = None
    rows: np.ndarray | None = field(default=None, repr=False)

    @property
    def failed(self) -> bool:
        return not self.success and not self.skipped

    @property
    def blocks_batch(self) -> bool:
        """A failed critical expectation, or one GX could not evaluate, fails the batch."""
        return self.failed and (self.severity == CRITICAL or self.error is not None)

    @property
    def quarantines_rows(self) -> bool:
        return (
            self.failed and not self.blocks_batch and self.rows is not None and len(self.rows) > 0
        )

    def to_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "severity": self.severity,
            "success": self.success,
            "skipped": self.skipped,
            "unexpected_count": self.unexpected_count,
            "element_count": self.element_count,
            "observed_value": _jsonable(self.observed_value),
        }
        out.update({k: v for k, v in (("error", self.error), ("note", self.note)) if v})
        return out


@dataclass
class SuiteResult:
    """A suite run on a frame of ``row_count`` rows; ``gx_result`` feeds Data Docs."""

    suite: str
    row_count: int
    expectations: list[ExpectationResult]
    notes: list[str] = field(default_factory=list)
    gx_result: Any = field(default=None, repr=False, compare=False)
    gx_suite: Any = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        return not any(e.failed for e in self.expectations)

    @property
    def critical(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if e.blocks_batch]

    @property
    def failed(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if e.failed]

    def bad_rows(self) -> np.ndarray:
        """Boolean mask (length ``row_count``) of rows some row-level expectation rejects."""
        mask = np.zeros(self.row_count, dtype=bool)
        for e in self.expectations:
            if e.quarantines_rows:
                mask[e.rows] = True
        return mask

    def row_reasons(self) -> pd.Series:
        """Per bad row (index = position), the failing expectation names joined by ``; ``."""
        reasons: dict[int, list[str]] = {}
        for e in self.expectations:
            if e.quarantines_rows:
                for pos in e.rows.tolist():
                    reasons.setdefault(pos, []).append(e.name)
        return pd.Series({p: "; ".join(v) for p, v in sorted(reasons.items())}, dtype="string")

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "row_count": self.row_count,
            "success": self.success,
            "bad_rows": int(self.bad_rows().sum()),
            "failed": [e.to_dict() for e in self.failed],
            "skipped": [e.name for e in self.expectations if e.skipped],
            "notes": list(self.notes),
        }


def join_blocks(parts: list[tuple[ExpectationResult, int]]) -> ExpectationResult:
    """One expectation over all blocks: success if every block's, counts summed, rows offset."""
    head = copy.copy(parts[0][0])
    failed = next((e for e, _ in parts if not e.success), None)
    head.success = failed is None
    head.error = next((e.error for e, _ in parts if e.error), None)
    head.observed_value = (failed or head).observed_value
    for name in ("unexpected_count", "element_count"):
        values = [getattr(e, name) for e, _ in parts]
        setattr(head, name, None if any(v is None for v in values) else int(sum(values)))
    rows = [e.rows + start for e, start in parts if e.rows is not None]
    head.rows = np.concatenate(rows) if rows else None
    return head


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value[:50]]
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
