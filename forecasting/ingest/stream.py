"""A large source-day in bounded memory: blocks -> typed runs on disk -> key ranges -> bronze.

``ingest`` takes this path when a source-day's landing files hold more than
``settings.intake_block_bytes`` (a small day stays whole: one read, no disk round trip).
The output is the whole path's (``bronze.split_rows``), byte for byte: same bronze rows in
the same order, same Parquet row groups, same quarantine. How, with about one block in
memory at a time:

1. every file is read in blocks (``blocks.file_blocks``) and each block typed
   (``bronze.typed_rows``); its good rows (typed, lineage, and the values as they landed,
   for a duplicate's quarantine row) go to an Arrow IPC run file in a private temp folder;
   its bad rows join the quarantine (held in memory: rejected rows are the exception);
2. a sample of the first key column gives range boundaries, one range per block's worth
   of rows; every run is split by range into one bucket file per range. Equal keys share
   a range, and a bucket holds its rows in (file, row) order;
3. bucket by bucket, in key order: a stable sort by key, exact duplicates out (they share
   a key, hence a bucket), bronze columns (PII protected), appended to one Parquet writer
   that cuts row groups as ``pyarrow.parquet.write_table`` does (``parquet_stream``).

Per-file counts are kept all along and reconciled (``bronze.reconcile``) before anything is
written to the lake. The temp folder is removed whatever happens.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from forecasting.core.lake import Lake
from forecasting.core.schema import SOURCE_FILE, SOURCE_ROW, Contract
from forecasting.ingest.blocks import file_blocks
from forecasting.ingest.bronze import (
    bronze_rows,
    empty_typed,
    file_counts,
    find_duplicates,
    in_key_order,
    parquet_options,
    quarantine_table,
    raw_part,
    reconcile,
    sort_by_key,
    typed_rows,
)
from forecasting.ingest.parquet_stream import RowGroupWriter
from forecasting.ingest.raw import flag_blank
from forecasting.ingest.screen import Screen
from forecasting.ingest.unpack import DEFAULT_CAPS, Caps

SAMPLE_PER_BLOCK = 4096  # key values sampled per block for the range boundaries


@dataclass
class Streamed:
    """What a streamed source-day gave: ``bronze_path`` (a local Parquet file, removed when
    the context ends), the quarantine table, counts reconciled per file, warnings."""

    bronze_path: str
    accepted: int = 0
    quarantine: pa.Table | None = None
    duplicates: int = 0
    read: int = 0
    file_rows: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@contextmanager
def streamed_split(
    landing: Lake,
    files: list[tuple[str, str]],
    contract: Contract,
    key: bytes | None,
    day: date,
    block_bytes: int,
    caps: Caps = DEFAULT_CAPS,
    screen: Screen | None = None,
) -> Iterator[Streamed]:
    """Split the day's ``files`` [(name, uri)] into bronze + quarantine (see the module doc);
    ``caps``: how far a file may expand (``unpack.Caps``); ``screen``: the PII screen."""
    work = tempfile.mkdtemp(prefix=f"riskcast-{contract.name}-{day}-")
    try:
        yield _split(work, landing, files, contract, key, day, block_bytes, caps, screen)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _split(work: str, landing: Lake, files: list[tuple[str, str]], contract: Contract,
           key: bytes | None, day: date, block_bytes: int, caps: Caps, screen: Screen | None) -> Streamed:  # fmt: skip
    out = Streamed(os.path.join(work, "bronze.parquet"))
    reads: dict[str, int] = {}
    blank: set[str] = set()
    parts: list[pa.Table] = []
    runs: list[_Run] = []
    for name, uri in files:
        reads[name] = 0
        for raw in file_blocks(landing, name, uri, contract, block_bytes, caps):
            good, _, held = typed_rows(raw, contract, screen)
            parts.extend(held)
            reads[name] += raw.read
            blank.update([name] if raw.blank else [])
            out.warnings.extend(raw.warnings)
            if good.num_rows:
                runs.append(_Run.spill(os.path.join(work, f"run-{len(runs):06d}.arrow"), good, contract))
    dups: dict[str, list[tuple[int, str]]] = {}
    accepted: Counter[str] = Counter()
    with RowGroupWriter(out.bronze_path, partial(parquet_options, unique=contract.key)) as writer:
        for bucket in _buckets(work, runs, contract.key[0]):
            table = sort_by_key(_read_ipc(bucket), contract)
            dup, reasons = find_duplicates(table, contract)
            if dup.any():
                held_rows = table.filter(pa.array(dup))
                names, rows = held_rows[SOURCE_FILE].to_pylist(), held_rows[SOURCE_ROW].to_pylist()
                for name, row, reason in zip(names, rows, reasons, strict=True):
                    dups.setdefault(name, []).append((row, reason))
                table = table.filter(pa.array(~dup))
                out.duplicates += int(dup.sum())
            writer.write(bronze_rows(table, contract, key, day))
            accepted.update(file_counts(table))
        if not writer.rows:
            writer.write(bronze_rows(empty_typed(contract), contract, key, day))
        out.accepted = writer.rows
    parts.extend(_landed(landing, [f for f in files if f[0] in dups], contract, block_bytes, dups, caps, screen))
    out.quarantine = quarantine_table(parts, contract, key, day)
    out.read = sum(reads.values())
    out.file_rows = flag_blank(reconcile(reads, accepted, file_counts(out.quarantine)), blank)
    return out


def _landed(landing: Lake, files: list[tuple[str, str]], contract: Contract, block_bytes: int,
            wanted: dict[str, list[tuple[int, str]]], caps: Caps, screen: Screen | None) -> list[pa.Table]:  # fmt: skip
    """Quarantine rows for duplicates, with their values as they landed (screened): the files
    read again (only those holding a duplicate; duplicates are rare and the runs keep typed
    values only)."""
    parts = []
    for name, uri in files:
        rows_, reasons = zip(*sorted(wanted[name]), strict=True)
        rows = np.asarray(rows_, dtype=np.int64)
        for raw in file_blocks(landing, name, uri, contract, block_bytes, caps):
            sel = np.flatnonzero(np.isin(rows, raw.rows))
            if len(sel):
                if screen is not None:
                    screen.scrub(raw, contract)
                local = np.searchsorted(raw.rows, rows[sel])  # raw.rows is ascending
                parts.append(raw_part(raw, local, [reasons[j] for j in sel], contract))
    return parts


@dataclass
class _Run:
    """A block's typed good rows on disk; whether they are in key order, the first key
    column's first and last value, and a sample of it."""

    path: str
    rows: int
    in_order: bool
    low: pa.Scalar
    high: pa.Scalar
    sample: pa.Array

    @classmethod
    def spill(cls, path: str, good: pa.Table, contract: Contract) -> _Run:
        first = good[contract.key[0]]
        return cls(_write_ipc(path, good), good.num_rows, in_key_order(good, contract.key),
                   first[0], first[-1], _sample(first))  # fmt: skip


# ---------------------------------------------------------------------------- key ranges
def _sample(col: pa.ChunkedArray) -> pa.Array:
    """Evenly spaced non-null values of ``col`` (at most ``SAMPLE_PER_BLOCK``)."""
    values = col.drop_null().combine_chunks() if col.null_count else col.combine_chunks()
    step = max(len(values) // SAMPLE_PER_BLOCK, 1)
    return values.take(pa.array(np.arange(0, len(values), step)))


def _boundaries(runs: list[_Run], ranges: int) -> list[pa.Scalar]:
    """``ranges - 1`` ascending distinct boundaries from the sample's quantiles (fewer on ties)."""
    if ranges <= 1:
        return []
    values = pa.concat_arrays([run.sample for run in runs])
    values = values.take(pc.sort_indices(values))
    if not len(values):
        return []
    picks = [values[len(values) * i // ranges] for i in range(1, ranges)]
    out: list[pa.Scalar] = []
    for value in picks:
        if not out or pc.greater(value, out[-1]).as_py():
            out.append(value)
    return out


def _buckets(work: str, runs: list[_Run], col: str) -> Iterator[str | list[str]]:
    """Bucket files in key order; equal keys share one. Runs in key order one after the other
    (a sorted export) are the buckets; else key ranges (bound[i-1], bound[i]], nulls last,
    of about one run's rows each (one range: all runs, in order)."""
    if all(run.in_order for run in runs) and all(
        pc.less(a.high, b.low).as_py() for a, b in zip(runs, runs[1:], strict=False)
    ):
        yield from (run.path for run in runs)
        return
    largest = max(run.rows for run in runs)
    bounds = _boundaries(runs, math.ceil(sum(run.rows for run in runs) / largest))
    if not bounds:
        yield [run.path for run in runs]
        return
    paths = [os.path.join(work, f"bucket-{i:06d}.arrow") for i in range(len(bounds) + 1)]
    writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
    try:
        for run in runs:
            table = _read_ipc(run.path)
            ids = np.zeros(table.num_rows, dtype=np.int32)
            for bound in bounds:
                above = pc.fill_null(pc.greater(table[col], bound), True)
                ids += above.to_numpy(zero_copy_only=False)
            order = np.argsort(ids, kind="stable")
            table, counts = table.take(pa.array(order)), np.bincount(ids, minlength=len(paths))
            start = 0
            for i in np.flatnonzero(counts):
                if i not in writers:
                    writers[i] = pa.ipc.new_file(paths[i], table.schema)
                writers[i].write_table(table.slice(start, counts[i]))
                start += counts[i]
            del table
            os.remove(run.path)
    finally:
        for writer in writers.values():
            writer.close()
    yield from (paths[i] for i in sorted(writers))


# ---------------------------------------------------------------------------- files
def _write_ipc(path: str, table: pa.Table) -> str:
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    return path


def _read_ipc(path: str | list[str]) -> pa.Table:
    """The rows of one IPC file or several in order (memory-mapped: read, not copied)."""
    paths = [path] if isinstance(path, str) else path
    tables = []
    for one in paths:
        with pa.memory_map(one) as source:
            tables.append(pa.ipc.open_file(source).read_all())
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]
