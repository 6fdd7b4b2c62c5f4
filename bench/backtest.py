"""Backtest benchmark: wall time, peak memory and where the time goes, on carparts.

Runs the real backtest stage (``forecasting.backtest.run.backtest_panel``: riskcast (the
ensemble of DeepAR and the local NB, with the held-out level choice), each member, plain GluonTS DeepAR, seasonal naive, CrostonSBA, TSB, ADIDA) on the
carparts protocol of the backtest issue (H=6, K=3, cutoffs after months 33, 39, 45) and
prints the time spent in training, forecasting, baselines, metrics and the report, the
peak resident memory, and the mean_wQL table.

    .venv/bin/python bench/backtest.py                          # full protocol
    .venv/bin/python bench/backtest.py --series 300 --windows 1  # quick look
    .venv/bin/python bench/backtest.py --truth LANDING --backtest-dir DIR  # sample network

``--truth`` compares an existing backtest of the sample network (``backtest.parquet`` in
``--backtest-dir``) with the true theft-count quantiles simulated from ``_truth/``
(``forecasting.demo.truth.true_period_quantiles``): the ratio of forecast to true
quantiles, the share of true quantiles inside the forecast P05-P95 band, and the wQL of
the true quantiles themselves on the same actuals (the floor no model can beat on average).

The panel is read from ../shared/data/carparts (never copied into the repo). Files go to
``--out`` (default bench/out/backtest). A failed calibration gate is reported, not raised.
Figures go to bench/README.md (## backtest). Timings never fail anything.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
CARPARTS = ROOT.parent / "shared" / "data" / "carparts" / "carparts.csv.gz"


def main() -> None:
    args = _args()
    if args.truth:
        compare_truth(args.truth, args.backtest_dir, args.freq)
        return
    import numpy as np
    import pandas as pd

    from forecasting.backtest.engine import MODELS
    from forecasting.backtest.run import BacktestOptions, backtest_cli
    from forecasting.core.config import load_settings
    from forecasting.core.errors import CalibrationGateError
    from forecasting.core.schema import METRIC, METRIC_VALUE, MODEL, SEGMENT

    out = str(Path(args.out).resolve())
    settings = load_settings(None, lake_uri=str(Path(out) / "lake"), landing_uri=str(Path(out) / "landing"))
    panel = args.panel
    if args.series:  # a random subset, written next to the outputs (never into the repo)
        raw = pd.read_csv(panel)
        ids = np.sort(raw[args.id_col].unique())
        keep = np.random.default_rng(0).choice(ids, size=min(args.series, len(ids)), replace=False)
        panel = str(Path(out) / "panel_subset.csv")
        Path(out).mkdir(parents=True, exist_ok=True)
        raw[raw[args.id_col].isin(keep)].to_csv(panel, index=False)
    models = tuple(m for m in MODELS if m != "gluonts_deepar") if args.no_gluonts else MODELS
    # exactly what `riskcast backtest --panel ... --id-col series_id --freq M` runs
    opts = BacktestOptions(panel_path=panel, out_dir=out, freq=args.panel_freq, horizon=args.horizon,
                           windows=args.windows, id_col=args.id_col, seed=args.seed)
    gate = "passed"
    t1 = time.perf_counter()
    try:
        summary = backtest_cli(settings, opts, models=models)
    except CalibrationGateError as exc:
        gate, summary = f"FAILED: {exc}", exc.summary
    timings = summary.timings
    wall = time.perf_counter() - t1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    metrics = pd.read_csv(Path(out) / "metrics.csv")
    print(f"carparts backtest: {summary.n_series} series scored, H={args.horizon}, K={args.windows}, "
          f"models {', '.join(models)}; skipped {[(k, v['count']) for k, v in summary.skipped.items()]}")
    print(f"backtest wall {wall:.1f} s (panel read included); peak RSS {peak:.2f} GiB")
    print(f"{'phase':<12}{'seconds':>10}{'share':>8}")
    print(f"{'read+other':<12}{wall - sum(timings.values()):>10.1f}{(wall - sum(timings.values())) / wall:>8.1%}")
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"process CPU {cpu.ru_utime + cpu.ru_stime:.1f} s; {'phase':<12}{'wall s':>10}{'share':>8}{'CPU s':>8}")
    for phase in ("train", "forecast", "fit ensemble", "ensemble", "baselines", "metrics", "report"):
        sec = timings.get(phase, 0.0)
        print(f"{phase:<12}{sec:>10.1f}{sec / wall:>8.1%}{timings.get('cpu ' + phase, 0.0):>8.1f}")
    print(f"windows: {summary.window_origins}")
    print(f"gate: {gate}")
    print(f"ensemble weights (production): {summary.ensemble_weights}; calibration levels "
          f"{summary.calibration_levels}")
    sel = metrics[metrics[SEGMENT] == "all"].pivot(index=MODEL, columns=METRIC, values=METRIC_VALUE)
    cols = ["mean_wQL", "wQL_0.5", "wQL_0.9", "wQL_0.95", "coverage_0.95", "coverage_strict_0.95",
            "coverage_0.9", "coverage_strict_0.9", "coverage_0.5", "coverage_strict_0.5", "MASE"]
    print(sel.reindex(index=[m for m in models if m in sel.index], columns=cols).round(3).to_string())
    import json

    choice = json.loads((Path(out) / "ensemble.json").read_text())
    for key, ev in choice.get("evidence", {}).items():
        print(f"choice {key}: best {ev['best']} {ev['best_wql']:.4f}, blend {ev['blend']} {ev['blend_wql']:.4f}, "
              f"improvement {ev['improvement']:+.2%} {ev['interval']}, p {ev['p']:.3f} -> {ev['published']}")


def compare_truth(truth: str, backtest_dir: str, freq: str) -> None:
    """Print forecast vs true quantiles per model for a sample-network backtest."""
    import pandas as pd

    from forecasting.backtest.metrics import summarize
    from forecasting.core.schema import (
        DS,
        MODEL,
        PERIOD_START,
        UNIQUE_ID,
        WAREHOUSE_ID,
        quantile_col,
    )
    from forecasting.demo.truth import quantile_name, true_period_quantiles

    qs = (0.05, 0.5, 0.9, 0.95)
    bt = pd.read_parquet(Path(backtest_dir) / "backtest.parquet")
    true = true_period_quantiles(truth, freq=freq, quantiles=qs, n_sims=2000)
    true = true.rename(columns={WAREHOUSE_ID: UNIQUE_ID, PERIOD_START: DS})
    joined = bt.merge(true, on=[UNIQUE_ID, DS], how="inner")
    print(f"{len(joined)} of {len(bt)} backtest rows matched to true quantiles")
    rows = []
    for model, g in joined.groupby(MODEL, sort=False):
        row = {"model": model}
        for q in (0.5, 0.9, 0.95):
            t, f = g[quantile_name("incidents", q)], g[quantile_col(q)]
            row[f"mean f/t q{q:g}"] = f.sum() / max(t.sum(), 1e-9)
            row[f"mean |f-t| q{q:g}"] = (f - t).abs().mean()
        inside = (g[quantile_name("incidents", 0.95)] <= g[quantile_col(0.95)] + 0.5) & (
            g[quantile_name("incidents", 0.05)] >= g[quantile_col(0.05)] - 0.5)
        row["true P05-P95 inside band"] = inside.mean()
        row["mean_wQL"] = summarize(g)["mean_wQL"]
        rows.append(row)
    oracle = joined[joined[MODEL] == joined[MODEL].iloc[0]].copy()
    for q in qs:
        oracle[quantile_col(q)] = oracle[quantile_name("incidents", q)]
    rows.append({"model": "truth (oracle)", "mean_wQL": summarize(oracle)["mean_wQL"]})
    print(pd.DataFrame(rows).set_index("model").round(3).to_string())


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--panel", default=str(CARPARTS))
    p.add_argument("--panel-freq", default="M", help="the panel's frequency (M, MS, W, D)")
    p.add_argument("--id-col", default="series_id")
    p.add_argument("--horizon", type=int, default=6)
    p.add_argument("--windows", type=int, default=3)
    p.add_argument("--series", type=int, default=0, help="random subset of series (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-gluonts", action="store_true", help="skip the plain GluonTS baseline")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "backtest"))
    p.add_argument("--truth", help="sample-network landing folder (holds _truth/): compare mode")
    p.add_argument("--backtest-dir", help="folder with the sample network's backtest.parquet")
    p.add_argument("--freq", default="W", help="panel frequency of that backtest (truth periods)")
    return p.parse_args()


if __name__ == "__main__":
    main()
