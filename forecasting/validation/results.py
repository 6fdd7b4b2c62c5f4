"""What the validation stage returns: one ``SourceValidation`` per source and day
(``exit_code`` 0 clean / 1 warnings / 2 a batch rejected), JSON-able with ``to_dict()``
(XCom, CLI; ``validation.runner`` keeps them per day as ``by_day``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

PASSED, WARNINGS, CRITICAL, SKIPPED = "passed", "warnings", "critical", "skipped"
_EXIT = {PASSED: 0, SKIPPED: 0, WARNINGS: 1, CRITICAL: 2}


@dataclass
class SourceValidation:
    """What validating one source for one day did: ``input_rows == validated + quarantined``."""

    source: str
    date: date
    status: str
    input_rows: int = 0
    validated_rows: int = 0
    quarantined_rows: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bronze_uri: str | None = None
    quarantine_uri: str | None = None
    data_docs: dict[str, Any] | None = None
    kept: str | None = None  # a rejected rerun: why and where the day's previous copy stays live

    @property
    def exit_code(self) -> int:
        return _EXIT[self.status]

    @property
    def message(self) -> str:
        """One line for logs, alerts and DataContractError."""
        if self.status == CRITICAL:
            return (
                f"{self.source} {self.date}: batch rejected by {', '.join(self.blocking)}; "
                + (
                    f"all {self.input_rows} rows moved to {self.quarantine_uri}, "
                    if self.input_rows
                    else "no rows, "
                )
                + ("the day's previous bronze is kept unchanged: " if self.kept else "nothing left in bronze: ")
                + f"fix the landing drop, then rerun `riskcast ingest --date {self.date}`"
            )
        names = ", ".join(f["name"] for f in self.failed) or "none"
        return (
            f"{self.source} {self.date}: {self.status}; {self.quarantined_rows} of "
            f"{self.input_rows} rows quarantined (failed: {names})"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date"] = self.date.isoformat()
        data["exit_code"] = self.exit_code
        return data
