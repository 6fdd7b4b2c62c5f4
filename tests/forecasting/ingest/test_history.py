"""Reading bronze as of a logical date: daily history and reference snapshots."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake, join
from forecasting.ingest.history import read_history, read_snapshot
from tests.support.pu_bronze import bronze_frame, report, site, write_bronze


def test_history_keeps_the_latest_drop_of_a_report_and_ignores_later_days(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_bronze(
        lake,
        "security_reports",
        date(2024, 1, 1),
        [report("R1", "A", "S1", date(2024, 1, 1), status="unconfirmed")],
    )
    write_bronze(
        lake, "security_reports", date(2024, 1, 3), [report("R1", "A", "S1", date(2024, 1, 1))]
    )
    write_bronze(
        lake, "security_reports", date(2024, 1, 5), [report("R2", "A", "S2", date(2024, 1, 5))]
    )
    df = read_history(lake, "security_reports", date(2024, 1, 4))
    assert df[s.REPORT_ID].tolist() == ["R1"] and df[s.STATUS].tolist() == ["confirmed"]
    assert list(df.columns) == s.SECURITY_REPORTS.bronze_columns
    assert df[s.UNITS].dtype == "Int64" and df[s.IS_HVG].dtype == "boolean"
    assert str(df[s.INCIDENT_AT].dtype) == "datetime64[ns, UTC]"
    assert read_history(lake, "security_reports", date(2023, 12, 31)).empty


def test_history_lines_up_partitions_with_null_typed_or_plain_string_columns(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    day = date(2024, 1, 2)
    df = bronze_frame("security_reports", [report("R1", "A", None, day)], day)
    df[s.SKU] = pd.Series([None], dtype=object)  # all-null: Arrow null type
    lake.write_parquet(df, join(lake.bronze("security_reports", day), "part.parquet"))
    write_bronze(lake, "security_reports", date(2024, 1, 3), [report("R2", "A", "S1", day)])
    out = read_history(lake, "security_reports", date(2024, 1, 3))
    assert out[s.SKU].isna().tolist() == [True, False]


def test_history_names_the_partition_folder_when_a_type_cannot_be_cast(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    day = date(2024, 1, 2)
    df = bronze_frame("security_reports", [report("R1", "A", "S1", day)], day)
    df[s.LOSS_VALUE_EUR] = pd.Series(["lots"], dtype="string")
    lake.write_parquet(df, join(lake.bronze("security_reports", day), "part.parquet"))
    with pytest.raises(InputError, match="bronze/security_reports: a partition does not match"):
        read_history(lake, "security_reports", day)


def test_snapshot_is_the_latest_on_or_before_as_of(tmp_path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    write_bronze(lake, "warehouses", date(2024, 1, 1), [site("A", "north", "DE", date(2020, 1, 1))])
    write_bronze(lake, "warehouses", date(2024, 2, 1), [site("B", "north", "DE", date(2020, 1, 1))])
    assert read_snapshot(lake, "warehouses", date(2024, 1, 31))[s.WAREHOUSE_ID].tolist() == ["A"]
    assert read_snapshot(lake, "warehouses", date(2024, 3, 1))[s.WAREHOUSE_ID].tolist() == ["B"]
    with pytest.raises(InputError, match="ingest warehouses.csv for a date <= 2023-12-31"):
        read_snapshot(lake, "warehouses", date(2023, 12, 31))
    assert read_snapshot(lake, "events", date(2024, 3, 1), required=False).empty
