"""What a landing-file reader returns: raw string tables, rejected rows, column selection.

A reader does not type values (``coercion`` does). It finds the header, keeps the
contract's columns (extra ones are dropped with a warning, a missing required one fails
the file), numbers the data rows, and sets aside rows it cannot split into fields
(truncated, wrong field count, unbalanced quote, invalid JSON) as ``Reject`` s with a
reason and the raw line. Undecodable bytes are replaced by a marker character so that
only the rows holding them are rejected later, not the whole file.

Messages never quote cell values: a cell may hold PII.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from forecasting.core.errors import InputError
from forecasting.core.schema import Contract

BOM = b"\xef\xbb\xbf"
PARQUET_MAGIC = b"PAR1"
TRUNCATED = "truncated row"
_MARKERS = ("\ufffd", "\U0010fffd", "\U000ffffd", "\uf8ff")
_SURROGATES = re.compile("[\udc80-\udcff]+")


@dataclass
class Reject:
    """A row that could not be split into the header's fields.

    ``values`` holds contract columns read from a row whose fields are known to be in
    place (a cut-off last row); a row whose fields may have shifted keeps none and only
    ``line``, its raw text, which ingest pseudonymises (PII sources) before storing it.
    """

    row: int  # 1-based data row
    reason: str
    values: dict[str, str | None] = field(default_factory=dict)
    line: str | None = None


@dataclass
class RawFile:
    """One landing file as read, before typing.

    ``table`` has every contract column in contract order (CSV / JSON Lines: strings;
    Parquet: the file's own types; absent optional columns: all null); ``rows`` (int64,
    one per table row) is each row's 1-based data row in the file. ``marker`` is the
    character standing in for undecodable bytes (None when the file is valid UTF-8).
    ``blank``: the file held no byte but whitespace (a header-only file is not blank).
    """

    name: str
    table: pa.Table
    rows: np.ndarray
    rejects: list[Reject] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    marker: str | None = None
    blank: bool = False  # nothing but whitespace: no header, no row (not a quiet day's file)

    @property
    def read(self) -> int:
        return self.table.num_rows + len(self.rejects)


def select_columns(name: str, found: list[str], contract: Contract) -> tuple[list[str], list[str]]:
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


def complete(table: pa.Table, contract: Contract) -> pa.Table:
    """Every contract column in contract order; absent (optional) ones as null strings."""
    cols = [
        table[c] if c in table.column_names else pa.nulls(table.num_rows, pa.string())
        for c in contract.columns
    ]
    return pa.table(cols, names=list(contract.columns))


def empty_table(contract: Contract) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in contract.columns})


def decode(data: bytes) -> tuple[bytes, str | None]:
    """Valid UTF-8 bytes and the marker that replaced undecodable bytes (None if none were)."""
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", errors="surrogateescape")
    marker = next(m for m in _MARKERS if m not in text)
    return _SURROGATES.sub(marker, text).encode("utf-8"), marker


def refuse_binary(name: str, data: bytes, fmt: str) -> None:
    head = data[:4096]
    if head.startswith(PARQUET_MAGIC) or b"\x00" in head:
        looks = "Parquet" if head.startswith(PARQUET_MAGIC) else "binary"
        raise InputError(
            f"{name}: is not a {fmt} file (its content is {looks}); fix the export or rename "
            "the file to its real format"
        )


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def flag_blank(rows: dict[str, dict[str, Any]], blank: set[str]) -> dict[str, dict[str, Any]]:
    """Mark the files that held nothing but whitespace (``"blank": true``): a day of such
    files vouches for no quiet day (validation's ``min_day_rows``)."""
    for name in blank:
        rows[name]["blank"] = True
    return rows
