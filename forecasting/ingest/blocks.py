"""One large landing file as a sequence of ``RawFile`` blocks: memory bounded by the block size.

``file_blocks`` reads a file of more than ``block_bytes`` stored bytes piece by piece:

- CSV (plain, gzip or zstd: decompressed as a stream): the header, then pieces of about
  ``block_bytes`` plain bytes cut at a record boundary (a line end with an even number of
  quotes before it in the piece, between two lines that each hold an even number of
  quotes, so a quoted value running over lines is never cut). Each piece goes through the
  same reader as a whole file (``csv_reader.read_csv`` with the header in front); its rows
  and rejects are renumbered to their place in the file. Where no such boundary exists
  within a piece (a stray quote), the piece grows until one does, or to the end.
- Parquet: row batches of about ``block_bytes`` uncompressed bytes (``iter_batches``).
- JSON Lines, compressed Parquet: whole (they are not the large exports; said in a note).

A block's ``RawFile.name`` is the file's name and ``rows`` its rows' numbers in the file, so
a file read in blocks lands exactly as if read whole: same rows, numbers, rejects, reasons.
A file of at most ``block_bytes`` is one block: ``reader.read_file`` of its bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from forecasting.core.errors import InputError
from forecasting.core.lake import Lake
from forecasting.core.schema import Contract
from forecasting.ingest.csv_reader import SPLIT_WARNING, read_csv
from forecasting.ingest.landing import read_landing
from forecasting.ingest.raw import BOM, PARQUET_MAGIC, RawFile, complete, first_line, select_columns
from forecasting.ingest.reader import read_file
from forecasting.ingest.unpack import (
    DEFAULT_CAPS,
    Caps,
    check_parquet,
    codec_of,
    file_format,
    refuse_misnamed,
    refuse_wide_text,
    sniff,
)

MAX_SCAN_LINES = 10_000  # line ends tried, from a piece's end back, for a record boundary


def file_blocks(
    landing: Lake, name: str, uri: str, contract: Contract, block_bytes: int, caps: Caps = DEFAULT_CAPS
) -> Iterator[RawFile]:
    """The file's rows as ``RawFile`` blocks in file order (see the module doc); a file that
    expands past ``caps`` (``unpack.Caps``) raises InputError as soon as it does."""
    stored = landing.size(uri)
    if stored <= block_bytes:
        yield read_file(name, read_landing(landing, name, uri), contract, caps)
        return
    limit = caps.limit(stored)
    try:
        fh = landing.open(uri)
    except OSError as exc:
        raise InputError(
            f"{name}: cannot be read ({exc.strerror or type(exc).__name__}); make the file "
            "readable by the ingest user or deliver it again"
        ) from exc
    with fh:
        codec = codec_of(fh.read(4))
        fh.seek(0)
        refuse_misnamed(name, codec)
        stream = pa.input_stream(fh, compression=codec) if codec else fh
        head = _read(name, stream, codec, block_bytes)
        fmt = file_format(name) or sniff(head)
        notes = [] if file_format(name) else [
            f"{name}: the name has no .csv, .parquet or .jsonl extension; read as {fmt} "
            "by its content (name landing files by their format)"
        ]
        if codec is None and fmt == "parquet" and head.startswith(PARQUET_MAGIC):
            fh.seek(0)
            blocks = _parquet_blocks(name, fh, contract, block_bytes, caps, stored)
        elif fmt == "csv" and codec_of(head) is None:
            refuse_wide_text(name, head)
            blocks = _csv_blocks(name, stream, head, codec, contract, block_bytes, limit)
        else:  # whole: read_file makes every check and says what is wrong
            if codec is not None:  # read_file takes the stored bytes, and expands them capped
                fh.seek(0)
                rest = fh.read()
            else:
                rest = head + _read(name, stream, codec, limit + 1 - len(head))
            yield read_file(name, rest, contract, caps)
            return
        for i, raw in enumerate(blocks):
            raw.warnings[:0] = notes if i == 0 else []
            yield raw


# ---------------------------------------------------------------------------- CSV
def _csv_blocks(
    name: str, stream: Any, head: bytes, codec: str | None, contract: Contract, block_bytes: int, limit: int
) -> Iterator[RawFile]:
    body = head[len(BOM) :] if head.startswith(BOM) else head
    body = body.lstrip(b"\r\n")
    end = body.find(b"\n")
    if end < 0:  # a header longer than a block: read whole
        rest = _read(name, stream, codec, limit + 1 - len(head))
        if len(head) + len(rest) > limit:
            raise InputError(f"{name}: its first line runs past {limit} bytes: not a CSV header; fix the export")
        yield read_csv(name, head + rest, contract)
        return
    header, buf = body[: end + 1], body[end + 1 :]
    offset, plain, eof, first, rejects, warned = 0, len(head), False, True, 0, set()
    while buf or not eof:
        cut = record_boundary(buf) if len(buf) >= block_bytes else -1
        while not eof and (cut < 0 or len(buf) < block_bytes):
            more = _read(name, stream, codec, block_bytes)
            plain += len(more)
            if plain > limit:
                raise InputError(
                    f"{name}: expands to more than {limit} bytes (caps intake_max_expansion / "
                    "intake_max_plain_bytes): a decompression bomb or an export too large for one "
                    "file; split it into smaller files (or raise the caps)"
                )
            eof = not more
            buf += more
            cut = -1 if eof else record_boundary(buf)
        piece, buf = (buf, b"") if eof or cut < 0 else (buf[:cut], buf[cut:])
        raw = read_csv(name, header + piece, contract, check_binary=first)
        first, rejects = False, rejects + len(raw.rejects)
        raw = _shifted(raw, offset, warned)
        offset += raw.read
        if not buf and eof and rejects:  # the last block: one count for the whole file
            raw.warnings.append(f"{name}: {rejects} {SPLIT_WARNING}")
        yield raw


def record_boundary(buf: bytes) -> int:
    """The end (exclusive) of the last whole record in ``buf``, -1 when none is certain.

    A line end counts when the piece before it holds an even number of quotes and the
    lines either side of it hold an even number each; the last line (maybe partial) is
    never taken, so the line after a boundary is always whole.
    """
    last = buf.rfind(b"\n")
    pos = buf.rfind(b"\n", 0, last) if last > 0 else -1
    if pos < 0:
        return -1
    if buf.find(b'"') < 0:
        return last + 1  # no quotes at all: every line end is a boundary
    before = buf.count(b'"', 0, pos)
    after_end = last
    for _ in range(MAX_SCAN_LINES):
        prev = buf.rfind(b"\n", 0, pos)
        line_before = buf.count(b'"', prev + 1, pos)
        line_after = buf.count(b'"', pos + 1, after_end)
        if before % 2 == 0 and line_before % 2 == 0 and line_after % 2 == 0:
            return pos + 1
        if prev < 0:
            return -1
        before -= line_before
        after_end, pos = pos, prev
    return -1


def _shifted(raw: RawFile, offset: int, warned: set[str]) -> RawFile:
    """``raw`` with rows numbered from ``offset`` on; a warning said by an earlier block dropped."""
    raw.rows = raw.rows + offset
    for reject in raw.rejects:
        reject.row += offset
    notes = [w for w in raw.warnings if not w.endswith(SPLIT_WARNING)]
    raw.warnings = [w for w in notes if w not in warned]
    warned.update(notes)
    return raw


def _read(name: str, stream: Any, codec: str | None, n: int) -> bytes:
    try:
        return stream.read(n)
    except (OSError, EOFError, pa.ArrowException) as exc:
        what = f"a {codec} file that cannot be decompressed" if codec else "a file that cannot be read"
        raise InputError(
            f"{name}: is {what} ({first_line(exc)}); the upload may be cut off or damaged: "
            "deliver the file again"
        ) from exc


# ---------------------------------------------------------------------------- Parquet
def _parquet_blocks(name: str, fh: Any, contract: Contract, block_bytes: int, caps: Caps,
                    stored: int) -> Iterator[RawFile]:  # fmt: skip
    try:
        pfile = pq.ParquetFile(fh)
        keep, warnings = select_columns(name, pfile.schema_arrow.names, contract)
        meta = pfile.metadata
        check_parquet(name, meta, len(keep), stored, caps)
        size = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        per_row = max(size / max(meta.num_rows, 1), 1.0)
        batches = pfile.iter_batches(
            batch_size=max(int(block_bytes / per_row), 1024), columns=keep, use_threads=False
        )
        offset = 0
        for batch in batches:
            table = complete(pa.Table.from_batches([batch]), contract)
            rows = np.arange(offset + 1, offset + table.num_rows + 1, dtype=np.int64)
            yield RawFile(name, table, rows, [], warnings if offset == 0 else [])
            offset += table.num_rows
        if not offset:
            yield RawFile(name, complete(pfile.schema_arrow.empty_table().select(keep), contract),
                          np.zeros(0, np.int64), [], warnings)  # fmt: skip
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure means an unreadable file
        raise InputError(f"{name}: cannot be read as Parquet ({first_line(exc)}); fix the export") from exc
