"""Landing files -> raw Arrow tables: one reader per format (CSV, Parquet, JSON Lines).

``read_file`` first unpacks the bytes (``unpack``: gzip / zstd by content, the format by
name or content, UTF-16 and binary refused), then hands them to the format's reader.
What a reader returns is described in ``raw``; CSV is in ``csv_reader``.

Messages never quote cell values: a cell may hold PII.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forecasting.core.errors import InputError
from forecasting.core.schema import Contract
from forecasting.ingest.csv_reader import read_csv
from forecasting.ingest.raw import (
    BOM,
    PARQUET_MAGIC,
    TRUNCATED,
    RawFile,
    Reject,
    complete,
    decode,
    empty_table,
    first_line,
    refuse_binary,
    select_columns,
)
from forecasting.ingest.unpack import DEFAULT_CAPS, Caps, check_parquet, unpack


def read_file(name: str, data: bytes, contract: Contract, caps: Caps = DEFAULT_CAPS) -> RawFile:
    """Read one landing file (``name`` is its landing-relative path, used in messages).

    Raises InputError when the file cannot be read as a landing format (named, with the
    reason and the fix), lacks a required column or expands past ``caps``.
    """
    if not data.strip():
        return RawFile(
            name,
            empty_table(contract),
            np.zeros(0, np.int64),
            warnings=[f"{name}: empty file, 0 rows"],
            blank=True,
        )
    stored = len(data)
    fmt, data, notes = unpack(name, data, caps)
    if not data.strip():
        raw = RawFile(name, empty_table(contract), np.zeros(0, np.int64), blank=True)
        raw.warnings = [f"{name}: empty file, 0 rows"]
    elif fmt == "parquet":
        raw = _read_parquet(name, data, contract, caps, stored)
    else:
        raw = {"csv": read_csv, "jsonl": _read_jsonl}[fmt](name, data, contract)
    raw.warnings[:0] = notes
    return raw


# ---------------------------------------------------------------------------- Parquet
def _read_parquet(name: str, data: bytes, contract: Contract, caps: Caps, stored: int) -> RawFile:
    if not data.startswith(PARQUET_MAGIC):
        raise InputError(
            f"{name}: is not a Parquet file (no Parquet magic bytes); fix the export or rename "
            "the file to its real format"
        )
    try:
        pfile = pq.ParquetFile(pa.BufferReader(data))  # zero-copy
        keep, warnings = select_columns(name, pfile.schema_arrow.names, contract)
        check_parquet(name, pfile.metadata, len(keep), stored, caps)
        # one thread: ingest tasks share worker CPUs; threads saved no time there
        table = pfile.read(columns=keep, use_threads=False)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        raise InputError(
            f"{name}: cannot be read as Parquet ({first_line(exc)}); fix the export"
        ) from exc
    rows = np.arange(1, table.num_rows + 1, dtype=np.int64)
    return RawFile(name, complete(table, contract), rows, [], warnings)


# ---------------------------------------------------------------------------- JSON Lines
def _read_jsonl(name: str, data: bytes, contract: Contract) -> RawFile:
    data = data[len(BOM) :] if data.startswith(BOM) else data
    refuse_binary(name, data, "JSON Lines")
    data, marker = decode(data)
    if not data.lstrip().startswith(b"{"):
        raise InputError(
            f"{name}: is not a JSON Lines file (the first line is not a JSON object); fix the export"
        )
    lines = [ln.rstrip("\r") for ln in data.decode("utf-8").split("\n") if ln.strip()]
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
            rejects.append(Reject(i, reason, line=line))
            continue
        if not isinstance(obj, dict):
            rejects.append(Reject(i, "line is not a JSON object", line=line))
            continue
        if not _encodable(obj):  # "\ud800": valid JSON, but no character UTF-8 can hold
            rejects.append(Reject(i, "a \\u escape that is no character (a lone surrogate)", line=line))
            continue
        nested = [k for k, v in obj.items() if isinstance(v, dict | list)]
        if nested:
            rejects.append(
                Reject(i, f"column(s) {nested} hold a JSON object or array, not a value", line=line)
            )
            continue
        found.update(dict.fromkeys(obj))
        records.append(obj)
        rows.append(i)
    if not records:  # nothing parsed: no header to check, every line is a reject
        return RawFile(name, empty_table(contract), np.zeros(0, np.int64), rejects, [], marker)
    keep, warnings = select_columns(name, list(found), contract)
    table = complete(
        pa.table({c: pa.array([_text(r.get(c)) for r in records], pa.string()) for c in keep}),
        contract,
    )
    return RawFile(name, table, np.asarray(rows, dtype=np.int64), rejects, warnings, marker)


def _encodable(obj: dict) -> bool:
    try:
        for k, v in obj.items():
            k.encode("utf-8")
            if isinstance(v, str):
                v.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)  # numbers and booleans as written in JSON
