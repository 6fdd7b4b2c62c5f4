"""What the track task adds to a weekly run at the demo's scale (bench/README.md, ## track).

A reserves database holding ``--weeks`` weekly publications (current runs) of ``--warehouses``
sites in 5 regions with an ``--horizon``-week horizon, and the panel of the last Sunday with
3 years of history, then ``track_record`` twice (the weekly run, a rerun). Publications are
inserted directly (same tables and values a publish writes), since computing reserves is
not what is measured.

    .venv/bin/python bench/track.py                      # SQLite
    .venv/bin/python bench/track.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, make_url

from forecasting.core import schema
from forecasting.core.config import load_settings
from forecasting.core.lake import Lake, join
from forecasting.reserves import db
from forecasting.reserves.track.stage import track_record


def _publications(engine, sites: list[str], regions: dict[str, str], last: date, weeks: int, horizon: int) -> None:
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    prov = {schema.MODEL_VERSION: "m", schema.SNAPSHOT_ID: "s", schema.CODE_VERSION: "c", schema.PUBLISHED_AT: stamp}
    figures = {schema.INCIDENTS_P50: 2.0, schema.INCIDENTS_P90: 4.0, schema.INCIDENTS_P95: 5.0,
               schema.LOSS_EUR_P50: 2000.0, schema.LOSS_EUR_P90: 4000.0, schema.LOSS_EUR_P95: 5000.0,
               schema.LOSS_EUR_MEAN: 2500.0}  # fmt: skip
    with engine.begin() as conn:
        for i in range(weeks, 0, -1):
            as_of = last - timedelta(weeks=i)
            run = f"run-{as_of}"
            conn.execute(db.publications.insert().values({
                schema.AS_OF_DATE: as_of, schema.RUN_ID: run, schema.CONTENT_DIGEST: "d",
                schema.N_ROWS: len(sites) * horizon, schema.IS_CURRENT: True, **prov,
            }))  # fmt: skip
            periods = [(as_of + timedelta(days=1 + 7 * s), s + 1) for s in range(horizon)]
            base = {schema.AS_OF_DATE: as_of, schema.RUN_ID: run, **figures, **prov,
                    schema.CALIBRATION_METHOD: "identity"}  # fmt: skip
            conn.execute(db.reserves.insert(), [
                {**base, schema.WAREHOUSE_ID: w, schema.REGION: regions[w], schema.COUNTRY: "DE",
                 schema.PERIOD_START: p, schema.PERIOD_END: p + timedelta(days=6), schema.STEP: s,
                 schema.ESCALATION_LEVEL: 0}
                for w in sites for p, s in periods
            ])  # fmt: skip
            ids = [("region", r) for r in sorted(set(regions.values()))] + [("network", "network")]
            conn.execute(db.totals.insert(), [
                {**base, schema.TOTAL_LEVEL: lvl, schema.TOTAL_ID: ident, schema.PERIOD_START: p,
                 schema.PERIOD_END: p + timedelta(days=6), schema.STEP: s}
                for lvl, ident in ids for p, s in periods
            ])  # fmt: skip


def _panel(lake: Lake, sites: list[str], last: date, horizon: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    history = pd.date_range(end=pd.Timestamp(last) - pd.Timedelta(days=6), periods=156, freq="W-MON")
    future = pd.date_range(pd.Timestamp(last) + pd.Timedelta(days=1), periods=horizon, freq="W-MON")
    frames, severity = [], []
    for w in sites:
        y = rng.poisson(2.5, len(history)).astype(float)
        frames.append(pd.DataFrame({schema.UNIQUE_ID: w, schema.DS: history, schema.Y: y, schema.IS_FUTURE: False}))
        frames.append(pd.DataFrame({schema.UNIQUE_ID: w, schema.DS: future, schema.Y: np.nan, schema.IS_FUTURE: True}))
        ds = np.repeat(history.to_numpy(), y.astype(int))
        severity.append(pd.DataFrame({schema.WAREHOUSE_ID: w, schema.DS: ds,
                                      schema.SEVERITY_LOSS_EUR: np.round(rng.lognormal(6.8, 0.9, len(ds)), 2)}))  # fmt: skip
    out = lake.stage("panel", last)
    lake.write_parquet(pd.concat(frames, ignore_index=True), join(out, "panel.parquet"))
    lake.write_parquet(pd.concat(severity, ignore_index=True), join(out, "severity.parquet"))
    lake.write_json(join(out, "summary.json"), {"snapshot_id": "s", "spec": {"freq": "W-MON"}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouses", type=int, default=60)
    parser.add_argument("--weeks", type=int, default=60)
    parser.add_argument("--horizon", type=int, default=8)
    parser.add_argument("--url", default=None, help="reserves database (default: SQLite in a temp folder)")
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-track-")
    url = args.url or f"sqlite:///{tmp}/reserves.db"
    schema_name = None
    if args.url and url.startswith("postgresql"):  # a schema of its own, dropped at the end
        schema_name = f"bench_track_{int(time.time())}"
        with create_engine(url).begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema_name}"')
        url = make_url(url).update_query_dict({"options": f"-csearch_path={schema_name}"}).render_as_string(False)
    settings = load_settings(None, lake_uri=f"{tmp}/lake", reserves_url=url, horizon=args.horizon)
    last = date(2026, 1, 4)  # a Sunday
    sites = [f"WH-{i:03d}" for i in range(args.warehouses)]
    regions = {w: f"R{i % 5}" for i, w in enumerate(sites)}
    engine = db.connect(url)
    db.ensure_schema(engine)
    _publications(engine, sites, regions, last, args.weeks, args.horizon)
    engine.dispose()
    _panel(Lake.from_settings(settings), sites, last, args.horizon)
    for label in ("first", "rerun"):
        t = time.perf_counter()
        summary = track_record(settings, last)
        print(f"{label}: {time.perf_counter() - t:.2f} s, {summary.rows} rows of {summary.publications} "
              f"publications, db {summary.db}, state {summary.state}")  # fmt: skip
    if schema_name:
        with create_engine(args.url).begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema_name}" CASCADE')


if __name__ == "__main__":
    main()
