"""Root-cause attribution against injected anomalies (``riskcast demo-data --anomalies``).

Per seed: a sample network with anomalies in its last 8 full weeks before the settle week
(``forecasting.demo.anomalies``), ingested; the real chain (audit -> panel -> train ->
forecast -> reserves -> publish) at the Sunday P just before that window, so the published
P95 covers it; then the panel at the last day D and ``explain`` at D, which scores the
weeks after P whose actuals have arrived. Scored against ``_truth/anomalies.csv``:

- recall: injected anomaly weeks flagged / injected anomaly weeks;
- false alarms: normal warehouse-weeks flagged / normal warehouse-weeks (sites and weeks
  the explain window scores, without an injected anomaly);
- top-1: the node with the largest contribution = the injected cause, over detected weeks;
- the confusion table (injected cause x top-1 node) and the wall time of ``explain``.

    .venv/bin/python bench/explain.py --seeds 1 2 3 --warehouses 20 --days 400

Figures go to bench/README.md (## explain). ``--explain-only`` reruns explain and scoring on
lakes a previous run prepared.
"""

from __future__ import annotations

import argparse
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
    results = [_seed(args, seed) for seed in args.seeds]
    weeks = pd.concat([r[0] for r in results], ignore_index=True)
    timings = [r[1] for r in results]
    _report(weeks, timings, args)


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "explain"))
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--warehouses", type=int, default=20)
    p.add_argument("--days", type=int, default=400)
    p.add_argument("--start", default="2024-01-01")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--explain-only", action="store_true")
    p.add_argument("--no-publish", action="store_true",
                   help="skip train/forecast/reserves/publish at P: no P95 flags, scores only")
    return p.parse_args()


def _settings(out: Path, args: argparse.Namespace):
    from forecasting.core.config import load_settings

    return load_settings(
        None,
        landing_uri=str(out / "landing"),
        lake_uri=str(out / "lake"),
        reserves_url=f"sqlite:///{out / 'reserves.db'}",
        model={"max_epochs": args.epochs, "batches_per_epoch": args.batches, "num_samples": 200},
    )


def _seed(args: argparse.Namespace, seed: int) -> tuple[pd.DataFrame, float]:
    from forecasting.demo.anomalies import window_mondays
    from forecasting.explain.stage import explain_lake
    from forecasting.panel.build import build_panel

    out = Path(args.out).resolve() / f"seed{seed}"
    settings = _settings(out, args)
    start = date.fromisoformat(args.start)
    end = start + timedelta(days=args.days - 1)
    published = min(window_mondays(start, args.days)) - timedelta(days=1)
    if not args.explain_only:
        _prepare(settings, start, end, published, args, seed)
    if not (out / "lake" / "panel" / f"as_of={end}").exists():
        build_panel(settings, end)
    t0 = time.perf_counter()
    summary = explain_lake(settings, end)
    took = time.perf_counter() - t0
    print(f"seed {seed}: explain {end} in {took:.1f} s: {summary.to_dict()['counts']}", flush=True)
    return _score(settings, end, out / "landing" / "_truth" / "anomalies.csv", seed), took


def _prepare(settings, start: date, end: date, published: date, args, seed: int) -> None:
    from forecasting.audit.stage import run_audit
    from forecasting.core import schema
    from forecasting.core.lake import Lake
    from forecasting.demo.generate import generate_network
    from forecasting.forecast import forecast_panel
    from forecasting.ingest.drop import ingest_date
    from forecasting.panel.build import build_panel
    from forecasting.reserves.compute import compute_reserves
    from forecasting.reserves.publish import publish_reserves
    from forecasting.train import train_model

    t0 = time.perf_counter()
    if not Lake.from_settings(settings).exists(Lake.from_settings(settings).bronze(schema.RECONCILIATION_LOGS.name, end)):
        generate_network(settings.landing_uri, args.warehouses, start, args.days, seed, False, True)
        for i in range(args.days):  # ingest only, live at once (no GX: setup, not measured)
            ingest_date(settings, start + timedelta(days=i))
    if args.no_publish:
        return
    run_audit(settings, published)
    build_panel(settings, published)
    try:  # without a publication explain still scores; only the P95 flag is missing
        version = train_model(settings, published).model_version
        forecast_panel(settings, published, version)
        compute_reserves(settings, published, allow_ungated=True)
        publish_reserves(settings, published)
        print(f"seed {seed}: published {published} in {time.perf_counter() - t0:.0f} s", flush=True)
    except Exception as exc:  # noqa: BLE001  (the bench reports it and goes on)
        print(f"seed {seed}: no publication at {published}: {exc!r}"[:500], flush=True)


def _score(settings, as_of: date, truth_csv: Path, seed: int) -> pd.DataFrame:
    """One row per scored warehouse-week: flagged, injected cause (or none), top-1 node."""
    from forecasting.core import schema
    from forecasting.core.lake import Lake

    lake = Lake.from_settings(settings)
    scores = lake.read_parquet(lake.explain_file(as_of, "scores"))
    attr = lake.read_parquet(lake.explain_attributions(as_of))
    truth = pd.read_csv(truth_csv, dtype=str)
    truth[schema.PERIOD_START] = pd.to_datetime(truth[schema.PERIOD_START])
    top = (
        attr.sort_values(schema.CONTRIBUTION, ascending=False, kind="stable")
        .drop_duplicates([schema.WAREHOUSE_ID, schema.PERIOD_START])
        .rename(columns={schema.EXPLAIN_NODE: "top1"})[[schema.WAREHOUSE_ID, schema.PERIOD_START, "top1"]]
    )
    keys = [schema.WAREHOUSE_ID, schema.PERIOD_START]
    weeks = scores.merge(truth, on=keys, how="left").merge(top, on=keys, how="left")
    weeks["cause"] = weeks["cause"].fillna("none")
    weeks["trace"] = _left_a_trace(weeks, truth_csv.parent / "thefts.csv")
    # a normal week right before or after an injected episode at the same site (a miscount
    # burst's loss lines are dated back by the panel's median count lag, for one)
    near = pd.concat([truth[keys].assign(**{schema.PERIOD_START: truth[schema.PERIOD_START] + pd.Timedelta(days=d)})
                      for d in (-7, 7)])  # fmt: skip
    near = near.merge(truth[keys], how="left", indicator=True).query("_merge == 'left_only'")[keys]
    weeks["adjacent"] = weeks.merge(near.drop_duplicates().assign(_adj=True), on=keys, how="left")["_adj"].eq(True).to_numpy()
    missed = truth.merge(scores[keys], on=keys, how="left", indicator=True)
    if (missed["_merge"] == "left_only").any():
        print(f"seed {seed}: {int((missed['_merge'] == 'left_only').sum())} injected weeks not scored")
        extra = missed.loc[missed["_merge"] == "left_only", [*keys, "cause"]].assign(
            **{schema.FLAGGED: False}
        )
        weeks = pd.concat([weeks, extra], ignore_index=True)
    return weeks.assign(seed=seed)


def _left_a_trace(weeks: pd.DataFrame, thefts_csv: Path) -> pd.Series:
    """False for an injected value shift in a week the site had no theft: nothing to see."""
    from forecasting.core import schema

    thefts = pd.read_csv(thefts_csv, usecols=[schema.WAREHOUSE_ID, schema.INCIDENT_AT])
    at = pd.to_datetime(thefts[schema.INCIDENT_AT], utc=True).dt.tz_localize(None).dt.normalize()
    monday = at - pd.to_timedelta(at.dt.dayofweek, unit="D")
    had = set(zip(thefts[schema.WAREHOUSE_ID], monday, strict=True))
    keys = zip(weeks[schema.WAREHOUSE_ID], pd.to_datetime(weeks[schema.PERIOD_START]), strict=True)
    seen = pd.Series([k in had for k in keys], index=weeks.index)
    return seen | (weeks["cause"] != "value_mix")


def _report(weeks: pd.DataFrame, timings: list[float], args) -> None:
    from forecasting.core import schema

    flagged = weeks[schema.FLAGGED].fillna(False).astype(bool)
    anomalous = weeks["cause"] != "none"
    rows = []
    for seed, g in weeks.groupby("seed"):
        f, a = g[schema.FLAGGED].fillna(False).astype(bool), g["cause"] != "none"
        hit = f & a
        n = ~a & ~g["adjacent"].fillna(False).astype(bool)
        rows.append({
            "seed": seed, "anomaly weeks": int(a.sum()), "recall": hit.sum() / max(a.sum(), 1),
            "normal weeks": int((~a).sum()), "false alarms": (f & ~a).sum() / max((~a).sum(), 1),
            "false alarms, not adjacent": (f & n).sum() / max(n.sum(), 1),
            "top-1 = cause": (g.loc[hit, "top1"] == g.loc[hit, "cause"]).mean(),
            "explain s": timings[list(args.seeds).index(seed)],
        })  # fmt: skip
    table = pd.DataFrame(rows)
    hit = flagged & anomalous
    normal = ~anomalous & ~weeks["adjacent"].fillna(False).astype(bool)
    total = {
        "seed": "all", "anomaly weeks": int(anomalous.sum()),
        "recall": hit.sum() / max(anomalous.sum(), 1), "normal weeks": int((~anomalous).sum()),
        "false alarms": (flagged & ~anomalous).sum() / max((~anomalous).sum(), 1),
        "false alarms, not adjacent": (flagged & normal).sum() / max(normal.sum(), 1),
        "top-1 = cause": (weeks.loc[hit, "top1"] == weeks.loc[hit, "cause"]).mean(),
        "explain s": max(timings),
    }  # fmt: skip
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    traced = anomalous & weeks["trace"].fillna(True).astype(bool)
    table["recall, traced"] = [
        *[(flagged & traced)[weeks["seed"] == sd].sum() / max(traced[weeks["seed"] == sd].sum(), 1)
          for sd in table["seed"].iloc[:-1]],
        (flagged & traced).sum() / max(traced.sum(), 1),
    ]  # fmt: skip
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"anomaly weeks with a trace: {int(traced.sum())} of {int(anomalous.sum())}")
    score = weeks[schema.OUTLIER_SCORE].fillna(0.0)
    sweep = [{"min_score": t, "recall": (score >= t)[anomalous].mean(), "recall, traced": (score >= t)[traced].mean(),
              "flagged normal": (score >= t)[~anomalous].mean(), "not adjacent": (score >= t)[normal].mean()}
             for t in (3.0, 3.5, 4.0, 4.5, 5.0, 5.5)]  # fmt: skip
    print("\nthreshold sweep (score only):\n" + pd.DataFrame(sweep).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    conf = pd.crosstab(weeks.loc[flagged, "cause"], weeks.loc[flagged, "top1"].fillna("-"))
    print("\ninjected cause (rows) x top-1 node (columns), flagged weeks:\n" + conf.to_string())
    print("\nmissed anomaly weeks by cause:\n"
          + weeks.loc[anomalous & ~flagged, "cause"].value_counts().to_string())  # fmt: skip
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    weeks.to_csv(out / "explain_bench.csv", index=False)


if __name__ == "__main__":
    main()
