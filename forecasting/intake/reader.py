"""Landing files -> raw Arrow tables: one reader per format (CSV, Parquet, JSON Lines).

A reader does not type values (``coercion`` does). It checks that the file is the format
its name claims, finds the header, keeps the contract's columns (extra ones are dropped
with a warning, a missing required one fails the file), numbers the data rows, and sets
aside rows it cannot split into fields (truncated, wrong field count, invalid JSON) as
``Reject`` s with a reason. Undecodable bytes are replaced by a marker character so that
only the rows holding them are rejected later, not the whole file.

Messages never quote cell values: a cell may hold PII.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from forecasting.core.errors import InputError
from forecasting.core.schema import Contract

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_BOM = b"\xef\xbb\xbf"
_PARQUET_MAGIC = b"PAR1"
_MARKERS = ("\ufffd", "\U0010fffd", "\U000ffffd", "\uf8ff")
_SURROGATES = re.compile("[\udc80-\udcff]+")
TRUNCATED = "truncated row"


@dataclass
class Reject:
    """A row that could not be split into the header's fields.

    ``values`` holds the contract columns that could be read, as raw strings.
    """

    row: int  # 1-based data row
    reason: str
    values: dict[str, str | None] = field(default_factory=dict)


@dataclass
class RawFile:
    """One landing file as read, before typing.

    ``table`` has every contract column in contract order (CSV / JSON Lines: strings;
    Parquet: the file's own types; absent optional columns: all null); ``rows`` (int64,
    one per table row) is each row's 1-based data row in the file. ``marker`` is the
    character standing in for undecodable bytes (None when the file is valid UTF-8).
    """

    name: str
    table: pa.Table
    rows: np.ndarray
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    marker: str | None = None

    @property
    def read(self) -> int:
        return self.table.num_rows + len(self.rejects)


def file_format(name: str) -> str | None:
    """``csv`` / ``parquet`` / ``jsonl`` from the file name, None when not a landing format."""
    lower = name.lower()
    return next((fmt for ext, fmt in FORMATS.items() if lower.endswith(ext)), None)


def read_file(name: str, data: bytes, contract: Contract) -> RawFile:
    """Read one landing file (``name`` is its landing-relative path, used in messages).

    Raises InputError when the file is not its claimed format or lacks a required column.
    """
    fmt = file_format(name)
    if fmt is None:
        raise InputError(
            f"{name}: unknown file format; name landing files *.csv, *.parquet or *.jsonl"
        )
    if not data.strip():
        return RawFile(
            name, _empty(contract), np.zeros(0, np.int64), warnings=[f"{name}: empty file, 0 rows"]
        )
    return {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[fmt](
        name, data, contract
    )


# ---------------------------------------------------------------------------- columns
def _select(name: str, found: list[str], contract: Contract) -> tuple[list[str], list[str]]:
    """The contract columns present in ``found`` and warnings; raise if a required one is missing.

    ``found`` is quoted in messages only when it shares a column with the contract: a file
    without a header row would otherwise put its first data row (maybe PII) in the logs.
    """
    if not set(found) & set(contract.columns):
        raise InputError(
            f"{name}: none of the {contract.name} columns {list(contract.columns)} is in its "
            "first line; the file has no header row or is not a "
            f"{contract.name} export: fix the export"
        )
    dupes = sorted({c for c in found if found.count(c) > 1})
    if dupes:
        raise InputError(
            f"{name}: column(s) {dupes} appear more than once in the header; fix the export"
        )
    missing = [c for c in contract.columns if c not in found and c not in contract.optional]
    if missing:
        raise InputError(
            f"{name}: required column {missing[0]!r} is missing"
            + (f" (also {missing[1:]})" if len(missing) > 1 else "")
            + f"; found {found}; fix the export or add the column"
        )
    extra = [c for c in found if c not in contract.columns]
    warnings = (
        [
            f"{name}: extra column(s) {extra} are not in the {contract.name} contract and were dropped"
        ]
        if extra
        else []
    )
    return [c for c in found if c in contract.columns], warnings


def _complete(table: pa.Table, contract: Contract) -> pa.Table:
    """Every contract column in contract order; absent (optional) ones as null strings."""
    cols = [
        table[c] if c in table.column_names else pa.nulls(table.num_rows, pa.string())
        for c in contract.columns
    ]
    return pa.table(cols, names=list(contract.columns))


def _empty(contract: Contract) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in contract.columns})


# ---------------------------------------------------------------------------- text helpers
def _decode(data: bytes) -> tuple[bytes, str | None]:
    """Valid UTF-8 bytes and the marker that replaced undecodable bytes (None if none were)."""
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="surrogateescape")
    marker = next(m for m in _MARKERS if m not in text)
    return _SURROGATES.sub(marker, text).encode("utf-8"), marker


def _refuse_binary(name: str, data: bytes, fmt: str) -> None:
    head = data[:4096]
    if head.startswith(_PARQUET_MAGIC) or b"\x00" in head:
        looks = "Parquet" if head.startswith(_PARQUET_MAGIC) else "binary"
        raise InputError(
            f"{name}: is not a {fmt} file (its content is {looks}); fix the export or rename "
            "the file to its real format"
        )


# ---------------------------------------------------------------------------- CSV
def _read_csv(name: str, data: bytes, contract: Contract) -> RawFile:
    data = data[len(_BOM) :] if data.startswith(_BOM) else data
    _refuse_binary(name, data, "CSV")
    data, marker = _decode(data)
    data = data.lstrip(b"\r\n")
    if data.startswith(b"{"):
        raise InputError(
            f"{name}: is not a CSV file (it looks like JSON Lines); rename it to .jsonl"
        )
    end = data.find(b"\n")
    header_line = (data if end < 0 else data[:end]).rstrip(b"\r").decode("utf-8")
    header = next(csv.reader([header_line]))
    keep, warnings = _select(name, header, contract)
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
    except (pa.ArrowInvalid, ValueError) as exc:
        raise InputError(
            f"{name}: cannot be parsed as CSV ({_first_line(exc)}); fix the export"
        ) from exc
    total = table.num_rows + len(invalid)
    # handler numbers count the header as record 1; data rows are 1-based
    bad_rows = np.array([n - 1 for n, _, _ in invalid], dtype=np.int64)
    keep_mask = np.ones(total, dtype=bool)
    keep_mask[bad_rows - 1] = False
    rows = np.arange(1, total + 1, dtype=np.int64)[keep_mask]
    rejects = [
        Reject(n - 1, _field_count_reason(actual, len(header)), _fields(text, header, keep))
        for n, actual, text in invalid
    ]
    table = _complete(table, contract)
    if not data.endswith(b"\n") and total and total not in set(bad_rows.tolist()):
        # the last line has the right field count but no line end: it may be cut mid-value
        last = table.num_rows - 1
        values = {c: table[c][last].as_py() for c in keep}
        rejects.append(
            Reject(int(rows[-1]), f"{TRUNCATED} (no line end at the end of the file)", values)
        )
        table, rows = table.slice(0, last), rows[:-1]
    if rejects:
        warnings.append(
            f"{name}: {len(rejects)} row(s) could not be split into the header's fields"
        )
    return RawFile(name, table, rows, rejects, warnings, marker)


def _field_count_reason(actual: int, expected: int) -> str:
    if actual < expected:
        return f"{TRUNCATED}: {actual} of {expected} fields"
    return f"row has {actual} fields, the header has {expected}"


def _fields(text: str, header: list[str], keep: list[str]) -> dict[str, str | None]:
    try:
        values = next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return {}
    by_name = dict(zip(header, values, strict=False))
    return {c: by_name.get(c) for c in keep}


# ---------------------------------------------------------------------------- Parquet
def _read_parquet(name: str, data: bytes, contract: Contract) -> RawFile:
    if not data.startswith(_PARQUET_MAGIC):
        raise InputError(
            f"{name}: is not a Parquet file (no Parquet magic bytes); fix the export or rename "
            "the file to its real format"
        )
    try:
        pfile = pq.ParquetFile(pa.BufferReader(data))  # zero-copy
        keep, warnings = _select(name, pfile.schema_arrow.names, contract)
        # one thread: ingest tasks share worker CPUs; threads saved no time there
        table = pfile.read(columns=keep, use_threads=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        raise InputError(
            f"{name}: cannot be read as Parquet ({_first_line(exc)}); fix the export"
        ) from exc
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawFile(name, _complete(table, contract), rows, [], warnings)


# ---------------------------------------------------------------------------- JSON Lines
def _read_jsonl(name: str, data: bytes, contract: Contract) -> RawFile:
    data = data[len(_BOM) :] if data.startswith(_BOM) else data
    _refuse_binary(name, data, "JSON Lines")
    data, marker = _decode(data)
    if not data.lstrip().startswith(b"{"):
        raise InputError(
            f"{name}: is not a JSON Lines file (the first line is not a JSON object); fix the export"
        )
    lines = [ln for ln in data.decode("utf-8").split("\n") if ln.strip()]
    ends_cleanly = data.rstrip(b" \t\r").endswith(b"\n")
    records: list[dict] = []
    rows: list[int] = []
    rejects: list[Reject] = []
    found: dict[str, None] = {}
    for i, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            # an object that stops early (cut-off upload) fails at its very end
            cut = exc.pos >= len(line.rstrip()) or (i == len(lines) and not ends_cleanly)
            reason = TRUNCATED if cut else f"invalid JSON at character {exc.pos}"
            rejects.append(Reject(i, reason))
            continue
        if not isinstance(obj, dict):
            rejects.append(Reject(i, "line is not a JSON object"))
            continue
        nested = [k for k, v in obj.items() if isinstance(v, dict | list)]
        if nested:
            rejects.append(
                Reject(i, f"column(s) {nested} hold a JSON object or array, not a value")
            )
            continue
        found.update(dict.fromkeys(obj))
        records.append(obj)
        rows.append(i)
    if not records:  # nothing parsed: no header to check, every line is a reject
        return RawFile(name, _empty(contract), np.zeros(0, np.int64), rejects, [], marker)
    keep, warnings = _select(name, list(found), contract)
    table = _complete(
        pa.table({c: pa.array([_text(r.get(c)) for r in records], pa.string()) for c in keep}),
        contract,
    )
    return RawFile(name, table, np.asarray(rows, dtype=np.int64), rejects, warnings, marker)


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)  # numbers and booleans as written in JSON


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
