"""The verdict on a day's suite result, shared by the whole and the streamed validation.

``row_reasons``: the quarantine reason of each row a result rejects (NA for the others).
``record``: the manifest a validation run leaves (counts, status, its bronze file's sha256).

``judge``: the day's status and counts, the batch failure (a critical expectation, or
more bad rows than ``settings.validation.max_bad_row_share``) for which every row is held
back. ``rows_of_held_sites``: rows of sites the warehouses snapshot held back, rejected by
name and not counted towards the bad-row share.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from forecasting.core.config import Settings
from forecasting.core.lake import Lake
from forecasting.core.schema import WAREHOUSE_ID, WAREHOUSES, Contract
from forecasting.validation.gx.suite_results import SuiteResult
from forecasting.validation.inputs import held_warehouse_ids
from forecasting.validation.results import CRITICAL, PASSED, WARNINGS, SourceValidation

SHARE_CHECK = "max_bad_row_share"  # reason when too many rows fail: a setting, not an expectation


def judge(settings: Settings, source: str, day: date, result: SuiteResult, bad: np.ndarray,
          site_held: np.ndarray, notes: tuple[list[str], list[str]]) -> tuple[SourceValidation, np.ndarray, str | None]:  # fmt: skip
    """What a suite result means for the day: (validation, final bad-row mask, the batch
    failure every row is held back for, or None). ``bad`` includes the ``site_held`` rows;
    ``notes``: the input's and the parameters'."""
    blocking = [e.name for e in result.critical]
    rest = bad[~site_held]  # a site held back in the snapshot is its own problem, not the day's
    share = float(rest.mean()) if len(rest) else 0.0
    limit = settings.validation.max_bad_row_share
    notes, param_notes = list(notes[0]), notes[1]
    if not blocking and share > limit:
        blocking.append(SHARE_CHECK)
        notes.append(
            f"{share:.1%} of rows failed row-level expectations (> {SHARE_CHECK} {limit:.0%})"
        )
    if blocking:
        bad = np.ones(len(bad), dtype=bool)
    sv = SourceValidation(
        source,
        day,
        CRITICAL if blocking else (WARNINGS if not result.success else PASSED),
        input_rows=len(bad),
        validated_rows=int((~bad).sum()),
        quarantined_rows=int(bad.sum()),
        failed=[e.to_dict() for e in result.failed],
        blocking=blocking,
        notes=notes + param_notes + result.notes,
    )
    return sv, bad, "; ".join(blocking) if blocking else None


def rows_of_held_sites(
    lake: Lake,
    contract: Contract,
    day: date,
    frame: pd.DataFrame,
    reasons: pd.Series,
    notes: list[str],
) -> np.ndarray:
    """Mask of rows whose warehouse the snapshot held back; their reasons name the site."""
    none = np.zeros(len(frame), dtype=bool)
    if WAREHOUSE_ID not in contract.columns or contract.name == WAREHOUSES.name or not len(frame):
        return none
    held, snap = held_warehouse_ids(lake, day)
    if not held:
        return none
    mask = frame[WAREHOUSE_ID].astype("string").isin(held).fillna(False).to_numpy(dtype=bool)
    if mask.any():
        sites = frame.loc[mask, WAREHOUSE_ID].astype(str)
        why = (
            "warehouse " + sites + f" is held back in the warehouses snapshot of {snap}: fix "
            "its row in the warehouses file"
        ).astype("string")
        reasons[mask] = (reasons[mask] + "; " + why).fillna(why)
        notes.append(
            f"{int(mask.sum())} row(s) of site(s) {sorted(set(sites))} held back: the site is "
            f"quarantined in the warehouses snapshot of {snap}; the other rows are not affected"
        )
    return mask


def row_reasons(result: SuiteResult, index: pd.Index, start: int = 0) -> pd.Series:
    """Reasons (``; ``-joined expectation names) for the rows of ``result`` at positions
    ``start .. start + len(index)``, on ``index``; NA for a row no expectation rejects."""
    reasons = pd.Series(pd.NA, index=index, dtype="string")
    found = result.row_reasons()
    mine = found[(found.index >= start) & (found.index < start + len(index))]
    if len(mine):
        reasons.iloc[mine.index.to_numpy() - start] = mine.to_numpy()
    return reasons


def record(lake: Lake, source: str, day: date, sv: SourceValidation, digest: str | None) -> None:
    """Write the run's manifest; ``digest``: sha256 of the bronze file it left (None: removed)."""
    counts = {"input_rows": sv.input_rows, "validated_rows": sv.validated_rows,
              "quarantined_rows": sv.quarantined_rows}  # fmt: skip
    assert sv.input_rows == sv.validated_rows + sv.quarantined_rows, "validation lost rows"
    lake.write_json(lake.validation_manifest(source, day),
                    {"bronze_sha256": digest, "status": sv.status, **counts})  # fmt: skip
