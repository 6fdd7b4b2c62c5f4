"""A large day's validation in blocks: the suite per block, one verdict, files written in pieces.

``check_source`` takes this path when the day's bronze holds more than
``settings.validation.block_rows`` rows and the suite can be split (``splittable``). The
result is the one the whole frame gives (same verdict, counts, quarantine rows and reasons,
bronze rows in the same order), with about one block of rows in memory:

- the input is bronze read in row batches, cut where the first key column changes (bronze
  is sorted by key: equal keys share a block, so a uniqueness check on the key is exact
  per block), with the rows an earlier validation quarantined merged back in key order
  (``validation_inputs.input_frame``'s frame, block by block);
- pass 1: the suite per block without its row-count expectations, which run once on an
  N-row frame without columns; the results are summed (counts) and joined (offending row
  positions, offset by the block's start) into one ``SuiteResult``; sites held back in
  the warehouses snapshot are masked per block; ``validation.judge`` gives the verdict;
- each block is settled as it is checked (good rows to a new bronze file, held rows with
  their reasons to the quarantine file, both through ``parquet_stream.RowGroupWriter`` in a
  temp folder); only a batch failure, known at the end, reads the blocks again (pass 2) to
  hold every row back. The files then move into the lake; the manifest's sha256 is the
  new bronze file's.

Data Docs show the first block's GX result with every expectation's counts and success
replaced by the whole day's (offending-value samples come from the first failing block).
A suite with an aggregate expectation (a mean, a distinct-value set, uniqueness of a column
other than the key's first) is not splittable: that day is validated whole, with a note.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from forecasting.core.config import Settings
from forecasting.core.lake import Lake
from forecasting.core.schema import REASON, SOURCE_FILE, SOURCE_ROW, Contract
from forecasting.ingest.parquet_stream import RowGroupWriter
from forecasting.validation.gx.suite_results import ExpectationResult, SuiteResult, join_blocks
from forecasting.validation.gx.suites import expectation_name, load_suite, validate_frame
from forecasting.validation.inputs import lake_sha256, suite_parameters, validated_bronze
from forecasting.validation.results import CRITICAL, SourceValidation
from forecasting.validation.silence import rows_per_site, with_silence
from forecasting.validation.verdict import judge, record, row_reasons, rows_of_held_sites

ROW_COUNT_TYPES = frozenset({"expect_table_row_count_to_be_between", "expect_table_row_count_to_equal"})
_PER_ROW = ("expect_column_values_", "expect_column_pair_values_", "expect_multicolumn_",
            "expect_select_column_values_", "expect_table_columns_", "expect_column_to_exist",
            "expect_table_column_count_")  # fmt: skip
_ARROW_STRINGS = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}


def bronze_rows(lake: Lake, contract: Contract, day: date) -> int:
    """Rows in the day's bronze file (its Parquet footer), 0 when there is none."""
    uri = lake.bronze_file(contract.name, day)
    if not lake.exists(uri):
        return 0
    with lake.open(uri) as fh:
        return pq.ParquetFile(fh).metadata.num_rows


def splittable(suite: dict[str, Any], contract: Contract) -> str | None:
    """None when every expectation of ``suite`` can run block by block; else why not."""
    first = contract.key[0]
    for exp in suite["expectations"]:
        kind, kw = exp["type"], exp.get("kwargs", {})
        if kind in ROW_COUNT_TYPES:
            continue
        if kind == "expect_column_values_to_be_unique":
            ok = kw.get("column") == first
        elif kind == "expect_compound_columns_to_be_unique":
            ok = first in kw.get("column_list", [])
        else:
            ok = kind.startswith(_PER_ROW)
        if not ok:
            return f"{kind} needs the whole day at once"
    return None


def check_streamed(settings: Settings, lake: Lake, contract: Contract,
                   day: date) -> tuple[SourceValidation, SuiteResult]:  # fmt: skip
    """``validation.check_source`` for a large day, in blocks (see the module doc)."""
    source, rows = contract.name, settings.validation.block_rows
    ours = validated_bronze(lake, contract, day, lake_sha256(lake, lake.bronze_file(source, day)))
    quarantine_uri = lake.validation_quarantine(source, day)
    held = None
    if ours and lake.exists(quarantine_uri):
        with lake.open(quarantine_uri) as fh:
            held = pq.read_table(fh).drop_columns([REASON])
    params, param_notes = suite_parameters(settings, lake, contract, day)
    notes: list[str] = []
    site: list[np.ndarray] = []
    per_site: list[pd.Series] = []
    work = tempfile.mkdtemp(prefix=f"riskcast-validate-{source}-{day}-")
    try:
        out = [os.path.join(work, name) for name in ("bronze.parquet", "held.parquet")]
        with RowGroupWriter(out[0]) as good, RowGroupWriter(out[1]) as bad:

            def settle_block(frame: pd.DataFrame, start: int, res: SuiteResult) -> None:
                """Pass 1 settles every block as if no batch failure were to come."""
                reasons = row_reasons(res, frame.index)
                site.append(rows_of_held_sites(lake, contract, day, frame, reasons, notes))
                per_site.append(rows_per_site(frame))
                _write_block(frame, reasons, good, bad)

            result = run_suite(input_blocks(lake, contract, day, rows, held), source, params, settle_block)
        site_held = np.concatenate(site) if site else np.zeros(0, dtype=bool)
        today = pd.concat(per_site).groupby(level=0).sum() if per_site else pd.Series(dtype="float64")
        result = with_silence(settings, lake, contract, day, today, result, notes)
        sv, _, batch = judge(settings, source, day, result, result.bad_rows() | site_held, site_held,
                             (notes, param_notes))  # fmt: skip
        if batch:  # pass 2: every row is held back, naming the batch failure
            out = [os.path.join(work, name) for name in ("none.parquet", "all.parquet")]
            with RowGroupWriter(out[0]) as good, RowGroupWriter(out[1]) as bad:
                start = 0
                for frame in input_blocks(lake, contract, day, rows, held):
                    reasons = row_reasons(result, frame.index, start)
                    rows_of_held_sites(lake, contract, day, frame, reasons, [])
                    _write_block(frame, (reasons + "; " + batch).fillna(batch), good, bad)
                    start += len(frame)
        digest = _publish(lake, contract, day, sv, out[0], out[1])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    record(lake, source, day, sv, digest)
    return sv, result


def input_blocks(lake: Lake, contract: Contract, day: date, block_rows: int,
                 held: pa.Table | None) -> Iterator[pd.DataFrame]:  # fmt: skip
    """The day's input frame (bronze + ``held``, the earlier validation's quarantine without
    its reason) in blocks of about ``block_rows`` rows, cut where the first key column changes."""
    key, order = contract.key[0], [*contract.key, SOURCE_FILE, SOURCE_ROW]
    taken = 0
    with lake.open(lake.bronze_file(contract.name, day)) as fh:
        pfile = pq.ParquetFile(fh)
        schema = pfile.schema_arrow
        if held is not None:
            held = held.select(schema.names).cast(schema)
            held = held.take(pc.sort_indices(held, sort_keys=[(c, "ascending", "at_end") for c in order]))
        carry = None
        batches = pfile.iter_batches(batch_size=block_rows, use_threads=False)
        for batch in batches:
            table = pa.Table.from_batches([batch], schema=schema)
            table = table if carry is None else pa.concat_tables([carry, table])
            start = _last_group(table[key])
            if start == 0:
                carry = table
                continue
            carry = table.slice(start)
            part, now = _merged(table.slice(0, start), held, taken, key, last=False)
            yield _frame(part, order, now > taken)
            taken = now
        rest = carry if carry is not None else schema.empty_table()
        part, now = _merged(rest, held, taken, key, last=True)
        yield _frame(part, order, now > taken)


def _last_group(col: pa.ChunkedArray) -> int:
    """Where the run of values equal to the last one starts (nulls equal each other)."""
    last = col[-1]
    same = col.is_null() if not last.is_valid else pc.fill_null(pc.equal(col, last), False)
    other = np.flatnonzero(~same.to_numpy(zero_copy_only=False))
    return int(other[-1]) + 1 if len(other) else 0


def _merged(block: pa.Table, held: pa.Table | None, taken: int, key: str,
            last: bool) -> tuple[pa.Table, int]:  # fmt: skip
    """``block`` plus the ``held`` rows (from ``taken`` on) whose key is at most its last key."""
    if held is None or taken >= held.num_rows:
        return block, taken
    rest = held.slice(taken)
    if last:
        n = rest.num_rows
    elif not block.num_rows or not block[key][-1].is_valid:
        n = 0
    else:
        n = int(pc.sum(pc.less_equal(rest[key], block[key][-1])).as_py() or 0)
    return (pa.concat_tables([block, rest.slice(0, n)]) if n else block), taken + n


def _frame(table: pa.Table, order: list[str], merged: bool) -> pd.DataFrame:
    """Bronze rows with ``input_frame``'s dtypes but Arrow-backed strings (no Python string
    per cell: the suite checks them so anyway), sorted when rows were merged in (bronze
    itself is written in key order)."""
    frame = table.to_pandas(types_mapper=_ARROW_STRINGS.get)
    if not merged:
        return frame
    return frame.sort_values(order, kind="mergesort", na_position="last", ignore_index=True)


# ---------------------------------------------------------------------------- pass 1
def run_suite(frames: Iterator[pd.DataFrame], source: str, params: dict[str, Any],
              on_block: Any) -> SuiteResult:  # fmt: skip
    """The suite on every block (row counts once, on the total); ``on_block(frame, start,
    block_result)`` sees each block. Offending rows are positions in the whole day's input."""
    per_block = {}
    first, start = None, 0
    for frame in frames:
        res = validate_frame(frame, source, params, only=lambda e: e["type"] not in ROW_COUNT_TYPES)
        on_block(frame, start, res)
        for e in res.expectations:
            per_block.setdefault(e.name, []).append((e, start))
        first = first or res
        _trim(res)
        start += len(frame)
    counted = validate_frame(
        pd.DataFrame(index=pd.RangeIndex(start)), source, params, only=lambda e: e["type"] in ROW_COUNT_TYPES
    )
    results = [join_blocks(parts) for parts in per_block.values()] + counted.expectations
    order = {expectation_name(e): i for i, e in enumerate(load_suite(source)["expectations"])}
    results.sort(key=lambda r: order[r.name])
    notes = list(dict.fromkeys([*first.notes, *counted.notes]))
    out = SuiteResult(source, start, results, notes, None, first.gx_suite)
    out.gx_result = _docs_result(first.gx_result, counted.gx_result, results)
    return out


def _trim(res: SuiteResult) -> None:
    """Drop a block's GX offending-value lists beyond a sample (positions are kept apart)."""
    if res.gx_result is None:
        return
    for r in res.gx_result.results:
        for k, v in list((r.result or {}).items()):
            if isinstance(v, list) and k.startswith("unexpected") and len(v) > 20:
                r.result[k] = v[:20]


def _docs_result(first: Any, counted: Any, results: list[ExpectationResult]) -> Any:
    """The first block's GX result with the whole day's success and counts (for Data Docs)."""
    if first is None:
        return None
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
    )

    by_name = {r.name: r for r in results}
    rows = list(first.results) + list(counted.results if counted is not None else [])
    out = []
    for r in rows:
        config = r.expectation_config
        e = by_name.get(expectation_name({"type": config.type, "kwargs": config.kwargs, "meta": config.meta}))
        r = copy.deepcopy(r)
        if e is not None:
            r.success = e.success
            res = r.result or {}
            for name in ("element_count", "unexpected_count"):
                if name in res and getattr(e, name) is not None:
                    res[name] = getattr(e, name)
            if res.get("element_count"):
                res["unexpected_percent"] = 100.0 * (res.get("unexpected_count") or 0) / res["element_count"]
            res.pop("unexpected_index_list", None)
        out.append(r)
    done = sum(r.success for r in out)
    stats = {"evaluated_expectations": len(out), "successful_expectations": done,
             "unsuccessful_expectations": len(out) - done,
             "success_percent": 100.0 * done / len(out) if out else None}  # fmt: skip
    return ExpectationSuiteValidationResult(
        success=done == len(out), results=out, suite_name=first.suite_name,
        suite_parameters=first.suite_parameters, statistics=stats, meta=dict(first.meta),
    )  # fmt: skip


# ---------------------------------------------------------------------------- files
def _write_block(frame: pd.DataFrame, reasons: pd.Series, good: RowGroupWriter, bad: RowGroupWriter) -> None:
    """Rows without a reason -> ``good``; the others, with their reason -> ``bad``; as the
    whole path's ``to_parquet`` of ``input_frame`` rows writes them (``_as_written``)."""
    held = reasons.notna().to_numpy()
    good.write(_as_written(frame[~held]))
    if held.any():
        bad.write(_as_written(frame[held].assign(**{REASON: reasons[held].astype("string")})))


def _as_written(frame: pd.DataFrame) -> pa.Table:
    """``frame`` as Arrow with the types and pandas metadata of the same rows held in
    Python-string columns (what ``DataFrame.to_parquet`` of ``input_frame`` rows writes)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    python = frame.head(0).astype({c: "string" for c, t in frame.dtypes.items() if isinstance(t, pd.StringDtype)})
    schema = pa.Table.from_pandas(python, preserve_index=False).schema
    return table.cast(schema.remove_metadata()).replace_schema_metadata(schema.metadata)


def _publish(lake: Lake, contract: Contract, day: date, sv: SourceValidation, bronze: str,
             held: str) -> str | None:  # fmt: skip
    """Move the written files into the lake (no bronze on a batch failure, no quarantine
    without held rows); the new bronze file's sha256, None when it was removed."""
    quarantine_uri = lake.validation_quarantine(contract.name, day)
    if sv.quarantined_rows:
        sv.quarantine_uri = lake.put_file(held, quarantine_uri)
    elif lake.exists(quarantine_uri):
        lake.remove(quarantine_uri)
    if sv.status == CRITICAL:
        lake.remove(lake.bronze(contract.name, day))
        return None
    sv.bronze_uri = lake.put_file(bronze, lake.bronze_file(contract.name, day))
    return _file_sha256(bronze)


def _file_sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
