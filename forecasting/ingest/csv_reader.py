"""CSV landing files -> ``RawFile``: Arrow's fast reader, and a line-resynchronising one.

Arrow's reader is used first. Its result is kept when every record is one physical line
(the common case). Otherwise (a quoted value spans lines: legitimately, or because a
quote was never closed, which makes Arrow read the rest of the file as one bad field)
the file is read again record by record: a quoted value may run over several lines only
when that gives one record with the header's field count; else the record's first line
alone is rejected and reading resumes at the next line. So no row after a quoting error
is lost, and every ``source_row`` stays the record's position in the file.

Rows whose fields may have shifted are rejected with their raw line only (``Reject.line``),
never split into columns: the shifted values could put PII into any column.
"""

from __future__ import annotations

import csv
import io

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from forecasting.core.errors import InputError
from forecasting.core.schema import Contract
from forecasting.ingest.raw import (
    BOM,
    TRUNCATED,
    RawFile,
    Reject,
    complete,
    decode,
    refuse_binary,
    select_columns,
)

MAX_RECORD_LINES = 100  # a quoted value longer than this many lines is a quoting error
SPLIT_WARNING = "row(s) could not be split into the header's fields"
UNBALANCED = "unbalanced quote: the quoted value does not close into a whole row"


def read_csv(name: str, data: bytes, contract: Contract, check_binary: bool = True) -> RawFile:
    """``check_binary=False``: a later block of a file (``blocks``) whose head was checked."""
    data = data[len(BOM) :] if data.startswith(BOM) else data
    if check_binary:
        refuse_binary(name, data, "CSV")
    data, marker = decode(data)
    data = data.lstrip(b"\r\n")
    if data.startswith(b"{"):
        raise InputError(
            f"{name}: is not a CSV file (it looks like JSON Lines); rename it to .jsonl"
        )
    end = data.find(b"\n")
    header_line = (data if end < 0 else data[:end]).rstrip(b"\r").decode("utf-8")
    header = next(csv.reader([header_line]))
    keep, warnings = select_columns(name, header, contract)
    fast = _read_arrow(data, header, keep)
    if fast is not None and fast[0].num_rows + len(fast[2]) == _physical_lines(data):
        table, rows, rejects = fast
    else:
        table, rows, rejects = _read_lines(data.split(b"\n")[1:], header, keep)
    table = complete(table, contract)
    if not data.endswith(b"\n") and len(rows) and (not rejects or rejects[-1].row < rows[-1]):
        # the last line has the right field count but no line end: it may be cut mid-value
        last = table.num_rows - 1
        values = {c: table[c][last].as_py() for c in keep}
        rejects.append(
            Reject(int(rows[-1]), f"{TRUNCATED} (no line end at the end of the file)", values)
        )
        table, rows = table.slice(0, last), rows[:-1]
    if rejects:
        warnings.append(f"{name}: {len(rejects)} {SPLIT_WARNING}")
    return RawFile(name, table, rows, rejects, warnings, marker)


def _physical_lines(data: bytes) -> int:
    """Non-blank lines after the header (what Arrow counts as records when none spans lines)."""
    ends = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if b"\n\n" not in data and b"\n\r\n" not in data:
        return ends - 1  # no blank lines: one count, no split (the common case)
    return sum(1 for ln in data.split(b"\n")[1:] if ln.strip(b"\r"))


def _read_arrow(
    data: bytes, header: list[str], keep: list[str]
) -> tuple[pa.Table, np.ndarray, list[Reject]] | None:
    """Arrow's parse: (table of ``keep``, row numbers, rejects); None if a bad row spans lines."""
    invalid: list[tuple[int, int, str]] = []

    def _on_invalid(row: pa_csv.InvalidRow) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    try:
        table = pa_csv.read_csv(
            io.BytesIO(data),
            # single-threaded: the invalid-row handler only gets row numbers this way
            read_options=pa_csv.ReadOptions(use_threads=False, skip_rows=1, column_names=header),
            parse_options=pa_csv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=_on_invalid
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.string() for c in header},
                include_columns=keep,
                strings_can_be_null=True,  # empty cells are missing values
                null_values=[""],
            ),
        )
    except (pa.ArrowInvalid, ValueError):
        return None  # the record-by-record reader finds and rejects the bad lines
    if any("\n" in text for _, _, text in invalid):
        return None
    total = table.num_rows + len(invalid)
    # handler numbers count the header as record 1; data rows are 1-based
    bad_rows = np.array([n - 1 for n, _, _ in invalid], dtype=np.int64)
    keep_mask = np.ones(total, dtype=bool)
    keep_mask[bad_rows - 1] = False
    rows = np.arange(1, total + 1, dtype=np.int64)[keep_mask]
    rejects = [
        Reject(n - 1, _field_count_reason(actual, len(header)), line=text.rstrip("\r"))
        for n, actual, text in invalid
    ]
    return table, rows, rejects


def _read_lines(
    lines: list[bytes], header: list[str], keep: list[str]
) -> tuple[pa.Table, np.ndarray, list[Reject]]:
    """Record by record, resynchronising at the next line after a quoting error."""
    width = len(header)
    texts = [ln.decode("utf-8").rstrip("\r") for ln in lines]
    good: list[list[str]] = []
    rows: list[int] = []
    rejects: list[Reject] = []
    i, row = 0, 0
    while i < len(texts):
        if not texts[i]:
            i += 1
            continue
        run = _balanced_run(texts, i)
        if run > 1:  # lines with balanced quotes: one record each, parsed in one pass
            for fields in _parse_run(texts[i : i + run]):
                row += 1
                if len(fields) == width:
                    good.append(fields)
                    rows.append(row)
                else:
                    line = ",".join(fields)  # only for the reject: the fields as read
                    rejects.append(Reject(row, _field_count_reason(len(fields), width), line=line))
            i += run
            continue
        row += 1
        fields, used = _record(texts, i, width)
        if fields is not None and len(fields) == width:
            good.append(fields)
            rows.append(row)
        elif used > 1 or fields is None:
            rejects.append(Reject(row, UNBALANCED, line=texts[i]))
            used = 1
        else:
            rejects.append(Reject(row, _field_count_reason(len(fields), width), line=texts[i]))
        i += used
    by_column = list(zip(*good, strict=True)) if good else [()] * width
    columns = {
        c: _nulls_for_empty(pa.array(by_column[j], pa.string()))
        for j, c in enumerate(header)
        if c in keep
    }
    table = pa.table(columns) if columns else pa.table({})
    return table, np.asarray(rows, dtype=np.int64), rejects


def _nulls_for_empty(arr: pa.Array) -> pa.Array:
    """Empty cells are missing values (as in Arrow's reader)."""
    return pc.if_else(pc.equal(arr, ""), pa.scalar(None, pa.string()), arr)


def _balanced_run(texts: list[str], start: int) -> int:
    """How many lines from ``start`` are non-blank with an even number of quotes."""
    end = start
    while end < len(texts) and texts[end] and texts[end].count('"') % 2 == 0:
        end += 1
    return end - start


def _parse_run(texts: list[str]) -> list[list[str]]:
    """Each line of ``texts`` (balanced quotes) as one record."""
    try:
        records = list(csv.reader(texts, strict=True))
        if len(records) == len(texts):
            return records
    except csv.Error:
        pass
    return [_parse([ln]) or [ln] for ln in texts]  # rare: parse line by line


def _record(texts: list[str], start: int, width: int) -> tuple[list[str] | None, int]:
    """(fields, lines used) of the record starting at line ``start``.

    A line with balanced quotes is one record. Otherwise lines are added until the quotes
    balance; that span counts only when it parses as one record of ``width`` fields,
    else the line alone is parsed (a quote inside an unquoted field is a plain character).
    """
    line = texts[start]
    if line.count('"') % 2 == 0:
        return _parse([line]), 1
    quotes, end = line.count('"'), start + 1
    while end < len(texts) and end - start < MAX_RECORD_LINES:
        quotes += texts[end].count('"')
        end += 1
        if quotes % 2 == 0:
            fields = _parse(texts[start:end])
            if fields is not None and len(fields) == width:
                return fields, end - start
            break
    alone = _parse([line])
    return (alone, 1) if alone is not None and len(alone) == width else (None, 1)


def _parse(lines: list[str]) -> list[str] | None:
    """The fields of ``lines`` read as exactly one CSV record, else None."""
    try:
        records = list(csv.reader(io.StringIO("\n".join(lines) + "\n"), strict=True))
    except csv.Error:
        return None
    return records[0] if len(records) == 1 else None


def _field_count_reason(actual: int, expected: int) -> str:
    if actual < expected:
        return f"{TRUNCATED}: {actual} of {expected} fields"
    return f"row has {actual} fields, the header has {expected}"
