"""Raw landing columns -> the contract's types, vectorised, with a reason for every bad cell.

Logical type -> Arrow type (and the pandas dtype bronze ends up with):
``str`` -> string (``string``), ``int`` -> int64 (``Int64``), ``float`` -> float64,
``bool`` -> bool (``boolean``), ``date`` -> timestamp[ns] at midnight (``datetime64[ns]``),
``datetime`` -> timestamp[ns, UTC] (``datetime64[ns, UTC]``).

Each column first tries one Arrow cast of the whole column (the common, clean case); only
when that fails does a slower pandas parse find which cells are bad. Accepted spellings:
integers may be written ``12``, ``12.0`` or ``1.2e1``; numbers must be finite; booleans
``true/false``, ``t/f``, ``yes/no``, ``y/n``, ``1/0`` (any case); dates ``YYYY-MM-DD`` (or an
ISO timestamp at midnight); datetimes ISO 8601, naive ones read as UTC. Empty strings are
missing values. Missing values are not errors here: the validation stage owns
completeness rules.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from forecasting.core.schema import RECON_ID, REPORT_ID, WAREHOUSE_ID, Contract
from forecasting.ingest.screen import Screen
from forecasting.ingest.screen import reason as screen_reason

ARROW_TYPES = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.timestamp("ns"),
    "datetime": pa.timestamp("ns", "UTC"),
}
# Columns whose values become lake paths, SQL keys or alert subjects downstream.
ID_COLUMNS = (REPORT_ID, RECON_ID, WAREHOUSE_ID)
# lake.validate_identifier's rule in one pass: starts alphanumeric, then letters, digits,
# '_', '-' and single dots (no '..'); the 128-character limit is checked apart
_SAFE_ID = r"^[A-Za-z0-9](?:[A-Za-z0-9_\-]|\.[A-Za-z0-9_\-])*\.?$"
_MAX_ID_CHARS = 128
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
_EXPECTED = {
    "int": "an integer",
    "float": "a finite number",
    "bool": "a boolean (true/false)",
    "date": "a date (YYYY-MM-DD)",
    "datetime": "an ISO 8601 timestamp",
}
_MAX_EXACT_INT = 2**53
_OFFSET = r"(?:Z|[+-]\d{2}:?\d{2})$"


@dataclass
class Coerced:
    """A raw table cast to its contract.

    ``table``: every contract column with its Arrow type from ``ARROW_TYPES`` (bad cells
    null); ``bad``: bool per row, True where any cell failed; ``reasons``: row index ->
    ``"; "``-joined reasons, for the bad rows only; ``nulled``: optional column -> cells
    emptied because they held undecodable bytes (the row itself is kept).
    """

    table: pa.Table
    bad: np.ndarray
    reasons: dict[int, str]
    nulled: dict[str, int] = field(default_factory=dict)
    withheld: dict[str, np.ndarray] = field(default_factory=dict)  # column -> cells to store empty


def coerce_table(table: pa.Table, contract: Contract, marker: str | None = None,
                 screen: Screen | None = None, held: dict[int, list[str]] | None = None) -> Coerced:  # fmt: skip
    """Cast every contract column of ``table`` (raw strings or typed Parquet columns).

    ``marker`` is the reader's stand-in for undecodable bytes: cells holding it are bad,
    except in optional plain columns outside the key (a site's display name), where the cell
    is emptied and counted in ``nulled``: a damaged optional field never costs the row.
    (PII and free text stay strict: emptying them would misstate ``has_notes``.)
    Reasons quote the raw value, except in PII and free-text columns, and except a value the
    PII ``screen`` (``ingest.screen.Screen``) finds personal data in: its reason says so, and
    ``withheld`` names the cell (stored empty). ``held``: row index -> reasons the screen
    already gave (those rows are bad).
    """
    n = table.num_rows
    bad = np.zeros(n, dtype=bool)
    reasons: dict[int, list[str]] = defaultdict(list)
    withheld: dict[str, np.ndarray] = {}
    for i, why in (held or {}).items():
        bad[i] = True
        reasons[i].extend(why)
    private = set(contract.pii) | set(contract.free_text)
    columns = []
    nulled: dict[str, int] = {}
    for col, kind in contract.columns.items():
        arr = table[col]  # chunked (CSV blocks, row groups): compute kernels take it as is
        if marker is not None and pa.types.is_string(arr.type):
            mangled = _mask(pc.match_substring(arr, marker))
            if mangled.any() and col in contract.optional and col not in (*contract.key, *private):
                nulled[col] = int(mangled.sum())
            elif mangled.any():
                _note(
                    reasons, bad, mangled, lambda _v, c=col: f"non-UTF-8 bytes in column {c!r}", arr
                )
            if mangled.any():
                arr = pc.if_else(pa.array(mangled), pa.scalar(None, arr.type), arr)
        typed, failed = _cast(arr, kind)
        if failed is not None and failed.any() and screen is not None and col not in private:
            personal, kinds = _screened(screen, arr, failed)
            for i, found in zip(np.flatnonzero(personal).tolist(), kinds, strict=True):
                bad[i] = True  # never quoted: the screen's reason instead
                reasons[i].append(screen_reason(col, found))
            if personal.any():
                withheld[col], failed = personal, failed & ~personal
        if failed is not None and failed.any():
            what = _EXPECTED[kind]
            msg = (
                (lambda _v, c=col, w=what: f"{c}: value is not {w}")
                if col in private
                else (lambda v, c=col, w=what: f"{c}: {_show(v)} is not {w}")
            )
            _note(reasons, bad, failed, msg, arr)
        if col in ID_COLUMNS and kind == "str" and n:
            unsafe = _unsafe_ids(typed)
            if unsafe.any():
                _note(
                    reasons,
                    bad,
                    unsafe,
                    lambda v, c=col: f"{c}: {_show(v)} is not a safe identifier",
                    typed,
                )
        columns.append(typed)
    out = pa.table(columns, names=list(contract.columns))
    return Coerced(out, bad, {i: "; ".join(r) for i, r in reasons.items()}, nulled, withheld)


def _screened(screen: Screen, arr: pa.Array | pa.ChunkedArray, failed: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(bool per row: a cell that failed to parse holds personal data, the kind of each such
    cell); only the failed cells are read."""
    idx = np.flatnonzero(failed)
    values = arr.take(pa.array(idx))
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    values = values if pa.types.is_string(values.type) else _to_string(values)
    found = screen.find(values)
    out = np.zeros(len(failed), dtype=bool)
    out[idx[found]] = True
    return out, screen.kinds(values.filter(pa.array(found))) if found.any() else []


def raw_strings(table: pa.Table, columns: list[str], marker: str | None = None) -> pa.Table:
    """``columns`` of ``table`` as strings (for quarantine), the marker shown as U+FFFD."""
    out = []
    for col in columns:
        arr = table[col]
        arr = arr if pa.types.is_string(arr.type) else _to_string(arr)
        if marker is not None and marker != "\ufffd":
            arr = pc.replace_substring(arr, marker, "\ufffd")
        out.append(arr)
    return pa.table(out, names=columns)


# ---------------------------------------------------------------------------- casting
def _cast(arr: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray | None]:
    """(typed array, bool mask of cells that failed or None)."""
    target = ARROW_TYPES[kind]
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target), None
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    if kind == "str":
        arr = arr if pa.types.is_string(arr.type) else _to_string(arr)
        return _blank_to_null(arr), None
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        return _from_text(_blank_to_null(arr.cast(pa.string())), kind)
    typed = _from_typed(arr, kind)
    if typed is not None:
        return typed
    return _from_text(_to_string(arr), kind)


def _from_text(arr: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray | None]:
    target = ARROW_TYPES[kind]
    if kind == "bool":
        arr = _blank_to_null(pc.utf8_trim_whitespace(arr))
        lower = pc.utf8_lower(arr)
        is_true, is_false = pc.is_in(lower, pa.array(_TRUE)), pc.is_in(lower, pa.array(_FALSE))
        typed = pc.if_else(is_true, True, pc.if_else(is_false, False, pa.scalar(None, pa.bool_())))
        return typed, _mask(arr.is_valid()) & ~_mask(pc.or_(is_true, is_false))
    typed = _try_cast(arr, target)  # fast path: the whole column casts cleanly
    if typed is None:  # padded values are fine: try again without the blanks around them
        arr = _blank_to_null(pc.utf8_trim_whitespace(arr))
        typed = _try_cast(arr, target)
    if typed is not None and kind in ("int", "datetime"):
        return typed, None
    if typed is not None and kind == "float":
        return _finite_only(typed)
    if typed is not None and kind == "date":
        return _midnight_only(typed)
    return _slow_parse(arr, kind)


def _slow_parse(arr: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray]:
    """Cell-by-cell parse through pandas (vectorised; used only when the fast cast failed)."""
    values = arr.to_pandas()
    present = values.notna().to_numpy()
    if kind in ("int", "float"):
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
        ok = np.isfinite(num)
        if kind == "int":
            ok &= (np.floor(num) == num) & (np.abs(num) < _MAX_EXACT_INT)
            typed = pa.array(np.where(ok, num, 0).astype(np.int64), mask=~ok)
        else:
            typed = pa.array(num, mask=~ok)
        return typed, present & ~ok
    # pandas applies the first offset it meets to naive strings in the same call: parse
    # strings with an offset and naive ones (read as UTC) separately
    aware = values.str.contains(_OFFSET, regex=True, na=False)
    ts = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    for part in (aware, ~aware & values.notna()):
        if part.any():
            ts[part] = pd.to_datetime(values[part], utc=True, format="ISO8601", errors="coerce")
    ok = ts.notna().to_numpy()
    if kind == "date":
        ok &= (ts == ts.dt.normalize()).to_numpy()
        ts = ts.dt.tz_localize(None)
    typed = pa.array(ts.where(ok), type=ARROW_TYPES[kind], from_pandas=True)
    return typed, present & ~ok


def _from_typed(arr: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray | None] | None:
    """Cast a typed (Parquet) column; None when its type needs the text path."""
    t = arr.type
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
    if kind == "int" and pa.types.is_integer(t):
        try:
            return arr.cast(pa.int64()), None
        except pa.ArrowInvalid:  # uint64 beyond int64
            return None
    if kind == "int" and numeric:
        num = arr.cast(pa.float64()).to_numpy(zero_copy_only=False)
        ok = np.isfinite(num) & (np.floor(num) == num) & (np.abs(num) < _MAX_EXACT_INT)
        present = _mask(arr.is_valid())
        return pa.array(np.where(ok, num, 0).astype(np.int64), mask=~ok), present & ~ok
    if kind == "float" and numeric:
        return _finite_only(arr.cast(pa.float64()))
    if kind == "bool" and pa.types.is_boolean(t):
        return arr, None
    if kind in ("date", "datetime") and (pa.types.is_timestamp(t) or pa.types.is_date(t)):
        if pa.types.is_timestamp(t) and t.tz is not None:
            arr = arr.cast(pa.timestamp("ns", "UTC")).cast(pa.timestamp("ns"))
        ts = arr.cast(pa.timestamp("ns"))  # naive timestamps are read as UTC
        return (ts.cast(ARROW_TYPES[kind]), None) if kind == "datetime" else _midnight_only(ts)
    return None


def _finite_only(typed: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    finite = pc.is_finite(typed)
    bad = _mask(typed.is_valid()) & ~_mask(finite)
    if not bad.any():
        return typed, None
    return pc.if_else(pa.array(bad), pa.scalar(None, pa.float64()), typed), bad


def _midnight_only(ts: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    off = _mask(pc.not_equal(pc.floor_temporal(ts, unit="day"), ts))
    if not off.any():
        return ts, None
    return pc.if_else(pa.array(off), pa.scalar(None, ts.type), ts), off


# ---------------------------------------------------------------------------- helpers
def _unsafe_ids(arr: pa.Array) -> np.ndarray:
    ok = pc.and_(
        pc.match_substring_regex(arr, _SAFE_ID), pc.less_equal(pc.utf8_length(arr), _MAX_ID_CHARS)
    )
    return _mask(arr.is_valid()) & ~_mask(ok)


def _try_cast(arr: pa.Array, target: pa.DataType) -> pa.Array | None:
    try:
        return arr.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _blank_to_null(arr: pa.Array) -> pa.Array:
    empty = pc.equal(arr, "")
    if not pc.any(empty).as_py():
        return arr
    return pc.if_else(empty, pa.scalar(None, arr.type), arr)


def _to_string(arr: pa.Array) -> pa.Array:
    try:
        return arr.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in arr.to_pylist()], pa.string())


def _mask(arr: pa.Array) -> np.ndarray:
    """Arrow bool array -> numpy bool, null counted as False."""
    return pc.fill_null(arr, False).to_numpy(zero_copy_only=False).astype(bool, copy=False)


def _note(reasons: dict, bad: np.ndarray, mask: np.ndarray, message, arr: pa.Array) -> None:
    idx = np.flatnonzero(mask)
    bad[idx] = True
    for i, v in zip(idx.tolist(), arr.take(pa.array(idx)).to_pylist(), strict=True):
        reasons[i].append(message(v))


def _show(value: object, limit: int = 60) -> str:
    text = re.sub(r"\s+", " ", str(value))
    return repr(text if len(text) <= limit else text[:limit] + "...")
