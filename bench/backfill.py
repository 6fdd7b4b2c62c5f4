"""Backfill of the sample network: the ingest DAG's path, batched vs day by day, vs bare pandas.

    python bench/backfill.py [--warehouses 60] [--days 120] [--out bench/out/backfill] [--variants ...]

Generates a network with faults (``forecasting.demo.generate``), then, side by side in one
run and on the same landing drop:

- ``riskcast``: what the ingest DAG's backfill runs (``runner.ingest_reference_days``, then per
  daily source ``ingest_source_days`` and ``validate_source_days``), once with
  ``validation.batch_days=1`` (day by day, as before batching) and once with the default
  batch size, then batched on 2 Ray actors (``intake_workers``: a local Ray, and a two-node
  ``ray start`` cluster through ``ray.address``); wall seconds per step, GX suite runs
  counted (in this process: not the actors');
- ``bare pandas``: ``pd.read_csv`` + ``to_parquet`` of every landing CSV file of the daily
  sources (no typing, no validation), the floor the issue compares against.

Checks that every riskcast run leaves byte-identical bronze and quarantine files. Timings
never fail anything; on a shared machine compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from forecasting.core.config import load_settings  # noqa: E402
from forecasting.core.errors import DataContractError  # noqa: E402
from forecasting.core.layout import BRONZE, QUARANTINE  # noqa: E402
from forecasting.core.schema import DAILY_SOURCES  # noqa: E402
from forecasting.validation import batch, checks  # noqa: E402
from forecasting.validation.gx import suites  # noqa: E402
from forecasting.validation.runner import (  # noqa: E402
    ingest_reference_days,
    ingest_source_days,
    validate_source_days,
)

START = date(2023, 1, 2)
PII_KEY = "bench-pii-key-0123456789"


def _count_gx_runs() -> dict[str, int]:
    runs = {"n": 0}
    real = suites.validate_frame

    def counted(*args, **kwargs):
        runs["n"] += 1
        return real(*args, **kwargs)

    checks.validate_frame = batch.validate_frame = counted
    return runs


def riskcast(out: Path, days: list[date], batch_days: int, runs: dict[str, int], name: str,
             workers: int = 1, address: str | None = None) -> dict[str, float]:
    """One backfill into ``out/lake-<name>``; ``workers`` > 1: on Ray actors (a local Ray,
    or the cluster at ``address``). GX runs are counted in this process only."""
    lake = out / f"lake-{name}"
    shutil.rmtree(lake, ignore_errors=True)
    settings = load_settings(
        None, landing_uri=str(out / "landing"), lake_uri=str(lake), reserves_url=f"sqlite:///{out / 'r.db'}",
        pii_key=PII_KEY, validation={"batch_days": batch_days}, intake_workers=workers,
        ray={"address": address},
    )
    _fresh_ray()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    ingest_reference_days(settings, days)
    times["reference"] = time.perf_counter() - t0
    for source in DAILY_SOURCES:
        t = time.perf_counter()
        _last_day_may_fail(ingest_source_days, settings, source, days)
        times[f"ingest {source}"] = time.perf_counter() - t
        t, runs["n"] = time.perf_counter(), 0
        _last_day_may_fail(validate_source_days, settings, source, days)
        times[f"validate {source}"] = time.perf_counter() - t
        times[f"GX runs {source}"] = runs["n"]
    times["total"] = time.perf_counter() - t0
    return times


def _fresh_ray() -> None:
    """Leave the Ray a previous variant joined: each variant starts (or joins) its own."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def _last_day_may_fail(step, *args) -> None:
    try:
        step(*args)
    except DataContractError as exc:  # the run's own day was rejected: the others landed
        print(f"last day rejected: {exc}", file=sys.stderr)


def bare_pandas(out: Path) -> tuple[float, int]:
    dest = out / "bare"
    shutil.rmtree(dest, ignore_errors=True)
    files = sorted(p for s in DAILY_SOURCES for p in (out / "landing" / s).rglob("*.csv"))
    t = time.perf_counter()
    for i, path in enumerate(files):
        try:
            frame = pd.read_csv(path)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
            continue  # the injected faults: riskcast quarantines them, bare pandas just skips
        (dest / path.parent.name).mkdir(parents=True, exist_ok=True)
        frame.to_parquet(dest / path.parent.name / f"{i}.parquet", index=False)
    return time.perf_counter() - t, len(files)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for part in (BRONZE, QUARANTINE)
        for p in sorted((root / part).rglob("*"))
        if p.is_file()
    }


VARIANTS = ("day-by-day", "batched", "ray2", "cluster")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--warehouses", type=int, default=60)
    ap.add_argument("--days", type=int, default=120)
    ap.add_argument("--out", default="bench/out/backfill")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS,
                    help="day-by-day (batch_days 1), batched (default batch), ray2 (batched on 2 local "
                    "Ray actors), cluster (batched on 2 actors of a two-node ray start cluster)")
    args = ap.parse_args()
    out = Path(args.out)
    if not (out / "landing").exists():
        from forecasting.demo.generate import generate_network

        generate_network(str(out / "landing"), args.warehouses, START, args.days, seed=42, faults=True)
    days = [START + timedelta(days=i) for i in range(args.days)]
    runs = _count_gx_runs()
    size = load_settings(None).validation.batch_days
    result: dict = {}
    for variant in args.variants:
        if variant == "day-by-day":
            result[variant] = riskcast(out, days, 1, runs, variant)
        elif variant == "batched":
            result[f"batched ({size} days)"] = riskcast(out, days, size, runs, variant)
        elif variant == "ray2":
            result["batched, 2 local Ray actors"] = riskcast(out, days, size, runs, variant, workers=2)
        else:
            from tests.support.ray_cluster import two_node_cluster

            t = time.perf_counter()
            with two_node_cluster(cpus=1) as cluster:
                started = time.perf_counter() - t
                result["batched, 2 actors on a two-node cluster"] = {
                    **riskcast(out, days, size, runs, variant, workers=2, address=cluster.address),
                    "cluster start (not in total)": started,
                    "nodes used": len(cluster.nodes_that_ran("IntakeWorker")),
                }
                _fresh_ray()
    bare, n_files = bare_pandas(out)
    result["bare pandas read_csv + to_parquet"] = {"total": bare, "files": n_files}
    lakes = [_files(out / f"lake-{v}") for v in args.variants]
    result["bronze and quarantine byte-identical across variants"] = all(x == lakes[0] for x in lakes)
    print(json.dumps(result, indent=2, default=lambda v: round(v, 2)))


if __name__ == "__main__":
    main()
