"""Decompression bombs are refused early, in bounded memory, with one line naming the file:
gzip (one member or many), zstd and Parquet (whose encodings expand without compression), on
the whole path (a small stored file) and the streamed one (a day past intake_block_bytes)."""

from __future__ import annotations

import tracemalloc
import zlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import InputError
from forecasting.ingest.drop import ingest_source
from forecasting.ingest.reader import read_file
from forecasting.ingest.unpack import RATIO_FLOOR, Caps, unpack
from tests.support.landing import DAY, csv_text, land, report

MiB = 1024**2
HEADER = csv_text([report(0)]).splitlines()[0].encode() + b"\n"


def _gzip_member(data: bytes) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    return z.compress(data) + z.flush()


def gzip_bomb(plain_mib: int) -> bytes:
    """A CSV header, then ``plain_mib`` MiB of line ends, as many small gzip members."""
    member = _gzip_member(b"\n" * MiB)
    return _gzip_member(HEADER) + member * plain_mib


def zstd_bomb(plain_mib: int) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, "zstd") as out:
        out.write(HEADER)
        for _ in range(plain_mib):
            out.write(b"\n" * MiB)
    return sink.getvalue().to_pybytes()


def _peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / MiB


@pytest.mark.parametrize(("name", "bomb"), [("a.csv.gz", gzip_bomb), ("a.csv.zst", zstd_bomb)])
def test_a_small_bomb_is_refused_at_its_cap_in_bounded_memory(name, bomb):
    data = bomb(512)  # ~0.5 MB stored, 512 MiB plain: the old reader held it all in memory
    assert len(data) < MiB
    errors = []

    def read():
        with pytest.raises(InputError) as err:
            unpack(f"security_reports/date=2024-03-01/{name}", data)
        errors.append(str(err.value))

    peak, limit = _peak_mib(read), Caps().limit(len(data)) / MiB
    assert limit < 128 and peak < 2 * limit + 16, f"peak {peak:.0f} MiB"  # the cap, not the 512 MiB
    (message,) = errors
    assert message.startswith(f"security_reports/date=2024-03-01/{name}: decompresses to more than")
    assert "intake_max_expansion=200x" in message and "split it" in message and "\n" not in message


def test_the_caps_are_settings_and_legitimate_files_pass():
    plain = HEADER + csv_text([report(i) for i in range(2000)]).encode()
    packed = _gzip_member(plain)
    assert unpack("a.csv.gz", packed)[1] == plain  # a real export, well under any cap
    tight = Caps(max_plain_bytes=64 * 1024, max_expansion=2.0)
    assert tight.limit(len(packed)) == 64 * 1024  # the absolute cap wins over the floor
    with pytest.raises(InputError, match="intake_max_plain_bytes=64 KiB"):
        unpack("a.csv.gz", packed, tight)
    assert Caps(max_expansion=2.0).limit(10 * RATIO_FLOOR) == 20 * RATIO_FLOOR  # big files: ratio


def test_a_parquet_file_that_decodes_past_its_caps_is_refused_before_decoding():
    rows = 3_000_000  # one dictionary value per column: a few KB stored, ~GBs decoded as strings
    cols = {c: pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int8)), pa.array([v]))
            for c, v in report(0).items()}  # fmt: skip
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(cols), sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    assert len(data) < MiB
    with pytest.raises(InputError, match=r"a.parquet: decodes to more than"):
        read_file("a.parquet", data, s.SECURITY_REPORTS)


@pytest.mark.parametrize("streamed", [False, True])
def test_ingest_refuses_the_bomb_names_the_file_and_leaves_nothing(settings_factory, tmp_path, streamed):
    settings = settings_factory(intake_block_bytes=32 * 1024 if streamed else 64 * MiB,
                                intake_max_plain_bytes=4 * MiB)  # fmt: skip
    land(tmp_path / "landing", s.SECURITY_REPORTS.name, "a.csv.gz", gzip_bomb(64))
    with pytest.raises(InputError) as err:
        ingest_source(settings, s.SECURITY_REPORTS.name, DAY)
    message = str(err.value)
    assert "security_reports/date=2024-03-01/a.csv.gz" in message and "\n" not in message
    assert ("expands to more than" if streamed else "decompresses to more than") in message
    assert not (tmp_path / "lake" / "bronze").exists()
