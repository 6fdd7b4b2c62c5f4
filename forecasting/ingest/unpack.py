"""Landing file bytes -> (format, plain bytes): decompression and format detection by content.

A landing file is read whatever its name: gzip and zstd compression are recognised by
their magic bytes (``.gz`` / ``.zst`` names too), the format by the extension left once a
compression suffix is removed or, when that names no landing format (``part-001.txt``,
``_part-001``, no extension), by the content (Parquet magic, a JSON object, else CSV text).
What cannot be read is refused with an InputError that names the file, the reason and the
fix: text in UTF-16/UTF-32 (named as such), binary content, a cut-off compressed stream,
a compressed file inside a compressed file, a file that decompresses past its ``Caps``.

Decompression bombs: a compressed file is expanded as a stream, a piece at a time, and
stopped as soon as it passes ``Caps.limit(stored bytes)``: ``intake_max_expansion`` times its
stored size (past the first ``RATIO_FLOOR`` bytes, which any file may reach) and never more
than ``intake_max_plain_bytes``. So a 10 KiB gzip that would expand to gigabytes costs
16 MiB of memory before it is refused, one line naming the file. Parquet's own compression
and encodings are bounded the same way from the file's metadata (``check_parquet``).
"""

from __future__ import annotations

import gzip
import io
import zlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from forecasting.core.errors import InputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
COMPRESSIONS = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd"}
MAX_PLAIN_BYTES = 8 * 1024**3
RATIO_FLOOR = 16 * 1024**2  # plain bytes any file may expand to, whatever its ratio
_PIECE = 1024**2  # decompressed bytes taken at a time
_MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}
_PARQUET_MAGIC = b"PAR1"
_WIDE_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Caps:
    """How far a landing file may expand (settings ``intake_max_*``)."""

    max_plain_bytes: int = MAX_PLAIN_BYTES
    max_expansion: float = 200.0

    @classmethod
    def from_settings(cls, settings: Any) -> Caps:
        return cls(settings.intake_max_plain_bytes, settings.intake_max_expansion)

    def limit(self, stored: int) -> int:
        """Most plain bytes a file of ``stored`` bytes may expand to."""
        return min(self.max_plain_bytes, max(int(self.max_expansion * stored), RATIO_FLOOR))

    def refuse(self, name: str, stored: int, what: str = "decompresses") -> InputError:
        """The one-line error for a file past its limit."""
        return InputError(
            f"{name}: {what} to more than {_size(self.limit(stored))} ({stored} bytes stored; caps: "
            f"intake_max_expansion={self.max_expansion:g}x, intake_max_plain_bytes="
            f"{_size(self.max_plain_bytes)}): a decompression bomb or an export too large for one "
            "file; split it into smaller files (or raise the caps)"
        )


DEFAULT_CAPS = Caps()


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:g} {unit}"
    return f"{n} bytes"


def check_parquet(name: str, meta: Any, columns: int, stored: int, caps: Caps) -> None:
    """Raise when a Parquet file's metadata says it decodes past its caps: its pages'
    uncompressed size, or rows x columns x 8 bytes (run-length and dictionary encodings
    expand without any compression)."""
    pages = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    decoded = int(meta.num_rows) * max(columns, 1) * 8
    if max(pages, decoded) > caps.limit(stored):
        raise caps.refuse(name, stored, "decodes")


def file_format(name: str) -> str | None:
    """``csv`` / ``parquet`` / ``jsonl`` from the file name (after any compression suffix)."""
    lower = _strip_compression(name.lower())
    return next((fmt for ext, fmt in FORMATS.items() if lower.endswith(ext)), None)


def unpack(name: str, data: bytes, caps: Caps = DEFAULT_CAPS) -> tuple[str, bytes, list[str]]:
    """(format, plain bytes, warnings) of one landing file; raise InputError if unreadable."""
    codec = codec_of(data)
    warnings: list[str] = []
    if data:
        refuse_misnamed(name, codec)
    if codec is not None:
        data = _decompress(name, data, codec, caps)
        if codec_of(data) is not None:
            raise InputError(
                f"{name}: is compressed twice ({codec}, then {codec_of(data)}); deliver it "
                "compressed once"
            )
    refuse_wide_text(name, data)
    fmt = file_format(name)
    if fmt is None:
        fmt = sniff(data)
        warnings.append(
            f"{name}: the name has no .csv, .parquet or .jsonl extension; read as {fmt} "
            "by its content (name landing files by their format)"
        )
    return fmt, data, warnings


def sniff(data: bytes) -> str:
    """The landing format the content looks like: parquet, jsonl or csv (text)."""
    if data.startswith(_PARQUET_MAGIC):
        return "parquet"
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    return "jsonl" if body.lstrip().startswith(b"{") else "csv"


def refuse_misnamed(name: str, codec: str | None) -> None:
    """Raise when the name claims a compression (``.gz``, ``.zst``) the content lacks."""
    claimed = next((c for ext, c in COMPRESSIONS.items() if name.lower().endswith(ext)), None)
    if claimed and codec is None:
        raise InputError(
            f"{name}: is named as {claimed}-compressed but its content is not {claimed}; "
            "fix the export or rename the file to its real format"
        )


def refuse_wide_text(name: str, data: bytes) -> None:
    """Raise when the content is UTF-16 / UTF-32 text (BOM or every other byte NUL)."""
    head = data[:4096]
    encoding = next((enc for bom, enc in _WIDE_BOMS if head.startswith(bom)), None)
    if encoding is None and len(head) >= 8 and not head.startswith(_PARQUET_MAGIC):
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.6 * len(odd) and even.count(0) < 0.1 * len(even):
            encoding = "UTF-16"  # little-endian ASCII text without a BOM
        elif even.count(0) > 0.6 * len(even) and odd.count(0) < 0.1 * len(odd):
            encoding = "UTF-16"  # big-endian
    if encoding:
        raise InputError(
            f"{name}: is {encoding}-encoded text; landing files must be UTF-8: re-export the "
            f"file as UTF-8 (e.g. iconv -f {encoding} -t UTF-8)"
        )


def codec_of(data: bytes) -> str | None:
    return next((codec for magic, codec in _MAGIC.items() if data.startswith(magic)), None)


def _strip_compression(name: str) -> str:
    for ext in COMPRESSIONS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def _decompress(name: str, data: bytes, codec: str, caps: Caps) -> bytes:
    """Every member of the stream, checked to its end, stopped past ``caps.limit``."""
    limit = caps.limit(len(data))
    try:
        if codec == "gzip":
            stream: Any = gzip.GzipFile(fileobj=io.BytesIO(data))
        else:
            stream = pa.input_stream(pa.BufferReader(data), compression="zstd")
        with stream:
            pieces, size = [], 0
            while piece := stream.read(_PIECE):  # raises EOFError when the last member is cut off
                size += len(piece)
                if size > limit:
                    raise caps.refuse(name, len(data))
                pieces.append(piece)
    except (EOFError, OSError, zlib.error, pa.ArrowException) as exc:
        raise InputError(
            f"{name}: is a {codec} file that cannot be decompressed ({exc}); the upload may "
            "be cut off or damaged: deliver the file again"
        ) from exc
    return b"".join(pieces)
