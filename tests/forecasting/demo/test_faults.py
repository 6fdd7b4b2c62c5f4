"""Sample network faults: each injected once, on its own day, visible in the files."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.core.schema import (
    FAULT_DATE,
    FAULT_FILE,
    FAULT_IDS,
    FAULT_NAME,
    INCIDENT_AT,
    REASON_CODE,
    RECONCILIATION_LOGS,
    REPORTED_AT,
    SECURITY_REPORTS,
    SEVERITY,
    UNITS,
    WAREHOUSE_ID,
)
from forecasting.demo.faults import CLEAN_TAIL_DAYS, EXTRA_COLUMN, FAULT_NAMES, PATH_LIKE_ID
from tests.support.demo_landing import (
    DAYS,
    START,
    csv_rows,
    make_network,
    read_day,
)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory) -> Path:
    return make_network(tmp_path_factory, "faulty", True)


# ----------------------------------------------------------------------------- faults
def _day_files(root: Path, record: dict) -> list[Path]:
    return sorted((root / record[FAULT_FILE]).parent.iterdir())


def test_every_fault_is_recorded_on_its_own_day_and_visible_in_the_files(faulty: Path) -> None:
    records = json.loads((faulty / "_truth/faults.json").read_text())
    assert sorted(r[FAULT_NAME] for r in records) == sorted(FAULT_NAMES)
    dates = [r[FAULT_DATE] for r in records]
    assert len(set(dates)) == len(dates)
    first, last_ok = (
        START + timedelta(days=DAYS // 2),
        START + timedelta(days=DAYS - 1 - CLEAN_TAIL_DAYS),
    )
    assert all(str(first) <= d <= str(last_ok) for d in dates)
    by = {r[FAULT_NAME]: r for r in records}
    sites = set(pd.read_csv(faulty / "warehouses.csv")[WAREHOUSE_ID])

    def rows_of(name: str) -> tuple[list[str], list[list[str]]]:
        rows = csv_rows((faulty / by[name][FAULT_FILE]).read_bytes())
        return rows[0], [r for r in rows[1:] if r and r[0] in by[name][FAULT_IDS]]

    header, rows = rows_of("unknown_warehouse")
    assert rows and all(r[header.index(WAREHOUSE_ID)] not in sites for r in rows)
    header, rows = rows_of("negative_units")
    assert rows and all(int(r[header.index(UNITS)]) < 0 for r in rows)
    header, rows = rows_of("future_timestamp")
    assert rows and all(
        r[header.index(REPORTED_AT)][:10] > by["future_timestamp"][FAULT_DATE] for r in rows
    )
    header, rows = rows_of("reported_before_incident")
    assert rows and all(r[header.index(REPORTED_AT)] < r[header.index(INCIDENT_AT)] for r in rows)
    header, rows = rows_of("duplicate_report_id")
    assert len(rows) == 2 * len(by["duplicate_report_id"][FAULT_IDS]) and len(
        {tuple(r) for r in rows}
    ) == len(rows)
    header, rows = rows_of("severity_out_of_set")
    assert rows and all(r[header.index(SEVERITY)] == "SEV9" for r in rows)
    header, rows = rows_of("wrong_type")
    assert [r[header.index(UNITS)] for r in rows] == ["twelve"]

    raw = (faulty / by["non_utf8_bytes"][FAULT_FILE]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert EXTRA_COLUMN in csv_rows((faulty / by["extra_column"][FAULT_FILE]).read_bytes())[0]
    fake = faulty / by["format_mismatch"][FAULT_FILE]
    assert fake.suffix == ".parquet" and fake.read_bytes().startswith(b"report_id,")

    spike = date.fromisoformat(by["volume_spike"][FAULT_DATE])
    before = [spike - timedelta(days=i) for i in range(1, 15)]
    usual = np.median([len(read_day(faulty / SECURITY_REPORTS.name / f"date={d}")) for d in before])
    assert len(read_day(faulty / SECURITY_REPORTS.name / f"date={spike}")) >= 8 * usual
    empty = _day_files(faulty, by["empty_day"])
    assert [f.name for f in empty] == ["part-000.csv"] and len(csv_rows(empty[0].read_bytes())) == 1

    recon_rows = csv_rows((faulty / by["path_like_id"][FAULT_FILE]).read_bytes())
    assert sum(PATH_LIKE_ID in r for r in recon_rows) == 2
    cut = (faulty / by["truncated_file"][FAULT_FILE]).read_bytes()
    assert not cut.endswith(b"\n") and len(csv_rows(cut)[-1]) < len(RECONCILIATION_LOGS.columns)
    assert (faulty / by["empty_file"][FAULT_FILE]).stat().st_size == 0
    header = csv_rows((faulty / by["missing_column"][FAULT_FILE]).read_bytes())[0]
    assert REASON_CODE not in header and len(header) == len(RECONCILIATION_LOGS.columns) - 1
