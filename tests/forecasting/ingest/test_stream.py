"""Streamed ingest (a day larger than ``intake_block_bytes``): the whole path's files, byte for byte.

Each case lands the same drop twice and ingests it once whole (default block size) and
once in blocks of a few KiB (so every file is cut in many pieces, and keys spread over
several ranges): bronze, quarantine and the per-file counts must be identical.
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from forecasting.core import schema as s
from forecasting.core.errors import InputError
from forecasting.ingest.blocks import record_boundary
from forecasting.ingest.drop import ingest_source
from tests.support.landing import DAY, csv_text, land, recon, report

REPORTS, RECON = s.SECURITY_REPORTS.name, s.RECONCILIATION_LOGS.name
SMALL = 2048  # bytes per block: every file below is cut many times


def lake_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def both_ways(settings_factory, tmp_path: Path, source: str, drop: dict[str, bytes]):
    """Ingest ``drop`` {file name: bytes} whole and in blocks; (results, lake bytes) of each."""
    out = []
    for label, block in (("whole", 256 * 1024**2), ("blocks", SMALL)):
        settings = settings_factory(
            landing_uri=str(tmp_path / label / "landing"),
            lake_uri=str(tmp_path / label / "lake"),
            intake_block_bytes=block,
        )
        for name, data in drop.items():
            land(Path(settings.landing_uri), source, name, data)
        result = ingest_source(settings, source, DAY)
        out.append((result, lake_bytes(Path(settings.lake_uri))))
    return out


def shuffled_reports(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = [report(i) for i in range(n)]
    rng.shuffle(rows)
    return rows


def test_csv_in_blocks_gives_the_whole_paths_bytes(settings_factory, tmp_path):
    rows = shuffled_reports(300, seed=1)
    rows[5] = report(7, **{s.NOTES: 'said "stop",\nthen ran;\n\nsecond line'})  # quoted, multi-line
    rows[40] = report(41, **{s.UNITS: "many"})  # typing error -> quarantine
    rows[90] = rows[12].copy()  # exact duplicate, far from its first copy (another block)
    rows[150] = report(12, **{s.UNITS: "99"})  # same key, other content: both kept
    text = csv_text(rows)
    text += "SR-99999,WH-DE-001,2024-02-29T22:15:00Z\n"  # too few fields
    text += csv_text([report(500)]).split("\n", 1)[1].rstrip("\n")  # no line end: truncated
    second = csv_text([report(i) for i in range(1060, 1000, -1)] + [rows[3].copy()])  # + a duplicate
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path, REPORTS,
        {"part-000.csv": text.encode(), "part-001.csv.gz": gzip.compress(second.encode())},
    )  # fmt: skip

    assert whole.error is None and whole.duplicates == 2 and whole.quarantined >= 5
    assert whole.file_rows == blocks.file_rows and whole.read == blocks.read
    assert (whole.accepted, whole.quarantined) == (blocks.accepted, blocks.quarantined)
    assert whole_files.keys() == block_files.keys()
    for name in whole_files:
        assert whole_files[name] == block_files[name], name


def test_parquet_and_jsonl_in_blocks(settings_factory, tmp_path):
    frame = pd.DataFrame([recon(i) for i in range(400)]).sample(frac=1, random_state=3)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False, row_group_size=64)
    jsonl = pd.DataFrame([recon(i) for i in range(390, 420)]).to_json(orient="records", lines=True)
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path, RECON,
        {"a.parquet": buf.getvalue(), "b.jsonl": jsonl.encode()},
    )  # fmt: skip

    assert whole.duplicates == 10 and whole.accepted == 420
    assert whole.file_rows == blocks.file_rows
    assert whole_files == block_files


def test_a_clean_sorted_day_and_an_all_bad_day(settings_factory, tmp_path):
    rows = [recon(i) for i in range(500)]
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path / "clean", RECON, {"x.csv": csv_text(rows).encode()}
    )
    assert (blocks.accepted, blocks.quarantined) == (500, 0) and whole_files == block_files

    bad = [recon(i, **{s.EXPECTED_UNITS: "x"}) for i in range(200)]
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path / "bad", RECON, {"x.csv": csv_text(bad).encode()}
    )
    assert (blocks.accepted, blocks.quarantined) == (0, 200) and whole_files == block_files


def test_row_groups_are_cut_as_write_table_cuts_them(settings_factory, tmp_path, monkeypatch):
    monkeypatch.setattr("forecasting.ingest.bronze.ROW_GROUP", 128)
    monkeypatch.setattr("forecasting.ingest.parquet_stream.ROW_GROUP", 128)
    rows = [recon(i) for i in range(700)]
    random.Random(4).shuffle(rows)
    (_, whole_files), (_, block_files) = both_ways(
        settings_factory, tmp_path, RECON, {"x.csv": csv_text(rows).encode()}
    )
    assert whole_files == block_files
    bronze = next(v for k, v in block_files.items() if k.startswith("bronze"))
    assert pq.ParquetFile(io.BytesIO(bronze)).metadata.num_row_groups == 6


def test_a_damaged_large_file_fails_its_source_day_only(settings_factory, tmp_path):
    settings = settings_factory(intake_block_bytes=SMALL)
    data = gzip.compress(csv_text([recon(i) for i in range(400)]).encode())
    land(Path(settings.landing_uri), RECON, "cut.csv.gz", data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.csv\.gz.*gzip"):
        ingest_source(settings, RECON, DAY)
    assert not (Path(settings.lake_uri) / "bronze" / RECON).exists()


@pytest.mark.parametrize(
    ("buf", "cut"),
    [
        (b"a,b\nc,d\ne,f", 8),  # the last line may be partial: never cut after it
        (b'a,"x\ny",b\nc,d\ne,f\ng', 14),  # after a quoted value over lines
        (b'a,"x\ny\nz",b\nc,d\ne,f\n', 16),
        (b'a,"x\ny\nz\nw",b\nc', -1),  # never inside the quoted value
        (b'a,"x\ny', -1),
    ],
)
def test_record_boundary(buf, cut):
    assert record_boundary(buf) == cut


def test_a_multi_column_key_with_nulls_in_blocks(settings_factory, tmp_path):
    rng = random.Random(5)
    lines = ["date,scope,scope_id,event_type,name"]
    for i in range(300):
        scope = rng.choice(["all", "country", "warehouse"])
        scope_id = "" if scope == "all" else rng.choice(["DE", "FR", "WH-DE-001"])
        lines.append(f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)},{scope},{scope_id},"
                     f"{rng.choice(['peak', 'holiday', 'product_launch'])},event {i % 40}")
    lines += lines[1:30]  # re-delivered rows: exact duplicates
    (whole, whole_files), (blocks, block_files) = both_ways(
        settings_factory, tmp_path, s.EVENTS.name, {"events.csv": ("\n".join(lines) + "\n").encode()}
    )
    assert whole.duplicates >= 29 and whole.file_rows == blocks.file_rows
    assert whole_files == block_files
