"""Shared by the sample network tests: its parameters and readers of what it wrote."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pandas as pd

from forecasting.demo.generate import generate_network

START, DAYS, N_WH, SEED = date(2024, 10, 7), 60, 5, 11  # Black Friday week in range
THEFT_CATEGORIES = ("theft", "burglary", "fraud")


def make_network(tmp_path_factory, name: str, faults: bool) -> Path:
    out = tmp_path_factory.mktemp(name)
    generate_network(str(out), N_WH, START, DAYS, SEED, faults)
    return out


def read_truth(root: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(root / "_truth" / name, keep_default_na=False, na_values=[""])


def read_source(root: Path, source: str) -> pd.DataFrame:
    """Every row of a clean source's drops as strings, with the drop date in ``_drop``."""
    parts = []
    for folder in sorted((root / source).iterdir()):
        for f in sorted(folder.iterdir()):
            if f.suffix == ".csv":
                df = pd.read_csv(f, dtype=str, keep_default_na=False)
            else:
                df = (
                    pd.read_json(f, lines=True, dtype=False)
                    if f.suffix == ".jsonl"
                    else pd.read_parquet(f)
                )
                for col in df.select_dtypes("datetimetz").columns:
                    df[col] = df[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
                for col in df.select_dtypes(bool).columns:
                    df[col] = df[col].map({True: "true", False: "false"})
                df = df.astype(object).where(df.notna(), "").astype(str)
            parts.append(df.assign(_drop=folder.name.removeprefix("date=")))
    return pd.concat(parts, ignore_index=True)


def files_of(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"))))


def read_day(folder: Path) -> list[list[str]]:
    """Data rows of every CSV of one drop folder."""
    return [r for f in sorted(folder.glob("*.csv")) for r in csv_rows(f.read_bytes())[1:]]
