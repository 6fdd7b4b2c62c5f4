"""Property-based fuzz of the landing readers (CSV, JSON Lines, Parquet; plain, gzip, zstd,
compressed twice, misnamed): whatever the bytes, reading ends in a riskcast error or in rows
that are all accounted for, and a whole ingest of a day of such files (read whole or in
blocks) ends in a riskcast error or in ``read == accepted + quarantined`` for every file:
never another exception, never a hang (the test's timeout), never an "ingest bug".

Fixed budget: ``derandomize`` makes hypothesis draw the same examples on every run (no
example database), ``max_examples`` bounds them; a failure prints the smallest example.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from forecasting.core import schema as s
from forecasting.core.config import load_settings
from forecasting.core.errors import RiskcastError
from forecasting.ingest.drop import ingest_source
from forecasting.ingest.reader import read_file
from tests.support.landing import DAY, csv_text, land, report

CONTRACT = s.SECURITY_REPORTS
COLUMNS = list(report(0))
BUDGET = {"derandomize": True, "database": None, "deadline": None, "print_blob": True,
          "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}  # fmt: skip
NASTY = ['"', '""', '"a,b"', "\n", "\r\n", ",", "\x00", "\ufeff", "{", "[1]", "null", "NaN", "-1",
         "9" * 40, "2024-13-45", "1e309", "SEV9", "<script>", "\\", "\t"]  # fmt: skip
cells = st.one_of(st.sampled_from(list(report(1).values())), st.sampled_from(NASTY), st.text(max_size=10))
rows = st.lists(st.fixed_dictionaries({c: cells for c in COLUMNS}), max_size=6)


def _encode(fmt: str, records: list[dict[str, str]], columns: list[str]) -> bytes:
    if fmt == "csv":
        return csv_text(records or [dict.fromkeys(columns, "")], columns).encode("utf-8", "surrogatepass")
    if fmt == "jsonl":
        return "".join(json.dumps({c: r.get(c, "extra") for c in columns}) + "\n" for r in records).encode("utf-8", "surrogatepass")
    buf = io.BytesIO()
    table = pa.table({c: pa.array([r.get(c, "extra") for r in records], pa.string()) for c in columns})
    pq.write_table(table, buf)
    return buf.getvalue()


def _zstd(data: bytes) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


@st.composite
def landing_files(draw) -> tuple[str, bytes]:
    """(name, bytes) of one landing file: valid or damaged content of any format and wrapper."""
    fmt = draw(st.sampled_from(["csv", "jsonl", "parquet"]))
    columns = draw(st.sampled_from([COLUMNS, COLUMNS[:5], COLUMNS[::-1], ["x", *COLUMNS], ["only"]]))
    try:
        data = _encode(fmt, draw(rows), columns)
    except UnicodeEncodeError:  # a lone surrogate: not text a landing file can hold
        data = b"\xed\xa0\x80"
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(0, 3))):  # byte damage: flip, cut, insert, repeat
        if not data:
            break
        at = rng.randrange(len(data))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "none"]))
        if kind == "flip":
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data = data[:at] + draw(st.binary(max_size=6)) + data[at:]
        elif kind == "repeat":
            data = data + data[at:]
    wrap = draw(st.sampled_from(["", "gz", "zst", "gz+gz", "gz-cut"]))
    if wrap in ("gz", "gz+gz", "gz-cut"):
        data = gzip.compress(data, mtime=0)
        data = gzip.compress(data, mtime=0) if wrap == "gz+gz" else data
        data = data[: max(len(data) - 7, 0)] if wrap == "gz-cut" else data
    elif wrap == "zst":
        data = _zstd(data)
    suffix = draw(st.sampled_from([fmt, "csv", "txt", ""]))
    name = f"part.{suffix}" if suffix else "part"
    name += {"gz": ".gz", "gz+gz": ".gz", "gz-cut": ".gz", "zst": ".zst"}.get(wrap, "") if draw(st.booleans()) else ""
    return f"{CONTRACT.name}/date={DAY}/{name}", data


def _not_a_bug(exc: RiskcastError) -> None:
    assert "bug" not in str(exc), str(exc)  # account_rows' "report this ingest bug"
    assert "\n" not in str(exc).strip(), "a riskcast error is one line"


@pytest.mark.timeout(300)
@settings(max_examples=1000, **BUDGET)
@given(landing_files())
def test_every_file_is_read_into_accounted_rows_or_refused(file):
    name, data = file
    try:
        raw = read_file(name, data, CONTRACT)
    except RiskcastError as exc:
        _not_a_bug(exc)
        event(f"refused: {str(exc).split(': ', 1)[1][:40]}")  # (--hypothesis-show-statistics)
        return
    event(f"read: {'rows' if raw.table.num_rows else 'no rows'}{', rejects' if raw.rejects else ''}")
    assert raw.read == raw.table.num_rows + len(raw.rejects) == len(raw.rows) + len(raw.rejects)
    assert list(raw.table.column_names) == list(CONTRACT.columns)
    numbers = [int(r) for r in raw.rows] + [r.row for r in raw.rejects]
    assert len(set(numbers)) == len(numbers) and all(n >= 1 for n in numbers)


@pytest.mark.timeout(600)
@settings(max_examples=150, **BUDGET)
@given(st.lists(landing_files(), min_size=1, max_size=3), st.booleans())
def test_every_day_is_ingested_with_each_row_accounted_for_or_refused(files, in_blocks):
    with tempfile.TemporaryDirectory(prefix="riskcast-fuzz-") as tmp:
        root = Path(tmp)
        for i, (name, data) in enumerate(files):
            land(root / "landing", CONTRACT.name, f"{i}-{name.rsplit('/', 1)[1]}", data)
        conf = load_settings(None, landing_uri=str(root / "landing"), lake_uri=str(root / "lake"),
                             intake_block_bytes=1024 if in_blocks else 64 * 1024**2)  # fmt: skip
        try:
            result = ingest_source(conf, CONTRACT.name, DAY)
        except RiskcastError as exc:
            _not_a_bug(exc)
            event("day refused")
            assert not (root / "lake" / "bronze" / CONTRACT.name / f"date={DAY}").exists()
            return
        assert result.read == result.accepted + result.quarantined
        event(f"day ingested: {'accepted' if result.accepted else 'none accepted'}, "
              f"{'quarantined' if result.quarantined else 'none quarantined'}")
        assert sum(f["read"] for f in result.file_rows.values()) == result.read
        assert all(f["read"] == f["accepted"] + f["quarantined"] for f in result.file_rows.values())
