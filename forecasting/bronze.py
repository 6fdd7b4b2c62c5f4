"""Bronze and quarantine frames: key order, exact-duplicate detection, PII protection, dtypes.

Arrow tables in, pandas frames out (what ``Lake.write_parquet`` takes). Bronze dtypes:
str -> ``string``, int -> ``Int64``, float -> ``float64``, bool -> ``boolean``, date ->
``datetime64[ns]``, datetime -> ``datetime64[ns, UTC]``; lineage ``source_file``
(``string``), ``source_row`` (``Int64``), ``ingest_date`` (``datetime64[ns]``).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from forecasting.coercion import ARROW_TYPES
from forecasting.pii import pseudonymise_array
from forecasting.schema import INGEST_DATE, REASON, SOURCE_FILE, SOURCE_ROW, Contract

_PANDAS_TYPES = {
    pa.string(): pd.StringDtype("pyarrow"),
    pa.large_string(): pd.StringDtype("pyarrow"),
    pa.int64(): pd.Int64Dtype(),
    pa.bool_(): pd.BooleanDtype(),
}


def empty_typed(contract: Contract, extra_int_columns: list[str] = ()) -> pa.Table:
    """Zero rows with the typed contract columns, lineage and ``extra_int_columns``."""
    cols = {c: pa.array([], ARROW_TYPES[k]) for c, k in contract.columns.items()}
    cols[SOURCE_FILE] = pa.array([], pa.string())
    cols[SOURCE_ROW] = pa.array([], pa.int64())
    cols.update({c: pa.array([], pa.int64()) for c in extra_int_columns})
    return pa.table(cols)


def sort_by_key(table: pa.Table, contract: Contract) -> pa.Table:
    """Rows ordered by business key, then ``source_file``, ``source_row`` (nulls last)."""
    keys = [(c, "ascending", "at_end") for c in (*contract.key, SOURCE_FILE, SOURCE_ROW)]
    return table.take(pc.sort_indices(table, sort_keys=keys))


def find_duplicates(table: pa.Table, contract: Contract) -> tuple[np.ndarray, list[str]]:
    """Exact duplicates in a key-sorted table: (bool mask, one reason per duplicate row).

    A duplicate has the same business key and the same value in every contract column
    (free text and PII included) as an earlier row; the reason names that row's file and
    row. Only rows whose key repeats are compared, so a clean day costs one pass.
    """
    n = table.num_rows
    dup = np.zeros(n, dtype=bool)
    if n < 2:
        return dup, []
    same = np.ones(n - 1, dtype=bool)
    for col in contract.key:
        arr = table[col].combine_chunks()
        nxt, prev = arr.slice(1), arr.slice(0, n - 1)
        equal = pc.or_(
            pc.fill_null(pc.equal(nxt, prev), False), pc.and_(nxt.is_null(), prev.is_null())
        )
        same &= equal.to_numpy(zero_copy_only=False)
    candidates = np.zeros(n, dtype=bool)
    candidates[1:] |= same
    candidates[:-1] |= same
    idx = np.flatnonzero(candidates)
    if not len(idx):
        return dup, []
    cols = list(contract.columns)
    sub = table.take(pa.array(idx)).select([*cols, SOURCE_FILE, SOURCE_ROW]).to_pandas()
    repeat = sub.duplicated(subset=cols, keep="first").to_numpy()
    group = sub.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
    first: dict[int, int] = {}
    reasons = []
    for j in range(len(sub)):
        if not repeat[j]:
            first.setdefault(group[j], j)
            continue
        f = first[group[j]]
        reasons.append(f"duplicate of {sub[SOURCE_FILE].iat[f]} row {sub[SOURCE_ROW].iat[f]}")
    dup[idx[repeat]] = True
    return dup, reasons


def quarantine_part(
    values: pa.Table, reasons: list[str], source_file: str, rows: np.ndarray
) -> pa.Table:
    """Rejected rows of one file: raw string contract columns + reason and lineage."""
    n = values.num_rows
    return (
        values.append_column(REASON, pa.array(reasons, pa.string()))
        .append_column(SOURCE_FILE, pa.array([source_file] * n, pa.string()))
        .append_column(SOURCE_ROW, pa.array(np.asarray(rows, dtype=np.int64)))
    )


def bronze_frame(table: pa.Table, contract: Contract, key: bytes | None, day: date) -> pd.DataFrame:
    """Typed, key-sorted rows -> the bronze frame (``contract.bronze_columns``)."""
    cols = _protect(table, contract, key)
    cols[SOURCE_FILE] = table[SOURCE_FILE]
    cols[SOURCE_ROW] = table[SOURCE_ROW]
    cols[INGEST_DATE] = _day_column(day, table.num_rows)
    return pa.table(cols).to_pandas(types_mapper=_PANDAS_TYPES.get)


def quarantine_frame(
    parts: list[pa.Table], contract: Contract, key: bytes | None, day: date
) -> pd.DataFrame:
    """Quarantine parts -> one frame sorted by ``source_file``, ``source_row``.

    Columns: the bronze value columns as raw strings (pseudonym for PII, flag for free
    text), ``reason``, ``source_file``, ``source_row``, ``ingest_date``.
    """
    if parts:
        table = pa.concat_tables(parts)
    else:
        table = quarantine_part(
            pa.table({c: pa.array([], pa.string()) for c in contract.columns}), [], "", np.zeros(0)
        )
    order = pc.sort_indices(
        table, sort_keys=[(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]
    )
    table = table.take(order)
    cols = _protect(table, contract, key)
    cols[REASON] = table[REASON]
    cols[SOURCE_FILE] = table[SOURCE_FILE]
    cols[SOURCE_ROW] = table[SOURCE_ROW]
    cols[INGEST_DATE] = _day_column(day, table.num_rows)
    return pa.table(cols).to_pandas(types_mapper=_PANDAS_TYPES.get)


def _protect(
    table: pa.Table, contract: Contract, key: bytes | None
) -> dict[str, pa.ChunkedArray | pa.Array]:
    """Value columns in bronze order: PII -> pseudonym, free text -> filled flag."""
    out: dict[str, pa.ChunkedArray | pa.Array] = {}
    for col in contract.columns:
        arr = table[col]
        if col in contract.pii:
            if key is None:  # a contract with PII always gets a key; guard the invariant
                raise AssertionError(f"no PII key for {contract.name}.{col}")
            out[contract.pii[col]] = pseudonymise_array(arr, key)
        elif col in contract.free_text:
            filled = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0)
            out[contract.free_text[col]] = pc.fill_null(filled, False)
        else:
            out[col] = arr
    return out


def _day_column(day: date, n: int) -> pa.Array:
    return pa.array(np.full(n, np.datetime64(day.isoformat(), "ns")), pa.timestamp("ns"))
