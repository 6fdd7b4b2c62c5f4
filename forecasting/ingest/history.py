"""Reading bronze as of a logical date: the daily history of a source and reference snapshots.

Daily sources (``security_reports``, ``reconciliation_logs``) are the union of every
``bronze/<source>/date=D/part.parquet`` with ``D <= as_of``, read in one go (a pyarrow
dataset over the listed files), with a later drop replacing an earlier version of the same
business key (a report confirmed a week after it was filed counts as confirmed). Reference
sources (``warehouses``, ``events``) are the latest snapshot ``date=D`` with ``D <= as_of``.
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
from fsspec.core import strip_protocol

from forecasting.core import layout, schema
from forecasting.core.errors import InputError
from forecasting.core.lake import Lake, join, parse_date

log = logging.getLogger(__name__)



def partition_dates(lake: Lake, source: str, as_of: date) -> list[date]:
    """The ``date=`` partitions of ``bronze/<source>`` on or before ``as_of``, ascending."""
    out = []
    for name in lake.ls(lake.bronze_root(source)):
        if name.startswith("date="):
            day = parse_date(name[len("date=") :], f"partition {source}/{name}")
            if day <= as_of:
                out.append(day)
    return sorted(out)


def read_history(lake: Lake, source: str, as_of: date) -> pd.DataFrame:
    """Every bronze row of a daily ``source`` dropped on or before ``as_of``, latest version per key.

    Columns: ``schema.CONTRACTS[source].bronze_columns`` with their bronze dtypes. Rows are
    sorted by the business key, so the result does not depend on file order.
    """
    contract = schema.CONTRACTS[source]
    base = lake.bronze_root(source)
    # one glob instead of a listing plus a stat per day (~1000 days on S3)
    found = lake.fs.glob(f"{strip_protocol(base)}/date=*/{layout.BRONZE_FILE}") if lake.exists(base) else []
    files = sorted(p for p in found if _day_of(p, source) <= as_of)
    if not files:
        log.warning("no bronze %s partitions on or before %s", source, as_of)
        return _empty(contract)
    df = _read_files(lake, files, contract, base)
    df = df[contract.bronze_columns]
    # a later drop of the same business key is a correction: keep the latest version
    df = df.sort_values([*contract.key, schema.INGEST_DATE, schema.SOURCE_ROW], kind="stable")
    df = df.drop_duplicates(list(contract.key), keep="last")
    return df.reset_index(drop=True)


def missing_site_days(lake: Lake, source: str, as_of: date) -> pd.DataFrame:
    """Site-days of a daily ``source`` whose data is missing, up to ``as_of``.

    From the first day with an ingest manifest (``ingest.json``) on, a day is missing for
    every site when it has no manifest (never ingested, or not yet) or no bronze partition
    (its drop never arrived, or validation rejected it whole); an incomplete day lacks the
    sites its ``incomplete.json`` names (every site when it cannot say which). A lake ingested
    before manifests existed has no such record: its days without bronze are not told apart.

    Columns ``warehouse_id`` (<NA>: every site) and ``day`` (``schema.MISSING_DAY``,
    datetime64[ns]); sorted. Never counted as zero: the panel leaves these site-periods
    missing (``panel.gaps``).
    """
    ingested = _days_with(lake, source, layout.INGEST_MANIFEST_FILE, as_of)
    rows: list[tuple[Any, date]] = []
    if ingested:
        bronze = set(partition_dates(lake, source, as_of))
        span = (as_of - min(ingested)).days + 1
        days = (min(ingested) + timedelta(days=k) for k in range(span))
        rows += [(pd.NA, d) for d in days if d not in ingested or d not in bronze]
        for day, path in _days_with(lake, source, layout.INCOMPLETE_FILE, as_of).items():
            if day in bronze:  # with no bronze the whole day is missing already
                sites = json.loads(lake.fs.cat_file(path)).get("missing_sites")
                rows += [(pd.NA, day)] if not sites else [(site, day) for site in sites]
    day_col = schema.MISSING_DAY
    out = pd.DataFrame(rows, columns=[schema.WAREHOUSE_ID, day_col]).astype({schema.WAREHOUSE_ID: "string"})
    out[day_col] = pd.to_datetime(out[day_col]).astype("datetime64[ns]")
    return out.sort_values([day_col, schema.WAREHOUSE_ID], na_position="first", ignore_index=True)


def _days_with(lake: Lake, source: str, name: str, as_of: date) -> dict[date, str]:
    """Day -> path of the quarantine partitions of ``source`` holding file ``name`` (one glob)."""
    root = lake.quarantine_root(source)
    found = lake.fs.glob(f"{strip_protocol(root)}/date=*/{name}") if lake.exists(root) else []
    days = {_day_of(path, source): path for path in found}
    return {d: p for d, p in sorted(days.items()) if d <= as_of}


def read_snapshot(lake: Lake, source: str, as_of: date, required: bool = True) -> pd.DataFrame:
    """The latest reference snapshot of ``source`` dated on or before ``as_of``.

    Raises InputError when ``required`` and there is none; else returns an empty frame.
    """
    contract = schema.CONTRACTS[source]
    days = partition_dates(lake, source, as_of)
    if not days:
        if required:
            raise InputError(
                f"no bronze {source} snapshot on or before {as_of} under "
                f"{join(lake.uri, 'bronze', source)}: ingest {source}.csv for a date <= {as_of}"
            )
        log.warning("no bronze %s snapshot on or before %s: treating it as empty", source, as_of)
        return _empty(contract)
    uri = lake.bronze_file(source, days[-1])
    df = lake.read_parquet(uri)
    return df[[c for c in contract.bronze_columns if c in df.columns]].reset_index(drop=True)


def _day_of(path: str, source: str) -> date:
    name = path.rstrip("/").rsplit("/", 2)[-2]
    return parse_date(name[len("date=") :], f"bronze partition {source}/{name}")


def _read_files(lake: Lake, files: list[str], contract: schema.Contract, base: str) -> pd.DataFrame:
    """Read many bronze parquet files as one frame with the bronze dtypes.

    One pyarrow dataset over the listed files, cast to the contract's Arrow schema, so a
    partition whose column is all null (null type) or stored as string instead of
    large_string still lines up; a column a file lacks reads as missing.
    """

    # local folders: pyarrow's native filesystem (threads, no Python I/O per file)
    fs = None if "://" not in lake.uri or lake.uri.startswith("file://") else lake.fs
    data = pads.dataset(files, schema=_arrow_schema(contract), format="parquet", filesystem=fs)
    try:
        table = data.to_table()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise InputError(
            f"bronze {contract.name} under {base}: a partition does not match the "
            f"{contract.name} contract ({exc}): re-ingest it"
        ) from exc
    # Arrow-backed strings: python-object strings cost ~1 s per 100k rows here
    return table.to_pandas(types_mapper=_bronze_dtype)


def _arrow_schema(contract: schema.Contract) -> Any:

    kinds = {
        "str": pa.large_string(),
        "int": pa.int64(),
        "float": pa.float64(),
        "bool": pa.bool_(),
        "date": pa.timestamp("ns"),
        "datetime": pa.timestamp("ns", tz="UTC"),
    }
    fields = []
    for raw, kind in contract.columns.items():
        name = contract.pii.get(raw) or contract.free_text.get(raw) or raw
        fields.append(pa.field(name, kinds["bool" if raw in contract.free_text else kind]))
    fields += [
        pa.field(schema.SOURCE_FILE, pa.large_string()),
        pa.field(schema.SOURCE_ROW, pa.int64()),
        pa.field(schema.INGEST_DATE, pa.timestamp("ns")),
    ]
    return pa.schema(fields)


def _bronze_dtype(dtype: Any) -> Any:
    """Arrow type -> the bronze pandas dtype (nullable ints and booleans, Arrow strings)."""

    if dtype in (pa.string(), pa.large_string()):
        return pd.StringDtype("pyarrow")
    if dtype == pa.int64():
        return pd.Int64Dtype()
    if dtype == pa.bool_():
        return pd.BooleanDtype()
    return None


def _empty(contract: schema.Contract) -> pd.DataFrame:
    dtypes = {"str": "string", "int": "Int64", "float": "float64", "bool": "boolean"}
    cols = {}
    for raw, kind in contract.columns.items():
        name = contract.pii.get(raw) or contract.free_text.get(raw) or raw
        if raw in contract.free_text:
            kind = "bool"
        if kind == "date":
            cols[name] = pd.Series([], dtype="datetime64[ns]")
        elif kind == "datetime":
            cols[name] = pd.Series([], dtype="datetime64[ns, UTC]")
        else:
            cols[name] = pd.Series([], dtype=dtypes[kind])
    cols[schema.SOURCE_FILE] = pd.Series([], dtype="string")
    cols[schema.SOURCE_ROW] = pd.Series([], dtype="Int64")
    cols[schema.INGEST_DATE] = pd.Series([], dtype="datetime64[ns]")
    return pd.DataFrame(cols)[contract.bronze_columns]
