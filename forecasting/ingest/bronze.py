"""Raw files -> the bronze and quarantine tables: typing, exact duplicates, PII, key order.

Both tables stay in Arrow (no pandas round trip: that alone would cost more than the
rest of ingest) and are written with pandas metadata, so ``pd.read_parquet`` /
``Lake.read_parquet`` give these dtypes: str -> ``string``, int -> ``Int64``, float ->
``float64``, bool -> ``boolean``, date -> ``datetime64[ns]``, datetime ->
``datetime64[ns, UTC]``; lineage ``source_file`` (``string``), ``source_row`` (``Int64``),
``ingest_date`` (``datetime64[ns]``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forecasting.core.errors import DataContractError
from forecasting.core.schema import INGEST_DATE, RAW_LINE, REASON, SOURCE_FILE, SOURCE_ROW, Contract
from forecasting.ingest.coercion import ARROW_TYPES, coerce_table, raw_strings
from forecasting.ingest.parquet_stream import ROW_GROUP
from forecasting.ingest.pii import pseudonymise_array
from forecasting.ingest.raw import RawFile, flag_blank
from forecasting.ingest.screen import Screen

_PANDAS_DTYPES = {
    pa.string(): "string",
    pa.int64(): "Int64",
    pa.float64(): "float64",
    pa.bool_(): "boolean",
    pa.timestamp("ns"): "datetime64[ns]",
    pa.timestamp("ns", "UTC"): "datetime64[ns, UTC]",
}


@dataclass
class Split:
    """Where the rows read went: ``bronze`` (``contract.bronze_columns``, key-sorted),
    ``quarantine`` (bronze value columns as raw strings + ``reason`` and lineage, sorted
    by file and row) and how many quarantined rows are exact duplicates."""

    bronze: pa.Table
    quarantine: pa.Table
    duplicates: int


def split_rows(raws: list[RawFile], contract: Contract, key: bytes | None, day: date,
               screen: Screen | None = None) -> Split:  # fmt: skip
    """Type every file's rows, quarantine bad rows and exact duplicates, protect PII (the
    contract's PII columns, and what the ``screen`` finds in any other).

    ``raws`` must be in file-name order: rows are then already in (file, row) order and a
    stable sort on the business key alone gives key, file, row order.
    """
    goods, parts = [], []
    for raw in raws:
        good, _, held = typed_rows(raw, contract, screen)
        goods.append(good)
        parts.extend(held)
    good = sort_by_key(pa.concat_tables(goods) if goods else empty_typed(contract), contract)
    dup, reasons = find_duplicates(good, contract)
    if dup.any():
        parts.extend(_duplicate_parts(good.filter(pa.array(dup)), reasons, raws, contract))
        good = good.filter(pa.array(~dup))
    return Split(bronze_rows(good, contract, key, day), quarantine_table(parts, contract, key, day), int(dup.sum()))


def typed_rows(raw: RawFile, contract: Contract, screen: Screen | None = None) -> tuple[pa.Table, np.ndarray, list[pa.Table]]:
    """One file's (or block's) rows typed: (good rows with lineage, bool mask of the raw
    table's bad rows, quarantine parts for the bad and the unsplittable rows). The ``screen``
    first hides personal data in ``raw`` itself: what is held or quoted from it is screened."""
    held = screen.scrub(raw, contract) if screen is not None else None
    co = coerce_table(raw.table, contract, raw.marker, screen, held)
    for col, cells in co.withheld.items():  # typed cells holding personal data: stored empty
        raw.table = raw.table.set_column(raw.table.column_names.index(col), col, screen.hide(raw.table[col], cells, False))
    raw.warnings += [
        f"{raw.name}: {n} {col} value(s) held undecodable (non-UTF-8) bytes and were emptied; "
        "the rows were kept (an optional field): fix the export's encoding"
        for col, n in co.nulled.items()
    ]
    good = co.table if not co.bad.any() else co.table.filter(pa.array(~co.bad))
    good = good.append_column(SOURCE_FILE, pa.repeat(pa.scalar(raw.name), len(good)))
    good = good.append_column(SOURCE_ROW, pa.array(raw.rows[~co.bad]))
    parts = []
    bad = np.flatnonzero(co.bad)
    if len(bad):
        parts.append(raw_part(raw, bad, [co.reasons[j] for j in bad], contract))
    if raw.rejects:
        parts.append(_rejects_part(raw, contract))
    return good, co.bad, parts


def bronze_rows(good: pa.Table, contract: Contract, key: bytes | None, day: date) -> pa.Table:
    """Typed, key-sorted, deduplicated rows -> bronze columns (PII protected, lineage)."""
    bronze = _protect(good, contract, key)
    bronze[SOURCE_FILE], bronze[SOURCE_ROW] = good[SOURCE_FILE], good[SOURCE_ROW]
    bronze[INGEST_DATE] = _day_column(day, good.num_rows)
    return pa.table(bronze)


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


def parquet_bytes(table: pa.Table, unique: tuple[str, ...] = ()) -> bytes:
    """Parquet bytes of ``table`` with the pandas metadata its dtypes map to (see module doc)."""
    meta, repeated = parquet_options(table.schema, unique)
    buf = io.BytesIO()
    pq.write_table(
        table.replace_schema_metadata(meta), buf, use_dictionary=repeated, row_group_size=ROW_GROUP
    )
    return buf.getvalue()


def parquet_options(schema: pa.Schema, unique: tuple[str, ...] = ()) -> tuple[dict, list[str]]:
    """(schema metadata, dictionary-encoded columns) of a bronze or quarantine file.

    Only string columns other than ``unique`` (the business key) are dictionary-encoded:
    trying it on near-unique ids, numbers and instants costs ~20% of the write for nothing.
    """
    empty = pd.DataFrame({f.name: pd.Series([], dtype=_PANDAS_DTYPES[f.type]) for f in schema})
    meta = pa.Table.from_pandas(empty, preserve_index=False).schema.metadata
    repeated = [f.name for f in schema if pa.types.is_string(f.type) and f.name not in unique]
    return meta, repeated


# ---------------------------------------------------------------------------- helpers
def sort_by_key(table: pa.Table, contract: Contract) -> pa.Table:
    """Rows in key order (nulls last), stable: rows in (file, row) order stay so on ties."""
    if in_key_order(table, contract.key):
        return table  # typical for exports: skip the sort and the gather
    order = pc.sort_indices(table, sort_keys=[(c, "ascending", "at_end") for c in contract.key])
    return table.take(order)


def in_key_order(table: pa.Table, key: tuple[str, ...]) -> bool:
    """Whether consecutive rows never decrease in the key (one pass, no nulls in the key)."""
    n = table.num_rows
    if n < 2:
        return True
    cols = [table[c].combine_chunks() for c in key]
    if any(c.null_count for c in cols):
        return False
    ok = None  # lexicographic: a[i] <= a[i+1], deciding on the last key column only on ties
    for col in reversed(cols):
        prev, nxt = col.slice(0, n - 1), col.slice(1)
        if ok is None:
            ok = pc.less_equal(prev, nxt)
        else:
            ok = pc.or_(pc.less(prev, nxt), pc.and_(pc.equal(prev, nxt), ok))
    return bool(pc.all(ok).as_py())


def empty_typed(contract: Contract) -> pa.Table:
    cols = {c: pa.array([], ARROW_TYPES[k]) for c, k in contract.columns.items()}
    cols[SOURCE_FILE] = pa.array([], pa.string())
    cols[SOURCE_ROW] = pa.array([], pa.int64())
    return pa.table(cols)


def held_part(
    values: pa.Table,
    reasons: list[str],
    source_file: str,
    rows: np.ndarray,
    lines: pa.Array | None = None,
) -> pa.Table:
    """Rejected rows of one file: raw string contract columns, raw line, reason and lineage."""
    n = values.num_rows
    return (
        values.append_column(RAW_LINE, lines if lines is not None else pa.nulls(n, pa.string()))
        .append_column(REASON, pa.array(reasons, pa.string()))
        .append_column(SOURCE_FILE, pa.repeat(pa.scalar(source_file), n))
        .append_column(SOURCE_ROW, pa.array(np.asarray(rows, dtype=np.int64)))
    )


def raw_part(raw: RawFile, idx: np.ndarray, reasons: list[str], contract: Contract) -> pa.Table:
    """Rows ``idx`` of ``raw`` as quarantine rows: their values as they landed, ``reasons``."""
    values = raw_strings(raw.table.take(pa.array(idx)), list(contract.columns), raw.marker)
    return held_part(values, reasons, raw.name, raw.rows[idx])


def _rejects_part(raw: RawFile, contract: Contract) -> pa.Table:
    cols = {
        c: pa.array([r.values.get(c) for r in raw.rejects], pa.string()) for c in contract.columns
    }
    cols[RAW_LINE] = pa.array([r.line for r in raw.rejects], pa.string())
    values = raw_strings(pa.table(cols), [*contract.columns, RAW_LINE], raw.marker)
    rows = np.array([r.row for r in raw.rejects], np.int64)
    reasons = [r.reason for r in raw.rejects]
    return held_part(values.drop_columns([RAW_LINE]), reasons, raw.name, rows, values[RAW_LINE])


def _duplicate_parts(
    dups: pa.Table, reasons: list[str], raws: list[RawFile], contract: Contract
) -> list[pa.Table]:
    """Quarantine rows for duplicates, with their values as they landed."""
    by_name = {raw.name: raw for raw in raws}
    files = np.asarray(dups[SOURCE_FILE].to_pylist(), dtype=object)
    rows = dups[SOURCE_ROW].to_numpy()
    parts = []
    for name in sorted(set(files)):
        sel = np.flatnonzero(files == name)
        raw = by_name[name]
        local = np.searchsorted(raw.rows, rows[sel])  # raw.rows is ascending
        parts.append(raw_part(raw, local, [reasons[j] for j in sel], contract))
    return parts


def quarantine_table(
    parts: list[pa.Table], contract: Contract, key: bytes | None, day: date
) -> pa.Table:
    if parts:
        table = pa.concat_tables(parts)
    else:
        empty = pa.table({c: pa.array([], pa.string()) for c in contract.columns})
        table = held_part(empty, [], "", np.zeros(0))
    order = pc.sort_indices(
        table, sort_keys=[(SOURCE_FILE, "ascending"), (SOURCE_ROW, "ascending")]
    )
    table = table.take(order)
    out = _protect(table, contract, key)
    out[RAW_LINE] = _protect_line(table[RAW_LINE], contract, key)
    for col in (REASON, SOURCE_FILE, SOURCE_ROW):
        out[col] = table[col]
    out[INGEST_DATE] = _day_column(day, table.num_rows)
    return pa.table(out)


def _protect(table: pa.Table, contract: Contract, key: bytes | None) -> dict[str, Any]:
    """Value columns in bronze order: PII -> pseudonym, free text -> filled flag."""
    out: dict[str, Any] = {}
    for col in contract.columns:
        arr = table[col]
        if col in contract.pii:
            if key is None:  # a contract with PII always gets a key; guard the invariant
                raise AssertionError(f"no PII key for {contract.name}.{col}")
            out[contract.pii[col]] = pseudonymise_array(arr, key)
        elif col in contract.free_text:
            # predicates allocate no strings (unlike a trim); "" is not "all space"
            filled = pc.and_(pc.greater(pc.utf8_length(arr), 0), pc.invert(pc.utf8_is_space(arr)))
            out[contract.free_text[col]] = pc.fill_null(filled, False)
        else:
            out[col] = arr
    return out


def _protect_line(lines: pa.ChunkedArray, contract: Contract, key: bytes | None) -> pa.Array:
    """An unsplittable row's raw line: its pseudonym when the source carries PII or free text
    (any part of the line may be a name), else the line itself (fixing it needs the text)."""
    if not (contract.pii or contract.free_text):
        return lines.combine_chunks()
    if key is None:  # a contract with PII always gets a key; guard the invariant
        raise AssertionError(f"no PII key for {contract.name} raw lines")
    return pseudonymise_array(lines, key)


def _day_column(day: date, n: int) -> pa.Array:
    return pa.repeat(pa.scalar(np.datetime64(day.isoformat(), "ns"), pa.timestamp("ns")), n)


def account_rows(raws: list[RawFile], split: Split) -> dict[str, dict[str, int]]:
    """Per landing file: rows read, in bronze, in quarantine; raise if any row went missing.

    Every row read must land in exactly one of bronze and quarantine. A mismatch is a bug
    that would lose or invent data silently, so it fails the source-day (critical).
    """
    rows = reconcile({raw.name: raw.read for raw in raws}, file_counts(split.bronze),
                     file_counts(split.quarantine))  # fmt: skip
    return flag_blank(rows, {raw.name for raw in raws if raw.blank})


def reconcile(
    reads: dict[str, int], accepted: dict[str, int], held: dict[str, int]
) -> dict[str, dict[str, int]]:
    """``account_rows`` from counts: rows read per file, and per file in bronze / quarantine."""
    accepted, held = dict(accepted), dict(held)
    out = {}
    for name, read in reads.items():
        row = {"read": read, "accepted": accepted.pop(name, 0), "quarantined": held.pop(name, 0)}
        out[name] = row
        if row["read"] != row["accepted"] + row["quarantined"]:
            raise DataContractError(
                f"{name}: {row['read']} rows delivered but {row['accepted']} in bronze and "
                f"{row['quarantined']} in quarantine; nothing was written: report this ingest bug"
            )
    if accepted or held:
        raise DataContractError(
            f"rows attributed to no landing file of the day: {sorted({**accepted, **held})}; "
            "nothing was written: report this ingest bug"
        )
    return out


def file_counts(table: pa.Table) -> dict[str, int]:
    """Rows of ``table`` per ``source_file``."""
    if not table.num_rows:
        return {}
    counts = pc.value_counts(table[SOURCE_FILE].combine_chunks())
    return {v["values"].as_py(): v["counts"].as_py() for v in counts}
