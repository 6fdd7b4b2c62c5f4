"""Streamed validation (a day with more bronze rows than ``validation.block_rows``): the whole
frame's verdict and files, from blocks of a few rows.

Each case writes the same bronze twice and validates it once whole and once in blocks of
7 rows; lake files (bronze, quarantine, manifest) must be byte-identical and the results equal.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.lake import Lake
from forecasting.validation.checks import validate_source
from forecasting.validation.stream import splittable
from tests.support.validation_frames import (
    DAY,
    recons,
    reports,
    write_bronze,
    write_day,
    write_history,
)

REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name
FIELDS = ("status", "input_rows", "validated_rows", "quarantined_rows", "failed", "blocking", "notes")


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "data_docs" not in p.parts and "alerts" not in p.parts
    }


def both_ways(settings_factory, tmp_path: Path, source: str, frame: pd.DataFrame, runs: int = 1,
              history: int = 40):  # fmt: skip
    """Validate ``frame`` as the day's bronze whole and in blocks of 7 rows, ``runs`` times."""
    out = []
    for label, rows in (("whole", 1_000_000), ("blocks", 7)):
        settings = settings_factory(lake_uri=str(tmp_path / label), validation={"block_rows": rows})
        lake = Lake.from_settings(settings)
        write_history(lake, rows=history)
        write_day(lake)
        write_bronze(lake, source, DAY, frame)
        for _ in range(runs):
            checked = validate_source(settings, source, DAY, raise_on_critical=False, docs=False)
        out.append(({f: getattr(checked, f) for f in FIELDS}, files(tmp_path / label)))
    return out


def faulty_reports(n: int = 40) -> pd.DataFrame:
    frame = reports(n)
    frame.loc[2, s.SEVERITY] = "SEV9"
    frame.loc[9, s.UNITS] = -2
    frame.loc[9, s.WAREHOUSE_ID] = "WH-XX-999"
    frame.loc[14, s.REPORT_ID] = frame.loc[13, s.REPORT_ID]  # a repeated key across a block edge
    frame.loc[15, s.REPORT_ID] = frame.loc[13, s.REPORT_ID]
    frame.loc[[37, 38, 39], s.REPORT_ID] = None  # null keys sort last
    return frame


def test_row_failures_in_blocks_give_the_whole_frames_files(settings_factory, tmp_path, monkeypatch):
    import forecasting.validation.checks as validation

    streamed = []
    real = validation.check_streamed
    monkeypatch.setattr(validation, "check_streamed", lambda *a: streamed.append(1) or real(*a))
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path, REPORTS, faulty_reports()
    )
    assert whole["status"] == "warnings" and whole["quarantined_rows"] == 8, whole
    assert streamed == [1]  # the blocks run only
    assert blocks == whole
    assert block_files == whole_files


def test_a_rerun_joins_the_held_rows_back_in_key_order(settings_factory, tmp_path):
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path, REPORTS, faulty_reports(), runs=2
    )
    assert whole["input_rows"] == 40 and blocks == whole
    assert block_files == whole_files


def test_a_batch_failure_in_blocks_holds_every_row(settings_factory, tmp_path):
    frame = recons(30)
    frame.loc[::2, s.REASON_CODE] = "LOST"  # half the rows fail: above max_bad_row_share
    (whole, whole_files), (blocks, block_files) = both_ways(settings_factory, tmp_path, RECON, frame)
    assert whole["status"] == "critical" and whole["quarantined_rows"] == 30
    assert blocks == whole and block_files == whole_files
    assert not any(k.startswith(f"bronze/{RECON}/date={DAY}") for k in block_files)


def test_a_volume_failure_is_counted_on_the_whole_day(settings_factory, tmp_path):
    (whole, _), (blocks, block_files) = both_ways(settings_factory, tmp_path, RECON, recons(60), history=6)
    assert whole["status"] == "critical" and blocks == whole  # 60 rows > 5 x the median of 6
    assert any("row_count" in name for name in blocks["blocking"])


def test_a_suite_with_an_aggregate_check_is_not_split():
    suite = {"expectations": [{"type": "expect_column_mean_to_be_between", "kwargs": {"column": "units"}}]}
    assert "needs the whole day" in splittable(suite, s.SECURITY_REPORTS)
    other = {"expectations": [{"type": "expect_column_values_to_be_unique", "kwargs": {"column": "sku"}}]}
    assert splittable(other, s.SECURITY_REPORTS) is not None
    assert splittable({"expectations": []}, s.SECURITY_REPORTS) is None


@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_block_sizes_do_not_change_the_result(settings_factory, tmp_path, rows):
    settings = settings_factory(validation={"block_rows": rows})
    lake = Lake.from_settings(settings)
    write_history(lake, rows=40)
    write_day(lake)
    write_bronze(lake, REPORTS, DAY, faulty_reports())
    checked = validate_source(settings, REPORTS, DAY, raise_on_critical=False)
    assert (checked.input_rows, checked.quarantined_rows) == (40, 8)
    assert checked.data_docs is not None  # the page is built from the joined result
