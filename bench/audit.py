"""Audit and panel benchmark on the sample network: accuracy against ``_truth/`` and timings.

Generates the sample network (``forecasting.demo.generate.generate_network``), ingests it
(``forecasting.ingest.drop.ingest_date`` day by day, or with ``--validate`` the ingest DAG's
stages, ``forecasting.stages.run_ingest``), then runs the real stages and compares with truth:

- audit: share of sites whose true reporting rate lies inside the stated 95% interval
  (empirical Bayes, as published; and plain Jeffreys for comparison), mean absolute error of
  the estimated vs the true rate, per-region errors;
- panel: per (site, week) error of each target against the true weekly thefts
  (``_truth/daily.csv``), for both ``estimated_thefts`` methods (union, rate), on the full
  history and on the last two weeks (late evidence not in yet);
- time to read the bronze history, run the audit, build the panel.

    .venv/bin/python bench/audit.py                           # 60 sites, 3 years, seed 0
    .venv/bin/python bench/audit.py --seeds 0 1 2 --reuse     # several networks, keep lakes

Files go to ``--out`` (default bench/out/audit/seed=S). Figures go to bench/README.md
(## audit). Timings never fail anything.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RISKCAST_PII_KEY", "bench-only-pii-key-0123456789")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "audit"))
    ap.add_argument("--warehouses", type=int, default=60)
    ap.add_argument("--start", default="2023-01-02")
    ap.add_argument("--days", type=int, default=1096)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--reuse", action="store_true", help="keep an existing landing + lake")
    ap.add_argument("--validate", action="store_true", help="ingest with GX validation")
    args = ap.parse_args()
    rows = [run_seed(args, seed) for seed in args.seeds]
    _print_summary(rows)


def run_seed(args: argparse.Namespace, seed: int) -> dict:
    import pandas as pd

    from forecasting.audit.stage import run_audit
    from forecasting.core import schema as s
    from forecasting.core.config import load_settings
    from forecasting.core.lake import Lake
    from forecasting.ingest.history import read_history
    from forecasting.panel.build import build_panel, read_panel

    root = Path(args.out) / f"seed={seed}"
    start = date.fromisoformat(args.start)
    as_of = start + timedelta(days=args.days - 1)
    landing, lake_dir = root / "landing", root / "lake"
    settings = load_settings(None, landing_uri=str(landing), lake_uri=str(lake_dir))
    timings: dict[str, float] = {}
    if not (args.reuse and (lake_dir / "bronze").exists()):
        from forecasting.demo.generate import generate_network
        from forecasting.ingest.drop import ingest_date
        from forecasting.stages import run_ingest

        t = time.perf_counter()
        generate_network(str(landing), args.warehouses, start, args.days, seed, False)
        timings["generate"] = time.perf_counter() - t
        t = time.perf_counter()
        days = [start + timedelta(days=i) for i in range(args.days)]
        if args.validate:
            run_ingest(settings, days, sweep=False)
        else:  # ingest only, live at once
            for day in days:
                ingest_date(settings, day)
        timings["ingest"] = time.perf_counter() - t
    lake = Lake.from_settings(settings)
    for source in s.DAILY_SOURCES:
        t = time.perf_counter()
        n = len(read_history(lake, source, as_of))
        timings[f"read {source} ({n} rows)"] = time.perf_counter() - t
    t = time.perf_counter()
    audit = run_audit(settings, as_of)
    timings["run_audit"] = time.perf_counter() - t
    truth_sites = pd.read_csv(landing / "_truth" / "warehouses.csv")
    result = {"seed": seed, "timings": timings, **_audit_accuracy(lake, audit, truth_sites)}
    truth = _weekly_truth(landing / "_truth" / "daily.csv")
    for method in ("union", "rate"):
        m_settings = settings.model_copy(update={"estimated_thefts_method": method})
        t = time.perf_counter()
        build_panel(m_settings, as_of)
        timings[f"build_panel {method}"] = time.perf_counter() - t
        panel, _ = read_panel(m_settings, as_of)
        result[f"panel {method}"] = _panel_accuracy(panel, truth)
    return result


def _audit_accuracy(lake, audit, truth_sites) -> dict:
    import numpy as np

    from forecasting.audit.rates import jeffreys_interval
    from forecasting.core import schema as s

    table = lake.read_parquet(audit.audit_uri)
    site = table.loc[table[s.AUDIT_LEVEL] == "warehouse"].merge(
        truth_sites[[s.WAREHOUSE_ID, s.REPORTING_RATE]].rename(columns={s.REPORTING_RATE: "true"}),
        left_on=s.AUDIT_ID,
        right_on=s.WAREHOUSE_ID,
    )
    site = site.loc[site[s.UNEXPLAINED_LOSSES_N] > 0]
    inside = (site[s.REPORTING_RATE_LO] <= site["true"]) & (
        site["true"] <= site[s.REPORTING_RATE_HI]
    )
    lo, hi = jeffreys_interval(
        site[s.REPORTED_LOSSES].to_numpy(), site[s.UNEXPLAINED_LOSSES_N].to_numpy()
    )
    j_inside = (lo <= site["true"]) & (site["true"] <= hi)
    true_net = np.average(site["true"], weights=site[s.UNEXPLAINED_LOSSES_N])
    return {
        "sites": len(site),
        "inside_eb": float(inside.mean()),
        "inside_jeffreys": float(j_inside.mean()),
        "mae_eb": float((site[s.REPORTING_RATE] - site["true"]).abs().mean()),
        "mae_raw": float((site[s.REPORTING_RATE_RAW] - site["true"]).abs().mean()),
        "width_eb": float((site[s.REPORTING_RATE_HI] - site[s.REPORTING_RATE_LO]).mean()),
        "network": (audit.network_rate, audit.network_rate_lo, audit.network_rate_hi, true_net),
        "n_median": float(site[s.UNEXPLAINED_LOSSES_N].median()),
    }


def _weekly_truth(path: Path):
    import pandas as pd

    from forecasting.core import schema as s
    from forecasting.panel.calendar import period_start

    d = pd.read_csv(path, parse_dates=[s.TRUTH_DATE])
    d[s.DS] = period_start(d[s.TRUTH_DATE], "W-MON").to_numpy()
    return d.groupby([s.WAREHOUSE_ID, s.DS])[[s.TRUE_THEFTS, s.TRUE_HVG_THEFTS]].sum().reset_index()


def _panel_accuracy(panel, truth) -> dict:
    import pandas as pd

    from forecasting.core import schema as s

    hist = panel.loc[~panel[s.IS_FUTURE]].merge(
        truth.rename(columns={s.WAREHOUSE_ID: s.UNIQUE_ID}), on=[s.UNIQUE_ID, s.DS], how="left"
    )
    last2 = hist[s.DS] >= hist[s.DS].max() - pd.Timedelta(days=7)
    out = {"rows": len(hist), "truth_mean": float(hist[s.TRUE_THEFTS].mean())}
    for col in (s.ESTIMATED_THEFTS, s.UNEXPLAINED_LOSSES, s.REPORTED_INCIDENTS):
        err = hist[col] - hist[s.TRUE_THEFTS]
        out[col] = {
            "mae": float(err.abs().mean()),
            "bias": float(err.mean()),
            "exact": float((err == 0).mean()),
            "corr": float(hist[col].corr(hist[s.TRUE_THEFTS])),
            "bias_last2": float(err[last2].mean()),
        }
    return out


def _print_summary(rows: list[dict]) -> None:
    print("\n## audit: reporting rate vs truth (95% intervals)")
    print(
        "| seed | sites | median n | inside (EB) | inside (Jeffreys) | MAE EB | MAE raw | mean width | network est. [lo, hi] | network true |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        est, lo, hi, true = r["network"]
        print(
            f"| {r['seed']} | {r['sites']} | {r['n_median']:.0f} | {r['inside_eb']:.1%} | {r['inside_jeffreys']:.1%} | "
            f"{r['mae_eb']:.4f} | {r['mae_raw']:.4f} | {r['width_eb']:.3f} | {est:.3f} [{lo:.3f}, {hi:.3f}] | {true:.3f} |"
        )
    print("\n## panel: weekly targets vs true thefts per (site, week)")
    print("| seed | method | target | MAE | bias | exact | corr | bias last 2 weeks |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        for method in ("union", "rate"):
            acc = r[f"panel {method}"]
            for col in ("estimated_thefts", "unexplained_losses", "reported_incidents"):
                if col != "estimated_thefts" and method == "rate":
                    continue
                a = acc[col]
                print(
                    f"| {r['seed']} | {method} | {col} | {a['mae']:.3f} | {a['bias']:+.3f} | {a['exact']:.1%} | "
                    f"{a['corr']:.3f} | {a['bias_last2']:+.3f} |"
                )
        print(
            f"\n(seed {r['seed']}: {acc['rows']} history rows, true mean {acc['truth_mean']:.2f} thefts per site-week)"
        )
    print("\n## timings (s)")
    for r in rows:
        print(f"seed {r['seed']}: " + ", ".join(f"{k} {v:.1f}" for k, v in r["timings"].items()))


if __name__ == "__main__":
    main()
