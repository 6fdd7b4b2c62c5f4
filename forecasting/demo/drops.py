"""Daily landing drops of the sample network: formatting, file splits and serialisation.

A drop is the list of files of one source on one day (``<source>/date=YYYY-MM-DD/``).
Cells are kept as strings (None = empty) until written, so faults can put a wrong type
into a cell. The main file is ``part-000.csv``; on about 5% of days a third of the rows
moves to ``part-001.jsonl`` or ``part-001.parquet`` (same columns; native types there).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.core.lake import Lake, join
from forecasting.core.schema import (
    COUNT_DATE,
    INCIDENT_AT,
    LOSS_VALUE_EUR,
    RECONCILIATION_LOGS,
    REPORTED_AT,
    SECURITY_REPORTS,
    UNIT_VALUE_EUR,
    Contract,
)
from forecasting.demo.activity import DAY, DAY_S

SPLIT_SHARE = 0.05  # share of days whose drop is split into two files


@dataclass
class DropFile:
    """One landing file: string cells (``_``-columns are internal and never written),
    or exact ``raw`` bytes (then ``frame`` only counts the rows they hold); ``patches``
    rewrite the serialised bytes (byte-level faults)."""

    name: str
    frame: pd.DataFrame | None = None
    fmt: str = "csv"  # csv | jsonl | parquet
    raw: bytes | None = None
    patches: list[Callable[[bytes], bytes]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return 0 if self.frame is None else len(self.frame)


def iso_seconds(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds -> ``2024-03-01T14:05:00Z``."""
    return np.asarray(
        pd.to_datetime(np.asarray(seconds, dtype=np.int64), unit="s").strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        ),
        dtype=object,
    )


def iso_days(days: np.ndarray, epoch_day0: int) -> np.ndarray:
    """Day indices -> ``YYYY-MM-DD``."""
    secs = (epoch_day0 + np.asarray(days, dtype=np.int64)) * DAY_S
    return np.asarray(pd.to_datetime(secs, unit="s").strftime("%Y-%m-%d"), dtype=object)


def format_frame(df: pd.DataFrame, contract: Contract, epoch_day0: int) -> pd.DataFrame:
    """Typed activity frame -> string cells in contract column order, ``_``-columns kept."""
    out = {}
    for col, kind in contract.columns.items():
        values = df[col].to_numpy() if col in df else np.full(len(df), None, dtype=object)
        if col in (INCIDENT_AT, REPORTED_AT):
            out[col] = iso_seconds(values)
        elif col == COUNT_DATE:
            out[col] = iso_days(values, epoch_day0)
        elif kind == "bool":
            out[col] = np.where(values.astype(bool), "true", "false").astype(object)
        elif col in (LOSS_VALUE_EUR, UNIT_VALUE_EUR):
            out[col] = np.char.mod("%.2f", values.astype(float)).astype(object)
        elif kind == "int":
            out[col] = values.astype(np.int64).astype(str).astype(object)
        else:
            out[col] = values.astype(object)
    for col in df.columns:
        if col.startswith("_"):
            out[col] = df[col].to_numpy()
    return pd.DataFrame(out, index=pd.RangeIndex(len(df)))


def build_drops(
    frame: pd.DataFrame, n_days: int, rng: np.random.Generator
) -> dict[int, list[DropFile]]:
    """Cut a formatted frame (with ``_day``) into one drop per day, every day present."""
    frame = frame.iloc[np.argsort(frame[DAY].to_numpy(), kind="stable")].reset_index(drop=True)
    bounds = np.searchsorted(frame[DAY].to_numpy(), np.arange(n_days + 1))
    split, as_parquet = rng.random(n_days) < SPLIT_SHARE, rng.random(n_days) < 0.5
    drops = {}
    for d in range(n_days):
        part = frame.iloc[bounds[d] : bounds[d + 1]].reset_index(drop=True)
        if split[d] and len(part) >= 4:
            moved = rng.random(len(part)) < 1 / 3
            ext = "parquet" if as_parquet[d] else "jsonl"
            drops[d] = [
                DropFile("part-000.csv", part[~moved].reset_index(drop=True)),
                DropFile(f"part-001.{ext}", part[moved].reset_index(drop=True), fmt=ext),
            ]
        else:
            drops[d] = [DropFile("part-000.csv", part)]
    return drops


def serialise(file: DropFile, contract: Contract) -> bytes:
    """The file's bytes: raw, or its frame as CSV / JSON Lines / Parquet, then patches."""
    if file.raw is not None:
        data = file.raw
    else:
        visible = [c for c in file.frame.columns if not c.startswith("_")]
        if file.fmt == "csv":
            data = to_csv_bytes(file.frame, visible)
        elif file.fmt == "jsonl":
            data = _jsonl(file.frame[visible], contract)
        elif file.fmt == "parquet":
            buf = io.BytesIO()
            _typed(file.frame[visible], contract).to_parquet(buf, index=False, engine="pyarrow")
            data = buf.getvalue()
        else:
            raise ValueError(f"unknown drop file format {file.fmt!r}")
    for patch in file.patches:
        data = patch(data)
    return data


def to_csv_bytes(df: pd.DataFrame, columns: list[str] | None = None) -> bytes:
    """``columns`` of ``df`` as CSV (minimal quoting, LF line ends, None as empty), UTF-8."""
    columns = list(df.columns) if columns is None else columns
    positions = [df.columns.get_loc(c) for c in columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(df.to_numpy(dtype=object)[:, positions].tolist())
    return buf.getvalue().encode("utf-8")


def _cell(value: object, kind: str) -> object:
    if value is None:
        return None
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return value == "true"
    return value


def _jsonl(df: pd.DataFrame, contract: Contract) -> bytes:
    kinds = [contract.columns.get(c, "str") for c in df.columns]
    lines = []
    for row in df.itertuples(index=False, name=None):
        obj = {c: _cell(v, k) for c, v, k in zip(df.columns, row, kinds, strict=True)}
        lines.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _typed(df: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """Native Parquet types: int64, float64, bool, timestamp[ms, UTC], date32, string."""
    out = {}
    for col in df.columns:
        kind, values = contract.columns.get(col, "str"), df[col]
        if kind == "int":
            out[col] = values.astype(np.int64)
        elif kind == "float":
            out[col] = values.astype(float)
        elif kind == "bool":
            out[col] = values == "true"
        elif kind == "datetime":
            out[col] = pd.to_datetime(values, utc=True).astype("datetime64[ms, UTC]")
        elif kind == "date":
            out[col] = pd.to_datetime(values).dt.date
        else:
            out[col] = values.astype(object)
    return pd.DataFrame(out)


def write_drops(
    lake: Lake, source: str, drops: dict[int, list[DropFile]], day_names: list[str]
) -> int:
    """Write every drop under ``<root>/<source>/date=D/``; return the data rows written."""
    contract = {c.name: c for c in (SECURITY_REPORTS, RECONCILIATION_LOGS)}[source]
    rows = 0
    for d, files in sorted(drops.items()):
        folder = join(lake.uri, source, f"date={day_names[d]}")
        for file in files:
            lake.write_bytes(join(folder, file.name), serialise(file, contract))
            rows += file.rows
    return rows
