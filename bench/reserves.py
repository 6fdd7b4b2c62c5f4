"""Reserves against the truth: share of true period losses at or below the published P95.

Runs the real chain on a sample network (demo-data -> ingest -> audit -> panel -> train ->
backtest (calibration) -> forecast -> reserves -> publish) for one or more as-of dates whose
forecast horizon lies inside the simulated range, then reads ``reserves_current`` back from
the reserves database and compares each warehouse-period (and region / network total) with
the realised losses and thefts in ``_truth/daily.csv``. Also prints the ratio of the
published P95 to the true P95 (``demo_truth.true_period_quantiles``).

    .venv/bin/python bench/reserves.py --warehouses 30 --days 730 --cutoffs 2

Prints a table; figures go to bench/README.md (## reserves). Timings never fail anything.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RISKCAST_PII_KEY", "bench-pii-key-0123456789abcdef")


def main() -> None:
    args = _args()
    if args.synthetic:
        return _stage_timings(args)
    from forecasting.core import schema
    from forecasting.core.config import load_settings

    out = Path(args.out).resolve()
    settings = load_settings(
        None,
        landing_uri=str(out / "landing"),
        lake_uri=str(out / "lake"),
        reserves_url=f"sqlite:///{out / 'reserves.db'}",
        horizon=args.horizon,
        backtest_windows=args.windows,
        model={"max_epochs": args.epochs, "batches_per_epoch": args.batches, "num_samples": 200},
    )
    start = date.fromisoformat(args.start)
    end = start + timedelta(days=args.days - 1)
    timings: dict[str, float] = {}
    if not (out / "landing" / "_truth" / "params.json").exists() or args.regenerate:
        _timed(timings, "demo-data + ingest", lambda: _landing(settings, start, args))
    # as-of dates: Sundays, so that the horizon's Monday-weeks end on or before `end`
    last = end - timedelta(days=7 * args.horizon)
    last -= timedelta(days=(last.weekday() + 1) % 7)
    cutoffs = [last - timedelta(days=7 * args.spacing * i) for i in range(args.cutoffs)][::-1]
    for as_of in cutoffs:
        if args.rerun or not _is_published(settings.reserves_url, as_of):
            _timed(timings, f"pipeline {as_of}", lambda a=as_of: _pipeline(settings, a))
    published = _published(settings.reserves_url)
    truth = _truth(out / "landing" / "_truth", end)
    rows = _scores(published, truth, schema)
    print(
        f"\nsample network: {args.warehouses} warehouses, {args.days} days from {start}; "
        f"as-of dates {', '.join(map(str, cutoffs))}; horizon {args.horizon} weeks\n"
    )
    print(rows.to_string(index=False))
    print("\n" + "\n".join(f"{k:>28}: {v:7.1f} s" for k, v in timings.items()))
    rows.to_csv(out / "reserves_bench.csv", index=False)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "reserves"))
    p.add_argument("--warehouses", type=int, default=30)
    p.add_argument("--days", type=int, default=730)
    p.add_argument("--start", default="2023-01-02")
    p.add_argument("--cutoffs", type=int, default=2)
    p.add_argument("--spacing", type=int, default=8, help="weeks between as-of dates")
    p.add_argument("--horizon", type=int, default=8)
    p.add_argument("--windows", type=int, default=3, help="backtest windows (calibration)")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batches", type=int, default=30)
    p.add_argument("--regenerate", action="store_true")
    p.add_argument("--rerun", action="store_true", help="rerun as-of dates already published")
    p.add_argument(
        "--synthetic", type=int, nargs="*", help="only time reserves + publish on N synthetic sites"
    )
    p.add_argument("--pg-url", help="also time publish on this PostgreSQL URL (a scratch schema)")
    return p.parse_args()


def _stage_timings(args: argparse.Namespace) -> None:
    """Wall time of compute_reserves and publish_reserves (first, then idempotent rerun)."""
    import tempfile

    from tests.support.reserves_lake import write_inputs

    print("sites  periods  paths  draws | reserves s | publish s (db: first / rerun)")
    for n in args.synthetic:
        with tempfile.TemporaryDirectory(prefix="riskcast-bench-") as tmp:
            sites = {
                f"WH-{i:04d}": (("north", "south", "east")[i % 3], "DE", 1.0 + i % 5)
                for i in range(n)
            }
            write_inputs(str(Path(tmp) / "lake"), horizon=args.horizon, sites=sites)
            _time_one(args, n, Path(tmp))


def _time_one(args: argparse.Namespace, n: int, tmp: Path) -> None:
    import uuid

    from sqlalchemy import create_engine, make_url

    from forecasting.core.config import load_settings
    from forecasting.reserves.compute import compute_reserves
    from forecasting.reserves.publish import publish_reserves
    from tests.support.reserves_lake import AS_OF, record_model

    urls = {"sqlite": f"sqlite:///{tmp / 'reserves.db'}"}
    scratch, admin = f"riskcast_bench_{uuid.uuid4().hex[:8]}", None
    if args.pg_url:
        admin = create_engine(args.pg_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{scratch}"')
        url = make_url(args.pg_url).update_query_dict({"options": f"-csearch_path={scratch}"})
        urls["postgresql"] = url.render_as_string(hide_password=False)
    # write_inputs recorded the model (and its gate) in the sqlite database beside the lake
    settings = load_settings(None, lake_uri=str(tmp / "lake"), horizon=args.horizon, reserves_url=urls["sqlite"])
    try:
        t0 = time.perf_counter()
        compute_reserves(settings, AS_OF)
        t_res = time.perf_counter() - t0
        cells = []
        for name, url in urls.items():
            db_settings = settings.model_copy(update={"reserves_url": url})
            if name != "sqlite":
                record_model(url, "m-test-1", AS_OF, True)
            t0 = time.perf_counter()
            publish_reserves(db_settings, AS_OF)
            t1 = time.perf_counter()
            publish_reserves(db_settings, AS_OF)
            cells.append(f"{name} {t1 - t0:.2f} / {time.perf_counter() - t1:.2f}")
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{scratch}" CASCADE')
            admin.dispose()
    draws = settings.reserves.draws_per_path
    print(f"{n:5d}  {args.horizon:7d}  {200:5d}  {draws:5d} | {t_res:10.2f} | {'; '.join(cells)}")


def _timed(timings: dict[str, float], name: str, fn) -> None:
    t0 = time.perf_counter()
    fn()
    timings[name] = time.perf_counter() - t0
    print(f"{name}: {timings[name]:.1f} s", flush=True)


def _landing(settings, start: date, args) -> None:
    from forecasting.demo.generate import generate_network
    from forecasting.ingest.drop import ingest_date

    generate_network(settings.landing_uri, args.warehouses, start, args.days, 42, False)
    for i in range(args.days):  # ingest only, live at once (no GX: setup, not measured)
        ingest_date(settings, start + timedelta(days=i))


def _pipeline(settings, as_of: date) -> None:
    from forecasting.audit.stage import run_audit
    from forecasting.backtest.run import backtest_lake
    from forecasting.core.errors import CalibrationGateError
    from forecasting.forecast import forecast_panel
    from forecasting.panel.build import build_panel
    from forecasting.reserves.compute import compute_reserves
    from forecasting.reserves.publish import publish_reserves
    from forecasting.train import train_model

    run_audit(settings, as_of)
    build_panel(settings, as_of)
    version = train_model(settings, as_of).model_version
    ungated = False
    try:
        backtest_lake(settings, as_of, version)
    except CalibrationGateError as exc:  # the bench reports coverage either way
        print(f"  gate failed for {as_of} (published UNGATED for the bench): {str(exc)[:300]}")
        ungated = True
    forecast_panel(settings, as_of, version, allow_ungated=ungated)
    compute_reserves(settings, as_of, allow_ungated=ungated)
    publish_reserves(settings, as_of, allow_ungated=ungated)


def _is_published(url: str, as_of: date) -> bool:
    from sqlalchemy import create_engine, inspect, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if "publications" not in inspect(conn).get_table_names():
                return False
            query = text("SELECT COUNT(*) FROM publications WHERE as_of_date = :d AND is_current")
            return bool(conn.execute(query, {"d": str(as_of)}).scalar())
    finally:
        engine.dispose()


def _published(url: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.connect() as conn:
        sites = pd.read_sql_query("SELECT * FROM reserves_current", conn)
        totals = pd.read_sql_query(
            "SELECT t.* FROM reserves_totals t JOIN publications p ON p.as_of_date = t.as_of_date "
            "AND p.run_id = t.run_id WHERE p.is_current = 1",
            conn,
        )
    engine.dispose()
    return sites, totals


def _truth(truth_dir: Path, end: date) -> pd.DataFrame:
    """Realised thefts and losses per warehouse and Monday-week (complete weeks only)."""
    from forecasting.core import schema
    from forecasting.demo.truth import true_period_quantiles

    daily = pd.read_csv(io.StringIO((truth_dir / "daily.csv").read_text()))
    daily[schema.TRUTH_DATE] = pd.to_datetime(daily[schema.TRUTH_DATE])
    week = daily[schema.TRUTH_DATE] - pd.to_timedelta(
        daily[schema.TRUTH_DATE].dt.dayofweek, unit="D"
    )
    real = (
        daily.assign(**{schema.PERIOD_START: week})
        .groupby([schema.WAREHOUSE_ID, schema.PERIOD_START])[
            [schema.TRUE_THEFTS, schema.SEVERITY_LOSS_EUR]
        ]
        .sum()
        .reset_index()
    )
    real = real[real[schema.PERIOD_START] + timedelta(days=6) <= pd.Timestamp(end)]
    exact = true_period_quantiles(str(truth_dir), "W", (0.95,), n_sims=500, include_horizon=False)
    exact = exact[[schema.WAREHOUSE_ID, schema.PERIOD_START, "loss_eur_p95"]].rename(
        columns={"loss_eur_p95": "true_loss_p95"}
    )
    return real.merge(exact, on=[schema.WAREHOUSE_ID, schema.PERIOD_START], how="left")


def _scores(
    published: tuple[pd.DataFrame, pd.DataFrame], truth: pd.DataFrame, schema
) -> pd.DataFrame:
    sites, totals = published
    sites = sites.assign(**{schema.PERIOD_START: pd.to_datetime(sites[schema.PERIOD_START])})
    m = sites.merge(truth, on=[schema.WAREHOUSE_ID, schema.PERIOD_START], how="inner")
    loss, thefts = m[schema.SEVERITY_LOSS_EUR], m[schema.TRUE_THEFTS]
    rows = []
    for q in (50, 90, 95):
        rows.append(
            (
                "warehouse-period",
                f"loss <= P{q}",
                (loss <= m[f"loss_eur_p{q}"].astype(float)).mean(),
                q / 100,
                len(m),
            )
        )
    for q in (50, 90, 95):
        rows.append(
            (
                "warehouse-period",
                f"thefts <= P{q}",
                (thefts <= m[f"incidents_p{q}"]).mean(),
                q / 100,
                len(m),
            )
        )
    ratio = (m["loss_eur_p95"].astype(float) / m["true_loss_p95"]).median()
    rows.append(("warehouse-period", "median P95 / true P95 (loss)", ratio, 1.0, len(m)))
    for level in ("region", "network"):
        tot = totals[totals[schema.TOTAL_LEVEL] == level].assign(
            **{schema.PERIOD_START: lambda d: pd.to_datetime(d[schema.PERIOD_START])}
        )
        site_region = sites.drop_duplicates(schema.WAREHOUSE_ID).set_index(schema.WAREHOUSE_ID)[
            schema.REGION
        ]
        key = truth[schema.WAREHOUSE_ID].map(site_region) if level == "region" else "network"
        agg = (
            truth.assign(**{schema.TOTAL_ID: key})
            .groupby([schema.TOTAL_ID, schema.PERIOD_START])[schema.SEVERITY_LOSS_EUR]
            .sum()
            .reset_index()
        )
        mt = tot.merge(agg, on=[schema.TOTAL_ID, schema.PERIOD_START], how="inner")
        cov = (mt[schema.SEVERITY_LOSS_EUR] <= mt["loss_eur_p95"].astype(float)).mean()
        rows.append((f"{level} total", "loss <= P95", cov, 0.95, len(mt)))
    worst = sites.groupby([schema.AS_OF_DATE, schema.WAREHOUSE_ID])[schema.ESCALATION_LEVEL].max()
    rows.append(
        ("warehouse", "share escalating (any period)", (worst > 0).mean(), None, len(worst))
    )
    out = pd.DataFrame(rows, columns=["level", "figure", "measured", "target", "n"])
    out["measured"] = out["measured"].round(3)
    return out


if __name__ == "__main__":
    main()
